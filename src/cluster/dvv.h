/*
 * dvv.h - per-key causality with siblings (dotted version vectors), and a
 * PN-counter for INCR/DECR in a cluster.
 *
 * A key's version (struct dvv) is a causal context, the version vector
 * `clock` of (replica id, counter) that says which writes this state has
 * seen, plus one dot (replica id, counter) per sibling value: the write
 * that made it. Keeping the dot apart from the context is what makes these
 * *dotted* version vectors (Preguica, Baquero, Almeida, Fonte, Goncalves,
 * "Dotted Version Vectors: Logical Clocks for Optimistic Replication",
 * 2010; the "dotted causal container" of Almeida et al., "Scalable and
 * Accurate Causality Tracking for Eventually Consistent Stores", 2014): a
 * write's dot is not folded into a context it did not see, so two writes
 * coordinated by one replica with stale contexts stay siblings instead of
 * the later silently shadowing the earlier (the sibling explosion and
 * false overwrite of per-value version vectors at a server replica id).
 *
 * Invariants (dvv_check_invariants):
 *   - clock entries are sorted by replica id, unique, counters >= 1;
 *   - siblings are sorted by dot, unique, and every dot is covered by the
 *     clock (counter <= clock[replica]);
 *   - each replica's writes of this key are numbered in increasing order,
 *     and clock[r] = c means "has seen every r-write of this key numbered
 *     up to c". This holds because replica r issues its next dot from its
 *     own state of the key, which holds every earlier r-write (dvv_update),
 *     or, once that state was dropped (tombstone collection), from above
 *     a floor past every counter the dropped states had (dvv_update_above).
 *     A number skipped names no write of the key, so covering it is
 *     harmless.
 * Under these a state is canonical: equal knowledge gives equal bytes.
 *
 * Operations:
 *   dvv_update  a write at replica r with the client's context: siblings
 *               the context covers are discarded (the client saw them),
 *               the new value gets dot (r, max(clock[r], ctx[r]) + 1), and
 *               the clock becomes clock | ctx | dot.
 *   dvv_sync    join of two states of the key: a sibling survives unless
 *               the other side's clock covers its dot and the other side
 *               does not hold it (it saw the write and overwrote it). The
 *               join is commutative, associative and idempotent.
 *   descends    clock(a) >= clock(b) pointwise: a has seen all b has.
 *   LWW         the sibling with the highest timestamp, ties broken by
 *               the higher dot, the same choice on every replica; when
 *               it is a counter, every counter sibling of its lineage
 *               stays with it (dvv_lww_kept).
 *
 * Replica ids are 64-bit and must never be reused for a replica that lost
 * its state (the caller makes them from a member id and an incarnation),
 * else a reissued dot could name two different writes.
 *
 * Pruning: none. Dropping entries of a version vector loses causality:
 * Riak's age-based pruning could make an old value reappear or turn an
 * overwrite into siblings. A clock gains an entry only for a replica that
 * coordinated a write of the key, so it stays near N; one that would pass
 * DVV_REPLICAS_MAX refuses the write or sync with ERR_LIMIT. Siblings are
 * bounded the same way by DVV_SIBLINGS_MAX (the caller logs a key past
 * DVV_SIBLINGS_WARN and may resolve it by LWW).
 *
 * Ownership: a struct dvv is caller-allocated (init/deinit) and owns copies
 * of its sibling values. All fallible operations leave the state unchanged
 * on failure. Thread: none.
 */
#ifndef RINGKV_CLUSTER_DVV_H
#define RINGKV_CLUSTER_DVV_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/buf.h"
#include "base/bytes.h"
#include "base/limits.h"

#define DVV_FORMAT_VERSION 1

/* Sibling flags. TOMBSTONE: the write was a delete (its value is empty).
 * COUNTER: the write was an INCR/DECR and the value is a counter
 * (struct dvv_counter, dvv_counter_encode) rather than client bytes; a
 * counter is never a tombstone, and dvv_update and dvv_decode refuse a
 * COUNTER value that does not decode as one. */
#define DVV_FLAG_TOMBSTONE 1u
#define DVV_FLAG_COUNTER   2u
/* EXPIRES: the value has an absolute expiry (expire_ms, wall-clock ms,
 * never 0), encoded after the flags only when this flag is set, so that
 * states written before TTLs decode unchanged and equal knowledge still
 * encodes to equal bytes. Set exactly when expire_ms != 0; never on a
 * tombstone. An expired sibling is kept (its dot and the clock say what
 * it overwrote) but shows nothing: replica.h, replica_live_index. */
#define DVV_FLAG_EXPIRES 4u
#define DVV_FLAGS_KNOWN  (DVV_FLAG_TOMBSTONE | DVV_FLAG_COUNTER | DVV_FLAG_EXPIRES)

struct dvv_dot {
	uint64_t replica;
	uint64_t counter;
};

/* A version vector: a causal context, also what a client gets back with
 * a read and hands back with its next write (dvv_clock_encode). */
