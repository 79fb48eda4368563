/*
 * dict.c - the intrusive hash table of dict.h: two tables, chained buckets,
 * incremental rehash.
 *
 * State. Normally only table[0] exists and rehash_idx is -1. A resize
 * allocates table[1] at the new size and sets rehash_idx to 0; from then on
 * every find, insert, remove and random pick moves the chains of at most
 * REHASH_BUCKETS_PER_STEP buckets of table[0] (starting at rehash_idx, empty
 * buckets counted) into table[1], and new nodes go straight to table[1].
 * Lookups try both tables. When table[0] holds no node it is freed and
 * table[1] becomes table[0]. With no rehash running, dict_find is one
 * probe of table[0] and calls nothing else.
 *
 * Invariants (dict_check_invariants() checks them all):
 *   - size[t] is 0 or a power of two >= DICT_BUCKETS_MIN; table[t] is NULL
 *     exactly when size[t] is 0. size[0] is 0 only before the first insert.
 *   - A node in table[t] sits in bucket hash & (size[t] - 1), and used[t]
 *     counts the nodes of table[t].
 *   - Not rehashing: rehash_idx == -1 and table[1] is NULL.
 *   - Rehashing: 0 <= rehash_idx < size[0], size[1] != size[0], and the
 *     buckets of table[0] below rehash_idx are empty.
 *
 * Sizes. A grow is due when used >= size (load factor 1) and goes to the
 * smallest power of two above the count, which is 2x in the normal case
 * and more after grows failed for lack of memory. A shrink is due when
 * used < size / 8 and goes to the smallest power of two above 2 * used, so
 * a table that just shrank is 1/4 to 1/2 full: its count must double
 * before it grows again and fall by 2x to 4x before it shrinks again, so a
 * count that hovers near a threshold does not resize back and forth.
 * Tables never shrink below DICT_BUCKETS_MIN (4) buckets: smaller saves at
 * most 24 bytes and would resize on every few inserts.
 *
 * Allocation failure. A bucket array that cannot be allocated leaves the
 * table as it is: it keeps working at its size, with a higher (grow) or
 * lower (shrink) load factor. A grow is retried when the count reaches the
 * next multiple of the size, a shrink when the count next crosses size / 8,
 * and both when a rehash ends and on every dict_rehash() call; retrying on
 * every insert or remove would put a failing allocator call on each write
 * of a process already short of memory. The one exception is the very
 * first array (DICT_BUCKETS_MIN pointers, at the first insert): without it
 * the node has nowhere to go and dict_insert() cannot fail, so a process
 * that cannot allocate 32 bytes aborts there.
 *
 * Pausing. While pause_rehash > 0 no buckets move and no resize starts, so
 * the layout stays fixed; dict_scan() and dict_clear() hold it while they
 * call back into the caller, so a callback that looks nodes up (dict_find)
 * cannot move the chain being walked.
 */
#include "engine/dict.h"

#include "base/assert.h"
#include "base/limits.h"

#include <stdlib.h>

static_assert((DICT_BUCKETS_MIN & (DICT_BUCKETS_MIN - 1)) == 0,
              "bucket counts are powers of two so that a mask picks the bucket");
static_assert(REHASH_BUCKETS_PER_STEP > 0, "a rehash step must make progress");

/* Largest bucket count. 2^56 buckets is 512 PiB of array, more than any
 * address space, so the cap never binds for a real table; it only keeps
 * the size arithmetic (count * 8 bytes, next power of two) from
 * overflowing. */
#define DICT_BUCKETS_MAX ((uint64_t)1 << 56)

/* A table below 1/DICT_SHRINK_RATIO full shrinks. */
#define DICT_SHRINK_RATIO 8

/* dict_random() draws this many buckets before it falls back to a linear
 * probe. At its sparsest in normal use (1/8 full) a table has a bucket
 * empty with probability e^-1/8, about 0.88, so 64 draws all miss about
 * once in 3,500 picks; the probe then walks a run of empties that is short
 * on average. Only a table left sparse (paused or failed shrink) makes the
 * probe long. */
#define DICT_RANDOM_TRIES 64

/* dict_clear() visits at most this many buckets per node it may unlink, so
 * a slice stays bounded on a table left sparse (a paused or failed shrink). */
#define DICT_CLEAR_BUCKETS_PER_NODE 16

static inline bool is_rehashing(const struct dict *d)
{
	return d->rehash_idx >= 0;
}

static inline uint64_t mask_of(const struct dict *d, int t)
{
	return d->size[t] - 1;
}

