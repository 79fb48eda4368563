/*
 * ring_test.c - the partition ring of cluster/ring.h through its header.
 *
 * Seeded (splitmix64); a failing property test prints its seed. Claim
 * tests measure, for every change, how many partitions moved and between
 * whom, against the quota arithmetic of ring.h.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "base/err.h"
#include "base/hash.h"
#include "base/limits.h"
#include "cluster/ring.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct rng {
	uint64_t state;
};

static uint64_t rng_next(struct rng *r)
{
	uint64_t z = (r->state += 0x9e3779b97f4a7c15ULL);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

static uint32_t rng_below(struct rng *r, uint32_t n)
{
	return (uint32_t)(rng_next(r) % n);
}

/* Names and zones live in a table of static strings so specs can borrow. */
struct spec_store {
	char name[RING_MEMBERS_MAX + 1][16];
	char zone[8][8];
};

static struct ring_member_spec spec_of(struct spec_store *st, uint16_t id, uint16_t weight,
                                       uint32_t zone)
{
	snprintf(st->name[id % (RING_MEMBERS_MAX + 1)], sizeof(st->name[0]), "node-%u", id);
	snprintf(st->zone[zone % 8], sizeof(st->zone[0]), "z%u", zone % 8);
	struct ring_member_spec s = {
	    .id = id,
	    .weight = weight,
	    .name = bytes_cstr(st->name[id % (RING_MEMBERS_MAX + 1)]),
	    .addr = bytes_cstr("10.0.0.1:7000"),
	    .zone = bytes_cstr(st->zone[zone % 8]),
	};
	return s;
}

static uint32_t total_weight(const struct ring *r)
{
	uint32_t w = 0;
	for (uint32_t i = 0; i < r->member_count; i++)
		w += r->members[i].weight;
	return w;
}

static void test_ring_init_accepts_only_powers_of_two_in_range(void **state)
{
	(void)state;
	uint32_t bad[] = {0, 1, 8, RING_PARTITIONS_MIN / 2, 17, 100, 255, RING_PARTITIONS_MAX * 2};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct ring r;
		assert_int_equal(ring_init(&r, bad[i]), ERR_INVALID);
	}
	uint32_t good[] = {RING_PARTITIONS_MIN, 256, RING_PARTITIONS_MAX};
	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		struct ring r;
		assert_int_equal(ring_init(&r, good[i]), 0);
		assert_int_equal(r.partition_count, good[i]);
		assert_int_equal(1u << r.partition_bits, good[i]);
		assert_int_equal(ring_owner(&r, 0), RING_MEMBER_NONE);
		uint16_t pl[3];
		assert_int_equal(ring_preference_list(&r, 0, 3, pl), 0);
		ring_check_invariants(&r);
		ring_deinit(&r);
	}
}

static void test_ring_partition_is_the_top_bits_of_the_key_hash(void **state)
{
	(void)state;
	struct ring r;
	assert_int_equal(ring_init(&r, 256), 0);
	assert_int_equal(ring_partition_of_hash(&r, 0), 0);
	assert_int_equal(ring_partition_of_hash(&r, UINT64_MAX), 255);
	assert_int_equal(ring_partition_of_hash(&r, (uint64_t)1 << 56), 1);
	assert_int_equal(ring_partition_of_hash(&r, ((uint64_t)1 << 56) - 1), 0);
	struct bytes key = bytes_cstr("user:1000");
	assert_int_equal(ring_partition_of_key(&r, key), hash_bytes(key.ptr, key.len) >> 56);
	ring_deinit(&r);
	assert_int_equal(ring_init(&r, RING_PARTITIONS_MAX), 0);
	assert_int_equal(ring_partition_of_hash(&r, UINT64_MAX), RING_PARTITIONS_MAX - 1);
	ring_deinit(&r);
}

static void test_ring_first_member_owns_everything(void **state)
{
	(void)state;
	struct spec_store st;
	struct ring r;
	assert_int_equal(ring_init(&r, 64), 0);
	uint64_t h0 = r.content_hash;
	struct ring_member_spec s = spec_of(&st, 7, 1, 0);
	assert_int_equal(ring_add_member(&r, &s), 0);
	assert_int_equal(r.version, 1);
	assert_int_not_equal(r.content_hash, h0);
	assert_int_equal(ring_owned_count(&r, 7), 64);
	const struct ring_member *m = ring_member_find(&r, 7);
	assert_non_null(m);
	assert_memory_equal(m->name, "node-7", 6);
	assert_null(ring_member_find(&r, 8));
	ring_check_invariants(&r);
	ring_deinit(&r);
}

