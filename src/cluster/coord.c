/*
 * coord.c - the quorum coordinator; see coord.h for the protocol.
 *
 * A request lives in one slot (an index into c->slots) from begin until it
 * is released. Three structures find it:
 *   - the id map, open addressing with linear probing from request id to
 *     slot (load <= 1/2; deletion by backward shift, so no tombstones);
 *   - the deadline heap, a binary min-heap of slots ordered by
 *     (deadline_ms, id), each request knowing its position so that one
 *     that ends early leaves in O(log n);
 *   - the slot table itself, whose free slots form a stack.
 * Invariants (coord_check_invariants): every live request is in all three
 * exactly once; inflight == heap_len == live slots; a request whose done()
 * has not run can still reach its quorum and has not yet; one whose done()
 * ran is a read waiting for its repair (writes and failed reads are
 * released before their done() runs, which also frees their slot for a
 * begin called from that done()).
 *
 * States of a request:
 *   WAITING    (done_called false): answers come in (answer_take); at
 *              the quorum or when it became impossible, req_finish.
 *   REPAIRING  (reads after OK or NOT_FOUND): late answers are merged;
 *              when none is pending or at the deadline, read_repair and
 *              release.
 */
#include "cluster/coord.h"

#include <stdlib.h>
#include <string.h>

#include "base/assert.h"
#include "base/err.h"
#include "base/hash.h"
#include "cluster/ring.h"

/* Message id: request id << 5 | repair bit | target index. */
#define ID_SHIFT       5
#define ID_REPAIR_BIT  16u
#define ID_TARGET_MASK 15u
static_assert(COORD_TARGETS_MAX <= ID_TARGET_MASK + 1, "a target index fits its bits");
static_assert(COORD_TARGETS_MAX <= UINT8_MAX / 2, "answer counts fit a byte");
static_assert(COORD_INFLIGHT_MAX <= UINT32_MAX / 4, "map capacity fits 32 bits");

/* Released requests kept for reuse, so that a steady load allocates no
 * request objects; more than this goes back to the allocator. */
#define REQ_CACHE_MAX 256
/* A repair's encoding buffer is shrunk back to this after a large state. */
#define ENC_KEEP_BYTES (64 * 1024)

enum req_kind { REQ_READ = 1, REQ_WRITE = 2 };
enum answer { ANS_PENDING = 0, ANS_OK, ANS_NOT_FOUND, ANS_FAILED };
enum failure { FAIL_REPLICA, FAIL_LIMIT, FAIL_LOCAL };

struct req_target {
	uint64_t state_hash; /* reads, ANS_OK: hash_bytes of the answer's encoded state */
	uint16_t member;
	uint16_t hint_for;
	uint8_t local;
	uint8_t answer; /* enum answer */
};

struct coord_req {
	uint64_t id, token, deadline_ms, timestamp_ms;
	uint32_t slot, heap_pos;
	uint8_t kind, needed, n, quorum_flags;
	uint8_t target_count; /* entries of t */
	uint8_t total;        /* targets as the result counts them (writes: + acks_already) */
	uint8_t successes;    /* acks or answers */
	uint8_t failures, pending;
	bool limit_failed, local_failed, done_called, has_state;
	struct req_target t[COORD_TARGETS_MAX];
	struct dvv *merged; /* reads: the join of OK answers; kept (empty) while cached */
	uint8_t *key;       /* reads: for the repair */
	size_t key_len;
	struct coord_req *next_free;
};

/* ---- Memory ----------------------------------------------------------------------------- */

static void *mem_alloc(struct coord *c, size_t bytes)
{
	return c->io.alloc ? c->io.alloc(c->io.ctx, bytes) : malloc(bytes);
}

static void mem_free(struct coord *c, void *p, size_t bytes)
{
	if (!p)
		return;
	if (c->io.release)
		c->io.release(c->io.ctx, p, bytes);
	else
		free(p);
}

