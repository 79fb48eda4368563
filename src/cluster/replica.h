/*
 * replica.h - a node's local copy of replicated keys.
 *
 * In a cluster every key's stored value is its DVV state (dvv.h,
 * dvv_encode): the sibling values with their dots and the causal context,
 * or a tombstone with its context. These functions are the three things a
 * replica does with that state, each atomic under the key's stripe lock
 * (keyspace.h) and durable as the engine's fsync policy makes writes
 * before they return:
 *
 *   read    the stored state, for a quorum read;
 *   update  a coordinated write: the replica issues the write's dot from
 *           its own state (dvv_update with its replica id), so that its
 *           dots number its writes of the key without gaps - which is why
 *           only a replica of the key may coordinate a write of it;
 *   merge   a state another replica sent (a replicated write, a read
 *           repair, a hint handed back): joined with dvv_sync; written
 *           only when it adds something.
 *
 * With lww the stored state keeps only the last-writer-wins sibling
 * (dvv_resolve_lww), the same choice on every replica.
 *
 * Errors: ERR_PROTO when a stored or received state does not decode (the
 * stored one is reported, never overwritten), ERR_LIMIT past DVV_* limits
 * or the engine's value limit, the engine's errors (disk full, I/O). On
 * error nothing was written.
 */
#ifndef RINGKV_CLUSTER_REPLICA_H
#define RINGKV_CLUSTER_REPLICA_H

#include <stdbool.h>
#include <stdint.h>

#include "base/buf.h"
#include "base/bytes.h"
#include "cluster/dvv.h"
#include "keyspace/keyspace.h"

/* The stored state into out (replaced), *found false when none. */
int replica_read(struct keyspace *ks, struct bytes key, struct buf *out, bool *found);

/* A write coordinated here: value (or a tombstone with DVV_FLAG_TOMBSTONE
 * in flags) over what the client's context ctx saw; ctx NULL: over what
 * this replica holds (a plain SET or DEL overwrites every sibling the
 * coordinator knows). out gets the new encoded state, to send to the
 * other replicas; *was_visible (may be NULL) whether a value was visible
 * before (replica_visible). */
int replica_update(struct keyspace *ks, struct bytes key, const struct dvv_clock *ctx,
                   uint64_t replica, struct bytes value, uint64_t timestamp_ms, uint32_t flags,
                   bool lww, struct buf *out, bool *was_visible);

/* Joins an encoded state into the stored one. *changed: something was
 * written. */
int replica_merge(struct keyspace *ks, struct bytes key, struct bytes state, bool lww,
                  bool *changed);

/* The value a plain GET returns from a state: the LWW winner, NULL (and
 * 0) when the state has no live sibling (absent or a tombstone). */
const struct dvv_sibling *replica_visible(const struct dvv *d);

#endif
