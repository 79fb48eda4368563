/*
 * lsm.h - the engine core: one directory, one LSM store.
 *
 * Owns the WAL, the memtables (one mutable, at most one immutable being
 * flushed), the manifest and its versions, the open table readers, the
 * block cache, the current blob file and a background flush thread.
 *
 * Writes: lsm_write applies a batch atomically under one sequence range.
 * Concurrent writers queue; the first is the leader and writes the batches
 * of the whole queue (blob records, then one WAL record per batch, one
 * sync), inserts them into the memtable and wakes the others (LevelDB's
 * group commit). A failed append or sync of the WAL or a blob file, or a
 * failed flush or compaction, puts the store in a failed state: every
 * later write returns that error until it is reopened; reads go on. A
 * full disk is the exception (ERR_NOSPACE from an append, never from an
 * fsync): the group fails, the WAL is retired, and the store enters the
 * no-space state (lsm_write.c, top), which it leaves by itself once a new
 * WAL can be started; a flush or compaction that runs out of space
 * installs nothing and is retried every LSM_NOSPACE_RETRY_MS.
 *
 * Reads: lsm_get looks in the memtable, the immutable memtable, the L0
 * tables newest first, then each deeper level (binary search by key range),
 * and stops at the first version of the key (a tombstone means absent). It
 * holds references to the memtables and the version it started with, so a
 * concurrent flush frees nothing it uses.
 *
 * Open: recover the manifest, remove its orphans, replay the WALs at or
 * above its log number, write the replayed memtable as an L0 table, start
 * a new manifest and a new WAL. The background thread also compacts
 * (lsm_compact.c; docs/storage.md, "Compaction"). With sync=everysec a
 * second thread, the syncer, queues a sync request behind the writers
 * every sync_interval_ms; the leader that takes it syncs the WAL.
 *
 * Iteration: lsm_iter_* walks the user keys in order over a snapshot taken
 * at creation (published sequence, both memtables, the current version);
 * later writes and flushes do not change what it sees.
 *
 * Threads: every function may be called from any thread, except that
 * lsm_close must not race with anything. The env_fs must be usable from
 * several threads at once (env_fs_posix is; tests wrap env_fs_mem in a
 * lock).
 */
#ifndef RINGKV_ENGINE_LSM_H
#define RINGKV_ENGINE_LSM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/buf.h"
#include "base/bytes.h"
#include "base/limits.h"
#include "engine/ikey.h"
#include "engine/sst.h"
#include "env/fs.h"

enum lsm_sync {
	LSM_SYNC_ALWAYS = 0, /* fdatasync before a write returns */
	LSM_SYNC_NONE = 1,   /* leave it to the OS (a crash may lose a suffix) */
	/* Acknowledge after the append; a background thread fdatasyncs the
	 * WAL every sync_interval_ms when it has unsynced appends, so a crash
	 * loses a suffix of about that long. A failed background sync fails
	 * the store. */
	LSM_SYNC_EVERYSEC = 2,
};

struct lsm_options {
	enum lsm_sync sync;
	uint64_t memtable_bytes;    /* 0: MEMTABLE_BYTES_DEFAULT */
	/* A memtable also rotates at this many entries (0: no such bound):
	 * an insert's cost grows with the entries a skip list holds, a flush's
	 * and the tree's with its bytes (lsm_write.c, mem_full_locked). */
	uint64_t memtable_entries;
	uint64_t blob_threshold;    /* 0: BLOB_THRESHOLD; UINT64_MAX: no blobs */
	/* Data blocks of the tables flushes and compactions write (sst.h):
	 * SST_COMPRESSION_NONE (0), _LZ4 or _ZSTD. A block is kept
	 * uncompressed where compression saves less than an eighth. Blob
	 * files and the WAL are never compressed. */
	enum sst_compression compression;
	uint64_t blob_file_bytes;   /* blob file roll-over size; 0: BLOB_FILE_BYTES_DEFAULT */
	uint64_t block_cache_bytes; /* 0: BLOCK_CACHE_BYTES_DEFAULT */
	uint64_t write_stall_ms;    /* 0: LSM_WRITE_STALL_MS_DEFAULT */
	bool salvage;               /* skip corrupt WAL/manifest records on open */
	uint64_t seed;              /* salts and skip-list heights; 0: from the OS */
	uint64_t l1_bytes;          /* 0: LSM_L1_BYTES_DEFAULT; x10 per deeper level */
	uint64_t table_bytes;       /* compaction output tables; 0: LSM_TABLE_BYTES_DEFAULT */
	uint64_t compaction_bytes_per_sec; /* output write rate limit; 0: none */
	uint64_t sync_interval_ms;         /* everysec; 0: LSM_SYNC_INTERVAL_MS_DEFAULT */
	/* With sync everysec or none: a write leaves its WAL record in a
	 * user-space buffer (one write call for many writes) until
	 * lsm_wal_flush, the syncer, a rotation or close hands it over; a
	 * process crash may lose writes not yet handed over. The server calls
	 * lsm_wal_flush once per event-loop turn, before its replies go out. */
	bool wal_staged;
	/* Nice value (1..LSM_BACKGROUND_NICE_MAX) of the flush/compaction
	 * thread while it keeps up; at nice 0 while it falls behind
	 * (lsm_flush.c, above bg_priority_init). 0: always the opener's
	 * priority. */
	int background_nice;
};

