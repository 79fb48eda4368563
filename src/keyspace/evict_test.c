/*
 * evict_test.c - eviction policies over the keyspace and the memory
 * engine, with a deterministic meter (keys x a unit) in place of the
 * allocator: eligibility of victims, -OOM conditions, the LFU counter,
 * HOTKEYS, and the hit ratio of sampled LRU and LFU against exact LRU and
 * LFU caches simulated on the same seeded Zipf trace.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/assert.h"
#include "base/err.h"
#include "keyspace/evict.h"

#define UNIT_BYTES 1000

/* The cache under test: keyspace, evictor and a meter counting live keys
 * (created by the test minus evicted by the evictor). */
struct cache {
	struct config cfg;
	struct keyspace *ks;
	struct evict ev;
	struct evict_thread et;
	struct env_rng rng;
	uint64_t created;
};

static uint64_t meter(void *ctx)
{
	struct cache *c = ctx;
	return (c->created - c->et.evicted) * UNIT_BYTES;
}

static void set_cfg(struct cache *c, const char *name, const char *value)
{
	char err[200];
	int id = config_find(name, strlen(name));
	assert_true(id >= 0);
	assert_int_equal(config_set(&c->cfg, id, value, strlen(value), false, err, sizeof(err)), 0);
}

/* A cache of at most max_keys keys after each insert. */
static void cache_init(struct cache *c, const char *policy, uint64_t max_keys, uint64_t seed)
{
	memset(c, 0, sizeof(*c));
	assert_int_equal(config_init(&c->cfg, 1), 0);
	c->ks = ks_create(engine_mem_create(KEYSPACE_STRIPES));
	assert_non_null(c->ks);
	char v[32];
	snprintf(v, sizeof(v), "%llu", (unsigned long long)((max_keys - 1) * UNIT_BYTES));
	set_cfg(c, "maxmemory", v);
	set_cfg(c, "maxmemory-policy", policy);
	evict_init(&c->ev, c->ks, &c->cfg);
	evict_set_meter(&c->ev, meter, c);
	evict_thread_init(&c->et);
	env_rng_seed(&c->rng, seed);
}

static void cache_deinit(struct cache *c)
{
	evict_thread_deinit(&c->et);
	ks_destroy(c->ks);
	config_deinit(&c->cfg);
}

static void key_of(struct ekey *k, char *buf, size_t cap, uint64_t i)
{
	int n = snprintf(buf, cap, "key:%llu", (unsigned long long)i);
	ks_key_init(k, bytes_make(buf, (size_t)n));
}

/* One access as a cache would serve it: a hit, or room made and an insert.
 * Returns 1 for a hit, 0 for a miss, ERR_NOMEM when refused. */
static int cache_access(struct cache *c, uint64_t id, int64_t now_ms, int64_t expire_ms)
{
	char buf[32];
	struct ekey k;
	key_of(&k, buf, sizeof(buf), id);
	struct bytes val;
	struct entry_meta meta;
	ks_clock_advance(c->ks, now_ms);
	ks_lock(c->ks, k.stripe);
	int rc = ks_get(c->ks, &k, now_ms, &val, &meta);
	ks_unlock(c->ks, k.stripe);
	if (rc == 0)
		return 1;
	if (evict_make_room(&c->ev, &c->et, now_ms, &c->rng) != 0)
		return ERR_NOMEM;
	ks_lock(c->ks, k.stripe);
	assert_int_equal(ks_set(c->ks, &k, bytes_cstr("v"), expire_ms), 0);
	ks_unlock(c->ks, k.stripe);
	c->created++;
	return 0;
}

static bool cache_has(struct cache *c, uint64_t id, int64_t now_ms)
{
	char buf[32];
	struct ekey k;
	key_of(&k, buf, sizeof(buf), id);
	struct bytes val;
	struct entry_meta meta;
	ks_lock(c->ks, k.stripe);
	int rc = ks_peek(c->ks, &k, now_ms, &val, &meta);
	ks_unlock(c->ks, k.stripe);
	return rc == 0;
}

/* ---- Eligibility and refusal ------------------------------------------------ */

