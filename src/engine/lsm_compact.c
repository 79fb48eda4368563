/*
 * lsm_compact.c - leveled compaction on the background thread (after any
 * pending flush, which has priority because writes may stall behind it).
 *
 * Picking (under mu): L0 when it holds LSM_L0_COMPACTION_TRIGGER tables
 * and at least as many bytes as L1, or LSM_L0_COMPACTION_TRIGGER_MAX
 * tables: all of L0 plus the L1 tables overlapping their key range (moved
 * down without a rewrite when nothing overlaps: movable()); else the
 * first level n >= 1 over its target (l1_bytes * 10^(n-1)): one table,
 * round-robin after the level's compaction pointer (kept in memory; a
 * reopen starts again from the left, which only changes fairness), plus
 * the overlapping tables of level n+1. Flush and compaction share one
 * thread, so no flush adds a table while a compaction runs, and no two
 * compactions race.
 *
 * Merging (mu released): private readers of the inputs (outside the block
 * cache) feed a merge_iter. Since no reader can hold an older snapshot of
 * the new tables (a reader's snapshot pins its version's tables, whose
 * files stay until the last reader is done), only the newest version of
 * each user key is kept. A tombstone, or a value whose expiry passed
 * (turned into a tombstone), is dropped when no level below the output
 * holds the key, and kept otherwise so that it still hides older
 * versions. Outputs are cut at table_bytes (between user keys: there is
 * one entry per user key), and appends are paced by a token bucket of
 * compaction_bytes_per_sec.
 *
 * Blob GC (docs/storage.md, "Blob files"; lsm_blob.c): a BLOB entry the
 * merge drops is garbage of its blob file; a live one whose file is
 * relocatable (sealed, garbage ratio >= LSM_BLOB_GC_RATIO) has its value
 * moved to the run's own blob file (finished before the edit) and is
 * output with the same key and sequence and the new pointer. With no level
 * due, a GC compaction rewrites the table whose oldest blob file
 * (blob_refs) is relocatable: from L0 as an L0 compaction, deeper that
 * table alone in place (out_level == level). Never a trivial move.
 *
 * Install (under mu): one manifest edit deletes the inputs and adds the
 * outputs, with the run's blob changes (new files sealed, garbage, and the
 * deletes of files that became all garbage). The input files stay on disk, their readers open, until no
 * get or iterator runs (db->readers == 0, which covers every version
 * older than the current one); then the thread removes them. A crash
 * before the edit leaves the outputs as orphans, after it the inputs:
 * recovery removes either, so a reopen sees the state before or after.
 * An error fails the store as a failed flush does (STYLE.md section 4),
 * except running out of space (a table append, or the manifest append,
 * which the manifest cut off): the outputs are removed, nothing is
 * installed, and the compaction is picked again after LSM_NOSPACE_RETRY_MS
 * (lsm_bg_failed_locked). Only the outputs' directory sync is ours to
 * tell from an append; a table's own fsync is not, but a table removed
 * unread leaves no doubt behind.
 */
#include <stdlib.h>
#include <string.h>

#include "base/err.h"
#include "base/limits.h"
#include "engine/lsm_internal.h"
#include "engine/merge_iter.h"

struct compaction {
	uint32_t level;     /* inputs from level and (unless out_level == level) level + 1 */
	uint32_t out_level; /* level + 1, or level for a blob GC rewrite of the last level */
	bool gc;            /* picked for blob GC: never a trivial move */
	struct version *v;
	const struct manifest_file **in;
	uint32_t *in_level;
	size_t in_count;
	uint64_t *reloc; /* blob files whose live records move, ascending */
	size_t reloc_count;
};

struct output {
	struct vedit_file f;
	struct buf lo, hi;
	struct sst_reader *reader;
};

struct run {
	struct lsm *db;
	struct compaction *c;
	struct output *outs;
	size_t out_count, out_cap;
	struct sst_builder *b;
	uint64_t b_bytes, written, t0_ns;
	int64_t now_ms;
	struct buf prev; /* user key of the previous entry */
	bool have_prev;
	uint32_t since_check; /* merged entries since the last between_entries */
	/* Blob GC (top): records dropped or moved, per old file; records
	 * written, per new file; the files made (removed on failure). */
	struct lsm_blob_tallies garbage, moved;
	uint64_t *made;
	size_t made_count, made_cap;
	struct blob_writer bw;
	bool bw_open;
	struct blob_reader br;
	bool br_open;
	struct buf val; /* a value being moved */
};

static struct bytes ukey(struct bytes ikey)
{
	return bytes_make(ikey.ptr, ikey.len - IKEY_TRAILER_BYTES);
}

