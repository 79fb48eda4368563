/*
 * replica_test.c - a replica's local read, coordinated update and merge
 * over a real keyspace (memory engine): siblings, contexts, LWW,
 * tombstones, idempotent merges and a corrupt stored state; INCR/DECR as
 * PN-counters: concurrent increments through different replicas, over
 * registers, errors, stale states, and seeded random histories;
 * tombstone collection: what is collectable, the conditional drop, and
 * the dot floor that keeps a dropped key's numbers from being reused.
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
#include "cluster/replica.h"

#define R1 0x1001
#define R2 0x2002
#define R3 0x3003

/* This replica as replica_update and replica_incr take it, floor 0. */
#define SELF(r) ((struct replica_self){.id = (r), .floor = 0})

static struct keyspace *new_ks(void)
{
	struct engine *e = engine_mem_create(KEYSPACE_STRIPES);
	assert_non_null(e);
	struct keyspace *ks = ks_create(e);
	assert_non_null(ks);
	return ks;
}

/* The stored state of key, decoded into d (initialised by this). */
static void load(struct keyspace *ks, const char *key, struct dvv *d)
{
	struct buf b;
	buf_init(&b);
	bool found;
	assert_int_equal(replica_read(ks, bytes_cstr(key), &b, &found), 0);
	assert_true(found);
	assert_int_equal(dvv_decode(d, b.data, b.len), 0);
	dvv_check_invariants(d);
	buf_deinit(&b);
}

static void update(struct keyspace *ks, const char *key, const struct dvv_clock *ctx,
                   uint64_t replica, const char *value, uint64_t ts, bool lww, struct buf *out)
{
	struct dvv_clock none;
	dvv_clock_init(&none);
	assert_int_equal(replica_update(ks, bytes_cstr(key), ctx ? ctx : &none, SELF(replica),
	                                bytes_cstr(value), ts, 0, lww, out, NULL),
	                 0);
}

static bool has_value(const struct dvv *d, const char *v)
{
	for (uint32_t i = 0; i < d->sibling_count; i++)
		if (bytes_eq(bytes_make(d->siblings[i].value, d->siblings[i].value_len),
		             bytes_cstr(v)))
			return true;
	return false;
}

static void test_read_of_absent_key(void **state)
{
	(void)state;
	struct keyspace *ks = new_ks();
	struct buf b;
	buf_init(&b);
	bool found = true;
	assert_int_equal(replica_read(ks, bytes_cstr("nope"), &b, &found), 0);
	assert_false(found);
	assert_int_equal(b.len, 0);
	buf_deinit(&b);
	ks_destroy(ks);
}

/* Two replicas take blind writes of one key; merged they are siblings, and
 * a write with the merged context replaces both. */
static void test_concurrent_updates_become_siblings_until_a_write_sees_both(void **state)
{
	(void)state;
	struct keyspace *a = new_ks(), *b = new_ks();
	struct buf sa, sb;
	buf_init(&sa);
	buf_init(&sb);
	update(a, "k", NULL, R1, "from-a", 10, false, &sa);
	update(b, "k", NULL, R2, "from-b", 20, false, &sb);
	bool changed;
	assert_int_equal(
	    replica_merge(a, bytes_cstr("k"), bytes_make(sb.data, sb.len), false, &changed), 0);
	assert_true(changed);
	struct dvv d;
	load(a, "k", &d);
	assert_int_equal(d.sibling_count, 2);
	assert_true(has_value(&d, "from-a") && has_value(&d, "from-b"));
	/* A plain GET shows the LWW winner: the later timestamp. */
	const struct dvv_sibling *v = replica_visible(&d, 0);
	assert_non_null(v);
	assert_memory_equal(v->value, "from-b", 6);

	struct dvv_clock ctx = d.clock;
	dvv_deinit(&d);
	update(a, "k", &ctx, R1, "resolved", 30, false, &sa);
	load(a, "k", &d);
	assert_int_equal(d.sibling_count, 1);
	assert_true(has_value(&d, "resolved"));
	dvv_deinit(&d);

	/* b learns the resolution: its sibling was seen, so it goes. */
	assert_int_equal(
	    replica_merge(b, bytes_cstr("k"), bytes_make(sa.data, sa.len), false, &changed), 0);
	assert_true(changed);
	load(b, "k", &d);
	assert_int_equal(d.sibling_count, 1);
	assert_true(has_value(&d, "resolved"));
	dvv_deinit(&d);
	buf_deinit(&sa);
	buf_deinit(&sb);
	ks_destroy(a);
	ks_destroy(b);
}

static void test_merge_is_idempotent_and_writes_only_news(void **state)
{
	(void)state;
	struct keyspace *a = new_ks(), *b = new_ks();
	struct buf s;
	buf_init(&s);
	update(a, "k", NULL, R1, "v1", 1, false, &s);
	bool changed;
	assert_int_equal(
	    replica_merge(b, bytes_cstr("k"), bytes_make(s.data, s.len), false, &changed), 0);
	assert_true(changed);
	assert_int_equal(
	    replica_merge(b, bytes_cstr("k"), bytes_make(s.data, s.len), false, &changed), 0);
	assert_false(changed);
	/* An older state (a late message) changes nothing either. */
	struct buf s2;
	buf_init(&s2);
	struct dvv d;
	load(a, "k", &d);
	struct dvv_clock ctx = d.clock;
	dvv_deinit(&d);
	update(a, "k", &ctx, R1, "v2", 2, false, &s2);
	assert_int_equal(
	    replica_merge(b, bytes_cstr("k"), bytes_make(s2.data, s2.len), false, &changed), 0);
	assert_true(changed);
	assert_int_equal(
	    replica_merge(b, bytes_cstr("k"), bytes_make(s.data, s.len), false, &changed), 0);
	assert_false(changed);
	load(b, "k", &d);
	assert_int_equal(d.sibling_count, 1);
	assert_true(has_value(&d, "v2"));
	dvv_deinit(&d);
	buf_deinit(&s);
	buf_deinit(&s2);
	ks_destroy(a);
	ks_destroy(b);
}

/* Client writes stop at DVV_SIBLINGS_WRITE_MAX siblings; merges of what
 * was written elsewhere still join past it (up to DVV_SIBLINGS_MAX). */
