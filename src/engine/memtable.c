/*
 * memtable.c - a lock-free-read skip list in an arena (see memtable.h).
 *
 * Node layout, one arena allocation:
 *     u64 prefix | u32 key_bytes | u32 value_bytes | u8 height | next[height] | ikey | vrec
 * prefix is the user key's first 8 bytes read big endian (zero padded), so
 * that comparing two prefixes as integers orders them as memcmp would: a
 * search decides most steps on it, in the node's first cache line, without
 * calling memcmp; only equal prefixes compare whole keys.
 * where next[] are atomic pointers, ikey is the internal key (user key and
 * 8-byte trailer, ikey.h) and vrec the value record. Only the tower is ever
 * written after publication, and only by the single writer linking later
 * nodes in; the lengths and bytes are immutable once the node is linked.
 *
 * Memory order, as LevelDB's db/skiplist.h: the writer fills the node and
 * its own links with relaxed stores, then links it into each level bottom
 * up with a release store into the predecessor; readers load links with
 * acquire, which makes the node's contents (written before the release)
 * visible. The list height is a relaxed atomic: a reader that sees a new,
 * larger height finds NULL or the new node in the sentinel's upper links,
 * both fine; one that sees an old height just searches fewer levels.
 *
 * Comparisons take the search key split into user key and trailer, so a
 * lookup never has to build an internal key in a buffer (keys may be
 * 16 MiB); the order is exactly ikey_cmp, which the tests check.
 */
#include "base/le.h"
#include "engine/memtable.h"

#include <stdalign.h>

#include "base/assert.h"
#include "base/err.h"
#include "base/limits.h"

/* A value record's fixed part: the flags byte and an optional expiry. */
#define VREC_HEADER_BYTES_MAX 9

struct mt_bucket {
	_Atomic(struct mt_node *) head; /* sentinel, NULL until the first add */
	_Atomic int height;             /* levels in use, 1..MEMTABLE_HEIGHT_MAX */
};

struct mt_node {
	uint64_t prefix;      /* key_prefix() of the user key */
	uint32_t key_bytes;   /* internal key, trailer included */
	uint32_t value_bytes; /* value record */
	uint8_t height;
	_Atomic(struct mt_node *) next[];
};

static_assert(MEMTABLE_HEIGHT_MAX <= UINT8_MAX, "height fits the node's u8");
static_assert(KEY_BYTES_MAX + IKEY_TRAILER_BYTES <= UINT32_MAX, "key length fits u32");
static_assert(VALUE_BYTES_MAX + VREC_HEADER_BYTES_MAX <= UINT32_MAX, "record length fits u32");

static inline const uint8_t *node_key_ptr(const struct mt_node *n)
{
	return (const uint8_t *)&n->next[n->height];
}

static inline struct mt_node *node_next(const struct mt_node *n, int level)
{
	return atomic_load_explicit(&n->next[level], memory_order_acquire);
}

static inline int list_height(const struct mt_bucket *b)
{
	return atomic_load_explicit(&b->height, memory_order_relaxed);
}

static inline const struct mt_node *bucket_head(const struct mt_bucket *b)
{
	return atomic_load_explicit(&b->head, memory_order_acquire);
}

static inline size_t bucket_count(const struct memtable *mt)
{
	return (size_t)1 << mt->bucket_bits;
}

/* The first 8 bytes of a key as a big-endian integer, zero padded. */
static inline uint64_t key_prefix(struct bytes key)
{
	uint8_t b[8] = {0};
	if (key.len)
		memcpy(b, key.ptr, key.len < 8 ? key.len : 8);
	return (uint64_t)b[0] << 56 | (uint64_t)b[1] << 48 | (uint64_t)b[2] << 40 |
	    (uint64_t)b[3] << 32 | (uint64_t)b[4] << 24 | (uint64_t)b[5] << 16 |
	    (uint64_t)b[6] << 8 | (uint64_t)b[7];
}

/* The bucket of a key prefix: its top bits, so buckets are key ranges. */
static inline size_t bucket_of(const struct memtable *mt, uint64_t prefix)
{
	return mt->bucket_bits ? (size_t)(prefix >> (64 - mt->bucket_bits)) : 0;
}

/* Order of node n against the key (ukey, trailer, prefix = key_prefix of
 * ukey): ikey_cmp's order. */
static inline int node_cmp_p(const struct mt_node *n, struct bytes ukey, uint64_t trailer,
                             uint64_t prefix)
{
	if (n->prefix != prefix)
		return n->prefix < prefix ? -1 : 1;
	const uint8_t *k = node_key_ptr(n);
	size_t ulen = n->key_bytes - IKEY_TRAILER_BYTES;
	int c = ikey_user_cmp(bytes_make(k, ulen), ukey);
	if (c)
		return c;
	uint64_t t = le_get64(k + ulen);
	return t > trailer ? -1 : t < trailer; /* newer (larger trailer) first */
}