static bool overlaps(const struct manifest_file *f, struct bytes lo, struct bytes hi)
{
	return ikey_user_cmp(ukey(f->largest), lo) >= 0 &&
	    ikey_user_cmp(ukey(f->smallest), hi) <= 0;
}

static uint64_t level_target(const struct lsm *db, uint32_t level)
{
	uint64_t t = db->opt.l1_bytes;
	for (uint32_t i = 1; i < level && t < UINT64_MAX / LSM_LEVEL_FANOUT; i++)
		t *= LSM_LEVEL_FANOUT;
	return t;
}

uint64_t lsm_l0_wasted_max(const struct version *v)
{
	return (version_level_bytes(v, 0) + version_level_bytes(v, 1)) / LSM_SEEK_COMPACTION_BYTES + 1;
}

/* The level to compact from, or LSM_LEVELS when none is due. */
static uint32_t due_level(struct lsm *db, const struct version *v)
{
	size_t l0 = version_file_count(v, 0);
	if (l0 >= LSM_L0_COMPACTION_TRIGGER_MAX ||
	    (l0 >= LSM_L0_COMPACTION_TRIGGER &&
	     (version_level_bytes(v, 0) >= version_level_bytes(v, 1) ||
	      atomic_load_explicit(&db->l0_wasted, memory_order_relaxed) >= lsm_l0_wasted_max(v))))
		return 0;
	for (uint32_t level = 1; level + 1 < LSM_LEVELS; level++)
		if (version_level_bytes(v, level) > level_target(db, level))
			return level;
	return LSM_LEVELS;
}

/* A blob file whose live records compaction moves (docs/storage.md, "Blob
 * files"): sealed (its linked bytes are final), not all garbage (that one
 * is deleted, not rewritten), garbage ratio at or above LSM_BLOB_GC_RATIO. */
static bool blob_relocatable(const struct manifest_blob *b)
{
	return b && b->sealed && b->garbage_bytes < b->linked_bytes &&
	    (double)b->garbage_bytes >= LSM_BLOB_GC_RATIO * (double)b->linked_bytes;
}

/* The table to rewrite for blob GC when no level is due: the one whose
 * oldest blob file (blob_refs) is relocatable and oldest (RocksDB's
 * forced blob GC). Its rewrite moves every record it holds of that file,
 * so the outputs' oldest file is newer or not relocatable: each such
 * compaction makes progress, and without new garbage they stop. false:
 * none. */
static bool gc_table(const struct version *v, uint32_t *level, size_t *index)
{
	uint64_t best = 0;
	for (uint32_t l = 0; l < LSM_LEVELS; l++) {
		for (size_t i = 0; i < version_file_count(v, l); i++) {
			uint64_t ref = version_file(v, l, i)->blob_refs;
			if (!ref || (best && ref >= best) ||
			    !blob_relocatable(version_blob_find(v, ref)))
				continue;
			best = ref;
			*level = l;
			*index = i;
		}
	}
	return best != 0;
}

bool lsm_compaction_due_locked(struct lsm *db)
{
	struct version *v = manifest_current(db->man);
	uint32_t level;
	size_t index;
	return due_level(db, v) < LSM_LEVELS || gc_table(v, &level, &index);
}

/* c->reloc: the relocatable blob files of c->v. */
static int pick_relocations(struct compaction *c)
{
	size_t n = version_blob_count(c->v);
	c->reloc = malloc((n ? n : 1) * sizeof(*c->reloc));
	if (!c->reloc)
		return ERR_NOMEM;
	for (size_t i = 0; i < n; i++)
		if (blob_relocatable(version_blob(c->v, i)))
			c->reloc[c->reloc_count++] = version_blob(c->v, i)->number;
	return 0;
}

static bool relocates(const struct compaction *c, uint64_t number)
{
	size_t lo = 0, hi = c->reloc_count;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (c->reloc[mid] < number)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo < c->reloc_count && c->reloc[lo] == number;
}

static int add_input(struct compaction *c, const struct manifest_file *f, uint32_t level)
{
	size_t n = c->in_count + 1;
	const struct manifest_file **in = realloc(c->in, n * sizeof(*in));
	if (in)
		c->in = in;
	uint32_t *lv = realloc(c->in_level, n * sizeof(*lv));
	if (lv)
		c->in_level = lv;
	if (!in || !lv)
		return ERR_NOMEM;
	c->in[c->in_count] = f;
	c->in_level[c->in_count++] = level;
	return 0;
}

/* The table of level n >= 1 after its compaction pointer (wrapping). */
static size_t pick_round_robin(struct lsm *db, const struct version *v, uint32_t level)
{
	struct buf *p = &db->compact_ptr[level];
	size_t n = version_file_count(v, level);
	for (size_t i = 0; p->len && i < n; i++)
		if (ikey_user_cmp(ukey(version_file(v, level, i)->largest),
		                  bytes_make(p->data, p->len)) > 0)
			return i;
	return 0;
}

