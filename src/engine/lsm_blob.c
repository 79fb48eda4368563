/*
 * lsm_blob.c - the engine's accounting of blob files in the manifest
 * (docs/storage.md, "Blob files"; docs/formats/manifest.md, "Blob files").
 *
 * After RocksDB's integrated BlobDB, every count changes only in the
 * version edit of the flush or compaction that changes the tables, so the
 * accounting is as durable and atomic as the tables themselves:
 *   - a flush (or the table written at open from replayed WALs) LINKs the
 *     records its BLOB entries point at: that file's linked bytes grow;
 *   - a compaction that drops a BLOB entry (shadowed, deleted, expired)
 *     or relocates it adds the record to its file's GARBAGE;
 *   - a file is SEALed once no table can come to point at more of it: the
 *     writer is done with it (finished on roll-over or for a checkpoint,
 *     or abandoned after a full disk) and every memtable that may point
 *     into it is flushed. The writer notes the log number of the memtable
 *     then current (lsm_blob_done_locked); memtables are flushed in log
 *     order, so the flush of a memtable of that log number or later seals
 *     it. At open nothing is being written and the replayed WALs are
 *     flushed in the open's own edit, so that edit seals every file;
 *   - a sealed file whose garbage reaches its linked bytes is DELETEd in
 *     the same edit, and removed from disk once no reader runs
 *     (lsm_remove_obsolete_locked), as compacted tables are.
 * Linked, not file, bytes decide: records written but never pointed at
 * by a flushed table (a group that failed after its blob append, a crash
 * between the blob sync and the WAL append) are not counted anywhere, and
 * do not keep a file alive. A done file that no flush ever linked holds
 * only such records; its seal finds it absent and removes it.
 *
 * Threads: the leader notes done files; the background thread (flush and
 * compaction) builds and installs every edit, under mu. Open does the
 * same before the threads start.
 */
#include <stdlib.h>
#include <string.h>

#include "base/err.h"
#include "base/limits.h"
#include "engine/lsm_internal.h"

void lsm_blob_tallies_deinit(struct lsm_blob_tallies *t)
{
	free(t->items);
	memset(t, 0, sizeof(*t));
}

int lsm_blob_tally_add(struct lsm_blob_tallies *t, uint64_t number, uint64_t bytes)
{
	/* Entries come clustered by file: look at the last one first. */
	for (size_t i = t->count; i-- > 0;) {
		if (t->items[i].number == number) {
			t->items[i].bytes += bytes;
			t->items[i].records++;
			return 0;
		}
		if (t->count - i > 8)
			break; /* fall back to a full scan below */
	}
	for (size_t i = 0; i < t->count; i++) {
		if (t->items[i].number == number) {
			t->items[i].bytes += bytes;
			t->items[i].records++;
			return 0;
		}
	}
	if (t->count == t->cap) {
		if (t->cap >= MANIFEST_FILES_MAX)
			return ERR_LIMIT;
		size_t cap = t->cap ? 2 * t->cap : 8;
		struct lsm_blob_tally *p = realloc(t->items, cap * sizeof(*p));
		if (!p)
			return ERR_NOMEM;
		t->items = p;
		t->cap = cap;
	}
	t->items[t->count++] = (struct lsm_blob_tally){number, bytes, 1};
	return 0;
}

int lsm_blob_pointer_of(struct bytes value_record, int64_t *expire_ms, struct blob_pointer *p)
{
	struct bytes enc;
	if (!vrec_decode(value_record, expire_ms, &enc))
		return ERR_CORRUPT;
	return blob_pointer_decode(enc, p);
}

int lsm_blob_done_locked(struct lsm *db, uint64_t number)
{
	if (db->blobs_done_count == db->blobs_done_cap) {
		size_t cap = db->blobs_done_cap ? 2 * db->blobs_done_cap : 8;
		struct lsm_blob_done *p = realloc(db->blobs_done, cap * sizeof(*p));
		if (!p)
			return ERR_NOMEM;
		db->blobs_done = p;
		db->blobs_done_cap = cap;
	}
	db->blobs_done[db->blobs_done_count++] =
	    (struct lsm_blob_done){number, db->mem ? db->mem->log_number : 0};
	return 0;
}

static int add_op(struct version_edit *e, enum vedit_blob_op op, uint64_t number)
{
	struct vedit_blob b = {.op = op, .number = number};
	return version_edit_blob(e, &b);
}

