/*
 * assert.h - assertions that stay on in release builds.
 *
 * ASSERT() checks a fact the code relies on; a failure is a bug, so the
 * process prints where and aborts. DEBUG_ASSERT() is for checks too slow for
 * production and compiles away unless RINGKV_DEBUG is defined. Assertions
 * never validate input: client bytes, peer messages and disk contents get
 * error codes.
 */
#ifndef RINGKV_BASE_ASSERT_H
#define RINGKV_BASE_ASSERT_H

#include <assert.h> /* static_assert */

void assert_fail(const char *expr, const char *file, int line, const char *func)
    __attribute__((noreturn, cold));

#define ASSERT(expr) ((expr) ? (void)0 : assert_fail(#expr, __FILE__, __LINE__, __func__))

#ifdef RINGKV_DEBUG
#define DEBUG_ASSERT(expr) ASSERT(expr)
#else
#define DEBUG_ASSERT(expr) ((void)0)
#endif

#define LIKELY(x)    __builtin_expect(!!(x), 1)
#define UNLIKELY(x)  __builtin_expect(!!(x), 0)
#define ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))

#endif
