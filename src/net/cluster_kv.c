/*
 * cluster_kv.c - the cluster's data path: client requests through the
 * quorum coordinator (cluster/coord.h), and this node's answers to other
 * coordinators' replica requests (cluster/replica.h). docs/cluster.md,
 * "Reads and writes".
 *
 * A client request is queued by a command thread (cluster_submit) and run
 * here on the cluster thread: the key's preference list comes from the
 * ring; a read goes to its N replicas (this node answers for itself
 * directly) and completes at R answers; a write is applied first by a
 * replica - this node when it is one, else the first live replica, to
 * which the whole write is forwarded (a replica must issue the write's
 * dot, replica.h) - and completes at W acknowledgements. The reply, RESP
 * encoded for the client's protocol, goes to the op's completion, which
 * hands it to the parked client's loop.
 *
 * Durability: a replica acknowledges a write after its engine took it as
 * durably as its fsync policy promises (ks_unlock, then the staged WAL
 * records handed to the OS with ks_flush_log, as a loop does before its
 * replies leave).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/err.h"
#include "base/limits.h"
#include "base/strconv.h"
#include "cluster/replica.h"
#include "net/cluster_internal.h"
#include "net/cnet.h"
#include "proto/resp.h"

static_assert(CLUSTER_EXPIRE_NX == REPLICA_EXPIRE_NX && CLUSTER_EXPIRE_XX == REPLICA_EXPIRE_XX &&
                  CLUSTER_EXPIRE_GT == REPLICA_EXPIRE_GT && CLUSTER_EXPIRE_LT == REPLICA_EXPIRE_LT &&
                  CLUSTER_PERSIST == REPLICA_PERSIST,
              "EXPIRE's options mean the same to the command layer and the replica");

/* Client requests queued for the cluster thread; past this submit fails
 * (the client gets an error instead of the node's memory growing). */
#define CKV_JOBS_MAX 65536


struct ckv_job {
	struct ckv_job *next;
	struct cluster_op op; /* key, value and context point into data */
	uint8_t data[];
};

/* A request in flight: where its answer goes. */
struct ckv_pending {
	enum cluster_op_kind kind;
	int resp;
	bool was_visible; /* writes: a value was visible before (DEL's count);
	                     EXPIRE: it took effect */
	enum cluster_ttl_reply ttl_reply; /* TTL: what to reply */
	int64_t value;    /* INCR: the counter's new value */
	bool sloppy;      /* writes: down replicas replaced by fallbacks with hints */
	uint8_t r, w, n;
	uint64_t start_ns; /* for the latency histograms */
	/* A client on this node ... */
	void (*done)(void *arg, const void *reply, size_t len);
	void *arg;
	/* ... or a forwarded write from another coordinator. */
	uint16_t fwd_member;
	uint64_t fwd_id;
	uint8_t fwd_type;
};

/* A write this node forwarded to a replica. */
struct ckv_fwd {
	struct ckv_fwd *next;
	uint64_t id;
	uint16_t member;
	uint64_t deadline_ms;
	struct ckv_pending *p;
};

/* ---- Settings ------------------------------------------------------------ */

static unsigned setting(const struct cluster *c, int key, unsigned asked)
{
	return asked ? asked : (unsigned)config_get(c->cfg, key);
}

static bool lww_mode(const struct cluster *c)
{
	return config_get(c->cfg, CFG_CLUSTER_CONFLICTS) == 1;
}

static uint64_t deadline(const struct cluster *c, uint64_t now_ms)
{
	return now_ms + (uint64_t)config_get(c->cfg, CFG_CLUSTER_TIMEOUT);
}

/* ---- Replies ------------------------------------------------------------- */

static struct hist *latency_of(struct cluster *c, enum cluster_op_kind k, unsigned quorum)
{
	unsigned q = quorum < 1 ? 1 : quorum > CLUSTER_LAT_QUORUMS ? CLUSTER_LAT_QUORUMS : quorum;
	return &c->latency[(size_t)k * CLUSTER_LAT_QUORUMS + (q - 1)];
}

/* Records the request's latency (every outcome counts) and frees p. */
static void pending_end(struct cluster *c, struct ckv_pending *p)
{
	if (c->latency)
		hist_record(latency_of(c, p->kind, cluster_op_is_read(p->kind) ? p->r : p->w),
		            env_mono_ns() - p->start_ns);
	free(p);
}

static void answer(struct cluster *c, uint16_t to, uint8_t type, uint64_t id,
                   const struct wire_replica_resp *s);

/* Sends a forwarded write's outcome back to its coordinator. */
static void answer_forward(struct cluster *c, const struct ckv_pending *p, uint16_t status,
                           struct bytes value)
{
	struct wire_replica_resp s = {.status = status, .from = cluster_self_id(c), .value = value};
	answer(c, p->fwd_member, p->fwd_type, p->fwd_id, &s);
}

/* Hands a client the error reply "-msg" (msg carries its prefix). */
static void complete_error(void (*done)(void *, const void *, size_t), void *arg, const char *msg)
{
	struct resp_out o;
	resp_out_init(&o, 4096);
	resp_w_error(&o, msg);
	done(arg, o.buf.data, o.buf.len);
	resp_out_deinit(&o);
}

/* Completes p with an error reply ("-PREFIX text"), and frees it. */
static void finish_error(struct cluster *c, struct ckv_pending *p, const char *msg)
{
	if (p->done) {
		complete_error(p->done, p->arg, msg);
	} else {
		answer_forward(c, p, WIRE_STATUS_ERROR, bytes_cstr(msg));
	}
	pending_end(c, p);
}

