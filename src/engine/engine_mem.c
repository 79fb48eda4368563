/*
 * engine_mem.c - the in-memory engine: one incrementally resized hash table
 * per lock stripe, entries allocated with their key and value inline.
 *
 * Layout of an entry: a fixed header (hash-chain link, expiry, version,
 * the keyspace's access word, lengths) followed by the key bytes and then
 * value_cap bytes of room for the value. One allocation per key keeps
 * lookups to one pointer chase
 * after the bucket, and lets an overwrite of a value of similar size reuse
 * the allocation. Values grown by APPEND or SETRANGE get geometric spare
 * room (like Redis's sdsMakeRoomFor) so repeated appends are amortised.
 *
 * Entries with an expiry time are also listed in a per-stripe array
 * (entry.vol_idx is their position), so active expiry samples them in O(1)
 * without a second hash table.
 *
 * Thread: see engine.h; no locks here, the keyspace holds the stripe lock.
 */
#include <stdlib.h>
#include <string.h>

#include "base/assert.h"
#include "base/err.h"
#include "base/limits.h"
#include "engine/dict.h"
#include "engine/engine.h"

#define VOL_NONE UINT32_MAX
/* Spare room above this grows linearly, as Redis's SDS_MAX_PREALLOC. */
#define GROW_LINEAR_BYTES (1024 * 1024)

struct mem_entry {
	struct dict_node node;
	int64_t expire_ms;
	uint64_t version;
	uint64_t access; /* the keyspace's access word (engine.h) */
	uint32_t vol_idx;
	uint32_t key_len;
	uint32_t value_len;
	uint32_t value_cap;
	uint8_t data[]; /* key_len bytes of key, then value_cap bytes */
};

struct mem_stripe {
	struct dict dict;
	struct mem_entry **vol; /* entries with an expiry time */
	uint32_t vol_len;
	uint32_t vol_cap;
	uint64_t data_bytes;
};

struct mem_engine {
	struct engine base;
	unsigned stripe_count;
	struct mem_stripe stripes[];
};

static inline struct mem_engine *mem_of(struct engine *e)
{
	return (struct mem_engine *)e;
}

static inline uint8_t *entry_value(struct mem_entry *me)
{
	return me->data + me->key_len;
}

static inline uint64_t entry_bytes(const struct mem_entry *me)
{
	return sizeof(*me) + me->key_len + me->value_cap;
}

static bool entry_key_eq(const struct dict_node *node, const void *key)
{
	const struct mem_entry *me = (const struct mem_entry *)node;
	const struct bytes *k = key;
	return me->key_len == k->len && memcmp(me->data, k->ptr, k->len) == 0;
}

static struct mem_entry *stripe_find(struct mem_stripe *s, const struct ekey *k)
{
	return (struct mem_entry *)dict_find(&s->dict, k->hash, entry_key_eq, &k->key);
}

/* Adds the entry to the volatile array; ERR_NOMEM if it cannot grow. */
static int vol_add(struct mem_stripe *s, struct mem_entry *me)
{
	if (s->vol_len == s->vol_cap) {
		uint32_t cap = s->vol_cap ? s->vol_cap * 2 : 16;
		struct mem_entry **v = realloc(s->vol, (size_t)cap * sizeof(*v));
		if (!v)
			return ERR_NOMEM;
		s->vol = v;
		s->vol_cap = cap;
	}
	me->vol_idx = s->vol_len;
	s->vol[s->vol_len++] = me;
	return 0;
}

static void vol_remove(struct mem_stripe *s, struct mem_entry *me)
{
	uint32_t i = me->vol_idx;
	ASSERT(i < s->vol_len && s->vol[i] == me);
	struct mem_entry *last = s->vol[--s->vol_len];
	s->vol[i] = last;
	last->vol_idx = i;
	me->vol_idx = VOL_NONE;
}

/* Makes the entry's membership of the volatile array match expire_ms. */
static int vol_update(struct mem_stripe *s, struct mem_entry *me, int64_t expire_ms)
{
	bool listed = me->vol_idx != VOL_NONE;
	if (expire_ms && !listed)
		return vol_add(s, me);
	if (!expire_ms && listed)
		vol_remove(s, me);
	return 0;
}

static void mem_destroy(struct engine *e)
{
	struct mem_engine *m = mem_of(e);
	for (unsigned i = 0; i < m->stripe_count; i++) {
		while (e->ops->clear(e, i, UINT64_MAX))
			;
		dict_deinit(&m->stripes[i].dict);
		free(m->stripes[i].vol);
	}
	free(m);
}

