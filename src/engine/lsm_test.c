/*
 * lsm_test.c - the engine core (engine/lsm.h) against a model, under power
 * cuts, failed fsyncs and concurrent writers (a full disk: lsm_nospace_test.c).
 *
 * The engine's threads share one env_fs_mem (it locks internally; it also
 * counts calls and can model fsync latency). Every test is seeded and prints its seed on failure.
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
#include <glob.h>
#include <unistd.h>

#include "base/err.h"
#include "base/limits.h"
#include "engine/lsm.h"
#include "engine/lsm_internal.h"
#include "engine/manifest.h"
#include "env/env.h"
#include "env/env_fs_mem.h"

/* ---- The file system --------------------------------------------------- */

/* env_fs_mem locks internally, so the engine's threads share it directly.
 * A crash also clears the fault rule, so the reopen that follows works. */
static void lfs_crash(struct env_fs_mem *fs)
{
	env_fs_mem_crash(fs, ENV_FS_MEM_CRASH_TORN);
	struct env_fs_mem_fault none = {0};
	env_fs_mem_inject(fs, &none);
}

/* ---- The model -------------------------------------------------------- */

#define KEYS    48
#define DIR     "db"
#define VAL_MAX (3 * BLOB_THRESHOLD)

/* The value of model key k: absent (len -1) or len bytes made from tag. */
struct model {
	int64_t len[KEYS];
	uint64_t tag[KEYS];
};

static void fill(uint8_t *p, size_t len, uint64_t tag)
{
	for (size_t i = 0; i < len; i++)
		p[i] = (uint8_t)((tag * 2654435761u + i * 31) >> 3);
}

static void key_of(char *k, int i)
{
	snprintf(k, 16, "key%05d", i);
}

/* Puts (len >= 0) or deletes key i; returns lsm_write's result. */
static int do_write(struct lsm *db, int i, int64_t len, uint64_t tag, uint8_t *scratch)
{
	char k[16];
	key_of(k, i);
	struct lsm_op op = {.kind = IKEY_KIND_DELETE, .key = bytes_cstr(k)};
	if (len >= 0) {
		uint8_t *v = scratch + VAL_MAX + 16; /* the second half */
		fill(v, (size_t)len, tag);
		op.kind = IKEY_KIND_PUT;
		op.value_record =
		    bytes_make(scratch, vrec_encode(scratch, 0, bytes_make(v, (size_t)len)));
	}
	struct lsm_batch b = {.ops = &op, .count = 1};
	return lsm_write(db, &b);
}

/* 0 when key i holds exactly (len, tag), len -1 meaning absent. */
static int check_key(struct lsm *db, int i, int64_t len, uint64_t tag, uint8_t *scratch)
{
	char k[16];
	key_of(k, i);
	struct buf v;
	buf_init(&v);
	int err = lsm_get(db, bytes_cstr(k), &v), bad = 0;
	if (len < 0) {
		bad = err != ERR_NOT_FOUND;
	} else if (err || v.len != (size_t)len + 1 || v.data[0] != 0) {
		bad = 1;
	} else {
		fill(scratch, (size_t)len, tag);
		bad = memcmp(v.data + 1, scratch, (size_t)len) != 0;
	}
	buf_deinit(&v);
	return bad;
}

static int64_t random_len(struct env_rng *r)
{
	uint64_t x = env_rng_next(r) % 10;
	if (x < 2)
		return -1;
	if (x < 4)
		return (int64_t)(BLOB_THRESHOLD + env_rng_next(r) % BLOB_THRESHOLD);
	return (int64_t)(env_rng_next(r) % 200);
}

static struct lsm *open_db(struct env_fs_mem *fs, enum lsm_sync sync, uint64_t seed)
{
	struct lsm_options o = {.sync = sync, .memtable_bytes = 256 * KIB, .seed = seed};
	struct lsm *db = NULL;
	int err = lsm_open(DIR, &fs->base, &o, &db, NULL);
	if (err)
		fprintf(stderr, "lsm_open: %s (seed %" PRIu64 ")\n", err_str(err), seed);
	assert_int_equal(err, 0);
	return db;
}

static void check_all(struct lsm *db, const struct model *m, uint8_t *scratch, uint64_t seed)
{
	for (int i = 0; i < KEYS; i++) {
		if (check_key(db, i, m->len[i], m->tag[i], scratch)) {
			fprintf(stderr, "key %d wrong (seed %" PRIu64 ")\n", i, seed);
			fail();
		}
	}
}

static void test_lsm_matches_model_across_reopen_and_flush(void **state)
{
	(void)state;
	uint64_t seed = 0x5eed0001;
	struct env_fs_mem fs;
	env_fs_mem_init(&fs, seed);
	struct env_rng r;
	env_rng_seed(&r, seed);
	uint8_t *scratch = malloc(2 * (VAL_MAX + 16));
	struct model m;
	for (int i = 0; i < KEYS; i++)
		m.len[i] = -1;
	struct lsm *db = open_db(&fs, LSM_SYNC_ALWAYS, seed);
	for (int step = 0; step < 3000; step++) {
		uint64_t x = env_rng_next(&r) % 100;
		if (x == 0) {
			lsm_close(db);
			db = open_db(&fs, step % 2 ? LSM_SYNC_NONE : LSM_SYNC_ALWAYS,
			             seed + (uint64_t)step);
		} else if (x == 1) {
			assert_int_equal(lsm_flush(db), 0);
		} else {
			int i = (int)(env_rng_next(&r) % KEYS);
			int64_t len = random_len(&r);
			assert_int_equal(do_write(db, i, len, (uint64_t)step, scratch), 0);
			m.len[i] = len;
			m.tag[i] = (uint64_t)step;
		}
		if (step % 10 == 0 || x <= 1) {
			check_all(db, &m, scratch, seed);
		} else if (x > 1) {
			int i = (int)(env_rng_next(&r) % KEYS);
			assert_int_equal(check_key(db, i, m.len[i], m.tag[i], scratch), 0);
		}
	}
	check_all(db, &m, scratch, seed);
	assert_true(lsm_level_file_count(db, 1) > 0); /* compaction ran */
	lsm_close(db);
	free(scratch);
	env_fs_mem_deinit(&fs);
}