/* Completes a write that reached its quorum, and frees p: +OK for SET, for
 * DEL whether a value was visible; a forwarded write's coordinator gets
 * that as "1" or "0". */
static void finish_write(struct cluster *c, struct ckv_pending *p)
{
	if (!p->done) {
		char num[24];
		if (p->kind == CLUSTER_OP_INCR)
			snprintf(num, sizeof(num), "%lld", (long long)p->value);
		else
			snprintf(num, sizeof(num), "%d", p->was_visible ? 1 : 0);
		answer_forward(c, p, WIRE_STATUS_OK, bytes_cstr(num));
	} else {
		struct resp_out o;
		resp_out_init(&o, 4096);
		if (p->kind == CLUSTER_OP_DEL || p->kind == CLUSTER_OP_EXPIRE)
			resp_w_int(&o, p->was_visible);
		else if (p->kind == CLUSTER_OP_INCR)
			resp_w_int(&o, p->value);
		else
			resp_w_ok(&o);
		p->done(p->arg, o.buf.data, o.buf.len);
		resp_out_deinit(&o);
	}
	pending_end(c, p);
}

/* Whether a GETV shows sibling s at now_ms: a value, not yet expired. */
static bool shown_sibling(const struct dvv_sibling *s, uint64_t now_ms)
{
	return !(s->flags & DVV_FLAG_TOMBSTONE) && !dvv_sibling_expired(s, now_ms);
}

/* TTL and its kin, from the value GET shows at now_ms (Redis: -2 when
 * nothing is visible, -1 without an expiry, seconds rounded to nearest). */
static void write_ttl_reply(struct resp_out *o, enum cluster_ttl_reply how,
                            const struct dvv *state, uint64_t now_ms)
{
	int i = state ? replica_live_index(state, now_ms) : -1;
	if (i < 0) {
		resp_w_int(o, -2);
		return;
	}
	uint64_t at = state->siblings[i].expire_ms;
	if (at == 0) {
		resp_w_int(o, -1);
		return;
	}
	bool absolute = how == CLUSTER_TTL_AT_S || how == CLUSTER_TTL_AT_MS;
	bool ms = how == CLUSTER_TTL_MS || how == CLUSTER_TTL_AT_MS;
	/* at > now_ms: the value is live. */
	int64_t t = (int64_t)(absolute ? at : at - now_ms);
	resp_w_int(o, ms ? t : absolute ? t / 1000 : (t + 500) / 1000);
}

/* The client reply of a read's merged state (NULL: none) at now_ms. */
static void write_read_reply(struct resp_out *o, const struct ckv_pending *p,
                             const struct dvv *state, uint64_t now_ms)
{
	char text[REPLICA_TEXT_BYTES];
	enum cluster_op_kind kind = p->kind;
	if (kind == CLUSTER_OP_TTL) {
		write_ttl_reply(o, p->ttl_reply, state, now_ms);
		return;
	}
	if (kind == CLUSTER_OP_GET || kind == CLUSTER_OP_EXISTS) {
		struct bytes v = bytes_make(NULL, 0);
		bool found = false;
		if (state && replica_value(state, now_ms, text, &v, &found) != 0) {
			resp_w_error(o, "ERR the key's stored version is damaged or over its limits");
			return;
		}
		if (kind == CLUSTER_OP_EXISTS)
			resp_w_int(o, found);
		else if (found)
			resp_w_bulk(o, v.ptr, v.len);
		else
			resp_w_null(o);
		return;
	}
	/* GETV: the context (the state's clock), then every live sibling:
	 * neither deleted nor expired. */
	struct dvv_clock empty;
	dvv_clock_init(&empty);
	struct buf ctx;
	buf_init(&ctx);
	(void)dvv_clock_encode(state ? &state->clock : &empty, &ctx, WIRE_CONTROL_BYTES_MAX);
	resp_w_array(o, 2);
	resp_w_bulk(o, ctx.data, ctx.len);
	buf_deinit(&ctx);
	size_t live = 0;
	for (uint32_t i = 0; state && i < state->sibling_count; i++)
		live += shown_sibling(&state->siblings[i], now_ms);
	resp_w_array(o, live);
	for (uint32_t i = 0; state && i < state->sibling_count; i++) {
		if (!shown_sibling(&state->siblings[i], now_ms))
			continue;
		struct bytes v = replica_sibling_value(&state->siblings[i], text);
		resp_w_bulk(o, v.ptr, v.len);
	}
}

static void noquorum_text(char *buf, size_t cap, const struct ckv_pending *p,
                          const struct coord_result *res, bool read)
{
	snprintf(buf, cap,
	         "NOQUORUM %s needed %u of %u replicas, %u answered in time",
	         read ? "read" : "write", res->needed, p->n, res->answers);
}

/* Sibling statistics of a read's merged state; a key at or past
 * cluster-siblings-warn is logged, at most once a second. */
