/*
 * glob.c - Redis-compatible glob matching with bounded cost; see glob.h.
 *
 * The element syntax (what '?', '[...]' and '\' mean, including Redis's
 * quirks: an unclosed class runs to the end of the pattern, "[a-]" is a
 * range up to ']', a class escape compares case-sensitively) follows Redis's
 * stringmatchlen so that KEYS and SCAN MATCH select the same keys.
 *
 * The search is not Redis's recursion, though. Every element other than
 * '*' consumes exactly one byte, so only the most recent '*' ever needs to be
 * retried with a longer span: if the rest of the pattern cannot match from
 * any later position, letting an earlier '*' swallow more cannot help (Redis
 * reaches the same conclusion with its skipLongerMatches flag). That gives a
 * loop with one backtrack point, no recursion, and at most |s| restarts.
 *
 * A restart re-reads the bytes the failed attempt had matched; those
 * re-reads are the only super-linear cost (|s| x segment length at worst),
 * so they are counted and capped at GLOB_RESCAN_BYTES_MAX, past which the
 * pattern is reported as not matching. Patterns with more than
 * GLOB_STARS_MAX runs of '*' are refused up front, as limits.h promises.
 *
 * Bytes are compared unsigned (Redis compares plain char, signed on x86, so
 * its ranges over bytes >= 0x80 behave oddly); case folding is ASCII only.
 */
#include "base/glob.h"

#include <stddef.h>
#include <stdint.h>

#include "base/assert.h"
#include "base/limits.h"

/* About a few milliseconds of re-reading: far above what any sane pattern
 * needs on a 64 KiB key, far below what would stall an event loop. */
#define GLOB_RESCAN_BYTES_MAX ((size_t)1 << 22)

static inline uint8_t ascii_lower(uint8_t c)
{
	return (c >= 'A' && c <= 'Z') ? (uint8_t)(c | 0x20) : c;
}

static inline bool byte_eq(uint8_t a, uint8_t b, bool nocase)
{
	return nocase ? ascii_lower(a) == ascii_lower(b) : a == b;
}

static bool in_range(uint8_t lo, uint8_t hi, uint8_t c, bool nocase)
{
	if (lo > hi) {
		uint8_t t = lo;
		lo = hi;
		hi = t;
	}
	if (nocase) {
		lo = ascii_lower(lo);
		hi = ascii_lower(hi);
		c = ascii_lower(c);
	}
	return c >= lo && c <= hi;
}

/* Matches c against the class that opens at p[i] == '['. Returns whether it
 * matched and sets *next to the index after the class. The walk mirrors
 * Redis so that odd classes end where Redis ends them. */
static bool class_match(const uint8_t *p, size_t m, size_t i, uint8_t c, bool nocase, size_t *next)
{
	size_t j = i + 1;
	bool negate = j < m && p[j] == '^';
	if (negate)
		j++;
	bool match = false;
	for (;;) {
		if (j >= m) {
			/* Unclosed: the class ends with the pattern. Redis steps back
			 * one byte here so that its common "advance" lands on the end. */
			j--;
			break;
		}
		if (p[j] == '\\' && m - j >= 2) {
			j++;
			if (p[j] == c)
				match = true;
		} else if (p[j] == ']') {
			break;
		} else if (m - j >= 3 && p[j + 1] == '-') {
			if (in_range(p[j], p[j + 2], c, nocase))
				match = true;
			j += 2;
		} else if (byte_eq(p[j], c, nocase)) {
			match = true;
		}
		j++;
	}
	*next = j + 1;
	DEBUG_ASSERT(*next > i);
	return negate ? !match : match;
}

/* Matches one non-'*' element at p[i] against c; *next is the index of the
 * following element. */
static inline bool elem_match(const uint8_t *p, size_t m, size_t i, uint8_t c, bool nocase,
                              size_t *next)
{
	switch (p[i]) {
	case '?':
		*next = i + 1;
		return true;
	case '[':
		return class_match(p, m, i, c, nocase, next);
	case '\\':
		if (m - i >= 2) {
			*next = i + 2;
			return byte_eq(p[i + 1], c, nocase);
		}
		break;
	default:
		break;
	}
	*next = i + 1;
	return byte_eq(p[i], c, nocase);
}

/* Counts runs of '*' outside classes and escapes. Stops counting once past
 * the limit, so the walk is one pass over the pattern. */
static size_t star_runs(const uint8_t *p, size_t m)
{
	size_t runs = 0;
	size_t i = 0;
	while (i < m && runs <= GLOB_STARS_MAX) {
		if (p[i] == '*') {
			runs++;
			while (i < m && p[i] == '*')
				i++;
			continue;
		}
		size_t next;
		(void)elem_match(p, m, i, 0, false, &next);
		i = next;
	}
	return runs;
}

bool glob_matches_all(struct bytes pattern)
{
	if (pattern.len == 0)
		return false;
	for (size_t i = 0; i < pattern.len; i++) {
		if (pattern.ptr[i] != '*')
			return false;
	}
	return true;
}

bool glob_match(struct bytes pattern, struct bytes s, bool nocase)
{
	const uint8_t *p = pattern.ptr;
	size_t m = pattern.len;
	/* Redis's loop never runs on an empty string, so "*" would not match
	 * ""; but KEYS * and SCAN without MATCH do return the empty key, and a
	 * pattern that glob_matches_all() must match everything. */
	if (glob_matches_all(pattern))
		return true;
	if (star_runs(p, m) > GLOB_STARS_MAX)
		return false;

	size_t pi = 0, si = 0;
	size_t star_pi = SIZE_MAX; /* element after the last '*' run, if any */
	size_t star_si = 0;        /* where that '*' span currently ends */
	size_t rescanned = 0;
	while (si < s.len) {
		if (pi < m && p[pi] == '*') {
			while (pi < m && p[pi] == '*')
				pi++;
			if (pi == m)
				return true; /* a trailing '*' takes the rest */
			star_pi = pi;
			star_si = si;
			continue;
		}
		size_t next;
		if (pi < m && elem_match(p, m, pi, s.ptr[si], nocase, &next)) {
			pi = next;
			si++;
			continue;
		}
		if (star_pi == SIZE_MAX)
			return false;
		/* Let the last '*' take one more byte and retry from there. */
		rescanned += si - star_si;
		if (rescanned > GLOB_RESCAN_BYTES_MAX)
			return false;
		star_si++;
		si = star_si;
		pi = star_pi;
	}
	while (pi < m && p[pi] == '*')
		pi++;
	return pi == m;
}
