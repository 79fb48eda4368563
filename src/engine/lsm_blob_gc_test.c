/*
 * lsm_blob_gc_test.c - blob garbage collection (lsm_blob.c, lsm_compact.c;
 * docs/storage.md, "Blob files"): overwrites and deletes of large values
 * leave blob bytes on disk within a small factor of the live data, across
 * reopens, with the manifest's accounting intact; a power cut at every env
 * call of a GC compaction keeps every acknowledged value; checkpoints taken
 * while GC runs open and hold every value. Every store is also checked
 * with lsm_check_dir.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/err.h"
#include "base/limits.h"
#include "engine/blob.h"
#include "engine/lsm.h"
#include "env/env.h"
#include "env/env_fs_mem.h"

#define KEYS 32
#define DIR  "db"

#define VAL_MIN   (5 * KIB)
#define VAL_SPAN  (4 * KIB)
#define BLOB_FILE (64 * KIB)

/* Key i holds len bytes made from tag, or nothing (len -1). */
struct model {
	int64_t len[KEYS];
	uint64_t tag[KEYS];
};

static void fill(uint8_t *p, size_t len, uint64_t tag)
{
	for (size_t i = 0; i < len; i++)
		p[i] = (uint8_t)((tag * 2654435761u + i * 131) >> 5);
}

static void key_of(char *k, int i)
{
	snprintf(k, 16, "blobkey%04d", i);
}

static int try_open(struct env_fs_mem *fs, const char *dir, enum lsm_sync sync, uint64_t seed,
                    uint64_t file_bytes, struct lsm **db)
{
	struct lsm_options o = {.sync = sync,
	                        .memtable_bytes = 64 * KIB,
	                        .l1_bytes = 16 * KIB,
	                        .table_bytes = 4 * KIB,
	                        .blob_file_bytes = file_bytes,
	                        .seed = seed};
	return lsm_open(dir, &fs->base, &o, db, NULL);
}

static struct lsm *open_gc(struct env_fs_mem *fs, const char *dir, enum lsm_sync sync,
                           uint64_t seed)
{
	struct lsm_options o = {.sync = sync,
	                        .memtable_bytes = 64 * KIB,
	                        .l1_bytes = 16 * KIB,
	                        .table_bytes = 4 * KIB,
	                        .blob_file_bytes = BLOB_FILE,
	                        .seed = seed};
	struct lsm *db = NULL;
	int err = lsm_open(dir, &fs->base, &o, &db, NULL);
	if (err)
		fprintf(stderr, "lsm_open %s: %s (seed %" PRIu64 ")\n", dir, err_str(err), seed);
	assert_int_equal(err, 0);
	return db;
}

static int write_key(struct lsm *db, struct model *m, int i, int64_t len, uint64_t tag,
                     uint8_t *scratch)
{
	char k[16];
	key_of(k, i);
	struct lsm_op op = {.kind = IKEY_KIND_DELETE, .key = bytes_cstr(k)};
	if (len >= 0) {
		uint8_t *v = scratch + VAL_MIN + VAL_SPAN + 16;
		fill(v, (size_t)len, tag);
		op.kind = IKEY_KIND_PUT;
		op.value_record =
		    bytes_make(scratch, vrec_encode(scratch, 0, bytes_make(v, (size_t)len)));
	}
	struct lsm_batch b = {.ops = &op, .count = 1};
	int err = lsm_write(db, &b);
	if (!err) {
		m->len[i] = len;
		m->tag[i] = tag;
	}
	return err;
}

/* Every key overwritten (one in eight deleted). */
static void write_round(struct lsm *db, struct model *m, struct env_rng *r, uint64_t round,
                        uint8_t *scratch)
{
	for (int i = 0; i < KEYS; i++) {
		int64_t len =
		    env_rng_next(r) % 8 == 0 ? -1 : (int64_t)(VAL_MIN + env_rng_next(r) % VAL_SPAN);
		assert_int_equal(write_key(db, m, i, len, round * KEYS + (uint64_t)i, scratch), 0);
	}
}