static void count_siblings(struct cluster *c, const struct dvv *state, uint64_t now_ms)
{
	uint64_t live = 0;
	for (uint32_t i = 0; i < state->sibling_count; i++)
		live += shown_sibling(&state->siblings[i], now_ms);
	if (live < 2)
		return;
	c->kv_stats.sibling_reads++;
	if (live > c->kv_stats.siblings_max)
		c->kv_stats.siblings_max = live;
	if (live < (uint64_t)config_get(c->cfg, CFG_CLUSTER_SIBLINGS_WARN))
		return;
	c->kv_stats.sibling_warnings++;
	uint64_t now = (uint64_t)env_wall_ms();
	if (now - c->sibling_warn_logged_ms < 1000)
		return;
	c->sibling_warn_logged_ms = now;
	LOG_W(c->log, "cluster: a read met %llu siblings of one key (cluster-siblings-warn %lld): "
	              "clients are writing it without its context; resolve with GETV and SETV",
	      (unsigned long long)live, (long long)config_get(c->cfg, CFG_CLUSTER_SIBLINGS_WARN));
}

/* The coordinator finished request token (coord_io.done). */
static void on_coord_done(void *ctx, uint64_t token, const struct coord_result *res)
{
	struct cluster *c = ctx;
	struct ckv_pending *p = (struct ckv_pending *)(uintptr_t)token;
	bool read = cluster_op_is_read(p->kind);
	char msg[160];
	switch (res->status) {
	case COORD_OK:
	case COORD_NOT_FOUND:
		break;
	case COORD_NOQUORUM:
		noquorum_text(msg, sizeof(msg), p, res, read);
		finish_error(c, p, msg);
		return;
	case COORD_LIMIT:
		finish_error(c, p, "ERR a replica refused the write: too many siblings or replicas "
		                   "for this key; resolve them with GETV and SETV");
		return;
	case COORD_SHUTDOWN:
		finish_error(c, p, "ERR the node is shutting down");
		return;
	default:
		finish_error(c, p, "ERR cluster coordinator out of memory");
		return;
	}
	if (!read) {
		finish_write(c, p);
		return;
	}
	uint64_t wall_ms = (uint64_t)env_wall_ms();
	if (res->status == COORD_OK)
		count_siblings(c, res->state, wall_ms);
	struct resp_out o;
	resp_out_init(&o, (size_t)VALUE_BYTES_MAX + 4096);
	o.proto = p->resp;
	write_read_reply(&o, p, res->status == COORD_OK ? res->state : NULL, wall_ms);
	if (o.err) {
		resp_out_deinit(&o);
		finish_error(c, p, "ERR out of memory building the reply");
		return;
	}
	p->done(p->arg, o.buf.data, o.buf.len);
	resp_out_deinit(&o);
	pending_end(c, p);
}

/* ---- Sending ------------------------------------------------------------- */

/* Applies a message meant for this node's own replica (a read repair of
 * the local target). */
static void apply_local(struct cluster *c, const struct wire_replica_req *q)
{
	bool changed;
	if (replica_merge(c->ks, q->key, q->version, lww_mode(c), &changed) == 0)
		(void)ks_flush_log(c->ks);
}

int ckv_send_req(struct cluster *c, uint16_t member, uint8_t type, uint64_t id,
                 const struct wire_replica_req *q)
{
	c->payload.len = 0;
	c->out.len = 0;
	int err = wire_replica_req_encode(&c->payload, WIRE_FRAME_BYTES_DEFAULT, q);
	if (!err)
		err = wire_frame_encode(&c->out, WIRE_FRAME_BYTES_DEFAULT + WIRE_HEADER_BYTES, type, 0,
		                        id, bytes_make(c->payload.data, c->payload.len));
	return err ? err : cluster_send_to(c, member, &c->out);
}

/* coord_io.send */
static int on_coord_send(void *ctx, uint16_t member, uint8_t type, uint64_t msg_id,
                         const struct wire_replica_req *req, bool repair)
{
	struct cluster *c = ctx;
	if (member == cluster_self_id(c)) {
		if (repair)
			apply_local(c, req);
		return 0;
	}
	if (!cluster_member_up(c, member))
		return ERR_IO; /* known down: fail the target now, not at the deadline */
	struct wire_replica_req q = *req;
	q.from = cluster_self_id(c);
	return ckv_send_req(c, member, type, msg_id, &q);
}

/* ---- Life cycle ---------------------------------------------------------- */

int ckv_init(struct cluster *c)
{
	struct coord_io io = {.ctx = c, .send = on_coord_send, .done = on_coord_done};
	env_mutex_init(&c->jobs_mu);
	buf_init(&c->payload);
	buf_init(&c->out);
	c->next_fwd_id = 1;
	c->latency = calloc((size_t)CLUSTER_LAT_OPS * CLUSTER_LAT_QUORUMS, sizeof(*c->latency));
	if (!c->latency)
		return ERR_NOMEM;
	for (size_t i = 0; i < (size_t)CLUSTER_LAT_OPS * CLUSTER_LAT_QUORUMS; i++)
		hist_init(&c->latency[i]);
	int err = coord_init(&c->coord, &io, COORD_INFLIGHT_MAX);
	c->coord_ready = err == 0;
	return err;
}

void ckv_deinit(struct cluster *c)
{
	if (c->coord_ready) {
		env_mutex_lock(&c->mu);
		coord_deinit(&c->coord);
		while (c->fwds) {
			struct ckv_fwd *f = c->fwds;
			c->fwds = f->next;
			c->fwd_count--;
			finish_error(c, f->p, "ERR the node is shutting down");
			free(f);
		}
		env_mutex_unlock(&c->mu);
		c->coord_ready = false;
	}
	/* Queued requests never started: their clients get an error too. */
	for (struct ckv_job *j = c->jobs_head, *next; j; j = next) {
		next = j->next;
		complete_error(j->op.done, j->op.arg, "ERR the node is shutting down");
		free(j);
	}
	c->jobs_head = c->jobs_tail = NULL;
	hints_deinit(c);
	gc_deinit(c);
	buf_deinit(&c->payload);
	buf_deinit(&c->out);
	env_mutex_deinit(&c->jobs_mu);
	free(c->latency);
	c->latency = NULL;
}

