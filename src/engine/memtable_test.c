/*
 * memtable_test.c - the skip list of engine/memtable.h through its header.
 *
 * A seeded reference model (a flat array of every entry added) checks
 * gets "as of" any seq, iteration order (the model sorted with ikey_cmp),
 * seeks and reverse iteration; keys are drawn from a tiny alphabet with
 * 0x00 and 0xff so that binary keys and keys that are prefixes of each
 * other are common. A concurrency test runs one writer against reader
 * threads that check every state they observe. Allocation failure is
 * walked through a test allocator. A failing property prints its seed.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "base/le.h"
#include "base/err.h"
#include "base/limits.h"
#include "engine/memtable.h"
#include "unit/failing_alloc.h"
#include "env/env.h"

#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- Reference model ------------------------------------------------- */

#define MODEL_KEY_MAX  8
#define MODEL_VREC_MAX 48

struct model_entry {
	uint8_t ikey[MODEL_KEY_MAX + IKEY_TRAILER_BYTES];
	size_t ikey_len;
	uint64_t seq;
	enum ikey_kind kind;
	uint8_t vrec[MODEL_VREC_MAX];
	size_t vrec_len;
};

static struct bytes me_ukey(const struct model_entry *e)
{
	return bytes_make(e->ikey, e->ikey_len - IKEY_TRAILER_BYTES);
}

static int me_cmp(const void *a, const void *b)
{
	const struct model_entry *x = a, *y = b;
	return ikey_cmp(bytes_make(x->ikey, x->ikey_len), bytes_make(y->ikey, y->ikey_len));
}

/* Keys of length 0..MODEL_KEY_MAX over {00, 01, 'a', 'b', ff}. */
static size_t random_key(struct env_rng *r, uint8_t *k)
{
	static const uint8_t alphabet[] = {0x00, 0x01, 'a', 'b', 0xff};
	size_t n = env_rng_next(r) % (MODEL_KEY_MAX + 1);
	for (size_t i = 0; i < n; i++)
		k[i] = alphabet[env_rng_next(r) % sizeof(alphabet)];
	return n;
}

static void random_entry(struct env_rng *r, const uint8_t (*pool)[MODEL_KEY_MAX],
                         const size_t *pool_len, size_t pool_n, uint64_t seq, struct model_entry *e)
{
	size_t ki = env_rng_next(r) % pool_n;
	uint64_t roll = env_rng_next(r) % 10;
	e->kind = roll < 2 ? IKEY_KIND_DELETE : roll < 3 ? IKEY_KIND_BLOB : IKEY_KIND_PUT;
	e->seq = seq;
	e->ikey_len = ikey_encode(e->ikey, bytes_make(pool[ki], pool_len[ki]), seq, e->kind);
	e->vrec_len = 0;
	if (e->kind == IKEY_KIND_DELETE)
		return;
	uint8_t v[MODEL_VREC_MAX - 9];
	size_t vlen = e->kind == IKEY_KIND_BLOB ? 16 : env_rng_next(r) % sizeof(v);
	for (size_t i = 0; i < vlen; i++)
		v[i] = (uint8_t)env_rng_next(r);
	int64_t expire_ms = env_rng_next(r) % 3 == 0 ? (int64_t)(env_rng_next(r) >> 1) : 0;
	e->vrec_len = vrec_encode(e->vrec, expire_ms, bytes_make(v, vlen));
}

/* The newest entry of ukey with seq <= as_of, or NULL. */
static const struct model_entry *model_get(const struct model_entry *m, size_t n, struct bytes ukey,
                                           uint64_t as_of)
{
	const struct model_entry *best = NULL;
	for (size_t i = 0; i < n; i++)
		if (m[i].seq <= as_of && (!best || m[i].seq > best->seq) &&
		    bytes_eq(me_ukey(&m[i]), ukey))
			best = &m[i];
	return best;
}

static void check_entry_eq(const struct memtable_entry *got, const struct model_entry *want)
{
	assert_true(bytes_eq(got->user_key, me_ukey(want)));
	assert_true(got->seq == want->seq);
	assert_int_equal(got->kind, want->kind);
	assert_true(bytes_eq(got->value_record, bytes_make(want->vrec, want->vrec_len)));
}

