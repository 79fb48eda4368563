/*
 * evict.c - maxmemory accounting, the eviction policies and HOTKEYS; see
 * evict.h for the model and docs/memory.md for the choices.
 */
#include "keyspace/evict.h"

#include <stdlib.h>
#include <string.h>

#include "base/assert.h"
#include "base/err.h"
#include "base/hash.h"

static const char *const policy_names[EVICT_POLICY_COUNT] = {
    [EVICT_NOEVICTION] = "noeviction",           [EVICT_ALLKEYS_LRU] = "allkeys-lru",
    [EVICT_ALLKEYS_LFU] = "allkeys-lfu",         [EVICT_ALLKEYS_RANDOM] = "allkeys-random",
    [EVICT_VOLATILE_LRU] = "volatile-lru",       [EVICT_VOLATILE_LFU] = "volatile-lfu",
    [EVICT_VOLATILE_RANDOM] = "volatile-random", [EVICT_VOLATILE_TTL] = "volatile-ttl",
};

/* Stripes probed for a non-empty one before a round gives up: a full pass,
 * so that "nothing to evict" is never a false negative. */
#define PROBE_STRIPES KEYSPACE_STRIPES

const char *evict_policy_name(int policy)
{
	return policy >= 0 && policy < EVICT_POLICY_COUNT ? policy_names[policy] : "unknown";
}

void evict_init(struct evict *ev, struct keyspace *ks, struct config *cfg)
{
	memset(ev, 0, sizeof(*ev));
	ev->ks = ks;
	ev->cfg = cfg;
	/* The config's names must be ours, in our order. */
	for (int i = 0; i < EVICT_POLICY_COUNT; i++)
		ASSERT(strcmp(cfg_defs[CFG_MAXMEMORY_POLICY].enum_names[i], policy_names[i]) == 0);
	atomic_init(&ev->used_bytes, 0);
	atomic_init(&ev->gen, 0);
	evict_apply_config(ev);
}

void evict_set_meter(struct evict *ev, evict_meter_fn *fn, void *ctx)
{
	ev->meter = fn;
	ev->meter_ctx = ctx;
}

static void resync(struct evict *ev);

void evict_apply_config(struct evict *ev)
{
	ks_set_lfu(ev->ks, (unsigned)config_get(ev->cfg, CFG_LFU_LOG_FACTOR),
	           (unsigned)config_get(ev->cfg, CFG_LFU_DECAY_TIME));
	/* A new limit applies to an exact figure, not one up to a cron old. */
	if (!ev->meter)
		resync(ev);
}

static void cand_clear(struct evict_cand *c)
{
	free(c->key_heap);
	c->key_heap = NULL;
	c->used = false;
}

static void pool_clear(struct evict_thread *et)
{
	for (int i = 0; i < EVICT_POOL_SIZE; i++)
		cand_clear(&et->pool[i]);
}

void evict_thread_init(struct evict_thread *et)
{
	memset(et, 0, sizeof(*et));
	et->policy_of_pool = -1;
}

void evict_thread_deinit(struct evict_thread *et)
{
	pool_clear(et);
}

/* ---- Accounting ------------------------------------------------------------ */

uint64_t evict_used_bytes(struct evict *ev, struct evict_thread *et)
{
	if (ev->meter)
		return ev->meter(ev->meter_ctx);
	if (UNLIKELY(!et->bound)) {
		/* Bound lazily: the counters belong to the thread that runs this. */
		et->bound = true;
		et->counting = env_alloc_thread_init(&et->alloc);
		et->published_net = env_alloc_thread_net(&et->alloc);
		et->gen = atomic_load_explicit(&ev->gen, memory_order_acquire);
	}
	if (!et->counting)
		return env_allocated_bytes();
	int64_t net = env_alloc_thread_net(&et->alloc);
	uint64_t gen = atomic_load_explicit(&ev->gen, memory_order_acquire);
	if (gen != et->gen) {
		/* A resync counted everything allocated so far, ours included. */
		et->gen = gen;
		et->published_net = net;
	}
	int64_t pending = net - et->published_net;
	if (pending >= EVICT_PUBLISH_BYTES || pending <= -EVICT_PUBLISH_BYTES) {
		atomic_fetch_add_explicit(&ev->used_bytes, pending, memory_order_relaxed);
		et->published_net = net;
		pending = 0;
	}
	int64_t used = atomic_load_explicit(&ev->used_bytes, memory_order_relaxed) + pending;
	return used > 0 ? (uint64_t)used : 0;
}

