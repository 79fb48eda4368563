/*
 * lsm_check.c - lsm_check_dir: an offline check of every checksum of a
 * store's directory (the issue's `ringkv-cli check DIR`).
 *
 * It uses each module's own read path, so it accepts exactly what an open
 * would accept: manifest_recover (CURRENT, the whole manifest, referenced
 * tables present), sst_open and sst_check (footer, meta blocks, every data
 * block), wal_recover without truncation, and blob_check_file. The
 * manifest's blob records are checked against the files: a listed file
 * must exist and hold at least the records the manifest says tables were
 * linked to; a file it does not list is a note (the file being written,
 * or an orphan the next open removes). Nothing is
 * opened for writing. When the manifest cannot be replayed, the live set is
 * unknown, so every table and every log in the directory is checked.
 * Memory: the directory's file numbers (at most CHECK_FILES_MAX) and what
 * one module holds while it reads one file.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/err.h"
#include "base/limits.h"
#include "engine/blob.h"
#include "engine/lsm.h"
#include "engine/manifest.h"
#include "engine/sst.h"
#include "engine/wal.h"

/* A store holds a few thousand tables at most (levels of LSM_TABLE_BYTES
 * tables); a directory with more names than this is not a store. */
#define CHECK_FILES_MAX (1u << 20)

enum check_kind { CHECK_SST, CHECK_LOG, CHECK_BLOB, CHECK_KINDS };

static const char *const kind_ext[CHECK_KINDS] = {"sst", "log", "blob"};

struct check {
	struct env_fs *fs;
	const char *dir;
	lsm_check_report_fn *cb;
	void *ctx;
	struct lsm_check_summary sum;
	uint64_t *nums[CHECK_KINDS];
	size_t count[CHECK_KINDS], cap[CHECK_KINDS], total;
	int list_err;
};

static void report(struct check *c, bool problem, const char *file, bool has_offset,
                   uint64_t offset, const char *reason)
{
	if (problem)
		c->sum.problems++;
	else
		c->sum.notes++;
	struct lsm_check_report r = {problem, file, has_offset, offset, reason};
	if (c->cb)
		c->cb(c->ctx, &r);
}

static bool parse_name(const char *name, enum check_kind *kind, uint64_t *number)
{
	if (name[0] < '0' || name[0] > '9')
		return false;
	char *end;
	unsigned long long n = strtoull(name, &end, 10);
	if (end[0] != '.')
		return false;
	for (int k = 0; k < CHECK_KINDS; k++) {
		if (strcmp(end + 1, kind_ext[k]) == 0) {
			*kind = (enum check_kind)k;
			*number = n;
			return true;
		}
	}
	return false;
}

static int list_entry(void *ctx, const char *name)
{
	struct check *c = ctx;
	enum check_kind k;
	uint64_t n;
	if (!parse_name(name, &k, &n))
		return 0;
	if (c->total == CHECK_FILES_MAX)
		return c->list_err = ERR_LIMIT;
	if (c->count[k] == c->cap[k]) {
		size_t cap = c->cap[k] ? 2 * c->cap[k] : 64;
		uint64_t *p = realloc(c->nums[k], cap * sizeof(*p));
		if (!p)
			return c->list_err = ERR_NOMEM;
		c->nums[k] = p;
		c->cap[k] = cap;
	}
	c->nums[k][c->count[k]++] = n;
	c->total++;
	return 0;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return x < y ? -1 : x > y;
}

static void file_name(char *out, size_t cap, uint64_t number, enum check_kind k)
{
	snprintf(out, cap, "%06" PRIu64 ".%s", number, kind_ext[k]);
}

static int full_path(char *out, size_t cap, const struct check *c, const char *name)
{
	int n = snprintf(out, cap, "%s/%s", c->dir, name);
	return n < 0 || (size_t)n >= cap ? ERR_LIMIT : 0;
}

/* Counts the file in the summary; 0, or the error of opening it. */
static int count_file(struct check *c, const char *path)
{
	struct env_file *f;
	int rc = env_fs_open(c->fs, path, 0, &f);
	if (rc)
		return rc;
	uint64_t size = 0;
	rc = env_fs_size(c->fs, f, &size);
	env_fs_close(c->fs, f);
	if (rc)
		return rc;
	c->sum.files++;
	c->sum.bytes += size;
	return 0;
}

/* An env error reading one file is a problem of that file, except
 * ERR_NOMEM, which stops the check. */
static int read_error(struct check *c, const char *name, int rc)
{
	if (rc == ERR_NOMEM)
		return rc;
	char reason[64];
	snprintf(reason, sizeof(reason), "cannot read: %s", err_str(rc));
	report(c, true, name, false, 0, reason);
	return 0;
}

