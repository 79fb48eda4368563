/*
 * coord.h - the quorum coordinator of replicated reads and writes, as a
 * state machine without I/O (Dynamo, DeCandia et al. 2007, sections 4.5
 * and 4.7; docs/cluster.md, "Coordinator").
 *
 * The node that receives a client request picks the targets (the key's
 * preference list, with fallbacks marked by hint_for under a sloppy
 * quorum) and hands the request here. The coordinator sends one replica
 * message per target through io->send, matches the responses the shell
 * feeds back (coord_on_resp), and calls io->done exactly once per request
 * it accepted: when the quorum is reached, when it can no longer be
 * reached, when the deadline passes (coord_tick), or at coord_deinit.
 * Nothing here reads a clock or a socket; time comes in as now_ms.
 *
 * Writes. The shell has already applied the write to its own replica (the
 * coordinator of a write is one of the key's replicas), which counts as
 * acks_already. Every other target gets a WIRE_PUT_REQ with the new
 * encoded DVV state; an OK answer is an ack. done(OK) at W acks.
 *
 * Reads. Every target gets a WIRE_GET_REQ except the local one, whose
 * answer the shell feeds with coord_on_local_resp. OK (a DVV state) and
 * NOT_FOUND both count as answers; the OK states are joined (dvv_sync).
 * done() at R answers: OK with the join (LWW: what dvv_lww_kept keeps) or
 * NOT_FOUND when no answer had a state.
 *
 * Read repair. A read that completed OK or NOT_FOUND stays until every
 * target has answered or failed, or its deadline passes; then every target
 * whose answer differs from the join of all answers (late ones included),
 * or that answered NOT_FOUND while the join has a state, gets a
 * WIRE_PUT_REQ of the join, sent with repair = true (the local target too:
 * the shell applies that one to its own store). Repairs are not tracked.
 *
 * Failures. ERROR, OVERLOADED, NOT_OWNER and LIMIT answers, a failed send,
 * an OK read answer whose state does not decode or merge, and an OK-less
 * status where one is expected are failures. Once the successes plus the
 * targets still pending cannot reach the quorum, done() runs at once:
 * COORD_LIMIT when a LIMIT was among the failures, COORD_ERROR when the
 * coordinator itself ran out of memory merging, else COORD_NOQUORUM.
 *
 * Message ids. Each outgoing message has its own 64-bit id (the frame's
 * request_id): the request's id (1, 2, ... per instance) times 32, plus a
 * repair bit (16) and the target's index. A response is matched by id and
 * member; unknown ids, non-targets and duplicates are ignored (counted),
 * and answers to a request whose done() ran are late (counted).
 *
 * Bounds: at most inflight_max requests (reads waiting for repair
 * included); more is ERR_LIMIT. Lookup by id is a hash table, deadlines a
 * binary heap, so each call costs O(targets + log inflight).
 *
 * Callbacks. send must not call into the coordinator. done may call
 * coord_read_begin, coord_write_begin, coord_cancel, coord_get_stats and
 * coord_next_deadline, but not the other calls (coord_begin during
 * coord_deinit fails with ERR_INVALID). done may run before the begin
 * call that started its request returns (W met by acks_already, or the
 * quorum impossible from the start).
 *
 * Ownership: struct coord is the caller's (init/deinit) and owns every
 * request. Requests borrow nothing from the caller after begin returns:
 * a read's key is copied. Thread: none; one thread drives an instance.
 */
#ifndef RINGKV_CLUSTER_COORD_H
#define RINGKV_CLUSTER_COORD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/bytes.h"
#include "base/limits.h"
#include "cluster/dvv.h"
#include "cluster/wire.h"

/* Requests one coordinator holds at once. One node coordinates for its
 * clients only, and 64 Ki requests in flight is far past what a node's
 * client connections (each parked on one request) produce; each costs a
 * few hundred bytes plus a read's merged state while it waits. */
#define COORD_INFLIGHT_MAX 65536

/* Targets of one request: a preference list at its longest. */
#define COORD_TARGETS_MAX RING_REPLICAS_MAX

struct coord_target {
	uint16_t member;   /* ring member id, not RING_MEMBER_NONE, unique per request */
	uint16_t hint_for; /* the down owner a fallback stands in for; RING_MEMBER_NONE */
	bool local;        /* reads: this node, answered by coord_on_local_resp */
};

enum coord_status {
	COORD_OK = 0,
	COORD_NOT_FOUND, /* reads: R answers, none with a state */
	COORD_NOQUORUM,  /* deadline passed, or too many failures */
	COORD_LIMIT,     /* quorum impossible and a replica said LIMIT */
	COORD_ERROR,     /* quorum impossible and the coordinator ran out of memory */
	COORD_SHUTDOWN,  /* coord_deinit */
	COORD_STATUS_COUNT
};

struct coord_result {
	enum coord_status status;
	uint32_t answers; /* writes: acks, acks_already included; reads: OK + NOT_FOUND */
	uint32_t needed;  /* W or R */
	uint32_t targets; /* writes: targets + acks_already; reads: targets */
	/* Reads with status OK: the merged state (LWW: its clock and what
	 * dvv_lww_kept keeps), valid during the callback only; NULL otherwise. */
	const struct dvv *state;
};

