/*
 * coord_test.c - the quorum coordinator through its header: unit cases
 * with a recording harness, then a seeded simulator of five replicas that
 * hold real DVV states behind a network that drops, delays, duplicates and
 * fails messages, checked for one done() per request, W replicas holding
 * every acknowledged write, reads that see every write acknowledged before
 * them when R + W > N, and replicas that converge after read repair.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "base/err.h"
#include "cluster/coord.h"
#include "cluster/dvv.h"
#include "cluster/ring.h"
#include "cluster/wire.h"
#include "env/env.h"

#define NONE RING_MEMBER_NONE

/* ---- A recording harness ------------------------------------------------------------- */

#define SENT_MAX 256
#define DONE_MAX 256

struct sent {
	uint16_t member;
	uint8_t type;
	uint64_t id;
	bool repair;
	struct wire_replica_req q; /* key and version point into owned copies */
	uint8_t *version;
	uint8_t *key;
};

struct done_rec {
	uint64_t token;
	struct coord_result res;
	struct dvv state; /* a copy when res.state */
	bool had_state;
};

struct harness {
	struct coord c;
	struct sent sent[SENT_MAX];
	size_t sent_count;
	struct done_rec done[DONE_MAX];
	size_t done_count;
	int fail_send_member; /* -1: none */
	/* Optional: begin a write from inside done() (re-entrancy). */
	bool begin_in_done;
	int begin_in_done_rc;
	/* Allocation hook: fail the fail_at-th call (1-based, 0: never). */
	int alloc_calls, fail_at;
	long outstanding;
};

static uint8_t *dup_bytes(struct bytes b)
{
	uint8_t *p = malloc(b.len ? b.len : 1);
	assert_non_null(p);
	if (b.len)
		memcpy(p, b.ptr, b.len);
	return p;
}

static int h_send(void *ctx, uint16_t member, uint8_t type, uint64_t id,
                  const struct wire_replica_req *q, bool repair)
{
	struct harness *h = ctx;
	if (h->fail_send_member == member)
		return ERR_IO;
	assert_true(h->sent_count < SENT_MAX);
	struct sent *s = &h->sent[h->sent_count++];
	s->member = member;
	s->type = type;
	s->id = id;
	s->repair = repair;
	s->q = *q;
	s->version = dup_bytes(q->version);
	s->key = dup_bytes(q->key);
	s->q.version = bytes_make(s->version, q->version.len);
	s->q.key = bytes_make(s->key, q->key.len);
	return 0;
}

static void h_done(void *ctx, uint64_t token, const struct coord_result *res)
{
	struct harness *h = ctx;
	assert_true(h->done_count < DONE_MAX);
	struct done_rec *d = &h->done[h->done_count++];
	d->token = token;
	d->res = *res;
	d->had_state = res->state != NULL;
	dvv_init(&d->state);
	if (res->state)
		assert_int_equal(dvv_copy(&d->state, res->state), 0);
	d->res.state = NULL;
	if (h->begin_in_done) {
		h->begin_in_done = false;
		struct coord_write w = {.key = bytes_cstr("again"),
		                        .state = bytes_cstr("s"),
		                        .acks_already = 1,
		                        .w = 1,
		                        .n = 1,
		                        .deadline_ms = 1000,
		                        .token = 999};
		h->begin_in_done_rc = coord_write_begin(&h->c, &w, 0, NULL);
	}
}

static void *h_alloc(void *ctx, size_t bytes)
{
	struct harness *h = ctx;
	if (++h->alloc_calls == h->fail_at)
		return NULL;
	void *p = malloc(bytes);
	if (p)
		h->outstanding += (long)bytes;
	return p;
}

static void h_release(void *ctx, void *p, size_t bytes)
{
	struct harness *h = ctx;
	h->outstanding -= (long)bytes;
	free(p);
}

static struct coord_io h_io(struct harness *h)
{
	struct coord_io io = {
	    .ctx = h, .send = h_send, .done = h_done, .alloc = h_alloc, .release = h_release};
	return io;
}

static struct harness *h_new(uint32_t inflight_max)
{
	struct harness *h = calloc(1, sizeof(*h));
	assert_non_null(h);
	h->fail_send_member = -1;
	struct coord_io io = h_io(h);
	assert_int_equal(coord_init(&h->c, &io, inflight_max), 0);
	return h;
}

static void h_clear(struct harness *h)
{
	for (size_t i = 0; i < h->sent_count; i++) {
		free(h->sent[i].version);
		free(h->sent[i].key);
	}
	h->sent_count = 0;
	for (size_t i = 0; i < h->done_count; i++)
		dvv_deinit(&h->done[i].state);
	h->done_count = 0;
}

static void h_free(struct harness *h)
{
	coord_deinit(&h->c);
	h_clear(h);
	assert_int_equal(h->outstanding, 0);
	free(h);
}

static struct coord_stats h_stats(struct harness *h)
{
	struct coord_stats s;
	coord_get_stats(&h->c, &s);
	coord_check_invariants(&h->c);
	return s;
}

static const struct sent *sent_to(const struct harness *h, uint16_t member, bool repair)
{
	for (size_t i = 0; i < h->sent_count; i++)
		if (h->sent[i].member == member && h->sent[i].repair == repair)
			return &h->sent[i];
	return NULL;
}

static struct wire_replica_resp resp_status(uint16_t status)
{
	struct wire_replica_resp r = {.status = status};
	return r;
}

static struct wire_replica_resp resp_state(const struct buf *enc)
{
	struct wire_replica_resp r = {.status = WIRE_STATUS_OK,
	                              .version = bytes_make(enc->data, enc->len)};
	return r;
}

static void answer(struct harness *h, uint16_t member, uint16_t status, const struct buf *enc)
{
	const struct sent *s = sent_to(h, member, false);
	assert_non_null(s);
	struct wire_replica_resp r = enc ? resp_state(enc) : resp_status(status);
	coord_on_resp(&h->c, member, s->id, &r, 0);
}

/* ---- DVV states ------------------------------------------------------------------------- */

static void encode(const struct dvv *d, struct buf *out)
{
	buf_init(out);
	assert_int_equal(dvv_encode(d, out, SIZE_MAX), 0);
}

/* A blind write of value at replica, on top of d. */
static void write_at(struct dvv *d, uint64_t replica, const char *value, uint64_t ts)
{
	struct dvv_clock ctx;
	dvv_clock_init(&ctx);
	assert_int_equal(dvv_update(d, &ctx, replica, bytes_cstr(value), ts, 0, NULL), 0);
}

/* A write with d's own context (the client read d first). */
static void overwrite_at(struct dvv *d, uint64_t replica, const char *value, uint64_t ts)
{
	struct dvv_clock ctx = d->clock;
	assert_int_equal(dvv_update(d, &ctx, replica, bytes_cstr(value), ts, 0, NULL), 0);
}

/* ---- Writes ----------------------------------------------------------------------------- */

static struct coord_write write_req(const struct coord_target *t, uint32_t count, uint8_t w,
                                    uint64_t token)
{
	struct coord_write wr = {.key = bytes_cstr("user:1"),
	                         .state = bytes_cstr("STATE"),
	                         .targets = t,
	                         .target_count = count,
	                         .acks_already = 1,
	                         .w = w,
	                         .n = 3,
	                         .sloppy = true,
	                         .timestamp_ms = 77,
	                         .deadline_ms = 500,
	                         .token = token};
	return wr;
}