static void check_all(struct lsm *db, const struct model *m, uint64_t seed)
{
	struct buf v;
	buf_init(&v);
	uint8_t *want = malloc(VAL_MIN + VAL_SPAN);
	for (int i = 0; i < KEYS; i++) {
		char k[16];
		key_of(k, i);
		int err = lsm_get(db, bytes_cstr(k), &v);
		bool bad;
		if (m->len[i] < 0) {
			bad = err != ERR_NOT_FOUND;
		} else {
			fill(want, (size_t)m->len[i], m->tag[i]);
			bad = err || v.len != (size_t)m->len[i] + 1 ||
			    memcmp(v.data + 1, want, (size_t)m->len[i]) != 0;
		}
		if (bad) {
			fprintf(stderr, "key %d wrong: %s (seed %" PRIu64 ")\n", i, err_str(err),
			        seed);
			fail();
		}
	}
	free(want);
	buf_deinit(&v);
}

/* The record bytes the live values take in blob files. */
static uint64_t live_record_bytes(const struct model *m)
{
	uint64_t n = 0;
	char k[16];
	key_of(k, 0);
	for (int i = 0; i < KEYS; i++)
		if (m->len[i] >= 0)
			n += blob_record_bytes(strlen(k), (uint64_t)m->len[i]);
	return n;
}

struct disk {
	struct env_fs *fs;
	const char *dir;
	uint64_t blob_bytes, blob_files;
	char names[512][32]; /* env_fs_mem lists under its lock: sized after */
	size_t name_count;
};

static int add_blob(void *ctx, const char *name)
{
	struct disk *d = ctx;
	size_t len = strlen(name);
	if (len < 5 || strcmp(name + len - 5, ".blob") != 0)
		return 0;
	assert_true(d->name_count < 512 && len < 32);
	snprintf(d->names[d->name_count++], 32, "%s", name);
	return 0;
}

static struct disk *blob_disk(struct env_fs_mem *fs, const char *dir, struct disk *d)
{
	memset(d, 0, sizeof(*d));
	d->fs = &fs->base;
	d->dir = dir;
	assert_int_equal(env_fs_list(&fs->base, dir, add_blob, d), 0);
	for (size_t i = 0; i < d->name_count; i++) {
		char path[256];
		snprintf(path, sizeof(path), "%s/%s", dir, d->names[i]);
		struct env_file *f;
		uint64_t size = 0;
		assert_int_equal(env_fs_open(d->fs, path, 0, &f), 0);
		assert_int_equal(env_fs_size(d->fs, f, &size), 0);
		env_fs_close(d->fs, f);
		d->blob_bytes += size;
		d->blob_files++;
	}
	return d;
}

static void check_dir_clean(struct env_fs_mem *fs, const char *dir)
{
	struct lsm_check_summary sum;
	int err = lsm_check_dir(&fs->base, dir, NULL, NULL, &sum);
	if (err || sum.problems)
		fprintf(stderr, "%s: check %s, %" PRIu64 " problems\n", dir, err_str(err),
		        sum.problems);
	assert_int_equal(err, 0);
}

/* ---- Reclaiming -------------------------------------------------------- */

/* 60 rounds of overwrites and deletes (about 14 MiB of values over 200
 * KiB live), reopened every 15 rounds: after a flush and the compactions
 * it leads to, blob files on disk hold at most a small factor of the live
 * values (plus the file being written and the one finished last), the
 * manifest's live bytes cover the live values, and reopening keeps the
 * accounting as it was. */
