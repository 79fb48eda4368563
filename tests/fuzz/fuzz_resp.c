/*
 * fuzz_resp.c - libFuzzer target for the RESP parser and writer.
 *
 * Input: four configuration bytes (args_max, bulk_bytes_max,
 * inline_bytes_max, split seed), then the byte stream a client sends. The
 * limits are small so that every limit is hit often.
 *
 * Checks, each an abort on failure:
 *   - every outcome is RESP_DONE, RESP_MORE, ERR_PROTO or ERR_NOMEM, and an
 *     error carries a Redis protocol error text;
 *   - on RESP_DONE, consumed is within the bytes given, argc within
 *     args_max, and each argument lies inside the buffer (multibulk, within
 *     the command and bulk_bytes_max) or inside the parser's scratch
 *     (inline);
 *   - the transcript of outcomes is the same when the stream arrives in
 *     random pieces and the buffer moves to a new allocation at every read
 *     (the parser must keep offsets, not pointers);
 *   - the writer emits exactly the expected bytes for each argument, leaves
 *     the buffer untouched when it refuses an append at its cap, keeps the
 *     error sticky, and prints integers and doubles that parse back to the
 *     same value.
 */
#include <math.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/assert.h"
#include "base/buf.h"
#include "base/err.h"
#include "base/strconv.h"
#include "proto/resp.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define TRANSCRIPT_CAP ((size_t)64 << 20)

struct fuzz_rng {
	uint64_t s;
};

