/*
 * hash.h - the one key hash of ringkv: 64-bit XXH3.
 *
 * Every layer that places a key (lock stripe, hash bucket, and later the
 * cluster ring partition) derives it from this one value, so a key is
 * hashed once per request.
 */
#ifndef RINGKV_BASE_HASH_H
#define RINGKV_BASE_HASH_H

#include <stddef.h>
#include <stdint.h>

#define XXH_INLINE_ALL
#include <xxhash.h>

static inline uint64_t hash_bytes(const void *p, size_t n)
{
	return XXH3_64bits(p, n);
}

#endif
