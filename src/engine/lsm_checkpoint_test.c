/*
 * lsm_checkpoint_test.c - lsm_checkpoint (engine/lsm.h): a checkpoint opens
 * as a store equal to the source at the checkpoint, whatever level the data
 * was in, blobs included; later writes stay out; a writer running during
 * the checkpoint leaves a prefix of its writes in it; a failed env call
 * leaves no directory and a working source.
 *
 * Stores live on env_fs_mem (it locks internally, so the engine's threads
 * share it), except one test on real files. Every test is seeded and
 * prints its seed on failure.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <inttypes.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/err.h"
#include "base/limits.h"
#include "engine/lsm.h"
#include "env/env.h"
#include "env/env_fs_mem.h"

#define KEYS 200
#define SRC  "db"

/* ---- A model: the value record of each of KEYS keys, or none ---------- */

struct model {
	struct buf rec[KEYS];
	bool present[KEYS];
};

static void model_init(struct model *m)
{
	for (int i = 0; i < KEYS; i++) {
		buf_init(&m->rec[i]);
		m->present[i] = false;
	}
}

static void model_deinit(struct model *m)
{
	for (int i = 0; i < KEYS; i++)
		buf_deinit(&m->rec[i]);
}

static void model_copy(struct model *dst, const struct model *src)
{
	for (int i = 0; i < KEYS; i++) {
		dst->rec[i].len = 0;
		dst->present[i] = src->present[i];
		assert_int_equal(buf_reserve(&dst->rec[i], src->rec[i].len, SIZE_MAX / 2), 0);
		buf_put(&dst->rec[i], src->rec[i].data, src->rec[i].len);
	}
}

static void key_of(char *k, int i)
{
	snprintf(k, 16, "key%05d", i);
}

/* Puts key i with a value of len bytes made from tag (len < 0: deletes),
 * in the store and the model. */
static void put(struct lsm *db, struct model *m, int i, int64_t len, uint64_t tag)
{
	char k[16];
	key_of(k, i);
	struct lsm_op op = {.kind = IKEY_KIND_DELETE, .key = bytes_cstr(k)};
	uint8_t *rec = NULL;
	if (len >= 0) {
		rec = malloc((size_t)len + 16);
		uint8_t *v = malloc((size_t)len + 1);
		for (int64_t j = 0; j < len; j++)
			v[j] = (uint8_t)((tag * 2654435761u + (uint64_t)j * 31) >> 3);
		op.kind = IKEY_KIND_PUT;
		op.value_record = bytes_make(rec, vrec_encode(rec, 0, bytes_make(v, (size_t)len)));
		free(v);
	}
	struct lsm_batch b = {.ops = &op, .count = 1};
	assert_int_equal(lsm_write(db, &b), 0);
	m->present[i] = len >= 0;
	m->rec[i].len = 0;
	if (len >= 0) {
		assert_int_equal(buf_reserve(&m->rec[i], op.value_record.len, SIZE_MAX / 2), 0);
		buf_put(&m->rec[i], op.value_record.ptr, op.value_record.len);
	}
	free(rec);
}

