/*
 * lsm_write.c - the write path: batches, group commit, memtable rotation.
 *
 * A writer validates its batch, joins the queue under mu and waits until
 * it is done or at the head. The head is the leader: it makes room
 * (rotating a full memtable, stalling while the previous one is still
 * being flushed), takes the queued batches up to LSM_GROUP_COMMIT_BYTES_MAX
 * and, with mu released, writes large values to the blob file and syncs
 * it, appends one WAL record per batch, syncs the WAL once (sync=always),
 * and inserts the entries into the memtable. It then publishes the new
 * last sequence (readers see the whole group at once) and wakes the group.
 * Blob records are synced before any WAL record that points to them, even
 * with sync=none: a replayed pointer must never name lost bytes.
 *
 * sync=everysec: the leader only appends and marks the WAL dirty. The
 * syncer thread wakes every sync_interval_ms and, if the WAL is dirty,
 * queues a request like any writer. The leader that takes it only
 * prepares a sync job (sync_prepare_locked): it hands the staged WAL
 * records to the env (the WAL's buffer is the leader's alone), notes the
 * last published sequence and the files to sync, and sets syncing. The
 * syncer then fsyncs the blob file and the WAL outside the queue, with mu
 * released (sync_run), while the next groups append: an fsync makes
 * durable what was handed to the env before it, so the job's sequence is
 * durable after it whatever was appended meanwhile, and synced_seq moves
 * to it. The leader closes no file while syncing is set (wait_sync_locked:
 * rotation, a blob file's roll-over or checkpoint cut, a retired WAL).
 * Until 2026-11 the leader ran the fsync itself, in the queue, and every
 * writer waited behind it: 5-15 ms each second with 64 B SETs at 100k/s,
 * 10-50 ms with 1 KiB values, which was the p99 of SET at pipeline 1
 * (docs/benchmarks.md). A record appended after the job's sequence may
 * reach the disk before its blob record does; recovery stops at such a
 * record (lsm.c, replay), as it does after the OS wrote a WAL page back on
 * its own. The flush thread is not used as the syncer because a writer
 * stalled behind the flush would then block the sync request and the
 * flush at once.
 *
 * A full disk. An append to the WAL or a blob file that fails with
 * ERR_NOSPACE (never returned for a failed fsync: wal.h, blob.h) does not
 * fail the store. States and moves (all under mu):
 *   normal --(a group's append runs out of space)--> wal_lost: the group's
 *     writers get ERR_NOSPACE and nothing of it is applied; the WAL is cut
 *     back to where the group began and synced (wal_abandon), so no byte
 *     of the group is ever replayed, and never appended to again. In
 *     staged mode the cut may also take staged records of earlier groups
 *     that never reached the file: those are applied already, so
 *     mem_unlogged is set, and lsm_wal_flush_range reports ERR_NOSPACE
 *     to every caller whose records are among them.
 *   normal --(a hand-over of staged records runs out of space: lsm_wal_flush,
 *     the syncer, a rotation)--> wal_lost + mem_unlogged: the file keeps
 *     what reached it (a partial last record is a torn tail) and is synced.
 *   wal_lost --(a write: make_room_locked)--> normal: with an empty
 *     memtable only the WAL is replaced (swap_wal_locked); otherwise the
 *     memtable is rotated (needs db->imm == NULL: only one immutable
 *     memtable). Opening the new WAL may fail with ERR_NOSPACE again:
 *     that write fails at once and the state stays. mem_unlogged moves
 *     to imm_unlogged with the memtable.
 *   imm_unlogged --(the flush of that memtable)--> normal. Until then no
 *     write is accepted (a write waits for the flush as in a stall, or
 *     gets ERR_NOSPACE at once while the flush is backing off after
 *     running out of space), so that a crash never keeps a later write
 *     while losing unlogged ones: what survives is still a prefix.
 * A write that needs the previous memtable flushed waits as in a stall,
 * and gets ERR_NOSPACE rather than ERR_AGAIN (at once) when that flush has
 * run out of space (lsm_flush.c retries it every LSM_NOSPACE_RETRY_MS). A
 * blob append that runs out of space fails its group the same way; the
 * blob file is closed where it is (its synced records stay readable) and
 * the next large value opens a new one. Any other error, and every failed
 * fsync, fails the store as before.
 */
#include <stdlib.h>

