/*
 * wire.c - internode frames and payloads; see wire.h for the frame layout.
 *
 * Payload layouts (little-endian; docs/cluster.md). Membership messages
 * (WIRE_MEMBER) are cluster/member_codec.c's, rings (WIRE_RING) ring.c's.
 *   request: timestamp_ms u64, n u8, r u8, w u8, quorum_flags u8,
 *            key_len u32, value_len u32, version_len u32,
 *            hint_for u16 (0xffff: none), from u16,
 *            [expire_ms u64, only with WIRE_QUORUM_EXPIRES; never 0],
 *            key, value, version
 *   response: status u16, from u16, value_len u32,
 *            version_len u32, reserved u32 (0), timestamp_ms u64,
 *            value, version
 *   hint:    target u16, reserved u16 (0), key_len u32, value_len u32,
 *            version_len u32, timestamp_ms u64, key, value, version
 */
#include "cluster/wire.h"

#include <string.h>

#include "base/assert.h"
#include "base/err.h"
#include "base/hash.h"
#include "base/limits.h"
#include "cluster/codec.h"
#include "cluster/ring.h"

#define REQ_FIXED_BYTES     28
#define RESP_FIXED_BYTES    24
#define HINT_FIXED_BYTES    24

static_assert(WIRE_HINT_FOR_NONE == RING_MEMBER_NONE, "one \"no member\" on the wire and the ring");
static_assert(WIRE_FRAME_BYTES_DEFAULT <= WIRE_FRAME_BYTES_MAX, "default within the maximum");
static_assert(WIRE_CONTROL_BYTES_MAX <= WIRE_FRAME_BYTES_DEFAULT, "control frames are smaller");
static_assert(RING_ENCODED_BYTES_MAX <= WIRE_CONTROL_BYTES_MAX,
              "the largest ring fits a control frame");
static_assert(KEY_BYTES_MAX <= UINT32_MAX && VALUE_BYTES_MAX <= UINT32_MAX,
              "key and value lengths fit 32 bits");

/* ---- Frames ------------------------------------------------------------------ */

size_t wire_payload_bytes_max(uint8_t type, size_t payload_bytes_max)
{
	if ((type == WIRE_MEMBER || type == WIRE_RING) &&
	    payload_bytes_max > WIRE_CONTROL_BYTES_MAX)
		return WIRE_CONTROL_BYTES_MAX;
	return payload_bytes_max;
}

static uint64_t frame_checksum(const uint8_t *header, const uint8_t *payload, size_t len)
{
	uint64_t seed = hash_bytes(header, 20);
	return XXH3_64bits_withSeed(payload, len, seed);
}

int wire_frame_begin(struct buf *out, size_t cap_bytes, uint8_t type, uint16_t flags,
                     uint64_t request_id, size_t *start)
{
	int rc = buf_reserve(out, WIRE_HEADER_BYTES, cap_bytes);
	if (rc)
		return rc;
	*start = out->len;
	buf_put(out, WIRE_MAGIC, 4);
	codec_put8(out, WIRE_VERSION);
	codec_put8(out, type);
	codec_put16(out, flags);
	codec_put32(out, 0);
	codec_put64(out, request_id);
	codec_put64(out, 0);
	return 0;
}

int wire_frame_end(struct buf *out, size_t start)
{
	ASSERT(start + WIRE_HEADER_BYTES <= out->len);
	size_t len = out->len - start - WIRE_HEADER_BYTES;
	if (len > WIRE_FRAME_BYTES_MAX)
		return ERR_LIMIT;
	uint8_t *h = out->data + start;
	le_put32(h + 8, (uint32_t)len);
	le_put64(h + 20, frame_checksum(h, h + WIRE_HEADER_BYTES, len));
	return 0;
}

