/*
 * hintlog.h - the durable hint queues of hinted handoff (Dynamo, DeCandia
 * et al. 2007, section 4.6; docs/cluster.md, "Sloppy quorum").
 *
 * When a key's preferred replica (the target, named by its member name) is
 * down, a fallback node takes the write and keeps a hint: (key, encoded DVV
 * state, created_ms). The hintlog keeps one FIFO queue of hints per target
 * on disk until the target is back and the shell hands them off.
 *
 * Files. Everything lives in one directory, reached only through struct
 * env_fs. A target's name is arbitrary bytes, so file names carry it
 * hex-encoded: "<hex>.<seg_no:016x>.seg" (segments) and "<hex>.cur" (the
 * delivered cursor). A segment is a 40-byte header then checksummed,
 * length-prefixed records; a new segment starts when the current one would
 * pass segment_bytes, after a failed append, and at every open (a writer
 * never appends to a recovered segment). Layout in hintlog.c.
 *
 * Durability. hintlog_append hands the record to the env; it is durable
 * after hintlog_sync returns 0 (or at once with sync_each_append). Any
 * failed fsync marks the hintlog failed: appends and syncs return that error
 * until it is reopened (a failed fsync is never retried, STYLE.md 4). A
 * failed append (ERR_NOSPACE, ERR_IO) only retires that target's segment:
 * its tail is unknown, so the next append starts a new one.
 *
 * Delivery. hintlog_next hands out the oldest record not yet sent, with a
 * sequence number, and keeps it in flight (at most HINTLOG_INFLIGHT_MAX per
 * target); hintlog_ack marks one delivered, in any order; the delivered
 * cursor moves over the acked prefix. hintlog_retry makes every unacked
 * record eligible again (same seq). Records older than max_age_ms are
 * skipped and count as delivered (expired). Sequence numbers are unique
 * per open hintlog, so a late ack never matches a later record.
 *
 * At-least-once. The cursor is persisted lazily, by hintlog_sync (tmp file,
 * rename, directory sync), so after a crash the hints delivered since the
 * last sync are delivered again. That is safe: the target merges a hint
 * like any replica write (an idempotent DVV sync). hintlog_sync also
 * removes fully delivered segments and forgets targets left empty.
 *
 * Recovery. hintlog_open scans every segment at or after each target's
 * cursor and verifies each record. A damaged record that nothing valid
 * follows (a cut header, a length past the end, a zero-filled tail) is a
 * torn tail, ignored and counted; any other damage stops that segment's
 * scan and is counted as corrupt: the rest of that segment is lost, later
 * segments are read. A damaged segment header or cursor file is corrupt
 * too (a damaged cursor means the target starts over from its first
 * segment). A record read back by hintlog_next is verified again. Open
 * fsyncs every segment it found records in, and the directory: whatever a
 * crashed process left in the OS cache is durable before it is reported
 * pending, so a later cursor never points past records that could vanish.
 *
 * Memory: per target O(HINTLOG_INFLIGHT_MAX) plus one small entry per
 * segment, never per record; records are read back with read_at. One
 * record buffer (the largest record handed out, given back above 1 MiB)
 * and one 64 KiB I/O buffer per hintlog. Open handles: the segment being
 * appended, the one being read, and those appended since the last sync.
 *
 * Ownership: struct hintlog is the caller's (open/close); every view it
 * returns is valid until the next call into the same hintlog.
 * Thread: none; one thread (the cluster thread) drives an instance.
 */
#ifndef RINGKV_CLUSTER_HINTLOG_H
#define RINGKV_CLUSTER_HINTLOG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/bytes.h"
#include "base/limits.h"
#include "env/fs.h"

/* Bounds: HINTLOG_* in base/limits.h. */

struct hintlog_config {
	const char *dir;            /* created if missing */
	uint64_t segment_bytes;     /* 0: _DEFAULT; _MIN.._MAX */
	uint64_t pending_bytes_max; /* per target; 0: _DEFAULT; at most _MAX */
	uint64_t state_bytes_max;   /* 0: _DEFAULT; at most _MAX */
	uint64_t max_age_ms;        /* 0: _DEFAULT; UINT64_MAX: never */
	bool sync_each_append;      /* hintlog_append syncs before it returns */
};

/* A record handed out by hintlog_next; key and state are valid until the
 * next call into the same hintlog. */
struct hint_rec {
	uint64_t seq;
	uint64_t created_ms;
	struct bytes key, state;
};

struct hintlog_target_stats {
	struct bytes name;          /* valid during the callback */
	uint64_t pending_records;   /* not yet delivered or expired (in flight included) */
	uint64_t pending_bytes;     /* record bytes of those, headers included */
	uint64_t oldest_created_ms; /* 0 when none pending; else a lower bound, see below */
	uint64_t inflight;          /* sent and not acked (retry-eligible included) */
	uint64_t segments;          /* segment files, delivered ones awaiting removal included */
};

/* Totals since open. corrupt counts damaged regions (record, segment header
 * or cursor), torn counts torn tails; their _bytes are the bytes lost. */
struct hintlog_stats {
	uint64_t targets, pending_records, pending_bytes, inflight;
	uint64_t appended, sent, delivered, expired, refused, dropped;
	uint64_t corrupt, corrupt_bytes, torn, torn_bytes;
};

struct hintlog_target; /* private */