/* ---- Client requests ----------------------------------------------------- */

int cluster_submit(struct cluster *c, const struct cluster_op *op)
{
	size_t n = op->key.len + op->value.len + op->context.len;
	struct ckv_job *j = malloc(sizeof(*j) + n);
	if (!j)
		return ERR_NOMEM;
	j->next = NULL;
	j->op = *op;
	uint8_t *at = j->data;
	struct bytes *parts[] = {&j->op.key, &j->op.value, &j->op.context};
	for (size_t i = 0; i < 3; i++) {
		if (parts[i]->len)
			memcpy(at, parts[i]->ptr, parts[i]->len);
		*parts[i] = bytes_make(at, parts[i]->len);
		at += parts[i]->len;
	}
	env_mutex_lock(&c->jobs_mu);
	if (c->jobs_len >= CKV_JOBS_MAX) {
		env_mutex_unlock(&c->jobs_mu);
		free(j);
		return ERR_LIMIT;
	}
	if (c->jobs_tail)
		c->jobs_tail->next = j;
	else
		c->jobs_head = j;
	c->jobs_tail = j;
	c->jobs_len++;
	env_mutex_unlock(&c->jobs_mu);
	cnet_wake(c->net);
	return 0;
}

/* The key's preference list of n as coordinator targets; the count (0
 * before the ring has members). With sloppy (Dynamo 4.6), each replica
 * known to be down is replaced by the next member up further along the
 * ring that is not a target already: the fallback carries the owner in
 * hint_for and keeps the write as a hint. A down replica with no fallback
 * left stays a target (and fails). */
static uint32_t targets_of(struct cluster *c, struct bytes key, unsigned n, bool sloppy,
                           struct coord_target *t)
{
	if (c->ring.member_count == 0)
		return 0;
	uint16_t ids[RING_REPLICAS_MAX];
	uint32_t want = n;
	if (sloppy) /* room for fallbacks */
		want = c->ring.member_count < RING_REPLICAS_MAX ? c->ring.member_count
		                                                : RING_REPLICAS_MAX;
	uint32_t count =
	    ring_preference_list(&c->ring, ring_partition_of_key(&c->ring, key), want, ids);
	uint32_t primaries = count < n ? count : n, next = primaries;
	uint16_t self = cluster_self_id(c);
	for (uint32_t i = 0; i < primaries; i++) {
		t[i] = (struct coord_target){ids[i], RING_MEMBER_NONE, ids[i] == self};
		if (!sloppy || cluster_member_up(c, ids[i]))
			continue;
		while (next < count && !cluster_member_up(c, ids[next]))
			next++;
		if (next < count) {
			t[i] = (struct coord_target){ids[next], ids[i], ids[next] == self};
			next++;
		}
	}
	return primaries;
}

/* Whether this node is one of the key's own replicas among t. */
static bool is_primary(const struct coord_target *t, uint32_t count)
{
	for (uint32_t i = 0; i < count; i++)
		if (t[i].local && t[i].hint_for == RING_MEMBER_NONE)
			return true;
	return false;
}

static void start_read(struct cluster *c, struct ckv_pending *p, struct bytes key,
                       uint64_t now_ms)
{
	struct coord_target t[RING_REPLICAS_MAX];
	uint32_t count = targets_of(c, key, p->n, false, t);
	if (!count) {
		finish_error(c, p, "CLUSTERDOWN the ring has no members yet");
		return;
	}
	struct coord_read r = {.key = key,
	                       .targets = t,
	                       .target_count = count,
	                       .r = p->r,
	                       .n = p->n,
	                       .lww = lww_mode(c),
	                       .timestamp_ms = (uint64_t)env_wall_ms(),
	                       .deadline_ms = deadline(c, now_ms),
	                       .token = (uint64_t)(uintptr_t)p};
	uint64_t id;
	int err = coord_read_begin(&c->coord, &r, now_ms, &id);
	if (err) {
		finish_error(c, p, err == ERR_LIMIT ? "OVERLOADED too many cluster requests in flight"
		                                    : "ERR cluster read could not start");
		return;
	}
	for (uint32_t i = 0; i < count; i++) {
		if (!t[i].local)
			continue;
		/* This node answers for itself at once. */
		struct buf state;
		buf_init(&state);
		bool found;
		int rerr = replica_read(c->ks, key, &state, &found);
		struct wire_replica_resp s = {
		    .status = rerr ? WIRE_STATUS_ERROR
		                   : found ? WIRE_STATUS_OK : WIRE_STATUS_NOT_FOUND,
		    .version = bytes_make(state.data, state.len)};
		coord_on_local_resp(&c->coord, id, &s, now_ms);
		buf_deinit(&state);
	}
}

/* A write forwarded to the first live replica that can be reached, which
 * coordinates it. One whose frame cannot even be queued (its connection
 * failed a moment ago, or its queue is full) is skipped: nothing went to
 * it, so the next one may take the write. */