static void test_coord_write_reaches_w_with_the_local_ack(void **state)
{
	(void)state;
	struct harness *h = h_new(8);
	struct coord_target t[] = {{.member = 1, .hint_for = NONE}, {.member = 4, .hint_for = 2}};
	struct coord_write w = write_req(t, 2, 2, 42);
	assert_int_equal(coord_write_begin(&h->c, &w, 0, NULL), 0);
	assert_int_equal(h->sent_count, 2);
	const struct sent *s = sent_to(h, 4, false);
	assert_non_null(s);
	assert_int_equal(s->type, WIRE_PUT_REQ);
	assert_true(bytes_eq(s->q.version, bytes_cstr("STATE")));
	assert_true(bytes_eq(s->q.key, bytes_cstr("user:1")));
	assert_int_equal(s->q.hint_for, 2);
	assert_int_equal(sent_to(h, 1, false)->q.hint_for, NONE);
	assert_int_equal(s->q.quorum_flags, WIRE_QUORUM_SLOPPY);
	assert_int_equal(s->q.w, 2);
	assert_int_equal(s->q.n, 3);
	assert_int_equal(s->q.timestamp_ms, 77);
	assert_int_equal(h->done_count, 0);

	answer(h, 4, WIRE_STATUS_OK, NULL);
	assert_int_equal(h->done_count, 1);
	assert_int_equal(h->done[0].token, 42);
	assert_int_equal(h->done[0].res.status, COORD_OK);
	assert_int_equal(h->done[0].res.answers, 2);
	assert_int_equal(h->done[0].res.needed, 2);
	assert_int_equal(h->done[0].res.targets, 3);
	assert_false(h->done[0].had_state);
	/* The last ack is late and changes nothing. */
	answer(h, 1, WIRE_STATUS_OK, NULL);
	assert_int_equal(h->done_count, 1);
	struct coord_stats st = h_stats(h);
	assert_int_equal(st.writes, 1);
	assert_int_equal(st.ok, 1);
	assert_int_equal(st.late_responses, 1);
	assert_int_equal(st.inflight, 0);

	/* W = 1: the local write is the quorum; done() runs inside begin, the
	 * replicas are still written. */
	h_clear(h);
	w = write_req(t, 2, 1, 43);
	assert_int_equal(coord_write_begin(&h->c, &w, 0, NULL), 0);
	assert_int_equal(h->done_count, 1);
	assert_int_equal(h->done[0].res.status, COORD_OK);
	assert_int_equal(h->sent_count, 2);
	h_free(h);
}

static void test_coord_write_noquorum_at_deadline_with_exact_counts(void **state)
{
	(void)state;
	struct harness *h = h_new(8);
	struct coord_target t[] = {{.member = 1, .hint_for = NONE},
	                           {.member = 2, .hint_for = NONE}};
	struct coord_write w = write_req(t, 2, 3, 7);
	assert_int_equal(coord_write_begin(&h->c, &w, 0, NULL), 0);
	answer(h, 1, WIRE_STATUS_OK, NULL);
	assert_int_equal(coord_next_deadline(&h->c), 500);
	coord_tick(&h->c, 499);
	assert_int_equal(h->done_count, 0);
	coord_tick(&h->c, 500);
	assert_int_equal(h->done_count, 1);
	assert_int_equal(h->done[0].res.status, COORD_NOQUORUM);
	assert_int_equal(h->done[0].res.answers, 2);
	assert_int_equal(h->done[0].res.needed, 3);
	assert_int_equal(h->done[0].res.targets, 3);
	assert_int_equal(coord_next_deadline(&h->c), UINT64_MAX);
	coord_tick(&h->c, 10000);
	assert_int_equal(h->done_count, 1);
	assert_int_equal(h_stats(h).noquorum, 1);
	h_free(h);
}

static void test_coord_write_fails_fast_when_quorum_is_impossible(void **state)
{
	(void)state;
	struct harness *h = h_new(8);
	struct coord_target t[] = {{.member = 1, .hint_for = NONE},
	                           {.member = 2, .hint_for = NONE},
	                           {.member = 3, .hint_for = NONE}};
	/* W = 3 of 1 local + 3: one failure leaves it possible, two do not. */
	struct coord_write w = write_req(t, 3, 3, 1);
	assert_int_equal(coord_write_begin(&h->c, &w, 0, NULL), 0);
	answer(h, 1, WIRE_STATUS_ERROR, NULL);
	assert_int_equal(h->done_count, 0);
	answer(h, 2, WIRE_STATUS_OVERLOADED, NULL);
	assert_int_equal(h->done_count, 1);
	assert_int_equal(h->done[0].res.status, COORD_NOQUORUM);
	assert_int_equal(h->done[0].res.answers, 1);
	assert_int_equal(h->done[0].res.needed, 3);

	/* A LIMIT among the failures is reported as LIMIT; NOT_OWNER fails too. */
	h_clear(h);
	assert_int_equal(coord_write_begin(&h->c, &w, 0, NULL), 0);
	answer(h, 3, WIRE_STATUS_LIMIT, NULL);
	answer(h, 1, WIRE_STATUS_NOT_OWNER, NULL);
	assert_int_equal(h->done_count, 1);
	assert_int_equal(h->done[0].res.status, COORD_LIMIT);

	/* A failed send counts at once: with two of three sends failing... */
	h_clear(h);
	h->fail_send_member = 2;
	w.w = 4;
	assert_int_equal(coord_write_begin(&h->c, &w, 0, NULL), 0);
	assert_int_equal(h->done_count, 1); /* ...W = 4 is out of reach before begin returns */
	assert_int_equal(h->done[0].res.status, COORD_NOQUORUM);
	assert_int_equal(h->sent_count, 2);

	/* W above every target: NOQUORUM at once, the writes still go out. */
	h_clear(h);
	h->fail_send_member = -1;
	w.w = 5;
	assert_int_equal(coord_write_begin(&h->c, &w, 0, NULL), 0);
	assert_int_equal(h->done_count, 1);
	assert_int_equal(h->done[0].res.status, COORD_NOQUORUM);
	assert_int_equal(h->done[0].res.targets, 4);
	assert_int_equal(h->sent_count, 3);
	struct coord_stats st = h_stats(h);
	assert_int_equal(st.inflight, 0);
	assert_int_equal(st.limit, 1);
	assert_int_equal(st.noquorum, 3);
	assert_int_equal(st.failed_answers, 2 + 2 + 1);
	h_free(h);
}

/* ---- Reads ------------------------------------------------------------------------------ */

static struct coord_read read_req(const struct coord_target *t, uint32_t count, uint8_t r,
                                  uint64_t token)
{
	struct coord_read rd = {.key = bytes_cstr("k"),
	                        .targets = t,
	                        .target_count = count,
	                        .r = r,
	                        .n = 3,
	                        .timestamp_ms = 5,
	                        .deadline_ms = 300,
	                        .token = token};
	return rd;
}

