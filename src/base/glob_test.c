/*
 * glob_test.c - Redis-compatible glob matching and its cost bounds.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "base/glob.h"
#include "base/limits.h"

struct glob_case {
	const char *pattern;
	const char *s;
	bool nocase;
	bool match;
};

static void check_cases(const struct glob_case *c, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		bool got = glob_match(bytes_cstr(c[i].pattern), bytes_cstr(c[i].s), c[i].nocase);
		if (got != c[i].match)
			fprintf(stderr, "pattern '%s' string '%s' nocase %d: got %d\n",
			        c[i].pattern, c[i].s, c[i].nocase, got);
		assert_true(got == c[i].match);
	}
}

#define CHECK(cases) check_cases(cases, sizeof(cases) / sizeof(cases[0]))

static void test_glob_wildcards(void **state)
{
	(void)state;
	static const struct glob_case cases[] = {
	    {"", "", false, true},
	    {"", "a", false, false},
	    {"*", "", false, true},
	    {"*", "abc", false, true},
	    {"**", "", false, true},
	    {"a*", "a", false, true},
	    {"a*", "abc", false, true},
	    {"a*", "ba", false, false},
	    {"*a", "ba", false, true},
	    {"*a", "ab", false, false},
	    {"*a", "aba", false, true},
	    {"h?llo", "hello", false, true},
	    {"h?llo", "hllo", false, false},
	    {"?", "", false, false},
	    {"*?", "", false, false},
	    {"*?", "a", false, true},
	    {"h*llo", "hllo", false, true},
	    {"h*llo", "heeeello", false, true},
	    {"h*llo", "hellox", false, false},
	    {"a*b*c", "aXXbYYc", false, true},
	    {"a*b*c", "aXXbYY", false, false},
	    {"**a**", "bba", false, true},
	    {"a**********b", "a-b", false, true},
	    {"*x*", "abxcd", false, true},
	    {"*x*", "abcd", false, false},
	    {"user:*:name", "user:42:name", false, true},
	    {"user:*:name", "user:42:names", false, false},
	};
	CHECK(cases);
}

static void test_glob_classes_follow_redis(void **state)
{
	(void)state;
	static const struct glob_case cases[] = {
	    {"h[ae]llo", "hello", false, true},
	    {"h[ae]llo", "hallo", false, true},
	    {"h[ae]llo", "hillo", false, false},
	    {"h[^e]llo", "hallo", false, true},
	    {"h[^e]llo", "hello", false, false},
	    {"h[a-b]llo", "hbllo", false, true},
	    {"h[a-b]llo", "hcllo", false, false},
	    {"h[b-a]llo", "hallo", false, true},
	    {"[0-9][0-9]", "42", false, true},
	    {"[0-9][0-9]", "4x", false, false},
	    {"[\\]]", "]", false, true},
	    {"[\\]]", "\\", false, false},
	    {"[]", "]", false, false},
	    {"[]", "", false, false},
	    /* Unclosed classes run to the end of the pattern. */
	    {"[", "[", false, false},
	    {"[^", "x", false, true},
	    {"[abc", "b", false, true},
	    {"[abc", "d", false, false},
	    /* "[a-]" is the range ']'..'a', as in Redis. */
	    {"[a-]", "a", false, true},
	    {"[a-]", "^", false, true},
	    {"[a-]", "b", false, false},
	    {"[*]", "*", false, true},
	    {"[*]", "x", false, false},
	    {"[?]", "x", false, false},
	};
	CHECK(cases);
}

static void test_glob_escapes_and_case(void **state)
{
	(void)state;
	static const struct glob_case cases[] = {
	    {"h\\*llo", "h*llo", false, true},
	    {"h\\*llo", "hello", false, false},
	    {"\\?", "?", false, true},
	    {"\\?", "x", false, false},
	    {"\\", "\\", false, true},
	    {"a\\", "a\\", false, true},
	    {"\\[a]", "[a]", false, true},
	    {"HELLO", "hello", true, true},
	    {"HELLO", "hello", false, false},
	    {"h*O", "HELLo", true, true},
	    {"[A-Z]", "q", true, true},
	    {"[A-Z]", "q", false, false},
	    {"[^a]", "A", true, false},
	    {"[xY]", "y", true, true},
	    {"\\A", "a", true, true},
	    /* Inside a class an escaped byte compares exactly, as in Redis. */
	    {"[\\A]", "a", true, false},
	    {"[\\A]", "A", true, true},
	};
	CHECK(cases);
}

