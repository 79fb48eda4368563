/*
 * cache.h - the block cache: decoded SST blocks shared by all readers.
 *
 * Keyed by (file number, block offset), which names a block for the life
 * of the store because table files are immutable and their numbers never
 * reused. Bounded by a byte capacity (the sum of the charges callers give),
 * split into BLOCK_CACHE_SHARDS shards by key hash, each with its own mutex
 * so that threads rarely contend on one lock.
 *
 * Eviction is LRU per shard. We chose LRU over CLOCK: a hit already takes
 * the shard's mutex (to take a reference), so moving the entry in a
 * doubly-linked list costs a few pointer writes under a lock we hold
 * anyway, and LRU's behaviour is the easiest to reason about and test.
 * CLOCK would pay off only with lock-free lookups, which we do not have.
 *
 * Handles are reference counted: lookup and insert return a handle that
 * pins its entry; cache_release unpins it. A pinned entry is never freed
 * and never evicted (it sits outside the LRU list), so capacity can be
 * exceeded while many handles are held; it is restored as they are
 * released. An entry replaced by a newer insert of the same key, or erased,
 * leaves the table at once and is freed when its last handle is released.
 *
 * Thread-safe: every function may be called from any thread.
 */
#ifndef RINGKV_ENGINE_CACHE_H
#define RINGKV_ENGINE_CACHE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct cache;
struct cache_handle;

/* Frees a cached value once no handle and no table slot refers to it. */
typedef void cache_free_fn(void *value);

struct cache_stats {
	uint64_t hits, misses, inserts, evictions;
	uint64_t usage_bytes, capacity_bytes, entry_count;
};

/* A cache of capacity_bytes (0: BLOCK_CACHE_BYTES_DEFAULT). NULL on
 * allocation failure. */
struct cache *cache_create(uint64_t capacity_bytes);

/* Frees every entry. Requires every handle released. */
void cache_destroy(struct cache *c);

/* A pinned handle to the entry, or NULL (a miss). Counts a hit or miss. */
struct cache_handle *cache_lookup(struct cache *c, uint64_t file_number, uint64_t offset);

/* Inserts value (the cache takes it, on failure too: it is freed) with
 * charge bytes, replacing any entry of that key, evicts unpinned entries
 * in LRU order until usage fits, and returns a pinned handle in *out.
 * ERR_NOMEM. */
int cache_insert(struct cache *c, uint64_t file_number, uint64_t offset, void *value, size_t charge,
                 cache_free_fn *free_fn, struct cache_handle **out);

void *cache_value(const struct cache_handle *h);

/* Unpins h; h must not be used afterwards. */
void cache_release(struct cache *c, struct cache_handle *h);

/* Drops the entry of this key from the table (a deleted file's blocks). */
void cache_erase(struct cache *c, uint64_t file_number, uint64_t offset);

/* Like cache_erase, only when match(value, ctx) is true for the entry's
 * value (e.g. a block that points into one reader's mapping). match runs
 * under the shard's mutex: it must be quick and not call the cache. */
typedef bool cache_match_fn(const void *value, const void *ctx);
void cache_erase_if(struct cache *c, uint64_t file_number, uint64_t offset, cache_match_fn *match,
                    const void *ctx);

/* The cache's own bytes per entry, for callers whose charge counts them. */
size_t cache_entry_bytes(void);

void cache_get_stats(struct cache *c, struct cache_stats *out);

#endif
