/*
 * lsm.c - opening (recovery), closing and the shared helpers of the engine
 * core (lsm.h). Recovery order, so that a crash at any point of it leaves a
 * store the next open recovers the same way:
 *   1. manifest_recover, then remove the orphans it reports;
 *   2. open a reader for every live table;
 *   3. replay every WAL at or above the manifest's log number, oldest
 *      first, into one memtable;
 *   4. manifest_start (a new manifest with a snapshot), open a new WAL;
 *   5. write the replayed memtable as an L0 table and log it together with
 *      the new log number: only then are the replayed logs obsolete;
 *   6. remove the replayed logs and the blob files the version does not
 *      list, start the flush thread.
 * A crash before 5 replays the same logs again; after 5 they are orphans.
 * Blob files (lsm_blob.c): step 5's edit also links the records the
 * replayed entries point at and seals every blob file, so only then is a
 * blob file outside the version known to be unreferenced (a WAL may point
 * into one the manifest does not list yet); hence step 6, not step 1. A
 * manifest older than blob tracking lists no blob file: before step 4,
 * every blob file on disk is adopted (sealed, with its whole records
 * linked and no garbage: what the old store's tables point at is not
 * known), and step 5 then links nothing more to them.
 */
#include "base/le.h"
#include "engine/lsm.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/err.h"
#include "base/limits.h"
#include "engine/lsm_internal.h"

int lsm_path(char *out, size_t cap, const char *dir, uint64_t number, const char *ext)
{
	int n = snprintf(out, cap, "%s/%06" PRIu64 ".%s", dir, number, ext);
	return n < 0 || (size_t)n >= cap ? ERR_LIMIT : 0;
}

/* About one memtable bucket per 4 KiB of the limit, at most 16384: a full
 * 64 MiB memtable of 100-byte entries holds ~40 entries per bucket, and
 * the buckets' heads cost ~3% of it (memtable.h). The server's memtable
 * (64 MiB, rotated at 128 Ki entries) then has ~8 entries per bucket:
 * with the earlier cap of 4096, the skip-list search of a 64 B SET at
 * pipeline 1 took 12% of the server's CPU, with 16384 9% (perf). */
static unsigned memtable_bucket_bits(size_t memtable_bytes)
{
	unsigned bits = 0;
	while (bits < 14 && (size_t)4096 << (bits + 1) <= memtable_bytes)
		bits++;
	return bits;
}

int lsm_mem_create(struct lsm *db, uint64_t log_number, struct lsm_mem **out)
{
	struct lsm_mem *m = calloc(1, sizeof(*m));
	if (!m)
		return ERR_NOMEM;
	/* Blocks of an eighth of the limit, so that a small memtable limit
	 * (tests) is not passed by the first block alone. */
	size_t block = db->opt.memtable_bytes / 8;
	struct memtable_options mo = {.seed = env_rng_next(&db->rng),
	                              .arena_block_bytes =
	                                  block < ARENA_BLOCK_BYTES_DEFAULT ? block : 0,
	                              .bucket_bits = memtable_bucket_bits(db->opt.memtable_bytes)};
	int err = memtable_init(&m->mt, &mo);
	if (err) {
		free(m);
		return err;
	}
	m->log_number = log_number;
	m->refs = 1;
	*out = m;
	return 0;
}

void lsm_mem_unref_locked(struct lsm *db, struct lsm_mem *m)
{
	(void)db;
	if (m && --m->refs == 0) {
		memtable_deinit(&m->mt);
		free(m);
	}
}

/* Inserts the entries of one batch record. Disk bytes: malformed is
 * ERR_CORRUPT, never an assertion. */
