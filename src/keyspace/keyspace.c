/*
 * keyspace.c - see keyspace.h for the model, locking and expiry rules.
 */
#include "keyspace/keyspace.h"

#include <stdlib.h>
#include <string.h>

#include "base/assert.h"
#include "base/err.h"
#include "base/hash.h"
#include "env/env.h"
#include "keyspace/evict.h"

/* Keys deleted per lock hold while flushing: bounds the pause a flush
 * imposes on other clients of the same stripe. */
#define FLUSH_SLICE_KEYS 4096

/* Active expiry goes on sampling a stripe while more than this percentage
 * of a sample was expired (Redis: ACTIVE_EXPIRE_CYCLE_ACCEPTABLE_STALE). */
#define EXPIRE_STALE_PERCENT 10

struct watch_rec {
	uint8_t *key;
	size_t len;
	uint64_t hash;
	struct ks_watcher *w;
};

struct ks_stripe {
	struct env_mutex mu;
	uint64_t next_version;
	uint64_t expired_keys;
	uint64_t evicted_keys;
	uint64_t rng; /* LFU increments' coin flips (stripe held) */
	struct watch_rec *watches;
	uint32_t watch_count;
	uint32_t watch_cap;
} __attribute__((aligned(64)));

struct keyspace {
	struct engine *engine;
	_Atomic int64_t clock_ms; /* ks_clock_advance */
	atomic_uint lfu_log_factor, lfu_decay_minutes;
	struct ks_stripe stripes[KEYSPACE_STRIPES];
};

struct keyspace *ks_create(struct engine *engine)
{
	struct keyspace *ks = aligned_alloc(64, sizeof(*ks));
	if (!ks)
		return NULL;
	memset(ks, 0, sizeof(*ks));
	ks->engine = engine;
	for (unsigned i = 0; i < KEYSPACE_STRIPES; i++) {
		env_mutex_init(&ks->stripes[i].mu);
		ks->stripes[i].next_version = 1;
		ks->stripes[i].rng = 0x9e3779b97f4a7c15ull * (i + 1);
	}
	atomic_init(&ks->clock_ms, 0);
	atomic_init(&ks->lfu_log_factor, 10);
	atomic_init(&ks->lfu_decay_minutes, 1);
	return ks;
}

void ks_destroy(struct keyspace *ks)
{
	if (!ks)
		return;
	for (unsigned i = 0; i < KEYSPACE_STRIPES; i++) {
		struct ks_stripe *s = &ks->stripes[i];
		for (uint32_t j = 0; j < s->watch_count; j++)
			free(s->watches[j].key);
		free(s->watches);
		env_mutex_deinit(&s->mu);
	}
	ks->engine->ops->destroy(ks->engine);
	free(ks);
}

uint64_t ks_shed(struct keyspace *ks, uint64_t bytes, uint64_t rnd)
{
	if (!ks->engine->ops->shed)
		return 0;
	uint64_t freed = 0;
	/* An even share per stripe first, so no stripe's cache is emptied for
	 * the sake of one write. */
	uint64_t share = bytes / KEYSPACE_STRIPES + 1;
	for (unsigned i = 0; i < KEYSPACE_STRIPES && freed < bytes; i++) {
		unsigned s = (unsigned)((rnd + i) % KEYSPACE_STRIPES);
		ks_lock(ks, s);
		freed += ks->engine->ops->shed(ks->engine, s, share);
		(void)ks_unlock(ks, s);
	}
	return freed;
}

int ks_flush_log(struct keyspace *ks)
{
	return ks->engine->ops->flush_log ? ks->engine->ops->flush_log(ks->engine) : 0;
}

struct engine *ks_engine(struct keyspace *ks)
{
	return ks->engine;
}

void ks_key_init(struct ekey *k, struct bytes key)
{
	k->key = key;
	k->hash = hash_bytes(key.ptr, key.len);
	k->stripe = (unsigned)(k->hash >> KS_STRIPE_SHIFT);
}

void ks_lock(struct keyspace *ks, unsigned stripe)
{
	env_mutex_lock(&ks->stripes[stripe].mu);
}

int ks_unlock(struct keyspace *ks, unsigned stripe)
{
	int err = 0;
	if (ks->engine->ops->end) {
		uint64_t bits[KEYSPACE_STRIPES / 64] = {0};
		bits[stripe / 64] = (uint64_t)1 << (stripe % 64);
		err = ks->engine->ops->end(ks->engine, bits);
	}
	env_mutex_unlock(&ks->stripes[stripe].mu);
	return err;
}