int lsm_blob_flush_edit_locked(struct lsm *db, const struct lsm_blob_tallies *links,
                               uint64_t log_number, struct version_edit *e)
{
	struct version *v = manifest_current(db->man);
	int err = 0;
	for (size_t i = 0; !err && links && i < links->count; i++) {
		const struct lsm_blob_tally *t = &links->items[i];
		const struct manifest_blob *f = version_blob_find(v, t->number);
		if (f && f->sealed)
			continue; /* adopted with every record counted (lsm.c) */
		struct vedit_blob b = {.op = VEDIT_BLOB_LINK,
		                       .number = t->number,
		                       .linked_bytes = t->bytes,
		                       .linked_records = t->records};
		err = version_edit_blob(e, &b);
	}
	if (log_number == UINT64_MAX) { /* open: every file, listed or linked now */
		for (size_t i = 0; !err && i < version_blob_count(v); i++)
			if (!version_blob(v, i)->sealed)
				err = add_op(e, VEDIT_BLOB_SEAL, version_blob(v, i)->number);
		for (size_t i = 0; !err && links && i < links->count; i++)
			if (!version_blob_find(v, links->items[i].number))
				err = add_op(e, VEDIT_BLOB_SEAL, links->items[i].number);
	}
	for (size_t i = 0; !err && i < db->blobs_done_count; i++) {
		const struct lsm_blob_done *d = &db->blobs_done[i];
		if (d->log_number > log_number)
			continue;
		bool linked_now = false;
		for (size_t j = 0; links && j < links->count; j++)
			linked_now |= links->items[j].number == d->number;
		const struct manifest_blob *f = version_blob_find(v, d->number);
		if ((f && !f->sealed) || (!f && linked_now))
			err = add_op(e, VEDIT_BLOB_SEAL, d->number);
	}
	return err;
}

/* What the blob file number becomes once e is applied to v. False when v
 * does not list it and e does not create it. */
static bool state_after(const struct version *v, const struct version_edit *e, uint64_t number,
                        struct manifest_blob *out)
{
	const struct manifest_blob *f = version_blob_find(v, number);
	bool listed = f != NULL;
	*out = f ? *f : (struct manifest_blob){.number = number};
	for (size_t i = 0; i < e->blob_count; i++) {
		const struct vedit_blob *b = &e->blobs[i];
		if (b->number != number)
			continue;
		switch (b->op) {
		case VEDIT_BLOB_FILE:
			*out = (struct manifest_blob){
			    number,           b->linked_bytes,    b->linked_records,
			    b->garbage_bytes, b->garbage_records, b->sealed};
			listed = true;
			break;
		case VEDIT_BLOB_LINK:
			out->linked_bytes += b->linked_bytes;
			out->linked_records += b->linked_records;
			listed = true;
			break;
		case VEDIT_BLOB_GARBAGE:
			out->garbage_bytes += b->garbage_bytes;
			out->garbage_records += b->garbage_records;
			break;
		case VEDIT_BLOB_SEAL:
			out->sealed = true;
			break;
		case VEDIT_BLOB_DELETE:
			listed = false;
			break;
		}
	}
	return listed;
}

int lsm_blob_deletes_locked(struct lsm *db, struct version_edit *e)
{
	struct version *v = manifest_current(db->man);
	size_t n = e->blob_count; /* the deletes added here need no look */
	int err = 0;
	for (size_t i = 0; !err && i < n; i++) {
		const struct vedit_blob *b = &e->blobs[i];
		if (b->op != VEDIT_BLOB_GARBAGE && b->op != VEDIT_BLOB_SEAL)
			continue;
		struct manifest_blob after;
		if (state_after(v, e, b->number, &after) && after.sealed &&
		    after.garbage_bytes == after.linked_bytes) {
			/* linked_bytes is not encoded for a DELETE: it tells
			 * lsm_blob_installed_locked what the removal frees. */
			struct vedit_blob d = {.op = VEDIT_BLOB_DELETE,
			                       .number = b->number,
			                       .linked_bytes = after.linked_bytes};
			err = version_edit_blob(e, &d);
		}
	}
	return err;
}

static int obsolete_blob_add_locked(struct lsm *db, uint64_t number)
{
	for (size_t i = 0; i < db->obsolete_blob_count; i++)
		if (db->obsolete_blobs[i] == number)
			return 0;
	if (db->obsolete_blob_count == db->obsolete_blob_cap) {
		size_t cap = db->obsolete_blob_cap ? 2 * db->obsolete_blob_cap : 16;
		uint64_t *p = realloc(db->obsolete_blobs, cap * sizeof(*p));
		if (!p)
			return ERR_NOMEM;
		db->obsolete_blobs = p;
		db->obsolete_blob_cap = cap;
	}
	db->obsolete_blobs[db->obsolete_blob_count++] = number;
	return 0;
}

void lsm_blob_installed_locked(struct lsm *db, const struct version_edit *e, uint64_t log_number)
{
	struct version *v = manifest_current(db->man);
	/* A failed add leaves a file for the next open's orphan sweep. */
	for (size_t i = 0; i < e->blob_count; i++) {
		if (e->blobs[i].op != VEDIT_BLOB_DELETE)
			continue;
		lsm_count(&db->stats.blob_reclaimed_bytes, e->blobs[i].linked_bytes);
		if (obsolete_blob_add_locked(db, e->blobs[i].number) == 0)
			env_cond_broadcast(&db->cv);
	}
	size_t keep = 0;
	for (size_t i = 0; i < db->blobs_done_count; i++) {
		struct lsm_blob_done d = db->blobs_done[i];
		if (d.log_number > log_number) {
			db->blobs_done[keep++] = d;
			continue;
		}
		if (!version_blob_find(v, d.number)) /* never linked, or deleted by e */
			(void)obsolete_blob_add_locked(db, d.number);
	}
	db->blobs_done_count = keep;
}