int lsm_record_apply(struct memtable *mt, struct bytes rec, uint64_t *max_seq)
{
	if (rec.len < LSM_RECORD_HEADER_BYTES)
		return ERR_CORRUPT;
	uint64_t seq = le_get64(rec.ptr);
	uint32_t count = le_get32(rec.ptr + 8);
	if (count == 0 || count > LSM_BATCH_ENTRIES_MAX || seq == 0 ||
	    seq + count - 1 > IKEY_SEQ_MAX)
		return ERR_CORRUPT;
	size_t off = LSM_RECORD_HEADER_BYTES;
	for (uint32_t i = 0; i < count; i++) {
		if (rec.len - off < LSM_ENTRY_HEADER_BYTES)
			return ERR_CORRUPT;
		enum ikey_kind kind = (enum ikey_kind)rec.ptr[off];
		size_t klen = le_get32(rec.ptr + off + 1), vlen = le_get32(rec.ptr + off + 5);
		off += LSM_ENTRY_HEADER_BYTES;
		if (klen > rec.len - off || vlen > rec.len - off - klen)
			return ERR_CORRUPT;
		int err = memtable_add(mt, seq + i, kind, bytes_make(rec.ptr + off, klen),
		                       bytes_make(rec.ptr + off + klen, vlen));
		if (err)
			return err == ERR_NOMEM ? err : ERR_CORRUPT;
		off += klen + vlen;
	}
	if (off != rec.len)
		return ERR_CORRUPT;
	if (seq + count - 1 > *max_seq)
		*max_seq = seq + count - 1;
	return 0;
}

int lsm_table_add_locked(struct lsm *db, uint64_t number, struct sst_reader *r)
{
	if (db->table_count == db->table_cap) {
		size_t cap = db->table_cap ? 2 * db->table_cap : 16;
		struct lsm_table **t = realloc(db->tables, cap * sizeof(*t));
		if (!t)
			return ERR_NOMEM;
		db->tables = t;
		db->table_cap = cap;
	}
	struct lsm_table *t = calloc(1, sizeof(*t));
	if (!t)
		return ERR_NOMEM;
	t->number = number;
	t->reader = r;
	size_t i = db->table_count;
	while (i > 0 && db->tables[i - 1]->number > number) { /* usually appends */
		db->tables[i] = db->tables[i - 1];
		i--;
	}
	db->tables[i] = t;
	db->table_count++;
	return 0;
}

struct lsm_table *lsm_table_find_locked(struct lsm *db, uint64_t number)
{
	size_t lo = 0, hi = db->table_count;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (db->tables[mid]->number < number)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo < db->table_count && db->tables[lo]->number == number ? db->tables[lo] : NULL;
}

int lsm_wal_open(struct lsm *db, struct wal *w, uint64_t number)
{
	char path[FS_PATH_BYTES_MAX];
	int err = lsm_path(path, sizeof(path), db->dir, number, "log");
	if (err)
		return err;
	struct wal_options wo = {.log_number = number, .salt = env_rng_next(&db->rng)};
	return wal_open(w, db->fs, path, &wo);
}

/* Step 2: a reader for every table of the recovered version. */
static int open_tables(struct lsm *db)
{
	struct version *v = manifest_current(db->man);
	for (uint32_t level = 0; level < LSM_LEVELS; level++) {
		for (size_t i = 0; i < version_file_count(v, level); i++) {
			const struct manifest_file *f = version_file(v, level, i);
			char path[FS_PATH_BYTES_MAX];
			int err = lsm_path(path, sizeof(path), db->dir, f->number, "sst");
			struct sst_reader *r = NULL;
			struct sst_read_options ro = {.cache = db->cache, .file_number = f->number};
			if (!err)
				err = sst_open(&r, db->fs, path, &ro, NULL);
			if (!err && (err = lsm_table_add_locked(db, f->number, r)))
				sst_close(r);
			if (err)
				return err;
		}
	}
	return 0;
}

/* What step 3 needs from the directory. */
struct dir_scan {
	uint64_t min_log;
	uint64_t logs[256];
	size_t log_count;
	uint64_t max_blob;
	uint64_t *blobs; /* every blob file number found */
	size_t blob_count, blob_cap;
	bool too_many;
};

static bool parse_number(const char *name, const char *ext, uint64_t *out)
{
	char *end;
	if (name[0] < '0' || name[0] > '9')
		return false;
	unsigned long long n = strtoull(name, &end, 10);
	if (end[0] != '.' || strcmp(end + 1, ext) != 0)
		return false;
	*out = n;
	return true;
}

