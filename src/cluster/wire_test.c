/*
 * wire_test.c - internode frames and payloads of cluster/wire.h.
 *
 * Frames are decoded from streams cut at every chunk size that matters
 * (1 byte, across the header boundary, whole); damaged frames must never
 * yield a frame; limits are tested at and one past; each payload round-
 * trips and every truncation of it is refused.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "base/err.h"
#include "base/le.h"
#include "base/limits.h"
#include "cluster/ring.h"
#include "cluster/wire.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct sent {
	uint8_t type;
	uint16_t flags;
	uint64_t id;
	size_t len;
	uint8_t fill;
};

static void encode_frames(struct buf *out, const struct sent *s, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		uint8_t *payload = malloc(s[i].len + 1);
		assert_non_null(payload);
		for (size_t k = 0; k < s[i].len; k++)
			payload[k] = (uint8_t)(s[i].fill + k);
		assert_int_equal(wire_frame_encode(out, SIZE_MAX, s[i].type, s[i].flags, s[i].id,
		                                   bytes_make(payload, s[i].len)),
		                 0);
		free(payload);
	}
}

static void check_frame(const struct wire_frame *f, const struct sent *s)
{
	assert_int_equal(f->type, s->type);
	assert_int_equal(f->flags, s->flags);
	assert_int_equal(f->request_id, s->id);
	assert_int_equal(f->payload.len, s->len);
	for (size_t k = 0; k < s->len; k++)
		if (f->payload.ptr[k] != (uint8_t)(s->fill + k))
			fail_msg("payload byte %zu differs", k);
}

/* Feeds stream in chunks of `chunk` bytes; returns the number of frames
 * decoded (each checked against want) or a negative error. */
static int decode_stream(struct wire_decoder *d, const uint8_t *p, size_t n, size_t chunk,
                         const struct sent *want, size_t want_n)
{
	size_t pos = 0, frames = 0;
	while (pos < n) {
		size_t end = n - pos < chunk ? n : pos + chunk;
		while (pos < end) {
			size_t used;
			struct wire_frame f;
			int rc = wire_decoder_step(d, p + pos, end - pos, &used, &f);
			assert_true(used <= end - pos);
			pos += used;
			if (rc < 0)
				return rc;
			if (rc == WIRE_FRAME_READY) {
				assert_true(frames < want_n);
				check_frame(&f, &want[frames]);
				frames++;
			} else {
				assert_int_equal(pos, end);
			}
		}
	}
	return (int)frames;
}

static const struct sent sample[] = {
    {WIRE_MEMBER, 0, 1, 0, 0},        {WIRE_PUT_REQ, 7, 2, 1, 9},
    {WIRE_PUT_RESP, 0, 2, 27, 1},     {WIRE_GET_REQ, 0xffff, UINT64_MAX, 28, 3},
    {WIRE_GET_RESP, 1, 5, 100000, 4}, {WIRE_HINT, 0, 6, 29, 5},
    {WIRE_HINT_ACK, 0, 7, 3, 6},      {WIRE_DEL_REQ, 0, 8, 513, 7},
};

static void test_wire_frames_decode_the_same_in_any_chunking(void **state)
{
	(void)state;
	struct buf s;
	buf_init(&s);
	size_t n = sizeof(sample) / sizeof(sample[0]);
	encode_frames(&s, sample, n);
	size_t chunks[] = {1, 2, 3, 7, 27, 28, 29, 57, 4096, 65536, SIZE_MAX};
	for (size_t c = 0; c < sizeof(chunks) / sizeof(chunks[0]); c++) {
		struct wire_decoder d;
		wire_decoder_init(&d, WIRE_FRAME_BYTES_DEFAULT);
		assert_int_equal(decode_stream(&d, s.data, s.len, chunks[c], sample, n), (int)n);
		assert_null(wire_decoder_reason(&d));
		/* Never more than one frame held. */
		assert_true(d.buf.cap <= WIRE_HEADER_BYTES + 100000);
		wire_decoder_deinit(&d);
	}
	buf_deinit(&s);
}

