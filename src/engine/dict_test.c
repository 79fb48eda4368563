/*
 * dict_test.c - the hash table of engine/dict.h through its header.
 *
 * Every test is seeded (a splitmix64 stream; a failing property test
 * prints its seed). The tests read the public fields of struct dict
 * (sizes, used counts, rehash_idx, the bucket arrays) to check how much
 * work one operation did, and dict_check_invariants() after each phase.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "base/hash.h"
#include "base/limits.h"
#include "engine/dict.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Under AddressSanitizer the grow-failure test asks for a 512 PiB array, and
 * must get NULL back, as from a real allocator, rather than a report. */
const char *__asan_default_options(void);
const char *__asan_default_options(void)
{
	return "allocator_may_return_null=1";
}

struct item {
	struct dict_node node;
	uint64_t key;
	uint32_t visits; /* times seen by the current scan, clear or draw */
	bool present;    /* in the table now, as the test believes */
};

static struct item *item_of(struct dict_node *node)
{
	return (struct item *)((char *)node - offsetof(struct item, node));
}

static bool item_eq(const struct dict_node *node, const void *key)
{
	const struct item *it =
	    (const struct item *)((const char *)node - offsetof(struct item, node));
	return it->key == *(const uint64_t *)key;
}

static uint64_t hash_of(uint64_t key)
{
	return hash_bytes(&key, sizeof(key));
}

/* ---- Seeded randomness ----------------------------------------------- */

struct rng {
	uint64_t state;
};