static void test_volatile_policies_evict_only_keys_with_ttl_then_refuse(void **state)
{
	const char *policies[] = {"volatile-lru", "volatile-lfu", "volatile-random",
	                          "volatile-ttl"};
	for (size_t p = 0; p < ARRAY_LEN(policies); p++) {
		struct cache c;
		cache_init(&c, policies[p], 100, 1);
		int64_t now = 1000000;
		/* 60 keys without TTL and 40 with fill the cache; then keys
		 * without TTL push the volatile ones out, one each, until none
		 * is left and the next write is refused. */
		for (uint64_t i = 0; i < 100; i++)
			assert_int_equal(
			    cache_access(&c, i, now, i < 60 ? 0 : now + 100000 + (int64_t)i), 0);
		uint64_t i = 100;
		while (i < 1000 && cache_access(&c, i, now + (int64_t)i, 0) == 0)
			i++;
		assert_int_equal(i, 140);
		assert_int_equal(c.et.evicted, 40);
		assert_int_equal(ks_volatile_count(c.ks), 0);
		for (uint64_t j = 0; j < 140; j++)
			assert_true(cache_has(&c, j, now) == (j < 60 || j >= 100));
		cache_deinit(&c);
	}
}

static void test_noeviction_refuses_and_allkeys_policies_evict(void **state)
{
	struct cache c;
	cache_init(&c, "noeviction", 50, 2);
	for (uint64_t i = 0; i < 50; i++)
		assert_int_equal(cache_access(&c, i, 1000, 0), 0);
	assert_int_equal(cache_access(&c, 50, 1000, 0), ERR_NOMEM);
	assert_int_equal(cache_access(&c, 7, 1000, 0), 1); /* reads still work */
	cache_deinit(&c);
	const char *policies[] = {"allkeys-lru", "allkeys-lfu", "allkeys-random"};
	for (size_t p = 0; p < ARRAY_LEN(policies); p++) {
		cache_init(&c, policies[p], 50, 3);
		for (uint64_t i = 0; i < 500; i++)
			assert_true(cache_access(&c, i, 1000 + (int64_t)i, 0) >= 0);
		assert_int_equal(ks_count(c.ks, NULL), 50);
		struct ks_stats st;
		ks_stats(c.ks, 2000, &st);
		assert_int_equal(st.evicted_keys, 450);
		cache_deinit(&c);
	}
}

static void test_volatile_ttl_prefers_the_soonest_expiry(void **state)
{
	struct cache c;
	cache_init(&c, "volatile-ttl", 200, 4);
	int64_t now = 1000;
	/* Key i expires at now + 1e6 + i * 1000 (inserted in shuffled order). */
	for (uint64_t n = 0; n < 1000; n++) {
		uint64_t i = (n * 7919) % 1000;
		assert_true(cache_access(&c, i, now, now + 1000000 + (int64_t)i * 1000) >= 0);
	}
	uint64_t kept_sum = 0, kept = 0;
	for (uint64_t i = 0; i < 1000; i++)
		if (cache_has(&c, i, now)) {
			kept_sum += i;
			kept++;
		}
	assert_int_equal(kept, 200);
	printf("volatile-ttl: mean rank of the 200 kept of 1000: %.1f (exact: 899.5)\n",
	       (double)kept_sum / (double)kept);
	/* Sampled, not exact: the survivors are the late-expiring ones by far. */
	assert_true(kept_sum / kept > 700);
	cache_deinit(&c);
}

static void test_a_candidate_used_after_sampling_is_not_evicted(void **state)
{
	struct cache c;
	cache_init(&c, "allkeys-lru", 10, 5);
	char buf[32];
	struct ekey k;
	key_of(&k, buf, sizeof(buf), 1);
	assert_int_equal(cache_access(&c, 1, 1000, 0), 0);
	struct bytes val;
	struct entry_meta meta;
	ks_lock(c.ks, k.stripe);
	assert_int_equal(ks_peek(c.ks, &k, 1000, &val, &meta), 0);
	uint64_t sampled = meta.access;
	assert_int_equal(ks_get(c.ks, &k, 2000, &val, &meta), 0); /* used since */
	assert_int_equal(ks_evict(c.ks, &k, false, &sampled), ERR_NOT_FOUND);
	assert_int_equal(ks_peek(c.ks, &k, 2000, &val, &meta), 0);
	assert_int_equal(ks_evict(c.ks, &k, false, &meta.access), 0);
	ks_unlock(c.ks, k.stripe);
	assert_false(cache_has(&c, 1, 2000));
	cache_deinit(&c);
}

/* ---- The LFU counter and HOTKEYS ------------------------------------------------- */

