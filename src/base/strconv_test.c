/*
 * strconv_test.c - strict number parsing and formatting, Redis's rules.
 */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "base/strconv.h"

static struct bytes B(const char *s) {
	return bytes_cstr(s);
}

static void
test_strconv_i64_accepts_canonical_integers(void **state)
{
	(void)state;
	static const struct {
		const char *s;
		int64_t v;
	} ok[] = {
	    {"0", 0},
	    {"1", 1},
	    {"-1", -1},
	    {"10", 10},
	    {"123456789", 123456789},
	    {"9223372036854775807", INT64_MAX},
	    {"-9223372036854775808", INT64_MIN},
	    {"-9223372036854775807", -INT64_MAX},
	};
	for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
		int64_t v = 42;
		assert_true(strconv_i64(B(ok[i].s), &v));
		assert_int_equal(v, ok[i].v);
	}
}

static void test_strconv_i64_rejects_everything_else(void **state)
{
	(void)state;
	static const char *const bad[] = {
	    "",
	    "-",
	    "+1",
	    "01",
	    "00",
	    "-0",
	    "-01",
	    " 1",
	    "1 ",
	    "1a",
	    "a1",
	    "1.0",
	    "1e3",
	    "0x10",
	    "--1",
	    "1-",
	    "\t1",
	    "9223372036854775808",
	    "-9223372036854775809",
	    "18446744073709551616",
	    "99999999999999999999",
	    "-99999999999999999999",
	    "100000000000000000000", /* 21 bytes */
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		int64_t v = 42;
		assert_false(strconv_i64(B(bad[i]), &v));
		assert_int_equal(v, 42); /* untouched on failure */
	}
	int64_t v = 42;
	assert_false(strconv_i64(bytes_make("1\0"
	                                    "2",
	                                    3),
	                         &v));
	/* Only the view's bytes count, not what follows them. */
	assert_true(strconv_i64(bytes_make("12", 1), &v));
	assert_int_equal(v, 1);
}

static void test_strconv_i64_fmt_round_trips(void **state)
{
	(void)state;
	static const int64_t vals[] = {0,
	                               1,
	                               -1,
	                               9,
	                               10,
	                               99,
	                               100,
	                               -100,
	                               12345,
	                               INT64_MAX,
	                               INT64_MIN,
	                               INT64_MIN + 1,
	                               1000000000000000000LL};
	for (size_t i = 0; i < sizeof(vals) / sizeof(vals[0]); i++) {
		char buf[21], want[32];
		size_t n = strconv_i64_fmt(buf, vals[i]);
		snprintf(want, sizeof(want), "%lld", (long long)vals[i]);
		assert_int_equal(n, strlen(want));
		assert_string_equal(buf, want);
		int64_t back = 0;
		assert_true(strconv_i64(bytes_make(buf, n), &back));
		assert_int_equal(back, vals[i]);
	}
}

static void test_strconv_ld_accepts_finite_numbers(void **state)
{
	(void)state;
	static const struct {
		const char *s;
		long double v;
	} ok[] = {
	    {"0", 0},  {"1.5", 1.5L}, {"-2.25", -2.25L}, {"1e3", 1000}, {"+7", 7},    {".5", 0.5L},
	    {"5.", 5}, {"0x10", 16},  {"0e999", 0},      {"-0.0", 0},   {"1E2", 100},
	};
	for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
		long double v = 42;
		assert_true(strconv_ld(B(ok[i].s), &v));
		assert_true(v == ok[i].v);
	}
}

static void test_strconv_ld_rejects_spaces_nan_inf_and_range(void **state)
{
	(void)state;
	static const char *const bad[] = {
	    "",         " 1",       "1 ",         "\t1", "\n1",  "abc",      "1.5x",
	    "nan",      "-nan",     "NaN",        "inf", "-inf", "infinity", "1e99999",
	    "-1e99999", "1e-99999", "0x1p-99999", "--1", ".",    "e5",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		long double v = 42;
		assert_false(strconv_ld(B(bad[i]), &v));
		assert_true(v == 42);
	}
	long double v;
	assert_false(strconv_ld(bytes_make("1\0"
	                                   "5",
	                                   3),
	                        &v));
}