/* Adds members one by one with random weights; every add must move
 * exactly the new member's quota, and only to the new member. */
static void add_sequence(uint64_t seed, uint32_t q, uint32_t members, uint32_t max_weight,
                         double *worst_balance)
{
	struct rng rng = {seed};
	struct spec_store st;
	struct ring r;
	assert_int_equal(ring_init(&r, q), 0);
	uint16_t *before = malloc(sizeof(*before) * q);
	assert_non_null(before);
	for (uint32_t k = 0; k < members; k++) {
		memcpy(before, r.owners, sizeof(*before) * q);
		uint16_t id = (uint16_t)(k * 3 + 1);
		uint16_t w = (uint16_t)(1 + rng_below(&rng, max_weight));
		struct ring_member_spec s = spec_of(&st, id, w, k % 3);
		assert_int_equal(ring_add_member(&r, &s), 0);
		ring_check_invariants(&r);
		uint32_t moved = 0;
		for (uint32_t p = 0; p < q; p++) {
			if (r.owners[p] == before[p])
				continue;
			moved++;
			if (k > 0 && r.owners[p] != id) {
				fail_msg(
				    "seed %llu: partition %u moved between old members %u -> %u",
				    (unsigned long long)seed, p, before[p], r.owners[p]);
			}
		}
		double expect = (double)q * w / total_weight(&r);
		if (fabs((double)moved - expect) > 1.0)
			fail_msg("seed %llu: add %u moved %u, expected %.2f",
			         (unsigned long long)seed, k, moved, expect);
		assert_int_equal(ring_owned_count(&r, id), moved);
		/* Balance of every member against its exact share. */
		for (uint32_t i = 0; i < r.member_count; i++) {
			double share = (double)q * r.members[i].weight / total_weight(&r);
			double off = fabs(ring_owned_count(&r, r.members[i].id) - share);
			if (off > *worst_balance)
				*worst_balance = off;
		}
	}
	free(before);
	ring_deinit(&r);
}

static void test_ring_add_moves_only_the_new_members_quota(void **state)
{
	(void)state;
	double worst = 0;
	for (uint64_t seed = 1; seed <= 20; seed++)
		add_sequence(seed, 256, 12, 1, &worst);
	printf("equal weights, Q=256, 12 adds x 20 seeds: worst |owned - share| = %.2f\n", worst);
	assert_true(worst < 1.0);
	worst = 0;
	for (uint64_t seed = 21; seed <= 30; seed++)
		add_sequence(seed, 1024, 20, 10, &worst);
	printf("weights 1..10, Q=1024, 20 adds x 10 seeds: worst |owned - share| = %.2f\n", worst);
	assert_true(worst < 1.0);
}

static void test_ring_remove_moves_only_the_leaving_members_partitions(void **state)
{
	(void)state;
	struct rng rng = {77};
	struct spec_store st;
	struct ring r;
	assert_int_equal(ring_init(&r, 512), 0);
	for (uint16_t id = 1; id <= 10; id++) {
		struct ring_member_spec s =
		    spec_of(&st, id, (uint16_t)(1 + rng_below(&rng, 4)), id);
		assert_int_equal(ring_add_member(&r, &s), 0);
	}
	uint16_t before[512];
	for (uint16_t gone = 3; gone <= 9; gone += 2) {
		memcpy(before, r.owners, sizeof(before));
		uint32_t owned = ring_owned_count(&r, gone);
		uint64_t v = r.version;
		assert_int_equal(ring_remove_member(&r, gone), 0);
		ring_check_invariants(&r);
		assert_int_equal(r.version, v + 1);
		assert_null(ring_member_find(&r, gone));
		uint32_t moved = 0;
		for (uint32_t p = 0; p < 512; p++) {
			if (r.owners[p] != before[p]) {
				assert_int_equal(before[p], gone);
				moved++;
			}
		}
		assert_int_equal(moved, owned);
		for (uint32_t i = 0; i < r.member_count; i++) {
			double share = 512.0 * r.members[i].weight / total_weight(&r);
			assert_true(fabs(ring_owned_count(&r, r.members[i].id) - share) <= 3.0);
		}
	}
	assert_int_equal(ring_remove_member(&r, 3), ERR_NOT_FOUND);
	/* Down to nothing: the ring is empty again. */
	while (r.member_count)
		assert_int_equal(ring_remove_member(&r, r.members[0].id), 0);
	assert_int_equal(ring_owner(&r, 0), RING_MEMBER_NONE);
	ring_check_invariants(&r);
	ring_deinit(&r);
}

