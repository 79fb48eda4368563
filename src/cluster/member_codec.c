/*
 * member_codec.c - struct member_msg to bytes and back (the payload of a
 * membership frame; layout in docs/cluster.md):
 *
 *   u8 type | str from | str from_addr | u64 seq | str target | str target_addr
 *   | u16 count | count x (str name | str addr | str zone | u32 weight
 *                          | u64 incarnation | u8 status)
 *
 * where str = u8 length | bytes (no NUL), integers little-endian. A
 * decoder checks every length against what is left and every string
 * against its field's size (and refuses a NUL inside one); a message with
 * more updates than MEMBERS_MAX
 * + 1, an unknown type or status, or trailing bytes is refused.
 */
#include "cluster/member_codec.h"

#include <stdlib.h>
#include <string.h>

#include "base/err.h"
#include "cluster/codec.h"

static size_t str_size(const char *s)
{
	return 1 + strlen(s);
}

static void put_str(struct buf *b, const char *s)
{
	size_t n = strlen(s);
	codec_put8(b, (uint8_t)n);
	buf_put(b, s, n);
}

static bool get_str(struct codec_rd *r, char *dst, size_t cap, bool may_be_empty)
{
	size_t n = codec_get8(r);
	struct bytes v = codec_get_bytes(r, n);
	if (r->bad || n >= cap || (!n && !may_be_empty) || (n && memchr(v.ptr, 0, n)))
		return false; /* a NUL inside would cut the C string short */
	if (n)
		memcpy(dst, v.ptr, n);
	dst[n] = 0;
	return true;
}

int member_msg_encode(const struct member_msg *m, struct buf *out)
{
	if (m->update_count > MEMBERS_MAX + 1)
		return ERR_LIMIT;
	size_t n = 1 + str_size(m->from) + str_size(m->from_addr) + 8 + str_size(m->target) +
	    str_size(m->target_addr) + 2;
	for (size_t i = 0; i < m->update_count; i++) {
		const struct member_info *u = &m->updates[i];
		n += str_size(u->name) + str_size(u->addr) + str_size(u->zone) + 4 + 8 + 1;
	}
	int err = buf_reserve(out, n, MEMBER_MSG_BYTES_MAX);
	if (err)
		return err;
	codec_put8(out, (uint8_t)m->type);
	put_str(out, m->from);
	put_str(out, m->from_addr);
	codec_put64(out, m->seq);
	put_str(out, m->target);
	put_str(out, m->target_addr);
	codec_put16(out, (uint16_t)m->update_count);
	for (size_t i = 0; i < m->update_count; i++) {
		const struct member_info *u = &m->updates[i];
		put_str(out, u->name);
		put_str(out, u->addr);
		put_str(out, u->zone);
		codec_put32(out, u->weight);
		codec_put64(out, u->incarnation);
		codec_put8(out, (uint8_t)u->status);
	}
	return 0;
}

int member_msg_decode(struct bytes in, struct member_msg *m)
{
	memset(m, 0, sizeof(*m));
	struct codec_rd r = codec_rd_make(in.ptr, in.len);
	uint8_t type = codec_get8(&r);
	if (type < MEMBER_MSG_PING || type > MEMBER_MSG_SYNC_REPLY)
		return ERR_PROTO;
	m->type = (enum member_msg_type)type;
	if (!get_str(&r, m->from, sizeof(m->from), false) ||
	    !get_str(&r, m->from_addr, sizeof(m->from_addr), false))
		return ERR_PROTO;
	m->seq = codec_get64(&r);
	if (!get_str(&r, m->target, sizeof(m->target), true) ||
	    !get_str(&r, m->target_addr, sizeof(m->target_addr), true))
		return ERR_PROTO;
	size_t count = codec_get16(&r);
	if (r.bad || count > MEMBERS_MAX + 1)
		return ERR_PROTO;
	/* Each update takes at least 17 bytes: a count beyond what is left is
	 * refused before anything is allocated for it. */
	if (count > r.left / 17)
		return ERR_PROTO;
	m->updates = calloc(count ? count : 1, sizeof(*m->updates));
	if (!m->updates)
		return ERR_NOMEM;
	for (size_t i = 0; i < count; i++) {
		struct member_info *u = &m->updates[i];
		if (!get_str(&r, u->name, sizeof(u->name), false) ||
		    !get_str(&r, u->addr, sizeof(u->addr), false) ||
		    !get_str(&r, u->zone, sizeof(u->zone), true))
			goto bad;
		u->weight = codec_get32(&r);
		u->incarnation = codec_get64(&r);
		uint8_t st = codec_get8(&r);
		if (r.bad || st > MEMBER_LEFT)
			goto bad;
		u->status = (enum member_status)st;
	}
	if (r.bad || r.left)
		goto bad;
	m->update_count = count;
	return 0;
bad:
	free(m->updates);
	m->updates = NULL;
	return ERR_PROTO;
}