static void req_destroy(struct coord *c, struct coord_req *req)
{
	if (req->merged) {
		dvv_deinit(req->merged);
		mem_free(c, req->merged, sizeof(*req->merged));
	}
	mem_free(c, req, sizeof(*req));
}

/* ---- Id map ----------------------------------------------------------------------------- */

static uint32_t map_home(const struct coord *c, uint64_t id)
{
	/* Ids are sequential: a multiplicative mix spreads them. */
	return (uint32_t)((id * 0x9E3779B97F4A7C15ull) >> 32) & c->map_mask;
}

static struct coord_req *map_find(const struct coord *c, uint64_t id)
{
	if (id == 0)
		return NULL;
	for (uint32_t i = map_home(c, id);; i = (i + 1) & c->map_mask) {
		if (c->map_ids[i] == 0)
			return NULL;
		if (c->map_ids[i] == id)
			return c->slots[c->map_slots[i]];
	}
}

static void map_put(struct coord *c, uint64_t id, uint32_t slot)
{
	uint32_t i = map_home(c, id);
	while (c->map_ids[i] != 0)
		i = (i + 1) & c->map_mask;
	c->map_ids[i] = id;
	c->map_slots[i] = slot;
}

/* Backward-shift deletion: each later entry of the probe run moves into the
 * hole when its home is not between the hole and itself. */
static void map_del(struct coord *c, uint64_t id)
{
	uint32_t i = map_home(c, id);
	while (c->map_ids[i] != id) {
		ASSERT(c->map_ids[i] != 0);
		i = (i + 1) & c->map_mask;
	}
	for (uint32_t j = (i + 1) & c->map_mask; c->map_ids[j] != 0; j = (j + 1) & c->map_mask) {
		uint32_t home = map_home(c, c->map_ids[j]);
		if (((j - home) & c->map_mask) >= ((j - i) & c->map_mask)) {
			c->map_ids[i] = c->map_ids[j];
			c->map_slots[i] = c->map_slots[j];
			i = j;
		}
	}
	c->map_ids[i] = 0;
}

/* ---- Deadline heap ---------------------------------------------------------------------- */

static bool heap_less(const struct coord *c, uint32_t a, uint32_t b)
{
	const struct coord_req *x = c->slots[c->heap[a]], *y = c->slots[c->heap[b]];
	return x->deadline_ms < y->deadline_ms ||
	    (x->deadline_ms == y->deadline_ms && x->id < y->id);
}

static void heap_swap(struct coord *c, uint32_t a, uint32_t b)
{
	uint32_t t = c->heap[a];
	c->heap[a] = c->heap[b];
	c->heap[b] = t;
	c->slots[c->heap[a]]->heap_pos = a;
	c->slots[c->heap[b]]->heap_pos = b;
}

static void heap_up(struct coord *c, uint32_t i)
{
	while (i > 0 && heap_less(c, i, (i - 1) / 2)) {
		heap_swap(c, i, (i - 1) / 2);
		i = (i - 1) / 2;
	}
}

static void heap_down(struct coord *c, uint32_t i)
{
	for (;;) {
		uint32_t l = 2 * i + 1, r = l + 1, m = i;
		if (l < c->heap_len && heap_less(c, l, m))
			m = l;
		if (r < c->heap_len && heap_less(c, r, m))
			m = r;
		if (m == i)
			return;
		heap_swap(c, i, m);
		i = m;
	}
}

static void heap_remove(struct coord *c, struct coord_req *req)
{
	uint32_t i = req->heap_pos, last = --c->heap_len;
	if (i == last)
		return;
	c->heap[i] = c->heap[last];
	c->slots[c->heap[i]]->heap_pos = i;
	heap_down(c, i);
	heap_up(c, i);
}

/* ---- Init and deinit -------------------------------------------------------------------- */

