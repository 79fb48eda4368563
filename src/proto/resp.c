/*
 * resp.c - RESP request parser and reply writer; see resp.h for the contract.
 *
 * Parser states (p->state) and what moves between them:
 *
 *   START        nothing of the command seen. A first byte '*' reads the
 *                count line ("*<n>\r\n") and goes to BULK_HEADER, or
 *                completes an empty command when n <= 0; any other first
 *                byte goes to INLINE.
 *   BULK_HEADER  p->pos is at a "$<len>\r\n" line. A complete line goes to
 *                BULK_DATA; an incomplete one returns RESP_MORE (the line is
 *                re-read next time, which costs at most
 *                RESP_HEADER_BYTES_MAX + 2 bytes).
 *   BULK_DATA    p->pos is at the first data byte of a bulk of p->bulk_len
 *                bytes. Once all of it and its CRLF are present the
 *                argument is recorded and the parser goes back to
 *                BULK_HEADER, or completes when argc_want args are in.
 *                Waiting here is O(1) per call, whatever the bulk size.
 *   INLINE       p->pos counts the bytes already searched for '\n', so a
 *                long line arriving in pieces is searched once.
 *   DONE, ERROR  after RESP_DONE (the next call starts a new command) or an
 *                error (resp_parser_reset is required; calling parse again
 *                is a bug and asserts).
 *
 * Invariants: p->pos <= the len of every call since the command began;
 * every recorded multibulk argument lies inside buf[0, p->pos); every inline
 * argument lies inside scratch; argc <= args_cap <= limits.args_max.
 *
 * Semantics follow Redis 7's processMultibulkBuffer/processInlineBuffer,
 * errors included. Two Redis details are kept on purpose: a header line ends
 * at the first '\r' and the byte after it is skipped unchecked, and the two
 * bytes after bulk data are skipped unchecked (Redis never verifies either
 * is '\n' / "\r\n", and there is no Redis error text for it). The inline
 * line limit is checked whether or not its '\n' has already arrived, so the
 * outcome never depends on how the bytes were split into reads.
 */
#include "proto/resp.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/assert.h"
#include "base/err.h"
#include "base/limits.h"
#include "base/strconv.h"

enum resp_state {
	ST_START = 0,
	ST_BULK_HEADER,
	ST_BULK_DATA,
	ST_INLINE,
	ST_DONE,
	ST_ERROR,
};

/* First argv index allocation: enough for the usual GET/SET/HSET without a
 * regrow, small enough that an idle connection costs little. */
#define RESP_ARGS_INITIAL 8

static_assert(RESP_HEADER_BYTES_MAX >= 21, "a header must fit a 64-bit number and sign");

/* ---- Parser helpers ------------------------------------------------------ */

static int fail(struct resp_parser *p, int err, const char *msg)
{
	snprintf(p->errmsg, sizeof(p->errmsg), "%s", msg);
	p->state = ST_ERROR;
	return err;
}

static int fail_expected_dollar(struct resp_parser *p, uint8_t got)
{
	/* Redis maps CR and LF in error texts to spaces so the reply stays one
	 * line; a NUL ends its C string, as it ends ours. */
	char c = (got == '\r' || got == '\n') ? ' ' : (char)got;
	snprintf(p->errmsg, sizeof(p->errmsg), "Protocol error: expected '$', got '%c'", c);
	p->state = ST_ERROR;
	return ERR_PROTO;
}

/* Grows the argv index by the arguments that have arrived: doubling, but
 * never past what the command announced (multibulk) or args_max. */
