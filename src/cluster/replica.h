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
 *   incr    a coordinated INCR/DECR: the key as a PN-counter, so that
 *           concurrent increments through different replicas all count.
 *   expire  a coordinated EXPIRE or PERSIST: the visible value written
 *           again with its new expiry, on this replica's own state.
 *
 * TTLs. A sibling may expire (dvv.h, DVV_FLAG_EXPIRES). A key shows its
 * LWW winner unless that is a tombstone or has expired at now
 * (replica_live_index): an expired value is deleted, and the state stays,
 * like a tombstone's, until collected. The keyspace's own expiry is never
 * used for a state.
 *
 * Counters. An INCR writes a counter sibling (DVV_FLAG_COUNTER) holding
 * the whole counter as this replica knows it, with a context of
 * everything the replica holds, so it supersedes every sibling there.
 * Two replicas incrementing concurrently leave two counter siblings of
 * one lineage (dvv.h, struct dvv_counter); a read merges them pointwise,
 * and the next INCR merges them into one. What a key shows follows its
 * LWW winner (replica_value): a register shows its bytes; a counter shows
 * the merge of every counter sibling of its lineage. An INCR where no
 * counter is visible starts one from the visible register's integer (0
 * over nothing or a tombstone), in the lineage of that register, so
 * replicas that increment the same value concurrently still build one
 * counter. A SET or DEL after an INCR supersedes the counter like any
 * value. A SET concurrent with INCRs is settled by LWW between the
 * register (or the counter counting from it) and the counter: the
 * loser's writes are lost, as with two concurrent SETs. Concurrent INCRs
 * from one value never lose one.
 *
 * With lww the stored state keeps only what LWW keeps (dvv_resolve_lww):
 * the winner, and a counter winner's whole lineage, the same choice on
 * every replica.
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

/* The replica this node is: its DVV replica id, and the floor its writes'
 * dots are numbered above (dvv_update_above; raised by replica_drop_if). */
struct replica_self {
	uint64_t id;
	uint64_t floor;
};

/* The stored state into out (replaced), *found false when none. */
int replica_read(struct keyspace *ks, struct bytes key, struct buf *out, bool *found);

/* A write coordinated here: value (or a tombstone with DVV_FLAG_TOMBSTONE
 * in flags) over what the client's context ctx saw; ctx NULL: over what
 * this replica holds (a plain SET or DEL overwrites every sibling the
 * coordinator knows). out gets the new encoded state, to send to the
 * other replicas; *was_visible (may be NULL) whether a value was visible
 * before (replica_visible). */
int replica_update(struct keyspace *ks, struct bytes key, const struct dvv_clock *ctx,
                   struct replica_self self, struct bytes value, uint64_t timestamp_ms,
                   uint32_t flags, bool lww, struct buf *out, bool *was_visible);

/* replica_update whose value expires at expire_ms (absolute wall ms; 0:
 * never): SET ... EX and its kin. timestamp_ms is also the now against
 * which was_visible judges expiry. */
int replica_update_expiring(struct keyspace *ks, struct bytes key, const struct dvv_clock *ctx,
                            struct replica_self self, struct bytes value, uint64_t timestamp_ms,
                            uint32_t flags, uint64_t expire_ms, bool lww, struct buf *out,
                            bool *was_visible);

/* Joins an encoded state into the stored one. *changed: something was
 * written. */
int replica_merge(struct keyspace *ks, struct bytes key, struct bytes state, bool lww,
                  bool *changed);

/* An INCRBY delta coordinated here (DECRBY d is delta -d; the caller
 * refuses -INT64_MIN). Reads the state, takes the visible counter (the
 * merge of the winner's lineage) or starts one from the visible integer
 * (0 when nothing is visible), adds delta as this replica, and writes the
 * counter as a sibling over everything held. out gets the new encoded
 * state, to send to the other replicas; *new_value the counter's value.
 * ERR_INVALID when the visible value is not a decimal integer in int64
 * (Redis rules, strconv_i64), or a counter past int64: Redis's "ERR value
 * is not an integer or out of range". ERR_RANGE when the result would
 * not fit int64: "ERR increment or decrement would overflow". Otherwise
 * as replica_update. Nothing is written on error. The counter keeps the
 * expiry of the value it counts from (Redis: INCR keeps the TTL); an
 * expired value counts as nothing (timestamp_ms is the now). */
