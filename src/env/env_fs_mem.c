/*
 * env_fs_mem.c - in-memory files with faults and power cuts (env_fs_mem.h).
 *
 * Representation. A file is an inode with two byte arrays: data (live) and
 * durable (as of the last successful sync), plus shared_len, the length of
 * the prefix the two are known to agree on, so that a sync copies only the
 * bytes appended since the previous one. Names are two flat arrays of
 * (path, inode) pairs, live and durable; an inode is reference-counted by
 * the names in both arrays and by open handles, and freed at zero. The
 * arrays are searched linearly: a test or simulated node holds tens of
 * files, not thousands.
 *
 * Mappings. map hands out ino->data itself, so a bit flipped later shows
 * through the view as it does through read_at. A mapping holds a
 * reference on its inode, and while an inode has mappings its data buffer
 * never moves or shrinks in place: growing it copies into a new buffer and
 * keeps the old one (retired) until the last unmap, so a view stays valid
 * (it then shows the bytes as they were, which only a file written after
 * map can notice; the engine maps only finished tables). Each access
 * through a mapping is counted and fault-checked as a READ, so a read
 * fault armed after map still fails it; after a crash, like a handle, a
 * mapping is dead and every access is ERR_IO.
 *
 * Invariants: shared_len <= min(len, durable_len); used_bytes is the sum of
 * len over all inodes alive; every handle's generation is at most
 * crash_gen, and it is dead when lower; retired buffers exist only while
 * maps > 0.
 */
#include "env/env_fs_mem.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/assert.h"
#include "base/err.h"
#include "base/limits.h"

struct mem_retired {
	struct mem_retired *next;
	uint8_t *buf;
};

struct mem_inode {
	uint8_t *data, *durable;
	uint64_t len, cap, durable_len, durable_cap;
	uint64_t shared_len;
	uint64_t crash_gen; /* the last crash applied to this inode */
	unsigned refs;
	unsigned maps;               /* live mappings of data */
	uint64_t mapped_len;         /* bytes of data the mappings show */
	struct mem_retired *retired; /* data buffers a mapping may still show */
};

/* env_fs_map.impl of this env. */
struct mem_map {
	struct mem_inode *ino;
	uint64_t gen;
};

struct mem_name {
	char *path;
	struct mem_inode *ino;
};

struct env_file {
	struct mem_inode *ino;
	uint64_t gen;
};

static struct env_fs_mem *mem_of(struct env_fs *fs)
{
	return (struct env_fs_mem *)fs;
}

/* ---- Inodes and names ------------------------------------------------ */

static void inode_unref(struct env_fs_mem *m, struct mem_inode *ino)
{
	ASSERT(ino->refs > 0);
	if (--ino->refs > 0)
		return;
	ASSERT(ino->maps == 0 && !ino->retired); /* a mapping holds a reference */
	m->used_bytes -= ino->len;
	free(ino->data);
	free(ino->durable);
	free(ino);
}

/* Grows *buf to hold at least need bytes. */
static int bytes_reserve(uint8_t **buf, uint64_t *cap, uint64_t need)
{
	if (need <= *cap)
		return 0;
	uint64_t n = *cap ? *cap : 256;
	while (n < need)
		n *= 2;
	uint8_t *p = realloc(*buf, n);
	if (!p)
		return ERR_NOMEM;
	*buf = p;
	*cap = n;
	return 0;
}

/* Makes the inode's live data hold need bytes, ready to be written from
 * byte from on. While the inode is mapped, bytes a mapping shows must not
 * change or move: then the buffer is copied into a new one and the old one
 * retired, unless the write only reaches spare capacity past them. */
