/*
 * sst.h - SSTables: immutable sorted tables of internal keys.
 *
 * A table maps internal keys (ikey.h: user key, seq, kind) to value records
 * and is written once, in ikey_cmp order, by a flush or a compaction, then
 * only read. Byte layout: docs/formats/sst.md. In short: data blocks of
 * about SST_BLOCK_BYTES_DEFAULT with prefix-compressed keys and restart
 * points (block.h), each optionally lz4/zstd compressed and followed by a
 * 9-byte trailer (compression type, XXH3 checksum seeded per file and per
 * offset); then a filter block (bloom.h, over user keys), a properties
 * block, an index block (last key of each data block -> handle) and an
 * 80-byte footer (handles, seed, version, checksum, magic).
 *
 * Builder: init creates the file, add appends entries in strictly
 * increasing ikey_cmp order (a caller bug otherwise: ASSERT), finish writes
 * the rest, fdatasyncs and closes. The caller then renames it into place
 * and syncs the directory as the manifest requires. Any env failure makes
 * the builder failed: later adds return that error and finish releases
 * everything and removes the file. abandon releases and removes without
 * writing more.
 *
 * Reader: open reads and verifies the footer, properties, filter and index
 * (ERR_CORRUPT with a constant reason string). Data blocks are read on
 * demand, their checksums verified on every read from disk; a mismatch is
 * ERR_CORRUPT for that read and is never returned as data. With a cache
 * (cache.h) decoded data and index blocks are shared through it under
 * (file_number, offset), verified once on their way in. Where the env can
 * map the file (env_fs_map) the reader reads through the mapping, and a
 * cached uncompressed data block is a view into it: the mapping then lives
 * until the reader is closed and no cached or pinned block points into it
 * (close erases its own blocks from the cache). sst_get may run on one reader from several
 * threads at once: it reads only what open loaded (filter, index), the
 * cache and the file (the env_fs must allow concurrent reads, as
 * env_fs_posix does). An iterator has one owner thread; the cache may be
 * shared by every reader on every thread. Values returned by an iterator
 * are views valid until its next move.
 */
#ifndef RINGKV_ENGINE_SST_H
#define RINGKV_ENGINE_SST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/buf.h"
#include "base/bytes.h"
#include "engine/cache.h"
#include "engine/ikey.h"
#include "env/fs.h"

#define SST_MAGIC          "ringkvST"
#define SST_FORMAT_VERSION 1
#define SST_FOOTER_BYTES   80
#define SST_TRAILER_BYTES  9

enum sst_compression {
	SST_COMPRESSION_NONE = 0,
	SST_COMPRESSION_LZ4 = 1,
	SST_COMPRESSION_ZSTD = 2,
};

struct sst_options {
	uint64_t seed;                    /* checksum seed; per file (e.g. from its number) */
	uint32_t block_bytes;             /* 0: SST_BLOCK_BYTES_DEFAULT */
	uint32_t bloom_bits_per_key;      /* 0: BLOOM_BITS_PER_KEY_DEFAULT */
	enum sst_compression compression; /* of data blocks */
};

/* What the properties block records. Keys are internal keys; they are
 * empty when entry_count is 0. */
struct sst_props {
	uint32_t format_version;
	uint32_t compression;
	uint64_t entry_count, tombstone_count, data_block_count;
	uint64_t data_bytes; /* stored data blocks and their trailers */
	uint64_t min_seq, max_seq;
	struct bytes smallest, largest;
};

struct sst_builder; /* opaque */

/* Creates (truncates) the file at path. ERR_INVALID for bad options. On
 * failure nothing is held. */
int sst_builder_init(struct sst_builder **out, struct env_fs *fs, const char *path,
                     const struct sst_options *opt);

/* Appends one entry. ikey must follow the previous one in ikey_cmp order.
 * ERR_LIMIT for a key or value over its limit (the builder stays usable);
 * an env error makes the builder failed. */
int sst_builder_add(struct sst_builder *b, struct bytes ikey, struct bytes value);

/* Writes the filter, properties, index and footer, syncs and closes. The
 * builder is released whatever the result; on failure the file is removed
 * (best effort). *file_bytes (may be NULL) is the table's size. */
int sst_builder_finish(struct sst_builder *b, uint64_t *file_bytes);

/* Releases the builder and removes its file. */
void sst_builder_abandon(struct sst_builder *b);

struct sst_reader; /* opaque */

struct sst_read_options {
	struct cache *cache;  /* NULL: no caching */
	uint64_t file_number; /* cache key; unique per table for the store's life */
};

/* Opens and verifies a table. On ERR_CORRUPT or ERR_LIMIT *reason (may be
 * NULL) names the check that failed. ERR_NOT_FOUND, ERR_IO, ERR_NOMEM. */
int sst_open(struct sst_reader **out, struct env_fs *fs, const char *path,
             const struct sst_read_options *opt, const char **reason);
void sst_close(struct sst_reader *r);

const struct sst_props *sst_props(const struct sst_reader *r);

enum sst_get_status {
	SST_GET_NOT_FOUND = 0, /* no version of the key at or below seq */
	SST_GET_VALUE,         /* kind PUT or BLOB: value copied out */
	SST_GET_DELETED,       /* newest visible version is a tombstone */
};

struct sst_get_result {
	enum sst_get_status status;
	enum ikey_kind kind;
	uint64_t seq;
};

/* The newest version of user_key with seq <= seq_as_of. For a value the
 * value record is copied into *value (replacing its contents). Uses the
 * filter, then the index, then one data block. ERR_CORRUPT, ERR_IO,
 * ERR_NOMEM; res and value are written only on success. */
int sst_get(struct sst_reader *r, struct bytes user_key, uint64_t seq_as_of,
            struct sst_get_result *res, struct buf *value);

struct sst_iter; /* opaque */

int sst_iter_create(struct sst_reader *r, struct sst_iter **out);
void sst_iter_destroy(struct sst_iter *it);
void sst_iter_seek_to_first(struct sst_iter *it);
/* Positions at the first entry whose internal key is >= target. */
void sst_iter_seek(struct sst_iter *it, struct bytes target);
void sst_iter_next(struct sst_iter *it);
bool sst_iter_valid(const struct sst_iter *it);
struct bytes sst_iter_key(const struct sst_iter *it);
struct bytes sst_iter_value(const struct sst_iter *it);
/* 0, or the error that made the iterator invalid (ERR_CORRUPT...). */
int sst_iter_status(const struct sst_iter *it);

struct sst_check_result {
	uint64_t blocks_checked;
	uint64_t bad_offset; /* ERR_CORRUPT: the offset of the first bad block */
	const char *reason;  /* ERR_CORRUPT: why */
};

/* Reads every data block from disk (bypassing the cache), verifying its
 * checksum and decoding it. 0 or ERR_CORRUPT (res says where), ERR_IO. */
int sst_check(struct sst_reader *r, struct sst_check_result *res);

#endif