#include "base/assert.h"
#include "base/le.h"
#include "base/err.h"
#include "base/limits.h"
#include "engine/lsm_internal.h"
#include "env/fs.h"

/* Whether the memtable is full: at its byte limit or, if set, its entry
 * limit. Entries are what an insert pays for (a skip-list search misses
 * the cache about once per level), bytes what a flush and the levels
 * below pay for: with both, small values rotate before inserts slow down
 * and large ones fill big tables, so L0 takes fewer, larger flushes and
 * compaction rewrites L1 less often. mu held. */
bool lsm_mem_full_locked(const struct lsm *db, uint64_t slack_div)
{
	uint64_t bytes = db->opt.memtable_bytes, entries = db->opt.memtable_entries;
	if (slack_div) { /* nearly full: within 1/slack_div of a limit */
		bytes -= bytes / slack_div;
		entries -= entries / slack_div;
	}
	return memtable_bytes(&db->mem->mt) >= bytes ||
	    (db->opt.memtable_entries && memtable_entry_count(&db->mem->mt) >= entries);
}

/* sync=everysec: once per memtable, when it is nearly full, wakes the
 * syncer for an early sync (lsm_internal.h, sync_soon). The rotation syncs
 * the WAL with every writer waiting; after this, it syncs only what came
 * in since (an eighth of a memtable at most, often less), instead of up to
 * a second of writes. mu held. */
static void ask_presync_locked(struct lsm *db)
{
	if (db->opt.sync != LSM_SYNC_EVERYSEC || db->presync_asked || !lsm_mem_full_locked(db, 8))
		return;
	db->presync_asked = true;
	db->sync_soon = true;
	env_cond_broadcast(&db->cv);
}

/* Waits for the syncer's fsyncs in flight (top); mu held. */
static void wait_sync_locked(struct lsm *db)
{
	while (db->syncing)
		env_cond_wait(&db->cv, &db->mu);
}

static bool is_blob(const struct lsm *db, const struct lsm_op *op, struct bytes *value,
                    int64_t *expire_ms)
{
	if (op->kind != IKEY_KIND_PUT || !vrec_decode(op->value_record, expire_ms, value))
		return false;
	return value->len >= db->opt.blob_threshold;
}

/* Checks a batch before it queues; *record_bytes is its WAL record,
 * *user_bytes its keys and value records (lsm_stats). */
static int validate(const struct lsm *db, const struct lsm_batch *b, size_t *record_bytes,
                    uint64_t *user_bytes)
{
	uint64_t user = 0;
	if (b->count > LSM_BATCH_ENTRIES_MAX)
		return ERR_LIMIT;
	size_t n = LSM_RECORD_HEADER_BYTES;
	for (size_t i = 0; i < b->count; i++) {
		const struct lsm_op *op = &b->ops[i];
		struct bytes v;
		int64_t exp;
		if (op->key.len > KEY_BYTES_MAX || op->value_record.len > VALUE_BYTES_MAX + 9)
			return ERR_LIMIT;
		if (op->kind == IKEY_KIND_DELETE
		        ? op->value_record.len != 0
		        : op->kind != IKEY_KIND_PUT || !vrec_decode(op->value_record, &exp, &v))
			return ERR_INVALID;
		size_t vlen =
		    is_blob(db, op, &v, &exp) ? 9 + BLOB_POINTER_BYTES_MAX : op->value_record.len;
		n += LSM_ENTRY_HEADER_BYTES + op->key.len + vlen;
		user += op->key.len + op->value_record.len;
	}
	if (n > WAL_RECORD_BYTES_DEFAULT)
		return ERR_LIMIT;
	*record_bytes = n;
	*user_bytes = user;
	return 0;
}

/* Opens a new blob file, or rolls over past opt.blob_file_bytes. Leader.
 * A file left behind is done (lsm_blob.c): sealed once its memtables are
 * flushed. */