static void forward_write(struct cluster *c, struct ckv_pending *p, const struct coord_target *t,
                          uint32_t count, const struct cluster_op *op, uint64_t now_ms)
{
	if (c->fwd_count >= COORD_INFLIGHT_MAX) {
		finish_error(c, p, "OVERLOADED too many cluster requests in flight");
		return;
	}
	struct ckv_fwd *f = malloc(sizeof(*f));
	if (!f) {
		finish_error(c, p, "ERR out of memory");
		return;
	}
	f->id = FWD_ID_BIT | c->next_fwd_id++;
	/* The replica has its own deadline for the quorum; this one only
	 * covers a replica that dies meanwhile. */
	f->deadline_ms = deadline(c, now_ms) + (uint64_t)config_get(c->cfg, CFG_CLUSTER_TIMEOUT);
	f->p = p;
	char delta[24];
	bool incr = op->kind == CLUSTER_OP_INCR, expire = op->kind == CLUSTER_OP_EXPIRE;
	if (expire)
		snprintf(delta, sizeof(delta), "%u", op->how);
	else
		snprintf(delta, sizeof(delta), "%lld", (long long)op->delta);
	struct wire_replica_req q = {.key = op->key,
	                             .value = incr || expire ? bytes_cstr(delta) : op->value,
	                             .version = op->context,
	                             .timestamp_ms = (uint64_t)env_wall_ms(),
	                             .n = p->n,
	                             .r = p->r,
	                             .w = p->w,
	                             .quorum_flags = WIRE_QUORUM_FORWARD |
	                                             (lww_mode(c) ? WIRE_QUORUM_LWW : 0) |
	                                             (p->sloppy ? WIRE_QUORUM_SLOPPY : 0) |
	                                             (op->has_context ? WIRE_QUORUM_CONTEXT : 0) |
	                                             (incr ? WIRE_QUORUM_INCR : 0) |
	                                             (expire ? WIRE_QUORUM_EXPIRE : 0) |
	                                             (op->expire_ms ? WIRE_QUORUM_EXPIRES : 0),
	                             .hint_for = RING_MEMBER_NONE,
	                             .from = cluster_self_id(c),
	                             .expire_ms = op->expire_ms};
	uint8_t type = op->kind == CLUSTER_OP_DEL ? WIRE_DEL_REQ : WIRE_PUT_REQ;
	f->member = RING_MEMBER_NONE;
	uint32_t up = 0;
	for (uint32_t i = 0; i < count && f->member == RING_MEMBER_NONE; i++) {
		if (t[i].hint_for != RING_MEMBER_NONE || !cluster_member_up(c, t[i].member))
			continue;
		up++;
		if (ckv_send_req(c, t[i].member, type, f->id, &q) == 0)
			f->member = t[i].member;
	}
	if (f->member == RING_MEMBER_NONE) {
		free(f);
		char msg[160];
		if (up)
			snprintf(msg, sizeof(msg), "ERR could not reach any of the key's live replicas");
		else
			snprintf(msg, sizeof(msg), "NOQUORUM write needed %u of %u replicas, none is up",
			         p->w, p->n);
		finish_error(c, p, msg);
		return;
	}
	f->next = c->fwds;
	c->fwds = f;
	c->fwd_count++;
	c->kv_stats.forwarded++;
}

/* A write with this node as one of the key's replicas: apply it here,
 * then replicate. ctx NULL: the write supersedes what this replica holds. */
/* The client's text for a failed local write or increment. */
static void local_write_error(char *msg, size_t cap, enum cluster_op_kind kind, int err)
{
	if (err == ERR_LIMIT)
		snprintf(msg, cap, "ERR too many siblings or replicas for this key (limit %d); "
		                   "resolve them with GETV and SETV",
		         DVV_SIBLINGS_WRITE_MAX);
	else if (kind == CLUSTER_OP_INCR && err == ERR_INVALID)
		snprintf(msg, cap, "ERR value is not an integer or out of range");
	else if (kind == CLUSTER_OP_INCR && err == ERR_RANGE)
		snprintf(msg, cap, "ERR increment or decrement would overflow");
	else
		snprintf(msg, cap, "ERR write failed on this replica: %s", err_str(err));
}

/* The write on this node's own replica: state gets the new encoded state. */
static int apply_write(struct cluster *c, struct ckv_pending *p, const struct cluster_op *op,
                       const struct dvv_clock *ctx, uint64_t ts, struct buf *state)
{
	int err;
	if (p->kind == CLUSTER_OP_INCR) {
		err = replica_incr(c->ks, op->key, c->self, op->delta, ts, lww_mode(c), state,
		                   &p->value);
	} else if (p->kind == CLUSTER_OP_EXPIRE) {
		err = replica_expire(c->ks, op->key, c->self, op->how, op->expire_ms, ts, lww_mode(c),
		                     state, &p->was_visible);
	} else {
		uint32_t flags = p->kind == CLUSTER_OP_DEL ? DVV_FLAG_TOMBSTONE : 0;
		uint64_t expire_ms = p->kind == CLUSTER_OP_DEL ? 0 : op->expire_ms;
		err = replica_update_expiring(c->ks, op->key, ctx, c->self, op->value, ts, flags,
		                              expire_ms, lww_mode(c), state, &p->was_visible);
	}
	return err ? err : ks_flush_log(c->ks);
}