static void test_writes_stop_below_the_sibling_limit_merges_do_not(void **state)
{
	(void)state;
	struct keyspace *a = new_ks(), *b = new_ks();
	struct buf s;
	buf_init(&s);
	char v[32];
	for (int i = 0; i < DVV_SIBLINGS_WRITE_MAX; i++) {
		snprintf(v, sizeof(v), "a%d", i);
		update(a, "k", NULL, R1, v, (uint64_t)i + 1, false, &s); /* blind: a sibling each */
		snprintf(v, sizeof(v), "b%d", i);
		if (i < DVV_SIBLINGS_MAX - DVV_SIBLINGS_WRITE_MAX)
			update(b, "k", NULL, R2, v, (uint64_t)i + 1, false, &s);
	}
	struct dvv_clock none;
	dvv_clock_init(&none);
	struct buf before, after;
	buf_init(&before);
	buf_init(&after);
	bool found;
	assert_int_equal(replica_read(a, bytes_cstr("k"), &before, &found), 0);
	assert_int_equal(replica_update(a, bytes_cstr("k"), &none, SELF(R1), bytes_cstr("one more"),
	                                99, 0, false, &s, NULL),
	                 ERR_LIMIT);
	assert_int_equal(replica_read(a, bytes_cstr("k"), &after, &found), 0);
	assert_memory_equal(before.data, after.data, before.len); /* nothing written */
	/* b's 36 siblings join a's 64: 100, the structural maximum. */
	struct buf sb;
	buf_init(&sb);
	assert_int_equal(replica_read(b, bytes_cstr("k"), &sb, &found), 0);
	bool changed;
	assert_int_equal(
	    replica_merge(a, bytes_cstr("k"), bytes_make(sb.data, sb.len), false, &changed), 0);
	assert_true(changed);
	struct dvv d;
	load(a, "k", &d);
	assert_int_equal(d.sibling_count, DVV_SIBLINGS_MAX);
	dvv_deinit(&d);
	buf_deinit(&s);
	buf_deinit(&sb);
	buf_deinit(&before);
	buf_deinit(&after);
	ks_destroy(a);
	ks_destroy(b);
}

static void test_lww_keeps_one_winner(void **state)
{
	(void)state;
	struct keyspace *a = new_ks(), *b = new_ks();
	struct buf sa, sb;
	buf_init(&sa);
	buf_init(&sb);
	update(a, "k", NULL, R1, "late", 200, true, &sa);
	update(b, "k", NULL, R2, "early", 100, true, &sb);
	bool changed;
	assert_int_equal(
	    replica_merge(a, bytes_cstr("k"), bytes_make(sb.data, sb.len), true, &changed), 0);
	assert_int_equal(
	    replica_merge(b, bytes_cstr("k"), bytes_make(sa.data, sa.len), true, &changed), 0);
	struct dvv da, db;
	load(a, "k", &da);
	load(b, "k", &db);
	assert_int_equal(da.sibling_count, 1);
	assert_true(has_value(&da, "late"));
	assert_true(dvv_equal(&da, &db));
	dvv_deinit(&da);
	dvv_deinit(&db);
	buf_deinit(&sa);
	buf_deinit(&sb);
	ks_destroy(a);
	ks_destroy(b);
}

/* Without a context a write supersedes every sibling the replica holds. */
static void test_write_without_context_overwrites_local_siblings(void **state)
{
	(void)state;
	struct keyspace *a = new_ks(), *b = new_ks();
	struct buf sa, sb;
	buf_init(&sa);
	buf_init(&sb);
	update(a, "k", NULL, R1, "x", 1, false, &sa);
	update(b, "k", NULL, R2, "y", 2, false, &sb);
	bool changed, visible = false;
	assert_int_equal(
	    replica_merge(a, bytes_cstr("k"), bytes_make(sb.data, sb.len), false, &changed), 0);
	assert_int_equal(replica_update(a, bytes_cstr("k"), NULL, SELF(R1), bytes_cstr("z"), 3, 0,
	                                false, &sa, &visible),
	                 0);
	assert_true(visible);
	struct dvv d;
	load(a, "k", &d);
	assert_int_equal(d.sibling_count, 1);
	assert_true(has_value(&d, "z"));
	dvv_deinit(&d);
	buf_deinit(&sa);
	buf_deinit(&sb);
	ks_destroy(a);
	ks_destroy(b);
}

static void test_tombstone_hides_the_value(void **state)
{
	(void)state;
	struct keyspace *ks = new_ks();
	struct buf s;
	buf_init(&s);
	update(ks, "k", NULL, R1, "v", 1, false, &s);
	struct dvv d;
	load(ks, "k", &d);
	struct dvv_clock ctx = d.clock;
	dvv_deinit(&d);
	assert_int_equal(replica_update(ks, bytes_cstr("k"), &ctx, SELF(R1), bytes_make(NULL, 0), 2,
	                                DVV_FLAG_TOMBSTONE, false, &s, NULL),
	                 0);
	load(ks, "k", &d);
	assert_null(replica_visible(&d, 0));
	assert_int_equal(d.sibling_count, 1);
	dvv_deinit(&d);
	buf_deinit(&s);
	ks_destroy(ks);
}

/* A stored value that is not a DVV state is reported, never replaced. */
static void test_corrupt_stored_state_is_an_error_and_kept(void **state)
{
	(void)state;
	struct keyspace *ks = new_ks();
	struct ekey k;
	ks_key_init(&k, bytes_cstr("k"));
	ks_lock(ks, k.stripe);
	assert_int_equal(ks_set(ks, &k, bytes_cstr("garbage"), 0), 0);
	assert_int_equal(ks_unlock(ks, k.stripe), 0);
	struct buf s;
	buf_init(&s);
	struct dvv_clock none;
	dvv_clock_init(&none);
	assert_int_equal(replica_update(ks, bytes_cstr("k"), &none, SELF(R1), bytes_cstr("v"), 1, 0,
	                                false, &s, NULL),
	                 ERR_PROTO);
	bool changed = true;
	assert_int_equal(
	    replica_merge(ks, bytes_cstr("k"), bytes_cstr("also garbage"), false, &changed),
	    ERR_PROTO);
	assert_false(changed);
	assert_int_equal(replica_read(ks, bytes_cstr("k"), &s, &changed), 0);
	assert_true(bytes_eq(bytes_make(s.data, s.len), bytes_cstr("garbage")));
	buf_deinit(&s);
	ks_destroy(ks);
}