/* Which file a manifest_recover error is about. */
static void manifest_error_file(const struct manifest_recover_result *res, char *out, size_t cap)
{
	uint64_t n;
	if (sscanf(res->error, "missing file %" SCNu64, &n) == 1)
		file_name(out, cap, n, CHECK_SST);
	else if (strncmp(res->error, "MANIFEST-", 9) == 0)
		snprintf(out, cap, "MANIFEST-%06" PRIu64, res->manifest_number);
	else
		snprintf(out, cap, "CURRENT");
}

/* Replays the manifest; on success *m holds it. */
static int check_manifest(struct check *c, struct manifest **m)
{
	struct manifest_options mo = {.fs = c->fs, .dir = c->dir};
	struct manifest_recover_result res;
	int rc = manifest_recover(m, &mo, &res);
	char name[64], path[FS_PATH_BYTES_MAX];
	if (rc == 0 && !res.new_db) {
		if (full_path(path, sizeof(path), c, "CURRENT") == 0)
			count_file(c, path);
		snprintf(name, sizeof(name), "MANIFEST-%06" PRIu64, res.manifest_number);
		if (full_path(path, sizeof(path), c, name) == 0)
			count_file(c, path);
		if (res.dropped_bytes) {
			char reason[96];
			snprintf(reason, sizeof(reason), "torn tail of %" PRIu64 " bytes",
			         res.dropped_bytes);
			report(c, false, name, false, 0, reason);
		}
	} else if (rc == ERR_NOMEM) {
		*m = NULL;
	} else if (rc) {
		*m = NULL;
		manifest_error_file(&res, name, sizeof(name));
		bool has_offset = strncmp(res.error, "MANIFEST-", 9) == 0 && res.error_offset;
		report(c, true, name, has_offset, res.error_offset,
		       res.error[0] ? res.error : err_str(rc));
		rc = 0;
	}
	manifest_recover_result_deinit(&res);
	return rc;
}

#define NAME_BYTES 64

/* Names the file, builds its path and adds its size to the summary. */
static int start_file(struct check *c, uint64_t number, enum check_kind kind, char name[NAME_BYTES],
                      char path[FS_PATH_BYTES_MAX])
{
	file_name(name, NAME_BYTES, number, kind);
	int rc = full_path(path, FS_PATH_BYTES_MAX, c, name);
	return rc ? rc : count_file(c, path);
}

static int check_table(struct check *c, uint64_t number)
{
	char name[NAME_BYTES], path[FS_PATH_BYTES_MAX];
	int rc = start_file(c, number, CHECK_SST, name, path);
	if (rc)
		return read_error(c, name, rc);
	struct sst_read_options ro = {.file_number = number};
	struct sst_reader *r;
	const char *reason = NULL;
	rc = sst_open(&r, c->fs, path, &ro, &reason);
	if (rc == ERR_CORRUPT || rc == ERR_LIMIT) {
		report(c, true, name, false, 0, reason ? reason : err_str(rc));
		return 0;
	}
	if (rc)
		return read_error(c, name, rc);
	struct sst_check_result res = {0};
	rc = sst_check(r, &res);
	sst_close(r);
	if (rc == ERR_CORRUPT) {
		report(c, true, name, true, res.bad_offset, res.reason ? res.reason : "corrupt");
		return 0;
	}
	return rc ? read_error(c, name, rc) : 0;
}

static int count_record(void *ctx, struct bytes record, uint64_t offset)
{
	(void)ctx;
	(void)record;
	(void)offset;
	return 0;
}

static int check_log(struct check *c, uint64_t number)
{
	char name[NAME_BYTES], path[FS_PATH_BYTES_MAX];
	int rc = start_file(c, number, CHECK_LOG, name, path);
	if (rc)
		return read_error(c, name, rc);
	struct wal_recover_options wo = {.salvage = false, .truncate_tail = false};
	struct wal_recover_result res;
	rc = wal_recover(c->fs, path, &wo, count_record, NULL, &res);
	if (rc == ERR_CORRUPT || rc == ERR_LIMIT) {
		report(c, true, name, true, res.error_offset,
		       res.error_reason ? res.error_reason : err_str(rc));
		return 0;
	}
	if (rc)
		return read_error(c, name, rc);
	char reason[96];
	if (res.header_torn) {
		report(c, false, name, false, 0, "torn header (an empty log)");
	} else if (res.dropped_bytes) {
		snprintf(reason, sizeof(reason), "torn tail of %" PRIu64 " bytes",
		         res.dropped_bytes);
		report(c, false, name, true, res.valid_bytes, reason);
	}
	return 0;
}