/* A full scan of it equals m (key order = index order: key%05d). */
static void check_scan(struct lsm_iter *it, const struct model *m, uint8_t *scratch, uint64_t seed)
{
	struct buf v;
	buf_init(&v);
	int i = 0;
	for (lsm_iter_seek_to_first(it); lsm_iter_valid(it); lsm_iter_next(it), i++) {
		while (i < KEYS && m->len[i] < 0)
			i++;
		char k[16];
		key_of(k, i < KEYS ? i : KEYS - 1);
		struct bytes got = lsm_iter_key(it);
		int bad = i >= KEYS || got.len != strlen(k) || memcmp(got.ptr, k, got.len) != 0;
		if (!bad) {
			assert_int_equal(lsm_iter_value(it, &v), 0);
			fill(scratch, (size_t)m->len[i], m->tag[i]);
			bad = v.len != (size_t)m->len[i] + 1 ||
			    memcmp(v.data + 1, scratch, (size_t)m->len[i]) != 0;
		}
		if (bad) {
			fprintf(stderr,
			        "scan wrong at model key %d: got %.*s, %zu bytes, want %" PRId64
			        " (seed %" PRIu64 ")\n",
			        i, (int)got.len, (const char *)got.ptr, v.len,
			        i < KEYS ? m->len[i] : -2, seed);
			fail();
		}
	}
	assert_int_equal(lsm_iter_status(it), 0);
	while (i < KEYS && m->len[i] < 0)
		i++;
	assert_int_equal(i, KEYS);
	buf_deinit(&v);
}

/* lsm_iter_seek(key i) lands on the first live model key >= i. */
static void check_seek(struct lsm_iter *it, const struct model *m, int i)
{
	char k[16];
	key_of(k, i);
	lsm_iter_seek(it, bytes_cstr(k));
	int want = i;
	while (want < KEYS && m->len[want] < 0)
		want++;
	assert_int_equal(lsm_iter_valid(it), want < KEYS);
	if (want < KEYS) {
		key_of(k, want);
		assert_int_equal(lsm_iter_key(it).len, strlen(k));
		assert_memory_equal(lsm_iter_key(it).ptr, k, strlen(k));
	}
}

/* Iterators over memtables and many tables agree with the model; one held
 * across later writes, a flush and gets keeps showing its snapshot. */
static void test_lsm_iter_matches_model_and_keeps_its_snapshot(void **state)
{
	(void)state;
	uint64_t seed = 0x5eed0042;
	struct env_fs_mem fs;
	env_fs_mem_init(&fs, seed);
	struct env_rng r;
	env_rng_seed(&r, seed);
	uint8_t *scratch = malloc(2 * (VAL_MAX + 16));
	struct model m, snap;
	for (int i = 0; i < KEYS; i++)
		m.len[i] = -1;
	struct lsm *db = open_db(&fs, LSM_SYNC_NONE, seed);
	struct lsm_iter *held = NULL;
	for (int step = 0; step < 1500; step++) {
		uint64_t x = env_rng_next(&r) % 100;
		if (x == 0 && !held) {
			lsm_close(db);
			db = open_db(&fs, LSM_SYNC_NONE, seed + (uint64_t)step);
		} else if (x <= 2) {
			assert_int_equal(lsm_flush(db), 0);
		} else {
			int i = (int)(env_rng_next(&r) % KEYS);
			int64_t len = random_len(&r);
			assert_int_equal(do_write(db, i, len, (uint64_t)step, scratch), 0);
			m.len[i] = len;
			m.tag[i] = (uint64_t)step;
		}
		if (step % 50 == 25) {
			struct lsm_iter *it;
			assert_int_equal(lsm_iter_create(db, &it), 0);
			check_scan(it, &m, scratch, seed);
			for (int t = 0; t < 8; t++)
				check_seek(it, &m, (int)(env_rng_next(&r) % (KEYS + 1)));
			lsm_iter_destroy(it);
		}
		if (step % 300 == 100) {
			assert_int_equal(lsm_iter_create(db, &held), 0);
			snap = m;
		} else if (step % 300 == 250) {
			check_scan(held, &snap, scratch, seed);
			check_all(db, &m, scratch, seed); /* gets beside an iterator */
			lsm_iter_destroy(held);
			held = NULL;
		}
	}
	assert_true(lsm_level_file_count(db, 0) + lsm_level_file_count(db, 1) > 0);
	lsm_close(db);
	free(scratch);
	env_fs_mem_deinit(&fs);
}

static struct lsm *open_small_with(struct env_fs_mem *fs, uint64_t seed,
                                   enum sst_compression compression)
{
	struct lsm_options o = {.sync = LSM_SYNC_NONE,
	                        .memtable_bytes = 32 * KIB,
	                        .l1_bytes = 8 * KIB,
	                        .table_bytes = 4 * KIB,
	                        .compaction_bytes_per_sec = 64 * MIB,
	                        .compression = compression,
	                        .seed = seed};
	struct lsm *db = NULL;
	assert_int_equal(lsm_open(DIR, &fs->base, &o, &db, NULL), 0);
	return db;
}

static struct lsm *open_small(struct env_fs_mem *fs, uint64_t seed)
{
	return open_small_with(fs, seed, SST_COMPRESSION_NONE);
}

static uint64_t table_bytes(struct lsm *db)
{
	uint64_t n = 0;
	for (uint32_t level = 0; level < LSM_LEVELS; level++)
		n += lsm_level_bytes(db, level);
	return n;
}

/* Small memtables and levels: compaction runs many times, down to L2 and
 * beyond, with reopens between; the store equals the model throughout,
 * and overwrites and deletes do not make the tables grow without bound.
 * Each reopen switches to the next compression, so tables written with
 * one are read and compacted under another. */
static void compaction_model_run(uint64_t seed, enum sst_compression first)
{
	struct env_fs_mem fs;
	env_fs_mem_init(&fs, seed);
	struct env_rng r;
	env_rng_seed(&r, seed);
	uint8_t *scratch = malloc(2 * (VAL_MAX + 16));
	struct model m;
	for (int i = 0; i < KEYS; i++)
		m.len[i] = -1;
	enum sst_compression c = first;
	struct lsm *db = open_small_with(&fs, seed, c);
	uint32_t deepest = 0;
	for (int step = 0; step < 4000; step++) {
		uint64_t x = env_rng_next(&r) % 200;
		if (x == 0) {
			lsm_close(db);
			c = (c + 1) % (SST_COMPRESSION_ZSTD + 1);
			db = open_small_with(&fs, seed + (uint64_t)step, c);
		} else if (x <= 3) {
			assert_int_equal(lsm_flush(db), 0);
		} else {
			int i = (int)(env_rng_next(&r) % KEYS);
			int64_t len =
			    env_rng_next(&r) % 8 == 0 ? -1 : (int64_t)(env_rng_next(&r) % 600);
			assert_int_equal(do_write(db, i, len, (uint64_t)step, scratch), 0);
			m.len[i] = len;
			m.tag[i] = (uint64_t)step;
		}
		int i = (int)(env_rng_next(&r) % KEYS);
		assert_int_equal(check_key(db, i, m.len[i], m.tag[i], scratch), 0);
		if (step % 100 == 0 || x <= 3)
			check_all(db, &m, scratch, seed);
		for (uint32_t level = deepest + 1; level < LSM_LEVELS; level++)
			if (lsm_level_file_count(db, level))
				deepest = level;
	}
	assert_int_equal(lsm_flush(db), 0);
	assert_int_equal(lsm_compact_wait(db), 0);
	check_all(db, &m, scratch, seed);
	assert_true(deepest >= 2);
	/* Live data is at most KEYS * ~620 bytes; 4000 writes of it would be
	 * ~1.2 MB without compaction. */
	uint64_t bytes = table_bytes(db);
	assert_true(bytes < 8 * KEYS * 700 + 4 * 32 * KIB);
	lsm_close(db);
	db = open_small(&fs, seed);
	check_all(db, &m, scratch, seed);
	lsm_close(db);
	free(scratch);
	env_fs_mem_deinit(&fs);
}