static void arrays_free(struct coord *c)
{
	uint32_t m = c->inflight_max, cap = c->map_mask + 1;
	mem_free(c, c->slots, m * sizeof(*c->slots));
	mem_free(c, c->free_slots, m * sizeof(*c->free_slots));
	mem_free(c, c->heap, m * sizeof(*c->heap));
	mem_free(c, c->map_ids, cap * sizeof(*c->map_ids));
	mem_free(c, c->map_slots, cap * sizeof(*c->map_slots));
	mem_free(c, c->scratch, sizeof(*c->scratch));
	mem_free(c, c->view, sizeof(*c->view));
}

int coord_init(struct coord *c, const struct coord_io *io, uint32_t inflight_max)
{
	if (!io->send || !io->done || !io->alloc != !io->release || inflight_max == 0 ||
	    inflight_max > COORD_INFLIGHT_MAX)
		return ERR_INVALID;
	memset(c, 0, sizeof(*c));
	c->io = *io;
	c->inflight_max = inflight_max;
	uint32_t cap = 2;
	while (cap < 2 * inflight_max)
		cap *= 2;
	c->map_mask = cap - 1;
	c->slots = mem_alloc(c, inflight_max * sizeof(*c->slots));
	c->free_slots = mem_alloc(c, inflight_max * sizeof(*c->free_slots));
	c->heap = mem_alloc(c, inflight_max * sizeof(*c->heap));
	c->map_ids = mem_alloc(c, cap * sizeof(*c->map_ids));
	c->map_slots = mem_alloc(c, cap * sizeof(*c->map_slots));
	c->scratch = mem_alloc(c, sizeof(*c->scratch));
	c->view = mem_alloc(c, sizeof(*c->view));
	if (!c->slots || !c->free_slots || !c->heap || !c->map_ids || !c->map_slots ||
	    !c->scratch || !c->view) {
		arrays_free(c);
		memset(c, 0, sizeof(*c));
		return ERR_NOMEM;
	}
	memset(c->slots, 0, inflight_max * sizeof(*c->slots));
	memset(c->map_ids, 0, cap * sizeof(*c->map_ids));
	/* Slot 0 on top of the stack: tests see small slot numbers first. */
	for (uint32_t i = 0; i < inflight_max; i++)
		c->free_slots[i] = inflight_max - 1 - i;
	c->free_count = inflight_max;
	dvv_init(c->view);
	buf_init(&c->enc);
	c->next_id = 1;
	return 0;
}

/* ---- Request lifecycle ------------------------------------------------------------------ */

static struct coord_req *req_get(struct coord *c)
{
	struct coord_req *req = c->cache;
	struct dvv *merged = NULL;
	if (req) {
		c->cache = req->next_free;
		c->cache_count--;
		merged = req->merged; /* empty: deinit at release */
	} else {
		req = mem_alloc(c, sizeof(*req));
		if (!req)
			return NULL;
	}
	memset(req, 0, sizeof(*req));
	req->merged = merged;
	return req;
}

static void req_put(struct coord *c, struct coord_req *req)
{
	if (c->cache_count >= REQ_CACHE_MAX) {
		req_destroy(c, req);
		return;
	}
	req->next_free = c->cache;
	c->cache = req;
	c->cache_count++;
}

/* Takes the request out of every structure and gives its memory back. */
static void req_release(struct coord *c, struct coord_req *req)
{
	map_del(c, req->id);
	heap_remove(c, req);
	c->slots[req->slot] = NULL;
	c->free_slots[c->free_count++] = req->slot;
	c->inflight--;
	mem_free(c, req->key, req->key_len);
	req->key = NULL;
	if (req->merged)
		dvv_deinit(req->merged);
	req_put(c, req);
}

/* Allocates and registers a request: ERR_LIMIT, ERR_NOMEM with nothing
 * changed. A non-empty key is copied. */