static int data_prepare(struct mem_inode *ino, uint64_t from, uint64_t need)
{
	if (ino->maps == 0 || (need <= ino->cap && from >= ino->mapped_len))
		return bytes_reserve(&ino->data, &ino->cap, need);
	struct mem_retired *r = malloc(sizeof(*r));
	uint8_t *fresh = NULL;
	uint64_t cap = 0;
	if (!r || bytes_reserve(&fresh, &cap, need > ino->len ? need : ino->len) != 0) {
		free(r);
		return ERR_NOMEM;
	}
	if (ino->len)
		memcpy(fresh, ino->data, ino->len);
	r->buf = ino->data;
	r->next = ino->retired;
	ino->retired = r;
	ino->data = fresh;
	ino->cap = cap;
	ino->mapped_len = 0; /* the mappings show the retired buffer now */
	return 0;
}

static struct mem_name *name_find(struct mem_name *names, size_t count, const char *path)
{
	for (size_t i = 0; i < count; i++)
		if (strcmp(names[i].path, path) == 0)
			return &names[i];
	return NULL;
}

/* Adds (a copy of path, ino) to a name array, taking a reference. */
static int name_add(struct mem_name **names, size_t *count, size_t *cap, const char *path,
                    struct mem_inode *ino)
{
	if (*count == *cap) {
		size_t n = *cap ? *cap * 2 : 8;
		struct mem_name *p = realloc(*names, n * sizeof(*p));
		if (!p)
			return ERR_NOMEM;
		*names = p;
		*cap = n;
	}
	char *copy = strdup(path);
	if (!copy)
		return ERR_NOMEM;
	(*names)[*count].path = copy;
	(*names)[*count].ino = ino;
	(*count)++;
	ino->refs++;
	return 0;
}

/* Removes names[i] (order is not kept), dropping its reference. */
static void name_del(struct env_fs_mem *m, struct mem_name *names, size_t *count, size_t i)
{
	free(names[i].path);
	inode_unref(m, names[i].ino);
	names[i] = names[--(*count)];
}

static bool in_dir(const char *path, const char *dir)
{
	char d[FS_PATH_BYTES_MAX];
	return env_fs_dirname(path, d, sizeof(d)) == 0 && strcmp(d, dir) == 0;
}

static bool dir_exists(const struct env_fs_mem *m, const char *dir)
{
	if (strcmp(dir, ".") == 0 || strcmp(dir, "/") == 0)
		return true;
	for (size_t i = 0; i < m->dir_count; i++)
		if (strcmp(m->dirs[i], dir) == 0)
			return true;
	return false;
}

static bool parent_exists(const struct env_fs_mem *m, const char *path)
{
	char d[FS_PATH_BYTES_MAX];
	return env_fs_dirname(path, d, sizeof(d)) == 0 && dir_exists(m, d);
}

/* ---- Faults ---------------------------------------------------------- */

/* Counts a call and decides whether the fault rule fails it: 0 or the
 * rule's error. */
static int fault_check(struct env_fs_mem *m, enum env_fs_op op)
{
	m->calls[op]++;
	m->calls[ENV_FS_OP_ANY]++;
	struct env_fs_mem_fault *f = &m->fault;
	if (f->nth == 0 || (f->op != ENV_FS_OP_ANY && f->op != op))
		return 0;
	m->fault_seen++;
	if (m->fault_seen == f->nth || (f->sticky && m->fault_seen > f->nth))
		return f->err;
	return 0;
}

static int handle_check(const struct env_fs_mem *m, const struct env_file *f)
{
	return f->gen == m->crash_gen ? 0 : ERR_IO;
}

/* ---- Operations ------------------------------------------------------ */

static int mem_open_locked(struct env_fs *fs, const char *path, unsigned flags,
                           struct env_file **out)
{
	struct env_fs_mem *m = mem_of(fs);
	int rc = fault_check(m, ENV_FS_OP_OPEN);
	if (rc)
		return rc;
	if (strlen(path) >= FS_PATH_BYTES_MAX)
		return ERR_LIMIT;
	if (!parent_exists(m, path))
		return ERR_NOT_FOUND;
	struct env_file *f = malloc(sizeof(*f));
	if (!f)
		return ERR_NOMEM;
	struct mem_name *n = name_find(m->live, m->live_count, path);
	if (!n && !(flags & ENV_FS_CREATE)) {
		free(f);
		return ERR_NOT_FOUND;
	}
	if (!n) {
		struct mem_inode *ino = calloc(1, sizeof(*ino));
		if (!ino || name_add(&m->live, &m->live_count, &m->live_cap, path, ino) != 0) {
			free(ino);
			free(f);
			return ERR_NOMEM;
		}
		n = &m->live[m->live_count - 1];
	} else if (flags & ENV_FS_TRUNCATE) {
		m->used_bytes -= n->ino->len;
		n->ino->len = 0;
		n->ino->shared_len = 0;
	}
	f->ino = n->ino;
	f->ino->refs++;
	f->gen = m->crash_gen;
	m->open_handles++;
	*out = f;
	return 0;
}