static void test_lsm_compaction_matches_model(void **state)
{
	(void)state;
	compaction_model_run(0x5eed0077, SST_COMPRESSION_NONE);
}

static void test_lsm_compaction_matches_model_compressed(void **state)
{
	(void)state;
	compaction_model_run(0x5eed0078, SST_COMPRESSION_LZ4);
	compaction_model_run(0x5eed0079, SST_COMPRESSION_ZSTD);
}

/* The nice value of this process's thread named name, or -100. */
static int thread_nice(const char *name)
{
	char line[512];
	glob_t g;
	assert_int_equal(glob("/proc/self/task/*/stat", 0, NULL, &g), 0);
	for (size_t i = 0; i < g.gl_pathc; i++) {
		FILE *f = fopen(g.gl_pathv[i], "r");
		if (!f)
			continue;
		size_t n = fread(line, 1, sizeof(line) - 1, f);
		fclose(f);
		line[n] = 0;
		char *open = strchr(line, '('), *close = strrchr(line, ')');
		if (!open || !close || (size_t)(close - open - 1) != strlen(name) ||
		    strncmp(open + 1, name, strlen(name)) != 0)
			continue;
		/* After "(comm) ": state is field 3; nice is field 19. */
		int field = 3, nice = -100;
		for (char *p = strtok(close + 2, " "); p; p = strtok(NULL, " "), field++)
			if (field == 19)
				nice = atoi(p);
		globfree(&g);
		return nice;
	}
	globfree(&g);
	return -100;
}

/* The flush thread runs at background_nice while it keeps up (where the
 * process may go back to 0 afterwards: as root here), at the opener's
 * priority with 0; a value outside 0..19 is refused. */
static void test_lsm_background_thread_runs_at_its_nice(void **state)
{
	(void)state;
	struct env_fs_mem fs;
	env_fs_mem_init(&fs, 13);
	struct lsm_options o = {.sync = LSM_SYNC_NONE,
	                        .background_nice = LSM_BACKGROUND_NICE_MAX + 1};
	struct lsm *db = NULL;
	assert_int_equal(lsm_open(DIR, &fs.base, &o, &db, NULL), ERR_INVALID);
	o.background_nice = -1;
	assert_int_equal(lsm_open(DIR, &fs.base, &o, &db, NULL), ERR_INVALID);
	if (geteuid() != 0) {
		env_fs_mem_deinit(&fs);
		skip(); /* going back to 0 needs CAP_SYS_NICE or RLIMIT_NICE */
	}
	o.background_nice = 0;
	assert_int_equal(lsm_open(DIR, &fs.base, &o, &db, NULL), 0);
	assert_int_equal(thread_nice("lsm-flush"), 0);
	lsm_close(db);
	o.background_nice = LSM_BACKGROUND_NICE_MAX;
	assert_int_equal(lsm_open(DIR, &fs.base, &o, &db, NULL), 0);
	struct lsm_stats st;
	for (int i = 0; i < 2000; i++) { /* the thread sets it when it starts */
		lsm_stats(db, &st);
		if (st.bg_priority_changes > 0)
			break;
		usleep(1000);
	}
	assert_int_equal(st.bg_priority_changes, 1);
	assert_int_equal(thread_nice("lsm-flush"), LSM_BACKGROUND_NICE_MAX);
	lsm_close(db);
	env_fs_mem_deinit(&fs);
}

/* Table bytes after writing n compressible values of len bytes, a flush
 * and a full compaction, reading every value back. */
static uint64_t compressed_table_bytes(enum sst_compression c, int n, size_t len)
{
	struct env_fs_mem fs;
	env_fs_mem_init(&fs, 11);
	struct lsm *db = open_small_with(&fs, 11, c);
	uint8_t *v = malloc(len), rec[700];
	assert_true(len + 16 <= sizeof(rec));
	memset(v, 'v', len);
	char k[16];
	for (int i = 0; i < n; i++) {
		key_of(k, i);
		v[i % len] = (uint8_t)i; /* not all alike */
		struct lsm_op op = {.kind = IKEY_KIND_PUT,
		                    .key = bytes_cstr(k),
		                    .value_record = bytes_make(rec, vrec_encode(rec, 0, bytes_make(v, len)))};
		struct lsm_batch b = {.ops = &op, .count = 1};
		assert_int_equal(lsm_write(db, &b), 0);
	}
	assert_int_equal(lsm_flush(db), 0);
	assert_int_equal(lsm_compact_wait(db), 0);
	uint64_t bytes = table_bytes(db);
	struct buf got;
	buf_init(&got);
	for (int i = 0; i < n; i++) {
		key_of(k, i);
		assert_int_equal(lsm_get(db, bytes_cstr(k), &got), 0);
		assert_int_equal(got.len, len + 1);
	}
	buf_deinit(&got);
	lsm_close(db);
	free(v);
	env_fs_mem_deinit(&fs);
	return bytes;
}

/* lz4 and zstd shrink compressible tables; an unknown compression is
 * refused at open. */
static void test_lsm_compression_shrinks_tables(void **state)
{
	(void)state;
	uint64_t none = compressed_table_bytes(SST_COMPRESSION_NONE, 400, 600);
	uint64_t lz4 = compressed_table_bytes(SST_COMPRESSION_LZ4, 400, 600);
	uint64_t zstd = compressed_table_bytes(SST_COMPRESSION_ZSTD, 400, 600);
	assert_true(none > 400 * 600);
	assert_true(lz4 < none / 4);
	assert_true(zstd < none / 4);
	struct env_fs_mem fs;
	env_fs_mem_init(&fs, 12);
	struct lsm_options o = {.compression = (enum sst_compression)(SST_COMPRESSION_ZSTD + 1)};
	struct lsm *db = NULL;
	assert_int_equal(lsm_open(DIR, &fs.base, &o, &db, NULL), ERR_INVALID);
	assert_null(db);
	env_fs_mem_deinit(&fs);
}

