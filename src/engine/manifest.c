/*
 * manifest.c - versions, the manifest log, CURRENT, and recovery.
 *
 * Files (docs/formats/manifest.md): MANIFEST-<number> is a WAL-format log
 * (wal.h) of version edits whose first record is a snapshot of the whole
 * state; CURRENT holds "MANIFEST-<number>\n". A new manifest is made live
 * in this order: create it and sync its header and directory (wal_open),
 * append and sync the snapshot, write CURRENT.tmp and sync it, rename it
 * over CURRENT, sync the directory. A power cut at any point leaves CURRENT
 * naming either the old manifest (whole) or the new one (whole, since its
 * snapshot was synced before the rename).
 *
 * Versions share their struct manifest_file records by reference count, so
 * installing an edit costs one copy of the per-level pointer arrays, not of
 * the files. Live edits are checked against the level rules on every apply;
 * recovery applies edits in place and checks the rules once at the end,
 * because checking after each of E edits would make replay O(E * files).
 */
#include "engine/manifest.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/assert.h"
#include "base/err.h"
#include "engine/ikey.h"
#include "engine/wal.h"

#define CURRENT_BYTES_MAX 64 /* "MANIFEST-" + 20 digits + "\n" fits */

struct version {
	uint32_t refs;
	struct manifest_file **files[LSM_LEVELS];
	size_t count[LSM_LEVELS], cap[LSM_LEVELS];
	uint64_t bytes[LSM_LEVELS];
	struct manifest_blob *blobs; /* by ascending number */
	size_t blob_count, blob_cap;
};

/* Scalars of the state that an edit may set. */
struct mstate {
	uint64_t log_number, next_file, last_seq;
};

struct manifest {
	struct env_fs *fs;
	char dir[FS_PATH_BYTES_MAX];
	uint64_t salt, roll_bytes, roll_at;
	bool salvage;
	struct version *current;
	struct mstate st;
	unsigned pointer_mask;
	struct buf pointers[LSM_LEVELS]; /* compaction pointer per level */
	uint64_t manifest_number;        /* the live (or recovered) manifest; 0: none */
	struct wal wal;
	bool wal_open;
	struct buf scratch; /* encoded edits */
	int failed;
	bool must_roll; /* an append to the live manifest ran out of space */
	bool blobs_tracked;
};

/* ---- Files and versions ---------------------------------------------- */

static struct manifest_file *file_create(const struct vedit_file *f)
{
	struct manifest_file *mf = malloc(sizeof(*mf) + f->smallest.len + f->largest.len);
	if (!mf)
		return NULL;
	uint8_t *keys = (uint8_t *)(mf + 1);
	memcpy(keys, f->smallest.ptr, f->smallest.len);
	memcpy(keys + f->smallest.len, f->largest.ptr, f->largest.len);
	mf->number = f->number;
	mf->size = f->size;
	mf->min_seq = f->min_seq;
	mf->max_seq = f->max_seq;
	mf->blob_refs = f->blob_refs;
	mf->smallest = bytes_make(keys, f->smallest.len);
	mf->largest = bytes_make(keys + f->smallest.len, f->largest.len);
	mf->refs = 1;
	return mf;
}

static void file_unref(struct manifest_file *f)
{
	ASSERT(f->refs > 0);
	if (--f->refs == 0)
		free(f);
}

void version_ref(struct version *v)
{
	ASSERT(v->refs > 0);
	v->refs++;
}

void version_unref(struct version *v)
{
	ASSERT(v->refs > 0);
	if (--v->refs)
		return;
	for (uint32_t l = 0; l < LSM_LEVELS; l++) {
		for (size_t i = 0; i < v->count[l]; i++)
			file_unref(v->files[l][i]);
		free(v->files[l]);
	}
	free(v->blobs);
	free(v);
}

size_t version_file_count(const struct version *v, uint32_t level)
{
	ASSERT(level < LSM_LEVELS);
	return v->count[level];
}

const struct manifest_file *version_file(const struct version *v, uint32_t level, size_t i)
{
	ASSERT(level < LSM_LEVELS && i < v->count[level]);
	return v->files[level][i];
}

uint64_t version_level_bytes(const struct version *v, uint32_t level)
{
	ASSERT(level < LSM_LEVELS);
	return v->bytes[level];
}

size_t version_blob_count(const struct version *v)
{
	return v->blob_count;
}

const struct manifest_blob *version_blob(const struct version *v, size_t i)
{
	ASSERT(i < v->blob_count);
	return &v->blobs[i];
}

