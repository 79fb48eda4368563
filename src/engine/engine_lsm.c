/*
 * engine_lsm.c - the durable engine; see engine_lsm.h for the design.
 *
 * Per stripe (all of it guarded by the keyspace's stripe lock):
 *   pend    the changes of the command in progress, one per key, each with
 *           whether the key existed before the command (for the count);
 *   view    two buffers for values read from the store (engine.h, Views);
 *   err     the first read error of the command, reported by end;
 *   count   keys in the store (committed), expired-but-present included.
 * The index of keys with an expiry time is an in-memory engine (one table
 * per stripe) storing each such key with an empty value and its expire_ms.
 *
 * Compaction drops expired entries on its own, so the index (and count)
 * may name a key the store no longer has; a get that finds such a key gone
 * reconciles both, and a delete of it writes a harmless tombstone.
 *
 * Row cache. A second in-memory engine holds recently used entries (key,
 * value, expiry), bounded to row_cache_bytes (an equal share per stripe),
 * filled at open by the counting scan and by reads, updated by every
 * committed write. Values over RC_VALUE_MAX are cached as stubs (the key is
 * known, the value is read from the store). A stripe whose every key is in
 * the cache is complete: a key the cache does not have does not exist, so
 * neither a read miss nor the existence check of a write touches the
 * store. A stripe stops being complete when the cache evicts one of its
 * entries (at random, after a command, when over its share).
 */
#include "engine/engine_lsm.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/assert.h"
#include "base/buf.h"
#include "base/err.h"
#include "base/hash.h"
#include "base/limits.h"
#include "engine/ikey.h"
#include "env/env.h"

#define PREFIX_BYTES   8
#define VIEWS          2
#define SCAN_STEP_KEYS 16
#define REC_HEADER_MAX 9
/* Buffers larger than this are given back after a command. */
#define KEEP_BUF_BYTES (64 * 1024)
/* Entries written per batch by clear(). */
#define CLEAR_BATCH_MAX 1024
/* Row cache: larger values are cached as stubs; version marks a stub. */
#define RC_VALUE_MAX (64 * 1024)
#define RC_STUB      1u
/* Evictions per stripe after one command (the rest waits for the next). */
#define RC_TRIM_MAX 64

struct pend {
	struct buf skey; /* storage key */
	struct buf rec;  /* value record of a put */
	uint64_t hash;
	int64_t expire_ms; /* of a put */
	uint64_t access;   /* the access word of a key new to the cache */
	bool del;          /* a tombstone, else a put */
	bool existed;      /* the key was in the store before the command */
	bool no_ttl;       /* ...without a TTL, so the TTL index has no entry for it */
};

struct lstripe {
	struct pend *pend;
	size_t pend_len, pend_cap;
	struct buf view[VIEWS];
	unsigned next_view;
	struct buf skey; /* scratch storage key */
	int err;
	uint64_t count;
	uint64_t access; /* the access word handed out; the LSM keeps none */
	bool complete;   /* the row cache holds every key of the stripe */
};

struct lsm_engine {
	struct engine base;
	struct lsm *db;
	struct env_fs *fs;
	struct engine *idx;
	struct engine *rc;        /* row cache, or NULL */
	uint64_t rc_stripe_bytes; /* each stripe's share of it */
	struct log *log;
	unsigned stripe_count;
	struct lstripe stripes[];
};

static inline struct lsm_engine *le_of(struct engine *e)
{
	return (struct lsm_engine *)e;
}

static inline uint64_t prefix_hash(const uint8_t *p)
{
	uint64_t h = 0;
	for (int i = 0; i < PREFIX_BYTES; i++)
		h = h << 8 | p[i];
	return h;
}

static inline struct bytes user_key(struct bytes skey)
{
	return bytes_make(skey.ptr + PREFIX_BYTES, skey.len - PREFIX_BYTES);
}

static int make_skey(struct buf *dst, struct bytes key, uint64_t hash)
{
	dst->len = 0;
	int err = buf_reserve(dst, PREFIX_BYTES + key.len, KEY_BYTES_MAX);
	if (err)
		return err;
	engine_lsm_key_prefix(dst->data, hash);
	dst->len = PREFIX_BYTES;
	buf_put(dst, key.ptr, key.len);
	return 0;
}

static void note_err(struct lsm_engine *le, struct lstripe *s, int err, const char *what)
{
	if (!s->err)
		s->err = err;
	if (err != ERR_NOMEM)
		LOG_W(le->log, "engine: %s failed in stripe %u: %s", what,
		      (unsigned)(s - le->stripes), err_str(err));
}

static struct pend *pend_find(struct lstripe *s, struct bytes key)
{
	for (size_t i = 0; i < s->pend_len; i++) {
		struct pend *p = &s->pend[i];
		if (p->skey.len == PREFIX_BYTES + key.len &&
		    memcmp(p->skey.data + PREFIX_BYTES, key.ptr, key.len) == 0)
			return p;
	}
	return NULL;
}

static int pend_add(struct lstripe *s, const struct ekey *k, bool existed, struct pend **out)
{
	if (s->pend_len == s->pend_cap) {
		size_t cap = s->pend_cap ? 2 * s->pend_cap : 4;
		struct pend *np = realloc(s->pend, cap * sizeof(*np));
		if (!np)
			return ERR_NOMEM;
		for (size_t i = s->pend_cap; i < cap; i++) {
			buf_init(&np[i].skey);
			buf_init(&np[i].rec);
		}
		s->pend = np;
		s->pend_cap = cap;
	}
	struct pend *p = &s->pend[s->pend_len];
	int err = make_skey(&p->skey, k->key, k->hash);
	if (err)
		return err;
	p->rec.len = 0;
	p->hash = k->hash;
	p->expire_ms = 0;
	p->del = false;
	p->existed = existed;
	p->no_ttl = false;
	s->pend_len++;
	*out = p;
	return 0;
}

