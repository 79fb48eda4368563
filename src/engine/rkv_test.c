/*
 * rkv_test.c - the embeddable engine API (include/ringkv/engine.h) on real
 * files: argument errors and limits, reopen, iteration order, batch
 * atomicity (seen by concurrent iterators), checkpoints and stats.
 *
 * Each test works in its own mkdtemp directory and removes it. Seeded
 * where random; the seed is printed on failure through the key names.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <ftw.h>
#include <inttypes.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <ringkv/engine.h>

#include "env/env.h"

struct tmp {
	char root[64];
	char db[96];
};

static void tmp_make(struct tmp *t)
{
	const char *base = getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp";
	snprintf(t->root, sizeof(t->root), "%s/rkv_test.XXXXXX", base);
	assert_non_null(mkdtemp(t->root));
	snprintf(t->db, sizeof(t->db), "%s/db", t->root);
}

static int rm_one(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
	(void)sb, (void)flag, (void)ftw;
	return remove(path);
}

static void tmp_remove(struct tmp *t)
{
	nftw(t->root, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

static rkv_db *open_db(const char *dir, enum rkv_sync sync, uint64_t memtable_bytes)
{
	struct rkv_options o = {.sync = sync, .memtable_bytes = memtable_bytes};
	char errbuf[128] = "";
	rkv_db *db = NULL;
	int err = rkv_open(dir, &o, &db, errbuf, sizeof(errbuf));
	if (err)
		fprintf(stderr, "%s\n", errbuf);
	assert_int_equal(err, 0);
	return db;
}

/* 0 when key holds exactly want (wlen bytes), or is absent for want NULL. */
static int check(rkv_db *db, const void *key, size_t klen, const void *want, size_t wlen)
{
	void *v = NULL;
	size_t n = 0;
	int err = rkv_get(db, key, klen, &v, &n);
	int bad =
	    want ? err != 0 || n != wlen || memcmp(v, want, n) != 0 : err != RKV_ERR_NOT_FOUND;
	rkv_free(v);
	return bad;
}

static void test_rkv_rejects_bad_arguments(void **state)
{
	(void)state;
	struct tmp t;
	tmp_make(&t);
	rkv_db *db = NULL;
	char errbuf[128] = "";
	assert_int_equal(rkv_open(NULL, NULL, &db, NULL, 0), RKV_ERR_INVALID);
	struct rkv_options bad = {.sync = (enum rkv_sync)7};
	assert_int_equal(rkv_open(t.db, &bad, &db, errbuf, sizeof(errbuf)), RKV_ERR_INVALID);
	assert_null(db);
	struct rkv_options bad_compression = {.compression = (enum rkv_compression)4};
	assert_int_equal(rkv_open(t.db, &bad_compression, &db, NULL, 0), RKV_ERR_INVALID);
	assert_null(db);
	assert_non_null(strstr(errbuf, "invalid argument"));
	db = open_db(t.db, RKV_SYNC_NONE, 0);

	char small[8] = "x";
	void *v = (void *)1;
	size_t n = 7;
	assert_int_equal(rkv_put(db, NULL, 3, "v", 1), RKV_ERR_INVALID);
	assert_int_equal(rkv_put(db, "k", 1, NULL, 1), RKV_ERR_INVALID);
	assert_int_equal(rkv_delete(db, NULL, 1), RKV_ERR_INVALID);
	assert_int_equal(rkv_get(db, NULL, 1, &v, &n), RKV_ERR_INVALID);
	assert_int_equal(rkv_get(db, "k", 1, NULL, &n), RKV_ERR_INVALID);
	/* Lengths are checked before any byte is read: small is never read
	 * past its end. */
	assert_int_equal(rkv_put(db, small, (size_t)RKV_KEY_BYTES_MAX + 1, "v", 1), RKV_ERR_LIMIT);
	assert_int_equal(rkv_put(db, "k", 1, small, (size_t)RKV_VALUE_BYTES_MAX + 1),
	                 RKV_ERR_LIMIT);
	assert_int_equal(rkv_get(db, small, (size_t)RKV_KEY_BYTES_MAX + 1, &v, &n), RKV_ERR_LIMIT);
	assert_int_equal(rkv_delete(db, small, (size_t)RKV_KEY_BYTES_MAX + 1), RKV_ERR_LIMIT);
	/* A missing key leaves the out-parameters alone. */
	assert_int_equal(rkv_get(db, "nope", 4, &v, &n), RKV_ERR_NOT_FOUND);
	assert_ptr_equal(v, (void *)1);
	assert_int_equal(n, 7);

	/* Exactly at the key limit works. */
	char *big = malloc(RKV_KEY_BYTES_MAX);
	assert_non_null(big);
	memset(big, 'k', RKV_KEY_BYTES_MAX);
	assert_int_equal(rkv_put(db, big, RKV_KEY_BYTES_MAX, "v", 1), 0);
	assert_int_equal(check(db, big, RKV_KEY_BYTES_MAX, "v", 1), 0);
	free(big);
	/* An empty key and an empty value are values like any other. */
	assert_int_equal(rkv_put(db, NULL, 0, NULL, 0), 0);
	assert_int_equal(rkv_get(db, "", 0, &v, &n), 0);
	assert_non_null(v);
	assert_int_equal(n, 0);
	rkv_free(v);

	rkv_batch *b;
	assert_int_equal(rkv_batch_create(&b), 0);
	assert_int_equal(rkv_batch_put(b, NULL, 2, "v", 1), RKV_ERR_INVALID);
	assert_int_equal(rkv_batch_put(b, "k", 1, small, (size_t)RKV_VALUE_BYTES_MAX + 1),
	                 RKV_ERR_LIMIT);
	assert_int_equal(rkv_batch_delete(b, small, (size_t)RKV_KEY_BYTES_MAX + 1), RKV_ERR_LIMIT);
	assert_int_equal(rkv_batch_count(b), 0);
	assert_int_equal(rkv_write(db, NULL), RKV_ERR_INVALID);
	assert_int_equal(rkv_write(db, b), 0); /* empty: a no-op */
	rkv_batch_destroy(b);

	assert_string_equal(rkv_strerror(RKV_ERR_NOT_FOUND), "not found");
	assert_string_equal(rkv_strerror(RKV_ERR_EXISTS), "already exists");
	assert_string_equal(rkv_strerror(-12345), "unknown error");
	rkv_close(db);
	rkv_close(NULL);
	tmp_remove(&t);
}

