/*
 * lsm_checkpoint.c - a second, openable store made of hard links to the
 * live files (lsm.h, lsm_checkpoint; docs/storage.md, "Checkpoints").
 *
 * Order:
 *   1. make dst_dir (it must not exist);
 *   2. the cut, led by the group-commit leader between two groups: rotate
 *      the memtable, finish the blob file, note the last sequence S, the
 *      highest file number B (every blob file at or below it is finished
 *      and nobody appends to it again) and the immutable memtable;
 *   3. wait until that memtable is flushed: every write up to S is then in
 *      a table of the current version;
 *   4. reference the current version and count as a reader, so that no
 *      table of it is removed (lsm_compact.c removes obsolete tables only
 *      while db->readers == 0);
 *   5. with mu released, link every table and every blob file of the
 *      version, write a manifest holding a snapshot of the version (log
 *      number past every file: no WAL to replay; its blob records as they
 *      are), sync it, write CURRENT through CURRENT.tmp, sync the
 *      directory and its parent.
 * The version lists every blob file its tables point into (a flush links
 * a file in the edit that adds its table), and blob GC deletes a file
 * from disk only while no reader runs (lsm_compact.c), so counting as a
 * reader in step 4 keeps every file step 5 links, however GC goes on
 * meanwhile. Each such file is immutable: numbered at or below B (see
 * below), or written by a compaction, which finishes its blob file before
 * its edit. Once the link exists, the source may delete its name.
 * Between 3 and 4 another memtable may have been flushed, so the version
 * can hold writes after S whose blob pointers name files above B, still
 * open. When a table of the version is newer than S, a second cut
 * (without rotation) finishes the blob file again: every write of the
 * version, all at or below that cut's sequence, points at or below its B.
 *
 * CURRENT comes last, so a crash in the middle leaves a directory that
 * lsm_open refuses ("no CURRENT file") rather than a partial store. Links
 * share the source's synced contents; only the names need a directory
 * sync. A failure removes every name made here and the directory (best
 * effort: with the disk failing, removal may fail too).
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/err.h"
#include "base/limits.h"
#include "engine/lsm_internal.h"
#include "engine/wal.h"

struct ckpt {
	struct lsm *db;
	const char *dst;
	struct version *v; /* referenced, with db->readers counted */
	uint64_t seq, blob_max, manifest_number, salt;
	uint64_t *blobs; /* blob file numbers to link */
	size_t blob_count, blob_cap;
	size_t tables_linked, blobs_linked;
	struct lsm_checkpoint_info info;
};

/* Steps 2 and 3: the cut, then the flush of the memtable it rotated. */
static int cut_and_flush(struct lsm *db, bool rotate, struct lsm_ckpt_cut *cut)
{
	*cut = (struct lsm_ckpt_cut){.rotate = rotate};
	int err = lsm_checkpoint_cut(db, cut);
	if (err)
		return err;
	env_mutex_lock(&db->mu);
	/* The reference keeps the memtable alive, so a new one cannot take
	 * its address while we wait. A flush that runs out of space fails
	 * the checkpoint (ERR_NOSPACE), not the store. */
	uint64_t failures = db->bg_nospace_count;
	db->bg_retry_ns = 0;
	env_cond_broadcast(&db->cv);
	while (cut->imm && db->imm == cut->imm && !db->failed &&
	       db->bg_nospace_count == failures)
		env_cond_wait(&db->cv, &db->mu);
	err = db->failed ? db->failed
	    : cut->imm && db->imm == cut->imm ? ERR_NOSPACE
	                                      : 0;
	lsm_mem_unref_locked(db, cut->imm);
	cut->imm = NULL;
	env_mutex_unlock(&db->mu);
	return err;
}

static uint64_t version_max_seq(const struct version *v)
{
	uint64_t seq = 0;
	for (uint32_t level = 0; level < LSM_LEVELS; level++)
		for (size_t i = 0; i < version_file_count(v, level); i++)
			if (version_file(v, level, i)->max_seq > seq)
				seq = version_file(v, level, i)->max_seq;
	return seq;
}

/* Steps 2 to 4. */
static int take_version(struct ckpt *c)
{
	struct lsm *db = c->db;
	struct lsm_ckpt_cut cut;
	int err = cut_and_flush(db, true, &cut);
	if (err)
		return err;
	env_mutex_lock(&db->mu);
	c->v = manifest_current(db->man);
	version_ref(c->v);
	db->readers++;
	env_mutex_unlock(&db->mu);
	c->seq = cut.seq;
	c->blob_max = cut.blob_max;
	uint64_t newest = version_max_seq(c->v);
	if (newest > c->seq) {
		/* A later flush got in: see the top of the file. */
		if ((err = cut_and_flush(db, false, &cut)))
			return err;
		c->seq = newest;
		c->blob_max = cut.blob_max;
	}
	env_mutex_lock(&db->mu);
	/* Past every table and blob file of the version. */
	c->manifest_number = manifest_next_file(db->man);
	c->salt = env_rng_next(&db->rng);
	env_mutex_unlock(&db->mu);
	return 0;
}

