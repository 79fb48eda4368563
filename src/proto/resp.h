/*
 * resp.h - RESP2/RESP3 request parser and reply writer. Pure: bytes in,
 * values out; no I/O, no clock.
 *
 * Parser. A client's query buffer holds zero or more pipelined commands.
 * resp_parse() is called with the unconsumed bytes, which always begin at
 * the first byte of a command. It either completes one command, or reports
 * that more bytes are needed and remembers how far it got, so that a
 * command arriving in many reads is scanned once in total (not once per
 * read). Between calls the caller may move or grow the buffer, as long as
 * the bytes already passed are unchanged and still start the buffer: the
 * parser keeps offsets, never pointers.
 *
 * Both request forms are accepted:
 *   multibulk  "*<argc>\r\n" then argc times "$<len>\r\n<len bytes>\r\n"
 *   inline     a line of space-separated words ended by "\n" or "\r\n",
 *              with "double" (C escapes, \xHH) and 'single' quoting, as
 *              redis-cli and telnet users send.
 * An empty command ("*0\r\n", "*-1\r\n", a blank inline line) completes
 * with argc == 0; the caller skips it, as Redis does.
 *
 * Limits (struct resp_limits) are checked before anything is allocated:
 * argc above args_max, a bulk length above bulk_bytes_max, or an inline
 * line longer than inline_bytes_max is a protocol error. The argv index
 * grows with the arguments that actually arrive, never to an announced
 * count, and the parser never allocates room for bulk data at all (the
 * caller may use resp_parser_bytes_wanted() to size its reads).
 *
 * Errors carry Redis's exact texts ("Protocol error: invalid bulk length",
 * ...), which the caller sends as "-ERR <text>" before closing the
 * connection. After an error the parser must be reset before reuse.
 *
 * Thread: a parser belongs to one connection and one thread.
 */
#ifndef RINGKV_PROTO_RESP_H
#define RINGKV_PROTO_RESP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/buf.h"
#include "base/bytes.h"

struct resp_limits {
	size_t args_max;         /* most arguments in one command */
	size_t bulk_bytes_max;   /* longest bulk string (proto-max-bulk-len) */
	size_t inline_bytes_max; /* longest inline command line */
};

enum resp_parse_result {
	RESP_MORE = 1, /* incomplete: call again when more bytes arrived */
	RESP_DONE = 2, /* one command parsed: see argc/argv, *consumed */
	               /* or a negative error: ERR_PROTO (message in errmsg) or ERR_NOMEM */
};

struct resp_arg {
	size_t off; /* from the first byte of the command, or of scratch */
	size_t len;
};

struct resp_parser {
	struct resp_limits limits;
	/* Progress through the current command (private). */
	int state;
	size_t pos;        /* bytes of the command consumed so far */
	int64_t argc_want; /* announced argument count (multibulk) */
	int64_t bulk_len;  /* announced length of the bulk being read */
	bool is_inline;
	/* The arguments, as offsets; argv holds the resolved views after
	 * RESP_DONE and is valid until the next call or buffer change. */
	struct resp_arg *args;
	struct bytes *argv;
	size_t argc;
	size_t args_cap;
	struct buf scratch; /* unquoted inline arguments */
	char errmsg[96];
};

void resp_parser_init(struct resp_parser *p, const struct resp_limits *limits);
void resp_parser_deinit(struct resp_parser *p);

/* Forgets the current command (after RESP_DONE was consumed, or after an
 * error). Keeps the allocated index for reuse. */
void resp_parser_reset(struct resp_parser *p);

/* Continues parsing the command that starts at buf[0]; len bytes are
 * available. Returns RESP_DONE with *consumed set to the command's length
 * in bytes, RESP_MORE, ERR_PROTO or ERR_NOMEM. On RESP_DONE p->argc and
 * p->argv describe the command; views point into buf or into the parser. */
int resp_parse(struct resp_parser *p, const uint8_t *buf, size_t len, size_t *consumed);

/* While RESP_MORE is pending inside a bulk string: how many more bytes the
 * current bulk needs (0 when not inside one). A hint for read sizing. */
size_t resp_parser_bytes_wanted(const struct resp_parser *p, size_t len);

/*
 * Writer. Replies are appended to a caller-owned buffer, in RESP2 or RESP3
 * as chosen by proto (2 or 3); the functions map RESP3-only types to their
 * RESP2 forms the way Redis 7 does (map -> flat array, null -> $-1 or *-1,
 * double -> bulk string, boolean -> integer, verbatim -> bulk, set ->
 * array). An append that would take the buffer past cap_bytes, or fails to
 * allocate, sets a sticky error (err) and appends nothing; the caller checks
 * it once after writing a whole reply.
 */
struct resp_out {
	struct buf buf;
	size_t cap_bytes;
	int proto; /* 2 or 3 */
	int err;   /* 0, ERR_LIMIT or ERR_NOMEM, sticky until cleared */
};

void resp_out_init(struct resp_out *o, size_t cap_bytes);
void resp_out_deinit(struct resp_out *o);

void resp_w_simple(struct resp_out *o, const char *s); /* +s */
void resp_w_ok(struct resp_out *o);                    /* +OK */
void resp_w_error(struct resp_out *o,
                  const char *msg); /* -msg (msg has its prefix, e.g. "ERR ...") */
void resp_w_errorf(struct resp_out *o, const char *fmt, ...) /* formatted -msg, at most 512 bytes */
    __attribute__((format(printf, 2, 3)));
void resp_w_int(struct resp_out *o, int64_t v); /* :v */
void resp_w_bulk(struct resp_out *o, const void *p, size_t n);
void resp_w_bulk_cstr(struct resp_out *o, const char *s);
void resp_w_bulk_int(struct resp_out *o, int64_t v); /* integer as a bulk string */
void resp_w_null(struct resp_out *o);                /* RESP3 "_"; RESP2 "$-1" */
void resp_w_null_array(struct resp_out *o);          /* RESP3 "_"; RESP2 "*-1" */
void resp_w_array(struct resp_out *o, size_t n);
void resp_w_map(struct resp_out *o, size_t pairs);
void resp_w_set(struct resp_out *o, size_t n);
void resp_w_double(struct resp_out *o, double v); /* RESP3 ",v"; RESP2 bulk, Redis's %.17g form */
void resp_w_bool(struct resp_out *o, bool v);     /* RESP3 "#t/#f"; RESP2 ":1/:0" */
void resp_w_verbatim(struct resp_out *o, const void *p,
                     size_t n); /* RESP3 "=N\r\ntxt:..."; RESP2 bulk */

/* Reserves n raw bytes at the end of the buffer for the caller to fill
 * (used to copy a value straight from the store); NULL on error (sticky). */
uint8_t *resp_w_reserve(struct resp_out *o, size_t n);

#endif