static inline bool lockset_has(const struct ks_lockset *ls, unsigned stripe)
{
	return ls->all || (ls->bits[stripe / 64] >> (stripe % 64)) & 1;
}

static void lock_unless_held(struct keyspace *ks, const struct ks_lockset *held, unsigned stripe)
{
	if (!held || !lockset_has(held, stripe))
		ks_lock(ks, stripe);
}

static int unlock_unless_held(struct keyspace *ks, const struct ks_lockset *held, unsigned stripe)
{
	if (!held || !lockset_has(held, stripe))
		return ks_unlock(ks, stripe);
	return 0;
}

void ks_lock_set(struct keyspace *ks, const struct ks_lockset *ls)
{
	for (unsigned w = 0; w < KEYSPACE_STRIPES / 64; w++) {
		uint64_t bits = ls->all ? ~(uint64_t)0 : ls->bits[w];
		while (bits) {
			unsigned b = (unsigned)__builtin_ctzll(bits);
			bits &= bits - 1;
			ks_lock(ks, w * 64 + b);
		}
	}
}

int ks_unlock_set(struct keyspace *ks, const struct ks_lockset *ls)
{
	int err = 0;
	if (ks->engine->ops->end) {
		uint64_t bits[KEYSPACE_STRIPES / 64];
		for (unsigned w = 0; w < KEYSPACE_STRIPES / 64; w++)
			bits[w] = ls->all ? ~(uint64_t)0 : ls->bits[w];
		err = ks->engine->ops->end(ks->engine, bits);
	}
	for (unsigned i = KEYSPACE_STRIPES; i-- > 0;)
		if (lockset_has(ls, i))
			env_mutex_unlock(&ks->stripes[i].mu);
	return err;
}

/* Marks the watchers of this key dirty. Stripe held. */
static void touch(struct ks_stripe *s, const struct ekey *k)
{
	for (uint32_t i = 0; i < s->watch_count; i++) {
		struct watch_rec *r = &s->watches[i];
		if (r->hash == k->hash && r->len == k->key.len &&
		    memcmp(r->key, k->key.ptr, r->len) == 0)
			atomic_store_explicit(&r->w->dirty, true, memory_order_release);
	}
}

static inline void maybe_touch(struct ks_stripe *s, const struct ekey *k)
{
	if (UNLIKELY(s->watch_count))
		touch(s, k);
}

static inline bool is_expired(int64_t expire_ms, int64_t now_ms)
{
	return expire_ms != 0 && expire_ms <= now_ms;
}

/* Deletes an entry found expired; false if it is already gone (active
 * expiry can sample a key twice before the durable engine's index learns
 * of the first delete at the end of the command). Stripe held. */
static bool expire_entry(struct keyspace *ks, struct ks_stripe *s, const struct ekey *k)
{
	if (ks->engine->ops->del(ks->engine, k) != 0)
		return false;
	maybe_touch(s, k);
	s->expired_keys++;
	return true;
}

/* Counts an access in an entry's access word (evict.h). Stripe held. */
static inline void count_access(struct keyspace *ks, struct ks_stripe *s, uint64_t *w,
                                int64_t now_ms)
{
	/* A 64-bit LCG per stripe: the coin flips need no quality beyond
	 * uniform high bits, and it costs a multiply. */
	s->rng = s->rng * 6364136223846793005ull + 1442695040888963407ull;
	*w = access_count(
	    *w, now_ms, atomic_load_explicit(&ks->lfu_log_factor, memory_order_relaxed),
	    atomic_load_explicit(&ks->lfu_decay_minutes, memory_order_relaxed), s->rng >> 32);
}

static int lookup(struct keyspace *ks, const struct ekey *k, int64_t now_ms, struct bytes *val,
                  struct entry_meta *meta, bool counted)
{
	uint64_t *access;
	int rc = ks->engine->ops->get(ks->engine, k, val, meta, &access);
	if (rc != 0)
		return rc;
	if (UNLIKELY(is_expired(meta->expire_ms, now_ms))) {
		expire_entry(ks, &ks->stripes[k->stripe], k);
		return ERR_NOT_FOUND;
	}
	if (counted)
		count_access(ks, &ks->stripes[k->stripe], access, now_ms);
	return 0;
}

int ks_get(struct keyspace *ks, const struct ekey *k, int64_t now_ms, struct bytes *val,
           struct entry_meta *meta)
{
	return lookup(ks, k, now_ms, val, meta, true);
}