static void test_lsm_blob_gc_reclaims_overwrites_and_deletes(void **state)
{
	(void)state;
	uint64_t seed = 0xb10b0001;
	struct env_fs_mem fs;
	env_fs_mem_init(&fs, seed);
	struct env_rng r;
	env_rng_seed(&r, seed);
	uint8_t *scratch = malloc(2 * (VAL_MIN + VAL_SPAN + 16));
	struct model m;
	for (int i = 0; i < KEYS; i++)
		m.len[i] = -1;
	struct lsm *db = open_gc(&fs, DIR, LSM_SYNC_NONE, seed);
	uint64_t written = 0;
	for (uint64_t round = 1; round <= 60; round++) {
		write_round(db, &m, &r, round, scratch);
		written += live_record_bytes(&m);
		if (round % 15 == 0) {
			lsm_close(db);
			db = open_gc(&fs, DIR, LSM_SYNC_NONE, seed + round);
			check_all(db, &m, seed);
		}
	}
	assert_int_equal(lsm_flush(db), 0);
	assert_int_equal(lsm_compact_wait(db), 0);
	check_all(db, &m, seed);
	struct lsm_stats st;
	lsm_stats(db, &st);
	static struct disk d;
	blob_disk(&fs, DIR, &d);
	uint64_t live = live_record_bytes(&m);
	fprintf(stderr,
	        "blob gc: %" PRIu64 " KiB written, %" PRIu64 " KiB live; on disk %" PRIu64
	        " KiB in %" PRIu64 " files; manifest %" PRIu64 " files, live %" PRIu64
	        " KiB, garbage %" PRIu64 " KiB; reclaimed %" PRIu64 " KiB, moved %" PRIu64 " KiB\n",
	        written / KIB, live / KIB, d.blob_bytes / KIB, d.blob_files, st.blob_file_count,
	        st.blob_live_bytes / KIB, st.blob_garbage_bytes / KIB,
	        st.blob_reclaimed_bytes / KIB, st.blob_gc_write_bytes / KIB);
	assert_true(st.blob_live_bytes >= live);
	assert_true(st.blob_reclaimed_bytes > 0);
	assert_true(d.blob_bytes <= 2 * live + 2 * (BLOB_FILE + VAL_MIN + VAL_SPAN));
	assert_true(d.blob_bytes < written / 10);
	lsm_close(db);
	check_dir_clean(&fs, DIR);

	/* The accounting is the manifest's: a reopen sees the same. */
	db = open_gc(&fs, DIR, LSM_SYNC_NONE, seed + 1000);
	struct lsm_stats again;
	lsm_stats(db, &again);
	assert_true(again.blob_live_bytes >= live);
	assert_true(again.blob_file_count <= st.blob_file_count + 1);
	check_all(db, &m, seed);
	assert_int_equal(lsm_compact_wait(db), 0);
	check_all(db, &m, seed);
	lsm_close(db);
	check_dir_clean(&fs, DIR);
	free(scratch);
	env_fs_mem_deinit(&fs);
}

/* Deleting every key makes every sealed blob file all garbage: each is
 * deleted from the manifest and the disk. */