static void resync(struct evict *ev)
{
	atomic_store_explicit(&ev->used_bytes, (int64_t)env_allocated_bytes(),
	                      memory_order_relaxed);
	atomic_fetch_add_explicit(&ev->gen, 1, memory_order_release);
}

/* ---- The pool ------------------------------------------------------------------ */

static inline bool policy_volatile(int policy)
{
	return policy >= EVICT_VOLATILE_LRU;
}

/* The candidate's merit as a victim; higher is better. LFU breaks ties of
 * the (coarse) logarithmic counter by idle time, where Redis leaves them
 * to sampling order: among the many keys at the same low counter, the
 * least recently used goes first. */
static uint64_t score_of(int policy, const struct entry_meta *m, int64_t now_ms,
                         unsigned decay_minutes)
{
	if (m->expire_ms != 0 && m->expire_ms <= now_ms)
		return UINT64_MAX; /* already expired: free memory at no cost */
	switch (policy) {
	case EVICT_ALLKEYS_LRU:
	case EVICT_VOLATILE_LRU:
		return access_idle_ms(m->access, now_ms);
	case EVICT_ALLKEYS_LFU:
	case EVICT_VOLATILE_LFU: {
		uint64_t rarity = LFU_COUNTER_MAX - access_lfu(m->access, now_ms, decay_minutes);
		uint64_t idle = access_idle_ms(m->access, now_ms);
		return rarity << ACCESS_MS_BITS | (idle < ACCESS_MS_MASK ? idle : ACCESS_MS_MASK);
	}
	case EVICT_VOLATILE_TTL:
		return UINT64_MAX - 1 - (uint64_t)m->expire_ms;
	default:
		return 0;
	}
}

static inline const uint8_t *cand_key(const struct evict_cand *c)
{
	return c->key_heap ? c->key_heap : c->key_inline;
}

static bool pool_has(const struct evict_thread *et, struct bytes key, uint64_t hash)
{
	for (int i = 0; i < EVICT_POOL_SIZE && et->pool[i].used; i++) {
		const struct evict_cand *c = &et->pool[i];
		if (c->hash == hash && c->key_len == key.len &&
		    memcmp(cand_key(c), key.ptr, key.len) == 0)
			return true;
	}
	return false;
}

/* Inserts a candidate into the pool, kept sorted by ascending score with
 * the used entries first (Redis's evictionPoolPopulate). */
static void pool_insert(struct evict_thread *et, struct bytes key, uint64_t hash, uint64_t score,
                        uint64_t access)
{
	struct evict_cand *pool = et->pool;
	int k = 0;
	while (k < EVICT_POOL_SIZE && pool[k].used && pool[k].score < score)
		k++;
	if (k == 0 && pool[EVICT_POOL_SIZE - 1].used)
		return; /* worse than every candidate of a full pool */
	if (pool_has(et, key, hash))
		return;
	uint8_t *heap = NULL;
	if (key.len > EVICT_POOL_KEY_BYTES) {
		heap = malloc(key.len);
		if (!heap)
			return; /* a candidate less; eviction goes on */
		memcpy(heap, key.ptr, key.len);
	}
	if (k < EVICT_POOL_SIZE && !pool[k].used) {
		/* Free slot at the end of the used run. */
	} else if (!pool[EVICT_POOL_SIZE - 1].used) {
		memmove(&pool[k + 1], &pool[k],
		        sizeof(pool[0]) * (size_t)(EVICT_POOL_SIZE - k - 1));
	} else {
		/* Full: drop the worst (pool[0]) and shift left. */
		free(pool[0].key_heap);
		k--;
		memmove(&pool[0], &pool[1], sizeof(pool[0]) * (size_t)k);
	}
	struct evict_cand *c = &pool[k];
	c->used = true;
	c->score = score;
	c->hash = hash;
	c->access = access;
	c->key_len = (uint32_t)key.len;
	c->key_heap = heap;
	if (!heap)
		memcpy(c->key_inline, key.ptr, key.len);
}