/* One change of a batch. value_record is a value record (ikey.h,
 * vrec_encode) for PUT and empty for DELETE; both are borrowed. */
struct lsm_op {
	enum ikey_kind kind; /* IKEY_KIND_PUT or IKEY_KIND_DELETE */
	struct bytes key;
	struct bytes value_record;
};

struct lsm_batch {
	const struct lsm_op *ops;
	size_t count;
};

/* What lsm_open found, for logs and tests. */
struct lsm_open_stats {
	uint64_t logs_replayed, records_replayed, torn_bytes_dropped, skipped_bytes;
	/* WAL records not replayed because one of them (the first) pointed
	 * at blob bytes that never reached the disk (a power cut with sync
	 * everysec or none: they were past the last completed sync). */
	uint64_t unsynced_blob_records_dropped;
	uint64_t orphans_removed;
};

struct lsm; /* opaque */

/* Opens (creating if needed) the store in dir. stats may be NULL.
 * ERR_CORRUPT (damage without salvage), ERR_IO, ERR_NOSPACE, ERR_NOMEM,
 * ERR_LIMIT. On failure nothing is held. */
int lsm_open(const char *dir, struct env_fs *fs, const struct lsm_options *opt, struct lsm **out,
             struct lsm_open_stats *stats);

/* Stops the flush thread (a flush in progress completes) and frees
 * everything. Writes not yet flushed stay in the WAL for the next open. */
void lsm_close(struct lsm *db);

/* Applies the batch atomically and, with LSM_SYNC_ALWAYS, durably.
 * ERR_INVALID for a bad kind or record, ERR_LIMIT for a batch over the
 * limits (nothing written, the store usable), ERR_AGAIN if the flush of
 * the previous memtable stalled writes past write_stall_ms, ERR_NOSPACE
 * when the disk is full (nothing applied, nothing of it replayed after a
 * crash; the store usable: writes resume once space is freed), else the
 * error that failed the store. */
int lsm_write(struct lsm *db, const struct lsm_batch *batch);

/* lsm_write that also tells the sequences its batch got (0, 0 when it
 * failed or was empty), for lsm_wal_flush_range. */
int lsm_write_seq(struct lsm *db, const struct lsm_batch *batch, uint64_t *first_seq,
                  uint64_t *last_seq);

/* The newest value record of key into *value (replacing its contents; a
 * blob is read back and returned as an ordinary value record). 0, or
 * ERR_NOT_FOUND (never written or deleted), ERR_CORRUPT, ERR_IO,
 * ERR_NOMEM. */
int lsm_get(struct lsm *db, struct bytes key, struct buf *value);

/* lsm_get without reading a blob back: for a large value, *value gets
 * the BLOB-kind record (flags | [expire] | blob pointer) and *is_blob is
 * set, so metadata (existence, expiry) costs no blob read. */
int lsm_get_record(struct lsm *db, struct bytes key, struct buf *value, bool *is_blob);

/* Rotates the memtable (if it holds anything) and waits until every
 * immutable memtable is flushed. For tests and shutdown tooling. */
int lsm_flush(struct lsm *db);

/* What lsm_checkpoint made. */
struct lsm_checkpoint_info {
	uint64_t seq;        /* the last sequence it records; it holds every write up to it */
	uint64_t file_count; /* tables and blob files linked */
	uint64_t bytes;      /* their bytes, shared with the source on disk */
};

