/*
 * lsm_nospace_test.c - a full disk (engine/lsm.h, lsm_write.c top): writes
 * get ERR_NOSPACE and apply nothing, reads go on, writes resume once space
 * is freed, and a reopen (also after a power cut in the no-space state)
 * holds every acknowledged write and nothing that was refused.
 *
 * A model holds, per key, the acknowledged value and, for a write whose
 * outcome is unknown (a staged record whose hand-over ran out of space),
 * the set of values the key may hold. Every test is seeded and prints its
 * seed on failure; RINGKV_TEST_SEED replays one.
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

#define KEYS    64
#define DIR     "db"
#define VAL_MAX (2 * BLOB_THRESHOLD)

/* Key i holds (len, tag), len -1 meaning absent; alt is a second value
 * it may hold instead (has_alt), after a write of unknown outcome. */
struct model {
	int64_t len[KEYS], alt_len[KEYS];
	uint64_t tag[KEYS], alt_tag[KEYS];
	bool has_alt[KEYS];
};

struct ctx {
	struct env_fs_mem fs;
	struct lsm_options opt;
	struct lsm *db;
	struct model m;
	struct env_rng rng;
	uint8_t *scratch;
	uint64_t seed, next_tag;
	int acked, refused, unknown;
};

static void fill(uint8_t *p, size_t len, uint64_t tag)
{
	for (size_t i = 0; i < len; i++)
		p[i] = (uint8_t)((tag * 2654435761u + i * 31) >> 3);
}

static int put(struct ctx *c, int i, int64_t len, uint64_t tag)
{
	char k[16];
	snprintf(k, sizeof(k), "key%05d", i);
	struct lsm_op op = {.kind = IKEY_KIND_DELETE, .key = bytes_cstr(k)};
	if (len >= 0) {
		uint8_t *v = c->scratch + VAL_MAX + 16;
		fill(v, (size_t)len, tag);
		op.kind = IKEY_KIND_PUT;
		op.value_record =
		    bytes_make(c->scratch, vrec_encode(c->scratch, 0, bytes_make(v, (size_t)len)));
	}
	struct lsm_batch b = {.ops = &op, .count = 1};
	return lsm_write(c->db, &b);
}

/* 0 when key i holds (len, tag). */
static int holds(struct ctx *c, int i, int64_t len, uint64_t tag)
{
	char k[16];
	snprintf(k, sizeof(k), "key%05d", i);
	struct buf v;
	buf_init(&v);
	int err = lsm_get(c->db, bytes_cstr(k), &v), bad;
	if (len < 0) {
		bad = err != ERR_NOT_FOUND;
	} else if (err || v.len != (size_t)len + 1) {
		bad = 1;
	} else {
		fill(c->scratch, (size_t)len, tag);
		bad = memcmp(v.data + 1, c->scratch, (size_t)len) != 0;
	}
	buf_deinit(&v);
	return bad;
}

static void check_all(struct ctx *c, const char *when)
{
	for (int i = 0; i < KEYS; i++) {
		if (holds(c, i, c->m.len[i], c->m.tag[i]) == 0)
			continue;
		if (c->m.has_alt[i] && holds(c, i, c->m.alt_len[i], c->m.alt_tag[i]) == 0)
			continue;
		fail_msg("%s: key %d wrong (seed %" PRIu64 ")", when, i, c->seed);
	}
}

/* After a check that settled which value each key holds. */
static void settle(struct ctx *c)
{
	for (int i = 0; i < KEYS; i++) {
		if (c->m.has_alt[i] && holds(c, i, c->m.len[i], c->m.tag[i]) != 0) {
			c->m.len[i] = c->m.alt_len[i];
			c->m.tag[i] = c->m.alt_tag[i];
		}
		c->m.has_alt[i] = false;
	}
}

static void db_open(struct ctx *c)
{
	int err = lsm_open(DIR, &c->fs.base, &c->opt, &c->db, NULL);
	if (err)
		fail_msg("lsm_open: %s (seed %" PRIu64 ")", err_str(err), c->seed);
}

