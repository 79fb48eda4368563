/*
 * rkv.c - the embeddable engine API (include/ringkv/engine.h) over the
 * engine core (engine/lsm.h).
 *
 * A thin layer: it owns the real file system (env_fs_posix) the store
 * runs on, checks lengths before reading caller bytes, turns values into
 * value records (ikey.h, vrec_encode with no expiry) and back, and maps
 * internal error codes to RKV_ERR_* (the same numbers, tied together by
 * static_assert below). Thread rules are lsm.h's.
 *
 * Expiry is not part of this API: nothing written through it has one. A
 * record that has one (a store written by the server) reads as absent
 * from rkv_get once it has expired; iteration does not look at expiry.
 */
#include <ringkv/engine.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/assert.h"
#include "base/buf.h"
#include "base/err.h"
#include "base/limits.h"
#include "engine/ikey.h"
#include "engine/lsm.h"
#include "env/env.h"
#include "env/fs.h"

static_assert(RKV_ERR_NOMEM == ERR_NOMEM && RKV_ERR_IO == ERR_IO, "codes");
static_assert(RKV_ERR_CORRUPT == ERR_CORRUPT && RKV_ERR_LIMIT == ERR_LIMIT, "codes");
static_assert(RKV_ERR_NOT_FOUND == ERR_NOT_FOUND && RKV_ERR_EXISTS == ERR_EXISTS, "codes");
static_assert(RKV_ERR_INVALID == ERR_INVALID && RKV_ERR_AGAIN == ERR_AGAIN, "codes");
static_assert(RKV_ERR_NOSPACE == ERR_NOSPACE, "codes");
static_assert(RKV_KEY_BYTES_MAX == KEY_BYTES_MAX, "the engine's key limit");
static_assert(RKV_VALUE_BYTES_MAX <= VALUE_BYTES_MAX, "within the engine's value limit");
static_assert(RKV_BATCH_OPS_MAX == LSM_BATCH_ENTRIES_MAX, "the engine's batch limit");
static_assert(RKV_LEVELS == LSM_LEVELS, "levels");
static_assert((int)RKV_SYNC_ALWAYS == (int)LSM_SYNC_ALWAYS &&
                  (int)RKV_SYNC_NONE == (int)LSM_SYNC_NONE &&
                  (int)RKV_SYNC_EVERYSEC == (int)LSM_SYNC_EVERYSEC,
              "sync policies");

/* A value record of a value up to this size is built on the stack. */
#define RKV_STACK_RECORD_BYTES 512

struct rkv_db {
	struct env_fs_posix fs; /* the lsm points into it: db is heap-allocated */
	struct lsm *lsm;
};

/* Entries in data: u8 kind | u32 key_len | u32 record_len | key | record
 * (host order: never stored). ops is rebuilt from data by rkv_write. */
struct rkv_batch {
	struct buf data;
	size_t count;
	struct lsm_op *ops;
	size_t ops_cap;
};

struct rkv_iter {
	struct lsm_iter *it;
	struct buf value; /* the current value record */
	int err;          /* a value read error; a seek clears it */
};

#define BATCH_ENTRY_HEADER_BYTES 9

/* Internal codes outside the public set become RKV_ERR_IO. */
static int map_err(int err)
{
	switch (err) {
	case ERR_OK:
	case ERR_NOMEM:
	case ERR_IO:
	case ERR_CORRUPT:
	case ERR_LIMIT:
	case ERR_NOT_FOUND:
	case ERR_EXISTS:
	case ERR_INVALID:
	case ERR_AGAIN:
	case ERR_NOSPACE:
		return err;
	}
	return RKV_ERR_IO;
}

const char *rkv_strerror(int code)
{
	return map_err(code) == code ? err_str(code) : "unknown error";
}

/* Lengths first, then pointers: a length over its limit is never read. */
static int check_key(const void *key, size_t klen)
{
	if (klen > RKV_KEY_BYTES_MAX)
		return RKV_ERR_LIMIT;
	return key || klen == 0 ? 0 : RKV_ERR_INVALID;
}

static int check_value(const void *val, size_t vlen)
{
	if (vlen > RKV_VALUE_BYTES_MAX)
		return RKV_ERR_LIMIT;
	return val || vlen == 0 ? 0 : RKV_ERR_INVALID;
}

