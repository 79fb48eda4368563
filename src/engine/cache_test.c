/*
 * cache_test.c - the sharded LRU block cache (engine/cache.h): capacity,
 * LRU order, pinning, replacement, erase, and many threads at once.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdatomic.h>
#include <stdlib.h>

#include "base/err.h"
#include "base/limits.h"
#include "engine/cache.h"
#include "env/env.h"

/* A value that knows its key (to catch a wrong or freed entry) and counts
 * its frees in a counter the test owns. */
struct val {
	uint64_t file, off;
	atomic_ulong *freed;
};

static void val_free(void *p)
{
	struct val *v = p;
	atomic_fetch_add(v->freed, 1);
	v->file = v->off = 0xdeadbeef;
	free(v);
}

static struct cache_handle *put(struct cache *c, uint64_t file, uint64_t off, size_t charge,
                                atomic_ulong *freed)
{
	struct val *v = malloc(sizeof(*v));
	assert_non_null(v);
	*v = (struct val){file, off, freed};
	struct cache_handle *h;
	assert_int_equal(cache_insert(c, file, off, v, charge, val_free, &h), 0);
	return h;
}

static void check_val(struct cache_handle *h, uint64_t file, uint64_t off)
{
	struct val *v = cache_value(h);
	assert_true(v->file == file && v->off == off);
}

static void test_cache_evicts_by_capacity(void **state)
{
	(void)state;
	atomic_ulong freed = 0;
	uint64_t cap = 16 * 1000;
	struct cache *c = cache_create(cap);
	assert_non_null(c);
	for (uint64_t i = 0; i < 2000; i++)
		cache_release(c, put(c, 7, i * 4096, 100, &freed));
	struct cache_stats st;
	cache_get_stats(c, &st);
	assert_true(st.usage_bytes <= cap);
	assert_true(st.usage_bytes >= cap / 2); /* shards fill roughly evenly */
	assert_int_equal(st.evictions, freed);
	assert_int_equal(st.entry_count + st.evictions, 2000);
	cache_destroy(c);
	assert_int_equal(freed, 2000);
}

static void test_cache_keeps_recently_used_entries(void **state)
{
	(void)state;
	atomic_ulong freed = 0;
	struct cache *c = cache_create(16 * 1000);
	cache_release(c, put(c, 1, 0, 100, &freed));
	for (uint64_t i = 1; i < 5000; i++) {
		struct cache_handle *h = cache_lookup(c, 1, 0);
		assert_non_null(h); /* touched after every insert: never the LRU victim */
		check_val(h, 1, 0);
		cache_release(c, h);
		cache_release(c, put(c, 1, i, 100, &freed));
	}
	assert_null(cache_lookup(c, 1, 1)); /* an untouched early entry is gone */
	struct cache_stats st;
	cache_get_stats(c, &st);
	assert_int_equal(st.hits, 4999);
	assert_int_equal(st.misses, 1);
	cache_destroy(c);
}

static void test_cache_handle_pins_entry_past_capacity(void **state)
{
	(void)state;
	atomic_ulong freed = 0;
	struct cache *c = cache_create(16); /* one byte a shard: nothing fits */
	struct cache_handle *pinned = put(c, 3, 3, 1000, &freed);
	for (uint64_t i = 0; i < 100; i++)
		cache_release(c, put(c, 4, i, 1000, &freed));
	check_val(pinned, 3, 3); /* still alive and intact */
	assert_int_equal(freed, 100);
	struct cache_handle *again = cache_lookup(c, 3, 3);
	assert_ptr_equal(again, pinned);
	cache_release(c, again);
	cache_release(c, pinned); /* unpinned and over capacity: evicted now */
	assert_int_equal(freed, 101);
	assert_null(cache_lookup(c, 3, 3));
	cache_destroy(c);
}

static void test_cache_replace_and_erase_free_after_last_release(void **state)
{
	(void)state;
	atomic_ulong freed = 0;
	struct cache *c = cache_create(1 << 20);
	struct cache_handle *old = put(c, 5, 0, 10, &freed);
	struct cache_handle *new = put(c, 5, 0, 10, &freed);
	assert_int_equal(freed, 0);
	struct cache_handle *h = cache_lookup(c, 5, 0);
	assert_ptr_equal(h, new);
	cache_release(c, h);
	check_val(old, 5, 0);
	cache_release(c, old);
	assert_int_equal(freed, 1);
	cache_erase(c, 5, 0);
	assert_int_equal(freed, 0 + 1); /* new is still pinned */
	assert_null(cache_lookup(c, 5, 0));
	cache_release(c, new);
	assert_int_equal(freed, 2);
	cache_erase(c, 9, 9); /* absent: nothing happens */
	struct cache_stats st;
	cache_get_stats(c, &st);
	assert_int_equal(st.usage_bytes, 0);
	assert_int_equal(st.entry_count, 0);
	cache_destroy(c);
}

#define THREADS  8
#define OPS      40000
#define KEYSPACE 3000

struct worker {
	struct cache *c;
	atomic_ulong *freed;
	uint64_t seed, lookups, inserts;
};

static void *work(void *arg)
{
	struct worker *w = arg;
	struct env_rng rng;
	env_rng_seed(&rng, w->seed);
	struct cache_handle *held[4] = {0};
	for (int i = 0; i < OPS; i++) {
		uint64_t k = env_rng_next(&rng) % KEYSPACE;
		struct cache_handle *h = cache_lookup(w->c, k % 3, k);
		w->lookups++;
		if (!h) {
			h = put(w->c, k % 3, k, 64 + k % 512, w->freed);
			w->inserts++;
		}
		check_val(h, k % 3, k);
		/* Hold a few handles across other operations, as iterators do. */
		int slot = i % 4;
		if (held[slot])
			cache_release(w->c, held[slot]);
		held[slot] = h;
	}
	for (int s = 0; s < 4; s++)
		if (held[s])
			cache_release(w->c, held[s]);
	return NULL;
}

static void test_cache_concurrent_threads_stay_consistent(void **state)
{
	(void)state;
	atomic_ulong freed = 0;
	struct cache *c = cache_create(64 * 1024);
	struct worker w[THREADS];
	struct env_thread t[THREADS];
	for (int i = 0; i < THREADS; i++) {
		w[i] = (struct worker){c, &freed, 1000 + (uint64_t)i, 0, 0};
		assert_int_equal(env_thread_start(&t[i], "cache-test", work, &w[i]), 0);
	}
	uint64_t lookups = 0, inserts = 0;
	for (int i = 0; i < THREADS; i++) {
		env_thread_join(&t[i]);
		lookups += w[i].lookups;
		inserts += w[i].inserts;
	}
	struct cache_stats st;
	cache_get_stats(c, &st);
	assert_int_equal(st.hits + st.misses, lookups);
	assert_int_equal(st.inserts, inserts);
	assert_true(st.usage_bytes <= 64 * 1024);
	assert_true(st.hits > 0 && st.evictions > 0);
	cache_destroy(c);
	assert_int_equal(freed, inserts);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_cache_evicts_by_capacity),
	    cmocka_unit_test(test_cache_keeps_recently_used_entries),
	    cmocka_unit_test(test_cache_handle_pins_entry_past_capacity),
	    cmocka_unit_test(test_cache_replace_and_erase_free_after_last_release),
	    cmocka_unit_test(test_cache_concurrent_threads_stay_consistent),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