static bool listed(const struct check *c, enum check_kind k, uint64_t number)
{
	return bsearch(&number, c->nums[k], c->count[k], sizeof(uint64_t), cmp_u64) != NULL;
}

/* The manifest's record of a blob file against what the file holds. */
static void check_blob_record(struct check *c, const struct manifest *m, uint64_t number,
                              const char *name, const struct blob_check_result *res)
{
	if (!m || !manifest_blobs_tracked(m))
		return; /* an older store: its blob files are adopted at open */
	const struct manifest_blob *b = version_blob_find(manifest_current(m), number);
	if (!b) {
		report(c, false, name, false, 0,
		       "blob file not in the manifest (being written, or an orphan)");
	} else if (b->linked_bytes > res->record_bytes || b->linked_records > res->record_count) {
		report(c, true, name, false, 0,
		       "blob file holds fewer records than the manifest links");
	}
}

/* Every blob file the manifest lists must be on disk. */
static void check_blob_files_present(struct check *c, const struct manifest *m)
{
	if (!m)
		return;
	const struct version *v = manifest_current(m);
	for (size_t i = 0; i < version_blob_count(v); i++) {
		uint64_t number = version_blob(v, i)->number;
		if (listed(c, CHECK_BLOB, number))
			continue;
		char name[NAME_BYTES];
		file_name(name, sizeof(name), number, CHECK_BLOB);
		report(c, true, name, false, 0, "blob file listed in the manifest is missing");
	}
}

static int check_blob(struct check *c, const struct manifest *m, uint64_t number)
{
	char name[NAME_BYTES], path[FS_PATH_BYTES_MAX];
	int rc = start_file(c, number, CHECK_BLOB, name, path);
	if (rc)
		return read_error(c, name, rc);
	struct blob_check_result res;
	rc = blob_check_file(c->fs, path, number, &res);
	if (rc == ERR_CORRUPT || rc == ERR_LIMIT) {
		report(c, true, name, res.bad_offset != 0, res.bad_offset,
		       res.reason ? res.reason : err_str(rc));
		return 0;
	}
	if (rc)
		return read_error(c, name, rc);
	check_blob_record(c, m, number, name, &res);
	if (res.torn_bytes) {
		char reason[96];
		snprintf(reason, sizeof(reason), "torn last record of %" PRIu64 " bytes",
		         res.torn_bytes);
		report(c, false, name, false, 0, reason);
	}
	return 0;
}

/* The live tables, or every table when the manifest is unusable. */
static int check_tables(struct check *c, struct manifest *m)
{
	int rc = 0;
	if (!m) {
		for (size_t i = 0; i < c->count[CHECK_SST] && !rc; i++)
			rc = check_table(c, c->nums[CHECK_SST][i]);
		return rc;
	}
	struct version *v = manifest_current(m);
	for (uint32_t l = 0; l < LSM_LEVELS && !rc; l++) {
		for (size_t i = 0; i < version_file_count(v, l) && !rc; i++)
			rc = check_table(c, version_file(v, l, i)->number);
	}
	return rc;
}

int lsm_check_dir(struct env_fs *fs, const char *dir, lsm_check_report_fn *cb, void *ctx,
                  struct lsm_check_summary *out)
{
	struct check c = {.fs = fs, .dir = dir, .cb = cb, .ctx = ctx};
	struct manifest *m = NULL;
	int rc = env_fs_list(fs, dir, list_entry, &c);
	if (rc && c.list_err)
		rc = c.list_err;
	if (rc == 0)
		rc = check_manifest(&c, &m);
	for (int k = 0; k < CHECK_KINDS && rc == 0; k++)
		if (c.count[k])
			qsort(c.nums[k], c.count[k], sizeof(uint64_t), cmp_u64);
	if (rc == 0)
		rc = check_tables(&c, m);
	uint64_t log_number = m ? manifest_log_number(m) : 0;
	for (size_t i = 0; i < c.count[CHECK_LOG] && rc == 0; i++) {
		if (c.nums[CHECK_LOG][i] >= log_number)
			rc = check_log(&c, c.nums[CHECK_LOG][i]);
	}
	if (rc == 0)
		check_blob_files_present(&c, m);
	for (size_t i = 0; i < c.count[CHECK_BLOB] && rc == 0; i++)
		rc = check_blob(&c, m, c.nums[CHECK_BLOB][i]);
	if (m)
		manifest_destroy(m);
	for (int k = 0; k < CHECK_KINDS; k++)
		free(c.nums[k]);
	*out = c.sum;
	if (rc)
		return rc;
	return c.sum.problems ? ERR_CORRUPT : 0;
}