int wire_frame_encode(struct buf *out, size_t cap_bytes, uint8_t type, uint16_t flags,
                      uint64_t request_id, struct bytes payload)
{
	if (payload.len > WIRE_FRAME_BYTES_MAX || payload.len > SIZE_MAX - WIRE_HEADER_BYTES)
		return ERR_LIMIT;
	int rc = buf_reserve(out, WIRE_HEADER_BYTES + payload.len, cap_bytes);
	if (rc)
		return rc;
	size_t start;
	rc = wire_frame_begin(out, cap_bytes, type, flags, request_id, &start);
	ASSERT(rc == 0); /* reserved above */
	buf_put(out, payload.ptr, payload.len);
	return wire_frame_end(out, start);
}

/* ---- Streaming decoder ---------------------------------------------------------- */

void wire_decoder_init(struct wire_decoder *d, size_t payload_bytes_max)
{
	ASSERT(payload_bytes_max <= WIRE_FRAME_BYTES_MAX);
	memset(d, 0, sizeof(*d));
	d->payload_bytes_max = payload_bytes_max;
	buf_init(&d->buf);
}

void wire_decoder_deinit(struct wire_decoder *d)
{
	buf_deinit(&d->buf);
}

const char *wire_decoder_reason(const struct wire_decoder *d)
{
	return d->reason;
}

static int fail(struct wire_decoder *d, int err, const char *reason)
{
	d->err = err;
	d->reason = reason;
	return err;
}

/* Checks a complete header; returns the frame's total bytes via *total. */
static int check_header(struct wire_decoder *d, const uint8_t *h, size_t *total)
{
	if (memcmp(h, WIRE_MAGIC, 4) != 0)
		return fail(d, ERR_PROTO, "bad magic");
	if (h[4] != WIRE_VERSION)
		return fail(d, ERR_PROTO, "unsupported version");
	if (h[5] == 0 || h[5] >= WIRE_TYPE_COUNT)
		return fail(d, ERR_PROTO, "unknown frame type");
	uint32_t len = le_get32(h + 8);
	if (len > wire_payload_bytes_max(h[5], d->payload_bytes_max))
		return fail(d, ERR_LIMIT, "frame too large");
	*total = WIRE_HEADER_BYTES + (size_t)len;
	return 0;
}

/* Verifies the checksum of a complete frame at f and fills *frame. */
static int finish(struct wire_decoder *d, const uint8_t *f, size_t total, struct wire_frame *frame)
{
	size_t len = total - WIRE_HEADER_BYTES;
	if (le_get64(f + 20) != frame_checksum(f, f + WIRE_HEADER_BYTES, len))
		return fail(d, ERR_CORRUPT, "checksum mismatch");
	frame->type = f[5];
	frame->flags = le_get16(f + 6);
	frame->request_id = le_get64(f + 12);
	frame->payload = bytes_make(len ? f + WIRE_HEADER_BYTES : NULL, len);
	return WIRE_FRAME_READY;
}

static int take(struct wire_decoder *d, const uint8_t *p, size_t n, size_t upto, size_t *used)
{
	size_t k = upto - d->buf.len;
	if (k > n - *used)
		k = n - *used;
	/* Grows with the bytes in hand, never past the frame (<= the cap). */
	int rc = buf_reserve(&d->buf, k, upto);
	if (rc)
		return fail(d, rc, "out of memory");
	buf_put(&d->buf, p + *used, k);
	*used += k;
	return 0;
}

int wire_decoder_step(struct wire_decoder *d, const uint8_t *p, size_t n, size_t *used,
                      struct wire_frame *frame)
{
	*used = 0;
	if (d->err)
		return d->err;
	if (d->delivered) {
		d->delivered = false;
		d->buf.len = 0;
		d->frame_bytes = 0;
		buf_shrink(&d->buf, IDLE_BUFFER_KEEP_BYTES);
	}
	int rc;
	/* A whole frame in the caller's bytes: no copy. */
	if (d->buf.len == 0 && n >= WIRE_HEADER_BYTES) {
		size_t total;
		if ((rc = check_header(d, p, &total)) != 0)
			return rc;
		if (n >= total) {
			rc = finish(d, p, total, frame);
			if (rc == WIRE_FRAME_READY)
				*used = total;
			return rc;
		}
	}
	if (d->buf.len < WIRE_HEADER_BYTES) {
		if ((rc = take(d, p, n, WIRE_HEADER_BYTES, used)) != 0)
			return rc;
		if (d->buf.len < WIRE_HEADER_BYTES)
			return 0;
		if ((rc = check_header(d, d->buf.data, &d->frame_bytes)) != 0)
			return rc;
	}
	if ((rc = take(d, p, n, d->frame_bytes, used)) != 0)
		return rc;
	if (d->buf.len < d->frame_bytes)
		return 0;
	rc = finish(d, d->buf.data, d->frame_bytes, frame);
	d->delivered = rc == WIRE_FRAME_READY;
	return rc;
}