static void test_lsm_blob_gc_deletes_files_of_deleted_keys(void **state)
{
	(void)state;
	uint64_t seed = 0xb10b0002;
	struct env_fs_mem fs;
	env_fs_mem_init(&fs, seed);
	struct env_rng r;
	env_rng_seed(&r, seed);
	uint8_t *scratch = malloc(2 * (VAL_MIN + VAL_SPAN + 16));
	struct model m;
	for (int i = 0; i < KEYS; i++)
		m.len[i] = -1;
	struct lsm *db = open_gc(&fs, DIR, LSM_SYNC_NONE, seed);
	for (uint64_t round = 1; round <= 8; round++)
		write_round(db, &m, &r, round, scratch);
	for (int i = 0; i < KEYS; i++)
		assert_int_equal(write_key(db, &m, i, -1, 0, scratch), 0);
	lsm_close(db); /* seals the file being written */
	db = open_gc(&fs, DIR, LSM_SYNC_NONE, seed + 1);
	assert_int_equal(lsm_flush(db), 0);
	assert_int_equal(lsm_compact_wait(db), 0);
	/* Tombstones may sit above older values until they meet at the
	 * bottom: write filler tables until they do. */
	static struct disk d;
	for (int t = 0; t < 40 && blob_disk(&fs, DIR, &d)->blob_files > 0; t++) {
		for (int i = 0; i < 200; i++) {
			char k[16];
			snprintf(k, sizeof(k), "fill%03d", (t * 200 + i) % 512);
			uint8_t rec[64];
			struct lsm_op op = {.kind = IKEY_KIND_PUT, .key = bytes_cstr(k)};
			op.value_record = bytes_make(rec, vrec_encode(rec, 0, bytes_cstr("x")));
			struct lsm_batch b = {.ops = &op, .count = 1};
			assert_int_equal(lsm_write(db, &b), 0);
		}
		assert_int_equal(lsm_flush(db), 0);
		assert_int_equal(lsm_compact_wait(db), 0);
	}
	struct lsm_stats st;
	lsm_stats(db, &st);
	assert_int_equal(st.blob_live_bytes, 0);
	assert_int_equal(blob_disk(&fs, DIR, &d)->blob_files, 0);
	assert_int_equal(st.blob_file_count, 0);
	check_all(db, &m, seed);
	lsm_close(db);
	check_dir_clean(&fs, DIR);
	free(scratch);
	env_fs_mem_deinit(&fs);
}

/* ---- Power cuts -------------------------------------------------------- */

/* A closed store whose one blob file (4 MiB files) holds six rounds of
 * values, five of them garbage once compacted, every write acknowledged
 * (sync=always): the next open seals the file, and its live values are
 * then relocated. */
static void prepare_gc(struct env_fs_mem *fs, struct model *m, uint64_t seed, uint8_t *scratch)
{
	struct env_rng r;
	env_rng_seed(&r, seed);
	for (int i = 0; i < KEYS; i++)
		m->len[i] = -1;
	struct lsm *db = NULL;
	assert_int_equal(try_open(fs, DIR, LSM_SYNC_ALWAYS, seed, 4 * MIB, &db), 0);
	for (uint64_t round = 1; round <= 6; round++) {
		write_round(db, m, &r, round, scratch);
		assert_int_equal(lsm_flush(db), 0);
	}
	assert_int_equal(lsm_compact_wait(db), 0);
	lsm_close(db);
}

/* The open that seals the file and the compactions after it (blob GC
 * among them), with the power cut after the nth env call (0: none).
 * Returns the env calls made. */
static uint64_t cut_gc_at(uint64_t nth, uint64_t seed, uint8_t *scratch, uint64_t *moved)
{
	struct env_fs_mem fs;
	env_fs_mem_init(&fs, seed);
	struct model m;
	prepare_gc(&fs, &m, seed, scratch);
	uint64_t calls0 = env_fs_mem_calls(&fs, ENV_FS_OP_ANY);
	struct env_fs_mem_fault cut = {
	    .op = ENV_FS_OP_ANY, .nth = nth, .err = ERR_IO, .sticky = true, .partial = true};
	env_fs_mem_inject(&fs, &cut);
	struct lsm *db = NULL;
	int err = try_open(&fs, DIR, LSM_SYNC_ALWAYS, seed + 1, 4 * MIB, &db);
	if (!err)
		err = lsm_compact_wait(db);
	assert_true(nth > 0 || err == 0);
	if (moved && db) {
		struct lsm_stats st;
		lsm_stats(db, &st);
		*moved = st.blob_gc_write_bytes;
	}
	uint64_t calls = env_fs_mem_calls(&fs, ENV_FS_OP_ANY) - calls0;
	env_fs_mem_crash(&fs, ENV_FS_MEM_CRASH_TORN);
	struct env_fs_mem_fault none = {0};
	env_fs_mem_inject(&fs, &none);
	if (db)
		lsm_close(db);
	db = open_gc(&fs, DIR, LSM_SYNC_ALWAYS, seed + 2);
	check_all(db, &m, seed * 1000 + nth);
	assert_int_equal(lsm_compact_wait(db), 0);
	check_all(db, &m, seed * 1000 + nth);
	lsm_close(db);
	check_dir_clean(&fs, DIR);
	env_fs_mem_deinit(&fs);
	return calls;
}

