/*
 * bloom_test.c - the SST bloom filter (engine/bloom.h): no false negatives,
 * a false-positive rate near the theory, safety on foreign bytes.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>

#include "base/limits.h"
#include "engine/bloom.h"

#define KEYS 100000

static uint64_t key_hash(uint64_t i, uint64_t salt)
{
	uint8_t k[16];
	for (int j = 0; j < 8; j++) {
		k[j] = (uint8_t)(i >> (8 * j));
		k[8 + j] = (uint8_t)(salt >> (8 * j));
	}
	/* Varied lengths: 9 to 16 bytes. */
	return bloom_hash(bytes_make(k, 9 + i % 8));
}

/* Builds a filter over KEYS keys, checks every one matches, and returns
 * the share of KEYS absent keys that match. */
static double measure(unsigned bits_per_key)
{
	uint64_t *h = malloc(KEYS * sizeof(*h));
	assert_non_null(h);
	for (uint64_t i = 0; i < KEYS; i++)
		h[i] = key_hash(i, 1);
	size_t n = bloom_encoded_bytes(KEYS, bits_per_key);
	uint8_t *f = malloc(n);
	assert_non_null(f);
	bloom_build(f, n, h, KEYS, bits_per_key);
	for (uint64_t i = 0; i < KEYS; i++)
		assert_true(bloom_may_match(bytes_make(f, n), h[i]));
	uint64_t fp = 0;
	for (uint64_t i = 0; i < KEYS; i++)
		fp += bloom_may_match(bytes_make(f, n), key_hash(i, 2));
	free(f);
	free(h);
	return (double)fp / KEYS;
}

/* The measured rate over 100k absent keys must lie within [0.6, 1.4] of
 * the theoretical (1 - e^(-k/b))^k, plus 0.05% absolute slack for the
 * sampling noise of the low rates (sd of 100k trials at 1% is 0.03%). */
static void check_rate(unsigned bits_per_key)
{
	double want = bloom_expected_fp_rate(bits_per_key);
	double got = measure(bits_per_key);
	printf("bits/key %u: fp %.4f%% (theory %.4f%%)\n", bits_per_key, got * 100, want * 100);
	assert_true(got <= want * 1.4 + 0.0005);
	assert_true(got >= want * 0.6 - 0.0005);
}

static void test_bloom_default_bits_give_about_one_percent(void **state)
{
	(void)state;
	check_rate(BLOOM_BITS_PER_KEY_DEFAULT);
	assert_true(bloom_expected_fp_rate(BLOOM_BITS_PER_KEY_DEFAULT) < 0.011);
}

static void test_bloom_other_bits_per_key_follow_theory(void **state)
{
	(void)state;
	check_rate(4);
	check_rate(16);
	check_rate(1);
}

static void test_bloom_empty_filter_matches_little(void **state)
{
	(void)state;
	size_t n = bloom_encoded_bytes(0, 10);
	uint8_t f[64];
	assert_true(n <= sizeof(f));
	bloom_build(f, n, NULL, 0, 10);
	for (uint64_t i = 0; i < 1000; i++)
		assert_false(bloom_may_match(bytes_make(f, n), key_hash(i, 3)));
}

static void test_bloom_foreign_bytes_never_claim_absence(void **state)
{
	(void)state;
	uint8_t f[9] = {0};
	assert_true(bloom_may_match(bytes_make(f, 0), 42));
	assert_true(bloom_may_match(bytes_make(f, 1), 42));
	f[8] = 0; /* k = 0 */
	assert_true(bloom_may_match(bytes_make(f, 9), 42));
	f[8] = BLOOM_PROBES_MAX + 1;
	assert_true(bloom_may_match(bytes_make(f, 9), 42));
	f[8] = 1; /* a real k over an all-zero array: absent */
	assert_false(bloom_may_match(bytes_make(f, 9), 42));
}

static void test_bloom_bits_per_key_max_is_accepted(void **state)
{
	(void)state;
	uint64_t h[3] = {1, 2, 3};
	size_t n = bloom_encoded_bytes(3, BLOOM_BITS_PER_KEY_MAX);
	uint8_t *f = malloc(n);
	assert_non_null(f);
	bloom_build(f, n, h, 3, BLOOM_BITS_PER_KEY_MAX);
	for (int i = 0; i < 3; i++)
		assert_true(bloom_may_match(bytes_make(f, n), h[i]));
	assert_true(f[n - 1] <= BLOOM_PROBES_MAX);
	free(f);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_bloom_default_bits_give_about_one_percent),
	    cmocka_unit_test(test_bloom_other_bits_per_key_follow_theory),
	    cmocka_unit_test(test_bloom_empty_filter_matches_little),
	    cmocka_unit_test(test_bloom_foreign_bytes_never_claim_absence),
	    cmocka_unit_test(test_bloom_bits_per_key_max_is_accepted),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
