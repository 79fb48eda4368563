/*
 * memtable.h - the sorted in-memory table of internal keys -> value records.
 *
 * A skip list (Pugh 1990) ordered by internal key (engine/ikey.h: user key
 * ascending, then seq descending), whose nodes - tower, internal key and
 * value record in one piece - are bump-allocated from an arena and never
 * removed: an overwrite or delete adds a newer version, and the whole
 * memtable is dropped in one go after it has been flushed to an SSTable.
 *
 * Threads, as LevelDB's memtable: one writer at a time (the caller
 * serialises memtable_add, e.g. under the engine's write lock or as the
 * group-commit leader), and any number of readers (memtable_get, the
 * iterator, the counters) concurrently with it and with each other, without
 * locks. A node is fully written before it is published with a release
 * store of the predecessor's link; readers follow links with acquire loads,
 * so a reader that reaches a node sees all of its bytes. Readers see each
 * level's list grow monotonically; an entry becomes visible to a reader at
 * the moment its level-0 link is stored. memtable_deinit must not race with
 * anything.
 *
 * Size: memtable_bytes() is the arena's allocation (blocks and headers); it
 * only grows. The memtable never refuses an entry for being full: the
 * engine checks memtable_bytes() against its limit (MEMTABLE_BYTES_DEFAULT)
 * after each write batch and rotates to a new memtable.
 *
 * Views returned (keys, values) point into the arena and stay valid until
 * memtable_deinit, whatever is added meanwhile.
 *
 * Buckets: the list is cut into 2^bucket_bits independent skip lists by the
 * top bits of the key's first 8 bytes. The cut is monotone in the key, so
 * bucket after bucket is still one sorted order (the iterator walks them in
 * turn, skipping empty ones by a bitmap), and every version of a user key
 * lives in one bucket. When keys start with well-spread bytes (the server
 * stores each key behind its 64-bit hash) a search walks a list about
 * 2^bucket_bits times shorter: fewer levels, fewer cache misses per write.
 * With clustered first bytes nothing is lost but the buckets' heads: a
 * bucket's sentinel is allocated when its first entry arrives.
 */
#ifndef RINGKV_ENGINE_MEMTABLE_H
#define RINGKV_ENGINE_MEMTABLE_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/bytes.h"
#include "engine/arena.h"
#include "engine/ikey.h"
#include "env/env.h"

struct memtable_options {
	size_t arena_block_bytes;                /* 0: ARENA_BLOCK_BYTES_DEFAULT */
	const struct arena_allocator *allocator; /* NULL: malloc */
	uint64_t seed;                           /* tower heights; any value */
	unsigned bucket_bits;                    /* 0..MEMTABLE_BUCKET_BITS_MAX */
};

#define MEMTABLE_BUCKET_BITS_MAX 16

struct mt_bucket;

struct mt_node;

/* Complete so that owners embed it; fields are private to memtable.c. */
struct memtable {
	struct arena arena;
	struct mt_bucket *buckets;  /* 2^bucket_bits, in the arena */
	_Atomic uint64_t *nonempty; /* bitmap of buckets with entries */
	unsigned bucket_bits;
	_Atomic uint64_t entry_count;
	struct env_rng rng; /* writer only */
};

/* One entry, as found by memtable_get or the iterator. */
struct memtable_entry {
	struct bytes user_key;
	uint64_t seq;
	enum ikey_kind kind;
	struct bytes value_record; /* empty for DELETE */
};

enum memtable_lookup {
	MEMTABLE_ABSENT = 0,    /* no version visible: look in older tables */
	MEMTABLE_VALUE = 1,     /* newest visible version is a PUT or BLOB */
	MEMTABLE_TOMBSTONE = 2, /* newest visible version is a DELETE: stop */
};

/* An empty memtable. 0, or ERR_NOMEM (nothing to deinit then). */
int memtable_init(struct memtable *mt, const struct memtable_options *opt);

/* Frees every node; no reader or writer may be active. */
void memtable_deinit(struct memtable *mt);

/* Adds (user_key, seq, kind) -> value_record; the bytes are copied.
 * kind is PUT (a value record, see vrec_encode), BLOB (a value record
 * whose value is a blob pointer) or DELETE (an empty value record). Writer
 * only. Returns 0; ERR_INVALID for a seq above IKEY_SEQ_MAX, another kind,
 * a malformed record for PUT/BLOB or a non-empty one for DELETE; ERR_LIMIT
 * for a key over KEY_BYTES_MAX or a record over VALUE_BYTES_MAX + 9;
 * ERR_EXISTS if this exact internal key is already present (sequence
 * numbers are unique per write: a caller bug or a batch replayed twice);
 * ERR_NOMEM. On failure nothing became visible. */
int memtable_add(struct memtable *mt, uint64_t seq, enum ikey_kind kind, struct bytes user_key,
                 struct bytes value_record);

/* The newest version of user_key with seq <= seq_as_of. out is written
 * for MEMTABLE_VALUE and MEMTABLE_TOMBSTONE. Safe concurrently with the
 * writer. */
enum memtable_lookup memtable_get(const struct memtable *mt, struct bytes user_key,
                                  uint64_t seq_as_of, struct memtable_entry *out);

/* Arena bytes held (see above); any thread. */
static inline size_t memtable_bytes(const struct memtable *mt)
{
	return arena_bytes(&mt->arena);
}

/* Entries added so far (every version counts); any thread. */
static inline uint64_t memtable_entry_count(const struct memtable *mt)
{
	return atomic_load_explicit(&mt->entry_count, memory_order_relaxed);
}

/* An iterator over internal keys in ikey_cmp order. Caller-allocated, no
 * resources: drop it any time. Entries added after a positioning call may
 * or may not be seen by later next/prev calls; order holds regardless. */
struct memtable_iter {
	const struct memtable *mt;
	const struct mt_node *node; /* NULL: not valid */
	size_t bucket;              /* node's bucket */
};

void memtable_iter_init(struct memtable_iter *it, const struct memtable *mt);
void memtable_iter_seek_to_first(struct memtable_iter *it);
void memtable_iter_seek_to_last(struct memtable_iter *it);
/* First entry >= ikey (an internal key, at least IKEY_TRAILER_BYTES). To
 * find user key k as of seq s, seek to ikey_encode(k, s, IKEY_KIND_SEEK). */
void memtable_iter_seek(struct memtable_iter *it, struct bytes ikey);
bool memtable_iter_valid(const struct memtable_iter *it);
/* Requires valid. next is O(1); prev is O(log n) (a search, as LevelDB). */
void memtable_iter_next(struct memtable_iter *it);
void memtable_iter_prev(struct memtable_iter *it);
/* Views into the arena; require valid. */
struct bytes memtable_iter_key(const struct memtable_iter *it); /* internal key */
struct bytes memtable_iter_value(const struct memtable_iter *it);
void memtable_iter_entry(const struct memtable_iter *it, struct memtable_entry *out);

#endif