/* ---- Tests ----------------------------------------------------------- */

static void test_memtable_empty_finds_nothing(void **state)
{
	struct memtable mt;
	assert_int_equal(memtable_init(&mt, NULL), 0);
	struct memtable_entry e;
	assert_int_equal(memtable_get(&mt, bytes_make("", 0), IKEY_SEQ_MAX, &e), MEMTABLE_ABSENT);
	struct memtable_iter it;
	memtable_iter_init(&it, &mt);
	memtable_iter_seek_to_first(&it);
	assert_false(memtable_iter_valid(&it));
	memtable_iter_seek_to_last(&it);
	assert_false(memtable_iter_valid(&it));
	uint8_t k[IKEY_TRAILER_BYTES];
	memtable_iter_seek(&it,
	                   bytes_make(k, ikey_encode(k, bytes_make("", 0), 0, IKEY_KIND_SEEK)));
	assert_false(memtable_iter_valid(&it));
	assert_true(memtable_entry_count(&mt) == 0);
	assert_true(memtable_bytes(&mt) > 0 &&
	            memtable_bytes(&mt) <= ARENA_BLOCK_BYTES_DEFAULT + 64);
	memtable_deinit(&mt);
}

static void check_gets(const struct memtable *mt, const struct model_entry *m, size_t n,
                       struct env_rng *r, uint64_t max_seq)
{
	for (int g = 0; g < 2000; g++) {
		struct bytes ukey = me_ukey(&m[env_rng_next(r) % n]);
		uint64_t as_of = env_rng_next(r) % (max_seq + 2);
		if (g % 10 == 0)
			as_of = UINT64_MAX; /* clamped: the newest */
		const struct model_entry *want = model_get(m, n, ukey, as_of);
		struct memtable_entry got;
		enum memtable_lookup res = memtable_get(mt, ukey, as_of, &got);
		if (!want) {
			assert_int_equal(res, MEMTABLE_ABSENT);
			continue;
		}
		assert_int_equal(
		    res, want->kind == IKEY_KIND_DELETE ? MEMTABLE_TOMBSTONE : MEMTABLE_VALUE);
		check_entry_eq(&got, want);
	}
}

/* Forward and backward iteration and random seeks against sorted m. */
static void check_iteration(const struct memtable *mt, struct model_entry *m, size_t n,
                            struct env_rng *r)
{
	qsort(m, n, sizeof(*m), me_cmp);
	struct memtable_iter it;
	memtable_iter_init(&it, mt);
	size_t i = 0;
	struct memtable_entry got;
	for (memtable_iter_seek_to_first(&it); memtable_iter_valid(&it); memtable_iter_next(&it)) {
		assert_true(i < n);
		assert_true(bytes_eq(memtable_iter_key(&it), bytes_make(m[i].ikey, m[i].ikey_len)));
		assert_true(
		    bytes_eq(memtable_iter_value(&it), bytes_make(m[i].vrec, m[i].vrec_len)));
		memtable_iter_entry(&it, &got);
		check_entry_eq(&got, &m[i]);
		i++;
	}
	assert_int_equal(i, n);
	for (memtable_iter_seek_to_last(&it); memtable_iter_valid(&it); memtable_iter_prev(&it)) {
		assert_true(i > 0);
		i--;
		assert_true(bytes_eq(memtable_iter_key(&it), bytes_make(m[i].ikey, m[i].ikey_len)));
	}
	assert_int_equal(i, 0);
	for (int s = 0; s < 500; s++) {
		struct model_entry probe;
		probe.ikey_len = ikey_encode(probe.ikey, me_ukey(&m[env_rng_next(r) % n]),
		                             env_rng_next(r) % (n + 2), IKEY_KIND_SEEK);
		size_t lo = 0; /* first model entry >= probe */
		while (lo < n && me_cmp(&m[lo], &probe) < 0)
			lo++;
		memtable_iter_seek(&it, bytes_make(probe.ikey, probe.ikey_len));
		if (lo == n) {
			assert_false(memtable_iter_valid(&it));
			continue;
		}
		assert_true(memtable_iter_valid(&it));
		assert_true(
		    bytes_eq(memtable_iter_key(&it), bytes_make(m[lo].ikey, m[lo].ikey_len)));
	}
}