static void test_lfu_counter_is_logarithmic_and_decays_per_minute(void **state)
{
	struct env_rng rng;
	env_rng_seed(&rng, 6);
	int64_t now = 60000 * 1000;
	uint64_t w = access_new(now);
	w = access_count(w, now, 10, 1, env_rng_next(&rng));
	assert_int_equal(access_counter(w), LFU_INIT_VAL);
	for (int i = 0; i < 100; i++)
		w = access_count(w, now, 10, 1, env_rng_next(&rng));
	unsigned at100 = access_counter(w);
	for (int i = 0; i < 900; i++)
		w = access_count(w, now, 10, 1, env_rng_next(&rng));
	unsigned at1000 = access_counter(w);
	/* Redis's table for lfu-log-factor 10: 100 hits ~ 10, 1000 hits ~ 18. */
	assert_true(at100 >= 7 && at100 <= 14);
	assert_true(at1000 >= 14 && at1000 <= 24);
	assert_int_equal(access_lfu(w, now + 3 * 60000, 1), at1000 - 3);
	assert_int_equal(access_lfu(w, now + 3 * 60000, 0), at1000);
	assert_int_equal(access_lfu(w, now + 100 * 60000, 1), 0);
	assert_int_equal(access_idle_ms(w, now + 1234), 1234);
	/* Factor 0: every access counts. */
	uint64_t z = access_new(now);
	for (int i = 0; i < 300; i++)
		z = access_count(z, now, 0, 1, env_rng_next(&rng));
	assert_int_equal(access_counter(z), LFU_COUNTER_MAX);
}

static void test_hotkeys_lists_the_most_accessed_keys_first(void **state)
{
	struct cache c;
	cache_init(&c, "allkeys-lfu", 100000, 7);
	for (uint64_t i = 0; i < 5000; i++)
		cache_access(&c, i, 1000, 0);
	for (int n = 0; n < 3000; n++) {
		cache_access(&c, 4242, 1000, 0);
		if (n % 3 == 0)
			cache_access(&c, 17, 1000, 0);
	}
	struct evict_hotkey hk[3];
	int64_t n = evict_hotkeys(&c.ev, NULL, 1000, 1, 3, hk);
	assert_int_equal(n, 3);
	assert_memory_equal(hk[0].key, "key:4242", 8);
	assert_int_equal(hk[0].len, 8);
	assert_memory_equal(hk[1].key, "key:17", 6);
	assert_true(hk[0].freq > hk[1].freq && hk[1].freq > hk[2].freq);
	evict_hotkeys_free(hk, (size_t)n);
	cache_deinit(&c);
}

/* ---- Hit ratio on a Zipf trace ------------------------------------------------------ */

#define ZIPF_KEYS     20000
#define ZIPF_CAPACITY 2000
#define ZIPF_ACCESSES 600000
#define ZIPF_WARMUP   100000
#define ZIPF_SKEW     0.9

struct zipf {
	double *cdf;
	struct env_rng rng;
};

static void zipf_init(struct zipf *z, uint64_t seed)
{
	z->cdf = malloc(ZIPF_KEYS * sizeof(double));
	assert_non_null(z->cdf);
	double sum = 0;
	for (int i = 0; i < ZIPF_KEYS; i++)
		sum += 1.0 / pow(i + 1, ZIPF_SKEW);
	double acc = 0;
	for (int i = 0; i < ZIPF_KEYS; i++) {
		acc += 1.0 / pow(i + 1, ZIPF_SKEW) / sum;
		z->cdf[i] = acc;
	}
	env_rng_seed(&z->rng, seed);
}

/* A key id; ranks are scattered over ids so that hot keys do not share
 * stripes or hash neighbourhoods. */
static uint32_t zipf_next(struct zipf *z)
{
	double u = (double)(env_rng_next(&z->rng) >> 11) / 9007199254740992.0;
	uint32_t lo = 0, hi = ZIPF_KEYS - 1;
	while (lo < hi) {
		uint32_t mid = (lo + hi) / 2;
		if (z->cdf[mid] < u)
			lo = mid + 1;
		else
			hi = mid;
	}
	return (uint32_t)(((uint64_t)lo * 7919 + 13) % ZIPF_KEYS);
}

/* Exact caches over key ids: LRU by last-use stamp, LFU by in-cache hit
 * count (reset on eviction, as ringkv's counters are) with LRU ties. */
struct exact {
	bool lfu;
	bool *in;
	uint64_t *last, *count;
	uint32_t *slots; /* ids in the cache */
	uint32_t *slot_of;
	uint32_t len;
};