static int blob_ready(struct lsm *db)
{
	if (db->blob_open && blob_writer_bytes(&db->blob) < db->opt.blob_file_bytes)
		return 0;
	if (db->blob_open) {
		env_mutex_lock(&db->mu);
		wait_sync_locked(db); /* the syncer may be syncing it */
		env_mutex_unlock(&db->mu);
		db->blob_open = false;
		uint64_t done = db->blob.file_number;
		int err = blob_writer_finish(&db->blob);
		env_mutex_lock(&db->mu);
		int derr = lsm_blob_done_locked(db, done);
		env_mutex_unlock(&db->mu);
		if (err || derr)
			return err ? err : derr;
	}
	env_mutex_lock(&db->mu);
	uint64_t number = manifest_new_file_number(db->man);
	uint64_t salt = env_rng_next(&db->rng);
	env_mutex_unlock(&db->mu);
	char path[FS_PATH_BYTES_MAX];
	int err = lsm_path(path, sizeof(path), db->dir, number, "blob");
	if (!err && (err = blob_writer_open(&db->blob, db->fs, path, number, salt)) == 0)
		db->blob_open = true;
	return err;
}

/* Appends the entry of op to scratch, moving a large value to the blob
 * file first. *blobbed is set when a blob record was written. */
static int encode_op(struct lsm *db, const struct lsm_op *op, bool *blobbed)
{
	struct bytes v, rec = op->value_record;
	int64_t exp;
	uint8_t ptr_rec[9 + BLOB_POINTER_BYTES_MAX];
	enum ikey_kind kind = op->kind;
	if (is_blob(db, op, &v, &exp)) {
		struct blob_pointer bp;
		int err = blob_ready(db);
		uint64_t before = db->blob_open ? blob_writer_bytes(&db->blob) : 0;
		if (!err)
			err = blob_writer_add(&db->blob, op->key, v, &bp);
		if (err)
			return err;
		lsm_count(&db->stats.blob_bytes, blob_writer_bytes(&db->blob) - before);
		uint8_t enc[BLOB_POINTER_BYTES_MAX];
		size_t n = blob_pointer_encode(enc, &bp);
		rec = bytes_make(ptr_rec, vrec_encode(ptr_rec, exp, bytes_make(enc, n)));
		kind = IKEY_KIND_BLOB;
		*blobbed = true;
	}
	int err =
	    buf_reserve(&db->scratch, LSM_ENTRY_HEADER_BYTES + op->key.len + rec.len, SIZE_MAX / 2);
	if (err)
		return err;
	uint8_t h[LSM_ENTRY_HEADER_BYTES];
	h[0] = (uint8_t)kind;
	le_put32(h + 1, (uint32_t)op->key.len);
	le_put32(h + 5, (uint32_t)rec.len);
	buf_put(&db->scratch, h, sizeof(h));
	buf_put(&db->scratch, op->key.ptr, op->key.len);
	buf_put(&db->scratch, rec.ptr, rec.len);
	return 0;
}

/* Encodes the group [first, last] into scratch; recs gets each record's
 * length. seq is the first sequence of the group. */
static int encode_group(struct lsm *db, struct lsm_writer *first, struct lsm_writer *last,
                        uint64_t seq, bool *blobbed)
{
	db->scratch.len = 0;
	db->recs.len = 0;
	for (struct lsm_writer *w = first;; w = w->next) {
		size_t start = db->scratch.len;
		int err = buf_reserve(&db->scratch, LSM_RECORD_HEADER_BYTES, SIZE_MAX / 2);
		if (!err)
			err = buf_reserve(&db->recs, sizeof(size_t), SIZE_MAX / 2);
		if (err)
			return err;
		uint8_t h[LSM_RECORD_HEADER_BYTES];
		le_put64(h, seq);
		le_put32(h + 8, (uint32_t)w->batch->count);
		buf_put(&db->scratch, h, sizeof(h));
		for (size_t i = 0; i < w->batch->count; i++)
			if ((err = encode_op(db, &w->batch->ops[i], blobbed)))
				return err;
		size_t len = db->scratch.len - start;
		buf_put(&db->recs, &len, sizeof(len));
		seq += w->batch->count;
		if (w == last)
			return 0;
	}
}

/* What a group that ran out of space did to the WAL (lead_locked). */
struct group_loss {
	bool wal_lost; /* the WAL was cut back and retired */
	bool unlogged; /* staged records of earlier groups went with the cut */
};

/* After ERR_NOSPACE in a group (mu released): closes a failed blob file
 * and, if the WAL's append failed, cuts it back to start (the group's
 * first byte) and retires it. 0 (the group just fails), or the error of
 * the cut, which fails the store. */