/* Caller-allocated; fields are private to hintlog.c. */
struct hintlog {
	struct env_fs *fs;
	char *dir;
	uint64_t segment_bytes, pending_bytes_max, state_bytes_max, max_age_ms;
	bool sync_each_append;
	struct hintlog_target **targets;
	size_t target_count, target_cap;
	uint8_t *io;  /* HINTLOG_IO_BYTES: recovery reads, staged appends */
	uint8_t *rec; /* the record hintlog_next handed out */
	size_t rec_cap;
	uint64_t next_seq;
	bool dir_dirty; /* segments created since the last directory sync */
	int failed;     /* 0, or the error of a failed fsync */
	struct hintlog_stats stats;
};

/* Opens (creating the directory if needed) and recovers every target's
 * queue. ERR_INVALID for a config out of range, ERR_LIMIT for a dir path
 * too long or too many entries or targets, ERR_NOMEM, env errors; on
 * failure nothing is held. */
int hintlog_open(struct hintlog *h, struct env_fs *fs, const struct hintlog_config *cfg);

/* Closes every file without syncing and frees everything. Returns the first
 * close error; h is released either way. */
int hintlog_close(struct hintlog *h);
/* Changes the per-target byte bound and the age bound of an open hintlog
 * (0: the default), as hintlog_config's; they apply from the next call.
 * ERR_INVALID past HINTLOG_PENDING_BYTES_MAX, nothing changed. */
int hintlog_set_bounds(struct hintlog *h, uint64_t pending_bytes_max, uint64_t max_age_ms);

/* Queues a hint for target (1..RING_NAME_BYTES_MAX bytes of any value).
 * ERR_LIMIT, with nothing written and counted as refused: a name over
 * RING_NAME_BYTES_MAX, a key over KEY_BYTES_MAX, a state over
 * state_bytes_max, a target whose pending bytes (in flight included) would
 * pass pending_bytes_max, too many targets or segments. ERR_INVALID for an
 * empty name. ERR_NOSPACE, ERR_IO, ERR_NOMEM: not queued (a failed append
 * retires the segment). The error of a failed fsync once the hintlog is
 * failed. Durable after hintlog_sync; with sync_each_append, durable when
 * it returns 0, and an error from that sync (which fails the hintlog)
 * means queued but maybe not durable. */
int hintlog_append(struct hintlog *h, struct bytes target, struct bytes key, struct bytes state,
                   uint64_t created_ms);

/* Makes every append so far durable (segment fsyncs, then the directory),
 * then persists moved cursors and removes fully delivered segments. A
 * failed segment or directory fsync marks the hintlog failed. A failed
 * cursor write or removal is returned and retried by the next call. Call it
 * before acknowledging a write that left a hint (fsync "always") or about
 * once a second. */
int hintlog_sync(struct hintlog *h);

/* The oldest record of target not yet sent (a retry-eligible one first),
 * now in flight. ERR_NOT_FOUND: nothing to send (unknown target, or all
 * sent); ERR_LIMIT: HINTLOG_INFLIGHT_MAX in flight, ack first; ERR_AGAIN:
 * HINTLOG_EXPIRED_PER_CALL expired records skipped, call again; ERR_IO,
 * ERR_NOMEM with nothing changed. A record that fails its checksum is
 * skipped and counted as corrupt (with the rest of its segment). */
int hintlog_next(struct hintlog *h, struct bytes target, uint64_t now_ms, struct hint_rec *out);

/* Marks the record with seq delivered. ERR_NOT_FOUND for an unknown target
 * or seq, or one already acked (a duplicate answer: harmless). No I/O. */
int hintlog_ack(struct hintlog *h, struct bytes target, uint64_t seq);

/* Makes every in-flight record of target eligible to be sent again, with
 * its seq (a late ack of the first send still counts). ERR_NOT_FOUND for an
 * unknown target. No I/O. */
int hintlog_retry(struct hintlog *h, struct bytes target);

/* Drops every hint of target (operator action, member removed): at once in
 * memory (counted as dropped, in-flight seqs forgotten), then made durable
 * by a cursor past the end and a directory sync; files are removed now, or
 * by later syncs if a removal fails (the cursor keeps them dropped).
 * ERR_NOT_FOUND for an unknown target. An env error when the drop is not
 * durable yet: the next hintlog_sync retries the cursor; a failed directory
 * sync fails the hintlog as in hintlog_sync. */
int hintlog_drop(struct hintlog *h, struct bytes target);

/* Stats of one target. oldest_created_ms is the oldest created_ms in any
 * segment that still holds pending records: exact per segment, so it may
 * be older than the oldest pending record. ERR_NOT_FOUND when unknown. */
int hintlog_target_stats(const struct hintlog *h, struct bytes target,
                         struct hintlog_target_stats *out);

/* Calls fn once per target, in no fixed order; fn must not call into h. A
 * nonzero return stops and is returned. */
typedef int hintlog_target_fn(void *ctx, const struct hintlog_target_stats *st);
int hintlog_targets(const struct hintlog *h, hintlog_target_fn *fn, void *ctx);

void hintlog_get_stats(const struct hintlog *h, struct hintlog_stats *out);

/* 0 while the hintlog accepts appends, else the error that stopped it. */
static inline int hintlog_failed(const struct hintlog *h)
{
	return h->failed;
}

/* Asserts every internal invariant (O(targets * segments)); tests run it
 * after each step. */
void hintlog_check_invariants(const struct hintlog *h);

#endif
