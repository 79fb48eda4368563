/*
 * wire.h - the internode protocol: frames and the payloads they carry.
 * Pure: bytes in, values out; no sockets, no clock (docs/cluster.md).
 *
 * Frame (little-endian, 28-byte header):
 *   0  magic       4  "RKVN"
 *   4  version     1  WIRE_VERSION
 *   5  type        1  enum wire_type
 *   6  flags       2  per type; none defined yet (carried, not checked)
 *   8  length      4  payload bytes
 *   12 request_id  8  chosen by the sender, echoed in the response
 *   20 checksum    8  XXH3-64 of the payload, seeded with the XXH3-64 of
 *                     header bytes 0..19 (so it covers every field)
 *   28 payload     length bytes
 *
 * The streaming decoder takes bytes in chunks of any size and yields
 * complete, verified frames. It checks the header (magic, version, type,
 * length against the limit of its type) as soon as the 28 bytes are in,
 * before buffering any payload, and grows its buffer with the bytes that
 * arrive, never to the announced length: it never holds more than one
 * frame, header plus at most payload_bytes_max. Errors are sticky (a
 * stream that lost its framing cannot be resynchronised; the caller
 * closes the connection): ERR_PROTO (bad magic, version or type),
 * ERR_LIMIT (a length over the limit), ERR_CORRUPT (checksum mismatch),
 * ERR_NOMEM; wire_decoder_reason() says which.
 *
 * Payload decoders check every length against the bytes that remain and
 * against limits.h, reject trailing bytes, and return views into the
 * payload (valid as long as the payload is).
 *
 * Thread: a decoder belongs to one connection.
 */
#ifndef RINGKV_CLUSTER_WIRE_H
#define RINGKV_CLUSTER_WIRE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/buf.h"
#include "base/bytes.h"

#define WIRE_MAGIC        "RKVN"
#define WIRE_VERSION      1
#define WIRE_HEADER_BYTES 28

enum wire_type {
	WIRE_MEMBER = 1,   /* a SWIM membership message (cluster/member_codec.h) */
	WIRE_PUT_REQ = 2,  /* struct wire_replica_req */
	WIRE_PUT_RESP = 3, /* struct wire_replica_resp */
	WIRE_GET_REQ = 4,
	WIRE_GET_RESP = 5,
	WIRE_DEL_REQ = 6,
	WIRE_DEL_RESP = 7,
	WIRE_HINT = 8,     /* struct wire_hint */
	WIRE_HINT_ACK = 9, /* struct wire_replica_resp */
	WIRE_RING = 10,    /* a ring (cluster/ring.h encoding) */
	WIRE_TYPE_COUNT
};

struct wire_frame {
	uint8_t type;
	uint16_t flags;
	uint64_t request_id;
	struct bytes payload;
};

/* The largest payload a frame of this type may carry under the
 * configured payload_bytes_max (membership and ring: at most WIRE_CONTROL_BYTES_MAX). */
size_t wire_payload_bytes_max(uint8_t type, size_t payload_bytes_max);

/* ---- Encoding frames ---------------------------------------------------
 * wire_frame_begin() appends a header with a zero length and checksum and
 * returns its offset; the caller appends the payload (the encoders below);
 * wire_frame_end() fills length and checksum. After a failure between the
 * two the caller drops the partial frame with out->len = start. */
int wire_frame_begin(struct buf *out, size_t cap_bytes, uint8_t type, uint16_t flags,
                     uint64_t request_id, size_t *start);
/* ERR_LIMIT when the payload is over WIRE_FRAME_BYTES_MAX. */
int wire_frame_end(struct buf *out, size_t start);
/* A whole frame around payload. ERR_LIMIT, ERR_NOMEM; nothing appended then. */
int wire_frame_encode(struct buf *out, size_t cap_bytes, uint8_t type, uint16_t flags,
                      uint64_t request_id, struct bytes payload);

/* ---- Streaming decoder -------------------------------------------------- */

enum { WIRE_FRAME_READY = 1 };

struct wire_decoder {
	size_t payload_bytes_max;
	struct buf buf;     /* the frame being assembled */
	size_t frame_bytes; /* header + payload of it, once the header is in */
	bool delivered;     /* buf holds a frame handed out by the last step */
	int err;
	const char *reason;
};

/* payload_bytes_max: at most WIRE_FRAME_BYTES_MAX (WIRE_FRAME_BYTES_DEFAULT
 * is the usual choice). Allocates nothing until bytes arrive. */
void wire_decoder_init(struct wire_decoder *d, size_t payload_bytes_max);
void wire_decoder_deinit(struct wire_decoder *d);

/* Takes bytes from p[0, n) until a frame is complete or they run out;
 * *used says how many it took (the caller passes the rest next time).
 * Returns WIRE_FRAME_READY with *frame (its payload view is valid until
 * the next call, and may point into p), 0 when every byte was taken and
 * no frame is complete yet, or a negative error, which is sticky. */
int wire_decoder_step(struct wire_decoder *d, const uint8_t *p, size_t n, size_t *used,
                      struct wire_frame *frame);

/* A constant description of the decoder's error, or NULL. */
const char *wire_decoder_reason(const struct wire_decoder *d);

