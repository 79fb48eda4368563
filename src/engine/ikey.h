/*
 * ikey.h - the internal key and value encodings shared by every part of the
 * LSM engine (WAL records, memtable, SSTables, compaction).
 *
 * Internal key = user key bytes, then an 8-byte trailer, little-endian:
 *     trailer = seq << 8 | kind
 * where seq is the 56-bit sequence number of the write and kind is one of
 * enum ikey_kind. Internal keys order by user key ascending (bytewise, as
 * memcmp, shorter first on a common prefix), then by trailer descending,
 * so the newest version of a user key comes first. A lookup for a user key
 * "as of" sequence s seeks to (key, s, IKEY_KIND_SEEK): the first entry at
 * or after it is the newest version visible at s.
 *
 * Value record (what an internal key maps to), for kind PUT:
 *     u8 flags | [i64 expire_ms, little-endian, if flags & VREC_EXPIRE] | value
 * and for kind BLOB the value bytes are a blob pointer (encoded by the blob
 * module). A DELETE has an empty value record. Format pages:
 * docs/formats/sst.md and docs/formats/wal.md.
 *
 * Pure functions, no allocation.
 */
#ifndef RINGKV_ENGINE_IKEY_H
#define RINGKV_ENGINE_IKEY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "base/le.h"
#include "base/assert.h"
#include "base/bytes.h"

enum ikey_kind {
	IKEY_KIND_DELETE = 0, /* tombstone */
	IKEY_KIND_PUT = 1,    /* value record inline */
	IKEY_KIND_BLOB = 2,   /* value record holds a blob pointer */
	IKEY_KIND_SEEK = 0xff /* highest kind: seeks to the newest entry <= seq */
};

#define IKEY_TRAILER_BYTES 8
#define IKEY_SEQ_MAX       ((UINT64_C(1) << 56) - 1)

#define VREC_EXPIRE 0x01u /* an expire_ms follows the flags byte */

static inline uint64_t ikey_trailer(uint64_t seq, enum ikey_kind kind)
{
	DEBUG_ASSERT(seq <= IKEY_SEQ_MAX);
	return seq << 8 | (uint64_t)kind;
}

/* Writes user_key + trailer into dst (user_key.len + 8 bytes). */
static inline size_t ikey_encode(uint8_t *dst, struct bytes user_key, uint64_t seq,
                                 enum ikey_kind kind)
{
	if (user_key.len)
		memcpy(dst, user_key.ptr, user_key.len);
	le_put64(dst + user_key.len, ikey_trailer(seq, kind));
	return user_key.len + IKEY_TRAILER_BYTES;
}

/* Splits an internal key; false if it is shorter than a trailer (corrupt). */
static inline bool ikey_decode(struct bytes ikey, struct bytes *user_key, uint64_t *seq,
                               enum ikey_kind *kind)
{
	if (ikey.len < IKEY_TRAILER_BYTES)
		return false;
	uint64_t t = le_get64(ikey.ptr + ikey.len - IKEY_TRAILER_BYTES);
	*user_key = bytes_make(ikey.ptr, ikey.len - IKEY_TRAILER_BYTES);
	*seq = t >> 8;
	*kind = (enum ikey_kind)(t & 0xff);
	return true;
}

/* Bytewise order of user keys. */
static inline int ikey_user_cmp(struct bytes a, struct bytes b)
{
	size_t n = a.len < b.len ? a.len : b.len;
	int c = n ? memcmp(a.ptr, b.ptr, n) : 0;
	if (c)
		return c;
	return a.len < b.len ? -1 : a.len > b.len;
}

/* Order of internal keys (both at least IKEY_TRAILER_BYTES long). */
static inline int ikey_cmp(struct bytes a, struct bytes b)
{
	DEBUG_ASSERT(a.len >= IKEY_TRAILER_BYTES && b.len >= IKEY_TRAILER_BYTES);
	struct bytes ua = bytes_make(a.ptr, a.len - IKEY_TRAILER_BYTES);
	struct bytes ub = bytes_make(b.ptr, b.len - IKEY_TRAILER_BYTES);
	int c = ikey_user_cmp(ua, ub);
	if (c)
		return c;
	uint64_t ta = le_get64(a.ptr + ua.len), tb = le_get64(b.ptr + ub.len);
	return ta > tb ? -1 : ta < tb; /* newer (larger trailer) first */
}

/* Encodes a PUT value record; dst has room for 9 + value.len bytes.
 * Returns the record length. */
static inline size_t vrec_encode(uint8_t *dst, int64_t expire_ms, struct bytes value)
{
	size_t n = 0;
	dst[n++] = expire_ms ? VREC_EXPIRE : 0;
	if (expire_ms) {
		le_put64(dst + n, (uint64_t)expire_ms);
		n += 8;
	}
	if (value.len)
		memcpy(dst + n, value.ptr, value.len);
	return n + value.len;
}

/* Decodes a value record; false if malformed (unknown flags, too short). */
static inline bool vrec_decode(struct bytes rec, int64_t *expire_ms, struct bytes *value)
{
	if (rec.len < 1 || (rec.ptr[0] & ~VREC_EXPIRE))
		return false;
	size_t n = 1;
	*expire_ms = 0;
	if (rec.ptr[0] & VREC_EXPIRE) {
		if (rec.len < 9)
			return false;
		*expire_ms = (int64_t)le_get64(rec.ptr + 1);
		n = 9;
	}
	*value = bytes_make(rec.ptr + n, rec.len - n);
	return true;
}

#endif