static int args_grow(struct resp_parser *p)
{
	size_t cap = p->args_cap ? p->args_cap * 2 : RESP_ARGS_INITIAL;
	if (!p->is_inline && cap > (size_t)p->argc_want)
		cap = (size_t)p->argc_want;
	if (cap > p->limits.args_max)
		cap = p->limits.args_max;
	if (cap <= p->argc)
		return fail(p, ERR_PROTO, "Protocol error: too big inline request");
	if (cap > SIZE_MAX / sizeof(struct bytes))
		return fail(p, ERR_NOMEM, "out of memory");
	struct resp_arg *args = realloc(p->args, cap * sizeof(*args));
	if (!args)
		return fail(p, ERR_NOMEM, "out of memory");
	p->args = args;
	struct bytes *argv = realloc(p->argv, cap * sizeof(*argv));
	if (!argv)
		return fail(p, ERR_NOMEM, "out of memory");
	p->argv = argv;
	p->args_cap = cap;
	return 0;
}

static inline int arg_push(struct resp_parser *p, size_t off, size_t len)
{
	if (UNLIKELY(p->argc == p->args_cap)) {
		int rc = args_grow(p);
		if (rc)
			return rc;
	}
	p->args[p->argc].off = off;
	p->args[p->argc].len = len;
	p->argc++;
	return 0;
}

enum hdr_result { HDR_OK, HDR_MORE, HDR_TOO_BIG, HDR_BAD_NUMBER };

/* Reads a "*<n>\r\n" or "$<n>\r\n" line starting at s (s[0] is the type
 * byte, not checked here). On HDR_OK or HDR_BAD_NUMBER *line_bytes is the
 * length of the line with its two terminator bytes. */
static inline enum hdr_result header_read(const uint8_t *s, size_t avail, int64_t *val,
                                          size_t *line_bytes)
{
	/* Fast path for the usual short positive count: digits, then '\r' and
	 * one more byte present. Anything else takes the general path, which
	 * reaches the same result for these inputs. */
	if (avail >= 4 && s[1] >= '0' && s[1] <= '9') {
		uint64_t v = (uint64_t)(s[1] - '0');
		size_t i = 2;
		if (v != 0) {
			while (i < avail && i < 19 && s[i] >= '0' && s[i] <= '9')
				v = v * 10 + (uint64_t)(s[i++] - '0');
		}
		if (i + 1 < avail && s[i] == '\r') {
			*val = (int64_t)v;
			*line_bytes = i + 2;
			return HDR_OK;
		}
	}
	/* The line ends at the first '\r', searched from the type byte as
	 * Redis does; at most RESP_HEADER_BYTES_MAX bytes may sit between the
	 * type byte and it. */
	size_t window = avail < RESP_HEADER_BYTES_MAX + 2 ? avail : RESP_HEADER_BYTES_MAX + 2;
	const uint8_t *cr = window ? memchr(s, '\r', window) : NULL;
	if (!cr)
		return avail >= RESP_HEADER_BYTES_MAX + 2 ? HDR_TOO_BIG : HDR_MORE;
	size_t cr_at = (size_t)(cr - s);
	if (cr_at + 1 >= avail)
		return HDR_MORE;
	*line_bytes = cr_at + 2;
	if (cr_at == 0 || !strconv_i64(bytes_make(s + 1, cr_at - 1), val))
		return HDR_BAD_NUMBER;
	return HDR_OK;
}

/* ---- Multibulk ----------------------------------------------------------- */

/* Reads the "*<n>\r\n" line at buf[0]. Returns 0 to go on reading bulks,
 * RESP_DONE for an empty command, RESP_MORE or an error. */
static int parse_count(struct resp_parser *p, const uint8_t *buf, size_t len)
{
	int64_t n = 0;
	size_t line = 0;
	switch (header_read(buf, len, &n, &line)) {
	case HDR_MORE:
		return RESP_MORE;
	case HDR_TOO_BIG:
		return fail(p, ERR_PROTO, "Protocol error: too big mbulk count string");
	case HDR_BAD_NUMBER:
		return fail(p, ERR_PROTO, "Protocol error: invalid multibulk length");
	case HDR_OK:
		break;
	}
	if (n > 0 && (uint64_t)n > p->limits.args_max)
		return fail(p, ERR_PROTO, "Protocol error: invalid multibulk length");
	p->pos = line;
	if (n <= 0)
		return RESP_DONE; /* "*0", "*-1": an empty command, as in Redis */
	p->argc_want = n;
	p->state = ST_BULK_HEADER;
	return 0;
}