static int group_out_of_space(struct lsm *db, uint64_t start, struct group_loss *loss)
{
	if (db->blob_open && blob_writer_failed(&db->blob)) {
		env_mutex_lock(&db->mu);
		wait_sync_locked(db);
		env_mutex_unlock(&db->mu);
		db->blob_open = false;
		blob_writer_close(&db->blob); /* no footer: reads as unfinished */
		env_mutex_lock(&db->mu);
		(void)lsm_blob_done_locked(db, db->blob.file_number); /* else sealed at open */
		env_mutex_unlock(&db->mu);
	}
	if (!wal_failed(&db->wal))
		return 0; /* a blob ran out: the WAL holds nothing of the group */
	uint64_t size;
	int err = wal_abandon(&db->wal, start, &size);
	if (err)
		return err;
	loss->wal_lost = true;
	loss->unlogged = size < start;
	return 0;
}

/* The leader's I/O for a group, mu released. An error here fails the
 * store, except ERR_NOMEM before anything reached the WAL and ERR_NOSPACE
 * from an append (*loss says what it left). */
static int write_group(struct lsm *db, struct lsm_writer *first, struct lsm_writer *last,
                       uint64_t seq, struct group_loss *loss)
{
	bool blobbed = false;
	uint64_t start = wal_written_bytes(&db->wal);
	int err = encode_group(db, first, last, seq, &blobbed);
	/* A blob record is durable before the WAL record that points to it:
	 * with sync=always now; with everysec and none, the blob file is synced
	 * with the WAL, before it (sync_blob), and recovery stops at a WAL
	 * record whose blob did not reach its file (lsm.c, replay). */
	if (!err && blobbed && db->opt.sync == LSM_SYNC_ALWAYS)
		err = blob_writer_sync(&db->blob);
	else if (!err && blobbed)
		db->blob_dirty = true;
	size_t count = db->recs.len / sizeof(size_t), off = 0;
	uint64_t wal_before = wal_written_bytes(&db->wal);
	bool stage = db->opt.wal_staged && db->opt.sync != LSM_SYNC_ALWAYS;
	for (size_t i = 0; !err && i < count; i++) {
		size_t len;
		memcpy(&len, db->recs.data + i * sizeof(size_t), sizeof(len));
		struct bytes rec = bytes_make(db->scratch.data + off, len);
		err = stage ? wal_stage(&db->wal, &rec, 1) : wal_append(&db->wal, &rec, 1);
		off += len;
	}
	lsm_count(&db->stats.wal_bytes, wal_written_bytes(&db->wal) - wal_before);
	if (err == ERR_NOSPACE) {
		int cut = group_out_of_space(db, start, loss);
		buf_shrink(&db->scratch, 1 * MIB);
		return cut ? cut : err;
	}
	if (!err && db->opt.sync == LSM_SYNC_ALWAYS)
		err = lsm_wal_sync_counted(db);
	off = 0;
	uint64_t max_seq = 0;
	for (size_t i = 0; !err && i < count; i++) {
		size_t len;
		memcpy(&len, db->recs.data + i * sizeof(size_t), sizeof(len));
		err = lsm_record_apply(&db->mem->mt, bytes_make(db->scratch.data + off, len),
		                       &max_seq);
		off += len;
	}
	buf_shrink(&db->scratch, 1 * MIB);
	return err;
}

/* The current WAL was retired after running out of space (wal_abandon
 * done); mu held. unlogged: applied records went with it, and their
 * sequences become the lost range that lsm_wal_flush_range reports. */
static void wal_lost_locked(struct lsm *db, bool unlogged)
{
	db->wal_lost = true;
	db->wal_staged = false;
	db->wal_dirty = false; /* wal_abandon synced what the file holds */
	if (unlogged) {
		db->mem_unlogged = true;
		if (db->last_seq > db->handed_seq) { /* the staged records went with the cut */
			if (!db->lost_lo || db->handed_seq + 1 < db->lost_lo)
				db->lost_lo = db->handed_seq + 1;
			if (db->last_seq > db->lost_hi)
				db->lost_hi = db->last_seq;
		}
	} else if (db->last_seq > db->synced_seq && !db->mem_unlogged && !db->imm_unlogged) {
		db->synced_seq = db->last_seq; /* every applied record is in a synced log */
	}
}

/* Hands the staged records of the current WAL to the env (sync=none and
 * everysec); mu held, the leader's. A hand-over that runs out of space
 * retires the WAL (wal_lost_locked) and returns 0: the caller goes on as
 * if the WAL were lost before it came. Any other error fails the store. */