/* Small values, a large one (a blob file) and deletes survive a reopen,
 * with each sync policy; a tiny memtable puts some of them in tables. */
static void test_rkv_reopen_keeps_data(void **state)
{
	(void)state;
	const enum rkv_sync policies[] = {RKV_SYNC_ALWAYS, RKV_SYNC_NONE, RKV_SYNC_EVERYSEC};
	size_t big_len = 100 * 1024;
	char *big = malloc(big_len);
	assert_non_null(big);
	for (size_t i = 0; i < big_len; i++)
		big[i] = (char)(i * 7);
	for (size_t p = 0; p < 3; p++) {
		struct tmp t;
		tmp_make(&t);
		rkv_db *db = open_db(t.db, policies[p], 64 * 1024);
		char k[32], v[32];
		for (int i = 0; i < 2000; i++) {
			int kl = snprintf(k, sizeof(k), "key%05d", i),
			    vl = snprintf(v, sizeof(v), "v%d", i);
			assert_int_equal(rkv_put(db, k, (size_t)kl, v, (size_t)vl), 0);
		}
		for (int i = 0; i < 2000; i += 3) {
			int kl = snprintf(k, sizeof(k), "key%05d", i);
			assert_int_equal(rkv_delete(db, k, (size_t)kl), 0);
		}
		assert_int_equal(rkv_put(db, "big", 3, big, big_len), 0);
		rkv_close(db);

		db = open_db(t.db, policies[p], 64 * 1024);
		for (int i = 0; i < 2000; i++) {
			int kl = snprintf(k, sizeof(k), "key%05d", i),
			    vl = snprintf(v, sizeof(v), "v%d", i);
			assert_int_equal(check(db, k, (size_t)kl, i % 3 ? v : NULL, (size_t)vl), 0);
		}
		assert_int_equal(check(db, "big", 3, big, big_len), 0);
		rkv_close(db);
		tmp_remove(&t);
	}
	free(big);
}

static int cmp_key(const void *a, const void *b)
{
	const char *const *x = a, *const *y = b;
	return strcmp(*x, *y); /* test keys have no NUL inside */
}

/* Keys come back in bytewise order, deleted ones skipped, from memtables
 * and tables alike; seek lands on the first key at or after its target. */
