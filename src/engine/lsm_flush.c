/*
 * lsm_flush.c - writing an immutable memtable as an L0 table, and the
 * background thread that does it.
 *
 * The table is built under its final name <number>.sst: until the manifest
 * edit that adds it is synced it is an orphan, which recovery removes, so
 * no rename is needed. The edit also advances the log number to the WAL of
 * the current memtable, which makes the flushed memtable's WAL obsolete;
 * it is removed after the edit. A failed flush fails the store (writes
 * stop, reads go on): retrying after a failed fsync could report success
 * for data the kernel dropped (STYLE.md section 4). A flush that runs out
 * of space (ERR_NOSPACE from a table append or from the manifest append,
 * which the manifest cut off its file) removes its table, installs
 * nothing, keeps db->imm and is retried LSM_NOSPACE_RETRY_MS later
 * (lsm_bg_failed_locked); the table's fsync cannot be told apart from its
 * appends here, but a table that is removed unread leaves no doubt behind.
 * The directory sync is ours: its failure is never a full disk.
 */
#include <stdlib.h>

#include "base/err.h"
#include "base/limits.h"
#include "engine/lsm_internal.h"

/* Tallies the blob record a BLOB entry points at, and keeps the table's
 * oldest blob file in f->blob_refs. A flush creates no garbage: every
 * version of the memtable goes to the table. */
static int link_blob(struct vedit_file *f, const struct memtable_entry *me,
                     struct lsm_blob_tallies *links)
{
	if (me->kind != IKEY_KIND_BLOB)
		return 0;
	int64_t exp;
	struct blob_pointer p;
	int err = lsm_blob_pointer_of(me->value_record, &exp, &p);
	if (!err)
		err = lsm_blob_tally_add(links, p.file_number,
		                         blob_record_bytes(me->user_key.len, p.value_len));
	if (!err && (!f->blob_refs || p.file_number < f->blob_refs))
		f->blob_refs = p.file_number;
	return err;
}

/* Builds the table from every entry of m, syncs it and its directory, and
 * records it in e as an L0 add (keys borrowed from m's arena). */
static int build_table(struct lsm *db, struct lsm_mem *m, const char *path, struct vedit_file *f,
                       struct lsm_blob_tallies *links)
{
	struct sst_options so = {.seed = f->number, .compression = db->opt.compression};
	struct sst_builder *b;
	int err = sst_builder_init(&b, db->fs, path, &so);
	if (err)
		return err;
	struct memtable_iter it;
	memtable_iter_init(&it, &m->mt);
	f->min_seq = IKEY_SEQ_MAX;
	for (memtable_iter_seek_to_first(&it); memtable_iter_valid(&it); memtable_iter_next(&it)) {
		struct memtable_entry me;
		memtable_iter_entry(&it, &me);
		struct bytes k = memtable_iter_key(&it);
		if (!f->smallest.ptr)
			f->smallest = k;
		f->largest = k;
		f->min_seq = me.seq < f->min_seq ? me.seq : f->min_seq;
		f->max_seq = me.seq > f->max_seq ? me.seq : f->max_seq;
		if ((err = link_blob(f, &me, links)) ||
		    (err = sst_builder_add(b, k, memtable_iter_value(&it)))) {
			sst_builder_abandon(b);
			return err;
		}
	}
	if ((err = sst_builder_finish(b, &f->size)))
		return err;
	err = env_fs_sync_dir(db->fs, db->dir);
	return err == ERR_NOSPACE ? ERR_IO : err; /* a failed fsync: never a full disk */
}

int lsm_flush_write_table(struct lsm *db, struct lsm_mem *m, uint64_t number,
                          struct version_edit *e, struct sst_reader **reader,
                          struct lsm_blob_tallies *links)
{
	char path[FS_PATH_BYTES_MAX];
	int err = lsm_path(path, sizeof(path), db->dir, number, "sst");
	struct vedit_file f = {.level = 0, .number = number};
	if (!err)
		err = build_table(db, m, path, &f, links);
	if (!err)
		err = version_edit_add_file(e, &f);
	struct sst_read_options ro = {.cache = db->cache, .file_number = number};
	if (!err)
		err = sst_open(reader, db->fs, path, &ro, NULL);
	if (err)
		env_fs_remove(db->fs, path); /* best effort: an orphan otherwise */
	return err;
}

