/*
 * backend_ringkv.c - ringkv's own engine (src/engine/lsm.h) over the posix
 * file layer (src/env/fs.h).
 *
 * Options set here, as for every engine: sync per write (LSM_SYNC_ALWAYS or
 * LSM_SYNC_NONE), memtable bytes = the write buffer, the block cache size.
 * Bloom filters are not an lsm option: every table gets
 * BLOOM_BITS_PER_KEY_DEFAULT (10) bits per key, which is what the harness
 * asks for by default; a run with another value is refused rather than
 * silently measured with different settings. No compression unless asked
 * (--compression): then lz4, ringkv's nearest to the others' snappy (it
 * has no snappy). The server compresses with lz4 by default. Everything else is
 * the engine's default (256 MiB L1, 64 MiB tables, values of 4 KiB or more
 * in blob files, so none of the benchmark's values).
 *
 * A put is a one-entry batch whose value is a value record (ikey.h,
 * vrec_encode, no expiry); a get decodes the value record lsm_get returns.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backend.h"
#include "base/buf.h"
#include "base/bytes.h"
#include "base/err.h"
#include "base/limits.h"
#include "engine/ikey.h"
#include "engine/lsm.h"
#include "env/fs.h"

struct rkv {
	struct env_fs_posix fs;
	struct lsm *db;
	uint8_t *rec;       /* value record of a put */
	size_t rec_cap;
	struct buf value;   /* value record of a get */
};

static void rkv_describe(char *out, size_t out_bytes)
{
	snprintf(out, out_bytes, "ringkv engine (src/engine/lsm.h, this tree; env_fs_posix)");
}

static int rkv_fail(int rc, const char *what, char *err, size_t err_bytes)
{
	snprintf(err, err_bytes, "ringkv %s: %s", what, err_str(rc));
	return -1;
}

static int rkv_open(const struct backend_opts *opts, void **db_out, char *err, size_t err_bytes)
{
	if (opts->bloom_bits_per_key != BLOOM_BITS_PER_KEY_DEFAULT) {
		snprintf(err, err_bytes, "ringkv: lsm has no bloom option (always %d bits per key)",
		         BLOOM_BITS_PER_KEY_DEFAULT);
		return -1;
	}
	struct rkv *r = calloc(1, sizeof(*r));
	if (!r) {
		snprintf(err, err_bytes, "ringkv: out of memory");
		return -1;
	}
	env_fs_posix_init(&r->fs);
	buf_init(&r->value);
	struct lsm_options lo = {
		.sync = opts->sync ? LSM_SYNC_ALWAYS : LSM_SYNC_NONE,
		.memtable_bytes = opts->write_buffer_bytes,
		.block_cache_bytes = opts->cache_bytes,
		.compression = opts->compression ? SST_COMPRESSION_LZ4 : SST_COMPRESSION_NONE,
	};
	int rc = lsm_open(opts->dir, &r->fs.base, &lo, &r->db, NULL);
	if (rc) {
		buf_deinit(&r->value);
		free(r);
		return rkv_fail(rc, "open", err, err_bytes);
	}
	*db_out = r;
	return 0;
}

static int rkv_put(void *db, const char *key, size_t key_bytes, const char *value,
                   size_t value_bytes, char *err, size_t err_bytes)
{
	struct rkv *r = db;
	size_t need = 9 + value_bytes;
	if (need > r->rec_cap) {
		uint8_t *p = realloc(r->rec, need);
		if (!p) {
			snprintf(err, err_bytes, "ringkv put: out of memory");
			return -1;
		}
		r->rec = p;
		r->rec_cap = need;
	}
	size_t rec_len = vrec_encode(r->rec, 0, bytes_make(value, value_bytes));
	struct lsm_op op = {
		.kind = IKEY_KIND_PUT,
		.key = bytes_make(key, key_bytes),
		.value_record = bytes_make(r->rec, rec_len),
	};
	struct lsm_batch batch = {.ops = &op, .count = 1};
	int rc = lsm_write(r->db, &batch);
	return rc ? rkv_fail(rc, "put", err, err_bytes) : 0;
}

static int rkv_get(void *db, const char *key, size_t key_bytes, bool *found, char *err,
                   size_t err_bytes)
{
	struct rkv *r = db;
	int rc = lsm_get(r->db, bytes_make(key, key_bytes), &r->value);
	if (rc == ERR_NOT_FOUND) {
		*found = false;
		return 0;
	}
	if (rc)
		return rkv_fail(rc, "get", err, err_bytes);
	int64_t expire_ms;
	struct bytes v;
	if (!vrec_decode(bytes_make(r->value.data, r->value.len), &expire_ms, &v)) {
		snprintf(err, err_bytes, "ringkv get: malformed value record");
		return -1;
	}
	*found = true;
	return 0;
}

/* With RINGKV_BENCH_STATS set, the engine's own view of a row on stderr:
 * what it wrote where and what the levels hold at close. */
static void rkv_print_stats(struct lsm *db)
{
	if (!getenv("RINGKV_BENCH_STATS"))
		return;
	struct lsm_stats st;
	lsm_stats(db, &st);
	fprintf(stderr,
	        "    ringkv: user %.1f MB, wal %.1f, flush %.1f (%llu), compaction r %.1f w %.1f "
	        "(%llu), wa %.2f, stalls %llu (%llu ms), cache hits %llu misses %llu\n    levels:",
	        st.user_bytes / 1e6, st.wal_bytes / 1e6, st.flush_bytes / 1e6,
	        (unsigned long long)st.flush_count, st.compaction_read_bytes / 1e6,
	        st.compaction_write_bytes / 1e6, (unsigned long long)st.compaction_count,
	        st.write_amp, (unsigned long long)st.stall_count, (unsigned long long)st.stall_ms,
	        (unsigned long long)st.cache_hits, (unsigned long long)st.cache_misses);
	for (int i = 0; i < LSM_LEVELS; i++)
		fprintf(stderr, " L%d %llu/%.1fMB", i, (unsigned long long)st.level_file_count[i],
		        st.level_bytes[i] / 1e6);
	fprintf(stderr, "\n");
}

static void rkv_close(void *db)
{
	struct rkv *r = db;
	rkv_print_stats(r->db);
	lsm_close(r->db);
	buf_deinit(&r->value);
	free(r->rec);
	free(r);
}

const struct backend backend_ringkv = {
	.name = "ringkv",
	.describe = rkv_describe,
	.open = rkv_open,
	.put = rkv_put,
	.get = rkv_get,
	.close = rkv_close,
	.disk_bytes_written = bench_proc_write_bytes,
};