/* The first non-empty stripe from a random one, or -1 if all are empty. */
static int pick_stripe(struct keyspace *ks, bool vol, struct env_rng *rng)
{
	unsigned start = (unsigned)(env_rng_next(rng) % KEYSPACE_STRIPES);
	for (unsigned i = 0; i < PROBE_STRIPES; i++) {
		unsigned s = (start + i) % KEYSPACE_STRIPES;
		ks_lock(ks, s);
		uint64_t n = ks_stripe_count(ks, s, vol);
		ks_unlock(ks, s);
		if (n)
			return (int)s;
	}
	return -1;
}

/* Samples maxmemory-samples entries into the pool: from a random stripe,
 * and from the next ones while a stripe holds fewer entries than are still
 * wanted (a small keyspace spreads few keys over many stripes, and
 * sampling one of them again and again would add nothing). false when no
 * stripe has an eligible entry. */
static bool pool_populate(struct evict *ev, struct evict_thread *et, int policy, int64_t now_ms,
                          struct env_rng *rng)
{
	bool vol = policy_volatile(policy);
	unsigned log_factor, decay;
	ks_get_lfu(ev->ks, &log_factor, &decay);
	uint64_t want = (uint64_t)config_get(ev->cfg, CFG_MAXMEMORY_SAMPLES);
	uint64_t got = 0;
	unsigned start = (unsigned)(env_rng_next(rng) % KEYSPACE_STRIPES);
	for (unsigned i = 0; i < PROBE_STRIPES && got < want; i++) {
		unsigned s = (start + i) % KEYSPACE_STRIPES;
		ks_lock(ev->ks, s);
		uint64_t n = ks_stripe_count(ev->ks, s, vol);
		uint64_t take = n < want - got ? n : want - got;
		for (uint64_t j = 0; j < take; j++) {
			struct bytes key;
			struct entry_meta meta;
			if (ks_sample(ev->ks, s, vol, env_rng_next(rng), &key, &meta) != 0)
				break;
			uint64_t score = score_of(policy, &meta, now_ms, decay);
			pool_insert(et, key, hash_bytes(key.ptr, key.len), score, meta.access);
		}
		ks_unlock(ev->ks, s);
		got += take;
	}
	return got > 0;
}

/* Evicts the best candidate that still exists, is still eligible and was
 * not accessed since it was sampled (a key used meanwhile is no longer a
 * good victim: it is dropped from the pool instead). */
static bool pool_evict_best(struct evict *ev, struct evict_thread *et, int policy)
{
	for (int i = EVICT_POOL_SIZE - 1; i >= 0; i--) {
		struct evict_cand *c = &et->pool[i];
		if (!c->used)
			continue;
		struct ekey k = {bytes_make(cand_key(c), c->key_len), c->hash,
		                 (unsigned)(c->hash >> KS_STRIPE_SHIFT)};
		ks_lock(ev->ks, k.stripe);
		int rc = ks_evict(ev->ks, &k, policy_volatile(policy), &c->access);
		ks_unlock(ev->ks, k.stripe);
		cand_clear(c);
		if (rc == 0)
			return true;
	}
	return false;
}

static bool evict_random(struct evict *ev, struct evict_thread *et, bool vol, struct env_rng *rng)
{
	int s = pick_stripe(ev->ks, vol, rng);
	if (s < 0)
		return false;
	ks_lock(ev->ks, (unsigned)s);
	struct bytes key;
	struct entry_meta meta;
	int rc = ks_sample(ev->ks, (unsigned)s, vol, env_rng_next(rng), &key, &meta);
	if (rc == 0) {
		struct ekey k;
		ks_key_init(&k, key);
		rc = ks_evict(ev->ks, &k, vol, NULL);
	}
	ks_unlock(ev->ks, (unsigned)s);
	return rc == 0;
}