static int mem_get(struct engine *e, const struct ekey *k, struct bytes *val,
                   struct entry_meta *meta, uint64_t **access)
{
	struct mem_entry *me = stripe_find(&mem_of(e)->stripes[k->stripe], k);
	if (!me)
		return ERR_NOT_FOUND;
	*val = bytes_make(entry_value(me), me->value_len);
	meta->expire_ms = me->expire_ms;
	meta->version = me->version;
	meta->access = me->access;
	if (access)
		*access = &me->access;
	return 0;
}

/* Room to allocate for a value of len bytes: exact for a plain write, with
 * spare room when the value is being extended in place (keep_bytes > 0). */
static size_t value_cap_for(size_t len, size_t keep_bytes)
{
	if (keep_bytes == 0 || len == 0)
		return len;
	size_t spare = len < GROW_LINEAR_BYTES ? len : GROW_LINEAR_BYTES;
	size_t cap = len + spare;
	return cap > VALUE_BYTES_MAX ? (len > VALUE_BYTES_MAX ? len : VALUE_BYTES_MAX) : cap;
}

/* The old allocation is reused when it is big enough and not wasteful. */
static bool can_reuse(const struct mem_entry *me, size_t len, size_t keep_bytes)
{
	if (me->value_cap < len)
		return false;
	if (keep_bytes > 0)
		return true;
	return me->value_cap - len <= len / 4 + 64;
}

static struct mem_entry *entry_alloc(const struct ekey *k, size_t cap)
{
	/* The allocator hands out multiples of 16 bytes anyway: give the slack
	 * to the value, so a counter growing by a digit stays in place. */
	size_t total = (sizeof(struct mem_entry) + k->key.len + cap + 15) & ~(size_t)15;
	cap = total - sizeof(struct mem_entry) - k->key.len;
	if (cap > UINT32_MAX)
		cap = UINT32_MAX;
	struct mem_entry *me = malloc(total);
	if (!me)
		return NULL;
	me->node.next = NULL;
	me->node.hash = k->hash;
	me->vol_idx = VOL_NONE;
	me->key_len = (uint32_t)k->key.len;
	me->value_cap = (uint32_t)cap;
	me->value_len = 0;
	memcpy(me->data, k->key.ptr, k->key.len);
	return me;
}

static int mem_put(struct engine *e, const struct ekey *k, size_t len, size_t keep_bytes,
                   const struct entry_meta *meta, uint8_t **val_out, uint64_t **access)
{
	ASSERT(len <= VALUE_BYTES_MAX && k->key.len <= KEY_BYTES_MAX);
	struct mem_stripe *s = &mem_of(e)->stripes[k->stripe];
	struct mem_entry *old = stripe_find(s, k);
	struct mem_entry *me = old;
	if (!old || !can_reuse(old, len, keep_bytes)) {
		me = entry_alloc(k, value_cap_for(len, keep_bytes));
		if (!me)
			return ERR_NOMEM;
		if (old) {
			size_t keep = keep_bytes < old->value_len ? keep_bytes : old->value_len;
			memcpy(entry_value(me), entry_value(old), keep < len ? keep : len);
			me->access = old->access;
		} else {
			me->access = meta->access;
		}
	}
	if (vol_update(s, me, meta->expire_ms) != 0) {
		if (me != old)
			free(me);
		return ERR_NOMEM;
	}
	if (me != old) {
		if (old) {
			if (old->vol_idx != VOL_NONE)
				vol_remove(s, old);
			s->data_bytes -= entry_bytes(old);
			dict_replace(&s->dict, &old->node, &me->node);
			free(old);
		} else {
			dict_insert(&s->dict, &me->node);
		}
		s->data_bytes += entry_bytes(me);
	}
	me->value_len = (uint32_t)len;
	me->expire_ms = meta->expire_ms;
	me->version = meta->version;
	*val_out = entry_value(me);
	if (access)
		*access = &me->access;
	return 0;
}

static int mem_set_meta(struct engine *e, const struct ekey *k, const struct entry_meta *meta)
{
	struct mem_stripe *s = &mem_of(e)->stripes[k->stripe];
	struct mem_entry *me = stripe_find(s, k);
	if (!me)
		return ERR_NOT_FOUND;
	int rc = vol_update(s, me, meta->expire_ms);
	if (rc != 0)
		return rc;
	me->expire_ms = meta->expire_ms;
	me->version = meta->version;
	return 0;
}

