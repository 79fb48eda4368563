/*
 * cache.c - the sharded LRU block cache (cache.h).
 *
 * Each shard has a chained hash table of its entries and a circular LRU
 * list (sentinel lru) of the entries that are in the table and unpinned,
 * least recently used first. An entry's refs counts its handles plus one
 * while it is in the table. States:
 *   in table, refs == 1: on the LRU list, evictable;
 *   in table, refs > 1:  pinned, on no list;
 *   out of table:        refs == handles; freed when they reach 0.
 */
#include "engine/cache.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "base/assert.h"
#include "base/err.h"
#include "base/hash.h"
#include "base/limits.h"
#include "env/env.h"

static_assert((BLOCK_CACHE_SHARDS & (BLOCK_CACHE_SHARDS - 1)) == 0, "shards: a power of two");

struct cache_handle {
	struct cache_handle *next_hash;
	struct cache_handle *prev, *next; /* LRU list links, while evictable */
	uint64_t file_number, offset, hash;
	void *value;
	cache_free_fn *free_fn;
	size_t charge;
	uint32_t refs;
	bool in_table;
};

struct shard {
	struct env_mutex mu;
	struct cache_handle **buckets;
	size_t bucket_count; /* a power of two */
	size_t entry_count;
	uint64_t usage, capacity;
	uint64_t hits, misses, inserts, evictions;
	struct cache_handle lru; /* sentinel */
};

struct cache {
	uint64_t capacity;
	struct shard shards[BLOCK_CACHE_SHARDS];
};

static uint64_t key_hash(uint64_t file_number, uint64_t offset)
{
	uint64_t k[2] = {file_number, offset};
	return XXH3_64bits(k, sizeof(k));
}

static struct shard *shard_of(struct cache *c, uint64_t hash)
{
	return &c->shards[hash >> 60 & (BLOCK_CACHE_SHARDS - 1)];
}

struct cache *cache_create(uint64_t capacity_bytes)
{
	struct cache *c = calloc(1, sizeof(*c));
	if (!c)
		return NULL;
	c->capacity = capacity_bytes ? capacity_bytes : BLOCK_CACHE_BYTES_DEFAULT;
	for (size_t i = 0; i < BLOCK_CACHE_SHARDS; i++) {
		struct shard *s = &c->shards[i];
		env_mutex_init(&s->mu);
		s->capacity = (c->capacity + BLOCK_CACHE_SHARDS - 1) / BLOCK_CACHE_SHARDS;
		s->lru.prev = s->lru.next = &s->lru;
		s->bucket_count = 16;
		s->buckets = calloc(s->bucket_count, sizeof(*s->buckets));
		if (!s->buckets) {
			s->bucket_count = 0;
			cache_destroy(c);
			return NULL;
		}
	}
	return c;
}

static void entry_free(struct cache_handle *e)
{
	e->free_fn(e->value);
	free(e);
}

void cache_destroy(struct cache *c)
{
	if (!c)
		return;
	for (size_t i = 0; i < BLOCK_CACHE_SHARDS; i++) {
		struct shard *s = &c->shards[i];
		for (size_t b = 0; b < s->bucket_count; b++) {
			struct cache_handle *e = s->buckets[b], *next;
			for (; e; e = next) {
				next = e->next_hash;
				ASSERT(e->refs == 1); /* no handle may outlive the cache */
				entry_free(e);
			}
		}
		free(s->buckets);
		env_mutex_deinit(&s->mu);
	}
	free(c);
}

static void lru_remove(struct cache_handle *e)
{
	e->prev->next = e->next;
	e->next->prev = e->prev;
	e->prev = e->next = NULL;
}

static void lru_append(struct shard *s, struct cache_handle *e)
{
	e->next = &s->lru;
	e->prev = s->lru.prev;
	e->prev->next = e;
	s->lru.prev = e;
}

static struct cache_handle **slot_locked(struct shard *s, uint64_t file, uint64_t off, uint64_t h)
{
	struct cache_handle **p = &s->buckets[h & (s->bucket_count - 1)];
	while (*p && ((*p)->file_number != file || (*p)->offset != off))
		p = &(*p)->next_hash;
	return p;
}

/* Takes e out of the table (it stays alive while handles hold it). Returns
 * true when the caller must free it (no handle left). */
static bool unlink_locked(struct shard *s, struct cache_handle **slot)
{
	struct cache_handle *e = *slot;
	*slot = e->next_hash;
	e->in_table = false;
	s->entry_count--;
	s->usage -= e->charge;
	if (e->refs == 1)
		lru_remove(e);
	return --e->refs == 0;
}

/* Doubles the bucket array when entries outnumber buckets; on allocation
 * failure the table just stays denser. */
static void grow_locked(struct shard *s)
{
	if (s->entry_count <= s->bucket_count)
		return;
	size_t n = s->bucket_count * 2;
	struct cache_handle **nb = calloc(n, sizeof(*nb));
	if (!nb)
		return;
	for (size_t b = 0; b < s->bucket_count; b++) {
		struct cache_handle *e = s->buckets[b], *next;
		for (; e; e = next) {
			next = e->next_hash;
			e->next_hash = nb[e->hash & (n - 1)];
			nb[e->hash & (n - 1)] = e;
		}
	}
	free(s->buckets);
	s->buckets = nb;
	s->bucket_count = n;
}