static void ctx_init(struct ctx *c, uint64_t seed, enum lsm_sync sync, bool staged)
{
	memset(c, 0, sizeof(*c));
	const char *env = getenv("RINGKV_TEST_SEED");
	c->seed = env ? strtoull(env, NULL, 0) : seed;
	env_fs_mem_init(&c->fs, c->seed);
	env_rng_seed(&c->rng, c->seed);
	c->scratch = malloc(2 * (VAL_MAX + 16));
	c->opt = (struct lsm_options){.sync = sync,
	                              .memtable_bytes = 32 * KIB,
	                              .l1_bytes = 16 * KIB,
	                              .table_bytes = 8 * KIB,
	                              .write_stall_ms = 2000,
	                              .seed = c->seed,
	                              .wal_staged = staged};
	for (int i = 0; i < KEYS; i++)
		c->m.len[i] = -1;
	db_open(c);
}

static void ctx_deinit(struct ctx *c)
{
	if (c->db)
		lsm_close(c->db);
	env_fs_mem_deinit(&c->fs);
	free(c->scratch);
}

static int64_t random_len(struct env_rng *r)
{
	uint64_t x = env_rng_next(r) % 10;
	if (x < 1)
		return -1;
	if (x < 3)
		return (int64_t)(BLOB_THRESHOLD + env_rng_next(r) % BLOB_THRESHOLD);
	return (int64_t)(env_rng_next(r) % 300);
}

/* One random write, with lsm_wal_flush after it in staged mode. Returns
 * the write's result (ERR_NOSPACE: refused; the model is unchanged) or,
 * when the write succeeded but its hand-over ran out of space, 1 (its
 * outcome is unknown). Any other error fails the test. */
static int step(struct ctx *c)
{
	int i = (int)(env_rng_next(&c->rng) % KEYS);
	int64_t len = random_len(&c->rng);
	uint64_t tag = ++c->next_tag;
	int err = put(c, i, len, tag);
	if (err == ERR_NOSPACE) {
		c->refused++;
		return err;
	}
	if (err)
		fail_msg("write: %s (seed %" PRIu64 ")", err_str(err), c->seed);
	if (c->opt.wal_staged) {
		int ferr = lsm_wal_flush(c->db);
		if (ferr && ferr != ERR_NOSPACE)
			fail_msg("lsm_wal_flush: %s (seed %" PRIu64 ")", err_str(ferr), c->seed);
		if (ferr) {
			/* This write's record (and nobody else's: one writer) went
			 * with the retired WAL: old or new value after a reopen. */
			c->m.has_alt[i] = true;
			c->m.alt_len[i] = c->m.len[i];
			c->m.alt_tag[i] = c->m.tag[i];
			c->m.len[i] = len;
			c->m.tag[i] = tag;
			c->unknown++;
			return 1;
		}
	}
	c->m.len[i] = len;
	c->m.tag[i] = tag;
	c->m.has_alt[i] = false;
	c->acked++;
	return 0;
}

/* Writes until `refusals` writes in a row were refused for space. */
static void fill_disk(struct ctx *c, int refusals)
{
	int row = 0;
	for (int n = 0; row < refusals; n++) {
		if (n > 20000)
			fail_msg("the disk never filled (seed %" PRIu64 ")", c->seed);
		row = step(c) == ERR_NOSPACE ? row + 1 : 0;
	}
	assert_int_equal(lsm_failed(c->db), 0);
	assert_true(lsm_nospace(c->db));
	struct lsm_stats st;
	lsm_stats(c->db, &st);
	assert_true(st.nospace);
	assert_int_equal(st.failed, 0);
}

static void nap_ms(uint64_t ms)
{
	struct env_mutex mu;
	struct env_cond cv;
	env_mutex_init(&mu);
	env_cond_init(&cv);
	env_mutex_lock(&mu);
	env_cond_timedwait_ms(&cv, &mu, ms);
	env_mutex_unlock(&mu);
	env_cond_deinit(&cv);
	env_mutex_deinit(&mu);
}

/* Space is back: writes resume within a few retries of the flush. */
static void resume(struct ctx *c, int writes)
{
	uint64_t deadline = env_mono_ns() + 10ull * 1000000000u;
	int ok = 0;
	while (ok < writes) {
		int err = step(c);
		if (err == ERR_NOSPACE) {
			if (env_mono_ns() > deadline)
				fail_msg("writes did not resume (seed %" PRIu64 ")", c->seed);
			nap_ms(20);
			continue;
		}
		assert_int_equal(err, 0);
		ok++;
	}
	assert_int_equal(lsm_flush(c->db), 0);
	assert_int_equal(lsm_compact_wait(c->db), 0);
	assert_false(lsm_nospace(c->db));
	check_all(c, "after resuming");
}

