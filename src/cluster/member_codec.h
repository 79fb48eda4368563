/*
 * member_codec.h - the bytes of a membership message (member.h); see
 * member_codec.c for the layout.
 */
#ifndef RINGKV_CLUSTER_MEMBER_CODEC_H
#define RINGKV_CLUSTER_MEMBER_CODEC_H

#include "base/buf.h"
#include "base/bytes.h"
#include "cluster/member.h"

/* The largest encoded message: every member in a SYNC, each field full. */
#define MEMBER_MSG_BYTES_MAX                                                                       \
	(1 + 4 * 65 + 8 + 2 + (MEMBERS_MAX + 1) * (3 * 65 + 4 + 8 + 1))

/* Appends m to out. ERR_LIMIT (too many updates), ERR_NOMEM. */
int member_msg_encode(const struct member_msg *m, struct buf *out);

/* Decodes a message; on success m->updates is allocated (free() it).
 * ERR_PROTO for anything malformed, ERR_NOMEM. */
int member_msg_decode(struct bytes in, struct member_msg *m);

#endif
