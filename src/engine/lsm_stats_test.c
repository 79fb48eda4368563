/*
 * lsm_stats_test.c - lsm_stats (engine/lsm.h): every counter moves when,
 * and by what, the work it counts says it must.
 *
 * Over env_fs_mem (it locks internally, so the engine's threads share it);
 * seeded, one store per test.
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
#include "base/histogram.h"
#include "base/limits.h"
#include "engine/lsm.h"
#include "env/env_fs_mem.h"

#define DIR     "db"
#define VAL_MAX (2 * BLOB_THRESHOLD)

struct fixture {
	struct env_fs_mem fs;
	struct lsm *db;
	uint8_t *rec; /* a value record being built, then the value (VAL_MAX + 16 each) */
};

static void open_fixture(struct fixture *f, const struct lsm_options *o, uint64_t seed)
{
	env_fs_mem_init(&f->fs, seed);
	f->rec = malloc(2 * (VAL_MAX + 16));
	assert_non_null(f->rec);
	assert_int_equal(lsm_open(DIR, &f->fs.base, o, &f->db, NULL), 0);
}

static void close_fixture(struct fixture *f)
{
	lsm_close(f->db);
	env_fs_mem_deinit(&f->fs);
	free(f->rec);
}

/* Puts key "k<i>" with a value of vlen bytes; returns lsm_write's result
 * and adds the op's key + value record bytes to *user. */
static int put(struct fixture *f, int i, size_t vlen, uint64_t *user)
{
	char k[24];
	snprintf(k, sizeof(k), "k%08d", i);
	uint8_t *v = f->rec + VAL_MAX + 16; /* past the record: no overlap */
	memset(v, 'a' + i % 26, vlen);
	struct lsm_op op = {.kind = IKEY_KIND_PUT,
	                    .key = bytes_cstr(k),
	                    .value_record =
	                        bytes_make(f->rec, vrec_encode(f->rec, 0, bytes_make(v, vlen)))};
	struct lsm_batch b = {.ops = &op, .count = 1};
	int err = lsm_write(f->db, &b);
	if (!err && user)
		*user += op.key.len + op.value_record.len;
	return err;
}

static void test_lsm_stats_start_at_zero(void **state)
{
	(void)state;
	struct fixture f;
	struct lsm_options o = {.sync = LSM_SYNC_ALWAYS, .seed = 1, .block_cache_bytes = 8 * MIB};
	open_fixture(&f, &o, 1);
	struct lsm_stats s;
	lsm_stats(f.db, &s);
	assert_int_equal(s.user_bytes, 0);
	assert_int_equal(s.wal_bytes, 0);
	assert_int_equal(s.flush_count, 0);
	assert_int_equal(s.compaction_count, 0);
	assert_int_equal(s.wal_sync_count, 0);
	assert_int_equal(s.wal_sync_max_ns, 0);
	assert_true(s.write_amp == 0.0);
	assert_int_equal(s.cache_capacity_bytes, 8 * MIB);
	assert_int_equal(s.failed, 0);
	close_fixture(&f);
}

/* user_bytes is exact; the WAL holds at least that (framing on top); with
 * sync=always every write is one WAL sync and one histogram sample. */
static void test_lsm_stats_user_wal_and_sync_counts(void **state)
{
	(void)state;
	struct fixture f;
	struct lsm_options o = {.sync = LSM_SYNC_ALWAYS, .seed = 2};
	open_fixture(&f, &o, 2);
	uint64_t user = 0;
	const int n = 100;
	for (int i = 0; i < n; i++)
		assert_int_equal(put(&f, i, (size_t)(i * 7 % 300), &user), 0);
	struct lsm_stats s;
	lsm_stats(f.db, &s);
	assert_int_equal(s.user_bytes, user);
	assert_true(s.wal_bytes >= user);
	assert_int_equal(s.blob_bytes, 0);
	assert_int_equal(s.wal_sync_count, (uint64_t)n); /* one writer: no group shares */
	struct hist_snapshot *h = malloc(sizeof(*h));
	assert_non_null(h);
	lsm_stats_wal_sync_hist(f.db, h);
	assert_int_equal(h->total, s.wal_sync_count);
	free(h);
	assert_true(s.wal_sync_p50_ns <= s.wal_sync_p99_ns);
	assert_true(s.wal_sync_p99_ns <= s.wal_sync_max_ns);
	assert_true(s.write_amp >= 1.0);
	assert_true(s.mem_bytes > 0);
	assert_int_equal(s.imm_bytes, 0);
	close_fixture(&f);
}