/* ---- Row cache ---------------------------------------------------------- */

/* 0 with the cached entry (*stub: value not cached) and, when access is
 * not NULL, its access word (the keyspace's LRU/LFU state lives in the
 * cache), or ERR_NOT_FOUND. */
static int rc_get(struct lsm_engine *le, const struct ekey *k, struct bytes *val,
                  struct entry_meta *meta, bool *stub, uint64_t **access)
{
	if (!le->rc || le->rc->ops->get(le->rc, k, val, meta, access) != 0)
		return ERR_NOT_FOUND;
	*stub = meta->version == RC_STUB;
	meta->version = 0;
	return 0;
}

/* Caches an entry (a stub for a large value); access is its access word
 * if it is new to the cache (a cached entry keeps its own). Returns the
 * cached access word, or NULL: on failure the entry is dropped from the
 * cache and the stripe is no longer complete. */
static uint64_t *rc_put(struct lsm_engine *le, const struct ekey *k, struct bytes val,
                        int64_t expire_ms, uint64_t access)
{
	if (!le->rc)
		return NULL;
	bool stub = val.len > RC_VALUE_MAX;
	struct entry_meta m = {expire_ms, stub ? RC_STUB : 0, access};
	uint8_t *room;
	uint64_t *word;
	if (le->rc->ops->put(le->rc, k, stub ? 0 : val.len, 0, &m, &room, &word) != 0) {
		(void)le->rc->ops->del(le->rc, k);
		le->stripes[k->stripe].complete = false;
		return NULL;
	}
	if (!stub && val.len)
		memcpy(room, val.ptr, val.len);
	return word;
}

static void rc_del(struct lsm_engine *le, const struct ekey *k)
{
	if (le->rc)
		(void)le->rc->ops->del(le->rc, k);
}

/* Evicts random entries of the stripe while it is over its share. */
static void rc_trim(struct lsm_engine *le, unsigned stripe, uint64_t seed)
{
	if (!le->rc)
		return;
	for (int i = 0; i < RC_TRIM_MAX &&
	                le->rc->ops->memory_bytes(le->rc, stripe) > le->rc_stripe_bytes;
	     i++) {
		struct bytes key;
		struct entry_meta m;
		seed = seed * 6364136223846793005ull + 1442695040888963407ull;
		if (le->rc->ops->random(le->rc, stripe, seed, &key, &m) != 0)
			break;
		struct ekey k = {key, hash_bytes(key.ptr, key.len), stripe};
		(void)le->rc->ops->del(le->rc, &k);
		le->stripes[stripe].complete = false;
	}
}

/* The store lost a key the index still names: compaction dropped it
 * expired. Brings the index, the cache and the count in line. */
static void reconcile_gone(struct lsm_engine *le, struct lstripe *s, const struct ekey *k)
{
	rc_del(le, k);
	if (le->idx->ops->del(le->idx, k) == 0 && s->count > 0)
		s->count--;
}

/* Whether the committed store holds the key (expired or not). Keys in the
 * expiry index count as present without a read. */
static int committed_exists(struct lsm_engine *le, struct lstripe *s, const struct ekey *k,
                            bool *exists, bool *no_ttl, uint64_t **word)
{
	struct bytes v;
	struct entry_meta m;
	bool stub;
	*no_ttl = false;
	if (rc_get(le, k, &v, &m, &stub, word) == 0) {
		*exists = true;
		*no_ttl = m.expire_ms == 0; /* the cache is updated with every commit */
		return 0;
	}
	if (le->idx->ops->get(le->idx, k, &v, &m, NULL) == 0) {
		*exists = true;
		return 0;
	}
	if (s->complete) {
		*exists = false;
		return 0;
	}
	int err = make_skey(&s->skey, k->key, k->hash);
	if (err)
		return err;
	struct buf *view = &s->view[s->next_view];
	s->next_view = (s->next_view + 1) % VIEWS;
	bool is_blob;
	err = lsm_get_record(le->db, bytes_make(s->skey.data, s->skey.len), view, &is_blob);
	*exists = err == 0;
	return err == ERR_NOT_FOUND ? 0 : err;
}

static int decode_rec(struct bytes rec, struct bytes *val, struct entry_meta *meta)
{
	int64_t exp;
	if (!vrec_decode(rec, &exp, val))
		return ERR_CORRUPT;
	meta->expire_ms = exp;
	meta->version = 0;
	meta->access = 0;
	return 0;
}

static int lsm_e_get(struct engine *e, const struct ekey *k, struct bytes *val,
                     struct entry_meta *meta, uint64_t **access)
{
	struct lsm_engine *le = le_of(e);
	struct lstripe *s = &le->stripes[k->stripe];
	if (access)
		*access = &s->access;
	struct pend *p = pend_find(s, k->key);
	if (p) {
		if (p->del)
			return ERR_NOT_FOUND;
		return decode_rec(bytes_make(p->rec.data, p->rec.len), val, meta);
	}
	bool stub = false;
	uint64_t *word = NULL;
	if (rc_get(le, k, val, meta, &stub, &word) == 0) {
		if (access && word)
			*access = word;
		if (!stub)
			return 0;
	}
	if (!stub && s->complete)
		return ERR_NOT_FOUND;
	int err = make_skey(&s->skey, k->key, k->hash);
	if (err) /* a key too long to store was never stored */
		return err == ERR_LIMIT ? ERR_NOT_FOUND : err;
	struct buf *view = &s->view[s->next_view];
	s->next_view = (s->next_view + 1) % VIEWS;
	err = lsm_get(le->db, bytes_make(s->skey.data, s->skey.len), view);
	if (err == ERR_NOT_FOUND) {
		reconcile_gone(le, s, k);
		return err;
	}
	if (!err)
		err = decode_rec(bytes_make(view->data, view->len), val, meta);
	if (err) {
		note_err(le, s, err, "read");
		return err;
	}
	if (!stub) { /* a stub stays a stub: the value is too large to cache */
		word = rc_put(le, k, *val, meta->expire_ms, 0);
		if (access && word)
			*access = word;
	}
	return 0;
}