static int decode_all(const uint8_t *p, size_t n, size_t max, const struct sent *want,
                      const char **reason)
{
	struct wire_decoder d;
	wire_decoder_init(&d, max);
	int rc = decode_stream(&d, p, n, SIZE_MAX, want, 1);
	if (reason)
		*reason = wire_decoder_reason(&d);
	if (rc < 0) {
		/* Sticky: the decoder refuses anything after an error. */
		size_t used = 1;
		struct wire_frame f;
		assert_int_equal(wire_decoder_step(&d, p, n, &used, &f), rc);
		assert_int_equal(used, 0);
	}
	wire_decoder_deinit(&d);
	return rc;
}

static void test_wire_decoder_rejects_bad_headers_with_a_reason(void **state)
{
	(void)state;
	struct buf s;
	buf_init(&s);
	encode_frames(&s, &sample[1], 1); /* PUT_REQ, one payload byte */
	const char *why;
	assert_int_equal(decode_all(s.data, s.len, 100, &sample[1], &why), 1);
	struct {
		size_t off;
		uint8_t val;
		int err;
		const char *reason;
	} cases[] = {
	    {0, 'X', ERR_PROTO, "bad magic"},
	    {4, WIRE_VERSION + 1, ERR_PROTO, "unsupported version"},
	    {5, 0, ERR_PROTO, "unknown frame type"},
	    {5, WIRE_TYPE_COUNT, ERR_PROTO, "unknown frame type"},
	    {8, 101, ERR_LIMIT, "frame too large"},
	    {28, 0x55, ERR_CORRUPT, "checksum mismatch"},
	    {6, 0, ERR_CORRUPT, "checksum mismatch"},  /* flags are covered */
	    {12, 0, ERR_CORRUPT, "checksum mismatch"}, /* request id too */
	    {20, 0, ERR_CORRUPT, "checksum mismatch"},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		uint8_t saved = s.data[cases[i].off];
		s.data[cases[i].off] = cases[i].val;
		assert_int_equal(decode_all(s.data, s.len, 100, &sample[1], &why), cases[i].err);
		assert_string_equal(why, cases[i].reason);
		s.data[cases[i].off] = saved;
	}
	buf_deinit(&s);
}

static void test_wire_no_damaged_frame_is_ever_delivered(void **state)
{
	(void)state;
	struct sent one = {WIRE_PUT_REQ, 3, 99, 40, 11};
	struct buf s;
	buf_init(&s);
	encode_frames(&s, &one, 1);
	for (size_t i = 0; i < s.len; i++) {
		for (int bit = 0; bit < 8; bit++) {
			s.data[i] ^= (uint8_t)(1u << bit);
			struct wire_decoder d;
			wire_decoder_init(&d, 1 << 20);
			size_t used;
			struct wire_frame f;
			int rc = wire_decoder_step(&d, s.data, s.len, &used, &f);
			/* An error, or (a length grown past the stream) waiting. */
			assert_true(rc < 0 || (rc == 0 && used == s.len));
			wire_decoder_deinit(&d);
			s.data[i] ^= (uint8_t)(1u << bit);
		}
	}
	buf_deinit(&s);
}