static int mem_close_locked(struct env_fs *fs, struct env_file *f)
{
	struct env_fs_mem *m = mem_of(fs);
	int rc = fault_check(m, ENV_FS_OP_CLOSE);
	inode_unref(m, f->ino);
	free(f);
	m->open_handles--;
	return rc;
}

static int mem_read_at_locked(struct env_fs *fs, struct env_file *f, uint64_t off, void *buf,
                              size_t len, size_t *got)
{
	struct env_fs_mem *m = mem_of(fs);
	int rc = fault_check(m, ENV_FS_OP_READ);
	if (rc || (rc = handle_check(m, f)))
		return rc;
	const struct mem_inode *ino = f->ino;
	size_t n = 0;
	if (off < ino->len)
		n = ino->len - off < len ? (size_t)(ino->len - off) : len;
	if (n)
		memcpy(buf, ino->data + off, n);
	*got = n;
	return 0;
}

/* Appends len bytes to the inode's live data; the caller checked space. */
static int inode_append(struct env_fs_mem *m, struct mem_inode *ino, const void *buf, size_t len)
{
	if (len == 0)
		return 0;
	int rc = data_prepare(ino, ino->len, ino->len + len);
	if (rc)
		return rc;
	memcpy(ino->data + ino->len, buf, len);
	ino->len += len;
	m->used_bytes += len;
	return 0;
}

static int mem_append_locked(struct env_fs *fs, struct env_file *f, const void *buf, size_t len)
{
	struct env_fs_mem *m = mem_of(fs);
	int rc = fault_check(m, ENV_FS_OP_APPEND);
	if (rc) {
		/* A short write: some prefix reached the file, then the error. */
		if (m->fault.partial && len > 0 && handle_check(m, f) == 0) {
			size_t keep = (size_t)(env_rng_next(&m->rng) % len);
			uint64_t room =
			    m->capacity_bytes ? m->capacity_bytes - m->used_bytes : keep;
			inode_append(m, f->ino, buf, keep < room ? keep : (size_t)room);
		}
		return rc;
	}
	if ((rc = handle_check(m, f)))
		return rc;
	if (m->capacity_bytes && m->used_bytes + len > m->capacity_bytes) {
		/* Fill the disk, as a real write that runs out of blocks. */
		uint64_t room = m->capacity_bytes - m->used_bytes;
		rc = inode_append(m, f->ino, buf, (size_t)room);
		return rc ? rc : ERR_NOSPACE;
	}
	return inode_append(m, f->ino, buf, len);
}

static int mem_sync_locked(struct env_fs *fs, struct env_file *f)
{
	struct env_fs_mem *m = mem_of(fs);
	int rc = fault_check(m, ENV_FS_OP_SYNC);
	if (rc || (rc = handle_check(m, f)))
		return rc;
	struct mem_inode *ino = f->ino;
	rc = bytes_reserve(&ino->durable, &ino->durable_cap, ino->len);
	if (rc)
		return rc;
	memcpy(ino->durable + ino->shared_len, ino->data + ino->shared_len,
	       ino->len - ino->shared_len);
	ino->durable_len = ino->len;
	ino->shared_len = ino->len;
	return 0;
}