/* Fills c from the current version: the tables [first, last) of level
 * (for L0 all of them), plus, unless out_level == level, the overlapping
 * tables of level + 1; mu held. */
static int pick_range_locked(struct lsm *db, struct compaction *c, uint32_t level, size_t first,
                             size_t last, uint32_t out_level)
{
	struct version *v = manifest_current(db->man);
	c->level = level;
	c->out_level = out_level;
	c->v = v;
	version_ref(v);
	if (level == 0)
		atomic_store_explicit(&db->l0_wasted, 0, memory_order_relaxed);
	struct bytes lo = {0}, hi = {0};
	int err = 0;
	for (size_t i = first; !err && i < last; i++) {
		const struct manifest_file *f = version_file(v, level, i);
		if (!lo.ptr || ikey_user_cmp(ukey(f->smallest), lo) < 0)
			lo = ukey(f->smallest);
		if (!hi.ptr || ikey_user_cmp(ukey(f->largest), hi) > 0)
			hi = ukey(f->largest);
		err = add_input(c, f, level);
	}
	for (size_t i = 0; !err && out_level > level && i < version_file_count(v, level + 1); i++) {
		const struct manifest_file *f = version_file(v, level + 1, i);
		if (overlaps(f, lo, hi))
			err = add_input(c, f, level + 1);
	}
	if (!err && level > 0 && !c->gc) {
		struct buf *p = &db->compact_ptr[level];
		p->len = 0;
		if ((err = buf_reserve(p, hi.len, KEY_BYTES_MAX)) == 0)
			buf_put(p, hi.ptr, hi.len);
	}
	if (!err)
		err = pick_relocations(c);
	return err;
}

/* A due level: L0 whole, or one table of level n round-robin. */
static int pick_locked(struct lsm *db, struct compaction *c, uint32_t level)
{
	struct version *v = manifest_current(db->man);
	if (level == 0)
		return pick_range_locked(db, c, 0, 0, version_file_count(v, 0), 1);
	size_t first = pick_round_robin(db, v, level);
	return pick_range_locked(db, c, level, first, first + 1, level + 1);
}

/* Blob GC (gc_table): from L0 an ordinary L0 compaction; from a deeper
 * level the table alone, rewritten in place (RocksDB rewrites a bottommost
 * file in place too): its key range stays its own, so the level stays
 * sorted, and the level shape is left to the size targets. false:
 * nothing to do. */
static bool pick_gc_locked(struct lsm *db, struct compaction *c, int *err)
{
	struct version *v = manifest_current(db->man);
	uint32_t level;
	size_t i;
	if (!gc_table(v, &level, &i))
		return false;
	c->gc = true;
	if (level == 0)
		*err = pick_range_locked(db, c, 0, 0, version_file_count(v, 0), 1);
	else
		*err = pick_range_locked(db, c, level, i, i + 1, level);
	return true;
}

/* True when no level below the output may hold user key k. */
static bool bottommost(const struct compaction *c, struct bytes k)
{
	for (uint32_t level = c->out_level + 1; level < LSM_LEVELS; level++) {
		size_t lo = 0, hi = version_file_count(c->v, level);
		while (lo < hi) { /* first file whose largest user key >= k */
			size_t mid = lo + (hi - lo) / 2;
			if (ikey_user_cmp(ukey(version_file(c->v, level, mid)->largest), k) < 0)
				lo = mid + 1;
			else
				hi = mid;
		}
		if (lo < version_file_count(c->v, level) &&
		    ikey_user_cmp(ukey(version_file(c->v, level, lo)->smallest), k) <= 0)
			return false;
	}
	return true;
}

static int copy_key(struct buf *b, struct bytes k)
{
	b->len = 0;
	int err = buf_reserve(b, k.len, KEY_BYTES_MAX + IKEY_TRAILER_BYTES);
	if (!err && k.len)
		buf_put(b, k.ptr, k.len);
	return err;
}

/* Finishes the open output table, if any. */
static int finish_output(struct run *r)
{
	if (!r->b)
		return 0;
	struct output *o = &r->outs[r->out_count - 1];
	int err = sst_builder_finish(r->b, &o->f.size);
	r->b = NULL;
	o->f.smallest = bytes_make(o->lo.data, o->lo.len);
	o->f.largest = bytes_make(o->hi.data, o->hi.len);
	return err;
}