static int hand_over_locked(struct lsm *db)
{
	if (db->wal_lost || !db->wal_staged)
		return 0;
	db->wal_staged = false;
	int err = wal_flush(&db->wal);
	uint64_t size;
	if (!err)
		db->handed_seq = db->last_seq;
	else if (err == ERR_NOSPACE && (err = wal_abandon(&db->wal, UINT64_MAX, &size)) == 0)
		wal_lost_locked(db, true);
	if (err && !db->failed)
		db->failed = err;
	return err;
}

/* Replaces the memtable and its WAL; mu held. ERR_NOSPACE (the new WAL
 * could not be made) leaves everything as it was. */
/* Syncs the blob file if it has unsynced records (everysec, none); mu
 * held, the leader's, released for the fsync. A failure fails the store. */
static int sync_blob_locked(struct lsm *db)
{
	if (!db->blob_dirty || !db->blob_open)
		return db->failed;
	env_mutex_unlock(&db->mu);
	int err = blob_writer_sync(&db->blob);
	env_mutex_lock(&db->mu);
	if (!err)
		db->blob_dirty = false;
	else if (!db->failed)
		db->failed = err;
	return err;
}

static int rotate_locked(struct lsm *db)
{
	wait_sync_locked(db); /* it may be syncing the WAL closed below */
	/* The blob records of the memtable going to be flushed must be
	 * durable before its table is. */
	int err = sync_blob_locked(db);
	if (err)
		return err;
	err = hand_over_locked(db);
	if (err)
		return err;
	uint64_t number = manifest_new_file_number(db->man);
	struct wal w;
	if ((err = lsm_wal_open(db, &w, number)))
		return err;
	struct lsm_mem *m;
	if ((err = lsm_mem_create(db, number, &m))) {
		wal_close(&w);
		return err;
	}
	/* sync=none and everysec: the old log is made durable once here, so
	 * that a crash never keeps the new log's writes while losing the old
	 * one's tail (a retired log was synced when it was cut). */
	if (db->opt.sync != LSM_SYNC_ALWAYS && !db->wal_lost &&
	    (err = lsm_wal_sync_counted(db))) {
		wal_close(&w);
		lsm_mem_unref_locked(db, m);
		db->failed = err; /* whoever asked: a failed fsync is never retried */
		return err;
	}
	db->wal_dirty = false;
	if (!db->mem_unlogged && !db->imm_unlogged)
		db->synced_seq = db->last_seq;
	wal_close(&db->wal);
	db->wal = w;
	db->wal_lost = false;
	db->presync_asked = false;
	db->imm = db->mem;
	db->imm_unlogged = db->mem_unlogged;
	db->mem_unlogged = false;
	db->mem = m;
	env_cond_broadcast(&db->cv);
	return 0;
}

/* Leaves wal_lost with an empty memtable: only the WAL is replaced; mu
 * held. The retired WAL holds no applied record (an empty memtable has
 * none, and a failed group was cut off it), so it goes at once. */
static int swap_wal_locked(struct lsm *db)
{
	uint64_t number = manifest_new_file_number(db->man);
	struct wal w;
	int err = lsm_wal_open(db, &w, number);
	if (err)
		return err;
	uint64_t old = db->mem->log_number;
	wait_sync_locked(db);
	wal_close(&db->wal);
	db->wal = w;
	db->wal_lost = false;
	db->mem->log_number = number;
	char path[FS_PATH_BYTES_MAX];
	if (lsm_path(path, sizeof(path), db->dir, old, "log") == 0)
		env_fs_remove(db->fs, path); /* best effort: below the next log number, an orphan */
	return 0;
}

/* Makes room for a write (or, force, rotates a non-empty memtable), and
 * leaves the no-space state first if the store is in it (top); mu held.
 * Waits at most write_stall_ms for the previous flush, and not at all
 * while that flush backs off after running out of space (ERR_NOSPACE); a
 * write that waited counts as a stall (lsm_flush's forced rotation does
 * not). A failed rotation fails the store, except for ERR_NOSPACE and
 * ERR_NOMEM and for a checkpoint (keep_store), whose failure to open the
 * next WAL leaves the current one in use. */