static void test_ring_build_is_a_function_of_the_member_set(void **state)
{
	(void)state;
	struct spec_store st;
	struct ring_member_spec specs[9];
	for (uint16_t i = 0; i < 9; i++)
		specs[i] = spec_of(&st, (uint16_t)(100 - 7 * i), (uint16_t)(1 + i % 3), i % 3);
	struct ring a, b;
	assert_int_equal(ring_build(&a, 256, specs, 9), 0);
	struct rng rng = {5};
	for (int round = 0; round < 10; round++) {
		for (uint32_t i = 9; i > 1; i--) {
			uint32_t j = rng_below(&rng, i);
			struct ring_member_spec t = specs[i - 1];
			specs[i - 1] = specs[j];
			specs[j] = t;
		}
		assert_int_equal(ring_build(&b, 256, specs, 9), 0);
		assert_int_equal(ring_compare(&a, &b), 0);
		assert_memory_equal(a.owners, b.owners, sizeof(uint16_t) * 256);
		ring_deinit(&b);
	}
	/* A duplicate fails the whole build. */
	specs[1] = specs[0];
	assert_int_equal(ring_build(&b, 256, specs, 9), ERR_EXISTS);
	ring_deinit(&a);
}

static void test_ring_preference_list_is_distinct_and_starts_at_the_owner(void **state)
{
	(void)state;
	struct spec_store st;
	struct ring r;
	assert_int_equal(ring_init(&r, 256), 0);
	struct ring_member_spec s = spec_of(&st, 1, 1, 0);
	assert_int_equal(ring_add_member(&r, &s), 0);
	uint16_t pl[RING_REPLICAS_MAX];
	/* Fewer members than N: all of them. */
	assert_int_equal(ring_preference_list(&r, 9, 3, pl), 1);
	assert_int_equal(pl[0], 1);
	for (uint16_t id = 2; id <= 6; id++) {
		s = spec_of(&st, id, 1, 0);
		assert_int_equal(ring_add_member(&r, &s), 0);
	}
	for (uint32_t p = 0; p < 256; p++) {
		for (uint32_t n = 1; n <= 6; n++) {
			assert_int_equal(ring_preference_list(&r, p, n, pl), n);
			assert_int_equal(pl[0], ring_owner(&r, p));
			for (uint32_t i = 0; i < n; i++)
				for (uint32_t j = 0; j < i; j++)
					assert_int_not_equal(pl[i], pl[j]);
		}
		assert_int_equal(ring_preference_list(&r, p, 8, pl), 6);
		/* One zone: purely clockwise, the next distinct owners. */
		uint16_t want[3];
		uint32_t k = 0;
		for (uint32_t i = 0; k < 3; i++) {
			uint16_t o = ring_owner(&r, (p + i) & 255);
			bool seen = false;
			for (uint32_t j = 0; j < k; j++)
				seen |= want[j] == o;
			if (!seen)
				want[k++] = o;
		}
		assert_int_equal(ring_preference_list(&r, p, 3, pl), 3);
		assert_memory_equal(pl, want, sizeof(want));
	}
	ring_deinit(&r);
}