/* Reads "$<len>\r\n" at buf[pos]: 0 and *pos past the line, RESP_MORE, or
 * an error. The error order (no CR, then the '$', then the number) is
 * Redis's, so the same bytes give the same text. */
static inline int parse_bulk_header(struct resp_parser *p, const uint8_t *buf, size_t len,
                                    size_t *pos)
{
	const uint8_t *s = buf + *pos;
	size_t avail = len - *pos;
	int64_t n = 0;
	size_t line = 0;
	enum hdr_result h = avail ? header_read(s, avail, &n, &line) : HDR_MORE;
	if (h == HDR_MORE)
		return RESP_MORE;
	if (h == HDR_TOO_BIG)
		return fail(p, ERR_PROTO, "Protocol error: too big bulk count string");
	if (s[0] != '$')
		return fail_expected_dollar(p, s[0]);
	if (h == HDR_BAD_NUMBER || n < 0 || (uint64_t)n > p->limits.bulk_bytes_max)
		return fail(p, ERR_PROTO, "Protocol error: invalid bulk length");
	p->bulk_len = n;
	p->state = ST_BULK_DATA;
	*pos += line;
	return 0;
}

/* Records bulk arguments until the command is complete or the bytes run
 * out. A command whose bytes are all present is parsed in this one loop. */
static int parse_bulks(struct resp_parser *p, const uint8_t *buf, size_t len)
{
	size_t pos = p->pos;
	size_t want = (size_t)p->argc_want;
	int rc = 0;
	while (p->argc < want) {
		if (p->state == ST_BULK_HEADER) {
			rc = parse_bulk_header(p, buf, len, &pos);
			if (rc)
				break;
		}
		/* bulk_len <= bulk_bytes_max, so the +2 cannot wrap. */
		uint64_t need = (uint64_t)p->bulk_len + 2;
		if ((uint64_t)(len - pos) < need) {
			rc = RESP_MORE;
			break;
		}
		rc = arg_push(p, pos, (size_t)p->bulk_len);
		if (rc)
			return rc;
		pos += (size_t)need;
		p->state = ST_BULK_HEADER;
	}
	if (rc < 0)
		return rc;
	p->pos = pos;
	return p->argc == want ? RESP_DONE : RESP_MORE;
}

/* ---- Inline -------------------------------------------------------------- */

/* isspace() in the C locale: what sdssplitargs skips between words. */
static inline bool is_blank(uint8_t c)
{
	return c == ' ' || (c >= '\t' && c <= '\r');
}

static inline bool is_hex(uint8_t c)
{
	return (c >= '0' && c <= '9') || ((c | 0x20) >= 'a' && (c | 0x20) <= 'f');
}

static inline uint8_t hex_val(uint8_t c)
{
	return c <= '9' ? (uint8_t)(c - '0') : (uint8_t)((c | 0x20) - 'a' + 10);
}

static uint8_t unescape(uint8_t c)
{
	switch (c) {
	case 'n':
		return '\n';
	case 'r':
		return '\r';
	case 't':
		return '\t';
	case 'b':
		return '\b';
	case 'a':
		return '\a';
	default:
		return c;
	}
}

/* One "double quoted" word body, s[*ip] just past the opening quote.
 * Returns false on unbalanced quotes. */
static bool token_dquoted(const uint8_t *s, size_t end, size_t *ip, uint8_t *out, size_t *op)
{
	size_t i = *ip, o = *op;
	for (;;) {
		if (i == end)
			return false;
		uint8_t c = s[i];
		if (c == '\\' && end - i >= 4 && s[i + 1] == 'x' && is_hex(s[i + 2]) &&
		    is_hex(s[i + 3])) {
			out[o++] = (uint8_t)(hex_val(s[i + 2]) * 16 + hex_val(s[i + 3]));
			i += 4;
		} else if (c == '\\' && end - i >= 2) {
			out[o++] = unescape(s[i + 1]);
			i += 2;
		} else if (c == '"') {
			/* The closing quote must end the word. */
			if (i + 1 < end && !is_blank(s[i + 1]))
				return false;
			*ip = i + 1;
			*op = o;
			return true;
		} else {
			out[o++] = c;
			i++;
		}
	}
}

