/*
 * engine_lsm_test.c - the durable engine through the keyspace, as the
 * server uses it: changes pending until ks_unlock, one batch per command,
 * nothing applied when a read or the write fails, exact counts and expiry
 * index across reopen, scans in hash order, flush.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "base/err.h"
#include "base/limits.h"
#include "engine/engine_lsm.h"
#include "env/env_fs_mem.h"
#include "keyspace/keyspace.h"

#define DIR "db"

struct fixture {
	struct env_fs_mem fs;
	struct log log;
	struct keyspace *ks;
};

static void open_ks(struct fixture *f)
{
	struct lsm_options o = {.sync = LSM_SYNC_ALWAYS, .memtable_bytes = 64 * 1024, .seed = 7,
	                       .block_cache_bytes = 1}; /* no block outlives its read */
	struct engine *e;
	struct engine_lsm_open_info info;
	assert_int_equal(
	    engine_lsm_open(DIR, &f->fs.base, &o, KEYSPACE_STRIPES, &f->log, &e, &info), 0);
	f->ks = ks_create(e);
	assert_non_null(f->ks);
}

static int setup(void **state)
{
	static struct fixture f;
	memset(&f, 0, sizeof(f));
	env_fs_mem_init(&f.fs, 1);
	assert_int_equal(f.fs.base.ops->mkdir(&f.fs.base, DIR), 0);
	log_open(&f.log, NULL, LOG_WARNING);
	f.log.role = 'T';
	open_ks(&f);
	*state = &f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;
	ks_destroy(f->ks);
	env_fs_mem_deinit(&f->fs);
	return 0;
}

static void reopen(struct fixture *f)
{
	ks_destroy(f->ks);
	open_ks(f);
}

static struct ekey key_of(const char *s)
{
	struct ekey k;
	ks_key_init(&k, bytes_cstr(s));
	return k;
}

/* One command: SET name value [expire], then unlock. Returns unlock's rc. */
static int set1(struct fixture *f, const char *name, const char *value, int64_t expire_ms)
{
	struct ekey k = key_of(name);
	ks_lock(f->ks, k.stripe);
	assert_int_equal(ks_set(f->ks, &k, bytes_cstr(value), expire_ms), 0);
	return ks_unlock(f->ks, k.stripe);
}

/* GET in a command of its own: 0 with the value copied out, or the error. */
static int get1(struct fixture *f, const char *name, char *out, size_t cap)
{
	struct ekey k = key_of(name);
	struct bytes v;
	struct entry_meta m;
	ks_lock(f->ks, k.stripe);
	int rc = ks_get(f->ks, &k, 1, &v, &m);
	if (rc == 0) {
		assert_true(v.len < cap);
		memcpy(out, v.ptr, v.len);
		out[v.len] = 0;
	}
	int end = ks_unlock(f->ks, k.stripe);
	return rc ? rc : end;
}

static void test_changes_are_pending_until_unlock_and_survive_reopen(void **state)
{
	struct fixture *f = *state;
	struct ekey a = key_of("a"), b = key_of("b");
	struct ks_lockset ls;
	ks_lockset_clear(&ls);
	ks_lockset_add(&ls, a.stripe);
	ks_lockset_add(&ls, b.stripe);
	ks_lock_set(f->ks, &ls);
	assert_int_equal(ks_set(f->ks, &a, bytes_cstr("1"), 0), 0);
	assert_int_equal(ks_set(f->ks, &b, bytes_cstr("2"), INT64_MAX / 2), 0);
	struct bytes v;
	struct entry_meta m;
	assert_int_equal(ks_get(f->ks, &a, 1, &v, &m), 0); /* the command sees its own write */
	assert_true(bytes_eq(v, bytes_cstr("1")));
	assert_int_equal(ks_count(f->ks, &ls), 2);
	assert_int_equal(ks_del(f->ks, &a, 1), 0);
	assert_int_equal(ks_get(f->ks, &a, 1, &v, &m), ERR_NOT_FOUND);
	assert_int_equal(ks_unlock_set(f->ks, &ls), 0);
	assert_int_equal(ks_count(f->ks, NULL), 1);
	assert_int_equal(ks_volatile_count(f->ks), 1);
	reopen(f);
	char buf[16];
	assert_int_equal(get1(f, "a", buf, sizeof(buf)), ERR_NOT_FOUND);
	assert_int_equal(get1(f, "b", buf, sizeof(buf)), 0);
	assert_string_equal(buf, "2");
	assert_int_equal(ks_count(f->ks, NULL), 1);
	assert_int_equal(ks_volatile_count(f->ks), 1);
}