/* A value over the blob threshold goes to the blob file: blob bytes, not
 * WAL bytes, carry it. */
static void test_lsm_stats_blob_bytes(void **state)
{
	(void)state;
	struct fixture f;
	struct lsm_options o = {.sync = LSM_SYNC_NONE, .seed = 3};
	open_fixture(&f, &o, 3);
	uint64_t user = 0;
	assert_int_equal(put(&f, 1, 2 * BLOB_THRESHOLD, &user), 0);
	struct lsm_stats s;
	lsm_stats(f.db, &s);
	assert_int_equal(s.user_bytes, user);
	assert_true(s.blob_bytes >= 2 * BLOB_THRESHOLD);
	assert_true(s.wal_bytes < BLOB_THRESHOLD);
	assert_int_equal(s.wal_sync_count, 0); /* sync=none */
	close_fixture(&f);
}

/* A flush is counted with its table's bytes, which L0 now holds. */
static void test_lsm_stats_flush_counted(void **state)
{
	(void)state;
	struct fixture f;
	struct lsm_options o = {.sync = LSM_SYNC_NONE, .seed = 4};
	open_fixture(&f, &o, 4);
	for (int i = 0; i < 200; i++)
		assert_int_equal(put(&f, i, 100, NULL), 0);
	assert_int_equal(lsm_flush(f.db), 0);
	struct lsm_stats s;
	lsm_stats(f.db, &s);
	assert_int_equal(s.flush_count, 1);
	assert_true(s.flush_bytes > 0);
	assert_int_equal(s.level_file_count[0], 1);
	assert_int_equal(s.level_bytes[0], s.flush_bytes);
	assert_int_equal(s.level_bytes[0], lsm_level_bytes(f.db, 0));
	assert_int_equal(s.imm_bytes, 0);
	/* The rotation synced the old WAL once (sync=none keeps a prefix). */
	assert_int_equal(s.wal_sync_count, 1);
	close_fixture(&f);
}

/* LSM_L0_COMPACTION_TRIGGER flushes make a compaction due; once it is
 * done it is counted, having read every L0 table. */
static void test_lsm_stats_compaction_counted(void **state)
{
	(void)state;
	struct fixture f;
	struct lsm_options o = {.sync = LSM_SYNC_NONE, .seed = 5};
	open_fixture(&f, &o, 5);
	uint64_t flushed = 0;
	for (int t = 0; t < LSM_L0_COMPACTION_TRIGGER; t++) {
		for (int i = 0; i < 100; i++)
			assert_int_equal(put(&f, t * 50 + i, 100, NULL), 0);
		assert_int_equal(lsm_flush(f.db), 0);
	}
	assert_int_equal(lsm_compact_wait(f.db), 0);
	struct lsm_stats s;
	lsm_stats(f.db, &s);
	flushed = s.flush_bytes;
	assert_int_equal(s.flush_count, LSM_L0_COMPACTION_TRIGGER);
	assert_true(s.compaction_count >= 1);
	assert_true(s.compaction_read_bytes >= flushed);
	assert_true(s.compaction_write_bytes > 0);
	assert_int_equal(s.level_file_count[0], 0);
	assert_true(s.level_file_count[1] >= 1);
	uint64_t disk = s.wal_bytes + s.flush_bytes + s.compaction_write_bytes + s.blob_bytes;
	assert_true(s.write_amp > 1.0);
	assert_true(s.write_amp * (double)s.user_bytes > (double)disk * 0.999);
	close_fixture(&f);
}