/* Writes every key with an expiry (0: none) or deletes it (len -1). */
static void write_all(struct lsm *db, int64_t len, int64_t expire_ms, uint8_t *scratch)
{
	for (int i = 0; i < KEYS; i++) {
		char k[16];
		key_of(k, i);
		struct lsm_op op = {.kind = IKEY_KIND_DELETE, .key = bytes_cstr(k)};
		if (len >= 0) {
			uint8_t v[64] = {0};
			op.kind = IKEY_KIND_PUT;
			op.value_record =
			    bytes_make(scratch, vrec_encode(scratch, expire_ms, bytes_make(v, 64)));
		}
		struct lsm_batch b = {.ops = &op, .count = 1};
		assert_int_equal(lsm_write(db, &b), 0);
	}
	assert_int_equal(lsm_flush(db), 0);
}

/* A compaction into an empty bottom level drops tombstones, what they
 * hide, and expired values: nothing is left. */
static void test_lsm_compaction_drops_tombstones_and_expired(void **state)
{
	(void)state;
	struct env_fs_mem fs;
	env_fs_mem_init(&fs, 9);
	uint8_t *scratch = malloc(2 * (VAL_MAX + 16));
	struct lsm *db = open_small(&fs, 9);
	write_all(db, 64, 0, scratch);
	write_all(db, 64, 0, scratch);
	write_all(db, -1, 0, scratch);
	write_all(db, -1, 0, scratch); /* the 4th L0 table triggers */
	assert_int_equal(lsm_compact_wait(db), 0);
	assert_int_equal(lsm_level_file_count(db, 0), 0);
	assert_int_equal(table_bytes(db), 0);
	for (int i = 0; i < KEYS; i++)
		assert_int_equal(check_key(db, i, -1, 0, scratch), 0);
	write_all(db, 64, 1, scratch); /* expired in 1970 */
	write_all(db, 64, 1, scratch);
	write_all(db, 64, 1, scratch);
	write_all(db, 64, 1, scratch);
	assert_int_equal(lsm_compact_wait(db), 0);
	assert_int_equal(table_bytes(db), 0);
	/* A live value survives next to them. */
	write_all(db, 64, INT64_MAX, scratch);
	for (int n = 0; n < 3; n++)
		write_all(db, 64, 1, scratch);
	assert_int_equal(lsm_compact_wait(db), 0);
	assert_int_equal(lsm_level_file_count(db, 0), 0);
	assert_true(table_bytes(db) == 0); /* expired newest versions hide it */
	lsm_close(db);
	free(scratch);
	env_fs_mem_deinit(&fs);
}

/* Power cut after the nth env call (every later call fails, as with no
 * power), sync=always: every acknowledged write survives, the one write in
 * flight may or may not, and nothing else appears. */
static void test_lsm_power_cut_keeps_acknowledged_writes(void **state)
{
	(void)state;
	uint8_t *scratch = malloc(2 * (VAL_MAX + 16));
	for (uint64_t round = 0; round < 24; round++) {
		uint64_t seed = 0xc0ffee00 + round;
		struct env_fs_mem fs;
		env_fs_mem_init(&fs, seed);
		struct env_rng r;
		env_rng_seed(&r, seed);
		struct model m, pending;
		for (int i = 0; i < KEYS; i++)
			m.len[i] = pending.len[i] = -2; /* -2: never written */
		struct lsm *db = open_db(&fs, LSM_SYNC_ALWAYS, seed);
		struct env_fs_mem_fault cut = {.op = ENV_FS_OP_ANY,
		                               .nth = 50 + env_rng_next(&r) % 1500,
		                               .err = ERR_IO,
		                               .sticky = true,
		                               .partial = true};
		env_fs_mem_inject(&fs, &cut);
		int uncertain = -1;
		for (int step = 0; step < 400; step++) {
			int i = (int)(env_rng_next(&r) % KEYS);
			int64_t len = random_len(&r);
			int err = do_write(db, i, len, (uint64_t)step + 1, scratch);
			if (err == 0) {
				m.len[i] = len;
				m.tag[i] = (uint64_t)step + 1;
			} else if (uncertain < 0) {
				uncertain = i;
				pending.len[i] = len;
				pending.tag[i] = (uint64_t)step + 1;
			}
		}
		lfs_crash(&fs);
		lsm_close(db);
		db = open_db(&fs, LSM_SYNC_ALWAYS, seed + 1);
		for (int i = 0; i < KEYS; i++) {
			int64_t len = m.len[i] == -2 ? -1 : m.len[i];
			int ok = check_key(db, i, len, m.tag[i], scratch) == 0;
			if (!ok && i == uncertain)
				ok = check_key(db, i, pending.len[i], pending.tag[i], scratch) == 0;
			if (!ok)
				fprintf(stderr, "key %d wrong after power cut (seed %" PRIu64 ")\n",
				        i, seed);
			assert_true(ok);
		}
		lsm_close(db);
		env_fs_mem_deinit(&fs);
	}
	free(scratch);
}

/* sync=none: a power cut keeps a prefix of the acknowledged writes (some
 * may be lost), never a later write without an earlier one. Every write
 * puts a distinct key, so the surviving set must be {0..p-1} for some p. */
static void test_lsm_sync_none_keeps_a_prefix(void **state)
{
	(void)state;
	uint8_t *scratch = malloc(2 * (VAL_MAX + 16));
	enum { WRITES = 600 };
	for (uint64_t round = 0; round < 12; round++) {
		uint64_t seed = 0xab0000 + round;
		struct env_fs_mem fs;
		env_fs_mem_init(&fs, seed);
		struct env_rng r;
		env_rng_seed(&r, seed);
		struct lsm_options o = {
		    .sync = LSM_SYNC_NONE, .memtable_bytes = 64 * KIB, .seed = seed};
		struct lsm *db;
		assert_int_equal(lsm_open(DIR, &fs.base, &o, &db, NULL), 0);
		int64_t lens[WRITES];
		int n = (int)(env_rng_next(&r) % WRITES);
		for (int i = 0; i < n; i++) {
			lens[i] = (int64_t)(env_rng_next(&r) % 600);
			char k[16];
			snprintf(k, sizeof(k), "p%05d", i);
			fill(scratch + VAL_MAX + 16, (size_t)lens[i], (uint64_t)i);
			struct lsm_op op = {.kind = IKEY_KIND_PUT, .key = bytes_cstr(k)};
			op.value_record = bytes_make(
			    scratch,
			    vrec_encode(scratch, 0,
			                bytes_make(scratch + VAL_MAX + 16, (size_t)lens[i])));
			struct lsm_batch b = {.ops = &op, .count = 1};
			assert_int_equal(lsm_write(db, &b), 0);
		}
		lfs_crash(&fs);
		lsm_close(db);
		assert_int_equal(lsm_open(DIR, &fs.base, &o, &db, NULL), 0);
		bool gone = false;
		for (int i = 0; i < n; i++) {
			char k[16];
			snprintf(k, sizeof(k), "p%05d", i);
			struct buf v;
			buf_init(&v);
			int err = lsm_get(db, bytes_cstr(k), &v);
			if (err == ERR_NOT_FOUND) {
				gone = true;
			} else {
				if (gone)
					fprintf(stderr, "hole before write %d (seed %" PRIu64 ")\n",
					        i, seed);
				assert_false(gone);
				assert_int_equal(err, 0);
				fill(scratch, (size_t)lens[i], (uint64_t)i);
				assert_int_equal(v.len, (size_t)lens[i] + 1);
				assert_memory_equal(v.data + 1, scratch, (size_t)lens[i]);
			}
			buf_deinit(&v);
		}
		lsm_close(db);
		env_fs_mem_deinit(&fs);
	}
	free(scratch);
}