/* Every key by get, then the whole store by iteration. */
static void check_model(struct lsm *db, const struct model *m, uint64_t seed)
{
	struct buf v;
	buf_init(&v);
	for (int i = 0; i < KEYS; i++) {
		char k[16];
		key_of(k, i);
		int err = lsm_get(db, bytes_cstr(k), &v);
		bool ok = m->present[i] ? err == 0 && v.len == m->rec[i].len &&
		        memcmp(v.data, m->rec[i].data, v.len) == 0
		                        : err == ERR_NOT_FOUND;
		if (!ok) {
			fprintf(stderr, "key %d: get %s (seed %" PRIu64 ")\n", i, err_str(err),
			        seed);
			fail();
		}
	}
	struct lsm_iter *it;
	assert_int_equal(lsm_iter_create(db, &it), 0);
	int i = 0;
	for (lsm_iter_seek_to_first(it); lsm_iter_valid(it); lsm_iter_next(it), i++) {
		while (i < KEYS && !m->present[i])
			i++;
		char k[16];
		key_of(k, i < KEYS ? i : 0);
		struct bytes key = lsm_iter_key(it);
		if (i == KEYS || key.len != strlen(k) || memcmp(key.ptr, k, key.len) != 0) {
			fprintf(stderr, "iteration: unexpected key (seed %" PRIu64 ")\n", seed);
			fail();
		}
		assert_int_equal(lsm_iter_value(it, &v), 0);
		assert_true(v.len == m->rec[i].len && memcmp(v.data, m->rec[i].data, v.len) == 0);
	}
	assert_int_equal(lsm_iter_status(it), 0);
	while (i < KEYS && !m->present[i])
		i++;
	if (i != KEYS) {
		fprintf(stderr, "iteration: key %d missing (seed %" PRIu64 ")\n", i, seed);
		fail();
	}
	lsm_iter_destroy(it);
	buf_deinit(&v);
}

/* ---- Stores ------------------------------------------------------------ */

static struct lsm *open_store(struct env_fs *fs, const char *dir, uint64_t seed)
{
	struct lsm_options o = {.sync = LSM_SYNC_ALWAYS,
	                        .memtable_bytes = 32 * KIB,
	                        .l1_bytes = 16 * KIB,
	                        .table_bytes = 8 * KIB,
	                        .seed = seed};
	struct lsm *db = NULL;
	int err = lsm_open(dir, fs, &o, &db, NULL);
	if (err)
		fprintf(stderr, "lsm_open %s: %s (seed %" PRIu64 ")\n", dir, err_str(err), seed);
	assert_int_equal(err, 0);
	return db;
}

/* Opens the checkpoint at dir, checks it against m and lsm_check_dir,
 * closes it. */
static void check_checkpoint(struct env_fs *fs, const char *dir, const struct model *m,
                             uint64_t seed)
{
	struct lsm_check_summary sum;
	assert_int_equal(lsm_check_dir(fs, dir, NULL, NULL, &sum), 0);
	assert_int_equal(sum.notes, 0); /* every blob file finished, no WAL */
	struct lsm *ck = open_store(fs, dir, seed);
	check_model(ck, m, seed);
	lsm_close(ck);
}

static int64_t small_len(struct env_rng *r)
{
	return (int64_t)(env_rng_next(r) % 120);
}

static int64_t blob_len(struct env_rng *r)
{
	return (int64_t)(BLOB_THRESHOLD + env_rng_next(r) % (2 * BLOB_THRESHOLD));
}

static int count_entry(void *ctx, const char *name)
{
	(void)name;
	(*(int *)ctx)++;
	return 0;
}

static bool dir_exists(struct env_fs *fs, const char *dir)
{
	int n = 0;
	return env_fs_list(fs, dir, count_entry, &n) != ERR_NOT_FOUND;
}

/* ---- Tests ------------------------------------------------------------- */

static void test_lsm_checkpoint_holds_memtable_data(void **state)
{
	(void)state;
	uint64_t seed = 0xc4c40001;
	struct env_fs_mem fs;
	env_fs_mem_init(&fs, seed);
	struct env_rng r;
	env_rng_seed(&r, seed);
	struct model m;
	model_init(&m);
	struct lsm *db = open_store(&fs.base, SRC, seed);
	for (int i = 0; i < 50; i++)
		put(db, &m, i, small_len(&r), (uint64_t)i);
	assert_int_equal(lsm_level_file_count(db, 0), 0); /* all in the memtable */
	struct lsm_checkpoint_info info;
	assert_int_equal(lsm_checkpoint(db, "ck", &info), 0);
	assert_int_equal(info.seq, 50);
	assert_int_equal(info.file_count, 1);
	assert_true(info.bytes > 0);
	check_checkpoint(&fs.base, "ck", &m, seed);
	check_model(db, &m, seed);
	lsm_close(db);
	model_deinit(&m);
	env_fs_mem_deinit(&fs);
}