/* ---- Replica requests and responses -------------------------------------- */

/* hint_for of a request that is not a sloppy-quorum fallback's; equal to
 * RING_MEMBER_NONE (checked in wire.c). */
#define WIRE_HINT_FOR_NONE 0xffffu

/* Quorum flags of a request. */
#define WIRE_QUORUM_SLOPPY 1u /* a fallback may take the write (hinted handoff) */
#define WIRE_QUORUM_LWW    2u /* the key space resolves conflicts by LWW */
/* PUT_REQ/DEL_REQ from a coordinator that is not a replica of the key: the
 * receiving replica runs the whole write (value, and in version the
 * client's context, empty for none) and answers when it has its quorum. */
#define WIRE_QUORUM_FORWARD 4u
/* With FORWARD: the client gave a context (version; an empty one is a
 * blind write that keeps what it did not see as siblings). Without it the
 * write supersedes what the replica holds (plain SET, DEL). */
#define WIRE_QUORUM_CONTEXT 8u
/* With FORWARD on a PUT_REQ: INCRBY, value is the delta in decimal. */
#define WIRE_QUORUM_INCR  16u
/* The request carries expire_ms (a u64 after `from`, present only with
 * this flag, never 0). With FORWARD on a PUT_REQ: the new value expires
 * then (SET ... EX), or with EXPIRE the time an EXPIRE sets. */
#define WIRE_QUORUM_EXPIRES 32u
/* With FORWARD on a PUT_REQ: EXPIRE or PERSIST, a read-modify-write at the
 * replica (replica_expire); value is its `how` (REPLICA_EXPIRE_*,
 * REPLICA_PERSIST) in decimal; the answer's value "1" or "0". */
#define WIRE_QUORUM_EXPIRE 64u
#define WIRE_QUORUM_KNOWN                                                                          \
	(WIRE_QUORUM_SLOPPY | WIRE_QUORUM_LWW | WIRE_QUORUM_FORWARD | WIRE_QUORUM_CONTEXT |        \
	 WIRE_QUORUM_INCR | WIRE_QUORUM_EXPIRES | WIRE_QUORUM_EXPIRE)

/* PUT_REQ, GET_REQ, DEL_REQ. For a put, version is the coordinator's DVV
 * state after its update (dvv_encode; the replica merges it) and value is
 * empty, or in an LWW key space value is the value and version empty; a
 * get sends only the key; a delete sends the tombstone's state. */
struct wire_replica_req {
	struct bytes key;     /* 0..KEY_BYTES_MAX */
	struct bytes value;   /* 0..VALUE_BYTES_MAX */
	struct bytes version; /* checked against the frame only */
	uint64_t timestamp_ms;
	uint8_t n, r, w; /* 0..RING_REPLICAS_MAX; 0 = cluster default */
	uint8_t quorum_flags;
	/* A sloppy-quorum fallback's write: the ring member id of the down
	 * owner it stands in for (the receiver keeps it as a hint and hands it
	 * back); WIRE_HINT_FOR_NONE for an ordinary replica message.
	 * Note that 0 is a valid member id, so a zeroed struct is not "none". */
	uint16_t hint_for;
	uint16_t from; /* the sender's ring member id: where the answer goes */
	/* With WIRE_QUORUM_EXPIRES: absolute wall-clock ms, >= 1; else 0. */
	uint64_t expire_ms;
};

enum wire_status {
	WIRE_STATUS_OK = 0,
	WIRE_STATUS_NOT_FOUND = 1,
	WIRE_STATUS_ERROR = 2,      /* the replica failed (disk, memory) */
	WIRE_STATUS_OVERLOADED = 3, /* back-pressure: try another replica */
	WIRE_STATUS_NOT_OWNER = 4,  /* the replica's ring disagrees */
	WIRE_STATUS_LIMIT = 5,      /* siblings or clock over their limit */
	WIRE_STATUS_COUNT
};

/* PUT_RESP, GET_RESP, DEL_RESP, HINT_ACK. A get answers with the key's
 * DVV state in version (values included) and, for LWW, value. */
struct wire_replica_resp {
	uint16_t status; /* enum wire_status */
	uint16_t from;   /* the answering member's ring id */
	uint64_t timestamp_ms;
	struct bytes value;
	struct bytes version;
};

int wire_replica_req_encode(struct buf *out, size_t cap_bytes, const struct wire_replica_req *q);
int wire_replica_req_decode(struct bytes payload, struct wire_replica_req *q);
int wire_replica_resp_encode(struct buf *out, size_t cap_bytes, const struct wire_replica_resp *s);
int wire_replica_resp_decode(struct bytes payload, struct wire_replica_resp *s);

/* ---- Hinted handoff (WIRE_HINT) ------------------------------------------ */

/* A write a fallback took for target, handed to it when it is back. */
struct wire_hint {
	uint16_t target; /* ring member id */
	uint64_t timestamp_ms;
	struct bytes key;
	struct bytes value;
	struct bytes version;
};

int wire_hint_encode(struct buf *out, size_t cap_bytes, const struct wire_hint *h);
int wire_hint_decode(struct bytes payload, struct wire_hint *h);

#endif
