/*
 * hintlog_test.c - the hint queues of hinted handoff (cluster/hintlog.h)
 * over env_fs_mem.
 *
 * Records are made from an id (key "k<id>", a state of PRNG bytes), so a
 * test checks what comes back by id. Every test is seeded; the model test
 * prints its seed and step when it fails. env_fs_mem_deinit asserts that
 * no handle leaked. The file format details the tests rely on (40-byte
 * segment header, 24-byte record header, file names) are those of
 * hintlog.c.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/err.h"
#include "base/limits.h"
#include "cluster/hintlog.h"
#include "env/env_fs_mem.h"

#define DIR      "hints"
#define SEG_HDR  40
#define REC_HDR  24
#define STATE_SZ 64

/* ---- Fixture --------------------------------------------------------- */

struct fx {
	struct env_fs_mem fs;
	struct hintlog h;
	struct hintlog_config cfg;
	bool open;
};

static struct fx *fx_new(uint64_t seed)
{
	struct fx *f = calloc(1, sizeof(*f));
	assert_non_null(f);
	env_fs_mem_init(&f->fs, seed);
	f->cfg.dir = DIR;
	return f;
}

static void fx_open(struct fx *f)
{
	assert_int_equal(hintlog_open(&f->h, &f->fs.base, &f->cfg), 0);
	f->open = true;
	hintlog_check_invariants(&f->h);
}

static void fx_close(struct fx *f)
{
	if (f->open)
		hintlog_close(&f->h);
	f->open = false;
}

static void fx_reopen(struct fx *f)
{
	fx_close(f);
	fx_open(f);
}

/* A power cut while open: the handles die; then recovery. */
static void fx_crash(struct fx *f, enum env_fs_mem_crash_mode mode)
{
	env_fs_mem_crash(&f->fs, mode);
	fx_close(f);
	fx_open(f);
}

static void fx_free(struct fx *f)
{
	fx_close(f);
	env_fs_mem_deinit(&f->fs);
	free(f);
}

static struct bytes name_of(const char *s)
{
	return bytes_cstr(s);
}

/* ---- Records --------------------------------------------------------- */

struct rec_buf {
	char key[32];
	uint8_t state[512];
	size_t state_len;
};

static void rec_make(struct rec_buf *r, uint64_t id, size_t state_len)
{
	assert_true(state_len <= sizeof(r->state));
	snprintf(r->key, sizeof(r->key), "k%llu", (unsigned long long)id);
	uint64_t x = id * 0x9e3779b97f4a7c15ull + 1;
	for (size_t i = 0; i < state_len; i++) {
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		r->state[i] = (uint8_t)x;
	}
	r->state_len = state_len;
}

static int append_len(struct fx *f, const char *target, uint64_t id, size_t state_len,
                      uint64_t created_ms)
{
	struct rec_buf r;
	rec_make(&r, id, state_len);
	int rc = hintlog_append(&f->h, name_of(target), bytes_cstr(r.key),
	                        bytes_make(r.state, r.state_len), created_ms);
	hintlog_check_invariants(&f->h);
	return rc;
}

static int append(struct fx *f, const char *target, uint64_t id)
{
	return append_len(f, target, id, STATE_SZ, 1000 + id);
}

static uint64_t rec_bytes(uint64_t id, size_t state_len)
{
	char key[32];
	return REC_HDR + (uint64_t)snprintf(key, sizeof(key), "k%llu", (unsigned long long)id) +
	    state_len;
}

/* The id of a record handed out, checking that its bytes are intact. */
static uint64_t rec_id(const struct hint_rec *hr)
{
	char key[32];
	assert_true(hr->key.len > 1 && hr->key.len < sizeof(key));
	memcpy(key, hr->key.ptr, hr->key.len);
	key[hr->key.len] = '\0';
	uint64_t id = strtoull(key + 1, NULL, 10);
	struct rec_buf r;
	rec_make(&r, id, hr->state.len);
	assert_true(bytes_eq(hr->key, bytes_cstr(r.key)));
	assert_memory_equal(hr->state.ptr, r.state, hr->state.len);
	return id;
}

static int next(struct fx *f, const char *target, uint64_t now_ms, struct hint_rec *out)
{
	int rc = hintlog_next(&f->h, name_of(target), now_ms, out);
	hintlog_check_invariants(&f->h);
	return rc;
}

/* Next record: returns its id and puts its seq in *seq. */
static uint64_t next_id(struct fx *f, const char *target, uint64_t *seq)
{
	struct hint_rec hr;
	assert_int_equal(next(f, target, 0, &hr), 0);
	if (seq)
		*seq = hr.seq;
	return rec_id(&hr);
}

static void ack(struct fx *f, const char *target, uint64_t seq)
{
	assert_int_equal(hintlog_ack(&f->h, name_of(target), seq), 0);
	hintlog_check_invariants(&f->h);
}

/* Sends and acks everything pending, checking ids are first..last. */
static void drain(struct fx *f, const char *target, uint64_t first, uint64_t last)
{
	for (uint64_t id = first; id <= last; id++) {
		uint64_t seq;
		assert_int_equal(next_id(f, target, &seq), id);
		ack(f, target, seq);
	}
	struct hint_rec hr;
	assert_int_equal(next(f, target, 0, &hr), ERR_NOT_FOUND);
}

static struct hintlog_target_stats tstats(struct fx *f, const char *target)
{
	struct hintlog_target_stats st;
	memset(&st, 0, sizeof(st));
	int rc = hintlog_target_stats(&f->h, name_of(target), &st);
	assert_true(rc == 0 || rc == ERR_NOT_FOUND);
	return st;
}

static struct hintlog_stats stats(struct fx *f)
{
	struct hintlog_stats st;
	hintlog_get_stats(&f->h, &st);
	return st;
}

static int count_cb(void *ctx, const char *name)
{
	(void)name;
	(*(size_t *)ctx)++;
	return 0;
}

static size_t file_count(struct fx *f)
{
	size_t n = 0;
	assert_int_equal(env_fs_list(&f->fs.base, DIR, count_cb, &n), 0);
	return n;
}

/* ---- Append, next, ack ----------------------------------------------- */

static void test_hintlog_next_returns_records_in_append_order(void **state)
{
	struct fx *f = fx_new(1);
	fx_open(f);
	for (uint64_t id = 0; id < 5; id++)
		assert_int_equal(append(f, "b", id), 0);
	struct hintlog_target_stats st = tstats(f, "b");
	assert_int_equal(st.pending_records, 5);
	assert_int_equal(st.oldest_created_ms, 1000);
	uint64_t prev = 0;
	for (uint64_t id = 0; id < 5; id++) {
		struct hint_rec hr;
		assert_int_equal(next(f, "b", 0, &hr), 0);
		assert_int_equal(rec_id(&hr), id);
		assert_int_equal(hr.created_ms, 1000 + id);
		assert_true(hr.seq > prev);
		prev = hr.seq;
	}
	struct hint_rec hr;
	assert_int_equal(next(f, "b", 0, &hr), ERR_NOT_FOUND);
	assert_int_equal(tstats(f, "b").inflight, 5);
	for (uint64_t s = prev - 4; s <= prev; s++)
		ack(f, "b", s);
	st = tstats(f, "b");
	assert_int_equal(st.pending_records, 0);
	assert_int_equal(st.pending_bytes, 0);
	assert_int_equal(st.inflight, 0);
	struct hintlog_stats all = stats(f);
	assert_int_equal(all.appended, 5);
	assert_int_equal(all.sent, 5);
	assert_int_equal(all.delivered, 5);
	assert_int_equal(next(f, "nobody", 0, &hr), ERR_NOT_FOUND);
	fx_free(f);
}