/* Power cut at every env call of a flush and the compactions it leads to,
 * GC relocation among them (blob reads and appends, the footer, the
 * tables, the manifest edit, the removals; the open before them too):
 * every acknowledged value is
 * there after recovery, and the store checks clean. */
static void test_lsm_blob_gc_power_cut_at_every_step(void **state)
{
	(void)state;
	uint8_t *scratch = malloc(2 * (VAL_MIN + VAL_SPAN + 16));
	uint64_t seed = 0xb10bc0d1, moved = 0;
	uint64_t total = cut_gc_at(0, seed, scratch, &moved);
	assert_true(moved > 0); /* the window holds a GC compaction */
	assert_true(total > 10);
	/* Every call when few, else a stride that still hits each phase. */
	uint64_t stride = total / 400 + 1;
	for (uint64_t nth = 1; nth <= total + 1; nth += stride)
		cut_gc_at(nth, seed, scratch, NULL);
	fprintf(stderr,
	        "blob gc power cuts: %" PRIu64 " calls, stride %" PRIu64 ", %" PRIu64
	        " bytes moved\n",
	        total, stride, moved);
	free(scratch);
}

/* ---- Checkpoints -------------------------------------------------------- */

/* A checkpoint right after each round's flush, while the background thread
 * compacts, relocates and deletes blob files: each opens, holds every
 * value of its moment, and checks clean. */
static void test_lsm_blob_gc_checkpoint_during_gc(void **state)
{
	(void)state;
	uint64_t seed = 0xb10bcc01;
	struct env_fs_mem fs;
	env_fs_mem_init(&fs, seed);
	struct env_rng r;
	env_rng_seed(&r, seed);
	uint8_t *scratch = malloc(2 * (VAL_MIN + VAL_SPAN + 16));
	struct model m, at[10];
	for (int i = 0; i < KEYS; i++)
		m.len[i] = -1;
	struct lsm *db = open_gc(&fs, DIR, LSM_SYNC_NONE, seed);
	for (int c = 0; c < 10; c++) {
		for (uint64_t round = 0; round < 4; round++)
			write_round(db, &m, &r, (uint64_t)c * 4 + round + 1, scratch);
		assert_int_equal(lsm_flush(db), 0);
		char dir[16];
		snprintf(dir, sizeof(dir), "ck%d", c);
		assert_int_equal(lsm_checkpoint(db, dir, NULL), 0);
		at[c] = m;
	}
	struct lsm_stats st;
	lsm_stats(db, &st);
	assert_true(st.blob_reclaimed_bytes > 0);
	lsm_close(db);
	for (int c = 0; c < 10; c++) {
		char dir[16];
		snprintf(dir, sizeof(dir), "ck%d", c);
		check_dir_clean(&fs, dir);
		struct lsm *ck = open_gc(&fs, dir, LSM_SYNC_NONE, seed + (uint64_t)c);
		check_all(ck, &at[c], seed + (uint64_t)c);
		assert_int_equal(lsm_compact_wait(ck), 0);
		check_all(ck, &at[c], seed + (uint64_t)c);
		lsm_close(ck);
		check_dir_clean(&fs, dir);
	}
	free(scratch);
	env_fs_mem_deinit(&fs);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_lsm_blob_gc_reclaims_overwrites_and_deletes),
	    cmocka_unit_test(test_lsm_blob_gc_deletes_files_of_deleted_keys),
	    cmocka_unit_test(test_lsm_blob_gc_power_cut_at_every_step),
	    cmocka_unit_test(test_lsm_blob_gc_checkpoint_during_gc),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