static uint64_t rng_next(struct fuzz_rng *r)
{
	/* xorshift64*: the split points only need to vary with the input. */
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

static void t_num(struct buf *t, char tag, int64_t v)
{
	char d[24];
	d[0] = tag;
	size_t n = 1 + strconv_i64_fmt(d + 1, v);
	d[n++] = ';';
	t_put(t, d, n);
}

static bool starts_with(const char *s, const char *prefix)
{
	return strncmp(s, prefix, strlen(prefix)) == 0;
}

/* Checks one outcome against the invariants of resp.h and appends it to
 * the transcript. Returns true when parsing should go on. */
static bool check_outcome(struct buf *t, const struct resp_parser *p, int rc, const uint8_t *buf,
                          size_t len, size_t consumed)
{
	if (rc == RESP_MORE) {
		ASSERT(resp_parser_bytes_wanted(p, len) <= p->limits.bulk_bytes_max + 2);
		t_put(t, "M", 1);
		return false;
	}
	if (rc != RESP_DONE) {
		ASSERT(rc == ERR_PROTO || rc == ERR_NOMEM);
		ASSERT(rc != ERR_PROTO || starts_with(p->errmsg, "Protocol error: "));
		t_num(t, 'E', rc);
		t_put(t, p->errmsg, strlen(p->errmsg));
		return false;
	}
	ASSERT(consumed > 0 && consumed <= len);
	ASSERT(p->argc <= p->limits.args_max);
	ASSERT(p->argc <= p->args_cap);
	t_num(t, 'D', (int64_t)p->argc);
	for (size_t i = 0; i < p->argc; i++) {
		struct bytes a = p->argv[i];
		if (p->is_inline) {
			ASSERT(a.len <= p->limits.inline_bytes_max);
			ASSERT(a.len == 0 ||
			       (a.ptr >= p->scratch.data &&
			        a.ptr + a.len <= p->scratch.data + p->scratch.len));
		} else {
			ASSERT(a.len <= p->limits.bulk_bytes_max);
			ASSERT(a.ptr >= buf && a.ptr + a.len <= buf + consumed);
		}
		t_num(t, 'A', (int64_t)a.len);
		t_put(t, a.ptr, a.len);
	}
	return true;
}

static void parse_whole(struct buf *t, const struct resp_limits *lim, const uint8_t *in, size_t len)
{
	struct resp_parser p;
	resp_parser_init(&p, lim);
	size_t pos = 0;
	for (;;) {
		size_t used = 0;
		int rc = resp_parse(&p, in + pos, len - pos, &used);
		if (!check_outcome(t, &p, rc, in + pos, len - pos, used))
			break;
		pos += used;
		resp_parser_reset(&p);
	}
	resp_parser_deinit(&p);
}

/* The same stream in random reads of 1..64 bytes; the pending bytes move to
 * a fresh allocation at every read and after every command. */
static void parse_split(struct buf *t, const struct resp_limits *lim, const uint8_t *in, size_t len,
                        struct fuzz_rng *rng)
{
	struct resp_parser p;
	resp_parser_init(&p, lim);
	size_t start = 0, end = 0;
	uint8_t *qb = malloc(1);
	ASSERT(qb);
	for (;;) {
		size_t used = 0;
		int rc = resp_parse(&p, qb, end - start, &used);
		if (rc == RESP_MORE && end < len) {
			size_t step = 1 + (size_t)(rng_next(rng) % 64);
			end = len - end < step ? len : end + step;
			uint8_t *n = malloc(end - start + 1);
			ASSERT(n);
			memcpy(n, in + start, end - start);
			free(qb);
			qb = n;
			continue;
		}
		if (!check_outcome(t, &p, rc, qb, end - start, used))
			break;
		start += used;
		uint8_t *n = malloc(end - start + 1);
		ASSERT(n);
		memcpy(n, in + start, end - start);
		free(qb);
		qb = n;
	}
	free(qb);
	resp_parser_deinit(&p);
}

/* Runs one writer call; checks that a refused append changes nothing and
 * that an accepted one appended exactly want[0, want_len) when given. */
#define WRITE_CHECK(o, call, want, want_len)                                                       \
	do {                                                                                       \
		size_t before_ = (o)->buf.len;                                                     \
		int err_before_ = (o)->err;                                                        \
		call;                                                                              \
		if ((o)->err) {                                                                    \
			ASSERT((o)->err == ERR_LIMIT || (o)->err == ERR_NOMEM);                    \
			ASSERT((o)->buf.len == before_);                                           \
			ASSERT(err_before_ == 0 || (o)->err == err_before_);                       \
		} else if ((want) != NULL) {                                                       \
			ASSERT((o)->buf.len == before_ + (want_len));                              \
			ASSERT(memcmp((o)->buf.data + before_, (want), (want_len)) == 0);          \
		}                                                                                  \
		ASSERT((o)->buf.len <= (o)->cap_bytes);                                            \
	} while (0)

static void check_number_replies(struct resp_out *o, struct bytes a)
{
	uint8_t raw[8] = {0};
	memcpy(raw, a.ptr, a.len < 8 ? a.len : 8);
	int64_t iv;
	double dv;
	memcpy(&iv, raw, sizeof(iv));
	memcpy(&dv, raw, sizeof(dv));

	size_t before = o->buf.len;
	resp_w_int(o, iv);
	if (!o->err) {
		int64_t back = 0;
		const uint8_t *s = o->buf.data + before;
		size_t n = o->buf.len - before;
		ASSERT(n >= 4 && s[0] == ':' && s[n - 2] == '\r' && s[n - 1] == '\n');
		ASSERT(strconv_i64(bytes_make(s + 1, n - 3), &back) && back == iv);
	}
	before = o->buf.len;
	resp_w_double(o, dv);
	if (!o->err && o->proto == 3) {
		const uint8_t *s = o->buf.data + before;
		size_t n = o->buf.len - before;
		ASSERT(n >= 4 && n < 64 && s[0] == ',' && s[n - 2] == '\r');
		char text[64];
		memcpy(text, s + 1, n - 3);
		text[n - 3] = '\0';
		double back = strtod(text, NULL);
		ASSERT(isnan(dv) ? strcmp(text, "nan") == 0 : back == dv);
	}
}

static void exercise_writer(struct resp_out *o, const struct resp_parser *p)
{
	for (size_t i = 0; i < p->argc; i++) {
		struct bytes a = p->argv[i];
		char want[64];
		size_t hn = (size_t)snprintf(want, sizeof(want), "$%zu\r\n", a.len);
		uint8_t *exp = malloc(hn + a.len + 2);
		ASSERT(exp);
		memcpy(exp, want, hn);
		memcpy(exp + hn, a.ptr, a.len);
		memcpy(exp + hn + a.len, "\r\n", 2);
		WRITE_CHECK(o, resp_w_bulk(o, a.ptr, a.len), exp, hn + a.len + 2);
		free(exp);
		WRITE_CHECK(o, resp_w_verbatim(o, a.ptr, a.len), (const char *)NULL, 0);
		WRITE_CHECK(o, resp_w_array(o, a.len), (const char *)NULL, 0);
		WRITE_CHECK(o, resp_w_map(o, a.len), (const char *)NULL, 0);
		WRITE_CHECK(o, resp_w_errorf(o, "ERR %.*s", (int)a.len, (const char *)a.ptr),
		            (const char *)NULL, 0);
		WRITE_CHECK(o, resp_w_null(o), (const char *)NULL, 0);
		WRITE_CHECK(o, resp_w_bool(o, a.len & 1), (const char *)NULL, 0);
		uint8_t *w = resp_w_reserve(o, a.len);
		ASSERT(o->err ? w == NULL : w != NULL);
		if (w && a.len)
			memcpy(w, a.ptr, a.len);
		check_number_replies(o, a);
		if (o->err) {
			/* The caller's recovery: drop the reply, clear the error. */
			o->buf.len = 0;
			o->err = 0;
		}
	}
}

static void writer_pass(const struct resp_limits *lim, const uint8_t *in, size_t len, size_t cap,
                        int proto)
{
	struct resp_out o;
	resp_out_init(&o, cap);
	o.proto = proto;
	struct resp_parser p;
	resp_parser_init(&p, lim);
	size_t pos = 0;
	for (;;) {
		size_t used = 0;
		if (resp_parse(&p, in + pos, len - pos, &used) != RESP_DONE)
			break;
		exercise_writer(&o, &p);
		pos += used;
		resp_parser_reset(&p);
	}
	resp_parser_deinit(&p);
	resp_out_deinit(&o);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct resp_limits lim = {.args_max = 8, .bulk_bytes_max = 32, .inline_bytes_max = 64};
	uint64_t seed = 0x9e3779b97f4a7c15ULL;
	if (size >= 4) {
		lim.args_max = 1 + data[0] % 16;
		lim.bulk_bytes_max = data[1] % 64;
		lim.inline_bytes_max = 1 + data[2] % 96;
		seed ^= (uint64_t)data[3] * 0x100000001b3ULL + size;
		data += 4;
		size -= 4;
	}
	struct fuzz_rng rng = {seed ? seed : 1};

	struct buf whole, split;
	buf_init(&whole);
	buf_init(&split);
	parse_whole(&whole, &lim, data, size);
	for (int round = 0; round < 2; round++) {
		split.len = 0;
		parse_split(&split, &lim, data, size, &rng);
		if (split.len != whole.len || memcmp(split.data, whole.data, whole.len) != 0) {
			fprintf(stderr, "transcripts differ:\nwhole: %.*s\nsplit: %.*s\n",
			        (int)whole.len, (const char *)whole.data, (int)split.len,
			        (const char *)split.data);
			abort();
		}
	}
	buf_deinit(&whole);
	buf_deinit(&split);

	size_t cap = 16 + (size_t)(rng_next(&rng) % 256);
	writer_pass(&lim, data, size, cap, 2);
	writer_pass(&lim, data, size, cap, 3);
	return 0;
}