/* ---- Replica requests and responses ------------------------------------------------ */

static int check_kv(struct bytes key, struct bytes value, struct bytes version)
{
	if (key.len > KEY_BYTES_MAX || value.len > VALUE_BYTES_MAX || version.len > UINT32_MAX)
		return ERR_LIMIT;
	return 0;
}

int wire_replica_req_encode(struct buf *out, size_t cap_bytes, const struct wire_replica_req *q)
{
	if (q->n > RING_REPLICAS_MAX || q->r > RING_REPLICAS_MAX || q->w > RING_REPLICAS_MAX ||
	    (q->quorum_flags & ~WIRE_QUORUM_KNOWN) ||
	    ((q->quorum_flags & WIRE_QUORUM_EXPIRES) != 0) != (q->expire_ms != 0))
		return ERR_INVALID;
	bool expires = (q->quorum_flags & WIRE_QUORUM_EXPIRES) != 0;
	int rc = check_kv(q->key, q->value, q->version);
	if (rc)
		return rc;
	rc = buf_reserve(out,
	                 REQ_FIXED_BYTES + (expires ? 8 : 0) + q->key.len + q->value.len +
	                     q->version.len,
	                 cap_bytes);
	if (rc)
		return rc;
	codec_put64(out, q->timestamp_ms);
	codec_put8(out, q->n);
	codec_put8(out, q->r);
	codec_put8(out, q->w);
	codec_put8(out, q->quorum_flags);
	codec_put32(out, (uint32_t)q->key.len);
	codec_put32(out, (uint32_t)q->value.len);
	codec_put32(out, (uint32_t)q->version.len);
	codec_put16(out, q->hint_for);
	codec_put16(out, q->from);
	if (expires)
		codec_put64(out, q->expire_ms);
	codec_put_bytes(out, q->key);
	codec_put_bytes(out, q->value);
	codec_put_bytes(out, q->version);
	return 0;
}

/* key, value and version, each length checked against its limit and then
 * against the bytes that remain; nothing may follow. */
static int get_kv(struct codec_rd *rd, uint32_t key_len, uint32_t value_len, uint32_t version_len,
                  struct bytes *key, struct bytes *value, struct bytes *version)
{
	if (rd->bad)
		return ERR_PROTO;
	if (key_len > KEY_BYTES_MAX || value_len > VALUE_BYTES_MAX)
		return ERR_LIMIT;
	*key = codec_get_bytes(rd, key_len);
	*value = codec_get_bytes(rd, value_len);
	*version = codec_get_bytes(rd, version_len);
	return rd->bad || rd->left != 0 ? ERR_PROTO : 0;
}