/* ---- Counters ---------------------------------------------------------------- */

static int incr(struct keyspace *ks, const char *key, uint64_t replica, int64_t delta, uint64_t ts,
                bool lww, int64_t *value)
{
	struct buf out;
	buf_init(&out);
	int err = replica_incr(ks, bytes_cstr(key), SELF(replica), delta, ts, lww, &out, value);
	if (err == 0) {
		/* out is the state now stored, to send to the other replicas. */
		struct buf stored;
		buf_init(&stored);
		bool found;
		assert_int_equal(replica_read(ks, bytes_cstr(key), &stored, &found), 0);
		assert_true(
		    bytes_eq(bytes_make(out.data, out.len), bytes_make(stored.data, stored.len)));
		buf_deinit(&stored);
	}
	buf_deinit(&out);
	return err;
}

static int64_t incr_ok(struct keyspace *ks, const char *key, uint64_t replica, int64_t delta,
                       uint64_t ts, bool lww)
{
	int64_t v = 0;
	assert_int_equal(incr(ks, key, replica, delta, ts, lww, &v), 0);
	return v;
}

/* Sends from's stored state of key to to, as a replicated write does. */
static bool send(struct keyspace *from, struct keyspace *to, const char *key, bool lww)
{
	struct buf b;
	buf_init(&b);
	bool found, changed = false;
	assert_int_equal(replica_read(from, bytes_cstr(key), &b, &found), 0);
	if (found)
		assert_int_equal(
		    replica_merge(to, bytes_cstr(key), bytes_make(b.data, b.len), lww, &changed),
		    0);
	buf_deinit(&b);
	return changed;
}

/* What a plain GET of key at ks shows equals want (NULL: nothing). */
static void expect_get(struct keyspace *ks, const char *key, const char *want)
{
	struct dvv d;
	load(ks, key, &d);
	char text[REPLICA_TEXT_BYTES];
	struct bytes v;
	bool found;
	assert_int_equal(replica_value(&d, 0, text, &v, &found), 0);
	assert_int_equal(found, want != NULL);
	if (want) {
		if (!bytes_eq(v, bytes_cstr(want)))
			fail_msg("GET shows '%.*s', want '%s'", (int)v.len, (const char *)v.ptr,
			         want);
	}
	dvv_deinit(&d);
}

static uint32_t sibling_count(struct keyspace *ks, const char *key)
{
	struct dvv d;
	load(ks, key, &d);
	uint32_t n = d.sibling_count;
	dvv_deinit(&d);
	return n;
}

static void set(struct keyspace *ks, const char *key, uint64_t replica, const char *value,
                uint64_t ts, bool lww)
{
	struct buf out;
	buf_init(&out);
	assert_int_equal(replica_update(ks, bytes_cstr(key), NULL, SELF(replica), bytes_cstr(value),
	                                ts, 0, lww, &out, NULL),
	                 0);
	buf_deinit(&out);
}

static void test_incr_and_decr_at_one_replica(void **state)
{
	(void)state;
	struct keyspace *ks = new_ks();
	assert_int_equal(incr_ok(ks, "k", R1, 1, 1, false), 1);
	assert_int_equal(incr_ok(ks, "k", R1, 5, 2, false), 6);
	assert_int_equal(incr_ok(ks, "k", R1, -1, 3, false), 5);
	assert_int_equal(incr_ok(ks, "k", R1, -10, 4, false), -5);
	assert_int_equal(incr_ok(ks, "k", R1, 0, 5, false), -5);
	expect_get(ks, "k", "-5");
	struct dvv d;
	load(ks, "k", &d);
	assert_int_equal(d.sibling_count, 1);
	assert_int_equal(d.siblings[0].flags, DVV_FLAG_COUNTER);
	/* replica_visible still names the winner; its bytes are the counter's
	 * encoding, which is why a client gets replica_value instead. */
	assert_ptr_equal(replica_visible(&d, 0), &d.siblings[0]);
	char text[REPLICA_TEXT_BYTES];
	assert_true(bytes_eq(replica_sibling_value(&d.siblings[0], text), bytes_cstr("-5")));
	dvv_deinit(&d);
	ks_destroy(ks);
}

/* Two replicas increment concurrently from nothing and from one register;
 * merged either way both see the sum, in either conflict mode. */
static void test_concurrent_incrs_through_two_replicas_all_count(void **state)
{
	(void)state;
	for (int lww = 0; lww <= 1; lww++) {
		struct keyspace *a = new_ks(), *b = new_ks();
		incr_ok(a, "k", R1, 1, 10, lww);
		incr_ok(a, "k", R1, 2, 11, lww);
		incr_ok(b, "k", R2, 10, 5, lww);
		incr_ok(b, "k", R2, -1, 30, lww);
		assert_true(send(a, b, "k", lww));
		assert_true(send(b, a, "k", lww));
		expect_get(a, "k", "12");
		expect_get(b, "k", "12");
		assert_int_equal(sibling_count(a, "k"), 2);
		/* The next INCR merges both and supersedes them. */
		assert_int_equal(incr_ok(b, "k", R2, 1, 31, lww), 13);
		assert_int_equal(sibling_count(b, "k"), 1);
		assert_true(send(b, a, "k", lww));
		expect_get(a, "k", "13");
		assert_int_equal(sibling_count(a, "k"), 1);

		/* From one register: both start the same counter, its base once. */
		set(a, "r", R1, "100", 40, lww);
		assert_true(send(a, b, "r", lww));
		assert_int_equal(incr_ok(a, "r", R1, 1, 50, lww), 101);
		assert_int_equal(incr_ok(b, "r", R2, 1, 41, lww), 101);
		send(a, b, "r", lww);
		send(b, a, "r", lww);
		expect_get(a, "r", "102");
		expect_get(b, "r", "102");
		ks_destroy(a);
		ks_destroy(b);
	}
}

