/*
 * lsm_internal.h - state shared by lsm.c (open, close, recovery),
 * lsm_write.c (group commit), lsm_read.c (get), lsm_flush.c (the flush
 * thread) and lsm_checkpoint.c. Not part of the engine's interface.
 *
 * Locking: db->mu guards every field below marked (mu), the manifest and
 * its versions, and the table list. The group-commit leader alone touches
 * the WAL, the blob writer, the scratch buffers and inserts into db->mem,
 * with mu released; only the leader replaces db->mem (under mu), so the
 * memtable it writes cannot change under it. The flush thread reads
 * db->imm without mu: nobody writes an immutable memtable.
 */
#ifndef RINGKV_ENGINE_LSM_INTERNAL_H
#define RINGKV_ENGINE_LSM_INTERNAL_H

#include <stdatomic.h>

#include "base/buf.h"
#include "base/histogram.h"
#include "engine/blob.h"
#include "engine/cache.h"
#include "engine/lsm.h"
#include "engine/manifest.h"
#include "engine/memtable.h"
#include "engine/sst.h"
#include "engine/wal.h"
#include "env/env.h"

/* WAL record of one batch: u64 base_seq | u32 count | count entries of
 * u8 kind | u32 key_len | u32 vrec_len | key | value record, integers
 * little-endian; entry i has sequence base_seq + i. */
#define LSM_RECORD_HEADER_BYTES 12
#define LSM_ENTRY_HEADER_BYTES  9

/* A memtable shared by the store and the readers that looked into it. */
struct lsm_mem {
	struct memtable mt;
	uint64_t log_number; /* the WAL that holds its entries */
	uint32_t refs;       /* (mu) */
};

/* An open table. Gets share its reader (sst_get is safe from several
 * threads at once); iterators and compactions open their own. */
struct lsm_table {
	uint64_t number;
	struct sst_reader *reader;
};

/* A checkpoint's cut, made by the group-commit leader between two groups
 * (lsm_checkpoint.c): with rotate, the memtable is rotated (if it holds
 * anything); the blob file being appended is finished either way. */
struct lsm_ckpt_cut {
	bool rotate;
	uint64_t seq;        /* out: the last sequence published at the cut */
	uint64_t blob_max;   /* out: every blob file numbered at or below is finished */
	struct lsm_mem *imm; /* out, with rotate: referenced; its flush holds seq;
	                      * NULL: seq is flushed already */
};

/* The syncer's sync (sync=everysec; lsm_write.c, top), prepared by the
 * leader in the queue and run by the syncer outside it: the files to
 * fsync (blob first, may be NULL) and the last sequence they then hold. */
struct lsm_sync_job {
	struct env_file *wal, *blob;
	uint64_t seq;
};

/* A writer waiting in the group-commit queue. batch NULL: lsm_flush's
 * request to rotate the memtable, with sync the syncer's request to
 * prepare a sync job (sync=everysec), with cut a checkpoint's cut. */
struct lsm_writer {
	const struct lsm_batch *batch;
	struct lsm_sync_job *sync;
	bool wal_flush; /* lsm_wal_flush's request (opt.wal_staged) */
	struct lsm_ckpt_cut *cut;
	struct lsm_writer *next;
	uint64_t user_bytes; /* keys + value records of batch, for lsm_stats */
	uint64_t first_seq, last_seq; /* the batch's sequences, once done */
	int err;
	bool done;
};

/* The counters of lsm_stats, bumped where the work happens (lsm_write.c:
 * the leader; lsm_flush.c, lsm_compact.c: the background thread) and read
 * by lsm_stats without their locks: relaxed atomics, no ordering needed
 * beyond what mu already gives a caller that waited for the work.
 * wal_sync_ns has one writer at a time, as hist_record asks: the leader
 * (with mu held, or with sync=always, where there is no syncer) and the
 * syncer (with mu held). */
struct lsm_counters {
	atomic_uint_fast64_t user_bytes, wal_bytes, blob_bytes, wal_syncs;
	atomic_uint_fast64_t blob_gc_bytes, blob_reclaimed_bytes; /* lsm_blob.c, lsm_compact.c */
	atomic_uint_fast64_t flushes, flush_bytes;
	atomic_uint_fast64_t compactions, compaction_read_bytes, compaction_write_bytes;
	atomic_uint_fast64_t stalls, stall_ms;
	atomic_uint_fast64_t bg_priority_changes; /* lsm_flush.c */
	struct hist wal_sync_ns;
};

static inline void lsm_count(atomic_uint_fast64_t *c, uint64_t n)
{
	atomic_fetch_add_explicit(c, n, memory_order_relaxed);
}