static void exact_init(struct exact *x, bool lfu)
{
	x->lfu = lfu;
	x->in = calloc(ZIPF_KEYS, sizeof(bool));
	x->last = calloc(ZIPF_KEYS, sizeof(uint64_t));
	x->count = calloc(ZIPF_KEYS, sizeof(uint64_t));
	x->slots = calloc(ZIPF_CAPACITY, sizeof(uint32_t));
	x->slot_of = calloc(ZIPF_KEYS, sizeof(uint32_t));
	x->len = 0;
	assert_true(x->in && x->last && x->count && x->slots && x->slot_of);
}

static void exact_deinit(struct exact *x)
{
	free(x->in);
	free(x->last);
	free(x->count);
	free(x->slots);
	free(x->slot_of);
}

static bool worse(const struct exact *x, uint32_t a, uint32_t b)
{
	if (x->lfu && x->count[a] != x->count[b])
		return x->count[a] < x->count[b];
	return x->last[a] < x->last[b];
}

static bool exact_access(struct exact *x, uint32_t id, uint64_t t)
{
	x->last[id] = t;
	if (x->in[id]) {
		x->count[id]++;
		return true;
	}
	if (x->len == ZIPF_CAPACITY) {
		uint32_t victim = 0;
		for (uint32_t i = 1; i < x->len; i++)
			if (worse(x, x->slots[i], x->slots[victim]))
				victim = i;
		uint32_t vid = x->slots[victim];
		x->in[vid] = false;
		x->slots[victim] = x->slots[--x->len];
		x->slot_of[x->slots[victim]] = victim;
	}
	x->in[id] = true;
	x->count[id] = 1;
	x->slot_of[id] = x->len;
	x->slots[x->len++] = id;
	return false;
}

struct ratios {
	double exact, approx;
};

static struct ratios zipf_run(bool lfu)
{
	struct zipf z;
	zipf_init(&z, 42);
	struct exact x;
	exact_init(&x, lfu);
	struct cache c;
	cache_init(&c, lfu ? "allkeys-lfu" : "allkeys-lru", ZIPF_CAPACITY, 43);
	uint64_t hits_exact = 0, hits_approx = 0, counted = 0;
	int64_t base_ms = 1700000000000;
	for (uint64_t t = 0; t < ZIPF_ACCESSES; t++) {
		uint32_t id = zipf_next(&z);
		/* 10 accesses per millisecond: 60 s in all, within one LFU
		 * decay period, as for the exact LFU (which never decays). */
		int64_t now = base_ms + (int64_t)(t / 10);
		bool he = exact_access(&x, id, t);
		int ha = cache_access(&c, id, now, 0);
		assert_true(ha >= 0);
		if (t >= ZIPF_WARMUP) {
			counted++;
			hits_exact += he;
			hits_approx += (uint64_t)ha;
		}
	}
	assert_true(ks_count(c.ks, NULL) <= ZIPF_CAPACITY);
	struct ratios r = {(double)hits_exact / (double)counted,
	                   (double)hits_approx / (double)counted};
	cache_deinit(&c);
	exact_deinit(&x);
	free(z.cdf);
	return r;
}

static void test_sampled_lru_and_lfu_hit_ratios_are_within_5_points_of_exact(void **state)
{
	struct ratios lru = zipf_run(false);
	struct ratios lfu = zipf_run(true);
	printf("zipf(%.2f) %d keys, cache %d, %d accesses: LRU exact %.4f sampled %.4f; "
	       "LFU exact %.4f sampled %.4f\n",
	       ZIPF_SKEW, ZIPF_KEYS, ZIPF_CAPACITY, ZIPF_ACCESSES, lru.exact, lru.approx, lfu.exact,
	       lfu.approx);
	assert_true(fabs(lru.exact - lru.approx) <= 0.05);
	assert_true(fabs(lfu.exact - lfu.approx) <= 0.05);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_volatile_policies_evict_only_keys_with_ttl_then_refuse),
	    cmocka_unit_test(test_noeviction_refuses_and_allkeys_policies_evict),
	    cmocka_unit_test(test_volatile_ttl_prefers_the_soonest_expiry),
	    cmocka_unit_test(test_a_candidate_used_after_sampling_is_not_evicted),
	    cmocka_unit_test(test_lfu_counter_is_logarithmic_and_decays_per_minute),
	    cmocka_unit_test(test_hotkeys_lists_the_most_accessed_keys_first),
	    cmocka_unit_test(test_sampled_lru_and_lfu_hit_ratios_are_within_5_points_of_exact),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
