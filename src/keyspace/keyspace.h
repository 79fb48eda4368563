/*
 * keyspace.h - the data model of one node over a storage engine: string
 * entries with an expiry time and a version, passive and active expiry,
 * lock striping, WATCH support and keyspace statistics.
 *
 * Locking. Keys are spread over KEYSPACE_STRIPES stripes by the high byte of
 * their hash; each stripe has its own mutex. There is no global lock: a
 * command locks the stripes of its keys (in ascending stripe order, via a
 * lockset, so multi-key commands and EXEC cannot deadlock) and calls the
 * ks_* functions, which all expect the key's stripe to be held unless
 * their comment says otherwise. Holding the stripes of all of a command's
 * keys for its whole execution is what makes MSET, MSETNX, RENAME, CAS and
 * MULTI/EXEC atomic to other clients.
 *
 * Expiry. An entry whose expire_ms <= now is logically gone: every lookup
 * (ks_get) checks it and deletes it (passive expiry), so an expired key is
 * never returned. ks_active_expire() samples entries that have an expiry,
 * deletes the expired ones, and keeps sampling a stripe while more than
 * 10% of its sample was expired, within a time budget (Redis's adaptive
 * active expire cycle).
 *
 * Versions. Each write stamps the entry with the stripe's next sequence
 * number (the single-node form of the version in DESIGN.md).
 *
 * WATCH. A client registers struct ks_watcher records for keys; any write,
 * delete or expiry of a watched key sets the watcher's dirty flag (an
 * atomic, since the writer may be another thread). The common case, a
 * stripe nobody watches, costs one compare.
 */
#ifndef RINGKV_KEYSPACE_KEYSPACE_H
#define RINGKV_KEYSPACE_KEYSPACE_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "base/bytes.h"
#include "base/limits.h"
#include "engine/engine.h"

#define KS_STRIPE_SHIFT 56
_Static_assert((1u << (64 - KS_STRIPE_SHIFT)) == KEYSPACE_STRIPES,
               "stripe count matches the hash bits used to pick a stripe");

struct keyspace;

/* A set of stripes to lock together, always in ascending order. */
struct ks_lockset {
	uint64_t bits[KEYSPACE_STRIPES / 64];
	bool all;
};

/* One client's watch state: dirty turns true when a watched key changes. */
struct ks_watcher {
	atomic_bool dirty;
	uint64_t stripes[KEYSPACE_STRIPES / 64]; /* stripes with a record of ours */
	uint32_t key_count;
};

/* Takes the engine. NULL on ENOMEM (the engine is then still the caller's). */
struct keyspace *ks_create(struct engine *engine);
void ks_destroy(struct keyspace *ks);

/* Frees up to bytes of the engine's caches (engine.h, shed), a stripe at
 * a time from a random one, locking each (none may be held). Returns the
 * bytes freed. */
uint64_t ks_shed(struct keyspace *ks, uint64_t bytes, uint64_t rnd);

/* The engine's flush_log (engine.h): before a turn's replies go out. */
int ks_flush_log(struct keyspace *ks);

/* The engine (for its name and engine-specific calls: SAVE, INFO). */
struct engine *ks_engine(struct keyspace *ks);

/* Hashes a key once and picks its stripe. */
void ks_key_init(struct ekey *k, struct bytes key);

void ks_lock(struct keyspace *ks, unsigned stripe);
/* Releases a stripe, first ending the command on it (engine.h, end): 0, or
 * the error that kept the command's changes from being applied. */
int ks_unlock(struct keyspace *ks, unsigned stripe);

static inline void ks_lockset_clear(struct ks_lockset *ls)
{
	for (unsigned i = 0; i < KEYSPACE_STRIPES / 64; i++)
		ls->bits[i] = 0;
	ls->all = false;
}

static inline void ks_lockset_add(struct ks_lockset *ls, unsigned stripe)
{
	ls->bits[stripe / 64] |= (uint64_t)1 << (stripe % 64);
}

void ks_lock_set(struct keyspace *ks, const struct ks_lockset *ls);
/* ks_unlock for every stripe of the set, their changes in one batch. */
int ks_unlock_set(struct keyspace *ks, const struct ks_lockset *ls);

/* ---- Entry operations; the key's stripe must be held. ---------------- */

/* 0 with the value (valid while the stripe is held) and metadata, or
 * ERR_NOT_FOUND (also for an expired entry, which is deleted here). */
int ks_get(struct keyspace *ks, const struct ekey *k, int64_t now_ms, struct bytes *val,
           struct entry_meta *meta);

/* Writes a value of len bytes, returning the room to fill; keep_bytes of the
 * old value are preserved (see engine_ops.put). expire_ms 0 = no expiry. */
int ks_put(struct keyspace *ks, const struct ekey *k, size_t len, size_t keep_bytes,
           int64_t expire_ms, uint8_t **val_out);

/* ks_put of the given bytes. */
int ks_set(struct keyspace *ks, const struct ekey *k, struct bytes val, int64_t expire_ms);

/* Changes the expiry of an existing, live entry; ERR_NOT_FOUND if none. */
int ks_set_expire(struct keyspace *ks, const struct ekey *k, int64_t now_ms, int64_t expire_ms);

/* Deletes a live entry: 0, or ERR_NOT_FOUND if absent or expired. */
int ks_del(struct keyspace *ks, const struct ekey *k, int64_t now_ms);