struct lsm {
	struct env_fs *fs;
	char *dir;
	struct lsm_options opt;
	struct env_mutex mu;
	struct env_cond cv;  /* any change of state: imm, failed, stop (background threads) */
	struct env_cond wcv; /* the writer queue moved: a group done, a new head */
	struct manifest *man;
	struct cache *cache;
	struct lsm_mem *mem, *imm;           /* (mu) to replace; see above */
	uint64_t last_seq;                   /* (mu) newest sequence visible to readers */
	int failed;                          /* (mu) */
	bool stop;                           /* (mu) */
	struct lsm_writer *head, *tail;      /* (mu) */
	struct lsm_table **tables;           /* (mu) sorted by number */
	size_t table_count, table_cap;       /* (mu) */
	struct env_rng rng;                  /* (mu) */
	uint32_t readers;                    /* (mu) gets and iterators holding a snapshot */
	uint64_t *obsolete;                  /* (mu) tables compacted away, still on disk */
	size_t obsolete_count, obsolete_cap; /* (mu) */
	bool removing;                       /* (mu) obsolete tables being removed, mu released */
	uint64_t *obsolete_blobs;            /* (mu) blob files deleted from the version, on disk */
	size_t obsolete_blob_count, obsolete_blob_cap; /* (mu) */
	/* (mu) Blob files nobody appends to any more, not yet sealed: each
	 * with the log number of the memtable that was current when it was
	 * done (lsm_blob.c, top). */
	struct lsm_blob_done *blobs_done;
	size_t blobs_done_count, blobs_done_cap;
	struct buf compact_ptr[LSM_LEVELS];  /* background thread: round-robin */
	uint64_t synced_seq;                 /* (mu) see lsm_synced_seq */
	/* (mu) The syncer's fsyncs run, mu released and outside the queue:
	 * the leader closes no WAL or blob file until it clears (cv). */
	bool syncing;
	/* (mu) sync_soon: the memtable is nearly full, and the syncer is to
	 * sync now rather than at its next tick, so that the rotation's own
	 * sync, which every writer waits for, finds little left to write;
	 * presync_asked: sync_soon was set for the current memtable. */
	bool sync_soon, presync_asked;
	bool wal_dirty;                      /* (mu) appends since the last WAL sync */
	bool wal_staged;                     /* (mu) records staged, not handed to the env */
	/* The no-space state (lsm_write.c, top). wal_lost: an append to the
	 * current WAL ran out of space; it was cut and synced and is never
	 * appended to again, and the next write must start a new one first.
	 * mem_unlogged, imm_unlogged: that memtable holds staged records whose
	 * hand-over failed (applied, maybe not in any WAL); no write is
	 * accepted while the immutable one does. */
	bool wal_lost, mem_unlogged, imm_unlogged; /* (mu) */
	/* (mu) Every record up to handed_seq has reached the OS (or a table);
	 * [lost_lo, lost_hi] are the records a failed hand-over lost from the
	 * WAL, kept until their memtable reaches a table (0, 0: none). */
	uint64_t handed_seq, lost_lo, lost_hi;
	/* A flush or compaction that ran out of space is retried at
	 * bg_retry_ns, not before (LSM_NOSPACE_RETRY_MS); bg_nospace: the last
	 * attempt failed so; bg_nospace_count: such failures since open. */
	uint64_t bg_retry_ns;      /* (mu) */
	bool bg_nospace;           /* (mu) */
	uint64_t bg_nospace_count; /* (mu) */
	struct lsm_counters stats;           /* see struct lsm_counters */
	/* L0 tables that gets probed without finding the key, since the last
	 * L0 compaction was picked (relaxed: a trigger, not a count that must
	 * be exact; LSM_SEEK_COMPACTION_BYTES). */
	atomic_uint_fast64_t l0_wasted;
	struct env_thread flush_thread, sync_thread;
	bool thread_started, sync_thread_started;
	/* The flush thread's nice value now, and whether it may go back to
	 * 0 (lsm_flush.c, bg_priority_locked). Flush thread only. */
	int bg_nice;
	bool bg_nice_ok;
	/* Leader only. */
	struct wal wal;
	bool wal_is_open;
	struct blob_writer blob;
	bool blob_open;
	/* Blob records appended since the blob file's last sync (sync=everysec
	 * and none sync it with the WAL, before the WAL: the syncer, a
	 * rotation). */
	bool blob_dirty;
	struct buf scratch, recs;
};

/* ---- Blob file accounting (lsm_blob.c) --------------------------------- */

/* Blob files with a garbage ratio at or above this are relocated by
 * compaction (docs/storage.md, "Blob files"). */
#define LSM_BLOB_GC_RATIO 0.25

struct lsm_blob_done {
	uint64_t number, log_number;
};

/* Record bytes and counts per blob file, gathered over a table build or a
 * compaction. */
struct lsm_blob_tally {
	uint64_t number, bytes, records;
};

struct lsm_blob_tallies {
	struct lsm_blob_tally *items;
	size_t count, cap;
};

void lsm_blob_tallies_deinit(struct lsm_blob_tallies *t);
/* Adds one record of bytes to number's tally. ERR_NOMEM, ERR_LIMIT. */
int lsm_blob_tally_add(struct lsm_blob_tallies *t, uint64_t number, uint64_t bytes);
/* The pointer of a BLOB-kind value record. ERR_CORRUPT. */
int lsm_blob_pointer_of(struct bytes value_record, int64_t *expire_ms, struct blob_pointer *p);
/* The blob file number is done (finished or abandoned): nobody appends to
 * it again. Leader, mu held. ERR_NOMEM (the file is then sealed at the
 * next open only). */