static void test_hintlog_out_of_order_acks_move_cursor_over_acked_prefix(void **state)
{
	struct fx *f = fx_new(2);
	fx_open(f);
	uint64_t seq[4];
	for (uint64_t id = 0; id < 4; id++)
		assert_int_equal(append(f, "b", id), 0);
	for (uint64_t id = 0; id < 4; id++)
		assert_int_equal(next_id(f, "b", &seq[id]), id);
	ack(f, "b", seq[2]);
	ack(f, "b", seq[3]);
	assert_int_equal(tstats(f, "b").pending_records, 4); /* 0 and 1 still out */
	assert_int_equal(tstats(f, "b").inflight, 2);
	ack(f, "b", seq[1]);
	assert_int_equal(tstats(f, "b").pending_records, 4);
	ack(f, "b", seq[0]);
	assert_int_equal(tstats(f, "b").pending_records, 0);
	/* Duplicate and unknown acks are harmless. */
	assert_int_equal(hintlog_ack(&f->h, name_of("b"), seq[0]), ERR_NOT_FOUND);
	assert_int_equal(hintlog_ack(&f->h, name_of("b"), 999), ERR_NOT_FOUND);
	assert_int_equal(hintlog_ack(&f->h, name_of("x"), seq[0]), ERR_NOT_FOUND);
	/* The cursor moved over all four: a reopen after a sync has nothing. */
	assert_int_equal(hintlog_sync(&f->h), 0);
	fx_reopen(f);
	assert_int_equal(stats(f).pending_records, 0);
	fx_free(f);
}

static void test_hintlog_retry_resends_unacked_with_their_seq(void **state)
{
	struct fx *f = fx_new(3);
	fx_open(f);
	uint64_t seq[3];
	for (uint64_t id = 0; id < 3; id++)
		assert_int_equal(append(f, "b", id), 0);
	for (uint64_t id = 0; id < 3; id++)
		next_id(f, "b", &seq[id]);
	ack(f, "b", seq[1]);
	assert_int_equal(hintlog_retry(&f->h, name_of("b")), 0);
	assert_int_equal(tstats(f, "b").inflight, 2);
	uint64_t s;
	assert_int_equal(next_id(f, "b", &s), 0);
	assert_int_equal(s, seq[0]);
	assert_int_equal(next_id(f, "b", &s), 2);
	assert_int_equal(s, seq[2]);
	struct hint_rec hr;
	assert_int_equal(next(f, "b", 0, &hr), ERR_NOT_FOUND);
	/* A late ack of the first send counts. */
	ack(f, "b", seq[0]);
	ack(f, "b", seq[2]);
	assert_int_equal(tstats(f, "b").pending_records, 0);
	assert_int_equal(stats(f).sent, 5);
	assert_int_equal(hintlog_retry(&f->h, name_of("x")), ERR_NOT_FOUND);
	fx_free(f);
}

static void test_hintlog_window_full_is_limit_until_an_ack(void **state)
{
	struct fx *f = fx_new(4);
	fx_open(f);
	for (uint64_t id = 0; id <= HINTLOG_INFLIGHT_MAX; id++)
		assert_int_equal(append(f, "b", id), 0);
	uint64_t first = 0, s;
	for (uint64_t id = 0; id < HINTLOG_INFLIGHT_MAX; id++)
		assert_int_equal(next_id(f, "b", id ? &s : &first), id);
	struct hint_rec hr;
	assert_int_equal(next(f, "b", 0, &hr), ERR_LIMIT);
	/* An ack in the middle frees no slot: the cursor cannot move. */
	ack(f, "b", first + 5);
	assert_int_equal(next(f, "b", 0, &hr), ERR_LIMIT);
	ack(f, "b", first);
	assert_int_equal(next_id(f, "b", NULL), HINTLOG_INFLIGHT_MAX);
	assert_int_equal(tstats(f, "b").inflight, HINTLOG_INFLIGHT_MAX - 1);
	/* A retry with a full window still resends. */
	assert_int_equal(hintlog_retry(&f->h, name_of("b")), 0);
	assert_int_equal(next_id(f, "b", NULL), 1);
	fx_free(f);
}

/* ---- Limits ---------------------------------------------------------- */

static void test_hintlog_pending_bytes_bound_exact_and_one_past(void **state)
{
	struct fx *f = fx_new(5);
	uint64_t one = rec_bytes(1, 100); /* "k1": 24 + 2 + 100 */
	f->cfg.pending_bytes_max = 3 * one;
	fx_open(f);
	for (int i = 0; i < 3; i++)
		assert_int_equal(append_len(f, "b", 1, 100, 5), 0);
	assert_int_equal(tstats(f, "b").pending_bytes, 3 * one);
	uint64_t appends = env_fs_mem_calls(&f->fs, ENV_FS_OP_APPEND);
	assert_int_equal(append_len(f, "b", 1, 0, 5), ERR_LIMIT);
	assert_int_equal(env_fs_mem_calls(&f->fs, ENV_FS_OP_APPEND), appends);
	assert_int_equal(stats(f).refused, 1);
	assert_int_equal(tstats(f, "b").pending_records, 3);
	/* Another target has its own bound. */
	assert_int_equal(append_len(f, "c", 1, 100, 5), 0);
	/* Delivering one makes room for exactly one. */
	uint64_t seq;
	next_id(f, "b", &seq);
	assert_int_equal(append_len(f, "b", 1, 100, 5), ERR_LIMIT); /* in flight still counts */
	ack(f, "b", seq);
	assert_int_equal(append_len(f, "b", 1, 100, 5), 0);
	assert_int_equal(append_len(f, "b", 1, 0, 5), ERR_LIMIT);
	assert_int_equal(stats(f).refused, 3);
	/* A bound lowered below what is pending refuses (it must not wrap
	 * around), and raised again admits. */
	assert_int_equal(hintlog_set_bounds(&f->h, one, 0), 0);
	assert_int_equal(append_len(f, "b", 1, 0, 5), ERR_LIMIT);
	assert_int_equal(append_len(f, "c", 1, 0, 5), ERR_LIMIT);
	assert_int_equal(hintlog_set_bounds(&f->h, HINTLOG_PENDING_BYTES_MAX + 1, 0), ERR_INVALID);
	assert_int_equal(hintlog_set_bounds(&f->h, 10 * one, 0), 0);
	assert_int_equal(append_len(f, "b", 1, 100, 5), 0);
	fx_free(f);
}