static const struct coord_target three[] = {
    {.member = 1, .hint_for = NONE}, {.member = 2, .hint_for = NONE}, {.member = 3, .hint_for = 9}};

static void test_coord_read_merges_siblings_and_picks_the_lww_winner(void **state)
{
	(void)state;
	/* Two concurrent blind writes through replicas 11 and 12. */
	struct dvv a, b, join;
	dvv_init(&a);
	dvv_init(&b);
	write_at(&a, 11, "from-a", 200);
	write_at(&b, 12, "from-b", 100);
	dvv_init(&join);
	assert_int_equal(dvv_sync(&join, &a), 0);
	assert_int_equal(dvv_sync(&join, &b), 0);
	assert_int_equal(join.sibling_count, 2);
	struct buf ea, eb;
	encode(&a, &ea);
	encode(&b, &eb);

	for (int lww = 0; lww <= 1; lww++) {
		struct harness *h = h_new(8);
		struct coord_target t[] = {{.member = 1, .hint_for = NONE},
		                           {.member = 2, .hint_for = NONE},
		                           {.member = 3, .hint_for = NONE, .local = true}};
		struct coord_read r = read_req(t, 3, 2, 5);
		r.lww = lww;
		uint64_t id = 0;
		assert_int_equal(coord_read_begin(&h->c, &r, 0, &id), 0);
		assert_int_not_equal(id, 0);
		/* The local target gets no message. */
		assert_int_equal(h->sent_count, 2);
		assert_null(sent_to(h, 3, false));
		assert_int_equal(sent_to(h, 1, false)->type, WIRE_GET_REQ);
		assert_int_equal(sent_to(h, 1, false)->q.r, 2);
		assert_int_equal(sent_to(h, 1, false)->q.quorum_flags, lww ? WIRE_QUORUM_LWW : 0);
		struct wire_replica_resp local = resp_state(&ea);
		coord_on_local_resp(&h->c, id, &local, 0);
		assert_int_equal(h->done_count, 0);
		answer(h, 2, 0, &eb);
		assert_int_equal(h->done_count, 1);
		struct done_rec *d = &h->done[0];
		assert_int_equal(d->res.status, COORD_OK);
		assert_int_equal(d->res.answers, 2);
		assert_int_equal(d->res.needed, 2);
		assert_int_equal(d->res.targets, 3);
		assert_true(d->had_state);
		assert_true(dvv_descends(&d->state, &a) && dvv_descends(&d->state, &b));
		if (!lww) {
			assert_true(dvv_equal(&d->state, &join));
		} else {
			/* The winner by timestamp is a's, although b's dot is higher. */
			assert_int_equal(d->state.sibling_count, 1);
			assert_true(bytes_eq(
			    bytes_make(d->state.siblings[0].value, d->state.siblings[0].value_len),
			    bytes_cstr("from-a")));
		}
		dvv_check_invariants(&d->state);
		h_free(h);
	}
	buf_deinit(&ea);
	buf_deinit(&eb);
	dvv_deinit(&a);
	dvv_deinit(&b);
	dvv_deinit(&join);
}

static void test_coord_read_not_found_when_every_answer_is_not_found(void **state)
{
	(void)state;
	struct harness *h = h_new(8);
	struct coord_read r = read_req(three, 3, 2, 9);
	assert_int_equal(coord_read_begin(&h->c, &r, 0, NULL), 0);
	assert_int_equal(h->sent_count, 3);
	assert_int_equal(sent_to(h, 3, false)->q.hint_for, 9);
	answer(h, 1, WIRE_STATUS_NOT_FOUND, NULL);
	answer(h, 3, WIRE_STATUS_NOT_FOUND, NULL);
	assert_int_equal(h->done_count, 1);
	assert_int_equal(h->done[0].res.status, COORD_NOT_FOUND);
	assert_false(h->done[0].had_state);
	assert_int_equal(h->done[0].res.answers, 2);
	/* The last one is not found too: nothing to repair, and it is over. */
	assert_int_equal(h_stats(h).inflight, 1);
	answer(h, 2, WIRE_STATUS_NOT_FOUND, NULL);
	struct coord_stats st = h_stats(h);
	assert_int_equal(st.inflight, 0);
	assert_int_equal(st.read_repairs, 0);
	assert_int_equal(st.not_found, 1);
	assert_int_equal(h->sent_count, 3);
	h_free(h);
}

/* R = 2 of 3: two answer, the third answers late with late_state (NULL:
 * NOT_FOUND). Returns the harness after everything is in. */
static struct harness *read_with_late_answer(const struct buf *s1, const struct buf *s2,
                                             const struct buf *late)
{
	struct harness *h = h_new(8);
	struct coord_read r = read_req(three, 3, 2, 1);
	assert_int_equal(coord_read_begin(&h->c, &r, 0, NULL), 0);
	answer(h, 1, 0, s1);
	answer(h, 2, 0, s2);
	assert_int_equal(h->done_count, 1);
	assert_int_equal(h->done[0].res.status, COORD_OK);
	assert_int_equal(h->sent_count, 3); /* no repair before every answer is in */
	answer(h, 3, WIRE_STATUS_NOT_FOUND, late);
	assert_int_equal(h->done_count, 1);
	assert_int_equal(h_stats(h).inflight, 0);
	assert_int_equal(h_stats(h).late_responses, 1);
	return h;
}

static void test_coord_read_repairs_the_stale_replica_with_the_merged_state(void **state)
{
	(void)state;
	struct dvv old, cur;
	dvv_init(&old);
	write_at(&old, 11, "v1", 1);
	dvv_init(&cur);
	assert_int_equal(dvv_sync(&cur, &old), 0);
	overwrite_at(&cur, 12, "v2", 2);
	struct buf eold, ecur;
	encode(&old, &eold);
	encode(&cur, &ecur);

	/* The late third answer is stale: it alone gets the merged state. */
	struct harness *h = read_with_late_answer(&ecur, &ecur, &eold);
	const struct sent *rep = sent_to(h, 3, true);
	assert_non_null(rep);
	assert_int_equal(rep->type, WIRE_PUT_REQ);
	assert_true(bytes_eq(rep->q.version, bytes_make(ecur.data, ecur.len)));
	assert_true(bytes_eq(rep->q.key, bytes_cstr("k")));
	assert_int_equal(rep->q.hint_for, 9);
	assert_null(sent_to(h, 1, true));
	assert_null(sent_to(h, 2, true));
	assert_int_equal(h_stats(h).read_repairs, 1);
	/* Its answer is ignored, as are answers to the finished read. */
	struct wire_replica_resp ok = resp_status(WIRE_STATUS_OK);
	coord_on_resp(&h->c, 3, rep->id, &ok, 0);
	assert_int_equal(h_stats(h).ignored_responses, 1);
	h_free(h);

	/* All equal: no repair. */
	h = read_with_late_answer(&ecur, &ecur, &ecur);
	assert_int_equal(h->sent_count, 3);
	assert_int_equal(h_stats(h).read_repairs, 0);
	h_free(h);

	/* A late NOT_FOUND is stale too. */
	h = read_with_late_answer(&ecur, &ecur, NULL);
	assert_non_null(sent_to(h, 3, true));
	assert_int_equal(h_stats(h).read_repairs, 1);
	h_free(h);

	/* The late answer is the newest: the merge includes it, so the two that
	 * answered in time are repaired and the client saw the older state. */
	h = read_with_late_answer(&eold, &eold, &ecur);
	assert_true(dvv_equal(&h->done[0].state, &old));
	assert_non_null(sent_to(h, 1, true));
	assert_non_null(sent_to(h, 2, true));
	assert_null(sent_to(h, 3, true));
	assert_true(bytes_eq(sent_to(h, 1, true)->q.version, bytes_make(ecur.data, ecur.len)));
	h_free(h);

	/* The third never answers: the repair runs at the deadline with what is
	 * in (here the two disagree, so the older one is repaired). */
	h = h_new(8);
	struct coord_read r = read_req(three, 3, 2, 1);
	assert_int_equal(coord_read_begin(&h->c, &r, 0, NULL), 0);
	answer(h, 1, 0, &ecur);
	answer(h, 2, 0, &eold);
	assert_int_equal(h->sent_count, 3);
	coord_tick(&h->c, 299);
	assert_int_equal(h->sent_count, 3);
	coord_tick(&h->c, 300);
	assert_non_null(sent_to(h, 2, true));
	assert_int_equal(h->sent_count, 4);
	assert_int_equal(h->done_count, 1);
	assert_int_equal(h_stats(h).inflight, 0);
	h_free(h);

	buf_deinit(&eold);
	buf_deinit(&ecur);
	dvv_deinit(&old);
	dvv_deinit(&cur);
}

