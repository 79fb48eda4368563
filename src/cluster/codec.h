/*
 * codec.h - bounds-checked readers and writers of little-endian fields,
 * shared by the encoders and decoders of src/cluster/ (ring, dvv, wire).
 *
 * A reader never reads past its end: every get checks the remaining
 * length first, and a failed check marks the reader bad and yields zeros
 * or an empty view, so a decoder can read a whole structure and test
 * `bad` once where that reads better. Lengths read from input are only
 * ever compared against the bytes that remain, never used to allocate.
 *
 * A writer appends to a struct buf that the caller reserved (the encoders
 * compute their exact size first, so a cap breach is ERR_LIMIT before any
 * byte is written).
 */
#ifndef RINGKV_CLUSTER_CODEC_H
#define RINGKV_CLUSTER_CODEC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/buf.h"
#include "base/bytes.h"
#include "base/le.h"

struct codec_rd {
	const uint8_t *p;
	size_t left;
	bool bad;
};

static inline struct codec_rd codec_rd_make(const uint8_t *p, size_t n)
{
	struct codec_rd r = {p, n, false};
	return r;
}

static inline bool codec_rd_need(struct codec_rd *r, size_t n)
{
	if (r->bad || r->left < n) {
		r->bad = true;
		return false;
	}
	return true;
}

static inline uint8_t codec_get8(struct codec_rd *r)
{
	if (!codec_rd_need(r, 1))
		return 0;
	uint8_t v = r->p[0];
	r->p++;
	r->left--;
	return v;
}

static inline uint16_t codec_get16(struct codec_rd *r)
{
	if (!codec_rd_need(r, 2))
		return 0;
	uint16_t v = le_get16(r->p);
	r->p += 2;
	r->left -= 2;
	return v;
}

static inline uint32_t codec_get32(struct codec_rd *r)
{
	if (!codec_rd_need(r, 4))
		return 0;
	uint32_t v = le_get32(r->p);
	r->p += 4;
	r->left -= 4;
	return v;
}

static inline uint64_t codec_get64(struct codec_rd *r)
{
	if (!codec_rd_need(r, 8))
		return 0;
	uint64_t v = le_get64(r->p);
	r->p += 8;
	r->left -= 8;
	return v;
}

/* A view of the next n bytes of the input (n checked against what is
 * left, never trusted). */
static inline struct bytes codec_get_bytes(struct codec_rd *r, size_t n)
{
	if (!codec_rd_need(r, n))
		return bytes_make(NULL, 0);
	struct bytes b = bytes_make(n ? r->p : NULL, n);
	r->p += n;
	r->left -= n;
	return b;
}

static inline void codec_put8(struct buf *b, uint8_t v)
{
	buf_put(b, &v, 1);
}

static inline void codec_put16(struct buf *b, uint16_t v)
{
	uint8_t t[2];
	le_put16(t, v);
	buf_put(b, t, 2);
}

static inline void codec_put32(struct buf *b, uint32_t v)
{
	uint8_t t[4];
	le_put32(t, v);
	buf_put(b, t, 4);
}

static inline void codec_put64(struct buf *b, uint64_t v)
{
	uint8_t t[8];
	le_put64(t, v);
	buf_put(b, t, 8);
}

static inline void codec_put_bytes(struct buf *b, struct bytes v)
{
	buf_put(b, v.ptr, v.len);
}

#endif