static int mem_sync_dir_locked(struct env_fs *fs, const char *dir)
{
	struct env_fs_mem *m = mem_of(fs);
	int rc = fault_check(m, ENV_FS_OP_SYNC_DIR);
	if (rc)
		return rc;
	if (!dir_exists(m, dir))
		return ERR_NOT_FOUND;
	/* Add the live names first, so that a failed allocation leaves the
	 * durable namespace as it was (a failed sync changes nothing). */
	size_t old_count = m->durable_count;
	for (size_t i = 0; i < m->live_count; i++) {
		if (!in_dir(m->live[i].path, dir))
			continue;
		rc = name_add(&m->durable, &m->durable_count, &m->durable_cap, m->live[i].path,
		              m->live[i].ino);
		if (rc) {
			while (m->durable_count > old_count)
				name_del(m, m->durable, &m->durable_count, m->durable_count - 1);
			return rc;
		}
	}
	for (size_t i = old_count; i-- > 0;)
		if (in_dir(m->durable[i].path, dir))
			name_del(m, m->durable, &m->durable_count, i);
	return 0;
}

static int mem_rename_locked(struct env_fs *fs, const char *from, const char *to)
{
	struct env_fs_mem *m = mem_of(fs);
	int rc = fault_check(m, ENV_FS_OP_RENAME);
	if (rc)
		return rc;
	if (strlen(to) >= FS_PATH_BYTES_MAX)
		return ERR_LIMIT;
	struct mem_name *src = name_find(m->live, m->live_count, from);
	if (!src || !parent_exists(m, to))
		return ERR_NOT_FOUND;
	if (strcmp(from, to) == 0)
		return 0;
	char *copy = strdup(to);
	if (!copy)
		return ERR_NOMEM;
	free(src->path);
	src->path = copy;
	/* Drop the name that was replaced (it is not the one just renamed:
	 * paths differ, so search for the other entry). */
	for (size_t i = 0; i < m->live_count; i++) {
		if (&m->live[i] != src && strcmp(m->live[i].path, to) == 0) {
			name_del(m, m->live, &m->live_count, i);
			break;
		}
	}
	return 0;
}

static int mem_remove_locked(struct env_fs *fs, const char *path)
{
	struct env_fs_mem *m = mem_of(fs);
	int rc = fault_check(m, ENV_FS_OP_REMOVE);
	if (rc)
		return rc;
	for (size_t i = 0; i < m->live_count; i++) {
		if (strcmp(m->live[i].path, path) == 0) {
			name_del(m, m->live, &m->live_count, i);
			return 0;
		}
	}
	return ERR_NOT_FOUND;
}

static int mem_truncate_locked(struct env_fs *fs, struct env_file *f, uint64_t size)
{
	struct env_fs_mem *m = mem_of(fs);
	int rc = fault_check(m, ENV_FS_OP_TRUNCATE);
	if (rc || (rc = handle_check(m, f)))
		return rc;
	struct mem_inode *ino = f->ino;
	if (size <= ino->len) {
		m->used_bytes -= ino->len - size;
		ino->len = size;
		if (ino->shared_len > size)
			ino->shared_len = size;
		return 0;
	}
	/* Growing fills with zeros, as ftruncate does. */
	uint64_t grow = size - ino->len;
	if (m->capacity_bytes && m->used_bytes + grow > m->capacity_bytes)
		return ERR_NOSPACE;
	if ((rc = data_prepare(ino, ino->len, size)))
		return rc;
	memset(ino->data + ino->len, 0, grow);
	ino->len = size;
	m->used_bytes += grow;
	return 0;
}

static int mem_size_locked(struct env_fs *fs, struct env_file *f, uint64_t *size)
{
	struct env_fs_mem *m = mem_of(fs);
	int rc = fault_check(m, ENV_FS_OP_SIZE);
	if (rc || (rc = handle_check(m, f)))
		return rc;
	*size = f->ino->len;
	return 0;
}