static void test_ring_preference_list_spreads_over_three_zones(void **state)
{
	(void)state;
	struct spec_store st;
	struct ring r;
	assert_int_equal(ring_init(&r, 256), 0);
	/* 9 members, 3 per zone, and an unbalanced fourth member in zone 0. */
	for (uint16_t id = 1; id <= 10; id++) {
		struct ring_member_spec s = spec_of(&st, id, 1, id == 10 ? 0 : id % 3);
		assert_int_equal(ring_add_member(&r, &s), 0);
	}
	assert_int_equal(r.zone_count, 3);
	uint32_t owner_zone_ok = 0;
	for (uint32_t p = 0; p < 256; p++) {
		uint16_t pl[RING_REPLICAS_MAX];
		assert_int_equal(ring_preference_list(&r, p, 3, pl), 3);
		uint32_t per_zone[3] = {0};
		for (uint32_t i = 0; i < 3; i++)
			per_zone[ring_member_find(&r, pl[i])->zone_index]++;
		assert_int_equal(per_zone[0], 1);
		assert_int_equal(per_zone[1], 1);
		assert_int_equal(per_zone[2], 1);
		owner_zone_ok += pl[0] == ring_owner(&r, p);
		/* N=5 over 3 zones: 2, 2, 1. */
		assert_int_equal(ring_preference_list(&r, p, 5, pl), 5);
		memset(per_zone, 0, sizeof(per_zone));
		for (uint32_t i = 0; i < 5; i++)
			per_zone[ring_member_find(&r, pl[i])->zone_index]++;
		for (uint32_t z = 0; z < 3; z++)
			assert_true(per_zone[z] >= 1 && per_zone[z] <= 2);
	}
	assert_int_equal(owner_zone_ok, 256);
	ring_deinit(&r);
}

static void test_ring_merge_takes_the_newer_ring_and_converges(void **state)
{
	(void)state;
	struct spec_store st;
	enum { NODES = 5 };
	struct ring nodes[NODES];
	struct ring_member_spec base[3] = {spec_of(&st, 1, 1, 0), spec_of(&st, 2, 1, 1),
	                                   spec_of(&st, 3, 1, 2)};
	for (int i = 0; i < NODES; i++)
		assert_int_equal(ring_build(&nodes[i], 128, base, 3), 0);
	/* Concurrent changes: every node adds a different member, so all five
	 * share a version and differ in content. */
	for (int i = 0; i < 4; i++) {
		struct ring_member_spec s = spec_of(&st, (uint16_t)(10 + i), 1, 0);
		assert_int_equal(ring_add_member(&nodes[i], &s), 0);
	}
	struct ring_member_spec s = spec_of(&st, 20, 1, 1);
	assert_int_equal(ring_add_member(&nodes[4], &s), 0);
	uint64_t best = 0;
	for (int i = 0; i < NODES; i++) {
		assert_int_equal(nodes[i].version, nodes[4].version);
		if (nodes[i].content_hash > best)
			best = nodes[i].content_hash;
	}
	/* Random pairwise gossip until all agree. */
	struct rng rng = {99};
	int rounds = 0;
	for (;; rounds++) {
		bool same = true;
		for (int i = 1; i < NODES; i++)
			same &= ring_compare(&nodes[0], &nodes[i]) == 0;
		if (same)
			break;
		assert_true(rounds < 1000);
		int a = (int)rng_below(&rng, NODES), b = (int)rng_below(&rng, NODES);
		bool replaced;
		assert_int_equal(ring_merge(&nodes[a], &nodes[b], &replaced), 0);
		assert_int_equal(ring_merge(&nodes[b], &nodes[a], &replaced), 0);
		assert_int_equal(ring_compare(&nodes[a], &nodes[b]), 0);
	}
	/* The winner is the highest content hash among the equal versions. */
	printf("5 concurrent ring changes converged after %d gossip exchanges\n", rounds);
	assert_int_equal(nodes[0].version, 4);
	assert_int_equal(nodes[0].content_hash, best);
	for (int i = 0; i < NODES; i++) {
		ring_check_invariants(&nodes[i]);
		ring_deinit(&nodes[i]);
	}
	/* Merge is a no-op from an older or equal ring. */
	struct ring a, b;
	assert_int_equal(ring_build(&a, 64, base, 3), 0);
	assert_int_equal(ring_build(&b, 64, base, 2), 0);
	bool replaced = true;
	assert_int_equal(ring_merge(&a, &b, &replaced), 0);
	assert_false(replaced);
	assert_int_equal(ring_merge(&b, &a, &replaced), 0);
	assert_true(replaced);
	assert_int_equal(ring_compare(&a, &b), 0);
	ring_check_invariants(&b);
	ring_deinit(&a);
	ring_deinit(&b);
}

static void build_sample(struct ring *r, struct spec_store *st)
{
	assert_int_equal(ring_init(r, 64), 0);
	for (uint16_t id = 1; id <= 4; id++) {
		struct ring_member_spec s = spec_of(st, id, id, id);
		assert_int_equal(ring_add_member(r, &s), 0);
	}
}