/* Builds the value record of a put into rec: header, keep bytes of old,
 * and room for the rest. */
static int build_rec(struct buf *rec, size_t len, struct bytes old, size_t keep,
                     int64_t expire_ms, uint8_t **val_out)
{
	rec->len = 0;
	int err = buf_reserve(rec, REC_HEADER_MAX + len, VALUE_BYTES_MAX + REC_HEADER_MAX);
	if (err)
		return err == ERR_LIMIT ? ERR_NOMEM : err;
	rec->len = vrec_encode(rec->data, expire_ms, bytes_make(NULL, 0));
	uint8_t *dst = rec->data + rec->len;
	if (keep > old.len)
		keep = old.len;
	if (keep > len)
		keep = len;
	if (keep)
		memmove(dst, old.ptr, keep);
	rec->len += len;
	*val_out = dst;
	return 0;
}

static int lsm_e_put(struct engine *e, const struct ekey *k, size_t len, size_t keep_bytes,
                     const struct entry_meta *meta, uint8_t **val_out, uint64_t **access)
{
	struct lsm_engine *le = le_of(e);
	struct lstripe *s = &le->stripes[k->stripe];
	struct pend *p = pend_find(s, k->key);
	uint64_t *word = NULL; /* the cached entry's access word, if cached */
	if (p) {
		if (access) {
			struct bytes v;
			struct entry_meta m;
			bool stub;
			*access = rc_get(le, k, &v, &m, &stub, &word) == 0 && word ? word : &p->access;
		}
		struct bytes old = bytes_make(NULL, 0);
		struct entry_meta om;
		struct buf tmp;
		buf_init(&tmp);
		if (!p->del && keep_bytes)
			(void)decode_rec(bytes_make(p->rec.data, p->rec.len), &old, &om);
		int err = build_rec(&tmp, len, old, keep_bytes, meta->expire_ms, val_out);
		if (err) {
			buf_deinit(&tmp);
			return err;
		}
		buf_deinit(&p->rec);
		p->rec = tmp;
		p->del = false;
		p->expire_ms = meta->expire_ms;
		return 0;
	}
	bool existed, no_ttl = false;
	struct bytes old = bytes_make(NULL, 0);
	int err;
	if (keep_bytes) {
		struct entry_meta om;
		err = lsm_e_get(e, k, &old, &om, &word);
		existed = err == 0;
		if (err == ERR_NOT_FOUND)
			err = 0;
		if (word == &s->access)
			word = NULL;
	} else {
		err = committed_exists(le, s, k, &existed, &no_ttl, &word);
	}
	if (err) {
		note_err(le, s, err, "read before write");
		return err;
	}
	err = pend_add(s, k, existed, &p);
	if (!err)
		err = build_rec(&p->rec, len, old, keep_bytes, meta->expire_ms, val_out);
	if (err) {
		if (p)
			s->pend_len--;
		return err == ERR_LIMIT ? ERR_NOMEM : err;
	}
	p->expire_ms = meta->expire_ms;
	p->no_ttl = no_ttl;
	p->access = meta->access;
	if (access)
		*access = word ? word : &p->access;
	return 0;
}

static int lsm_e_set_meta(struct engine *e, const struct ekey *k, const struct entry_meta *meta)
{
	struct bytes val;
	struct entry_meta old;
	int err = lsm_e_get(e, k, &val, &old, NULL);
	if (err)
		return err;
	uint8_t *room;
	/* Rewrites the value with the new header: keep_bytes copies it. */
	return lsm_e_put(e, k, val.len, val.len, meta, &room, NULL);
}

static int lsm_e_del(struct engine *e, const struct ekey *k)
{
	struct lsm_engine *le = le_of(e);
	struct lstripe *s = &le->stripes[k->stripe];
	struct pend *p = pend_find(s, k->key);
	if (p) {
		if (p->del)
			return ERR_NOT_FOUND;
		p->del = true;
		p->rec.len = 0;
		p->expire_ms = 0;
		return 0;
	}
	bool existed;
	bool no_ttl;
	int err = committed_exists(le, s, k, &existed, &no_ttl, NULL);
	if (err) {
		/* The command fails at end; the tombstone is never written. */
		note_err(le, s, err, "read before delete");
		existed = true;
	}
	if (!existed)
		return ERR_NOT_FOUND;
	err = pend_add(s, k, true, &p);
	if (err) {
		note_err(le, s, err, "delete");
		return 0; /* end reports it; the keyspace's delete cannot fail */
	}
	p->del = true;
	p->no_ttl = no_ttl;
	return 0;
}

static uint64_t lsm_e_count(struct engine *e, unsigned stripe)
{
	struct lstripe *s = &le_of(e)->stripes[stripe];
	int64_t n = (int64_t)s->count;
	for (size_t i = 0; i < s->pend_len; i++)
		n += (int64_t)!s->pend[i].del - (int64_t)s->pend[i].existed;
	return n > 0 ? (uint64_t)n : 0;
}

static uint64_t lsm_e_volatile_count(struct engine *e, unsigned stripe)
{
	struct lsm_engine *le = le_of(e);
	return le->idx->ops->volatile_count(le->idx, stripe);
}

/* An iterator positioned at the first key at or after hash position pos
 * (a full 64-bit hash) that still belongs to stripe; NULL with *err set on
 * failure, or with *err 0 when the stripe has no key there. */