static void test_coord_read_corrupt_version_is_an_error_answer(void **state)
{
	(void)state;
	struct harness *h = h_new(8);
	struct coord_read r = read_req(three, 2, 2, 1);
	assert_int_equal(coord_read_begin(&h->c, &r, 0, NULL), 0);
	struct buf junk;
	buf_init(&junk);
	assert_int_equal(buf_reserve(&junk, 3, SIZE_MAX), 0);
	buf_put(&junk, "\x01\x07\x09", 3);
	answer(h, 1, 0, &junk);
	/* R = 2 of 2 with one failed: impossible at once. */
	assert_int_equal(h->done_count, 1);
	assert_int_equal(h->done[0].res.status, COORD_NOQUORUM);
	assert_int_equal(h->done[0].res.answers, 0);
	struct coord_stats st = h_stats(h);
	assert_int_equal(st.corrupt_versions, 1);
	assert_int_equal(st.failed_answers, 1);
	assert_int_equal(st.inflight, 0);
	buf_deinit(&junk);

	/* R above the targets: NOQUORUM inside begin, nothing sent. */
	h_clear(h);
	r = read_req(three, 3, 4, 2);
	assert_int_equal(coord_read_begin(&h->c, &r, 0, NULL), 0);
	assert_int_equal(h->done_count, 1);
	assert_int_equal(h->done[0].res.status, COORD_NOQUORUM);
	assert_int_equal(h->done[0].res.targets, 3);
	assert_int_equal(h->sent_count, 0);
	h_free(h);
}

/* ---- Bounds, ids, lifecycle ------------------------------------------------------------- */

static void test_coord_inflight_limit_is_err_limit(void **state)
{
	(void)state;
	struct harness *h = h_new(2);
	struct coord_read r = read_req(three, 3, 2, 1);
	assert_int_equal(coord_read_begin(&h->c, &r, 0, NULL), 0);
	assert_int_equal(coord_read_begin(&h->c, &r, 0, NULL), 0);
	size_t sent = h->sent_count;
	assert_int_equal(coord_read_begin(&h->c, &r, 0, NULL), ERR_LIMIT);
	assert_int_equal(h->sent_count, sent);
	struct coord_stats st = h_stats(h);
	assert_int_equal(st.rejected, 1);
	assert_int_equal(st.reads, 2);
	/* A read waiting only for its repair still holds its slot. */
	answer(h, 1, WIRE_STATUS_NOT_FOUND, NULL);
	answer(h, 2, WIRE_STATUS_NOT_FOUND, NULL);
	assert_int_equal(h->done_count, 1);
	assert_int_equal(coord_read_begin(&h->c, &r, 0, NULL), ERR_LIMIT);
	coord_tick(&h->c, 300);
	assert_int_equal(h->done_count, 2);
	assert_int_equal(coord_read_begin(&h->c, &r, 0, NULL), 0);
	h_free(h);

	/* init's own bounds: 1..COORD_INFLIGHT_MAX, and both callbacks. */
	struct coord c;
	struct coord_io io = {.send = h_send, .done = h_done};
	assert_int_equal(coord_init(&c, &io, 0), ERR_INVALID);
	assert_int_equal(coord_init(&c, &io, COORD_INFLIGHT_MAX + 1), ERR_INVALID);
	io.done = NULL;
	assert_int_equal(coord_init(&c, &io, 1), ERR_INVALID);
}

static void test_coord_unknown_and_duplicate_responses_are_ignored(void **state)
{
	(void)state;
	struct harness *h = h_new(8);
	struct coord_target t[] = {{.member = 1, .hint_for = NONE},
	                           {.member = 2, .hint_for = NONE}};
	struct coord_write w = write_req(t, 2, 3, 1);
	assert_int_equal(coord_write_begin(&h->c, &w, 0, NULL), 0);
	uint64_t id1 = sent_to(h, 1, false)->id;
	struct wire_replica_resp ok = resp_status(WIRE_STATUS_OK);
	coord_on_resp(&h->c, 1, id1 + (1000 << 5), &ok, 0); /* never issued */
	coord_on_resp(&h->c, 7, id1, &ok, 0);               /* not a target */
	coord_on_resp(&h->c, 2, id1, &ok, 0);               /* the other target's id */
	coord_on_resp(&h->c, 1, id1 | 15, &ok, 0);          /* no such target index */
	coord_on_resp(&h->c, 1, 0, &ok, 0);
	coord_on_local_resp(&h->c, 1, &ok, 0); /* a write has no local target */
	assert_int_equal(h_stats(h).ignored_responses, 6);
	coord_on_resp(&h->c, 1, id1, &ok, 0);
	coord_on_resp(&h->c, 1, id1, &ok, 0); /* duplicate */
	assert_int_equal(h->done_count, 0);
	struct coord_stats st = h_stats(h);
	assert_int_equal(st.ignored_responses, 7);
	assert_int_equal(st.late_responses, 0);
	answer(h, 2, WIRE_STATUS_OK, NULL);
	assert_int_equal(h->done_count, 1);
	assert_int_equal(h->done[0].res.answers, 3);
	coord_on_resp(&h->c, 1, id1, &ok, 0); /* to a finished request */
	assert_int_equal(h_stats(h).late_responses, 1);
	h_free(h);
}