static int start_output(struct run *r)
{
	if (r->out_count == r->out_cap) {
		size_t cap = r->out_cap ? 2 * r->out_cap : 4;
		struct output *o = realloc(r->outs, cap * sizeof(*o));
		if (!o)
			return ERR_NOMEM;
		r->outs = o;
		r->out_cap = cap;
	}
	struct output *o = &r->outs[r->out_count];
	memset(o, 0, sizeof(*o));
	buf_init(&o->lo);
	buf_init(&o->hi);
	env_mutex_lock(&r->db->mu);
	o->f.number = manifest_new_file_number(r->db->man);
	env_mutex_unlock(&r->db->mu);
	o->f.level = r->c->out_level;
	o->f.min_seq = IKEY_SEQ_MAX;
	r->out_count++;
	char path[FS_PATH_BYTES_MAX];
	struct sst_options so = {.seed = o->f.number, .compression = r->db->opt.compression};
	int err = lsm_path(path, sizeof(path), r->db->dir, o->f.number, "sst");
	if (!err)
		err = sst_builder_init(&r->b, r->db->fs, path, &so);
	r->b_bytes = 0;
	return err;
}

/* Token bucket: sleeps (on the condition variable, so that close wakes
 * it) while the bytes written run ahead of the rate. ERR_AGAIN on stop. */
static int throttle(struct run *r)
{
	uint64_t rate = r->db->opt.compaction_bytes_per_sec;
	if (!rate)
		return 0;
	uint64_t due_ms = r->written * 1000 / rate;
	uint64_t spent_ms = (env_mono_ns() - r->t0_ns) / 1000000;
	int err = 0;
	if (due_ms > spent_ms) {
		env_mutex_lock(&r->db->mu);
		if (!r->db->stop)
			env_cond_timedwait_ms(&r->db->cv, &r->db->mu, due_ms - spent_ms);
		err = r->db->stop ? ERR_AGAIN : 0;
		env_mutex_unlock(&r->db->mu);
	}
	return err;
}

/* blob: the blob file the entry points into, 0 for none. */
static int emit(struct run *r, struct bytes ikey, struct bytes value, uint64_t seq, uint64_t blob)
{
	int err = 0;
	if (r->b && r->b_bytes >= r->db->opt.table_bytes)
		err = finish_output(r);
	if (!err && !r->b)
		err = start_output(r);
	struct output *o = &r->outs[r->out_count - 1];
	if (!err && !o->lo.len)
		err = copy_key(&o->lo, ikey);
	if (!err)
		err = copy_key(&o->hi, ikey);
	if (!err)
		err = sst_builder_add(r->b, ikey, value);
	if (err)
		return err;
	o->f.min_seq = seq < o->f.min_seq ? seq : o->f.min_seq;
	o->f.max_seq = seq > o->f.max_seq ? seq : o->f.max_seq;
	if (blob && (!o->f.blob_refs || blob < o->f.blob_refs))
		o->f.blob_refs = blob;
	r->b_bytes += ikey.len + value.len;
	r->written += ikey.len + value.len;
	return throttle(r);
}

/* A dropped or moved blob record of user's: garbage of its file. */
static int garbage(struct run *r, struct bytes user, const struct blob_pointer *p)
{
	return lsm_blob_tally_add(&r->garbage, p->file_number,
	                          blob_record_bytes(user.len, p->value_len));
}

/* The run's blob file for moved values, opened on first use and rolled
 * over at opt.blob_file_bytes. */
static int gc_writer(struct run *r)
{
	struct lsm *db = r->db;
	if (r->bw_open && blob_writer_bytes(&r->bw) < db->opt.blob_file_bytes)
		return 0;
	if (r->bw_open) {
		r->bw_open = false;
		int err = blob_writer_finish(&r->bw);
		if (err)
			return err;
	}
	if (r->made_count == r->made_cap) {
		size_t cap = r->made_cap ? 2 * r->made_cap : 4;
		uint64_t *p = realloc(r->made, cap * sizeof(*p));
		if (!p)
			return ERR_NOMEM;
		r->made = p;
		r->made_cap = cap;
	}
	env_mutex_lock(&db->mu);
	uint64_t number = manifest_new_file_number(db->man);
	uint64_t salt = env_rng_next(&db->rng);
	env_mutex_unlock(&db->mu);
	r->made[r->made_count++] = number;
	char path[FS_PATH_BYTES_MAX];
	int err = lsm_path(path, sizeof(path), db->dir, number, "blob");
	if (!err && (err = blob_writer_open(&r->bw, db->fs, path, number, salt)) == 0)
		r->bw_open = true;
	return err;
}

/* Reads the value at *from (verifying it) and appends it to the run's
 * blob file; *to is where it went. Readers go on using *from until the
 * edit is installed and they are done: the old file stays till then. */