int wire_replica_req_decode(struct bytes payload, struct wire_replica_req *q)
{
	struct codec_rd rd = codec_rd_make(payload.ptr, payload.len);
	struct wire_replica_req t;
	t.timestamp_ms = codec_get64(&rd);
	t.n = codec_get8(&rd);
	t.r = codec_get8(&rd);
	t.w = codec_get8(&rd);
	t.quorum_flags = codec_get8(&rd);
	uint32_t key_len = codec_get32(&rd);
	uint32_t value_len = codec_get32(&rd);
	uint32_t version_len = codec_get32(&rd);
	t.hint_for = codec_get16(&rd);
	t.from = codec_get16(&rd);
	t.expire_ms = (t.quorum_flags & WIRE_QUORUM_EXPIRES) ? codec_get64(&rd) : 0;
	if (!rd.bad &&
	    (t.n > RING_REPLICAS_MAX || t.r > RING_REPLICAS_MAX || t.w > RING_REPLICAS_MAX ||
	     (t.quorum_flags & ~WIRE_QUORUM_KNOWN) ||
	     ((t.quorum_flags & WIRE_QUORUM_EXPIRES) && t.expire_ms == 0)))
		return ERR_PROTO;
	int rc = get_kv(&rd, key_len, value_len, version_len, &t.key, &t.value, &t.version);
	if (rc == 0)
		*q = t;
	return rc;
}

int wire_replica_resp_encode(struct buf *out, size_t cap_bytes, const struct wire_replica_resp *s)
{
	if (s->status >= WIRE_STATUS_COUNT)
		return ERR_INVALID;
	int rc = check_kv(bytes_make(NULL, 0), s->value, s->version);
	if (rc)
		return rc;
	rc = buf_reserve(out, RESP_FIXED_BYTES + s->value.len + s->version.len, cap_bytes);
	if (rc)
		return rc;
	codec_put16(out, s->status);
	codec_put16(out, s->from);
	codec_put32(out, (uint32_t)s->value.len);
	codec_put32(out, (uint32_t)s->version.len);
	codec_put32(out, 0);
	codec_put64(out, s->timestamp_ms);
	codec_put_bytes(out, s->value);
	codec_put_bytes(out, s->version);
	return 0;
}

int wire_replica_resp_decode(struct bytes payload, struct wire_replica_resp *s)
{
	struct codec_rd rd = codec_rd_make(payload.ptr, payload.len);
	struct wire_replica_resp t;
	t.status = codec_get16(&rd);
	t.from = codec_get16(&rd);
	uint32_t value_len = codec_get32(&rd);
	uint32_t version_len = codec_get32(&rd);
	uint32_t reserved2 = codec_get32(&rd);
	t.timestamp_ms = codec_get64(&rd);
	if (!rd.bad && (t.status >= WIRE_STATUS_COUNT || reserved2 != 0))
		return ERR_PROTO;
	struct bytes key;
	int rc = get_kv(&rd, 0, value_len, version_len, &key, &t.value, &t.version);
	if (rc == 0)
		*s = t;
	return rc;
}

/* ---- Hints ---------------------------------------------------------------------------- */

int wire_hint_encode(struct buf *out, size_t cap_bytes, const struct wire_hint *h)
{
	int rc = check_kv(h->key, h->value, h->version);
	if (rc)
		return rc;
	rc = buf_reserve(out, HINT_FIXED_BYTES + h->key.len + h->value.len + h->version.len,
	                 cap_bytes);
	if (rc)
		return rc;
	codec_put16(out, h->target);
	codec_put16(out, 0);
	codec_put32(out, (uint32_t)h->key.len);
	codec_put32(out, (uint32_t)h->value.len);
	codec_put32(out, (uint32_t)h->version.len);
	codec_put64(out, h->timestamp_ms);
	codec_put_bytes(out, h->key);
	codec_put_bytes(out, h->value);
	codec_put_bytes(out, h->version);
	return 0;
}

int wire_hint_decode(struct bytes payload, struct wire_hint *h)
{
	struct codec_rd rd = codec_rd_make(payload.ptr, payload.len);
	struct wire_hint t;
	t.target = codec_get16(&rd);
	uint16_t reserved = codec_get16(&rd);
	uint32_t key_len = codec_get32(&rd);
	uint32_t value_len = codec_get32(&rd);
	uint32_t version_len = codec_get32(&rd);
	t.timestamp_ms = codec_get64(&rd);
	if (!rd.bad && reserved != 0)
		return ERR_PROTO;
	int rc = get_kv(&rd, key_len, value_len, version_len, &t.key, &t.value, &t.version);
	if (rc == 0)
		*h = t;
	return rc;
}