/* Makes dst_dir (which must not exist; its parent must, on the same file
 * system) a complete store that lsm_open accepts, holding a consistent
 * prefix of the writes: every write acknowledged before the call, perhaps
 * later ones, never part of a batch. Rotates the memtable and finishes the
 * blob file through the write queue (writers wait no longer than for a
 * rotation), waits for the flush, hard-links the live tables and every
 * finished blob file, then writes and syncs a manifest, CURRENT and the
 * directory; no WAL is needed (docs/storage.md, "Checkpoints"). info may
 * be NULL. ERR_EXISTS (dst_dir exists; untouched), ERR_NOT_FOUND (no
 * parent), ERR_IO (also across file systems), ERR_NOSPACE, ERR_NOMEM,
 * ERR_LIMIT, ERR_AGAIN (the flush stalled), or the error that failed the
 * store. On failure dst_dir is removed (best effort) and the store works
 * on; a failed sync of the retired WAL while rotating (sync=none,
 * everysec) is the one error that also fails the store. */
int lsm_checkpoint(struct lsm *db, const char *dst_dir, struct lsm_checkpoint_info *info);

/* Hands the WAL records staged by wal_staged writes to the OS (no fsync):
 * a no-op when none are. 0, or the error, which fails the store, except
 * ERR_NOSPACE: records were staged and their hand-over ran out of space,
 * by this call or by another hand-over (a group's full staging buffer,
 * the syncer, a rotation); every call says so until the memtable holding
 * them reaches a table, so that each event loop whose records may be
 * among them hears it. Those records
 * stay applied and are flushed to a table before any later write is
 * accepted, but a crash before that keeps only the part of them that
 * reached the retired WAL: their outcome is unknown (docs/storage.md). */
int lsm_wal_flush(struct lsm *db);

/* lsm_wal_flush for the caller's own records [first_seq, last_seq] (from
 * lsm_write_seq; 0, 0: none): ERR_NOSPACE only when some of them are
 * among the records a failed hand-over lost, whoever made it. The server
 * calls it per event loop with the sequences of that loop's turn. */
int lsm_wal_flush_range(struct lsm *db, uint64_t first_seq, uint64_t last_seq);

/* 0 unless the store failed (writes refused until it is reopened), else
 * the error that failed it. A full disk does not fail it: see
 * lsm_nospace. */
int lsm_failed(struct lsm *db);

/* True while the store is in the no-space state: an append to the WAL or
 * a blob file ran out of space and no new WAL could be started since (or
 * records staged then are not yet flushed to a table), or the last flush
 * or compaction ran out of space. Writes may then fail with ERR_NOSPACE;
 * reads go on; writes resume by themselves once space is freed
 * (docs/storage.md, "Durability contract"). */
bool lsm_nospace(struct lsm *db);

/* The newest sequence known to be durable in the WAL: every write
 * acknowledged with a sequence at or below it survives a power cut (with
 * sync=everysec, as of the last completed background sync). Tests, INFO. */
uint64_t lsm_synced_seq(struct lsm *db);

/* An iterator over the newest visible version of each user key, in
 * bytewise key order, tombstones skipped, as of its creation (lsm.h top).
 * It opens its own reader per table (an sst_reader has one owner; the
 * block cache is shared), so it never holds a lock that lsm_get or the
 * flush thread needs. One owner thread; destroy it before lsm_close. */
struct lsm_iter; /* opaque */

/* ERR_NOMEM, ERR_IO, ERR_CORRUPT (opening a table). Not positioned. */
int lsm_iter_create(struct lsm *db, struct lsm_iter **out);
void lsm_iter_destroy(struct lsm_iter *it);
void lsm_iter_seek_to_first(struct lsm_iter *it);
/* First user key >= key. */
void lsm_iter_seek(struct lsm_iter *it, struct bytes key);
/* Requires valid. */
void lsm_iter_next(struct lsm_iter *it);
/* False at the end and after an error (see lsm_iter_status). */
bool lsm_iter_valid(const struct lsm_iter *it);
/* The user key; requires valid; a view valid until the next move. */
struct bytes lsm_iter_key(const struct lsm_iter *it);
/* The value record of the current key into *value, as lsm_get returns it:
 * a blob is read only now, on demand, so a scan of keys reads no blob
 * file. Requires valid. ERR_CORRUPT, ERR_IO, ERR_NOMEM. */
int lsm_iter_value(struct lsm_iter *it, struct buf *value);
/* The current value record as stored, without reading a blob: a view
 * valid until the next move; *is_blob tells a BLOB-kind record (flags |
 * [expire] | blob pointer) from an inline one. Requires valid. */
struct bytes lsm_iter_record(const struct lsm_iter *it, bool *is_blob);
/* 0, or the error that stopped the iteration (ERR_CORRUPT, ERR_IO,
 * ERR_NOMEM); a seek starts over. */
int lsm_iter_status(const struct lsm_iter *it);

/* Tables per level in the current version (tests, INFO). */
size_t lsm_level_file_count(struct lsm *db, uint32_t level);