static int move_value(struct run *r, struct bytes user, const struct blob_pointer *from,
                      struct blob_pointer *to)
{
	struct lsm *db = r->db;
	int err = 0;
	if (r->br_open && r->br.file_number != from->file_number) {
		blob_reader_close(&r->br);
		r->br_open = false;
	}
	if (!r->br_open) {
		char path[FS_PATH_BYTES_MAX];
		err = lsm_path(path, sizeof(path), db->dir, from->file_number, "blob");
		if (!err && (err = blob_reader_open(&r->br, db->fs, path, from->file_number)) != 0)
			return err == ERR_NOT_FOUND ? ERR_CORRUPT : err;
		r->br_open = !err;
	}
	r->val.len = 0;
	if (!err)
		err = buf_reserve(&r->val, from->value_len + 1, VALUE_BYTES_MAX + 1);
	if (!err)
		err = blob_read(&r->br, from, user, r->val.data, from->value_len);
	if (!err)
		err = gc_writer(r);
	if (!err)
		err = blob_writer_add(&r->bw, user, bytes_make(r->val.data, from->value_len), to);
	if (err)
		return err;
	uint64_t bytes = blob_record_bytes(user.len, from->value_len);
	r->written += bytes;
	return lsm_blob_tally_add(&r->moved, to->file_number, bytes);
}

/* Emits a live BLOB entry, moving its value first when its file is being
 * collected: same key, same sequence, a pointer into the run's file. */
static int emit_blob(struct run *r, struct bytes ikey, struct bytes user, uint64_t seq,
                     int64_t exp, struct bytes value, const struct blob_pointer *p)
{
	if (!relocates(r->c, p->file_number))
		return emit(r, ikey, value, seq, p->file_number);
	struct blob_pointer to;
	int err = move_value(r, user, p, &to);
	if (err)
		return err;
	uint8_t enc[BLOB_POINTER_BYTES_MAX], rec[9 + BLOB_POINTER_BYTES_MAX];
	size_t n = blob_pointer_encode(enc, &to);
	struct bytes moved = bytes_make(rec, vrec_encode(rec, exp, bytes_make(enc, n)));
	if ((err = emit(r, ikey, moved, seq, to.file_number)) == 0)
		err = garbage(r, user, p);
	return err;
}

/* Keeps, rewrites as a tombstone or drops one merged entry; a BLOB entry
 * dropped or moved becomes garbage of its file. */
static int step(struct run *r, struct bytes ikey, struct bytes value)
{
	struct bytes user;
	uint64_t seq;
	enum ikey_kind kind;
	if (!ikey_decode(ikey, &user, &seq, &kind))
		return ERR_CORRUPT;
	int64_t exp = 0;
	struct blob_pointer bp;
	bool blob = kind == IKEY_KIND_BLOB;
	if (blob && lsm_blob_pointer_of(value, &exp, &bp))
		return ERR_CORRUPT;
	if (r->have_prev && ikey_user_cmp(user, bytes_make(r->prev.data, r->prev.len)) == 0)
		return blob ? garbage(r, user, &bp) : 0; /* shadowed by the newer version */
	int err = copy_key(&r->prev, user);
	if (err)
		return err;
	r->have_prev = true;
	struct bytes v;
	if (kind != IKEY_KIND_DELETE && !vrec_decode(value, &exp, &v))
		return ERR_CORRUPT;
	bool dead = kind == IKEY_KIND_DELETE || (exp != 0 && exp <= r->now_ms);
	if (!dead)
		return blob ? emit_blob(r, ikey, user, seq, exp, value, &bp)
		            : emit(r, ikey, value, seq, 0);
	if (blob && (err = garbage(r, user, &bp)) != 0)
		return err;
	if (bottommost(r->c, user))
		return 0; /* nothing below to hide: gone */
	uint8_t *tomb = malloc(ikey.len);
	if (!tomb)
		return ERR_NOMEM;
	ikey_encode(tomb, user, seq, IKEY_KIND_DELETE);
	err = emit(r, bytes_make(tomb, ikey.len), bytes_make(NULL, 0), seq, 0);
	free(tomb);
	return err;
}

/* Every LSM_COMPACTION_CHECK_ENTRIES merged entries (LevelDB's
 * DoCompactionWork does both): a pending immutable memtable is flushed
 * now rather than after the compaction, so writers do not stall behind a
 * long merge and L0 collects the flushes that the next L0 compaction
 * merges in one rewrite of L1 (up to LSM_L0_STOP_TRIGGER tables; past it
 * the flush waits). A flush adds only a newer L0 table, which no input
 * of this compaction shadows and which its install leaves alone. A
 * closing store cuts the compaction short with ERR_AGAIN: its outputs
 * are removed and nothing is installed, as a throttled one is. */
