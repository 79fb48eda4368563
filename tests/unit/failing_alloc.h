/*
 * failing_alloc.h - for unit tests: an arena_allocator (engine/arena.h)
 * over malloc that fails its fail_at-th call (1-based; 0: never) and counts
 * the bytes it has outstanding, so a test can walk an allocation failure
 * through an operation and check that nothing leaked.
 */
#ifndef RINGKV_TESTS_FAILING_ALLOC_H
#define RINGKV_TESTS_FAILING_ALLOC_H

#include <stdlib.h>

#include "engine/arena.h"

struct failing_alloc {
	int calls;
	int fail_at;
	size_t outstanding;
};

static inline void *failing_alloc_fn(void *ctx, size_t bytes)
{
	struct failing_alloc *t = ctx;
	if (++t->calls == t->fail_at)
		return NULL;
	void *p = malloc(bytes);
	if (p)
		t->outstanding += bytes;
	return p;
}

static inline void failing_free_fn(void *ctx, void *ptr, size_t bytes)
{
	struct failing_alloc *t = ctx;
	t->outstanding -= bytes;
	free(ptr);
}

static inline struct arena_allocator failing_allocator(struct failing_alloc *t)
{
	struct arena_allocator a = {failing_alloc_fn, failing_free_fn, t};
	return a;
}

#endif