static void test_coord_deinit_completes_everything_with_shutdown_once(void **state)
{
	(void)state;
	struct harness *h = h_new(8);
	struct coord_target t[] = {{.member = 1, .hint_for = NONE},
	                           {.member = 2, .hint_for = NONE}};
	struct coord_write w = write_req(t, 2, 3, 100);
	assert_int_equal(coord_write_begin(&h->c, &w, 0, NULL), 0);
	w.token = 101;
	w.deadline_ms = 50;
	assert_int_equal(coord_write_begin(&h->c, &w, 0, NULL), 0);
	struct coord_read r = read_req(three, 3, 1, 102);
	assert_int_equal(coord_read_begin(&h->c, &r, 0, NULL), 0);
	/* A read that answered its client and waits for its repair. */
	struct coord_read r2 = read_req(three, 3, 1, 103);
	assert_int_equal(coord_read_begin(&h->c, &r2, 0, NULL), 0);
	struct wire_replica_resp nf = resp_status(WIRE_STATUS_NOT_FOUND);
	coord_on_resp(&h->c, 1, h->sent[h->sent_count - 1].id - 2, &nf, 0);
	assert_int_equal(h->done_count, 1);
	assert_int_equal(h->done[0].token, 103);
	coord_deinit(&h->c);
	assert_int_equal(h->done_count, 4);
	bool seen[4] = {false};
	for (size_t i = 1; i < 4; i++) {
		assert_int_equal(h->done[i].res.status, COORD_SHUTDOWN);
		assert_true(h->done[i].token >= 100 && h->done[i].token <= 102);
		assert_false(seen[h->done[i].token - 100]);
		seen[h->done[i].token - 100] = true;
	}
	assert_int_equal(h->done[1].token, 101); /* deadline order */
	h_clear(h);
	assert_int_equal(h->outstanding, 0);
	free(h);
}

static void test_coord_message_ids_are_unique(void **state)
{
	(void)state;
	struct harness *h = h_new(64);
	uint64_t ids[SENT_MAX];
	size_t n = 0;
	for (int round = 0; round < 4; round++) {
		for (int i = 0; i < 16; i++) {
			struct coord_read r = read_req(three, 3, 2, (uint64_t)i);
			assert_int_equal(coord_read_begin(&h->c, &r, 0, NULL), 0);
		}
		for (size_t i = 0; i < h->sent_count; i++)
			ids[n++] = h->sent[i].id;
		coord_tick(&h->c, 1000); /* reuses every slot next round */
		h_clear(h);
	}
	assert_int_equal(n, 4 * 16 * 3);
	for (size_t i = 0; i < n; i++) {
		assert_int_not_equal(ids[i], 0);
		for (size_t j = 0; j < i; j++)
			assert_int_not_equal(ids[i], ids[j]);
	}
	h_free(h);
}

static void test_coord_rejects_invalid_requests(void **state)
{
	(void)state;
	struct harness *h = h_new(8);
	struct coord_read r = read_req(three, 3, 0, 1);
	assert_int_equal(coord_read_begin(&h->c, &r, 0, NULL), ERR_INVALID); /* R = 0 */
	r.r = RING_REPLICAS_MAX + 1;
	assert_int_equal(coord_read_begin(&h->c, &r, 0, NULL), ERR_INVALID);
	struct coord_target dup[] = {{.member = 1, .hint_for = NONE},
	                             {.member = 1, .hint_for = NONE}};
	r = read_req(dup, 2, 1, 1);
	assert_int_equal(coord_read_begin(&h->c, &r, 0, NULL), ERR_INVALID);
	struct coord_target two_local[] = {{.member = 1, .local = true},
	                                   {.member = 2, .local = true}};
	r = read_req(two_local, 2, 1, 1);
	assert_int_equal(coord_read_begin(&h->c, &r, 0, NULL), ERR_INVALID);
	struct coord_target none[] = {{.member = NONE, .hint_for = NONE}};
	r = read_req(none, 1, 1, 1);
	assert_int_equal(coord_read_begin(&h->c, &r, 0, NULL), ERR_INVALID);
	struct coord_target many[COORD_TARGETS_MAX + 1];
	for (uint16_t i = 0; i <= COORD_TARGETS_MAX; i++)
		many[i] = (struct coord_target){.member = i, .hint_for = NONE};
	r = read_req(many, COORD_TARGETS_MAX + 1, 1, 1);
	assert_int_equal(coord_read_begin(&h->c, &r, 0, NULL), ERR_INVALID);
	r = read_req(many, COORD_TARGETS_MAX, 1, 1); /* exactly at the limit */
	assert_int_equal(coord_read_begin(&h->c, &r, 0, NULL), 0);
	struct coord_write w = write_req(two_local, 1, 1, 1); /* a local write target */
	assert_int_equal(coord_write_begin(&h->c, &w, 0, NULL), ERR_INVALID);
	w = write_req(three, 3, 0, 1); /* W = 0 */
	assert_int_equal(coord_write_begin(&h->c, &w, 0, NULL), ERR_INVALID);
	assert_int_equal(h->sent_count, COORD_TARGETS_MAX);
	assert_int_equal(h->done_count, 0);
	h_free(h);
}

static void test_coord_cancel_drops_a_request_without_done(void **state)
{
	(void)state;
	struct harness *h = h_new(8);
	struct coord_target t[] = {{.member = 1, .hint_for = NONE}};
	struct coord_write w = write_req(t, 1, 2, 1);
	uint64_t id = 0;
	assert_int_equal(coord_write_begin(&h->c, &w, 0, &id), 0);
	assert_int_equal(coord_cancel(&h->c, id), 0);
	assert_int_equal(coord_cancel(&h->c, id), ERR_NOT_FOUND);
	answer(h, 1, WIRE_STATUS_OK, NULL);
	coord_tick(&h->c, 10000);
	assert_int_equal(h->done_count, 0);
	struct coord_stats st = h_stats(h);
	assert_int_equal(st.late_responses, 1);
	assert_int_equal(st.inflight, 0);
	h_free(h);
}

static void test_coord_done_may_begin_a_request(void **state)
{
	(void)state;
	/* One slot: the write that finishes frees it before its done() runs. */
	struct harness *h = h_new(1);
	struct coord_target t[] = {{.member = 1, .hint_for = NONE}};
	struct coord_write w = write_req(t, 1, 2, 1);
	assert_int_equal(coord_write_begin(&h->c, &w, 0, NULL), 0);
	h->begin_in_done = true;
	answer(h, 1, WIRE_STATUS_OK, NULL);
	assert_int_equal(h->begin_in_done_rc, 0);
	assert_int_equal(h->done_count, 2); /* the nested W = 1 write finished at once */
	assert_int_equal(h->done[1].token, 999);
	h_free(h);
}