static void reopen(struct ctx *c, bool crash)
{
	if (crash) {
		env_fs_mem_crash(&c->fs, ENV_FS_MEM_CRASH_TORN);
		struct env_fs_mem_fault none = {0};
		env_fs_mem_inject(&c->fs, &none);
	}
	lsm_close(c->db);
	c->db = NULL;
	env_fs_mem_set_capacity(&c->fs, 0);
	db_open(c);
}

/* Fills a capped disk, checks reads, frees space by raising the cap,
 * checks writes resume, and reopens (cleanly, or after a power cut while
 * the disk is still full). */
static void full_disk_run(uint64_t seed, enum lsm_sync sync, bool staged, bool crash_while_full)
{
	struct ctx *c = calloc(1, sizeof(*c));
	ctx_init(c, seed, sync, staged);
	for (int i = 0; i < 300; i++)
		assert_true(step(c) >= 0);
	for (int round = 0; round < 3; round++) {
		uint64_t room = 4 * KIB + env_rng_next(&c->rng) % (96 * KIB);
		env_fs_mem_set_capacity(&c->fs, env_fs_mem_used_bytes(&c->fs) + room);
		fill_disk(c, 12);
		check_all(c, "disk full");
		if (crash_while_full && sync == LSM_SYNC_ALWAYS) {
			reopen(c, true);
			check_all(c, "power cut while full");
			settle(c);
			continue;
		}
		env_fs_mem_set_capacity(&c->fs, 0);
		resume(c, 50);
		settle(c);
	}
	reopen(c, false);
	check_all(c, "reopen");
	fprintf(stderr, "sync %d staged %d crash %d: %d acked, %d refused, %d unknown\n", (int)sync,
	        (int)staged, (int)crash_while_full, c->acked, c->refused, c->unknown);
	assert_true(c->refused > 0);
	ctx_deinit(c);
	free(c);
}

static void test_full_disk_sync_always_resumes(void **state)
{
	(void)state;
	full_disk_run(0xf0110001, LSM_SYNC_ALWAYS, false, false);
}

static void test_full_disk_power_cut_while_full(void **state)
{
	(void)state;
	for (uint64_t s = 0; s < 4; s++)
		full_disk_run(0xf0120000 + s, LSM_SYNC_ALWAYS, false, true);
}

static void test_full_disk_everysec_resumes(void **state)
{
	(void)state;
	full_disk_run(0xf0130001, LSM_SYNC_EVERYSEC, false, false);
}

/* Staged records (the server's mode): a hand-over that runs out of space
 * is reported by lsm_wal_flush; the write stays visible and survives a
 * clean reopen or not (unknown), later writes are refused until its
 * memtable is flushed, and everything acknowledged survives. */
static void test_full_disk_staged_resumes(void **state)
{
	(void)state;
	full_disk_run(0xf0140001, LSM_SYNC_NONE, true, false);
	full_disk_run(0xf0140002, LSM_SYNC_EVERYSEC, true, false);
}

/* One append fails with ERR_NOSPACE, for every append of a run that
 * writes the WAL, blob files, flushes, compactions and manifest edits
 * (sync=always). A refused write applies nothing; a flush or compaction
 * that failed installs nothing and runs again (lsm_flush and
 * lsm_compact_wait skip the backoff); after a power cut every
 * acknowledged write is there and nothing refused is. */
