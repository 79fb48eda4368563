/*
 * lsm_iter.c - iteration over a snapshot of the store (lsm.h).
 *
 * Creation takes, under mu, the published sequence and references to both
 * memtables and the current version (as lsm_get does), then, without mu,
 * opens a private reader and iterator for every table of that version and
 * merges them with the memtables (merge_iter.h), newest source first. The
 * merged stream holds every version of every key; positioning skips
 * entries newer than the snapshot, then takes the first (newest) remaining
 * version of each user key and skips the user key entirely when that
 * version is a tombstone. Private readers cost one table open per table
 * per iterator, and buy freedom from the readers' lending mutexes: an
 * iterator held across lsm_get calls on the same thread cannot deadlock.
 */
#include <stdlib.h>

#include "base/err.h"
#include "base/limits.h"
#include "engine/lsm_internal.h"
#include "engine/merge_iter.h"

struct lsm_iter {
	struct lsm *db;
	uint64_t seq;
	struct lsm_mem *mem, *imm;
	struct version *v;
	struct memtable_iter mit[2];
	struct sst_reader **readers;
	struct sst_iter **sits;
	size_t table_count;
	struct merge_iter *merge;
	struct buf key;    /* current user key (also what next skips) */
	struct buf record; /* current stored value record (blob pointer for BLOB) */
	enum ikey_kind kind;
	bool valid;
	int err;
};

static size_t version_table_count(const struct version *v)
{
	size_t n = 0;
	for (uint32_t level = 0; level < LSM_LEVELS; level++)
		n += version_file_count(v, level);
	return n;
}

/* Opens a reader and iterator per table, in search order (L0 newest first,
 * then by level), appending merge children. */
static int open_tables(struct lsm_iter *it, struct merge_child *kids, size_t *kid_count)
{
	struct lsm *db = it->db;
	for (uint32_t level = 0; level < LSM_LEVELS; level++) {
		for (size_t i = 0; i < version_file_count(it->v, level); i++) {
			const struct manifest_file *f = version_file(it->v, level, i);
			char path[FS_PATH_BYTES_MAX];
			struct sst_read_options ro = {.cache = db->cache, .file_number = f->number};
			size_t t = it->table_count;
			int err = lsm_path(path, sizeof(path), db->dir, f->number, "sst");
			if (!err)
				err = sst_open(&it->readers[t], db->fs, path, &ro, NULL);
			if (err)
				return err == ERR_NOT_FOUND ? ERR_CORRUPT : err;
			it->table_count++;
			if ((err = sst_iter_create(it->readers[t], &it->sits[t])))
				return err;
			kids[(*kid_count)++] = merge_child_sst(it->sits[t]);
		}
	}
	return 0;
}

static int build_merge(struct lsm_iter *it)
{
	size_t n = version_table_count(it->v);
	it->readers = calloc(n + 1, sizeof(*it->readers));
	it->sits = calloc(n + 1, sizeof(*it->sits));
	struct merge_child *kids = calloc(n + 2, sizeof(*kids));
	int err = it->readers && it->sits && kids ? 0 : ERR_NOMEM;
	size_t kid_count = 0;
	if (!err) {
		memtable_iter_init(&it->mit[0], &it->mem->mt);
		kids[kid_count++] = merge_child_memtable(&it->mit[0]);
		if (it->imm) {
			memtable_iter_init(&it->mit[1], &it->imm->mt);
			kids[kid_count++] = merge_child_memtable(&it->mit[1]);
		}
		err = open_tables(it, kids, &kid_count);
	}
	if (!err)
		err = merge_iter_create(kids, kid_count, &it->merge);
	free(kids);
	return err;
}

int lsm_iter_create(struct lsm *db, struct lsm_iter **out)
{
	struct lsm_iter *it = calloc(1, sizeof(*it));
	if (!it)
		return ERR_NOMEM;
	it->db = db;
	buf_init(&it->key);
	buf_init(&it->record);
	env_mutex_lock(&db->mu);
	it->seq = db->last_seq;
	it->mem = db->mem;
	it->imm = db->imm;
	it->mem->refs++;
	if (it->imm)
		it->imm->refs++;
	it->v = manifest_current(db->man);
	version_ref(it->v);
	db->readers++; /* keeps the tables of it->v on disk (lsm_compact.c) */
	env_mutex_unlock(&db->mu);
	int err = build_merge(it);
	if (err) {
		lsm_iter_destroy(it);
		return err;
	}
	*out = it;
	return 0;
}