/* ---- Power cuts inside a compaction ----------------------------------- */

struct names {
	uint64_t sst[256];
	size_t sst_count;
};

static int collect_sst(void *ctx, const char *name)
{
	struct names *n = ctx;
	unsigned long long number;
	char ext[8];
	if (sscanf(name, "%llu.%7s", &number, ext) == 2 && strcmp(ext, "sst") == 0 &&
	    n->sst_count < sizeof(n->sst) / sizeof(n->sst[0]))
		n->sst[n->sst_count++] = number;
	return 0;
}

/* The current version is well formed and matches the directory: L1 and
 * deeper are sorted and non-overlapping, every live table's file exists
 * and every .sst file is live (orphaned outputs and removed inputs are
 * gone after recovery). The test reaches into lsm_internal.h: the
 * version's key ranges are not part of lsm.h. */
static void check_version(struct lsm *db, struct env_fs_mem *fs, uint64_t seed)
{
	struct names n = {.sst_count = 0};
	assert_int_equal(env_fs_list(&fs->base, DIR, collect_sst, &n), 0);
	size_t live = 0;
	env_mutex_lock(&db->mu);
	struct version *v = manifest_current(db->man);
	for (uint32_t level = 0; level < LSM_LEVELS; level++) {
		size_t count = version_file_count(v, level);
		for (size_t i = 0; i < count; i++) {
			const struct manifest_file *f = version_file(v, level, i);
			bool found = false;
			for (size_t j = 0; j < n.sst_count; j++)
				found = found || n.sst[j] == f->number;
			if (!found)
				fprintf(stderr, "table %" PRIu64 " missing (seed %" PRIu64 ")\n",
				        f->number, seed);
			assert_true(found);
			struct bytes lo = f->smallest, hi = f->largest;
			lo.len -= IKEY_TRAILER_BYTES;
			hi.len -= IKEY_TRAILER_BYTES;
			assert_true(ikey_user_cmp(lo, hi) <= 0);
			if (level > 0 && i > 0) {
				struct bytes prev = version_file(v, level, i - 1)->largest;
				prev.len -= IKEY_TRAILER_BYTES;
				assert_true(ikey_user_cmp(prev, lo) < 0);
			}
		}
		live += count;
	}
	env_mutex_unlock(&db->mu);
	if (n.sst_count != live) {
		fprintf(stderr, "%zu .sst files, %zu live (seed %" PRIu64 "):", n.sst_count, live,
		        seed);
		for (size_t j = 0; j < n.sst_count; j++)
			fprintf(stderr, " %" PRIu64, n.sst[j]);
		fprintf(stderr, "\n");
	}
	assert_int_equal(n.sst_count, live);
}

static struct lsm *open_compacting(struct env_fs_mem *fs, uint64_t seed)
{
	struct lsm_options o = {.sync = LSM_SYNC_ALWAYS,
	                        .memtable_bytes = 32 * KIB,
	                        .l1_bytes = 8 * KIB,
	                        .table_bytes = 4 * KIB,
	                        .seed = seed};
	struct lsm *db = NULL;
	assert_int_equal(lsm_open(DIR, &fs->base, &o, &db, NULL), 0);
	return db;
}

/* One L0 table's worth: every key put (random length) or deleted. */
static void write_round(struct lsm *db, struct model *m, struct env_rng *r, uint64_t tag,
                        uint8_t *scratch)
{
	for (int i = 0; i < KEYS; i++) {
		int64_t len = env_rng_next(r) % 5 == 0 ? -1 : (int64_t)(env_rng_next(r) % 400);
		assert_int_equal(do_write(db, i, len, tag * KEYS + (uint64_t)i, scratch), 0);
		m->len[i] = len;
		m->tag[i] = tag * KEYS + (uint64_t)i;
	}
}

/* Builds L1 (and deeper) tables and three L0 tables, all acknowledged
 * (sync=always), then the writes of a fourth; returns the open store. */
static struct lsm *prepare_compaction(struct env_fs_mem *fs, struct model *m, uint64_t seed,
                                      uint8_t *scratch)
{
	struct env_rng r;
	env_rng_seed(&r, seed);
	struct lsm *db = open_compacting(fs, seed);
	for (uint64_t round = 0; round < 7; round++) {
		write_round(db, m, &r, round + 1, scratch);
		assert_int_equal(lsm_flush(db), 0);
		if (round == 3)
			assert_int_equal(lsm_compact_wait(db), 0);
	}
	assert_int_equal(lsm_compact_wait(db), 0);
	write_round(db, m, &r, 8, scratch);
	return db;
}

/* The flush of the 4th L0 table and the compaction it triggers, with the
 * power cut after the nth env call (0: none). Returns the env calls made. */
static uint64_t cut_compaction_at(uint64_t nth, uint64_t seed, uint8_t *scratch)
{
	struct env_fs_mem fs;
	env_fs_mem_init(&fs, seed);
	struct model m;
	struct lsm *db = prepare_compaction(&fs, &m, seed, scratch);
	uint64_t calls0 = env_fs_mem_calls(&fs, ENV_FS_OP_ANY);
	struct env_fs_mem_fault cut = {
	    .op = ENV_FS_OP_ANY, .nth = nth, .err = ERR_IO, .sticky = true, .partial = true};
	env_fs_mem_inject(&fs, &cut);
	int err = lsm_flush(db);
	if (!err)
		err = lsm_compact_wait(db);
	assert_true(nth > 0 || err == 0);
	uint64_t calls = env_fs_mem_calls(&fs, ENV_FS_OP_ANY) - calls0;
	lfs_crash(&fs);
	lsm_close(db);
	db = open_compacting(&fs, seed + 1);
	check_all(db, &m, scratch, seed * 1000 + nth);
	/* The reopened store may compact at once (the recovered memtable is
	 * another L0 table): let it finish before comparing with the files. */
	assert_int_equal(lsm_compact_wait(db), 0);
	check_all(db, &m, scratch, seed * 1000 + nth);
	check_version(db, &fs, seed * 1000 + nth);
	lsm_close(db);
	env_fs_mem_deinit(&fs);
	return calls;
}