static struct lsm_iter *iter_at(struct lsm_engine *le, unsigned stripe, uint64_t pos, int *err)
{
	struct lsm_iter *it;
	*err = lsm_iter_create(le->db, &it);
	if (*err)
		return NULL;
	uint8_t start[PREFIX_BYTES];
	engine_lsm_key_prefix(start, pos);
	lsm_iter_seek(it, bytes_make(start, sizeof(start)));
	if (lsm_iter_valid(it) && lsm_iter_key(it).len >= PREFIX_BYTES &&
	    lsm_iter_key(it).ptr[0] == stripe)
		return it;
	*err = lsm_iter_status(it);
	lsm_iter_destroy(it);
	return NULL;
}

/* Decodes the current entry of an iterator; false on a malformed one. */
static bool iter_entry(struct lsm_iter *it, struct bytes *key, struct entry_meta *meta)
{
	struct bytes skey = lsm_iter_key(it);
	bool is_blob;
	struct bytes val;
	if (skey.len < PREFIX_BYTES || decode_rec(lsm_iter_record(it, &is_blob), &val, meta))
		return false;
	*key = user_key(skey);
	return true;
}

static uint64_t stripe_base(unsigned stripe)
{
	return (uint64_t)stripe << 56;
}

/* Cursor: 0 to start, else 1 + the low 56 bits of the hash to resume at. */
/* The end of a stripe's scan: the keys the command in progress created
 * (a MULTI/EXEC that scans after writing), which the store does not hold
 * yet. Keys it replaced or deleted were handled as the store's came by. */
static uint64_t scan_done(struct lstripe *s, engine_visit_fn *fn, void *ctx)
{
	for (size_t i = 0; i < s->pend_len; i++) {
		struct pend *p = &s->pend[i];
		struct bytes val;
		struct entry_meta meta;
		if (!p->del && !p->existed &&
		    decode_rec(bytes_make(p->rec.data, p->rec.len), &val, &meta) == 0)
			fn(ctx, user_key(bytes_make(p->skey.data, p->skey.len)), &meta);
	}
	return 0;
}

static uint64_t lsm_e_scan(struct engine *e, unsigned stripe, uint64_t cursor,
                           engine_visit_fn *fn, void *ctx)
{
	struct lsm_engine *le = le_of(e);
	struct lstripe *s = &le->stripes[stripe];
	const uint64_t low_max = (UINT64_C(1) << 56) - 1;
	uint64_t pos = stripe_base(stripe) | (cursor ? cursor - 1 : 0);
	int err;
	struct lsm_iter *it = iter_at(le, stripe, pos, &err);
	if (!it) {
		if (err)
			note_err(le, s, err, "scan");
		return scan_done(s, fn, ctx);
	}
	uint64_t visited = 0, last_low = 0;
	for (; lsm_iter_valid(it); lsm_iter_next(it)) {
		struct bytes skey = lsm_iter_key(it);
		if (skey.len < PREFIX_BYTES || skey.ptr[0] != stripe)
			break;
		uint64_t low = prefix_hash(skey.ptr) & low_max;
		/* Stop between hashes only, so keys sharing one are seen together;
		 * a resume point past low_max - 1 cannot be encoded, so finish. */
		if (visited >= SCAN_STEP_KEYS && low != last_low && last_low < low_max - 1) {
			lsm_iter_destroy(it);
			return last_low + 2;
		}
		struct bytes key;
		struct entry_meta meta;
		if (!iter_entry(it, &key, &meta)) {
			note_err(le, s, ERR_CORRUPT, "scan");
			break;
		}
		if (le->rc) { /* the access word, for HOTKEYS */
			struct ekey k = {key, prefix_hash(skey.ptr), stripe};
			struct bytes v;
			struct entry_meta cm;
			bool stub;
			if (rc_get(le, &k, &v, &cm, &stub, NULL) == 0)
				meta.access = cm.access;
		}
		struct pend *p = s->pend_len ? pend_find(s, key) : NULL;
		struct bytes pv;
		if (p && p->del)
			continue; /* deleted by the command in progress */
		if (p)
			(void)decode_rec(bytes_make(p->rec.data, p->rec.len), &pv, &meta);
		fn(ctx, key, &meta);
		visited++;
		last_low = low;
	}
	if (lsm_iter_status(it))
		note_err(le, s, lsm_iter_status(it), "scan");
	lsm_iter_destroy(it);
	return scan_done(s, fn, ctx);
}

static int copy_key_out(struct lstripe *s, struct bytes key, struct bytes *out)
{
	struct buf *view = &s->view[s->next_view];
	s->next_view = (s->next_view + 1) % VIEWS;
	view->len = 0;
	int err = buf_reserve(view, key.len, KEY_BYTES_MAX);
	if (err)
		return err;
	buf_put(view, key.ptr, key.len);
	*out = bytes_make(view->data, view->len);
	return 0;
}

static int lsm_e_random(struct engine *e, unsigned stripe, uint64_t rnd, struct bytes *key,
                        struct entry_meta *meta)
{
	struct lsm_engine *le = le_of(e);
	struct lstripe *s = &le->stripes[stripe];
	if (s->count == 0)
		return ERR_NOT_FOUND;
	/* From the cache when it has the stripe's keys (uniform when the stripe
	 * is complete, the recently used ones otherwise): with their access
	 * words, which eviction sampling and HOTKEYS need. */
	if (le->rc && le->rc->ops->random(le->rc, stripe, rnd, key, meta) == 0) {
		meta->version = 0;
		return 0;
	}
	int err;
	uint64_t low = rnd & ((UINT64_C(1) << 56) - 1);
	struct lsm_iter *it = iter_at(le, stripe, stripe_base(stripe) | low, &err);
	if (!it && !err)
		it = iter_at(le, stripe, stripe_base(stripe), &err); /* wrap around */
	if (!it) {
		if (err)
			note_err(le, s, err, "random");
		return err ? err : ERR_NOT_FOUND;
	}
	struct bytes k;
	err = iter_entry(it, &k, meta) ? copy_key_out(s, k, key) : ERR_CORRUPT;
	lsm_iter_destroy(it);
	if (err)
		note_err(le, s, err, "random");
	return err;
}

