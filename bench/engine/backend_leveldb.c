/*
 * backend_leveldb.c - the LevelDB backend, over Debian's libleveldb (C API).
 *
 * Options set here, as for every engine: write buffer, LRU block cache,
 * bloom filters of opts->bloom_bits_per_key, compression off unless asked
 * (LevelDB's only codec is snappy), sync per write. Everything else is
 * LevelDB's default (2 MiB table files, 4 KiB blocks, one background thread).
 */
#include <stdio.h>
#include <stdlib.h>

#include <leveldb/c.h>

#include "backend.h"

struct ldb {
	leveldb_t *db;
	leveldb_options_t *options;
	leveldb_filterpolicy_t *filter;
	leveldb_cache_t *cache;
	leveldb_writeoptions_t *wopts;
	leveldb_readoptions_t *ropts;
};

static void ldb_describe(char *out, size_t out_bytes)
{
	snprintf(out, out_bytes, "LevelDB %d.%d (libleveldb, C API; library version)",
	         leveldb_major_version(), leveldb_minor_version());
}

/* Copies a LevelDB error message into err and frees it. */
static int ldb_fail(char *msg, const char *what, char *err, size_t err_bytes)
{
	snprintf(err, err_bytes, "leveldb %s: %s", what, msg ? msg : "unknown error");
	leveldb_free(msg);
	return -1;
}

/* The database goes first: it uses the cache and the filter policy, which
 * the caller owns in LevelDB's C API. */
static void ldb_free(struct ldb *l)
{
	if (l->db)
		leveldb_close(l->db);
	leveldb_readoptions_destroy(l->ropts);
	leveldb_writeoptions_destroy(l->wopts);
	leveldb_options_destroy(l->options);
	leveldb_cache_destroy(l->cache);
	leveldb_filterpolicy_destroy(l->filter);
	free(l);
}

static void ldb_set_options(struct ldb *l, const struct backend_opts *opts)
{
	leveldb_options_set_create_if_missing(l->options, 1);
	leveldb_options_set_write_buffer_size(l->options, opts->write_buffer_bytes);
	leveldb_options_set_cache(l->options, l->cache);
	leveldb_options_set_filter_policy(l->options, l->filter);
	leveldb_options_set_compression(l->options, opts->compression ? leveldb_snappy_compression
	                                                              : leveldb_no_compression);
	leveldb_writeoptions_set_sync(l->wopts, opts->sync);
}

static int ldb_open(const struct backend_opts *opts, void **db_out, char *err, size_t err_bytes)
{
	struct ldb *l = calloc(1, sizeof(*l));
	if (!l) {
		snprintf(err, err_bytes, "leveldb: out of memory");
		return -1;
	}
	l->options = leveldb_options_create();
	l->filter = leveldb_filterpolicy_create_bloom(opts->bloom_bits_per_key);
	l->cache = leveldb_cache_create_lru(opts->cache_bytes);
	l->wopts = leveldb_writeoptions_create();
	l->ropts = leveldb_readoptions_create();
	ldb_set_options(l, opts);

	char *msg = NULL;
	l->db = leveldb_open(l->options, opts->dir, &msg);
	if (msg) {
		l->db = NULL;
		ldb_free(l);
		return ldb_fail(msg, "open", err, err_bytes);
	}
	*db_out = l;
	return 0;
}

static int ldb_put(void *db, const char *key, size_t key_bytes, const char *value,
                   size_t value_bytes, char *err, size_t err_bytes)
{
	struct ldb *l = db;
	char *msg = NULL;
	leveldb_put(l->db, l->wopts, key, key_bytes, value, value_bytes, &msg);
	return msg ? ldb_fail(msg, "put", err, err_bytes) : 0;
}

static int ldb_get(void *db, const char *key, size_t key_bytes, bool *found, char *err,
                   size_t err_bytes)
{
	struct ldb *l = db;
	char *msg = NULL;
	size_t value_bytes = 0;
	char *value = leveldb_get(l->db, l->ropts, key, key_bytes, &value_bytes, &msg);
	if (msg)
		return ldb_fail(msg, "get", err, err_bytes);
	*found = value != NULL;
	leveldb_free(value);
	return 0;
}

static void ldb_close(void *db)
{
	ldb_free(db);
}

const struct backend backend_leveldb = {
	.name = "leveldb",
	.describe = ldb_describe,
	.open = ldb_open,
	.put = ldb_put,
	.get = ldb_get,
	.close = ldb_close,
	.disk_bytes_written = bench_proc_write_bytes,
};