static int scan_entry(void *ctx, const char *name)
{
	struct dir_scan *s = ctx;
	uint64_t n;
	if (parse_number(name, "blob", &n)) {
		if (n > s->max_blob)
			s->max_blob = n;
		if (s->blob_count == s->blob_cap) {
			if (s->blob_cap >= MANIFEST_DIR_ENTRIES_MAX)
				return ERR_LIMIT;
			size_t cap = s->blob_cap ? 2 * s->blob_cap : 16;
			uint64_t *p = realloc(s->blobs, cap * sizeof(*p));
			if (!p)
				return ERR_NOMEM;
			s->blobs = p;
			s->blob_cap = cap;
		}
		s->blobs[s->blob_count++] = n;
	}
	if (parse_number(name, "log", &n) && n >= s->min_log) {
		if (s->log_count == sizeof(s->logs) / sizeof(s->logs[0])) {
			s->too_many = true;
			return ERR_LIMIT;
		}
		s->logs[s->log_count++] = n;
	}
	return 0;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return x < y ? -1 : x > y;
}

struct replay_ctx {
	struct lsm *db;
	struct memtable *mt;
	uint64_t max_seq;
	bool stopped;          /* a record's blob did not reach its file */
	uint64_t dropped;      /* records not replayed since */
	uint64_t size_file, size; /* the last blob file looked at, and its size */
};

/* Whether every BLOB entry of a WAL record points inside its blob file.
 * With sync=everysec or none a blob file is synced with the WAL, so after
 * a power cut the WAL can hold a record whose blob bytes never reached
 * the disk; that record and everything after it were never covered by a
 * completed sync. Malformed records are left to lsm_record_apply. */
static bool blobs_reached_disk(struct replay_ctx *r, struct bytes rec)
{
	if (rec.len < LSM_RECORD_HEADER_BYTES)
		return true;
	uint32_t count = le_get32(rec.ptr + 8);
	size_t off = LSM_RECORD_HEADER_BYTES;
	for (uint32_t i = 0; i < count && rec.len - off >= LSM_ENTRY_HEADER_BYTES; i++) {
		enum ikey_kind kind = (enum ikey_kind)rec.ptr[off];
		size_t klen = le_get32(rec.ptr + off + 1), vlen = le_get32(rec.ptr + off + 5);
		off += LSM_ENTRY_HEADER_BYTES;
		if (klen > rec.len - off || vlen > rec.len - off - klen)
			return true;
		int64_t exp;
		struct bytes enc;
		struct blob_pointer bp;
		if (kind == IKEY_KIND_BLOB &&
		    vrec_decode(bytes_make(rec.ptr + off + klen, vlen), &exp, &enc) &&
		    blob_pointer_decode(enc, &bp) == 0) {
			if (bp.file_number != r->size_file || !r->size_file) {
				char path[FS_PATH_BYTES_MAX];
				struct env_file *f = NULL;
				r->size_file = bp.file_number;
				r->size = 0;
				if (lsm_path(path, sizeof(path), r->db->dir, bp.file_number, "blob") == 0 &&
				    env_fs_open(r->db->fs, path, 0, &f) == 0) {
					(void)env_fs_size(r->db->fs, f, &r->size);
					env_fs_close(r->db->fs, f);
				}
			}
			if (bp.offset + blob_record_bytes(klen, bp.value_len) > r->size)
				return false;
		}
		off += klen + vlen;
	}
	return true;
}

static int replay_record(void *ctx, struct bytes record, uint64_t offset)
{
	(void)offset;
	struct replay_ctx *r = ctx;
	if (!r->stopped && !blobs_reached_disk(r, record))
		r->stopped = true;
	if (r->stopped) {
		r->dropped++;
		return 0;
	}
	return lsm_record_apply(r->mt, record, &r->max_seq);
}

/* Step 3: replays the logs in s into m; *max_seq is the newest seq seen. */
static int replay_logs(struct lsm *db, struct dir_scan *s, struct lsm_mem *m,
                       struct lsm_open_stats *st, uint64_t *max_seq)
{
	qsort(s->logs, s->log_count, sizeof(s->logs[0]), cmp_u64);
	struct replay_ctx rc = {.db = db, .mt = &m->mt, .max_seq = *max_seq};
	for (size_t i = 0; i < s->log_count; i++) {
		char path[FS_PATH_BYTES_MAX];
		int err = lsm_path(path, sizeof(path), db->dir, s->logs[i], "log");
		struct wal_recover_options wo = {.salvage = db->opt.salvage};
		struct wal_recover_result res;
		if (!err)
			err = wal_recover(db->fs, path, &wo, replay_record, &rc, &res);
		if (err)
			return err;
		st->logs_replayed++;
		st->records_replayed += res.record_count;
		st->torn_bytes_dropped += res.dropped_bytes;
		st->skipped_bytes += res.skipped_bytes;
	}
	st->unsynced_blob_records_dropped = rc.dropped;
	*max_seq = rc.max_seq;
	return 0;
}

