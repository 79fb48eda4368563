/*
 * log.h - leveled log lines with a timestamp, to stderr or a file.
 *
 * Lives in env/ rather than base/ because it reads the wall clock and
 * writes a file. A struct log hangs off each node's context (no global
 * logger), and is safe to use from every thread: each line is formatted
 * into a local buffer and written with one write call.
 *
 * Line format: "<pid>:<role> <dd Mon yyyy hh:mm:ss.mmm> <level char> message",
 * the shape Redis operators already read, with level chars . - * #
 * for debug, verbose, notice, warning.
 */
#ifndef RINGKV_ENV_LOG_H
#define RINGKV_ENV_LOG_H

#include <stdatomic.h>

enum log_level { LOG_DEBUG = 0, LOG_VERBOSE = 1, LOG_NOTICE = 2, LOG_WARNING = 3 };

struct log {
	int fd; /* 2 for stderr, or an opened file */
	atomic_int level;
	char role; /* 'M' for the main node, 'T' for tests */
};

/* Opens path for appending, or uses stderr when path is NULL or empty.
 * Returns 0 or ERR_IO (the log then writes to stderr). */
int log_open(struct log *l, const char *path, enum log_level level);
void log_close(struct log *l);

void log_write(struct log *l, enum log_level level, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#define LOG_D(l, ...) log_write((l), LOG_DEBUG, __VA_ARGS__)
#define LOG_V(l, ...) log_write((l), LOG_VERBOSE, __VA_ARGS__)
#define LOG_N(l, ...) log_write((l), LOG_NOTICE, __VA_ARGS__)
#define LOG_W(l, ...) log_write((l), LOG_WARNING, __VA_ARGS__)

#endif