static int lsm_e_random_volatile(struct engine *e, unsigned stripe, uint64_t rnd,
                                 struct bytes *key, struct entry_meta *meta)
{
	struct lsm_engine *le = le_of(e);
	return le->idx->ops->random_volatile(le->idx, stripe, rnd, key, meta);
}

/* Deletes up to limit keys of the hash range [lo, hi] (partitions.c part
 * below); *more when keys remain. */
static int drop_range(struct lsm_engine *le, uint64_t lo, uint64_t hi, uint64_t limit,
                      uint64_t *dropped, bool *more);

static bool lsm_e_clear(struct engine *e, unsigned stripe, uint64_t max_entries)
{
	struct lsm_engine *le = le_of(e);
	struct lstripe *s = &le->stripes[stripe];
	/* A flush supersedes the command's own pending changes. */
	s->pend_len = 0;
	uint64_t dropped;
	bool more;
	int err = drop_range(le, stripe_base(stripe), stripe_base(stripe) | ((UINT64_C(1) << 56) - 1),
	                     max_entries, &dropped, &more);
	if (err) {
		note_err(le, s, err, "flush");
		return false;
	}
	if (!more)
		s->count = 0; /* also keys compaction dropped expired behind the count */
	return more;
}

static bool lsm_e_maintain(struct engine *e, unsigned stripe)
{
	(void)e;
	(void)stripe;
	return false;
}

static uint64_t lsm_e_memory_bytes(struct engine *e, unsigned stripe)
{
	struct lsm_engine *le = le_of(e);
	struct lstripe *s = &le->stripes[stripe];
	uint64_t n = le->idx->ops->memory_bytes(le->idx, stripe) + s->pend_cap * sizeof(struct pend);
	if (le->rc)
		n += le->rc->ops->memory_bytes(le->rc, stripe);
	for (size_t i = 0; i < s->pend_cap; i++)
		n += s->pend[i].skey.cap + s->pend[i].rec.cap;
	for (int i = 0; i < VIEWS; i++)
		n += s->view[i].cap;
	return n;
}

/* A committed change: the count and the expiry index follow it. */
static void apply(struct lsm_engine *le, unsigned stripe, struct pend *p)
{
	struct lstripe *s = &le->stripes[stripe];
	if (!p->del && !p->existed)
		s->count++;
	else if (p->del && p->existed && s->count > 0)
		s->count--;
	struct ekey k = {user_key(bytes_make(p->skey.data, p->skey.len)), p->hash, stripe};
	if (p->del) {
		rc_del(le, &k);
	} else {
		struct bytes val;
		struct entry_meta m;
		if (decode_rec(bytes_make(p->rec.data, p->rec.len), &val, &m) == 0)
			(void)rc_put(le, &k, val, m.expire_ms, p->access);
		else
			rc_del(le, &k);
	}
	if (!p->del && p->expire_ms) {
		struct entry_meta m = {p->expire_ms, 0, 0};
		uint8_t *room;
		if (le->idx->ops->put(le->idx, &k, 0, 0, &m, &room, NULL) != 0)
			LOG_W(le->log, "engine: out of memory adding a key to the expiry index; it "
			               "expires when read or compacted");
	} else if (!p->no_ttl) { /* one lookup saved per write of a key known to have none */
		(void)le->idx->ops->del(le->idx, &k);
	}
}

static void reset_stripe(struct lstripe *s)
{
	for (size_t i = 0; i < s->pend_len; i++) {
		s->pend[i].rec.len = 0;
		buf_shrink(&s->pend[i].rec, KEEP_BUF_BYTES);
	}
	s->pend_len = 0;
	s->err = 0;
	for (int i = 0; i < VIEWS; i++) {
		if (s->view[i].cap > KEEP_BUF_BYTES) {
			s->view[i].len = 0;
			buf_shrink(&s->view[i], KEEP_BUF_BYTES);
		}
	}
}

/* The sequences this thread's commands wrote since its last flush_log:
 * an event loop's turn (engine.h, flush_log). */
static _Thread_local uint64_t turn_first_seq, turn_last_seq;

#define FOR_EACH_STRIPE(bits, i)                                                                   \
	for (unsigned w_ = 0; w_ < KEYSPACE_STRIPES / 64; w_++)                                    \
		for (uint64_t m_ = (bits)[w_]; m_ && ((i) = w_ * 64 + (unsigned)__builtin_ctzll(m_), 1); \
		     m_ &= m_ - 1)

static int lsm_e_end(struct engine *e, const uint64_t *stripes)
{
	struct lsm_engine *le = le_of(e);
	int err = 0;
	size_t n = 0;
	unsigned i;
	FOR_EACH_STRIPE(stripes, i)
	{
		struct lstripe *s = &le->stripes[i];
		if (s->err && !err)
			err = s->err;
		n += s->pend_len;
	}
	if (!err && n) {
		struct lsm_op one[8];
		struct lsm_op *ops = n <= 8 ? one : malloc(n * sizeof(*ops));
		if (!ops) {
			err = ERR_NOMEM;
		} else {
			size_t j = 0;
			FOR_EACH_STRIPE(stripes, i)
			{
				struct lstripe *s = &le->stripes[i];
				for (size_t x = 0; x < s->pend_len; x++) {
					struct pend *p = &s->pend[x];
					ops[j].kind = p->del ? IKEY_KIND_DELETE : IKEY_KIND_PUT;
					ops[j].key = bytes_make(p->skey.data, p->skey.len);
					ops[j].value_record = bytes_make(p->rec.data, p->del ? 0 : p->rec.len);
					j++;
				}
			}
			struct lsm_batch b = {ops, n};
			uint64_t first, last;
			err = lsm_write_seq(le->db, &b, &first, &last);
			if (!err && last) {
				if (!turn_first_seq)
					turn_first_seq = first;
				turn_last_seq = last;
			}
			if (ops != one)
				free(ops);
		}
		if (err)
			LOG_W(le->log, "engine: write of %zu changes failed: %s", n, err_str(err));
	}
	FOR_EACH_STRIPE(stripes, i)
	{
		struct lstripe *s = &le->stripes[i];
		if (!err && s->pend_len) {
			for (size_t x = 0; x < s->pend_len; x++)
				apply(le, i, &s->pend[x]);
			rc_trim(le, i, s->count + s->pend_len);
		}
		reset_stripe(s);
	}
	return err;
}