static void coordinate_write(struct cluster *c, struct ckv_pending *p, const struct coord_target *t,
                             uint32_t count, const struct cluster_op *op,
                             const struct dvv_clock *ctx, uint64_t now_ms)
{
	struct buf state;
	buf_init(&state);
	uint64_t ts = (uint64_t)env_wall_ms();
	struct bytes key = op->key;
	int err = apply_write(c, p, op, ctx, ts, &state);
	if (err) {
		buf_deinit(&state);
		char msg[160];
		local_write_error(msg, sizeof(msg), p->kind, err);
		finish_error(c, p, msg);
		return;
	}
	if (p->kind == CLUSTER_OP_EXPIRE && !p->was_visible) {
		/* Nothing visible here, or a condition refused: no write (:0). */
		buf_deinit(&state);
		finish_write(c, p);
		return;
	}
	struct coord_target others[RING_REPLICAS_MAX];
	uint32_t n_others = 0;
	for (uint32_t i = 0; i < count; i++)
		if (!t[i].local)
			others[n_others++] = t[i];
	struct coord_write w = {.key = key,
	                        .state = bytes_make(state.data, state.len),
	                        .targets = others,
	                        .target_count = n_others,
	                        .acks_already = 1,
	                        .w = p->w,
	                        .n = p->n,
	                        .lww = lww_mode(c),
	                        .sloppy = p->sloppy,
	                        .timestamp_ms = ts,
	                        .deadline_ms = deadline(c, now_ms),
	                        .token = (uint64_t)(uintptr_t)p};
	err = coord_write_begin(&c->coord, &w, now_ms, NULL);
	buf_deinit(&state);
	if (err)
		finish_error(c, p, err == ERR_LIMIT ? "OVERLOADED too many cluster requests in flight"
		                                    : "ERR cluster write could not start");
}

/* A write from a client here or forwarded by another coordinator. */
static void start_write(struct cluster *c, struct ckv_pending *p, const struct cluster_op *op,
                        uint64_t now_ms)
{
	struct coord_target t[RING_REPLICAS_MAX];
	uint32_t count = targets_of(c, op->key, p->n, p->sloppy, t);
	if (!count) {
		finish_error(c, p, "CLUSTERDOWN the ring has no members yet");
		return;
	}
	if (!is_primary(t, count)) {
		if (!p->done) { /* forwarded to a node that is no replica: rings differ */
			finish_error(c, p, "ERR this node is not a replica of the key (ring changing?)");
			return;
		}
		forward_write(c, p, t, count, op, now_ms);
		return;
	}
	struct dvv_clock ctx;
	if (op->has_context && op->context.len &&
	    dvv_clock_decode(&ctx, op->context.ptr, op->context.len) != 0) {
		finish_error(c, p, "ERR invalid context (pass what GETV returned)");
		return;
	}
	if (op->has_context && !op->context.len)
		dvv_clock_init(&ctx);
	coordinate_write(c, p, t, count, op, op->has_context ? &ctx : NULL, now_ms);
}

static struct ckv_pending *pending_new(struct cluster *c, const struct cluster_op *op)
{
	struct ckv_pending *p = calloc(1, sizeof(*p));
	if (!p)
		return NULL;
	p->kind = op->kind;
	p->resp = op->resp;
	p->done = op->done;
	p->arg = op->arg;
	p->n = (uint8_t)setting(c, CFG_CLUSTER_N, op->n);
	p->r = (uint8_t)setting(c, CFG_CLUSTER_R, op->r);
	p->w = (uint8_t)setting(c, CFG_CLUSTER_W, op->w);
	p->ttl_reply = op->ttl_reply;
	p->start_ns = env_mono_ns();
	p->sloppy = op->sloppy < 0 ? config_get(c->cfg, CFG_CLUSTER_SLOPPY) != 0 : op->sloppy > 0;
	return p;
}

/* Starts a client's request, or a write another coordinator forwarded. */
static void start(struct cluster *c, struct ckv_pending *p, const struct cluster_op *op,
                  uint64_t now_ms)
{
	bool read = cluster_op_is_read(op->kind);
	if (read ? p->r > p->n : p->w > p->n) {
		char msg[96];
		snprintf(msg, sizeof(msg), "ERR %c (%u) must not exceed N (%u)", read ? 'R' : 'W',
		         read ? p->r : p->w, p->n);
		finish_error(c, p, msg);
		return;
	}
	if (!cluster_op_is_read(op->kind))
		start_write(c, p, op, now_ms);
	else
		start_read(c, p, op->key, now_ms);
}

static void run_op(struct cluster *c, const struct cluster_op *op, uint64_t now_ms)
{
	c->kv_stats.requests++;
	struct ckv_pending *p = pending_new(c, op);
	if (!p) {
		complete_error(op->done, op->arg, "ERR out of memory");
		return;
	}
	start(c, p, op, now_ms);
}

void ckv_run_jobs(struct cluster *c, uint64_t now_ms)
{
	env_mutex_lock(&c->jobs_mu);
	struct ckv_job *j = c->jobs_head;
	c->jobs_head = c->jobs_tail = NULL;
	c->jobs_len = 0;
	env_mutex_unlock(&c->jobs_mu);
	while (j) {
		struct ckv_job *next = j->next;
		run_op(c, &j->op, now_ms);
		free(j);
		j = next;
	}
}

void ckv_tick(struct cluster *c, uint64_t now_ms)
{
	coord_tick(&c->coord, now_ms);
	hints_tick(c, now_ms);
	gc_tick(c, now_ms);
	for (struct ckv_fwd **pp = &c->fwds; *pp;) {
		struct ckv_fwd *f = *pp;
		if (f->deadline_ms > now_ms) {
			pp = &f->next;
			continue;
		}
		*pp = f->next;
		c->fwd_count--;
		char msg[160];
		snprintf(msg, sizeof(msg),
		         "NOQUORUM write needed %u of %u replicas; the replica it was forwarded to "
		         "did not answer in time",
		         f->p->w, f->p->n);
		finish_error(c, f->p, msg);
		free(f);
	}
}