int ks_peek(struct keyspace *ks, const struct ekey *k, int64_t now_ms, struct bytes *val,
            struct entry_meta *meta)
{
	return lookup(ks, k, now_ms, val, meta, false);
}

void ks_clock_advance(struct keyspace *ks, int64_t now_ms)
{
	if (atomic_load_explicit(&ks->clock_ms, memory_order_relaxed) < now_ms)
		atomic_store_explicit(&ks->clock_ms, now_ms, memory_order_relaxed);
}

void ks_set_lfu(struct keyspace *ks, unsigned log_factor, unsigned decay_minutes)
{
	atomic_store_explicit(&ks->lfu_log_factor, log_factor, memory_order_relaxed);
	atomic_store_explicit(&ks->lfu_decay_minutes, decay_minutes, memory_order_relaxed);
}

void ks_get_lfu(struct keyspace *ks, unsigned *log_factor, unsigned *decay_minutes)
{
	*log_factor = atomic_load_explicit(&ks->lfu_log_factor, memory_order_relaxed);
	*decay_minutes = atomic_load_explicit(&ks->lfu_decay_minutes, memory_order_relaxed);
}

int ks_sample(struct keyspace *ks, unsigned stripe, bool volatile_only, uint64_t rnd,
              struct bytes *key, struct entry_meta *meta)
{
	const struct engine_ops *ops = ks->engine->ops;
	return volatile_only ? ops->random_volatile(ks->engine, stripe, rnd, key, meta)
	                     : ops->random(ks->engine, stripe, rnd, key, meta);
}

uint64_t ks_stripe_count(struct keyspace *ks, unsigned stripe, bool volatile_only)
{
	const struct engine_ops *ops = ks->engine->ops;
	return volatile_only ? ops->volatile_count(ks->engine, stripe)
	                     : ops->count(ks->engine, stripe);
}

int ks_evict(struct keyspace *ks, const struct ekey *k, bool volatile_only,
             const uint64_t *if_access)
{
	struct bytes val;
	struct entry_meta meta;
	if (ks->engine->ops->get(ks->engine, k, &val, &meta, NULL) != 0)
		return ERR_NOT_FOUND;
	if (volatile_only && meta.expire_ms == 0)
		return ERR_NOT_FOUND;
	if (if_access && meta.access != *if_access)
		return ERR_NOT_FOUND;
	struct ks_stripe *s = &ks->stripes[k->stripe];
	maybe_touch(s, k);
	int rc = ks->engine->ops->del(ks->engine, k);
	ASSERT(rc == 0);
	s->evicted_keys++;
	return 0;
}

int ks_put(struct keyspace *ks, const struct ekey *k, size_t len, size_t keep_bytes,
           int64_t expire_ms, uint8_t **val_out)
{
	struct ks_stripe *s = &ks->stripes[k->stripe];
	int64_t now_ms = atomic_load_explicit(&ks->clock_ms, memory_order_relaxed);
	struct entry_meta meta = {expire_ms, s->next_version, access_new(now_ms)};
	uint64_t *access;
	int rc = ks->engine->ops->put(ks->engine, k, len, keep_bytes, &meta, val_out, &access);
	if (rc != 0)
		return rc;
	/* A write is an access; it brings a new entry to LFU_INIT_VAL. */
	count_access(ks, s, access, now_ms);
	s->next_version++;
	maybe_touch(s, k);
	return 0;
}

int ks_set(struct keyspace *ks, const struct ekey *k, struct bytes val, int64_t expire_ms)
{
	uint8_t *dst;
	int rc = ks_put(ks, k, val.len, 0, expire_ms, &dst);
	if (rc == 0 && val.len)
		memcpy(dst, val.ptr, val.len);
	return rc;
}

int ks_set_expire(struct keyspace *ks, const struct ekey *k, int64_t now_ms, int64_t expire_ms)
{
	struct bytes val;
	struct entry_meta meta;
	int rc = ks_get(ks, k, now_ms, &val, &meta);
	if (rc != 0)
		return rc;
	struct ks_stripe *s = &ks->stripes[k->stripe];
	meta.expire_ms = expire_ms;
	meta.version = s->next_version;
	rc = ks->engine->ops->set_meta(ks->engine, k, &meta);
	if (rc != 0)
		return rc;
	s->next_version++;
	maybe_touch(s, k);
	return 0;
}