/* One 'single quoted' word body; only \' is an escape. */
static bool token_squoted(const uint8_t *s, size_t end, size_t *ip, uint8_t *out, size_t *op)
{
	size_t i = *ip, o = *op;
	for (;;) {
		if (i == end)
			return false;
		uint8_t c = s[i];
		if (c == '\\' && end - i >= 2 && s[i + 1] == '\'') {
			out[o++] = '\'';
			i += 2;
		} else if (c == '\'') {
			if (i + 1 < end && !is_blank(s[i + 1]))
				return false;
			*ip = i + 1;
			*op = o;
			return true;
		} else {
			out[o++] = c;
			i++;
		}
	}
}

/* One word starting at s[*ip] (not blank), unquoted into out[*op...], as
 * sdssplitargs does: a bare word ends at space, tab, CR or LF (not at \v or
 * \f, which only separate words when leading), and a quote anywhere in a
 * bare word opens a quoted part that ends the word. */
static bool token_read(const uint8_t *s, size_t end, size_t *ip, uint8_t *out, size_t *op)
{
	size_t i = *ip;
	while (i < end) {
		uint8_t c = s[i];
		if (c == ' ' || c == '\t' || c == '\r' || c == '\n') {
			i++;
			break;
		}
		if (c == '"' || c == '\'') {
			*ip = i + 1;
			return c == '"' ? token_dquoted(s, end, ip, out, op)
			                : token_squoted(s, end, ip, out, op);
		}
		out[(*op)++] = c;
		i++;
	}
	*ip = i;
	return true;
}

/* Splits line[0, end) into arguments in scratch. Unquoting only shrinks a
 * word, so end bytes of scratch always suffice. */
static int inline_split(struct resp_parser *p, const uint8_t *line, size_t end)
{
	/* Redis splits a C string: a NUL ends the line. */
	const uint8_t *nul = memchr(line, '\0', end);
	if (nul)
		end = (size_t)(nul - line);
	p->scratch.len = 0;
	if (end == 0)
		return 0;
	int rc = buf_reserve(&p->scratch, end, p->limits.inline_bytes_max);
	if (rc)
		return fail(p, ERR_NOMEM, "out of memory");
	uint8_t *out = p->scratch.data;
	size_t i = 0, o = 0;
	for (;;) {
		while (i < end && is_blank(line[i]))
			i++;
		if (i == end)
			break;
		size_t start = o;
		if (!token_read(line, end, &i, out, &o))
			return fail(p, ERR_PROTO, "Protocol error: unbalanced quotes in request");
		rc = arg_push(p, start, o - start);
		if (rc)
			return rc;
	}
	DEBUG_ASSERT(o <= end);
	p->scratch.len = o;
	return 0;
}

/* Finds the end of an inline line, resuming the search where the last call
 * stopped, then splits it. */
static int parse_inline(struct resp_parser *p, const uint8_t *buf, size_t len)
{
	size_t max = p->limits.inline_bytes_max;
	/* A line holds at most max bytes of text; its end is "\n" or "\r\n",
	 * so the '\n' sits at index max + 1 at most, and only after a '\r'.
	 * Deciding from the bytes alone keeps the result independent of how
	 * the line was split across reads. */
	size_t window = max + 2 < len ? max + 2 : len;
	const uint8_t *nl = NULL;
	if (p->pos < window)
		nl = memchr(buf + p->pos, '\n', window - p->pos);
	bool cr_at_max = len > max && buf[max] == '\r';
	if (!nl) {
		if (len > max + 1 || (len == max + 1 && !cr_at_max))
			return fail(p, ERR_PROTO, "Protocol error: too big inline request");
		p->pos = len;
		return RESP_MORE;
	}
	size_t nl_at = (size_t)(nl - buf);
	if (nl_at == max + 1 && !cr_at_max)
		return fail(p, ERR_PROTO, "Protocol error: too big inline request");
	size_t end = nl_at;
	if (end > 0 && buf[end - 1] == '\r')
		end--;
	int rc = inline_split(p, buf, end);
	if (rc)
		return rc;
	p->pos = nl_at + 1;
	return RESP_DONE;
}