static int to_lsm_options(const struct rkv_options *in, struct lsm_options *out)
{
	static const enum sst_compression compression_of[] = {
	    [RKV_COMPRESSION_DEFAULT] = SST_COMPRESSION_LZ4,
	    [RKV_COMPRESSION_NONE] = SST_COMPRESSION_NONE,
	    [RKV_COMPRESSION_LZ4] = SST_COMPRESSION_LZ4,
	    [RKV_COMPRESSION_ZSTD] = SST_COMPRESSION_ZSTD,
	};
	memset(out, 0, sizeof(*out));
	out->compression = SST_COMPRESSION_LZ4;
	if (!in)
		return 0;
	if ((unsigned)in->sync > (unsigned)RKV_SYNC_EVERYSEC ||
	    in->memtable_bytes > MEMTABLE_BYTES_MAX ||
	    (unsigned)in->compression > (unsigned)RKV_COMPRESSION_ZSTD)
		return RKV_ERR_INVALID;
	out->compression = compression_of[in->compression];
	out->sync = (enum lsm_sync)in->sync;
	out->memtable_bytes = in->memtable_bytes;
	out->block_cache_bytes = in->block_cache_bytes;
	out->blob_threshold = in->blob_threshold;
	return 0;
}

static void set_errbuf(char *errbuf, size_t n, const char *dir, int err)
{
	if (errbuf && n)
		snprintf(errbuf, n, "open %s: %s", dir ? dir : "(null)", rkv_strerror(err));
}

int rkv_open(const char *dir, const struct rkv_options *opts, rkv_db **out, char *errbuf,
             size_t errbuf_bytes)
{
	struct lsm_options lo;
	int err = dir && out ? to_lsm_options(opts, &lo) : RKV_ERR_INVALID;
	rkv_db *db = NULL;
	if (!err && !(db = calloc(1, sizeof(*db))))
		err = RKV_ERR_NOMEM;
	if (!err) {
		env_fs_posix_init(&db->fs);
		err = map_err(lsm_open(dir, &db->fs.base, &lo, &db->lsm, NULL));
	}
	if (err) {
		free(db);
		set_errbuf(errbuf, errbuf_bytes, dir, err);
		return err;
	}
	*out = db;
	return 0;
}

void rkv_close(rkv_db *db)
{
	if (!db)
		return;
	lsm_close(db->lsm);
	free(db);
}

void rkv_free(void *p)
{
	free(p);
}

int rkv_get(rkv_db *db, const void *key, size_t klen, void **val, size_t *vlen)
{
	int err = check_key(key, klen);
	if (err || !val || !vlen)
		return err ? err : RKV_ERR_INVALID;
	struct buf rec;
	buf_init(&rec);
	err = lsm_get(db->lsm, bytes_make(key, klen), &rec);
	int64_t expire_ms;
	struct bytes v;
	if (!err && !vrec_decode(bytes_make(rec.data, rec.len), &expire_ms, &v))
		err = ERR_CORRUPT;
	if (!err && expire_ms != 0 && expire_ms <= env_wall_ms())
		err = ERR_NOT_FOUND;
	if (err) {
		buf_deinit(&rec);
		return map_err(err);
	}
	/* Hand the record's own memory over, the value moved to its start
	 * (a record is at least one byte, so data is never NULL). */
	size_t n = v.len;
	memmove(rec.data, v.ptr, n);
	*val = rec.data;
	*vlen = n;
	return 0;
}

/* Writes one op: a put (val non-NULL or vlen 0 with put) or a delete. */
static int write_one(rkv_db *db, enum ikey_kind kind, const void *key, size_t klen, const void *val,
                     size_t vlen)
{
	uint8_t small[RKV_STACK_RECORD_BYTES];
	uint8_t *rec = NULL;
	struct lsm_op op = {.kind = kind, .key = bytes_make(key, klen)};
	if (kind == IKEY_KIND_PUT) {
		rec = 1 + vlen <= sizeof(small) ? small : malloc(1 + vlen);
		if (!rec)
			return RKV_ERR_NOMEM;
		op.value_record = bytes_make(rec, vrec_encode(rec, 0, bytes_make(val, vlen)));
	}
	struct lsm_batch b = {.ops = &op, .count = 1};
	int err = lsm_write(db->lsm, &b);
	if (rec != small)
		free(rec);
	return map_err(err);
}

