/*
 * keyspace_test.c - the keyspace over the memory engine: passive and
 * active expiry, versions, WATCH, SCAN across stripes and resizes, locksets.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "base/err.h"
#include "env/env.h"
#include "keyspace/keyspace.h"

static struct keyspace *new_ks(void)
{
	struct engine *e = engine_mem_create(KEYSPACE_STRIPES);
	assert_non_null(e);
	struct keyspace *ks = ks_create(e);
	assert_non_null(ks);
	return ks;
}

static void key_of(struct ekey *k, char *buf, size_t cap, uint64_t i)
{
	int n = snprintf(buf, cap, "key:%llu", (unsigned long long)i);
	ks_key_init(k, bytes_make(buf, (size_t)n));
}

/* Sets a key, taking its stripe lock as a command would. */
static void put(struct keyspace *ks, const char *key, const char *val, int64_t expire_ms)
{
	struct ekey k;
	ks_key_init(&k, bytes_cstr(key));
	ks_lock(ks, k.stripe);
	assert_int_equal(ks_set(ks, &k, bytes_cstr(val), expire_ms), 0);
	ks_unlock(ks, k.stripe);
}

static int get(struct keyspace *ks, const char *key, int64_t now_ms, struct entry_meta *meta)
{
	struct ekey k;
	struct bytes v;
	ks_key_init(&k, bytes_cstr(key));
	ks_lock(ks, k.stripe);
	int rc = ks_get(ks, &k, now_ms, &v, meta);
	ks_unlock(ks, k.stripe);
	return rc;
}

static void test_get_returns_what_was_set_with_increasing_versions(void **state)
{
	struct keyspace *ks = new_ks();
	struct entry_meta m1, m2;
	put(ks, "a", "1", 0);
	assert_int_equal(get(ks, "a", 1000, &m1), 0);
	put(ks, "a", "2", 0);
	assert_int_equal(get(ks, "a", 1000, &m2), 0);
	assert_true(m2.version > m1.version);
	assert_int_equal(m2.expire_ms, 0);
	assert_int_equal(get(ks, "missing", 1000, &m1), ERR_NOT_FOUND);
	ks_destroy(ks);
}

static void test_passive_expiry_hides_and_deletes_at_the_expiry_millisecond(void **state)
{
	struct keyspace *ks = new_ks();
	struct entry_meta m;
	put(ks, "k", "v", 5000);
	assert_int_equal(get(ks, "k", 4999, &m), 0);
	assert_int_equal(m.expire_ms, 5000);
	assert_int_equal(ks_count(ks, NULL), 1);
	/* At expire_ms exactly the key is gone (Redis: expired when now > when
	 * - 0, i.e. when <= now). */
	assert_int_equal(get(ks, "k", 5000, &m), ERR_NOT_FOUND);
	assert_int_equal(ks_count(ks, NULL), 0);
	struct ks_stats st;
	ks_stats(ks, 5000, &st);
	assert_int_equal(st.expired_keys, 1);
	ks_destroy(ks);
}

static void test_active_expiry_removes_untouched_expired_keys(void **state)
{
	struct keyspace *ks = new_ks();
	char buf[32];
	for (uint64_t i = 0; i < 20000; i++) {
		struct ekey k;
		key_of(&k, buf, sizeof(buf), i);
		ks_lock(ks, k.stripe);
		/* Half expire at 1000, a quarter never, a quarter later. */
		int64_t exp = i % 2 == 0 ? 1000 : (i % 4 == 1 ? 0 : 100000);
		assert_int_equal(ks_set(ks, &k, bytes_cstr("v"), exp), 0);
		ks_unlock(ks, k.stripe);
	}
	assert_int_equal(ks_volatile_count(ks), 15000);
	/* Repeated cycles, as the loops run them, converge to the live set. */
	uint64_t expired = 0;
	for (int round = 0; round < 200 && ks_count(ks, NULL) > 10000; round++)
		expired += ks_active_expire(ks, 0, 1, 2000, 25000, (uint64_t)round);
	assert_int_equal(ks_count(ks, NULL), 10000);
	assert_int_equal(expired, 10000);
	assert_int_equal(ks_volatile_count(ks), 5000);
	ks_destroy(ks);
}