/* ---- Parser API ---------------------------------------------------------- */

void resp_parser_init(struct resp_parser *p, const struct resp_limits *limits)
{
	memset(p, 0, sizeof(*p));
	p->limits = *limits;
	p->args = NULL;
	p->argv = NULL;
	p->args_cap = 0;
	buf_init(&p->scratch);
	resp_parser_reset(p);
}

void resp_parser_deinit(struct resp_parser *p)
{
	free(p->args);
	free(p->argv);
	p->args = NULL;
	p->argv = NULL;
	p->args_cap = 0;
	p->argc = 0;
	buf_deinit(&p->scratch);
}

void resp_parser_reset(struct resp_parser *p)
{
	p->state = ST_START;
	p->pos = 0;
	p->argc_want = 0;
	p->bulk_len = 0;
	p->is_inline = false;
	p->argc = 0;
	p->scratch.len = 0;
	p->errmsg[0] = '\0';
}

/* The invariants listed at the top of this file; debug builds check them
 * after every call. */
static void parser_check_invariants(const struct resp_parser *p)
{
	DEBUG_ASSERT(p->state >= ST_START && p->state <= ST_ERROR);
	DEBUG_ASSERT(p->argc <= p->args_cap);
	DEBUG_ASSERT(p->args_cap <= p->limits.args_max);
	DEBUG_ASSERT(p->is_inline || p->argc <= (uint64_t)p->argc_want || p->argc == 0);
	DEBUG_ASSERT(p->state != ST_BULK_DATA ||
	             (p->bulk_len >= 0 && (uint64_t)p->bulk_len <= p->limits.bulk_bytes_max));
	DEBUG_ASSERT(p->scratch.len <= p->limits.inline_bytes_max);
	(void)p;
}

/* Turns the recorded offsets into views for the caller. */
static void argv_resolve(struct resp_parser *p, const uint8_t *buf)
{
	const uint8_t *base = p->is_inline ? p->scratch.data : buf;
	for (size_t i = 0; i < p->argc; i++) {
		p->argv[i].ptr = base + p->args[i].off;
		p->argv[i].len = p->args[i].len;
	}
}

int resp_parse(struct resp_parser *p, const uint8_t *buf, size_t len, size_t *consumed)
{
	ASSERT(p->state != ST_ERROR);
	if (p->state == ST_DONE)
		resp_parser_reset(p);
	ASSERT(p->pos <= len);
	int rc;
	if (p->state == ST_START) {
		if (len == 0)
			return RESP_MORE;
		if (buf[0] == '*') {
			rc = parse_count(p, buf, len);
			if (rc)
				goto out;
		} else {
			p->is_inline = true;
			p->state = ST_INLINE;
		}
	}
	if (p->state == ST_INLINE)
		rc = parse_inline(p, buf, len);
	else
		rc = parse_bulks(p, buf, len);
out:
	if (rc == RESP_DONE) {
		argv_resolve(p, buf);
		p->state = ST_DONE;
		*consumed = p->pos;
		DEBUG_ASSERT(*consumed > 0 && *consumed <= len);
	}
	parser_check_invariants(p);
	return rc;
}