/* Steps 1 and 2. */
static int recover_manifest(struct lsm *db, struct lsm_open_stats *st)
{
	struct manifest_options mo = {.fs = db->fs,
	                              .dir = db->dir,
	                              .salt = env_rng_next(&db->rng),
	                              .salvage = db->opt.salvage};
	struct manifest_recover_result res;
	int err = manifest_recover(&db->man, &mo, &res);
	for (size_t i = 0; !err && i < res.orphan_count; i++) {
		char path[FS_PATH_BYTES_MAX];
		int n = snprintf(path, sizeof(path), "%s/%s", db->dir, res.orphans[i].name);
		if (n > 0 && (size_t)n < sizeof(path) && env_fs_remove(db->fs, path) == 0)
			st->orphans_removed++;
	}
	manifest_recover_result_deinit(&res);
	if (err)
		return err;
	if (st->orphans_removed)
		env_fs_sync_dir(db->fs, db->dir); /* best effort: a leftover is an orphan again */
	return open_tables(db);
}

/* Before step 4, for a manifest older than blob tracking: every blob file
 * on disk becomes a sealed file of the version with its whole records
 * linked (top of file). */
static int adopt_blobs(struct lsm *db, const struct dir_scan *s)
{
	for (size_t i = 0; i < s->blob_count; i++) {
		char path[FS_PATH_BYTES_MAX];
		uint64_t bytes = 0, count = 0;
		int err = lsm_path(path, sizeof(path), db->dir, s->blobs[i], "blob");
		if (!err)
			err = blob_file_records(db->fs, path, s->blobs[i], &bytes, &count);
		struct vedit_blob b = {.op = VEDIT_BLOB_FILE, .number = s->blobs[i],
		                       .linked_bytes = bytes, .linked_records = count,
		                       .sealed = true};
		if (!err)
			err = manifest_adopt_blob(db->man, &b);
		if (err)
			return err;
	}
	return 0;
}

/* Step 6: blob files on disk that the version does not list (never linked,
 * or deleted before a crash). Best effort: an orphan again next time. */
static void remove_blob_orphans(struct lsm *db, const struct dir_scan *s)
{
	struct version *v = manifest_current(db->man);
	for (size_t i = 0; i < s->blob_count; i++) {
		char path[FS_PATH_BYTES_MAX];
		if (!version_blob_find(v, s->blobs[i]) &&
		    lsm_path(path, sizeof(path), db->dir, s->blobs[i], "blob") == 0)
			env_fs_remove(db->fs, path);
	}
}

/* Steps 4 to 6, given the replayed memtable rm. */
static int start_new_log(struct lsm *db, struct lsm_mem *rm, const struct dir_scan *s)
{
	int err = manifest_blobs_tracked(db->man) ? 0 : adopt_blobs(db, s);
	if (!err)
		err = manifest_start(db->man);
	if (err)
		return err;
	uint64_t wal_number = manifest_new_file_number(db->man);
	if ((err = lsm_wal_open(db, &db->wal, wal_number)))
		return err;
	db->wal_is_open = true;
	if ((err = lsm_mem_create(db, wal_number, &db->mem)))
		return err;
	struct version_edit e;
	version_edit_init(&e);
	struct sst_reader *r = NULL;
	struct lsm_blob_tallies links = {0};
	uint64_t number = 0;
	if (memtable_entry_count(&rm->mt) > 0) {
		number = manifest_new_file_number(db->man);
		err = lsm_flush_write_table(db, rm, number, &e, &r, &links);
	}
	version_edit_set_log_number(&e, wal_number);
	version_edit_set_last_seq(&e, db->last_seq);
	if (!err)
		err = lsm_blob_flush_edit_locked(db, &links, UINT64_MAX, &e);
	if (!err)
		err = lsm_blob_deletes_locked(db, &e);
	if (!err)
		err = manifest_log_and_apply(db->man, &e);
	if (!err)
		lsm_blob_installed_locked(db, &e, UINT64_MAX);
	lsm_blob_tallies_deinit(&links);
	version_edit_deinit(&e);
	if (!err && r && (err = lsm_table_add_locked(db, number, r)) == 0)
		r = NULL;
	if (r)
		sst_close(r);
	for (size_t i = 0; !err && i < s->log_count; i++) {
		char path[FS_PATH_BYTES_MAX];
		if (lsm_path(path, sizeof(path), db->dir, s->logs[i], "log") == 0)
			env_fs_remove(db->fs, path); /* best effort: now an orphan */
	}
	if (!err)
		remove_blob_orphans(db, s);
	return err;
}