static void test_rkv_iteration_order(void **state)
{
	(void)state;
	struct tmp t;
	tmp_make(&t);
	rkv_db *db = open_db(t.db, RKV_SYNC_NONE, 32 * 1024);
	enum { N = 3000 };
	static char names[N][16];
	const char *sorted[N];
	struct env_rng rng;
	env_rng_seed(&rng, 42);
	size_t live = 0;
	for (int i = 0; i < N; i++) {
		/* Random order, prefixes of each other ("k1", "k10", ...). */
		uint64_t x = env_rng_next(&rng) % 1000000;
		snprintf(names[i], sizeof(names[i]), "k%" PRIu64 "-%d", x, i);
		assert_int_equal(
		    rkv_put(db, names[i], strlen(names[i]), names[i], strlen(names[i])), 0);
		if (i % 5 == 0)
			assert_int_equal(rkv_delete(db, names[i], strlen(names[i])), 0);
		else
			sorted[live++] = names[i];
	}
	qsort(sorted, live, sizeof(sorted[0]), cmp_key);
	/* The binary-safe edge: "k" < "k\0" < "k0...". */
	assert_int_equal(rkv_put(db, "k\0", 2, "nul", 3), 0);

	rkv_iter *it;
	assert_int_equal(rkv_iter_create(db, &it), 0);
	rkv_iter_seek_to_first(it);
	assert_true(rkv_iter_valid(it));
	size_t klen, vlen;
	const char *k = rkv_iter_key(it, &klen);
	assert_int_equal(klen, 2);
	assert_memory_equal(k, "k\0", 2);
	rkv_iter_next(it);
	size_t seen = 0;
	for (; rkv_iter_valid(it); rkv_iter_next(it), seen++) {
		k = rkv_iter_key(it, &klen);
		assert_true(seen < live);
		assert_int_equal(klen, strlen(sorted[seen]));
		assert_memory_equal(k, sorted[seen], klen);
		const char *v = rkv_iter_value(it, &vlen);
		assert_non_null(v);
		assert_int_equal(vlen, klen);
		assert_memory_equal(v, sorted[seen], vlen);
	}
	assert_int_equal(rkv_iter_status(it), 0);
	assert_int_equal(seen, live);

	/* Seek to a key that is not there: the next one. */
	const char *mid = sorted[live / 2];
	char target[32];
	snprintf(target, sizeof(target), "%s", mid);
	target[strlen(target) - 1]--; /* just before mid, not a live key */
	rkv_iter_seek(it, target, strlen(target));
	assert_true(rkv_iter_valid(it));
	k = rkv_iter_key(it, &klen);
	assert_true(strncmp(k, target, klen) >= 0);
	rkv_iter_seek(it, "l", 1); /* past every key */
	assert_false(rkv_iter_valid(it));
	rkv_iter_destroy(it);
	rkv_close(db);
	tmp_remove(&t);
}

/* ---- Batch atomicity -------------------------------------------------- */

#define GROUP 16

struct atomicity {
	rkv_db *db;
	atomic_bool stop;
	atomic_int mixed; /* snapshots that saw two generations */
	atomic_int snapshots;
};

/* Every snapshot must show all GROUP keys at one generation. */
static void *reader_main(void *arg)
{
	struct atomicity *a = arg;
	while (!atomic_load(&a->stop)) {
		rkv_iter *it;
		if (rkv_iter_create(a->db, &it) != 0)
			break;
		char first[16] = "";
		int count = 0;
		for (rkv_iter_seek_to_first(it); rkv_iter_valid(it); rkv_iter_next(it), count++) {
			size_t vlen;
			const char *v = rkv_iter_value(it, &vlen);
			if (!v || vlen >= sizeof(first))
				break;
			if (count == 0)
				memcpy(first, v, vlen), first[vlen] = 0;
			else if (vlen != strlen(first) || memcmp(v, first, vlen) != 0)
				atomic_fetch_add(&a->mixed, 1);
		}
		if (count != 0 && count != GROUP)
			atomic_fetch_add(&a->mixed, 1);
		rkv_iter_destroy(it);
		atomic_fetch_add(&a->snapshots, 1);
	}
	return NULL;
}