/* Reading one key of a table again and again hits the block cache. */
static void test_lsm_stats_cache_hits_on_repeated_reads(void **state)
{
	(void)state;
	struct fixture f;
	struct lsm_options o = {.sync = LSM_SYNC_NONE, .seed = 6};
	open_fixture(&f, &o, 6);
	for (int i = 0; i < 100; i++)
		assert_int_equal(put(&f, i, 100, NULL), 0);
	assert_int_equal(lsm_flush(f.db), 0);
	struct lsm_stats before, after;
	lsm_stats(f.db, &before);
	struct buf v;
	buf_init(&v);
	for (int r = 0; r < 10; r++)
		assert_int_equal(lsm_get(f.db, bytes_cstr("k00000042"), &v), 0);
	buf_deinit(&v);
	lsm_stats(f.db, &after);
	assert_true(after.cache_hits >= before.cache_hits + 9);
	assert_true(after.cache_misses <= before.cache_misses + 1);
	assert_true(after.cache_usage_bytes > 0);
	assert_true(after.cache_usage_bytes <= after.cache_capacity_bytes);
	close_fixture(&f);
}

/* A writer that finds the memtable full while the previous one is still
 * being flushed (slow fsyncs here) stalls, and the stall is counted. */
static void test_lsm_stats_write_stall_counted(void **state)
{
	(void)state;
	struct fixture f;
	struct lsm_options o = {
	    .sync = LSM_SYNC_NONE, .seed = 7, .memtable_bytes = 64 * KIB, .write_stall_ms = 2};
	open_fixture(&f, &o, 7);
	env_fs_mem_set_sync_delay(&f.fs, 20 * 1000 * 1000); /* 20 ms per fsync */
	int err = 0;
	for (int i = 0; i < 20000 && err == 0; i++)
		err = put(&f, i, 200, NULL);
	assert_int_equal(err, ERR_AGAIN);
	struct lsm_stats s;
	lsm_stats(f.db, &s);
	assert_true(s.stall_count >= 1);
	assert_true(s.stall_ms >= 1);
	env_fs_mem_set_sync_delay(&f.fs, 0);
	close_fixture(&f);
}

/* A failed WAL fsync shows in the stats as the store's failure. */
static void test_lsm_stats_failed_state(void **state)
{
	(void)state;
	struct fixture f;
	struct lsm_options o = {.sync = LSM_SYNC_ALWAYS, .seed = 8};
	open_fixture(&f, &o, 8);
	assert_int_equal(put(&f, 1, 10, NULL), 0);
	struct env_fs_mem_fault fault = {.op = ENV_FS_OP_SYNC, .nth = 1, .err = ERR_IO};
	env_fs_mem_inject(&f.fs, &fault);
	assert_int_equal(put(&f, 2, 10, NULL), ERR_IO);
	struct lsm_stats s;
	lsm_stats(f.db, &s);
	assert_int_equal(s.failed, ERR_IO);
	assert_int_equal(s.wal_sync_count, 2); /* the failed one counts */
	struct env_fs_mem_fault none = {0};
	env_fs_mem_inject(&f.fs, &none);
	close_fixture(&f);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_lsm_stats_start_at_zero),
	    cmocka_unit_test(test_lsm_stats_user_wal_and_sync_counts),
	    cmocka_unit_test(test_lsm_stats_blob_bytes),
	    cmocka_unit_test(test_lsm_stats_flush_counted),
	    cmocka_unit_test(test_lsm_stats_compaction_counted),
	    cmocka_unit_test(test_lsm_stats_cache_hits_on_repeated_reads),
	    cmocka_unit_test(test_lsm_stats_write_stall_counted),
	    cmocka_unit_test(test_lsm_stats_failed_state),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