static void test_active_expiry_respects_its_time_budget(void **state)
{
	struct keyspace *ks = new_ks();
	char buf[32];
	for (uint64_t i = 0; i < 200000; i++) {
		struct ekey k;
		key_of(&k, buf, sizeof(buf), i);
		ks_lock(ks, k.stripe);
		assert_int_equal(ks_set(ks, &k, bytes_cstr("v"), 1000), 0);
		ks_unlock(ks, k.stripe);
	}
	uint64_t start = env_mono_us();
	uint64_t expired = ks_active_expire(ks, 0, 1, 2000, 2000, 7);
	uint64_t took = env_mono_us() - start;
	assert_true(expired > 0);
	assert_true(expired < 200000);
	/* 2 ms budget; allow generous slack for a slow or loaded machine. */
	assert_true(took < 50000);
	ks_destroy(ks);
}

static void test_set_expire_and_delete_of_expired_key_report_not_found(void **state)
{
	struct keyspace *ks = new_ks();
	struct ekey k;
	ks_key_init(&k, bytes_cstr("x"));
	ks_lock(ks, k.stripe);
	assert_int_equal(ks_set(ks, &k, bytes_cstr("v"), 100), 0);
	assert_int_equal(ks_set_expire(ks, &k, 50, 500), 0);
	assert_int_equal(ks_del(ks, &k, 600), ERR_NOT_FOUND);
	assert_int_equal(ks_set_expire(ks, &k, 600, 900), ERR_NOT_FOUND);
	ks_unlock(ks, k.stripe);
	ks_destroy(ks);
}

static void test_watch_is_dirtied_by_write_delete_and_expiry_only_of_its_key(void **state)
{
	struct keyspace *ks = new_ks();
	struct ks_watcher w;
	ks_watcher_init(&w);
	struct ekey k;
	ks_key_init(&k, bytes_cstr("watched"));
	put(ks, "watched", "1", 0);
	ks_lock(ks, k.stripe);
	assert_int_equal(ks_watch(ks, &k, &w), 0);
	assert_int_equal(ks_watch(ks, &k, &w), 0); /* twice is once */
	ks_unlock(ks, k.stripe);
	assert_int_equal(w.key_count, 1);
	put(ks, "other", "x", 0);
	assert_false(atomic_load(&w.dirty));
	put(ks, "watched", "2", 0);
	assert_true(atomic_load(&w.dirty));
	ks_unwatch_all(ks, &w);
	assert_false(atomic_load(&w.dirty));
	assert_int_equal(w.key_count, 0);

	/* Expiry found at EXEC time dirties too. */
	put(ks, "watched", "3", 1000);
	ks_lock(ks, k.stripe);
	assert_int_equal(ks_watch(ks, &k, &w), 0);
	ks_watch_expire_check(ks, &w, 500);
	assert_false(atomic_load(&w.dirty));
	ks_watch_expire_check(ks, &w, 1500);
	assert_true(atomic_load(&w.dirty));
	ks_unlock(ks, k.stripe);
	ks_unwatch_all(ks, &w);

	/* FLUSHALL dirties watchers of keys that existed, not of absent ones. */
	struct ks_watcher w2;
	ks_watcher_init(&w2);
	struct ekey absent;
	ks_key_init(&absent, bytes_cstr("absent"));
	ks_lock(ks, absent.stripe);
	assert_int_equal(ks_watch(ks, &absent, &w2), 0);
	ks_unlock(ks, absent.stripe);
	put(ks, "watched", "4", 0);
	ks_lock(ks, k.stripe);
	assert_int_equal(ks_watch(ks, &k, &w), 0);
	ks_unlock(ks, k.stripe);
	ks_flush(ks, NULL);
	assert_true(atomic_load(&w.dirty));
	assert_false(atomic_load(&w2.dirty));
	ks_unwatch_all(ks, &w);
	ks_unwatch_all(ks, &w2);
	ks_destroy(ks);
}

struct seen {
	uint8_t *hits;
	uint64_t n;
};

static void count_visit(void *ctx, struct bytes key, const struct entry_meta *meta)
{
	struct seen *s = ctx;
	unsigned long long i;
	char tmp[40];
	memcpy(tmp, key.ptr, key.len);
	tmp[key.len] = '\0';
	if (sscanf(tmp, "key:%llu", &i) == 1 && i < s->n)
		s->hits[i] = 1;
}