static int req_start(struct coord *c, uint64_t deadline_ms, uint64_t token, struct bytes key,
                     struct coord_req **out)
{
	if (c->inflight >= c->inflight_max) {
		c->stats.rejected++;
		return ERR_LIMIT;
	}
	struct coord_req *req = req_get(c);
	if (!req)
		return ERR_NOMEM;
	if (key.len > 0) {
		req->key = mem_alloc(c, key.len);
		if (!req->key) {
			req_put(c, req);
			return ERR_NOMEM;
		}
		memcpy(req->key, key.ptr, key.len);
		req->key_len = key.len;
	}
	req->id = c->next_id++;
	req->token = token;
	req->deadline_ms = deadline_ms;
	req->slot = c->free_slots[--c->free_count];
	c->slots[req->slot] = req;
	map_put(c, req->id, req->slot);
	req->heap_pos = c->heap_len;
	c->heap[c->heap_len++] = req->slot;
	heap_up(c, req->heap_pos);
	c->inflight++;
	*out = req;
	return 0;
}

static bool targets_valid(const struct coord_target *t, uint32_t count, bool local_ok)
{
	if (count > COORD_TARGETS_MAX || (count > 0 && !t))
		return false;
	uint32_t locals = 0;
	for (uint32_t i = 0; i < count; i++) {
		if (t[i].member == RING_MEMBER_NONE || (t[i].local && !local_ok))
			return false;
		locals += t[i].local;
		for (uint32_t j = 0; j < i; j++)
			if (t[j].member == t[i].member)
				return false;
	}
	return locals <= 1;
}

static void req_set_targets(struct coord_req *req, const struct coord_target *t, uint32_t count)
{
	for (uint32_t i = 0; i < count; i++) {
		req->t[i].member = t[i].member;
		req->t[i].hint_for = t[i].hint_for;
		req->t[i].local = t[i].local;
		req->t[i].answer = ANS_PENDING;
	}
	req->target_count = (uint8_t)count;
	req->pending = (uint8_t)count;
}

static uint64_t msg_id(const struct coord_req *req, uint32_t idx, bool repair)
{
	return req->id << ID_SHIFT | (repair ? ID_REPAIR_BIT : 0) | idx;
}

/* ---- Completion ------------------------------------------------------------------------- */

static void count_status(struct coord *c, enum coord_status s)
{
	switch (s) {
	case COORD_OK:
		c->stats.ok++;
		break;
	case COORD_NOT_FOUND:
		c->stats.not_found++;
		break;
	case COORD_NOQUORUM:
		c->stats.noquorum++;
		break;
	case COORD_LIMIT:
		c->stats.limit++;
		break;
	case COORD_ERROR:
		c->stats.errors++;
		break;
	case COORD_SHUTDOWN:
		c->stats.shutdown++;
		break;
	default:
		ASSERT(!"unknown status");
	}
}

/* Why a quorum became impossible: a replica's LIMIT is the client's
 * problem (too many siblings), our memory is ours, else not enough
 * replicas answered. */
static enum coord_status impossible_status(const struct coord_req *req)
{
	if (req->limit_failed)
		return COORD_LIMIT;
	return req->local_failed ? COORD_ERROR : COORD_NOQUORUM;
}

/* The state a successful read returns: the join, or for LWW a view of its
 * clock with only the winner (its value borrowed, so never deinit). */
static const struct dvv *read_result_state(struct coord *c, const struct coord_req *req)
{
	if (!req->has_state)
		return NULL;
	if (!(req->quorum_flags & WIRE_QUORUM_LWW))
		return req->merged;
	/* What LWW keeps: the winner, or a counter winner with its lineage
	 * (dvv_lww_kept), borrowed from the merged state. */
	uint32_t idx[DVV_SIBLINGS_MAX];
	uint32_t n = dvv_lww_kept(req->merged, idx);
	c->view->clock = req->merged->clock;
	for (uint32_t k = 0; k < n; k++)
		c->view->siblings[k] = req->merged->siblings[idx[k]];
	c->view->sibling_count = n;
	return c->view;
}

static void read_repair(struct coord *c, struct coord_req *req);

/* Runs the request's done() (exactly once). Writes and failed reads are
 * released first, so their slot is free for a begin called from done();
 * a successful read stays for its repair, which runs now if every target
 * has already answered. */
