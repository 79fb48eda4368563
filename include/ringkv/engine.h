/*
 * ringkv/engine.h - ringkv's storage engine as a library: one directory,
 * one ordered key-value store (an LSM tree with a write-ahead log, block
 * cache, blob files for large values and background compaction).
 *
 * Keys and values are binary-safe byte strings with explicit lengths.
 * A write (rkv_put, rkv_delete, rkv_write of a batch) is atomic and, with
 * RKV_SYNC_ALWAYS, durable when it returns. A read sees every write that
 * returned before it started. An iterator sees the store as it was when
 * the iterator was created.
 *
 * Threads: an rkv_db may be used from any number of threads at once
 * (concurrent writers share WAL syncs), except that rkv_close must not
 * race with any other call on it. An rkv_iter and an rkv_batch have one
 * owner thread at a time; destroy every iterator before rkv_close.
 *
 * Errors: every function that can fail returns 0 or one of the negative
 * RKV_ERR_* codes below (rkv_strerror names them). Out-parameters are
 * written only on success. A failed fsync or disk write puts the store in
 * a failed state: every later write returns that error, reads go on, and
 * closing and reopening the store recovers it.
 *
 * Memory: pointer arguments are borrowed for the duration of the call.
 * rkv_get's value is the caller's, freed with rkv_free. Views returned by
 * an iterator stay valid until its next move or its destruction.
 *
 * Linking: -lringkv_core -llz4 -lzstd -lpthread -lm (docs/embedding.md).
 */
#ifndef RINGKV_ENGINE_PUBLIC_H
#define RINGKV_ENGINE_PUBLIC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Return codes. The values are those of ringkv's internal error codes. */
#define RKV_OK            0
#define RKV_ERR_NOMEM     (-1)  /* an allocation failed */
#define RKV_ERR_IO        (-2)  /* the OS reported an I/O failure */
#define RKV_ERR_CORRUPT   (-3)  /* stored bytes failed a checksum or a format check */
#define RKV_ERR_LIMIT     (-4)  /* a key, value or batch over its limit; nothing written */
#define RKV_ERR_NOT_FOUND (-6)  /* no such key (rkv_get) */
#define RKV_ERR_EXISTS    (-7)  /* the target exists (rkv_checkpoint) */
#define RKV_ERR_INVALID   (-8)  /* a bad argument (NULL where data is needed, bad option) */
#define RKV_ERR_AGAIN     (-9)  /* writes stalled behind a flush; retry later */
#define RKV_ERR_NOSPACE   (-10) /* the disk is full */

/* Largest key and value accepted (bytes). */
#define RKV_KEY_BYTES_MAX   (16u * 1024 * 1024)
#define RKV_VALUE_BYTES_MAX (512u * 1024 * 1024)
/* Most operations in one batch. */
#define RKV_BATCH_OPS_MAX (1024u * 1024)
/* Levels of the LSM tree, as reported by rkv_stats. */
#define RKV_LEVELS 7

enum rkv_sync {
	RKV_SYNC_ALWAYS = 0,   /* fdatasync the WAL before a write returns */
	RKV_SYNC_NONE = 1,     /* leave write-back to the OS; a crash keeps a prefix */
	RKV_SYNC_EVERYSEC = 2, /* a background thread syncs about every second */
};

/* How table data blocks are compressed. A block that compression shrinks
 * by less than an eighth is stored as it is; blob files (large values)
 * are not compressed. Tables written under one setting read under any. */
enum rkv_compression {
	RKV_COMPRESSION_DEFAULT = 0, /* lz4 */
	RKV_COMPRESSION_NONE = 1,
	RKV_COMPRESSION_LZ4 = 2,
	RKV_COMPRESSION_ZSTD = 3,
};

/* Zero-initialise, then set what you need: 0 means the default. */
struct rkv_options {
	enum rkv_sync sync;
	uint64_t memtable_bytes;    /* default 64 MiB; flushed to disk past this */
	uint64_t block_cache_bytes; /* default 64 MiB */
	uint64_t blob_threshold;    /* values this large or larger go to blob files;
	                               default 4 KiB, UINT64_MAX for never */
	enum rkv_compression compression; /* default lz4 */
};

typedef struct rkv_db rkv_db;
typedef struct rkv_batch rkv_batch;
typedef struct rkv_iter rkv_iter;

/* Opens the store in dir, creating the directory (not its parents) and
 * the store if needed, and recovers whatever a crash left. opts may be
 * NULL (defaults). On failure *out is untouched and, if errbuf is not
 * NULL, a NUL-terminated reason of at most errbuf_bytes is written there.
 * RKV_ERR_INVALID (bad options), RKV_ERR_CORRUPT, RKV_ERR_IO,
 * RKV_ERR_NOSPACE, RKV_ERR_NOMEM, RKV_ERR_LIMIT. */
int rkv_open(const char *dir, const struct rkv_options *opts, rkv_db **out, char *errbuf,
             size_t errbuf_bytes);

/* Stops the background threads and frees everything (NULL: no-op). Writes
 * not yet flushed stay in the WAL and are replayed by the next open. */
void rkv_close(rkv_db *db);