static void test_strconv_ld_length_at_limit_and_one_past(void **state)
{
	(void)state;
	char s[5002];
	memset(s, '0', sizeof(s));
	s[0] = '1';
	s[1] = '.';
	long double v = 0;
	assert_true(strconv_ld(bytes_make(s, 5000), &v));
	assert_true(v == 1);
	assert_false(strconv_ld(bytes_make(s, 5001), &v));
	double d = 0;
	assert_true(strconv_double(bytes_make(s, 5000), &d));
	assert_false(strconv_double(bytes_make(s, 5001), &d));
}

static void test_strconv_double_accepts_inf_but_not_overflow(void **state)
{
	(void)state;
	double v = 0;
	assert_true(strconv_double(B("inf"), &v));
	assert_true(isinf(v) && v > 0);
	assert_true(strconv_double(B("-inf"), &v));
	assert_true(isinf(v) && v < 0);
	assert_true(strconv_double(B("+inf"), &v));
	assert_true(strconv_double(B("Infinity"), &v));
	assert_true(strconv_double(B("1.5"), &v));
	assert_true(v == 1.5);
	assert_true(strconv_double(B("4.9e-324"), &v)); /* denormal, not zero */
	assert_true(v > 0);

	static const char *const bad[] = {"",       " 1",     "1 ",   "nan", "1e400",
	                                  "-1e400", "1e-400", "inf ", "x"};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		v = 42;
		assert_false(strconv_double(B(bad[i]), &v));
		assert_true(v == 42);
	}
}

static void check_ld_fmt(long double v, const char *want)
{
	char buf[5600];
	size_t n = strconv_ld_fmt(buf, sizeof(buf), v);
	assert_int_equal(n, strlen(want));
	assert_string_equal(buf, want);
}

static void test_strconv_ld_fmt_like_incrbyfloat(void **state)
{
	(void)state;
	check_ld_fmt(1.5L, "1.5");
	check_ld_fmt(3, "3");
	check_ld_fmt(0, "0");
	check_ld_fmt(-0.0L, "0");
	check_ld_fmt(-1e-30L, "0");
	check_ld_fmt(5200, "5200");
	check_ld_fmt(10.5L + 0.1L, "10.6");
	check_ld_fmt(-3.25L, "-3.25");
	check_ld_fmt(1e20L, "100000000000000000000");
	check_ld_fmt(0.1L, "0.1");

	char buf[5600];
	assert_int_equal(strconv_ld_fmt(buf, sizeof(buf), (long double)INFINITY), 0);
	assert_int_equal(strconv_ld_fmt(buf, sizeof(buf), (long double)NAN), 0);
	/* The largest long double needs about 4950 bytes: it fits. */
	size_t n = strconv_ld_fmt(buf, sizeof(buf), 1.18e4932L);
	assert_true(n > 4900 && n < 5600);
	/* No room is a failure, not a truncation. Like Redis, the room needed
	 * is that of the untrimmed "%.17Lf" text (23 bytes and a NUL here). */
	assert_int_equal(strconv_ld_fmt(buf, 23, 12345), 0);
	assert_int_equal(strconv_ld_fmt(buf, 24, 12345), 5);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_strconv_i64_accepts_canonical_integers),
	    cmocka_unit_test(test_strconv_i64_rejects_everything_else),
	    cmocka_unit_test(test_strconv_i64_fmt_round_trips),
	    cmocka_unit_test(test_strconv_ld_accepts_finite_numbers),
	    cmocka_unit_test(test_strconv_ld_rejects_spaces_nan_inf_and_range),
	    cmocka_unit_test(test_strconv_ld_length_at_limit_and_one_past),
	    cmocka_unit_test(test_strconv_double_accepts_inf_but_not_overflow),
	    cmocka_unit_test(test_strconv_ld_fmt_like_incrbyfloat),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