static void test_counts_follow_overwrites_deletes_and_flushes(void **state)
{
	struct fixture *f = *state;
	char name[32];
	for (int round = 0; round < 2; round++) /* the second round overwrites */
		for (int i = 0; i < 3000; i++) {
			snprintf(name, sizeof(name), "k%d", i);
			assert_int_equal(set1(f, name, "some value of a few bytes", 0), 0);
		}
	assert_int_equal(ks_count(f->ks, NULL), 3000);
	assert_int_equal(lsm_flush(engine_lsm_store(ks_engine(f->ks))), 0);
	for (int i = 0; i < 3000; i += 2) {
		snprintf(name, sizeof(name), "k%d", i);
		struct ekey k = key_of(name);
		ks_lock(f->ks, k.stripe);
		assert_int_equal(ks_del(f->ks, &k, 1), 0);
		assert_int_equal(ks_unlock(f->ks, k.stripe), 0);
	}
	struct ekey none = key_of("never-written");
	ks_lock(f->ks, none.stripe);
	assert_int_equal(ks_del(f->ks, &none, 1), ERR_NOT_FOUND);
	assert_int_equal(ks_unlock(f->ks, none.stripe), 0);
	assert_int_equal(ks_count(f->ks, NULL), 1500);
	reopen(f);
	assert_int_equal(ks_count(f->ks, NULL), 1500);
	assert_int_equal(ks_flush(f->ks, NULL), 0);
	assert_int_equal(ks_count(f->ks, NULL), 0);
	reopen(f);
	assert_int_equal(ks_count(f->ks, NULL), 0);
}

struct seen {
	int hits[4000];
	int other;
};

static void count_visit(void *ctx, struct bytes key, const struct entry_meta *meta)
{
	(void)meta;
	struct seen *s = ctx;
	int i;
	char buf[32];
	snprintf(buf, sizeof(buf), "%.*s", (int)key.len, (const char *)key.ptr);
	if (sscanf(buf, "s%d", &i) == 1 && i >= 0 && i < 4000)
		s->hits[i]++;
	else
		s->other++;
}

static void test_scan_visits_each_key_once_in_memtable_and_tables(void **state)
{
	struct fixture *f = *state;
	char name[32];
	for (int i = 0; i < 4000; i++) {
		snprintf(name, sizeof(name), "s%d", i);
		assert_int_equal(set1(f, name, "v", 0), 0);
		if (i == 2000)
			assert_int_equal(lsm_flush(engine_lsm_store(ks_engine(f->ks))), 0);
	}
	static struct seen s;
	memset(&s, 0, sizeof(s));
	uint64_t cursor = 0;
	int steps = 0;
	do {
		int err;
		cursor = ks_scan(f->ks, NULL, cursor, 1, count_visit, &s, &err);
		assert_int_equal(err, 0);
		assert_true(++steps < 100000);
	} while (cursor != 0);
	for (int i = 0; i < 4000; i++)
		assert_int_equal(s.hits[i], 1);
	assert_int_equal(s.other, 0);
	uint8_t key[64];
	int64_t n = ks_random_key(f->ks, NULL, 42, 1, key, sizeof(key));
	assert_true(n > 1 && key[0] == 's');
}

static void test_active_expiry_deletes_durably(void **state)
{
	struct fixture *f = *state;
	char name[32];
	for (int i = 0; i < 500; i++) {
		snprintf(name, sizeof(name), "e%d", i);
		assert_int_equal(set1(f, name, "v", 1000), 0); /* expires at 1 s */
	}
	assert_int_equal(set1(f, "stay", "v", 0), 0);
	assert_int_equal(ks_volatile_count(f->ks), 500);
	uint64_t gone = 0;
	for (int i = 0; i < 200 && ks_volatile_count(f->ks); i++)
		gone += ks_active_expire(f->ks, 0, 1, 2000, 1000000, (uint64_t)i + 1);
	assert_int_equal(gone, 500);
	assert_int_equal(ks_volatile_count(f->ks), 0);
	assert_int_equal(ks_count(f->ks, NULL), 1);
	reopen(f);
	assert_int_equal(ks_count(f->ks, NULL), 1);
	assert_int_equal(ks_volatile_count(f->ks), 0);
}

