/*
 * replica_test.c - a replica's local read, coordinated update and merge
 * over a real keyspace (memory engine): siblings, contexts, LWW,
 * tombstones, idempotent merges and a corrupt stored state.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "base/err.h"
#include "cluster/replica.h"

#define R1 0x1001
#define R2 0x2002

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
	assert_int_equal(replica_update(ks, bytes_cstr(key), ctx ? ctx : &none, replica,
	                                bytes_cstr(value), ts, 0, lww, out, NULL),
	                 0);
}

static bool has_value(const struct dvv *d, const char *v)
{
	for (uint32_t i = 0; i < d->sibling_count; i++)
		if (bytes_eq(bytes_make(d->siblings[i].value, d->siblings[i].value_len), bytes_cstr(v)))
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
	assert_int_equal(replica_merge(a, bytes_cstr("k"), bytes_make(sb.data, sb.len), false,
	                               &changed),
	                 0);
	assert_true(changed);
	struct dvv d;
	load(a, "k", &d);
	assert_int_equal(d.sibling_count, 2);
	assert_true(has_value(&d, "from-a") && has_value(&d, "from-b"));
	/* A plain GET shows the LWW winner: the later timestamp. */
	const struct dvv_sibling *v = replica_visible(&d);
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
	assert_int_equal(replica_merge(b, bytes_cstr("k"), bytes_make(sa.data, sa.len), false,
	                               &changed),
	                 0);
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
	assert_int_equal(replica_merge(b, bytes_cstr("k"), bytes_make(s.data, s.len), false, &changed),
	                 0);
	assert_true(changed);
	assert_int_equal(replica_merge(b, bytes_cstr("k"), bytes_make(s.data, s.len), false, &changed),
	                 0);
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
	assert_int_equal(replica_merge(b, bytes_cstr("k"), bytes_make(s.data, s.len), false, &changed),
	                 0);
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
	assert_int_equal(replica_update(a, bytes_cstr("k"), NULL, R1, bytes_cstr("z"), 3, 0, false,
	                                &sa, &visible),
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
	assert_int_equal(replica_update(ks, bytes_cstr("k"), &ctx, R1, bytes_make(NULL, 0), 2,
	                                DVV_FLAG_TOMBSTONE, false, &s, NULL),
	                 0);
	load(ks, "k", &d);
	assert_null(replica_visible(&d));
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
	assert_int_equal(replica_update(ks, bytes_cstr("k"), &none, R1, bytes_cstr("v"), 1, 0,
	                                false, &s, NULL),
	                 ERR_PROTO);
	bool changed = true;
	assert_int_equal(replica_merge(ks, bytes_cstr("k"), bytes_cstr("also garbage"), false,
	                               &changed),
	                 ERR_PROTO);
	assert_false(changed);
	assert_int_equal(replica_read(ks, bytes_cstr("k"), &s, &changed), 0);
	assert_true(bytes_eq(bytes_make(s.data, s.len), bytes_cstr("garbage")));
	buf_deinit(&s);
	ks_destroy(ks);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_read_of_absent_key),
	    cmocka_unit_test(test_concurrent_updates_become_siblings_until_a_write_sees_both),
	    cmocka_unit_test(test_merge_is_idempotent_and_writes_only_news),
	    cmocka_unit_test(test_lww_keeps_one_winner),
	    cmocka_unit_test(test_write_without_context_overwrites_local_siblings),
	    cmocka_unit_test(test_tombstone_hides_the_value),
	    cmocka_unit_test(test_corrupt_stored_state_is_an_error_and_kept),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
