/*
 * histogram.c - the log-linear latency histogram; see histogram.h.
 */
#include "base/histogram.h"

#include <math.h>
#include <string.h>

#include "base/assert.h"

uint64_t hist_bucket_low(size_t i)
{
	ASSERT(i < HIST_BUCKETS);
	if (i < ((size_t)1 << HIST_SUB_BITS))
		return i;
	size_t group = i >> HIST_SUB_BITS; /* shift + 1 */
	size_t sub = i & (((size_t)1 << HIST_SUB_BITS) - 1);
	unsigned shift = (unsigned)group - 1;
	return ((uint64_t)(((size_t)1 << HIST_SUB_BITS) + sub)) << shift;
}

uint64_t hist_bucket_high(size_t i)
{
	ASSERT(i < HIST_BUCKETS);
	if (i + 1 == HIST_BUCKETS)
		return HIST_VALUE_MAX;
	return hist_bucket_low(i + 1) - 1;
}

void hist_init(struct hist *h)
{
	for (size_t i = 0; i < HIST_BUCKETS; i++)
		atomic_init(&h->bucket[i], 0);
	atomic_init(&h->sum, 0);
}

void hist_reset(struct hist *h)
{
	for (size_t i = 0; i < HIST_BUCKETS; i++)
		atomic_store_explicit(&h->bucket[i], 0, memory_order_relaxed);
	atomic_store_explicit(&h->sum, 0, memory_order_relaxed);
}

void hist_snapshot_clear(struct hist_snapshot *s)
{
	memset(s, 0, sizeof(*s));
}

void hist_snapshot_add(struct hist_snapshot *s, const struct hist *h)
{
	struct hist *w = (struct hist *)h; /* C11 atomic loads take non-const */
	for (size_t i = 0; i < HIST_BUCKETS; i++) {
		uint64_t n = atomic_load_explicit(&w->bucket[i], memory_order_relaxed);
		s->bucket[i] += n;
		s->total += n;
	}
	s->sum += atomic_load_explicit(&w->sum, memory_order_relaxed);
}

void hist_snapshot_merge(struct hist_snapshot *dst, const struct hist_snapshot *src)
{
	for (size_t i = 0; i < HIST_BUCKETS; i++)
		dst->bucket[i] += src->bucket[i];
	dst->total += src->total;
	dst->sum += src->sum;
}

uint64_t hist_percentile(const struct hist_snapshot *s, double p)
{
	if (s->total == 0)
		return 0;
	if (p > 100.0)
		p = 100.0;
	/* The rank of the wanted value, 1-based: ceil(p% of total), at least 1. */
	double want = ceil(p / 100.0 * (double)s->total);
	uint64_t rank = want < 1.0 ? 1 : (uint64_t)want;
	if (rank > s->total)
		rank = s->total;
	uint64_t seen = 0;
	for (size_t i = 0; i < HIST_BUCKETS; i++) {
		seen += s->bucket[i];
		if (seen >= rank)
			return hist_bucket_high(i);
	}
	return HIST_VALUE_MAX; /* unreachable while total == sum of buckets */
}

uint64_t hist_count_le(const struct hist_snapshot *s, uint64_t bound)
{
	uint64_t n = 0;
	for (size_t i = 0; i < HIST_BUCKETS && hist_bucket_high(i) <= bound; i++)
		n += s->bucket[i];
	return n;
}

void hist_cumulative(const struct hist_snapshot *s, const uint64_t *bounds, size_t n, uint64_t *out)
{
	uint64_t acc = 0;
	size_t i = 0;
	for (size_t k = 0; k < n; k++) {
		DEBUG_ASSERT(k == 0 || bounds[k - 1] <= bounds[k]);
		for (; i < HIST_BUCKETS && hist_bucket_high(i) <= bounds[k]; i++)
			acc += s->bucket[i];
		out[k] = acc;
	}
}