static void test_incr_over_an_integer_register_counts_from_it(void **state)
{
	(void)state;
	struct keyspace *ks = new_ks();
	set(ks, "k", R1, "10", 1, false);
	assert_int_equal(incr_ok(ks, "k", R1, 1, 2, false), 11);
	expect_get(ks, "k", "11");
	set(ks, "n", R1, "-9223372036854775808", 1, true);
	assert_int_equal(incr_ok(ks, "n", R1, 1, 2, true), INT64_MIN + 1);
	expect_get(ks, "n", "-9223372036854775807");
	ks_destroy(ks);
}

/* An INCR that fails writes nothing: the stored bytes stay as they were. */
static void expect_incr_refused(struct keyspace *ks, const char *key, int64_t delta, int want)
{
	struct buf before, after;
	buf_init(&before);
	buf_init(&after);
	bool found;
	assert_int_equal(replica_read(ks, bytes_cstr(key), &before, &found), 0);
	int64_t v = 12345;
	assert_int_equal(incr(ks, key, R1, delta, 99, false, &v), want);
	assert_int_equal(v, 12345);
	assert_int_equal(replica_read(ks, bytes_cstr(key), &after, &found), 0);
	assert_true(
	    bytes_eq(bytes_make(before.data, before.len), bytes_make(after.data, after.len)));
	buf_deinit(&before);
	buf_deinit(&after);
}

static void test_incr_over_a_non_integer_is_refused_unchanged(void **state)
{
	(void)state;
	struct keyspace *ks = new_ks();
	static const char *const bad[] = {
	    "abc", "", " 1", "01", "+1", "1.5", "9223372036854775808"};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		set(ks, "k", R1, bad[i], 1, false);
		expect_incr_refused(ks, "k", 1, ERR_INVALID);
		expect_get(ks, "k", bad[i]);
	}
	ks_destroy(ks);
}

static void test_incr_past_int64_is_refused_unchanged(void **state)
{
	(void)state;
	struct keyspace *ks = new_ks();
	set(ks, "k", R1, "9223372036854775807", 1, false);
	expect_incr_refused(ks, "k", 1, ERR_RANGE);
	assert_int_equal(incr_ok(ks, "k", R1, -1, 2, false), INT64_MAX - 1);
	assert_int_equal(incr_ok(ks, "k", R1, 1, 3, false), INT64_MAX); /* as a counter now */
	expect_incr_refused(ks, "k", 1, ERR_RANGE);
	expect_incr_refused(ks, "k", INT64_MAX, ERR_RANGE);
	assert_int_equal(incr_ok(ks, "k", R1, INT64_MIN, 4, false), -1);
	expect_incr_refused(ks, "k", INT64_MIN, ERR_RANGE);
	expect_get(ks, "k", "-1");

	/* Concurrent increments can merge past int64: GET shows the exact
	 * number and INCR refuses it as not an integer, as Redis would. */
	struct keyspace *a = new_ks(), *b = new_ks();
	incr_ok(a, "big", R1, INT64_MAX, 1, false);
	incr_ok(b, "big", R2, 1, 2, false);
	send(a, b, "big", false);
	expect_get(b, "big", "9223372036854775808");
	struct buf out;
	buf_init(&out);
	int64_t v;
	assert_int_equal(replica_incr(b, bytes_cstr("big"), SELF(R2), -1, 3, false, &out, &v),
	                 ERR_INVALID);
	buf_deinit(&out);
	ks_destroy(a);
	ks_destroy(b);
	ks_destroy(ks);
}

/* A late copy of an older state of the same counter changes nothing. */
static void test_merge_of_a_stale_counter_keeps_the_new_one(void **state)
{
	(void)state;
	for (int lww = 0; lww <= 1; lww++) {
		struct keyspace *a = new_ks(), *b = new_ks();
		struct buf old, cur;
		buf_init(&old);
		buf_init(&cur);
		int64_t v;
		assert_int_equal(replica_incr(a, bytes_cstr("k"), SELF(R1), 1, 1, lww, &old, &v),
		                 0);
		assert_int_equal(replica_incr(a, bytes_cstr("k"), SELF(R1), 1, 2, lww, &cur, &v),
		                 0);
		bool changed;
		assert_int_equal(
		    replica_merge(b, bytes_cstr("k"), bytes_make(cur.data, cur.len), lww, &changed),
		    0);
		assert_true(changed);
		assert_int_equal(
		    replica_merge(b, bytes_cstr("k"), bytes_make(old.data, old.len), lww, &changed),
		    0);
		assert_false(changed);
		expect_get(b, "k", "2");
		assert_int_equal(sibling_count(b, "k"), 1);
		buf_deinit(&old);
		buf_deinit(&cur);
		ks_destroy(a);
		ks_destroy(b);
	}
}

/* A SET after counters supersedes them all; DEL too, and an INCR after a
 * DEL counts from 0 again. */
static void test_set_and_del_after_incrs_supersede_the_counter(void **state)
{
	(void)state;
	for (int lww = 0; lww <= 1; lww++) {
		struct keyspace *a = new_ks(), *b = new_ks();
		incr_ok(a, "k", R1, 5, 1, lww);
		incr_ok(b, "k", R2, 7, 2, lww);
		send(b, a, "k", lww);
		expect_get(a, "k", "12");
		set(a, "k", R1, "x", 3, lww);
		expect_get(a, "k", "x");
		assert_int_equal(sibling_count(a, "k"), 1);
		assert_true(send(a, b, "k", lww));
		expect_get(b, "k", "x");
		expect_incr_refused(a, "k", 1, ERR_INVALID);
		struct buf out;
		buf_init(&out);
		assert_int_equal(replica_update(a, bytes_cstr("k"), NULL, SELF(R1),
		                                bytes_make(NULL, 0), 4, DVV_FLAG_TOMBSTONE, lww,
		                                &out, NULL),
		                 0);
		buf_deinit(&out);
		expect_get(a, "k", NULL);
		assert_int_equal(incr_ok(a, "k", R1, 1, 5, lww), 1);
		send(a, b, "k", lww);
		expect_get(b, "k", "1");
		ks_destroy(a);
		ks_destroy(b);
	}
}

/* A SET concurrent with INCRs: LWW between the register and the counter,
 * and INCRs on either side of it never mix their entries. */