static void test_coord_allocation_failures_change_nothing(void **state)
{
	(void)state;
	struct harness *h = calloc(1, sizeof(*h));
	assert_non_null(h);
	h->fail_send_member = -1;
	struct coord_io io = h_io(h);
	/* init: every allocation in turn. */
	int rc = ERR_NOMEM;
	for (int n = 1; rc != 0; n++) {
		h->alloc_calls = 0;
		h->fail_at = n;
		rc = coord_init(&h->c, &io, 4);
		if (rc != 0) {
			assert_int_equal(rc, ERR_NOMEM);
			assert_int_equal(h->outstanding, 0);
		}
		assert_true(n < 20);
	}
	/* A read's request and key copy, then its merged state. */
	struct dvv d;
	dvv_init(&d);
	write_at(&d, 1, "x", 1);
	struct buf e;
	encode(&d, &e);
	rc = ERR_NOMEM;
	for (int n = 1; rc != 0; n++) {
		h->alloc_calls = 0;
		h->fail_at = n;
		struct coord_read r = read_req(three, 3, 1, 1);
		struct coord_stats before = h_stats(h);
		rc = coord_read_begin(&h->c, &r, 0, NULL);
		if (rc != 0) {
			assert_int_equal(rc, ERR_NOMEM);
			assert_int_equal(h->sent_count, 0);
			struct coord_stats after = h_stats(h);
			assert_memory_equal(&before, &after, sizeof(before));
		}
		assert_true(n < 10);
	}
	/* The merged state's allocation fails: a local failure, COORD_ERROR. */
	h->alloc_calls = 0;
	h->fail_at = 1;
	answer(h, 1, 0, &e);
	h->fail_at = 0;
	answer(h, 2, WIRE_STATUS_ERROR, NULL);
	answer(h, 3, WIRE_STATUS_ERROR, NULL);
	assert_int_equal(h->done_count, 1);
	assert_int_equal(h->done[0].res.status, COORD_ERROR);
	h_free(h);
	buf_deinit(&e);
	dvv_deinit(&d);
}

/* ---- The simulator ---------------------------------------------------------------------- */

#define SIM_NODES     5
#define SIM_N         3
#define SIM_KEYS      8
#define SIM_REQUESTS  2000
#define SIM_STEP_MS   5
#define SIM_DEADLINE  200
#define SIM_ACKED_MAX 2048

struct sim_msg {
	uint64_t at_ms;
	int from, to;
	uint8_t type; /* a wire type: requests to replicas, responses to coordinators */
	uint64_t id;
	struct buf payload; /* the encoded wire payload */
};

struct sim;

struct sim_node {
	struct sim *sim;
	int idx;
	struct coord c;
	struct dvv *store[SIM_KEYS]; /* NULL: not found */
	bool down;
};

struct sim_acked {
	struct dvv_dot dot;
	uint8_t w;
};

struct sim_op {
	bool write, used, lww;
	int key;
	uint8_t rw;
	uint32_t acked_before; /* reads: acked writes of the key when it began */
	struct dvv_dot dot;    /* writes */
	int done_count;
};

struct sim {
	struct sim_node node[SIM_NODES];
	struct sim_msg *net;
	size_t net_len, net_cap;
	uint64_t now_ms;
	struct env_rng rng;
	bool faults;
	struct sim_op ops[SIM_REQUESTS + SIM_KEYS];
	uint32_t op_count;
	struct sim_acked acked[SIM_KEYS][SIM_ACKED_MAX];
	uint32_t acked_count[SIM_KEYS];
	struct dvv_clock last_read[SIM_KEYS]; /* a client's context */
	uint64_t seq;
	/* Tallies, to show the run exercised what it checks. */
	uint64_t writes_ok, reads_checked, dones;
};

static uint64_t sim_rand(struct sim *s, uint64_t n)
{
	return env_rng_next(&s->rng) % n;
}

static int pref(int key, int i)
{
	return (key + i) % SIM_NODES;
}

static int key_index(struct bytes key)
{
	assert_int_equal(key.len, 2);
	int k = key.ptr[1] - '0';
	assert_true(k >= 0 && k < SIM_KEYS);
	return k;
}

static void sim_enqueue(struct sim *s, int from, int to, uint8_t type, uint64_t id,
                        struct buf *payload)
{
	if (s->faults && sim_rand(s, 100) < 5) { /* dropped */
		buf_deinit(payload);
		return;
	}
	uint64_t delay = 1 + sim_rand(s, 40);
	if (s->faults && sim_rand(s, 100) < 4)
		delay = 150 + sim_rand(s, 250); /* past the deadline: a late answer */
	int copies = s->faults && sim_rand(s, 100) < 2 ? 2 : 1;
	for (int i = 0; i < copies; i++) {
		if (s->net_len == s->net_cap) {
			s->net_cap = s->net_cap ? 2 * s->net_cap : 256;
			s->net = realloc(s->net, s->net_cap * sizeof(*s->net));
			assert_non_null(s->net);
		}
		struct sim_msg *m = &s->net[s->net_len++];
		m->at_ms = s->now_ms + delay + (uint64_t)i * 7;
		m->from = from;
		m->to = to;
		m->type = type;
		m->id = id;
		buf_init(&m->payload);
		assert_int_equal(buf_reserve(&m->payload, payload->len, SIZE_MAX), 0);
		buf_put(&m->payload, payload->data, payload->len);
	}
	buf_deinit(payload);
}

static int sim_send(void *ctx, uint16_t member, uint8_t type, uint64_t id,
                    const struct wire_replica_req *q, bool repair)
{
	struct sim_node *n = ctx;
	(void)repair;
	assert_true(member < SIM_NODES);
	assert_int_equal(q->hint_for, NONE);
	struct buf p;
	buf_init(&p);
	assert_int_equal(wire_replica_req_encode(&p, SIZE_MAX, q), 0);
	sim_enqueue(n->sim, n->idx, member, type, id, &p);
	return 0;
}

static bool covers(const struct dvv *d, struct dvv_dot dot)
{
	return d && dvv_clock_covers(&d->clock, dot);
}

static void sim_done(void *ctx, uint64_t token, const struct coord_result *res)
{
	struct sim_node *n = ctx;
	struct sim *s = n->sim;
	assert_true(token < s->op_count);
	struct sim_op *op = &s->ops[token];
	assert_int_equal(op->done_count, 0); /* exactly once */
	op->done_count++;
	s->dones++;
	if (op->write) {
		if (res->status != COORD_OK)
			return;
		/* W replicas hold the write by the time the client hears OK. */
		int holders = 0;
		for (int i = 0; i < SIM_NODES; i++)
			holders += covers(s->node[i].store[op->key], op->dot);
		assert_true(holders >= op->rw);
		assert_true(s->acked_count[op->key] < SIM_ACKED_MAX);
		s->acked[op->key][s->acked_count[op->key]++] =
		    (struct sim_acked){.dot = op->dot, .w = op->rw};
		s->writes_ok++;
		return;
	}
	if (res->status != COORD_OK && res->status != COORD_NOT_FOUND)
		return;
	assert_true((res->status == COORD_OK) == (res->state != NULL));
	if (res->state) {
		dvv_check_invariants(res->state);
		if (op->lww)
			assert_true(res->state->sibling_count <= 1);
		s->last_read[op->key] = res->state->clock;
	}
	/* R + W > N: the read sees every write acknowledged before it began. */
	for (uint32_t i = 0; i < op->acked_before; i++) {
		const struct sim_acked *a = &s->acked[op->key][i];
		if (op->rw + a->w > SIM_N) {
			assert_true(covers(res->state, a->dot));
			s->reads_checked++;
		}
	}
}

