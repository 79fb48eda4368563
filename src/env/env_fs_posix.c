/*
 * env_fs_posix.c - fs.h on Linux: real files, fdatasync, directory fsync.
 *
 * Each call maps errno to an err.h code on the way out (ENOSPC and EDQUOT
 * to ERR_NOSPACE, ENOENT to ERR_NOT_FOUND, EEXIST to ERR_EXISTS, anything
 * else to ERR_IO), so errno never leaves src/env/. Interrupted calls
 * (EINTR) and short writes are retried here: callers see either the whole
 * append or an error.
 *
 * map is mmap(PROT_READ, MAP_SHARED) of the whole file: a read of a page
 * in the OS page cache then costs no syscall and no copy, which is how
 * LevelDB reads its tables. Only on 64-bit builds: a 32-bit address space
 * cannot hold many table files, so map says ERR_INVALID there and callers
 * use pread. A mapped file must not shrink while mapped (a read past its
 * new end would raise SIGBUS); the engine maps only finished tables,
 * which nobody truncates.
 */
#include "env/fs.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/assert.h"
#include "base/err.h"

struct env_file {
	int fd;
};

static int errno_to_err(int e)
{
	switch (e) {
	case ENOSPC:
	case EDQUOT:
		return ERR_NOSPACE;
	case ENOENT:
		return ERR_NOT_FOUND;
	case EEXIST:
		return ERR_EXISTS;
	case ENOMEM:
		return ERR_NOMEM;
	default:
		return ERR_IO;
	}
}

static int posix_open(struct env_fs *fs, const char *path, unsigned flags, struct env_file **out)
{
	(void)fs;
	struct env_file *f = malloc(sizeof(*f));
	if (!f)
		return ERR_NOMEM;
	int oflags = O_RDWR | O_APPEND | O_CLOEXEC;
	if (flags & ENV_FS_CREATE)
		oflags |= O_CREAT;
	if (flags & ENV_FS_TRUNCATE)
		oflags |= O_TRUNC;
	int fd;
	do {
		fd = open(path, oflags, 0644);
	} while (fd < 0 && errno == EINTR);
	if (fd < 0) {
		int err = errno_to_err(errno);
		free(f);
		return err;
	}
	f->fd = fd;
	*out = f;
	return 0;
}

static int posix_close(struct env_fs *fs, struct env_file *f)
{
	(void)fs;
	/* close() is not retried on EINTR: on Linux the descriptor is gone
	 * either way, and retrying could close a descriptor reused by
	 * another thread. */
	int rc = close(f->fd) == 0 ? 0 : errno_to_err(errno);
	free(f);
	return rc;
}

static int posix_read_at(struct env_fs *fs, struct env_file *f, uint64_t off, void *buf, size_t len,
                         size_t *got)
{
	(void)fs;
	size_t done = 0;
	while (done < len) {
		ssize_t n = pread(f->fd, (char *)buf + done, len - done, (off_t)(off + done));
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return errno_to_err(errno);
		}
		if (n == 0)
			break; /* end of file */
		done += (size_t)n;
	}
	*got = done;
	return 0;
}

static int posix_append(struct env_fs *fs, struct env_file *f, const void *buf, size_t len)
{
	(void)fs;
	size_t done = 0;
	while (done < len) {
		ssize_t n = write(f->fd, (const char *)buf + done, len - done);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return errno_to_err(errno);
		}
		done += (size_t)n;
	}
	return 0;
}

static int posix_sync(struct env_fs *fs, struct env_file *f)
{
	(void)fs;
	/* fdatasync is enough: it flushes the size with the data, and the
	 * engine never relies on timestamps. Not retried on EINTR or any
	 * error: after a failed flush the kernel may have dropped the dirty
	 * pages, so a second call could succeed without the data. */
	return fdatasync(f->fd) == 0 ? 0 : errno_to_err(errno);
}

static int posix_sync_dir(struct env_fs *fs, const char *dir)
{
	(void)fs;
	int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return errno_to_err(errno);
	int rc = fsync(fd) == 0 ? 0 : errno_to_err(errno);
	close(fd);
	return rc;
}