/* Smallest power of two above count, clamped to [DICT_BUCKETS_MIN,
 * DICT_BUCKETS_MAX]. */
static uint64_t buckets_above(uint64_t count)
{
	uint64_t size = DICT_BUCKETS_MIN;
	while (size <= count && size < DICT_BUCKETS_MAX)
		size <<= 1;
	return size;
}

/* One splitmix64 step (Steele, Lea and Flood, "Fast splittable
 * pseudorandom number generators", 2014): a cheap bijective mix that turns
 * one caller value into as many well-spread values as dict_random needs. */
static uint64_t mix(uint64_t x)
{
	x += 0x9e3779b97f4a7c15ULL;
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
	x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
	return x ^ (x >> 31);
}

static uint64_t bit_reverse(uint64_t v)
{
	v = __builtin_bswap64(v);
	v = ((v >> 4) & 0x0f0f0f0f0f0f0f0fULL) | ((v & 0x0f0f0f0f0f0f0f0fULL) << 4);
	v = ((v >> 2) & 0x3333333333333333ULL) | ((v & 0x3333333333333333ULL) << 2);
	v = ((v >> 1) & 0x5555555555555555ULL) | ((v & 0x5555555555555555ULL) << 1);
	return v;
}

void dict_init(struct dict *d)
{
	d->table[0] = NULL;
	d->table[1] = NULL;
	d->size[0] = 0;
	d->size[1] = 0;
	d->used[0] = 0;
	d->used[1] = 0;
	d->rehash_idx = -1;
	d->pause_rehash = 0;
	d->clear_idx = 0;
}

void dict_deinit(struct dict *d)
{
	ASSERT(d->pause_rehash == 0);
	free(d->table[0]);
	free(d->table[1]);
	dict_init(d);
}

/* Allocates a table of size buckets and starts moving the nodes into it.
 * Returns false, changing nothing, if the array cannot be allocated. */
static bool resize_start(struct dict *d, uint64_t size)
{
	DEBUG_ASSERT(!is_rehashing(d));
	DEBUG_ASSERT(size != d->size[0]);
	struct dict_node **table = calloc(size, sizeof(*table));
	if (table == NULL)
		return false;
	if (d->used[0] == 0) {
		/* Nothing to move (this is also the first array): swap at once. */
		free(d->table[0]);
		d->table[0] = table;
		d->size[0] = size;
		d->clear_idx = 0;
		return true;
	}
	d->table[1] = table;
	d->size[1] = size;
	d->rehash_idx = 0;
	return true;
}

/* Starts the grow or shrink the count calls for, if any. */
static void resize_if_due(struct dict *d)
{
	DEBUG_ASSERT(!is_rehashing(d));
	if (d->size[0] == 0 || d->pause_rehash > 0)
		return;
	if (d->used[0] >= d->size[0] && d->size[0] < DICT_BUCKETS_MAX)
		resize_start(d, buckets_above(d->used[0]));
	else if (d->size[0] > DICT_BUCKETS_MIN && d->used[0] < d->size[0] / DICT_SHRINK_RATIO)
		resize_start(d, buckets_above(2 * d->used[0]));
}

/* table[0] is empty: table[1] takes its place. */
static void rehash_finish(struct dict *d)
{
	ASSERT(d->used[0] == 0);
	free(d->table[0]);
	d->table[0] = d->table[1];
	d->size[0] = d->size[1];
	d->used[0] = d->used[1];
	d->table[1] = NULL;
	d->size[1] = 0;
	d->used[1] = 0;
	d->rehash_idx = -1;
	d->clear_idx = 0;
}

/* Moves the chains of up to bucket_count buckets of table[0] into
 * table[1]. Returns true if that finished the rehash. */
static bool rehash_move(struct dict *d, uint64_t bucket_count)
{
	DEBUG_ASSERT(is_rehashing(d));
	struct dict_node **from = d->table[0];
	struct dict_node **to = d->table[1];
	uint64_t to_mask = mask_of(d, 1);
	uint64_t idx = (uint64_t)d->rehash_idx;
	uint64_t end = d->size[0] - idx > bucket_count ? idx + bucket_count : d->size[0];
	uint64_t moved = 0;
	for (; idx < end; idx++) {
		struct dict_node *node = from[idx];
		from[idx] = NULL;
		while (node != NULL) {
			struct dict_node *next = node->next;
			uint64_t b = node->hash & to_mask;
			node->next = to[b];
			to[b] = node;
			node = next;
			moved++;
		}
	}
	d->used[0] -= moved;
	d->used[1] += moved;
	/* Once table[0] holds no node its remaining buckets are all empty:
	 * finish now rather than walk them (a shrink's table is mostly empty). */
	if (idx < d->size[0] && d->used[0] > 0) {
		d->rehash_idx = (int64_t)idx;
		return false;
	}
	rehash_finish(d);
	return true;
}