/* The value of key into *val (malloc'd, free with rkv_free; never NULL on
 * success, even for an empty value) and *vlen. RKV_ERR_NOT_FOUND,
 * RKV_ERR_INVALID, RKV_ERR_LIMIT, RKV_ERR_CORRUPT, RKV_ERR_IO,
 * RKV_ERR_NOMEM. */
int rkv_get(rkv_db *db, const void *key, size_t klen, void **val, size_t *vlen);

void rkv_free(void *p);

/* Sets key to the value (replacing any). key and val may be NULL only
 * when their length is 0. Lengths are checked before any byte is read:
 * RKV_ERR_LIMIT over RKV_KEY_BYTES_MAX or RKV_VALUE_BYTES_MAX,
 * RKV_ERR_INVALID for NULL data; else the store's failure, RKV_ERR_AGAIN,
 * RKV_ERR_NOMEM. */
int rkv_put(rkv_db *db, const void *key, size_t klen, const void *val, size_t vlen);

/* Removes key (absent is not an error). Errors as rkv_put. */
int rkv_delete(rkv_db *db, const void *key, size_t klen);

/* A batch of puts and deletes applied by rkv_write atomically: a reader
 * or an iterator sees all of them or none, and so does recovery. The
 * batch copies keys and values, so the caller's buffers may be reused
 * at once; later operations on one key win. */
int rkv_batch_create(rkv_batch **out);
void rkv_batch_destroy(rkv_batch *b);
/* Errors as rkv_put, plus RKV_ERR_LIMIT past RKV_BATCH_OPS_MAX
 * operations; a failed call leaves the batch as it was. */
int rkv_batch_put(rkv_batch *b, const void *key, size_t klen, const void *val, size_t vlen);
int rkv_batch_delete(rkv_batch *b, const void *key, size_t klen);
size_t rkv_batch_count(const rkv_batch *b);
void rkv_batch_clear(rkv_batch *b);

/* Applies b (an empty batch is a no-op); b is unchanged and reusable.
 * RKV_ERR_LIMIT when its encoded size is over the WAL record limit (about
 * 512 MiB; nothing written, the store usable), else as rkv_put. */
int rkv_write(rkv_db *db, rkv_batch *b);

/* An iterator over the keys in bytewise order (memcmp, shorter first on a
 * common prefix), as of its creation. Not positioned until a seek.
 * RKV_ERR_NOMEM, RKV_ERR_IO, RKV_ERR_CORRUPT. */
int rkv_iter_create(rkv_db *db, rkv_iter **out);
void rkv_iter_destroy(rkv_iter *it);
void rkv_iter_seek_to_first(rkv_iter *it);
/* The first key >= key. */
void rkv_iter_seek(rkv_iter *it, const void *key, size_t klen);
/* Requires valid. */
void rkv_iter_next(rkv_iter *it);
/* False at the end and after an error (rkv_iter_status). */
bool rkv_iter_valid(const rkv_iter *it);
/* The current key; requires valid. */
const void *rkv_iter_key(const rkv_iter *it, size_t *klen);
/* The current value (a large value is read only now); requires valid.
 * NULL on a read error, which rkv_iter_status then reports and which
 * ends the iteration. */
const void *rkv_iter_value(rkv_iter *it, size_t *vlen);
/* 0, or the error that stopped the iteration; a seek starts over. */
int rkv_iter_status(const rkv_iter *it);

/* Makes dst_dir (must not exist; same file system as the store) a
 * consistent copy of the store that rkv_open accepts, sharing unchanged
 * files by hard links. RKV_ERR_EXISTS, RKV_ERR_IO, RKV_ERR_NOSPACE,
 * RKV_ERR_NOMEM, RKV_ERR_AGAIN, or the store's failure. On failure
 * dst_dir is removed (best effort) and the store works on. */
int rkv_checkpoint(rkv_db *db, const char *dst_dir);

/* Counters since rkv_open and the store's state now. */
struct rkv_stats {
	uint64_t memtable_bytes, immutable_memtable_bytes;
	uint64_t level_files[RKV_LEVELS], level_bytes[RKV_LEVELS];
	uint64_t flushes, compactions;
	uint64_t compaction_read_bytes, compaction_write_bytes;
	uint64_t user_bytes;  /* keys + values written (plus one byte per value) */
	uint64_t wal_bytes;   /* written to the WAL, framing included */
	uint64_t flush_bytes; /* tables written by flushes */
	uint64_t blob_bytes;  /* written to blob files */
	double write_amp;     /* (wal + flush + compaction + blob) / user bytes */
	uint64_t cache_capacity_bytes, cache_used_bytes, cache_hits, cache_misses;
	uint64_t wal_syncs;
	uint64_t wal_sync_p50_ns, wal_sync_p99_ns, wal_sync_max_ns;
	uint64_t write_stalls, write_stall_ms;
	int failed; /* 0, or the error that stopped writes */
};

/* Fills *out; cheap enough to call every second. */
void rkv_stats(rkv_db *db, struct rkv_stats *out);

/* A constant description of a return code ("unknown error" for others). */
const char *rkv_strerror(int code);

#ifdef __cplusplus
}
#endif

#endif
