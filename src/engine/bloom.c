/*
 * bloom.c - the bloom filter of SSTables (bloom.h, docs/formats/sst.md).
 */
#include "engine/bloom.h"

#include <math.h>
#include <string.h>

#include "base/assert.h"
#include "base/limits.h"

/* Bit arrays under 64 bits make tiny tables' false-positive rate poor for
 * no saving worth having. */
#define BLOOM_BITS_MIN 64

/* k = bits_per_key * ln 2 minimises the false-positive rate for a given
 * size; clamped so a lookup never costs more than BLOOM_PROBES_MAX probes. */
static unsigned probes_for(unsigned bits_per_key)
{
	unsigned k = (unsigned)((double)bits_per_key * 0.69 + 0.5);
	if (k < 1)
		k = 1;
	return k > BLOOM_PROBES_MAX ? BLOOM_PROBES_MAX : k;
}

size_t bloom_encoded_bytes(size_t key_count, unsigned bits_per_key)
{
	ASSERT(bits_per_key >= 1 && bits_per_key <= BLOOM_BITS_PER_KEY_MAX);
	size_t bits = key_count * bits_per_key;
	if (bits < BLOOM_BITS_MIN)
		bits = BLOOM_BITS_MIN;
	return (bits + 7) / 8 + 1;
}

/* The two probe hashes. XXH3 is already well mixed, but the halves of one
 * 64-bit value are then reused as h1 and h2; h2 is made odd so that
 * successive probes never repeat one position when the bit count is even. */
static void probe_start(uint64_t hash, uint64_t *h1, uint64_t *h2)
{
	*h1 = hash;
	*h2 = (hash >> 32 | hash << 32) | 1;
}

void bloom_build(uint8_t *dst, size_t dst_len, const uint64_t *hashes, size_t key_count,
                 unsigned bits_per_key)
{
	ASSERT(dst_len == bloom_encoded_bytes(key_count, bits_per_key));
	uint64_t bits = (uint64_t)(dst_len - 1) * 8;
	unsigned k = probes_for(bits_per_key);
	memset(dst, 0, dst_len);
	for (size_t i = 0; i < key_count; i++) {
		uint64_t h1, h2;
		probe_start(hashes[i], &h1, &h2);
		for (unsigned j = 0; j < k; j++) {
			uint64_t pos = (h1 + j * h2) % bits;
			dst[pos / 8] |= (uint8_t)(1u << (pos % 8));
		}
	}
	dst[dst_len - 1] = (uint8_t)k;
}

bool bloom_may_match(struct bytes filter, uint64_t hash)
{
	if (filter.len < 2)
		return true;
	unsigned k = filter.ptr[filter.len - 1];
	if (k == 0 || k > BLOOM_PROBES_MAX)
		return true; /* not a filter we wrote: never claim absence */
	uint64_t bits = (uint64_t)(filter.len - 1) * 8;
	uint64_t h1, h2;
	probe_start(hash, &h1, &h2);
	for (unsigned j = 0; j < k; j++) {
		uint64_t pos = (h1 + j * h2) % bits;
		if (!(filter.ptr[pos / 8] & (1u << (pos % 8))))
			return false;
	}
	return true;
}

double bloom_expected_fp_rate(unsigned bits_per_key)
{
	double k = probes_for(bits_per_key);
	return pow(1.0 - exp(-k / (double)bits_per_key), k);
}
