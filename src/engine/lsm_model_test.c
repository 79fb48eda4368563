/*
 * lsm_model_test.c - the engine (engine/lsm.h) against an in-memory model
 * over a seeded random sequence of steps: puts of small values and of
 * values over the blob threshold (some with an expiry far in the future),
 * deletes, overwrites, multi-op batches, flushes, waits for compaction,
 * close and reopen, and checkpoints (each opened and compared with a copy
 * of the model taken when it was made).
 *
 * After every step a few random keys are read back; every CHECK_EVERY
 * steps, and after every reopen, the whole store is iterated and compared.
 * Small memtables, levels and tables make flushes and compactions happen
 * often; a 1 KiB blob threshold and 16 KiB blob files make blob GC (seals,
 * relocation, deletion) happen often too. A failure prints the seed and the step; RINGKV_TEST_SEED=<n>
 * replays a seed (the engine's threads make the interleaving differ, the
 * sequence of operations does not).
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
#include "engine/lsm.h"
#include "env/env.h"
#include "env/env_fs_mem.h"

#define KEYS          256
#define STEPS         5000
#define CHECK_EVERY   100
#define SRC           "db"
#define SEED_VAR      "RINGKV_TEST_SEED"
#define FAR_FUTURE_MS INT64_C(4102444800000) /* 2100-01-01 */

/* The value record of each key, or none. */
struct model {
	struct buf rec[KEYS];
	bool present[KEYS];
};