/* Evicts one key under the policy; false when nothing is evictable. */
static bool evict_one(struct evict *ev, struct evict_thread *et, int policy, int64_t now_ms,
                      struct env_rng *rng)
{
	if (policy == EVICT_ALLKEYS_RANDOM || policy == EVICT_VOLATILE_RANDOM) {
		/* A stripe can empty between the probe and the sample: retry. */
		for (int tries = 0; tries < 4; tries++)
			if (evict_random(ev, et, policy_volatile(policy), rng))
				return true;
		return false;
	}
	if (et->policy_of_pool != policy) {
		pool_clear(et);
		et->policy_of_pool = policy;
	}
	/* Every candidate can turn out gone or touched: a few rounds, each
	 * sampling afresh, before concluding there is nothing to evict. */
	for (int round = 0; round < 8; round++) {
		if (!pool_populate(ev, et, policy, now_ms, rng)) {
			pool_clear(et);
			return false;
		}
		if (pool_evict_best(ev, et, policy))
			return true;
	}
	return false;
}

static int make_room(struct evict *ev, struct evict_thread *et, int64_t now_ms,
                     struct env_rng *rng, uint64_t budget_us)
{
	int64_t max = config_get(ev->cfg, CFG_MAXMEMORY);
	if (max <= 0)
		return 0;
	uint64_t used = evict_used_bytes(ev, et);
	if (used <= (uint64_t)max)
		return 0;
	/* Caches go before data: the durable engine's row cache shrinks first
	 * (a margin of 1/64 of the limit, so this does not run per write). */
	if (ks_shed(ev->ks, used - (uint64_t)max + (uint64_t)max / 64, env_rng_next(rng)) > 0) {
		used = evict_used_bytes(ev, et);
		if (used <= (uint64_t)max)
			return 0;
	}
	int policy = (int)config_get(ev->cfg, CFG_MAXMEMORY_POLICY);
	if (policy == EVICT_NOEVICTION)
		return ERR_NOMEM;
	uint64_t deadline_us = env_mono_us() + budget_us;
	for (unsigned n = 1; used > (uint64_t)max; n++) {
		if (!evict_one(ev, et, policy, now_ms, rng))
			return ERR_NOMEM; /* over the limit, nothing left to evict */
		et->evicted++;
		if (n >= EVICT_KEYS_PER_CALL || (n % 16 == 0 && env_mono_us() >= deadline_us))
			break; /* progress made; the next write goes on */
		used = evict_used_bytes(ev, et);
	}
	return 0;
}

int evict_make_room(struct evict *ev, struct evict_thread *et, int64_t now_ms, struct env_rng *rng)
{
	return make_room(ev, et, now_ms, rng, EVICT_BUDGET_US);
}

void evict_cron(struct evict *ev, struct evict_thread *et, int64_t now_ms, struct env_rng *rng)
{
	if (ev->meter)
		return;
	/* Always, so that the total is exact when a limit is set later. */
	resync(ev);
	if (config_get(ev->cfg, CFG_MAXMEMORY) <= 0)
		return;
	/* A maxmemory lowered by CONFIG SET takes effect without waiting for
	 * a write; errors (nothing evictable) are for writes to report. */
	(void)make_room(ev, et, now_ms, rng, EVICT_CRON_BUDGET_US);
}

/* ---- HOTKEYS ---------------------------------------------------------------------- */

struct hot_heap {
	struct evict_hotkey *h; /* min-heap by hotness */
	size_t len, cap;
	int64_t now_ms;
	unsigned decay;
	bool nomem;
};

static inline uint64_t hotness(const struct evict_hotkey *k)
{
	uint64_t idle = k->idle_ms < ACCESS_MS_MASK ? k->idle_ms : ACCESS_MS_MASK;
	return (uint64_t)k->freq << ACCESS_MS_BITS | (ACCESS_MS_MASK - idle);
}

static void sift_down(struct hot_heap *hp, size_t i)
{
	for (;;) {
		size_t l = 2 * i + 1, r = l + 1, m = i;
		if (l < hp->len && hotness(&hp->h[l]) < hotness(&hp->h[m]))
			m = l;
		if (r < hp->len && hotness(&hp->h[r]) < hotness(&hp->h[m]))
			m = r;
		if (m == i)
			return;
		struct evict_hotkey t = hp->h[i];
		hp->h[i] = hp->h[m];
		hp->h[m] = t;
		i = m;
	}
}

