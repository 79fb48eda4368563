/*
 * blob.h - blob files: large values stored outside the LSM tree.
 *
 * Key-value separation (WiscKey; RocksDB BlobDB and Titan do the same): a
 * value of BLOB_VALUE_BYTES_MIN_DEFAULT or more is appended once to a blob
 * file and the tree stores a small blob pointer (file number, record
 * offset, value length) as the value record of an IKEY_KIND_BLOB entry, so
 * compaction rewrites pointers, not megabytes. Byte layout:
 * docs/formats/blob.md. A file is a 40-byte header (magic, version, file
 * number, salt), records [u64 checksum][u32 key_len][u64 value_len][key]
 * [value], and on finish a 32-byte footer (record count, record bytes,
 * checksum, magic). Every record's checksum is XXH3 seeded from the file's
 * salt and the record's offset, over lengths, key and value.
 *
 * Writer: one owner. blob_writer_open creates the file and makes its header
 * and name durable; blob_writer_add appends one record and returns its
 * pointer; nothing is durable until blob_writer_sync (fdatasync). Any failed
 * env call marks the writer failed and it refuses everything after, with
 * that error: a failed fsync is never retried (STYLE.md section 4), and is
 * reported as ERR_IO even when the OS said ENOSPC, so that ERR_NOSPACE
 * always means an append or create ran out of room: the engine then
 * closes the file (its synced records stay readable; a partial last record
 * is a torn tail nobody points to) and opens a new one for the next value. The
 * engine must sync a blob record before the WAL record that points to it.
 * The caller rolls over to a new file when blob_writer_bytes() passes its
 * limit (BLOB_FILE_BYTES_DEFAULT).
 *
 * Reader: one owner per struct blob_reader (env handles are single-owner).
 * A read verifies the record's checksum over the whole record and that the
 * record holds the expected key; damage is ERR_CORRUPT for that read, never
 * data. A pointer whose record would run past the end of the file (a torn
 * last record after a crash, a bad pointer) is ERR_CORRUPT too: the engine
 * only publishes pointers to synced records, so such a pointer is damage.
 *
 * Garbage accounting and GC below are pure whole-file helpers; the engine
 * collects per entry inside compaction instead (lsm_blob.c, lsm_compact.c).
 */
#ifndef RINGKV_ENGINE_BLOB_H
#define RINGKV_ENGINE_BLOB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/bytes.h"
#include "env/fs.h"

#define BLOB_MAGIC               "ringkvBL"
#define BLOB_FOOTER_MAGIC        "ringkvBE"
#define BLOB_VERSION             1
#define BLOB_HEADER_BYTES        40
#define BLOB_RECORD_HEADER_BYTES 20
#define BLOB_FOOTER_BYTES        32
#define BLOB_POINTER_BYTES_MAX   30 /* three varints of at most 10 bytes */
#define BLOB_GC_RATIO_DEFAULT    0.5

/* Where a value lives. offset is the file offset of the record's first
 * byte (its checksum). */
struct blob_pointer {
	uint64_t file_number;
	uint64_t offset;
	uint64_t value_len;
};

/* Encodes p as three varints into dst (BLOB_POINTER_BYTES_MAX bytes of
 * room); returns the length. */
size_t blob_pointer_encode(uint8_t *dst, const struct blob_pointer *p);

/* Decodes a pointer that must fill src exactly. ERR_CORRUPT for a bad
 * varint, trailing bytes, an offset inside the header or a value length
 * over VALUE_BYTES_MAX. *p is written only on success. */
int blob_pointer_decode(struct bytes src, struct blob_pointer *p);

/* File bytes of a record: what an overwritten value frees in its file. */
static inline uint64_t blob_record_bytes(uint64_t key_len, uint64_t value_len)
{
	return BLOB_RECORD_HEADER_BYTES + key_len + value_len;
}

/* ---- Writer ----------------------------------------------------------- */