static void test_hintlog_key_state_and_name_limits(void **state)
{
	struct fx *f = fx_new(6);
	f->cfg.state_bytes_max = 100;
	fx_open(f);
	uint8_t st[101] = {0};
	assert_int_equal(hintlog_append(&f->h, name_of("b"), name_of("k"), bytes_make(st, 100), 1),
	                 0);
	assert_int_equal(hintlog_append(&f->h, name_of("b"), name_of("k"), bytes_make(st, 101), 1),
	                 ERR_LIMIT);
	uint8_t *key = calloc(1, KEY_BYTES_MAX + 1);
	assert_non_null(key);
	assert_int_equal(hintlog_append(&f->h, name_of("b"), bytes_make(key, KEY_BYTES_MAX + 1),
	                                bytes_make(st, 0), 1),
	                 ERR_LIMIT);
	assert_int_equal(hintlog_append(&f->h, name_of("b"), bytes_make(key, KEY_BYTES_MAX),
	                                bytes_make(st, 0), 1),
	                 0);
	char name[RING_NAME_BYTES_MAX + 1];
	memset(name, 'n', sizeof(name));
	assert_int_equal(hintlog_append(&f->h, bytes_make(name, RING_NAME_BYTES_MAX), name_of("k"),
	                                bytes_make(st, 1), 1),
	                 0);
	assert_int_equal(hintlog_append(&f->h, bytes_make(name, RING_NAME_BYTES_MAX + 1),
	                                name_of("k"), bytes_make(st, 1), 1),
	                 ERR_LIMIT);
	assert_int_equal(
	    hintlog_append(&f->h, bytes_make(name, 0), name_of("k"), bytes_make(st, 1), 1),
	    ERR_INVALID);
	assert_int_equal(stats(f).refused, 3);
	/* The maximal key comes back whole, after a reopen too. */
	assert_int_equal(hintlog_sync(&f->h), 0);
	fx_reopen(f);
	struct hint_rec hr;
	assert_int_equal(next(f, "b", 0, &hr), 0);
	assert_int_equal(hr.state.len, 100);
	assert_int_equal(next(f, "b", 0, &hr), 0);
	assert_int_equal(hr.key.len, KEY_BYTES_MAX);
	assert_memory_equal(hr.key.ptr, key, KEY_BYTES_MAX);
	free(key);
	/* Config out of range. */
	struct hintlog h2;
	struct hintlog_config bad = {.dir = "h2", .segment_bytes = HINTLOG_SEGMENT_BYTES_MIN - 1};
	assert_int_equal(hintlog_open(&h2, &f->fs.base, &bad), ERR_INVALID);
	bad = (struct hintlog_config){.dir = "h2", .state_bytes_max = HINTLOG_STATE_BYTES_MAX + 1};
	assert_int_equal(hintlog_open(&h2, &f->fs.base, &bad), ERR_INVALID);
	bad = (struct hintlog_config){.dir = ""};
	assert_int_equal(hintlog_open(&h2, &f->fs.base, &bad), ERR_INVALID);
	fx_free(f);
}

/* ---- Expiry ---------------------------------------------------------- */

static void test_hintlog_expired_records_are_skipped_and_count_as_delivered(void **state)
{
	struct fx *f = fx_new(7);
	f->cfg.max_age_ms = 1000;
	fx_open(f);
	assert_int_equal(append_len(f, "b", 0, 8, 100), 0);  /* expired at 2000 */
	assert_int_equal(append_len(f, "b", 1, 8, 1500), 0); /* fresh */
	assert_int_equal(append_len(f, "b", 2, 8, 999), 0);  /* 999 + 1000 < 2000 */
	assert_int_equal(append_len(f, "b", 3, 8, 1000), 0); /* exactly at the bound: kept */
	struct hint_rec hr;
	assert_int_equal(next(f, "b", 2000, &hr), 0);
	assert_int_equal(rec_id(&hr), 1);
	uint64_t s1 = hr.seq;
	assert_int_equal(next(f, "b", 2000, &hr), 0);
	assert_int_equal(rec_id(&hr), 3);
	uint64_t s3 = hr.seq;
	assert_int_equal(next(f, "b", 2000, &hr), ERR_NOT_FOUND);
	assert_int_equal(stats(f).expired, 2);
	ack(f, "b", s1);
	ack(f, "b", s3);
	assert_int_equal(tstats(f, "b").pending_records, 0);
	/* A retried record that expired meanwhile is not sent again. */
	assert_int_equal(append_len(f, "b", 4, 8, 3000), 0);
	assert_int_equal(next(f, "b", 3000, &hr), 0);
	assert_int_equal(hintlog_retry(&f->h, name_of("b")), 0);
	assert_int_equal(next(f, "b", 9000, &hr), ERR_NOT_FOUND);
	assert_int_equal(tstats(f, "b").pending_records, 0);
	assert_int_equal(stats(f).expired, 3);
	fx_free(f);
}

static void test_hintlog_expiry_skips_a_bounded_slice_per_call(void **state)
{
	struct fx *f = fx_new(8);
	f->cfg.max_age_ms = 10;
	fx_open(f);
	uint64_t n = HINTLOG_EXPIRED_PER_CALL + 10;
	for (uint64_t id = 0; id < n; id++)
		assert_int_equal(append_len(f, "b", id, 0, 1), 0);
	assert_int_equal(append_len(f, "b", n, 0, 1000), 0);
	struct hint_rec hr;
	assert_int_equal(next(f, "b", 1000, &hr), ERR_AGAIN);
	assert_int_equal(stats(f).expired, HINTLOG_EXPIRED_PER_CALL);
	assert_int_equal(next(f, "b", 1000, &hr), 0);
	assert_int_equal(rec_id(&hr), n);
	assert_int_equal(stats(f).expired, n);
	fx_free(f);
}

/* ---- Segments and recovery ------------------------------------------- */

static void test_hintlog_segments_rotate_and_delivered_ones_are_removed(void **state)
{
	struct fx *f = fx_new(9);
	f->cfg.segment_bytes = HINTLOG_SEGMENT_BYTES_MIN;
	fx_open(f);
	/* ~290-byte records: 14 per 4 KiB segment. */
	for (uint64_t id = 0; id < 100; id++)
		assert_int_equal(append_len(f, "b", id, 260, 5), 0);
	assert_int_equal(hintlog_sync(&f->h), 0);
	size_t segs = tstats(f, "b").segments;
	assert_true(segs >= 7);
	assert_int_equal(file_count(f), segs); /* no cursor yet */
	for (uint64_t id = 0; id < 30; id++) {
		uint64_t seq;
		assert_int_equal(next_id(f, "b", &seq), id);
		ack(f, "b", seq);
	}
	assert_int_equal(hintlog_sync(&f->h), 0);
	size_t left = tstats(f, "b").segments;
	assert_true(left < segs && left >= segs - 3);
	assert_int_equal(file_count(f), left + 1); /* and the cursor */
	fx_reopen(f);
	assert_int_equal(tstats(f, "b").pending_records, 70);
	drain(f, "b", 30, 99);
	assert_int_equal(hintlog_sync(&f->h), 0);
	assert_int_equal(file_count(f), 0);
	assert_int_equal(stats(f).targets, 0);
	/* Numbering starts over without harm. */
	assert_int_equal(append(f, "b", 7), 0);
	assert_int_equal(hintlog_sync(&f->h), 0);
	fx_reopen(f);
	drain(f, "b", 7, 7);
	fx_free(f);
}