static void sift_up(struct hot_heap *hp, size_t i)
{
	while (i > 0) {
		size_t p = (i - 1) / 2;
		if (hotness(&hp->h[p]) <= hotness(&hp->h[i]))
			return;
		struct evict_hotkey t = hp->h[i];
		hp->h[i] = hp->h[p];
		hp->h[p] = t;
		i = p;
	}
}

static void hot_offer(void *ctx, struct bytes key, const struct entry_meta *meta)
{
	struct hot_heap *hp = ctx;
	struct evict_hotkey cand = {NULL, key.len, access_lfu(meta->access, hp->now_ms, hp->decay),
	                            access_idle_ms(meta->access, hp->now_ms)};
	if (hp->cap == 0 || (hp->len == hp->cap && hotness(&cand) <= hotness(&hp->h[0])))
		return;
	for (size_t i = 0; i < hp->len; i++) /* a sample or a resize can repeat a key */
		if (hp->h[i].len == key.len && memcmp(hp->h[i].key, key.ptr, key.len) == 0)
			return;
	cand.key = malloc(key.len ? key.len : 1);
	if (!cand.key) {
		hp->nomem = true;
		return;
	}
	memcpy(cand.key, key.ptr, key.len);
	if (hp->len == hp->cap) {
		free(hp->h[0].key);
		hp->h[0] = cand;
		sift_down(hp, 0);
	} else {
		hp->h[hp->len++] = cand;
		sift_up(hp, hp->len - 1);
	}
}

static inline bool held_has(const struct ks_lockset *held, unsigned s)
{
	return held && (held->all || (held->bits[s / 64] >> (s % 64)) & 1);
}

/* Samples entries of every stripe in proportion to its size. */
static void hot_sample(struct evict *ev, const struct ks_lockset *held, uint64_t total,
                       uint64_t rnd, struct hot_heap *hp)
{
	struct env_rng rng;
	env_rng_seed(&rng, rnd);
	for (unsigned s = 0; s < KEYSPACE_STRIPES; s++) {
		bool mine = !held_has(held, s);
		if (mine)
			ks_lock(ev->ks, s);
		uint64_t n = ks_stripe_count(ev->ks, s, false);
		uint64_t want = n * HOTKEYS_VISIT_MAX / (total ? total : 1) + 1;
		for (uint64_t i = 0; i < want; i++) {
			struct bytes key;
			struct entry_meta meta;
			if (ks_sample(ev->ks, s, false, env_rng_next(&rng), &key, &meta) != 0)
				break;
			if (meta.expire_ms == 0 || meta.expire_ms > hp->now_ms)
				hot_offer(hp, key, &meta);
		}
		if (mine)
			ks_unlock(ev->ks, s);
	}
}

static int cmp_hot_desc(const void *a, const void *b)
{
	uint64_t x = hotness(a), y = hotness(b);
	return x < y ? 1 : x > y ? -1 : 0;
}

int64_t evict_hotkeys(struct evict *ev, const struct ks_lockset *held, int64_t now_ms, uint64_t rnd,
                      size_t max, struct evict_hotkey *out)
{
	unsigned log_factor;
	struct hot_heap hp = {out, 0, max, now_ms, 0, false};
	ks_get_lfu(ev->ks, &log_factor, &hp.decay);
	uint64_t total = ks_count(ev->ks, held);
	if (total <= HOTKEYS_VISIT_MAX) {
		uint64_t cursor = 0;
		int err; /* a read error leaves the sample short, nothing more */
		do
			cursor = ks_scan(ev->ks, held, cursor, now_ms, hot_offer, &hp, &err);
		while (cursor != 0 && !hp.nomem);
	} else {
		hot_sample(ev, held, total, rnd, &hp);
	}
	if (hp.nomem) {
		evict_hotkeys_free(out, hp.len);
		return ERR_NOMEM;
	}
	qsort(out, hp.len, sizeof(out[0]), cmp_hot_desc);
	return (int64_t)hp.len;
}

void evict_hotkeys_free(struct evict_hotkey *hk, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(hk[i].key);
}