static int posix_rename(struct env_fs *fs, const char *from, const char *to)
{
	(void)fs;
	return rename(from, to) == 0 ? 0 : errno_to_err(errno);
}

static int posix_remove(struct env_fs *fs, const char *path)
{
	(void)fs;
	return unlink(path) == 0 ? 0 : errno_to_err(errno);
}

static int posix_truncate(struct env_fs *fs, struct env_file *f, uint64_t size)
{
	(void)fs;
	int rc;
	do {
		rc = ftruncate(f->fd, (off_t)size);
	} while (rc != 0 && errno == EINTR);
	return rc == 0 ? 0 : errno_to_err(errno);
}

static int posix_size(struct env_fs *fs, struct env_file *f, uint64_t *size)
{
	(void)fs;
	struct stat st;
	if (fstat(f->fd, &st) != 0)
		return errno_to_err(errno);
	*size = (uint64_t)st.st_size;
	return 0;
}

static int posix_list(struct env_fs *fs, const char *dir, env_fs_list_fn *fn, void *ctx)
{
	(void)fs;
	DIR *d = opendir(dir);
	if (!d)
		return errno_to_err(errno);
	int rc = 0;
	for (;;) {
		errno = 0;
		struct dirent *de = readdir(d);
		if (!de) {
			if (errno != 0)
				rc = errno_to_err(errno);
			break;
		}
		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
			continue;
		rc = fn(ctx, de->d_name);
		if (rc != 0)
			break;
	}
	closedir(d);
	return rc;
}

static int posix_mkdir(struct env_fs *fs, const char *dir)
{
	(void)fs;
	return mkdir(dir, 0755) == 0 ? 0 : errno_to_err(errno);
}

static int posix_link(struct env_fs *fs, const char *from, const char *to)
{
	(void)fs;
	return link(from, to) == 0 ? 0 : errno_to_err(errno);
}

static int posix_rmdir(struct env_fs *fs, const char *dir)
{
	(void)fs;
	return rmdir(dir) == 0 ? 0 : errno_to_err(errno);
}

static int posix_map(struct env_fs *fs, struct env_file *f, struct env_fs_map *out)
{
	(void)fs;
	if (sizeof(void *) < 8)
		return ERR_INVALID;
	struct stat st;
	if (fstat(f->fd, &st) != 0)
		return errno_to_err(errno);
	if (st.st_size <= 0 || (uint64_t)st.st_size > SIZE_MAX)
		return ERR_INVALID;
	size_t len = (size_t)st.st_size;
	void *p = mmap(NULL, len, PROT_READ, MAP_SHARED, f->fd, 0);
	if (p == MAP_FAILED)
		return errno_to_err(errno);
	out->ptr = p;
	out->len = len;
	out->impl = NULL;
	return 0;
}

static void posix_unmap(struct env_fs *fs, struct env_fs_map *m)
{
	(void)fs;
	/* munmap fails only for a range that was never mapped: a bug. */
	int rc = munmap((void *)m->ptr, (size_t)m->len);
	ASSERT(rc == 0);
	m->ptr = NULL;
	m->len = 0;
}

static const struct env_fs_ops posix_ops = {
    .open = posix_open,
    .close = posix_close,
    .read_at = posix_read_at,
    .append = posix_append,
    .sync = posix_sync,
    .sync_dir = posix_sync_dir,
    .rename = posix_rename,
    .remove = posix_remove,
    .truncate = posix_truncate,
    .size = posix_size,
    .list = posix_list,
    .mkdir = posix_mkdir,
    .link = posix_link,
    .rmdir = posix_rmdir,
    .map = posix_map,
    .map_access = NULL, /* a mapped read is a plain memory read */
    .unmap = posix_unmap,
};

void env_fs_posix_init(struct env_fs_posix *fs)
{
	ASSERT(fs != NULL);
	fs->base.ops = &posix_ops;
}
