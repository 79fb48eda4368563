/*
 * base.c - the small functions of err.h and assert.h.
 */
#include "base/assert.h"
#include "base/err.h"

#include <stdio.h>
#include <stdlib.h>

const char *err_str(int err)
{
	switch (err) {
	case ERR_OK:
		return "ok";
	case ERR_NOMEM:
		return "out of memory";
	case ERR_IO:
		return "I/O error";
	case ERR_CORRUPT:
		return "corrupt data";
	case ERR_LIMIT:
		return "over a limit";
	case ERR_PROTO:
		return "protocol error";
	case ERR_NOT_FOUND:
		return "not found";
	case ERR_EXISTS:
		return "already exists";
	case ERR_INVALID:
		return "invalid argument";
	case ERR_AGAIN:
		return "try again";
	case ERR_NOSPACE:
		return "no space left on device";
	case ERR_RANGE:
		return "out of range";
	case ERR_NOT_LEADER:
		return "not the leader";
	}
	return "unknown error";
}

void assert_fail(const char *expr, const char *file, int line, const char *func)
{
	fprintf(stderr, "ASSERTION FAILED: %s at %s:%d (%s)\n", expr, file, line, func);
	fflush(stderr);
	abort();
}