int ks_del(struct keyspace *ks, const struct ekey *k, int64_t now_ms)
{
	struct bytes val;
	struct entry_meta meta;
	int rc = ks_get(ks, k, now_ms, &val, &meta);
	if (rc != 0)
		return rc;
	maybe_touch(&ks->stripes[k->stripe], k);
	rc = ks->engine->ops->del(ks->engine, k);
	ASSERT(rc == 0);
	return 0;
}

uint64_t ks_count(struct keyspace *ks, const struct ks_lockset *held)
{
	uint64_t n = 0;
	for (unsigned i = 0; i < KEYSPACE_STRIPES; i++) {
		lock_unless_held(ks, held, i);
		n += ks->engine->ops->count(ks->engine, i);
		unlock_unless_held(ks, held, i);
	}
	return n;
}

uint64_t ks_volatile_count(struct keyspace *ks)
{
	uint64_t n = 0;
	for (unsigned i = 0; i < KEYSPACE_STRIPES; i++) {
		ks_lock(ks, i);
		n += ks->engine->ops->volatile_count(ks->engine, i);
		ks_unlock(ks, i);
	}
	return n;
}

/* Touches watched keys of a stripe that exist (before a flush). */
static void touch_existing(struct keyspace *ks, struct ks_stripe *s)
{
	for (uint32_t i = 0; i < s->watch_count; i++) {
		struct watch_rec *r = &s->watches[i];
		struct ekey k = {bytes_make(r->key, r->len), r->hash, (unsigned)(s - ks->stripes)};
		struct bytes val;
		struct entry_meta meta;
		if (ks->engine->ops->get(ks->engine, &k, &val, &meta, NULL) == 0)
			atomic_store_explicit(&r->w->dirty, true, memory_order_release);
	}
}

int ks_flush(struct keyspace *ks, const struct ks_lockset *held)
{
	int err = 0;
	for (unsigned i = 0; i < KEYSPACE_STRIPES && !err; i++) {
		bool more;
		bool mine = !held || !lockset_has(held, i);
		if (mine)
			ks_lock(ks, i);
		touch_existing(ks, &ks->stripes[i]);
		do {
			more = ks->engine->ops->clear(ks->engine, i, FLUSH_SLICE_KEYS);
			if (more && mine) {
				err = ks_unlock(ks, i);
				ks_lock(ks, i);
			}
		} while (more && !err);
		if (mine) {
			int e = ks_unlock(ks, i);
			err = err ? err : e;
		}
	}
	return err;
}

struct scan_filter {
	engine_visit_fn *fn;
	void *ctx;
	int64_t now_ms;
};

static void scan_filter_visit(void *ctx, struct bytes key, const struct entry_meta *meta)
{
	struct scan_filter *f = ctx;
	if (!is_expired(meta->expire_ms, f->now_ms))
		f->fn(f->ctx, key, meta);
}

uint64_t ks_scan(struct keyspace *ks, const struct ks_lockset *held, uint64_t cursor,
                 int64_t now_ms, engine_visit_fn *fn, void *ctx, int *err)
{
	unsigned stripe = (unsigned)(cursor % KEYSPACE_STRIPES);
	uint64_t table_cursor = cursor / KEYSPACE_STRIPES;
	struct scan_filter f = {fn, ctx, now_ms};
	lock_unless_held(ks, held, stripe);
	uint64_t next =
	    ks->engine->ops->scan(ks->engine, stripe, table_cursor, scan_filter_visit, &f);
	*err = unlock_unless_held(ks, held, stripe);
	if (next != 0)
		return next * KEYSPACE_STRIPES + stripe;
	return stripe + 1 < KEYSPACE_STRIPES ? stripe + 1 : 0;
}

int64_t ks_random_key(struct keyspace *ks, const struct ks_lockset *held, uint64_t rnd,
                      int64_t now_ms, uint8_t *dst, size_t cap)
{
	struct env_rng rng;
	env_rng_seed(&rng, rnd);
	/* Pick stripes at random; fall back to a full pass so a nearly empty
	 * keyspace still finds its keys. Expired picks are retried a bounded
	 * number of times, as Redis's RANDOMKEY does. */
	for (unsigned tries = 0; tries < 2 * KEYSPACE_STRIPES + 64; tries++) {
		unsigned stripe = tries < 64 ? (unsigned)(env_rng_next(&rng) % KEYSPACE_STRIPES)
		                             : (tries - 64) % KEYSPACE_STRIPES;
		struct bytes key;
		struct entry_meta meta;
		lock_unless_held(ks, held, stripe);
		int rc =
		    ks->engine->ops->random(ks->engine, stripe, env_rng_next(&rng), &key, &meta);
		int64_t len = -1;
		if (rc == 0 && !is_expired(meta.expire_ms, now_ms)) {
			len = key.len <= cap ? (int64_t)key.len : ERR_LIMIT;
			if (len >= 0)
				memcpy(dst, key.ptr, key.len);
		}
		unlock_unless_held(ks, held, stripe);
		if (len != -1)
			return len;
	}
	return -1;
}