struct run {
	uint64_t seed;
	int step;
	struct env_fs_mem fs;
	struct env_rng rng;
	struct lsm *db;
	struct model m;
	int checkpoints;
	uint8_t *val, *rec; /* scratch for one value and its record */
	struct buf got;
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

static void model_set(struct model *m, int i, struct bytes rec, bool present)
{
	m->present[i] = present;
	m->rec[i].len = 0;
	assert_int_equal(buf_reserve(&m->rec[i], rec.len, SIZE_MAX / 2), 0);
	buf_put(&m->rec[i], rec.ptr, rec.len);
}

static void model_copy(struct model *dst, const struct model *src)
{
	for (int i = 0; i < KEYS; i++)
		model_set(dst, i, bytes_make(src->rec[i].data, src->rec[i].len), src->present[i]);
}

static void key_of(char *k, int i)
{
	snprintf(k, 16, "k%06d", i);
}

static void fail_at(const struct run *r, const char *what, int key, int err)
{
	fprintf(stderr, "%s: key %d (%s) at step %d; seed %" PRIu64 " (%s=%" PRIu64 " replays)\n",
	        what, key, err_str(err), r->step, r->seed, SEED_VAR, r->seed);
	fail();
}

static struct lsm *open_store(struct run *r, const char *dir)
{
	struct lsm_options o = {.sync = LSM_SYNC_NONE,
	                        .memtable_bytes = 16 * KIB,
	                        .l1_bytes = 8 * KIB,
	                        .table_bytes = 4 * KIB,
	                        /* Small blob files, sealed and collected often. */
	                        .blob_threshold = 1 * KIB,
	                        .blob_file_bytes = 16 * KIB,
	                        .seed = r->seed + (uint64_t)r->step};
	struct lsm *db = NULL;
	int err = lsm_open(dir, &r->fs.base, &o, &db, NULL);
	if (err)
		fail_at(r, "lsm_open", -1, err);
	return db;
}

/* ---- Comparing -------------------------------------------------------- */

static void check_key(struct run *r, struct lsm *db, const struct model *m, int i)
{
	char k[16];
	key_of(k, i);
	int err = lsm_get(db, bytes_cstr(k), &r->got);
	bool ok = m->present[i] ? err == 0 && r->got.len == m->rec[i].len &&
	        memcmp(r->got.data, m->rec[i].data, r->got.len) == 0
	                        : err == ERR_NOT_FOUND;
	if (!ok)
		fail_at(r, "get differs from the model", i, err);
}

static int next_present(const struct model *m, int i)
{
	while (i < KEYS && !m->present[i])
		i++;
	return i;
}

/* Iterates the whole store and compares it, key and value, with m. */
static void check_scan(struct run *r, struct lsm *db, const struct model *m)
{
	struct lsm_iter *it;
	int err = lsm_iter_create(db, &it);
	if (err)
		fail_at(r, "lsm_iter_create", -1, err);
	int i = next_present(m, 0);
	for (lsm_iter_seek_to_first(it); lsm_iter_valid(it); lsm_iter_next(it)) {
		char k[16];
		key_of(k, i < KEYS ? i : 0);
		struct bytes key = lsm_iter_key(it);
		if (i == KEYS || key.len != strlen(k) || memcmp(key.ptr, k, key.len) != 0)
			fail_at(r, "iteration yields a key the model lacks", i, 0);
		if ((err = lsm_iter_value(it, &r->got)) || r->got.len != m->rec[i].len ||
		    memcmp(r->got.data, m->rec[i].data, r->got.len) != 0)
			fail_at(r, "iteration value differs", i, err);
		i = next_present(m, i + 1);
	}
	if ((err = lsm_iter_status(it)))
		fail_at(r, "iteration stopped", i, err);
	if (i != KEYS)
		fail_at(r, "iteration misses a key", i, 0);
	lsm_iter_destroy(it);
}

static void check_all(struct run *r, struct lsm *db, const struct model *m)
{
	for (int i = 0; i < KEYS; i++)
		check_key(r, db, m, i);
	check_scan(r, db, m);
}

/* ---- Steps ------------------------------------------------------------ */

static size_t value_len(struct run *r)
{
	uint64_t x = env_rng_next(&r->rng) % 100;
	if (x < 15) /* over the blob threshold */
		return BLOB_THRESHOLD + env_rng_next(&r->rng) % (2 * BLOB_THRESHOLD);
	return env_rng_next(&r->rng) % 300;
}

/* Fills op (and the model's record) for a put or delete of key i; the
 * record lives in rec, which must outlive the write. */
static void make_op(struct run *r, struct lsm_op *op, char *k, uint8_t *rec, int i)
{
	key_of(k, i);
	op->key = bytes_cstr(k);
	if (env_rng_next(&r->rng) % 5 == 0) {
		op->kind = IKEY_KIND_DELETE;
		op->value_record = bytes_make(NULL, 0);
		return;
	}
	size_t len = value_len(r);
	uint64_t tag = env_rng_next(&r->rng);
	for (size_t j = 0; j < len; j++)
		r->val[j] = (uint8_t)((tag >> (j % 56)) + j);
	int64_t expire = env_rng_next(&r->rng) % 8 == 0 ? FAR_FUTURE_MS : 0;
	op->kind = IKEY_KIND_PUT;
	op->value_record = bytes_make(rec, vrec_encode(rec, expire, bytes_make(r->val, len)));
}

#define BATCH_MAX 4

/* One batch of 1..BATCH_MAX ops on distinct keys. */
static void step_write(struct run *r, int count)
{
	struct lsm_op ops[BATCH_MAX];
	char keys[BATCH_MAX][16];
	int idx[BATCH_MAX];
	uint8_t *recs = r->rec;
	size_t rec_cap = 3 * BLOB_THRESHOLD + 16;
	for (int n = 0; n < count; n++) {
		int i;
		bool dup;
		do { /* distinct keys: the model applies the batch in any order */
			i = (int)(env_rng_next(&r->rng) % KEYS);
			dup = false;
			for (int j = 0; j < n; j++)
				dup |= idx[j] == i;
		} while (dup);
		idx[n] = i;
		make_op(r, &ops[n], keys[n], recs + (size_t)n * rec_cap, i);
	}
	struct lsm_batch b = {.ops = ops, .count = (size_t)count};
	int err = lsm_write(r->db, &b);
	if (err)
		fail_at(r, "lsm_write", idx[0], err);
	for (int n = 0; n < count; n++)
		model_set(&r->m, idx[n], ops[n].value_record, ops[n].kind == IKEY_KIND_PUT);
}

static void step_checkpoint(struct run *r)
{
	char dir[16];
	snprintf(dir, sizeof(dir), "ck%d", r->checkpoints++);
	struct model at;
	model_init(&at);
	model_copy(&at, &r->m);
	struct lsm_checkpoint_info info;
	int err = lsm_checkpoint(r->db, dir, &info);
	if (err)
		fail_at(r, "lsm_checkpoint", -1, err);
	/* The source goes on changing before the checkpoint is read. */
	step_write(r, 1);
	struct lsm_check_summary sum;
	if ((err = lsm_check_dir(&r->fs.base, dir, NULL, NULL, &sum)) || sum.notes)
		fail_at(r, "lsm_check_dir of a checkpoint", -1, err);
	struct lsm *ck = open_store(r, dir);
	check_all(r, ck, &at);
	lsm_close(ck);
	model_deinit(&at);
}

static void step(struct run *r)
{
	uint64_t x = env_rng_next(&r->rng) % 1000;
	int err = 0;
	if (x < 880) {
		step_write(r, 1);
	} else if (x < 940) {
		step_write(r, 2 + (int)(env_rng_next(&r->rng) % (BATCH_MAX - 1)));
	} else if (x < 965) {
		err = lsm_flush(r->db);
	} else if (x < 980) {
		err = lsm_compact_wait(r->db);
	} else if (x < 990) {
		lsm_close(r->db);
		r->db = open_store(r, SRC);
		check_all(r, r->db, &r->m);
	} else {
		step_checkpoint(r);
	}
	if (err)
		fail_at(r, "flush or compaction", -1, err);
}

static uint64_t seed_from_env(uint64_t fallback)
{
	const char *s = getenv(SEED_VAR);
	return s && *s ? strtoull(s, NULL, 0) : fallback;
}

static void test_lsm_model_random_steps(void **state)
{
	(void)state;
	struct run *r = calloc(1, sizeof(*r));
	assert_non_null(r);
	r->seed = seed_from_env(0x30de1001);
	env_fs_mem_init(&r->fs, r->seed);
	env_rng_seed(&r->rng, r->seed);
	model_init(&r->m);
	buf_init(&r->got);
	r->val = malloc(3 * BLOB_THRESHOLD);
	r->rec = malloc(BATCH_MAX * (3 * BLOB_THRESHOLD + 16));
	assert_true(r->val && r->rec);
	r->db = open_store(r, SRC);
	uint64_t deepest = 0;
	for (r->step = 0; r->step < STEPS; r->step++) {
		step(r);
		for (int n = 0; n < 3; n++)
			check_key(r, r->db, &r->m, (int)(env_rng_next(&r->rng) % KEYS));
		if (r->step % CHECK_EVERY == CHECK_EVERY - 1)
			check_scan(r, r->db, &r->m);
		for (uint32_t level = 1; level < LSM_LEVELS; level++)
			if (lsm_level_file_count(r->db, level) && level > deepest)
				deepest = level;
	}
	assert_int_equal(lsm_compact_wait(r->db), 0);
	check_all(r, r->db, &r->m);
	/* The sizes did what they are for: flushes, compactions to L2, and
	 * some checkpoints. */
	assert_true(deepest >= 2);
	assert_true(r->checkpoints >= 3);
	lsm_close(r->db);
	free(r->val);
	free(r->rec);
	buf_deinit(&r->got);
	model_deinit(&r->m);
	env_fs_mem_deinit(&r->fs);
	free(r);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_lsm_model_random_steps),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