static void test_rkv_batch_is_atomic(void **state)
{
	(void)state;
	struct tmp t;
	tmp_make(&t);
	struct atomicity a = {.db = open_db(t.db, RKV_SYNC_NONE, 16 * 1024)};
	struct env_thread reader;
	assert_int_equal(env_thread_start(&reader, "rkv-reader", reader_main, &a), 0);
	rkv_batch *b;
	assert_int_equal(rkv_batch_create(&b), 0);
	for (int gen = 0; gen < 2000; gen++) {
		rkv_batch_clear(b);
		char k[16], v[16];
		for (int i = 0; i < GROUP; i++) {
			int kl = snprintf(k, sizeof(k), "g%02d", i),
			    vl = snprintf(v, sizeof(v), "%d", gen);
			assert_int_equal(rkv_batch_put(b, k, (size_t)kl, "stale", 5), 0);
			assert_int_equal(rkv_batch_put(b, k, (size_t)kl, v, (size_t)vl),
			                 0); /* wins */
		}
		assert_int_equal(rkv_batch_count(b), 2 * GROUP);
		assert_int_equal(rkv_write(a.db, b), 0);
	}
	atomic_store(&a.stop, true);
	env_thread_join(&reader);
	assert_int_equal(atomic_load(&a.mixed), 0);
	assert_true(atomic_load(&a.snapshots) > 0);

	/* The last generation is what a reopen finds, whole. */
	rkv_close(a.db);
	a.db = open_db(t.db, RKV_SYNC_NONE, 16 * 1024);
	for (int i = 0; i < GROUP; i++) {
		char k[16];
		int kl = snprintf(k, sizeof(k), "g%02d", i);
		assert_int_equal(check(a.db, k, (size_t)kl, "1999", 4), 0);
	}
	/* A batch refused for its size writes nothing. */
	rkv_batch_clear(b);
	assert_int_equal(rkv_batch_put(b, "g00", 3, "x", 1), 0);
	for (size_t i = 1; i < RKV_BATCH_OPS_MAX; i++)
		assert_int_equal(rkv_batch_delete(b, "z", 1), 0);
	assert_int_equal(rkv_batch_delete(b, "z", 1), RKV_ERR_LIMIT);
	assert_int_equal(rkv_batch_count(b), RKV_BATCH_OPS_MAX);
	rkv_batch_destroy(b);
	rkv_close(a.db);
	tmp_remove(&t);
}

/* A checkpoint opens as a store of its own with the data; a second one
 * into the same directory is refused. */
static void test_rkv_checkpoint_opens_with_data(void **state)
{
	(void)state;
	struct tmp t;
	tmp_make(&t);
	rkv_db *db = open_db(t.db, RKV_SYNC_ALWAYS, 0);
	assert_int_equal(rkv_put(db, "a", 1, "1", 1), 0);
	char ck[128];
	snprintf(ck, sizeof(ck), "%s/ckpt", t.root);
	assert_int_equal(rkv_checkpoint(db, ck), 0);
	assert_int_equal(rkv_checkpoint(db, ck), RKV_ERR_EXISTS);
	assert_int_equal(rkv_put(db, "b", 1, "2", 1), 0); /* after: not in it */
	rkv_db *copy = open_db(ck, RKV_SYNC_ALWAYS, 0);
	assert_int_equal(check(copy, "a", 1, "1", 1), 0);
	assert_int_equal(check(copy, "b", 1, NULL, 0), 0);
	rkv_close(copy);
	rkv_close(db);
	tmp_remove(&t);
}

/* The stats move with the writes: user bytes are keys + values + one
 * flags byte per value, one WAL sync per write with sync=always. */
static void test_rkv_stats_move(void **state)
{
	(void)state;
	struct tmp t;
	tmp_make(&t);
	rkv_db *db = open_db(t.db, RKV_SYNC_ALWAYS, 0);
	assert_int_equal(rkv_put(db, "key", 3, "value", 5), 0);
	assert_int_equal(rkv_delete(db, "gone", 4), 0);
	struct rkv_stats s;
	rkv_stats(db, &s);
	assert_int_equal(s.user_bytes, 3 + 1 + 5 + 4);
	assert_true(s.wal_bytes >= s.user_bytes);
	assert_int_equal(s.wal_syncs, 2);
	assert_true(s.wal_sync_max_ns > 0);
	assert_true(s.write_amp >= 1.0);
	assert_int_equal(s.failed, 0);
	assert_true(s.cache_capacity_bytes > 0);
	rkv_close(db);
	tmp_remove(&t);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_rkv_rejects_bad_arguments),
	    cmocka_unit_test(test_rkv_reopen_keeps_data),
	    cmocka_unit_test(test_rkv_iteration_order),
	    cmocka_unit_test(test_rkv_batch_is_atomic),
	    cmocka_unit_test(test_rkv_checkpoint_opens_with_data),
	    cmocka_unit_test(test_rkv_stats_move),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
