/*
 * fs.h - the file-system door of env: files, fsync, rename, directories.
 *
 * The storage engine reaches files only through a struct env_fs, a table of
 * operations with two implementations: env_fs_posix.c (real files, declared
 * below) and env_fs_mem.c (in-memory files with seeded fault injection and
 * simulated power cuts, env_fs_mem.h). Tests and the simulator swap one for
 * the other without the engine noticing.
 *
 * Contract shared by both implementations:
 * - Every call returns 0 or a negative err.h code: ERR_NOSPACE when the
 *   disk is full, ERR_NOT_FOUND for a missing file or directory on open,
 *   remove and rename, ERR_EXISTS for mkdir of an existing name, ERR_IO for
 *   any other failure. errno never leaves src/env/.
 * - append writes at the end of the file. On failure a prefix of the bytes
 *   (possibly none, possibly all) may have reached the file: the caller must
 *   treat the file's tail as unknown (the WAL stops writing).
 * - Nothing is durable until sync (file contents and size) and, for a
 *   created, renamed or removed name, sync_dir of its directory. A failed
 *   sync says nothing about what reached the disk and must not be retried
 *   as if the data were safe (STYLE.md section 4).
 * - Paths are NUL-terminated strings of at most FS_PATH_BYTES_MAX bytes;
 *   '/' separates directories; a name without '/' lives in ".".
 * - Not thread-safe per file: one owner per handle. Different handles may
 *   be used from different threads on the posix env only. The one
 *   exception: sync may run on another thread while the owner appends
 *   (the engine's everysec syncer); it makes durable what was appended
 *   before it began. Both implementations allow it: a posix handle is a
 *   bare descriptor, and env_fs_mem runs every call under one mutex.
 * - map (optional) gives a read-only view of a whole file that no one
 *   changes any more (a finished table). Every access to the view goes
 *   through env_fs_map_read, which costs nothing on posix and lets
 *   env_fs_mem count and fail it like a read_at. A view stays valid until
 *   unmap, whatever happens to the file and its handle meanwhile; it never
 *   sees bytes appended after map. A caller must be ready for map to fail
 *   (no support, 32-bit address space, out of mappings) and read with
 *   read_at instead.
 */
#ifndef RINGKV_ENV_FS_H
#define RINGKV_ENV_FS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/assert.h"
#include "base/err.h"

struct env_fs;
struct env_file; /* an open file; owned by the env_fs that opened it */

/* A read-only view of a file's first len bytes (its size at map time),
 * from map until unmap. Caller-allocated; ptr and len are the caller's to
 * read (through env_fs_map_read), impl is the env's. */
struct env_fs_map {
	const uint8_t *ptr;
	uint64_t len;
	void *impl;
};

/* open flags: without ENV_FS_CREATE a missing file is ERR_NOT_FOUND;
 * ENV_FS_TRUNCATE empties an existing file. Files are always opened for
 * reading and appending. */
enum env_fs_open_flags {
	ENV_FS_CREATE = 1u << 0,
	ENV_FS_TRUNCATE = 1u << 1,
};

/* Called once per directory entry (not "." or ".."); a nonzero return
 * stops the listing and is returned by list. */
typedef int env_fs_list_fn(void *ctx, const char *name);

struct env_fs_ops {
	int (*open)(struct env_fs *fs, const char *path, unsigned flags, struct env_file **out);
	/* Releases the handle even when it returns an error. */
	int (*close)(struct env_fs *fs, struct env_file *f);
	/* Reads up to len bytes at off; *got < len only at end of file. */
	int (*read_at)(struct env_fs *fs, struct env_file *f, uint64_t off, void *buf, size_t len,
	               size_t *got);
	int (*append)(struct env_fs *fs, struct env_file *f, const void *buf, size_t len);
	int (*sync)(struct env_fs *fs, struct env_file *f);
	int (*sync_dir)(struct env_fs *fs, const char *dir);
	/* Atomically replaces to (if it exists) by from. */
	int (*rename)(struct env_fs *fs, const char *from, const char *to);
	int (*remove)(struct env_fs *fs, const char *path);
	int (*truncate)(struct env_fs *fs, struct env_file *f, uint64_t size);
	int (*size)(struct env_fs *fs, struct env_file *f, uint64_t *size);
	int (*list)(struct env_fs *fs, const char *dir, env_fs_list_fn *fn, void *ctx);
	int (*mkdir)(struct env_fs *fs, const char *dir);
	/* Gives the file at from a second name, to (a hard link): both names
	 * share one file. ERR_NOT_FOUND for a missing from or parent of to,
	 * ERR_EXISTS when to exists, ERR_IO across file systems. The new name
	 * is durable after sync_dir of its directory. */
	int (*link)(struct env_fs *fs, const char *from, const char *to);
	/* Removes an empty directory. ERR_NOT_FOUND, ERR_IO (not empty). */
	int (*rmdir)(struct env_fs *fs, const char *dir);
	/* Optional (NULL: ERR_INVALID from env_fs_map). Maps the whole file
	 * read-only into *out. ERR_INVALID for an empty file or where
	 * mapping is not supported, ERR_NOMEM, ERR_IO. The handle may be
	 * closed before the mapping is released. */
	int (*map)(struct env_fs *fs, struct env_file *f, struct env_fs_map *out);
	/* Optional (NULL: every access succeeds at no cost). Called before
	 * the caller reads [off, off + len) of m: 0, or an error for that read
	 * (fault injection). */
	int (*map_access)(struct env_fs *fs, const struct env_fs_map *m, uint64_t off, size_t len);
	/* Releases a mapping made by map (required when map is set). */
	void (*unmap)(struct env_fs *fs, struct env_fs_map *m);
};