static void entry_free(struct mem_stripe *s, struct mem_entry *me)
{
	if (me->vol_idx != VOL_NONE)
		vol_remove(s, me);
	s->data_bytes -= entry_bytes(me);
	free(me);
}

static int mem_del(struct engine *e, const struct ekey *k)
{
	struct mem_stripe *s = &mem_of(e)->stripes[k->stripe];
	struct mem_entry *me = stripe_find(s, k);
	if (!me)
		return ERR_NOT_FOUND;
	dict_remove(&s->dict, &me->node);
	entry_free(s, me);
	return 0;
}

static uint64_t mem_count(struct engine *e, unsigned stripe)
{
	return dict_count(&mem_of(e)->stripes[stripe].dict);
}

static uint64_t mem_volatile_count(struct engine *e, unsigned stripe)
{
	return mem_of(e)->stripes[stripe].vol_len;
}

struct scan_ctx {
	engine_visit_fn *fn;
	void *ctx;
};

static void scan_visit(void *ctx, struct dict_node *node)
{
	struct scan_ctx *sc = ctx;
	struct mem_entry *me = (struct mem_entry *)node;
	struct entry_meta meta = {me->expire_ms, me->version, me->access};
	sc->fn(sc->ctx, bytes_make(me->data, me->key_len), &meta);
}

static uint64_t mem_scan(struct engine *e, unsigned stripe, uint64_t cursor, engine_visit_fn *fn,
                         void *ctx)
{
	struct scan_ctx sc = {fn, ctx};
	return dict_scan(&mem_of(e)->stripes[stripe].dict, cursor, scan_visit, &sc);
}

static void entry_view(struct mem_entry *me, struct bytes *key, struct entry_meta *meta)
{
	*key = bytes_make(me->data, me->key_len);
	meta->expire_ms = me->expire_ms;
	meta->version = me->version;
	meta->access = me->access;
}

static int mem_random(struct engine *e, unsigned stripe, uint64_t rnd, struct bytes *key,
                      struct entry_meta *meta)
{
	struct dict_node *n = dict_random(&mem_of(e)->stripes[stripe].dict, rnd);
	if (!n)
		return ERR_NOT_FOUND;
	entry_view((struct mem_entry *)n, key, meta);
	return 0;
}

static int mem_random_volatile(struct engine *e, unsigned stripe, uint64_t rnd, struct bytes *key,
                               struct entry_meta *meta)
{
	struct mem_stripe *s = &mem_of(e)->stripes[stripe];
	if (s->vol_len == 0)
		return ERR_NOT_FOUND;
	entry_view(s->vol[rnd % s->vol_len], key, meta);
	return 0;
}

static void clear_visit(void *ctx, struct dict_node *node)
{
	entry_free(ctx, (struct mem_entry *)node);
}

static bool mem_clear(struct engine *e, unsigned stripe, uint64_t max_entries)
{
	struct mem_stripe *s = &mem_of(e)->stripes[stripe];
	return dict_clear(&s->dict, clear_visit, s, max_entries);
}

static bool mem_maintain(struct engine *e, unsigned stripe)
{
	return dict_rehash(&mem_of(e)->stripes[stripe].dict, REHASH_BUCKETS_PER_STEP * 16);
}

static uint64_t mem_memory_bytes(struct engine *e, unsigned stripe)
{
	struct mem_stripe *s = &mem_of(e)->stripes[stripe];
	return s->data_bytes + dict_bucket_bytes(&s->dict) + (uint64_t)s->vol_cap * sizeof(void *);
}

static const struct engine_ops mem_ops = {
    .name = "memory",
    .destroy = mem_destroy,
    .get = mem_get,
    .put = mem_put,
    .set_meta = mem_set_meta,
    .del = mem_del,
    .count = mem_count,
    .volatile_count = mem_volatile_count,
    .scan = mem_scan,
    .random = mem_random,
    .random_volatile = mem_random_volatile,
    .clear = mem_clear,
    .maintain = mem_maintain,
    .memory_bytes = mem_memory_bytes,
};

struct engine *engine_mem_create(unsigned stripe_count)
{
	struct mem_engine *m = calloc(1, sizeof(*m) + stripe_count * sizeof(struct mem_stripe));
	if (!m)
		return NULL;
	m->base.ops = &mem_ops;
	m->stripe_count = stripe_count;
	for (unsigned i = 0; i < stripe_count; i++)
		dict_init(&m->stripes[i].dict);
	return &m->base;
}