struct cache_handle *cache_lookup(struct cache *c, uint64_t file_number, uint64_t offset)
{
	uint64_t h = key_hash(file_number, offset);
	struct shard *s = shard_of(c, h);
	env_mutex_lock(&s->mu);
	struct cache_handle *e = *slot_locked(s, file_number, offset, h);
	if (e) {
		if (e->refs == 1)
			lru_remove(e); /* becomes pinned */
		e->refs++;
		s->hits++;
	} else {
		s->misses++;
	}
	env_mutex_unlock(&s->mu);
	return e;
}

/* Evicts least recently used unpinned entries until usage fits. The freed
 * entries are chained on *victims and freed after the lock is dropped, so
 * that free callbacks never run under the shard's mutex. */
static void evict_locked(struct shard *s, struct cache_handle **victims)
{
	while (s->usage > s->capacity && s->lru.next != &s->lru) {
		struct cache_handle *e = s->lru.next;
		if (unlink_locked(s, slot_locked(s, e->file_number, e->offset, e->hash))) {
			e->next_hash = *victims;
			*victims = e;
		}
		s->evictions++;
	}
}

int cache_insert(struct cache *c, uint64_t file_number, uint64_t offset, void *value, size_t charge,
                 cache_free_fn *free_fn, struct cache_handle **out)
{
	struct cache_handle *e = calloc(1, sizeof(*e));
	if (!e) {
		free_fn(value);
		return ERR_NOMEM;
	}
	e->file_number = file_number;
	e->offset = offset;
	e->hash = key_hash(file_number, offset);
	e->value = value;
	e->free_fn = free_fn;
	e->charge = charge;
	e->refs = 2; /* the table and the returned handle */
	e->in_table = true;
	struct shard *s = shard_of(c, e->hash);
	struct cache_handle *victims = NULL;
	env_mutex_lock(&s->mu);
	struct cache_handle **slot = slot_locked(s, file_number, offset, e->hash);
	if (*slot) {
		struct cache_handle *old = *slot;
		if (unlink_locked(s, slot)) {
			old->next_hash = victims;
			victims = old;
		}
		slot = slot_locked(s, file_number, offset, e->hash);
	}
	e->next_hash = *slot;
	*slot = e;
	s->entry_count++;
	s->usage += charge;
	s->inserts++;
	evict_locked(s, &victims);
	grow_locked(s);
	env_mutex_unlock(&s->mu);
	while (victims) {
		struct cache_handle *next = victims->next_hash;
		entry_free(victims);
		victims = next;
	}
	*out = e;
	return 0;
}

void *cache_value(const struct cache_handle *h)
{
	return h->value;
}

void cache_release(struct cache *c, struct cache_handle *h)
{
	struct shard *s = shard_of(c, h->hash);
	struct cache_handle *victims = NULL;
	bool free_it = false;
	env_mutex_lock(&s->mu);
	ASSERT(h->refs >= 1);
	h->refs--;
	if (h->refs == 0) {
		free_it = true; /* already out of the table */
	} else if (h->refs == 1 && h->in_table) {
		lru_append(s, h);
		evict_locked(s, &victims); /* pinned entries may have held usage over */
	}
	env_mutex_unlock(&s->mu);
	if (free_it)
		entry_free(h);
	while (victims) {
		struct cache_handle *next = victims->next_hash;
		entry_free(victims);
		victims = next;
	}
}

void cache_erase_if(struct cache *c, uint64_t file_number, uint64_t offset, cache_match_fn *match,
                    const void *ctx)
{
	uint64_t h = key_hash(file_number, offset);
	struct shard *s = shard_of(c, h);
	struct cache_handle *dead = NULL;
	env_mutex_lock(&s->mu);
	struct cache_handle **slot = slot_locked(s, file_number, offset, h);
	struct cache_handle *e = *slot;
	if (e && (!match || match(e->value, ctx)) && unlink_locked(s, slot))
		dead = e;
	env_mutex_unlock(&s->mu);
	if (dead)
		entry_free(dead);
}

void cache_erase(struct cache *c, uint64_t file_number, uint64_t offset)
{
	cache_erase_if(c, file_number, offset, NULL, NULL);
}

size_t cache_entry_bytes(void)
{
	return sizeof(struct cache_handle);
}

void cache_get_stats(struct cache *c, struct cache_stats *out)
{
	memset(out, 0, sizeof(*out));
	out->capacity_bytes = c->capacity;
	for (size_t i = 0; i < BLOCK_CACHE_SHARDS; i++) {
		struct shard *s = &c->shards[i];
		env_mutex_lock(&s->mu);
		out->hits += s->hits;
		out->misses += s->misses;
		out->inserts += s->inserts;
		out->evictions += s->evictions;
		out->usage_bytes += s->usage;
		out->entry_count += s->entry_count;
		env_mutex_unlock(&s->mu);
	}
}