static void req_finish(struct coord *c, struct coord_req *req, enum coord_status status)
{
	ASSERT(!req->done_called);
	struct coord_result res = {.status = status,
	                           .answers = req->successes,
	                           .needed = req->needed,
	                           .targets = req->total,
	                           .state = NULL};
	uint64_t token = req->token;
	count_status(c, status);
	req->done_called = true;
	bool keep = req->kind == REQ_READ && (status == COORD_OK || status == COORD_NOT_FOUND);
	if (!keep) {
		req_release(c, req);
		c->io.done(c->io.ctx, token, &res);
		return;
	}
	res.state = read_result_state(c, req);
	ASSERT((status == COORD_OK) == (res.state != NULL));
	c->io.done(c->io.ctx, token, &res);
	if (req->pending == 0) {
		read_repair(c, req);
		req_release(c, req);
	}
}

/* After any change of a request's answers: finish or release it when its
 * time has come. */
static void req_evaluate(struct coord *c, struct coord_req *req)
{
	if (req->done_called) {
		if (req->pending == 0) {
			read_repair(c, req);
			req_release(c, req);
		}
		return;
	}
	if (req->successes >= req->needed)
		req_finish(c, req,
		           req->kind == REQ_READ && !req->has_state ? COORD_NOT_FOUND : COORD_OK);
	else if (req->successes + req->pending < req->needed)
		req_finish(c, req, impossible_status(req));
}

/* ---- Answers ---------------------------------------------------------------------------- */

static void target_fail(struct coord *c, struct coord_req *req, uint32_t idx, enum failure f)
{
	ASSERT(req->t[idx].answer == ANS_PENDING);
	req->t[idx].answer = ANS_FAILED;
	req->pending--;
	req->failures++;
	req->limit_failed |= f == FAIL_LIMIT;
	req->local_failed |= f == FAIL_LOCAL;
	c->stats.failed_answers++;
}

static void target_succeed(struct coord_req *req, uint32_t idx, enum answer a)
{
	ASSERT(req->t[idx].answer == ANS_PENDING);
	req->t[idx].answer = (uint8_t)a;
	req->pending--;
	req->successes++;
}

static enum failure status_failure(uint16_t status)
{
	return status == WIRE_STATUS_LIMIT ? FAIL_LIMIT : FAIL_REPLICA;
}

/* An OK read answer: decode its state and join it into the request's. */
static void read_answer_ok(struct coord *c, struct coord_req *req, uint32_t idx,
                           struct bytes version)
{
	int rc = dvv_decode(c->scratch, version.ptr, version.len);
	if (rc) {
		if (rc != ERR_NOMEM)
			c->stats.corrupt_versions++;
		target_fail(c, req, idx, rc == ERR_NOMEM ? FAIL_LOCAL : FAIL_REPLICA);
		return;
	}
	if (!req->merged) {
		req->merged = mem_alloc(c, sizeof(*req->merged));
		if (!req->merged) {
			dvv_deinit(c->scratch);
			target_fail(c, req, idx, FAIL_LOCAL);
			return;
		}
		dvv_init(req->merged);
	}
	rc = dvv_sync(req->merged, c->scratch);
	dvv_deinit(c->scratch);
	if (rc) {
		target_fail(c, req, idx, rc == ERR_LIMIT ? FAIL_LIMIT : FAIL_LOCAL);
		return;
	}
	/* The encoding is canonical (dvv.h), so equal hashes mean equal states
	 * but for a 2^-64 chance, which costs one skipped repair. */
	req->t[idx].state_hash = hash_bytes(version.ptr, version.len);
	req->has_state = true;
	target_succeed(req, idx, ANS_OK);
}

