/*
 * evict.h - memory accounting, maxmemory eviction policies and the access
 * word (LRU clock and LFU counter) that they read. See docs/memory.md.
 *
 * The access word. Every entry carries 64 bits (engine.h) that the
 * keyspace updates on each access (ks_get, ks_put):
 *   bits  0..39  time of the last access, wall-clock ms mod 2^40 (34 years)
 *   bits 40..47  LFU counter: logarithmic, Redis's LFULogIncr (incremented
 *                with probability 1/((counter - LFU_INIT_VAL) * lfu-log-factor
 *                + 1)), new keys start at LFU_INIT_VAL
 *   bits 48..63  LFU decay time: minutes mod 2^16 of the last access; the
 *                counter loses one per lfu-decay-time minutes since then
 * Both halves are kept whatever the policy, so that switching policy at run
 * time has history to work with at once (Redis keeps only one of them).
 *
 * Accounting. Used memory is what the allocator has handed out (INFO
 * used_memory). Reading jemalloc's stats.allocated costs microseconds, so
 * the per-command check uses jemalloc's per-thread cumulative counters
 * instead: each event-loop thread adds the change of its own counters to a
 * shared total once it exceeds EVICT_PUBLISH_BYTES (one atomic add per
 * 64 KiB of net allocation), and sees the shared total plus its own
 * unpublished change. A cron resyncs the total from stats.allocated ten
 * times a second. The estimate is therefore off by at most
 * EVICT_PUBLISH_BYTES per other thread. Without jemalloc (sanitizer and
 * unit-test builds) every check reads env_allocated_bytes() directly:
 * exact but slower, documented as a test-build fallback. A test can also
 * install its own meter (evict_set_meter).
 *
 * Eviction (Redis's performEvictions, with its eviction pool). Before a
 * write that may grow memory, the dispatcher calls evict_make_room() with
 * none of its stripes locked. While used memory is above maxmemory it
 * samples maxmemory-samples entries of one random stripe into the calling
 * thread's pool of the best EVICT_POOL_SIZE candidates (kept across
 * rounds), evicts the best one that still exists (and is still eligible),
 * and repeats, within a time and key budget. Only one stripe is locked at
 * a time, so eviction cannot deadlock with commands that hold several.
 *
 * Threads: struct evict is shared (atomics and the config); a struct
 * evict_thread belongs to one thread.
 */
#ifndef RINGKV_KEYSPACE_EVICT_H
#define RINGKV_KEYSPACE_EVICT_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "base/bytes.h"
#include "base/config.h"
#include "env/env.h"
#include "keyspace/keyspace.h"

/* The policies, in the order of maxmemory-policy's names in config.c. */
enum evict_policy {
	EVICT_NOEVICTION,
	EVICT_ALLKEYS_LRU,
	EVICT_ALLKEYS_LFU,
	EVICT_ALLKEYS_RANDOM,
	EVICT_VOLATILE_LRU,
	EVICT_VOLATILE_LFU,
	EVICT_VOLATILE_RANDOM,
	EVICT_VOLATILE_TTL,
	EVICT_POLICY_COUNT
};

/* ---- The access word ------------------------------------------------- */

#define ACCESS_MS_BITS  40
#define ACCESS_MS_MASK  ((UINT64_C(1) << ACCESS_MS_BITS) - 1)
#define LFU_INIT_VAL    5 /* Redis's: a new key is not evicted at once */
#define LFU_COUNTER_MAX 255
#define ACCESS_MIN_MASK 0xffffu

static inline uint64_t access_make(int64_t now_ms, unsigned counter, unsigned minutes)
{
	return ((uint64_t)now_ms & ACCESS_MS_MASK) | (uint64_t)(counter & 0xffu) << 40 |
	    (uint64_t)(minutes & ACCESS_MIN_MASK) << 48;
}

static inline unsigned access_minutes(int64_t now_ms)
{
	return (unsigned)((uint64_t)(now_ms / 60000) & ACCESS_MIN_MASK);
}

static inline unsigned access_counter(uint64_t w)
{
	return (unsigned)(w >> 40) & 0xffu;
}

/* Milliseconds since the last access (0 if the clock went backwards). */
static inline uint64_t access_idle_ms(uint64_t w, int64_t now_ms)
{
	uint64_t idle = ((uint64_t)now_ms - w) & ACCESS_MS_MASK;
	return idle > ACCESS_MS_MASK / 2 ? 0 : idle;
}

/* The LFU counter after decay (Redis's LFUDecrAndReturn). */
static inline unsigned access_lfu(uint64_t w, int64_t now_ms, unsigned decay_minutes)
{
	unsigned counter = access_counter(w);
	unsigned elapsed = (access_minutes(now_ms) - (unsigned)(w >> 48)) & ACCESS_MIN_MASK;
	unsigned periods = decay_minutes ? elapsed / decay_minutes : 0;
	return periods > counter ? 0 : counter - periods;
}

/* One access: decay, a logarithmic increment decided by rnd (uniform
 * random bits), and the time stamps. */
