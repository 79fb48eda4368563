/*
 * buf.h - a growable byte buffer with an explicit capacity cap.
 *
 * The caller owns struct buf (init/deinit). data is NULL until the first
 * reserve. Growth is geometric, so appends are amortised O(1), and never
 * goes past the cap given to buf_reserve: a breach is ERR_LIMIT, not a
 * silent truncation. Pointers into data are invalidated by any call that
 * may grow the buffer; keep offsets instead.
 */
#ifndef RINGKV_BASE_BUF_H
#define RINGKV_BASE_BUF_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "base/assert.h"

struct buf {
	uint8_t *data;
	size_t len;
	size_t cap;
};

void buf_init(struct buf *b);
void buf_deinit(struct buf *b);

/* Makes room for extra more bytes without growing past cap_bytes in all.
 * Returns 0, ERR_LIMIT when len + extra > cap_bytes, or ERR_NOMEM. */
int buf_reserve(struct buf *b, size_t extra, size_t cap_bytes);

/* Drops the first n bytes, moving the rest to the front. */
void buf_consume(struct buf *b, size_t n);

/* Shrinks the allocation to at most keep_bytes when it is larger and the
 * buffer holds no more than that; used to give memory back after a burst. */
void buf_shrink(struct buf *b, size_t keep_bytes);

/* Appends with no capacity check: the caller reserved the room. */
static inline void buf_put(struct buf *b, const void *p, size_t n)
{
	DEBUG_ASSERT(b->len + n <= b->cap);
	if (n)
		memcpy(b->data + b->len, p, n);
	b->len += n;
}

#endif