void lsm_flush_imm_locked(struct lsm *db)
{
	struct lsm_mem *imm = db->imm;
	uint64_t number = manifest_new_file_number(db->man);
	env_mutex_unlock(&db->mu);
	struct version_edit e;
	version_edit_init(&e);
	struct sst_reader *r = NULL;
	struct lsm_blob_tallies links = {0};
	int err = lsm_flush_write_table(db, imm, number, &e, &r, &links);
	env_mutex_lock(&db->mu);
	if (!err) {
		version_edit_set_log_number(&e, db->mem->log_number);
		version_edit_set_last_seq(&e, db->last_seq);
		err = lsm_blob_flush_edit_locked(db, &links, imm->log_number, &e);
	}
	if (!err)
		err = lsm_blob_deletes_locked(db, &e);
	if (!err)
		err = manifest_log_and_apply(db->man, &e);
	if (!err)
		lsm_blob_installed_locked(db, &e, imm->log_number);
	lsm_blob_tallies_deinit(&links);
	if (!err && (err = lsm_table_add_locked(db, number, r)) == 0)
		r = NULL;
	uint64_t table_bytes = e.add_count ? e.adds[0].size : 0;
	version_edit_deinit(&e);
	if (r) { /* built, not installed: the manifest refused the edit */
		sst_close(r);
		char path[FS_PATH_BYTES_MAX];
		if (lsm_path(path, sizeof(path), db->dir, number, "sst") == 0)
			env_fs_remove(db->fs, path); /* best effort: an orphan otherwise */
	}
	if (err) {
		lsm_bg_failed_locked(db, err);
		return;
	}
	db->bg_nospace = false;
	if (db->imm_unlogged) { /* the records lost with a WAL are in a table now */
		db->imm_unlogged = false;
		if (!db->mem_unlogged) {
			db->synced_seq = db->last_seq;
			db->lost_lo = db->lost_hi = 0;
		}
	}
	uint64_t old_log = imm->log_number;
	lsm_count(&db->stats.flushes, 1); /* before imm clears: lsm_flush then sees it */
	lsm_count(&db->stats.flush_bytes, table_bytes);
	db->imm = NULL;
	lsm_mem_unref_locked(db, imm);
	env_cond_broadcast(&db->cv);
	env_mutex_unlock(&db->mu);
	char path[FS_PATH_BYTES_MAX];
	if (lsm_path(path, sizeof(path), db->dir, old_log, "log") == 0)
		env_fs_remove(db->fs, path); /* best effort: below the log number, an orphan */
	env_mutex_lock(&db->mu);
}

void lsm_bg_failed_locked(struct lsm *db, int err)
{
	if (err == ERR_NOSPACE && !manifest_failed(db->man)) {
		db->bg_nospace = true;
		db->bg_nospace_count++;
		db->bg_retry_ns = env_mono_ns() + LSM_NOSPACE_RETRY_MS * 1000000ull;
	} else if (!db->failed) {
		db->failed = err;
	}
	env_cond_broadcast(&db->cv);
}

int lsm_wait_imm_locked(struct lsm *db)
{
	struct lsm_mem *imm = db->imm;
	if (!imm)
		return db->failed;
	imm->refs++; /* so that a new memtable cannot take its address */
	uint64_t failures = db->bg_nospace_count;
	db->bg_retry_ns = 0; /* asked for: no backoff */
	env_cond_broadcast(&db->cv);
	while (db->imm == imm && !db->failed && db->bg_nospace_count == failures)
		env_cond_wait(&db->cv, &db->mu);
	int err = db->failed ? db->failed : db->imm == imm ? ERR_NOSPACE : 0;
	lsm_mem_unref_locked(db, imm);
	return err;
}