/* The bounded slice of rehash work that operations do while a rehash runs.
 * The count may have crossed a threshold while the rehash ran (no resize
 * can start then), so the end of one rehash checks for the next. */
static void rehash_step(struct dict *d)
{
	DEBUG_ASSERT(is_rehashing(d));
	if (d->pause_rehash == 0 && rehash_move(d, REHASH_BUCKETS_PER_STEP))
		resize_if_due(d);
}

static inline struct dict_node *chain_find(struct dict_node *node, uint64_t hash, dict_eq_fn *eq,
                                           const void *key)
{
	for (; node != NULL; node = node->next) {
		if (node->hash == hash && eq(node, key))
			return node;
	}
	return NULL;
}

/* The bucket of table t that may hold hash, or NULL where there is none
 * (no table, or a bucket of table[0] already moved). */
static struct dict_node **bucket_for(struct dict *d, int t, uint64_t hash)
{
	if (d->size[t] == 0)
		return NULL;
	uint64_t b = hash & mask_of(d, t);
	if (t == 0 && is_rehashing(d) && b < (uint64_t)d->rehash_idx)
		return NULL;
	return &d->table[t][b];
}

static struct dict_node *find_rehashing(struct dict *d, uint64_t hash, dict_eq_fn *eq,
                                        const void *key)
{
	rehash_step(d);
	for (int t = 0; t < 2; t++) {
		struct dict_node **bucket = bucket_for(d, t, hash);
		struct dict_node *node = bucket != NULL ? chain_find(*bucket, hash, eq, key) : NULL;
		if (node != NULL)
			return node;
	}
	return NULL;
}

struct dict_node *dict_find(struct dict *d, uint64_t hash, dict_eq_fn *eq, const void *key)
{
	if (LIKELY(!is_rehashing(d))) {
		if (UNLIKELY(d->size[0] == 0))
			return NULL;
		return chain_find(d->table[0][hash & mask_of(d, 0)], hash, eq, key);
	}
	return find_rehashing(d, hash, eq, key);
}

/* Called when an insert finds used >= size and no rehash running. */
static void grow_before_insert(struct dict *d)
{
	if (d->size[0] == 0) {
		bool allocated = resize_start(d, DICT_BUCKETS_MIN);
		ASSERT(allocated); /* see "Allocation failure" at the top */
		return;
	}
	/* In the normal case the count reaches the size itself, a multiple. */
	if ((d->used[0] & mask_of(d, 0)) == 0)
		resize_if_due(d);
}

void dict_insert(struct dict *d, struct dict_node *node)
{
	if (UNLIKELY(is_rehashing(d)))
		rehash_step(d);
	else if (UNLIKELY(d->used[0] >= d->size[0]))
		grow_before_insert(d);
	int t = is_rehashing(d) ? 1 : 0;
	struct dict_node **bucket = &d->table[t][node->hash & mask_of(d, t)];
	node->next = *bucket;
	*bucket = node;
	d->used[t]++;
}

/* The link (bucket head or a node's next field) that points at node, and
 * the table holding it; NULL if node is not in the table. */
static struct dict_node **link_to(struct dict *d, const struct dict_node *node, int *table_out)
{
	for (int t = 0; t < 2; t++) {
		struct dict_node **link = bucket_for(d, t, node->hash);
		if (link == NULL)
			continue;
		for (; *link != NULL; link = &(*link)->next) {
			if (*link == node) {
				*table_out = t;
				return link;
			}
		}
	}
	return NULL;
}

void dict_remove(struct dict *d, struct dict_node *node)
{
	if (UNLIKELY(is_rehashing(d)))
		rehash_step(d);
	int t = 0;
	struct dict_node **link = link_to(d, node, &t);
	ASSERT(link != NULL);
	*link = node->next;
	node->next = NULL;
	d->used[t]--;
	/* A shrink is tried when the count crosses the threshold, not on every
	 * remove below it (see "Allocation failure" at the top). */
	if (!is_rehashing(d) && UNLIKELY(d->used[0] + 1 == d->size[0] / DICT_SHRINK_RATIO))
		resize_if_due(d);
}