static uint64_t lsm_e_shed(struct engine *e, unsigned stripe, uint64_t bytes)
{
	struct lsm_engine *le = le_of(e);
	if (!le->rc)
		return 0;
	uint64_t before = le->rc->ops->memory_bytes(le->rc, stripe), freed = 0;
	uint64_t seed = before ^ bytes;
	while (freed < bytes) {
		struct bytes key;
		struct entry_meta m;
		seed = seed * 6364136223846793005ull + 1442695040888963407ull;
		if (le->rc->ops->random(le->rc, stripe, seed, &key, &m) != 0)
			break;
		struct ekey k = {key, hash_bytes(key.ptr, key.len), stripe};
		(void)le->rc->ops->del(le->rc, &k);
		le->stripes[stripe].complete = false;
		uint64_t now = le->rc->ops->memory_bytes(le->rc, stripe);
		freed = before > now ? before - now : 0;
	}
	return freed;
}

static int lsm_e_flush_log(struct engine *e)
{
	int err = lsm_wal_flush_range(le_of(e)->db, turn_first_seq, turn_last_seq);
	turn_first_seq = turn_last_seq = 0;
	return err;
}

static void lsm_e_destroy(struct engine *e)
{
	struct lsm_engine *le = le_of(e);
	if (le->db)
		lsm_close(le->db);
	if (le->idx)
		le->idx->ops->destroy(le->idx);
	if (le->rc)
		le->rc->ops->destroy(le->rc);
	for (unsigned i = 0; i < le->stripe_count; i++) {
		struct lstripe *s = &le->stripes[i];
		for (size_t x = 0; x < s->pend_cap; x++) {
			buf_deinit(&s->pend[x].skey);
			buf_deinit(&s->pend[x].rec);
		}
		free(s->pend);
		for (int v = 0; v < VIEWS; v++)
			buf_deinit(&s->view[v]);
		buf_deinit(&s->skey);
	}
	free(le);
}

static const struct engine_ops lsm_engine_ops = {
    .name = "lsm",
    .destroy = lsm_e_destroy,
    .get = lsm_e_get,
    .put = lsm_e_put,
    .set_meta = lsm_e_set_meta,
    .del = lsm_e_del,
    .count = lsm_e_count,
    .volatile_count = lsm_e_volatile_count,
    .scan = lsm_e_scan,
    .random = lsm_e_random,
    .random_volatile = lsm_e_random_volatile,
    .clear = lsm_e_clear,
    .maintain = lsm_e_maintain,
    .memory_bytes = lsm_e_memory_bytes,
    .end = lsm_e_end,
    .flush_log = lsm_e_flush_log,
    .shed = lsm_e_shed,
};

/* Rebuilds the per-stripe counts and the expiry index in one pass. */
static int load_counts(struct lsm_engine *le, struct engine_lsm_open_info *info)
{
	struct lsm_iter *it;
	int err = lsm_iter_create(le->db, &it);
	if (err)
		return err;
	for (lsm_iter_seek_to_first(it); lsm_iter_valid(it); lsm_iter_next(it)) {
		struct bytes key;
		struct entry_meta meta;
		if (!iter_entry(it, &key, &meta)) {
			err = ERR_CORRUPT;
			break;
		}
		uint64_t hash = prefix_hash(lsm_iter_key(it).ptr);
		unsigned stripe = (unsigned)(hash >> 56);
		struct lstripe *s = &le->stripes[stripe];
		s->count++;
		info->keys++;
		struct ekey k = {key, hash, stripe};
		if (s->complete &&
		    le->rc->ops->memory_bytes(le->rc, stripe) < le->rc_stripe_bytes) {
			bool is_blob;
			struct bytes val;
			struct entry_meta vm;
			(void)decode_rec(lsm_iter_record(it, &is_blob), &val, &vm);
			/* A blob's value is elsewhere: cache a stub (len > RC_VALUE_MAX). */
			(void)rc_put(le, &k, is_blob ? bytes_make(NULL, RC_VALUE_MAX + 1) : val,
			             meta.expire_ms, 0);
			info->cached_keys++;
		} else {
			s->complete = false;
		}
		if (!meta.expire_ms)
			continue;
		uint8_t *room;
		if ((err = le->idx->ops->put(le->idx, &k, 0, 0, &meta, &room, NULL)) != 0)
			break;
		info->volatile_keys++;
	}
	if (!err)
		err = lsm_iter_status(it);
	lsm_iter_destroy(it);
	return err;
}