int rkv_put(rkv_db *db, const void *key, size_t klen, const void *val, size_t vlen)
{
	int err = check_key(key, klen);
	if (!err)
		err = check_value(val, vlen);
	return err ? err : write_one(db, IKEY_KIND_PUT, key, klen, val, vlen);
}

int rkv_delete(rkv_db *db, const void *key, size_t klen)
{
	int err = check_key(key, klen);
	return err ? err : write_one(db, IKEY_KIND_DELETE, key, klen, NULL, 0);
}

/* ---- Batches ---------------------------------------------------------- */

int rkv_batch_create(rkv_batch **out)
{
	if (!out)
		return RKV_ERR_INVALID;
	rkv_batch *b = calloc(1, sizeof(*b));
	if (!b)
		return RKV_ERR_NOMEM;
	buf_init(&b->data);
	*out = b;
	return 0;
}

void rkv_batch_destroy(rkv_batch *b)
{
	if (!b)
		return;
	buf_deinit(&b->data);
	free(b->ops);
	free(b);
}

static int batch_add(rkv_batch *b, enum ikey_kind kind, const void *key, size_t klen,
                     const void *val, size_t vlen)
{
	if (b->count >= RKV_BATCH_OPS_MAX)
		return RKV_ERR_LIMIT;
	size_t rlen = kind == IKEY_KIND_PUT ? 1 + vlen : 0;
	/* The batch is one WAL record: its bytes are bounded like one. */
	int err =
	    buf_reserve(&b->data, BATCH_ENTRY_HEADER_BYTES + klen + rlen, WAL_RECORD_BYTES_DEFAULT);
	if (err)
		return map_err(err);
	uint8_t h[BATCH_ENTRY_HEADER_BYTES];
	uint32_t k32 = (uint32_t)klen, r32 = (uint32_t)rlen;
	h[0] = (uint8_t)kind;
	memcpy(h + 1, &k32, 4);
	memcpy(h + 5, &r32, 4);
	buf_put(&b->data, h, sizeof(h));
	buf_put(&b->data, key, klen);
	if (kind == IKEY_KIND_PUT) {
		b->data.len += vrec_encode(b->data.data + b->data.len, 0, bytes_make(val, vlen));
		DEBUG_ASSERT(b->data.len <= b->data.cap);
	}
	b->count++;
	return 0;
}

int rkv_batch_put(rkv_batch *b, const void *key, size_t klen, const void *val, size_t vlen)
{
	int err = b ? check_key(key, klen) : RKV_ERR_INVALID;
	if (!err)
		err = check_value(val, vlen);
	return err ? err : batch_add(b, IKEY_KIND_PUT, key, klen, val, vlen);
}

int rkv_batch_delete(rkv_batch *b, const void *key, size_t klen)
{
	int err = b ? check_key(key, klen) : RKV_ERR_INVALID;
	return err ? err : batch_add(b, IKEY_KIND_DELETE, key, klen, NULL, 0);
}

size_t rkv_batch_count(const rkv_batch *b)
{
	return b ? b->count : 0;
}

void rkv_batch_clear(rkv_batch *b)
{
	if (!b)
		return;
	b->data.len = 0;
	b->count = 0;
	buf_shrink(&b->data, 1 * MIB);
}

/* ops[] from data: views into data, valid until the next batch call. */
static int batch_ops(rkv_batch *b)
{
	if (b->count > b->ops_cap) {
		struct lsm_op *ops = realloc(b->ops, b->count * sizeof(*ops));
		if (!ops)
			return RKV_ERR_NOMEM;
		b->ops = ops;
		b->ops_cap = b->count;
	}
	size_t off = 0;
	for (size_t i = 0; i < b->count; i++) {
		const uint8_t *p = b->data.data + off;
		uint32_t klen, rlen;
		memcpy(&klen, p + 1, 4);
		memcpy(&rlen, p + 5, 4);
		p += BATCH_ENTRY_HEADER_BYTES;
		b->ops[i] = (struct lsm_op){.kind = (enum ikey_kind)b->data.data[off],
		                            .key = bytes_make(p, klen),
		                            .value_record = bytes_make(p + klen, rlen)};
		off += BATCH_ENTRY_HEADER_BYTES + klen + rlen;
	}
	ASSERT(off == b->data.len);
	return 0;
}