static inline int node_cmp(const struct mt_node *n, struct bytes ukey, uint64_t trailer)
{
	return node_cmp_p(n, ukey, trailer, key_prefix(ukey));
}

/* The first node >= (ukey, trailer) in the key's bucket, or NULL; with
 * prev, also the last node < key on every level in use. */
static struct mt_node *find_ge(const struct memtable *mt, struct bytes ukey, uint64_t trailer,
                               struct mt_node **prev)
{
	uint64_t prefix = key_prefix(ukey);
	const struct mt_bucket *b = &mt->buckets[bucket_of(mt, prefix)];
	struct mt_node *x = (struct mt_node *)bucket_head(b);
	if (!x)
		return NULL; /* the writer creates the head before it searches */
	struct mt_node *known_ge = NULL; /* compared >= already, one level up */
	int level = list_height(b) - 1;
	for (;;) {
		struct mt_node *next = node_next(x, level);
		if (next && next != known_ge && node_cmp_p(next, ukey, trailer, prefix) < 0) {
			x = next;
			continue;
		}
		if (prev)
			prev[level] = x;
		if (level == 0)
			return next;
		known_ge = next;
		level--;
	}
}

/* The last node < (ukey, trailer) in bucket b (non-empty), or its
 * sentinel if none; with last, the bucket's last node (the key is then
 * ignored). */
static const struct mt_node *find_lt(const struct mt_bucket *b, struct bytes ukey,
                                     uint64_t trailer, bool last)
{
	const struct mt_node *x = bucket_head(b);
	int level = list_height(b) - 1;
	uint64_t prefix = key_prefix(ukey);
	for (;;) {
		struct mt_node *next = node_next(x, level);
		if (next && (last || node_cmp_p(next, ukey, trailer, prefix) < 0)) {
			x = next;
			continue;
		}
		if (level == 0)
			return x;
		level--;
	}
}

static struct mt_node *node_new(struct memtable *mt, int height, size_t key_bytes,
                                size_t value_bytes)
{
	size_t bytes = sizeof(struct mt_node) + (size_t)height * sizeof(struct mt_node *) +
	    key_bytes + value_bytes;
	struct mt_node *n = arena_alloc_aligned(&mt->arena, bytes, alignof(struct mt_node));
	if (!n)
		return NULL;
	n->prefix = 0;
	n->key_bytes = (uint32_t)key_bytes;
	n->value_bytes = (uint32_t)value_bytes;
	n->height = (uint8_t)height;
	for (int i = 0; i < height; i++)
		atomic_init(&n->next[i], NULL);
	return n;
}

int memtable_init(struct memtable *mt, const struct memtable_options *opt)
{
	struct memtable_options none = {0};
	if (!opt)
		opt = &none;
	arena_init(&mt->arena, opt->arena_block_bytes, opt->allocator);
	env_rng_seed(&mt->rng, opt->seed);
	atomic_init(&mt->entry_count, 0);
	mt->bucket_bits = opt->bucket_bits < MEMTABLE_BUCKET_BITS_MAX ? opt->bucket_bits
	                                                                : MEMTABLE_BUCKET_BITS_MAX;
	size_t nb = bucket_count(mt), words = (nb + 63) / 64;
	mt->buckets = arena_alloc_aligned(&mt->arena, nb * sizeof(*mt->buckets),
	                                  alignof(struct mt_bucket));
	mt->nonempty = arena_alloc_aligned(&mt->arena, words * sizeof(*mt->nonempty),
	                                   alignof(uint64_t));
	if (!mt->buckets || !mt->nonempty) {
		arena_deinit(&mt->arena);
		return ERR_NOMEM;
	}
	for (size_t i = 0; i < nb; i++) {
		atomic_init(&mt->buckets[i].head, NULL);
		atomic_init(&mt->buckets[i].height, 1);
	}
	for (size_t i = 0; i < words; i++)
		atomic_init(&mt->nonempty[i], 0);
	return 0;
}

void memtable_deinit(struct memtable *mt)
{
	arena_deinit(&mt->arena);
	mt->buckets = NULL;
	mt->nonempty = NULL;
}

/* Bucket b's sentinel, allocated on first use (writer only). Its key is
 * never compared; it gets a trailer's room so that every node has
 * key_bytes >= IKEY_TRAILER_BYTES. */
static struct mt_node *bucket_head_for_add(struct memtable *mt, struct mt_bucket *b)
{
	struct mt_node *h = atomic_load_explicit(&b->head, memory_order_relaxed);
	if (!h) {
		h = node_new(mt, MEMTABLE_HEIGHT_MAX, IKEY_TRAILER_BYTES, 0);
		if (h) /* readers see an empty list until the first link */
			atomic_store_explicit(&b->head, h, memory_order_release);
	}
	return h;
}

