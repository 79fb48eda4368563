/*
 * fs.c - helpers shared by every env_fs implementation (fs.h).
 */
#include "env/fs.h"

#include <string.h>

#include "base/err.h"

int env_fs_dirname(const char *path, char *out, size_t cap)
{
	const char *slash = strrchr(path, '/');
	size_t n;
	if (!slash) {
		path = ".";
		n = 1;
	} else {
		/* "/x" lives in "/", "a/b" in "a". */
		n = slash == path ? 1 : (size_t)(slash - path);
	}
	if (n + 1 > cap)
		return ERR_LIMIT;
	memcpy(out, path, n);
	out[n] = '\0';
	return 0;
}
