/*
 * cluster_internal.h - the cluster shell's state, shared by cluster.c
 * (membership, ring) and cluster_kv.c (the data path: coordinator and
 * replica requests).
 */
#ifndef RINGKV_NET_CLUSTER_INTERNAL_H
#define RINGKV_NET_CLUSTER_INTERNAL_H

#include <stdbool.h>
#include <stdint.h>

#include "base/buf.h"
#include "base/config.h"
#include "base/histogram.h"
#include "cluster/coord.h"
#include "cluster/member.h"
#include "cluster/replica.h"
#include "cluster/ring.h"
#include "cluster/view.h"
#include "cluster/wire.h"
#include "env/env.h"
#include "env/log.h"
#include "keyspace/keyspace.h"

struct ckv_job;
struct ckv_fwd;
struct hints;
struct gc;

/* Message ids: a coordinator's own (cluster/coord.h) are below 2^62;
 * writes forwarded to a replica and hints handed back have a bit each. */
#define FWD_ID_BIT  (UINT64_C(1) << 63)
#define HINT_ID_BIT (UINT64_C(1) << 62)
#define GC_ID_BIT   (UINT64_C(1) << 61) /* a tombstone collection's check */

/* Frame types of the shell (cluster/wire.h). */
#define FRAME_MEMBER WIRE_MEMBER /* a membership message (member_codec.h) */
#define FRAME_RING   WIRE_RING   /* a ring (ring.h encoding) */

struct cluster {
	struct config *cfg;
	struct log *log;
	struct cnet *net;
	struct env_mutex mu; /* everything below */
	struct membership m;
	struct ring ring;
	char name[MEMBER_NAME_BYTES];
	char join_addr[MEMBER_ADDR_BYTES];
	bool join_pending;
	/* May claim: it started a new cluster, or has heard a ring; a joining
	 * node adopts the cluster's ring before it ever changes one. */
	bool ring_heard;
	uint64_t ring_sent_version; /* the last ring version pushed to everyone */
	uint64_t join_sent_ms;      /* a join is retried until someone answers */
	struct buf frame;           /* scratch for encoding */
	/* The data path (cluster_kv.c). */
	struct keyspace *ks;
	/* This node's DVV replica id (its data dir's) and dot floor, raised
	 * by tombstone collection (net/cluster_gc.c). */
	struct replica_self self;
	bool coord_ready;
	struct coord coord;
	struct env_mutex jobs_mu; /* guards the job queue, taken by any thread */
	struct ckv_job *jobs_head, *jobs_tail;
	size_t jobs_len;
	struct ckv_fwd *fwds; /* writes forwarded to a replica, awaiting its answer */
	size_t fwd_count;     /* at most COORD_INFLIGHT_MAX */
	uint64_t next_fwd_id;
	struct buf payload; /* scratch for payload encoding */
	struct buf out;     /* scratch for a frame */
	struct {
		uint64_t requests, forwarded, replica_reqs, replica_errors;
		uint64_t sibling_reads, siblings_max, sibling_warnings;
		uint64_t late_forwards; /* forwarded writes refused: past their deadline */
	} kv_stats;
	uint64_t sibling_warn_logged_ms;
	/* Coordinator latency [op][quorum bucket], written by this thread. */
	struct hist *latency;
	struct hints *hints; /* net/cluster_hints.c */
	struct gc *gc;       /* net/cluster_gc.c */
};

/* cluster_kv.c; everything but cluster_submit runs on the cluster thread
 * under mu. */
int ckv_init(struct cluster *c);
void ckv_deinit(struct cluster *c);
/* Runs the queued client requests. */
void ckv_run_jobs(struct cluster *c, uint64_t now_ms);
void ckv_tick(struct cluster *c, uint64_t now_ms);
/* The data path's part of CLUSTER STATUS / INFO cluster; under mu. */
void ckv_view(struct cluster *c, struct cluster_view *out);
/* The latency histograms' part, without mu: they are written by the
 * cluster thread alone and read with relaxed loads (base/histogram.h), so
 * folding 24 of them does not hold up the cluster thread. */
void ckv_latency_view(struct cluster *c, struct cluster_view *out);
/* Handles a data frame (replica request or response); false if the type
 * is not one. */
bool ckv_on_frame(struct cluster *c, const struct wire_frame *f, uint64_t now_ms);
/* Any thread. */
int cluster_submit(struct cluster *c, const struct cluster_op *op);

/* Sends a replica request frame to member. */
int ckv_send_req(struct cluster *c, uint16_t member, uint8_t type, uint64_t id,
                 const struct wire_replica_req *q);

/* cluster_hints.c; the cluster thread, under mu (init: before start). */
int hints_init(struct cluster *c, char *err, size_t err_cap);
void hints_deinit(struct cluster *c);
/* A fallback's write for q->hint_for: kept; the wire status to answer. */
uint16_t hints_store(struct cluster *c, const struct wire_replica_req *q);
void hints_tick(struct cluster *c, uint64_t now_ms);
/* The answer to a hint handed back (msg_id has HINT_ID_BIT). */
void hints_on_resp(struct cluster *c, uint64_t msg_id, const struct wire_replica_resp *s,
                   uint64_t now_ms);
void hints_view(struct cluster *c, struct cluster_view *out);

/* cluster_id.c: this node's replica id for this run (a new one after an
 * unclean exit); the server runs in its data directory. */
int cluster_replica_id_load(struct config *cfg, struct log *log, struct replica_self *out,
                            char *err, size_t err_cap);

/* cluster_gc.c: tombstone collection; the cluster thread, under mu (init:
 * before start). */
int gc_init(struct cluster *c);
void gc_deinit(struct cluster *c);
void gc_tick(struct cluster *c, uint64_t now_ms);
/* The answer to a check (msg_id has GC_ID_BIT). */
void gc_on_resp(struct cluster *c, uint64_t msg_id, const struct wire_replica_resp *s);
void gc_view(struct cluster *c, struct cluster_view *out);
/* How long a tombstone is kept at least, ms: cluster-tombstone-grace, and
 * never less than a hint or a delayed replica message may live. */
uint64_t gc_grace_ms(const struct cluster *c);

/* cluster.c */
/* Ring member id of this node, RING_MEMBER_NONE before it is in the ring. */
uint16_t cluster_self_id(const struct cluster *c);
/* Whether member is believed up (alive or suspect); this node always. */
bool cluster_member_up(const struct cluster *c, uint16_t member);
/* Queues a frame for member; ERR_NOT_FOUND when it has no address. */
int cluster_send_to(struct cluster *c, uint16_t member, const struct buf *frame);

#endif
