/*
 * strconv.h - strict conversions between byte strings and numbers, with
 * Redis's rules: a number has no spaces, no leading '+', no leading zeros
 * (except "0" itself), and must fit its type; anything else is rejected.
 */
#ifndef RINGKV_BASE_STRCONV_H
#define RINGKV_BASE_STRCONV_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/bytes.h"

/* Parses a whole byte string as a signed 64-bit integer (Redis string2ll).
 * Returns false, leaving *out untouched, unless b is exactly a canonical
 * decimal integer in range. At most 20 digits plus sign. */
bool strconv_i64(struct bytes b, int64_t *out);

/* Parses a whole byte string as a finite long double (Redis string2ld):
 * no spaces, no "nan", no "inf" results, at most 5000 bytes. */
bool strconv_ld(struct bytes b, long double *out);

/* Parses a double for commands that accept "inf"/"-inf" (not used by
 * string commands). Same strictness otherwise. */
bool strconv_double(struct bytes b, double *out);

/* Writes v in decimal into dst (room for 21 bytes); returns the length. */
size_t strconv_i64_fmt(char *dst, int64_t v);

/* Writes a long double the way INCRBYFLOAT replies: "%.17Lf" with trailing
 * zeros (and a trailing dot) removed, "-0" printed as "0", never exponent
 * form (so 1e20 is 21 digits), as Redis's ld2string LD_STR_HUMAN. dst has
 * room for cap bytes (5600 fit any finite value); returns the length, or 0
 * if the value is not finite or the untrimmed text does not fit. */
size_t strconv_ld_fmt(char *dst, size_t cap, long double v);

#endif
