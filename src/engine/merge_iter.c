/*
 * merge_iter.c - a binary min-heap of child indices, ordered by the
 * children's current internal keys (ties: lower index first). Only valid
 * children are in the heap; heap[0] is the current entry.
 */
#include "engine/merge_iter.h"

#include <stdlib.h>
#include <string.h>

#include "base/assert.h"
#include "base/err.h"

struct merge_iter {
	struct merge_child *kids;
	size_t *heap;
	size_t count, heap_len;
	int err;
};

/* ---- Adapters --------------------------------------------------------- */

static void mt_first(void *it)
{
	memtable_iter_seek_to_first(it);
}
static void mt_seek(void *it, struct bytes k)
{
	memtable_iter_seek(it, k);
}
static void mt_next(void *it)
{
	memtable_iter_next(it);
}
static bool mt_valid(const void *it)
{
	return memtable_iter_valid(it);
}
static struct bytes mt_key(const void *it)
{
	return memtable_iter_key(it);
}
static struct bytes mt_value(const void *it)
{
	return memtable_iter_value(it);
}

static const struct merge_child_ops memtable_ops = {mt_first, mt_seek,  mt_next, mt_valid,
                                                    mt_key,   mt_value, NULL};

static void sst_first(void *it)
{
	sst_iter_seek_to_first(it);
}
static void sst_seek(void *it, struct bytes k)
{
	sst_iter_seek(it, k);
}
static void sst_next(void *it)
{
	sst_iter_next(it);
}
static bool sst_valid(const void *it)
{
	return sst_iter_valid(it);
}
static struct bytes sst_key(const void *it)
{
	return sst_iter_key(it);
}
static struct bytes sst_value(const void *it)
{
	return sst_iter_value(it);
}
static int sst_status(const void *it)
{
	return sst_iter_status(it);
}

static const struct merge_child_ops sst_ops = {sst_first, sst_seek,  sst_next,  sst_valid,
                                               sst_key,   sst_value, sst_status};

struct merge_child merge_child_memtable(struct memtable_iter *it)
{
	return (struct merge_child){.ops = &memtable_ops, .it = it};
}

struct merge_child merge_child_sst(struct sst_iter *it)
{
	return (struct merge_child){.ops = &sst_ops, .it = it};
}

/* ---- Heap ------------------------------------------------------------- */

static bool less(const struct merge_iter *m, size_t a, size_t b)
{
	const struct merge_child *x = &m->kids[a], *y = &m->kids[b];
	int c = ikey_cmp(x->ops->key(x->it), y->ops->key(y->it));
	return c < 0 || (c == 0 && a < b);
}

static void sift_down(struct merge_iter *m, size_t i)
{
	for (;;) {
		size_t l = 2 * i + 1, r = l + 1, min = i;
		if (l < m->heap_len && less(m, m->heap[l], m->heap[min]))
			min = l;
		if (r < m->heap_len && less(m, m->heap[r], m->heap[min]))
			min = r;
		if (min == i)
			return;
		size_t t = m->heap[i];
		m->heap[i] = m->heap[min];
		m->heap[min] = t;
		i = min;
	}
}

/* A child's error, recorded once; the merge then stops. */
static bool child_failed(struct merge_iter *m, size_t k)
{
	const struct merge_child *c = &m->kids[k];
	int err = c->ops->status ? c->ops->status(c->it) : 0;
	if (err && !m->err)
		m->err = err;
	return err != 0;
}

/* Rebuilds the heap from the children's positions after a seek. */
static void build(struct merge_iter *m)
{
	m->err = 0;
	m->heap_len = 0;
	for (size_t k = 0; k < m->count; k++) {
		if (child_failed(m, k))
			continue;
		if (m->kids[k].ops->valid(m->kids[k].it))
			m->heap[m->heap_len++] = k;
	}
	for (size_t i = m->heap_len / 2; i-- > 0;)
		sift_down(m, i);
}

int merge_iter_create(const struct merge_child *children, size_t count, struct merge_iter **out)
{
	struct merge_iter *m = calloc(1, sizeof(*m));
	if (!m)
		return ERR_NOMEM;
	size_t n = count ? count : 1;
	m->kids = calloc(n, sizeof(*m->kids));
	m->heap = calloc(n, sizeof(*m->heap));
	if (!m->kids || !m->heap) {
		merge_iter_destroy(m);
		return ERR_NOMEM;
	}
	if (count)
		memcpy(m->kids, children, count * sizeof(*children));
	m->count = count;
	*out = m;
	return 0;
}

void merge_iter_destroy(struct merge_iter *m)
{
	if (!m)
		return;
	free(m->kids);
	free(m->heap);
	free(m);
}

void merge_iter_seek_to_first(struct merge_iter *m)
{
	for (size_t k = 0; k < m->count; k++)
		m->kids[k].ops->seek_to_first(m->kids[k].it);
	build(m);
}

void merge_iter_seek(struct merge_iter *m, struct bytes ikey)
{
	for (size_t k = 0; k < m->count; k++)
		m->kids[k].ops->seek(m->kids[k].it, ikey);
	build(m);
}

void merge_iter_next(struct merge_iter *m)
{
	ASSERT(merge_iter_valid(m));
	size_t k = m->heap[0];
	m->kids[k].ops->next(m->kids[k].it);
	if (child_failed(m, k))
		return;
	if (!m->kids[k].ops->valid(m->kids[k].it))
		m->heap[0] = m->heap[--m->heap_len];
	sift_down(m, 0);
}

bool merge_iter_valid(const struct merge_iter *m)
{
	return m->err == 0 && m->heap_len > 0;
}

struct bytes merge_iter_key(const struct merge_iter *m)
{
	ASSERT(merge_iter_valid(m));
	const struct merge_child *c = &m->kids[m->heap[0]];
	return c->ops->key(c->it);
}

struct bytes merge_iter_value(const struct merge_iter *m)
{
	ASSERT(merge_iter_valid(m));
	const struct merge_child *c = &m->kids[m->heap[0]];
	return c->ops->value(c->it);
}

int merge_iter_status(const struct merge_iter *m)
{
	return m->err;
}
