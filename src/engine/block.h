/*
 * block.h - the sorted key/value block of SSTables: builder and iterator.
 *
 * A block (docs/formats/sst.md, "Block contents") is a run of entries
 *     varint32 shared | varint32 unshared | varint32 value_len |
 *     key bytes [shared, shared + unshared) | value bytes
 * where shared is the length of the prefix the key has in common with the
 * previous key, then restart_count u32 offsets of entries stored with
 * shared == 0 (restart points, every SST_RESTART_INTERVAL entries, the
 * first at 0), then u32 restart_count. Keys are internal keys (ikey.h) in
 * ikey_cmp order: a seek binary-searches the restart points, then scans.
 *
 * The builder owns growable buffers capped by SST_BLOCK_RAW_BYTES_MAX. The
 * iterator borrows the block bytes (they must outlive it) and owns only a
 * key buffer: inline for keys up to BLOCK_ITER_KEY_INLINE_BYTES, so that a
 * point lookup over short keys allocates nothing, on the heap past that.
 * A seek compares the restart keys where they lie in the block (stored
 * whole, shared == 0) and copies only the keys of its final scan. It
 * never trusts the bytes: any malformed entry or restart array makes it
 * invalid with ERR_CORRUPT in err. Neither is thread-safe.
 * Varint helpers are shared with the table code (handles).
 */
#ifndef RINGKV_ENGINE_BLOCK_H
#define RINGKV_ENGINE_BLOCK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/buf.h"
#include "base/bytes.h"

#define BLOCK_VARINT64_BYTES_MAX 10

/* Appends v as a little-endian base-128 varint at p; returns bytes used. */
static inline size_t block_put_varint(uint8_t *p, uint64_t v)
{
	size_t n = 0;
	while (v >= 0x80) {
		p[n++] = (uint8_t)(v | 0x80);
		v >>= 7;
	}
	p[n++] = (uint8_t)v;
	return n;
}

/* Decodes a varint of at most 64 bits from [*p, end); false when it runs
 * past end or past 10 bytes (corrupt). Advances *p on success. */
static inline bool block_get_varint(const uint8_t **p, const uint8_t *end, uint64_t *v)
{
	uint64_t r = 0;
	const uint8_t *q = *p;
	for (unsigned shift = 0; shift < 64 && q < end; shift += 7) {
		uint8_t b = *q++;
		r |= (uint64_t)(b & 0x7f) << shift;
		if (!(b & 0x80)) {
			*v = r;
			*p = q;
			return true;
		}
	}
	return false;
}

struct block_builder {
	struct buf data;     /* entries, then restarts at finish */
	struct buf last_key; /* previous key, for prefix compression */
	struct buf restarts; /* u32 offsets, little-endian */
	unsigned interval;   /* entries per restart */
	unsigned counter;    /* entries since the last restart */
	size_t entry_count;
};

void block_builder_init(struct block_builder *b, unsigned restart_interval);
void block_builder_deinit(struct block_builder *b);
/* Empties the builder for the next block, keeping its memory. */
void block_builder_reset(struct block_builder *b);

/* Appends an entry; the caller keeps keys in order. ERR_LIMIT past
 * SST_BLOCK_RAW_BYTES_MAX, ERR_NOMEM. */
int block_builder_add(struct block_builder *b, struct bytes key, struct bytes value);

/* Bytes the block would have if finished now. */
size_t block_builder_size(const struct block_builder *b);

/* Appends the restart array and returns the finished block, valid until
 * the next reset. ERR_NOMEM/ERR_LIMIT. */
int block_builder_finish(struct block_builder *b, struct bytes *out);

/* Internal keys of up to 48-byte user keys fit the iterator itself. */
#define BLOCK_ITER_KEY_INLINE_BYTES 56

struct block_iter {
	const uint8_t *data;
	size_t limit; /* offset of the restart array: entries end here */
	uint32_t restart_count;
	size_t next;        /* offset of the entry after the current one */
	size_t key_len;     /* the current key, decompressed: */
	bool key_on_heap;   /* in key_heap (once one outgrew key_inline), else key_inline */
	struct buf key_heap;
	uint8_t key_inline[BLOCK_ITER_KEY_INLINE_BYTES];
	struct bytes value; /* the current value, inside data */
	bool valid;
	int err; /* 0 or ERR_CORRUPT / ERR_NOMEM */
};

/* Validates the restart array of block and positions nowhere. Returns 0
 * or ERR_CORRUPT (it is still safe to deinit). */
int block_iter_init(struct block_iter *it, struct bytes block);
void block_iter_deinit(struct block_iter *it);

void block_iter_seek_to_first(struct block_iter *it);
/* Positions at the first key >= target in ikey_cmp order (invalid if none). */
void block_iter_seek(struct block_iter *it, struct bytes target);
void block_iter_next(struct block_iter *it);

/* Restart points, for a caller that searches them itself (an index block
 * has one per entry). The key stored whole at restart point i < it's
 * restart_count, where it lies in the block; false when that entry is
 * malformed (corrupt). */
bool block_iter_restart_key(const struct block_iter *it, uint32_t i, struct bytes *key);
/* Positions at restart point i (invalid when i == restart_count). */
void block_iter_seek_to_restart(struct block_iter *it, uint32_t i);

static inline struct bytes block_iter_key(const struct block_iter *it)
{
	return bytes_make(it->key_on_heap ? it->key_heap.data : it->key_inline, it->key_len);
}

#endif