int engine_lsm_open(const char *dir, struct env_fs *fs, const struct lsm_options *opt,
                    uint64_t row_cache_bytes, unsigned stripe_count, struct log *log,
                    struct engine **out, struct engine_lsm_open_info *info)
{
	ASSERT(stripe_count == KEYSPACE_STRIPES);
	memset(info, 0, sizeof(*info));
	struct lsm_engine *le = calloc(1, sizeof(*le) + stripe_count * sizeof(le->stripes[0]));
	if (!le)
		return ERR_NOMEM;
	le->base.ops = &lsm_engine_ops;
	le->fs = fs;
	le->log = log;
	le->stripe_count = stripe_count;
	for (unsigned i = 0; i < stripe_count; i++) {
		for (int v = 0; v < VIEWS; v++)
			buf_init(&le->stripes[i].view[v]);
		buf_init(&le->stripes[i].skey);
	}
	le->idx = engine_mem_create(stripe_count);
	int err = le->idx ? 0 : ERR_NOMEM;
	if (!err && row_cache_bytes) {
		le->rc = engine_mem_create(stripe_count);
		le->rc_stripe_bytes = row_cache_bytes / stripe_count;
		err = le->rc ? 0 : ERR_NOMEM;
		for (unsigned i = 0; i < stripe_count; i++)
			le->stripes[i].complete = true;
	}
	if (!err)
		err = lsm_open(dir, fs, opt, &le->db, &info->lsm);
	uint64_t t0 = env_mono_us();
	if (!err && (err = load_counts(le, info)) == ERR_CORRUPT) {
		/* A damaged table block is that block's readers' error, not a
		 * reason to refuse to start: counts are then short. */
		LOG_W(log, "damage found while counting keys at open: DBSIZE and INFO keyspace "
		           "count only the %llu keys before it; reads of the damaged block fail. "
		           "Run ENGINE CHECK (or ringkv-cli check) to see where.",
		      (unsigned long long)info->keys);
		info->damaged = true;
		err = 0;
		for (unsigned i = 0; i < stripe_count; i++) /* keys past the damage are unknown */
			le->stripes[i].complete = false;
	}
	info->scan_ms = (env_mono_us() - t0) / 1000;
	if (err) {
		lsm_e_destroy(&le->base);
		return err;
	}
	*out = &le->base;
	return 0;
}

struct lsm *engine_lsm_store(struct engine *e)
{
	return e->ops == &lsm_engine_ops ? le_of(e)->db : NULL;
}

/* ---- Checkpoints ------------------------------------------------------- */

#define CKPT_PREFIX   "ckpt-"
#define CKPT_LIST_MAX 64
#define CKPT_NAME_BYTES 128

struct ckpt_list {
	char names[CKPT_LIST_MAX][CKPT_NAME_BYTES];
	size_t count;
};

static int list_ckpt(void *ctx, const char *name)
{
	struct ckpt_list *l = ctx;
	if (strncmp(name, CKPT_PREFIX, strlen(CKPT_PREFIX)) == 0 && l->count < CKPT_LIST_MAX &&
	    strlen(name) < CKPT_NAME_BYTES)
		snprintf(l->names[l->count++], CKPT_NAME_BYTES, "%s", name);
	return 0;
}

struct rm_ctx {
	struct env_fs *fs;
	const char *dir;
	int err;
};

static int remove_entry(void *ctx, const char *name)
{
	struct rm_ctx *r = ctx;
	char path[FS_PATH_BYTES_MAX];
	if (snprintf(path, sizeof(path), "%s/%s", r->dir, name) >= (int)sizeof(path))
		return ERR_LIMIT;
	int err = env_fs_remove(r->fs, path);
	if (err && !r->err)
		r->err = err;
	return 0;
}

static int cmp_name(const void *a, const void *b)
{
	return strcmp(a, b);
}

int engine_lsm_checkpoint_remove(struct engine *e, const char *dir)
{
	struct lsm_engine *le = le_of(e);
	struct rm_ctx r = {le->fs, dir, 0};
	int err = env_fs_list(le->fs, dir, remove_entry, &r);
	if (!err)
		err = r.err ? r.err : env_fs_rmdir(le->fs, dir);
	return err;
}

struct env_fs *engine_lsm_fs(struct engine *e)
{
	return le_of(e)->fs;
}

/* Removes all but the newest keep checkpoints in parent (names sort by
 * time). */
static void prune_checkpoints(struct lsm_engine *le, const char *parent, unsigned keep)
{
	static struct ckpt_list l; /* callers serialise checkpoints */
	l.count = 0;
	if (env_fs_list(le->fs, parent, list_ckpt, &l) != 0)
		return;
	qsort(l.names, l.count, sizeof(l.names[0]), cmp_name);
	for (size_t i = 0; i + keep < l.count; i++) {
		char dir[FS_PATH_BYTES_MAX];
		if (snprintf(dir, sizeof(dir), "%s/%s", parent, l.names[i]) >= (int)sizeof(dir))
			continue;
		int err = engine_lsm_checkpoint_remove(&le->base, dir);
		if (err)
			LOG_W(le->log, "could not remove old checkpoint %s: %s", dir, err_str(err));
	}
}

int engine_lsm_checkpoint(struct engine *e, const char *parent, const char *name, unsigned keep,
                          struct lsm_checkpoint_info *info)
{
	struct lsm_engine *le = le_of(e);
	char dir[FS_PATH_BYTES_MAX];
	if (snprintf(dir, sizeof(dir), "%s/%s%s", parent, CKPT_PREFIX, name) >= (int)sizeof(dir))
		return ERR_LIMIT;
	/* parent and each directory above it ("checkpoints/check"). */
	char path[FS_PATH_BYTES_MAX];
	int err = 0;
	for (size_t i = 0; parent[i] && !err; i++) {
		if (parent[i + 1] != '/' && parent[i + 1] != 0)
			continue;
		if (i + 2 > sizeof(path))
			return ERR_LIMIT;
		memcpy(path, parent, i + 1);
		path[i + 1] = 0;
		err = env_fs_mkdir(le->fs, path);
		if (err == ERR_EXISTS)
			err = 0;
	}
	if (err)
		return err;
	err = lsm_checkpoint(le->db, dir, info);
	if (err)
		return err;
	if (keep)
		prune_checkpoints(le, parent, keep);
	return 0;
}

/* ---- Partitions -------------------------------------------------------- */