static int between_entries(struct run *r)
{
	struct lsm *db = r->db;
	env_mutex_lock(&db->mu);
	lsm_bg_priority_locked(db);
	if (db->imm && !db->failed && !db->stop && env_mono_ns() >= db->bg_retry_ns &&
	    version_file_count(manifest_current(db->man), 0) < LSM_L0_STOP_TRIGGER)
		lsm_flush_imm_locked(db);
	int err = db->stop ? ERR_AGAIN : db->failed;
	env_mutex_unlock(&db->mu);
	return err;
}

/* Private readers of the inputs, merged; then every entry through step. */
static int merge_inputs(struct run *r)
{
	size_t n = r->c->in_count;
	struct sst_reader **rd = calloc(n + 1, sizeof(*rd));
	struct sst_iter **it = calloc(n + 1, sizeof(*it));
	struct merge_child *kids = calloc(n + 1, sizeof(*kids));
	struct merge_iter *m = NULL;
	int err = rd && it && kids ? 0 : ERR_NOMEM;
	for (size_t i = 0; !err && i < n; i++) {
		char path[FS_PATH_BYTES_MAX];
		struct sst_read_options ro = {.file_number = r->c->in[i]->number};
		err = lsm_path(path, sizeof(path), r->db->dir, r->c->in[i]->number, "sst");
		if (!err)
			err = sst_open(&rd[i], r->db->fs, path, &ro, NULL);
		if (!err)
			err = sst_iter_create(rd[i], &it[i]);
		if (!err)
			kids[i] = merge_child_sst(it[i]);
	}
	if (!err)
		err = merge_iter_create(kids, n, &m);
	if (!err) {
		merge_iter_seek_to_first(m);
		for (; !err && merge_iter_valid(m); merge_iter_next(m)) {
			err = step(r, merge_iter_key(m), merge_iter_value(m));
			if (!err && ++r->since_check >= LSM_COMPACTION_CHECK_ENTRIES) {
				r->since_check = 0;
				err = between_entries(r);
			}
		}
		if (!err)
			err = merge_iter_status(m);
	}
	merge_iter_destroy(m);
	for (size_t i = 0; rd && it && i < n; i++) {
		if (it[i])
			sst_iter_destroy(it[i]);
		if (rd[i])
			sst_close(rd[i]);
	}
	free(kids);
	free(it);
	free(rd);
	return err;
}

/* Opens a reader per output and records the edit; mu not held. */
static int prepare_install(struct run *r, struct version_edit *e)
{
	int err = 0;
	for (size_t i = 0; !err && i < r->c->in_count; i++)
		err = version_edit_delete_file(e, r->c->in_level[i], r->c->in[i]->number);
	for (size_t i = 0; !err && i < r->out_count; i++) {
		char path[FS_PATH_BYTES_MAX];
		struct sst_read_options ro = {.cache = r->db->cache,
		                              .file_number = r->outs[i].f.number};
		err = lsm_path(path, sizeof(path), r->db->dir, r->outs[i].f.number, "sst");
		if (!err)
			err = sst_open(&r->outs[i].reader, r->db->fs, path, &ro, NULL);
		if (!err)
			err = version_edit_add_file(e, &r->outs[i].f);
	}
	return err;
}

static int remember_obsolete_locked(struct lsm *db, uint64_t number)
{
	if (db->obsolete_count == db->obsolete_cap) {
		size_t cap = db->obsolete_cap ? 2 * db->obsolete_cap : 16;
		uint64_t *o = realloc(db->obsolete, cap * sizeof(*o));
		if (!o)
			return ERR_NOMEM;
		db->obsolete = o;
		db->obsolete_cap = cap;
	}
	db->obsolete[db->obsolete_count++] = number;
	return 0;
}

/* Adds the blob changes of the run to e: each file it wrote, sealed (its
 * records are all in the outputs), and the garbage it made, with the
 * deletes that follow. Garbage of a file the version does not list (a
 * store's damage) is left out rather than failing it. mu held. */
static int blob_edit_locked(struct run *r, struct version_edit *e)
{
	struct version *v = manifest_current(r->db->man);
	int err = 0;
	for (size_t i = 0; !err && i < r->moved.count; i++) {
		const struct lsm_blob_tally *t = &r->moved.items[i];
		struct vedit_blob b = {.op = VEDIT_BLOB_FILE, .number = t->number,
		                       .linked_bytes = t->bytes, .linked_records = t->records,
		                       .sealed = true};
		err = version_edit_blob(e, &b);
	}
	for (size_t i = 0; !err && i < r->garbage.count; i++) {
		const struct lsm_blob_tally *t = &r->garbage.items[i];
		struct vedit_blob b = {.op = VEDIT_BLOB_GARBAGE, .number = t->number,
		                       .garbage_bytes = t->bytes, .garbage_records = t->records};
		if (version_blob_find(v, t->number))
			err = version_edit_blob(e, &b);
	}
	return err ? err : lsm_blob_deletes_locked(r->db, e);
}