static void test_ring_encode_decode_round_trips(void **state)
{
	(void)state;
	struct spec_store st;
	struct ring r, back;
	build_sample(&r, &st);
	struct buf b;
	buf_init(&b);
	assert_int_equal(ring_encode(&r, &b, SIZE_MAX), 0);
	assert_int_equal(b.len, ring_encoded_bytes(&r));
	assert_int_equal(ring_decode(&back, b.data, b.len), 0);
	ring_check_invariants(&back);
	assert_int_equal(ring_compare(&r, &back), 0);
	assert_int_equal(back.version, r.version);
	assert_int_equal(back.member_count, 4);
	assert_int_equal(back.zone_count, r.zone_count);
	assert_memory_equal(back.owners, r.owners, 64 * sizeof(uint16_t));
	struct buf b2;
	buf_init(&b2);
	assert_int_equal(ring_encode(&back, &b2, SIZE_MAX), 0);
	assert_int_equal(b2.len, b.len);
	assert_memory_equal(b2.data, b.data, b.len);
	/* The cap: exactly the size fits, one byte less is refused whole. */
	b2.len = 0;
	assert_int_equal(ring_encode(&r, &b2, b.len - 1), ERR_LIMIT);
	assert_int_equal(b2.len, 0);
	assert_int_equal(ring_encode(&r, &b2, b.len), 0);
	/* An empty ring round-trips too. */
	struct ring e, e2;
	assert_int_equal(ring_init(&e, 16), 0);
	b2.len = 0;
	assert_int_equal(ring_encode(&e, &b2, SIZE_MAX), 0);
	assert_int_equal(ring_decode(&e2, b2.data, b2.len), 0);
	assert_int_equal(ring_compare(&e, &e2), 0);
	ring_deinit(&e);
	ring_deinit(&e2);
	buf_deinit(&b2);
	buf_deinit(&b);
	ring_deinit(&back);
	ring_deinit(&r);
}

static void test_ring_decode_rejects_every_truncation_and_flipped_byte(void **state)
{
	(void)state;
	struct spec_store st;
	struct ring r, back;
	build_sample(&r, &st);
	struct buf b;
	buf_init(&b);
	assert_int_equal(ring_encode(&r, &b, SIZE_MAX), 0);
	for (size_t n = 0; n < b.len; n++)
		assert_int_not_equal(ring_decode(&back, b.data, n), 0);
	/* One more byte is trailing garbage. */
	assert_int_equal(buf_reserve(&b, 1, SIZE_MAX), 0);
	b.data[b.len] = 0;
	assert_int_equal(ring_decode(&back, b.data, b.len + 1), ERR_PROTO);
	for (size_t i = 0; i < b.len; i++) {
		for (int bit = 0; bit < 8; bit += 3) {
			b.data[i] ^= (uint8_t)(1u << bit);
			int rc = ring_decode(&back, b.data, b.len);
			if (i >= 8 && i < 16) {
				/* The version is outside the content hash: it decodes,
				 * as a different version (the frame checksum guards it
				 * in transit). */
				assert_int_equal(rc, 0);
				assert_int_not_equal(back.version, r.version);
				ring_deinit(&back);
			} else {
				assert_true(rc == ERR_PROTO || rc == ERR_CORRUPT ||
				            rc == ERR_LIMIT);
			}
			b.data[i] ^= (uint8_t)(1u << bit);
		}
	}
	buf_deinit(&b);
	ring_deinit(&r);
}