int rkv_write(rkv_db *db, rkv_batch *b)
{
	if (!db || !b)
		return RKV_ERR_INVALID;
	if (b->count == 0)
		return 0;
	int err = batch_ops(b);
	if (err)
		return err;
	struct lsm_batch lb = {.ops = b->ops, .count = b->count};
	return map_err(lsm_write(db->lsm, &lb));
}

/* ---- Iterators -------------------------------------------------------- */

int rkv_iter_create(rkv_db *db, rkv_iter **out)
{
	if (!db || !out)
		return RKV_ERR_INVALID;
	rkv_iter *it = calloc(1, sizeof(*it));
	if (!it)
		return RKV_ERR_NOMEM;
	int err = lsm_iter_create(db->lsm, &it->it);
	if (err) {
		free(it);
		return map_err(err);
	}
	buf_init(&it->value);
	*out = it;
	return 0;
}

void rkv_iter_destroy(rkv_iter *it)
{
	if (!it)
		return;
	lsm_iter_destroy(it->it);
	buf_deinit(&it->value);
	free(it);
}

void rkv_iter_seek_to_first(rkv_iter *it)
{
	it->err = 0;
	lsm_iter_seek_to_first(it->it);
}

void rkv_iter_seek(rkv_iter *it, const void *key, size_t klen)
{
	it->err = 0;
	lsm_iter_seek(it->it, bytes_make(key, klen));
}

void rkv_iter_next(rkv_iter *it)
{
	lsm_iter_next(it->it);
}

bool rkv_iter_valid(const rkv_iter *it)
{
	return it->err == 0 && lsm_iter_valid(it->it);
}

const void *rkv_iter_key(const rkv_iter *it, size_t *klen)
{
	struct bytes k = lsm_iter_key(it->it);
	*klen = k.len;
	/* An empty key has no bytes; a non-NULL pointer all the same. */
	return k.ptr ? (const void *)k.ptr : (const void *)"";
}

const void *rkv_iter_value(rkv_iter *it, size_t *vlen)
{
	int err = lsm_iter_value(it->it, &it->value);
	int64_t expire_ms;
	struct bytes v;
	if (!err && !vrec_decode(bytes_make(it->value.data, it->value.len), &expire_ms, &v))
		err = ERR_CORRUPT;
	if (err) {
		it->err = map_err(err);
		return NULL;
	}
	*vlen = v.len;
	return v.ptr;
}

int rkv_iter_status(const rkv_iter *it)
{
	return it->err ? it->err : map_err(lsm_iter_status(it->it));
}

/* ---- Checkpoint and stats --------------------------------------------- */

int rkv_checkpoint(rkv_db *db, const char *dst_dir)
{
	if (!db || !dst_dir)
		return RKV_ERR_INVALID;
	return map_err(lsm_checkpoint(db->lsm, dst_dir, NULL));
}

void rkv_stats(rkv_db *db, struct rkv_stats *out)
{
	struct lsm_stats s;
	lsm_stats(db->lsm, &s);
	memset(out, 0, sizeof(*out));
	out->memtable_bytes = s.mem_bytes;
	out->immutable_memtable_bytes = s.imm_bytes;
	for (int l = 0; l < RKV_LEVELS; l++) {
		out->level_files[l] = s.level_file_count[l];
		out->level_bytes[l] = s.level_bytes[l];
	}
	out->flushes = s.flush_count;
	out->compactions = s.compaction_count;
	out->compaction_read_bytes = s.compaction_read_bytes;
	out->compaction_write_bytes = s.compaction_write_bytes;
	out->user_bytes = s.user_bytes;
	out->wal_bytes = s.wal_bytes;
	out->flush_bytes = s.flush_bytes;
	out->blob_bytes = s.blob_bytes;
	out->write_amp = s.write_amp;
	out->cache_capacity_bytes = s.cache_capacity_bytes;
	out->cache_used_bytes = s.cache_usage_bytes;
	out->cache_hits = s.cache_hits;
	out->cache_misses = s.cache_misses;
	out->wal_syncs = s.wal_sync_count;
	out->wal_sync_p50_ns = s.wal_sync_p50_ns;
	out->wal_sync_p99_ns = s.wal_sync_p99_ns;
	out->wal_sync_max_ns = s.wal_sync_max_ns;
	out->write_stalls = s.stall_count;
	out->write_stall_ms = s.stall_ms;
	out->failed = map_err(s.failed);
}
