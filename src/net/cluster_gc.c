/*
 * cluster_gc.c - tombstone collection: a deleted key's state (a tombstone
 * with its clock, cluster/replica.h) is dropped once deleted data can no
 * longer come back through it. docs/cluster.md, "Deletes and tombstone
 * collection".
 *
 * A tombstone must outlive every copy of what it deleted. Copies live on
 * the other replicas of the key (one that missed the delete), in hints a
 * fallback holds, and in replica messages still on their way. So a
 * replica drops its tombstone of a key only when
 *   1. it is older than the grace period (gc_grace_ms): longer than any
 *      hint may wait, and than a replica message may be delayed before it
 *      is refused (cluster_kv.c, merge_too_old); and
 *   2. every member that may hold the key - the key's preference list as
 *      long as any request's N may make it, RING_REPLICAS_MAX - answered
 *      a read now with the very same state or with nothing. A replica that
 *      answers something else gets the tombstone (a merge, as read repair
 *      sends) and the key waits for the next pass; one that is down or
 *      silent keeps the tombstone everywhere.
 * Each replica checks its own tombstones (the states it drops are its
 * own), so the first to collect answers "nothing" to the others' checks
 * and they follow. The drop is conditional: a write or merge that landed
 * since the check keeps the key.
 *
 * Dropping a state forgets which numbers this replica gave its writes of
 * the key; the replica's dot floor (cluster/dvv.h, floors) is raised past
 * them first, kept across clean restarts (cluster_id.c).
 *
 * Finding tombstones: a background scan over the keyspace, at most
 * cluster-tombstone-scan-rate keys a second (a token bucket), with at
 * most GC_CHECKS_MAX checks in flight; each check times out after
 * cluster-timeout.
 *
 * Thread: the cluster thread, under c->mu.
 */
#include <stdlib.h>
#include <string.h>

#include "base/err.h"
#include "cluster/replica.h"
#include "net/cluster_internal.h"

/* Message id: GC_ID_BIT | check sequence << GC_IDX_BITS | target index. */
#define GC_IDX_BITS 5
_Static_assert(RING_REPLICAS_MAX <= (1u << GC_IDX_BITS), "target index fits its bits");
_Static_assert(RING_REPLICAS_MAX < 32, "gc_check.agreed has a bit per member, and room for 1u << count");

struct gc_check {
	bool used;
	uint64_t seq;
	uint64_t deadline_ms;
	struct buf key, state; /* the tombstone as checked */
	uint16_t members[RING_REPLICAS_MAX];
	uint32_t count;
	uint32_t agreed; /* bit i: members[i] holds the same state or nothing */
};

struct gc_key {
	uint32_t len;
	uint8_t bytes[]; /* KEY_BYTES_MAX at most */
};

struct gc {
	uint64_t cursor; /* of the keyspace scan */
	double tokens;
	uint64_t tokens_ms;
	uint64_t next_seq;
	struct gc_check checks[GC_CHECKS_MAX];
	struct gc_key *batch[GC_BATCH_KEYS_MAX]; /* keys the last scan step found */
	uint32_t batch_len, batch_next;
	struct {
		uint64_t examined, checks, collected, repaired, blocked, passes;
	} stats;
	uint64_t drop_failures;   /* since the last warning */
	uint64_t drop_warned_ms;  /* at most one warning a second */
};

uint64_t gc_grace_ms(const struct cluster *c)
{
	uint64_t grace = (uint64_t)config_get(c->cfg, CFG_CLUSTER_TOMBSTONE_GRACE) * 1000;
	uint64_t hint = (uint64_t)config_get(c->cfg, CFG_CLUSTER_HINT_MAX_AGE) * 1000 +
	    2 * (uint64_t)config_get(c->cfg, CFG_CLUSTER_TIMEOUT);
	return grace > hint ? grace : hint;
}

int gc_init(struct cluster *c)
{
	struct gc *g = calloc(1, sizeof(*g));
	if (!g)
		return ERR_NOMEM;
	for (size_t i = 0; i < GC_CHECKS_MAX; i++) {
		buf_init(&g->checks[i].key);
		buf_init(&g->checks[i].state);
	}
	g->next_seq = 1;
	c->gc = g;
	return 0;
}

static void batch_clear(struct gc *g)
{
	for (uint32_t i = 0; i < g->batch_len; i++)
		free(g->batch[i]);
	g->batch_len = g->batch_next = 0;
}

void gc_deinit(struct cluster *c)
{
	struct gc *g = c->gc;
	if (!g)
		return;
	for (size_t i = 0; i < GC_CHECKS_MAX; i++) {
		buf_deinit(&g->checks[i].key);
		buf_deinit(&g->checks[i].state);
	}
	batch_clear(g);
	free(g);
	c->gc = NULL;
}

/* ---- Finding tombstones -------------------------------------------------- */