static int recover(struct lsm *db, struct lsm_open_stats *st)
{
	int err = recover_manifest(db, st);
	if (err)
		return err;
	struct dir_scan *s = calloc(1, sizeof(*s));
	if (!s)
		return ERR_NOMEM;
	s->min_log = manifest_log_number(db->man);
	err = env_fs_list(db->fs, db->dir, scan_entry, s);
	/* Blob files are not the manifest's: keep their numbers unused. */
	while (!err && manifest_next_file(db->man) <= s->max_blob)
		manifest_new_file_number(db->man);
	struct lsm_mem *rm = NULL;
	uint64_t max_seq = manifest_last_seq(db->man);
	if (!err)
		err = lsm_mem_create(db, 0, &rm);
	if (!err)
		err = replay_logs(db, s, rm, st, &max_seq);
	db->last_seq = max_seq;
	db->synced_seq = max_seq; /* step 5 makes all of it durable */
	if (!err)
		err = start_new_log(db, rm, s);
	if (rm)
		lsm_mem_unref_locked(db, rm);
	free(s->blobs);
	free(s);
	return err;
}

static void destroy(struct lsm *db)
{
	env_mutex_lock(&db->mu);
	db->stop = true;
	env_cond_broadcast(&db->cv);
	env_mutex_unlock(&db->mu);
	if (db->thread_started)
		env_thread_join(&db->flush_thread);
	if (db->sync_thread_started)
		env_thread_join(&db->sync_thread);
	if (db->wal_is_open)
		wal_close(&db->wal);
	if (db->blob_open)
		blob_writer_close(&db->blob);
	lsm_mem_unref_locked(db, db->mem);
	lsm_mem_unref_locked(db, db->imm);
	for (size_t i = 0; i < db->table_count; i++) {
		sst_close(db->tables[i]->reader);
		free(db->tables[i]);
	}
	free(db->tables);
	/* No reader is left (lsm_close races with nothing), so the tables
	 * compacted away go now rather than as orphans of the next open. */
	for (size_t i = 0; i < db->obsolete_count; i++) {
		char path[FS_PATH_BYTES_MAX];
		if (lsm_path(path, sizeof(path), db->dir, db->obsolete[i], "sst") == 0)
			env_fs_remove(db->fs, path); /* best effort: an orphan otherwise */
	}
	free(db->obsolete);
	for (size_t i = 0; i < db->obsolete_blob_count; i++) {
		char path[FS_PATH_BYTES_MAX];
		if (lsm_path(path, sizeof(path), db->dir, db->obsolete_blobs[i], "blob") == 0)
			env_fs_remove(db->fs, path); /* best effort: an orphan otherwise */
	}
	free(db->obsolete_blobs);
	free(db->blobs_done);
	for (uint32_t level = 0; level < LSM_LEVELS; level++)
		buf_deinit(&db->compact_ptr[level]);
	if (db->man)
		manifest_destroy(db->man);
	if (db->cache)
		cache_destroy(db->cache);
	buf_deinit(&db->scratch);
	buf_deinit(&db->recs);
	env_cond_deinit(&db->cv);
	env_cond_deinit(&db->wcv);
	env_mutex_deinit(&db->mu);
	free(db->dir);
	free(db);
}