static void answer_take(struct coord *c, struct coord_req *req, uint32_t idx,
                        const struct wire_replica_resp *resp)
{
	if (req->t[idx].answer != ANS_PENDING) {
		c->stats.ignored_responses++; /* a duplicate */
		return;
	}
	if (req->done_called)
		c->stats.late_responses++;
	if (req->kind == REQ_WRITE) {
		if (resp->status == WIRE_STATUS_OK)
			target_succeed(req, idx, ANS_OK);
		else
			target_fail(c, req, idx, status_failure(resp->status));
	} else if (resp->status == WIRE_STATUS_OK) {
		read_answer_ok(c, req, idx, resp->version);
	} else if (resp->status == WIRE_STATUS_NOT_FOUND) {
		target_succeed(req, idx, ANS_NOT_FOUND);
	} else {
		target_fail(c, req, idx, status_failure(resp->status));
	}
	req_evaluate(c, req);
}

/* A response to a request that is gone: late when the id was once issued. */
static void count_unmatched(struct coord *c, uint64_t id)
{
	if (id != 0 && id < c->next_id)
		c->stats.late_responses++;
	else
		c->stats.ignored_responses++;
}

static void debug_check(const struct coord *c)
{
#ifdef RINGKV_DEBUG
	coord_check_invariants(c);
#else
	(void)c;
#endif
}

void coord_on_resp(struct coord *c, uint16_t member, uint64_t msg_id_in,
                   const struct wire_replica_resp *resp, uint64_t now_ms)
{
	(void)now_ms;
	uint64_t id = msg_id_in >> ID_SHIFT;
	uint32_t idx = (uint32_t)(msg_id_in & ID_TARGET_MASK);
	if (msg_id_in & ID_REPAIR_BIT) {
		c->stats.ignored_responses++; /* repairs are fire-and-forget */
		return;
	}
	struct coord_req *req = map_find(c, id);
	if (!req) {
		count_unmatched(c, id);
		return;
	}
	if (idx >= req->target_count || req->t[idx].member != member || req->t[idx].local) {
		c->stats.ignored_responses++;
		return;
	}
	answer_take(c, req, idx, resp);
	debug_check(c);
}

void coord_on_local_resp(struct coord *c, uint64_t req_id, const struct wire_replica_resp *resp,
                         uint64_t now_ms)
{
	(void)now_ms;
	struct coord_req *req = map_find(c, req_id);
	if (!req) {
		count_unmatched(c, req_id);
		return;
	}
	for (uint32_t i = 0; i < req->target_count; i++)
		if (req->t[i].local && req->kind == REQ_READ) {
			answer_take(c, req, i, resp);
			debug_check(c);
			return;
		}
	c->stats.ignored_responses++;
}

/* ---- Read repair ------------------------------------------------------------------------ */

/* Sends the join of every answer to each target that answered something
 * else (NOT_FOUND included). The join, not the LWW view: a replica that
 * syncs it ends where anti-entropy would take it, whatever its key space
 * does with siblings. A failure to encode or send only skips repairs. */
static void read_repair(struct coord *c, struct coord_req *req)
{
	if (!req->has_state)
		return;
	c->enc.len = 0;
	if (dvv_encode(req->merged, &c->enc, SIZE_MAX) != 0)
		return;
	uint64_t h = hash_bytes(c->enc.data, c->enc.len);
	struct wire_replica_req q = {.key = bytes_make(req->key, req->key_len),
	                             .value = bytes_make(NULL, 0),
	                             .version = bytes_make(c->enc.data, c->enc.len),
	                             .timestamp_ms = req->timestamp_ms,
	                             .n = req->n,
	                             .quorum_flags = req->quorum_flags};
	for (uint32_t i = 0; i < req->target_count; i++) {
		const struct req_target *t = &req->t[i];
		bool stale =
		    t->answer == ANS_NOT_FOUND || (t->answer == ANS_OK && t->state_hash != h);
		if (!stale)
			continue;
		q.hint_for = t->hint_for;
		if (c->io.send(c->io.ctx, t->member, WIRE_PUT_REQ, msg_id(req, i, true), &q,
		               true) == 0)
			c->stats.read_repairs++;
	}
	c->enc.len = 0;
	buf_shrink(&c->enc, ENC_KEEP_BYTES);
}

