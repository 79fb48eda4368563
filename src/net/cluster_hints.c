/*
 * cluster_hints.c - the other half of the sloppy quorum: a fallback keeps
 * the writes it took for a down replica as hints (cluster/hintlog.h, under
 * hints/ in the data directory) and hands them back when that replica is
 * up again. docs/cluster.md, "Sloppy quorum and hinted handoff".
 *
 * Storing. A PUT_REQ whose hint_for names another member is appended to
 * that member's hint queue and acknowledged once it is as durable as the
 * node's fsync policy promises: synced before the answer under
 * fsync always, within a second otherwise (as the engine's WAL). A queue
 * at cluster-hint-max-bytes refuses the hint (the coordinator counts a
 * failed replica; the owner catches up by read repair instead).
 *
 * Handing off. Every tick, for each member with hints that is up, the
 * oldest hints go to it as ordinary replica writes (PUT_REQ of the key's
 * state, which it merges), at most cluster-handoff-rate a second over all
 * members (a token bucket) and at most the hint log's window in flight per
 * member. An OK answer acknowledges the hint; an error, or no answer
 * within cluster-timeout, sends the unacknowledged ones again later.
 * Hints older than cluster-hint-max-age are dropped unsent (counted).
 * Delivery is a merge, so a hint delivered twice (a crash between the
 * delivery and the persisted cursor) changes nothing.
 *
 * Thread: the cluster thread, under c->mu.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/err.h"
#include "cluster/hintlog.h"
#include "cluster/replica.h"
#include "net/cluster_internal.h"

#define HINTS_DIR "hints"

/* Per member with hints in flight: when delivery last made progress. */
struct hint_peer {
	uint16_t member;
	uint64_t progress_ms;
	bool busy;
};

struct hints {
	struct env_fs_posix fs;
	struct hintlog log;
	double tokens;
	uint64_t tokens_ms;
	uint64_t synced_ms;
	bool dirty; /* appended since the last sync */
	uint64_t dropped_limit; /* refused by their owner at the key's limits */
	struct hint_peer peers[RING_MEMBERS_MAX];
	uint32_t peer_count;
};

static uint64_t max_bytes(const struct cluster *c)
{
	return (uint64_t)config_get(c->cfg, CFG_CLUSTER_HINT_MAX_BYTES);
}

static uint64_t max_age_ms(const struct cluster *c)
{
	return (uint64_t)config_get(c->cfg, CFG_CLUSTER_HINT_MAX_AGE) * 1000;
}

static void config_of(const struct cluster *c, struct hintlog_config *hc)
{
	memset(hc, 0, sizeof(*hc));
	hc->dir = HINTS_DIR;
	hc->segment_bytes = HINTLOG_SEGMENT_BYTES_DEFAULT;
	hc->pending_bytes_max = max_bytes(c);
	hc->state_bytes_max = HINTLOG_STATE_BYTES_MAX;
	hc->max_age_ms = max_age_ms(c);
}

int hints_init(struct cluster *c, char *err, size_t err_cap)
{
	struct hints *h = calloc(1, sizeof(*h));
	if (!h)
		return ERR_NOMEM;
	env_fs_posix_init(&h->fs);
	struct hintlog_config hc;
	config_of(c, &hc);
	int rc = hintlog_open(&h->log, &h->fs.base, &hc);
	if (rc) {
		snprintf(err, err_cap, "cluster: cannot open the hint log in %s/: %s", HINTS_DIR,
		         err_str(rc));
		free(h);
		return rc;
	}
	struct hintlog_stats st;
	hintlog_get_stats(&h->log, &st);
	if (st.pending_records)
		LOG_N(c->log, "cluster: %llu hints (%llu bytes) wait for their replicas",
		      (unsigned long long)st.pending_records, (unsigned long long)st.pending_bytes);
	if (st.corrupt)
		LOG_W(c->log,
		      "cluster: %llu damaged hint records skipped in %s/ (their replicas catch "
		      "up by read repair)",
		      (unsigned long long)st.corrupt, HINTS_DIR);
	c->hints = h;
	return 0;
}

void hints_deinit(struct cluster *c)
{
	struct hints *h = c->hints;
	if (!h)
		return;
	(void)hintlog_sync(&h->log);
	(void)hintlog_close(&h->log);
	free(h);
	c->hints = NULL;
}