void lsm_iter_destroy(struct lsm_iter *it)
{
	if (!it)
		return;
	merge_iter_destroy(it->merge);
	for (size_t i = 0; i < it->table_count; i++) {
		if (it->sits[i])
			sst_iter_destroy(it->sits[i]);
		sst_close(it->readers[i]);
	}
	free(it->sits);
	free(it->readers);
	buf_deinit(&it->key);
	buf_deinit(&it->record);
	env_mutex_lock(&it->db->mu);
	lsm_mem_unref_locked(it->db, it->mem);
	lsm_mem_unref_locked(it->db, it->imm);
	version_unref(it->v);
	lsm_reader_done_locked(it->db);
	env_mutex_unlock(&it->db->mu);
	free(it);
}

static int copy_to(struct buf *b, struct bytes src, size_t cap)
{
	b->len = 0;
	int err = buf_reserve(b, src.len, cap);
	if (!err && src.len)
		buf_put(b, src.ptr, src.len);
	return err;
}

/* From the merge's position, settles on the newest visible version of the
 * next user key that is not deleted. skip: it->key holds a user key whose
 * versions are all to be passed over (the one just returned). */
static void settle(struct lsm_iter *it, bool skip)
{
	it->valid = false;
	for (; merge_iter_valid(it->merge); merge_iter_next(it->merge)) {
		struct bytes user;
		uint64_t seq;
		enum ikey_kind kind;
		if (!ikey_decode(merge_iter_key(it->merge), &user, &seq, &kind)) {
			it->err = ERR_CORRUPT;
			return;
		}
		if (seq > it->seq)
			continue; /* written after the snapshot */
		if (skip && ikey_user_cmp(user, bytes_make(it->key.data, it->key.len)) == 0)
			continue; /* an older version of a key already decided */
		int err = copy_to(&it->key, user, KEY_BYTES_MAX);
		if (err) {
			it->err = err;
			return;
		}
		skip = true;
		if (kind == IKEY_KIND_DELETE)
			continue;
		if ((err =
		         copy_to(&it->record, merge_iter_value(it->merge), VALUE_BYTES_MAX + 9))) {
			it->err = err;
			return;
		}
		it->kind = kind;
		it->valid = true;
		return;
	}
	it->err = merge_iter_status(it->merge);
}

void lsm_iter_seek_to_first(struct lsm_iter *it)
{
	it->err = 0;
	merge_iter_seek_to_first(it->merge);
	settle(it, false);
}

void lsm_iter_seek(struct lsm_iter *it, struct bytes key)
{
	it->err = 0;
	it->valid = false;
	if (key.len > KEY_BYTES_MAX) {
		it->err = ERR_LIMIT;
		return;
	}
	struct buf target;
	buf_init(&target);
	int err = buf_reserve(&target, key.len + IKEY_TRAILER_BYTES, KEY_BYTES_MAX + 8);
	if (err) {
		buf_deinit(&target);
		it->err = err;
		return;
	}
	target.len = ikey_encode(target.data, key, it->seq, IKEY_KIND_SEEK);
	merge_iter_seek(it->merge, bytes_make(target.data, target.len));
	buf_deinit(&target);
	settle(it, false);
}

void lsm_iter_next(struct lsm_iter *it)
{
	ASSERT(it->valid);
	merge_iter_next(it->merge);
	settle(it, true);
}

bool lsm_iter_valid(const struct lsm_iter *it)
{
	return it->valid && it->err == 0;
}

struct bytes lsm_iter_key(const struct lsm_iter *it)
{
	ASSERT(lsm_iter_valid(it));
	return bytes_make(it->key.data, it->key.len);
}

int lsm_iter_value(struct lsm_iter *it, struct buf *value)
{
	ASSERT(lsm_iter_valid(it));
	int err = copy_to(value, bytes_make(it->record.data, it->record.len), VALUE_BYTES_MAX + 9);
	if (!err && it->kind == IKEY_KIND_BLOB)
		err = lsm_resolve_blob(it->db, bytes_make(it->key.data, it->key.len), value);
	return err;
}

struct bytes lsm_iter_record(const struct lsm_iter *it, bool *is_blob)
{
	ASSERT(lsm_iter_valid(it));
	*is_blob = it->kind == IKEY_KIND_BLOB;
	return bytes_make(it->record.data, it->record.len);
}

int lsm_iter_status(const struct lsm_iter *it)
{
	return it->err;
}