int engine_lsm_partition_scan(struct engine *e, uint64_t lo, uint64_t hi, bool values,
                              engine_lsm_part_fn *fn, void *ctx)
{
	struct lsm_engine *le = le_of(e);
	if (lo > hi)
		return ERR_INVALID;
	struct lsm_iter *it;
	int err = lsm_iter_create(le->db, &it);
	if (err)
		return err;
	struct buf value;
	buf_init(&value);
	uint8_t start[PREFIX_BYTES];
	engine_lsm_key_prefix(start, lo);
	for (lsm_iter_seek(it, bytes_make(start, sizeof(start))); lsm_iter_valid(it);
	     lsm_iter_next(it)) {
		struct bytes sk = lsm_iter_key(it);
		if (sk.len < PREFIX_BYTES) {
			err = ERR_CORRUPT;
			break;
		}
		uint64_t h = prefix_hash(sk.ptr);
		if (h > hi)
			break;
		bool is_blob;
		struct bytes rec = lsm_iter_record(it, &is_blob);
		if (values && is_blob) {
			if ((err = lsm_iter_value(it, &value)) != 0)
				break;
			rec = bytes_make(value.data, value.len);
		}
		struct engine_lsm_part_entry ent = {user_key(sk), h, rec, is_blob && !values};
		if ((err = fn(ctx, &ent)) != 0)
			break;
	}
	if (!err)
		err = lsm_iter_status(it);
	lsm_iter_destroy(it);
	buf_deinit(&value);
	return err;
}

static int count_entry(void *ctx, const struct engine_lsm_part_entry *ent)
{
	(void)ent;
	(*(uint64_t *)ctx)++;
	return 0;
}

int engine_lsm_partition_count(struct engine *e, uint64_t lo, uint64_t hi, uint64_t *count)
{
	*count = 0;
	return engine_lsm_partition_scan(e, lo, hi, false, count_entry, count);
}

static int hash_entry(void *ctx, const struct engine_lsm_part_entry *ent)
{
	XXH3_state_t *st = ctx;
	uint8_t len[8];
	/* Length-prefixed, so (key, record) pairs cannot run into each other. */
	le_put64(len, ent->key.len);
	XXH3_64bits_update(st, len, sizeof(len));
	XXH3_64bits_update(st, ent->key.ptr, ent->key.len);
	le_put64(len, ent->record.len);
	XXH3_64bits_update(st, len, sizeof(len));
	XXH3_64bits_update(st, ent->record.ptr, ent->record.len);
	return 0;
}

int engine_lsm_partition_hash(struct engine *e, uint64_t lo, uint64_t hi, uint64_t *hash)
{
	XXH3_state_t st;
	XXH3_64bits_reset(&st);
	int err = engine_lsm_partition_scan(e, lo, hi, true, hash_entry, &st);
	*hash = err ? 0 : XXH3_64bits_digest(&st);
	return err;
}

struct drop_ctx {
	struct lsm_engine *le;
	struct lsm_op ops[CLEAR_BATCH_MAX];
	struct buf keys;
	size_t n;
	uint64_t dropped, limit;
	bool more;
};

#define DROP_STOP 1 /* drop_entry: the limit is reached (not an error) */

/* Writes the gathered tombstones and brings counts and index along. */
static int drop_flush(struct drop_ctx *d)
{
	if (d->n == 0)
		return 0;
	size_t off = 0;
	for (size_t i = 0; i < d->n; i++) {
		d->ops[i].key.ptr = d->keys.data + off;
		off += d->ops[i].key.len;
	}
	struct lsm_batch b = {d->ops, d->n};
	int err = lsm_write(d->le->db, &b);
	if (err)
		return err;
	for (size_t i = 0; i < d->n; i++) {
		struct bytes sk = d->ops[i].key;
		uint64_t h = prefix_hash(sk.ptr);
		struct lstripe *s = &d->le->stripes[h >> 56];
		struct ekey k = {user_key(sk), h, (unsigned)(h >> 56)};
		(void)d->le->idx->ops->del(d->le->idx, &k);
		rc_del(d->le, &k);
		if (s->count > 0)
			s->count--;
	}
	d->dropped += d->n;
	d->n = 0;
	d->keys.len = 0;
	return 0;
}

static int drop_entry(void *ctx, const struct engine_lsm_part_entry *ent)
{
	struct drop_ctx *d = ctx;
	if (d->dropped + d->n >= d->limit) {
		d->more = true;
		return DROP_STOP;
	}
	size_t len = PREFIX_BYTES + ent->key.len;
	int err = buf_reserve(&d->keys, len, SIZE_MAX);
	if (err)
		return err;
	uint8_t pre[PREFIX_BYTES];
	engine_lsm_key_prefix(pre, ent->hash);
	buf_put(&d->keys, pre, sizeof(pre));
	buf_put(&d->keys, ent->key.ptr, ent->key.len);
	d->ops[d->n].kind = IKEY_KIND_DELETE;
	d->ops[d->n].key = bytes_make(NULL, len); /* pointed at keys in drop_flush */
	d->ops[d->n].value_record = bytes_make(NULL, 0);
	if (++d->n == CLEAR_BATCH_MAX)
		return drop_flush(d);
	return 0;
}

static int drop_range(struct lsm_engine *le, uint64_t lo, uint64_t hi, uint64_t limit,
                      uint64_t *dropped, bool *more)
{
	*dropped = 0;
	*more = false;
	struct drop_ctx *d = calloc(1, sizeof(*d));
	if (!d)
		return ERR_NOMEM;
	d->le = le;
	d->limit = limit;
	buf_init(&d->keys);
	int err = engine_lsm_partition_scan(&le->base, lo, hi, false, drop_entry, d);
	if (err == DROP_STOP)
		err = 0;
	if (!err)
		err = drop_flush(d);
	*dropped = d->dropped;
	*more = d->more;
	buf_deinit(&d->keys);
	free(d);
	return err;
}

int engine_lsm_partition_drop(struct engine *e, uint64_t lo, uint64_t hi, uint64_t *dropped)
{
	bool more;
	return drop_range(le_of(e), lo, hi, UINT64_MAX, dropped, &more);
}
