/*
 * histogram_test.c - the log-linear histogram: bucket boundaries are
 * contiguous and as narrow as promised, percentiles of known
 * distributions fall within the stated relative error, snapshots merge
 * like the union of their values, and cumulative (Prometheus) counts match.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "base/histogram.h"

/* The relative error the header promises for a reported percentile. */
#define REL_ERR (1.0 / (1 << HIST_SUB_BITS))

static struct hist *new_hist(void)
{
	struct hist *h = malloc(sizeof(*h));
	assert_non_null(h);
	hist_init(h);
	return h;
}

static void snap(struct hist_snapshot *s, const struct hist *h)
{
	hist_snapshot_clear(s);
	hist_snapshot_add(s, h);
}

static void test_buckets_are_contiguous_and_narrow(void **state)
{
	(void)state;
	assert_int_equal(hist_bucket_low(0), 0);
	for (size_t i = 0; i + 1 < HIST_BUCKETS; i++) {
		uint64_t lo = hist_bucket_low(i), hi = hist_bucket_high(i);
		assert_true(lo <= hi);
		assert_int_equal(hist_bucket_low(i + 1), hi + 1);
		assert_int_equal(hist_index(lo), i);
		assert_int_equal(hist_index(hi), i);
		/* Width at most lo / 2^SUB_BITS once past the exact range. */
		if (lo >= (1u << HIST_SUB_BITS))
			assert_true((hi - lo + 1) * (1u << HIST_SUB_BITS) <= lo);
	}
	assert_int_equal(hist_bucket_high(HIST_BUCKETS - 1), HIST_VALUE_MAX);
}

static void test_values_at_the_edges(void **state)
{
	(void)state;
	assert_int_equal(hist_index(0), 0);
	assert_int_equal(hist_index(63), 63);
	assert_int_equal(hist_index(64), 64);
	assert_int_equal(hist_index(127), 127);
	assert_int_equal(hist_index(128), 128);
	assert_int_equal(hist_index(129), 128); /* width 2 from 128 on */
	assert_int_equal(hist_index(HIST_VALUE_MAX), HIST_BUCKETS - 1);
	assert_int_equal(hist_index(HIST_VALUE_MAX + 1), HIST_BUCKETS - 1);
	assert_int_equal(hist_index(UINT64_MAX), HIST_BUCKETS - 1);
	struct hist *h = new_hist();
	hist_record(h, UINT64_MAX);
	hist_record(h, 0);
	struct hist_snapshot s;
	snap(&s, h);
	assert_int_equal(s.total, 2);
	assert_int_equal(hist_percentile(&s, 50), 0);
	assert_int_equal(hist_percentile(&s, 100), HIST_VALUE_MAX);
	free(h);
}

static void test_empty_histogram_reports_zero(void **state)
{
	(void)state;
	struct hist *h = new_hist();
	struct hist_snapshot s;
	snap(&s, h);
	assert_int_equal(s.total, 0);
	assert_int_equal(hist_percentile(&s, 99.9), 0);
	assert_int_equal(hist_count_le(&s, 1000), 0);
	free(h);
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return x < y ? -1 : x > y;
}

/* Exact percentile by the same rank rule: the ceil(p% * n)-th smallest. */
static uint64_t exact_percentile(const uint64_t *sorted, size_t n, double p)
{
	size_t rank = (size_t)ceil(p / 100.0 * (double)n);
	if (rank < 1)
		rank = 1;
	if (rank > n)
		rank = n;
	return sorted[rank - 1];
}

static void check_percentiles(const uint64_t *values, size_t n)
{
	struct hist *h = new_hist();
	uint64_t *sorted = malloc(n * sizeof(*sorted));
	assert_non_null(sorted);
	for (size_t i = 0; i < n; i++) {
		hist_record(h, values[i]);
		sorted[i] = values[i];
	}
	qsort(sorted, n, sizeof(*sorted), cmp_u64);
	struct hist_snapshot s;
	snap(&s, h);
	assert_int_equal(s.total, n);
	static const double ps[] = {1, 10, 50, 90, 95, 99, 99.9, 99.99, 100};
	for (size_t k = 0; k < sizeof(ps) / sizeof(ps[0]); k++) {
		uint64_t want = exact_percentile(sorted, n, ps[k]);
		uint64_t got = hist_percentile(&s, ps[k]);
		assert_true(got >= want);
		assert_true((double)(got - want) <= (double)want * REL_ERR);
	}
	free(sorted);
	free(h);
}

/* A deterministic xorshift, so a failure replays. */
static uint64_t next_rand(uint64_t *x)
{
	*x ^= *x << 13;
	*x ^= *x >> 7;
	*x ^= *x << 17;
	return *x;
}