static int mem_list_locked(struct env_fs *fs, const char *dir, env_fs_list_fn *fn, void *ctx)
{
	struct env_fs_mem *m = mem_of(fs);
	int rc = fault_check(m, ENV_FS_OP_LIST);
	if (rc)
		return rc;
	if (!dir_exists(m, dir))
		return ERR_NOT_FOUND;
	for (size_t i = 0; i < m->live_count + m->dir_count; i++) {
		const char *p = i < m->live_count ? m->live[i].path : m->dirs[i - m->live_count];
		if (!in_dir(p, dir))
			continue;
		const char *slash = strrchr(p, '/');
		if ((rc = fn(ctx, slash ? slash + 1 : p)))
			return rc;
	}
	return 0;
}

static int mem_mkdir_locked(struct env_fs *fs, const char *dir)
{
	struct env_fs_mem *m = mem_of(fs);
	int rc = fault_check(m, ENV_FS_OP_MKDIR);
	if (rc)
		return rc;
	if (strlen(dir) >= FS_PATH_BYTES_MAX)
		return ERR_LIMIT;
	if (dir_exists(m, dir) || name_find(m->live, m->live_count, dir))
		return ERR_EXISTS;
	if (!parent_exists(m, dir))
		return ERR_NOT_FOUND;
	if (m->dir_count == m->dir_cap) {
		size_t n = m->dir_cap ? m->dir_cap * 2 : 4;
		char **p = realloc(m->dirs, n * sizeof(*p));
		if (!p)
			return ERR_NOMEM;
		m->dirs = p;
		m->dir_cap = n;
	}
	char *copy = strdup(dir);
	if (!copy)
		return ERR_NOMEM;
	m->dirs[m->dir_count++] = copy;
	return 0;
}

/* A second name for from's inode; like a create, it is durable after
 * sync_dir of its directory. No bytes are added: used_bytes counts an
 * inode once, whatever its names. */
static int mem_link_locked(struct env_fs *fs, const char *from, const char *to)
{
	struct env_fs_mem *m = mem_of(fs);
	int rc = fault_check(m, ENV_FS_OP_LINK);
	if (rc)
		return rc;
	if (strlen(to) >= FS_PATH_BYTES_MAX)
		return ERR_LIMIT;
	struct mem_name *src = name_find(m->live, m->live_count, from);
	if (!src || !parent_exists(m, to))
		return ERR_NOT_FOUND;
	if (name_find(m->live, m->live_count, to) || dir_exists(m, to))
		return ERR_EXISTS;
	/* name_add may move the array under src: pass the inode. */
	return name_add(&m->live, &m->live_count, &m->live_cap, to, src->ino);
}

static bool dir_is_empty(const struct env_fs_mem *m, const char *dir)
{
	for (size_t i = 0; i < m->live_count; i++)
		if (in_dir(m->live[i].path, dir))
			return false;
	for (size_t i = 0; i < m->dir_count; i++)
		if (in_dir(m->dirs[i], dir))
			return false;
	return true;
}

/* Like mkdir, durable at once: durable names left in the directory (files
 * removed since its last sync_dir) go with it, so a crash cannot bring
 * back a name in a directory that no longer exists. */
static int mem_rmdir_locked(struct env_fs *fs, const char *dir)
{
	struct env_fs_mem *m = mem_of(fs);
	int rc = fault_check(m, ENV_FS_OP_RMDIR);
	if (rc)
		return rc;
	size_t i = 0;
	while (i < m->dir_count && strcmp(m->dirs[i], dir) != 0)
		i++;
	if (i == m->dir_count)
		return ERR_NOT_FOUND;
	if (!dir_is_empty(m, dir))
		return ERR_IO; /* ENOTEMPTY */
	for (size_t d = m->durable_count; d-- > 0;)
		if (in_dir(m->durable[d].path, dir))
			name_del(m, m->durable, &m->durable_count, d);
	free(m->dirs[i]);
	m->dirs[i] = m->dirs[--m->dir_count];
	return 0;
}