static void model_round(uint64_t seed, size_t n_entries, size_t pool_n, unsigned bucket_bits)
{
	printf("model round seed %llu, %u bucket bits\n", (unsigned long long)seed, bucket_bits);
	struct env_rng r;
	env_rng_seed(&r, seed);
	uint8_t(*pool)[MODEL_KEY_MAX] = calloc(pool_n, MODEL_KEY_MAX);
	size_t *pool_len = calloc(pool_n, sizeof(size_t));
	struct model_entry *m = calloc(n_entries, sizeof(*m));
	assert_true(pool && pool_len && m);
	for (size_t i = 0; i < pool_n; i++)
		pool_len[i] = random_key(&r, pool[i]);

	struct memtable_options opt = {
	    .arena_block_bytes = 8192, .seed = seed, .bucket_bits = bucket_bits};
	struct memtable mt;
	assert_int_equal(memtable_init(&mt, &opt), 0);
	uint64_t seq = 0;
	for (size_t i = 0; i < n_entries; i++) {
		seq += 1 + env_rng_next(&r) % 3; /* gaps, as other tables would hold */
		random_entry(&r, (const uint8_t(*)[MODEL_KEY_MAX])pool, pool_len, pool_n, seq,
		             &m[i]);
		assert_int_equal(memtable_add(&mt, seq, m[i].kind, me_ukey(&m[i]),
		                              bytes_make(m[i].vrec, m[i].vrec_len)),
		                 0);
		if (i == n_entries / 2)
			check_gets(&mt, m, i + 1, &r, seq);
	}
	assert_true(memtable_entry_count(&mt) == n_entries);
	check_gets(&mt, m, n_entries, &r, seq);
	check_iteration(&mt, m, n_entries, &r);
	memtable_deinit(&mt);
	free(m);
	free(pool_len);
	free(pool);
}

static void test_memtable_matches_reference_model(void **state)
{
	/* Keys start with 00, 01, 'a', 'b' or ff (or are empty): 3 bucket
	 * bits fill buckets 0, 3 and 7 of 8, 8 bits five of 256, so seeks,
	 * next and prev cross empty buckets and bitmap words. */
	static const unsigned bits[] = {0, 3, 8};
	for (size_t b = 0; b < sizeof(bits) / sizeof(bits[0]); b++) {
		model_round(1, 3000, 40, bits[b]);    /* many versions per key */
		model_round(2, 3000, 2000, bits[b]);  /* mostly distinct keys */
		model_round(0xfeed, 300, 5, bits[b]); /* a handful of keys, deep version chains */
		model_round(99, 1, 1, bits[b]);
	}
}

