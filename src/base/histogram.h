/*
 * histogram.h - a log-linear (HDR-style) histogram of latencies in
 * nanoseconds, with one writer per instance and any number of readers.
 *
 * Layout. Values below 2^HIST_SUB_BITS have a bucket each. Above that, every
 * power of two [2^e, 2^(e+1)) is cut into 2^HIST_SUB_BITS equal sub-buckets
 * of width 2^(e-HIST_SUB_BITS), so a bucket is never wider than
 * 1/2^HIST_SUB_BITS (1.6%) of the values it holds. Values of 2^HIST_MAX_EXP ns (about 18 minutes)
 * and more are counted in the last bucket. The bucket of a value is a count-leading-zeros and two
 * shifts, with no table and no floating point.
 *
 * Precision. A percentile is reported as the highest value of the bucket
 * that holds it ("highest equivalent value", as HdrHistogram does), so it
 * is never below the exact answer and at most 1/64 above it.
 *
 * Threads. hist_record() is for the one thread that owns the histogram: it
 * is a relaxed load and a relaxed store per counter (plain moves on x86, no
 * lock prefix). Readers on other threads fold histograms into a
 * hist_snapshot with relaxed loads; a snapshot taken while the writer runs
 * may miss the last few events, never tears a counter, and counts derived
 * from it (total = sum of buckets) stay consistent with its buckets.
 * Snapshots merge by adding, which is how the per-thread histograms of one
 * command become the node's.
 */
#ifndef RINGKV_BASE_HISTOGRAM_H
#define RINGKV_BASE_HISTOGRAM_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#define HIST_SUB_BITS  6  /* 64 sub-buckets per power of two: <= 1.6% error */
#define HIST_MAX_EXP   40 /* 2^40 ns ~ 18 min; longer is clamped into the last bucket */
#define HIST_BUCKETS   ((HIST_MAX_EXP - HIST_SUB_BITS + 1) << HIST_SUB_BITS)
#define HIST_VALUE_MAX ((UINT64_C(1) << HIST_MAX_EXP) - 1)

_Static_assert(HIST_SUB_BITS >= 1 && HIST_SUB_BITS < HIST_MAX_EXP, "layout");

struct hist {
	atomic_uint_fast64_t bucket[HIST_BUCKETS];
	atomic_uint_fast64_t sum; /* of the recorded values (not clamped) */
};

/* A reader's merged copy: plain integers. */
struct hist_snapshot {
	uint64_t bucket[HIST_BUCKETS];
	uint64_t total; /* sum of bucket[] */
	uint64_t sum;
};

/* The bucket of value v (v above HIST_VALUE_MAX goes to the last one). */
static inline size_t hist_index(uint64_t v)
{
	if (v > HIST_VALUE_MAX)
		v = HIST_VALUE_MAX;
	if (v < (UINT64_C(1) << HIST_SUB_BITS))
		return (size_t)v;
	unsigned e = 63u - (unsigned)__builtin_clzll(v); /* HIST_SUB_BITS <= e < HIST_MAX_EXP */
	unsigned shift = e - HIST_SUB_BITS;
	size_t sub = (size_t)(v >> shift) - ((size_t)1 << HIST_SUB_BITS);
	return ((size_t)(shift + 1) << HIST_SUB_BITS) + sub;
}

/* The smallest and largest value that bucket i holds. */
uint64_t hist_bucket_low(size_t i);
uint64_t hist_bucket_high(size_t i);

void hist_init(struct hist *h);

/* Counts one value. Only the owning thread may call it. */
static inline void hist_record(struct hist *h, uint64_t v)
{
	atomic_uint_fast64_t *b = &h->bucket[hist_index(v)];
	atomic_store_explicit(b, atomic_load_explicit(b, memory_order_relaxed) + 1,
	                      memory_order_relaxed);
	atomic_store_explicit(&h->sum, atomic_load_explicit(&h->sum, memory_order_relaxed) + v,
	                      memory_order_relaxed);
}

/* Zeroes the counters (CONFIG RESETSTAT). From another thread than the
 * writer, an event recorded at the same moment may survive the reset. */
void hist_reset(struct hist *h);

void hist_snapshot_clear(struct hist_snapshot *s);

/* Adds h's counters to s (relaxed loads; safe while the writer runs). */
void hist_snapshot_add(struct hist_snapshot *s, const struct hist *h);

/* Adds src to dst. */
void hist_snapshot_merge(struct hist_snapshot *dst, const struct hist_snapshot *src);

/* The value at percentile p (0 < p <= 100): the highest value of the
 * bucket holding the ceil(p/100 * total)-th smallest value. 0 when empty. */
uint64_t hist_percentile(const struct hist_snapshot *s, double p);

/* How many values lie in buckets that end at or below bound: the
 * cumulative count for a Prometheus bucket le=bound, exact to within the
 * one bucket that straddles bound. */
uint64_t hist_count_le(const struct hist_snapshot *s, uint64_t bound);

/* hist_count_le for n ascending bounds in one pass: out[k] for bounds[k]. */
void hist_cumulative(const struct hist_snapshot *s, const uint64_t *bounds, size_t n,
                     uint64_t *out);

#endif