static void test_lsm_checkpoint_holds_every_level(void **state)
{
	(void)state;
	uint64_t seed = 0xc4c40002;
	struct env_fs_mem fs;
	env_fs_mem_init(&fs, seed);
	struct env_rng r;
	env_rng_seed(&r, seed);
	struct model m;
	model_init(&m);
	struct lsm *db = open_store(&fs.base, SRC, seed);
	for (int step = 0; step < 3000; step++) {
		int i = (int)(env_rng_next(&r) % KEYS);
		int64_t len =
		    env_rng_next(&r) % 8 == 0 ? -1 : 300 + small_len(&r); /* 80 KiB live */
		put(db, &m, i, len, (uint64_t)step);
	}
	assert_int_equal(lsm_compact_wait(db), 0);
	for (int step = 0; step < 100; step++) /* a table in L0, the rest in the memtable */
		put(db, &m, (int)(env_rng_next(&r) % KEYS), small_len(&r), 5000u + (uint64_t)step);
	assert_int_equal(lsm_flush(db), 0);
	for (int step = 0; step < 20; step++)
		put(db, &m, (int)(env_rng_next(&r) % KEYS), small_len(&r), 6000u + (uint64_t)step);
	assert_true(lsm_level_file_count(db, 0) > 0);
	assert_true(lsm_level_file_count(db, 2) > 0);
	struct lsm_checkpoint_info info;
	assert_int_equal(lsm_checkpoint(db, "ck", &info), 0);
	assert_int_equal(info.seq, 3120);
	check_checkpoint(&fs.base, "ck", &m, seed);
	lsm_close(db);
	model_deinit(&m);
	env_fs_mem_deinit(&fs);
}

static void test_lsm_checkpoint_holds_blobs_and_not_later_writes(void **state)
{
	(void)state;
	uint64_t seed = 0xc4c40003;
	struct env_fs_mem fs;
	env_fs_mem_init(&fs, seed);
	struct env_rng r;
	env_rng_seed(&r, seed);
	struct model m, at;
	model_init(&m);
	model_init(&at);
	struct lsm *db = open_store(&fs.base, SRC, seed);
	for (int step = 0; step < 400; step++) {
		int i = (int)(env_rng_next(&r) % KEYS);
		put(db, &m, i, step % 3 ? blob_len(&r) : small_len(&r), (uint64_t)step);
	}
	assert_int_equal(lsm_checkpoint(db, "ck", NULL), 0);
	model_copy(&at, &m);
	/* Overwrites, deletes and new blobs after it stay out of it. */
	for (int step = 0; step < 300; step++) {
		int i = (int)(env_rng_next(&r) % KEYS);
		int64_t len = step % 4 == 0 ? -1 : step % 2 ? blob_len(&r) : small_len(&r);
		put(db, &m, i, len, 1000u + (uint64_t)step);
	}
	assert_int_equal(lsm_compact_wait(db), 0);
	check_checkpoint(&fs.base, "ck", &at, seed);
	check_model(db, &m, seed);
	/* The source still reads the blob file the checkpoint finished. */
	lsm_close(db);
	db = open_store(&fs.base, SRC, seed);
	check_model(db, &m, seed);
	lsm_close(db);
	model_deinit(&m);
	model_deinit(&at);
	env_fs_mem_deinit(&fs);
}

