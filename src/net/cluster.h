/*
 * cluster.h - the I/O shell of the cluster: drives the membership state
 * machine (cluster/member.h) and the ring (cluster/ring.h) over the
 * cluster network thread (net/cnet.h).
 *
 * A node with an empty cluster-name has no cluster and behaves exactly as
 * a single node. Otherwise it listens for internode traffic on its bind
 * address (one IPv4 address) and cluster-port, and either starts a new
 * cluster of one (no join) or joins through a member's internode address.
 *
 * The ring. Ring changes are made by one member, the claimant: the live
 * member with the smallest name. It adds every live member the ring lacks
 * (the smallest free id, the member's zone and weight) and bumps the ring
 * version; every node sends its ring along with each full membership
 * exchange, and rings merge by version (ring.h), so all converge on the
 * claimant's. Members are not removed from the ring when they go down
 * (a down member's partitions are served by fallbacks, a later issue);
 * leaving and rebalancing come next.
 *
 * Threads: everything runs on the cluster thread under one mutex; the
 * status functions take it briefly from command threads.
 */
#ifndef RINGKV_NET_CLUSTER_H
#define RINGKV_NET_CLUSTER_H

#include <stddef.h>

#include "base/buf.h"
#include "base/config.h"
#include "cluster/member.h"
#include "cluster/replica.h"
#include "cluster/view.h"
#include "env/log.h"
#include "keyspace/keyspace.h"

struct cluster;

/* NULL in *out (and 0) when cluster-name is empty. */
int cluster_create(struct cluster **out, struct config *cfg, struct log *log, char *err,
                   size_t err_cap);
/* Gives the cluster this node's keyspace, to serve and coordinate reads
 * and writes (net/cluster_kv.c); before cluster_start. err says why not. */
int cluster_attach(struct cluster *c, struct keyspace *ks, char *err, size_t err_cap);
int cluster_start(struct cluster *c);
/* Runs a client's keyed request (cluster/view.h); any thread. */
int cluster_submit(struct cluster *c, const struct cluster_op *op);
/* Stops and frees c; self (may be NULL) gets this run's DVV replica id and
 * dot floor (net/cluster_id.c), for cluster_mark_clean. */
void cluster_destroy(struct cluster *c, struct replica_self *self);
/* After a clean shutdown, once the engine has closed: lets the next start
 * keep the replica id and its floor (net/cluster_id.c). */
void cluster_mark_clean(struct config *cfg, struct log *log, struct replica_self self);

/* CLUSTER NODES-OF: the key's preference list (cluster/view.h). */
uint32_t cluster_key_nodes(struct cluster *c, struct bytes key, unsigned n,
                           char (*names)[MEMBER_NAME_BYTES]);
/* CLUSTER JOIN: joins through addr at the next tick. */
int cluster_join(struct cluster *c, const char *addr);

/* A consistent snapshot (heap-sized struct: allocate it). */
void cluster_view(struct cluster *c, struct cluster_view *out);

/* The preference lists of every partition, n names each, into names
 * (partitions x n entries of MEMBER_NAME_BYTES; "" past the members).
 * Returns the partition count, 0 before the ring has members. */
uint32_t cluster_ring_names(struct cluster *c, unsigned n, char (*names)[MEMBER_NAME_BYTES],
                            size_t cap, uint64_t *version);

#endif