/* engine_visit_fn: runs with the stripe held; copies the key. */
static void collect_key(void *arg, struct bytes key, const struct entry_meta *meta)
{
	(void)meta;
	struct gc *g = arg;
	if (g->batch_len == GC_BATCH_KEYS_MAX)
		return; /* met on a later pass */
	struct gc_key *k = malloc(sizeof(*k) + key.len);
	if (!k)
		return;
	k->len = (uint32_t)key.len;
	memcpy(k->bytes, key.ptr, key.len);
	g->batch[g->batch_len++] = k;
}

/* The next key to examine into *k (owned by the batch); false when this
 * tick's scan step found none. */
static bool next_key(struct cluster *c, struct gc *g, struct gc_key **k)
{
	if (g->batch_next == g->batch_len) {
		batch_clear(g);
		int err = 0;
		g->cursor = ks_scan(c->ks, NULL, g->cursor, env_wall_ms(), collect_key, g, &err);
		if (g->cursor == 0)
			g->stats.passes++;
		if (g->batch_len == 0)
			return false;
	}
	*k = g->batch[g->batch_next++];
	return true;
}

static struct gc_check *free_check(struct gc *g)
{
	for (size_t i = 0; i < GC_CHECKS_MAX; i++)
		if (!g->checks[i].used)
			return &g->checks[i];
	return NULL;
}

/* ---- Checking with the other replicas ------------------------------------ */

static void check_end(struct gc_check *ck)
{
	ck->used = false;
	ck->key.len = ck->state.len = 0;
}

/* Every replica agreed: drop this one's state if it is still the one
 * checked. */
static void collect(struct cluster *c, struct gc *g, struct gc_check *ck)
{
	bool dropped = false;
	int err = replica_drop_if(c->ks, bytes_make(ck->key.data, ck->key.len),
	                          bytes_make(ck->state.data, ck->state.len), c->self.id,
	                          &c->self.floor, &dropped);
	if (!err && dropped)
		err = ks_flush_log(c->ks);
	/* A failing engine fails every drop: one warning a second, with the
	 * count, rather than one per key scanned. */
	uint64_t now = (uint64_t)env_wall_ms();
	if (err)
		g->drop_failures++;
	if (err && now - g->drop_warned_ms >= 1000) {
		LOG_W(c->log, "cluster: dropping %llu collected tombstone(s) failed, the last with: %s",
		      (unsigned long long)g->drop_failures, err_str(err));
		g->drop_failures = 0;
		g->drop_warned_ms = now;
	}
	g->stats.collected += dropped;
	check_end(ck);
}

/* The members that may hold key other than this node, into ck; false when
 * one is not up (the tombstone stays). */
static bool check_targets(struct cluster *c, struct bytes key, struct gc_check *ck)
{
	uint16_t ids[RING_REPLICAS_MAX];
	uint32_t n =
	    c->ring.member_count < RING_REPLICAS_MAX ? c->ring.member_count : RING_REPLICAS_MAX;
	uint32_t count =
	    ring_preference_list(&c->ring, ring_partition_of_key(&c->ring, key), n, ids);
	uint16_t self = cluster_self_id(c);
	ck->count = 0;
	for (uint32_t i = 0; i < count; i++) {
		if (ids[i] == self)
			continue;
		if (!cluster_member_up(c, ids[i]))
			return false;
		ck->members[ck->count++] = ids[i];
	}
	return true;
}

static uint64_t msg_id(const struct gc_check *ck, uint32_t idx)
{
	return GC_ID_BIT | (ck->seq << GC_IDX_BITS) | idx;
}

/* Starts the check of a collectable state, or collects at once when no
 * other member may hold the key. */
static void check_begin(struct cluster *c, struct gc *g, struct gc_check *ck, struct bytes key,
                        const struct buf *state, uint64_t now_ms)
{
	if (!check_targets(c, key, ck)) {
		g->stats.blocked++;
		return;
	}
	ck->key.len = ck->state.len = 0;
	if (buf_reserve(&ck->key, key.len, KEY_BYTES_MAX) != 0 ||
	    buf_reserve(&ck->state, state->len, VALUE_BYTES_MAX) != 0)
		return;
	buf_put(&ck->key, key.ptr, key.len);
	buf_put(&ck->state, state->data, state->len);
	ck->used = true;
	ck->seq = g->next_seq++;
	ck->agreed = 0;
	ck->deadline_ms = now_ms + (uint64_t)config_get(c->cfg, CFG_CLUSTER_TIMEOUT);
	g->stats.checks++;
	if (ck->count == 0) {
		collect(c, g, ck);
		return;
	}
	struct wire_replica_req q = {.key = key,
	                             .hint_for = WIRE_HINT_FOR_NONE,
	                             .from = cluster_self_id(c),
	                             .timestamp_ms = (uint64_t)env_wall_ms()};
	for (uint32_t i = 0; i < ck->count; i++)
		(void)ckv_send_req(c, ck->members[i], WIRE_GET_REQ, msg_id(ck, i), &q);
}

/* A member answered with a different state: the two are joined both ways
 * (as a read repair would), and the key waits for a later pass. */
