/*
 * lsm_read.c - point lookups.
 *
 * A get takes, under mu, the last published sequence, references to both
 * memtables and to the current version, and the tables of that version
 * that may hold the key (L0 tables whose range holds it, newest first,
 * then one per deeper level; up to GET_TABLES_MAX of them), then searches
 * without mu from newest to oldest: memtable, immutable memtable, those
 * tables. The first version of the key decides (a tombstone: absent). The
 * snapshot is consistent because a flush installs its table and drops the
 * immutable memtable under mu in one step. The struct lsm_table of a
 * table of the snapshot stays put while the get runs (tables are removed
 * only when no reader runs, and each is its own allocation), so one mu
 * round trip at the start and one at the end cover any number of tables;
 * sst_get is safe on one reader from several threads at once (sst.h), and
 * the block cache is shared.
 */
#include <stdlib.h>

#include "base/err.h"
#include "base/limits.h"
#include "engine/lsm_internal.h"

/* Tables a get resolves under its first hold of mu: L0 past this many
 * candidates (only after a long stall of compaction) is looked up table
 * by table. Covers LSM_L0_STOP_TRIGGER L0 tables and every deeper level. */
#define GET_TABLES_MAX 24
static_assert(GET_TABLES_MAX >= LSM_L0_STOP_TRIGGER + LSM_LEVELS - 1, "room for every level");

/* Where the search for candidate tables goes on. */
struct cursor {
	uint32_t level;
	size_t i; /* in L0: the next file */
};

struct snapshot {
	uint64_t seq;
	struct lsm_mem *mem, *imm;
	struct version *v;
	struct lsm_table *tables[GET_TABLES_MAX];
	size_t table_count, l0_count; /* l0_count: the first ones, from L0 */
	struct cursor rest; /* candidates past tables[] */
};

enum found { FOUND_NONE, FOUND_VALUE, FOUND_DELETED };

static int copy_out(struct buf *value, struct bytes rec)
{
	value->len = 0;
	int err = buf_reserve(value, rec.len, VALUE_BYTES_MAX + 9);
	if (!err)
		buf_put(value, rec.ptr, rec.len);
	return err;
}

static int mem_get(struct lsm_mem *m, struct bytes key, uint64_t seq, enum ikey_kind *kind,
                   struct buf *value, enum found *found)
{
	struct memtable_entry e;
	enum memtable_lookup r = m ? memtable_get(&m->mt, key, seq, &e) : MEMTABLE_ABSENT;
	*found = r == MEMTABLE_VALUE  ? FOUND_VALUE
	    : r == MEMTABLE_TOMBSTONE ? FOUND_DELETED
	                              : FOUND_NONE;
	*kind = r == MEMTABLE_VALUE ? e.kind : IKEY_KIND_DELETE;
	return r == MEMTABLE_VALUE ? copy_out(value, e.value_record) : 0;
}

static int table_get(struct lsm_table *t, struct bytes key, uint64_t seq, enum ikey_kind *kind,
                     struct buf *value, enum found *found)
{
	if (!t)
		return ERR_CORRUPT; /* a live table without a reader: cannot happen */
	struct sst_get_result res;
	int err = sst_get(t->reader, key, seq, &res, value);
	if (err)
		return err;
	*found = res.status == SST_GET_VALUE ? FOUND_VALUE
	    : res.status == SST_GET_DELETED  ? FOUND_DELETED
	                                     : FOUND_NONE;
	*kind = res.kind;
	return 0;
}

static bool in_range(const struct manifest_file *f, struct bytes key)
{
	struct bytes lo = bytes_make(f->smallest.ptr, f->smallest.len - IKEY_TRAILER_BYTES);
	struct bytes hi = bytes_make(f->largest.ptr, f->largest.len - IKEY_TRAILER_BYTES);
	return ikey_user_cmp(key, lo) >= 0 && ikey_user_cmp(key, hi) <= 0;
}