static void test_memtable_rejects_invalid_entries_and_limits(void **state)
{
	struct memtable mt;
	assert_int_equal(memtable_init(&mt, NULL), 0);
	uint8_t rec[16];
	struct bytes vrec = bytes_make(rec, vrec_encode(rec, 0, bytes_make("v", 1)));
	struct bytes k = bytes_make("k", 1);
	assert_int_equal(memtable_add(&mt, IKEY_SEQ_MAX + 1, IKEY_KIND_PUT, k, vrec), ERR_INVALID);
	assert_int_equal(memtable_add(&mt, 1, IKEY_KIND_SEEK, k, vrec), ERR_INVALID);
	assert_int_equal(memtable_add(&mt, 1, (enum ikey_kind)3, k, vrec), ERR_INVALID);
	assert_int_equal(memtable_add(&mt, 1, IKEY_KIND_DELETE, k, vrec), ERR_INVALID);
	assert_int_equal(memtable_add(&mt, 1, IKEY_KIND_PUT, k, bytes_make("", 0)), ERR_INVALID);
	assert_int_equal(memtable_add(&mt, 1, IKEY_KIND_BLOB, k, bytes_make("\x02", 1)),
	                 ERR_INVALID);
	assert_int_equal(memtable_add(&mt, 1, IKEY_KIND_PUT, k, bytes_make("\x01xx", 3)),
	                 ERR_INVALID);
	/* Only the length is looked at before the refusal. */
	assert_int_equal(
	    memtable_add(&mt, 1, IKEY_KIND_PUT, k, bytes_make(rec, VALUE_BYTES_MAX + 9 + 1)),
	    ERR_LIMIT);
	assert_true(memtable_entry_count(&mt) == 0);

	/* Key at its limit and one past it. */
	uint8_t *big = calloc(1, KEY_BYTES_MAX + 1);
	assert_non_null(big);
	assert_int_equal(
	    memtable_add(&mt, 2, IKEY_KIND_PUT, bytes_make(big, KEY_BYTES_MAX + 1), vrec),
	    ERR_LIMIT);
	assert_int_equal(memtable_add(&mt, 2, IKEY_KIND_PUT, bytes_make(big, KEY_BYTES_MAX), vrec),
	                 0);
	struct memtable_entry e;
	assert_int_equal(memtable_get(&mt, bytes_make(big, KEY_BYTES_MAX), 2, &e), MEMTABLE_VALUE);
	assert_true(e.user_key.len == KEY_BYTES_MAX && bytes_eq(e.value_record, vrec));
	free(big);

	/* The same internal key twice; a new seq or kind is a new entry. */
	assert_int_equal(memtable_add(&mt, 5, IKEY_KIND_PUT, k, vrec), 0);
	assert_int_equal(memtable_add(&mt, 5, IKEY_KIND_PUT, k, vrec), ERR_EXISTS);
	assert_int_equal(memtable_add(&mt, 5, IKEY_KIND_DELETE, k, bytes_make("", 0)), 0);
	assert_int_equal(memtable_add(&mt, IKEY_SEQ_MAX, IKEY_KIND_DELETE, k, bytes_make("", 0)),
	                 0);
	assert_true(memtable_entry_count(&mt) == 4);
	/* At seq 5 the PUT (kind 1) sorts before the DELETE (kind 0). */
	assert_int_equal(memtable_get(&mt, k, 5, &e), MEMTABLE_VALUE);
	assert_int_equal(memtable_get(&mt, k, 4, &e), MEMTABLE_ABSENT);
	assert_int_equal(memtable_get(&mt, k, UINT64_MAX, &e), MEMTABLE_TOMBSTONE);
	assert_true(e.seq == IKEY_SEQ_MAX && e.value_record.len == 0);
	memtable_deinit(&mt);
}

static void test_memtable_allocation_failure_leaves_table_consistent(void **state)
{
	for (int fail_at = 1; fail_at <= 5; fail_at++) {
		struct failing_alloc t = {.fail_at = fail_at};
		struct arena_allocator al = failing_allocator(&t);
		struct memtable_options opt = {.arena_block_bytes = 1024, .allocator = &al};
		struct memtable mt;
		if (fail_at == 1) {
			assert_int_equal(memtable_init(&mt, &opt), ERR_NOMEM);
			assert_int_equal(t.outstanding, 0);
			continue;
		}
		assert_int_equal(memtable_init(&mt, &opt), 0);
		uint64_t added = 0, failed = 0;
		uint8_t rec[64], filler[40] = {0};
		for (uint64_t seq = 1; seq <= 100; seq++) {
			char key[16];
			int klen = snprintf(key, sizeof(key), "k%03llu", (unsigned long long)seq);
			struct bytes v =
			    bytes_make(rec, vrec_encode(rec, 0, bytes_make(filler, 40)));
			int err = memtable_add(&mt, seq, IKEY_KIND_PUT, bytes_make(key, klen), v);
			if (err) {
				assert_int_equal(err, ERR_NOMEM);
				failed = seq;
				continue;
			}
			added++;
		}
		assert_true(failed > 0 && added == 99);
		assert_true(memtable_entry_count(&mt) == added);
		/* Every entry but the failed one is there, in order. */
		struct memtable_iter it;
		memtable_iter_init(&it, &mt);
		uint64_t seq = 1, seen = 0;
		for (memtable_iter_seek_to_first(&it); memtable_iter_valid(&it);
		     memtable_iter_next(&it), seq++, seen++) {
			struct memtable_entry e;
			memtable_iter_entry(&it, &e);
			if (seq == failed)
				seq++;
			assert_true(e.seq == seq);
		}
		assert_true(seen == added);
		struct memtable_entry e;
		char key[16];
		int klen = snprintf(key, sizeof(key), "k%03llu", (unsigned long long)failed);
		assert_int_equal(memtable_get(&mt, bytes_make(key, klen), UINT64_MAX, &e),
		                 MEMTABLE_ABSENT);
		assert_int_equal(memtable_bytes(&mt), t.outstanding);
		memtable_deinit(&mt);
		assert_int_equal(t.outstanding, 0);
	}
}

