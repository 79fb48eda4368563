/*
 * arena.h - a bump allocator of large blocks, freed all at once.
 *
 * The memtable allocates every skip-list node (key, value record and tower)
 * here, so that an insert costs a pointer bump instead of a malloc and a
 * flushed memtable is dropped with one free per block (STYLE.md section 10;
 * the shape of LevelDB's util/arena.h). Nothing is freed individually.
 *
 * Owns: a singly linked list of blocks obtained from the allocator given at
 * init (malloc by default; tests pass one that fails the Nth call). Each
 * block is ARENA_BLOCK_BYTES_DEFAULT (or the configured size) unless an
 * allocation is larger than a quarter block: it then gets a block of its
 * own, so the current block is not abandoned half empty and the waste at
 * the end of a block stays under a quarter of it.
 *
 * Invariants: every returned pointer is aligned as asked and stays valid
 * and unmoved until arena_deinit; arena_bytes() counts every byte obtained
 * from the allocator (headers included), only grows, and is what memory
 * accounting reads.
 *
 * Threads: one thread allocates at a time (the caller serialises); any
 * thread may call arena_bytes() concurrently (a relaxed atomic load: an
 * estimate for accounting, not a synchronisation point).
 */
#ifndef RINGKV_ENGINE_ARENA_H
#define RINGKV_ENGINE_ARENA_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

/* Where blocks come from. alloc returns NULL on failure; free gets the
 * size that alloc was asked for. */
struct arena_allocator {
	void *(*alloc)(void *ctx, size_t bytes);
	void (*free)(void *ctx, void *ptr, size_t bytes);
	void *ctx;
};

struct arena_block;

/* Complete so that owners embed it; fields are private to arena.c. */
struct arena {
	struct arena_block *blocks; /* newest first */
	uint8_t *cur;               /* next free byte of the current block */
	size_t cur_left;            /* bytes left in the current block */
	size_t block_bytes;         /* payload size of a standard block */
	struct arena_allocator allocator;
	_Atomic size_t bytes; /* obtained from the allocator, headers included */
};

/* Prepares an empty arena; allocates nothing. block_bytes 0 means
 * ARENA_BLOCK_BYTES_DEFAULT; allocator NULL means malloc/free. */
void arena_init(struct arena *a, size_t block_bytes, const struct arena_allocator *allocator);

/* Frees every block; every pointer the arena returned becomes invalid. */
void arena_deinit(struct arena *a);

/* n bytes aligned to align (a power of two, at most alignof(max_align_t)),
 * or NULL when the allocator fails or n is absurdly large; on NULL the
 * arena is unchanged and still usable. n 0 is treated as 1. */
void *arena_alloc_aligned(struct arena *a, size_t n, size_t align);

/* n bytes aligned for any pointer or 8-byte integer. */
static inline void *arena_alloc(struct arena *a, size_t n)
{
	return arena_alloc_aligned(a, n, sizeof(void *) > 8 ? sizeof(void *) : 8);
}

/* Bytes obtained from the allocator so far (blocks and their headers). */
static inline size_t arena_bytes(const struct arena *a)
{
	return atomic_load_explicit(&a->bytes, memory_order_relaxed);
}

#endif