static int make_room_locked(struct lsm *db, bool force, bool keep_store)
{
	uint64_t start = env_mono_ns();
	uint64_t deadline = start + db->opt.write_stall_ms * 1000000u;
	bool stalled = false;
	int err = 0;
	for (;;) {
		if (db->failed) {
			err = db->failed;
			break;
		}
		bool empty = memtable_entry_count(&db->mem->mt) == 0;
		bool full = force || lsm_mem_full_locked(db, 0);
		if (!db->imm_unlogged) {
			if (db->wal_lost && empty) {
				if ((err = swap_wal_locked(db)))
					break;
				continue;
			}
			if (!db->wal_lost && (empty || !full))
				break;
			if (!db->imm) {
				err = rotate_locked(db);
				if (err)
					break;
				if (db->imm_unlogged)
					continue; /* no write before its flush */
				break;
			}
		}
		if (db->bg_nospace) {
			err = ERR_NOSPACE; /* the flush ran out of space: fail fast */
			break;
		}
		uint64_t now = env_mono_ns();
		if (now >= deadline) {
			err = ERR_AGAIN;
			break;
		}
		stalled = !force;
		env_cond_timedwait_ms(&db->cv, &db->mu, (deadline - now) / 1000000u + 1);
	}
	if (err && err != ERR_NOSPACE && err != ERR_NOMEM && err != ERR_AGAIN && !keep_store &&
	    !db->failed)
		db->failed = err;
	if (stalled) {
		lsm_count(&db->stats.stalls, 1);
		lsm_count(&db->stats.stall_ms, (env_mono_ns() - start) / 1000000u);
	}
	return err;
}

/* The syncer's request (sync=everysec; top): if the WAL has appends since
 * its last sync, hands its staged records to the env and fills job with
 * what the syncer is to fsync; job->wal stays NULL when there is nothing
 * to sync. mu held, the leader's. A failed hand-over fails the store as
 * hand_over_locked says. */
static int sync_prepare_locked(struct lsm *db, struct lsm_sync_job *job)
{
	ASSERT(!db->syncing);
	if (db->failed || db->wal_lost || !db->wal_dirty)
		return db->failed;
	int err = hand_over_locked(db); /* alone: ERR_NOSPACE is no fsync's */
	if (err || db->wal_lost)
		return err;
	job->seq = db->last_seq; /* every record up to it is in the env */
	job->wal = wal_file(&db->wal);
	job->blob = db->blob_dirty && db->blob_open ? blob_writer_file(&db->blob) : NULL;
	db->blob_dirty = false;
	db->wal_dirty = false;
	db->syncing = true;
	return 0;
}

/* The syncer runs a prepared job: the blob file first (a WAL record must
 * not be durable before its blob record: write_group), then the WAL, with
 * mu released; then, under mu, moves synced_seq and clears syncing. A
 * failed fsync fails the store: nobody knows what reached the disk
 * (STYLE.md section 4), and it is never retried. */
static void sync_run(struct lsm *db, const struct lsm_sync_job *job)
{
	int err = 0;
	if (job->blob)
		err = env_fs_sync(db->fs, job->blob);
	uint64_t t0 = env_mono_ns();
	if (!err)
		err = env_fs_sync(db->fs, job->wal);
	uint64_t ns = env_mono_ns() - t0;
	env_mutex_lock(&db->mu);
	lsm_count_wal_sync(db, ns);
	if (err && !db->failed) /* ERR_IO even for ENOSPC: wal.h, sync_err */
		db->failed = err == ERR_NOSPACE ? ERR_IO : err;
	if (!err && job->seq > db->synced_seq && !db->mem_unlogged && !db->imm_unlogged)
		db->synced_seq = job->seq;
	db->syncing = false;
	env_cond_broadcast(&db->cv);
	env_mutex_unlock(&db->mu);
}

/* A checkpoint's cut (lsm_internal.h); mu held, released for the blob
 * file's footer. The blob file is finished even when it is small, so that
 * every blob file the checkpoint links is immutable; the next large value
 * opens a new one. A failed finish does not fail the store: every record
 * of the file was synced before the WAL record pointing to it, and a file
 * without a valid footer reads as unfinished. */
static int cut_locked(struct lsm *db, struct lsm_ckpt_cut *cut)
{
	int err = cut->rotate ? make_room_locked(db, true, true) : db->failed;
	if (!err && db->blob_open) {
		wait_sync_locked(db);
		db->blob_open = false;
		env_mutex_unlock(&db->mu);
		err = blob_writer_finish(&db->blob);
		env_mutex_lock(&db->mu);
		int derr = lsm_blob_done_locked(db, db->blob.file_number);
		err = err ? err : derr;
	}
	if (err)
		return err;
	cut->seq = db->last_seq;
	cut->blob_max = manifest_next_file(db->man) - 1;
	cut->imm = cut->rotate ? db->imm : NULL;
	if (cut->imm)
		cut->imm->refs++;
	return 0;
}