/* Power cut at every env call of a flush and the L0->L1 compaction it
 * triggers (table builds, syncs, the manifest edit, input removals):
 * after recovery every acknowledged write is there, no deleted key is
 * back, no orphan table is left, and L1+ do not overlap. */
static void test_lsm_power_cut_during_compaction(void **state)
{
	(void)state;
	uint8_t *scratch = malloc(2 * (VAL_MAX + 16));
	uint64_t seed = 0xc0a1;
	uint64_t total = cut_compaction_at(0, seed, scratch);
	assert_true(total > 10);
	/* Every call when few, else a stride that still hits each phase. */
	uint64_t stride = total / 150 + 1;
	for (uint64_t nth = 1; nth <= total + 1; nth += stride)
		cut_compaction_at(nth, seed, scratch);
	fprintf(stderr, "compaction power cuts: %" PRIu64 " calls, stride %" PRIu64 "\n", total,
	        stride);
	free(scratch);
}

/* ---- sync=everysec ---------------------------------------------------- */

static struct lsm *open_everysec(struct env_fs_mem *fs, uint64_t interval_ms, uint64_t seed)
{
	struct lsm_options o = {.sync = LSM_SYNC_EVERYSEC,
	                        .memtable_bytes = 64 * KIB,
	                        .sync_interval_ms = interval_ms,
	                        .seed = seed};
	struct lsm *db = NULL;
	assert_int_equal(lsm_open(DIR, &fs->base, &o, &db, NULL), 0);
	return db;
}

/* Spins until lsm_synced_seq reaches seq or the store fails; false after
 * 20 s (a hung syncer), far above the 5 ms interval the tests use. */
static bool wait_synced(struct lsm *db, uint64_t seq)
{
	for (uint64_t t0 = env_mono_ns(); env_mono_ns() - t0 < 20000000000u;)
		if (lsm_synced_seq(db) >= seq || lsm_failed(db))
			return lsm_synced_seq(db) >= seq;
	return false;
}

static void put_numbered(struct lsm *db, int i, int64_t len, uint8_t *scratch)
{
	char k[16];
	snprintf(k, sizeof(k), "p%05d", i);
	fill(scratch + VAL_MAX + 16, (size_t)len, (uint64_t)i);
	struct lsm_op op = {.kind = IKEY_KIND_PUT, .key = bytes_cstr(k)};
	op.value_record = bytes_make(
	    scratch, vrec_encode(scratch, 0, bytes_make(scratch + VAL_MAX + 16, (size_t)len)));
	struct lsm_batch b = {.ops = &op, .count = 1};
	assert_int_equal(lsm_write(db, &b), 0);
}

/* The surviving writes p00000.. form a prefix; returns its length. */
static int surviving_prefix(struct lsm *db, const int64_t *lens, int n, uint8_t *scratch,
                            uint64_t seed)
{
	int p = -1;
	for (int i = 0; i < n; i++) {
		char k[16];
		snprintf(k, sizeof(k), "p%05d", i);
		struct buf v;
		buf_init(&v);
		int err = lsm_get(db, bytes_cstr(k), &v);
		if (err == ERR_NOT_FOUND && p < 0) {
			p = i;
		} else if (err != ERR_NOT_FOUND) {
			if (p >= 0)
				fprintf(stderr, "hole before write %d (seed %" PRIu64 ")\n", i,
				        seed);
			assert_true(p < 0);
			assert_int_equal(err, 0);
			fill(scratch, (size_t)lens[i], (uint64_t)i);
			assert_int_equal(v.len, (size_t)lens[i] + 1);
			assert_memory_equal(v.data + 1, scratch, (size_t)lens[i]);
		}
		buf_deinit(&v);
	}
	return p < 0 ? n : p;
}

/* sync=everysec: a power cut keeps a prefix of the acknowledged writes
 * that holds at least every write acknowledged before the last completed
 * background sync. Write i has sequence i + 1 in a new store. */
static void test_lsm_everysec_keeps_synced_prefix(void **state)
{
	(void)state;
	uint8_t *scratch = malloc(2 * (VAL_MAX + 16));
	enum { WRITES = 600 };
	for (uint64_t round = 0; round < 8; round++) {
		uint64_t seed = 0xe5ec00 + round;
		struct env_fs_mem fs;
		env_fs_mem_init(&fs, seed);
		struct env_rng r;
		env_rng_seed(&r, seed);
		struct lsm *db = open_everysec(&fs, 5, seed);
		int64_t lens[WRITES];
		int n = 1 + (int)(env_rng_next(&r) % WRITES);
		int mid = (int)(env_rng_next(&r) % (uint64_t)n);
		for (int i = 0; i < n; i++) {
			if (i == mid)
				assert_true(wait_synced(db, (uint64_t)mid));
			lens[i] = (int64_t)(env_rng_next(&r) % 600);
			put_numbered(db, i, lens[i], scratch);
		}
		uint64_t synced = lsm_synced_seq(db);
		assert_true(synced >= (uint64_t)mid);
		lfs_crash(&fs);
		lsm_close(db);
		db = open_everysec(&fs, 5, seed + 1);
		int p = surviving_prefix(db, lens, n, scratch, seed);
		if ((uint64_t)p < synced)
			fprintf(stderr, "%d survive, %" PRIu64 " synced (seed %" PRIu64 ")\n", p,
			        synced, seed);
		assert_true((uint64_t)p >= synced);
		lsm_close(db);
		env_fs_mem_deinit(&fs);
	}
	free(scratch);
}

/* sync=everysec with the default interval: thousands of writes cost a
 * handful of syncs (the background ones plus those of flushes). */
static void test_lsm_everysec_syncs_far_less_than_writes(void **state)
{
	(void)state;
	uint8_t *scratch = malloc(2 * (VAL_MAX + 16));
	struct env_fs_mem fs;
	env_fs_mem_init(&fs, 31);
	struct lsm *db = open_everysec(&fs, 0, 31);
	uint64_t syncs0 = env_fs_mem_calls(&fs, ENV_FS_OP_SYNC);
	enum { N = 3000 };
	for (int i = 0; i < N; i++)
		put_numbered(db, i, 100, scratch);
	uint64_t syncs = env_fs_mem_calls(&fs, ENV_FS_OP_SYNC) - syncs0;
	fprintf(stderr, "everysec: %d writes, %" PRIu64 " syncs\n", N, syncs);
	assert_true(syncs < N / 20);
	lsm_close(db);
	env_fs_mem_deinit(&fs);
	free(scratch);
}