static void test_full_disk_walk_one_failed_append(void **state)
{
	(void)state;
	int refused_total = 0, bg_failures = 0;
	for (uint64_t nth = 1; nth <= 400; nth += 3) {
		struct ctx *c = calloc(1, sizeof(*c));
		ctx_init(c, 0xf0150000 + nth, LSM_SYNC_ALWAYS, false);
		for (int i = 0; i < 60; i++)
			assert_int_equal(step(c), 0);
		struct env_fs_mem_fault f = {.op = ENV_FS_OP_APPEND,
		                             .nth = nth,
		                             .err = ERR_NOSPACE,
		                             .partial = nth % 2 == 0};
		env_fs_mem_inject(&c->fs, &f);
		for (int i = 0; i < 300; i++)
			assert_true(step(c) == 0 || c->refused > 0);
		int err = lsm_flush(c->db);
		if (err == ERR_NOSPACE) {
			bg_failures++;
			err = lsm_flush(c->db);
		}
		assert_int_equal(err, 0);
		err = lsm_compact_wait(c->db);
		if (err == ERR_NOSPACE) {
			bg_failures++;
			err = lsm_compact_wait(c->db);
		}
		assert_int_equal(err, 0);
		assert_int_equal(lsm_failed(c->db), 0);
		check_all(c, "after the fault");
		bool fired = c->fs.fault_seen >= nth;
		struct env_fs_mem_fault none = {0};
		env_fs_mem_inject(&c->fs, &none);
		for (int i = 0; i < 20; i++)
			assert_int_equal(step(c), 0);
		refused_total += c->refused;
		reopen(c, true);
		check_all(c, "power cut after the fault");
		ctx_deinit(c);
		free(c);
		if (!fired)
			break; /* past the last append of the run */
	}
	fprintf(stderr, "walk: %d refused writes, %d flush/compaction failures seen\n",
	        refused_total, bg_failures);
	assert_true(refused_total > 0);
}

/* One small write; its sequences in *first, *last. */
static int put_seq(struct ctx *c, int i, uint64_t *first, uint64_t *last)
{
	char k[16];
	snprintf(k, sizeof(k), "key%05d", i);
	uint8_t rec[16];
	struct lsm_op op = {.kind = IKEY_KIND_PUT,
	                    .key = bytes_cstr(k),
	                    .value_record = bytes_make(rec, vrec_encode(rec, 0, bytes_cstr("v")))};
	struct lsm_batch b = {.ops = &op, .count = 1};
	return lsm_write_seq(c->db, &b, first, last);
}

/* Staged records lost by one caller's failed hand-over are reported to
 * every caller whose records were among them, and to no one else: the
 * server's event loops each ask for their own turn's sequences. */
static void test_lost_staged_records_are_reported_to_each_owner(void **state)
{
	(void)state;
	struct ctx c;
	ctx_init(&c, 91, LSM_SYNC_NONE, true);
	uint64_t a1, a2, b1, b2, h1, h2;
	assert_int_equal(put_seq(&c, 1, &h1, &h2), 0); /* handed over in time */
	assert_int_equal(lsm_wal_flush_range(c.db, h1, h2), 0);
	assert_int_equal(put_seq(&c, 2, &a1, &a2), 0); /* loop A's turn */
	assert_int_equal(put_seq(&c, 3, &b1, &b2), 0); /* loop B's turn */
	assert_true(a1 > h2 && b1 > a2);
	struct env_fs_mem_fault full = {.op = ENV_FS_OP_APPEND, .nth = 1, .err = ERR_NOSPACE,
	                                .sticky = true};
	env_fs_mem_inject(&c.fs, &full);
	assert_int_equal(lsm_wal_flush_range(c.db, a1, a2), ERR_NOSPACE); /* A's hand-over fails */
	assert_int_equal(lsm_wal_flush_range(c.db, b1, b2), ERR_NOSPACE); /* B's went too */
	assert_int_equal(lsm_wal_flush_range(c.db, b1, b2), ERR_NOSPACE); /* and stays unknown */
	assert_int_equal(lsm_wal_flush_range(c.db, h1, h2), 0);           /* earlier: safe */
	assert_int_equal(lsm_wal_flush_range(c.db, 0, 0), 0);             /* no records */
	struct env_fs_mem_fault none = {0};
	env_fs_mem_inject(&c.fs, &none);
	/* Once the memtable holding them reaches a table, they are durable. */
	uint64_t deadline = env_mono_us() + 20 * 1000 * 1000;
	while (lsm_wal_flush_range(c.db, b1, b2) != 0 && env_mono_us() < deadline) {
		uint64_t f, l;
		(void)put_seq(&c, 4, &f, &l); /* a write starts the way out (rotation) */
		(void)lsm_flush(c.db);
	}
	assert_int_equal(lsm_wal_flush_range(c.db, b1, b2), 0);
	ctx_deinit(&c);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_full_disk_sync_always_resumes),
	    cmocka_unit_test(test_full_disk_power_cut_while_full),
	    cmocka_unit_test(test_full_disk_everysec_resumes),
	    cmocka_unit_test(test_full_disk_staged_resumes),
	    cmocka_unit_test(test_full_disk_walk_one_failed_append),
	    cmocka_unit_test(test_lost_staged_records_are_reported_to_each_owner),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