static void test_failed_write_applies_nothing_and_reads_go_on(void **state)
{
	struct fixture *f = *state;
	assert_int_equal(set1(f, "x", "old", 0), 0);
	struct env_fs_mem_fault fault = {.op = ENV_FS_OP_APPEND, .nth = 1, .err = ERR_NOSPACE,
	                                 .sticky = true};
	env_fs_mem_inject(&f->fs, &fault);
	struct ekey x = key_of("x"), y = key_of("y");
	struct ks_lockset ls;
	ks_lockset_clear(&ls);
	ks_lockset_add(&ls, x.stripe);
	ks_lockset_add(&ls, y.stripe);
	ks_lock_set(f->ks, &ls);
	assert_int_equal(ks_set(f->ks, &x, bytes_cstr("new"), 0), 0);
	assert_int_equal(ks_set(f->ks, &y, bytes_cstr("new"), 0), 0);
	assert_int_equal(ks_unlock_set(f->ks, &ls), ERR_NOSPACE);
	char buf[16];
	assert_int_equal(get1(f, "x", buf, sizeof(buf)), 0);
	assert_string_equal(buf, "old");
	assert_int_equal(get1(f, "y", buf, sizeof(buf)), ERR_NOT_FOUND);
	assert_int_equal(ks_count(f->ks, NULL), 1);
	struct env_fs_mem_fault none = {0};
	env_fs_mem_inject(&f->fs, &none);
	reopen(f); /* a failed store writes again once reopened */
	assert_int_equal(set1(f, "y", "new", 0), 0);
	assert_int_equal(ks_count(f->ks, NULL), 2);
}

static void test_read_error_fails_the_command(void **state)
{
	struct fixture *f = *state;
	char name[32];
	for (int i = 0; i < 200; i++) {
		snprintf(name, sizeof(name), "r%d", i);
		assert_int_equal(set1(f, name, "value value value value", 0), 0);
	}
	assert_int_equal(lsm_flush(engine_lsm_store(ks_engine(f->ks))), 0);
	reopen(f); /* no cached blocks */
	struct env_fs_mem_fault fault = {.op = ENV_FS_OP_READ, .nth = 1, .err = ERR_IO,
	                                 .sticky = true};
	env_fs_mem_inject(&f->fs, &fault);
	struct ekey k = key_of("r7"), w = key_of("written-by-the-same-command");
	struct ks_lockset ls;
	ks_lockset_clear(&ls);
	ks_lockset_add(&ls, k.stripe);
	ks_lockset_add(&ls, w.stripe);
	ks_lock_set(f->ks, &ls);
	struct bytes v;
	struct entry_meta m;
	assert_int_equal(ks_get(f->ks, &k, 1, &v, &m), ERR_IO);
	(void)ks_set(f->ks, &w, bytes_cstr("v"), 0);
	assert_int_equal(ks_unlock_set(f->ks, &ls), ERR_IO);
	struct env_fs_mem_fault none = {0};
	env_fs_mem_inject(&f->fs, &none);
	char buf[64];
	assert_int_equal(get1(f, "written-by-the-same-command", buf, sizeof(buf)), ERR_NOT_FOUND);
	assert_int_equal(get1(f, "r7", buf, sizeof(buf)), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_changes_are_pending_until_unlock_and_survive_reopen,
	                                    setup, teardown),
	    cmocka_unit_test_setup_teardown(test_counts_follow_overwrites_deletes_and_flushes, setup,
	                                    teardown),
	    cmocka_unit_test_setup_teardown(test_scan_visits_each_key_once_in_memtable_and_tables,
	                                    setup, teardown),
	    cmocka_unit_test_setup_teardown(test_active_expiry_deletes_durably, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_failed_write_applies_nothing_and_reads_go_on, setup,
	                                    teardown),
	    cmocka_unit_test_setup_teardown(test_read_error_fails_the_command, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