/* A failed background sync fails the store: later writes return it. */
static void test_lsm_everysec_failed_sync_fails_store(void **state)
{
	(void)state;
	uint8_t *scratch = malloc(2 * (VAL_MAX + 16));
	struct env_fs_mem fs;
	env_fs_mem_init(&fs, 32);
	struct lsm *db = open_everysec(&fs, 5, 32);
	struct env_fs_mem_fault f = {.op = ENV_FS_OP_SYNC, .nth = 1, .err = ERR_IO};
	env_fs_mem_inject(&fs, &f);
	put_numbered(db, 0, 10, scratch);
	assert_false(wait_synced(db, 1));
	assert_int_equal(lsm_failed(db), ERR_IO);
	assert_int_equal(do_write(db, 1, 5, 5, scratch), ERR_IO);
	lsm_close(db);
	env_fs_mem_deinit(&fs);
	free(scratch);
}

/* An env_fs_mem whose syncs can be held at a gate: a sync that finds it
 * closed waits until the test opens it. The ops table is env_fs_mem's with
 * sync replaced, so every other call goes to env_fs_mem as it is. */
struct gated_fs {
	struct env_fs_mem mem; /* first: env_fs_mem's ops find it from base */
	struct env_fs_ops ops;
	int (*inner_sync)(struct env_fs *fs, struct env_file *f);
	struct env_mutex mu;
	struct env_cond cv;
	bool closed;
	int held; /* syncs waiting at the gate */
};

static int gated_sync(struct env_fs *fs, struct env_file *f)
{
	struct gated_fs *g = (struct gated_fs *)fs;
	env_mutex_lock(&g->mu);
	if (g->closed) {
		g->held++;
		env_cond_broadcast(&g->cv);
		while (g->closed)
			env_cond_wait(&g->cv, &g->mu);
		g->held--;
	}
	env_mutex_unlock(&g->mu);
	return g->inner_sync(fs, f);
}

static void gated_init(struct gated_fs *g, uint64_t seed)
{
	env_fs_mem_init(&g->mem, seed);
	g->ops = *g->mem.base.ops;
	g->inner_sync = g->ops.sync;
	g->ops.sync = gated_sync;
	g->mem.base.ops = &g->ops;
	env_mutex_init(&g->mu);
	env_cond_init(&g->cv);
	g->closed = false;
	g->held = 0;
}

static void gated_set(struct gated_fs *g, bool closed)
{
	env_mutex_lock(&g->mu);
	g->closed = closed;
	env_cond_broadcast(&g->cv);
	env_mutex_unlock(&g->mu);
}

static void gated_wait_held(struct gated_fs *g)
{
	env_mutex_lock(&g->mu);
	while (g->held == 0)
		env_cond_wait(&g->cv, &g->mu);
	env_mutex_unlock(&g->mu);
}

/* sync=everysec: the syncer's fsync runs outside the writer queue, so
 * writes are acknowledged while it is in flight (before, each waited for
 * it: the p99 of SET at pipeline 1), and synced_seq moves only once it
 * is done, to what was written before it began. */
static void test_lsm_everysec_sync_does_not_block_writers(void **state)
{
	(void)state;
	uint8_t *scratch = malloc(2 * (VAL_MAX + 16));
	struct gated_fs g;
	gated_init(&g, 33);
	struct lsm_options o = {.sync = LSM_SYNC_EVERYSEC,
	                        .memtable_bytes = 4 * MIB, /* no rotation: it syncs too */
	                        .sync_interval_ms = 5,
	                        .seed = 33};
	struct lsm *db = NULL;
	assert_int_equal(lsm_open(DIR, &g.mem.base, &o, &db, NULL), 0);
	gated_set(&g, true);
	put_numbered(db, 0, 10, scratch);
	gated_wait_held(&g); /* the syncer is in its fsync, held */
	enum { N = 200 };
	for (int i = 1; i <= N; i++)
		put_numbered(db, i, 100, scratch);
	assert_true(lsm_synced_seq(db) < 1);
	gated_set(&g, false);
	assert_true(wait_synced(db, N + 1));
	assert_int_equal(lsm_failed(db), 0);
	lsm_close(db);
	env_fs_mem_deinit(&g.mem);
	free(scratch);
}

/* sync=everysec: a memtable nearly full wakes the syncer at once, however
 * far its next tick, so the rotation that follows syncs little while
 * every writer waits for it. */
static void test_lsm_everysec_syncs_before_rotation(void **state)
{
	(void)state;
	uint8_t *scratch = malloc(2 * (VAL_MAX + 16));
	struct env_fs_mem fs;
	env_fs_mem_init(&fs, 34);
	struct lsm *db = open_everysec(&fs, 3600 * 1000, 34); /* no tick in the test */
	struct lsm_stats st;
	int n = 0;
	do {
		put_numbered(db, n++, 100, scratch);
		lsm_stats(db, &st);
	} while (st.mem_bytes < 64 * KIB - 64 * KIB / 8);
	assert_int_equal(st.imm_bytes, 0);
	assert_int_equal(st.flush_count, 0); /* not rotated: synced by the syncer */
	assert_true(wait_synced(db, (uint64_t)n));
	lsm_close(db);
	env_fs_mem_deinit(&fs);
	free(scratch);
}

/* memtable_entries: the memtable rotates at that many entries, far below
 * its byte limit; 0 leaves bytes alone in charge. */
static void memtable_rotation_run(uint64_t entries, bool want_flush)
{
	uint8_t *scratch = malloc(2 * (VAL_MAX + 16));
	struct env_fs_mem fs;
	env_fs_mem_init(&fs, 35);
	struct lsm_options o = {.sync = LSM_SYNC_NONE,
	                        .memtable_bytes = 4 * MIB,
	                        .memtable_entries = entries,
	                        .seed = 35};
	struct lsm *db = NULL;
	assert_int_equal(lsm_open(DIR, &fs.base, &o, &db, NULL), 0);
	for (int i = 0; i < 250; i++)
		put_numbered(db, i, 20, scratch);
	struct lsm_stats st;
	lsm_stats(db, &st);
	bool rotated = st.imm_bytes > 0 || st.flush_count > 0;
	assert_int_equal(rotated, want_flush);
	lsm_close(db);
	db = NULL;
	assert_int_equal(lsm_open(DIR, &fs.base, &o, &db, NULL), 0);
	for (int i = 0; i < 250; i++) { /* every write is there after a reopen */
		char k[16];
		snprintf(k, sizeof(k), "p%05d", i);
		struct buf v;
		buf_init(&v);
		assert_int_equal(lsm_get(db, bytes_cstr(k), &v), 0);
		buf_deinit(&v);
	}
	lsm_close(db);
	env_fs_mem_deinit(&fs);
	free(scratch);
}