/* Samples one stripe until it looks clean or the deadline passes. Returns
 * the keys expired. Stripe held. */
static uint64_t expire_stripe(struct keyspace *ks, unsigned stripe, int64_t now_ms,
                              uint64_t deadline_us, struct env_rng *rng)
{
	struct ks_stripe *s = &ks->stripes[stripe];
	const struct engine_ops *ops = ks->engine->ops;
	uint64_t expired_total = 0;
	for (;;) {
		uint64_t n = ops->volatile_count(ks->engine, stripe);
		uint64_t sample = n < EXPIRE_SAMPLE_KEYS ? n : EXPIRE_SAMPLE_KEYS;
		uint64_t expired = 0;
		for (uint64_t i = 0; i < sample; i++) {
			struct bytes key;
			struct entry_meta meta;
			if (ops->random_volatile(ks->engine, stripe, env_rng_next(rng), &key,
			                         &meta) != 0)
				break;
			if (!is_expired(meta.expire_ms, now_ms))
				continue;
			struct ekey k = {key, hash_bytes(key.ptr, key.len), stripe};
			if (expire_entry(ks, s, &k))
				expired++;
		}
		expired_total += expired;
		if (sample == 0 || expired * 100 <= sample * EXPIRE_STALE_PERCENT)
			break;
		if (ops->end) { /* apply the round, so the next one samples what is left */
			(void)ks_unlock(ks, stripe);
			ks_lock(ks, stripe);
		}
		if (env_mono_us() >= deadline_us)
			break;
	}
	return expired_total;
}

uint64_t ks_active_expire(struct keyspace *ks, unsigned first, unsigned step, int64_t now_ms,
                          uint64_t budget_us, uint64_t rnd_seed)
{
	ASSERT(step > 0 && first < step);
	struct env_rng rng;
	env_rng_seed(&rng, rnd_seed);
	uint64_t deadline_us = env_mono_us() + budget_us;
	unsigned mine = (KEYSPACE_STRIPES - first + step - 1) / step;
	unsigned start = mine ? (unsigned)(env_rng_next(&rng) % mine) : 0;
	uint64_t expired = 0;
	for (unsigned i = 0; i < mine; i++) {
		unsigned stripe = first + ((start + i) % mine) * step;
		ks_lock(ks, stripe);
		expired += expire_stripe(ks, stripe, now_ms, deadline_us, &rng);
		ks_unlock(ks, stripe);
		if (env_mono_us() >= deadline_us)
			break;
	}
	return expired;
}

void ks_maintain(struct keyspace *ks, unsigned first, unsigned step, uint64_t budget_us)
{
	/* Stripes resized by a burst of writes finish their rehash here while
	 * the table is idle; the budget keeps this from adding a pause of its
	 * own (Redis gives its incremental rehash 1 ms per cron run). */
	uint64_t deadline_us = env_mono_us() + budget_us;
	for (unsigned i = first; i < KEYSPACE_STRIPES; i += step) {
		ks_lock(ks, i);
		bool more = ks->engine->ops->maintain(ks->engine, i);
		ks_unlock(ks, i);
		if (more && env_mono_us() >= deadline_us)
			break;
	}
}

/* Average remaining TTL over a small sample of each stripe's volatile keys. */
static void sample_ttl(struct keyspace *ks, unsigned stripe, int64_t now_ms, struct env_rng *rng,
                       int64_t *sum, uint64_t *n)
{
	for (int i = 0; i < 4; i++) {
		struct bytes key;
		struct entry_meta meta;
		if (ks->engine->ops->random_volatile(ks->engine, stripe, env_rng_next(rng), &key,
		                                     &meta))
			return;
		if (meta.expire_ms > now_ms) {
			*sum += meta.expire_ms - now_ms;
			(*n)++;
		}
	}
}