static void test_hintlog_big_record_gets_a_segment_alone(void **state)
{
	struct fx *f = fx_new(10);
	f->cfg.segment_bytes = HINTLOG_SEGMENT_BYTES_MIN;
	fx_open(f);
	size_t big = 3 * HINTLOG_SEGMENT_BYTES_MIN;
	uint8_t *st = malloc(big);
	assert_non_null(st);
	for (size_t i = 0; i < big; i++)
		st[i] = (uint8_t)(i * 7);
	assert_int_equal(append(f, "b", 1), 0);
	assert_int_equal(
	    hintlog_append(&f->h, name_of("b"), name_of("big"), bytes_make(st, big), 9), 0);
	assert_int_equal(append(f, "b", 2), 0);
	assert_int_equal(tstats(f, "b").segments, 3); /* 1 | big | 2 */
	assert_int_equal(hintlog_sync(&f->h), 0);
	fx_reopen(f);
	assert_int_equal(next_id(f, "b", NULL), 1);
	struct hint_rec hr;
	assert_int_equal(next(f, "b", 0, &hr), 0);
	assert_int_equal(hr.state.len, big);
	assert_memory_equal(hr.state.ptr, st, big);
	assert_int_equal(next_id(f, "b", NULL), 2); /* the buffer shrinks back */
	free(st);
	fx_free(f);
}

static void test_hintlog_reopen_recovers_pending_and_cursor(void **state)
{
	struct fx *f = fx_new(11);
	fx_open(f);
	for (uint64_t id = 0; id < 10; id++)
		assert_int_equal(append(f, "b", id), 0);
	assert_int_equal(hintlog_sync(&f->h), 0);
	for (uint64_t id = 0; id < 4; id++) {
		uint64_t seq;
		next_id(f, "b", &seq);
		ack(f, "b", seq);
	}
	assert_int_equal(hintlog_sync(&f->h), 0); /* cursor at 4 */
	for (uint64_t id = 4; id < 6; id++) {
		uint64_t seq;
		next_id(f, "b", &seq);
		ack(f, "b", seq);
	}
	next_id(f, "b", NULL); /* 6 in flight */
	fx_reopen(f);
	/* 4 and 5 were delivered after the last persisted cursor: again. */
	assert_int_equal(tstats(f, "b").pending_records, 6);
	assert_int_equal(tstats(f, "b").inflight, 0);
	drain(f, "b", 4, 9);
	fx_free(f);
}

static void test_hintlog_power_cut_after_sync_keeps_every_synced_hint(void **state)
{
	for (int mode = 0; mode < 2; mode++) {
		struct fx *f = fx_new(12 + (uint64_t)mode);
		f->cfg.segment_bytes = HINTLOG_SEGMENT_BYTES_MIN;
		fx_open(f);
		for (uint64_t id = 0; id < 40; id++)
			assert_int_equal(append(f, "b", id), 0);
		assert_int_equal(hintlog_sync(&f->h), 0);
		for (uint64_t id = 40; id < 60; id++)
			assert_int_equal(append(f, "b", id), 0);
		fx_crash(f, mode ? ENV_FS_MEM_CRASH_TORN : ENV_FS_MEM_CRASH_DROP);
		uint64_t pending = tstats(f, "b").pending_records;
		assert_true(pending >= 40 && pending <= 60);
		if (mode == 0)
			assert_int_equal(pending, 40);
		drain(f, "b", 0, pending - 1); /* a prefix, in order */
		fx_free(f);
	}
}

static void test_hintlog_sync_each_append_survives_a_power_cut(void **state)
{
	struct fx *f = fx_new(24);
	f->cfg.sync_each_append = true;
	f->cfg.segment_bytes = HINTLOG_SEGMENT_BYTES_MIN;
	fx_open(f);
	for (uint64_t id = 0; id < 60; id++)
		assert_int_equal(append(f, id % 3 ? "a" : "b", id), 0);
	fx_crash(f, ENV_FS_MEM_CRASH_DROP);
	assert_int_equal(tstats(f, "a").pending_records, 40);
	assert_int_equal(tstats(f, "b").pending_records, 20);
	fx_free(f);
}

static void test_hintlog_power_cut_at_every_sync_point(void **state)
{
	/* Cut power after the k-th sync call of a run that appends, delivers
	 * and syncs: every hint appended before the last successful sync and
	 * not delivered before it comes back. */
	for (int cut = 1; cut <= 8; cut++) {
		struct fx *f = fx_new(100 + (uint64_t)cut);
		f->cfg.segment_bytes = HINTLOG_SEGMENT_BYTES_MIN;
		fx_open(f);
		uint64_t id = 0, delivered_at_sync = 0, delivered = 0, appended_at_sync = 0;
		for (int round = 1; round <= cut; round++) {
			for (int i = 0; i < 25; i++)
				assert_int_equal(append(f, "b", id++), 0);
			for (int i = 0; i < 15; i++) {
				uint64_t seq;
				assert_int_equal(next_id(f, "b", &seq), delivered);
				ack(f, "b", seq);
				delivered++;
			}
			assert_int_equal(hintlog_sync(&f->h), 0);
			delivered_at_sync = delivered;
			appended_at_sync = id;
		}
		for (int i = 0; i < 5; i++)
			assert_int_equal(append(f, "b", id++), 0);
		fx_crash(f, ENV_FS_MEM_CRASH_DROP);
		assert_int_equal(tstats(f, "b").pending_records,
		                 appended_at_sync - delivered_at_sync);
		drain(f, "b", delivered_at_sync, appended_at_sync - 1);
		fx_free(f);
	}
}

static void seg_name(char *out, size_t cap, const char *hex, uint64_t no)
{
	snprintf(out, cap, DIR "/%s.%016llx.seg", hex, (unsigned long long)no);
}