static void test_set_concurrent_with_incrs_is_settled_by_lww(void **state)
{
	(void)state;
	for (int lww = 0; lww <= 1; lww++) {
		struct keyspace *a = new_ks(), *b = new_ks();
		incr_ok(a, "k", R1, 1000, 1, lww);
		send(a, b, "k", lww);
		/* b resets to 0 and counts on; a counts on the old counter. */
		set(b, "k", R2, "0", 10, lww);
		assert_int_equal(incr_ok(b, "k", R2, 1, 11, lww), 1);
		assert_int_equal(incr_ok(a, "k", R1, 1, 12, lww), 1001);
		send(a, b, "k", lww);
		send(b, a, "k", lww);
		expect_get(a, "k", "1001"); /* a's counter is later */
		expect_get(b, "k", "1001");
		/* Had b's reset come later, its counter (not a mix) would show. */
		assert_int_equal(incr_ok(b, "k", R2, 1, 13, lww), 1002);
		set(a, "k", R1, "0", 20, lww);
		assert_int_equal(incr_ok(a, "k", R1, 1, 21, lww), 1);
		assert_int_equal(incr_ok(b, "k", R2, 1, 14, lww), 1003);
		send(a, b, "k", lww);
		send(b, a, "k", lww);
		expect_get(a, "k", "1");
		expect_get(b, "k", "1");
		ks_destroy(a);
		ks_destroy(b);
	}
}

/* GETV shows each live sibling on its own: counters in decimal. */
static void test_sibling_values_render_counters_in_decimal(void **state)
{
	(void)state;
	struct keyspace *a = new_ks(), *b = new_ks(), *c = new_ks();
	incr_ok(a, "k", R1, 3, 1, false);
	incr_ok(b, "k", R2, 9, 2, false);
	set(c, "k", R3, "reg", 3, false);
	send(b, a, "k", false);
	send(c, a, "k", false);
	struct dvv d;
	load(a, "k", &d);
	assert_int_equal(d.sibling_count, 3);
	char text[REPLICA_TEXT_BYTES];
	assert_true(bytes_eq(replica_sibling_value(&d.siblings[0], text), bytes_cstr("3")));
	assert_true(bytes_eq(replica_sibling_value(&d.siblings[1], text), bytes_cstr("9")));
	assert_true(bytes_eq(replica_sibling_value(&d.siblings[2], text), bytes_cstr("reg")));
	dvv_deinit(&d);
	expect_get(a, "k", "reg"); /* the register is the LWW winner */
	ks_destroy(a);
	ks_destroy(b);
	ks_destroy(c);
}

struct rng {
	uint64_t state;
};