/* ---- Begin ------------------------------------------------------------------------------ */

int coord_read_begin(struct coord *c, const struct coord_read *r, uint64_t now_ms, uint64_t *req_id)
{
	(void)now_ms;
	if (c->closing || r->r == 0 || r->r > RING_REPLICAS_MAX || r->n > RING_REPLICAS_MAX ||
	    r->key.len > KEY_BYTES_MAX || (r->key.len > 0 && !r->key.ptr) ||
	    !targets_valid(r->targets, r->target_count, true))
		return ERR_INVALID;
	struct coord_req *req;
	int rc = req_start(c, r->deadline_ms, r->token, r->key, &req);
	if (rc)
		return rc;
	c->stats.reads++;
	req->kind = REQ_READ;
	req->needed = r->r;
	req->n = r->n;
	req->quorum_flags = r->lww ? WIRE_QUORUM_LWW : 0;
	req->timestamp_ms = r->timestamp_ms;
	req->total = (uint8_t)r->target_count;
	req_set_targets(req, r->targets, r->target_count);
	if (req_id)
		*req_id = req->id;
	if (req->needed > req->pending) {
		/* Nothing to gain from asking anyone. */
		req_finish(c, req, COORD_NOQUORUM);
		debug_check(c);
		return 0;
	}
	struct wire_replica_req q = {.key = r->key,
	                             .timestamp_ms = r->timestamp_ms,
	                             .n = r->n,
	                             .r = r->r,
	                             .quorum_flags = req->quorum_flags};
	for (uint32_t i = 0; i < req->target_count; i++) {
		if (req->t[i].local)
			continue;
		q.hint_for = req->t[i].hint_for;
		if (c->io.send(c->io.ctx, req->t[i].member, WIRE_GET_REQ, msg_id(req, i, false), &q,
		               false) != 0)
			target_fail(c, req, i, FAIL_REPLICA);
	}
	req_evaluate(c, req);
	debug_check(c);
	return 0;
}

static bool write_valid(const struct coord *c, const struct coord_write *w)
{
	return !c->closing && w->w > 0 && w->w <= RING_REPLICAS_MAX && w->n <= RING_REPLICAS_MAX &&
	    w->acks_already <= RING_REPLICAS_MAX && w->key.len <= KEY_BYTES_MAX &&
	    (w->key.len == 0 || w->key.ptr) && (w->state.len == 0 || w->state.ptr) &&
	    w->state.len <= UINT32_MAX && targets_valid(w->targets, w->target_count, false);
}

int coord_write_begin(struct coord *c, const struct coord_write *w, uint64_t now_ms,
                      uint64_t *req_id)
{
	(void)now_ms;
	if (!write_valid(c, w))
		return ERR_INVALID;
	struct coord_req *req;
	/* Writes send everything now, so they keep no key. */
	int rc = req_start(c, w->deadline_ms, w->token, bytes_make(NULL, 0), &req);
	if (rc)
		return rc;
	c->stats.writes++;
	req->kind = REQ_WRITE;
	req->needed = w->w;
	req->n = w->n;
	req->quorum_flags = (w->lww ? WIRE_QUORUM_LWW : 0) | (w->sloppy ? WIRE_QUORUM_SLOPPY : 0);
	req->timestamp_ms = w->timestamp_ms;
	req->total = (uint8_t)(w->target_count + w->acks_already);
	req->successes = (uint8_t)w->acks_already;
	req_set_targets(req, w->targets, w->target_count);
	if (req_id)
		*req_id = req->id;
	/* Sent even when W is already met or out of reach: the local replica
	 * holds the write either way, and the others converge sooner. */
	struct wire_replica_req q = {.key = w->key,
	                             .version = w->state,
	                             .timestamp_ms = w->timestamp_ms,
	                             .n = w->n,
	                             .w = w->w,
	                             .quorum_flags = req->quorum_flags};
	for (uint32_t i = 0; i < req->target_count; i++) {
		q.hint_for = req->t[i].hint_for;
		if (c->io.send(c->io.ctx, req->t[i].member, WIRE_PUT_REQ, msg_id(req, i, false), &q,
		               false) != 0)
			target_fail(c, req, i, FAIL_REPLICA);
	}
	req_evaluate(c, req);
	debug_check(c);
	return 0;
}