size_t resp_parser_bytes_wanted(const struct resp_parser *p, size_t len)
{
	if (p->state != ST_BULK_DATA)
		return 0;
	/* pos <= len and bulk_len <= bulk_bytes_max; saturate all the same. */
	uint64_t need = (uint64_t)p->pos + (uint64_t)p->bulk_len + 2;
	if (need <= len)
		return 0;
	uint64_t more = need - len;
	return more > SIZE_MAX ? SIZE_MAX : (size_t)more;
}

/* ---- Writer -------------------------------------------------------------- */

void resp_out_init(struct resp_out *o, size_t cap_bytes)
{
	buf_init(&o->buf);
	o->cap_bytes = cap_bytes;
	o->proto = 2;
	o->err = 0;
}

void resp_out_deinit(struct resp_out *o)
{
	buf_deinit(&o->buf);
	o->err = 0;
}

/* Claims exactly n bytes at the end of the buffer, or sets the sticky error
 * and returns NULL. Exact sizes matter: reserving a worst case would trip
 * the cap for a reply that fits. */
static uint8_t *out_take(struct resp_out *o, size_t n)
{
	if (o->err)
		return NULL;
	int rc = buf_reserve(&o->buf, n, o->cap_bytes);
	if (rc) {
		o->err = rc;
		return NULL;
	}
	uint8_t *w = o->buf.data + o->buf.len;
	o->buf.len += n;
	return w;
}

/* Formats "<type><v>\r\n" into dst (room for 24 bytes); returns length. */
static size_t fmt_header(char *dst, char type, int64_t v)
{
	dst[0] = type;
	size_t n = 1 + strconv_i64_fmt(dst + 1, v);
	dst[n++] = '\r';
	dst[n++] = '\n';
	return n;
}

static void out_header(struct resp_out *o, char type, int64_t v)
{
	char h[24];
	size_t n = fmt_header(h, type, v);
	uint8_t *w = out_take(o, n);
	if (w)
		memcpy(w, h, n);
}

static int64_t count_i64(size_t n)
{
	/* A count comes from the server's own data, never from a peer. */
	ASSERT((uint64_t)n <= (uint64_t)INT64_MAX);
	return (int64_t)n;
}

/* "<type><text>\r\n" with CR and LF in text turned into spaces, as Redis
 * does for errors, so that no reply can break the framing. */
static void out_line(struct resp_out *o, char type, const char *text, size_t n)
{
	uint8_t *w = out_take(o, n + 3);
	if (!w)
		return;
	w[0] = (uint8_t)type;
	for (size_t i = 0; i < n; i++) {
		uint8_t c = (uint8_t)text[i];
		w[1 + i] = (c == '\r' || c == '\n') ? ' ' : c;
	}
	w[n + 1] = '\r';
	w[n + 2] = '\n';
}

/* "<type><prefix_len + n>\r\n<prefix><data>\r\n" in one reservation. */
static void out_blob(struct resp_out *o, char type, const char *prefix, size_t prefix_len,
                     const void *data, size_t n)
{
	/* No real buffer comes near this; it keeps the sums below exact. */
	if (n > (size_t)INT64_MAX - 64) {
		if (!o->err)
			o->err = ERR_LIMIT;
		return;
	}
	char h[24];
	size_t hn = fmt_header(h, type, (int64_t)(prefix_len + n));
	uint8_t *w = out_take(o, hn + prefix_len + n + 2);
	if (!w)
		return;
	memcpy(w, h, hn);
	w += hn;
	if (prefix_len)
		memcpy(w, prefix, prefix_len);
	w += prefix_len;
	if (n)
		memcpy(w, data, n);
	w += n;
	w[0] = '\r';
	w[1] = '\n';
}

static void out_raw(struct resp_out *o, const char *s, size_t n)
{
	uint8_t *w = out_take(o, n);
	if (w)
		memcpy(w, s, n);
}

void resp_w_simple(struct resp_out *o, const char *s)
{
	out_line(o, '+', s, strlen(s));
}

void resp_w_ok(struct resp_out *o)
{
	out_raw(o, "+OK\r\n", 5);
}