/* Bytes of the tables of a level in the current version (tests, INFO). */
uint64_t lsm_level_bytes(struct lsm *db, uint32_t level);

/* Waits until no compaction is due (or the store failed) and no table
 * awaits removal while no reader runs. For tests. 0 or the failure. */
int lsm_compact_wait(struct lsm *db);

/* ---- Statistics (lsm_stats.c) ------------------------------------------ */

/* What the store did since it was opened (counters start at 0 on every
 * open) and what it holds now. Bytes "written" are bytes handed to the
 * file system. user_bytes counts what lsm_write was given (key + value
 * record of every op of every batch that succeeded), so a value stored in
 * a blob file counts there and in blob_bytes, not in wal_bytes (the WAL
 * holds its pointer). The table written at open from replayed WALs is
 * not a flush. */
struct lsm_stats {
	uint64_t mem_bytes, imm_bytes; /* memtable arenas: mutable, immutable (0: none) */
	uint64_t level_file_count[LSM_LEVELS], level_bytes[LSM_LEVELS];
	uint64_t flush_count, flush_bytes; /* L0 tables written by the flush thread */
	uint64_t compaction_count, compaction_read_bytes, compaction_write_bytes; /* installed */
	uint64_t user_bytes, wal_bytes, blob_bytes; /* wal: records with their framing */
	/* Blob files of the current version, and the record bytes in them that
	 * tables point at (live) and no longer do (garbage); record bytes of
	 * blob files deleted since open (reclaimed) and of values relocated by
	 * compaction (gc_write, counted in write_amp). */
	uint64_t blob_file_count, blob_live_bytes, blob_garbage_bytes;
	uint64_t blob_reclaimed_bytes, blob_gc_write_bytes;
	/* (wal + flush + compaction writes + blob + blob gc) / user; 0 before any write. */
	double write_amp;
	uint64_t cache_capacity_bytes, cache_usage_bytes, cache_hits, cache_misses;
	uint64_t wal_sync_count; /* fdatasyncs of the WAL (not of tables, blobs, manifest) */
	/* Latency of those syncs (base/histogram.h precision; 0 when none);
	 * lsm_stats_wal_sync_hist gives the whole histogram. */
	uint64_t wal_sync_p50_ns, wal_sync_p99_ns, wal_sync_max_ns;
	uint64_t stall_count, stall_ms; /* writes that waited for a flush to make room */
	/* The flush thread's priority changes (lsm_options.background_nice):
	 * to nice 0 when it falls behind and back. */
	uint64_t bg_priority_changes;
	int failed;                     /* lsm_failed */
	bool nospace;                   /* lsm_nospace */
	uint64_t last_seq;              /* newest sequence visible to readers */
	uint64_t synced_seq;            /* lsm_synced_seq */
};

/* Fills *out. Takes db's mutex and the block cache's shard mutexes
 * briefly; the counters themselves are relaxed atomics bumped where the
 * work happens, so neither reads nor writes pay for them with a lock. */
void lsm_stats(struct lsm *db, struct lsm_stats *out);

/* The WAL sync latency histogram (ns) into *out (cleared first), for
 * percentiles and Prometheus buckets (base/histogram.h). */
struct hist_snapshot;
void lsm_stats_wal_sync_hist(struct lsm *db, struct hist_snapshot *out);

/* ---- Offline check (lsm_check.c) --------------------------------------- */

/* One finding of lsm_check_dir. A problem is damage; a note is what a
 * crash leaves (a torn WAL, manifest or unfinished blob tail) and is not. */
struct lsm_check_report {
	bool problem;       /* false: a note */
	const char *file;   /* name within the directory */
	bool has_offset;    /* offset is known */
	uint64_t offset;    /* file offset of the damage */
	const char *reason; /* valid during the callback */
};

typedef void lsm_check_report_fn(void *ctx, const struct lsm_check_report *r);

struct lsm_check_summary {
	uint64_t files, bytes, problems, notes;
};

/* Verifies every checksum of the store in dir without opening anything
 * for writing: CURRENT and the live manifest (full replay, referenced
 * tables present), every live table (every block), every WAL at or above
 * the log number and every blob file (every record). Each finding goes to
 * cb (may be NULL). Memory is bounded by the largest record, not the
 * files. 0 when no problem was found, ERR_CORRUPT when one was, or the
 * error that kept the directory from being read (ERR_NOT_FOUND, ERR_IO,
 * ERR_NOMEM, ERR_LIMIT); *out is written in every case. */
int lsm_check_dir(struct env_fs *fs, const char *dir, lsm_check_report_fn *cb, void *ctx,
                  struct lsm_check_summary *out);

#endif