static void test_percentiles_of_uniform_values(void **state)
{
	(void)state;
	size_t n = 100000;
	uint64_t *v = malloc(n * sizeof(*v));
	assert_non_null(v);
	uint64_t seed = 42;
	for (size_t i = 0; i < n; i++)
		v[i] = 100 + next_rand(&seed) % 1000000; /* 100 ns .. 1 ms */
	check_percentiles(v, n);
	free(v);
}

static void test_percentiles_of_a_long_tail(void **state)
{
	(void)state;
	/* Log-uniform from 1 ns to ~1 s: every octave equally likely, as a
	 * latency distribution with a tail of rare slow calls looks. */
	size_t n = 200000;
	uint64_t *v = malloc(n * sizeof(*v));
	assert_non_null(v);
	uint64_t seed = 7;
	for (size_t i = 0; i < n; i++) {
		unsigned e = (unsigned)(next_rand(&seed) % 30);
		v[i] = (UINT64_C(1) << e) + next_rand(&seed) % (UINT64_C(1) << e);
	}
	check_percentiles(v, n);
	free(v);
}

static void test_percentiles_of_a_known_step(void **state)
{
	(void)state;
	/* 990 calls of 1 us and 10 of 5 ms: p50 = p99 = ~1 us, p99.9 = ~5 ms. */
	struct hist *h = new_hist();
	for (int i = 0; i < 990; i++)
		hist_record(h, 1000);
	for (int i = 0; i < 10; i++)
		hist_record(h, 5000000);
	struct hist_snapshot s;
	snap(&s, h);
	uint64_t p50 = hist_percentile(&s, 50), p99 = hist_percentile(&s, 99);
	uint64_t p999 = hist_percentile(&s, 99.9);
	assert_true(p50 >= 1000 && p50 <= 1000 + 1000 * REL_ERR);
	assert_int_equal(p99, p50);
	assert_true(p999 >= 5000000 && p999 <= 5000000 + 5000000 * REL_ERR);
	assert_int_equal(s.sum, 990 * 1000 + 10 * 5000000);
	free(h);
}

static void test_merge_equals_the_union(void **state)
{
	(void)state;
	struct hist *a = new_hist(), *b = new_hist(), *all = new_hist();
	uint64_t seed = 99;
	for (int i = 0; i < 50000; i++) {
		uint64_t v = next_rand(&seed) % 10000000;
		hist_record((i & 1) ? a : b, v);
		hist_record(all, v);
	}
	struct hist_snapshot sa, sb, sall, merged;
	snap(&sa, a);
	snap(&sb, b);
	snap(&sall, all);
	hist_snapshot_clear(&merged);
	hist_snapshot_merge(&merged, &sa);
	hist_snapshot_merge(&merged, &sb);
	assert_memory_equal(merged.bucket, sall.bucket, sizeof(merged.bucket));
	assert_int_equal(merged.total, sall.total);
	assert_int_equal(merged.sum, sall.sum);
	/* Adding histograms into one snapshot is the same as merging. */
	struct hist_snapshot added;
	hist_snapshot_clear(&added);
	hist_snapshot_add(&added, a);
	hist_snapshot_add(&added, b);
	assert_memory_equal(added.bucket, sall.bucket, sizeof(added.bucket));
	free(a);
	free(b);
	free(all);
}

static void test_cumulative_counts_match_count_le(void **state)
{
	(void)state;
	struct hist *h = new_hist();
	uint64_t seed = 5;
	for (int i = 0; i < 20000; i++)
		hist_record(h, next_rand(&seed) % 100000000);
	struct hist_snapshot s;
	snap(&s, h);
	static const uint64_t bounds[] = {0, 1000, 10000, 100000, 1000000, 10000000, UINT64_MAX};
	uint64_t out[7];
	hist_cumulative(&s, bounds, 7, out);
	for (size_t k = 0; k < 7; k++)
		assert_int_equal(out[k], hist_count_le(&s, bounds[k]));
	assert_int_equal(out[6], s.total);
	for (size_t k = 1; k < 7; k++)
		assert_true(out[k - 1] <= out[k]);
	free(h);
}

static void test_reset_zeroes_everything(void **state)
{
	(void)state;
	struct hist *h = new_hist();
	for (int i = 0; i < 100; i++)
		hist_record(h, (uint64_t)i * 1000);
	hist_reset(h);
	struct hist_snapshot s;
	snap(&s, h);
	assert_int_equal(s.total, 0);
	assert_int_equal(s.sum, 0);
	free(h);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_buckets_are_contiguous_and_narrow),
	    cmocka_unit_test(test_values_at_the_edges),
	    cmocka_unit_test(test_empty_histogram_reports_zero),
	    cmocka_unit_test(test_percentiles_of_uniform_values),
	    cmocka_unit_test(test_percentiles_of_a_long_tail),
	    cmocka_unit_test(test_percentiles_of_a_known_step),
	    cmocka_unit_test(test_merge_equals_the_union),
	    cmocka_unit_test(test_cumulative_counts_match_count_le),
	    cmocka_unit_test(test_reset_zeroes_everything),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
