/*
 * bytes.h - a borrowed view of binary-safe bytes.
 *
 * A view never owns its bytes; whoever returns one says how long it stays
 * valid. Keys and values are byte strings, so lengths always travel with
 * the pointer; NUL-terminated strings are for logs and config only.
 */
#ifndef RINGKV_BASE_BYTES_H
#define RINGKV_BASE_BYTES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

struct bytes {
	const uint8_t *ptr;
	size_t len;
};

static inline struct bytes bytes_make(const void *ptr, size_t len)
{
	struct bytes b = {(const uint8_t *)ptr, len};
	return b;
}

static inline struct bytes bytes_cstr(const char *s)
{
	return bytes_make(s, strlen(s));
}

static inline bool bytes_eq(struct bytes a, struct bytes b)
{
	return a.len == b.len && (a.len == 0 || memcmp(a.ptr, b.ptr, a.len) == 0);
}

/* True when b equals the ASCII string s, ignoring ASCII case. */
bool bytes_eq_nocase(struct bytes b, const char *s);

#endif
