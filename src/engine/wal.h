/*
 * wal.h - the write-ahead log: append records, sync, recover them.
 *
 * A log file holds a sequence of records (opaque byte strings, one engine
 * write batch each) written by one writer and replayed in order by
 * recovery after a restart. The record is the atomic unit: after a crash a
 * record is replayed whole or not at all, never in part. The byte layout is
 * in docs/formats/wal.md: a 40-byte file header (magic, version, block
 * size, log number, salt), then 32 KiB blocks of checksummed fragments
 * (full, first, middle, last), so that damage costs at most the records
 * that touch the damaged block.
 *
 * Writer. wal_append encodes records and hands them to the env before it
 * returns (nothing is held back in user space), wal_sync makes everything
 * appended so far durable. wal_stage encodes records into the staging
 * buffer only (handed to the env when it fills, or by wal_flush, wal_sync
 * or wal_close), for a writer that batches many small appends into one
 * write call and accepts that a process crash loses what is staged. A group-commit leader appends the batches of
 * several clients (one or more wal_append calls) and then syncs once;
 * records are acknowledged only after that sync returns 0. Any failed env
 * call during append or sync marks the log failed: it then refuses every
 * append and sync with the error that stopped it, because nobody knows what
 * reached the disk (a failed fsync is never retried, STYLE.md section 4).
 * The engine must restart from recovery and start a new log, except after
 * an append that ran out of space (ERR_NOSPACE, never returned for a failed
 * fsync): then wal_abandon cuts and syncs the file and the engine may go
 * on with a new log. A writer
 * always creates a new file; it never appends to a recovered one.
 *
 * Recovery. wal_recover reads a log, calls back once per complete record in
 * order and stops at the end of valid data. A damaged region followed by no
 * valid fragment is a torn tail (the last write was cut short): it is
 * reported (and cut off the file if asked) and recovery succeeds. A damaged
 * region followed by a valid fragment is corruption in the middle: an
 * ERR_CORRUPT with the file offset and the reason, unless salvage is set,
 * in which case the damaged records are skipped and counted.
 *
 * Threads: a struct wal has one owner (the group-commit leader); recovery
 * runs before any writer. Memory: the writer allocates its staging buffer
 * once at open; recovery holds one block and one record, bounded by the
 * record limit, whatever the file claims.
 */
#ifndef RINGKV_ENGINE_WAL_H
#define RINGKV_ENGINE_WAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/bytes.h"
#include "env/fs.h"

#define WAL_MAGIC                 "ringkvWL"
#define WAL_VERSION               1
#define WAL_FILE_HEADER_BYTES     40
#define WAL_FRAGMENT_HEADER_BYTES 12

enum wal_fragment_type {
	WAL_FRAG_FULL = 1,
	WAL_FRAG_FIRST = 2,
	WAL_FRAG_MIDDLE = 3,
	WAL_FRAG_LAST = 4,
};

struct wal_options {
	uint64_t log_number;       /* the engine's number for this log */
	uint64_t salt;             /* random per log: stale bytes of another log never verify */
	uint64_t record_bytes_max; /* 0: WAL_RECORD_BYTES_DEFAULT; at most _MAX */
};

/* Caller-allocated; fields are private to wal.c. */
struct wal {
	struct env_fs *fs;
	struct env_file *file;
	uint8_t *buf;      /* staging buffer, WAL_WRITE_BUFFER_BYTES */
	size_t buf_len;    /* bytes staged, not yet handed to the env */
	uint64_t appended; /* file bytes handed to the env successfully */
	uint64_t synced;   /* file bytes made durable */
	uint64_t log_number, salt, record_bytes_max;
	int failed; /* 0, or the error that stopped the log */
};

/* Creates (or truncates) the log file at path, writes and syncs its header
 * and syncs its directory, so that a log that opened is durable even if
 * empty. On failure the file is removed (best effort), nothing is held and
 * w must not be used. ERR_INVALID for a bad record limit. */
int wal_open(struct wal *w, struct env_fs *fs, const char *path, const struct wal_options *opt);

/* Appends count records, each atomic on replay, and hands them to the env.
 * ERR_LIMIT (nothing written, log still usable) if a record exceeds the
 * record limit. Any other error marks the log failed. Not durable until
 * wal_sync. */