static void test_ring_limits_at_and_one_past(void **state)
{
	(void)state;
	struct ring r;
	assert_int_equal(ring_init(&r, 16), 0);
	char big[RING_ADDR_BYTES_MAX + 1];
	memset(big, 'a', sizeof(big));
	struct ring_member_spec s = {.id = 1, .weight = RING_WEIGHT_MAX};
	s.name = bytes_make(big, RING_NAME_BYTES_MAX + 1);
	assert_int_equal(ring_add_member(&r, &s), ERR_LIMIT);
	s.name = bytes_make(big, RING_NAME_BYTES_MAX);
	s.zone = bytes_make(big, RING_ZONE_BYTES_MAX + 1);
	assert_int_equal(ring_add_member(&r, &s), ERR_LIMIT);
	s.zone = bytes_make(big, RING_ZONE_BYTES_MAX);
	s.addr = bytes_make(big, RING_ADDR_BYTES_MAX + 1);
	assert_int_equal(ring_add_member(&r, &s), ERR_LIMIT);
	s.addr = bytes_make(big, RING_ADDR_BYTES_MAX);
	s.weight = RING_WEIGHT_MAX + 1;
	assert_int_equal(ring_add_member(&r, &s), ERR_INVALID);
	s.weight = 0;
	assert_int_equal(ring_add_member(&r, &s), ERR_INVALID);
	s.weight = RING_WEIGHT_MAX;
	s.id = RING_MEMBER_NONE;
	assert_int_equal(ring_add_member(&r, &s), ERR_INVALID);
	s.id = 1;
	s.name = bytes_make(big, 0);
	assert_int_equal(ring_add_member(&r, &s), ERR_INVALID);
	s.name = bytes_make(big, RING_NAME_BYTES_MAX);
	assert_int_equal(r.version, 0);
	assert_int_equal(ring_add_member(&r, &s), 0);
	assert_int_equal(ring_add_member(&r, &s), ERR_EXISTS); /* same id */
	s.id = 2;
	assert_int_equal(ring_add_member(&r, &s), ERR_EXISTS); /* same name */
	/* The largest member round-trips. */
	struct buf b;
	buf_init(&b);
	assert_int_equal(ring_encode(&r, &b, SIZE_MAX), 0);
	struct ring back;
	assert_int_equal(ring_decode(&back, b.data, b.len), 0);
	assert_int_equal(back.members[0].addr_len, RING_ADDR_BYTES_MAX);
	ring_deinit(&back);
	/* Past the name limit in the encoding: ERR_LIMIT (offset 32 + 4). */
	b.data[32 + 4] = RING_NAME_BYTES_MAX + 1;
	assert_int_equal(ring_decode(&back, b.data, b.len), ERR_LIMIT);
	ring_deinit(&r);

	/* RING_MEMBERS_MAX members fit, one more does not. */
	struct spec_store *st = malloc(sizeof(*st));
	assert_non_null(st);
	assert_int_equal(ring_init(&r, 2048), 0);
	for (uint16_t id = 0; id < RING_MEMBERS_MAX; id++) {
		struct ring_member_spec m = spec_of(st, id, 1, id);
		assert_int_equal(ring_add_member(&r, &m), 0);
	}
	struct ring_member_spec m = spec_of(st, RING_MEMBERS_MAX, 1, 0);
	assert_int_equal(ring_add_member(&r, &m), ERR_LIMIT);
	for (uint16_t id = 0; id < RING_MEMBERS_MAX; id++)
		assert_int_equal(ring_owned_count(&r, id), 2);
	ring_check_invariants(&r);
	b.len = 0;
	assert_int_equal(ring_encode(&r, &b, SIZE_MAX), 0);
	assert_true(b.len <= RING_ENCODED_BYTES_MAX);
	assert_int_equal(ring_decode(&back, b.data, b.len), 0);
	ring_deinit(&back);
	/* A member count past the limit is refused before anything else. */
	b.data[6] = (uint8_t)((RING_MEMBERS_MAX + 1) & 0xff);
	b.data[7] = (uint8_t)((RING_MEMBERS_MAX + 1) >> 8);
	assert_int_equal(ring_decode(&back, b.data, b.len), ERR_LIMIT);
	buf_deinit(&b);
	free(st);
	ring_deinit(&r);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_ring_init_accepts_only_powers_of_two_in_range),
	    cmocka_unit_test(test_ring_partition_is_the_top_bits_of_the_key_hash),
	    cmocka_unit_test(test_ring_first_member_owns_everything),
	    cmocka_unit_test(test_ring_add_moves_only_the_new_members_quota),
	    cmocka_unit_test(test_ring_remove_moves_only_the_leaving_members_partitions),
	    cmocka_unit_test(test_ring_build_is_a_function_of_the_member_set),
	    cmocka_unit_test(test_ring_preference_list_is_distinct_and_starts_at_the_owner),
	    cmocka_unit_test(test_ring_preference_list_spreads_over_three_zones),
	    cmocka_unit_test(test_ring_merge_takes_the_newer_ring_and_converges),
	    cmocka_unit_test(test_ring_encode_decode_round_trips),
	    cmocka_unit_test(test_ring_decode_rejects_every_truncation_and_flipped_byte),
	    cmocka_unit_test(test_ring_limits_at_and_one_past),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