void dict_replace(struct dict *d, struct dict_node *old_node, struct dict_node *new_node)
{
	ASSERT(new_node->hash == old_node->hash);
	int t = 0;
	struct dict_node **link = link_to(d, old_node, &t);
	ASSERT(link != NULL);
	new_node->next = old_node->next;
	*link = new_node;
	old_node->next = NULL;
}

static void visit_chain(struct dict_node *node, dict_visit_fn *fn, void *ctx)
{
	while (node != NULL) {
		/* Read next first: fn may replace the node it is given. */
		struct dict_node *next = node->next;
		fn(ctx, node);
		node = next;
	}
}

/* The cursor after the bucket cursor & mask. The cursor counts in bit-reversed
 * order: setting the bits above the mask and adding one to the reversed
 * value carries into the highest bit of the masked part first. Buckets are
 * thus visited in an order in which each bucket of a table of size s is
 * followed by all the buckets of a table of size 2s (or s/2) that its nodes
 * can move to, which is why a resize between calls loses nothing: every
 * bucket the scan has done maps to buckets the cursor has passed in any
 * other power-of-two size. */
static uint64_t cursor_next(uint64_t cursor, uint64_t mask)
{
	cursor |= ~mask;
	return bit_reverse(bit_reverse(cursor) + 1);
}

uint64_t dict_scan(struct dict *d, uint64_t cursor, dict_visit_fn *fn, void *ctx)
{
	if (dict_count(d) == 0)
		return 0;
	d->pause_rehash++;
	if (!is_rehashing(d)) {
		uint64_t mask = mask_of(d, 0);
		visit_chain(d->table[0][cursor & mask], fn, ctx);
		cursor = cursor_next(cursor, mask);
	} else {
		/* Visit the cursor's bucket in the smaller table, then every bucket
		 * of the larger table whose index extends it (the buckets its nodes
		 * map to there), advancing the cursor past all of them. */
		int small = d->size[0] < d->size[1] ? 0 : 1;
		int large = 1 - small;
		uint64_t small_mask = mask_of(d, small);
		uint64_t large_mask = mask_of(d, large);
		visit_chain(d->table[small][cursor & small_mask], fn, ctx);
		do {
			visit_chain(d->table[large][cursor & large_mask], fn, ctx);
			cursor = cursor_next(cursor, large_mask);
		} while ((cursor & (small_mask ^ large_mask)) != 0);
	}
	d->pause_rehash--;
	return cursor;
}

/* The bucket at position pos among the buckets that can hold nodes: the
 * unmoved part of table[0] (from first), then all of table[1]. */
static struct dict_node *bucket_at(const struct dict *d, uint64_t first, uint64_t pos)
{
	uint64_t idx = first + pos;
	if (idx < d->size[0])
		return d->table[0][idx];
	return d->table[1][idx - d->size[0]];
}

static struct dict_node *random_chain(const struct dict *d, uint64_t rnd)
{
	uint64_t first = is_rehashing(d) ? (uint64_t)d->rehash_idx : 0;
	uint64_t span = d->size[0] - first + d->size[1];
	for (int i = 0; i < DICT_RANDOM_TRIES; i++) {
		struct dict_node *chain = bucket_at(d, first, rnd % span);
		if (chain != NULL)
			return chain;
		rnd = mix(rnd);
	}
	/* Unlucky or very sparse: walk from a random bucket. The table is not
	 * empty, so this ends within span buckets. */
	uint64_t start = rnd % span;
	for (uint64_t i = 0; i < span; i++) {
		struct dict_node *chain = bucket_at(d, first, (start + i) % span);
		if (chain != NULL)
			return chain;
	}
	ASSERT(!"dict_random: count > 0 but every bucket is empty");
	return NULL;
}

struct dict_node *dict_random(struct dict *d, uint64_t rnd)
{
	if (dict_count(d) == 0)
		return NULL;
	if (is_rehashing(d))
		rehash_step(d);
	struct dict_node *node = random_chain(d, rnd);
	uint64_t len = 0;
	for (const struct dict_node *n = node; n != NULL; n = n->next)
		len++;
	for (uint64_t pos = mix(rnd ^ 0x5bd1e995ULL) % len; pos > 0; pos--)
		node = node->next;
	return node;
}

bool dict_rehash(struct dict *d, uint64_t bucket_count)
{
	if (d->pause_rehash > 0)
		return is_rehashing(d);
	if (!is_rehashing(d))
		resize_if_due(d);
	if (is_rehashing(d) && rehash_move(d, bucket_count))
		resize_if_due(d);
	return is_rehashing(d);
}

/* Unlinks up to max_nodes nodes from the head of bucket idx of table t,
 * handing each to fn; returns how many. */
