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

static inline int list_height(const struct memtable *mt)
{
	return atomic_load_explicit(&mt->height, memory_order_relaxed);
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

/* The first node >= (ukey, trailer), or NULL; with prev, also the last
 * node < key on every level in use. */
static struct mt_node *find_ge(const struct memtable *mt, struct bytes ukey, uint64_t trailer,
                               struct mt_node **prev)
{
	struct mt_node *x = mt->head;
	struct mt_node *known_ge = NULL; /* compared >= already, one level up */
	int level = list_height(mt) - 1;
	uint64_t prefix = key_prefix(ukey);
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

/* The last node < (ukey, trailer), or the sentinel if none; with last,
 * the last node of the list (the key is then ignored). */
static const struct mt_node *find_lt(const struct memtable *mt, struct bytes ukey, uint64_t trailer,
                                     bool last)
{
	const struct mt_node *x = mt->head;
	int level = list_height(mt) - 1;
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
	atomic_init(&mt->height, 1);
	atomic_init(&mt->entry_count, 0);
	/* The sentinel's key is never compared; give it a trailer's room so
	 * that every node has key_bytes >= IKEY_TRAILER_BYTES. */
	mt->head = node_new(mt, MEMTABLE_HEIGHT_MAX, IKEY_TRAILER_BYTES, 0);
	if (!mt->head) {
		arena_deinit(&mt->arena);
		return ERR_NOMEM;
	}
	return 0;
}

void memtable_deinit(struct memtable *mt)
{
	arena_deinit(&mt->arena);
	mt->head = NULL;
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

	int old_height = list_height(mt);
	for (int i = old_height; i < height; i++)
		prev[i] = mt->head;
	if (height > old_height)
		atomic_store_explicit(&mt->height, height, memory_order_relaxed);
	/* Bottom up: once level 0 links the node it is in the list; upper
	 * levels are shortcuts that a reader may or may not use yet. */
	for (int i = 0; i < height; i++) {
		struct mt_node *succ =
		    atomic_load_explicit(&prev[i]->next[i], memory_order_relaxed);
		atomic_store_explicit(&n->next[i], succ, memory_order_relaxed);
		atomic_store_explicit(&prev[i]->next[i], n, memory_order_release);
	}
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

void memtable_iter_init(struct memtable_iter *it, const struct memtable *mt)
{
	it->mt = mt;
	it->node = NULL;
}

void memtable_iter_seek_to_first(struct memtable_iter *it)
{
	it->node = node_next(it->mt->head, 0);
}

void memtable_iter_seek_to_last(struct memtable_iter *it)
{
	const struct mt_node *n = find_lt(it->mt, bytes_make(NULL, 0), 0, true);
	it->node = n == it->mt->head ? NULL : n;
}

void memtable_iter_seek(struct memtable_iter *it, struct bytes ikey)
{
	ASSERT(ikey.len >= IKEY_TRAILER_BYTES);
	size_t ulen = ikey.len - IKEY_TRAILER_BYTES;
	uint64_t trailer = le_get64(ikey.ptr + ulen);
	it->node = find_ge(it->mt, bytes_make(ikey.ptr, ulen), trailer, NULL);
}

bool memtable_iter_valid(const struct memtable_iter *it)
{
	return it->node != NULL;
}

void memtable_iter_next(struct memtable_iter *it)
{
	ASSERT(it->node);
	it->node = node_next(it->node, 0);
}

void memtable_iter_prev(struct memtable_iter *it)
{
	ASSERT(it->node);
	/* No back links (they would need a second publication order); a
	 * search for the last node before this one is O(log n). */
	const struct mt_node *n = it->node;
	size_t ulen = n->key_bytes - IKEY_TRAILER_BYTES;
	const uint8_t *k = node_key_ptr(n);
	const struct mt_node *p = find_lt(it->mt, bytes_make(k, ulen), le_get64(k + ulen), false);
	it->node = p == it->mt->head ? NULL : p;
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
