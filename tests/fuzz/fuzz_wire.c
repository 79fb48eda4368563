/*
 * fuzz_wire.c - libFuzzer target for the internode codec (cluster/wire.h)
 * and the formats it carries (cluster/ring.h, cluster/dvv.h).
 *
 * Input: one configuration byte, then the body.
 *   bit 0 of the config byte chooses how the body becomes a stream:
 *     0: the body is the byte stream itself (headers, checksums and all);
 *     1: the body is records (type u8, flags u8, length u16, payload) that
 *        the harness wraps into valid frames with wire_frame_encode, so
 *        the payload decoders are reached through real frames.
 *   bits 1..3 pick the decoder's payload limit (64 << n bytes), so the
 *   limit is hit often; the config byte also seeds the chunking.
 *
 * Checks, each an abort on failure:
 *   - the stream decodes to the same transcript (frames and the final
 *     outcome) whole and in random chunks of 1..64 bytes;
 *   - outcomes are only a frame, "more", or ERR_PROTO / ERR_LIMIT /
 *     ERR_CORRUPT with a reason; errors are sticky; *used never exceeds
 *     the input; a frame's payload is within its type's limit; the
 *     decoder's buffer never exceeds header + limit;
 *   - every payload decoder (replica request and response, hint)
 *     and every format decoder (ring, DVV, clock, PN-counter) is run on
 *     each frame's payload and on the raw body, and what decodes
 *     re-encodes to exactly the same bytes (all encodings are canonical),
 *     with the module's invariants checked.
 * AddressSanitizer catches reads out of bounds and leaks.
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/assert.h"
#include "base/buf.h"
#include "base/err.h"
#include "base/le.h"
#include "base/limits.h"
#include "cluster/dvv.h"
#include "cluster/ring.h"
#include "cluster/wire.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define TRANSCRIPT_CAP ((size_t)64 << 20)

struct fuzz_rng {
	uint64_t s;
};

static uint64_t rng_next(struct fuzz_rng *r)
{
	r->s ^= r->s >> 12;
	r->s ^= r->s << 25;
	r->s ^= r->s >> 27;
	return r->s * 2685821657736338717ULL;
}

static void t_put(struct buf *t, const void *p, size_t n)
{
	ASSERT(buf_reserve(t, n, TRANSCRIPT_CAP) == 0);
	buf_put(t, p, n);
}

/* Re-encoding what decoded must give the same bytes. */
static void check_same(const struct buf *b, struct bytes want)
{
	ASSERT(b->len == want.len);
	ASSERT(want.len == 0 || memcmp(b->data, want.ptr, want.len) == 0);
}

static void fuzz_formats(struct bytes in)
{
	struct buf b;
	buf_init(&b);
	struct ring r;
	if (ring_decode(&r, in.ptr, in.len) == 0) {
		ring_check_invariants(&r);
		ASSERT(ring_encode(&r, &b, SIZE_MAX) == 0);
		check_same(&b, in);
		if (r.member_count) {
			uint16_t pl[RING_REPLICAS_MAX];
			uint32_t n = ring_preference_list(&r, r.partition_count - 1, 3, pl);
			ASSERT(n >= 1 && n <= 3 && pl[0] == ring_owner(&r, r.partition_count - 1));
		}
		ring_deinit(&r);
	}
	struct dvv *d = malloc(sizeof(*d));
	ASSERT(d);
	b.len = 0;
	if (dvv_decode(d, in.ptr, in.len) == 0) {
		dvv_check_invariants(d);
		ASSERT(dvv_encode(d, &b, SIZE_MAX) == 0);
		check_same(&b, in);
		/* Operations on a peer's state must not break invariants. */
		struct dvv_clock ctx = d->clock;
		int rc = dvv_update(d, &ctx, 7, bytes_make("v", 1), 1, 0, NULL);
		ASSERT(rc == 0 || rc == ERR_LIMIT || rc == ERR_RANGE);
		dvv_check_invariants(d);
		dvv_resolve_lww(d);
		dvv_check_invariants(d);
		dvv_deinit(d);
	}
	free(d);
	struct dvv_clock c;
	b.len = 0;
	if (dvv_clock_decode(&c, in.ptr, in.len) == 0) {
		ASSERT(dvv_clock_encode(&c, &b, SIZE_MAX) == 0);
		check_same(&b, in);
	}
	struct pncounter pn;
	b.len = 0;
	if (pncounter_decode(&pn, in.ptr, in.len) == 0) {
		ASSERT(pncounter_encode(&pn, &b, SIZE_MAX) == 0);
		check_same(&b, in);
		int64_t v;
		(void)pncounter_value(&pn, &v);
		struct pncounter copy = pn;
		ASSERT(pncounter_merge(&copy, &pn) == 0);
		ASSERT(copy.count == pn.count);
	}
	buf_deinit(&b);
}