/* Caller-allocated; fields are private to blob.c. */
struct blob_writer {
	struct env_fs *fs;
	struct env_file *file;
	uint8_t *buf; /* staging for record headers, keys and small values */
	uint64_t file_number, salt;
	uint64_t size;   /* file bytes handed to the env successfully */
	uint64_t synced; /* file bytes made durable */
	uint64_t record_count;
	int failed; /* 0, or the error that stopped the writer */
};

/* Creates (or truncates) path, writes and syncs the header and syncs the
 * directory. On failure the file is removed (best effort) and w holds
 * nothing. salt must be random per file. */
int blob_writer_open(struct blob_writer *w, struct env_fs *fs, const char *path,
                     uint64_t file_number, uint64_t salt);

/* Appends one record and writes its pointer to *out. The value is hashed,
 * then handed to the env in BLOB_IO_CHUNK_BYTES pieces straight from the
 * caller's memory: it is never copied whole. ERR_LIMIT (nothing written,
 * writer usable) for a key over KEY_BYTES_MAX or a value over
 * VALUE_BYTES_MAX; any env error marks the writer failed. */
int blob_writer_add(struct blob_writer *w, struct bytes key, struct bytes value,
                    struct blob_pointer *out);

/* Makes every record added so far durable. An error marks the writer
 * failed; it is never retried. */
int blob_writer_sync(struct blob_writer *w);

/* Appends the footer, syncs and closes. w is released either way. */
int blob_writer_finish(struct blob_writer *w);

/* Closes without a footer (abandon, or after a failure); the file stays. */
int blob_writer_close(struct blob_writer *w);

static inline uint64_t blob_writer_bytes(const struct blob_writer *w)
{
	return w->size;
}

static inline int blob_writer_failed(const struct blob_writer *w)
{
	return w->failed;
}

/* The file, for a sync from another thread while the owner goes on adding
 * records (the engine's everysec syncer; wal_file says the same): every
 * record added before the env_fs_sync call is durable after it. The owner
 * keeps the file open until that sync returns. */
static inline struct env_file *blob_writer_file(const struct blob_writer *w)
{
	return w->file;
}

/* ---- Reader ----------------------------------------------------------- */

/* Caller-allocated; fields are private to blob.c. */
struct blob_reader {
	struct env_fs *fs;
	struct env_file *file;
	uint64_t file_number, salt;
	uint64_t size;         /* file size when last looked at */
	uint64_t records_end;  /* end of records: footer offset, or size */
	uint64_t record_count; /* from the footer; 0 when not finished */
	bool finished;         /* a valid footer closes the file */
};

/* Opens path and validates its header (ERR_CORRUPT if damaged or short, or
 * if it names another file number than file_number). A file without a
 * valid footer (still being written, or torn) opens too; its records are
 * readable up to the end of the file. r holds nothing on failure. */
int blob_reader_open(struct blob_reader *r, struct env_fs *fs, const char *path,
                     uint64_t file_number);

int blob_reader_close(struct blob_reader *r);

/* Reads the value at p into buf (cap bytes, at least p->value_len),
 * verifying the checksum and that the record's key is key. ERR_CORRUPT for
 * any mismatch or a record past the end of the file, ERR_INVALID for a
 * pointer of another file or a small buffer. buf's contents are undefined
 * after a failure. No allocation. */
int blob_read(struct blob_reader *r, const struct blob_pointer *p, struct bytes key, void *buf,
              size_t cap);

/* Called once per chunk of the value, in order. A nonzero return stops the
 * read and is returned by blob_read_into. */
typedef int blob_chunk_fn(void *ctx, struct bytes chunk);

/* Streams the value at p in chunks of at most BLOB_IO_CHUNK_BYTES, holding
 * one chunk in memory. The record checksum covers the whole record, so the
 * chunks are provisional: they are verified only when blob_read_into
 * returns 0. On ERR_CORRUPT the consumer must discard what it got (a server
 * streaming a reply closes the connection, so a client never sees a whole
 * reply of wrong data). */
int blob_read_into(struct blob_reader *r, const struct blob_pointer *p, struct bytes key,
                   blob_chunk_fn *fn, void *ctx);