/* ---- Whole-keyspace operations; these lock stripes themselves, except
 * those in held (the stripes an EXEC already holds; NULL for none). ---- */

/* Live entries (expired-but-not-yet-collected ones included, as Redis's
 * DBSIZE), and those with an expiry time. */
uint64_t ks_count(struct keyspace *ks, const struct ks_lockset *held);
uint64_t ks_volatile_count(struct keyspace *ks);

/* Deletes every entry, a slice at a time so other clients are served in
 * between. Watched keys that existed are touched. 0, or the engine error
 * that stopped it part way. */
int ks_flush(struct keyspace *ks, const struct ks_lockset *held);

/* One SCAN step: visits live entries of the next stripe portion and returns
 * the next cursor (0 when the scan is complete). The cursor combines the
 * stripe (low bits) with that stripe's table cursor. fn runs with the
 * stripe held and must not call back into the keyspace. *err is 0, or the
 * engine's read error (the step may then have missed keys). */
uint64_t ks_scan(struct keyspace *ks, const struct ks_lockset *held, uint64_t cursor,
                 int64_t now_ms, engine_visit_fn *fn, void *ctx, int *err);

/* Copies a random live key into dst (cap bytes); returns its length, or
 * -1 when the keyspace is empty (or only expired keys were found), or
 * ERR_LIMIT if it does not fit. */
int64_t ks_random_key(struct keyspace *ks, const struct ks_lockset *held, uint64_t rnd,
                      int64_t now_ms, uint8_t *dst, size_t cap);

/* Active expiry over stripes first, first+step, ... within budget_us.
 * Returns the number of keys it expired. */
uint64_t ks_active_expire(struct keyspace *ks, unsigned first, unsigned step, int64_t now_ms,
                          uint64_t budget_us, uint64_t rnd_seed);

/* Background upkeep (incremental rehash) of the same stripes, stopping
 * once budget_us has been spent. */
void ks_maintain(struct keyspace *ks, unsigned first, unsigned step, uint64_t budget_us);

/* Statistics summed over stripes (read without locks; approximate). */
struct ks_stats {
	uint64_t keys;
	uint64_t volatile_keys;
	uint64_t expired_keys;
	uint64_t evicted_keys;
	uint64_t memory_bytes;
	int64_t avg_ttl_ms;
};
void ks_stats(struct keyspace *ks, int64_t now_ms, struct ks_stats *out);
void ks_reset_stats(struct keyspace *ks);

/* ---- Access tracking and eviction (see keyspace/evict.h) ---------------- */

/* Advances the clock that stamps the access word of written entries
 * (ks_put has no time argument); reads pass their own now_ms. Cheap: a
 * store only when the millisecond changed. Any thread. */
void ks_clock_advance(struct keyspace *ks, int64_t now_ms);

/* LFU parameters (lfu-log-factor, lfu-decay-time in minutes). Any thread. */
void ks_set_lfu(struct keyspace *ks, unsigned log_factor, unsigned decay_minutes);
void ks_get_lfu(struct keyspace *ks, unsigned *log_factor, unsigned *decay_minutes);

/* ks_get that does not count as an access (OBJECT, HOTKEYS); meta->access
 * is the entry's access word. Stripe held. */
int ks_peek(struct keyspace *ks, const struct ekey *k, int64_t now_ms, struct bytes *val,
            struct entry_meta *meta);

/* A random entry of the stripe (held), among those with an expiry time
 * when volatile_only: 0 with the key (a view) and metadata, or
 * ERR_NOT_FOUND when there is none. Expired entries are returned too. */
int ks_sample(struct keyspace *ks, unsigned stripe, bool volatile_only, uint64_t rnd,
              struct bytes *key, struct entry_meta *meta);

/* Entries of a stripe (held), or those with an expiry time. */
uint64_t ks_stripe_count(struct keyspace *ks, unsigned stripe, bool volatile_only);

/* Evicts an entry (stripe held): deletes it, marks its watchers dirty and
 * counts it in evicted_keys. It is left alone (ERR_NOT_FOUND) when absent,
 * when volatile_only and it has no expiry time, and when if_access is not
 * NULL and its access word is no longer *if_access (used since sampled). */
int ks_evict(struct keyspace *ks, const struct ekey *k, bool volatile_only,
             const uint64_t *if_access);

/* ---- WATCH ------------------------------------------------------------ */

void ks_watcher_init(struct ks_watcher *w);
/* Watches a key (its stripe held). ERR_LIMIT past WATCH_KEYS_MAX,
 * ERR_NOMEM. Watching the same key twice is a no-op. */
int ks_watch(struct keyspace *ks, const struct ekey *k, struct ks_watcher *w);
/* Drops every watch of w (locks the stripes itself) and clears dirty. */
void ks_unwatch_all(struct keyspace *ks, struct ks_watcher *w);
/* Collects expired watched keys (their stripes held, e.g. by EXEC), so that
 * a watched key that expired since WATCH marks the watcher dirty. */
void ks_watch_expire_check(struct keyspace *ks, struct ks_watcher *w, int64_t now_ms);
/* Adds the stripes w watches to a lockset. */
void ks_watch_lockset(const struct ks_watcher *w, struct ks_lockset *ls);

#endif