static void sim_reply(struct sim *s, int replica, int to, uint8_t type, uint64_t id,
                      uint16_t status, const struct dvv *state)
{
	struct buf enc;
	buf_init(&enc);
	if (state)
		assert_int_equal(dvv_encode(state, &enc, SIZE_MAX), 0);
	struct wire_replica_resp r = {.status = status, .version = bytes_make(enc.data, enc.len)};
	struct buf p;
	buf_init(&p);
	assert_int_equal(wire_replica_resp_encode(&p, SIZE_MAX, &r), 0);
	buf_deinit(&enc);
	sim_enqueue(s, replica, to, type, id, &p);
}

/* A replica's handling of a request: merge a put, answer a get. */
static void sim_replica(struct sim *s, const struct sim_msg *m)
{
	struct sim_node *n = &s->node[m->to];
	struct wire_replica_req q;
	assert_int_equal(wire_replica_req_decode(bytes_make(m->payload.data, m->payload.len), &q),
	                 0);
	int k = key_index(q.key);
	if (s->faults && sim_rand(s, 100) < 2) {
		sim_reply(s, m->to, m->from, m->type + 1, m->id, WIRE_STATUS_ERROR, NULL);
		return;
	}
	if (m->type == WIRE_GET_REQ) {
		sim_reply(s, m->to, m->from, WIRE_GET_RESP, m->id,
		          n->store[k] ? WIRE_STATUS_OK : WIRE_STATUS_NOT_FOUND, n->store[k]);
		return;
	}
	assert_int_equal(m->type, WIRE_PUT_REQ);
	struct dvv in;
	assert_int_equal(dvv_decode(&in, q.version.ptr, q.version.len), 0);
	if (!n->store[k]) {
		n->store[k] = malloc(sizeof(struct dvv));
		assert_non_null(n->store[k]);
		dvv_init(n->store[k]);
	}
	int rc = dvv_sync(n->store[k], &in);
	dvv_deinit(&in);
	sim_reply(s, m->to, m->from, WIRE_PUT_RESP, m->id,
	          rc == 0 ? WIRE_STATUS_OK : WIRE_STATUS_LIMIT, NULL);
}

static void sim_deliver(struct sim *s, const struct sim_msg *m)
{
	if (s->node[m->to].down || s->node[m->from].down)
		return;
	if (m->type == WIRE_PUT_REQ || m->type == WIRE_GET_REQ) {
		sim_replica(s, m);
		return;
	}
	struct wire_replica_resp r;
	assert_int_equal(wire_replica_resp_decode(bytes_make(m->payload.data, m->payload.len), &r),
	                 0);
	coord_on_resp(&s->node[m->to].c, (uint16_t)m->from, m->id, &r, s->now_ms);
}

/* Delivers every message due now; what they cause goes out later. */
static void sim_step_net(struct sim *s)
{
	size_t due_len = 0;
	struct sim_msg *due = malloc((s->net_len + 1) * sizeof(*due));
	assert_non_null(due);
	for (size_t i = 0; i < s->net_len;) {
		if (s->net[i].at_ms <= s->now_ms) {
			due[due_len++] = s->net[i];
			s->net[i] = s->net[--s->net_len];
		} else {
			i++;
		}
	}
	for (size_t i = 0; i < due_len; i++) {
		sim_deliver(s, &due[i]);
		buf_deinit(&due[i].payload);
	}
	free(due);
}

static const uint8_t sim_quorums[][2] = {{2, 2}, {2, 2}, {1, 3}, {3, 1}, {1, 1}, {2, 1}};

static void sim_key(int k, char out[3])
{
	out[0] = 'k';
	out[1] = (char)('0' + k);
	out[2] = 0;
}

static void sim_write(struct sim *s, int k, uint8_t w)
{
	int coordinator = pref(k, (int)sim_rand(s, SIM_N));
	struct sim_node *n = &s->node[coordinator];
	if (n->down)
		return;
	if (!n->store[k]) {
		n->store[k] = malloc(sizeof(struct dvv));
		assert_non_null(n->store[k]);
		dvv_init(n->store[k]);
	}
	/* The client's context: what this replica holds, what some client last
	 * read, or nothing (a blind write, which makes siblings). */
	struct dvv_clock ctx;
	uint64_t pick = sim_rand(s, 10);
	if (pick < 5)
		ctx = n->store[k]->clock;
	else if (pick < 8)
		ctx = s->last_read[k];
	else
		dvv_clock_init(&ctx);
	char value[32];
	snprintf(value, sizeof(value), "v%llu", (unsigned long long)++s->seq);
	bool del = sim_rand(s, 10) == 0;
	struct dvv_dot dot;
	if (dvv_update(n->store[k], &ctx, (uint64_t)coordinator + 1,
	               del ? bytes_make(NULL, 0) : bytes_cstr(value), s->now_ms,
	               del ? DVV_FLAG_TOMBSTONE : 0, &dot) != 0)
		return; /* over a limit: the client would get an error */
	struct buf enc;
	encode(n->store[k], &enc);
	struct coord_target t[SIM_N - 1];
	uint32_t count = 0;
	for (int i = 0; i < SIM_N; i++)
		if (pref(k, i) != coordinator)
			t[count++] =
			    (struct coord_target){.member = (uint16_t)pref(k, i), .hint_for = NONE};
	char key[3];
	sim_key(k, key);
	uint32_t token = s->op_count++;
	s->ops[token] = (struct sim_op){.write = true, .used = true, .key = k, .rw = w, .dot = dot};
	struct coord_write cw = {.key = bytes_cstr(key),
	                         .state = bytes_make(enc.data, enc.len),
	                         .targets = t,
	                         .target_count = count,
	                         .acks_already = 1,
	                         .w = w,
	                         .n = SIM_N,
	                         .timestamp_ms = s->now_ms,
	                         .deadline_ms = s->now_ms + SIM_DEADLINE,
	                         .token = token};
	assert_int_equal(coord_write_begin(&n->c, &cw, s->now_ms, NULL), 0);
	buf_deinit(&enc);
}

static void sim_read_at(struct sim *s, int coordinator, int k, uint8_t r, bool lww)
{
	struct sim_node *n = &s->node[coordinator];
	struct coord_target t[SIM_N];
	for (int i = 0; i < SIM_N; i++)
		t[i] = (struct coord_target){.member = (uint16_t)pref(k, i),
		                             .hint_for = NONE,
		                             .local = pref(k, i) == coordinator};
	char key[3];
	sim_key(k, key);
	uint32_t token = s->op_count++;
	s->ops[token] = (struct sim_op){
	    .used = true, .key = k, .rw = r, .lww = lww, .acked_before = s->acked_count[k]};
	struct coord_read cr = {.key = bytes_cstr(key),
	                        .targets = t,
	                        .target_count = SIM_N,
	                        .r = r,
	                        .n = SIM_N,
	                        .lww = lww,
	                        .timestamp_ms = s->now_ms,
	                        .deadline_ms = s->now_ms + SIM_DEADLINE,
	                        .token = token};
	uint64_t id;
	assert_int_equal(coord_read_begin(&n->c, &cr, s->now_ms, &id), 0);
	/* The shell reads its own store right away. */
	for (int i = 0; i < SIM_N; i++) {
		if (!t[i].local)
			continue;
		struct buf enc;
		buf_init(&enc);
		if (n->store[k])
			assert_int_equal(dvv_encode(n->store[k], &enc, SIZE_MAX), 0);
		struct wire_replica_resp lr = {.status = n->store[k] ? WIRE_STATUS_OK
		                                                     : WIRE_STATUS_NOT_FOUND,
		                               .version = bytes_make(enc.data, enc.len)};
		coord_on_local_resp(&n->c, id, &lr, s->now_ms);
		buf_deinit(&enc);
	}
}