static void test_hintlog_torn_tail_is_ignored_and_counted(void **state)
{
	struct fx *f = fx_new(14);
	fx_open(f);
	for (uint64_t id = 0; id < 4; id++)
		assert_int_equal(append(f, "b", id), 0);
	assert_int_equal(hintlog_sync(&f->h), 0);
	fx_close(f);
	/* Cut the last record short, as a power cut mid-write would. */
	char path[256];
	seg_name(path, sizeof(path), "62", 1);
	struct env_file *file;
	assert_int_equal(env_fs_open(&f->fs.base, path, 0, &file), 0);
	uint64_t size;
	assert_int_equal(env_fs_size(&f->fs.base, file, &size), 0);
	assert_int_equal(env_fs_truncate(&f->fs.base, file, size - 5), 0);
	env_fs_close(&f->fs.base, file);
	fx_open(f);
	assert_int_equal(tstats(f, "b").pending_records, 3);
	assert_int_equal(stats(f).torn, 1);
	assert_int_equal(stats(f).corrupt, 0);
	/* New appends go to a new segment and come after the survivors. */
	assert_int_equal(append(f, "b", 9), 0);
	assert_int_equal(hintlog_sync(&f->h), 0);
	fx_reopen(f);
	assert_int_equal(stats(f).torn, 1); /* counted again: the tail is still there */
	for (uint64_t id = 0; id < 3; id++)
		assert_int_equal(next_id(f, "b", NULL), id);
	assert_int_equal(next_id(f, "b", NULL), 9);
	fx_free(f);
}

static void test_hintlog_zero_filled_tail_is_torn(void **state)
{
	struct fx *f = fx_new(15);
	fx_open(f);
	for (uint64_t id = 0; id < 2; id++)
		assert_int_equal(append(f, "b", id), 0);
	assert_int_equal(hintlog_sync(&f->h), 0);
	fx_close(f);
	char path[256];
	seg_name(path, sizeof(path), "62", 1);
	struct env_file *file;
	assert_int_equal(env_fs_open(&f->fs.base, path, 0, &file), 0);
	uint64_t size;
	assert_int_equal(env_fs_size(&f->fs.base, file, &size), 0);
	assert_int_equal(env_fs_truncate(&f->fs.base, file, size + 4096), 0); /* zeros */
	env_fs_close(&f->fs.base, file);
	fx_open(f);
	assert_int_equal(tstats(f, "b").pending_records, 2);
	assert_int_equal(stats(f).torn, 1);
	assert_int_equal(stats(f).corrupt, 0);
	fx_free(f);
}

static void test_hintlog_corrupt_byte_in_the_middle_is_reported(void **state)
{
	struct fx *f = fx_new(16);
	fx_open(f);
	for (uint64_t id = 0; id < 5; id++)
		assert_int_equal(append(f, "b", id), 0);
	assert_int_equal(hintlog_sync(&f->h), 0);
	fx_close(f);
	/* A bit of record 2's state. */
	char path[256];
	seg_name(path, sizeof(path), "62", 1);
	uint64_t rec2 = SEG_HDR + rec_bytes(0, STATE_SZ) + rec_bytes(1, STATE_SZ);
	assert_int_equal(env_fs_mem_flip_bit(&f->fs, path, (rec2 + REC_HDR + 5) * 8 + 3), 0);
	fx_open(f);
	assert_int_equal(stats(f).corrupt, 1);
	assert_int_equal(stats(f).torn, 0);
	assert_int_equal(stats(f).corrupt_bytes, 3 * rec_bytes(2, STATE_SZ));
	assert_int_equal(tstats(f, "b").pending_records, 2);
	drain(f, "b", 0, 1);
	fx_free(f);
}

static void test_hintlog_damage_after_open_is_caught_on_read(void **state)
{
	struct fx *f = fx_new(17);
	fx_open(f);
	for (uint64_t id = 0; id < 5; id++)
		assert_int_equal(append(f, "b", id), 0);
	assert_int_equal(hintlog_sync(&f->h), 0);
	char path[256];
	seg_name(path, sizeof(path), "62", 1);
	uint64_t rec1 = SEG_HDR + rec_bytes(0, STATE_SZ);
	assert_int_equal(env_fs_mem_flip_bit(&f->fs, path, (rec1 + 2) * 8), 0); /* its checksum */
	assert_int_equal(next_id(f, "b", NULL), 0);
	struct hint_rec hr;
	assert_int_equal(next(f, "b", 0, &hr), ERR_NOT_FOUND); /* 1..4 lost with the segment */
	assert_int_equal(stats(f).corrupt, 1);
	assert_int_equal(tstats(f, "b").pending_records, 1);
	/* Later appends still flow. */
	assert_int_equal(append(f, "b", 7), 0);
	assert_int_equal(next_id(f, "b", NULL), 7);
	fx_free(f);
}

static void test_hintlog_damaged_segment_header_and_cursor_are_corrupt(void **state)
{
	struct fx *f = fx_new(18);
	f->cfg.segment_bytes = HINTLOG_SEGMENT_BYTES_MIN;
	fx_open(f);
	for (uint64_t id = 0; id < 100; id++)
		assert_int_equal(append(f, "b", id), 0);
	for (uint64_t id = 0; id < 3; id++) {
		uint64_t seq;
		next_id(f, "b", &seq);
		ack(f, "b", seq);
	}
	assert_int_equal(hintlog_sync(&f->h), 0);
	assert_int_equal(tstats(f, "b").segments, 3);
	fx_close(f);
	char path[256];
	seg_name(path, sizeof(path), "62", 2);
	assert_int_equal(env_fs_mem_flip_bit(&f->fs, path, 9 * 8), 0);
	assert_int_equal(env_fs_mem_flip_bit(&f->fs, DIR "/62.cur", 20 * 8), 0);
	fx_open(f);
	assert_int_equal(stats(f).corrupt, 2);
	/* The cursor is gone: from the first record, skipping segment 2. */
	assert_int_equal(next_id(f, "b", NULL), 0);
	uint64_t pending = tstats(f, "b").pending_records;
	assert_true(pending < 100 && pending > 50);
	struct hint_rec hr;
	uint64_t id = 0, seq;
	while (next(f, "b", 0, &hr) == 0) {
		id = rec_id(&hr);
		seq = hr.seq;
		ack(f, "b", seq);
	}
	assert_int_equal(id, 99); /* segment 3 is whole */
	fx_free(f);
}

/* ---- Faults ---------------------------------------------------------- */

static void test_hintlog_full_disk_returns_error_and_later_appends_work(void **state)
{
	struct fx *f = fx_new(19);
	fx_open(f);
	for (uint64_t id = 0; id < 3; id++)
		assert_int_equal(append(f, "b", id), 0);
	assert_int_equal(hintlog_sync(&f->h), 0);
	/* A short write that runs out of space. */
	struct env_fs_mem_fault fault = {
	    .op = ENV_FS_OP_APPEND, .nth = 1, .err = ERR_NOSPACE, .partial = true};
	env_fs_mem_inject(&f->fs, &fault);
	assert_int_equal(append(f, "b", 3), ERR_NOSPACE);
	/* A full disk for the new segment's header too. */
	fault.partial = false;
	env_fs_mem_inject(&f->fs, &fault);
	assert_int_equal(append(f, "b", 4), ERR_NOSPACE);
	env_fs_mem_set_capacity(&f->fs, env_fs_mem_used_bytes(&f->fs) + 10);
	assert_int_equal(append(f, "b", 5), ERR_NOSPACE);
	env_fs_mem_set_capacity(&f->fs, 0);
	assert_int_equal(hintlog_failed(&f->h), 0);
	assert_int_equal(append(f, "b", 6), 0);
	assert_int_equal(append(f, "b", 7), 0);
	assert_int_equal(hintlog_sync(&f->h), 0);
	assert_int_equal(tstats(f, "b").pending_records, 5);
	fx_crash(f, ENV_FS_MEM_CRASH_DROP);
	assert_int_equal(tstats(f, "b").pending_records, 5);
	for (uint64_t id = 0; id < 3; id++)
		assert_int_equal(next_id(f, "b", NULL), id);
	assert_int_equal(next_id(f, "b", NULL), 6);
	assert_int_equal(next_id(f, "b", NULL), 7);
	fx_free(f);
}