static void test_memtable_bytes_are_monotone_and_track_inserted_bytes(void **state)
{
	struct memtable_options opt = {.arena_block_bytes = 64 * 1024, .seed = 5};
	struct memtable mt;
	assert_int_equal(memtable_init(&mt, &opt), 0);
	struct env_rng r;
	env_rng_seed(&r, 5);
	size_t payload = 0, last = memtable_bytes(&mt);
	const uint64_t n = 50000;
	uint8_t rec[300], val[256];
	for (uint64_t seq = 1; seq <= n; seq++) {
		uint8_t key[24];
		size_t klen = 1 + env_rng_next(&r) % sizeof(key);
		for (size_t i = 0; i < klen; i++)
			key[i] = (uint8_t)env_rng_next(&r);
		size_t vlen = env_rng_next(&r) % sizeof(val);
		memset(val, 'v', vlen);
		struct bytes v = bytes_make(rec, vrec_encode(rec, 0, bytes_make(val, vlen)));
		assert_int_equal(memtable_add(&mt, seq, IKEY_KIND_PUT, bytes_make(key, klen), v),
		                 0);
		payload += klen + IKEY_TRAILER_BYTES + v.len;
		size_t now = memtable_bytes(&mt);
		assert_true(now >= last);
		assert_true(now >= payload);
		last = now;
	}
	/* Per node: a 9-byte header padded into 16 bytes with the tower
	 * (8 bytes a level, 4/3 levels on average) and up to 7 bytes of
	 * alignment, so about 30 bytes; plus block tails under a quarter
	 * of 64 KiB (rarely more than one entry's size). */
	printf("payload %zu bytes, memtable %zu bytes (%.1f bytes overhead per entry)\n", payload,
	       last, (double)(last - payload) / (double)n);
	assert_true(last >= payload + n * 16);
	assert_true(last <= payload + n * 40 + 2 * opt.arena_block_bytes);
	memtable_deinit(&mt);
}

/* ---- One writer, many readers ---------------------------------------- */

#define CONC_KEYS    1000
#define CONC_OPS     100000
#define CONC_READERS 3

struct conc {
	struct memtable mt;
	_Atomic uint64_t key_latest[CONC_KEYS]; /* seq of each key's newest add */
	_Atomic uint64_t published;             /* every seq <= this is added */
	_Atomic bool done;
	_Atomic uint64_t failures;
	_Atomic uint64_t iterations, gets, overlapped_gets;
	_Atomic int ready; /* readers started: the writer waits for all */
	char first_failure[128];
	_Atomic bool failure_claimed;
};

/* Whether conc keys spread over the memtable's buckets. */
static bool conc_spread;

static size_t conc_key(uint64_t i, uint8_t *k)
{
	/* Binary, with keys that are prefixes of others (i and i*10, when
	 * spread for i a multiple of 7). */
	size_t n = (size_t)snprintf((char *)k, 16, "\xff%llu", (unsigned long long)i) + (i % 3 == 0);
	if (conc_spread)
		k[0] = (uint8_t)(i % 7 * 37);
	return n;
}