/* The index of the first blob file numbered >= number. */
static size_t blob_lower_bound(const struct version *v, uint64_t number)
{
	size_t lo = 0, hi = v->blob_count;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (v->blobs[mid].number < number)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

const struct manifest_blob *version_blob_find(const struct version *v, uint64_t number)
{
	size_t i = blob_lower_bound(v, number);
	return i < v->blob_count && v->blobs[i].number == number ? &v->blobs[i] : NULL;
}

int version_snapshot_blobs(const struct version *v, struct version_edit *e)
{
	version_edit_set_blobs_tracked(e);
	int rc = 0;
	for (size_t i = 0; i < v->blob_count && !rc; i++) {
		const struct manifest_blob *b = &v->blobs[i];
		struct vedit_blob vb = {VEDIT_BLOB_FILE,    b->number,          b->linked_bytes,
		                        b->linked_records,  b->garbage_bytes,   b->garbage_records,
		                        b->sealed};
		rc = version_edit_blob(e, &vb);
	}
	return rc;
}

/* The blob file number of v, inserted (zeroed) when absent; NULL when out
 * of memory or past the limit. */
static struct manifest_blob *blob_upsert(struct version *v, uint64_t number, bool *fresh)
{
	size_t i = blob_lower_bound(v, number);
	*fresh = false;
	if (i < v->blob_count && v->blobs[i].number == number)
		return &v->blobs[i];
	if (v->blob_count == v->blob_cap) {
		if (v->blob_cap >= MANIFEST_FILES_MAX)
			return NULL;
		size_t cap = v->blob_cap ? 2 * v->blob_cap : 8;
		void *p = realloc(v->blobs, cap * sizeof(*v->blobs));
		if (!p)
			return NULL;
		v->blobs = p;
		v->blob_cap = cap;
	}
	memmove(&v->blobs[i + 1], &v->blobs[i], (v->blob_count - i) * sizeof(*v->blobs));
	v->blob_count++;
	v->blobs[i] = (struct manifest_blob){.number = number};
	*fresh = true;
	return &v->blobs[i];
}

/* Applies one blob change to v; the rules of docs/formats/manifest.md. */
static int blob_apply(struct version *v, const struct vedit_blob *b, const char **reason)
{
	bool fresh;
	struct manifest_blob *f;
	if (b->op == VEDIT_BLOB_FILE || b->op == VEDIT_BLOB_LINK) {
		if (!(f = blob_upsert(v, b->number, &fresh))) {
			*reason = "too many blob files";
			return ERR_NOMEM;
		}
	} else if (!(f = (struct manifest_blob *)version_blob_find(v, b->number))) {
		*reason = "change to a blob file that is not in the version";
		return ERR_CORRUPT;
	}
	switch (b->op) {
	case VEDIT_BLOB_FILE:
		*f = (struct manifest_blob){b->number,        b->linked_bytes,  b->linked_records,
		                            b->garbage_bytes, b->garbage_records, b->sealed};
		return 0;
	case VEDIT_BLOB_LINK:
		if (f->sealed || f->linked_bytes + b->linked_bytes > BLOB_FILE_BYTES_MAX) {
			*reason = "link to a sealed or overfull blob file";
			return ERR_CORRUPT;
		}
		f->linked_bytes += b->linked_bytes;
		f->linked_records += b->linked_records;
		return 0;
	case VEDIT_BLOB_GARBAGE:
		if (b->garbage_bytes > f->linked_bytes - f->garbage_bytes ||
		    b->garbage_records > f->linked_records - f->garbage_records) {
			*reason = "blob garbage past what was linked";
			return ERR_CORRUPT;
		}
		f->garbage_bytes += b->garbage_bytes;
		f->garbage_records += b->garbage_records;
		return 0;
	case VEDIT_BLOB_SEAL:
		f->sealed = true;
		return 0;
	default:
		if (!f->sealed || f->garbage_bytes != f->linked_bytes) {
			*reason = "deleted blob file is not sealed garbage";
			return ERR_CORRUPT;
		}
		size_t i = (size_t)(f - v->blobs);
		memmove(&v->blobs[i], &v->blobs[i + 1], (v->blob_count - i - 1) * sizeof(*v->blobs));
		v->blob_count--;
		return 0;
	}
}

static struct version *version_new(void)
{
	struct version *v = calloc(1, sizeof(*v));
	if (v)
		v->refs = 1;
	return v;
}

static int level_reserve(struct version *v, uint32_t l, size_t extra)
{
	if (v->count[l] + extra <= v->cap[l])
		return 0;
	if (v->count[l] + extra > MANIFEST_FILES_MAX)
		return ERR_LIMIT;
	size_t cap = v->cap[l] ? v->cap[l] : 8;
	while (cap < v->count[l] + extra)
		cap *= 2;
	void *p = realloc(v->files[l], cap * sizeof(*v->files[l]));
	if (!p)
		return ERR_NOMEM;
	v->files[l] = p;
	v->cap[l] = cap;
	return 0;
}

/* A copy of v sharing its files; NULL when out of memory. */
static struct version *version_clone(const struct version *v)
{
	struct version *c = version_new();
	if (!c)
		return NULL;
	for (uint32_t l = 0; l < LSM_LEVELS; l++) {
		if (level_reserve(c, l, v->count[l])) {
			version_unref(c);
			return NULL;
		}
		for (size_t i = 0; i < v->count[l]; i++) {
			c->files[l][i] = v->files[l][i];
			c->files[l][i]->refs++;
		}
		c->count[l] = v->count[l];
		c->bytes[l] = v->bytes[l];
	}
	if (v->blob_count) {
		c->blobs = malloc(v->blob_count * sizeof(*c->blobs));
		if (!c->blobs) {
			version_unref(c);
			return NULL;
		}
		memcpy(c->blobs, v->blobs, v->blob_count * sizeof(*c->blobs));
		c->blob_count = c->blob_cap = v->blob_count;
	}
	return c;
}

/* Applies e's deletions, then its additions, to v (which nobody else
 * holds). Not failure-atomic: the caller discards v on error. */
static int version_apply(struct version *v, const struct version_edit *e, const char **reason)
{
	for (size_t d = 0; d < e->del_count; d++) {
		uint32_t l = e->dels[d].level;
		size_t i = 0;
		while (i < v->count[l] && v->files[l][i]->number != e->dels[d].number)
			i++;
		if (i == v->count[l]) {
			*reason = "deleted file is not in the version";
			return ERR_CORRUPT;
		}
		struct manifest_file *f = v->files[l][i];
		v->bytes[l] -= f->size;
		memmove(&v->files[l][i], &v->files[l][i + 1],
		        (v->count[l] - i - 1) * sizeof(*v->files[l]));
		v->count[l]--;
		file_unref(f);
	}
	for (size_t a = 0; a < e->add_count; a++) {
		uint32_t l = e->adds[a].level;
		int rc = level_reserve(v, l, 1);
		if (rc) {
			*reason = "too many files";
			return rc;
		}
		struct manifest_file *f = file_create(&e->adds[a]);
		if (!f)
			return ERR_NOMEM;
		v->files[l][v->count[l]++] = f;
		v->bytes[l] += f->size;
	}
	for (size_t b = 0; b < e->blob_count; b++) {
		int rc = blob_apply(v, &e->blobs[b], reason);
		if (rc)
			return rc;
	}
	return 0;
}

static int cmp_l0(const void *a, const void *b)
{
	const struct manifest_file *x = *(struct manifest_file *const *)a;
	const struct manifest_file *y = *(struct manifest_file *const *)b;
	return x->number < y->number ? 1 : x->number > y->number ? -1 : 0; /* newest first */
}

static int cmp_sorted(const void *a, const void *b)
{
	const struct manifest_file *x = *(struct manifest_file *const *)a;
	const struct manifest_file *y = *(struct manifest_file *const *)b;
	int c = ikey_cmp(x->smallest, y->smallest);
	return c ? c : (x->number > y->number) - (x->number < y->number);
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return (x > y) - (x < y);
}

static struct bytes user_key(struct bytes ikey)
{
	return bytes_make(ikey.ptr, ikey.len - IKEY_TRAILER_BYTES);
}

/* Sorts every level into its order and checks the level rules: no user
 * key in two tables of one level L1+, no file number twice. */
static int version_finish(struct version *v, const char **reason)
{
	size_t total = 0;
	for (uint32_t l = 0; l < LSM_LEVELS; l++) {
		if (v->count[l]) /* files[l] is NULL while the level is empty */
			qsort(v->files[l], v->count[l], sizeof(*v->files[l]),
			      l ? cmp_sorted : cmp_l0);
		for (size_t i = 1; l && i < v->count[l]; i++) {
			if (ikey_user_cmp(user_key(v->files[l][i - 1]->largest),
			                  user_key(v->files[l][i]->smallest)) >= 0) {
				*reason = "overlapping files in a level past L0";
				return ERR_CORRUPT;
			}
		}
		total += v->count[l];
	}
	if (total > MANIFEST_FILES_MAX) {
		*reason = "too many files";
		return ERR_LIMIT;
	}
	uint64_t *nums = malloc((total ? total : 1) * sizeof(*nums));
	if (!nums)
		return ERR_NOMEM;
	size_t n = 0;
	for (uint32_t l = 0; l < LSM_LEVELS; l++)
		for (size_t i = 0; i < v->count[l]; i++)
			nums[n++] = v->files[l][i]->number;
	qsort(nums, n, sizeof(*nums), cmp_u64);
	int rc = 0;
	for (size_t i = 1; i < n && !rc; i++)
		if (nums[i] == nums[i - 1])
			rc = ERR_CORRUPT;
	free(nums);
	if (rc)
		*reason = "a file number appears twice";
	return rc;
}

/* ---- Names ------------------------------------------------------------ */

int manifest_file_path(char *out, size_t cap, const char *dir, enum manifest_file_kind kind,
                       uint64_t number)
{
	int n;
	switch (kind) {
	case MANIFEST_KIND_TABLE:
		n = snprintf(out, cap, "%s/%06" PRIu64 ".sst", dir, number);
		break;
	case MANIFEST_KIND_LOG:
		n = snprintf(out, cap, "%s/%06" PRIu64 ".log", dir, number);
		break;
	case MANIFEST_KIND_MANIFEST:
		n = snprintf(out, cap, "%s/MANIFEST-%06" PRIu64, dir, number);
		break;
	default:
		n = snprintf(out, cap, "%s/CURRENT.tmp", dir);
		break;
	}
	return n < 0 || (size_t)n >= cap ? ERR_LIMIT : 0;
}

/* Parses 1..20 decimal digits in [s, s + len) without overflow. */
static bool parse_number(const char *s, size_t len, uint64_t *out)
{
	if (len == 0 || len > 20)
		return false;
	uint64_t v = 0;
	for (size_t i = 0; i < len; i++) {
		if (s[i] < '0' || s[i] > '9' || v > (UINT64_MAX - (uint64_t)(s[i] - '0')) / 10)
			return false;
		v = v * 10 + (uint64_t)(s[i] - '0');
	}
	*out = v;
	return true;
}

/* Classifies a directory entry; false for names the manifest does not own
 * (CURRENT itself, blob files, anything else). */
static bool parse_name(const char *name, enum manifest_file_kind *kind, uint64_t *number)
{
	size_t len = strlen(name);
	*number = 0;
	if (strcmp(name, "CURRENT.tmp") == 0) {
		*kind = MANIFEST_KIND_TEMP;
		return true;
	}
	if (len > 9 && memcmp(name, "MANIFEST-", 9) == 0) {
		*kind = MANIFEST_KIND_MANIFEST;
		return parse_number(name + 9, len - 9, number);
	}
	if (len > 4 && strcmp(name + len - 4, ".sst") == 0) {
		*kind = MANIFEST_KIND_TABLE;
		return parse_number(name, len - 4, number);
	}
	if (len > 4 && strcmp(name + len - 4, ".log") == 0) {
		*kind = MANIFEST_KIND_LOG;
		return parse_number(name, len - 4, number);
	}
	return false;
}

/* ---- Writing ---------------------------------------------------------- */

/* The whole state as one edit: the first record of every manifest. */
static int snapshot_encode(struct manifest *m, const struct version *v, const struct mstate *st,
                           const struct version_edit *e)
{
	struct version_edit s;
	version_edit_init(&s);
	version_edit_set_comparator(&s);
	version_edit_set_log_number(&s, st->log_number);
	version_edit_set_next_file(&s, st->next_file);
	version_edit_set_last_seq(&s, st->last_seq);
	int rc = 0;
	for (uint32_t l = 0; l < LSM_LEVELS && !rc; l++) {
		for (size_t i = 0; i < v->count[l] && !rc; i++) {
			const struct manifest_file *f = v->files[l][i];
			struct vedit_file vf = {l,          f->number,    f->size,     f->min_seq,
			                        f->max_seq, f->blob_refs, f->smallest, f->largest};
			rc = version_edit_add_file(&s, &vf);
		}
		if (e && (e->pointer_mask & (1u << l)))
			version_edit_set_compact_pointer(&s, l, e->compact_pointer[l]);
		else if (m->pointer_mask & (1u << l))
			version_edit_set_compact_pointer(
			    &s, l, bytes_make(m->pointers[l].data, m->pointers[l].len));
	}
	if (!rc)
		rc = version_snapshot_blobs(v, &s);
	m->scratch.len = 0;
	if (!rc)
		rc = version_edit_encode(&s, &m->scratch);
	version_edit_deinit(&s);
	return rc;
}

/* ERR_NOSPACE from this file means an append, create or rename ran out of
 * room and left CURRENT and the live manifest as they were; a failed
 * fsync is ERR_IO whatever the OS said, since nobody knows what reached
 * the disk (wal.c does the same). */
static int sync_err(int rc)
{
	return rc == ERR_NOSPACE ? ERR_IO : rc;
}

/* Replaces CURRENT atomically with a file naming manifest number. */
static int current_write(struct manifest *m, uint64_t number)
{
	char tmp[FS_PATH_BYTES_MAX], cur[FS_PATH_BYTES_MAX], line[CURRENT_BYTES_MAX];
	int n = snprintf(line, sizeof(line), "MANIFEST-%06" PRIu64 "\n", number);
	ASSERT(n > 0 && (size_t)n < sizeof(line));
	int rc = manifest_file_path(tmp, sizeof(tmp), m->dir, MANIFEST_KIND_TEMP, 0);
	if (!rc && snprintf(cur, sizeof(cur), "%s/CURRENT", m->dir) >= (int)sizeof(cur))
		rc = ERR_LIMIT;
	struct env_file *f = NULL;
	if (!rc)
		rc = env_fs_open(m->fs, tmp, ENV_FS_CREATE | ENV_FS_TRUNCATE, &f);
	if (rc)
		return rc;
	rc = env_fs_append(m->fs, f, line, (size_t)n);
	if (!rc)
		rc = sync_err(env_fs_sync(m->fs, f));
	int crc = env_fs_close(m->fs, f);
	if (!rc)
		rc = crc == ERR_NOSPACE ? ERR_IO : crc;
	if (!rc)
		rc = env_fs_rename(m->fs, tmp, cur); /* ERR_NOSPACE: CURRENT unchanged */
	if (!rc)
		rc = sync_err(env_fs_sync_dir(m->fs, m->dir));
	return rc;
}

/* Starts manifest number holding a snapshot of (v, st, pointers with e's
 * applied) and makes it live. On failure the old manifest stays open (and
 * the caller marks the manifest failed). */
static int roll(struct manifest *m, uint64_t number, const struct version *v,
                const struct mstate *st, const struct version_edit *e, bool *wrote)
{
	char path[FS_PATH_BYTES_MAX];
	int rc = manifest_file_path(path, sizeof(path), m->dir, MANIFEST_KIND_MANIFEST, number);
	if (!rc)
		rc = snapshot_encode(m, v, st, e);
	if (rc)
		return rc; /* nothing written: the old manifest is still good */
	*wrote = true;
	struct wal w;
	struct wal_options wo = {number, m->salt ^ (number * 0x9e3779b97f4a7c15ull),
	                         MANIFEST_RECORD_BYTES_MAX};
	rc = wal_open(&w, m->fs, path, &wo);
	if (rc)
		return rc;
	struct bytes rec = bytes_make(m->scratch.data, m->scratch.len);
	rc = wal_append(&w, &rec, 1);
	if (!rc)
		rc = wal_sync(&w);
	if (!rc)
		rc = current_write(m, number);
	if (rc) {
		wal_close(&w); /* the file stays: CURRENT may already name it */
		if (rc == ERR_NOSPACE) /* but not for this: CURRENT names the old one */
			env_fs_remove(m->fs, path); /* best effort: an orphan otherwise */
		return rc;
	}
	uint64_t old = m->manifest_number;
	if (m->wal_open)
		wal_close(&m->wal);
	if (old && old != number &&
	    manifest_file_path(path, sizeof(path), m->dir, MANIFEST_KIND_MANIFEST, old) == 0)
		env_fs_remove(m->fs, path); /* best effort: an orphan is harmless */
	m->wal = w;
	m->wal_open = true;
	m->must_roll = false;
	m->manifest_number = number;
	/* Roll again only after the log has grown past twice its snapshot, so
	 * a state bigger than roll_bytes does not roll on every edit. */
	m->roll_at =
	    m->roll_bytes > 2 * wal_synced_bytes(&w) ? m->roll_bytes : 2 * wal_synced_bytes(&w);
	return 0;
}

int manifest_start(struct manifest *m)
{
	if (m->failed)
		return m->failed;
	uint64_t number = m->st.next_file++;
	struct mstate st = m->st;
	bool wrote = false;
	int rc = roll(m, number, m->current, &st, NULL, &wrote);
	if (rc)
		m->failed = rc;
	else
		m->blobs_tracked = true; /* the snapshot carries the marker */
	return rc;
}

bool manifest_blobs_tracked(const struct manifest *m)
{
	return m->blobs_tracked;
}

int manifest_adopt_blob(struct manifest *m, const struct vedit_blob *b)
{
	ASSERT(!m->wal_open && b->op == VEDIT_BLOB_FILE);
	if (version_blob_find(m->current, b->number))
		return ERR_CORRUPT;
	const char *reason = NULL;
	return blob_apply(m->current, b, &reason);
}

/* Makes room for e's compaction pointers, so that installing them after
 * the edit is durable cannot fail. */
static int pointers_reserve(struct manifest *m, const struct version_edit *e)
{
	for (uint32_t l = 0; l < LSM_LEVELS; l++) {
		struct buf *b = &m->pointers[l];
		size_t want = e->compact_pointer[l].len;
		if (!(e->pointer_mask & (1u << l)) || want <= b->len)
			continue;
		int rc = buf_reserve(b, want - b->len, MANIFEST_RECORD_BYTES_MAX);
		if (rc)
			return rc;
	}
	return 0;
}

/* Installs what a durable edit changed besides the version. */
static int state_install(struct manifest *m, const struct version_edit *e)
{
	for (uint32_t l = 0; l < LSM_LEVELS; l++) {
		if (!(e->pointer_mask & (1u << l)))
			continue;
		struct buf *b = &m->pointers[l];
		b->len = 0;
		int rc = buf_reserve(b, e->compact_pointer[l].len, MANIFEST_RECORD_BYTES_MAX);
		if (rc)
			return rc;
		buf_put(b, e->compact_pointer[l].ptr, e->compact_pointer[l].len);
		m->pointer_mask |= 1u << l;
	}
	if (e->has & VEDIT_HAS_LOG_NUMBER)
		m->st.log_number = e->log_number;
	if (e->has & VEDIT_HAS_LAST_SEQ)
		m->st.last_seq = e->last_seq;
	if ((e->has & VEDIT_HAS_NEXT_FILE) && e->next_file > m->st.next_file)
		m->st.next_file = e->next_file;
	return 0;
}

/* The append of an edit to the live manifest ran out of space: cuts the
 * file back to its last edit (a failed append may leave any prefix of the
 * record, even all of it, and an edit that was not installed must never
 * be replayed: it may name a table the engine then removes) and syncs
 * it. The file is never appended to again: the next edit rolls to a new
 * manifest first. ERR_NOSPACE, or the error of the cut, which fails the
 * manifest. */
static int append_failed(struct manifest *m, uint64_t keep_bytes)
{
	uint64_t size;
	int rc = wal_abandon(&m->wal, keep_bytes, &size);
	if (rc)
		return rc;
	m->must_roll = true;
	return ERR_NOSPACE;
}

int manifest_log_and_apply(struct manifest *m, struct version_edit *e)
{
	if (m->failed)
		return m->failed;
	bool need_roll =
	    !m->wal_open || m->must_roll || wal_synced_bytes(&m->wal) >= m->roll_at;
	uint64_t number = need_roll ? m->st.next_file++ : 0;
	if (!(e->has & VEDIT_HAS_NEXT_FILE))
		version_edit_set_next_file(e, m->st.next_file);
	struct mstate st = m->st;
	if (e->has & VEDIT_HAS_LOG_NUMBER)
		st.log_number = e->log_number;
	if (e->has & VEDIT_HAS_LAST_SEQ)
		st.last_seq = e->last_seq;
	if (e->next_file > st.next_file)
		st.next_file = e->next_file;

	const char *reason = NULL;
	struct version *v = version_clone(m->current);
	if (!v)
		return ERR_NOMEM;
	int rc = version_apply(v, e, &reason);
	if (!rc)
		rc = version_finish(v, &reason);
	if (!rc)
		rc = pointers_reserve(m, e);
	ASSERT(rc != ERR_CORRUPT); /* a live edit that breaks the level rules is a bug */
	if (rc)
		goto fail;
	bool wrote = false;
	if (need_roll) {
		rc = roll(m, number, v, &st, e, &wrote);
	} else {
		m->scratch.len = 0;
		rc = version_edit_encode(e, &m->scratch);
		if (rc)
			goto fail; /* nothing written: still usable */
		struct bytes rec = bytes_make(m->scratch.data, m->scratch.len);
		uint64_t before = wal_synced_bytes(&m->wal); /* every edit is synced */
		wrote = true;
		rc = wal_append(&m->wal, &rec, 1);
		if (!rc)
			rc = wal_sync(&m->wal);
		if (rc == ERR_NOSPACE)
			rc = append_failed(m, before);
	}
	/* A roll that ran out of space left CURRENT and the old manifest as
	 * they were; an append that did was cut off and the file is retired. */
	if (rc && wrote && rc != ERR_NOSPACE)
		m->failed = rc; /* nobody knows what reached the disk: never retried */
	if (rc)
		goto fail;
	rc = state_install(m, e);
	ASSERT(rc == 0); /* pointers_reserve made the room */
	version_unref(m->current);
	m->current = v;
	return 0;
fail:
	version_unref(v);
	return rc;
}

struct version *manifest_current(const struct manifest *m)
{
	return m->current;
}

uint64_t manifest_new_file_number(struct manifest *m)
{
	return m->st.next_file++;
}

uint64_t manifest_next_file(const struct manifest *m)
{
	return m->st.next_file;
}

uint64_t manifest_log_number(const struct manifest *m)
{
	return m->st.log_number;
}

uint64_t manifest_last_seq(const struct manifest *m)
{
	return m->st.last_seq;
}

int manifest_failed(const struct manifest *m)
{
	return m->failed;
}

void manifest_destroy(struct manifest *m)
{
	if (!m)
		return;
	if (m->wal_open)
		wal_close(&m->wal);
	if (m->current)
		version_unref(m->current);
	for (uint32_t l = 0; l < LSM_LEVELS; l++)
		buf_deinit(&m->pointers[l]);
	buf_deinit(&m->scratch);
	free(m);
}

/* ---- Recovery --------------------------------------------------------- */

struct replay {
	struct manifest *m;
	struct version *v;
	uint64_t edits;
	uint64_t error_offset;
	const char *reason;
	unsigned seen; /* VEDIT_HAS_* over all edits */
};

static int replay_record(void *ctx, struct bytes record, uint64_t offset)
{
	struct replay *r = ctx;
	struct version_edit e;
	version_edit_init(&e);
	int rc = version_edit_decode(&e, record, &r->reason);
	if (!rc && r->edits == 0 && !(e.has & VEDIT_HAS_COMPARATOR)) {
		r->reason = "first edit is not a snapshot";
		rc = ERR_CORRUPT;
	}
	if (!rc)
		rc = version_apply(r->v, &e, &r->reason);
	if (!rc)
		rc = state_install(r->m, &e);
	if (rc) {
		r->error_offset = offset;
		if (!r->reason)
			r->reason = "out of memory";
	} else {
		r->seen |= e.has;
		r->edits++;
		if (e.has & VEDIT_HAS_BLOBS_TRACKED)
			r->m->blobs_tracked = true;
	}
	version_edit_deinit(&e);
	return rc;
}

/* Reads CURRENT into *number; ERR_NOT_FOUND when there is none. */
static int current_read(struct manifest *m, uint64_t *number)
{
	char path[FS_PATH_BYTES_MAX], line[CURRENT_BYTES_MAX];
	if (snprintf(path, sizeof(path), "%s/CURRENT", m->dir) >= (int)sizeof(path))
		return ERR_LIMIT;
	struct env_file *f;
	int rc = env_fs_open(m->fs, path, 0, &f);
	if (rc)
		return rc;
	size_t got = 0;
	rc = env_fs_read_at(m->fs, f, 0, line, sizeof(line), &got);
	env_fs_close(m->fs, f);
	if (rc)
		return rc;
	if (got < 11 || got == sizeof(line) || line[got - 1] != '\n' ||
	    memcmp(line, "MANIFEST-", 9) != 0 || !parse_number(line + 9, got - 10, number))
		return ERR_CORRUPT;
	return 0;
}

static int replay(struct manifest *m, uint64_t number, struct manifest_recover_result *res)
{
	char path[FS_PATH_BYTES_MAX];
	int rc = manifest_file_path(path, sizeof(path), m->dir, MANIFEST_KIND_MANIFEST, number);
	if (rc)
		return rc;
	struct replay r = {m, m->current, 0, 0, NULL, 0};
	struct wal_recover_options wo = {MANIFEST_RECORD_BYTES_MAX, m->salvage, false};
	struct wal_recover_result wr;
	rc = wal_recover(m->fs, path, &wo, replay_record, &r, &wr);
	res->manifest_number = number;
	res->edit_count = r.edits;
	res->dropped_bytes = wr.dropped_bytes;
	res->skipped_bytes = wr.skipped_bytes;
	if (rc == ERR_NOT_FOUND) {
		snprintf(res->error, sizeof(res->error),
		         "CURRENT names missing MANIFEST-%06" PRIu64, number);
		return ERR_CORRUPT;
	}
	if (rc) {
		res->error_offset = r.reason ? r.error_offset : wr.error_offset;
		snprintf(res->error, sizeof(res->error),
		         "MANIFEST-%06" PRIu64 ": %s at offset %" PRIu64, number,
		         r.reason              ? r.reason
		             : wr.error_reason ? wr.error_reason
		                               : "error",
		         res->error_offset);
		return rc;
	}
	const char *reason = NULL;
	if (r.edits == 0)
		reason = "no snapshot edit";
	else if (!(r.seen & VEDIT_HAS_NEXT_FILE))
		reason = "no next file number";
	else
		rc = version_finish(m->current, &reason);
	if (rc && !reason)
		return rc;
	if (reason) {
		snprintf(res->error, sizeof(res->error), "MANIFEST-%06" PRIu64 ": %s", number,
		         reason);
		return rc ? rc : ERR_CORRUPT;
	}
	m->manifest_number = number;
	return 0;
}

/* What the directory holds, from env_fs_list. */
struct listing {
	struct manifest_orphan *e;
	size_t count, cap;
	int rc;
};

static int list_entry(void *ctx, const char *name)
{
	struct listing *ls = ctx;
	enum manifest_file_kind kind;
	uint64_t number;
	if (!parse_name(name, &kind, &number))
		return 0;
	if (ls->count == ls->cap) {
		if (ls->cap >= MANIFEST_DIR_ENTRIES_MAX)
			return ls->rc = ERR_LIMIT;
		size_t cap = ls->cap ? ls->cap * 2 : 32;
		void *p = realloc(ls->e, cap * sizeof(*ls->e));
		if (!p)
			return ls->rc = ERR_NOMEM;
		ls->e = p;
		ls->cap = cap;
	}
	struct manifest_orphan *o = &ls->e[ls->count++];
	o->kind = kind;
	o->number = number;
	snprintf(o->name, sizeof(o->name), "%s", name);
	return 0;
}

static bool table_referenced(const uint64_t *nums, size_t n, uint64_t number)
{
	return bsearch(&number, nums, n, sizeof(*nums), cmp_u64) != NULL;
}

/* Collects the numbers of every table in v, sorted. */
static uint64_t *version_numbers(const struct version *v, size_t *n)
{
	size_t total = 0;
	for (uint32_t l = 0; l < LSM_LEVELS; l++)
		total += v->count[l];
	uint64_t *nums = malloc((total ? total : 1) * sizeof(*nums));
	if (!nums)
		return NULL;
	*n = 0;
	for (uint32_t l = 0; l < LSM_LEVELS; l++)
		for (size_t i = 0; i < v->count[l]; i++)
			nums[(*n)++] = v->files[l][i]->number;
	qsort(nums, *n, sizeof(*nums), cmp_u64);
	return nums;
}

/* Keeps in ls the entries nothing refers to, and reports the first table
 * of the version that the directory lacks. */
static int classify(struct manifest *m, struct listing *ls, struct manifest_recover_result *res)
{
	size_t n = 0;
	uint64_t *nums = version_numbers(m->current, &n);
	uint64_t *present = malloc((ls->count ? ls->count : 1) * sizeof(*present));
	if (!nums || !present) {
		free(nums);
		free(present);
		return ERR_NOMEM;
	}
	size_t keep = 0, tables = 0;
	for (size_t i = 0; i < ls->count; i++) {
		struct manifest_orphan o = ls->e[i];
		bool live = false;
		/* A number in use on disk is never handed out again. */
		if (o.number >= m->st.next_file)
			m->st.next_file = o.number + 1;
		if (o.kind == MANIFEST_KIND_TABLE) {
			present[tables++] = o.number;
			live = table_referenced(nums, n, o.number);
		} else if (o.kind == MANIFEST_KIND_LOG) {
			live = o.number >= m->st.log_number; /* WALs still to replay */
		} else if (o.kind == MANIFEST_KIND_MANIFEST) {
			live = o.number == m->manifest_number;
		}
		if (!live)
			ls->e[keep++] = o;
	}
	ls->count = keep;
	qsort(present, tables, sizeof(*present), cmp_u64);
	int rc = 0;
	for (size_t i = 0; i < n && !rc; i++) {
		if (!table_referenced(present, tables, nums[i])) {
			snprintf(res->error, sizeof(res->error), "missing file %" PRIu64, nums[i]);
			rc = ERR_CORRUPT;
		}
	}
	free(nums);
	free(present);
	return rc;
}

/* No CURRENT: a new store if the directory holds at most leftovers of a
 * first open that never committed (manifests, CURRENT.tmp); CURRENT, once
 * renamed into place, is only ever replaced, so its absence means no
 * manifest was ever live. Tables or logs without it are corruption. */
static int no_current(struct listing *ls, struct manifest_recover_result *res)
{
	for (size_t i = 0; i < ls->count; i++) {
		if (ls->e[i].kind == MANIFEST_KIND_TABLE || ls->e[i].kind == MANIFEST_KIND_LOG) {
			snprintf(res->error, sizeof(res->error), "no CURRENT file");
			return ERR_CORRUPT;
		}
	}
	res->new_db = true;
	return 0;
}

static int recover_dir(struct manifest *m, struct manifest_recover_result *res)
{
	uint64_t number = 0;
	int rc = current_read(m, &number);
	bool missing = rc == ERR_NOT_FOUND;
	if (rc == ERR_CORRUPT)
		snprintf(res->error, sizeof(res->error), "CURRENT is malformed");
	if (rc && !missing)
		return rc;
	if (!missing) {
		rc = replay(m, number, res);
		if (rc)
			return rc;
	}
	struct listing ls = {NULL, 0, 0, 0};
	rc = env_fs_list(m->fs, m->dir, list_entry, &ls);
	if (rc && ls.rc)
		rc = ls.rc;
	if (rc == ERR_LIMIT)
		snprintf(res->error, sizeof(res->error), "too many files in the directory");
	if (!rc)
		rc = missing ? no_current(&ls, res) : classify(m, &ls, res);
	if (rc) {
		free(ls.e);
		return rc;
	}
	res->orphans = ls.e;
	res->orphan_count = ls.count;
	return 0;
}

int manifest_recover(struct manifest **out, const struct manifest_options *opt,
                     struct manifest_recover_result *res)
{
	memset(res, 0, sizeof(*res));
	if (strlen(opt->dir) + 32 >= FS_PATH_BYTES_MAX)
		return ERR_LIMIT;
	struct manifest *m = calloc(1, sizeof(*m));
	if (!m)
		return ERR_NOMEM;
	m->fs = opt->fs;
	snprintf(m->dir, sizeof(m->dir), "%s", opt->dir);
	m->salt = opt->salt;
	m->roll_bytes = opt->roll_bytes ? opt->roll_bytes : MANIFEST_ROLL_BYTES_DEFAULT;
	m->salvage = opt->salvage;
	m->st.next_file = 1;
	for (uint32_t l = 0; l < LSM_LEVELS; l++)
		buf_init(&m->pointers[l]);
	buf_init(&m->scratch);
	m->current = version_new();
	int rc = m->current ? recover_dir(m, res) : ERR_NOMEM;
	if (!rc && res->new_db)
		m->blobs_tracked = true;
	if (rc) {
		manifest_destroy(m);
		return rc;
	}
	*out = m;
	return 0;
}

void manifest_recover_result_deinit(struct manifest_recover_result *res)
{
	free(res->orphans);
	res->orphans = NULL;
	res->orphan_count = 0;
}