static void mark_nonempty(struct memtable *mt, size_t bucket)
{
	_Atomic uint64_t *w = &mt->nonempty[bucket / 64];
	uint64_t bit = UINT64_C(1) << (bucket % 64);
	if (!(atomic_load_explicit(w, memory_order_relaxed) & bit))
		atomic_fetch_or_explicit(w, bit, memory_order_release);
}

/* 1 + a geometric number of extra levels, p = 1/MEMTABLE_BRANCHING. */
static int random_height(struct memtable *mt)
{
	int h = 1;
	while (h < MEMTABLE_HEIGHT_MAX && env_rng_next(&mt->rng) % MEMTABLE_BRANCHING == 0)
		h++;
	return h;
}

static int check_entry(uint64_t seq, enum ikey_kind kind, struct bytes user_key,
                       struct bytes value_record)
{
	if (user_key.len > KEY_BYTES_MAX ||
	    value_record.len > VALUE_BYTES_MAX + VREC_HEADER_BYTES_MAX)
		return ERR_LIMIT;
	if (seq > IKEY_SEQ_MAX)
		return ERR_INVALID;
	if (kind == IKEY_KIND_DELETE)
		return value_record.len ? ERR_INVALID : 0;
	if (kind != IKEY_KIND_PUT && kind != IKEY_KIND_BLOB)
		return ERR_INVALID;
	int64_t expire_ms;
	struct bytes value;
	return vrec_decode(value_record, &expire_ms, &value) ? 0 : ERR_INVALID;
}

int memtable_add(struct memtable *mt, uint64_t seq, enum ikey_kind kind, struct bytes user_key,
                 struct bytes value_record)
{
	int err = check_entry(seq, kind, user_key, value_record);
	if (err)
		return err;
	uint64_t trailer = ikey_trailer(seq, kind);
	size_t bi = bucket_of(mt, key_prefix(user_key));
	struct mt_bucket *b = &mt->buckets[bi];
	struct mt_node *head = bucket_head_for_add(mt, b);
	if (!head)
		return ERR_NOMEM;
	struct mt_node *prev[MEMTABLE_HEIGHT_MAX];
	struct mt_node *ge = find_ge(mt, user_key, trailer, prev);
	if (ge && node_cmp(ge, user_key, trailer) == 0)
		return ERR_EXISTS;

	int height = random_height(mt);
	struct mt_node *n =
	    node_new(mt, height, user_key.len + IKEY_TRAILER_BYTES, value_record.len);
	if (!n)
		return ERR_NOMEM;
	uint8_t *k = (uint8_t *)node_key_ptr(n);
	n->prefix = key_prefix(user_key);
	ikey_encode(k, user_key, seq, kind);
	if (value_record.len)
		memcpy(k + n->key_bytes, value_record.ptr, value_record.len);

	int old_height = list_height(b);
	for (int i = old_height; i < height; i++)
		prev[i] = head;
	if (height > old_height)
		atomic_store_explicit(&b->height, height, memory_order_relaxed);
	/* Bottom up: once level 0 links the node it is in the list; upper
	 * levels are shortcuts that a reader may or may not use yet. */
	for (int i = 0; i < height; i++) {
		struct mt_node *succ =
		    atomic_load_explicit(&prev[i]->next[i], memory_order_relaxed);
		atomic_store_explicit(&n->next[i], succ, memory_order_relaxed);
		atomic_store_explicit(&prev[i]->next[i], n, memory_order_release);
	}
	mark_nonempty(mt, bi);
	atomic_store_explicit(&mt->entry_count, memtable_entry_count(mt) + 1, memory_order_relaxed);
	return 0;
}

static void node_entry(const struct mt_node *n, struct memtable_entry *out)
{
	const uint8_t *k = node_key_ptr(n);
	size_t ulen = n->key_bytes - IKEY_TRAILER_BYTES;
	uint64_t t = le_get64(k + ulen);
	out->user_key = bytes_make(k, ulen);
	out->seq = t >> 8;
	out->kind = (enum ikey_kind)(t & 0xff);
	out->value_record = bytes_make(k + n->key_bytes, n->value_bytes);
}

enum memtable_lookup memtable_get(const struct memtable *mt, struct bytes user_key,
                                  uint64_t seq_as_of, struct memtable_entry *out)
{
	if (seq_as_of > IKEY_SEQ_MAX)
		seq_as_of = IKEY_SEQ_MAX;
	const struct mt_node *n =
	    find_ge(mt, user_key, ikey_trailer(seq_as_of, IKEY_KIND_SEEK), NULL);
	if (!n)
		return MEMTABLE_ABSENT;
	struct memtable_entry e;
	node_entry(n, &e);
	if (!bytes_eq(e.user_key, user_key))
		return MEMTABLE_ABSENT;
	*out = e;
	return e.kind == IKEY_KIND_DELETE ? MEMTABLE_TOMBSTONE : MEMTABLE_VALUE;
}

