/*
 * sst_internal.h - what the SST builder and reader share: the block
 * trailer checksum, handles and the footer and properties encodings
 * (docs/formats/sst.md). Not for use outside sst_*.c.
 */
#ifndef RINGKV_ENGINE_SST_INTERNAL_H
#define RINGKV_ENGINE_SST_INTERNAL_H

#include <stdint.h>

#include "base/le.h"
#include "base/hash.h"
#include "engine/sst.h"

struct sst_handle {
	uint64_t offset; /* of the block's stored bytes */
	uint64_t size;   /* stored bytes, trailer excluded */
};

/* Checksum of a block's stored bytes at file offset off. The seed mixes the
 * file's seed, the offset (a block read from the wrong place fails) and the
 * compression type (a flipped type byte fails). */
static inline uint64_t sst_block_checksum(const uint8_t *p, size_t n, uint64_t seed, uint64_t off,
                                          uint8_t type)
{
	uint64_t s = seed ^ (off * 0x9e3779b97f4a7c15ull) ^ ((uint64_t)type << 56);
	return XXH3_64bits_withSeed(p, n, s);
}

struct sst_footer {
	struct sst_handle index, filter, meta;
	uint64_t seed;
	uint32_t version;
};

void sst_footer_encode(uint8_t *dst, const struct sst_footer *f);
/* ERR_CORRUPT with *reason for a bad magic, checksum or version. */
int sst_footer_decode(const uint8_t *src, struct sst_footer *f, const char **reason);

/* Properties: 68 fixed bytes, then smallest and largest. */
#define SST_PROPS_FIXED_BYTES 68
size_t sst_props_encoded_bytes(const struct sst_props *p);
void sst_props_encode(uint8_t *dst, const struct sst_props *p);
/* The keys of *p point into src. ERR_CORRUPT for bad lengths. */
int sst_props_decode(const uint8_t *src, size_t len, struct sst_props *p);

#endif