static void test_wire_frame_limit_at_and_one_past(void **state)
{
	(void)state;
	struct buf s;
	buf_init(&s);
	struct sent at = {WIRE_GET_RESP, 0, 1, 1000, 0};
	encode_frames(&s, &at, 1);
	struct wire_decoder d;
	wire_decoder_init(&d, 1000);
	assert_int_equal(decode_stream(&d, s.data, s.len, 13, &at, 1), 1);
	wire_decoder_deinit(&d);
	/* One past: refused from the header alone, before any payload. */
	s.len = 0;
	struct sent past = {WIRE_GET_RESP, 0, 1, 1001, 0};
	encode_frames(&s, &past, 1);
	wire_decoder_init(&d, 1000);
	size_t used;
	struct wire_frame f;
	assert_int_equal(wire_decoder_step(&d, s.data, WIRE_HEADER_BYTES, &used, &f), ERR_LIMIT);
	wire_decoder_deinit(&d);

	/* Membership and ring frames are held to the control limit whatever
	 * the configured one. */
	uint8_t h[WIRE_HEADER_BYTES];
	memcpy(h, s.data, WIRE_HEADER_BYTES);
	h[5] = WIRE_MEMBER;
	le_put32(h + 8, WIRE_CONTROL_BYTES_MAX + 1);
	wire_decoder_init(&d, WIRE_FRAME_BYTES_DEFAULT);
	assert_int_equal(wire_decoder_step(&d, h, sizeof(h), &used, &f), ERR_LIMIT);
	wire_decoder_deinit(&d);
	h[5] = WIRE_PUT_REQ; /* a data frame of that size is fine */
	wire_decoder_init(&d, WIRE_FRAME_BYTES_DEFAULT);
	assert_int_equal(wire_decoder_step(&d, h, sizeof(h), &used, &f), 0);
	assert_int_equal(used, sizeof(h));
	wire_decoder_deinit(&d);
	assert_int_equal(wire_payload_bytes_max(WIRE_MEMBER, 100), 100);
	assert_int_equal(wire_payload_bytes_max(WIRE_MEMBER, WIRE_FRAME_BYTES_MAX),
	                 WIRE_CONTROL_BYTES_MAX);

	/* Encoding into a capped buffer: exactly fits, or nothing appended. */
	s.len = 0;
	uint8_t pl[10] = {0};
	assert_int_equal(
	    wire_frame_encode(&s, WIRE_HEADER_BYTES + 9, WIRE_HINT, 0, 1, bytes_make(pl, 10)),
	    ERR_LIMIT);
	assert_int_equal(s.len, 0);
	assert_int_equal(
	    wire_frame_encode(&s, WIRE_HEADER_BYTES + 10, WIRE_HINT, 0, 1, bytes_make(pl, 10)), 0);
	buf_deinit(&s);
}

static void test_wire_decoder_grows_with_the_bytes_not_the_announced_length(void **state)
{
	(void)state;
	uint8_t h[WIRE_HEADER_BYTES + 10] = {0};
	struct buf s;
	buf_init(&s);
	size_t start;
	assert_int_equal(wire_frame_begin(&s, SIZE_MAX, WIRE_PUT_REQ, 0, 1, &start), 0);
	memcpy(h, s.data, WIRE_HEADER_BYTES);
	le_put32(h + 8, 400 * 1024 * 1024); /* announces 400 MiB */
	struct wire_decoder d;
	wire_decoder_init(&d, WIRE_FRAME_BYTES_DEFAULT);
	size_t used;
	struct wire_frame f;
	assert_int_equal(wire_decoder_step(&d, h, sizeof(h), &used, &f), 0);
	assert_int_equal(used, sizeof(h));
	assert_true(d.buf.cap <= 256);
	wire_decoder_deinit(&d);
	buf_deinit(&s);
}

/* ---- Payloads ------------------------------------------------------------------- */

typedef int decode_fn(struct bytes payload, void *out);


static int dec_req(struct bytes p, void *out)
{
	return wire_replica_req_decode(p, out);
}

static int dec_resp(struct bytes p, void *out)
{
	return wire_replica_resp_decode(p, out);
}

static int dec_hint(struct bytes p, void *out)
{
	return wire_hint_decode(p, out);
}

/* Every strict prefix and one trailing byte are refused. */
static void check_truncations(struct buf *b, decode_fn *fn, void *out)
{
	for (size_t n = 0; n < b->len; n++)
		assert_int_not_equal(fn(bytes_make(b->data, n), out), 0);
	assert_int_equal(buf_reserve(b, 1, SIZE_MAX), 0);
	b->data[b->len] = 0;
	assert_int_equal(fn(bytes_make(b->data, b->len + 1), out), ERR_PROTO);
}

