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
#include "base/hash.h"
#include "base/limits.h"
#include "engine/engine_lsm.h"
#include "env/env_fs_mem.h"
#include "keyspace/keyspace.h"

#define DIR "db"

/* The row cache under test: none, one too small for the data (stripes
 * fall out of completeness), or one that holds everything. The whole suite
 * runs once with each (main). */
static uint64_t row_cache_bytes;

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
	    engine_lsm_open(DIR, &f->fs.base, &o, row_cache_bytes, KEYSPACE_STRIPES, &f->log, &e, &info),
	    0);
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
	if (row_cache_bytes)
		skip(); /* the reads are served from the cache: no I/O to fail */
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

#define PARTS 16
#define PART_KEYS 3000

static uint64_t part_lo(int p)
{
	return (uint64_t)p << 60;
}

static uint64_t part_hi(int p)
{
	return p == PARTS - 1 ? UINT64_MAX : ((uint64_t)(p + 1) << 60) - 1;
}

struct part_check {
	int p;
	uint64_t n, last_hash;
	bool ordered, in_range;
};

static int part_visit(void *ctx, const struct engine_lsm_part_entry *ent)
{
	struct part_check *pc = ctx;
	uint64_t h = hash_bytes(ent->key.ptr, ent->key.len);
	pc->in_range &= h == ent->hash && h >= part_lo(pc->p) && h <= part_hi(pc->p);
	pc->ordered &= pc->n == 0 || h >= pc->last_hash;
	pc->last_hash = h;
	pc->n++;
	return 0;
}

/* Writes the same content in a given order, flushing at one point. */
static void write_content(struct fixture *f, bool reverse, int flush_at)
{
	char name[32];
	static char big[6000];
	memset(big, 'b', sizeof(big) - 1);
	for (int j = 0; j < PART_KEYS; j++) {
		int i = reverse ? PART_KEYS - 1 - j : j;
		snprintf(name, sizeof(name), "p%d", i);
		assert_int_equal(set1(f, name, i % 500 == 0 ? big : name, i % 7 ? 0 : INT64_MAX / 4),
		                 0);
		if (j == flush_at)
			assert_int_equal(lsm_flush(engine_lsm_store(ks_engine(f->ks))), 0);
	}
}

static void test_partitions_scan_count_hash_and_drop(void **state)
{
	struct fixture *f = *state;
	write_content(f, false, 1000);
	struct engine *e = ks_engine(f->ks);
	uint64_t total = 0, hashes[PARTS];
	for (int p = 0; p < PARTS; p++) {
		struct part_check pc = {p, 0, 0, true, true};
		assert_int_equal(engine_lsm_partition_scan(e, part_lo(p), part_hi(p), false,
		                                           part_visit, &pc),
		                 0);
		assert_true(pc.ordered && pc.in_range);
		uint64_t n;
		assert_int_equal(engine_lsm_partition_count(e, part_lo(p), part_hi(p), &n), 0);
		assert_int_equal(n, pc.n);
		total += n;
		assert_int_equal(engine_lsm_partition_hash(e, part_lo(p), part_hi(p), &hashes[p]), 0);
	}
	assert_int_equal(total, PART_KEYS);

	/* The same content written in another order, flushed elsewhere, with
	 * blobs in other files: the same digests. */
	struct fixture g;
	memset(&g, 0, sizeof(g));
	env_fs_mem_init(&g.fs, 2);
	assert_int_equal(g.fs.base.ops->mkdir(&g.fs.base, DIR), 0);
	g.log = f->log;
	open_ks(&g);
	write_content(&g, true, 2500);
	for (int p = 0; p < PARTS; p++) {
		uint64_t h;
		assert_int_equal(
		    engine_lsm_partition_hash(ks_engine(g.ks), part_lo(p), part_hi(p), &h), 0);
		assert_true(h == hashes[p]);
	}
	assert_int_equal(set1(&g, "p1", "changed", 0), 0);
	uint64_t h1 = hash_bytes("p1", 2);
	int p1 = (int)(h1 >> 60);
	uint64_t changed;
	assert_int_equal(
	    engine_lsm_partition_hash(ks_engine(g.ks), part_lo(p1), part_hi(p1), &changed), 0);
	assert_true(changed != hashes[p1]);
	ks_destroy(g.ks);
	env_fs_mem_deinit(&g.fs);

	/* Drop one partition (its stripes held): only its keys go. */
	int victim = 5;
	uint64_t before;
	assert_int_equal(engine_lsm_partition_count(e, part_lo(victim), part_hi(victim), &before),
	                 0);
	struct ks_lockset ls;
	ks_lockset_clear(&ls);
	for (unsigned s = (unsigned)(part_lo(victim) >> 56); s <= (unsigned)(part_hi(victim) >> 56);
	     s++)
		ks_lockset_add(&ls, s);
	ks_lock_set(f->ks, &ls);
	uint64_t dropped;
	assert_int_equal(engine_lsm_partition_drop(e, part_lo(victim), part_hi(victim), &dropped), 0);
	assert_int_equal(ks_unlock_set(f->ks, &ls), 0);
	assert_int_equal(dropped, before);
	assert_int_equal(ks_count(f->ks, NULL), PART_KEYS - before);
	reopen(f);
	e = ks_engine(f->ks);
	uint64_t n;
	assert_int_equal(engine_lsm_partition_count(e, part_lo(victim), part_hi(victim), &n), 0);
	assert_int_equal(n, 0);
	assert_int_equal(ks_count(f->ks, NULL), PART_KEYS - before);
	for (int p = 0; p < PARTS; p++) {
		uint64_t h;
		assert_int_equal(engine_lsm_partition_hash(e, part_lo(p), part_hi(p), &h), 0);
		if (p != victim)
			assert_true(h == hashes[p]);
	}
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
	    cmocka_unit_test_setup_teardown(test_partitions_scan_count_hash_and_drop, setup,
	                                    teardown),
	};
	static const uint64_t sizes[] = {0, 64 * 1024, 64 * 1024 * 1024};
	int failed = 0;
	for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		row_cache_bytes = sizes[i];
		fprintf(stderr, "-- row cache of %llu bytes\n", (unsigned long long)sizes[i]);
		failed += cmocka_run_group_tests(tests, NULL, NULL);
	}
	return failed;
}