int lsm_blob_done_locked(struct lsm *db, uint64_t number);
/* Adds to e a LINK per tallied file (but none to a sealed file: only a
 * pre-tracking store's adopted files are sealed while a memtable may
 * point into them, and their adoption counted every record), and a SEAL
 * for each done file whose memtables are flushed once a memtable of
 * log_number is (UINT64_MAX: every file, at open). mu held (or open). */
int lsm_blob_flush_edit_locked(struct lsm *db, const struct lsm_blob_tallies *links,
                               uint64_t log_number, struct version_edit *e);
/* Adds to e a DELETE for each blob file that e leaves sealed and all
 * garbage. mu held (or open). */
int lsm_blob_deletes_locked(struct lsm *db, struct version_edit *e);
/* After e was installed: its deleted blob files (and done files it found
 * never linked) await removal; sealed done files are forgotten. */
void lsm_blob_installed_locked(struct lsm *db, const struct version_edit *e, uint64_t log_number);

int lsm_path(char *out, size_t cap, const char *dir, uint64_t number, const char *ext);
int lsm_mem_create(struct lsm *db, uint64_t log_number, struct lsm_mem **out);
void lsm_mem_unref_locked(struct lsm *db, struct lsm_mem *m);
int lsm_record_apply(struct memtable *mt, struct bytes rec, uint64_t *max_seq);
int lsm_table_add_locked(struct lsm *db, uint64_t number, struct sst_reader *r);
struct lsm_table *lsm_table_find_locked(struct lsm *db, uint64_t number);
int lsm_wal_open(struct lsm *db, struct wal *w, uint64_t number);
/* Writes m as table number into an L0 add of e; opens its reader; tallies
 * the blob records its BLOB entries point at into links. */
int lsm_flush_write_table(struct lsm *db, struct lsm_mem *m, uint64_t number,
                          struct version_edit *e, struct sst_reader **reader,
                          struct lsm_blob_tallies *links);
void *lsm_flush_main(void *arg);
/* Sets the flush thread's priority for what is due now (lsm_flush.c);
 * flush thread only, mu held. */
void lsm_bg_priority_locked(struct lsm *db);
/* Whether the memtable is within 1/slack_div of a limit (0: at it); mu
 * held (lsm_write.c). */
bool lsm_mem_full_locked(const struct lsm *db, uint64_t slack_div);
/* Flushes db->imm into L0 (the background thread, between compaction
 * steps too); called and returns with mu held, releases it for I/O. A
 * failure fails the store. */
void lsm_flush_imm_locked(struct lsm *db);
/* Queues a checkpoint's cut behind the writers and waits for it
 * (lsm_write.c). A failure to finish the blob file or to open the new WAL
 * fails the checkpoint, not the store: nothing written before depends on
 * them. */
int lsm_checkpoint_cut(struct lsm *db, struct lsm_ckpt_cut *cut);
/* The syncer thread of sync=everysec (lsm_write.c). */
void *lsm_sync_main(void *arg);
/* The background thread's compaction step (lsm_compact.c): with mu held,
 * runs one compaction if one is due (releasing mu for its I/O) and returns
 * true, else false. A failure fails the store. */
bool lsm_compact_locked(struct lsm *db);
bool lsm_compaction_due_locked(struct lsm *db);
/* Wasted L0 probes (db->l0_wasted) that make L0 due in version v. */
uint64_t lsm_l0_wasted_max(const struct version *v);
/* Removes the obsolete tables; requires readers == 0; mu held, released
 * for the file removals. */
void lsm_remove_obsolete_locked(struct lsm *db);
/* A reader's snapshot ended: wake the background thread if it may now
 * remove obsolete tables. */
void lsm_reader_done_locked(struct lsm *db);
/* Replaces the BLOB-kind value record in value (flags | [expire] | blob
 * pointer) by the value record it points to (lsm_read.c). */
int lsm_resolve_blob(struct lsm *db, struct bytes key, struct buf *value);
/* Retry delay of a flush or compaction that ran out of space. */
#define LSM_NOSPACE_RETRY_MS 1000

/* A flush or compaction failed with err; mu held. ERR_NOSPACE while the
 * manifest is usable starts the backoff (the caller removed its outputs
 * and installed nothing); anything else fails the store. */
void lsm_bg_failed_locked(struct lsm *db, int err);
/* Waits for the flush of the current db->imm (if any): 0 once it is
 * flushed, ERR_NOSPACE when a flush attempt made during the wait ran out
 * of space (the backoff is skipped: the caller asked), or the failure;
 * mu held (lsm_flush.c). */
int lsm_wait_imm_locked(struct lsm *db);
/* True while the no-space state holds (lsm_stats.nospace). */
bool lsm_nospace_locked(const struct lsm *db);

/* wal_sync of the current WAL, counted and timed (lsm_stats.c). Leader. */
int lsm_wal_sync_counted(struct lsm *db);
/* Counts one WAL sync that took ns. One caller at a time (struct
 * lsm_counters says who). */
void lsm_count_wal_sync(struct lsm *db, uint64_t ns);

#endif