static void test_hintlog_failed_fsync_fails_the_log_until_reopen(void **state)
{
	struct fx *f = fx_new(20);
	fx_open(f);
	assert_int_equal(append(f, "b", 0), 0);
	struct env_fs_mem_fault fault = {.op = ENV_FS_OP_SYNC, .nth = 1, .err = ERR_NOSPACE};
	env_fs_mem_inject(&f->fs, &fault);
	assert_int_equal(hintlog_sync(&f->h), ERR_IO);
	assert_int_equal(hintlog_failed(&f->h), ERR_IO);
	assert_int_equal(append(f, "b", 1), ERR_IO);
	assert_int_equal(hintlog_sync(&f->h), ERR_IO);
	/* Delivery still works. */
	assert_int_equal(next_id(f, "b", NULL), 0);
	fx_reopen(f);
	assert_int_equal(hintlog_failed(&f->h), 0);
	assert_int_equal(append(f, "b", 1), 0);
	assert_int_equal(hintlog_sync(&f->h), 0);
	fx_free(f);
}

/* Fail the nth env call of open, append, sync and reopen: every failure
 * returns an error, leaves the invariants, and a synced hint is never
 * lost nor duplicated out of order. */
static void test_hintlog_fault_walk(void **state)
{
	for (uint64_t nth = 1; nth < 200; nth++) {
		struct fx *f = fx_new(300 + nth);
		f->cfg.segment_bytes = HINTLOG_SEGMENT_BYTES_MIN;
		fx_open(f);
		for (uint64_t id = 0; id < 20; id++)
			assert_int_equal(append_len(f, "b", id, 200, 5), 0);
		assert_int_equal(hintlog_sync(&f->h), 0);
		struct env_fs_mem_fault fault = {.op = ENV_FS_OP_ANY, .nth = nth, .err = ERR_IO};
		env_fs_mem_inject(&f->fs, &fault);
		uint64_t ok = 20;
		for (uint64_t id = 20; id < 40; id++)
			if (append_len(f, "b", id, 200, 5) == 0)
				ok++;
		for (int i = 0; i < 5; i++) {
			struct hint_rec hr;
			int rc = next(f, "b", 0, &hr);
			if (rc == 0)
				hintlog_ack(&f->h, name_of("b"), hr.seq);
		}
		int src = hintlog_sync(&f->h);
		hintlog_check_invariants(&f->h);
		fault.nth = 0;
		env_fs_mem_inject(&f->fs, &fault);
		fx_close(f);
		fx_open(f);
		uint64_t pending = tstats(f, "b").pending_records;
		if (src == 0)
			assert_true(pending >= 15 && pending <= ok);
		/* Whatever is there comes out in increasing id order. */
		uint64_t prev = 0;
		bool first = true;
		struct hint_rec hr;
		while (next(f, "b", 0, &hr) == 0) {
			uint64_t id = rec_id(&hr);
			assert_true(first || id > prev);
			first = false;
			prev = id;
			ack(f, "b", hr.seq);
		}
		fx_free(f);
	}
}

/* Fail the nth env call of recovery: open fails cleanly (no handle held,
 * nothing lost on disk) or succeeds with everything. */
static void test_hintlog_open_fault_walk(void **state)
{
	bool opened = false;
	for (uint64_t nth = 1; !opened; nth++) {
		assert_true(nth < 500);
		struct fx *f = fx_new(600 + nth);
		f->cfg.segment_bytes = HINTLOG_SEGMENT_BYTES_MIN;
		fx_open(f);
		for (uint64_t id = 0; id < 60; id++)
			assert_int_equal(append(f, id % 2 ? "a" : "b", id), 0);
		for (int i = 0; i < 4; i++) {
			uint64_t seq;
			next_id(f, "b", &seq);
			ack(f, "b", seq);
		}
		assert_int_equal(hintlog_sync(&f->h), 0);
		fx_close(f);
		struct env_fs_mem_fault fault = {.op = ENV_FS_OP_ANY, .nth = nth, .err = ERR_IO};
		env_fs_mem_inject(&f->fs, &fault);
		int rc = hintlog_open(&f->h, &f->fs.base, &f->cfg);
		if (rc == 0) {
			opened = true;
			hintlog_close(&f->h);
		}
		fault.nth = 0;
		env_fs_mem_inject(&f->fs, &fault);
		fx_open(f);
		assert_int_equal(tstats(f, "a").pending_records, 30);
		assert_int_equal(tstats(f, "b").pending_records, 26);
		fx_free(f);
	}
}

/* ---- Targets --------------------------------------------------------- */

static void test_hintlog_targets_are_independent(void **state)
{
	struct fx *f = fx_new(21);
	fx_open(f);
	for (uint64_t id = 0; id < HINTLOG_INFLIGHT_MAX + 2; id++)
		assert_int_equal(append(f, "a", id), 0);
	for (uint64_t id = 100; id < 103; id++)
		assert_int_equal(append(f, "b", id), 0);
	for (uint64_t id = 0; id < HINTLOG_INFLIGHT_MAX; id++)
		next_id(f, "a", NULL);
	struct hint_rec hr;
	assert_int_equal(next(f, "a", 0, &hr), ERR_LIMIT);
	uint64_t sb;
	assert_int_equal(next_id(f, "b", &sb), 100);
	assert_int_equal(hintlog_ack(&f->h, name_of("a"), sb), ERR_NOT_FOUND); /* b's seq */
	ack(f, "b", sb);
	assert_int_equal(hintlog_drop(&f->h, name_of("a")), 0);
	assert_int_equal(stats(f).dropped, HINTLOG_INFLIGHT_MAX + 2);
	assert_int_equal(next(f, "a", 0, &hr), ERR_NOT_FOUND);
	assert_int_equal(tstats(f, "b").pending_records, 2);
	assert_int_equal(hintlog_sync(&f->h), 0);
	fx_reopen(f);
	assert_int_equal(stats(f).targets, 1);
	drain(f, "b", 101, 102);
	fx_free(f);
}

