/*
 * arena_test.c - the bump allocator of engine/arena.h: alignment, the
 * quarter-block rule for large allocations, byte accounting, and failure of
 * the Nth block allocation leaving the arena usable. ASan builds check that
 * every block is freed by arena_deinit.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "base/limits.h"
#include "engine/arena.h"
#include "unit/failing_alloc.h"

#include <stdalign.h>
#include <stdlib.h>
#include <string.h>

static void test_arena_empty_allocates_nothing(void **state)
{
	struct arena a;
	arena_init(&a, 0, NULL);
	assert_int_equal(arena_bytes(&a), 0);
	arena_deinit(&a);
}

static void test_arena_allocations_are_aligned_and_disjoint(void **state)
{
	struct arena a;
	arena_init(&a, 4096, NULL);
	uint64_t seed = 7;
	uint8_t *prev = NULL;
	size_t prev_n = 0;
	for (int i = 0; i < 20000; i++) {
		seed = seed * 6364136223846793005u + 1442695040888963407u;
		size_t align = (size_t)1 << (seed >> 60) % 5; /* 1..16 */
		size_t n = (size_t)(seed >> 33) % 200;
		uint8_t *p = arena_alloc_aligned(&a, n, align);
		assert_non_null(p);
		assert_int_equal((uintptr_t)p % align, 0);
		/* Filling it must not disturb the previous allocation (ASan
		 * also checks the bounds of the block). */
		memset(p, 0xab, n ? n : 1);
		if (prev)
			for (size_t j = 0; j < prev_n; j++)
				assert_int_equal(prev[j], (uint8_t)(i - 1));
		memset(p, (uint8_t)i, n ? n : 1);
		prev = p;
		prev_n = n;
	}
	void *q = arena_alloc(&a, 3);
	assert_int_equal((uintptr_t)q % 8, 0);
	q = arena_alloc_aligned(&a, 3, alignof(max_align_t));
	assert_int_equal((uintptr_t)q % alignof(max_align_t), 0);
	arena_deinit(&a);
}

static void test_arena_large_allocation_gets_own_block_and_keeps_current(void **state)
{
	struct failing_alloc t = {0};
	struct arena_allocator al = failing_allocator(&t);
	struct arena a;
	arena_init(&a, 1024, &al);
	uint8_t *p1 = arena_alloc_aligned(&a, 16, 1);
	assert_int_equal(t.calls, 1);
	size_t one_block = arena_bytes(&a);
	assert_true(one_block >= 1024 && one_block == t.outstanding);
	/* Anything that fits comes from the current block, large or not. */
	uint8_t *p2 = arena_alloc_aligned(&a, 700, 1);
	assert_ptr_equal(p2, p1 + 16);
	assert_int_equal(t.calls, 1);
	/* 308 bytes left: 400 (over a quarter block) gets a block of its
	 * own, sized to it... */
	uint8_t *big = arena_alloc_aligned(&a, 400, 1);
	assert_non_null(big);
	assert_int_equal(t.calls, 2);
	assert_true(arena_bytes(&a) >= one_block + 400 && arena_bytes(&a) < one_block + 400 + 64);
	/* ...and the current block goes on where it was, to its last byte. */
	uint8_t *p3 = arena_alloc_aligned(&a, 8, 1);
	assert_ptr_equal(p3, p2 + 700);
	assert_ptr_equal(arena_alloc_aligned(&a, 300, 1), p3 + 8);
	assert_int_equal(t.calls, 2);
	/* A small request that does not fit starts a new standard block. */
	assert_non_null(arena_alloc_aligned(&a, 1, 1));
	assert_int_equal(t.calls, 3);
	assert_true(arena_bytes(&a) >= 2 * one_block + 400);
	assert_int_equal(arena_bytes(&a), t.outstanding);
	arena_deinit(&a);
	assert_int_equal(t.outstanding, 0);
}

static void test_arena_bytes_grow_monotonically_with_small_waste(void **state)
{
	struct arena a;
	arena_init(&a, 64 * 1024, NULL);
	size_t asked = 0, last = 0;
	for (int i = 0; i < 100000; i++) {
		size_t n = 1 + (size_t)(i * 7919) % 300;
		assert_non_null(arena_alloc(&a, n));
		asked += n;
		size_t now = arena_bytes(&a);
		assert_true(now >= last);
		assert_true(now >= asked);
		last = now;
	}
	/* Alignment pads each to 8 (<= 7 bytes) and block tails are under
	 * 300 bytes each: a few percent at most over what was asked. */
	assert_true(last <= asked + 100000 * 7 + (last / (64 * 1024) + 1) * 400);
	arena_deinit(&a);
}

static void test_arena_failed_block_allocation_returns_null_and_stays_usable(void **state)
{
	for (int fail_at = 1; fail_at <= 6; fail_at++) {
		struct failing_alloc t = {.fail_at = fail_at};
		struct arena_allocator al = failing_allocator(&t);
		struct arena a;
		arena_init(&a, 256, &al);
		int nulls = 0;
		for (int i = 0; i < 40; i++) {
			size_t before = arena_bytes(&a);
			/* Mix of small (shared block) and large (own block). */
			size_t n = i % 5 == 4 ? 100 : 40;
			uint8_t *p = arena_alloc(&a, n);
			if (!p) {
				nulls++;
				assert_int_equal(arena_bytes(&a), before);
				continue;
			}
			memset(p, i, n);
		}
		assert_int_equal(nulls, 1);
		assert_int_equal(arena_bytes(&a), t.outstanding);
		arena_deinit(&a);
		assert_int_equal(t.outstanding, 0);
	}
}

static void test_arena_refuses_absurd_sizes(void **state)
{
	struct arena a;
	arena_init(&a, 0, NULL);
	assert_null(arena_alloc(&a, SIZE_MAX));
	assert_null(arena_alloc(&a, SIZE_MAX / 2 + 1));
	assert_int_equal(arena_bytes(&a), 0);
	assert_non_null(arena_alloc(&a, 1));
	assert_int_equal(arena_bytes(&a) >= ARENA_BLOCK_BYTES_DEFAULT, 1);
	arena_deinit(&a);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_arena_empty_allocates_nothing),
	    cmocka_unit_test(test_arena_allocations_are_aligned_and_disjoint),
	    cmocka_unit_test(test_arena_large_allocation_gets_own_block_and_keeps_current),
	    cmocka_unit_test(test_arena_bytes_grow_monotonically_with_small_waste),
	    cmocka_unit_test(test_arena_failed_block_allocation_returns_null_and_stays_usable),
	    cmocka_unit_test(test_arena_refuses_absurd_sizes),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