void ks_stats(struct keyspace *ks, int64_t now_ms, struct ks_stats *out)
{
	struct env_rng rng;
	env_rng_seed(&rng, (uint64_t)now_ms);
	memset(out, 0, sizeof(*out));
	int64_t ttl_sum = 0;
	uint64_t ttl_n = 0;
	for (unsigned i = 0; i < KEYSPACE_STRIPES; i++) {
		const struct engine_ops *ops = ks->engine->ops;
		ks_lock(ks, i);
		out->keys += ops->count(ks->engine, i);
		out->volatile_keys += ops->volatile_count(ks->engine, i);
		out->expired_keys += ks->stripes[i].expired_keys;
		out->evicted_keys += ks->stripes[i].evicted_keys;
		out->memory_bytes += ops->memory_bytes(ks->engine, i);
		sample_ttl(ks, i, now_ms, &rng, &ttl_sum, &ttl_n);
		ks_unlock(ks, i);
	}
	out->avg_ttl_ms = ttl_n ? ttl_sum / (int64_t)ttl_n : 0;
}

void ks_reset_stats(struct keyspace *ks)
{
	for (unsigned i = 0; i < KEYSPACE_STRIPES; i++) {
		ks_lock(ks, i);
		ks->stripes[i].expired_keys = 0;
		ks->stripes[i].evicted_keys = 0;
		ks_unlock(ks, i);
	}
}

void ks_watcher_init(struct ks_watcher *w)
{
	memset(w, 0, sizeof(*w));
	atomic_init(&w->dirty, false);
}

int ks_watch(struct keyspace *ks, const struct ekey *k, struct ks_watcher *w)
{
	struct ks_stripe *s = &ks->stripes[k->stripe];
	for (uint32_t i = 0; i < s->watch_count; i++) {
		struct watch_rec *r = &s->watches[i];
		if (r->w == w && r->hash == k->hash && r->len == k->key.len &&
		    memcmp(r->key, k->key.ptr, r->len) == 0)
			return 0;
	}
	if (w->key_count >= WATCH_KEYS_MAX)
		return ERR_LIMIT;
	if (s->watch_count == s->watch_cap) {
		uint32_t cap = s->watch_cap ? s->watch_cap * 2 : 8;
		struct watch_rec *v = realloc(s->watches, cap * sizeof(*v));
		if (!v)
			return ERR_NOMEM;
		s->watches = v;
		s->watch_cap = cap;
	}
	uint8_t *copy = malloc(k->key.len ? k->key.len : 1);
	if (!copy)
		return ERR_NOMEM;
	memcpy(copy, k->key.ptr, k->key.len);
	s->watches[s->watch_count++] = (struct watch_rec){copy, k->key.len, k->hash, w};
	w->stripes[k->stripe / 64] |= (uint64_t)1 << (k->stripe % 64);
	w->key_count++;
	return 0;
}

void ks_unwatch_all(struct keyspace *ks, struct ks_watcher *w)
{
	for (unsigned i = 0; w->key_count && i < KEYSPACE_STRIPES; i++) {
		if (!((w->stripes[i / 64] >> (i % 64)) & 1))
			continue;
		struct ks_stripe *s = &ks->stripes[i];
		ks_lock(ks, i);
		for (uint32_t j = 0; j < s->watch_count;) {
			if (s->watches[j].w != w) {
				j++;
				continue;
			}
			free(s->watches[j].key);
			s->watches[j] = s->watches[--s->watch_count];
			w->key_count--;
		}
		ks_unlock(ks, i);
	}
	ASSERT(w->key_count == 0);
	ks_watcher_init(w);
}

void ks_watch_expire_check(struct keyspace *ks, struct ks_watcher *w, int64_t now_ms)
{
	for (unsigned i = 0; i < KEYSPACE_STRIPES; i++) {
		if (!((w->stripes[i / 64] >> (i % 64)) & 1))
			continue;
		struct ks_stripe *s = &ks->stripes[i];
		for (uint32_t j = 0; j < s->watch_count; j++) {
			struct watch_rec *r = &s->watches[j];
			if (r->w != w)
				continue;
			struct ekey k = {bytes_make(r->key, r->len), r->hash, i};
			struct bytes val;
			struct entry_meta meta;
			/* ks_get deletes an expired entry, which touches r. */
			(void)ks_get(ks, &k, now_ms, &val, &meta);
		}
	}
}

void ks_watch_lockset(const struct ks_watcher *w, struct ks_lockset *ls)
{
	for (unsigned i = 0; i < KEYSPACE_STRIPES / 64; i++)
		ls->bits[i] |= w->stripes[i];
}