int replica_incr(struct keyspace *ks, struct bytes key, struct replica_self self, int64_t delta,
                 uint64_t timestamp_ms, bool lww, struct buf *out, int64_t *new_value);

/* EXPIRE options (Redis 7) and PERSIST, for replica_expire's how. */
#define REPLICA_EXPIRE_NX 1u
#define REPLICA_EXPIRE_XX 2u
#define REPLICA_EXPIRE_GT 4u
#define REPLICA_EXPIRE_LT 8u
#define REPLICA_PERSIST   16u

/* EXPIRE (and its kin) or PERSIST coordinated here: a read-modify-write
 * of this replica's own state, like replica_incr. Takes the value a GET
 * would show at timestamp_ms (a counter: its decimal value, written back
 * as a register) and writes it again as a new sibling over everything
 * held, expiring at expire_ms (PERSIST: never). A time at or before
 * timestamp_ms writes a tombstone instead, as Redis deletes the key.
 * *applied false, nothing written and out empty, when nothing is visible,
 * when the NX/XX/GT/LT conditions refuse (GT and LT treat no expiry as
 * infinite), or for PERSIST when the value has no expiry. Errors as
 * replica_update. */
int replica_expire(struct keyspace *ks, struct bytes key, struct replica_self self, unsigned how,
                   uint64_t expire_ms, uint64_t timestamp_ms, bool lww, struct buf *out,
                   bool *applied);

/* ---- Tombstone collection ------------------------------------------------
 * A deleted key's state is a tombstone: it must outlive every copy of
 * what it deleted, or a replica that missed the delete (or a hint or
 * repair carrying the old value) would bring the value back. The cluster
 * shell (net/cluster_gc.c) drops a tombstone once it is older than a
 * grace period and every replica of the key holds it or nothing. */

/* Whether d is only tombstones (one, or concurrent deletes) and values
 * expired at now_ms, the newest deleted or expired (the later of its write
 * and its expiry) at least grace_ms before now_ms. */
bool replica_collectable(const struct dvv *d, uint64_t now_ms, uint64_t grace_ms);

/* Reads key's stored state into state and says whether it is
 * collectable; *collectable false for an absent key. ERR_PROTO for a
 * stored state that does not decode. */
int replica_read_collectable(struct keyspace *ks, struct bytes key, uint64_t now_ms,
                             uint64_t grace_ms, struct buf *state, bool *collectable);

/* Drops key's state if its stored encoding is still expect (a write or
 * merge since the check keeps it), first raising *floor to this
 * replica's counter in it. *dropped says whether it was. */
int replica_drop_if(struct keyspace *ks, struct bytes key, struct bytes expect, uint64_t self_id,
                    uint64_t *floor, bool *dropped);

/* The index of the sibling a state shows at now_ms: its LWW winner, or -1
 * when there is none, it is a tombstone, or it has expired. The one place
 * for the rule that an expired value counts as deleted. The LWW choice
 * itself ignores now, so every replica picks the same winner. */
int replica_live_index(const struct dvv *d, uint64_t now_ms);

/* The sibling replica_live_index names, or NULL. A counter winner's value
 * is the counter's encoding: a client gets replica_value instead. */
const struct dvv_sibling *replica_visible(const struct dvv *d, uint64_t now_ms);

/* Room for a counter's value in decimal. */
#define REPLICA_TEXT_BYTES DVV_COUNTER_TEXT_BYTES

/* The value a plain GET returns from a state: the visible register's
 * bytes, or for a counter winner the decimal value of the merge of its
 * lineage, written into text (even past int64). *out views d or text,
 * valid while both are unchanged; *found false (out empty) when nothing
 * is visible. ERR_LIMIT when the merge passes PNCOUNTER_REPLICAS_MAX
 * (only from a forged state); out and found unwritten then. */
int replica_value(const struct dvv *d, uint64_t now_ms, char text[REPLICA_TEXT_BYTES],
                  struct bytes *out, bool *found);

/* One live sibling as GETV shows it: a register's bytes, or a counter
 * sibling's own counter (not merged with its concurrent siblings) in
 * decimal, written into text. The view is valid while s and text are. */
struct bytes replica_sibling_value(const struct dvv_sibling *s, char text[REPLICA_TEXT_BYTES]);

#endif
