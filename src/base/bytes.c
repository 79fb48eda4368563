/*
 * bytes.c - the out-of-line helpers of bytes.h.
 */
#include "base/bytes.h"

/* ASCII only on purpose: command names and option keywords are ASCII, and a
 * locale-dependent tolower() would make "INFO" match differently per host. */
static inline uint8_t ascii_lower(uint8_t c)
{
	return (c >= 'A' && c <= 'Z') ? (uint8_t)(c | 0x20) : c;
}

bool bytes_eq_nocase(struct bytes b, const char *s)
{
	const uint8_t *t = (const uint8_t *)s;
	/* Walk both at once instead of strlen() first: command lookup calls this
	 * on the hot path, and most mismatches show in the first byte. */
	for (size_t i = 0; i < b.len; i++) {
		if (t[i] == '\0' || ascii_lower(b.ptr[i]) != ascii_lower(t[i]))
			return false;
	}
	return t[b.len] == '\0';
}