static uint64_t rng_next(struct rng *r)
{
	uint64_t z = (r->state += 0x9e3779b97f4a7c15ULL);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

/* One seeded history: INCRs at random replicas with skewed clocks, random
 * one-way merges; after a full exchange every replica shows the sum. */
static void random_history(uint64_t seed, bool lww)
{
	enum { REPLICAS = 3, STEPS = 600 };
	static const uint64_t ids[REPLICAS] = {R1, R2, R3};
	struct keyspace *ks[REPLICAS];
	for (int i = 0; i < REPLICAS; i++)
		ks[i] = new_ks();
	struct rng rng = {seed};
	int64_t sum = 0;
	for (int step = 0; step < STEPS; step++) {
		int i = (int)(rng_next(&rng) % REPLICAS);
		if (rng_next(&rng) % 3 == 0) {
			send(ks[i], ks[(i + 1 + (int)(rng_next(&rng) % 2)) % REPLICAS], "k", lww);
			continue;
		}
		int64_t delta = (int64_t)(rng_next(&rng) % 201) - 100;
		incr_ok(ks[i], "k", ids[i], delta, rng_next(&rng) % 1000, lww);
		sum += delta;
		if (sibling_count(ks[i], "k") > REPLICAS)
			fail_msg("seed %llu: more siblings than replicas",
			         (unsigned long long)seed);
	}
	for (int round = 0; round < 2; round++)
		for (int i = 0; i < REPLICAS; i++)
			for (int j = 0; j < REPLICAS; j++)
				if (i != j)
					send(ks[i], ks[j], "k", lww);
	char want[32];
	snprintf(want, sizeof(want), "%lld", (long long)sum);
	for (int i = 0; i < REPLICAS; i++) {
		expect_get(ks[i], "k", want);
		ks_destroy(ks[i]);
	}
}

static void test_random_incrs_and_merges_converge_to_the_sum(void **state)
{
	(void)state;
	for (uint64_t seed = 1; seed <= 20; seed++) {
		random_history(seed, false);
		random_history(seed, true);
	}
}

/* ---- Tombstone collection ------------------------------------------------ */

static void del_at(struct keyspace *ks, const char *key, struct replica_self self, uint64_t ts,
                   struct buf *out)
{
	assert_int_equal(replica_update(ks, bytes_cstr(key), NULL, self, bytes_make(NULL, 0), ts,
	                                DVV_FLAG_TOMBSTONE, false, out, NULL),
	                 0);
}

static bool collectable_at(struct keyspace *ks, const char *key, uint64_t now, uint64_t grace)
{
	struct buf b;
	buf_init(&b);
	bool yes;
	assert_int_equal(replica_read_collectable(ks, bytes_cstr(key), now, grace, &b, &yes), 0);
	buf_deinit(&b);
	return yes;
}

static void test_only_old_tombstones_are_collectable(void **state)
{
	(void)state;
	struct keyspace *a = new_ks(), *b = new_ks();
	struct buf s;
	buf_init(&s);
	assert_false(collectable_at(a, "absent", 1000, 10));
	update(a, "k", NULL, R1, "v", 100, false, &s);
	assert_false(collectable_at(a, "k", 1000, 10)); /* a value */
	del_at(a, "k", SELF(R1), 200, &s);
	assert_false(collectable_at(a, "k", 205, 10)); /* too young */
	assert_true(collectable_at(a, "k", 210, 10));
	assert_false(collectable_at(a, "k", 100, 10)); /* deleted "after" now: a clock behind */
	/* Two concurrent deletes: collectable once the newer is old. */
	update(b, "k", NULL, R2, "w", 150, false, &s);
	del_at(b, "k", SELF(R2), 300, &s);
	assert_true(send(b, a, "k", false));
	assert_int_equal(sibling_count(a, "k"), 2);
	assert_false(collectable_at(a, "k", 305, 10));
	assert_true(collectable_at(a, "k", 310, 10));
	/* A tombstone with a concurrent value is not. */
	update(b, "j", NULL, R2, "x", 150, false, &s);
	del_at(a, "j", SELF(R1), 100, &s);
	assert_true(send(b, a, "j", false));
	assert_false(collectable_at(a, "j", 100000, 10));
	buf_deinit(&s);
	ks_destroy(a);
	ks_destroy(b);
}

static void test_drop_only_the_state_that_was_checked_and_raise_the_floor(void **state)
{
	(void)state;
	struct keyspace *a = new_ks(), *b = new_ks();
	struct buf s, checked;
	buf_init(&s);
	buf_init(&checked);
	for (int i = 0; i < 5; i++)
		update(a, "k", NULL, R1, "v", 10 + i, false, &s);
	del_at(a, "k", SELF(R1), 20, &s); /* R1's sixth write of k */
	bool yes, dropped;
	assert_int_equal(replica_read_collectable(a, bytes_cstr("k"), 100, 10, &checked, &yes), 0);
	assert_true(yes);
	/* A write that lands between the check and the drop keeps the key. */
	update(b, "k", NULL, R2, "late", 30, false, &s);
	assert_true(send(b, a, "k", false));
	uint64_t floor = 3;
	assert_int_equal(replica_drop_if(a, bytes_cstr("k"), bytes_make(checked.data, checked.len),
	                                 R1, &floor, &dropped),
	                 0);
	assert_false(dropped);
	assert_int_equal(floor, 3);
	expect_get(a, "k", "late");
	/* The checked state itself is dropped, the floor raised past R1's
	 * numbers for it; a lower counter never lowers the floor. */
	del_at(a, "k", SELF(R1), 40, &s);
	assert_int_equal(replica_read_collectable(a, bytes_cstr("k"), 100, 10, &checked, &yes), 0);
	assert_true(yes);
	assert_int_equal(replica_drop_if(a, bytes_cstr("k"), bytes_make(checked.data, checked.len),
	                                 R1, &floor, &dropped),
	                 0);
	assert_true(dropped);
	assert_int_equal(floor, 7);
	bool found;
	assert_int_equal(replica_read(a, bytes_cstr("k"), &s, &found), 0);
	assert_false(found);
	floor = 100;
	update(a, "k", NULL, R1, "v", 10, false, &s);
	del_at(a, "k", SELF(R1), 20, &s);
	assert_int_equal(replica_read_collectable(a, bytes_cstr("k"), 100, 10, &checked, &yes), 0);
	assert_int_equal(replica_drop_if(a, bytes_cstr("k"), bytes_make(checked.data, checked.len),
	                                 R1, &floor, &dropped),
	                 0);
	assert_true(dropped);
	assert_int_equal(floor, 100);
	buf_deinit(&checked);
	buf_deinit(&s);
	ks_destroy(a);
	ks_destroy(b);
}

/* A client read "a" (context {R1:1}); the key was deleted and its
 * tombstone collected; another client then wrote "b". The first client's
 * write with its old context must not hide "b": without a floor, "b" would
 * take R1's number 1 again, which that context covers. */
static bool old_context_keeps_new_write(uint64_t floor_after_drop)
{
	struct keyspace *ks = new_ks();
	struct buf s;
	buf_init(&s);
	update(ks, "k", NULL, R1, "a", 1, false, &s);
	struct dvv d;
	load(ks, "k", &d);
	struct dvv_clock old = d.clock;
	dvv_deinit(&d);
	del_at(ks, "k", SELF(R1), 2, &s);
	uint64_t floor = 0;
	bool dropped;
	assert_int_equal(
	    replica_drop_if(ks, bytes_cstr("k"), bytes_make(s.data, s.len), R1, &floor, &dropped),
	    0);
	assert_true(dropped);
	assert_int_equal(floor, 2);
	struct replica_self self = {R1, floor_after_drop ? floor : 0};
	assert_int_equal(
	    replica_update(ks, bytes_cstr("k"), NULL, self, bytes_cstr("b"), 3, 0, false, &s, NULL),
	    0);
	assert_int_equal(
	    replica_update(ks, bytes_cstr("k"), &old, self, bytes_cstr("c"), 4, 0, false, &s, NULL),
	    0);
	load(ks, "k", &d);
	bool kept = has_value(&d, "b") && has_value(&d, "c");
	dvv_deinit(&d);
	buf_deinit(&s);
	ks_destroy(ks);
	return kept;
}

static void test_writes_after_a_drop_are_numbered_above_the_floor(void **state)
{
	(void)state;
	assert_true(old_context_keeps_new_write(true));
	/* The hazard the floor removes, shown by leaving it out. */
	assert_false(old_context_keeps_new_write(false));
}

/* ---- TTLs -------------------------------------------------------------------- */

static void set_ttl(struct keyspace *ks, const char *key, const struct dvv_clock *ctx,
                    uint64_t replica, const char *value, uint64_t ts, uint64_t expire_ms)
{
	struct buf out;
	buf_init(&out);
	assert_int_equal(replica_update_expiring(ks, bytes_cstr(key), ctx, SELF(replica),
	                                         bytes_cstr(value), ts, 0, expire_ms, false, &out,
	                                         NULL),
	                 0);
	buf_deinit(&out);
}

/* The value GET would show at now, as a C string; "" when none. */
static const char *shown(struct keyspace *ks, const char *key, uint64_t now, char *buf)
{
	struct dvv d;
	load(ks, key, &d);
	char text[REPLICA_TEXT_BYTES];
	struct bytes v;
	bool found;
	assert_int_equal(replica_value(&d, now, text, &v, &found), 0);
	assert_int_equal(found, replica_live_index(&d, now) >= 0);
	if (v.len)
		memcpy(buf, v.ptr, v.len);
	buf[v.len] = '\0';
	dvv_deinit(&d);
	return buf;
}

/* The expiry of the value shown at now; 0 for none (or nothing shown). */
static uint64_t shown_expiry(struct keyspace *ks, const char *key, uint64_t now)
{
	struct dvv d;
	load(ks, key, &d);
	const struct dvv_sibling *v = replica_visible(&d, now);
	uint64_t at = v ? v->expire_ms : 0;
	dvv_deinit(&d);
	return at;
}

static void test_an_expired_value_shows_nothing(void **state)
{
	(void)state;
	struct keyspace *ks = new_ks();
	char b[64];
	bool visible;
	struct buf out;
	buf_init(&out);
	set_ttl(ks, "k", NULL, R1, "v", 10, 100);
	assert_string_equal(shown(ks, "k", 99, b), "v");
	assert_int_equal(shown_expiry(ks, "k", 99), 100);
	assert_string_equal(shown(ks, "k", 100, b), "");
	assert_int_equal(shown_expiry(ks, "k", 100), 0);
	/* A write at 150 saw nothing visible; a write at 50 did. */
	assert_int_equal(replica_update(ks, bytes_cstr("k"), NULL, SELF(R1), bytes_cstr("w"), 150,
	                                0, false, &out, &visible),
	                 0);
	assert_false(visible);
	set_ttl(ks, "j", NULL, R1, "v", 10, 100);
	assert_int_equal(replica_update(ks, bytes_cstr("j"), NULL, SELF(R1), bytes_cstr("w"), 50, 0,
	                                false, &out, &visible),
	                 0);
	assert_true(visible);
	/* The new value has no expiry: SET without EX clears it. */
	assert_string_equal(shown(ks, "j", 1000, b), "w");
	buf_deinit(&out);
	ks_destroy(ks);
}

static void test_lww_with_an_expired_winner_shows_nothing_everywhere(void **state)
{
	(void)state;
	struct keyspace *a = new_ks(), *b = new_ks();
	char t[64];
	struct dvv_clock none;
	dvv_clock_init(&none);
	/* Concurrent: an older value without expiry, a newer one that expires. */
	set_ttl(a, "k", &none, R1, "old", 5, 0);
	set_ttl(b, "k", &none, R2, "new", 6, 50);
	assert_true(send(b, a, "k", false));
	assert_true(send(a, b, "k", false));
	assert_int_equal(sibling_count(a, "k"), 2);
	assert_string_equal(shown(a, "k", 40, t), "new");
	/* The winner is chosen by timestamp, not by now: once it expires the
	 * key shows nothing, not the older value, on every replica. */
	assert_string_equal(shown(a, "k", 60, t), "");
	assert_string_equal(shown(b, "k", 60, t), "");
	/* LWW keeps the same winner whatever the time. */
	struct keyspace *l = new_ks();
	set_ttl(l, "k", &none, R1, "old", 5, 0);
	struct buf st;
	buf_init(&st);
	bool found;
	assert_int_equal(replica_read(b, bytes_cstr("k"), &st, &found), 0);
	bool changed;
	assert_int_equal(
	    replica_merge(l, bytes_cstr("k"), bytes_make(st.data, st.len), true, &changed), 0);
	assert_int_equal(sibling_count(l, "k"), 1);
	assert_string_equal(shown(l, "k", 40, t), "new");
	assert_string_equal(shown(l, "k", 60, t), "");
	buf_deinit(&st);
	ks_destroy(a);
	ks_destroy(b);
	ks_destroy(l);
}

static void test_incr_keeps_the_ttl_and_counts_from_nothing_after_it(void **state)
{
	(void)state;
	struct keyspace *a = new_ks(), *b = new_ks();
	int64_t v;
	char t[64];
	set_ttl(a, "c", NULL, R1, "10", 1, 1000);
	assert_int_equal(incr(a, "c", R1, 1, 2, false, &v), 0);
	assert_int_equal(v, 11);
	assert_int_equal(shown_expiry(a, "c", 3), 1000);
	/* A concurrent increment elsewhere keeps it too; the merge shows both. */
	assert_true(send(a, b, "c", false));
	assert_int_equal(incr(b, "c", R2, 5, 3, false, &v), 0);
	assert_int_equal(incr(a, "c", R1, 1, 3, false, &v), 0);
	assert_true(send(b, a, "c", false));
	assert_string_equal(shown(a, "c", 4, t), "17");
	assert_int_equal(shown_expiry(a, "c", 4), 1000);
	assert_int_equal(incr(a, "c", R1, 1, 5, false, &v), 0);
	assert_int_equal(v, 18);
	assert_int_equal(shown_expiry(a, "c", 5), 1000);
	/* Expired: the next INCR counts from 0, without a TTL. */
	assert_int_equal(incr(a, "c", R1, 1, 1000, false, &v), 0);
	assert_int_equal(v, 1);
	assert_int_equal(shown_expiry(a, "c", 1001), 0);
	assert_string_equal(shown(a, "c", 5000, t), "1");
	/* An expired non-integer is nothing: INCR counts from 0. */
	set_ttl(a, "s", NULL, R1, "text", 1, 10);
	assert_int_equal(incr(a, "s", R1, 2, 20, false, &v), 0);
	assert_int_equal(v, 2);
	ks_destroy(a);
	ks_destroy(b);
}

static bool expire(struct keyspace *ks, const char *key, unsigned how, uint64_t at, uint64_t ts)
{
	struct buf out;
	buf_init(&out);
	bool applied;
	assert_int_equal(
	    replica_expire(ks, bytes_cstr(key), SELF(R1), how, at, ts, false, &out, &applied), 0);
	assert_int_equal(out.len == 0, !applied);
	buf_deinit(&out);
	return applied;
}

static void test_expire_and_persist_rewrite_the_visible_value(void **state)
{
	(void)state;
	struct keyspace *ks = new_ks();
	char t[64];
	struct buf s;
	buf_init(&s);
	/* Nothing visible: no write. */
	assert_false(expire(ks, "k", 0, 500, 10));
	assert_false(expire(ks, "k", REPLICA_PERSIST, 0, 10));
	bool found;
	assert_int_equal(replica_read(ks, bytes_cstr("k"), &s, &found), 0);
	assert_false(found);
	update(ks, "k", NULL, R1, "v", 5, false, &s);
	assert_false(expire(ks, "k", REPLICA_PERSIST, 0, 10)); /* no TTL */
	assert_true(expire(ks, "k", 0, 500, 10));
	assert_int_equal(shown_expiry(ks, "k", 11), 500);
	assert_string_equal(shown(ks, "k", 11, t), "v");
	assert_int_equal(sibling_count(ks, "k"), 1); /* over everything held */
	/* Redis 7's conditions; GT and LT take no TTL as infinite. */
	assert_false(expire(ks, "k", REPLICA_EXPIRE_NX, 600, 11));
	assert_true(expire(ks, "k", REPLICA_EXPIRE_XX, 600, 11));
	assert_false(expire(ks, "k", REPLICA_EXPIRE_GT, 550, 11));
	assert_true(expire(ks, "k", REPLICA_EXPIRE_LT, 550, 11));
	assert_int_equal(shown_expiry(ks, "k", 12), 550);
	assert_true(expire(ks, "k", REPLICA_PERSIST, 0, 12));
	assert_int_equal(shown_expiry(ks, "k", 12), 0);
	assert_false(expire(ks, "k", REPLICA_PERSIST, 0, 13));
	assert_false(expire(ks, "k", REPLICA_EXPIRE_GT, 700, 13));
	assert_false(expire(ks, "k", REPLICA_EXPIRE_XX, 700, 13));
	assert_true(expire(ks, "k", REPLICA_EXPIRE_LT, 700, 13));
	/* Expired: nothing to expire again. */
	assert_false(expire(ks, "k", 0, 900, 700));
	/* A time already past writes a tombstone. */
	update(ks, "p", NULL, R1, "v", 5, false, &s);
	assert_true(expire(ks, "p", 0, 20, 20));
	struct dvv d;
	load(ks, "p", &d);
	assert_int_equal(d.sibling_count, 1);
	assert_int_equal(d.siblings[0].flags, DVV_FLAG_TOMBSTONE);
	assert_null(replica_visible(&d, 20));
	dvv_deinit(&d);
	/* A counter is written back as a register with its decimal value. */
	int64_t v;
	assert_int_equal(incr(ks, "c", R1, 41, 5, false, &v), 0);
	assert_true(expire(ks, "c", 0, 100, 6));
	load(ks, "c", &d);
	assert_int_equal(d.sibling_count, 1);
	assert_int_equal(d.siblings[0].flags, DVV_FLAG_EXPIRES);
	dvv_deinit(&d);
	assert_string_equal(shown(ks, "c", 7, t), "41");
	assert_int_equal(incr(ks, "c", R1, 1, 8, false, &v), 0);
	assert_int_equal(v, 42);
	assert_int_equal(shown_expiry(ks, "c", 9), 100);
	buf_deinit(&s);
	ks_destroy(ks);
}

static void test_expired_values_are_collectable_after_the_grace(void **state)
{
	(void)state;
	struct keyspace *a = new_ks(), *b = new_ks();
	struct buf s;
	buf_init(&s);
	set_ttl(a, "k", NULL, R1, "v", 10, 100);
	assert_false(collectable_at(a, "k", 50, 10));  /* live */
	assert_false(collectable_at(a, "k", 105, 10)); /* expired 5 ms ago */
	assert_true(collectable_at(a, "k", 110, 10));
	/* Written with an expiry already past: from the write's time. */
	set_ttl(a, "p", NULL, R1, "v", 200, 100);
	assert_false(collectable_at(a, "p", 205, 10));
	assert_true(collectable_at(a, "p", 210, 10));
	/* An expired value beside a later tombstone: from the tombstone. */
	struct dvv_clock none;
	dvv_clock_init(&none);
	set_ttl(b, "k", &none, R2, "w", 20, 0);
	del_at(b, "k", SELF(R2), 300, &s);
	assert_true(send(b, a, "k", false));
	assert_int_equal(sibling_count(a, "k"), 2);
	assert_false(collectable_at(a, "k", 305, 10));
	assert_true(collectable_at(a, "k", 310, 10));
	/* Beside a live value it is not. */
	set_ttl(b, "j", &none, R2, "live", 20, 0);
	set_ttl(a, "j", &none, R1, "gone", 30, 40);
	assert_true(send(b, a, "j", false));
	assert_false(collectable_at(a, "j", 100000, 10));
	buf_deinit(&s);
	ks_destroy(a);
	ks_destroy(b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_read_of_absent_key),
	    cmocka_unit_test(test_concurrent_updates_become_siblings_until_a_write_sees_both),
	    cmocka_unit_test(test_merge_is_idempotent_and_writes_only_news),
	    cmocka_unit_test(test_lww_keeps_one_winner),
	    cmocka_unit_test(test_writes_stop_below_the_sibling_limit_merges_do_not),
	    cmocka_unit_test(test_write_without_context_overwrites_local_siblings),
	    cmocka_unit_test(test_tombstone_hides_the_value),
	    cmocka_unit_test(test_corrupt_stored_state_is_an_error_and_kept),
	    cmocka_unit_test(test_incr_and_decr_at_one_replica),
	    cmocka_unit_test(test_concurrent_incrs_through_two_replicas_all_count),
	    cmocka_unit_test(test_incr_over_an_integer_register_counts_from_it),
	    cmocka_unit_test(test_incr_over_a_non_integer_is_refused_unchanged),
	    cmocka_unit_test(test_incr_past_int64_is_refused_unchanged),
	    cmocka_unit_test(test_merge_of_a_stale_counter_keeps_the_new_one),
	    cmocka_unit_test(test_set_and_del_after_incrs_supersede_the_counter),
	    cmocka_unit_test(test_set_concurrent_with_incrs_is_settled_by_lww),
	    cmocka_unit_test(test_sibling_values_render_counters_in_decimal),
	    cmocka_unit_test(test_random_incrs_and_merges_converge_to_the_sum),
	    cmocka_unit_test(test_only_old_tombstones_are_collectable),
	    cmocka_unit_test(test_drop_only_the_state_that_was_checked_and_raise_the_floor),
	    cmocka_unit_test(test_writes_after_a_drop_are_numbered_above_the_floor),
	    cmocka_unit_test(test_an_expired_value_shows_nothing),
	    cmocka_unit_test(test_lww_with_an_expired_winner_shows_nothing_everywhere),
	    cmocka_unit_test(test_incr_keeps_the_ttl_and_counts_from_nothing_after_it),
	    cmocka_unit_test(test_expire_and_persist_rewrite_the_visible_value),
	    cmocka_unit_test(test_expired_values_are_collectable_after_the_grace),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