static void test_lsm_checkpoint_of_a_checkpoint(void **state)
{
	(void)state;
	uint64_t seed = 0xc4c40004;
	struct env_fs_mem fs;
	env_fs_mem_init(&fs, seed);
	struct env_rng r;
	env_rng_seed(&r, seed);
	struct model m;
	model_init(&m);
	struct lsm *db = open_store(&fs.base, SRC, seed);
	for (int step = 0; step < 500; step++)
		put(db, &m, (int)(env_rng_next(&r) % KEYS), step % 5 ? small_len(&r) : blob_len(&r),
		    (uint64_t)step);
	assert_int_equal(lsm_checkpoint(db, "ck1", NULL), 0);
	lsm_close(db);
	db = open_store(&fs.base, "ck1", seed);
	for (int step = 0; step < 500; step++)
		put(db, &m, (int)(env_rng_next(&r) % KEYS), step % 5 ? small_len(&r) : blob_len(&r),
		    1000u + (uint64_t)step);
	assert_int_equal(lsm_checkpoint(db, "ck2", NULL), 0);
	lsm_close(db);
	check_checkpoint(&fs.base, "ck2", &m, seed);
	model_deinit(&m);
	env_fs_mem_deinit(&fs);
}

static void test_lsm_checkpoint_refuses_an_existing_dir(void **state)
{
	(void)state;
	uint64_t seed = 0xc4c40005;
	struct env_fs_mem fs;
	env_fs_mem_init(&fs, seed);
	struct model m;
	model_init(&m);
	struct lsm *db = open_store(&fs.base, SRC, seed);
	put(db, &m, 1, 10, 1);
	assert_int_equal(env_fs_mkdir(&fs.base, "ck"), 0);
	assert_int_equal(lsm_checkpoint(db, "ck", NULL), ERR_EXISTS);
	assert_true(dir_exists(&fs.base, "ck"));
	assert_int_equal(lsm_checkpoint(db, SRC, NULL), ERR_EXISTS);
	check_model(db, &m, seed);
	lsm_close(db);
	model_deinit(&m);
	env_fs_mem_deinit(&fs);
}

/* ---- A writer during the checkpoint ------------------------------------ */

struct writer {
	struct lsm *db;
	_Atomic uint64_t acked; /* writes 0 .. acked-1 are acknowledged */
	_Atomic bool stop;
	uint64_t count;
};

static void *writer_main(void *arg)
{
	struct writer *w = arg;
	uint8_t rec[BLOB_THRESHOLD + 64];
	while (!atomic_load(&w->stop)) {
		char k[24];
		snprintf(k, sizeof(k), "w%08" PRIu64, w->count);
		/* Every 8th value is a blob, so the blob file rolls under the checkpoint. */
		size_t len = w->count % 8 ? 40 : BLOB_THRESHOLD + 10;
		uint8_t v[BLOB_THRESHOLD + 16];
		memset(v, (int)(w->count & 0xff), len);
		struct lsm_op op = {.kind = IKEY_KIND_PUT,
		                    .key = bytes_cstr(k),
		                    .value_record =
		                        bytes_make(rec, vrec_encode(rec, 0, bytes_make(v, len)))};
		struct lsm_batch b = {.ops = &op, .count = 1};
		if (lsm_write(w->db, &b) != 0)
			break;
		w->count++;
		atomic_store(&w->acked, w->count);
	}
	return NULL;
}

/* The keys w0 .. w(n-1) and nothing else, each with its value. */
static uint64_t check_writer_prefix(struct lsm *db, uint64_t seed)
{
	struct lsm_iter *it;
	struct buf v;
	buf_init(&v);
	assert_int_equal(lsm_iter_create(db, &it), 0);
	uint64_t n = 0;
	for (lsm_iter_seek_to_first(it); lsm_iter_valid(it); lsm_iter_next(it), n++) {
		char k[24];
		snprintf(k, sizeof(k), "w%08" PRIu64, n);
		struct bytes key = lsm_iter_key(it);
		if (key.len != strlen(k) || memcmp(key.ptr, k, key.len) != 0) {
			fprintf(stderr, "not a prefix at %" PRIu64 " (seed %" PRIu64 ")\n", n,
			        seed);
			fail();
		}
		assert_int_equal(lsm_iter_value(it, &v), 0);
		size_t len = n % 8 ? 40 : BLOB_THRESHOLD + 10;
		assert_int_equal(v.len, len + 1);
		for (size_t j = 1; j < v.len; j++)
			assert_int_equal(v.data[j], (uint8_t)(n & 0xff));
	}
	assert_int_equal(lsm_iter_status(it), 0);
	lsm_iter_destroy(it);
	buf_deinit(&v);
	return n;
}