static uint64_t rng_next(struct rng *r)
{
	uint64_t z = (r->state += 0x9e3779b97f4a7c15ULL);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

static uint64_t rng_below(struct rng *r, uint64_t n)
{
	return rng_next(r) % n;
}

static void shuffle(uint32_t *a, uint32_t n, struct rng *r)
{
	for (uint32_t i = n; i > 1; i--) {
		uint32_t j = (uint32_t)rng_below(r, i);
		uint32_t t = a[i - 1];
		a[i - 1] = a[j];
		a[j] = t;
	}
}

static uint32_t *iota_shuffled(uint32_t n, struct rng *r)
{
	uint32_t *a = malloc((size_t)n * sizeof(*a));
	assert_non_null(a);
	for (uint32_t i = 0; i < n; i++)
		a[i] = i;
	shuffle(a, n, r);
	return a;
}

/* ---- Helpers ----------------------------------------------------------- */

static struct item *find_item(struct dict *d, const struct item *it)
{
	struct dict_node *n = dict_find(d, it->node.hash, item_eq, &it->key);
	return n != NULL ? item_of(n) : NULL;
}

static void item_set(struct item *it, uint64_t key, uint64_t hash)
{
	memset(it, 0, sizeof(*it));
	it->key = key;
	it->node.hash = hash;
}

/* Runs the ongoing rehash, and any resize that follows it, to the end. */
static void settle(struct dict *d)
{
	int rounds = 0;
	while (dict_rehash(d, 1u << 20))
		assert_true(++rounds < 1000);
}

static void count_visit(void *ctx, struct dict_node *node)
{
	(void)ctx;
	item_of(node)->visits++;
}

static void mark_absent(void *ctx, struct dict_node *node)
{
	(void)ctx;
	item_of(node)->present = false;
	item_of(node)->visits++;
}

/* A full scan from cursor 0 with no changes in between. */
static void scan_all(struct dict *d)
{
	uint64_t cursor = 0;
	uint64_t calls = 0;
	do {
		cursor = dict_scan(d, cursor, count_visit, NULL);
		assert_true(++calls <= (uint64_t)1 << 32);
	} while (cursor != 0);
}

static uint64_t target_size(const struct dict *d)
{
	return d->rehash_idx >= 0 ? d->size[1] : d->size[0];
}

/* ---- Basic behaviour ----------------------------------------------------- */

static void test_dict_empty_table_finds_nothing_and_allocates_nothing(void **state)
{
	struct dict d;
	dict_init(&d);
	uint64_t key = 7;
	assert_null(dict_find(&d, hash_of(key), item_eq, &key));
	assert_null(dict_random(&d, 12345));
	assert_int_equal(dict_scan(&d, 0, count_visit, NULL), 0);
	assert_false(dict_rehash(&d, 100));
	assert_false(dict_clear(&d, count_visit, NULL, 10));
	assert_int_equal(dict_count(&d), 0);
	assert_int_equal(dict_bucket_bytes(&d), 0);
	dict_check_invariants(&d);
	dict_deinit(&d);
}

/* 1e6 nodes in a shuffled order: every key is found, absent keys are not,
 * removal in another order leaves exactly the rest, and the table shrinks
 * back to its minimum once empty. */
static void test_dict_million_nodes_insert_find_remove(void **state)
{
	const uint32_t n = 1000000;
	struct rng r = {20240601};
	struct item *items = malloc((size_t)n * sizeof(*items));
	assert_non_null(items);
	struct dict d;
	dict_init(&d);
	uint32_t *order = iota_shuffled(n, &r);
	for (uint32_t i = 0; i < n; i++) {
		struct item *it = &items[order[i]];
		item_set(it, 2 * (uint64_t)order[i], hash_of(2 * (uint64_t)order[i]));
		assert_null(find_item(&d, it));
		dict_insert(&d, &it->node);
	}
	assert_int_equal(dict_count(&d), n);
	dict_check_invariants(&d);
	for (uint32_t i = 0; i < n; i++) {
		assert_ptr_equal(find_item(&d, &items[i]), &items[i]);
		uint64_t absent = 2 * (uint64_t)i + 1;
		assert_null(dict_find(&d, hash_of(absent), item_eq, &absent));
	}
	shuffle(order, n, &r);
	for (uint32_t i = 0; i < n / 2; i++)
		dict_remove(&d, &items[order[i]].node);
	dict_check_invariants(&d);
	for (uint32_t i = 0; i < n; i++) {
		struct item *want = i < n / 2 ? NULL : &items[order[i]];
		assert_ptr_equal(find_item(&d, &items[order[i]]), want);
	}
	for (uint32_t i = n / 2; i < n; i++)
		dict_remove(&d, &items[order[i]].node);
	assert_int_equal(dict_count(&d), 0);
	settle(&d);
	dict_check_invariants(&d);
	assert_int_equal(dict_bucket_bytes(&d), DICT_BUCKETS_MIN * sizeof(struct dict_node *));
	dict_deinit(&d);
	free(order);
	free(items);
}

/* Table sizes follow the documented rule: a grow to 2x at load factor 1, a
 * shrink below 1/8, and never below DICT_BUCKETS_MIN. */
static void test_dict_grows_at_load_one_and_shrinks_below_one_eighth(void **state)
{
	enum { N = 4096 };
	static struct item items[N];
	struct dict d;
	dict_init(&d);
	for (uint32_t i = 0; i < N; i++) {
		item_set(&items[i], i, hash_of(i));
		uint64_t before = target_size(&d);
		dict_insert(&d, &items[i].node);
		/* The grow starts on the insert that finds used == size. */
		if (i > 0 && i == before)
			assert_int_equal(target_size(&d), 2 * before);
		else if (i > 0)
			assert_int_equal(target_size(&d), before);
	}
	/* The last insert left used == size; the grow is due and the background
	 * dict_rehash starts it. */
	assert_int_equal(d.size[0], N);
	settle(&d);
	assert_int_equal(d.size[0], 2 * N);
	for (uint32_t i = 0; i < N; i++) {
		uint64_t size = d.size[0];
		bool rehashing = d.rehash_idx >= 0;
		dict_remove(&d, &items[i].node);
		uint64_t left = dict_count(&d);
		if (!rehashing && size > DICT_BUCKETS_MIN && left == size / 8 - 1) {
			/* Shrinks to the smallest power of two above twice the count. */
			assert_true(target_size(&d) < size);
			assert_true(target_size(&d) > 2 * left);
			assert_true(target_size(&d) <= 4 * left ||
			            target_size(&d) == DICT_BUCKETS_MIN);
		}
		dict_check_invariants(&d);
	}
	settle(&d);
	assert_int_equal(d.size[0], DICT_BUCKETS_MIN);
	dict_deinit(&d);
}

/* ---- Incremental rehash ---------------------------------------------- */

/* Nodes in the next REHASH_BUCKETS_PER_STEP unmoved buckets of table[0]:
 * what one step must move, no more and no less. */
static uint64_t step_window_nodes(const struct dict *d)
{
	uint64_t nodes = 0;
	uint64_t idx = (uint64_t)d->rehash_idx;
	for (uint64_t b = idx; b < d->size[0] && b < idx + REHASH_BUCKETS_PER_STEP; b++) {
		for (const struct dict_node *n = d->table[0][b]; n != NULL; n = n->next)
			nodes++;
	}
	return nodes;
}

/* The rehash state before one operation, to measure what it moved. */
struct rehash_snap {
	int64_t idx;
	uint64_t size0;
	uint64_t used0;
	uint64_t window; /* what one step must move: step_window_nodes() */
};

static struct rehash_snap snap_take(const struct dict *d)
{
	struct rehash_snap s = {d->rehash_idx, d->size[0], d->used[0], step_window_nodes(d)};
	return s;
}

/* Asserts the operation since the snapshot advanced the rehash by at most
 * one step of buckets, and returns how many nodes left table[0] (all that
 * were left, if the step finished the rehash). */
static uint64_t snap_nodes_moved(const struct dict *d, const struct rehash_snap *s)
{
	bool same_rehash = d->rehash_idx >= 0 && d->size[0] == s->size0;
	if (!same_rehash)
		return s->used0;
	assert_true(d->rehash_idx > s->idx);
	assert_true(d->rehash_idx - s->idx <= REHASH_BUCKETS_PER_STEP);
	return s->used0 - d->used[0];
}

/* A 4 Mi-node table grows to 8 Mi buckets: every insert during the rehash
 * moves exactly the next REHASH_BUCKETS_PER_STEP buckets' nodes (so none
 * pauses for longer than that), and the rehash ends after size /
 * REHASH_BUCKETS_PER_STEP inserts. Then it shrinks: lookups and removes
 * do one step each, and dict_rehash moves at most what it is asked to. */
static void test_dict_rehash_moves_at_most_one_step_per_operation(void **state)
{
	const uint32_t size = 1u << 22;
	const uint32_t n = size + size / REHASH_BUCKETS_PER_STEP + 1000;
	struct item *items = malloc((size_t)n * sizeof(*items));
	assert_non_null(items);
	struct dict d;
	dict_init(&d);
	uint64_t ops = 0, max_moved = 0;
	for (uint32_t i = 0; i < n; i++) {
		item_set(&items[i], i, hash_of(i));
		bool rehashing = d.rehash_idx >= 0;
		struct rehash_snap s = rehashing ? snap_take(&d) : (struct rehash_snap){0, 0, 0, 0};
		dict_insert(&d, &items[i].node);
		if (i == size)
			assert_int_equal(d.size[1], 2 * (uint64_t)size);
		if (!rehashing)
			continue;
		uint64_t moved = snap_nodes_moved(&d, &s);
		assert_int_equal(moved, s.window);
		max_moved = moved > max_moved ? moved : max_moved;
		ops++;
	}
	assert_true(d.rehash_idx < 0);
	assert_int_equal(d.size[0], 2 * (uint64_t)size);
	/* Each rehash ended within size / step inserts of its start (the small
	 * tables' rehashes take one insert each). */
	assert_true(ops <= 2 * (uint64_t)size / REHASH_BUCKETS_PER_STEP + 64);
	print_message("rehash: %llu inserts during rehashes, at most %llu nodes moved by one\n",
	              (unsigned long long)ops, (unsigned long long)max_moved);
	dict_check_invariants(&d);

	/* Remove down to below 1/8: the remove that crosses starts a shrink. */
	uint32_t left = 2 * size / 8 - 1;
	for (uint32_t i = n; dict_count(&d) > left; i--)
		dict_remove(&d, &items[i - 1].node);
	assert_true(d.rehash_idx == 0);
	for (uint32_t k = 0; k < 2000; k++) {
		struct rehash_snap s = snap_take(&d);
		assert_ptr_equal(find_item(&d, &items[k * 131]), &items[k * 131]);
		assert_int_equal(snap_nodes_moved(&d, &s), s.window);
		s = snap_take(&d);
		dict_remove(&d, &items[--left].node);
		uint64_t moved = snap_nodes_moved(&d, &s);
		assert_true(moved == s.window || moved == s.window + 1); /* +1: the removed node */
	}
	while (d.rehash_idx >= 0) {
		int64_t idx = d.rehash_idx;
		dict_rehash(&d, 1000);
		assert_true(d.rehash_idx < 0 || d.rehash_idx - idx <= 1000);
	}
	assert_int_equal(d.size[0], 1u << 21);
	dict_check_invariants(&d);
	for (uint32_t i = 0; i < left; i += 997)
		assert_ptr_equal(find_item(&d, &items[i]), &items[i]);
	dict_deinit(&d);
	free(items);
}

/* While pause_rehash is held nothing moves and no resize starts, even past
 * the grow threshold; afterwards dict_rehash picks the work up. */
static void test_dict_pause_holds_the_layout(void **state)
{
	enum { N = 600 };
	static struct item items[N];
	struct dict d;
	dict_init(&d);
	for (uint32_t i = 0; i < 100; i++) {
		item_set(&items[i], i, hash_of(i));
		dict_insert(&d, &items[i].node);
	}
	settle(&d);
	uint64_t size = d.size[0];
	d.pause_rehash = 1;
	for (uint32_t i = 100; i < 300; i++) {
		item_set(&items[i], i, hash_of(i));
		dict_insert(&d, &items[i].node);
		assert_ptr_equal(find_item(&d, &items[i / 2]), &items[i / 2]);
	}
	assert_int_equal(d.size[0], size);
	assert_true(d.rehash_idx < 0);
	assert_false(dict_rehash(&d, 100));
	d.pause_rehash = 0;
	settle(&d);
	assert_int_equal(d.size[0], 512);
	/* Paused in mid-rehash: no operation and no dict_rehash moves a bucket. */
	for (uint32_t i = 300; i <= 512; i++) {
		item_set(&items[i], i, hash_of(i));
		dict_insert(&d, &items[i].node);
	}
	assert_true(d.rehash_idx == 0);
	d.pause_rehash = 1;
	assert_true(dict_rehash(&d, 100));
	for (uint32_t i = 513; i < N; i++) {
		item_set(&items[i], i, hash_of(i));
		dict_insert(&d, &items[i].node);
		assert_ptr_equal(find_item(&d, &items[i - 300]), &items[i - 300]);
		dict_remove(&d, &items[i - 400].node);
		assert_non_null(dict_random(&d, i));
	}
	assert_true(d.rehash_idx == 0);
	d.pause_rehash = 0;
	assert_true(dict_rehash(&d, 100));
	assert_true(d.rehash_idx == 100);
	settle(&d);
	dict_check_invariants(&d);
	dict_deinit(&d);
}

/* A bucket array that cannot be allocated is not an error: the table keeps
 * its size and answers correctly, and a later attempt can still succeed.
 * The count is faked upward so that the grow asks for more memory than any
 * address space holds (the fake is undone before the invariants run). */
static void test_dict_failed_grow_keeps_table_working(void **state)
{
	enum { N = 200 };
	static struct item items[N];
	struct dict d;
	dict_init(&d);
	for (uint32_t i = 0; i < 100; i++) {
		item_set(&items[i], i, hash_of(i));
		dict_insert(&d, &items[i].node);
	}
	settle(&d);
	uint64_t size = d.size[0];
	const uint64_t fake = (uint64_t)1 << 55; /* next grow: 2^56 buckets, 512 PiB */
	d.used[0] += fake - 100;
	item_set(&items[100], 100, hash_of(100));
	dict_insert(&d, &items[100].node); /* count is a multiple of size: grow */
	assert_int_equal(d.size[0], size);
	assert_true(d.rehash_idx < 0);
	assert_false(dict_rehash(&d, 64)); /* tries again, fails again */
	for (uint32_t i = 0; i <= 100; i++)
		assert_ptr_equal(find_item(&d, &items[i]), &items[i]);
	dict_remove(&d, &items[50].node);
	assert_null(find_item(&d, &items[50]));
	d.used[0] -= fake - 100;
	dict_check_invariants(&d);
	for (uint32_t i = 101; i < N; i++) {
		item_set(&items[i], i, hash_of(i));
		dict_insert(&d, &items[i].node);
	}
	settle(&d);
	assert_true(d.size[0] > size);
	assert_int_equal(dict_count(&d), N - 1);
	dict_check_invariants(&d);
	dict_deinit(&d);
}

/* ---- Scan ------------------------------------------------------------- */

/* The scan property test's world: items [0, stable) stay in the table for
 * the whole scan; the others (churn) come and go between scan calls, in
 * bursts large enough to grow and shrink the table mid-scan. */
struct world {
	struct dict d;
	struct rng r;
	struct item *items;
	uint32_t pool;
	uint32_t stable;
	uint32_t *in; /* churn items present */
	uint32_t in_len;
	uint32_t *out; /* churn items absent */
	uint32_t out_len;
	int hash_mode;
	uint64_t grows, shrinks, rehashing_calls;
};

static uint64_t world_hash(const struct world *w, uint64_t key)
{
	switch (w->hash_mode) {
	case 0:
		return hash_of(key);
	case 1:
		return hash_of(key) & ~(uint64_t)0x3f; /* low 6 bits collide */
	default:
		return hash_of(key % 3); /* 3 hash values in all */
	}
}

static void world_insert_churn(struct world *w)
{
	uint32_t k = (uint32_t)rng_below(&w->r, w->out_len);
	uint32_t idx = w->out[k];
	w->out[k] = w->out[--w->out_len];
	struct item *it = &w->items[idx];
	it->present = true;
	w->in[w->in_len++] = idx;
	dict_insert(&w->d, &it->node);
}

static void world_remove_churn(struct world *w)
{
	uint32_t k = (uint32_t)rng_below(&w->r, w->in_len);
	uint32_t idx = w->in[k];
	w->in[k] = w->in[--w->in_len];
	struct item *it = &w->items[idx];
	dict_remove(&w->d, &it->node);
	it->present = false;
	w->out[w->out_len++] = idx;
}

/* What happens between two scan calls: mostly nothing, sometimes a burst
 * that grows or shrinks the table, or background rehash work. */
static void world_churn(struct world *w)
{
	uint64_t before = target_size(&w->d);
	uint64_t dice = rng_below(&w->r, 100);
	if (dice < 8 && w->out_len > 0) {
		for (uint64_t k = rng_below(&w->r, w->out_len) + 1; k > 0; k--)
			world_insert_churn(w);
	} else if (dice < 16 && w->in_len > 0) {
		for (uint64_t k = rng_below(&w->r, w->in_len) + 1; k > 0; k--)
			world_remove_churn(w);
	} else if (dice < 20) {
		dict_rehash(&w->d, rng_below(&w->r, 200));
	} else if (dice < 24) {
		for (int k = 0; k < 10; k++) {
			if (rng_below(&w->r, 2) == 0 && w->out_len > 0)
				world_insert_churn(w);
			else if (w->in_len > 0)
				world_remove_churn(w);
		}
	}
	uint64_t after = target_size(&w->d);
	w->grows += after > before;
	w->shrinks += after < before;
	w->rehashing_calls += w->d.rehash_idx >= 0;
}

static void world_visit(void *ctx, struct dict_node *node)
{
	struct item *it = item_of(node);
	assert_true(it->present); /* only nodes in the table are visited */
	it->visits++;
	(void)ctx;
}

static void world_setup(struct world *w, uint64_t seed, uint32_t pool)
{
	memset(w, 0, sizeof(*w));
	w->r.state = seed;
	w->pool = pool;
	w->hash_mode = (int)(seed % 3);
	w->items = calloc(pool, sizeof(*w->items));
	w->in = calloc(pool, sizeof(*w->in));
	w->out = calloc(pool, sizeof(*w->out));
	assert_true(w->items != NULL && w->in != NULL && w->out != NULL);
	dict_init(&w->d);
	w->stable = (uint32_t)rng_below(&w->r, pool / 8);
	for (uint32_t i = 0; i < pool; i++) {
		item_set(&w->items[i], i, world_hash(w, i));
		if (i < w->stable) {
			w->items[i].present = true;
			dict_insert(&w->d, &w->items[i].node);
		} else {
			w->out[w->out_len++] = i;
		}
	}
	for (uint64_t k = rng_below(&w->r, pool - w->stable); k > 0; k--)
		world_insert_churn(w);
}

static void world_teardown(struct world *w)
{
	while (dict_clear(&w->d, mark_absent, NULL, 1000))
		;
	dict_deinit(&w->d);
	free(w->items);
	free(w->in);
	free(w->out);
}

/* One seed: a full scan with churn between the calls must visit every
 * stable node at least once (and only nodes in the table). */
static void scan_one_seed(uint64_t seed, uint64_t *grows, uint64_t *shrinks, uint64_t *mid)
{
	struct world w;
	world_setup(&w, seed, 2048);
	uint64_t cursor = 0;
	uint64_t calls = 0;
	do {
		cursor = dict_scan(&w.d, cursor, world_visit, &w);
		world_churn(&w);
		assert_true(++calls < 1000000);
		if ((calls & 255) == 0)
			dict_check_invariants(&w.d);
	} while (cursor != 0);
	for (uint32_t i = 0; i < w.stable; i++) {
		if (w.items[i].visits == 0)
			fail_msg("seed %llu: stable key %u never visited", (unsigned long long)seed,
			         i);
	}
	dict_check_invariants(&w.d);
	*grows += w.grows;
	*shrinks += w.shrinks;
	*mid += w.rehashing_calls;
	world_teardown(&w);
}

static void test_dict_scan_visits_every_stable_node_across_resizes(void **state)
{
	uint64_t grows = 0, shrinks = 0, mid = 0;
	for (uint64_t seed = 1; seed <= 240; seed++)
		scan_one_seed(seed, &grows, &shrinks, &mid);
	print_message("scan: %llu grows, %llu shrinks mid-scan; %llu calls in a rehash\n",
	              (unsigned long long)grows, (unsigned long long)shrinks,
	              (unsigned long long)mid);
	/* The property was exercised where it is hard, not only on a still table. */
	assert_true(grows >= 200);
	assert_true(shrinks >= 200);
	assert_true(mid >= 1000);
}

static void lookup_during_visit(void *ctx, struct dict_node *node)
{
	struct dict *d = ctx;
	struct item *it = item_of(node);
	assert_ptr_equal(find_item(d, it), it);
	it->visits++;
}

/* A scan callback may look nodes up: the scan pauses the rehash, so the
 * chain being walked does not move under it. */
static void test_dict_scan_callback_may_look_up_during_rehash(void **state)
{
	enum { N = 1025 };
	static struct item items[N];
	struct dict d;
	dict_init(&d);
	for (uint32_t i = 0; i < N; i++) {
		item_set(&items[i], i, hash_of(i));
		dict_insert(&d, &items[i].node);
	}
	assert_true(d.rehash_idx >= 0); /* the 1025th insert started a grow */
	uint64_t cursor = 0;
	do {
		int64_t idx = d.rehash_idx;
		cursor = dict_scan(&d, cursor, lookup_during_visit, &d);
		assert_true(d.rehash_idx == idx);
	} while (cursor != 0);
	for (uint32_t i = 0; i < N; i++)
		assert_true(items[i].visits >= 1);
	dict_deinit(&d);
}

/* ---- Random -------------------------------------------------------------- */

/* The probability dict_random gives each item, read off the layout: a
 * uniform non-empty bucket among those that can hold nodes, then a uniform
 * position in its chain. */
static void random_expectation(const struct dict *d, const struct item *base, double *p)
{
	uint64_t first = d->rehash_idx >= 0 ? (uint64_t)d->rehash_idx : 0;
	uint64_t nonempty = 0;
	for (int pass = 0; pass < 2; pass++) {
		for (int t = 0; t < 2; t++) {
			for (uint64_t b = t == 0 ? first : 0; b < d->size[t]; b++) {
				uint64_t len = 0;
				for (const struct dict_node *n = d->table[t][b]; n != NULL;
				     n = n->next)
					len++;
				nonempty += pass == 0 && len > 0;
				for (const struct dict_node *n = d->table[t][b];
				     pass == 1 && n != NULL; n = n->next) {
					const struct item *it = (const struct item *)n;
					p[it - base] = 1.0 / (double)nonempty / (double)len;
				}
			}
		}
	}
}

/* Draws many times with pause_rehash held (so the layout stays fixed) and
 * returns Pearson's chi-square against the layout's expectation. */
static double random_chi_square(struct dict *d, struct item *items, uint32_t n, uint64_t seed)
{
	const uint32_t draws = 400 * n;
	double *p = calloc(n, sizeof(*p));
	assert_non_null(p);
	random_expectation(d, items, p);
	for (uint32_t i = 0; i < n; i++)
		items[i].visits = 0;
	struct rng r = {seed};
	d->pause_rehash++;
	for (uint32_t k = 0; k < draws; k++) {
		struct dict_node *node = dict_random(d, rng_next(&r));
		assert_non_null(node);
		item_of(node)->visits++;
	}
	d->pause_rehash--;
	double chi = 0;
	for (uint32_t i = 0; i < n; i++) {
		double expect = p[i] * draws;
		assert_true(expect > 0);
		/* Roughly uniform: no item drawn 8x more or less than the mean. */
		assert_true(items[i].visits * 8.0 > (double)draws / n);
		assert_true(items[i].visits < 8.0 * (double)draws / n);
		chi += (items[i].visits - expect) * (items[i].visits - expect) / expect;
	}
	free(p);
	return chi;
}

/* Loose bound: a chi-square with df = n - 1 has mean df and standard
 * deviation sqrt(2 df); 2 df + 30 is many deviations out at these sizes. */
static void assert_chi_square_fits(double chi, uint32_t n)
{
	print_message("random: chi-square %.1f with %u degrees of freedom\n", chi, n - 1);
	assert_true(chi < 2.0 * (n - 1) + 30);
}

static void fill(struct dict *d, struct item *items, uint32_t n, uint64_t (*hash_fn)(uint32_t))
{
	dict_init(d);
	for (uint32_t i = 0; i < n; i++) {
		item_set(&items[i], i, hash_fn(i));
		dict_insert(d, &items[i].node);
	}
}

static uint64_t identity_hash(uint32_t i)
{
	return i;
}

static uint64_t real_hash(uint32_t i)
{
	return hash_of(i);
}

static uint64_t same_hash(uint32_t i)
{
	(void)i;
	return 42;
}

static void test_dict_random_is_roughly_uniform(void **state)
{
	enum { N = 65 };
	static struct item items[N];
	struct dict d;
	/* One node per bucket: the draw must be uniform over nodes. */
	fill(&d, items, 60, identity_hash);
	settle(&d);
	assert_chi_square_fits(random_chi_square(&d, items, 60, 1), 60);
	dict_deinit(&d);
	/* Real hashes, so chains of several: still table, then mid-rehash (the
	 * 65th insert started a grow from 64 buckets). */
	fill(&d, items, 60, real_hash);
	settle(&d);
	assert_chi_square_fits(random_chi_square(&d, items, 60, 2), 60);
	dict_deinit(&d);
	fill(&d, items, N, real_hash);
	assert_true(d.rehash_idx == 0);
	dict_rehash(&d, 20);
	assert_true(d.rehash_idx == 20);
	assert_chi_square_fits(random_chi_square(&d, items, N, 3), N);
	assert_true(d.rehash_idx == 20);
	dict_deinit(&d);
	/* All in one chain: the position in the chain must be uniform. */
	fill(&d, items, 60, same_hash);
	assert_chi_square_fits(random_chi_square(&d, items, 60, 4), 60);
	dict_deinit(&d);
}

/* A table left sparse (shrink paused) still yields its few nodes: the
 * bounded random draws give up and the linear probe finds them. (The probe
 * favours a node after a long run of empty buckets; that bias is the price
 * of a bounded number of draws, and only a sparse table pays it.) */
static void test_dict_random_finds_the_few_nodes_of_a_sparse_table(void **state)
{
	enum { N = 20000 };
	struct item *items = calloc(N, sizeof(*items));
	assert_non_null(items);
	struct dict d;
	fill(&d, items, N, real_hash);
	settle(&d);
	d.pause_rehash = 1;
	for (uint32_t i = 3; i < N; i++)
		dict_remove(&d, &items[i].node);
	assert_true(d.size[0] >= N);
	struct rng r = {99};
	for (int k = 0; k < 3000; k++) {
		struct dict_node *node = dict_random(&d, rng_next(&r));
		assert_true(node == &items[0].node || node == &items[1].node ||
		            node == &items[2].node);
	}
	dict_remove(&d, &items[1].node);
	dict_remove(&d, &items[2].node);
	for (int k = 0; k < 1000; k++)
		assert_ptr_equal(dict_random(&d, rng_next(&r)), &items[0].node);
	d.pause_rehash = 0;
	settle(&d);
	assert_int_equal(d.size[0], DICT_BUCKETS_MIN);
	dict_deinit(&d);
	free(items);
}

/* ---- Clear ---------------------------------------------------------------- */

struct clear_ctx {
	uint64_t calls; /* fn calls in the current slice */
	struct item *base;
	uint32_t n;
};

static void clear_visit(void *ctx, struct dict_node *node)
{
	struct clear_ctx *c = ctx;
	struct item *it = item_of(node);
	assert_true(it >= c->base && it < c->base + c->n);
	assert_null(node->next); /* unlinked before fn sees it */
	it->visits++;
	c->calls++;
}

/* Clears in slices of `slice`, inserting `add_per_slice` fresh items
 * between slices while any are left; checks each slice's bound. */
static void clear_in_slices(struct dict *d, struct clear_ctx *c, uint32_t *next_item,
                            uint64_t slice, uint32_t add_per_slice)
{
	uint64_t slices = 0;
	bool more;
	do {
		c->calls = 0;
		uint64_t before = dict_count(d);
		more = dict_clear(d, clear_visit, c, slice);
		assert_true(c->calls <= slice);
		assert_int_equal(dict_count(d), before - c->calls);
		assert_true(more == (dict_count(d) > 0));
		for (uint32_t k = 0; more && k < add_per_slice && *next_item < c->n; k++) {
			struct item *it = &c->base[(*next_item)++];
			dict_insert(d, &it->node);
		}
		assert_true(++slices < 100000);
	} while (more);
}

static void test_dict_clear_in_bounded_slices(void **state)
{
	enum { N = 20000 };
	struct item *items = calloc(N, sizeof(*items));
	assert_non_null(items);
	struct clear_ctx c = {0, items, N};
	struct dict d;
	dict_init(&d);
	/* A still table, then one in mid-grow, then with inserts between slices. */
	for (int round = 0; round < 3; round++) {
		uint32_t n = round == 1 ? 8193 : 10000;
		for (uint32_t i = 0; i < N; i++)
			item_set(&items[i], i, hash_of(i));
		for (uint32_t i = 0; i < n; i++)
			dict_insert(&d, &items[i].node);
		if (round == 1)
			assert_true(d.rehash_idx >= 0);
		else
			settle(&d);
		uint32_t next_item = n;
		clear_in_slices(&d, &c, &next_item, 100, round == 2 ? 30 : 0);
		assert_int_equal(dict_count(&d), 0);
		assert_true(d.rehash_idx < 0);
		assert_int_equal(dict_bucket_bytes(&d),
		                 DICT_BUCKETS_MIN * sizeof(struct dict_node *));
		for (uint32_t i = 0; i < N; i++) {
			assert_int_equal(items[i].visits, i < next_item ? 1 : 0);
			assert_null(find_item(&d, &items[i]));
		}
		dict_check_invariants(&d);
	}
	/* A slice of zero does nothing; the table is reusable after a clear. */
	dict_insert(&d, &items[0].node);
	assert_true(dict_clear(&d, clear_visit, &c, 0));
	assert_ptr_equal(find_item(&d, &items[0]), &items[0]);
	assert_false(dict_clear(&d, clear_visit, &c, 1));
	dict_deinit(&d);
	free(items);
}

static void free_visit(void *ctx, struct dict_node *node)
{
	(*(uint64_t *)ctx)++;
	free(item_of(node));
}

/* The usual flush: fn frees each node (the sanitizers check no freed node
 * is read afterwards). */
static void test_dict_clear_lets_fn_free_the_nodes(void **state)
{
	struct dict d;
	dict_init(&d);
	for (uint32_t i = 0; i < 5000; i++) {
		struct item *it = malloc(sizeof(*it));
		assert_non_null(it);
		item_set(it, i, hash_of(i));
		dict_insert(&d, &it->node);
	}
	uint64_t freed = 0;
	while (dict_clear(&d, free_visit, &freed, 77))
		;
	assert_int_equal(freed, 5000);
	dict_deinit(&d);
}

/* ---- Replace ---------------------------------------------------------------- */

/* Replacing nodes by fresh copies (as when an entry is reallocated), on a
 * still table and in mid-rehash, keeps every key findable at its new node;
 * the copies can then be scanned and removed. */
static void test_dict_replace_keeps_lookups_working(void **state)
{
	enum { N = 2049 };
	static struct item items[N], copies[N];
	struct dict d;
	dict_init(&d);
	for (uint32_t i = 0; i < N; i++) {
		item_set(&items[i], i, hash_of(i));
		dict_insert(&d, &items[i].node);
	}
	assert_true(d.rehash_idx == 0); /* the 2049th insert started a grow */
	dict_rehash(&d, 700);
	assert_true(d.rehash_idx == 700);
	for (uint32_t i = 0; i < N; i += 2) {
		item_set(&copies[i], i, hash_of(i)); /* next is not copied */
		dict_replace(&d, &items[i].node, &copies[i].node);
		dict_check_invariants(&d);
	}
	settle(&d);
	for (uint32_t i = 0; i < N; i++) {
		struct item *want = i % 2 == 0 ? &copies[i] : &items[i];
		assert_ptr_equal(find_item(&d, &items[i]), want);
	}
	scan_all(&d);
	for (uint32_t i = 0; i < N; i++) {
		assert_true(i % 2 == 0 ? copies[i].visits >= 1 : items[i].visits >= 1);
		assert_true(i % 2 == 1 || items[i].visits == 0);
	}
	for (uint32_t i = 0; i < N; i += 2)
		dict_remove(&d, &copies[i].node);
	assert_int_equal(dict_count(&d), N / 2);
	for (uint32_t i = 0; i < N; i++)
		assert_ptr_equal(find_item(&d, &items[i]), i % 2 == 0 ? NULL : &items[i]);
	dict_check_invariants(&d);
	dict_deinit(&d);
}

/* ---- Colliding hashes ----------------------------------------------------- */

/* Hashes equal in their low 32 bits all land in bucket 0 of every table
 * this size; hashes equal in full differ only by key. Both must still
 * resize by count, find, scan, draw and remove correctly. */
static void colliding_round(uint64_t (*hash_fn)(uint32_t), uint32_t n)
{
	struct item *items = calloc(n, sizeof(*items));
	assert_non_null(items);
	struct dict d;
	dict_init(&d);
	for (uint32_t i = 0; i < n; i++) {
		item_set(&items[i], i, hash_fn(i));
		assert_null(find_item(&d, &items[i]));
		dict_insert(&d, &items[i].node);
	}
	assert_true(target_size(&d) > n / 2);
	for (uint32_t i = 0; i < n; i++)
		assert_ptr_equal(find_item(&d, &items[i]), &items[i]);
	scan_all(&d);
	struct rng r = {5};
	for (uint32_t i = 0; i < n; i++) {
		assert_true(items[i].visits >= 1);
		struct dict_node *node = dict_random(&d, rng_next(&r));
		assert_true(node != NULL && item_of(node) >= items && item_of(node) < items + n);
	}
	for (uint32_t i = 0; i < n; i += 2)
		dict_remove(&d, &items[i].node);
	for (uint32_t i = 0; i < n; i++)
		assert_ptr_equal(find_item(&d, &items[i]), i % 2 == 0 ? NULL : &items[i]);
	dict_check_invariants(&d);
	dict_deinit(&d);
	free(items);
}

static uint64_t high_bits_only(uint32_t i)
{
	return (uint64_t)i << 32;
}

static uint64_t one_value(uint32_t i)
{
	(void)i;
	return 0xdeadbeefULL;
}

static uint64_t low_bits_alike(uint32_t i)
{
	return hash_of(i) << 10; /* low 10 bits zero: every 1024th bucket */
}

static void test_dict_colliding_hashes_still_work(void **state)
{
	colliding_round(high_bits_only, 3000);
	colliding_round(one_value, 1000);
	colliding_round(low_bits_alike, 20000);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_dict_empty_table_finds_nothing_and_allocates_nothing),
	    cmocka_unit_test(test_dict_million_nodes_insert_find_remove),
	    cmocka_unit_test(test_dict_grows_at_load_one_and_shrinks_below_one_eighth),
	    cmocka_unit_test(test_dict_rehash_moves_at_most_one_step_per_operation),
	    cmocka_unit_test(test_dict_pause_holds_the_layout),
	    cmocka_unit_test(test_dict_failed_grow_keeps_table_working),
	    cmocka_unit_test(test_dict_scan_visits_every_stable_node_across_resizes),
	    cmocka_unit_test(test_dict_scan_callback_may_look_up_during_rehash),
	    cmocka_unit_test(test_dict_random_is_roughly_uniform),
	    cmocka_unit_test(test_dict_random_finds_the_few_nodes_of_a_sparse_table),
	    cmocka_unit_test(test_dict_clear_in_bounded_slices),
	    cmocka_unit_test(test_dict_clear_lets_fn_free_the_nodes),
	    cmocka_unit_test(test_dict_replace_keeps_lookups_working),
	    cmocka_unit_test(test_dict_colliding_hashes_still_work),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