/* The first node of the first non-empty bucket >= from, or NULL; *bucket
 * gets its index. */
static const struct mt_node *first_from(const struct memtable *mt, size_t from, size_t *bucket)
{
	size_t nb = bucket_count(mt);
	while (from < nb) {
		uint64_t w = atomic_load_explicit(&mt->nonempty[from / 64], memory_order_acquire);
		w &= ~UINT64_C(0) << (from % 64);
		if (!w) {
			from = (from / 64 + 1) * 64;
			continue;
		}
		size_t b = from / 64 * 64 + (size_t)__builtin_ctzll(w);
		if (b >= nb)
			break;
		*bucket = b;
		return node_next(bucket_head(&mt->buckets[b]), 0);
	}
	return NULL;
}

/* The last node of the last non-empty bucket <= from (SIZE_MAX: none), or
 * NULL. */
static const struct mt_node *last_from(const struct memtable *mt, size_t from, size_t *bucket)
{
	while (from != SIZE_MAX) {
		uint64_t w = atomic_load_explicit(&mt->nonempty[from / 64], memory_order_acquire);
		unsigned keep = (unsigned)(from % 64) + 1;
		if (keep < 64)
			w &= (UINT64_C(1) << keep) - 1;
		if (!w) {
			from = from / 64 * 64 - 1; /* wraps to SIZE_MAX below bucket 0 */
			continue;
		}
		size_t b = from / 64 * 64 + 63 - (size_t)__builtin_clzll(w);
		*bucket = b;
		return find_lt(&mt->buckets[b], bytes_make(NULL, 0), 0, true);
	}
	return NULL;
}

void memtable_iter_init(struct memtable_iter *it, const struct memtable *mt)
{
	it->mt = mt;
	it->node = NULL;
	it->bucket = 0;
}

void memtable_iter_seek_to_first(struct memtable_iter *it)
{
	it->node = first_from(it->mt, 0, &it->bucket);
}

void memtable_iter_seek_to_last(struct memtable_iter *it)
{
	it->node = last_from(it->mt, bucket_count(it->mt) - 1, &it->bucket);
}

void memtable_iter_seek(struct memtable_iter *it, struct bytes ikey)
{
	ASSERT(ikey.len >= IKEY_TRAILER_BYTES);
	size_t ulen = ikey.len - IKEY_TRAILER_BYTES;
	uint64_t trailer = le_get64(ikey.ptr + ulen);
	struct bytes ukey = bytes_make(ikey.ptr, ulen);
	it->bucket = bucket_of(it->mt, key_prefix(ukey));
	it->node = find_ge(it->mt, ukey, trailer, NULL);
	if (!it->node)
		it->node = first_from(it->mt, it->bucket + 1, &it->bucket);
}

bool memtable_iter_valid(const struct memtable_iter *it)
{
	return it->node != NULL;
}

void memtable_iter_next(struct memtable_iter *it)
{
	ASSERT(it->node);
	it->node = node_next(it->node, 0);
	if (!it->node)
		it->node = first_from(it->mt, it->bucket + 1, &it->bucket);
}

void memtable_iter_prev(struct memtable_iter *it)
{
	ASSERT(it->node);
	/* No back links (they would need a second publication order); a
	 * search for the last node before this one is O(log n). */
	const struct mt_node *n = it->node;
	size_t ulen = n->key_bytes - IKEY_TRAILER_BYTES;
	const uint8_t *k = node_key_ptr(n);
	const struct mt_bucket *b = &it->mt->buckets[it->bucket];
	const struct mt_node *p = find_lt(b, bytes_make(k, ulen), le_get64(k + ulen), false);
	if (p == bucket_head(b))
		p = last_from(it->mt, it->bucket - 1, &it->bucket); /* bucket 0: SIZE_MAX */
	it->node = p;
}

struct bytes memtable_iter_key(const struct memtable_iter *it)
{
	ASSERT(it->node);
	return bytes_make(node_key_ptr(it->node), it->node->key_bytes);
}

struct bytes memtable_iter_value(const struct memtable_iter *it)
{
	ASSERT(it->node);
	return bytes_make(node_key_ptr(it->node) + it->node->key_bytes, it->node->value_bytes);
}

void memtable_iter_entry(const struct memtable_iter *it, struct memtable_entry *out)
{
	ASSERT(it->node);
	node_entry(it->node, out);
}