static void test_lsm_checkpoint_beside_a_writer(void **state)
{
	(void)state;
	uint64_t seed = 0xc4c40006;
	struct env_fs_mem fs;
	env_fs_mem_init(&fs, seed);
	struct writer w = {.db = open_store(&fs.base, SRC, seed)};
	struct env_thread t;
	assert_int_equal(env_thread_start(&t, "writer", writer_main, &w), 0);
	for (int round = 0; round < 6; round++) {
		while (atomic_load(&w.acked) < 300u * (uint64_t)(round + 1))
			nanosleep(&(struct timespec){0, 1000000}, NULL);
		char dir[16];
		snprintf(dir, sizeof(dir), "ck%d", round);
		uint64_t before = atomic_load(&w.acked);
		struct lsm_checkpoint_info info;
		assert_int_equal(lsm_checkpoint(w.db, dir, &info), 0);
		uint64_t after = atomic_load(&w.acked);
		struct lsm *ck = open_store(&fs.base, dir, seed);
		uint64_t n = check_writer_prefix(ck, seed);
		lsm_close(ck);
		/* Each write is one sequence. */
		assert_true(n >= before && n <= after + 1 && n == info.seq);
	}
	atomic_store(&w.stop, true);
	env_thread_join(&t);
	assert_int_equal(check_writer_prefix(w.db, seed), w.count);
	lsm_close(w.db);
	env_fs_mem_deinit(&fs);
}

/* ---- Failures ---------------------------------------------------------- */

static int print_entry(void *ctx, const char *name)
{
	(void)ctx;
	fprintf(stderr, "  left: %s\n", name);
	return 0;
}

/* After a failed checkpoint: no directory, the source writes and reads. */
static void check_failed_checkpoint(struct lsm *db, struct env_fs_mem *fs, struct model *m, int err,
                                    uint64_t seed)
{
	assert_true(err == ERR_IO || err == ERR_NOSPACE);
	if (dir_exists(&fs->base, "ck")) {
		fprintf(stderr, "ck left after %s (seed %" PRIu64 ")\n", err_str(err), seed);
		env_fs_list(&fs->base, "ck", print_entry, NULL);
		fail();
	}
	assert_int_equal(lsm_failed(db), 0);
	put(db, m, 7, 33, seed);
	check_model(db, m, seed);
}

/* Walks the failure point over every env call of a checkpoint: for n = 1,
 * 2, ... a fresh store of the same seed (tables in two levels, a blob file
 * open, the memtable flushed and compaction settled, so that every call
 * counted is the checkpoint's) gets a checkpoint whose nth env call fails,
 * until one succeeds. */