struct env_fs {
	const struct env_fs_ops *ops;
};

/* The kinds of call, for fault injection and call counting (env_fs_mem.h). */
enum env_fs_op {
	ENV_FS_OP_ANY = 0,
	ENV_FS_OP_OPEN,
	ENV_FS_OP_CLOSE,
	ENV_FS_OP_READ,
	ENV_FS_OP_APPEND,
	ENV_FS_OP_SYNC,
	ENV_FS_OP_SYNC_DIR,
	ENV_FS_OP_RENAME,
	ENV_FS_OP_REMOVE,
	ENV_FS_OP_TRUNCATE,
	ENV_FS_OP_SIZE,
	ENV_FS_OP_LIST,
	ENV_FS_OP_MKDIR,
	ENV_FS_OP_LINK,
	ENV_FS_OP_RMDIR,
	ENV_FS_OP_MAP, /* map only; an access through a mapping counts as a READ */
	ENV_FS_OP_COUNT,
};

static inline int env_fs_open(struct env_fs *fs, const char *path, unsigned flags,
                              struct env_file **out)
{
	return fs->ops->open(fs, path, flags, out);
}

static inline int env_fs_close(struct env_fs *fs, struct env_file *f)
{
	return fs->ops->close(fs, f);
}

static inline int env_fs_read_at(struct env_fs *fs, struct env_file *f, uint64_t off, void *buf,
                                 size_t len, size_t *got)
{
	return fs->ops->read_at(fs, f, off, buf, len, got);
}

static inline int env_fs_append(struct env_fs *fs, struct env_file *f, const void *buf, size_t len)
{
	return fs->ops->append(fs, f, buf, len);
}

static inline int env_fs_sync(struct env_fs *fs, struct env_file *f)
{
	return fs->ops->sync(fs, f);
}

static inline int env_fs_sync_dir(struct env_fs *fs, const char *dir)
{
	return fs->ops->sync_dir(fs, dir);
}

static inline int env_fs_rename(struct env_fs *fs, const char *from, const char *to)
{
	return fs->ops->rename(fs, from, to);
}

static inline int env_fs_remove(struct env_fs *fs, const char *path)
{
	return fs->ops->remove(fs, path);
}

static inline int env_fs_truncate(struct env_fs *fs, struct env_file *f, uint64_t size)
{
	return fs->ops->truncate(fs, f, size);
}

static inline int env_fs_size(struct env_fs *fs, struct env_file *f, uint64_t *size)
{
	return fs->ops->size(fs, f, size);
}

static inline int env_fs_list(struct env_fs *fs, const char *dir, env_fs_list_fn *fn, void *ctx)
{
	return fs->ops->list(fs, dir, fn, ctx);
}

static inline int env_fs_mkdir(struct env_fs *fs, const char *dir)
{
	return fs->ops->mkdir(fs, dir);
}

static inline int env_fs_link(struct env_fs *fs, const char *from, const char *to)
{
	return fs->ops->link(fs, from, to);
}

static inline int env_fs_rmdir(struct env_fs *fs, const char *dir)
{
	return fs->ops->rmdir(fs, dir);
}

/* Maps f read-only (see map above). On failure *out is untouched and the
 * caller reads with read_at. */
static inline int env_fs_map(struct env_fs *fs, struct env_file *f, struct env_fs_map *out)
{
	if (!fs->ops->map)
		return ERR_INVALID;
	return fs->ops->map(fs, f, out);
}

/* A view of bytes [off, off + len) of m in *out, valid until unmap; the
 * range must lie inside the mapping (a caller bug otherwise). Errors are
 * those of read_at (an injected fault). */
static inline int env_fs_map_read(struct env_fs *fs, const struct env_fs_map *m, uint64_t off,
                                  size_t len, const uint8_t **out)
{
	ASSERT(off <= m->len && len <= m->len - off);
	if (fs->ops->map_access) {
		int rc = fs->ops->map_access(fs, m, off, len);
		if (rc)
			return rc;
	}
	*out = m->ptr + off;
	return 0;
}

static inline void env_fs_unmap(struct env_fs *fs, struct env_fs_map *m)
{
	fs->ops->unmap(fs, m);
}

/* Writes into out (cap bytes) the directory part of path ("." when path
 * has no '/', "/" for a file in the root). ERR_LIMIT if it does not fit. */
int env_fs_dirname(const char *path, char *out, size_t cap);

/* The real file system. Stateless; the struct exists so that callers hold
 * an env_fs like any other (caller-allocated). */
struct env_fs_posix {
	struct env_fs base;
};

void env_fs_posix_init(struct env_fs_posix *fs);

#endif