static void release_version(struct ckpt *c)
{
	if (!c->v)
		return;
	env_mutex_lock(&c->db->mu);
	version_unref(c->v);
	lsm_reader_done_locked(c->db);
	env_mutex_unlock(&c->db->mu);
	c->v = NULL;
}

/* The blob files of the version, to link. */
static int collect_blobs(struct ckpt *c)
{
	size_t n = version_blob_count(c->v);
	c->blobs = malloc((n ? n : 1) * sizeof(*c->blobs));
	if (!c->blobs)
		return ERR_NOMEM;
	c->blob_cap = n;
	for (size_t i = 0; i < n; i++)
		c->blobs[c->blob_count++] = version_blob(c->v, i)->number;
	return 0;
}

/* Links dir/<number>.<ext> into dst. */
static int link_file(struct ckpt *c, uint64_t number, const char *ext)
{
	char from[FS_PATH_BYTES_MAX], to[FS_PATH_BYTES_MAX];
	int err = lsm_path(from, sizeof(from), c->db->dir, number, ext);
	if (!err)
		err = lsm_path(to, sizeof(to), c->dst, number, ext);
	return err ? err : env_fs_link(c->db->fs, from, to);
}

/* The size of a linked blob file (a table's is in the version). */
static int blob_size(struct ckpt *c, uint64_t number, uint64_t *bytes)
{
	char path[FS_PATH_BYTES_MAX];
	struct env_file *f;
	int err = lsm_path(path, sizeof(path), c->dst, number, "blob");
	if (err || (err = env_fs_open(c->db->fs, path, 0, &f)))
		return err;
	err = env_fs_size(c->db->fs, f, bytes);
	int cerr = env_fs_close(c->db->fs, f);
	return err ? err : cerr;
}

/* Step 5, the links. tables_linked and blobs_linked say what to undo. */
static int link_files(struct ckpt *c)
{
	for (uint32_t level = 0; level < LSM_LEVELS; level++) {
		for (size_t i = 0; i < version_file_count(c->v, level); i++) {
			const struct manifest_file *f = version_file(c->v, level, i);
			int err = link_file(c, f->number, "sst");
			if (err)
				return err;
			c->tables_linked++;
			c->info.bytes += f->size;
		}
	}
	int err = collect_blobs(c);
	for (size_t i = 0; !err && i < c->blob_count; i++) {
		uint64_t bytes = 0;
		if ((err = link_file(c, c->blobs[i], "blob")))
			break;
		c->blobs_linked++;
		if ((err = blob_size(c, c->blobs[i], &bytes)) == 0)
			c->info.bytes += bytes;
	}
	c->info.file_count = c->tables_linked + c->blobs_linked;
	return err;
}

/* The snapshot edit of the version: the first and only manifest record. */
static int snapshot_encode(const struct ckpt *c, struct buf *out)
{
	struct version_edit e;
	version_edit_init(&e);
	version_edit_set_comparator(&e);
	/* Above every file here, so no WAL is looked for or replayed. */
	version_edit_set_log_number(&e, c->manifest_number + 1);
	version_edit_set_next_file(&e, c->manifest_number + 1);
	version_edit_set_last_seq(&e, c->seq);
	int err = 0;
	for (uint32_t level = 0; level < LSM_LEVELS && !err; level++) {
		for (size_t i = 0; i < version_file_count(c->v, level) && !err; i++) {
			const struct manifest_file *f = version_file(c->v, level, i);
			struct vedit_file vf = {level,      f->number,    f->size,     f->min_seq,
			                        f->max_seq, f->blob_refs, f->smallest, f->largest};
			err = version_edit_add_file(&e, &vf);
		}
	}
	if (!err)
		err = version_snapshot_blobs(c->v, &e);
	if (!err)
		err = version_edit_encode(&e, out);
	version_edit_deinit(&e);
	return err;
}