static void test_lsm_memtable_rotates_at_entry_limit(void **state)
{
	(void)state;
	memtable_rotation_run(100, true);
	memtable_rotation_run(0, false);
}

/* A failed fsync fails the store: that write and every later one return
 * the same error, reads go on, and a reopen recovers. (A full disk does
 * not fail the store: lsm_nospace_test.c.) */
static void fail_store_with(const struct env_fs_mem_fault *fault, uint64_t capacity, int want)
{
	uint8_t *scratch = malloc(2 * (VAL_MAX + 16));
	struct env_fs_mem fs;
	env_fs_mem_init(&fs, 7);
	struct lsm *db = open_db(&fs, LSM_SYNC_ALWAYS, 7);
	for (int i = 0; i < 20; i++)
		assert_int_equal(do_write(db, i, 100, (uint64_t)i, scratch), 0);
	if (fault)
		env_fs_mem_inject(&fs, fault);
	if (capacity) {
		env_fs_mem_set_capacity(&fs, env_fs_mem_used_bytes(&fs) + capacity);
	}
	int err = 0;
	for (int i = 0; i < 10000 && !err; i++)
		err = do_write(db, i % KEYS, 100, 1000 + (uint64_t)i, scratch);
	assert_int_equal(err, want);
	if (fault) {
		struct env_fs_mem_fault none = {0};
		env_fs_mem_inject(&fs, &none);
	}
	assert_int_equal(do_write(db, 1, 5, 5, scratch), want);
	assert_int_equal(lsm_failed(db), want);
	assert_int_equal(check_key(db, 999, -1, 0, scratch), 0);
	struct buf v;
	buf_init(&v);
	assert_int_equal(lsm_get(db, bytes_cstr("key00019"), &v), 0);
	buf_deinit(&v);
	lsm_close(db);
	env_fs_mem_set_capacity(&fs, 0);
	db = open_db(&fs, LSM_SYNC_ALWAYS, 8);
	assert_int_equal(do_write(db, 1, 5, 5, scratch), 0);
	assert_int_equal(check_key(db, 1, 5, 5, scratch), 0);
	lsm_close(db);
	env_fs_mem_deinit(&fs);
	free(scratch);
}

static void test_lsm_failed_fsync_fails_later_writes(void **state)
{
	(void)state;
	struct env_fs_mem_fault f = {.op = ENV_FS_OP_SYNC, .nth = 1, .err = ERR_IO};
	fail_store_with(&f, 0, ERR_IO);
}


struct writer_arg {
	struct lsm *db;
	int id;
};

enum { THREADS = 4, PER_THREAD = 400 };

static void *writer_main(void *p)
{
	struct writer_arg *a = p;
	for (int i = 0; i < PER_THREAD; i++) {
		char k[24], v[24];
		snprintf(k, sizeof(k), "t%d-%05d", a->id, i);
		uint8_t rec[32];
		size_t n =
		    vrec_encode(rec, 0, bytes_make(v, (size_t)snprintf(v, sizeof(v), "v%d", i)));
		struct lsm_op op = {.kind = IKEY_KIND_PUT,
		                    .key = bytes_cstr(k),
		                    .value_record = bytes_make(rec, n)};
		struct lsm_batch b = {.ops = &op, .count = 1};
		if (lsm_write(a->db, &b) != 0)
			abort();
	}
	return NULL;
}

/* Four writers with sync=always share fsyncs through group commit, and
 * every write is present after a power cut and reopen. */
static void test_lsm_group_commit_shares_fsyncs(void **state)
{
	(void)state;
	struct env_fs_mem fs;
	env_fs_mem_init(&fs, 99);
	env_fs_mem_set_sync_delay(&fs, 500000);
	struct lsm *db = open_db(&fs, LSM_SYNC_ALWAYS, 99);
	uint64_t syncs0 = env_fs_mem_calls(&fs, ENV_FS_OP_SYNC);
	struct env_thread t[THREADS];
	struct writer_arg a[THREADS];
	for (int i = 0; i < THREADS; i++) {
		a[i] = (struct writer_arg){.db = db, .id = i};
		assert_int_equal(env_thread_start(&t[i], "lsm-w", writer_main, &a[i]), 0);
	}
	for (int i = 0; i < THREADS; i++)
		env_thread_join(&t[i]);
	uint64_t syncs = env_fs_mem_calls(&fs, ENV_FS_OP_SYNC) - syncs0;
	fprintf(stderr, "group commit: %d writes, %" PRIu64 " syncs\n", THREADS * PER_THREAD,
	        syncs);
	assert_true(syncs < THREADS * PER_THREAD);
	lfs_crash(&fs);
	lsm_close(db);
	db = open_db(&fs, LSM_SYNC_ALWAYS, 100);
	for (int id = 0; id < THREADS; id++) {
		for (int i = 0; i < PER_THREAD; i++) {
			char k[24], v[24];
			snprintf(k, sizeof(k), "t%d-%05d", id, i);
			int n = snprintf(v, sizeof(v), "v%d", i);
			struct buf out;
			buf_init(&out);
			assert_int_equal(lsm_get(db, bytes_cstr(k), &out), 0);
			assert_int_equal(out.len, (size_t)n + 1);
			assert_memory_equal(out.data + 1, v, (size_t)n);
			buf_deinit(&out);
		}
	}
	lsm_close(db);
	env_fs_mem_deinit(&fs);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_lsm_matches_model_across_reopen_and_flush),
	    cmocka_unit_test(test_lsm_iter_matches_model_and_keeps_its_snapshot),
	    cmocka_unit_test(test_lsm_compaction_matches_model),
	    cmocka_unit_test(test_lsm_compaction_matches_model_compressed),
	    cmocka_unit_test(test_lsm_compression_shrinks_tables),
	    cmocka_unit_test(test_lsm_background_thread_runs_at_its_nice),
	    cmocka_unit_test(test_lsm_compaction_drops_tombstones_and_expired),
	    cmocka_unit_test(test_lsm_power_cut_keeps_acknowledged_writes),
	    cmocka_unit_test(test_lsm_sync_none_keeps_a_prefix),
	    cmocka_unit_test(test_lsm_power_cut_during_compaction),
	    cmocka_unit_test(test_lsm_everysec_keeps_synced_prefix),
	    cmocka_unit_test(test_lsm_everysec_syncs_far_less_than_writes),
	    cmocka_unit_test(test_lsm_everysec_failed_sync_fails_store),
	    cmocka_unit_test(test_lsm_everysec_sync_does_not_block_writers),
	    cmocka_unit_test(test_lsm_everysec_syncs_before_rotation),
	    cmocka_unit_test(test_lsm_memtable_rotates_at_entry_limit),
	    cmocka_unit_test(test_lsm_failed_fsync_fails_later_writes),
	    cmocka_unit_test(test_lsm_group_commit_shares_fsyncs),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