static void sim_tick_all(struct sim *s)
{
	for (int i = 0; i < SIM_NODES; i++) {
		coord_tick(&s->node[i].c, s->now_ms);
		coord_check_invariants(&s->node[i].c);
	}
}

static bool sim_idle(const struct sim *s)
{
	if (s->net_len > 0)
		return false;
	for (int i = 0; i < SIM_NODES; i++)
		if (s->node[i].c.inflight > 0)
			return false;
	return true;
}

/* Runs until the network is empty and every request has ended. */
static void sim_settle(struct sim *s)
{
	for (int steps = 0; !sim_idle(s); steps++) {
		assert_true(steps < 100000);
		s->now_ms += SIM_STEP_MS;
		sim_step_net(s);
		sim_tick_all(s);
	}
}

static void sim_run(uint64_t seed)
{
	struct sim *s = calloc(1, sizeof(*s));
	assert_non_null(s);
	env_rng_seed(&s->rng, seed);
	s->faults = true;
	s->now_ms = 1000;
	for (int i = 0; i < SIM_NODES; i++) {
		s->node[i].sim = s;
		s->node[i].idx = i;
		struct coord_io io = {.ctx = &s->node[i], .send = sim_send, .done = sim_done};
		assert_int_equal(coord_init(&s->node[i].c, &io, 64), 0);
	}
	for (int k = 0; k < SIM_KEYS; k++)
		dvv_clock_init(&s->last_read[k]);

	uint32_t started = 0;
	while (started < SIM_REQUESTS) {
		s->now_ms += SIM_STEP_MS;
		/* Now and then a node goes down or comes back (at most two down). */
		if (sim_rand(s, 100) == 0) {
			int i = (int)sim_rand(s, SIM_NODES), down = 0;
			for (int j = 0; j < SIM_NODES; j++)
				down += s->node[j].down;
			if (s->node[i].down || down < 2)
				s->node[i].down = !s->node[i].down;
		}
		for (int burst = (int)sim_rand(s, 3); burst > 0 && started < SIM_REQUESTS;
		     burst--) {
			int k = (int)sim_rand(s, SIM_KEYS);
			const uint8_t *q = sim_quorums[sim_rand(s, ARRAY_LEN(sim_quorums))];
			started++;
			if (sim_rand(s, 10) < 6) {
				sim_write(s, k, q[1]);
			} else {
				int coordinator = (int)sim_rand(s, SIM_NODES);
				if (!s->node[coordinator].down)
					sim_read_at(s, coordinator, k, q[0], sim_rand(s, 4) == 0);
			}
		}
		sim_step_net(s);
		sim_tick_all(s);
	}
	/* Heal, let everything end, then read every key at R = N from one
	 * node: its repair must leave the three replicas equal. */
	s->faults = false;
	for (int i = 0; i < SIM_NODES; i++)
		s->node[i].down = false;
	sim_settle(s);
	for (int k = 0; k < SIM_KEYS; k++)
		sim_read_at(s, (int)sim_rand(s, SIM_NODES), k, SIM_N, false);
	sim_settle(s);
	int nonempty = 0;
	for (int k = 0; k < SIM_KEYS; k++) {
		const struct dvv *first = s->node[pref(k, 0)].store[k];
		for (int i = 1; i < SIM_N; i++) {
			const struct dvv *other = s->node[pref(k, i)].store[k];
			assert_true((first == NULL) == (other == NULL));
			if (first)
				assert_true(dvv_equal(first, other));
		}
		nonempty += first != NULL;
	}
	for (uint32_t i = 0; i < s->op_count; i++)
		assert_int_equal(s->ops[i].done_count, 1);

	struct coord_stats total = {0};
	for (int i = 0; i < SIM_NODES; i++) {
		struct coord_stats st;
		coord_get_stats(&s->node[i].c, &st);
		total.ok += st.ok;
		total.noquorum += st.noquorum;
		total.read_repairs += st.read_repairs;
		total.late_responses += st.late_responses;
		total.ignored_responses += st.ignored_responses;
		total.failed_answers += st.failed_answers;
		coord_deinit(&s->node[i].c);
		for (int k = 0; k < SIM_KEYS; k++) {
			if (s->node[i].store[k])
				dvv_deinit(s->node[i].store[k]);
			free(s->node[i].store[k]);
		}
	}
	print_message("seed %llu: %u requests, %llu ok, %llu noquorum, %llu writes acked, "
	              "%llu read checks, %llu repairs, %llu late, %llu ignored, %llu failed\n",
	              (unsigned long long)seed, s->op_count, (unsigned long long)total.ok,
	              (unsigned long long)total.noquorum, (unsigned long long)s->writes_ok,
	              (unsigned long long)s->reads_checked, (unsigned long long)total.read_repairs,
	              (unsigned long long)total.late_responses,
	              (unsigned long long)total.ignored_responses,
	              (unsigned long long)total.failed_answers);
	/* The run exercised what it checks. */
	assert_int_equal(s->dones, s->op_count);
	assert_true(nonempty > 0);
	assert_true(s->writes_ok > 100 && s->reads_checked > 100);
	assert_true(total.read_repairs > 0 && total.late_responses > 0 && total.noquorum > 0);
	assert_true(total.ignored_responses > 0); /* duplicates and repair answers */
	free(s->net);
	free(s);
}

static void test_coord_simulated_replicas_keep_quorum_promises(void **state)
{
	(void)state;
	for (uint64_t seed = 1; seed <= 3; seed++)
		sim_run(seed);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_coord_write_reaches_w_with_the_local_ack),
	    cmocka_unit_test(test_coord_write_noquorum_at_deadline_with_exact_counts),
	    cmocka_unit_test(test_coord_write_fails_fast_when_quorum_is_impossible),
	    cmocka_unit_test(test_coord_read_merges_siblings_and_picks_the_lww_winner),
	    cmocka_unit_test(test_coord_read_not_found_when_every_answer_is_not_found),
	    cmocka_unit_test(test_coord_read_repairs_the_stale_replica_with_the_merged_state),
	    cmocka_unit_test(test_coord_read_corrupt_version_is_an_error_answer),
	    cmocka_unit_test(test_coord_inflight_limit_is_err_limit),
	    cmocka_unit_test(test_coord_unknown_and_duplicate_responses_are_ignored),
	    cmocka_unit_test(test_coord_deinit_completes_everything_with_shutdown_once),
	    cmocka_unit_test(test_coord_message_ids_are_unique),
	    cmocka_unit_test(test_coord_rejects_invalid_requests),
	    cmocka_unit_test(test_coord_cancel_drops_a_request_without_done),
	    cmocka_unit_test(test_coord_done_may_begin_a_request),
	    cmocka_unit_test(test_coord_allocation_failures_change_nothing),
	    cmocka_unit_test(test_coord_simulated_replicas_keep_quorum_promises),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
