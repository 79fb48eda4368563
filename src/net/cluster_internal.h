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
#include "cluster/coord.h"
#include "cluster/member.h"
#include "cluster/ring.h"
#include "cluster/view.h"
#include "cluster/wire.h"
#include "env/env.h"
#include "env/log.h"
#include "keyspace/keyspace.h"

struct ckv_job;
struct ckv_fwd;

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
	uint64_t replica_id; /* this node's DVV replica id (its data dir's) */
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
	} kv_stats;
};

/* cluster_kv.c; everything but cluster_submit runs on the cluster thread
 * under mu. */
int ckv_init(struct cluster *c);
void ckv_deinit(struct cluster *c);
/* Runs the queued client requests. */
void ckv_run_jobs(struct cluster *c, uint64_t now_ms);
void ckv_tick(struct cluster *c, uint64_t now_ms);
/* Handles a data frame (replica request or response); false if the type
 * is not one. */
bool ckv_on_frame(struct cluster *c, const struct wire_frame *f, uint64_t now_ms);
/* Any thread. */
int cluster_submit(struct cluster *c, const struct cluster_op *op);

/* cluster.c */
/* Ring member id of this node, RING_MEMBER_NONE before it is in the ring. */
uint16_t cluster_self_id(const struct cluster *c);
/* Whether member is believed up (alive or suspect); this node always. */
bool cluster_member_up(const struct cluster *c, uint16_t member);
/* Queues a frame for member; ERR_NOT_FOUND when it has no address. */
int cluster_send_to(struct cluster *c, uint16_t member, const struct buf *frame);

#endif
