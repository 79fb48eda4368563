/*
 * engine_lsm.h - the durable engine: the engine interface (engine.h) over
 * one LSM store (lsm.h).
 *
 * Storage key. Each key is stored as its 64-bit hash (base/hash.h, big
 * endian) followed by the key bytes, so the store is sorted by hash: a lock
 * stripe (the top 8 bits) and a cluster partition (a hash range) are each
 * one contiguous key range, which the engine can iterate, count or drop
 * without looking at the rest. The format page is docs/storage.md, "The
 * server's keys".
 *
 * What is kept in memory: per stripe, the number of keys, and an index of
 * the keys that have an expiry time (key -> expire_ms, an in-memory engine
 * used as a map), so DBSIZE, INFO keyspace and active expiry stay exact
 * and cheap. Both are rebuilt by one scan of the store at open, which costs
 * about a second per few million keys (logged). Each write first checks
 * whether the key exists (the count needs it), which costs a read that
 * bloom filters make cheap for new keys.
 *
 * Commands. Changes wait in a per-stripe pending list until the keyspace
 * ends the command (engine.h, end): then every pending change of the
 * command's stripes goes to lsm_write as one batch, so a multi-key command
 * or a MULTI/EXEC is atomic on disk too, and the reply is only sent after
 * the write is as durable as the fsync policy promises.
 */
#ifndef RINGKV_ENGINE_ENGINE_LSM_H
#define RINGKV_ENGINE_ENGINE_LSM_H

#include "engine/engine.h"
#include "engine/lsm.h"
#include "env/log.h"

/* What engine_lsm_open found (for the start-up log line). */
struct engine_lsm_open_info {
	struct lsm_open_stats lsm;
	uint64_t keys, volatile_keys;
	uint64_t cached_keys; /* loaded into the row cache */
	uint64_t scan_ms;
	bool damaged; /* the scan met a damaged block: counts are short (logged) */
};

/* Opens (creating if needed) the store in dir for stripe_count stripes
 * (KEYSPACE_STRIPES), with a row cache of row_cache_bytes (0: none; see
 * engine_lsm.c). Read errors met later while serving are logged to log.
 * ERR_CORRUPT, ERR_IO, ERR_NOSPACE, ERR_NOMEM, ERR_LIMIT as lsm_open. */
int engine_lsm_open(const char *dir, struct env_fs *fs, const struct lsm_options *opt,
                    uint64_t row_cache_bytes, unsigned stripe_count, struct log *log,
                    struct engine **out, struct engine_lsm_open_info *info);

/* The store under an engine made by engine_lsm_open, or NULL for any other
 * engine (for SAVE, INFO and ENGINE CHECK). */
struct lsm *engine_lsm_store(struct engine *e);

/* Makes the checkpoint parent/ckpt-NAME (lsm_checkpoint; parent is
 * created if needed), then removes all but the newest keep checkpoints in
 * parent (0: keep all). Names must sort by time. Not concurrently with
 * itself. Errors as lsm_checkpoint. */
int engine_lsm_checkpoint(struct engine *e, const char *parent, const char *name, unsigned keep,
                          struct lsm_checkpoint_info *info);

/* Removes a checkpoint directory (a flat directory of files). */
int engine_lsm_checkpoint_remove(struct engine *e, const char *dir);

/* The file system the engine was opened on. */
struct env_fs *engine_lsm_fs(struct engine *e);

/* ---- Partitions: the keys whose hash lies in [lo, hi] ------------------
 *
 * A cluster partition is a range of the 64-bit key hash; the store is
 * sorted by hash, so these read only that range (one seek, then in order).
 * scan, count and hash read a consistent snapshot and need no lock. drop
 * writes tombstones in batches of CLEAR_BATCH_MAX (each atomic, the whole
 * not) and needs the keyspace stripes covering the range held, since it
 * changes their counts. */

struct engine_lsm_part_entry {
	struct bytes key;    /* the user key */
	uint64_t hash;       /* its hash */
	struct bytes record; /* its value record (ikey.h: flags | [expire] | value) */
	bool is_blob;        /* record is a blob pointer (scan without values only) */
};

/* Return nonzero to stop the scan with that error. */
typedef int engine_lsm_part_fn(void *ctx, const struct engine_lsm_part_entry *ent);

/* Visits the partition's keys in storage order (hash, then key). With
 * values, large values are read back from their blob files; without, a
 * blob-held value is passed as its pointer record (is_blob). */
int engine_lsm_partition_scan(struct engine *e, uint64_t lo, uint64_t hi, bool values,
                              engine_lsm_part_fn *fn, void *ctx);
int engine_lsm_partition_count(struct engine *e, uint64_t lo, uint64_t hi, uint64_t *count);
/* A digest of the partition's content (keys, expiry times and values, in
 * order), equal on two stores holding the same data however it got there:
 * the leaf of anti-entropy. */
int engine_lsm_partition_hash(struct engine *e, uint64_t lo, uint64_t hi, uint64_t *hash);
/* Deletes every key of the partition; *dropped tells how many. */
int engine_lsm_partition_drop(struct engine *e, uint64_t lo, uint64_t hi, uint64_t *dropped);

/* The storage key of a user key: 8 bytes of hash, big endian, then key. */
static inline void engine_lsm_key_prefix(uint8_t dst[8], uint64_t hash)
{
	for (int i = 7; i >= 0; i--) {
		dst[i] = (uint8_t)hash;
		hash >>= 8;
	}
}

#endif