struct coord_io {
	void *ctx;
	/* Sends one replica message (wire_type WIRE_PUT_REQ or WIRE_GET_REQ;
	 * req and its bytes are valid during the call only). Returns 0, or an
	 * error, which makes the target failed at once (repairs: dropped). */
	int (*send)(void *ctx, uint16_t member, uint8_t wire_type, uint64_t msg_id,
	            const struct wire_replica_req *req, bool repair);
	/* The request with this token finished; see coord_result. */
	void (*done)(void *ctx, uint64_t token, const struct coord_result *res);
	/* Optional (both or neither): the allocator of the coordinator's own
	 * memory, so a test can fail the Nth allocation; NULL: malloc/free.
	 * DVV values are allocated by dvv.c with malloc. */
	void *(*alloc)(void *ctx, size_t bytes);
	void (*release)(void *ctx, void *ptr, size_t bytes);
};

struct coord_read {
	struct bytes key; /* copied; <= KEY_BYTES_MAX */
	const struct coord_target *targets;
	uint32_t target_count; /* <= COORD_TARGETS_MAX, at most one local */
	uint8_t r, n;          /* 1 <= r <= RING_REPLICAS_MAX; n for the wire */
	bool lww;              /* the key space resolves by LWW */
	uint64_t timestamp_ms, deadline_ms, token;
};

struct coord_write {
	struct bytes key;
	struct bytes state;                 /* dvv_encode of the new state after the local update */
	const struct coord_target *targets; /* the other targets; none local */
	uint32_t target_count;              /* <= COORD_TARGETS_MAX */
	uint32_t acks_already;              /* 1: the local write; <= RING_REPLICAS_MAX */
	uint8_t w, n;                       /* 1 <= w <= RING_REPLICAS_MAX */
	bool lww, sloppy;                   /* quorum flags for the wire */
	uint64_t timestamp_ms, deadline_ms, token;
};

struct coord_stats {
	uint64_t reads, writes; /* begun */
	uint64_t rejected;      /* begin refused with ERR_LIMIT */
	uint64_t ok, not_found, noquorum, limit, errors, shutdown; /* done() by status */
	uint64_t failed_answers;    /* answers that did not count, failed sends included */
	uint64_t corrupt_versions;  /* OK read answers whose state did not decode */
	uint64_t read_repairs;      /* repair messages sent */
	uint64_t late_responses;    /* answers after the request's done() */
	uint64_t ignored_responses; /* unknown ids, non-targets, duplicates, repair answers */
	uint64_t inflight;
};

struct coord_req; /* private */

struct coord {
	struct coord_io io;
	uint32_t inflight_max;
	uint32_t inflight;
	struct coord_req **slots; /* inflight_max; NULL when free */
	uint32_t *free_slots;     /* stack of free slot indexes */
	uint32_t free_count;
	uint32_t *heap; /* slot indexes, min-heap by (deadline, id) */
	uint32_t heap_len;
	uint64_t *map_ids; /* open addressing: request id (0 = empty) -> slot */
	uint32_t *map_slots;
	uint32_t map_mask;
	struct coord_req *cache; /* freed requests kept for reuse */
	uint32_t cache_count;
	uint64_t next_id;
	struct dvv *scratch; /* a decoded answer */
	struct dvv *view;    /* an LWW result: borrowed siblings, never deinit */
	struct buf enc;      /* a repair's encoded state */
	bool closing;
	struct coord_stats stats;
};

/* inflight_max: 1..COORD_INFLIGHT_MAX (ERR_INVALID otherwise); send and
 * done are required. ERR_NOMEM with nothing allocated. */
int coord_init(struct coord *c, const struct coord_io *io, uint32_t inflight_max);
/* done(COORD_SHUTDOWN) for every request whose done() has not run, in
 * deadline order; reads waiting for repair are dropped. Frees everything. */
void coord_deinit(struct coord *c);

/* Start a request. Returns 0 (done() will run exactly once, maybe before
 * this returns) and the request id in *req_id when not NULL; or ERR_LIMIT
 * (inflight_max reached), ERR_INVALID (a parameter out of its domain, or
 * during coord_deinit), ERR_NOMEM, with nothing sent, nothing changed and
 * done() never run. R or W above what the targets can give is not an
 * error: done(COORD_NOQUORUM) runs before begin returns. */
int coord_read_begin(struct coord *c, const struct coord_read *r, uint64_t now_ms,
                     uint64_t *req_id);
int coord_write_begin(struct coord *c, const struct coord_write *w, uint64_t now_ms,
                      uint64_t *req_id);

/* A response from member to message msg_id (frame type *_RESP, payload
 * decoded with wire_replica_resp_decode; its bytes are borrowed). */
void coord_on_resp(struct coord *c, uint16_t member, uint64_t msg_id,
                   const struct wire_replica_resp *resp, uint64_t now_ms);
/* The local target's answer to read req_id (as a GET_RESP would carry it). */
void coord_on_local_resp(struct coord *c, uint64_t req_id, const struct wire_replica_resp *resp,
                         uint64_t now_ms);

/* Deadlines: every request with deadline_ms <= now_ms ends (NOQUORUM, or
 * its read repair). Call every ~10 ms, or at coord_next_deadline(). */
void coord_tick(struct coord *c, uint64_t now_ms);
/* The earliest deadline in flight, UINT64_MAX when idle. */
uint64_t coord_next_deadline(const struct coord *c);

/* Drops request req_id without calling its done(). 0 when its done() had
 * not run (and now never will); ERR_NOT_FOUND when no request with that id
 * awaits its quorum (unknown, finished, or only waiting for its read
 * repair, which then goes on). */
int coord_cancel(struct coord *c, uint64_t req_id);

void coord_get_stats(const struct coord *c, struct coord_stats *out);
const char *coord_status_name(enum coord_status s);

/* Asserts the structure's invariants; O(inflight). Tests and RINGKV_DEBUG
 * builds run it after every call. */
void coord_check_invariants(const struct coord *c);

#endif