static void test_wire_replica_messages_round_trip_and_check_lengths(void **state)
{
	(void)state;
	struct wire_replica_req q = {.key = bytes_cstr("user:1"),
	                             .value = bytes_cstr("hello"),
	                             .version = bytes_cstr("ctx"),
	                             .timestamp_ms = 1700000000000ULL,
	                             .n = 3,
	                             .r = 2,
	                             .w = 2,
	                             .quorum_flags = WIRE_QUORUM_SLOPPY,
	                             .hint_for = 0x1234,
	                             .from = 0x0102};
	struct buf b;
	buf_init(&b);
	assert_int_equal(wire_replica_req_encode(&b, SIZE_MAX, &q), 0);
	struct wire_replica_req qb;
	assert_int_equal(wire_replica_req_decode(bytes_make(b.data, b.len), &qb), 0);
	assert_true(bytes_eq(qb.key, q.key) && bytes_eq(qb.value, q.value) &&
	            bytes_eq(qb.version, q.version));
	assert_int_equal(qb.timestamp_ms, q.timestamp_ms);
	assert_int_equal(qb.n, 3);
	assert_int_equal(qb.r, 2);
	assert_int_equal(qb.w, 2);
	assert_int_equal(qb.quorum_flags, WIRE_QUORUM_SLOPPY);
	assert_int_equal(qb.hint_for, 0x1234);
	assert_int_equal(le_get16(b.data + 24), 0x1234); /* hint_for sits after the lengths */
	check_truncations(&b, dec_req, &qb);
	/* The sender's member id follows hint_for. */
	assert_int_equal(qb.from, 0x0102);
	assert_int_equal(le_get16(b.data + 26), 0x0102);
	/* Unknown quorum flags are refused. */
	b.data[11] = 0x80;
	assert_int_equal(wire_replica_req_decode(bytes_make(b.data, b.len), &qb), ERR_PROTO);
	b.data[11] = WIRE_QUORUM_SLOPPY;
	/* "Not a hint" survives the round trip too. */
	struct wire_replica_req plain = q;
	plain.hint_for = WIRE_HINT_FOR_NONE;
	struct buf pb;
	buf_init(&pb);
	assert_int_equal(wire_replica_req_encode(&pb, SIZE_MAX, &plain), 0);
	assert_int_equal(wire_replica_req_decode(bytes_make(pb.data, pb.len), &qb), 0);
	assert_int_equal(qb.hint_for, WIRE_HINT_FOR_NONE);
	buf_deinit(&pb);
	/* Bad quorum fields; key length past KEY_BYTES_MAX; lengths that
	 * overrun the payload. */
	b.data[8] = RING_REPLICAS_MAX + 1;
	assert_int_equal(wire_replica_req_decode(bytes_make(b.data, b.len), &qb), ERR_PROTO);
	b.data[8] = 3;
	b.data[11] = 0x80;
	assert_int_equal(wire_replica_req_decode(bytes_make(b.data, b.len), &qb), ERR_PROTO);
	b.data[11] = 0;
	le_put32(b.data + 12, KEY_BYTES_MAX + 1);
	assert_int_equal(wire_replica_req_decode(bytes_make(b.data, b.len), &qb), ERR_LIMIT);
	le_put32(b.data + 12, KEY_BYTES_MAX);
	assert_int_equal(wire_replica_req_decode(bytes_make(b.data, b.len), &qb), ERR_PROTO);
	le_put32(b.data + 12, 6);
	le_put32(b.data + 20, UINT32_MAX); /* version length */
	assert_int_equal(wire_replica_req_decode(bytes_make(b.data, b.len), &qb), ERR_PROTO);
	q.w = RING_REPLICAS_MAX + 1;
	assert_int_equal(wire_replica_req_encode(&b, SIZE_MAX, &q), ERR_INVALID);

	struct wire_replica_resp s = {.status = WIRE_STATUS_NOT_FOUND,
	                              .from = 0x0304,
	                              .timestamp_ms = 9,
	                              .value = bytes_cstr(""),
	                              .version = bytes_cstr("vv")};
	b.len = 0;
	assert_int_equal(wire_replica_resp_encode(&b, SIZE_MAX, &s), 0);
	struct wire_replica_resp sb;
	assert_int_equal(wire_replica_resp_decode(bytes_make(b.data, b.len), &sb), 0);
	assert_int_equal(sb.status, WIRE_STATUS_NOT_FOUND);
	assert_int_equal(sb.timestamp_ms, 9);
	assert_int_equal(sb.from, 0x0304);
	assert_int_equal(sb.value.len, 0);
	assert_true(bytes_eq(sb.version, s.version));
	check_truncations(&b, dec_resp, &sb);
	le_put16(b.data, WIRE_STATUS_COUNT);
	assert_int_equal(wire_replica_resp_decode(bytes_make(b.data, b.len), &sb), ERR_PROTO);
	le_put16(b.data, 0);
	le_put32(b.data + 4, VALUE_BYTES_MAX + 1);
	assert_int_equal(wire_replica_resp_decode(bytes_make(b.data, b.len), &sb), ERR_LIMIT);
	s.status = WIRE_STATUS_COUNT;
	assert_int_equal(wire_replica_resp_encode(&b, SIZE_MAX, &s), ERR_INVALID);

	struct wire_hint h = {.target = 7,
	                      .timestamp_ms = 3,
	                      .key = bytes_cstr("k"),
	                      .value = bytes_cstr("v"),
	                      .version = bytes_cstr("dvv")};
	b.len = 0;
	assert_int_equal(wire_hint_encode(&b, SIZE_MAX, &h), 0);
	/* Cap: one byte short appends nothing. */
	struct buf c;
	buf_init(&c);
	assert_int_equal(wire_hint_encode(&c, b.len - 1, &h), ERR_LIMIT);
	assert_int_equal(c.len, 0);
	buf_deinit(&c);
	struct wire_hint hb;
	assert_int_equal(wire_hint_decode(bytes_make(b.data, b.len), &hb), 0);
	assert_int_equal(hb.target, 7);
	assert_int_equal(hb.timestamp_ms, 3);
	assert_true(bytes_eq(hb.key, h.key) && bytes_eq(hb.value, h.value) &&
	            bytes_eq(hb.version, h.version));
	check_truncations(&b, dec_hint, &hb);
	b.data[2] = 1; /* reserved */
	assert_int_equal(wire_hint_decode(bytes_make(b.data, b.len), &hb), ERR_PROTO);
	buf_deinit(&b);
}