static_assert(LSM_L0_STOP_TRIGGER >= LSM_L0_COMPACTION_TRIGGER_MAX, "a full L0 is due");

/* Background priority. On a CPU shared with request threads, a flush
 * or compaction at the same priority holds the CPU for a scheduler slice
 * whenever a request thread wakes: with the whole server on one CPU that
 * was a p99 of ~4 ms for SET at pipeline 1 (0.6 ms at nice 19). At nice
 * 19 the thread still gets every idle moment, but a saturated request
 * thread would starve it until writes stall behind L0 (p99 of 1 KiB SETs
 * at pipeline 16 went from 21 to 70-130 ms). So it runs at
 * opt.background_nice only while it keeps up, and at nice 0 while a
 * flush is pending with the next memtable 7/8 full already (a write
 * stall is near) or L0 holds LSM_L0_COMPACTION_TRIGGER_MAX tables
 * (docs/storage.md; boosting from half full instead cost 1 KiB SETs at
 * pipeline 1 most of the gain, and gained nothing at 16). Going back to
 * 0 needs CAP_SYS_NICE or RLIMIT_NICE >= 20; bg_priority_init probes it
 * and, where it is refused, leaves the thread at normal priority. */
static void bg_priority_init(struct lsm *db)
{
	db->bg_nice = 0;
	db->bg_nice_ok = db->opt.background_nice > 0 && env_thread_set_nice(1) == 0 &&
	    env_thread_set_nice(0) == 0;
	if (db->opt.background_nice > 0 && !db->bg_nice_ok && env_thread_set_nice(0) != 0)
		db->bg_nice = 1; /* the probe's 1 stuck: harmless */
}

void lsm_bg_priority_locked(struct lsm *db)
{
	if (!db->bg_nice_ok)
		return;
	bool behind = (db->imm && lsm_mem_full_locked(db, 8)) ||
	    version_file_count(manifest_current(db->man), 0) >= LSM_L0_COMPACTION_TRIGGER_MAX;
	int want = behind ? 0 : db->opt.background_nice;
	if (want != db->bg_nice && env_thread_set_nice(want) == 0) {
		db->bg_nice = want;
		lsm_count(&db->stats.bg_priority_changes, 1);
	}
}

void *lsm_flush_main(void *arg)
{
	struct lsm *db = arg;
	bg_priority_init(db);
	env_mutex_lock(&db->mu);
	while (!db->stop) {
		lsm_bg_priority_locked(db);
		/* Flushes first: a write may be stalled behind db->imm; but not
		 * past LSM_L0_STOP_TRIGGER L0 tables, where L0 must be compacted
		 * first (writes stall behind db->imm meanwhile), or a writer as
		 * fast as the flush would starve compaction and grow L0 without
		 * bound. Past the stop trigger an L0 compaction is always due.
		 * After running out of space, neither runs before bg_retry_ns
		 * (removing obsolete tables, which frees space, still does). */
		bool l0_full = version_file_count(manifest_current(db->man), 0) >=
		    LSM_L0_STOP_TRIGGER;
		uint64_t now = env_mono_ns();
		bool backoff = now < db->bg_retry_ns;
		if (db->imm && !db->failed && !l0_full && !backoff)
			lsm_flush_imm_locked(db);
		else if ((db->obsolete_count || db->obsolete_blob_count) && db->readers == 0)
			lsm_remove_obsolete_locked(db);
		else if (backoff && !db->failed)
			env_cond_timedwait_ms(&db->cv, &db->mu, (db->bg_retry_ns - now) / 1000000u + 1);
		else if ((db->failed || !lsm_compact_locked(db)) && !db->stop)
			env_cond_wait(&db->cv, &db->mu); /* a compaction cut short by stop: exit */
	}
	env_mutex_unlock(&db->mu);
	return NULL;
}