static int mem_map_locked(struct env_fs *fs, struct env_file *f, struct env_fs_map *out)
{
	struct env_fs_mem *m = mem_of(fs);
	int rc = fault_check(m, ENV_FS_OP_MAP);
	if (rc || (rc = handle_check(m, f)))
		return rc;
	struct mem_inode *ino = f->ino;
	if (ino->len == 0)
		return ERR_INVALID;
	struct mem_map *mm = malloc(sizeof(*mm));
	if (!mm)
		return ERR_NOMEM;
	mm->ino = ino;
	mm->gen = m->crash_gen;
	ino->refs++;
	ino->maps++;
	if (ino->mapped_len < ino->len)
		ino->mapped_len = ino->len;
	m->open_maps++;
	out->ptr = ino->data;
	out->len = ino->len;
	out->impl = mm;
	return 0;
}

/* An access through a mapping is a read: counted, fault-checked, and dead
 * after a crash. */
static int mem_map_access_locked(struct env_fs *fs, const struct env_fs_map *map, uint64_t off,
                                 size_t len)
{
	struct env_fs_mem *m = mem_of(fs);
	(void)off;
	(void)len;
	int rc = fault_check(m, ENV_FS_OP_READ);
	if (rc)
		return rc;
	const struct mem_map *mm = map->impl;
	return mm->gen == m->crash_gen ? 0 : ERR_IO;
}

static void mem_unmap_locked(struct env_fs_mem *m, struct env_fs_map *map)
{
	struct mem_map *mm = map->impl;
	struct mem_inode *ino = mm->ino;
	ASSERT(ino->maps > 0 && m->open_maps > 0);
	m->open_maps--;
	if (--ino->maps == 0) {
		ino->mapped_len = 0;
		while (ino->retired) {
			struct mem_retired *r = ino->retired;
			ino->retired = r->next;
			free(r->buf);
			free(r);
		}
	}
	inode_unref(m, ino);
	free(mm);
	map->ptr = NULL;
	map->len = 0;
	map->impl = NULL;
}

/* Every operation runs under the instance's mutex: the engine calls its
 * env from several threads (writers, flush, compaction), and the model's
 * state (names, contents, fault counters, PRNG) must change one call at a
 * time for a seed to mean anything. */
#define LOCKED(name, params, args)                                                                 \
	static int mem_##name params                                                               \
	{                                                                                          \
		struct env_fs_mem *m = mem_of(fs);                                                 \
		env_mutex_lock(&m->mu);                                                            \
		int rc = mem_##name##_locked args;                                                 \
		env_mutex_unlock(&m->mu);                                                          \
		return rc;                                                                         \
	}

LOCKED(open, (struct env_fs * fs, const char *p, unsigned fl, struct env_file **o), (fs, p, fl, o))
LOCKED(close, (struct env_fs * fs, struct env_file *f), (fs, f))
LOCKED(read_at,
       (struct env_fs * fs, struct env_file *f, uint64_t off, void *b, size_t n, size_t *got),
       (fs, f, off, b, n, got))
LOCKED(append, (struct env_fs * fs, struct env_file *f, const void *b, size_t n), (fs, f, b, n))
LOCKED(sync_dir, (struct env_fs * fs, const char *d), (fs, d))
LOCKED(rename, (struct env_fs * fs, const char *a, const char *b), (fs, a, b))
LOCKED(remove, (struct env_fs * fs, const char *p), (fs, p))
LOCKED(truncate, (struct env_fs * fs, struct env_file *f, uint64_t n), (fs, f, n))
LOCKED(size, (struct env_fs * fs, struct env_file *f, uint64_t *n), (fs, f, n))
LOCKED(list, (struct env_fs * fs, const char *d, env_fs_list_fn *fn, void *ctx), (fs, d, fn, ctx))
LOCKED(mkdir, (struct env_fs * fs, const char *d), (fs, d))
LOCKED(link, (struct env_fs * fs, const char *a, const char *b), (fs, a, b))
LOCKED(rmdir, (struct env_fs * fs, const char *d), (fs, d))
LOCKED(map, (struct env_fs * fs, struct env_file *f, struct env_fs_map *o), (fs, f, o))
LOCKED(map_access,
       (struct env_fs * fs, const struct env_fs_map *mp, uint64_t off, size_t n),
       (fs, mp, off, n))