/* Logs the edit and swaps the tables; mu held. */
static int install_locked(struct run *r, struct version_edit *e, bool *installed)
{
	struct lsm *db = r->db;
	int err = blob_edit_locked(r, e);
	if (!err)
		err = manifest_log_and_apply(db->man, e);
	*installed = err == 0; /* from here on the outputs are live */
	if (*installed)
		lsm_blob_installed_locked(db, e, 0);
	for (size_t i = 0; !err && i < r->out_count; i++) {
		if ((err = lsm_table_add_locked(db, r->outs[i].f.number, r->outs[i].reader)) == 0)
			r->outs[i].reader = NULL;
	}
	/* Past the edit the inputs are dead whatever happens: at worst a
	 * failed remember leaves a file for the next open's orphan sweep. */
	for (size_t i = 0; !err && i < r->c->in_count; i++)
		err = remember_obsolete_locked(db, r->c->in[i]->number);
	return err;
}

/* Releases the run; on failure also removes its output files. */
static void run_deinit(struct run *r, bool remove_outputs)
{
	if (r->b)
		sst_builder_abandon(r->b);
	for (size_t i = 0; i < r->out_count; i++) {
		struct output *o = &r->outs[i];
		if (o->reader)
			sst_close(o->reader);
		char path[FS_PATH_BYTES_MAX];
		if (remove_outputs &&
		    lsm_path(path, sizeof(path), r->db->dir, o->f.number, "sst") == 0)
			env_fs_remove(r->db->fs, path); /* best effort: an orphan otherwise */
		buf_deinit(&o->lo);
		buf_deinit(&o->hi);
	}
	free(r->outs);
	buf_deinit(&r->prev);
	if (r->bw_open)
		blob_writer_close(&r->bw);
	if (r->br_open)
		blob_reader_close(&r->br);
	for (size_t i = 0; remove_outputs && i < r->made_count; i++) {
		char path[FS_PATH_BYTES_MAX];
		if (lsm_path(path, sizeof(path), r->db->dir, r->made[i], "blob") == 0)
			env_fs_remove(r->db->fs, path); /* best effort: an orphan otherwise */
	}
	free(r->made);
	buf_deinit(&r->val);
	lsm_blob_tallies_deinit(&r->garbage);
	lsm_blob_tallies_deinit(&r->moved);
}

/* An installed compaction, for lsm_stats. */
static void count_compaction(const struct run *r)
{
	uint64_t in = 0, out = 0;
	for (size_t i = 0; i < r->c->in_count; i++)
		in += r->c->in[i]->size;
	for (size_t i = 0; i < r->out_count; i++)
		out += r->outs[i].f.size;
	lsm_count(&r->db->stats.compactions, 1);
	lsm_count(&r->db->stats.compaction_read_bytes, in);
	lsm_count(&r->db->stats.compaction_write_bytes, out);
	uint64_t moved = 0;
	for (size_t i = 0; i < r->moved.count; i++)
		moved += r->moved.items[i].bytes;
	lsm_count(&r->db->stats.blob_gc_bytes, moved);
}

/* Builds the outputs and installs them; mu not held on entry or exit. */
static int run_compaction(struct lsm *db, struct compaction *c, bool *installed)
{
	struct run r = {.db = db, .c = c, .t0_ns = env_mono_ns(), .now_ms = env_wall_ms()};
	buf_init(&r.prev);
	buf_init(&r.val);
	int err = merge_inputs(&r);
	if (!err)
		err = finish_output(&r);
	if (!err && r.bw_open) {
		r.bw_open = false;
		err = blob_writer_finish(&r.bw); /* footer and sync; open synced its name */
	}
	if (!err && r.out_count && (err = env_fs_sync_dir(db->fs, db->dir)) == ERR_NOSPACE)
		err = ERR_IO; /* a failed fsync: never a full disk */
	struct version_edit e;
	version_edit_init(&e);
	if (!err)
		err = prepare_install(&r, &e);
	if (!err) {
		env_mutex_lock(&db->mu);
		err = install_locked(&r, &e, installed);
		if (*installed)
			count_compaction(&r); /* under mu: lsm_compact_wait then sees it */
		env_mutex_unlock(&db->mu);
	}
	version_edit_deinit(&e);
	run_deinit(&r, err != 0 && !*installed);
	return err;
}

/* True when the inputs can go down a level as they are (LevelDB's
 * trivial move): nothing of level + 1 overlaps them and, from L0, no two
 * of them overlap, so level + 1 stays sorted and disjoint. Nothing is
 * rewritten: a tombstone or an expired value moves along and is dropped
 * by a later merge. */