static void test_wire_frames_carry_payloads_end_to_end(void **state)
{
	(void)state;
	/* A put request built in place between frame_begin and frame_end. */
	struct buf out;
	buf_init(&out);
	size_t start;
	assert_int_equal(wire_frame_begin(&out, SIZE_MAX, WIRE_PUT_REQ, 0, 42, &start), 0);
	struct wire_replica_req q = {
	    .key = bytes_cstr("k"), .value = bytes_cstr("v"), .n = 3, .hint_for = 2};
	assert_int_equal(wire_replica_req_encode(&out, SIZE_MAX, &q), 0);
	assert_int_equal(wire_frame_end(&out, start), 0);
	struct wire_decoder d;
	wire_decoder_init(&d, 1 << 20);
	size_t used;
	struct wire_frame f;
	assert_int_equal(wire_decoder_step(&d, out.data, out.len, &used, &f), WIRE_FRAME_READY);
	assert_int_equal(used, out.len);
	assert_int_equal(f.type, WIRE_PUT_REQ);
	assert_int_equal(f.request_id, 42);
	struct wire_replica_req back;
	assert_int_equal(wire_replica_req_decode(f.payload, &back), 0);
	assert_true(bytes_eq(back.key, q.key));
	assert_int_equal(back.hint_for, 2);
	wire_decoder_deinit(&d);
	buf_deinit(&out);
}