static void test_hintlog_drop_is_durable_and_numbering_goes_on(void **state)
{
	struct fx *f = fx_new(22);
	fx_open(f);
	for (uint64_t id = 0; id < 5; id++)
		assert_int_equal(append(f, "b", id), 0);
	assert_int_equal(hintlog_sync(&f->h), 0);
	/* A failed removal leaves the cursor, which keeps the drop. */
	struct env_fs_mem_fault fault = {.op = ENV_FS_OP_REMOVE, .nth = 1, .err = ERR_IO};
	env_fs_mem_inject(&f->fs, &fault);
	assert_int_equal(hintlog_drop(&f->h, name_of("b")), ERR_IO);
	assert_int_equal(tstats(f, "b").pending_records, 0);
	/* New hints after the drop, then a power cut. */
	assert_int_equal(append(f, "b", 50), 0);
	assert_int_equal(hintlog_sync(&f->h), 0);
	fx_crash(f, ENV_FS_MEM_CRASH_DROP);
	assert_int_equal(tstats(f, "b").pending_records, 1);
	drain(f, "b", 50, 50);
	assert_int_equal(hintlog_sync(&f->h), 0);
	assert_int_equal(file_count(f), 0);
	assert_int_equal(hintlog_drop(&f->h, name_of("b")), ERR_NOT_FOUND);
	fx_free(f);
}

struct names {
	size_t count;
	struct {
		uint8_t b[RING_NAME_BYTES_MAX];
		size_t len;
		uint64_t pending;
	} n[8];
};

static int names_cb(void *ctx, const struct hintlog_target_stats *st)
{
	struct names *ns = ctx;
	assert_true(ns->count < 8);
	memcpy(ns->n[ns->count].b, st->name.ptr, st->name.len);
	ns->n[ns->count].len = st->name.len;
	ns->n[ns->count].pending = st->pending_records;
	ns->count++;
	return 0;
}

static int names_check_cb(void *ctx, const char *name)
{
	(void)ctx;
	for (const char *p = name; *p; p++)
		assert_true((*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'z') || *p == '.');
	return 0;
}

static void test_hintlog_hostile_target_names_stay_in_the_directory(void **state)
{
	static const struct {
		const char *b;
		size_t len;
	} hostile[] = {
	    {"../../etc/passwd", 16}, {"a/b", 3}, {".", 1}, {"..", 2}, {"\0\0x", 3}, {"CUR", 3},
	};
	struct fx *f = fx_new(23);
	fx_open(f);
	uint8_t ff[RING_NAME_BYTES_MAX];
	memset(ff, 0xff, sizeof(ff));
	for (size_t i = 0; i < ARRAY_LEN(hostile); i++)
		for (uint64_t k = 0; k <= i; k++)
			assert_int_equal(hintlog_append(&f->h,
			                                bytes_make(hostile[i].b, hostile[i].len),
			                                name_of("k"), name_of("v"), 1),
			                 0);
	assert_int_equal(
	    hintlog_append(&f->h, bytes_make(ff, sizeof(ff)), name_of("k"), name_of("v"), 1), 0);
	assert_int_equal(hintlog_sync(&f->h), 0);
	assert_int_equal(env_fs_list(&f->fs.base, DIR, names_check_cb, NULL), 0);
	fx_reopen(f);
	struct names ns = {0};
	assert_int_equal(hintlog_targets(&f->h, names_cb, &ns), 0);
	assert_int_equal(ns.count, ARRAY_LEN(hostile) + 1);
	for (size_t i = 0; i < ARRAY_LEN(hostile); i++) {
		bool found = false;
		for (size_t j = 0; j < ns.count; j++)
			if (bytes_eq(bytes_make(ns.n[j].b, ns.n[j].len),
			             bytes_make(hostile[i].b, hostile[i].len))) {
				assert_int_equal(ns.n[j].pending, i + 1);
				found = true;
			}
		assert_true(found);
	}
	assert_int_equal(tstats(f, "..").pending_records, 4);
	fx_free(f);
}

/* ---- Randomized model ------------------------------------------------- */

#define M_TARGETS 3
#define M_RECS    3000

/* One target in the model: every record appended, in order, and where the
 * queue stands. Window entries are records [del, send). */
struct m_target {
	uint64_t ids[M_RECS], created[M_RECS], seq[M_RECS];
	uint8_t st[M_RECS]; /* 0 unsent, 1 in flight, 2 resend, 3 done */
	size_t len, del, send, synced_len, persisted;
};

struct model {
	struct m_target t[M_TARGETS];
	uint64_t next_id, now, max_age;
	bool slow_acks;
	uint64_t sent, acks, restarts, expired, full; /* what a run exercised */
};

static uint64_t rnd(struct env_rng *rng, uint64_t n)
{
	return env_rng_next(rng) % n;
}

static const char *m_name(int i)
{
	static const char *names[M_TARGETS] = {"n1", "n/2", "\x01"};
	return names[i];
}

static bool m_expired(const struct model *m, uint64_t created)
{
	return m->now > created && m->now - created > m->max_age;
}

static void m_compact(struct m_target *t)
{
	while (t->del < t->send && t->st[t->del] == 3)
		t->del++;
}

static uint64_t m_inflight(const struct m_target *t)
{
	uint64_t n = 0;
	for (size_t i = t->del; i < t->send; i++)
		n += t->st[i] == 1 || t->st[i] == 2;
	return n;
}

/* What hintlog_next should do: 0 and the index, or an error. */
static int m_next(struct model *m, struct m_target *t, size_t *idx, uint64_t *next_seq)
{
	for (size_t i = t->del; i < t->send; i++) {
		if (t->st[i] != 2)
			continue;
		if (m_expired(m, t->created[i])) {
			t->st[i] = 3;
			m->expired++;
			continue;
		}
		t->st[i] = 1;
		*idx = i;
		m_compact(t);
		return 0;
	}
	m_compact(t);
	for (int k = 0; k < HINTLOG_EXPIRED_PER_CALL; k++) {
		if (t->send - t->del == HINTLOG_INFLIGHT_MAX) {
			m->full++;
			return ERR_LIMIT;
		}
		if (t->send == t->len)
			return ERR_NOT_FOUND;
		size_t i = t->send++;
		t->seq[i] = (*next_seq)++;
		if (m_expired(m, t->created[i])) {
			t->st[i] = 3;
			m->expired++;
			m_compact(t);
			continue;
		}
		t->st[i] = 1;
		*idx = i;
		return 0;
	}
	return ERR_AGAIN;
}

static void m_restart(struct model *m, bool crash)
{
	for (int i = 0; i < M_TARGETS; i++) {
		struct m_target *t = &m->t[i];
		if (crash)
			t->len = t->synced_len;
		t->del = t->send = t->persisted;
		for (size_t j = t->del; j < t->len; j++)
			t->st[j] = 0;
		t->synced_len = t->len; /* recovery syncs what it found */
	}
}

static void m_check(struct fx *f, struct model *m)
{
	for (int i = 0; i < M_TARGETS; i++) {
		struct m_target *t = &m->t[i];
		struct hintlog_target_stats st = tstats(f, m_name(i));
		assert_int_equal(st.pending_records, t->len - t->del);
		assert_int_equal(st.inflight, m_inflight(t));
	}
}