static void test_scan_sees_every_key_present_throughout_despite_growth(void **state)
{
	struct keyspace *ks = new_ks();
	enum { BASE = 30000, EXTRA = 60000 };
	char buf[32];
	for (uint64_t i = 0; i < BASE; i++) {
		struct ekey k;
		key_of(&k, buf, sizeof(buf), i);
		ks_lock(ks, k.stripe);
		assert_int_equal(ks_set(ks, &k, bytes_cstr("v"), 0), 0);
		ks_unlock(ks, k.stripe);
	}
	static uint8_t hits[BASE + EXTRA];
	memset(hits, 0, sizeof(hits));
	struct seen s = {hits, BASE};
	uint64_t cursor = 0, added = BASE, steps = 0;
	do {
		int err;
		cursor = ks_scan(ks, NULL, cursor, 0, count_visit, &s, &err);
		assert_int_equal(err, 0);
		/* Grow the table between steps so stripes resize mid-scan. */
		for (int j = 0; j < 100 && added < BASE + EXTRA; j++, added++) {
			struct ekey k;
			key_of(&k, buf, sizeof(buf), added);
			ks_lock(ks, k.stripe);
			assert_int_equal(ks_set(ks, &k, bytes_cstr("v"), 0), 0);
			ks_unlock(ks, k.stripe);
		}
		steps++;
		assert_true(steps < 10000000);
	} while (cursor != 0);
	for (uint64_t i = 0; i < BASE; i++)
		if (!hits[i])
			fail_msg("key:%llu was never returned by the scan", (unsigned long long)i);
	ks_destroy(ks);
}

static void test_random_key_finds_the_only_key_and_nothing_when_empty(void **state)
{
	struct keyspace *ks = new_ks();
	uint8_t out[64];
	assert_int_equal(ks_random_key(ks, NULL, 1, 0, out, sizeof(out)), -1);
	put(ks, "lonely", "v", 0);
	for (uint64_t seed = 0; seed < 20; seed++) {
		int64_t n = ks_random_key(ks, NULL, seed, 0, out, sizeof(out));
		assert_int_equal(n, 6);
		assert_memory_equal(out, "lonely", 6);
	}
	assert_int_equal(ks_random_key(ks, NULL, 1, 0, out, 3), ERR_LIMIT);
	put(ks, "lonely", "v", 10); /* now expired at t=10 */
	assert_int_equal(ks_random_key(ks, NULL, 1, 20, out, sizeof(out)), -1);
	ks_destroy(ks);
}

static void test_put_keeps_prefix_when_extending_in_place(void **state)
{
	struct keyspace *ks = new_ks();
	struct ekey k;
	ks_key_init(&k, bytes_cstr("grow"));
	ks_lock(ks, k.stripe);
	assert_int_equal(ks_set(ks, &k, bytes_cstr("abc"), 0), 0);
	for (int i = 0; i < 1000; i++) {
		uint8_t *dst;
		size_t old_len = 3 + (size_t)i;
		assert_int_equal(ks_put(ks, &k, old_len + 1, old_len, 0, &dst), 0);
		dst[old_len] = 'x';
	}
	struct bytes v;
	struct entry_meta m;
	assert_int_equal(ks_get(ks, &k, 0, &v, &m), 0);
	assert_int_equal(v.len, 1003);
	assert_memory_equal(v.ptr, "abcxxx", 6);
	assert_int_equal(v.ptr[1002], 'x');
	ks_unlock(ks, k.stripe);
	ks_destroy(ks);
}

static void test_lockset_locks_and_unlocks_every_member(void **state)
{
	struct keyspace *ks = new_ks();
	struct ks_lockset ls;
	ks_lockset_clear(&ls);
	ks_lockset_add(&ls, 3);
	ks_lockset_add(&ls, 200);
	ks_lockset_add(&ls, 64);
	ks_lock_set(ks, &ls);
	ks_unlock_set(ks, &ls);
	ls.all = true;
	ks_lock_set(ks, &ls);
	/* With every stripe held, whole-keyspace calls must not relock. */
	assert_int_equal(ks_count(ks, &ls), 0);
	ks_flush(ks, &ls);
	ks_unlock_set(ks, &ls);
	ks_destroy(ks);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_get_returns_what_was_set_with_increasing_versions),
	    cmocka_unit_test(test_passive_expiry_hides_and_deletes_at_the_expiry_millisecond),
	    cmocka_unit_test(test_active_expiry_removes_untouched_expired_keys),
	    cmocka_unit_test(test_active_expiry_respects_its_time_budget),
	    cmocka_unit_test(test_set_expire_and_delete_of_expired_key_report_not_found),
	    cmocka_unit_test(test_watch_is_dirtied_by_write_delete_and_expiry_only_of_its_key),
	    cmocka_unit_test(test_scan_sees_every_key_present_throughout_despite_growth),
	    cmocka_unit_test(test_random_key_finds_the_only_key_and_nothing_when_empty),
	    cmocka_unit_test(test_put_keeps_prefix_when_extending_in_place),
	    cmocka_unit_test(test_lockset_locks_and_unlocks_every_member),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