static void walk_faults(int fault_err, uint64_t seed)
{
	int err = -1;
	uint64_t nth;
	for (nth = 1; err != 0; nth++) {
		struct env_fs_mem fs;
		env_fs_mem_init(&fs, seed);
		struct env_rng r;
		env_rng_seed(&r, seed);
		struct model m;
		model_init(&m);
		struct lsm *db = open_store(&fs.base, SRC, seed);
		for (int step = 0; step < 300; step++)
			put(db, &m, (int)(env_rng_next(&r) % KEYS),
			    step % 4 ? 200 + small_len(&r) : blob_len(&r), (uint64_t)step);
		assert_int_equal(lsm_flush(db), 0);
		assert_int_equal(lsm_compact_wait(db), 0);
		put(db, &m, 1, blob_len(&r), 1000); /* the blob file open again */
		assert_int_equal(lsm_flush(db), 0);
		assert_int_equal(lsm_compact_wait(db), 0);
		struct env_fs_mem_fault f = {.op = ENV_FS_OP_ANY, .nth = nth, .err = fault_err};
		env_fs_mem_inject(&fs, &f);
		err = lsm_checkpoint(db, "ck", NULL);
		struct env_fs_mem_fault none = {0};
		env_fs_mem_inject(&fs, &none);
		if (err) {
			check_failed_checkpoint(db, &fs, &m, err, seed);
			lsm_close(db);
			db = open_store(&fs.base, SRC, seed);
			check_model(db, &m, seed);
		} else {
			check_checkpoint(&fs.base, "ck", &m, seed);
		}
		lsm_close(db);
		model_deinit(&m);
		env_fs_mem_deinit(&fs);
		assert_true(nth < 500);
	}
	assert_true(nth > 20); /* the walk went through the whole checkpoint */
}

static void test_lsm_checkpoint_io_error_leaves_no_dir(void **state)
{
	(void)state;
	walk_faults(ERR_IO, 0xc4c40007);
}

static void test_lsm_checkpoint_full_disk_leaves_no_dir(void **state)
{
	(void)state;
	walk_faults(ERR_NOSPACE, 0xc4c40008);
}

/* With data in the memtable: a failed open of the next WAL (the rotation)
 * and a full disk while linking fail the checkpoint, not the store. */
static void test_lsm_checkpoint_failed_rotation_or_link_keeps_store(void **state)
{
	(void)state;
	uint64_t seed = 0xc4c40009;
	struct env_fs_mem fs;
	env_fs_mem_init(&fs, seed);
	struct env_rng r;
	env_rng_seed(&r, seed);
	struct model m;
	model_init(&m);
	struct lsm *db = open_store(&fs.base, SRC, seed);
	for (int step = 0; step < 300; step++)
		put(db, &m, (int)(env_rng_next(&r) % KEYS), step % 4 ? small_len(&r) : blob_len(&r),
		    (uint64_t)step);
	/* The background thread idle, so that the next open is the checkpoint's. */
	assert_int_equal(lsm_compact_wait(db), 0);
	struct env_fs_mem_fault open1 = {.op = ENV_FS_OP_OPEN, .nth = 1, .err = ERR_NOSPACE};
	env_fs_mem_inject(&fs, &open1);
	check_failed_checkpoint(db, &fs, &m, lsm_checkpoint(db, "ck", NULL), seed);
	struct env_fs_mem_fault link2 = {.op = ENV_FS_OP_LINK, .nth = 2, .err = ERR_NOSPACE};
	env_fs_mem_inject(&fs, &link2);
	check_failed_checkpoint(db, &fs, &m, lsm_checkpoint(db, "ck", NULL), seed);
	struct env_fs_mem_fault none = {0};
	env_fs_mem_inject(&fs, &none);
	assert_int_equal(lsm_checkpoint(db, "ck", NULL), 0);
	check_checkpoint(&fs.base, "ck", &m, seed);
	lsm_close(db);
	model_deinit(&m);
	env_fs_mem_deinit(&fs);
}

/* A checkpoint, cut by power right after it returned, opens. */
static void test_lsm_checkpoint_survives_a_power_cut(void **state)
{
	(void)state;
	uint64_t seed = 0xc4c4000a;
	struct env_fs_mem fs;
	env_fs_mem_init(&fs, seed);
	struct env_rng r;
	env_rng_seed(&r, seed);
	struct model m;
	model_init(&m);
	struct lsm *db = open_store(&fs.base, SRC, seed);
	for (int step = 0; step < 600; step++)
		put(db, &m, (int)(env_rng_next(&r) % KEYS), step % 4 ? small_len(&r) : blob_len(&r),
		    (uint64_t)step);
	assert_int_equal(lsm_checkpoint(db, "ck", NULL), 0);
	env_fs_mem_crash(&fs, ENV_FS_MEM_CRASH_DROP);
	lsm_close(db);
	check_checkpoint(&fs.base, "ck", &m, seed);
	model_deinit(&m);
	env_fs_mem_deinit(&fs);
}