/* The ring name of member into *name; false when unknown. */
static bool name_of(const struct cluster *c, uint16_t member, struct bytes *name)
{
	const struct ring_member *rm = ring_member_find(&c->ring, member);
	if (!rm || !rm->name_len)
		return false;
	*name = bytes_make(rm->name, rm->name_len);
	return true;
}

/* The ring id of the member called name, RING_MEMBER_NONE when none. */
static uint16_t member_named(const struct cluster *c, struct bytes name)
{
	for (uint32_t i = 0; i < c->ring.member_count; i++) {
		const struct ring_member *rm = &c->ring.members[i];
		if (bytes_eq(bytes_make(rm->name, rm->name_len), name))
			return rm->id;
	}
	return RING_MEMBER_NONE;
}

uint16_t hints_store(struct cluster *c, const struct wire_replica_req *q)
{
	struct hints *h = c->hints;
	struct bytes owner;
	if (!h || !name_of(c, q->hint_for, &owner))
		return WIRE_STATUS_NOT_OWNER;
	int err = hintlog_append(&h->log, owner, q->key, q->version, (uint64_t)env_wall_ms());
	if (!err && config_get(c->cfg, CFG_FSYNC) == CFG_FSYNC_ALWAYS)
		err = hintlog_sync(&h->log);
	else if (!err)
		h->dirty = true;
	if (err == ERR_LIMIT)
		return WIRE_STATUS_OVERLOADED;
	if (err) {
		LOG_W(c->log, "cluster: could not keep a hint for %.*s: %s", (int)owner.len,
		      (const char *)owner.ptr, err_str(err));
		return WIRE_STATUS_ERROR;
	}
	return WIRE_STATUS_OK;
}

/* ---- Handoff -------------------------------------------------------------- */

static struct hint_peer *peer_of(struct hints *h, uint16_t member)
{
	for (uint32_t i = 0; i < h->peer_count; i++)
		if (h->peers[i].member == member)
			return &h->peers[i];
	if (h->peer_count == RING_MEMBERS_MAX)
		return NULL;
	struct hint_peer *p = &h->peers[h->peer_count++];
	*p = (struct hint_peer){.member = member};
	return p;
}

static void refill(struct cluster *c, struct hints *h, uint64_t now_ms)
{
	double rate = (double)config_get(c->cfg, CFG_CLUSTER_HANDOFF_RATE);
	if (h->tokens_ms)
		h->tokens += rate * (double)(now_ms - h->tokens_ms) / 1000.0;
	h->tokens_ms = now_ms;
	double burst = rate / 10.0 < 1.0 ? 1.0 : rate / 10.0; /* 100 ms worth */
	if (h->tokens > burst)
		h->tokens = burst;
}

/* Sends one hint to member; false when it could not go (not counted). */
static bool send_hint(struct cluster *c, uint16_t member, const struct hint_rec *rec)
{
	struct wire_replica_req q = {
	    .key = rec->key,
	    .version = rec->state,
	    .timestamp_ms = rec->created_ms,
	    .quorum_flags = config_get(c->cfg, CFG_CLUSTER_CONFLICTS) == 1 ? WIRE_QUORUM_LWW : 0,
	    .hint_for = RING_MEMBER_NONE,
	    .from = cluster_self_id(c)};
	return ckv_send_req(c, member, WIRE_PUT_REQ, HINT_ID_BIT | rec->seq, &q) == 0;
}

/* Hands hints to one member while tokens and its window last. */
static void handoff_to(struct cluster *c, struct hints *h, struct bytes name, uint16_t member,
                       uint64_t now_ms)
{
	struct hint_peer *p = peer_of(h, member);
	if (!p)
		return;
	uint64_t timeout = (uint64_t)config_get(c->cfg, CFG_CLUSTER_TIMEOUT);
	uint64_t wall_ms = (uint64_t)env_wall_ms(); /* hints carry wall-clock times */
	if (p->busy && now_ms - p->progress_ms > timeout) {
		(void)hintlog_retry(&h->log, name); /* no answer in time: send them again */
		p->progress_ms = now_ms;
	}
	while (h->tokens >= 1.0) {
		struct hint_rec rec;
		int rc = hintlog_next(&h->log, name, wall_ms, &rec);
		if (rc == ERR_AGAIN)
			continue; /* skipped a slice of expired hints */
		if (rc)
			break; /* none left, the window is full, or a read failed */
		if (!send_hint(c, member, &rec)) {
			(void)hintlog_retry(&h->log, name);
			break;
		}
		if (!p->busy)
			p->progress_ms = now_ms;
		p->busy = true;
		h->tokens -= 1.0;
	}
}