static void mem_unmap(struct env_fs *fs, struct env_fs_map *map)
{
	struct env_fs_mem *m = mem_of(fs);
	env_mutex_lock(&m->mu);
	mem_unmap_locked(m, map);
	env_mutex_unlock(&m->mu);
}

/* sync also models the device's latency, outside the lock so that other
 * threads' calls proceed meanwhile (as they do while a real fdatasync
 * waits for the disk). */
static int mem_sync(struct env_fs *fs, struct env_file *f)
{
	struct env_fs_mem *m = mem_of(fs);
	uint64_t delay_ns = atomic_load_explicit(&m->sync_delay_ns, memory_order_relaxed);
	if (delay_ns) {
		struct timespec ts = {(time_t)(delay_ns / 1000000000u),
		                      (long)(delay_ns % 1000000000u)};
		nanosleep(&ts, NULL);
	}
	env_mutex_lock(&m->mu);
	int rc = mem_sync_locked(fs, f);
	env_mutex_unlock(&m->mu);
	return rc;
}

static const struct env_fs_ops mem_ops = {
    .open = mem_open,
    .close = mem_close,
    .read_at = mem_read_at,
    .append = mem_append,
    .sync = mem_sync,
    .sync_dir = mem_sync_dir,
    .rename = mem_rename,
    .remove = mem_remove,
    .truncate = mem_truncate,
    .size = mem_size,
    .list = mem_list,
    .mkdir = mem_mkdir,
    .link = mem_link,
    .rmdir = mem_rmdir,
    .map = mem_map,
    .map_access = mem_map_access,
    .unmap = mem_unmap,
};

/* ---- Control --------------------------------------------------------- */

void env_fs_mem_init(struct env_fs_mem *fs, uint64_t seed)
{
	memset(fs, 0, sizeof(*fs));
	fs->base.ops = &mem_ops;
	env_rng_seed(&fs->rng, seed);
	env_mutex_init(&fs->mu);
}

void env_fs_mem_deinit(struct env_fs_mem *fs)
{
	ASSERT(fs->open_handles == 0 && fs->open_maps == 0);
	while (fs->live_count)
		name_del(fs, fs->live, &fs->live_count, fs->live_count - 1);
	while (fs->durable_count)
		name_del(fs, fs->durable, &fs->durable_count, fs->durable_count - 1);
	for (size_t i = 0; i < fs->dir_count; i++)
		free(fs->dirs[i]);
	free(fs->live);
	free(fs->durable);
	free(fs->dirs);
	ASSERT(fs->used_bytes == 0);
	env_mutex_deinit(&fs->mu);
	memset(fs, 0, sizeof(*fs));
}

void env_fs_mem_inject(struct env_fs_mem *fs, const struct env_fs_mem_fault *fault)
{
	env_mutex_lock(&fs->mu);
	fs->fault = *fault;
	fs->fault_seen = 0;
	env_mutex_unlock(&fs->mu);
}

void env_fs_mem_set_capacity(struct env_fs_mem *fs, uint64_t bytes)
{
	env_mutex_lock(&fs->mu);
	fs->capacity_bytes = bytes;
	env_mutex_unlock(&fs->mu);
}

void env_fs_mem_set_sync_delay(struct env_fs_mem *fs, uint64_t delay_ns)
{
	atomic_store_explicit(&fs->sync_delay_ns, delay_ns, memory_order_relaxed);
}

uint64_t env_fs_mem_calls(struct env_fs_mem *fs, enum env_fs_op op)
{
	ASSERT(op < ENV_FS_OP_COUNT);
	env_mutex_lock(&fs->mu);
	uint64_t n = fs->calls[op];
	env_mutex_unlock(&fs->mu);
	return n;
}

uint64_t env_fs_mem_used_bytes(struct env_fs_mem *fs)
{
	env_mutex_lock(&fs->mu);
	uint64_t n = fs->used_bytes;
	env_mutex_unlock(&fs->mu);
	return n;
}