/* What blob_check_file found. */
struct blob_check_result {
	uint64_t record_count; /* records verified */
	uint64_t record_bytes; /* their bytes (blob_record_bytes each) */
	uint64_t torn_bytes;   /* unfinished file: a partial last record (a crash leaves one) */
	uint64_t bad_offset;   /* ERR_CORRUPT: the offset of the damaged record or footer */
	const char *reason;    /* ERR_CORRUPT: a constant string */
};

/* Opens the file at path (its header must name file_number) and verifies
 * every record, header and key read directly and the checksum through
 * blob_read_into, holding one chunk and one key in memory. 0 when every
 * record verified (res->torn_bytes may be nonzero), ERR_CORRUPT (res says
 * where), ERR_NOT_FOUND, ERR_IO, ERR_NOMEM. *res is written in every case. */
int blob_check_file(struct env_fs *fs, const char *path, uint64_t file_number,
                    struct blob_check_result *res);

/* Walks the record headers of the file at path (its header must name
 * file_number) without reading keys or values: the bytes and count of its
 * whole records, a torn tail left out. For adopting the blob files of a
 * store older than blob tracking (lsm.c). ERR_CORRUPT for a bad header or
 * bad record lengths, ERR_NOT_FOUND, ERR_IO. */
int blob_file_records(struct env_fs *fs, const char *path, uint64_t file_number,
                      uint64_t *record_bytes, uint64_t *record_count);

/* ---- Garbage accounting and collection --------------------------------- */

/* Per blob file, kept by the engine (and in the manifest later). */
struct blob_file_stats {
	uint64_t file_number;
	uint64_t total_bytes;   /* record bytes written to the file */
	uint64_t garbage_bytes; /* record bytes no longer referenced */
};

void blob_stats_init(struct blob_file_stats *s, uint64_t file_number, uint64_t total_bytes);

/* Counts a dead record (overwritten, deleted, or dropped by compaction) of
 * blob_record_bytes(key_len, value_len) bytes. ERR_RANGE (nothing changed)
 * if that would exceed the file's total: a double count. */
int blob_stats_add_garbage(struct blob_file_stats *s, uint64_t record_bytes);

static inline uint64_t blob_stats_live_bytes(const struct blob_file_stats *s)
{
	return s->total_bytes - s->garbage_bytes;
}

/* garbage / total; 0 for an empty file. */
double blob_stats_garbage_ratio(const struct blob_file_stats *s);

/* Writes into out (cap entries) the indexes of files whose garbage ratio
 * is at least ratio (> 0), highest ratio first; returns how many. */
size_t blob_gc_candidates(const struct blob_file_stats *files, size_t count, double ratio,
                          size_t *out, size_t cap);

/* Returns 1 when the record of key at p is still referenced, 0 when not,
 * or a negative error to stop the rewrite. */
typedef int blob_is_live_fn(void *ctx, struct bytes key, const struct blob_pointer *p);

struct blob_relocation {
	struct blob_pointer from, to;
	size_t key_offset, key_len; /* into blob_relocations.keys */
};

/* Caller-allocated; blob_relocations_deinit frees. */
struct blob_relocations {
	struct blob_relocation *items;
	size_t count, cap;
	uint8_t *keys;
	size_t keys_len, keys_cap;
};

void blob_relocations_init(struct blob_relocations *rl);
void blob_relocations_deinit(struct blob_relocations *rl);

static inline struct bytes blob_relocation_key(const struct blob_relocations *rl, size_t i)
{
	return bytes_make(rl->keys + rl->items[i].key_offset, rl->items[i].key_len);
}

/* Copies every record of the finished file behind r for which is_live says
 * 1 into w, verifying each record it reads, and appends (old, new) to rl.
 * The caller syncs or finishes w before writing the new pointers back to
 * the tree. ERR_INVALID for an unfinished file; ERR_CORRUPT stops at the
 * first damaged record. Holds one value in memory at a time. */
int blob_gc_rewrite(struct blob_reader *r, blob_is_live_fn *is_live, void *ctx,
                    struct blob_writer *w, struct blob_relocations *rl);

#endif