static inline uint64_t access_count(uint64_t w, int64_t now_ms, unsigned log_factor,
                                    unsigned decay_minutes, uint64_t rnd)
{
	unsigned counter = access_lfu(w, now_ms, decay_minutes);
	if (counter < LFU_COUNTER_MAX) {
		/* Probability 1/m as "32 random bits times m stay below 2^32":
		 * a multiply where a modulo would cost a division per access. */
		uint64_t base = counter > LFU_INIT_VAL ? counter - LFU_INIT_VAL : 0;
		uint64_t m = base * log_factor + 1;
		if (m <= UINT32_MAX && (rnd & UINT32_MAX) * m <= UINT32_MAX)
			counter++;
	}
	return access_make(now_ms, counter, access_minutes(now_ms));
}

/* The word a new entry is created with: counted once at creation, which
 * brings the counter to exactly LFU_INIT_VAL. */
static inline uint64_t access_new(int64_t now_ms)
{
	return access_make(now_ms, LFU_INIT_VAL - 1, access_minutes(now_ms));
}

/* ---- Accounting and eviction ------------------------------------------- */

/* Net allocation a thread keeps to itself before adding it to the total:
 * bounds the estimate's error per thread; one atomic add per this many
 * bytes allocated. */
#define EVICT_PUBLISH_BYTES (64 * 1024)
/* Candidates kept in a thread's pool (Redis's EVPOOL_SIZE). */
#define EVICT_POOL_SIZE 16
/* Keys up to this long are kept inline in the pool; longer ones are
 * copied to the heap (Redis's EVPOOL_CACHED_SDS_SIZE). */
#define EVICT_POOL_KEY_BYTES 255
/* Work bounds of one evict_make_room() call: past them the command goes
 * ahead and the next write (or the cron) continues (Redis: eviction
 * tenacity's time limit). */
#define EVICT_KEYS_PER_CALL 4096
#define EVICT_BUDGET_US     2000
/* The cron's call (no write waiting on it) may spend more: a limit
 * lowered at run time, or memory that grew without writes, comes back
 * under the limit in seconds, not minutes, at a quarter of one cron
 * period (hz 10) at most. */
#define EVICT_CRON_BUDGET_US 25000
/* HOTKEYS examines every entry of a keyspace up to this size, a random
 * sample of this many entries beyond it. */
#define HOTKEYS_VISIT_MAX (1024 * 1024)
#define HOTKEYS_COUNT_MAX 1000

typedef uint64_t evict_meter_fn(void *ctx);

struct evict {
	struct keyspace *ks;
	struct config *cfg;
	_Atomic int64_t used_bytes; /* last resync + published thread changes */
	atomic_uint_fast64_t gen;   /* bumped by each resync */
	evict_meter_fn *meter;      /* a test's meter, or NULL */
	void *meter_ctx;
};

struct evict_cand {
	uint64_t score; /* higher: better victim */
	uint64_t hash;
	uint64_t access; /* the access word when sampled */
	uint32_t key_len;
	bool used;
	uint8_t *key_heap; /* for keys over EVICT_POOL_KEY_BYTES */
	uint8_t key_inline[EVICT_POOL_KEY_BYTES];
};

struct evict_thread {
	bool bound;    /* alloc bound to this thread (first use) */
	bool counting; /* the allocator keeps thread counters */
	struct env_alloc_thread alloc;
	int64_t published_net;
	uint64_t gen;
	int policy_of_pool;
	uint64_t evicted; /* keys this thread evicted (tests) */
	struct evict_cand pool[EVICT_POOL_SIZE];
};

void evict_init(struct evict *ev, struct keyspace *ks, struct config *cfg);
/* Replaces allocator accounting by fn(ctx) (tests, simulator). */
void evict_set_meter(struct evict *ev, evict_meter_fn *fn, void *ctx);

void evict_thread_init(struct evict_thread *et);
void evict_thread_deinit(struct evict_thread *et);

/* Used memory as this thread sees it (see Accounting). */
uint64_t evict_used_bytes(struct evict *ev, struct evict_thread *et);

/* Evicts until used memory is at most maxmemory. 0 when it is (or the
 * budget ran out after progress), ERR_NOMEM when over the limit with
 * nothing to evict (noeviction, or no eligible key): the caller replies
 * -OOM. Locks stripes itself: the caller must hold none. */
int evict_make_room(struct evict *ev, struct evict_thread *et, int64_t now_ms, struct env_rng *rng);

/* Applies lfu-log-factor and lfu-decay-time to the keyspace. */
void evict_apply_config(struct evict *ev);

/* Periodic (about 10 Hz, one thread): resyncs the total from the
 * allocator and evicts if a lowered maxmemory left it above the limit. */
void evict_cron(struct evict *ev, struct evict_thread *et, int64_t now_ms, struct env_rng *rng);

/* The policy's name, for INFO. */
const char *evict_policy_name(int policy);

/* Keys with the highest decayed LFU counters (ties: most recently used
 * first), hottest first: fills up to max entries of out (key copies on the
 * heap; free with evict_hotkeys_free). Every entry is examined when the
 * keyspace has at most HOTKEYS_VISIT_MAX, else a random sample of about
 * that many. Locks stripes one at a time, except those in held. Returns
 * the count, or ERR_NOMEM. */
struct evict_hotkey {
	uint8_t *key;
	size_t len;
	unsigned freq;
	uint64_t idle_ms;
};
int64_t evict_hotkeys(struct evict *ev, const struct ks_lockset *held, int64_t now_ms, uint64_t rnd,
                      size_t max, struct evict_hotkey *out);
void evict_hotkeys_free(struct evict_hotkey *hk, size_t n);

#endif