struct tick_ctx {
	struct cluster *c;
	uint64_t now_ms;
};

static int tick_target(void *arg, const struct hintlog_target_stats *t)
{
	struct tick_ctx *tc = arg;
	struct cluster *c = tc->c;
	struct hints *h = c->hints;
	if (!t->pending_records)
		return 0;
	uint16_t member = member_named(c, t->name);
	if (member == RING_MEMBER_NONE || member == cluster_self_id(c))
		return 0;
	if (!cluster_member_up(c, member)) {
		struct hint_peer *p = peer_of(h, member);
		if (p && p->busy) {
			(void)hintlog_retry(&h->log, t->name);
			p->busy = false;
		}
		return 0;
	}
	handoff_to(c, h, t->name, member, tc->now_ms);
	return 0;
}

void hints_tick(struct cluster *c, uint64_t now_ms)
{
	struct hints *h = c->hints;
	if (!h)
		return;
	if (now_ms - h->synced_ms >= 1000) {
		/* Once a second: what was appended since, and the bounds as
		 * CONFIG SET may have changed them. */
		int err = h->dirty ? hintlog_sync(&h->log) : 0;
		if (err)
			LOG_W(c->log, "cluster: syncing the hint log failed: %s", err_str(err));
		h->dirty = false;
		h->synced_ms = now_ms;
		(void)hintlog_set_bounds(&h->log, max_bytes(c), max_age_ms(c));
	}
	refill(c, h, now_ms);
	struct tick_ctx tc = {c, now_ms};
	(void)hintlog_targets(&h->log, tick_target, &tc);
}

void hints_on_resp(struct cluster *c, uint64_t msg_id, const struct wire_replica_resp *s,
                   uint64_t now_ms)
{
	struct hints *h = c->hints;
	struct bytes name;
	if (!h || !name_of(c, s->from, &name))
		return;
	struct hint_peer *p = peer_of(h, s->from);
	if (s->status == WIRE_STATUS_LIMIT) {
		/* The owner cannot take it (its state of the key is at a limit):
		 * sending it again would hold the queue for ever. Dropped; read
		 * repair settles the key once its siblings are resolved. */
		h->dropped_limit++;
		LOG_W(c->log, "cluster: a hint for %.*s was refused at the key's limits; dropped",
		      (int)name.len, (const char *)name.ptr);
	} else if (s->status != WIRE_STATUS_OK) {
		return; /* sent again once the window times out */
	}
	if (hintlog_ack(&h->log, name, msg_id & ~HINT_ID_BIT) == 0 && p)
		p->progress_ms = now_ms;
}

/* ---- What CLUSTER STATUS and INFO show ----------------------------------- */

struct view_ctx {
	struct cluster_view *out;
	uint64_t now_ms;
};

static int view_target(void *arg, const struct hintlog_target_stats *t)
{
	struct view_ctx *vc = arg;
	struct cluster_view *out = vc->out;
	for (size_t i = 0; i < out->count; i++) {
		struct cluster_row *r = &out->rows[i];
		if (!bytes_eq(bytes_cstr(r->name), t->name))
			continue;
		r->hints = t->pending_records;
		r->hint_bytes = t->pending_bytes;
		r->oldest_hint_ms = t->pending_records ? t->oldest_created_ms : 0;
	}
	uint64_t oldest = t->oldest_created_ms;
	if (t->pending_records && oldest && vc->now_ms > oldest &&
	    vc->now_ms - oldest > out->hint_lag_ms)
		out->hint_lag_ms = vc->now_ms - oldest;
	return 0;
}

void hints_view(struct cluster *c, struct cluster_view *out)
{
	struct hints *h = c->hints;
	if (!h)
		return;
	struct hintlog_stats st;
	hintlog_get_stats(&h->log, &st);
	out->hints_stored = st.appended;
	out->hints_refused = st.refused;
	out->hints_delivered = st.delivered;
	out->hints_expired = st.expired;
	out->hints_dropped = h->dropped_limit;
	out->hints_corrupt = st.corrupt;
	out->hints_pending = st.pending_records;
	out->hint_bytes_pending = st.pending_bytes;
	struct view_ctx vc = {out, (uint64_t)env_wall_ms()};
	(void)hintlog_targets(&h->log, view_target, &vc);
}