static void test_wire_expiry_is_carried_only_with_its_flag(void **state)
{
	(void)state;
	struct wire_replica_req q = {.key = bytes_cstr("k"),
	                             .value = bytes_cstr("v"),
	                             .timestamp_ms = 5,
	                             .quorum_flags = WIRE_QUORUM_FORWARD | WIRE_QUORUM_EXPIRES,
	                             .hint_for = WIRE_HINT_FOR_NONE,
	                             .from = 1,
	                             .expire_ms = 1700000000123ULL};
	struct buf b, plain;
	buf_init(&b);
	buf_init(&plain);
	assert_int_equal(wire_replica_req_encode(&b, SIZE_MAX, &q), 0);
	struct wire_replica_req without = q;
	without.quorum_flags = WIRE_QUORUM_FORWARD;
	without.expire_ms = 0;
	assert_int_equal(wire_replica_req_encode(&plain, SIZE_MAX, &without), 0);
	assert_int_equal(b.len, plain.len + 8);
	assert_int_equal(le_get64(b.data + 28), q.expire_ms); /* after `from` */
	struct wire_replica_req qb;
	assert_int_equal(wire_replica_req_decode(bytes_make(b.data, b.len), &qb), 0);
	assert_int_equal(qb.expire_ms, q.expire_ms);
	assert_true(bytes_eq(qb.key, q.key) && bytes_eq(qb.value, q.value));
	assert_int_equal(wire_replica_req_decode(bytes_make(plain.data, plain.len), &qb), 0);
	assert_int_equal(qb.expire_ms, 0);
	check_truncations(&b, dec_req, &qb);
	/* The flag with 0, or an expiry without the flag, is refused. */
	le_put64(b.data + 28, 0);
	assert_int_equal(wire_replica_req_decode(bytes_make(b.data, b.len), &qb), ERR_PROTO);
	struct buf bad;
	buf_init(&bad);
	without.expire_ms = 7;
	assert_int_equal(wire_replica_req_encode(&bad, SIZE_MAX, &without), ERR_INVALID);
	q.expire_ms = 0;
	assert_int_equal(wire_replica_req_encode(&bad, SIZE_MAX, &q), ERR_INVALID);
	assert_int_equal(bad.len, 0);
	/* EXPIRE's own flag is known. */
	q.quorum_flags = WIRE_QUORUM_FORWARD | WIRE_QUORUM_EXPIRE;
	assert_int_equal(wire_replica_req_encode(&bad, SIZE_MAX, &q), 0);
	assert_int_equal(wire_replica_req_decode(bytes_make(bad.data, bad.len), &qb), 0);
	assert_int_equal(qb.quorum_flags, WIRE_QUORUM_FORWARD | WIRE_QUORUM_EXPIRE);
	buf_deinit(&b);
	buf_deinit(&plain);
	buf_deinit(&bad);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_wire_frames_decode_the_same_in_any_chunking),
	    cmocka_unit_test(test_wire_decoder_rejects_bad_headers_with_a_reason),
	    cmocka_unit_test(test_wire_no_damaged_frame_is_ever_delivered),
	    cmocka_unit_test(test_wire_frame_limit_at_and_one_past),
	    cmocka_unit_test(test_wire_decoder_grows_with_the_bytes_not_the_announced_length),
	    cmocka_unit_test(test_wire_replica_messages_round_trip_and_check_lengths),
	    cmocka_unit_test(test_wire_expiry_is_carried_only_with_its_flag),
	    cmocka_unit_test(test_wire_frames_carry_payloads_end_to_end),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