int wal_append(struct wal *w, const struct bytes *records, size_t count);

/* wal_append that may keep the records in the staging buffer; the same
 * errors (a full buffer is handed to the env on the way). */
int wal_stage(struct wal *w, const struct bytes *records, size_t count);

/* Hands whatever is staged to the env. An error marks the log failed. */
int wal_flush(struct wal *w);

/* Bytes appended or staged so far, header included (statistics). */
uint64_t wal_written_bytes(const struct wal *w);

/* Hands what is staged to the env and makes everything appended so far
 * durable. An error marks the log failed; it is never retried. */
int wal_sync(struct wal *w);

/* Retires a log whose append failed (ERR_NOSPACE): drops what is still
 * staged, cuts the file to keep_bytes when it is longer (a failed append
 * may have left any prefix of its bytes, even whole records, that must
 * not be replayed) and syncs it, so that its valid records are durable
 * and a partial tail stays a torn tail. The log stays failed: it is never
 * appended to again. *file_bytes gets the file's length after the cut.
 * Requires keep_bytes >= wal_synced_bytes. 0, or the error of the size,
 * truncate or sync (ERR_IO for a failed sync), which the caller must
 * treat as a failed fsync. */
int wal_abandon(struct wal *w, uint64_t keep_bytes, uint64_t *file_bytes);

/* Hands what is staged to the env, closes the file without syncing and
 * frees the buffer. Returns the first error, if any; w is released either
 * way. */
int wal_close(struct wal *w);

/* 0 while the log accepts appends, else the error that stopped it. */
static inline int wal_failed(const struct wal *w)
{
	return w->failed;
}

/* Bytes of the file known durable (header included). */
static inline uint64_t wal_synced_bytes(const struct wal *w)
{
	return w->synced;
}

/* The log's file, for a sync from another thread while the owner goes on
 * appending (the engine's everysec syncer): env_fs_sync on it makes
 * durable every byte handed to the env before the call. The owner must
 * keep the file open until that sync returns; wal_synced_bytes does not
 * count it, and a failure is the caller's to act on (the log itself is
 * not marked failed). */
static inline struct env_file *wal_file(const struct wal *w)
{
	return w->file;
}

struct wal_recover_options {
	uint64_t record_bytes_max; /* 0: WAL_RECORD_BYTES_DEFAULT; at most _MAX */
	bool salvage;              /* skip corrupt regions instead of failing */
	bool truncate_tail;        /* cut a torn tail off the file (and sync it) */
};

struct wal_recover_result {
	uint64_t log_number, salt; /* from the header */
	bool header_torn;          /* the header never fully reached disk: an empty log */
	uint64_t record_count;     /* records passed to the callback */
	uint64_t valid_bytes;      /* end of the last complete record (or of the header) */
	uint64_t dropped_bytes;    /* torn tail after valid_bytes */
	uint64_t skipped_bytes;    /* salvage: bytes of damaged records skipped */
	uint64_t skipped_regions;  /* salvage: damaged regions skipped */
	uint64_t error_offset;     /* ERR_CORRUPT, ERR_LIMIT: file offset of the problem */
	const char *error_reason;  /* ERR_CORRUPT, ERR_LIMIT: a constant string, else NULL */
};

/* Called once per complete record with its bytes (valid until the callback
 * returns) and the file offset of its first fragment. A nonzero return
 * stops recovery and is returned by wal_recover. */
typedef int wal_record_fn(void *ctx, struct bytes record, uint64_t offset);

/* Replays the log at path. Returns 0 when every record up to the end of
 * valid data was replayed (a torn tail is not an error); ERR_CORRUPT for a
 * damaged header or, without salvage, damage followed by valid data;
 * ERR_LIMIT for a record over the limit; ERR_NOT_FOUND, ERR_IO, ERR_NOMEM
 * from the env. *res is written in every case: on failure it says how far
 * recovery got and what was wrong. */
int wal_recover(struct env_fs *fs, const char *path, const struct wal_recover_options *opt,
                wal_record_fn *fn, void *ctx, struct wal_recover_result *res);

#endif
