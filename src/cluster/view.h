/*
 * view.h - what the cluster shows the rest of the node (CLUSTER STATUS,
 * INFO cluster, /metrics): plain data, filled by the I/O shell
 * (net/cluster.c) and read by the commands (cmd/cmd_cluster.c).
 */
#ifndef RINGKV_CLUSTER_VIEW_H
#define RINGKV_CLUSTER_VIEW_H

#include <stdbool.h>
#include <stdint.h>

#include "base/bytes.h"
#include "cluster/member.h"

/* What CLUSTER STATUS shows: self first, then every member heard of. */
struct cluster_row {
	char name[MEMBER_NAME_BYTES];
	char addr[MEMBER_ADDR_BYTES];
	char zone[MEMBER_ZONE_BYTES];
	enum member_status status;
	uint64_t incarnation;
	uint32_t partitions; /* owned in the ring */
	bool in_ring;
	/* Hints this node holds for the member (net/cluster_hints.c). */
	uint64_t hints, hint_bytes;
	uint64_t oldest_hint_ms; /* wall-clock creation of the oldest; 0: none */
};

/* Coordinator latency, by operation (enum cluster_op_kind) and quorum
 * (R for reads, W for writes: 1, 2, 3, 4 or more). */
#define CLUSTER_LAT_OPS     8
#define CLUSTER_LAT_QUORUMS 4

struct cluster_latency {
	uint64_t count, sum_ns;
	uint64_t p50_ns, p99_ns, p999_ns;
};

struct cluster_view {
	char cluster_name[MEMBER_NAME_BYTES];
	char self[MEMBER_NAME_BYTES];
	uint64_t ring_version;
	uint32_t partitions;
	size_t count;
	struct cluster_row rows[MEMBERS_MAX + 1];
	/* Failure detector counters. */
	uint64_t pings, acks, indirect_probes, suspicions, refutations, downs;
	uint64_t bytes_in, bytes_out, dropped;
	/* The data path (net/cluster_kv.c, cluster/coord.h). */
	uint64_t requests, forwarded, replica_requests, replica_errors;
	uint64_t quorum_ok, quorum_not_found, quorum_failures, read_repairs, inflight;
	struct cluster_latency latency[CLUSTER_LAT_OPS][CLUSTER_LAT_QUORUMS];
	/* Reads that met more than one live sibling; the most seen in one
	 * read; reads at or past cluster-siblings-warn. */
	uint64_t sibling_reads, siblings_max, sibling_warnings;
	/* Forwarded writes refused because they reached their replica after
	 * their deadline (net/cluster_kv.c, forward_too_late), and replica
	 * messages older than the tombstone grace (merge_too_old). */
	uint64_t late_forwards;
	/* Hinted handoff (net/cluster_hints.c). */
	uint64_t hints_stored, hints_refused, hints_delivered, hints_expired, hints_corrupt;
	uint64_t hints_dropped; /* refused by their owner at the key's sibling limit */
	uint64_t hints_pending, hint_bytes_pending;
	/* Replication lag: age of the oldest hint not yet delivered, ms. */
	uint64_t hint_lag_ms;
	/* Tombstone collection (net/cluster_gc.c): keys examined, tombstones
	 * checked with the other replicas and dropped, replicas that differed
	 * and were repaired, checks that could not pass (a replica down,
	 * silent or different), finished scans of the keyspace; the grace in
	 * force and this replica's dot floor. */
	uint64_t gc_examined, gc_checks, gc_collected, gc_repaired, gc_blocked, gc_passes;
	uint64_t gc_grace_ms, dot_floor;
};

/* A client's keyed request, run by the cluster's coordinator
 * (net/cluster_kv.c). The command layer parks the client and passes a
 * completion that gets the whole RESP reply, from the cluster thread. */