/* ---- Real files --------------------------------------------------------- */

static int remove_entry(void *ctx, const char *name)
{
	struct env_fs *fs = ((void **)ctx)[0];
	const char *dir = ((void **)ctx)[1];
	char path[FS_PATH_BYTES_MAX];
	snprintf(path, sizeof(path), "%s/%s", dir, name);
	env_fs_remove(fs, path);
	return 0;
}

static void remove_tree(struct env_fs *fs, const char *dir)
{
	void *ctx[2] = {fs, (void *)dir};
	env_fs_list(fs, dir, remove_entry, ctx);
	env_fs_rmdir(fs, dir);
}

static void test_lsm_checkpoint_on_real_files(void **state)
{
	(void)state;
	uint64_t seed = 0xc4c4000b;
	struct env_fs_posix fs;
	env_fs_posix_init(&fs);
	char root[] = "/tmp/ringkv-ckpt-test-XXXXXX";
	assert_non_null(mkdtemp(root));
	char src[FS_PATH_BYTES_MAX], ck[FS_PATH_BYTES_MAX];
	snprintf(src, sizeof(src), "%s/db", root);
	snprintf(ck, sizeof(ck), "%s/ck", root);
	struct env_rng r;
	env_rng_seed(&r, seed);
	struct model m;
	model_init(&m);
	struct lsm *db = open_store(&fs.base, src, seed);
	for (int step = 0; step < 400; step++)
		put(db, &m, (int)(env_rng_next(&r) % KEYS), step % 4 ? small_len(&r) : blob_len(&r),
		    (uint64_t)step);
	struct lsm_checkpoint_info info;
	assert_int_equal(lsm_checkpoint(db, ck, &info), 0);
	assert_true(info.file_count >= 2);
	struct model at;
	model_init(&at);
	model_copy(&at, &m);
	for (int i = 0; i < KEYS; i += 3) /* the source goes on */
		put(db, &m, i, i % 2 ? -1 : blob_len(&r), 9000u + (uint64_t)i);
	lsm_close(db);
	db = open_store(&fs.base, src, seed);
	check_model(db, &m, seed);
	lsm_close(db);
	remove_tree(&fs.base, src); /* the checkpoint's links keep the files */
	db = open_store(&fs.base, ck, seed);
	check_model(db, &at, seed);
	lsm_close(db);
	remove_tree(&fs.base, ck);
	assert_int_equal(env_fs_rmdir(&fs.base, root), 0);
	model_deinit(&at);
	model_deinit(&m);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_lsm_checkpoint_holds_memtable_data),
	    cmocka_unit_test(test_lsm_checkpoint_holds_every_level),
	    cmocka_unit_test(test_lsm_checkpoint_holds_blobs_and_not_later_writes),
	    cmocka_unit_test(test_lsm_checkpoint_of_a_checkpoint),
	    cmocka_unit_test(test_lsm_checkpoint_refuses_an_existing_dir),
	    cmocka_unit_test(test_lsm_checkpoint_beside_a_writer),
	    cmocka_unit_test(test_lsm_checkpoint_io_error_leaves_no_dir),
	    cmocka_unit_test(test_lsm_checkpoint_full_disk_leaves_no_dir),
	    cmocka_unit_test(test_lsm_checkpoint_failed_rotation_or_link_keeps_store),
	    cmocka_unit_test(test_lsm_checkpoint_survives_a_power_cut),
	    cmocka_unit_test(test_lsm_checkpoint_on_real_files),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
