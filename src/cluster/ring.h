/*
 * ring.h - the partition ring: which members own which part of the key
 * hash space, and the preference list (the N replicas) of a key.
 *
 * The 64-bit key hash (base/hash.h, the hash the keyspace uses) is cut
 * into Q = 2^bits equal partitions, Q fixed when the ring is created:
 * partition(h) = h >> (64 - bits). Partition p covers the hashes
 * [p * 2^(64-bits), (p+1) * 2^(64-bits)); "clockwise" is increasing p,
 * wrapping from Q-1 to 0.
 *
 * Members (a 16-bit id, a name, an address, a zone and a weight) own
 * partitions in proportion to their weight. The claim is deterministic:
 * the same ring given the same change yields the same ring on every node,
 * and ring_build() of a member set is a pure function of that set. The
 * ring therefore depends on the history of changes, as Riak's does, and
 * is spread by gossip as a whole (ring_merge()), not recomputed by every
 * node from its own view of the members.
 *   - Adding a member with weight w moves exactly its quota, round(Q*w/W)
 *     by largest remainder, to the new member, taken from the members
 *     most over their new quota, and nothing between two old members.
 *   - Removing a member hands only its partitions to the members most
 *     under their new quota.
 * See docs/cluster.md for the algorithm and its measured balance.
 *
 * The preference list of a partition walks clockwise from the partition's
 * owner, skipping members already chosen, and in each pass prefers members
 * whose zone has not been chosen in that pass, so that N replicas spread
 * over min(N, zones) zones.
 *
 * Every change bumps `version` and recomputes `content_hash` (XXH3 of the
 * encoded members and owners). Rings merge by taking the higher version,
 * and on a tie the higher content hash, so gossip converges on one ring.
 *
 * Ownership: struct ring is the caller's (init/deinit); it owns its member
 * and owner arrays. Fields are read-only to callers. Thread: none; the
 * caller serialises access.
 */
#ifndef RINGKV_CLUSTER_RING_H
#define RINGKV_CLUSTER_RING_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/buf.h"
#include "base/bytes.h"
#include "base/limits.h"

/* The owner of a partition of a ring without members. */
#define RING_MEMBER_NONE 0xffffu

/* Ring encoding format version (docs/cluster.md). */
#define RING_FORMAT_VERSION 1

struct ring_member {
	uint16_t id;
	uint16_t weight;
	uint16_t zone_index; /* derived: same zone string <=> same index */
	uint8_t name_len;
	uint8_t zone_len;
	uint16_t addr_len;
	char name[RING_NAME_BYTES_MAX];
	char addr[RING_ADDR_BYTES_MAX];
	char zone[RING_ZONE_BYTES_MAX];
};

/* What ring_add_member() takes: the strings are copied. */
struct ring_member_spec {
	uint16_t id;       /* not RING_MEMBER_NONE, unique in the ring */
	uint16_t weight;   /* 1..RING_WEIGHT_MAX */
	struct bytes name; /* 1..RING_NAME_BYTES_MAX bytes, unique in the ring */
	struct bytes addr; /* 0..RING_ADDR_BYTES_MAX bytes */
	struct bytes zone; /* 0..RING_ZONE_BYTES_MAX bytes; "" is a zone too */
};

struct ring {
	uint32_t partition_count; /* Q, a power of two */
	uint32_t partition_bits;  /* log2(Q) */
	uint32_t member_count;
	uint32_t member_cap;
	uint32_t zone_count;         /* distinct zones among the members */
	struct ring_member *members; /* sorted by id */
	uint16_t *owners;            /* partition -> member id */
	uint64_t version;
	uint64_t content_hash;
};

/* An empty ring of partition_count partitions (a power of two within
 * RING_PARTITIONS_MIN..MAX; else ERR_INVALID), version 0. ERR_NOMEM. */
int ring_init(struct ring *r, uint32_t partition_count);
void ring_deinit(struct ring *r);

/* ring_init(), then the members added in ascending id order: the ring of
 * a member set, the same on every node. On failure r is not initialised. */
int ring_build(struct ring *r, uint32_t partition_count, const struct ring_member_spec *specs,
               size_t spec_count);

/* Adds a member and moves its quota of partitions to it (see above).
 * ERR_INVALID (bad id, weight or empty name), ERR_LIMIT (a string over
 * its limit, or RING_MEMBERS_MAX members), ERR_EXISTS (id or name taken),
 * ERR_NOMEM. On failure the ring is unchanged. */
int ring_add_member(struct ring *r, const struct ring_member_spec *spec);

/* Removes a member, handing its partitions to the others. ERR_NOT_FOUND,
 * ERR_NOMEM; on failure the ring is unchanged. */
int ring_remove_member(struct ring *r, uint16_t id);

/* The member with this id, or NULL. Valid until the next change. */
const struct ring_member *ring_member_find(const struct ring *r, uint16_t id);

static inline uint32_t ring_partition_of_hash(const struct ring *r, uint64_t hash)
{
	return (uint32_t)(hash >> (64 - r->partition_bits));
}

/* The partition of a key: its XXH3 hash, as the keyspace computes it. */
uint32_t ring_partition_of_key(const struct ring *r, struct bytes key);

static inline uint16_t ring_owner(const struct ring *r, uint32_t partition)
{
	return r->owners[partition];
}

/* Partitions owned by the member (0 for an unknown id). O(Q). */
uint32_t ring_owned_count(const struct ring *r, uint16_t id);

/* Writes the preference list of a partition to out[0, n): up to n
 * distinct member ids (n <= RING_REPLICAS_MAX), the owner first. Returns
 * how many were written: fewer than n only when the ring has fewer
 * members owning partitions. O(n * Q) at worst; callers cache it per
 * partition and ring version. */
uint32_t ring_preference_list(const struct ring *r, uint32_t partition, uint32_t n, uint16_t *out);

/* Order of two rings for gossip: >0 when a is newer than b (higher
 * version, or equal version and higher content hash), <0 when older, 0
 * when the same. */
int ring_compare(const struct ring *a, const struct ring *b);

/* Makes dst (an initialised ring) a copy of src. ERR_NOMEM leaves dst
 * unchanged. */
int ring_copy(struct ring *dst, const struct ring *src);

/* Replaces local with remote when remote is newer; *replaced says whether
 * it did. ERR_NOMEM leaves local unchanged. */
int ring_merge(struct ring *local, const struct ring *remote, bool *replaced);

/* Exact size of the encoding of r. */
size_t ring_encoded_bytes(const struct ring *r);

/* Appends the encoding of r to out, growing it up to cap_bytes in all:
 * ERR_LIMIT (nothing appended) or ERR_NOMEM. */
int ring_encode(const struct ring *r, struct buf *out, size_t cap_bytes);

/* Decodes a ring into out, which must not be initialised; on success out
 * is initialised (the caller deinits it). Every length and count is
 * checked against the input and the limits before use: ERR_PROTO for a
 * malformed encoding, ERR_LIMIT for a count or length over its limit,
 * ERR_CORRUPT when the content hash does not match, ERR_NOMEM. */
int ring_decode(struct ring *out, const uint8_t *p, size_t n);

/* Asserts the invariants: members sorted by unique ids, every owner a
 * member (or NONE without members), content hash up to date. O(Q + M^2). */
void ring_check_invariants(const struct ring *r);

#endif