enum cluster_op_kind {
	CLUSTER_OP_GET,    /* GET: the visible value or nil */
	CLUSTER_OP_GETV,   /* GETV: [context, [values...]] */
	CLUSTER_OP_EXISTS, /* EXISTS of one key: :0 or :1 */
	CLUSTER_OP_SET,    /* SET, SETV: +OK */
	CLUSTER_OP_DEL,    /* DEL, DELV of one key: :0 or :1 */
	CLUSTER_OP_INCR,   /* INCR, INCRBY, DECR, DECRBY: the new value, :n (PN-counter) */
	CLUSTER_OP_TTL,    /* TTL, PTTL, EXPIRETIME, PEXPIRETIME (ttl_reply): :n */
	CLUSTER_OP_EXPIRE, /* EXPIRE and its kin, PERSIST (how): :0 or :1 */
};

_Static_assert(CLUSTER_OP_EXPIRE + 1 == CLUSTER_LAT_OPS, "one latency row per operation");

/* What a CLUSTER_OP_TTL replies about the visible value's expiry. */
enum cluster_ttl_reply {
	CLUSTER_TTL_S,     /* TTL: seconds left, rounded */
	CLUSTER_TTL_MS,    /* PTTL */
	CLUSTER_TTL_AT_S,  /* EXPIRETIME: the unix time */
	CLUSTER_TTL_AT_MS, /* PEXPIRETIME */
};

/* EXPIRE's options (Redis 7) and PERSIST, as struct cluster_op's how;
 * the values of replica.h's REPLICA_EXPIRE_* (checked in cluster_kv.c). */
#define CLUSTER_EXPIRE_NX 1u
#define CLUSTER_EXPIRE_XX 2u
#define CLUSTER_EXPIRE_GT 4u
#define CLUSTER_EXPIRE_LT 8u
#define CLUSTER_PERSIST   16u

static inline bool cluster_op_is_read(enum cluster_op_kind k)
{
	return k == CLUSTER_OP_GET || k == CLUSTER_OP_GETV || k == CLUSTER_OP_EXISTS ||
	    k == CLUSTER_OP_TTL;
}

static inline const char *cluster_op_name(enum cluster_op_kind k)
{
	static const char *const names[CLUSTER_LAT_OPS] = {"get", "getv", "exists", "set",
	                                                   "del", "incr", "ttl",    "expire"};
	return (unsigned)k < CLUSTER_LAT_OPS ? names[k] : "?";
}

struct cluster_op {
	enum cluster_op_kind kind;
	struct bytes key, value; /* copied by submit */
	struct bytes context;    /* GETV's opaque context (SETV, DELV); copied */
	int64_t delta;           /* CLUSTER_OP_INCR: what to add (negative: DECR) */
	/* SET: when the new value expires; EXPIRE: the time it sets (absolute
	 * wall-clock ms, >= 1; a time already past deletes). 0: none. */
	uint64_t expire_ms;
	unsigned how;                     /* EXPIRE: CLUSTER_EXPIRE_* bits, CLUSTER_PERSIST */
	enum cluster_ttl_reply ttl_reply; /* TTL */
	bool has_context;                 /* else a write supersedes what its coordinator holds */
	uint8_t n, r, w;                  /* 0: the configured default */
	int8_t sloppy;                    /* -1: configured default; 0 strict; 1 sloppy */
	int resp;                         /* the client's protocol, 2 or 3 */
	void (*done)(void *arg, const void *reply, size_t len);
	void *arg;
};

/* What the command layer may ask of the cluster (struct node's
 * cluster hooks; NULL when the node is not in a cluster). */
struct cluster_hooks {
	void (*view)(void *ctx, struct cluster_view *out);
	uint32_t (*ring_names)(void *ctx, unsigned n, char (*names)[MEMBER_NAME_BYTES], size_t cap,
	                       uint64_t *version);
	int (*join)(void *ctx, const char *addr);
	/* Starts op: 0, and op->done runs exactly once, from any thread; or
	 * an error (done never runs): ERR_LIMIT when too many requests are
	 * queued, ERR_NOMEM. */
	int (*submit)(void *ctx, const struct cluster_op *op);
	/* The key's preference list of n members (names, owner first); the
	 * count, 0 before the ring has members. */
	uint32_t (*key_nodes)(void *ctx, struct bytes key, unsigned n,
	                      char (*names)[MEMBER_NAME_BYTES]);
};

#endif