static void test_glob_is_binary_safe(void **state)
{
	(void)state;
	assert_true(glob_match(bytes_make("a\0*", 3), bytes_make("a\0bc", 4), false));
	assert_false(glob_match(bytes_make("a\0*", 3), bytes_make("a\1bc", 4), false));
	assert_true(glob_match(bytes_make("?", 1), bytes_make("\0", 1), false));
	/* Bytes compare unsigned, so ranges over high bytes work. */
	assert_true(glob_match(bytes_cstr("[\x80-\xff]"), bytes_cstr("\xc3"), false));
	assert_false(glob_match(bytes_cstr("[\x80-\xff]"), bytes_cstr("a"), false));
}

static void test_glob_matches_all(void **state)
{
	(void)state;
	assert_true(glob_matches_all(bytes_cstr("*")));
	assert_true(glob_matches_all(bytes_cstr("***")));
	assert_false(glob_matches_all(bytes_cstr("")));
	assert_false(glob_matches_all(bytes_cstr("*a")));
	assert_false(glob_matches_all(bytes_cstr("\\*")));
	assert_false(glob_matches_all(bytes_cstr("?")));
}

/* Builds "*a" repeated runs times, then tail. */
static char *star_pattern(size_t runs, const char *tail)
{
	size_t n = runs * 2 + strlen(tail);
	char *p = malloc(n + 1);
	assert_non_null(p);
	for (size_t i = 0; i < runs; i++) {
		p[2 * i] = '*';
		p[2 * i + 1] = 'a';
	}
	strcpy(p + runs * 2, tail);
	return p;
}

static void test_glob_many_stars_on_long_string_finish_fast(void **state)
{
	(void)state;
	const size_t len = (size_t)1 << 20;
	char *s = malloc(len + 2);
	assert_non_null(s);
	memset(s, 'a', len);
	s[len] = '\0';

	/* GLOB_STARS_MAX runs: allowed, and answered in linear time. A
	 * recursive matcher would take exponential time on this. */
	char *p = star_pattern(GLOB_STARS_MAX, "b");
	assert_false(glob_match(bytes_cstr(p), bytes_make(s, len), false));
	s[len] = 'b';
	assert_true(glob_match(bytes_cstr(p), bytes_make(s, len + 1), false));
	s[len] = '\0';
	free(p);

	/* One run past the limit: refused, even where it would match. */
	p = star_pattern(GLOB_STARS_MAX + 1, "");
	assert_false(glob_match(bytes_cstr(p), bytes_make(s, len), false));
	free(p);
	p = star_pattern(GLOB_STARS_MAX - 1, "*"); /* 32 runs in all */
	assert_true(glob_match(bytes_cstr(p), bytes_make(s, len), false));
	free(p);

	/* Runs of '*' inside classes or escaped do not count. */
	char q[200];
	size_t n = 0;
	for (size_t i = 0; i < GLOB_STARS_MAX + 5; i++) {
		memcpy(q + n, "\\*[*]", 5);
		n += 5;
	}
	q[n++] = '*';
	q[n] = '\0';
	char t[200];
	for (size_t i = 0; i < (GLOB_STARS_MAX + 5) * 2; i++)
		t[i] = '*';
	memcpy(t + (GLOB_STARS_MAX + 5) * 2, "tail", 5);
	assert_true(glob_match(bytes_cstr(q), bytes_cstr(t), false));
	free(s);
}

static void test_glob_backtracking_is_capped(void **state)
{
	(void)state;
	const size_t len = (size_t)1 << 20;
	char *s = malloc(len + 2);
	assert_non_null(s);
	memset(s, 'a', len);
	/* "*" then 1000 'a's then 'b': each retry of the star re-reads 1000
	 * bytes, a billion in all. The cap ends it early with "no match", as
	 * glob.h promises, even though this string does match. */
	char *p = malloc(1003);
	assert_non_null(p);
	p[0] = '*';
	memset(p + 1, 'a', 1000);
	p[1001] = 'b';
	p[1002] = '\0';
	s[len] = 'b';
	assert_false(glob_match(bytes_cstr(p), bytes_make(s, len + 1), false));
	free(p);

	/* Ordinary patterns on long strings are well within the cap. */
	memcpy(s + len - 6, "needle", 6);
	assert_true(glob_match(bytes_cstr("*needle*"), bytes_make(s, len + 1), false));
	assert_true(glob_match(bytes_cstr("*ne?dle?"), bytes_make(s, len + 1), false));
	assert_false(glob_match(bytes_cstr("*needles*"), bytes_make(s, len + 1), false));
	free(s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_glob_wildcards),
	    cmocka_unit_test(test_glob_classes_follow_redis),
	    cmocka_unit_test(test_glob_escapes_and_case),
	    cmocka_unit_test(test_glob_is_binary_safe),
	    cmocka_unit_test(test_glob_matches_all),
	    cmocka_unit_test(test_glob_many_stars_on_long_string_finish_fast),
	    cmocka_unit_test(test_glob_backtracking_is_capped),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