static bool movable(const struct compaction *c)
{
	if (c->gc || c->out_level == c->level)
		return false; /* a move would leave the blob references as they are */
	for (size_t i = 0; i < c->in_count; i++) {
		if (c->in_level[i] != c->level)
			return false;
		for (size_t j = 0; j < i; j++)
			if (overlaps(c->in[j], ukey(c->in[i]->smallest), ukey(c->in[i]->largest)))
				return false;
	}
	return c->in_count > 0;
}

/* Moves the inputs to level + 1 in one manifest edit; mu held (the edit
 * is small, as a flush's is). The tables, their readers and their cache
 * entries stay as they are: only the level changes. */
static int move_locked(struct lsm *db, const struct compaction *c)
{
	struct version_edit e;
	version_edit_init(&e);
	int err = 0;
	for (size_t i = 0; !err && i < c->in_count; i++) {
		const struct manifest_file *f = c->in[i];
		struct vedit_file to = {
			.level = c->level + 1, .number = f->number, .size = f->size,
			.min_seq = f->min_seq, .max_seq = f->max_seq, .blob_refs = f->blob_refs,
			.smallest = f->smallest, .largest = f->largest,
		};
		err = version_edit_delete_file(&e, c->level, f->number);
		if (!err)
			err = version_edit_add_file(&e, &to);
	}
	if (!err)
		err = manifest_log_and_apply(db->man, &e);
	version_edit_deinit(&e);
	return err;
}

bool lsm_compact_locked(struct lsm *db)
{
	uint32_t level = due_level(db, manifest_current(db->man));
	struct compaction c = {0};
	int err = 0;
	if (level < LSM_LEVELS)
		err = pick_locked(db, &c, level);
	else if (!pick_gc_locked(db, &c, &err))
		return false;
	bool installed = false;
	if (!err && movable(&c)) {
		err = move_locked(db, &c);
	} else if (!err) {
		env_mutex_unlock(&db->mu);
		err = run_compaction(db, &c, &installed);
		env_mutex_lock(&db->mu);
	}
	if (c.v)
		version_unref(c.v);
	free(c.in);
	free(c.in_level);
	free(c.reloc);
	if (err && err != ERR_AGAIN)
		lsm_bg_failed_locked(db, err); /* ERR_NOSPACE: retried after a backoff */
	else if (!err)
		db->bg_nospace = false;
	env_cond_broadcast(&db->cv);
	return err != ERR_AGAIN;
}

static void table_remove_locked(struct lsm *db, uint64_t number)
{
	struct lsm_table *t = lsm_table_find_locked(db, number);
	if (!t)
		return;
	size_t i = 0;
	while (db->tables[i] != t)
		i++;
	memmove(&db->tables[i], &db->tables[i + 1], (db->table_count - i - 1) * sizeof(t));
	db->table_count--;
	sst_close(t->reader);
	free(t);
}

void lsm_remove_obsolete_locked(struct lsm *db)
{
	ASSERT(db->readers == 0);
	uint64_t *list = db->obsolete;
	size_t count = db->obsolete_count;
	db->obsolete = NULL;
	db->obsolete_count = db->obsolete_cap = 0;
	uint64_t *blobs = db->obsolete_blobs;
	size_t blob_count = db->obsolete_blob_count;
	db->obsolete_blobs = NULL;
	db->obsolete_blob_count = db->obsolete_blob_cap = 0;
	db->removing = true; /* lsm_compact_wait waits for the files too */
	/* No reader holds a version older than the current one, and only
	 * readers use the tables of older versions. */
	for (size_t i = 0; i < count; i++)
		table_remove_locked(db, list[i]);
	env_mutex_unlock(&db->mu);
	for (size_t i = 0; i < count; i++) {
		char path[FS_PATH_BYTES_MAX];
		if (lsm_path(path, sizeof(path), db->dir, list[i], "sst") == 0)
			env_fs_remove(db->fs, path); /* best effort: an orphan otherwise */
	}
	/* A blob file leaves the version only once no table of it points
	 * into it; the readers of older versions, and checkpoints linking
	 * its files, count in db->readers, so none is left. */
	for (size_t i = 0; i < blob_count; i++) {
		char path[FS_PATH_BYTES_MAX];
		if (lsm_path(path, sizeof(path), db->dir, blobs[i], "blob") == 0)
			env_fs_remove(db->fs, path); /* best effort: an orphan otherwise */
	}
	free(list);
	free(blobs);
	env_mutex_lock(&db->mu);
	db->removing = false;
	env_cond_broadcast(&db->cv);
}

void lsm_reader_done_locked(struct lsm *db)
{
	ASSERT(db->readers > 0);
	if (--db->readers == 0 && (db->obsolete_count || db->obsolete_blob_count))
		env_cond_broadcast(&db->cv);
}
