/*
 * buf.c - growable byte buffer; see buf.h.
 */
#include "base/buf.h"

#include <stdlib.h>

#include "base/err.h"

void buf_init(struct buf *b)
{
	b->data = NULL;
	b->len = 0;
	b->cap = 0;
}

void buf_deinit(struct buf *b)
{
	free(b->data);
	buf_init(b);
}

int buf_reserve(struct buf *b, size_t extra, size_t cap_bytes)
{
	if (extra > cap_bytes || b->len > cap_bytes - extra)
		return ERR_LIMIT;
	size_t need = b->len + extra;
	if (need <= b->cap)
		return 0;
	size_t cap = b->cap ? b->cap : 256;
	while (cap < need)
		cap = cap < ((size_t)1 << 62) ? cap * 2 : need;
	if (cap > cap_bytes)
		cap = cap_bytes;
	uint8_t *p = realloc(b->data, cap);
	if (!p)
		return ERR_NOMEM;
	b->data = p;
	b->cap = cap;
	return 0;
}

void buf_consume(struct buf *b, size_t n)
{
	ASSERT(n <= b->len);
	if (n == b->len) {
		b->len = 0;
		return;
	}
	memmove(b->data, b->data + n, b->len - n);
	b->len -= n;
}

void buf_shrink(struct buf *b, size_t keep_bytes)
{
	if (b->cap <= keep_bytes || b->len > keep_bytes)
		return;
	if (keep_bytes == 0) {
		free(b->data);
		b->data = NULL;
		b->cap = 0;
		return;
	}
	uint8_t *p = realloc(b->data, keep_bytes);
	if (p) {
		b->data = p;
		b->cap = keep_bytes;
	}
}