static void fuzz_payloads(struct bytes in)
{
	struct buf b;
	buf_init(&b);
	fuzz_formats(in); /* the ring, version and counter formats on raw bytes */
	struct wire_replica_req q;
	b.len = 0;
	int rc = wire_replica_req_decode(in, &q);
	ASSERT(rc == 0 || rc == ERR_PROTO || rc == ERR_LIMIT);
	if (rc == 0) {
		ASSERT(wire_replica_req_encode(&b, SIZE_MAX, &q) == 0);
		check_same(&b, in);
		fuzz_formats(q.version);
	}
	struct wire_replica_resp s;
	b.len = 0;
	rc = wire_replica_resp_decode(in, &s);
	ASSERT(rc == 0 || rc == ERR_PROTO || rc == ERR_LIMIT);
	if (rc == 0) {
		ASSERT(wire_replica_resp_encode(&b, SIZE_MAX, &s) == 0);
		check_same(&b, in);
		fuzz_formats(s.version);
	}
	struct wire_hint h;
	b.len = 0;
	rc = wire_hint_decode(in, &h);
	ASSERT(rc == 0 || rc == ERR_PROTO || rc == ERR_LIMIT);
	if (rc == 0) {
		ASSERT(wire_hint_encode(&b, SIZE_MAX, &h) == 0);
		check_same(&b, in);
		fuzz_formats(h.version);
	}
	buf_deinit(&b);
}

/* Appends one outcome to the transcript; true while decoding goes on. */
static bool record(struct buf *t, const struct wire_decoder *d, int rc, size_t max, bool payloads)
{
	ASSERT(d->buf.cap <= WIRE_HEADER_BYTES + max);
	if (rc < 0) {
		ASSERT(rc == ERR_PROTO || rc == ERR_LIMIT || rc == ERR_CORRUPT);
		ASSERT(wire_decoder_reason(d) != NULL);
		uint8_t e = (uint8_t)-rc;
		t_put(t, "E", 1);
		t_put(t, &e, 1);
		return false;
	}
	return true;
}

static void record_frame(struct buf *t, const struct wire_frame *f, size_t max, bool payloads)
{
	ASSERT(f->type >= 1 && f->type < WIRE_TYPE_COUNT);
	ASSERT(f->payload.len <= wire_payload_bytes_max(f->type, max));
	uint8_t h[16];
	h[0] = 'F';
	h[1] = f->type;
	le_put16(h + 2, f->flags);
	le_put32(h + 4, (uint32_t)f->payload.len);
	le_put64(h + 8, f->request_id);
	t_put(t, h, sizeof(h));
	t_put(t, f->payload.ptr, f->payload.len);
	if (payloads)
		fuzz_payloads(f->payload);
}

/* Decodes stream in pieces (whole when rng is NULL) into a transcript. */
static void decode(struct buf *t, const uint8_t *in, size_t len, size_t max, struct fuzz_rng *rng,
                   bool payloads)
{
	struct wire_decoder d;
	wire_decoder_init(&d, max);
	size_t pos = 0;
	int rc = 0;
	while (pos < len) {
		size_t step = rng ? 1 + (size_t)(rng_next(rng) % 64) : len;
		size_t end = len - pos < step ? len : pos + step;
		/* The piece lives in its own allocation, so a view that
		 * outlives it shows up under ASan. */
		uint8_t *piece = malloc(end - pos);
		ASSERT(piece);
		memcpy(piece, in + pos, end - pos);
		size_t off = 0;
		while (off < end - pos) {
			size_t used = 0;
			struct wire_frame f;
			rc = wire_decoder_step(&d, piece + off, end - pos - off, &used, &f);
			ASSERT(used <= end - pos - off);
			off += used;
			if (!record(t, &d, rc, max, payloads))
				break;
			if (rc == WIRE_FRAME_READY)
				record_frame(t, &f, max, payloads);
			else
				ASSERT(off == end - pos);
		}
		free(piece);
		pos = end;
		if (rc < 0) {
			size_t used = 1;
			struct wire_frame f;
			ASSERT(wire_decoder_step(&d, in, len, &used, &f) == rc && used == 0);
			break;
		}
	}
	if (rc >= 0)
		t_put(t, "M", 1);
	wire_decoder_deinit(&d);
}

/* Mode 1: records (type, flags, length u16, payload) into valid frames. */
static void build_frames(struct buf *s, const uint8_t *p, size_t n)
{
	uint64_t id = 0;
	while (n >= 4) {
		uint8_t type = p[0];
		uint16_t flags = p[1];
		size_t len = le_get16(p + 2);
		p += 4;
		n -= 4;
		if (len > n)
			len = n;
		ASSERT(wire_frame_encode(s, TRANSCRIPT_CAP, type, flags, id++,
		                         bytes_make(p, len)) == 0);
		p += len;
		n -= len;
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size == 0)
		return 0;
	uint8_t cfg = data[0];
	data++;
	size--;
	size_t max = (size_t)64 << ((cfg >> 1) & 7);
	struct fuzz_rng rng = {0x9e3779b97f4a7c15ULL ^ ((uint64_t)cfg << 32) ^ size};

	struct buf stream;
	buf_init(&stream);
	const uint8_t *in = data;
	size_t len = size;
	if (cfg & 1) {
		build_frames(&stream, data, size);
		in = stream.data;
		len = stream.len;
	}
	struct buf whole, split;
	buf_init(&whole);
	buf_init(&split);
	decode(&whole, in, len, max, NULL, true);
	decode(&split, in, len, max, &rng, false);
	if (split.len != whole.len || memcmp(split.data, whole.data, whole.len) != 0) {
		fprintf(stderr, "transcripts differ: whole %zu bytes, split %zu bytes\n", whole.len,
		        split.len);
		abort();
	}
	buf_deinit(&whole);
	buf_deinit(&split);
	buf_deinit(&stream);

	/* The raw body straight into every payload and format decoder. */
	fuzz_payloads(bytes_make(data, size));
	fuzz_formats(bytes_make(data, size));
	return 0;
}