static void m_step(struct fx *f, struct model *m, struct env_rng *rng, uint64_t *next_seq)
{
	int ti = (int)rnd(rng, M_TARGETS);
	struct m_target *t = &m->t[ti];
	/* Slow-acking runs fill the window; restarts are rarer than syncs. */
	uint64_t op = rnd(rng, 1000), acks = m->slow_acks ? 700 : 850;
	uint64_t restart = m->slow_acks ? 2 : 6;
	struct hint_rec hr;
	if (op < 350 && t->len < M_RECS) {
		uint64_t id = m->next_id++, created = m->now - rnd(rng, 300);
		size_t sl = (size_t)rnd(rng, 400);
		assert_int_equal(append_len(f, m_name(ti), id, sl, created), 0);
		t->ids[t->len] = id;
		t->created[t->len] = created;
		t->st[t->len++] = 0;
	} else if (op < 650) {
		size_t idx = 0;
		int want = m_next(m, t, &idx, next_seq);
		int rc = next(f, m_name(ti), m->now, &hr);
		assert_int_equal(rc, want);
		if (rc == 0) {
			m->sent++;
			assert_int_equal(rec_id(&hr), t->ids[idx]);
			assert_int_equal(hr.seq, t->seq[idx]);
		}
	} else if (op < acks) {
		uint64_t n = m_inflight(t);
		if (n == 0)
			return;
		uint64_t pick = rnd(rng, n);
		for (size_t i = t->del; i < t->send; i++) {
			if ((t->st[i] == 1 || t->st[i] == 2) && pick-- == 0) {
				ack(f, m_name(ti), t->seq[i]);
				m->acks++;
				t->st[i] = 3;
				break;
			}
		}
		m_compact(t);
	} else if (op < acks + (m->slow_acks ? 2 : 20)) {
		int rc = hintlog_retry(&f->h, name_of(m_name(ti)));
		assert_true(rc == 0 || (rc == ERR_NOT_FOUND && t->send == t->del));
		for (size_t i = t->del; i < t->send; i++)
			if (t->st[i] == 1)
				t->st[i] = 2;
	} else if (op < 960) {
		assert_int_equal(hintlog_sync(&f->h), 0);
		for (int i = 0; i < M_TARGETS; i++) {
			m->t[i].synced_len = m->t[i].len;
			m->t[i].persisted = m->t[i].del;
		}
	} else if (op < 985) {
		m->now += rnd(rng, m->slow_acks ? 40 : 400);
	} else if (op < 985 + restart) {
		fx_reopen(f);
		m_restart(m, false);
		m->restarts++;
		*next_seq = 1;
	} else if (op < 985 + 2 * restart) {
		fx_crash(f, ENV_FS_MEM_CRASH_DROP);
		m_restart(m, true);
		m->restarts++;
		*next_seq = 1;
	} else if (t->len > 0) {
		int rc = hintlog_drop(&f->h, name_of(m_name(ti)));
		assert_true(rc == 0 || rc == ERR_NOT_FOUND);
		t->del = t->send = t->synced_len = t->persisted = t->len = 0;
	}
	hintlog_check_invariants(&f->h);
	m_check(f, m);
}

static void test_hintlog_randomized_against_a_model(void **state)
{
	for (uint64_t seed = 1; seed <= 6; seed++) {
		struct fx *f = fx_new(seed);
		f->cfg.segment_bytes = HINTLOG_SEGMENT_BYTES_MIN;
		f->cfg.max_age_ms = 1000;
		fx_open(f);
		struct model *m = calloc(1, sizeof(*m));
		assert_non_null(m);
		m->now = 10000;
		m->max_age = 1000;
		m->slow_acks = seed % 2 == 0;
		struct env_rng rng;
		env_rng_seed(&rng, seed);
		uint64_t next_seq = 1;
		print_message("model seed %llu\n", (unsigned long long)seed);
		for (int step = 0; step < 4000; step++) {
			m_step(f, m, &rng, &next_seq);
			if (m->next_id >= M_RECS * 2)
				break;
		}
		print_message("  %llu appends, %llu sent, %llu acks, %llu expired, "
		              "%llu window full, %llu restarts\n",
		              (unsigned long long)m->next_id, (unsigned long long)m->sent,
		              (unsigned long long)m->acks, (unsigned long long)m->expired,
		              (unsigned long long)m->full, (unsigned long long)m->restarts);
		free(m);
		fx_free(f);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_hintlog_next_returns_records_in_append_order),
	    cmocka_unit_test(test_hintlog_out_of_order_acks_move_cursor_over_acked_prefix),
	    cmocka_unit_test(test_hintlog_retry_resends_unacked_with_their_seq),
	    cmocka_unit_test(test_hintlog_window_full_is_limit_until_an_ack),
	    cmocka_unit_test(test_hintlog_pending_bytes_bound_exact_and_one_past),
	    cmocka_unit_test(test_hintlog_key_state_and_name_limits),
	    cmocka_unit_test(test_hintlog_expired_records_are_skipped_and_count_as_delivered),
	    cmocka_unit_test(test_hintlog_expiry_skips_a_bounded_slice_per_call),
	    cmocka_unit_test(test_hintlog_segments_rotate_and_delivered_ones_are_removed),
	    cmocka_unit_test(test_hintlog_big_record_gets_a_segment_alone),
	    cmocka_unit_test(test_hintlog_reopen_recovers_pending_and_cursor),
	    cmocka_unit_test(test_hintlog_power_cut_after_sync_keeps_every_synced_hint),
	    cmocka_unit_test(test_hintlog_sync_each_append_survives_a_power_cut),
	    cmocka_unit_test(test_hintlog_power_cut_at_every_sync_point),
	    cmocka_unit_test(test_hintlog_torn_tail_is_ignored_and_counted),
	    cmocka_unit_test(test_hintlog_zero_filled_tail_is_torn),
	    cmocka_unit_test(test_hintlog_corrupt_byte_in_the_middle_is_reported),
	    cmocka_unit_test(test_hintlog_damage_after_open_is_caught_on_read),
	    cmocka_unit_test(test_hintlog_damaged_segment_header_and_cursor_are_corrupt),
	    cmocka_unit_test(test_hintlog_full_disk_returns_error_and_later_appends_work),
	    cmocka_unit_test(test_hintlog_failed_fsync_fails_the_log_until_reopen),
	    cmocka_unit_test(test_hintlog_fault_walk),
	    cmocka_unit_test(test_hintlog_open_fault_walk),
	    cmocka_unit_test(test_hintlog_targets_are_independent),
	    cmocka_unit_test(test_hintlog_drop_is_durable_and_numbering_goes_on),
	    cmocka_unit_test(test_hintlog_hostile_target_names_stay_in_the_directory),
	    cmocka_unit_test(test_hintlog_randomized_against_a_model),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