void resp_w_error(struct resp_out *o, const char *msg)
{
	out_line(o, '-', msg, strlen(msg));
}

void resp_w_errorf(struct resp_out *o, const char *fmt, ...)
{
	char text[513];
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(text, sizeof(text), fmt, ap);
	va_end(ap);
	if (n < 0)
		n = 0;
	/* Longer messages are cut at 512 bytes, as the header promises. */
	out_line(o, '-', text, (size_t)n < sizeof(text) ? (size_t)n : sizeof(text) - 1);
}

void resp_w_int(struct resp_out *o, int64_t v)
{
	out_header(o, ':', v);
}

void resp_w_bulk(struct resp_out *o, const void *p, size_t n)
{
	out_blob(o, '$', NULL, 0, p, n);
}

void resp_w_bulk_cstr(struct resp_out *o, const char *s)
{
	if (!s) {
		resp_w_null(o); /* as Redis's addReplyBulkCString(NULL) */
		return;
	}
	out_blob(o, '$', NULL, 0, s, strlen(s));
}

void resp_w_bulk_int(struct resp_out *o, int64_t v)
{
	char d[24];
	size_t n = strconv_i64_fmt(d, v);
	out_blob(o, '$', NULL, 0, d, n);
}

void resp_w_null(struct resp_out *o)
{
	if (o->proto >= 3)
		out_raw(o, "_\r\n", 3);
	else
		out_raw(o, "$-1\r\n", 5);
}

void resp_w_null_array(struct resp_out *o)
{
	if (o->proto >= 3)
		out_raw(o, "_\r\n", 3);
	else
		out_raw(o, "*-1\r\n", 5);
}

void resp_w_array(struct resp_out *o, size_t n)
{
	out_header(o, '*', count_i64(n));
}

void resp_w_map(struct resp_out *o, size_t pairs)
{
	if (o->proto >= 3) {
		out_header(o, '%', count_i64(pairs));
	} else {
		ASSERT(pairs <= SIZE_MAX / 2);
		out_header(o, '*', count_i64(pairs * 2));
	}
}

void resp_w_set(struct resp_out *o, size_t n)
{
	out_header(o, o->proto >= 3 ? '~' : '*', count_i64(n));
}

/* Redis 7.0's addReplyDouble: "%.17g", with infinities and NaN spelled
 * explicitly (libc would print "-nan" for a NaN with its sign bit set). */
static size_t fmt_double(char *dst, size_t cap, double v)
{
	if (isnan(v))
		return (size_t)snprintf(dst, cap, "nan");
	if (isinf(v))
		return (size_t)snprintf(dst, cap, "%s", v > 0 ? "inf" : "-inf");
	return (size_t)snprintf(dst, cap, "%.17g", v);
}

void resp_w_double(struct resp_out *o, double v)
{
	char d[40]; /* "%.17g" is at most 24 bytes: sign, 17 digits, dot, e-308 */
	size_t n = fmt_double(d, sizeof(d), v);
	ASSERT(n < sizeof(d));
	if (o->proto >= 3) {
		uint8_t *w = out_take(o, n + 3);
		if (!w)
			return;
		w[0] = ',';
		memcpy(w + 1, d, n);
		w[n + 1] = '\r';
		w[n + 2] = '\n';
	} else {
		out_blob(o, '$', NULL, 0, d, n);
	}
}

void resp_w_bool(struct resp_out *o, bool v)
{
	if (o->proto >= 3)
		out_raw(o, v ? "#t\r\n" : "#f\r\n", 4);
	else
		out_raw(o, v ? ":1\r\n" : ":0\r\n", 4);
}

void resp_w_verbatim(struct resp_out *o, const void *p, size_t n)
{
	if (o->proto >= 3)
		out_blob(o, '=', "txt:", 4, p, n);
	else
		out_blob(o, '$', NULL, 0, p, n);
}

uint8_t *resp_w_reserve(struct resp_out *o, size_t n)
{
	return out_take(o, n);
}
