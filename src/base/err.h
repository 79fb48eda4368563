/*
 * err.h - the error codes every fallible function returns.
 *
 * A function that can fail returns int: 0 on success or one of the negative
 * codes below. errno never leaves src/env/; the env layer maps it to these.
 */
#ifndef RINGKV_BASE_ERR_H
#define RINGKV_BASE_ERR_H

enum {
	ERR_OK = 0,
	ERR_NOMEM = -1,     /* an allocation failed */
	ERR_IO = -2,        /* the OS reported an I/O failure */
	ERR_CORRUPT = -3,   /* stored bytes failed a check */
	ERR_LIMIT = -4,     /* an input or queue is over its bound (limits.h) */
	ERR_PROTO = -5,     /* malformed protocol input */
	ERR_NOT_FOUND = -6, /* the key or object does not exist */
	ERR_EXISTS = -7,    /* the key or object already exists */
	ERR_INVALID = -8,   /* an argument is out of its domain */
	ERR_AGAIN = -9,     /* try later: would block, or not yet complete */
	ERR_NOSPACE = -10,  /* the disk is full */
	ERR_RANGE = -11,    /* a numeric result would overflow */
	ERR_NOT_LEADER = -12,
};

/* A short constant description of an error code, for logs. */
const char *err_str(int err);

#endif