/* ---- Time, cancel, shutdown ------------------------------------------------------------- */

void coord_tick(struct coord *c, uint64_t now_ms)
{
	while (c->heap_len > 0) {
		struct coord_req *req = c->slots[c->heap[0]];
		if (req->deadline_ms > now_ms)
			break;
		if (req->done_called) {
			read_repair(c, req);
			req_release(c, req);
		} else {
			req_finish(c, req, COORD_NOQUORUM);
		}
	}
	debug_check(c);
}

uint64_t coord_next_deadline(const struct coord *c)
{
	return c->heap_len > 0 ? c->slots[c->heap[0]]->deadline_ms : UINT64_MAX;
}

int coord_cancel(struct coord *c, uint64_t req_id)
{
	struct coord_req *req = map_find(c, req_id);
	if (!req || req->done_called)
		return ERR_NOT_FOUND;
	req_release(c, req);
	return 0;
}

void coord_deinit(struct coord *c)
{
	c->closing = true;
	while (c->heap_len > 0) {
		struct coord_req *req = c->slots[c->heap[0]];
		if (req->done_called)
			req_release(c, req); /* only its repair was left */
		else
			req_finish(c, req, COORD_SHUTDOWN);
	}
	while (c->cache) {
		struct coord_req *req = c->cache;
		c->cache = req->next_free;
		req_destroy(c, req);
	}
	buf_deinit(&c->enc);
	arrays_free(c);
	memset(c, 0, sizeof(*c));
}

/* ---- Introspection ---------------------------------------------------------------------- */

void coord_get_stats(const struct coord *c, struct coord_stats *out)
{
	*out = c->stats;
	out->inflight = c->inflight;
}

const char *coord_status_name(enum coord_status s)
{
	static const char *const names[COORD_STATUS_COUNT] = {"ok",    "not_found", "noquorum",
	                                                      "limit", "error",     "shutdown"};
	return (unsigned)s < COORD_STATUS_COUNT ? names[s] : "unknown";
}

static void check_req(const struct coord *c, const struct coord_req *req, uint32_t pos)
{
	ASSERT(req->heap_pos == pos && c->slots[req->slot] == req);
	ASSERT(map_find(c, req->id) == req);
	ASSERT(req->id < c->next_id);
	if (pos > 0)
		ASSERT(!heap_less(c, pos, (pos - 1) / 2));
	uint32_t pending = 0, failures = 0, ok = 0;
	for (uint32_t i = 0; i < req->target_count; i++) {
		pending += req->t[i].answer == ANS_PENDING;
		failures += req->t[i].answer == ANS_FAILED;
		ok += req->t[i].answer == ANS_OK || req->t[i].answer == ANS_NOT_FOUND;
	}
	ASSERT(pending == req->pending && failures == req->failures);
	ASSERT(req->successes == ok + (req->total - req->target_count));
	if (req->done_called) {
		ASSERT(req->kind == REQ_READ); /* a read waiting for its repair */
	} else {
		ASSERT(req->successes < req->needed);
		ASSERT(req->successes + req->pending >= req->needed);
	}
	ASSERT(!req->has_state || req->merged);
}

void coord_check_invariants(const struct coord *c)
{
	ASSERT(c->inflight == c->heap_len);
	ASSERT(c->inflight + c->free_count == c->inflight_max);
	ASSERT(c->cache_count <= REQ_CACHE_MAX);
	for (uint32_t i = 0; i < c->heap_len; i++)
		check_req(c, c->slots[c->heap[i]], i);
}