struct dvv_clock {
	uint32_t count;
	struct dvv_dot entries[DVV_REPLICAS_MAX]; /* sorted by replica */
};

struct dvv_sibling {
	struct dvv_dot dot;
	uint64_t timestamp_ms; /* the coordinator's wall clock, for LWW only */
	uint32_t flags;        /* DVV_FLAG_* */
	uint64_t expire_ms;    /* absolute wall-clock ms; 0: none (DVV_FLAG_EXPIRES) */
	uint32_t value_len;
	uint8_t *value; /* owned; NULL when value_len is 0 */
};

struct dvv {
	struct dvv_clock clock;
	uint32_t sibling_count;
	struct dvv_sibling siblings[DVV_SIBLINGS_MAX]; /* sorted by dot */
};

void dvv_clock_init(struct dvv_clock *c);
/* The counter of replica in c, 0 when absent. */
uint64_t dvv_clock_get(const struct dvv_clock *c, uint64_t replica);
/* True when c covers the dot: dot.counter <= c[dot.replica]. */
bool dvv_clock_covers(const struct dvv_clock *c, struct dvv_dot dot);
/* True when a >= b pointwise. */
bool dvv_clock_descends(const struct dvv_clock *a, const struct dvv_clock *b);
/* a := a | b (pointwise max). ERR_LIMIT (a unchanged) past DVV_REPLICAS_MAX. */
int dvv_clock_merge(struct dvv_clock *a, const struct dvv_clock *b);

void dvv_init(struct dvv *d);
void dvv_deinit(struct dvv *d);

/* A write at replica with the client's context ctx (an empty clock for a
 * blind write): see above. value is copied. ERR_LIMIT when the clock would
 * pass DVV_REPLICAS_MAX, the siblings DVV_SIBLINGS_MAX or the value
 * VALUE_BYTES_MAX, ERR_INVALID for unknown flags, COUNTER with TOMBSTONE
 * or a COUNTER value that is not a counter, ERR_RANGE when the
 * replica's counter is exhausted (only from a forged state), ERR_NOMEM. When dot is
 * not NULL it receives the new write's dot. */
int dvv_update(struct dvv *d, const struct dvv_clock *ctx, uint64_t replica, struct bytes value,
               uint64_t timestamp_ms, uint32_t flags, struct dvv_dot *dot);
/* dvv_update whose new dot is also above floor. Floors: a replica that
 * drops a key's state (a collected tombstone) forgets which numbers it
 * used for that key; a later write of the key numbered from the empty
 * state would reuse (replica, 1), and a client's old context naming the
 * dropped write would then hide the new one. The replica keeps a floor
 * at or above every own counter of every state it dropped, and numbers
 * every write above it. */
int dvv_update_above(struct dvv *d, const struct dvv_clock *ctx, uint64_t replica, uint64_t floor,
                     struct bytes value, uint64_t timestamp_ms, uint32_t flags,
                     struct dvv_dot *dot);
/* dvv_update_above whose new value expires at expire_ms (absolute wall
 * ms; 0: never). DVV_FLAG_EXPIRES in flags is ignored: the new sibling
 * carries it exactly when expire_ms != 0. ERR_INVALID for an expiring
 * tombstone. */
int dvv_update_expiring(struct dvv *d, const struct dvv_clock *ctx, uint64_t replica,
                        uint64_t floor, struct bytes value, uint64_t timestamp_ms, uint32_t flags,
                        uint64_t expire_ms, struct dvv_dot *dot);
/* Whether sibling s has expired at now_ms (expire_ms <= now_ms, the
 * keyspace's rule for single-node keys). */
bool dvv_sibling_expired(const struct dvv_sibling *s, uint64_t now_ms);

/* d := join(d, other); other's values are copied as needed. ERR_LIMIT,
 * ERR_NOMEM; d unchanged on failure. */
int dvv_sync(struct dvv *d, const struct dvv *other);

/* d := a deep copy of src (d initialised). ERR_NOMEM leaves d unchanged. */
int dvv_copy(struct dvv *d, const struct dvv *src);

/* Causality of two states by their clocks. */
bool dvv_descends(const struct dvv *a, const struct dvv *b);
bool dvv_concurrent(const struct dvv *a, const struct dvv *b);
bool dvv_equal(const struct dvv *a, const struct dvv *b);

/* Index of the LWW winner (highest timestamp, then highest dot), or -1
 * without siblings. */
int dvv_lww_index(const struct dvv *d);
/* The siblings LWW keeps, their indices ascending into idx; returns their
 * count. A register or tombstone winner is kept alone. A counter winner is
 * kept with every counter sibling of its lineage (dvv_counter_same_lineage):
 * those are concurrent increments of one counter, and dropping any would
 * lose them. Counters of other lineages lose, as registers do: each began
 * by replacing a different value, and concurrent replacements are settled
 * by LWW. */