/* ---- Frames from other nodes -------------------------------------------- */

/* Sends a replica response (or a forwarded write's outcome) to member to. */
static void answer(struct cluster *c, uint16_t to, uint8_t type, uint64_t id,
                   const struct wire_replica_resp *s)
{
	c->payload.len = 0;
	c->out.len = 0;
	if (wire_replica_resp_encode(&c->payload, WIRE_FRAME_BYTES_DEFAULT, s) == 0 &&
	    wire_frame_encode(&c->out, WIRE_FRAME_BYTES_DEFAULT + WIRE_HEADER_BYTES, type, 0, id,
	                      bytes_make(c->payload.data, c->payload.len)) == 0)
		(void)cluster_send_to(c, to, &c->out);
}

static uint16_t status_of(int err)
{
	if (!err)
		return WIRE_STATUS_OK;
	return err == ERR_LIMIT ? WIRE_STATUS_LIMIT : WIRE_STATUS_ERROR;
}

/* Whether a forwarded write arrived too late to run. Its forwarder tells
 * the client NOQUORUM at twice cluster-timeout after sending it; one that
 * reaches this replica within one timeout of being sent (by the wall
 * clocks of the two nodes) is decided, applied or failed, before that.
 * One that arrives later - held in a paused process's socket, or behind a
 * partition - must not be applied then: it would be a fresh write over
 * writes acknowledged after its client was told it failed, and could
 * bring a deleted key back. */
static bool forward_too_late(const struct cluster *c, const struct wire_replica_req *q)
{
	uint64_t now = (uint64_t)env_wall_ms();
	uint64_t timeout = (uint64_t)config_get(c->cfg, CFG_CLUSTER_TIMEOUT);
	return now > q->timestamp_ms + timeout;
}

/* Whether a replicated state (a write's, a repair's, a hint's) is older
 * than a tombstone may be: merged now it could bring back a value whose
 * tombstone was collected meanwhile (net/cluster_gc.c). Hints are dropped
 * sooner (cluster-hint-max-age, which the grace exceeds), so this only
 * refuses a message held up for longer than that. */
static bool merge_too_old(const struct cluster *c, const struct wire_replica_req *q)
{
	uint64_t now = (uint64_t)env_wall_ms();
	return q->timestamp_ms && now > q->timestamp_ms + gc_grace_ms(c);
}

/* A forwarded write: run it as its coordinator. */
static void on_forward(struct cluster *c, const struct wire_frame *f,
                       const struct wire_replica_req *q, uint64_t now_ms)
{
	bool incr = f->type == WIRE_PUT_REQ && (q->quorum_flags & WIRE_QUORUM_INCR);
	bool expire = f->type == WIRE_PUT_REQ && (q->quorum_flags & WIRE_QUORUM_EXPIRE);
	struct cluster_op op = {.kind = f->type == WIRE_DEL_REQ ? CLUSTER_OP_DEL
	                                : incr             ? CLUSTER_OP_INCR
	                                : expire           ? CLUSTER_OP_EXPIRE
	                                                   : CLUSTER_OP_SET,
	                        .expire_ms = q->expire_ms,
	                        .key = q->key,
	                        .value = q->value,
	                        .context = q->version,
	                        .has_context = (q->quorum_flags & WIRE_QUORUM_CONTEXT) != 0,
	                        .sloppy = (q->quorum_flags & WIRE_QUORUM_SLOPPY) ? 1 : 0,
	                        .n = q->n,
	                        .r = q->r,
	                        .w = q->w};
	if (forward_too_late(c, q)) {
		c->kv_stats.late_forwards++;
		struct wire_replica_resp s = {.status = WIRE_STATUS_ERROR,
		                              .from = cluster_self_id(c),
		                              .value = bytes_cstr("NOQUORUM the write reached its replica "
		                                                  "after its deadline; not applied")};
		answer(c, q->from, f->type + 1, f->request_id, &s);
		return;
	}
	struct ckv_pending *p = NULL;
	int64_t how = 0;
	bool args_ok = incr ? strconv_i64(q->value, &op.delta)
	             : expire
	                 ? strconv_i64(q->value, &how) && how >= 0 && how <= (int64_t)CLUSTER_PERSIST
	                 : true;
	op.how = (unsigned)how;
	if (args_ok)
		p = pending_new(c, &op);
	if (!p) {
		struct wire_replica_resp s = {.status = WIRE_STATUS_ERROR, .from = cluster_self_id(c)};
		answer(c, q->from, f->type + 1, f->request_id, &s);
		return;
	}
	p->done = NULL;
	p->fwd_member = q->from;
	p->fwd_id = f->request_id;
	p->fwd_type = f->type + 1; /* the matching *_RESP */
	start(c, p, &op, now_ms);
}