int lsm_open(const char *dir, struct env_fs *fs, const struct lsm_options *opt, struct lsm **out,
             struct lsm_open_stats *stats)
{
	struct lsm_open_stats st_local;
	struct lsm_open_stats *st = stats ? stats : &st_local;
	memset(st, 0, sizeof(*st));
	if ((unsigned)opt->compression > SST_COMPRESSION_ZSTD || opt->background_nice < 0 ||
	    opt->background_nice > LSM_BACKGROUND_NICE_MAX)
		return ERR_INVALID;
	struct lsm *db = calloc(1, sizeof(*db));
	if (!db)
		return ERR_NOMEM;
	db->fs = fs;
	db->opt = *opt;
	if (!db->opt.memtable_bytes)
		db->opt.memtable_bytes = MEMTABLE_BYTES_DEFAULT;
	if (!db->opt.blob_threshold)
		db->opt.blob_threshold = BLOB_THRESHOLD;
	if (!db->opt.l1_bytes)
		db->opt.l1_bytes = LSM_L1_BYTES_DEFAULT;
	if (!db->opt.blob_file_bytes)
		db->opt.blob_file_bytes = BLOB_FILE_BYTES_DEFAULT;
	if (!db->opt.table_bytes)
		db->opt.table_bytes = LSM_TABLE_BYTES_DEFAULT;
	if (!db->opt.write_stall_ms)
		db->opt.write_stall_ms = LSM_WRITE_STALL_MS_DEFAULT;
	if (!db->opt.sync_interval_ms)
		db->opt.sync_interval_ms = LSM_SYNC_INTERVAL_MS_DEFAULT;
	env_rng_seed(&db->rng, opt->seed ? opt->seed : env_random_seed());
	env_mutex_init(&db->mu);
	env_cond_init(&db->cv);
	env_cond_init(&db->wcv);
	buf_init(&db->scratch);
	buf_init(&db->recs);
	for (uint32_t level = 0; level < LSM_LEVELS; level++)
		buf_init(&db->compact_ptr[level]);
	db->dir = strdup(dir);
	db->cache = cache_create(opt->block_cache_bytes);
	int err = db->dir && db->cache ? 0 : ERR_NOMEM;
	if (!err && (err = env_fs_mkdir(fs, dir)) == ERR_EXISTS)
		err = 0;
	if (!err)
		err = recover(db, st);
	if (!err &&
	    (err = env_thread_start(&db->flush_thread, "lsm-flush", lsm_flush_main, db)) == 0)
		db->thread_started = true;
	if (!err && db->opt.sync == LSM_SYNC_EVERYSEC &&
	    (err = env_thread_start(&db->sync_thread, "lsm-sync", lsm_sync_main, db)) == 0)
		db->sync_thread_started = true;
	if (err) {
		destroy(db);
		return err;
	}
	*out = db;
	return 0;
}

void lsm_close(struct lsm *db)
{
	destroy(db);
}

int lsm_failed(struct lsm *db)
{
	env_mutex_lock(&db->mu);
	int err = db->failed;
	env_mutex_unlock(&db->mu);
	return err;
}

bool lsm_nospace_locked(const struct lsm *db)
{
	return db->wal_lost || db->mem_unlogged || db->imm_unlogged || db->bg_nospace;
}

bool lsm_nospace(struct lsm *db)
{
	env_mutex_lock(&db->mu);
	bool nospace = lsm_nospace_locked(db);
	env_mutex_unlock(&db->mu);
	return nospace;
}

uint64_t lsm_synced_seq(struct lsm *db)
{
	env_mutex_lock(&db->mu);
	uint64_t seq = db->synced_seq;
	env_mutex_unlock(&db->mu);
	return seq;
}

size_t lsm_level_file_count(struct lsm *db, uint32_t level)
{
	env_mutex_lock(&db->mu);
	size_t n = version_file_count(manifest_current(db->man), level);
	env_mutex_unlock(&db->mu);
	return n;
}

uint64_t lsm_level_bytes(struct lsm *db, uint32_t level)
{
	env_mutex_lock(&db->mu);
	uint64_t n = version_level_bytes(manifest_current(db->man), level);
	env_mutex_unlock(&db->mu);
	return n;
}

int lsm_compact_wait(struct lsm *db)
{
	env_mutex_lock(&db->mu);
	uint64_t failures = db->bg_nospace_count;
	db->bg_retry_ns = 0; /* asked for: no backoff */
	env_cond_broadcast(&db->cv);
	while (!db->failed && db->bg_nospace_count == failures &&
	       (db->imm || lsm_compaction_due_locked(db) || db->removing ||
	        ((db->obsolete_count || db->obsolete_blob_count) && db->readers == 0)))
		env_cond_timedwait_ms(&db->cv, &db->mu, 100);
	int err = db->failed ? db->failed : db->bg_nospace_count != failures ? ERR_NOSPACE : 0;
	env_mutex_unlock(&db->mu);
	return err;
}
