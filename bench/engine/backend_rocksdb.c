/*
 * backend_rocksdb.c - the RocksDB backend, over Debian's librocksdb (C API).
 *
 * Options set here, as for every engine: write buffer, LRU block cache,
 * full bloom filters of opts->bloom_bits_per_key, compression off unless
 * asked, sync per write. Everything else is RocksDB's default (leveled
 * compaction, 2 background jobs, 4 KiB blocks), as a user would get it.
 */
#include <stdio.h>
#include <stdlib.h>

#include <rocksdb/c.h>

#include "backend.h"

#ifndef ROCKSDB_VERSION_STRING
#define ROCKSDB_VERSION_STRING "unknown"
#endif

struct rdb {
	rocksdb_t *db;
	rocksdb_options_t *options;
	rocksdb_block_based_table_options_t *table;
	rocksdb_cache_t *cache;
	rocksdb_writeoptions_t *wopts;
	rocksdb_readoptions_t *ropts;
};

static void rdb_describe(char *out, size_t out_bytes)
{
	snprintf(out, out_bytes, "RocksDB %s (librocksdb, C API; version of the headers built against)",
	         ROCKSDB_VERSION_STRING);
}

/* Copies a RocksDB error message into err and frees it. */
static int rdb_fail(char *msg, const char *what, char *err, size_t err_bytes)
{
	snprintf(err, err_bytes, "rocksdb %s: %s", what, msg ? msg : "unknown error");
	rocksdb_free(msg);
	return -1;
}

static void rdb_free(struct rdb *r)
{
	if (r->db)
		rocksdb_close(r->db);
	/* The table options hold the filter policy (owned by them) and a
	 * reference to the cache; the options hold a copy of the table factory. */
	rocksdb_readoptions_destroy(r->ropts);
	rocksdb_writeoptions_destroy(r->wopts);
	rocksdb_options_destroy(r->options);
	rocksdb_block_based_options_destroy(r->table);
	rocksdb_cache_destroy(r->cache);
	free(r);
}

static void rdb_set_options(struct rdb *r, const struct backend_opts *opts)
{
	rocksdb_block_based_options_set_block_cache(r->table, r->cache);
	rocksdb_block_based_options_set_filter_policy(
		r->table, rocksdb_filterpolicy_create_bloom_full(opts->bloom_bits_per_key));
	rocksdb_options_set_block_based_table_factory(r->options, r->table);
	rocksdb_options_set_create_if_missing(r->options, 1);
	rocksdb_options_set_write_buffer_size(r->options, opts->write_buffer_bytes);
	rocksdb_options_set_compression(r->options, opts->compression ? rocksdb_snappy_compression
	                                                              : rocksdb_no_compression);
	rocksdb_writeoptions_set_sync(r->wopts, opts->sync);
}

static int rdb_open(const struct backend_opts *opts, void **db_out, char *err, size_t err_bytes)
{
	struct rdb *r = calloc(1, sizeof(*r));
	if (!r) {
		snprintf(err, err_bytes, "rocksdb: out of memory");
		return -1;
	}
	r->options = rocksdb_options_create();
	r->table = rocksdb_block_based_options_create();
	r->cache = rocksdb_cache_create_lru(opts->cache_bytes);
	r->wopts = rocksdb_writeoptions_create();
	r->ropts = rocksdb_readoptions_create();
	rdb_set_options(r, opts);

	char *msg = NULL;
	r->db = rocksdb_open(r->options, opts->dir, &msg);
	if (msg) {
		r->db = NULL;
		rdb_free(r);
		return rdb_fail(msg, "open", err, err_bytes);
	}
	*db_out = r;
	return 0;
}

static int rdb_put(void *db, const char *key, size_t key_bytes, const char *value,
                   size_t value_bytes, char *err, size_t err_bytes)
{
	struct rdb *r = db;
	char *msg = NULL;
	rocksdb_put(r->db, r->wopts, key, key_bytes, value, value_bytes, &msg);
	return msg ? rdb_fail(msg, "put", err, err_bytes) : 0;
}

static int rdb_get(void *db, const char *key, size_t key_bytes, bool *found, char *err,
                   size_t err_bytes)
{
	struct rdb *r = db;
	char *msg = NULL;
	size_t value_bytes = 0;
	char *value = rocksdb_get(r->db, r->ropts, key, key_bytes, &value_bytes, &msg);
	if (msg)
		return rdb_fail(msg, "get", err, err_bytes);
	*found = value != NULL;
	rocksdb_free(value);
	return 0;
}

static void rdb_close(void *db)
{
	rdb_free(db);
}

const struct backend backend_rocksdb = {
	.name = "rocksdb",
	.describe = rdb_describe,
	.open = rdb_open,
	.put = rdb_put,
	.get = rdb_get,
	.close = rdb_close,
	.disk_bytes_written = bench_proc_write_bytes,
};