static void on_replica_req(struct cluster *c, const struct wire_frame *f, uint64_t now_ms)
{
	struct wire_replica_req q;
	if (wire_replica_req_decode(f->payload, &q) != 0) {
		c->kv_stats.replica_errors++;
		return; /* no sender to answer: its request times out */
	}
	c->kv_stats.replica_reqs++;
	if (q.quorum_flags & WIRE_QUORUM_FORWARD) {
		on_forward(c, f, &q, now_ms);
		return;
	}
	struct wire_replica_resp s = {.status = WIRE_STATUS_OK, .from = cluster_self_id(c)};
	struct buf state;
	buf_init(&state);
	if (f->type == WIRE_GET_REQ) {
		bool found;
		int err = replica_read(c->ks, q.key, &state, &found);
		s.status = err ? WIRE_STATUS_ERROR : found ? WIRE_STATUS_OK : WIRE_STATUS_NOT_FOUND;
		s.version = bytes_make(state.data, state.len);
	} else if (q.hint_for != RING_MEMBER_NONE && q.hint_for != cluster_self_id(c)) {
		s.status = hints_store(c, &q);
		if (s.status != WIRE_STATUS_OK)
			c->kv_stats.replica_errors++;
	} else if (merge_too_old(c, &q)) {
		c->kv_stats.late_forwards++;
		s.status = WIRE_STATUS_ERROR;
		s.value = bytes_cstr("ERR the replica message is older than the tombstone grace");
	} else {
		bool changed;
		int err = replica_merge(c->ks, q.key, q.version, (q.quorum_flags & WIRE_QUORUM_LWW) != 0,
		                        &changed);
		if (!err)
			err = ks_flush_log(c->ks);
		s.status = status_of(err);
		if (err)
			c->kv_stats.replica_errors++;
	}
	answer(c, q.from, f->type + 1, f->request_id, &s);
	buf_deinit(&state);
}

/* The answer to a write this node forwarded. */
static void on_forward_resp(struct cluster *c, const struct wire_frame *f,
                            const struct wire_replica_resp *s)
{
	for (struct ckv_fwd **pp = &c->fwds; *pp; pp = &(*pp)->next) {
		struct ckv_fwd *fw = *pp;
		if (fw->id != f->request_id || fw->member != s->from)
			continue;
		*pp = fw->next;
		c->fwd_count--;
		struct ckv_pending *p = fw->p;
		free(fw);
		if (s->status != WIRE_STATUS_OK) {
			char msg[512];
			snprintf(msg, sizeof(msg), "%.*s", (int)s->value.len, (const char *)s->value.ptr);
			finish_error(c, p, *msg ? msg : "ERR the key's replica failed the write");
			return;
		}
		p->was_visible = s->value.len == 1 && s->value.ptr[0] == '1';
		if (p->kind == CLUSTER_OP_INCR && !strconv_i64(s->value, &p->value)) {
			finish_error(c, p, "ERR the key's replica answered an increment without a value");
			return;
		}
		finish_write(c, p);
		return;
	}
}

bool ckv_on_frame(struct cluster *c, const struct wire_frame *f, uint64_t now_ms)
{
	switch (f->type) {
	case WIRE_GET_REQ:
	case WIRE_PUT_REQ:
	case WIRE_DEL_REQ:
		on_replica_req(c, f, now_ms);
		return true;
	case WIRE_GET_RESP:
	case WIRE_PUT_RESP:
	case WIRE_DEL_RESP: {
		struct wire_replica_resp s;
		if (wire_replica_resp_decode(f->payload, &s) != 0)
			return true;
		if (f->request_id & FWD_ID_BIT)
			on_forward_resp(c, f, &s);
		else if (f->request_id & HINT_ID_BIT)
			hints_on_resp(c, f->request_id, &s, now_ms);
		else if (f->request_id & GC_ID_BIT)
			gc_on_resp(c, f->request_id, &s);
		else
			coord_on_resp(&c->coord, s.from, f->request_id, &s, now_ms);
		return true;
	}
	default:
		return false;
	}
}

/* ---- What CLUSTER STATUS and INFO show ----------------------------------- */

void ckv_latency_view(struct cluster *c, struct cluster_view *out)
{
	struct hist_snapshot *snap = malloc(sizeof(*snap));
	if (!snap || !c->latency) {
		free(snap);
		return;
	}
	for (unsigned k = 0; k < CLUSTER_LAT_OPS; k++)
		for (unsigned q = 0; q < CLUSTER_LAT_QUORUMS; q++) {
			hist_snapshot_clear(snap);
			hist_snapshot_add(snap, &c->latency[(size_t)k * CLUSTER_LAT_QUORUMS + q]);
			struct cluster_latency *l = &out->latency[k][q];
			l->count = snap->total;
			l->sum_ns = snap->sum;
			if (!snap->total)
				continue;
			l->p50_ns = hist_percentile(snap, 50.0);
			l->p99_ns = hist_percentile(snap, 99.0);
			l->p999_ns = hist_percentile(snap, 99.9);
		}
	free(snap);
}

void ckv_view(struct cluster *c, struct cluster_view *out)
{
	out->requests = c->kv_stats.requests;
	out->forwarded = c->kv_stats.forwarded;
	out->replica_requests = c->kv_stats.replica_reqs;
	out->replica_errors = c->kv_stats.replica_errors;
	out->sibling_reads = c->kv_stats.sibling_reads;
	out->siblings_max = c->kv_stats.siblings_max;
	out->sibling_warnings = c->kv_stats.sibling_warnings;
	out->late_forwards = c->kv_stats.late_forwards;
	if (c->coord_ready) {
		struct coord_stats cs;
		coord_get_stats(&c->coord, &cs);
		out->quorum_ok = cs.ok;
		out->quorum_not_found = cs.not_found;
		out->quorum_failures = cs.noquorum + cs.limit + cs.errors;
		out->read_repairs = cs.read_repairs;
		out->inflight = cs.inflight + c->fwd_count;
	}
	hints_view(c, out);
	gc_view(c, out);
}
