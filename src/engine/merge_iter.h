/*
 * merge_iter.h - one sorted stream of internal keys out of N sorted ones.
 *
 * The children (memtable iterators, sst iterators, anything else behind
 * struct merge_child_ops) each yield internal keys in ikey_cmp order; the
 * merging iterator yields the union in the same order, using a binary
 * min-heap of the valid children (O(log N) per step). It yields every
 * entry of every child, versions and tombstones included: deciding which
 * version a reader sees is the caller's job (lsm_iter, compaction). On
 * equal internal keys (which distinct writes never produce) the child with
 * the lower index comes first, so callers list children newest first.
 *
 * Errors: a child whose status() becomes non-zero (ERR_CORRUPT, ERR_IO)
 * stops the merge: the iterator turns invalid and merge_iter_status
 * returns that error, never a silently shortened stream.
 *
 * Memory: the children are borrowed and must outlive the merging iterator;
 * key and value are views into the current child, valid until the next
 * move. One owner thread, as its children.
 */
#ifndef RINGKV_ENGINE_MERGE_ITER_H
#define RINGKV_ENGINE_MERGE_ITER_H

#include <stdbool.h>
#include <stddef.h>

#include "base/bytes.h"
#include "engine/memtable.h"
#include "engine/sst.h"

/* The common shape of a sorted iterator over internal keys. status may
 * be NULL for a child that cannot fail. */
struct merge_child_ops {
	void (*seek_to_first)(void *it);
	void (*seek)(void *it, struct bytes ikey);
	void (*next)(void *it);
	bool (*valid)(const void *it);
	struct bytes (*key)(const void *it);
	struct bytes (*value)(const void *it);
	int (*status)(const void *it);
};

struct merge_child {
	const struct merge_child_ops *ops;
	void *it;
};

/* Adapters for the engine's two iterators. */
struct merge_child merge_child_memtable(struct memtable_iter *it);
struct merge_child merge_child_sst(struct sst_iter *it);

struct merge_iter; /* opaque */

/* A merge of children[0..count) (copied; the iterators are borrowed).
 * Not positioned until a seek. ERR_NOMEM. */
int merge_iter_create(const struct merge_child *children, size_t count, struct merge_iter **out);
void merge_iter_destroy(struct merge_iter *m);

void merge_iter_seek_to_first(struct merge_iter *m);
/* First entry whose internal key is >= ikey. */
void merge_iter_seek(struct merge_iter *m, struct bytes ikey);
/* Requires valid. */
void merge_iter_next(struct merge_iter *m);
bool merge_iter_valid(const struct merge_iter *m);
struct bytes merge_iter_key(const struct merge_iter *m);
struct bytes merge_iter_value(const struct merge_iter *m);
/* 0, or the first child error seen since the last seek. */
int merge_iter_status(const struct merge_iter *m);

#endif