/* The one table of a sorted level that may hold key, or NULL. */
static const struct manifest_file *level_find(struct version *v, uint32_t level, struct bytes key)
{
	size_t lo = 0, hi = version_file_count(v, level);
	while (lo < hi) { /* first file whose largest user key >= key */
		size_t mid = lo + (hi - lo) / 2;
		const struct manifest_file *f = version_file(v, level, mid);
		struct bytes big = bytes_make(f->largest.ptr, f->largest.len - IKEY_TRAILER_BYTES);
		if (ikey_user_cmp(big, key) < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (lo == version_file_count(v, level))
		return NULL;
	const struct manifest_file *f = version_file(v, level, lo);
	return in_range(f, key) ? f : NULL;
}

/* The next table of v that may hold key, newest first, or NULL. */
static const struct manifest_file *next_candidate(struct version *v, struct bytes key,
                                                  struct cursor *c)
{
	for (; c->level == 0 && c->i < version_file_count(v, 0); c->i++) {
		const struct manifest_file *f = version_file(v, 0, c->i);
		if (in_range(f, key)) {
			c->i++;
			return f;
		}
	}
	while (++c->level < LSM_LEVELS) {
		const struct manifest_file *f = level_find(v, c->level, key);
		if (f)
			return f;
	}
	return NULL;
}

/* Resolves the first GET_TABLES_MAX candidates of s->v; mu held. */
static void resolve_locked(struct lsm *db, struct snapshot *s, struct bytes key)
{
	s->rest = (struct cursor){0};
	s->table_count = s->l0_count = 0;
	while (s->table_count < GET_TABLES_MAX) {
		const struct manifest_file *f = next_candidate(s->v, key, &s->rest);
		if (!f)
			return;
		s->tables[s->table_count++] = lsm_table_find_locked(db, f->number);
		s->l0_count += s->rest.level == 0;
	}
}

/* Counts the L0 tables of s probed in vain before table i decided (i ==
 * table_count: none did), for LevelDB's seek compaction. True when the
 * count just reached what makes L0 due: the caller wakes the background
 * thread. */
static bool count_wasted(struct lsm *db, const struct snapshot *s, size_t i)
{
	uint64_t n = i < s->l0_count ? i : s->l0_count;
	if (!n)
		return false;
	uint64_t before = atomic_fetch_add_explicit(&db->l0_wasted, n, memory_order_relaxed);
	uint64_t max = lsm_l0_wasted_max(s->v);
	return before < max && before + n >= max;
}

static int tables_get(struct lsm *db, struct snapshot *s, struct bytes key, enum ikey_kind *kind,
                      struct buf *value, enum found *found, bool *wake)
{
	*found = FOUND_NONE;
	for (size_t i = 0; i < s->table_count; i++) {
		int err = table_get(s->tables[i], key, s->seq, kind, value, found);
		if (err || *found != FOUND_NONE) {
			*wake = count_wasted(db, s, i);
			return err;
		}
	}
	*wake = count_wasted(db, s, s->table_count);
	if (s->table_count < GET_TABLES_MAX)
		return 0;
	const struct manifest_file *f;
	while ((f = next_candidate(s->v, key, &s->rest))) {
		env_mutex_lock(&db->mu);
		struct lsm_table *t = lsm_table_find_locked(db, f->number);
		env_mutex_unlock(&db->mu);
		int err = table_get(t, key, s->seq, kind, value, found);
		if (err || *found != FOUND_NONE)
			return err;
	}
	return 0;
}

/* Replaces a BLOB kind's pointer record in value by the value record it
 * points to. */
int lsm_resolve_blob(struct lsm *db, struct bytes key, struct buf *value)
{
	int64_t exp;
	struct bytes enc;
	struct blob_pointer bp;
	if (!vrec_decode(bytes_make(value->data, value->len), &exp, &enc) ||
	    blob_pointer_decode(enc, &bp))
		return ERR_CORRUPT;
	char path[FS_PATH_BYTES_MAX];
	struct blob_reader r;
	int err = lsm_path(path, sizeof(path), db->dir, bp.file_number, "blob");
	if (!err)
		err = blob_reader_open(&r, db->fs, path, bp.file_number);
	if (err)
		return err == ERR_NOT_FOUND ? ERR_CORRUPT : err;
	value->len = 0;
	err = buf_reserve(value, 9 + bp.value_len, VALUE_BYTES_MAX + 9);
	if (!err) {
		/* The header first, then the value read straight behind it. */
		value->len = vrec_encode(value->data, exp, bytes_make(NULL, 0));
		err = blob_read(&r, &bp, key, value->data + value->len, bp.value_len);
		value->len += bp.value_len;
	}
	blob_reader_close(&r);
	return err;
}

static int get(struct lsm *db, struct bytes key, struct buf *value, bool resolve, bool *is_blob)
{
	struct snapshot s;
	env_mutex_lock(&db->mu);
	s.seq = db->last_seq;
	s.mem = db->mem;
	s.imm = db->imm;
	s.mem->refs++;
	if (s.imm)
		s.imm->refs++;
	s.v = manifest_current(db->man);
	version_ref(s.v);
	db->readers++;
	resolve_locked(db, &s, key);
	env_mutex_unlock(&db->mu);

	enum ikey_kind kind = IKEY_KIND_DELETE;
	enum found found;
	int err = mem_get(s.mem, key, s.seq, &kind, value, &found);
	if (!err && found == FOUND_NONE)
		err = mem_get(s.imm, key, s.seq, &kind, value, &found);
	bool wake = false;
	if (!err && found == FOUND_NONE)
		err = tables_get(db, &s, key, &kind, value, &found, &wake);
	if (!err && found == FOUND_VALUE && kind == IKEY_KIND_BLOB && resolve)
		err = lsm_resolve_blob(db, key, value);
	if (is_blob)
		*is_blob = found == FOUND_VALUE && kind == IKEY_KIND_BLOB;

	env_mutex_lock(&db->mu);
	lsm_mem_unref_locked(db, s.mem);
	lsm_mem_unref_locked(db, s.imm);
	version_unref(s.v);
	lsm_reader_done_locked(db);
	if (wake)
		env_cond_broadcast(&db->cv); /* L0 may be due for compaction now */
	env_mutex_unlock(&db->mu);
	if (err)
		return err;
	return found == FOUND_VALUE ? 0 : ERR_NOT_FOUND;
}

int lsm_get(struct lsm *db, struct bytes key, struct buf *value)
{
	return get(db, key, value, true, NULL);
}

int lsm_get_record(struct lsm *db, struct bytes key, struct buf *value, bool *is_blob)
{
	return get(db, key, value, false, is_blob);
}
