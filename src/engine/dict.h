/*
 * dict.h - an intrusive chained hash table that resizes incrementally.
 *
 * The table stores caller-owned nodes (struct dict_node embedded in the
 * caller's entry) and never allocates them; it allocates only its bucket
 * arrays. Hashes are computed once by the caller (base/hash.h) and kept in
 * the node; the bucket index is hash & mask, so the high bits stay free for
 * the caller's own sharding.
 *
 * Resizing is incremental, as in Redis: when the load factor passes 1 a
 * second table of twice the size is allocated and every later operation
 * moves at most REHASH_BUCKETS_PER_STEP buckets (dict_rehash() lets a
 * background task move more). No operation pauses for a time proportional
 * to the number of keys. The table shrinks (incrementally too) when it
 * falls below 1/8 full. A failed allocation of a new bucket array is not an
 * error: the table just stays at its size with a higher load factor.
 *
 * dict_scan() uses Redis's reverse-binary cursor, which guarantees that a
 * node present in the table for the whole of a full scan (from cursor 0
 * back to 0) is visited at least once, across any number of grows and
 * shrinks; nodes may be visited more than once.
 *
 * Thread: none of its own; the caller serialises access (keyspace stripes).
 */
#ifndef RINGKV_ENGINE_DICT_H
#define RINGKV_ENGINE_DICT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct dict_node {
	struct dict_node *next;
	uint64_t hash;
};

/* Equality of a stored node with a lookup key (opaque to the dict). */
typedef bool dict_eq_fn(const struct dict_node *node, const void *key);
typedef void dict_visit_fn(void *ctx, struct dict_node *node);

struct dict {
	struct dict_node **table[2];
	uint64_t size[2];      /* buckets: 0 or a power of two */
	uint64_t used[2];      /* nodes in each table */
	int64_t rehash_idx;    /* next bucket of table[0] to move, or -1 */
	unsigned pause_rehash; /* >0 while a safe iteration is running */
	uint64_t clear_idx;    /* next bucket of table[0] dict_clear empties */
};

/* Smallest bucket array: a table never shrinks below it. */
#define DICT_BUCKETS_MIN 4

void dict_init(struct dict *d);
/* Frees the bucket arrays; the nodes are the caller's (see dict_clear). */
void dict_deinit(struct dict *d);

static inline uint64_t dict_count(const struct dict *d)
{
	return d->used[0] + d->used[1];
}

/* Returns the node with this hash for which eq(node, key) holds, or NULL. */
struct dict_node *dict_find(struct dict *d, uint64_t hash, dict_eq_fn *eq, const void *key);

/* Adds a node whose hash is set and whose key is not yet in the table
 * (the caller checked with dict_find). Never fails. */
void dict_insert(struct dict *d, struct dict_node *node);

/* Unlinks this exact node (which must be in the table). */
void dict_remove(struct dict *d, struct dict_node *node);

/* Replaces old_node (in the table) by new_node with the same hash and key,
 * keeping its place; used when an entry is reallocated. */
void dict_replace(struct dict *d, struct dict_node *old_node, struct dict_node *new_node);

/* Visits the nodes of one cursor step and returns the next cursor; 0 when
 * the scan is complete. fn must not add or remove nodes. */
uint64_t dict_scan(struct dict *d, uint64_t cursor, dict_visit_fn *fn, void *ctx);

/* Returns a node chosen at random using the caller's random 64-bit value
 * rnd (the dict keeps no PRNG), or NULL when empty. Roughly uniform: picks
 * a random non-empty bucket, then a random node in its chain. */
struct dict_node *dict_random(struct dict *d, uint64_t rnd);

/* Moves up to bucket_count buckets of an ongoing rehash, and starts a
 * shrink if the table is sparse. Returns true while rehash work remains. */
bool dict_rehash(struct dict *d, uint64_t bucket_count);

/* Unlinks every node and calls fn on each (which may free it); the table
 * is empty afterwards. Bounded per call to max_nodes; returns true when
 * nodes remain, so a huge flush can be done in slices. fn must not add or
 * remove nodes. */
bool dict_clear(struct dict *d, dict_visit_fn *fn, void *ctx, uint64_t max_nodes);

/* Heap bytes used by the bucket arrays (for memory accounting). */
uint64_t dict_bucket_bytes(const struct dict *d);

/* Asserts every invariant of the table; O(buckets + nodes), for tests and
 * debug builds. */
void dict_check_invariants(const struct dict *d);

#endif
