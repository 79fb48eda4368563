/*
 * log.c - see log.h.
 */
#include "env/log.h"

#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "base/err.h"

int log_open(struct log *l, const char *path, enum log_level level)
{
	l->fd = 2;
	l->role = 'M';
	atomic_init(&l->level, level);
	if (!path || !*path)
		return 0;
	int fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
	if (fd < 0)
		return ERR_IO;
	l->fd = fd;
	return 0;
}

void log_close(struct log *l)
{
	if (l->fd > 2)
		close(l->fd);
	l->fd = 2;
}

void log_write(struct log *l, enum log_level level, const char *fmt, ...)
{
	if ((int)level < atomic_load_explicit(&l->level, memory_order_relaxed))
		return;
	static const char marks[] = ".-*#";
	char line[1024];
	struct timeval tv;
	gettimeofday(&tv, NULL);
	struct tm tm;
	localtime_r(&tv.tv_sec, &tm);
	size_t n = (size_t)snprintf(line, sizeof(line), "%d:%c ", (int)getpid(), l->role);
	n += strftime(line + n, sizeof(line) - n, "%d %b %Y %H:%M:%S", &tm);
	n += (size_t)snprintf(line + n, sizeof(line) - n, ".%03d %c ", (int)(tv.tv_usec / 1000),
	                      marks[level & 3]);
	va_list ap;
	va_start(ap, fmt);
	int m = vsnprintf(line + n, sizeof(line) - n - 1, fmt, ap);
	va_end(ap);
	if (m < 0)
		m = 0;
	n += (size_t)m < sizeof(line) - n - 1 ? (size_t)m : sizeof(line) - n - 2;
	line[n++] = '\n';
	ssize_t w = write(l->fd, line, n);
	(void)w;
}