static uint64_t clear_chain(struct dict *d, int t, uint64_t idx, dict_visit_fn *fn, void *ctx,
                            uint64_t max_nodes)
{
	struct dict_node **head = &d->table[t][idx];
	uint64_t count = 0;
	while (*head != NULL && count < max_nodes) {
		struct dict_node *node = *head;
		*head = node->next;
		node->next = NULL;
		d->used[t]--;
		count++;
		if (fn != NULL)
			fn(ctx, node);
	}
	return count;
}

/* Clears one bucket: during a rehash the next unmoved bucket of table[0]
 * (so the rehash invariant holds and the rehash ends when table[0] is
 * drained), otherwise the bucket at clear_idx. Returns nodes unlinked. */
static uint64_t clear_next_bucket(struct dict *d, dict_visit_fn *fn, void *ctx, uint64_t max_nodes)
{
	if (is_rehashing(d)) {
		uint64_t idx = (uint64_t)d->rehash_idx;
		uint64_t count = clear_chain(d, 0, idx, fn, ctx, max_nodes);
		if (d->table[0][idx] == NULL) {
			if (idx + 1 == d->size[0] || d->used[0] == 0)
				rehash_finish(d);
			else
				d->rehash_idx = (int64_t)(idx + 1);
		}
		return count;
	}
	/* clear_idx can be stale after a resize, and nodes inserted between
	 * slices may sit behind it: wrap until the count says all are gone. */
	if (d->clear_idx >= d->size[0])
		d->clear_idx = 0;
	uint64_t count = clear_chain(d, 0, d->clear_idx, fn, ctx, max_nodes);
	if (d->table[0][d->clear_idx] == NULL)
		d->clear_idx++;
	return count;
}

/* The table is empty: give back a large array, keeping the smallest one so
 * the next insert does not allocate. If even that allocation fails the
 * large (all-empty) array stays; the next dict_rehash shrinks it. */
static void clear_release(struct dict *d)
{
	if (is_rehashing(d))
		rehash_finish(d);
	d->clear_idx = 0;
	if (d->size[0] > DICT_BUCKETS_MIN)
		resize_start(d, DICT_BUCKETS_MIN);
}

bool dict_clear(struct dict *d, dict_visit_fn *fn, void *ctx, uint64_t max_nodes)
{
	uint64_t visits = max_nodes > UINT64_MAX / DICT_CLEAR_BUCKETS_PER_NODE
	    ? UINT64_MAX
	    : max_nodes * DICT_CLEAR_BUCKETS_PER_NODE;
	uint64_t done = 0;
	d->pause_rehash++;
	while (dict_count(d) > 0 && done < max_nodes && visits > 0) {
		done += clear_next_bucket(d, fn, ctx, max_nodes - done);
		visits--;
	}
	d->pause_rehash--;
	if (dict_count(d) > 0)
		return true;
	if (d->pause_rehash == 0)
		clear_release(d);
	return false;
}

uint64_t dict_bucket_bytes(const struct dict *d)
{
	return (d->size[0] + d->size[1]) * sizeof(struct dict_node *);
}

static void check_table(const struct dict *d, int t)
{
	uint64_t size = d->size[t];
	ASSERT((size == 0) == (d->table[t] == NULL));
	if (size == 0) {
		ASSERT(d->used[t] == 0);
		return;
	}
	ASSERT(size >= DICT_BUCKETS_MIN && size <= DICT_BUCKETS_MAX);
	ASSERT((size & (size - 1)) == 0);
	uint64_t count = 0;
	for (uint64_t b = 0; b < size; b++) {
		if (t == 0 && is_rehashing(d) && b < (uint64_t)d->rehash_idx)
			ASSERT(d->table[0][b] == NULL);
		for (const struct dict_node *n = d->table[t][b]; n != NULL; n = n->next) {
			ASSERT((n->hash & (size - 1)) == b);
			count++;
			ASSERT(count <= d->used[t]); /* also catches a cycle */
		}
	}
	ASSERT(count == d->used[t]);
}

void dict_check_invariants(const struct dict *d)
{
	ASSERT(d->rehash_idx >= -1);
	if (!is_rehashing(d)) {
		ASSERT(d->table[1] == NULL && d->size[1] == 0 && d->used[1] == 0);
	} else {
		ASSERT((uint64_t)d->rehash_idx < d->size[0]);
		ASSERT(d->size[1] != 0 && d->size[1] != d->size[0]);
	}
	check_table(d, 0);
	check_table(d, 1);
}
