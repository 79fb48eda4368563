/*
 * arena.c - a bump allocator of large blocks (see arena.h).
 *
 * A block is a header followed by its payload; the header is padded to
 * max_align_t so that the payload starts at the strictest alignment any
 * allocation may ask for. Allocation bumps cur inside the current block;
 * when the request does not fit, a request of more than a quarter block
 * gets a dedicated block (linked behind the current one so the current
 * block keeps serving small requests), and anything smaller starts a new
 * standard block, abandoning the tail of the old one (under a quarter
 * block, by the same rule).
 */
#include "engine/arena.h"

#include <stdalign.h>
#include <stdint.h>
#include <stdlib.h>

#include "base/assert.h"
#include "base/limits.h"

struct arena_block {
	struct arena_block *next;
	size_t alloc_bytes; /* what the allocator was asked for */
	alignas(max_align_t) uint8_t payload[];
};

static void *default_alloc(void *ctx, size_t bytes)
{
	(void)ctx;
	return malloc(bytes);
}

static void default_free(void *ctx, void *ptr, size_t bytes)
{
	(void)ctx;
	(void)bytes;
	free(ptr);
}

void arena_init(struct arena *a, size_t block_bytes, const struct arena_allocator *allocator)
{
	a->blocks = NULL;
	a->cur = NULL;
	a->cur_left = 0;
	a->block_bytes = block_bytes ? block_bytes : ARENA_BLOCK_BYTES_DEFAULT;
	if (allocator) {
		a->allocator = *allocator;
	} else {
		a->allocator.alloc = default_alloc;
		a->allocator.free = default_free;
		a->allocator.ctx = NULL;
	}
	atomic_init(&a->bytes, 0);
	ASSERT(a->allocator.alloc && a->allocator.free);
	ASSERT(a->block_bytes >= 64);
}

void arena_deinit(struct arena *a)
{
	struct arena_block *b = a->blocks;
	while (b) {
		struct arena_block *next = b->next;
		a->allocator.free(a->allocator.ctx, b, b->alloc_bytes);
		b = next;
	}
	a->blocks = NULL;
	a->cur = NULL;
	a->cur_left = 0;
}

/* Obtains a block with payload_bytes of payload; NULL on failure. The
 * caller links it. */
static struct arena_block *block_new(struct arena *a, size_t payload_bytes)
{
	size_t total = sizeof(struct arena_block) + payload_bytes;
	struct arena_block *b = a->allocator.alloc(a->allocator.ctx, total);
	if (!b)
		return NULL;
	b->alloc_bytes = total;
	b->next = NULL;
	/* Release is not needed: the count is an estimate for accounting,
	 * read relaxed; only the single writer stores it. */
	atomic_store_explicit(&a->bytes, arena_bytes(a) + total, memory_order_relaxed);
	return b;
}

/* The slow path: n (already padded for alignment within a fresh,
 * max-aligned payload, so no padding is needed) does not fit. */
static void *alloc_fallback(struct arena *a, size_t n)
{
	if (n > a->block_bytes / 4) {
		struct arena_block *b = block_new(a, n);
		if (!b)
			return NULL;
		/* Behind the current block: the current one keeps its tail. */
		if (a->blocks) {
			b->next = a->blocks->next;
			a->blocks->next = b;
		} else {
			a->blocks = b;
		}
		return b->payload;
	}
	struct arena_block *b = block_new(a, a->block_bytes);
	if (!b)
		return NULL;
	b->next = a->blocks;
	a->blocks = b;
	a->cur = b->payload + n;
	a->cur_left = a->block_bytes - n;
	return b->payload;
}

void *arena_alloc_aligned(struct arena *a, size_t n, size_t align)
{
	ASSERT(align && (align & (align - 1)) == 0);
	ASSERT(align <= alignof(max_align_t));
	if (n == 0)
		n = 1;
	/* A request this large can only be a bug upstream or an overflow in
	 * a size computation; refusing it keeps the sums below exact. */
	if (n > SIZE_MAX / 2)
		return NULL;
	size_t pad = (size_t)(-(uintptr_t)a->cur) & (align - 1);
	if (a->cur && pad + n <= a->cur_left) {
		void *p = a->cur + pad;
		a->cur += pad + n;
		a->cur_left -= pad + n;
		return p;
	}
	return alloc_fallback(a, n);
}