/* A PUT's value is its seq and its key, so a reader can tell a torn or
 * mismatched record from a correct one. */
static size_t conc_vrec(uint64_t seq, struct bytes ukey, uint8_t *rec)
{
	uint8_t v[64];
	le_put64(v, seq);
	memcpy(v + 8, ukey.ptr, ukey.len);
	size_t pad = seq % 17;
	memset(v + 8 + ukey.len, (int)(seq & 0xff), pad);
	return vrec_encode(rec, (int64_t)(seq & 1), bytes_make(v, 8 + ukey.len + pad));
}

static void conc_fail(struct conc *c, const char *what, uint64_t a)
{
	atomic_fetch_add(&c->failures, 1);
	bool expected = false;
	if (atomic_compare_exchange_strong(&c->failure_claimed, &expected, true))
		snprintf(c->first_failure, sizeof(c->first_failure), "%s (%llu)", what,
		         (unsigned long long)a);
}

static bool conc_entry_ok(const struct memtable_entry *e)
{
	if (e->kind == IKEY_KIND_DELETE)
		return e->value_record.len == 0;
	uint8_t rec[128];
	size_t n = conc_vrec(e->seq, e->user_key, rec);
	return e->kind == IKEY_KIND_PUT && bytes_eq(e->value_record, bytes_make(rec, n));
}

static void *conc_writer(void *arg)
{
	struct conc *c = arg;
	struct env_rng r;
	env_rng_seed(&r, 77);
	/* Spin until every reader runs, so that they overlap the writes. */
	while (atomic_load(&c->ready) < CONC_READERS)
		;
	for (uint64_t seq = 1; seq <= CONC_OPS; seq++) {
		uint64_t i = env_rng_next(&r) % CONC_KEYS;
		uint8_t k[16], rec[128];
		struct bytes ukey = bytes_make(k, conc_key(i, k));
		bool del = env_rng_next(&r) % 8 == 0;
		struct bytes v =
		    del ? bytes_make("", 0) : bytes_make(rec, conc_vrec(seq, ukey, rec));
		int err =
		    memtable_add(&c->mt, seq, del ? IKEY_KIND_DELETE : IKEY_KIND_PUT, ukey, v);
		if (err)
			conc_fail(c, "add failed", seq);
		atomic_store_explicit(&c->key_latest[i], seq, memory_order_release);
		atomic_store_explicit(&c->published, seq, memory_order_release);
	}
	atomic_store(&c->done, true);
	return NULL;
}

/* One get: the newest version is at least the one published for the key
 * before the get started, and an "as of" get never returns a newer one. */
static void conc_get(struct conc *c, struct env_rng *r)
{
	uint64_t i = env_rng_next(r) % CONC_KEYS;
	uint8_t k[16];
	struct bytes ukey = bytes_make(k, conc_key(i, k));
	uint64_t latest = atomic_load_explicit(&c->key_latest[i], memory_order_acquire);
	struct memtable_entry e;
	enum memtable_lookup res = memtable_get(&c->mt, ukey, UINT64_MAX, &e);
	if (latest && res == MEMTABLE_ABSENT)
		conc_fail(c, "published key not found", latest);
	if (res != MEMTABLE_ABSENT &&
	    (e.seq < latest || !conc_entry_ok(&e) || !bytes_eq(e.user_key, ukey)))
		conc_fail(c, "stale or torn get", e.seq);
	uint64_t as_of = env_rng_next(r) % (latest + 1);
	res = memtable_get(&c->mt, ukey, as_of, &e);
	if (res != MEMTABLE_ABSENT && (e.seq > as_of || !conc_entry_ok(&e)))
		conc_fail(c, "get as of returned a newer or torn entry", e.seq);
	atomic_fetch_add_explicit(&c->gets, 1, memory_order_relaxed);
}

/* A full scan (or, every other time, one from a random seek): strictly
 * ascending, every entry consistent, nothing published before it missing. */