static int flip_bit_locked(struct env_fs_mem *fs, const char *path, uint64_t bit)
{
	struct mem_name *n = name_find(fs->live, fs->live_count, path);
	if (!n)
		return ERR_NOT_FOUND;
	struct mem_inode *ino = n->ino;
	uint64_t byte = bit / 8;
	if (byte >= ino->len)
		return ERR_RANGE;
	uint8_t mask = (uint8_t)(1u << (bit % 8));
	ino->data[byte] ^= mask;
	/* Media damage hits what is on disk too; the shared prefix stays
	 * shared because both copies change alike. */
	if (byte < ino->shared_len)
		ino->durable[byte] ^= mask;
	return 0;
}

int env_fs_mem_flip_bit(struct env_fs_mem *fs, const char *path, uint64_t bit)
{
	env_mutex_lock(&fs->mu);
	int rc = flip_bit_locked(fs, path, bit);
	env_mutex_unlock(&fs->mu);
	return rc;
}

static int flip_random_locked(struct env_fs_mem *fs, const char *path, uint64_t lo, uint64_t hi,
                              uint64_t *bit)
{
	struct mem_name *n = name_find(fs->live, fs->live_count, path);
	if (!n)
		return ERR_NOT_FOUND;
	if (hi > n->ino->len)
		hi = n->ino->len;
	if (lo >= hi)
		return ERR_RANGE;
	uint64_t b = lo * 8 + env_rng_next(&fs->rng) % ((hi - lo) * 8);
	int rc = flip_bit_locked(fs, path, b);
	if (rc == 0)
		*bit = b;
	return rc;
}

int env_fs_mem_flip_random(struct env_fs_mem *fs, const char *path, uint64_t lo, uint64_t hi,
                           uint64_t *bit)
{
	env_mutex_lock(&fs->mu);
	int rc = flip_random_locked(fs, path, lo, hi, bit);
	env_mutex_unlock(&fs->mu);
	return rc;
}

/* Rolls one inode back to what the disk holds after a power cut. */
static void inode_crash(struct env_fs_mem *m, struct mem_inode *ino,
                        enum env_fs_mem_crash_mode mode)
{
	if (ino->crash_gen == m->crash_gen)
		return; /* reached through a second name */
	ino->crash_gen = m->crash_gen;
	uint64_t keep = ino->durable_len;
	/* A torn tail is only modelled for a file that was only appended to
	 * since its last sync: then live = durable + tail. */
	if (mode == ENV_FS_MEM_CRASH_TORN && ino->shared_len == ino->durable_len &&
	    ino->len > ino->durable_len)
		keep += env_rng_next(&m->rng) % (ino->len - ino->durable_len + 1);
	if (keep > ino->durable_len) {
		/* The kept tail is already in data; durable catches up. */
		ino->len = keep;
	} else {
		/* durable_cap >= durable_len bytes are valid there; data must
		 * hold them, which it may not after a truncate. */
		if (data_prepare(ino, 0, ino->durable_len) != 0)
			ASSERT(!"out of memory in a simulated crash");
		if (ino->durable_len)
			memcpy(ino->data, ino->durable, ino->durable_len);
		ino->len = ino->durable_len;
	}
	ino->shared_len = ino->durable_len < ino->len ? ino->durable_len : ino->len;
}

void env_fs_mem_crash(struct env_fs_mem *fs, enum env_fs_mem_crash_mode mode)
{
	env_mutex_lock(&fs->mu);
	fs->crash_gen++;
	/* Live names become the durable names. */
	while (fs->live_count)
		name_del(fs, fs->live, &fs->live_count, fs->live_count - 1);
	for (size_t i = 0; i < fs->durable_count; i++) {
		int rc = name_add(&fs->live, &fs->live_count, &fs->live_cap, fs->durable[i].path,
		                  fs->durable[i].ino);
		ASSERT(rc == 0);
	}
	/* Recompute used bytes from the surviving contents. */
	for (size_t i = 0; i < fs->live_count; i++) {
		struct mem_inode *ino = fs->live[i].ino;
		uint64_t before = ino->len;
		inode_crash(fs, ino, mode);
		fs->used_bytes = fs->used_bytes - before + ino->len;
	}
	env_mutex_unlock(&fs->mu);
}
