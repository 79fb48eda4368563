/*
 * strconv.c - strict number <-> text conversions with Redis's rules; see
 * strconv.h.
 *
 * Integers are parsed by hand (Redis string2ll semantics, which the whole
 * protocol depends on). Floating point goes through strtold/strtod, as in
 * Redis, because correctly rounded decimal conversion is not something to
 * re-derive; the checks around the libc call are what make it strict. errno
 * is not consulted (it stays inside env/): overflow shows as an infinite
 * result and underflow as a zero result from a non-zero mantissa, which is
 * exactly what Redis rejects via ERANGE.
 */
#include "base/strconv.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/assert.h"

/* Longest text accepted as a floating point number. Redis copies into a
 * 5 KiB stack buffer; the contract promises 5000 bytes. */
#define STRCONV_FLOAT_BYTES_MAX 5000

/* string2ll rejects strings of 21 bytes or more before looking at them. */
#define STRCONV_I64_BYTES_MAX 20

static inline bool is_digit(uint8_t c)
{
	return c >= '0' && c <= '9';
}

/* isspace() in the C locale, without the locale lookup. */
static inline bool is_space(uint8_t c)
{
	return c == ' ' || (c >= '\t' && c <= '\r');
}

bool strconv_i64(struct bytes b, int64_t *out)
{
	if (b.len == 0 || b.len > STRCONV_I64_BYTES_MAX)
		return false;
	const uint8_t *p = b.ptr;
	size_t i = 0;
	bool neg = false;
	if (b.len == 1 && p[0] == '0') {
		*out = 0;
		return true;
	}
	if (p[0] == '-') {
		neg = true;
		i = 1;
	}
	/* The first digit must be 1-9: this rejects "", "-", "-0", "007". */
	if (i == b.len || p[i] < '1' || p[i] > '9')
		return false;
	uint64_t v = 0;
	for (; i < b.len; i++) {
		if (!is_digit(p[i]))
			return false;
		uint64_t d = (uint64_t)(p[i] - '0');
		if (v > (UINT64_MAX - d) / 10)
			return false;
		v = v * 10 + d;
	}
	if (neg) {
		if (v > (uint64_t)INT64_MAX + 1)
			return false;
		*out = v == (uint64_t)INT64_MAX + 1 ? INT64_MIN : -(int64_t)v;
	} else {
		if (v > (uint64_t)INT64_MAX)
			return false;
		*out = (int64_t)v;
	}
	return true;
}

/* Copies b into tmp as a C string for strtold/strtod, rejecting what Redis
 * rejects before the conversion: empty, too long, or leading white space
 * (strtod would skip it silently). */
static bool float_text(struct bytes b, char *tmp)
{
	if (b.len == 0 || b.len > STRCONV_FLOAT_BYTES_MAX)
		return false;
	if (is_space(b.ptr[0]))
		return false;
	memcpy(tmp, b.ptr, b.len);
	tmp[b.len] = '\0';
	return true;
}

/* True when the mantissa of a number strtod accepted has a non-zero digit,
 * so that a zero result means the value underflowed. */
static bool mantissa_nonzero(const char *s)
{
	if (*s == '-' || *s == '+')
		s++;
	bool hex = s[0] == '0' && (s[1] == 'x' || s[1] == 'X');
	if (hex)
		s += 2;
	for (; *s; s++) {
		char c = *s;
		if (hex ? (c == 'p' || c == 'P') : (c == 'e' || c == 'E'))
			break;
		if (c >= '1' && c <= '9')
			return true;
		if (hex && ((c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F')))
			return true;
	}
	return false;
}

/* True when s (accepted by strtod) spells infinity rather than overflowing
 * to it: Redis's string2d accepts "inf" but rejects "1e999" (ERANGE). */
static bool is_inf_literal(const char *s)
{
	if (*s == '-' || *s == '+')
		s++;
	return (s[0] | 0x20) == 'i';
}

bool strconv_ld(struct bytes b, long double *out)
{
	char tmp[STRCONV_FLOAT_BYTES_MAX + 1];
	if (!float_text(b, tmp))
		return false;
	char *end = NULL;
	long double v = strtold(tmp, &end);
	/* A NUL inside b, or any trailing byte, stops strtold early. */
	if (end != tmp + b.len)
		return false;
	if (isnan(v) || isinf(v))
		return false;
	if (v == 0 && mantissa_nonzero(tmp))
		return false;
	*out = v;
	return true;
}

bool strconv_double(struct bytes b, double *out)
{
	char tmp[STRCONV_FLOAT_BYTES_MAX + 1];
	if (!float_text(b, tmp))
		return false;
	char *end = NULL;
	double v = strtod(tmp, &end);
	if (end != tmp + b.len)
		return false;
	if (isnan(v))
		return false;
	if (isinf(v) && !is_inf_literal(tmp))
		return false;
	if (v == 0 && mantissa_nonzero(tmp))
		return false;
	*out = v;
	return true;
}

/* "00".."99": two digits per division halves the divisions, which matters
 * because every integer reply and bulk header goes through here. */
static const char digit_pairs[201] =
    "00010203040506070809101112131415161718192021222324252627282930313233343536373839"
    "40414243444546474849505152535455565758596061626364656667686970717273747576777879"
    "8081828384858687888990919293949596979899";

size_t strconv_i64_fmt(char *dst, int64_t v)
{
	char tmp[20];
	size_t at = sizeof(tmp);
	/* Negate in unsigned arithmetic so INT64_MIN does not overflow. */
	uint64_t u = v < 0 ? 0 - (uint64_t)v : (uint64_t)v;
	while (u >= 100) {
		unsigned pair = (unsigned)(u % 100) * 2;
		u /= 100;
		tmp[--at] = digit_pairs[pair + 1];
		tmp[--at] = digit_pairs[pair];
	}
	if (u >= 10) {
		unsigned pair = (unsigned)u * 2;
		tmp[--at] = digit_pairs[pair + 1];
		tmp[--at] = digit_pairs[pair];
	} else {
		tmp[--at] = (char)('0' + u);
	}
	size_t n = 0;
	if (v < 0)
		dst[n++] = '-';
	memcpy(dst + n, tmp + at, sizeof(tmp) - at);
	n += sizeof(tmp) - at;
	dst[n] = '\0';
	DEBUG_ASSERT(n <= 20);
	return n;
}

/* Redis's ld2string(LD_STR_HUMAN), used by INCRBYFLOAT: fixed notation with
 * 17 decimals, which with an 80-bit long double prints most short decimal
 * inputs back as typed, then trailing zeros (and a bare dot) trimmed. Redis
 * never switches to exponent form here, so 1e20 prints as 21 digits. */
size_t strconv_ld_fmt(char *dst, size_t cap, long double v)
{
	if (!isfinite(v) || cap == 0)
		return 0;
	int r = snprintf(dst, cap, "%.17Lf", v);
	if (r < 0 || (size_t)r + 1 > cap)
		return 0;
	size_t n = (size_t)r;
	if (memchr(dst, '.', n) != NULL) {
		while (dst[n - 1] == '0')
			n--;
		if (dst[n - 1] == '.')
			n--;
	}
	/* A tiny negative value rounds to "-0.000..."; Redis prints "0". */
	if (n == 2 && dst[0] == '-' && dst[1] == '0') {
		dst[0] = '0';
		n = 1;
	}
	dst[n] = '\0';
	return n;
}