/* lsm_wal_flush's request: hands the staged WAL records to the env; mu
 * held, released for the write. A failure fails the store, except
 * ERR_NOSPACE, which retires the WAL (top) and is returned to this
 * caller, whose turn's records went with it. */
static int flush_wal_locked(struct lsm *db)
{
	if (db->failed || db->wal_lost || !db->wal_staged)
		return db->failed;
	db->wal_staged = false;
	uint64_t upto = db->last_seq; /* the leader's: nothing is staged meanwhile */
	env_mutex_unlock(&db->mu);
	int err = wal_flush(&db->wal);
	uint64_t size;
	bool lost = err == ERR_NOSPACE;
	if (lost)
		err = wal_abandon(&db->wal, UINT64_MAX, &size);
	env_mutex_lock(&db->mu);
	if (!err && !lost)
		db->handed_seq = upto;
	if (lost && !err) {
		wal_lost_locked(db, true);
		return ERR_NOSPACE;
	}
	if (err && !db->failed)
		db->failed = err;
	return err;
}

/* Leads the group starting at w; mu held. */
static void lead_locked(struct lsm *db, struct lsm_writer *w)
{
	int err = w->sync  ? sync_prepare_locked(db, w->sync)
	    : w->wal_flush ? flush_wal_locked(db)
	    : w->cut       ? cut_locked(db, w->cut)
	                   : make_room_locked(db, w->batch == NULL, false);
	struct lsm_writer *last = w;
	if (!err && w->batch) {
		size_t bytes = 0;
		while (last->next && last->next->batch && bytes < LSM_GROUP_COMMIT_BYTES_MAX) {
			last = last->next;
			for (size_t i = 0; i < last->batch->count; i++)
				bytes += last->batch->ops[i].key.len +
				    last->batch->ops[i].value_record.len;
		}
		uint64_t seq = db->last_seq + 1, n = 0, user_bytes = 0;
		for (struct lsm_writer *x = w;; x = x->next) {
			n += x->batch->count;
			user_bytes += x->user_bytes;
			if (x == last)
				break;
		}
		env_mutex_unlock(&db->mu);
		struct group_loss loss = {0};
		err = write_group(db, w, last, seq, &loss);
		env_mutex_lock(&db->mu);
		if (err == ERR_NOSPACE && loss.wal_lost)
			wal_lost_locked(db, loss.unlogged);
		else if (err && err != ERR_NOSPACE && !db->failed)
			db->failed = err;
		if (!err) {
			lsm_count(&db->stats.user_bytes, user_bytes);
			db->last_seq = seq + n - 1;
			if (db->opt.sync == LSM_SYNC_ALWAYS) {
				db->synced_seq = db->last_seq;
			} else {
				db->wal_dirty = true;
				db->wal_staged = db->opt.wal_staged;
			}
			if (!db->wal_staged)
				db->handed_seq = db->last_seq;
			ask_presync_locked(db);
		}
		for (struct lsm_writer *x = w;; x = x->next) { /* each batch's sequences */
			x->first_seq = seq;
			x->last_seq = seq + x->batch->count - 1;
			seq += x->batch->count;
			if (x == last)
				break;
		}
	}
	for (struct lsm_writer *x = w;; x = x->next) {
		x->err = err;
		x->done = true;
		if (x == last)
			break;
	}
	db->head = last->next;
	if (!db->head)
		db->tail = NULL;
	/* Only writers wait for the queue: waking the background threads on
	 * every write cost two context switches per write. */
	env_cond_broadcast(&db->wcv);
}

/* Queues w and waits until it is done, leading its group if it gets to
 * the head first. */
static int submit_writer(struct lsm *db, struct lsm_writer *w)
{
	env_mutex_lock(&db->mu);
	if (db->tail)
		db->tail->next = w;
	else
		db->head = w;
	db->tail = w;
	while (!w->done && db->head != w)
		env_cond_wait(&db->wcv, &db->mu);
	if (!w->done)
		lead_locked(db, w);
	env_mutex_unlock(&db->mu);
	return w->err;
}