static int write_manifest(struct ckpt *c)
{
	struct buf rec;
	buf_init(&rec);
	char path[FS_PATH_BYTES_MAX];
	int err = snapshot_encode(c, &rec);
	if (!err)
		err = manifest_file_path(path, sizeof(path), c->dst, MANIFEST_KIND_MANIFEST,
		                         c->manifest_number);
	struct wal w;
	struct wal_options wo = {c->manifest_number, c->salt, MANIFEST_RECORD_BYTES_MAX};
	if (!err && (err = wal_open(&w, c->db->fs, path, &wo)) == 0) {
		struct bytes b = bytes_make(rec.data, rec.len);
		err = wal_append(&w, &b, 1);
		if (!err)
			err = wal_sync(&w);
		int cerr = wal_close(&w);
		if (!err)
			err = cerr;
	}
	buf_deinit(&rec);
	return err;
}

/* CURRENT through CURRENT.tmp, then the directory and its parent. */
static int write_current(struct ckpt *c)
{
	char tmp[FS_PATH_BYTES_MAX], cur[FS_PATH_BYTES_MAX], parent[FS_PATH_BYTES_MAX];
	char line[48];
	int n = snprintf(line, sizeof(line), "MANIFEST-%06" PRIu64 "\n", c->manifest_number);
	int err = manifest_file_path(tmp, sizeof(tmp), c->dst, MANIFEST_KIND_TEMP, 0);
	if (!err && snprintf(cur, sizeof(cur), "%s/CURRENT", c->dst) >= (int)sizeof(cur))
		err = ERR_LIMIT;
	if (!err)
		err = env_fs_dirname(c->dst, parent, sizeof(parent));
	struct env_file *f;
	if (!err && (err = env_fs_open(c->db->fs, tmp, ENV_FS_CREATE | ENV_FS_TRUNCATE, &f)) == 0) {
		err = env_fs_append(c->db->fs, f, line, (size_t)n);
		if (!err)
			err = env_fs_sync(c->db->fs, f);
		int cerr = env_fs_close(c->db->fs, f);
		if (!err)
			err = cerr;
	}
	if (!err)
		err = env_fs_rename(c->db->fs, tmp, cur);
	if (!err)
		err = env_fs_sync_dir(c->db->fs, c->dst);
	if (!err)
		err = env_fs_sync_dir(c->db->fs, parent);
	return err;
}

static void remove_name(struct ckpt *c, const char *name)
{
	char path[FS_PATH_BYTES_MAX];
	int n = snprintf(path, sizeof(path), "%s/%s", c->dst, name);
	if (n > 0 && (size_t)n < sizeof(path))
		env_fs_remove(c->db->fs, path); /* ERR_NOT_FOUND: never made */
}

/* Undoes what step 5 made, then step 1. Best effort. */
static void remove_dst(struct ckpt *c)
{
	char name[40];
	size_t t = 0;
	for (uint32_t level = 0; c->v && level < LSM_LEVELS; level++) {
		for (size_t i = 0; i < version_file_count(c->v, level) && t < c->tables_linked;
		     i++, t++) {
			snprintf(name, sizeof(name), "%06" PRIu64 ".sst",
			         version_file(c->v, level, i)->number);
			remove_name(c, name);
		}
	}
	for (size_t i = 0; i < c->blobs_linked; i++) {
		snprintf(name, sizeof(name), "%06" PRIu64 ".blob", c->blobs[i]);
		remove_name(c, name);
	}
	if (c->manifest_number) {
		snprintf(name, sizeof(name), "MANIFEST-%06" PRIu64, c->manifest_number);
		remove_name(c, name);
	}
	remove_name(c, "CURRENT.tmp");
	remove_name(c, "CURRENT");
	char parent[FS_PATH_BYTES_MAX];
	if (env_fs_rmdir(c->db->fs, c->dst) == 0 &&
	    env_fs_dirname(c->dst, parent, sizeof(parent)) == 0)
		env_fs_sync_dir(c->db->fs, parent);
}

int lsm_checkpoint(struct lsm *db, const char *dst_dir, struct lsm_checkpoint_info *info)
{
	/* Room for "/CURRENT.tmp" and the longest file name. */
	if (strlen(dst_dir) + 32 >= FS_PATH_BYTES_MAX)
		return ERR_LIMIT;
	struct ckpt c = {.db = db, .dst = dst_dir};
	int err = env_fs_mkdir(db->fs, dst_dir);
	if (err)
		return err; /* ERR_EXISTS: not ours to remove */
	err = take_version(&c);
	if (!err)
		err = link_files(&c);
	if (!err)
		err = write_manifest(&c);
	if (!err)
		err = write_current(&c);
	if (err)
		remove_dst(&c);
	c.info.seq = c.seq;
	release_version(&c);
	free(c.blobs);
	if (!err && info)
		*info = c.info;
	return err;
}
