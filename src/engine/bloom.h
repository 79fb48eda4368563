/*
 * bloom.h - a bloom filter over user keys, one per SSTable.
 *
 * A table's filter answers "may this user key be in the table?" with no
 * false negatives and about 1% false positives at 10 bits per key, so a
 * point lookup of an absent key usually costs no data block read. Keys
 * enter as their 64-bit XXH3 (base/hash.h, the one key hash of ringkv), and
 * the k probes come from that single hash by double hashing (Kirsch and
 * Mitzenmacher, "Less hashing, same performance", 2006): probe i is
 * h1 + i * h2 modulo the bit count, h1 and h2 being the two halves of a
 * 64-bit mix of the hash. The filter is over user keys, not internal keys,
 * because a lookup knows the user key but not which versions exist.
 *
 * Serialized form (the filter block of docs/formats/sst.md): nbytes of bit
 * array (bit j is bit j % 8 of byte j / 8), then one byte k. The query
 * works on those bytes directly and is safe on any input: a filter it does
 * not understand (too short, k == 0 or k > BLOOM_PROBES_MAX) answers "may
 * match", so a damaged filter costs reads, never a wrong answer (the table
 * reader also checksums it). Pure functions, no allocation, thread-safe.
 */
#ifndef RINGKV_ENGINE_BLOOM_H
#define RINGKV_ENGINE_BLOOM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/bytes.h"
#include "base/hash.h"

#define BLOOM_PROBES_MAX 30

static inline uint64_t bloom_hash(struct bytes user_key)
{
	return hash_bytes(user_key.ptr, user_key.len);
}

/* Bytes of the serialized filter for key_count keys (bit array + k byte).
 * bits_per_key must lie in [1, BLOOM_BITS_PER_KEY_MAX]. */
size_t bloom_encoded_bytes(size_t key_count, unsigned bits_per_key);

/* Writes the filter of key_count hashes into dst, which holds exactly
 * bloom_encoded_bytes(key_count, bits_per_key) bytes. */
void bloom_build(uint8_t *dst, size_t dst_len, const uint64_t *hashes, size_t key_count,
                 unsigned bits_per_key);

/* False only if the key with this hash was not among those built in. */
bool bloom_may_match(struct bytes filter, uint64_t hash);

/* The theoretical false-positive rate (1 - e^(-k n / m))^k of the filter
 * bloom_build makes for this many bits per key, for tests and metrics. */
double bloom_expected_fp_rate(unsigned bits_per_key);

#endif