uint32_t dvv_lww_kept(const struct dvv *d, uint32_t idx[DVV_SIBLINGS_MAX]);
/* Keeps only the siblings dvv_lww_kept names; the clock is unchanged. */
void dvv_resolve_lww(struct dvv *d);

size_t dvv_encoded_bytes(const struct dvv *d);
/* Appends the encoding (docs/cluster.md), growing out up to cap_bytes:
 * ERR_LIMIT (nothing appended), ERR_NOMEM. */
int dvv_encode(const struct dvv *d, struct buf *out, size_t cap_bytes);
/* Decodes into d, which must not be initialised; on success d is (the
 * caller deinits it). ERR_PROTO for malformed input (bad format, order,
 * uncovered dot, trailing bytes), ERR_LIMIT for a count or value length
 * over its limit, ERR_NOMEM. */
int dvv_decode(struct dvv *d, const uint8_t *p, size_t n);

size_t dvv_clock_encoded_bytes(const struct dvv_clock *c);
int dvv_clock_encode(const struct dvv_clock *c, struct buf *out, size_t cap_bytes);
/* ERR_PROTO, ERR_LIMIT as dvv_decode; c written only on success. */
int dvv_clock_decode(struct dvv_clock *c, const uint8_t *p, size_t n);

void dvv_check_invariants(const struct dvv *d);

/* ---- PN-counter ----------------------------------------------------------
 * A counter as a CRDT (Shapiro et al., 2011): each replica counts its own
 * increments P and decrements N; merge takes the pointwise maximum, so
 * concurrent INCRs on different replicas all count; the value is
 * sum(P) - sum(N). A replica only ever raises its own P and N. Sorted by
 * replica id, unique. */

struct pncounter_entry {
	uint64_t replica;
	uint64_t p;
	uint64_t n;
};

struct pncounter {
	uint32_t count;
	struct pncounter_entry entries[PNCOUNTER_REPLICAS_MAX];
};

void pncounter_init(struct pncounter *c);
/* Adds delta at replica. ERR_RANGE when the replica's P or N would pass
 * UINT64_MAX, ERR_LIMIT past PNCOUNTER_REPLICAS_MAX; c unchanged then. */
int pncounter_add(struct pncounter *c, uint64_t replica, int64_t delta);
/* a := a merged with b. ERR_LIMIT (a unchanged). */
int pncounter_merge(struct pncounter *a, const struct pncounter *b);
/* The value; ERR_RANGE when it does not fit int64 (Redis's "increment or
 * decrement would overflow"). */
int pncounter_value(const struct pncounter *c, int64_t *out);
size_t pncounter_encoded_bytes(const struct pncounter *c);
int pncounter_encode(const struct pncounter *c, struct buf *out, size_t cap_bytes);
int pncounter_decode(struct pncounter *c, const uint8_t *p, size_t n);

/* ---- Counter siblings ----------------------------------------------------
 * The value of a DVV_FLAG_COUNTER sibling: a PN-counter over a base, and
 * the lineage it belongs to. A counter's value is base + sum(P) - sum(N).
 *
 * Lineage: the first INCR after a SET (or a DEL, or on a missing key)
 * starts a counter from the value it replaces - the visible register's
 * integer, or 0 - and records that register's (or tombstone's) dot as
 * origin, {0, 0} when there was none, and the number as base. Later INCRs
 * keep origin and base. So replicas that increment concurrently from the
 * same value build one counter, which merges pointwise; and a counter
 * started after a SET never mixes its entries with one from before it
 * (replica r's P in the new counter says nothing about its P in the old
 * one). A lineage is the pair (origin, base).
 *
 * Layout: origin replica u64, origin counter u64 (both 0 with base 0, or
 * counter >= 1), base i64, then the pncounter encoding. */
struct dvv_counter {
	struct dvv_dot origin;
	int64_t base;
	struct pncounter pn;
};

/* Room for a counter's value in decimal: |value| < 2^63 + 64 * 2^64, 22
 * digits and a sign. */
#define DVV_COUNTER_TEXT_BYTES 32

size_t dvv_counter_encoded_bytes(const struct dvv_counter *c);
int dvv_counter_encode(const struct dvv_counter *c, struct buf *out, size_t cap_bytes);
/* ERR_PROTO, ERR_LIMIT as pncounter_decode; c written only on success. */
int dvv_counter_decode(struct dvv_counter *c, const uint8_t *p, size_t n);
/* The value; ERR_RANGE when it does not fit int64. */
int dvv_counter_value(const struct dvv_counter *c, int64_t *out);
/* Writes the exact value in decimal into dst, even outside int64 (a merge
 * of concurrent increments can pass it); returns the length. */
size_t dvv_counter_format(const struct dvv_counter *c, char dst[DVV_COUNTER_TEXT_BYTES]);
/* True when two counter siblings belong to one lineage (no full decode). */
bool dvv_counter_same_lineage(const struct dvv_sibling *a, const struct dvv_sibling *b);

#endif