static void repair(struct cluster *c, struct gc *g, struct gc_check *ck, uint16_t member,
                   struct bytes theirs)
{
	bool changed;
	bool lww = config_get(c->cfg, CFG_CLUSTER_CONFLICTS) == CFG_CONFLICTS_LWW;
	if (replica_merge(c->ks, bytes_make(ck->key.data, ck->key.len), theirs, lww, &changed) ==
	        0 &&
	    changed)
		(void)ks_flush_log(c->ks);
	struct wire_replica_req q = {.key = bytes_make(ck->key.data, ck->key.len),
	                             .version = bytes_make(ck->state.data, ck->state.len),
	                             .hint_for = WIRE_HINT_FOR_NONE,
	                             .from = cluster_self_id(c),
	                             .timestamp_ms = (uint64_t)env_wall_ms()};
	/* The answer comes back with a message id no check has: ignored. */
	(void)ckv_send_req(c, member, WIRE_DEL_REQ, GC_ID_BIT, &q);
	g->stats.repaired++;
}

void gc_on_resp(struct cluster *c, uint64_t id, const struct wire_replica_resp *s)
{
	struct gc *g = c->gc;
	uint64_t seq = (id & ~GC_ID_BIT) >> GC_IDX_BITS;
	uint32_t idx = (uint32_t)(id & ((1u << GC_IDX_BITS) - 1));
	if (!g || seq == 0)
		return;
	for (size_t i = 0; i < GC_CHECKS_MAX; i++) {
		struct gc_check *ck = &g->checks[i];
		if (!ck->used || ck->seq != seq || idx >= ck->count || ck->members[idx] != s->from)
			continue;
		bool same = s->status == WIRE_STATUS_NOT_FOUND ||
		    (s->status == WIRE_STATUS_OK &&
		     bytes_eq(s->version, bytes_make(ck->state.data, ck->state.len)));
		if (!same) {
			if (s->status == WIRE_STATUS_OK)
				repair(c, g, ck, s->from, s->version);
			g->stats.blocked++;
			check_end(ck);
			return;
		}
		ck->agreed |= 1u << idx;
		if (ck->agreed == (1u << ck->count) - 1)
			collect(c, g, ck);
		return;
	}
}

/* ---- The tick -------------------------------------------------------------- */

static void expire_checks(struct gc *g, uint64_t now_ms)
{
	for (size_t i = 0; i < GC_CHECKS_MAX; i++) {
		struct gc_check *ck = &g->checks[i];
		if (ck->used && now_ms >= ck->deadline_ms) {
			g->stats.blocked++;
			check_end(ck);
		}
	}
}

/* Examines the next key: starts a check when its state is collectable. */
static void examine(struct cluster *c, struct gc *g, const struct gc_key *k, struct buf *state,
                    uint64_t now_ms)
{
	struct bytes key = bytes_make(k->bytes, k->len);
	g->stats.examined++;
	bool yes = false;
	int err = replica_read_collectable(c->ks, key, (uint64_t)env_wall_ms(), gc_grace_ms(c),
	                                   state, &yes);
	if (err || !yes)
		return;
	struct gc_check *ck = free_check(g);
	if (ck)
		check_begin(c, g, ck, key, state, now_ms);
}

void gc_tick(struct cluster *c, uint64_t now_ms)
{
	struct gc *g = c->gc;
	if (!g || !c->ks)
		return;
	expire_checks(g, now_ms);
	uint64_t rate = (uint64_t)config_get(c->cfg, CFG_CLUSTER_TOMBSTONE_SCAN_RATE);
	if (rate == 0 || c->ring.member_count == 0 || cluster_self_id(c) == RING_MEMBER_NONE) {
		g->tokens_ms = now_ms;
		return;
	}
	if (g->tokens_ms && now_ms > g->tokens_ms)
		g->tokens += (double)rate * (double)(now_ms - g->tokens_ms) / 1000.0;
	g->tokens_ms = now_ms;
	/* At most GC_TICK_KEYS_MAX a tick: the cluster thread has requests to
	 * serve between slices. */
	if (g->tokens > (double)GC_TICK_KEYS_MAX)
		g->tokens = (double)GC_TICK_KEYS_MAX;
	struct buf state;
	buf_init(&state);
	/* A scan step that finds nothing (an empty part of the table) costs
	 * a token too, so an empty keyspace is not scanned in a busy loop. */
	while (g->tokens >= 1.0 && free_check(g)) {
		g->tokens -= 1.0;
		struct gc_key *k;
		if (next_key(c, g, &k))
			examine(c, g, k, &state, now_ms);
	}
	buf_deinit(&state);
}

void gc_view(struct cluster *c, struct cluster_view *out)
{
	struct gc *g = c->gc;
	if (!g)
		return;
	out->gc_examined = g->stats.examined;
	out->gc_checks = g->stats.checks;
	out->gc_collected = g->stats.collected;
	out->gc_repaired = g->stats.repaired;
	out->gc_blocked = g->stats.blocked;
	out->gc_passes = g->stats.passes;
	out->gc_grace_ms = gc_grace_ms(c);
	out->dot_floor = c->self.floor;
}