static void conc_iterate(struct conc *c, struct env_rng *r)
{
	uint64_t published = atomic_load_explicit(&c->published, memory_order_acquire);
	struct memtable_iter it;
	memtable_iter_init(&it, &c->mt);
	struct bytes prev = {NULL, 0};
	uint64_t n = 0;
	bool full = env_rng_next(r) % 2 == 0;
	if (full) {
		memtable_iter_seek_to_first(&it);
	} else {
		uint8_t k[16 + IKEY_TRAILER_BYTES];
		uint64_t i = env_rng_next(r) % CONC_KEYS;
		size_t klen = conc_key(i, k);
		memtable_iter_seek(
		    &it,
		    bytes_make(k, ikey_encode(k, bytes_make(k, klen), published, IKEY_KIND_SEEK)));
	}
	for (; memtable_iter_valid(&it); memtable_iter_next(&it), n++) {
		struct bytes key = memtable_iter_key(&it);
		if (prev.ptr && ikey_cmp(prev, key) >= 0)
			conc_fail(c, "iteration out of order", n);
		struct memtable_entry e;
		memtable_iter_entry(&it, &e);
		if (!conc_entry_ok(&e))
			conc_fail(c, "torn entry in iteration", e.seq);
		prev = key;
	}
	if (full && n < published)
		conc_fail(c, "iteration missed published entries", published - n);
	atomic_fetch_add_explicit(&c->iterations, 1, memory_order_relaxed);
}

static void *conc_reader(void *arg)
{
	struct conc *c = arg;
	struct env_rng r;
	env_rng_seed(&r, (uint64_t)(uintptr_t)&r);
	atomic_fetch_add(&c->ready, 1);
	/* At least a few rounds even if the writer finishes first. */
	for (int round = 0; !atomic_load(&c->done) || round < 4; round++) {
		bool overlapped = !atomic_load(&c->done);
		for (int g = 0; g < 64; g++)
			conc_get(c, &r);
		if (overlapped)
			atomic_fetch_add(&c->overlapped_gets, 64);
		conc_iterate(c, &r);
	}
	return NULL;
}

static void conc_round(unsigned bucket_bits)
{
	conc_spread = bucket_bits > 0;
	struct conc *c = calloc(1, sizeof(*c));
	assert_non_null(c);
	struct memtable_options opt = {
	    .arena_block_bytes = 256 * 1024, .seed = 3, .bucket_bits = bucket_bits};
	assert_int_equal(memtable_init(&c->mt, &opt), 0);
	struct env_thread readers[CONC_READERS], writer;
	for (int i = 0; i < CONC_READERS; i++)
		assert_int_equal(env_thread_start(&readers[i], "mt-reader", conc_reader, c), 0);
	assert_int_equal(env_thread_start(&writer, "mt-writer", conc_writer, c), 0);
	env_thread_join(&writer);
	for (int i = 0; i < CONC_READERS; i++)
		env_thread_join(&readers[i]);
	printf("%llu gets (%llu while writing), %llu iterations, %llu failures%s%s\n",
	       (unsigned long long)atomic_load(&c->gets),
	       (unsigned long long)atomic_load(&c->overlapped_gets),
	       (unsigned long long)atomic_load(&c->iterations),
	       (unsigned long long)atomic_load(&c->failures),
	       atomic_load(&c->failures) ? ": first: " : "", c->first_failure);
	assert_true(atomic_load(&c->failures) == 0);
	assert_true(atomic_load(&c->overlapped_gets) > 0);
	assert_true(memtable_entry_count(&c->mt) == CONC_OPS);
	memtable_deinit(&c->mt);
	free(c);
}

static void test_memtable_concurrent_readers_see_consistent_states(void **state)
{
	conc_round(0);
	conc_round(6);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_memtable_empty_finds_nothing),
	    cmocka_unit_test(test_memtable_matches_reference_model),
	    cmocka_unit_test(test_memtable_rejects_invalid_entries_and_limits),
	    cmocka_unit_test(test_memtable_allocation_failure_leaves_table_consistent),
	    cmocka_unit_test(test_memtable_bytes_are_monotone_and_track_inserted_bytes),
	    cmocka_unit_test(test_memtable_concurrent_readers_see_consistent_states),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