static int submit(struct lsm *db, const struct lsm_batch *batch, uint64_t user_bytes)
{
	struct lsm_writer w = {.batch = batch, .user_bytes = user_bytes};
	return submit_writer(db, &w);
}

int lsm_checkpoint_cut(struct lsm *db, struct lsm_ckpt_cut *cut)
{
	struct lsm_writer w = {.cut = cut};
	return submit_writer(db, &w);
}

int lsm_write_seq(struct lsm *db, const struct lsm_batch *batch, uint64_t *first_seq,
                  uint64_t *last_seq)
{
	size_t record_bytes;
	uint64_t user_bytes;
	*first_seq = *last_seq = 0;
	int err = validate(db, batch, &record_bytes, &user_bytes);
	if (err || batch->count == 0)
		return err;
	struct lsm_writer w = {.batch = batch, .user_bytes = user_bytes};
	err = submit_writer(db, &w);
	if (!err) {
		*first_seq = w.first_seq;
		*last_seq = w.last_seq;
	}
	return err;
}

int lsm_write(struct lsm *db, const struct lsm_batch *batch)
{
	uint64_t first, last;
	return lsm_write_seq(db, batch, &first, &last);
}

int lsm_wal_flush_range(struct lsm *db, uint64_t first_seq, uint64_t last_seq)
{
	if (last_seq == 0) /* no record of the caller's: nothing to hand over */
		return lsm_failed(db);
	env_mutex_lock(&db->mu);
	int err = db->failed;
	/* Records of the caller's that a failed hand-over (anyone's: with
	 * several event loops, not necessarily this caller's) lost from the
	 * WAL: their outcome is unknown until their memtable reaches a table,
	 * and the caller must say so rather than report them done. */
	if (!err && db->lost_hi && first_seq <= db->lost_hi && last_seq >= db->lost_lo)
		err = ERR_NOSPACE;
	bool staged = db->wal_staged && !err && last_seq > db->handed_seq;
	env_mutex_unlock(&db->mu);
	if (!staged)
		return err;
	struct lsm_writer w = {.wal_flush = true};
	err = submit_writer(db, &w);
	if (err == 0) { /* the hand-over may have come too late for ours */
		env_mutex_lock(&db->mu);
		if (db->lost_hi && first_seq <= db->lost_hi && last_seq >= db->lost_lo)
			err = ERR_NOSPACE;
		env_mutex_unlock(&db->mu);
	}
	return err;
}

int lsm_wal_flush(struct lsm *db)
{
	return lsm_wal_flush_range(db, 1, UINT64_MAX);
}

int lsm_flush(struct lsm *db)
{
	/* A pending immutable memtable first, so that its flush is retried
	 * now even if it backs off after running out of space. */
	env_mutex_lock(&db->mu);
	int err = lsm_wait_imm_locked(db);
	env_mutex_unlock(&db->mu);
	if (!err)
		err = submit(db, NULL, 0);
	env_mutex_lock(&db->mu);
	if (!err)
		err = lsm_wait_imm_locked(db);
	env_mutex_unlock(&db->mu);
	return err;
}

/* Wakes every sync_interval_ms (a timed wait on cv, which other events
 * also signal: the deadline is kept), or early when asked (sync_soon),
 * and, when the WAL has unsynced appends, has the leader prepare a sync
 * job and runs it (top). Stops with db->stop. */
void *lsm_sync_main(void *arg)
{
	struct lsm *db = arg;
	uint64_t interval_ns = db->opt.sync_interval_ms * 1000000u;
	env_mutex_lock(&db->mu);
	uint64_t next = env_mono_ns() + interval_ns;
	while (!db->stop) {
		uint64_t now = env_mono_ns();
		if (now < next && !db->sync_soon) {
			env_cond_timedwait_ms(&db->cv, &db->mu, (next - now) / 1000000u + 1);
			continue;
		}
		db->sync_soon = false;
		next = now + interval_ns;
		if (db->wal_dirty && !db->failed) {
			env_mutex_unlock(&db->mu);
			struct lsm_sync_job job = {0};
			struct lsm_writer w = {.sync = &job};
			/* A failure is kept in db->failed. */
			if (submit_writer(db, &w) == 0 && job.wal)
				sync_run(db, &job);
			env_mutex_lock(&db->mu);
		}
	}
	env_mutex_unlock(&db->mu);
	return NULL;
}
