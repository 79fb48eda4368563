/*
 * resp_test.c - the RESP parser and writer through resp.h.
 *
 * The parser tests lean on one idea: a transcript (every command's argv, or
 * the error text, in order) of a pipelined input must not depend on how the
 * bytes were split into reads, nor on where the buffer lives between reads.
 * Each simulated read therefore copies the pending bytes into a fresh
 * allocation, so a parser that kept a pointer instead of an offset reads
 * freed memory (and ASan says so).
 */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#if defined(__GLIBC__) && (__GLIBC__ > 2 || (__GLIBC__ == 2 && __GLIBC_MINOR__ >= 33))
#include <malloc.h>
#define HAVE_MALLINFO2 1
#endif

#include "base/err.h"
#include "base/limits.h"
#include "proto/resp.h"

static const struct resp_limits test_limits = {
    .args_max = 16,
    .bulk_bytes_max = 1024,
    .inline_bytes_max = 256,
};

#define TRANSCRIPT_CAP (64 * 1024 * 1024)

/* ---- Transcript helpers -------------------------------------------------- */

static void t_put(struct buf *t, const void *p, size_t n)
{
	assert_int_equal(buf_reserve(t, n, TRANSCRIPT_CAP), 0);
	buf_put(t, p, n);
}

static void t_putf(struct buf *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void t_putf(struct buf *t, const char *fmt, ...)
{
	char tmp[160];
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(tmp, sizeof(tmp), fmt, ap);
	va_end(ap);
	assert_true(n >= 0 && (size_t)n < sizeof(tmp));
	t_put(t, tmp, (size_t)n);
}

static void t_argv(struct buf *t, size_t argc, const struct bytes *argv)
{
	t_putf(t, "D%zu[", argc);
	for (size_t i = 0; i < argc; i++) {
		t_putf(t, "%zu:", argv[i].len);
		t_put(t, argv[i].ptr, argv[i].len);
		t_put(t, ",", 1);
	}
	t_put(t, "]", 1);
}

/* Records one parse outcome; returns true when the parse should go on. */
static bool t_outcome(struct buf *t, const struct resp_parser *p, int rc)
{
	if (rc == RESP_DONE) {
		t_argv(t, p->argc, p->argv);
		return true;
	}
	if (rc == RESP_MORE)
		t_put(t, "M", 1);
	else
		t_putf(t, "E%d:%s", rc, p->errmsg);
	return false;
}

/* Parses the whole input as one read. */
static void transcript_whole(struct buf *t, const struct resp_limits *lim, const uint8_t *in,
                             size_t len)
{
	struct resp_parser p;
	resp_parser_init(&p, lim);
	size_t pos = 0;
	for (;;) {
		size_t used = 0;
		int rc = resp_parse(&p, in + pos, len - pos, &used);
		if (!t_outcome(t, &p, rc))
			break;
		assert_true(used > 0 && used <= len - pos);
		pos += used;
		resp_parser_reset(&p);
	}
	resp_parser_deinit(&p);
}

/* Feeds the input in reads that end at cuts[0] < cuts[1] < ... < len. The
 * pending bytes move to a new allocation at every read. */
static void transcript_split(struct buf *t, const struct resp_limits *lim, const uint8_t *in,
                             size_t len, const size_t *cuts, size_t ncuts)
{
	struct resp_parser p;
	resp_parser_init(&p, lim);
	size_t start = 0, avail_end = 0, next_cut = 0;
	uint8_t *qb = NULL;
	for (;;) {
		size_t used = 0;
		int rc = qb ? resp_parse(&p, qb, avail_end - start, &used) : RESP_MORE;
		if (rc == RESP_MORE && avail_end < len) {
			size_t end = next_cut < ncuts ? cuts[next_cut++] : len;
			uint8_t *nqb = malloc(end - start + 1);
			assert_non_null(nqb);
			memcpy(nqb, in + start, end - start);
			free(qb);
			qb = nqb;
			avail_end = end;
			continue;
		}
		if (!t_outcome(t, &p, rc))
			break;
		assert_true(used > 0 && used <= avail_end - start);
		start += used;
		resp_parser_reset(&p);
		/* Move what is left, as a server compacting its buffer would. */
		uint8_t *nqb = malloc(avail_end - start + 1);
		assert_non_null(nqb);
		memcpy(nqb, in + start, avail_end - start);
		free(qb);
		qb = nqb;
	}
	free(qb);
	resp_parser_deinit(&p);
}

static void assert_same_transcript(const struct buf *a, const struct buf *b)
{
	if (a->len != b->len || memcmp(a->data, b->data, a->len) != 0) {
		fprintf(stderr, "want: %.*s\ngot:  %.*s\n", (int)a->len, (const char *)a->data,
		        (int)b->len, (const char *)b->data);
		fail();
	}
}

/* Whole, every single cut, every pair of cuts and byte-at-a-time all give
 * the same transcript. */
static void check_every_split(const struct resp_limits *lim, const uint8_t *in, size_t len,
                              const struct buf *want)
{
	struct buf whole;
	buf_init(&whole);
	transcript_whole(&whole, lim, in, len);
	if (want)
		assert_same_transcript(want, &whole);

	for (size_t c = 0; c <= len; c++) {
		struct buf got;
		buf_init(&got);
		transcript_split(&got, lim, in, len, &c, 1);
		assert_same_transcript(&whole, &got);
		buf_deinit(&got);
	}
	for (size_t a = 1; a < len; a++) {
		for (size_t b = a + 1; b < len; b++) {
			size_t cuts[2] = {a, b};
			struct buf got;
			buf_init(&got);
			transcript_split(&got, lim, in, len, cuts, 2);
			assert_same_transcript(&whole, &got);
			buf_deinit(&got);
		}
	}
	size_t *cuts = malloc((len + 1) * sizeof(*cuts));
	assert_non_null(cuts);
	for (size_t i = 0; i <= len; i++)
		cuts[i] = i;
	struct buf got;
	buf_init(&got);
	transcript_split(&got, lim, in, len, cuts, len + 1);
	assert_same_transcript(&whole, &got);
	buf_deinit(&got);
	free(cuts);
	buf_deinit(&whole);
}

/* ---- Parser: pipelines and splits --------------------------------------- */

#define S(lit) lit, sizeof(lit) - 1

static const char pipeline[] = "*3\r\n$3\r\nSET\r\n$3\r\nkey\r\n$7\r\nva\r\nl\0x\r\n"
                               "PING\r\n"
                               "*0\r\n"
                               "set  \"a b\" 'c\\'d' \"\\x41\\n\" e\"f g\"\n"
                               "*-1\r\n"
                               "\r\n"
                               "*2\r\n$4\r\nECHO\r\n$4\r\n\0\r\n\0\r\n"
                               "*1\r\n$0\r\n\r\n"
                               "GET k\n"
                               "   \t\r\n"
                               "*2\r\n$3\r\nGET\r\n$1\r\nx\r\n";

static void want_cmd(struct buf *t, size_t argc, ...)
{
	struct bytes argv[8];
	va_list ap;
	va_start(ap, argc);
	for (size_t i = 0; i < argc; i++) {
		const char *s = va_arg(ap, const char *);
		size_t n = va_arg(ap, size_t);
		argv[i] = bytes_make(s, n);
	}
	va_end(ap);
	t_argv(t, argc, argv);
}

static void test_resp_pipeline_same_result_at_every_split_point(void **state)
{
	(void)state;
	struct buf want;
	buf_init(&want);
	want_cmd(&want, 3, S("SET"), S("key"), S("va\r\nl\0x"));
	want_cmd(&want, 1, S("PING"));
	want_cmd(&want, 0);
	want_cmd(&want, 5, S("set"), S("a b"), S("c'd"), S("A\n"), S("ef g"));
	want_cmd(&want, 0);
	want_cmd(&want, 0);
	want_cmd(&want, 2, S("ECHO"), S("\0\r\n\0"));
	want_cmd(&want, 1, S(""));
	want_cmd(&want, 2, S("GET"), S("k"));
	want_cmd(&want, 0);
	want_cmd(&want, 2, S("GET"), S("x"));
	t_put(&want, "M", 1);
	check_every_split(&test_limits, (const uint8_t *)pipeline, sizeof(pipeline) - 1, &want);
	buf_deinit(&want);
}

static void test_resp_pipeline_ending_in_error_same_at_every_split_point(void **state)
{
	(void)state;
	static const struct {
		const char *in;
		size_t len;
	} cases[] = {
	    {S("PING\r\n*1\r\n$3\r\nfoo\r\n*1\r\nx\r\n")},
	    {S("*1\r\n$1\r\na\r\n*2\r\n$3\r\nGET\r\n$-5\r\n")},
	    {S("GET a\nGET \"unbalanced\r\n")},
	    {S("*1\r\n$1\r\na\r\n*1\r\n$12345678901234567890123456789012345678901234567890"
	       "123456789012345678901234567890")},
	    {S("*1\r\n$1\r\na\r\n*123456789012345678901234567890123456789012345678901"
	       "234567890123456789012345678901")},
	    {S("*1\r\n$1\r\na\r\n*17\r\n")},
	    {S("*1\r\n$1\r\na\r\n*2\r\n$1\r\na\r\n$1025\r\n")},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct buf whole;
		buf_init(&whole);
		transcript_whole(&whole, &test_limits, (const uint8_t *)cases[i].in, cases[i].len);
		if (whole.len == 0 || whole.data[0] != 'D' || whole.data[whole.len - 1] == 'M')
			fprintf(stderr, "case %zu: %.*s\n", i, (int)whole.len,
			        (const char *)whole.data);
		/* Each starts with a good command and ends in an error. */
		assert_true(whole.len > 0 && whole.data[0] == 'D');
		assert_true(whole.data[whole.len - 1] != 'M');
		check_every_split(&test_limits, (const uint8_t *)cases[i].in, cases[i].len, NULL);
		buf_deinit(&whole);
	}
}

static void test_resp_long_inline_line_same_at_every_split_point(void **state)
{
	(void)state;
	char line[400];
	size_t n = 0;
	n += (size_t)snprintf(line + n, sizeof(line) - n, "MSET");
	while (n < 240)
		n += (size_t)snprintf(line + n, sizeof(line) - n, " k%zu \"v\\t%zu\"", n, n);
	line[n++] = '\r';
	line[n++] = '\n';
	struct resp_limits lim = test_limits;
	lim.args_max = 64;
	struct buf whole;
	buf_init(&whole);
	transcript_whole(&whole, &lim, (const uint8_t *)line, n);
	assert_true(whole.len > 2 && whole.data[0] == 'D' && whole.data[whole.len - 1] == 'M');
	buf_deinit(&whole);
	check_every_split(&lim, (const uint8_t *)line, n, NULL);
}

/* ---- Parser: single commands --------------------------------------------- */

/* Parses in as one read and expects RESP_DONE consuming exactly used. */
static void parse_done(struct resp_parser *p, const char *in, size_t len, size_t used)
{
	size_t consumed = 0;
	int rc = resp_parse(p, (const uint8_t *)in, len, &consumed);
	if (rc != RESP_DONE)
		fprintf(stderr, "rc %d: %s\n", rc, p->errmsg);
	assert_int_equal(rc, RESP_DONE);
	assert_int_equal(consumed, used);
}

static void assert_arg(const struct resp_parser *p, size_t i, const char *s, size_t n)
{
	assert_true(i < p->argc);
	assert_int_equal(p->argv[i].len, n);
	assert_memory_equal(p->argv[i].ptr, s, n);
}

static void test_resp_multibulk_args_point_into_the_buffer(void **state)
{
	(void)state;
	struct resp_parser p;
	resp_parser_init(&p, &test_limits);
	static const char in[] = "*2\r\n$3\r\nGET\r\n$3\r\nkey\r\nextra";
	parse_done(&p, S(in), sizeof(in) - 1 - 5);
	assert_int_equal(p.argc, 2);
	assert_ptr_equal(p.argv[0].ptr, (const uint8_t *)in + 8);
	assert_ptr_equal(p.argv[1].ptr, (const uint8_t *)in + 17);
	assert_arg(&p, 1, S("key"));
	resp_parser_deinit(&p);
}

static void test_resp_binary_safe_bulk_data(void **state)
{
	(void)state;
	struct resp_parser p;
	resp_parser_init(&p, &test_limits);
	static const char in[] = "*2\r\n$3\r\nSET\r\n$8\r\n\0\r\n*1$\n\r\r\n";
	parse_done(&p, S(in), sizeof(in) - 1);
	assert_arg(&p, 1, S("\0\r\n*1$\n\r"));
	resp_parser_deinit(&p);
}

static void test_resp_empty_commands_have_no_args(void **state)
{
	(void)state;
	static const struct {
		const char *in;
		size_t len;
		size_t used;
	} cases[] = {
	    {S("*0\r\n"), 4}, {S("*-1\r\n"), 5},    {S("*-5\r\nPING\r\n"), 5}, {S("\r\n"), 2},
	    {S("\n"), 1},     {S("   \t \r\n"), 7}, {S("\x0b\x0c\n"), 3},      {S("\0 abc\n"), 6},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct resp_parser p;
		resp_parser_init(&p, &test_limits);
		parse_done(&p, cases[i].in, cases[i].len, cases[i].used);
		assert_int_equal(p.argc, 0);
		resp_parser_deinit(&p);
	}
}

static void test_resp_inline_quoting_follows_sdssplitargs(void **state)
{
	(void)state;
	struct resp_parser p;
	resp_parser_init(&p, &test_limits);

	parse_done(&p, S("SET a\"b c\" d\n"), 13);
	assert_int_equal(p.argc, 3);
	assert_arg(&p, 1, S("ab c"));
	assert_arg(&p, 2, S("d"));

	parse_done(&p, S("\"\" ''\n"), 6);
	assert_int_equal(p.argc, 2);
	assert_arg(&p, 0, S(""));
	assert_arg(&p, 1, S(""));

	static const char esc[] = "\"\\n\\r\\t\\b\\a\\\\\\\"\\q\\x4g\\x4A\\xff\"\n";
	parse_done(&p, S(esc), sizeof(esc) - 1);
	assert_int_equal(p.argc, 1);
	assert_arg(&p, 0, S("\n\r\t\b\a\\\"qx4gJ\xff"));

	parse_done(&p, S("'a\\b\\'c\"'\n"), 10);
	assert_arg(&p, 0, S("a\\b'c\""));

	/* \v and \f separate words only where they lead. */
	parse_done(&p,
	           S("\x0b"
	             "a\x0b"
	             "b\tc\rd\n"),
	           9);
	assert_int_equal(p.argc, 3);
	assert_arg(&p, 0,
	           S("a\x0b"
	             "b"));
	assert_arg(&p, 1, S("c"));
	assert_arg(&p, 2, S("d"));

	/* A NUL ends the line's words, as in Redis's C-string split. */
	parse_done(&p, S("GET a\0b c\n"), 10);
	assert_int_equal(p.argc, 2);
	assert_arg(&p, 1, S("a"));

	/* Only a CR right before the LF is dropped. */
	parse_done(&p, S("ECHO \"x\r\"\r\n"), 11);
	assert_arg(&p, 1, S("x\r"));

	/* A closing quote followed by \v is fine (isspace), and the word ends. */
	parse_done(&p,
	           S("'a'\x0b"
	             "b\n"),
	           6);
	assert_int_equal(p.argc, 2);
	resp_parser_deinit(&p);
}

struct bad_case {
	const char *in;
	size_t len;
	const char *err;
};

static void check_bad(const struct resp_limits *lim, const struct bad_case *c)
{
	struct resp_parser p;
	resp_parser_init(&p, lim);
	size_t consumed = 12345;
	int rc = resp_parse(&p, (const uint8_t *)c->in, c->len, &consumed);
	if (rc != ERR_PROTO || strcmp(p.errmsg, c->err) != 0)
		fprintf(stderr, "input %.*s: rc %d msg '%s', want '%s'\n", (int)c->len, c->in, rc,
		        p.errmsg, c->err);
	assert_int_equal(rc, ERR_PROTO);
	assert_string_equal(p.errmsg, c->err);
	assert_int_equal(consumed, 12345);
	/* After a reset the parser works again. */
	resp_parser_reset(&p);
	parse_done(&p, S("*1\r\n$4\r\nPING\r\n"), 14);
	resp_parser_deinit(&p);
}

#define E_MBULK  "Protocol error: invalid multibulk length"
#define E_BULK   "Protocol error: invalid bulk length"
#define E_MBIG   "Protocol error: too big mbulk count string"
#define E_BBIG   "Protocol error: too big bulk count string"
#define E_QUOTES "Protocol error: unbalanced quotes in request"
#define E_INLINE "Protocol error: too big inline request"

static void test_resp_malformed_input_gives_redis_error_text(void **state)
{
	(void)state;
	static const struct bad_case cases[] = {
	    {S("*abc\r\n"), E_MBULK},
	    {S("*1x\r\n"), E_MBULK},
	    {S("*+1\r\n"), E_MBULK},
	    {S("*01\r\n"), E_MBULK},
	    {S("*-0\r\n"), E_MBULK},
	    {S("* 1\r\n"), E_MBULK},
	    {S("*\r\n"), E_MBULK},
	    {S("*17\r\n"), E_MBULK},
	    {S("*99999999999999999999\r\n"), E_MBULK},
	    {S("*9223372036854775808\r\n"), E_MBULK},
	    {S("*1\0\r\n"), E_MBULK},
	    {S("*1\r\nfoo\r\n"), "Protocol error: expected '$', got 'f'"},
	    {S("*2\r\n$1\r\na\r\n:1\r\n"), "Protocol error: expected '$', got ':'"},
	    {S("*1\r\n\r\n"), "Protocol error: expected '$', got ' '"},
	    {S("*1\r\n\n\r\n"), "Protocol error: expected '$', got ' '"},
	    {S("*1\r\n$abc\r\n"), E_BULK},
	    {S("*1\r\n$-1\r\n"), E_BULK},
	    {S("*1\r\n$\r\n"), E_BULK},
	    {S("*1\r\n$01\r\n"), E_BULK},
	    {S("*1\r\n$+1\r\n"), E_BULK},
	    {S("*1\r\n$1 \r\n"), E_BULK},
	    {S("*1\r\n$1025\r\n"), E_BULK},
	    {S("*1\r\n$99999999999999999999\r\n"), E_BULK},
	    {S("SET \"abc\n"), E_QUOTES},
	    {S("SET \"a\"b\n"), E_QUOTES},
	    {S("SET 'a\n"), E_QUOTES},
	    {S("SET 'a'b\n"), E_QUOTES},
	    {S("\"a\"\"b\"\n"), E_QUOTES},
	    {S("SET \"a\\\"\n"), E_QUOTES},
	    {S("SET \"a\\\n"), E_QUOTES},
	    {S("SET \"a\0\"\n"), E_QUOTES},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		check_bad(&test_limits, &cases[i]);

	/* Header lines with no CR in sight. Redis looks for the CR before it
	 * looks at the '$', so a wrong type byte is still "too big" here. */
	static const struct {
		const char *head;
		char fill;
		const char *err;
	} big[] = {{"*", '1', E_MBIG}, {"*1\r\n$", '1', E_BBIG}, {"*1\r\nx", 'y', E_BBIG}};
	for (size_t i = 0; i < sizeof(big) / sizeof(big[0]); i++) {
		char in[200];
		size_t h = strlen(big[i].head);
		memcpy(in, big[i].head, h);
		memset(in + h, big[i].fill, 100);
		struct bad_case c = {in, h + 100, big[i].err};
		check_bad(&test_limits, &c);
	}
}

static void test_resp_parse_after_error_asserts_nothing_after_reset(void **state)
{
	(void)state;
	/* The same parser object survives many error/reset cycles. */
	struct resp_parser p;
	resp_parser_init(&p, &test_limits);
	for (int i = 0; i < 100; i++) {
		size_t used;
		assert_int_equal(resp_parse(&p, (const uint8_t *)"*x\r\n", 4, &used), ERR_PROTO);
		resp_parser_reset(&p);
		assert_int_equal(resp_parse(&p, (const uint8_t *)"GET \"a\n", 7, &used), ERR_PROTO);
		resp_parser_reset(&p);
	}
	resp_parser_deinit(&p);
}

/* ---- Parser: limits ------------------------------------------------------ */

/* Appends "*n\r\n" then n one-byte bulks. */
static size_t make_mbulk(char *dst, size_t n)
{
	size_t len = (size_t)sprintf(dst, "*%zu\r\n", n);
	for (size_t i = 0; i < n; i++)
		len += (size_t)sprintf(dst + len, "$1\r\n%c\r\n", (char)('a' + i % 26));
	return len;
}

static void test_resp_args_max_at_limit_and_one_past(void **state)
{
	(void)state;
	char in[512];
	struct resp_parser p;
	resp_parser_init(&p, &test_limits);
	size_t len = make_mbulk(in, 16);
	parse_done(&p, in, len, len);
	assert_int_equal(p.argc, 16);
	assert_true(p.args_cap <= 16);
	resp_parser_deinit(&p);

	struct bad_case bad = {in, make_mbulk(in, 17), E_MBULK};
	check_bad(&test_limits, &bad);

	/* Inline lines are held to args_max too. */
	char line[64];
	size_t n = 0;
	for (size_t i = 0; i < 16; i++)
		n += (size_t)sprintf(line + n, "%c ", (char)('a' + i));
	line[n++] = '\n';
	resp_parser_init(&p, &test_limits);
	parse_done(&p, line, n, n);
	assert_int_equal(p.argc, 16);
	resp_parser_deinit(&p);
	line[n - 1] = 'q';
	line[n++] = '\n';
	struct bad_case bad_inline = {line, n, E_INLINE};
	check_bad(&test_limits, &bad_inline);
}

static void test_resp_bulk_bytes_max_at_limit_and_one_past(void **state)
{
	(void)state;
	char in[2048];
	size_t len = (size_t)sprintf(in, "*1\r\n$1024\r\n");
	memset(in + len, 'v', 1024);
	len += 1024;
	memcpy(in + len, "\r\n", 2);
	len += 2;
	struct resp_parser p;
	resp_parser_init(&p, &test_limits);
	parse_done(&p, in, len, len);
	assert_int_equal(p.argv[0].len, 1024);
	resp_parser_deinit(&p);

	struct bad_case bad = {S("*1\r\n$1025\r\n"), E_BULK};
	check_bad(&test_limits, &bad);
}

static void test_resp_inline_bytes_max_at_limit_and_one_past(void **state)
{
	(void)state;
	char line[300];
	struct resp_parser p;
	size_t used;

	/* 256 bytes of text, ended by CRLF or by LF: accepted (the limit is on
	 * the text, whatever the line ending). */
	memset(line, 'x', 256);
	line[256] = '\r';
	line[257] = '\n';
	resp_parser_init(&p, &test_limits);
	parse_done(&p, line, 258, 258);
	assert_int_equal(p.argc, 1);
	assert_int_equal(p.argv[0].len, 256);
	resp_parser_reset(&p);
	line[256] = '\n';
	parse_done(&p, line, 257, 257);
	assert_int_equal(p.argv[0].len, 256);
	resp_parser_reset(&p);

	/* 256 bytes of text and a CR: wait for the LF; anything else after
	 * the CR makes the line too long. */
	line[256] = '\r';
	assert_int_equal(resp_parse(&p, (const uint8_t *)line, 257, &used), RESP_MORE);
	line[257] = 'y';
	assert_int_equal(resp_parse(&p, (const uint8_t *)line, 258, &used), ERR_PROTO);
	assert_string_equal(p.errmsg, E_INLINE);
	resp_parser_reset(&p);

	/* 256 bytes and no LF yet: wait. 257: too big, LF or not. */
	memset(line, 'x', 257);
	assert_int_equal(resp_parse(&p, (const uint8_t *)line, 256, &used), RESP_MORE);
	assert_int_equal(resp_parse(&p, (const uint8_t *)line, 257, &used), ERR_PROTO);
	assert_string_equal(p.errmsg, E_INLINE);
	resp_parser_deinit(&p);

	line[257] = '\n';
	struct bad_case with_lf = {line, 258, E_INLINE};
	check_bad(&test_limits, &with_lf);
}

static void test_resp_header_bytes_max_at_limit_and_one_past(void **state)
{
	(void)state;
	char in[128];
	size_t used;
	struct resp_parser p;
	resp_parser_init(&p, &test_limits);

	/* RESP_HEADER_BYTES_MAX bytes after the '*' and no CR: wait. */
	in[0] = '*';
	memset(in + 1, '1', RESP_HEADER_BYTES_MAX + 1);
	assert_int_equal(resp_parse(&p, (const uint8_t *)in, 1 + RESP_HEADER_BYTES_MAX, &used),
	                 RESP_MORE);
	/* One more: too big. */
	assert_int_equal(resp_parse(&p, (const uint8_t *)in, 2 + RESP_HEADER_BYTES_MAX, &used),
	                 ERR_PROTO);
	assert_string_equal(p.errmsg, E_MBIG);
	resp_parser_reset(&p);

	/* At the limit with its CRLF the line is read, and the number judged. */
	memcpy(in + 1 + RESP_HEADER_BYTES_MAX, "\r\n", 2);
	assert_int_equal(resp_parse(&p, (const uint8_t *)in, 3 + RESP_HEADER_BYTES_MAX, &used),
	                 ERR_PROTO);
	assert_string_equal(p.errmsg, E_MBULK);
	resp_parser_reset(&p);

	/* The same for a bulk header. */
	size_t h = (size_t)sprintf(in, "*1\r\n$");
	memset(in + h, '1', RESP_HEADER_BYTES_MAX + 1);
	assert_int_equal(resp_parse(&p, (const uint8_t *)in, h + RESP_HEADER_BYTES_MAX, &used),
	                 RESP_MORE);
	assert_int_equal(resp_parse(&p, (const uint8_t *)in, h + RESP_HEADER_BYTES_MAX + 1, &used),
	                 ERR_PROTO);
	assert_string_equal(p.errmsg, E_BBIG);
	resp_parser_reset(&p);
	memcpy(in + h + RESP_HEADER_BYTES_MAX, "\r\n", 2);
	assert_int_equal(resp_parse(&p, (const uint8_t *)in, h + RESP_HEADER_BYTES_MAX + 2, &used),
	                 ERR_PROTO);
	assert_string_equal(p.errmsg, E_BULK);
	resp_parser_deinit(&p);
}

static size_t heap_in_use(void)
{
#ifdef HAVE_MALLINFO2
	return mallinfo2().uordblks;
#else
	return 0;
#endif
}

static void test_resp_huge_announced_bulk_is_not_allocated(void **state)
{
	(void)state;
	struct resp_limits lim = {
	    .args_max = ARGS_DEFAULT,
	    .bulk_bytes_max = VALUE_BYTES_DEFAULT,
	    .inline_bytes_max = INLINE_BYTES_DEFAULT,
	};
	struct resp_parser p;
	resp_parser_init(&p, &lim);
	static const char in[] = "*2\r\n$3\r\nSET\r\n$104857600\r\nabc";
	size_t before = heap_in_use();
	size_t used;
	assert_int_equal(resp_parse(&p, (const uint8_t *)in, sizeof(in) - 1, &used), RESP_MORE);
	size_t after = heap_in_use();
	assert_true(after - before < 64 * 1024 || after < before);
	assert_true(p.args_cap <= 2);
	assert_int_equal(p.scratch.cap, 0);
	assert_int_equal(resp_parser_bytes_wanted(&p, sizeof(in) - 1), 104857600 + 2 - 3);
	/* Waiting on more bulk bytes needs no further state. */
	assert_int_equal(resp_parse(&p, (const uint8_t *)in, sizeof(in) - 1, &used), RESP_MORE);
	resp_parser_reset(&p);

	/* A million announced arguments: the index grows with what arrives. */
	static const char many[] = "*1000000\r\n$1\r\na\r\n$1\r\nb\r\n";
	assert_int_equal(resp_parse(&p, (const uint8_t *)many, sizeof(many) - 1, &used), RESP_MORE);
	assert_int_equal(p.argc, 2);
	assert_true(p.args_cap <= 8);
	assert_int_equal(resp_parser_bytes_wanted(&p, sizeof(many) - 1), 0);
	resp_parser_deinit(&p);
}

static void test_resp_bytes_wanted_counts_down_the_bulk(void **state)
{
	(void)state;
	struct resp_parser p;
	resp_parser_init(&p, &test_limits);
	static const char in[] = "*1\r\n$10\r\n0123456789\r\n";
	size_t used;
	assert_int_equal(resp_parse(&p, (const uint8_t *)in, 5, &used), RESP_MORE);
	assert_int_equal(resp_parser_bytes_wanted(&p, 5), 0); /* header incomplete */
	for (size_t len = 9; len < sizeof(in) - 1; len++) {
		assert_int_equal(resp_parse(&p, (const uint8_t *)in, len, &used), RESP_MORE);
		assert_int_equal(resp_parser_bytes_wanted(&p, len), sizeof(in) - 1 - len);
	}
	parse_done(&p, S(in), sizeof(in) - 1);
	assert_int_equal(resp_parser_bytes_wanted(&p, sizeof(in) - 1), 0);
	resp_parser_deinit(&p);
}

static void test_resp_parser_reuses_its_index_across_commands(void **state)
{
	(void)state;
	char in[512];
	size_t len = make_mbulk(in, 12);
	struct resp_parser p;
	resp_parser_init(&p, &test_limits);
	for (int i = 0; i < 1000; i++) {
		/* No reset in between: a call after RESP_DONE starts afresh. */
		parse_done(&p, in, len, len);
		assert_int_equal(p.argc, 12);
		assert_arg(&p, 11, S("l"));
	}
	assert_true(p.args_cap <= 16);
	resp_parser_deinit(&p);
}

/* ---- Writer -------------------------------------------------------------- */

static void assert_out(struct resp_out *o, const char *want, size_t n)
{
	assert_int_equal(o->err, 0);
	if (o->buf.len != n || memcmp(o->buf.data, want, n) != 0) {
		fprintf(stderr, "want %zu: %.*s\ngot %zu:  %.*s\n", n, (int)n, want, o->buf.len,
		        (int)o->buf.len, (const char *)o->buf.data);
		fail();
	}
	o->buf.len = 0;
}

#define OUT(o, lit) assert_out(o, lit, sizeof(lit) - 1)
/* The RESP2 form, or the RESP3 one, by the writer's protocol. */
#define OUT23(o, lit2, lit3) ((o)->proto == 3 ? OUT(o, lit3) : OUT(o, lit2))

static void test_resp_writer_types_in_both_protocols(void **state)
{
	(void)state;
	struct resp_out o;
	resp_out_init(&o, 1 << 20);
	for (int proto = 2; proto <= 3; proto++) {
		o.proto = proto;
		resp_w_simple(&o, "PONG");
		OUT(&o, "+PONG\r\n");
		resp_w_ok(&o);
		OUT(&o, "+OK\r\n");
		resp_w_error(&o, "ERR no such key");
		OUT(&o, "-ERR no such key\r\n");
		resp_w_errorf(&o, "ERR %s %d", "bad", 7);
		OUT(&o, "-ERR bad 7\r\n");
		resp_w_int(&o, -42);
		OUT(&o, ":-42\r\n");
		resp_w_int(&o, INT64_MIN);
		OUT(&o, ":-9223372036854775808\r\n");
		resp_w_bulk(&o, "hello", 5);
		OUT(&o, "$5\r\nhello\r\n");
		resp_w_bulk(&o, "", 0);
		OUT(&o, "$0\r\n\r\n");
		resp_w_bulk(&o, "a\0\r\n", 4);
		OUT(&o, "$4\r\na\0\r\n\r\n");
		resp_w_bulk_cstr(&o, "abc");
		OUT(&o, "$3\r\nabc\r\n");
		resp_w_bulk_int(&o, 1234567);
		OUT(&o, "$7\r\n1234567\r\n");
		resp_w_array(&o, 3);
		OUT(&o, "*3\r\n");
		resp_w_array(&o, 0);
		OUT(&o, "*0\r\n");
		resp_w_null(&o);
		OUT23(&o, "$-1\r\n", "_\r\n");
		resp_w_bulk_cstr(&o, NULL);
		OUT23(&o, "$-1\r\n", "_\r\n");
		resp_w_null_array(&o);
		OUT23(&o, "*-1\r\n", "_\r\n");
		resp_w_map(&o, 2);
		OUT23(&o, "*4\r\n", "%2\r\n");
		resp_w_set(&o, 5);
		OUT23(&o, "*5\r\n", "~5\r\n");
		resp_w_bool(&o, true);
		OUT23(&o, ":1\r\n", "#t\r\n");
		resp_w_bool(&o, false);
		OUT23(&o, ":0\r\n", "#f\r\n");
		resp_w_verbatim(&o, "some text", 9);
		OUT23(&o, "$9\r\nsome text\r\n", "=13\r\ntxt:some text\r\n");
		uint8_t *w = resp_w_reserve(&o, 3);
		assert_non_null(w);
		memcpy(w, "xyz", 3);
		OUT(&o, "xyz");
	}
	resp_out_deinit(&o);
}

static void test_resp_writer_doubles_like_redis7(void **state)
{
	(void)state;
	static const struct {
		double v;
		const char *text;
	} cases[] = {
	    {1.5, "1.5"},
	    {3, "3"},
	    {-2.25, "-2.25"},
	    {0.1, "0.10000000000000001"},
	    {1e300, "1.0000000000000001e+300"},
	    {0, "0"},
	    {-0.0, "-0"},
	    {INFINITY, "inf"},
	    {-INFINITY, "-inf"},
	    {NAN, "nan"},
	    {-NAN, "nan"},
	};
	struct resp_out o;
	resp_out_init(&o, 4096);
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char want[64];
		size_t tn = strlen(cases[i].text);
		o.proto = 3;
		resp_w_double(&o, cases[i].v);
		size_t n = (size_t)sprintf(want, ",%s\r\n", cases[i].text);
		assert_out(&o, want, n);
		o.proto = 2;
		resp_w_double(&o, cases[i].v);
		n = (size_t)sprintf(want, "$%zu\r\n%s\r\n", tn, cases[i].text);
		assert_out(&o, want, n);
	}
	resp_out_deinit(&o);
}

static void test_resp_writer_keeps_errors_on_one_line(void **state)
{
	(void)state;
	struct resp_out o;
	resp_out_init(&o, 4096);
	resp_w_error(&o, "ERR bad\r\nthing\n");
	OUT(&o, "-ERR bad  thing \r\n");
	resp_w_errorf(&o, "ERR %s", "a\rb");
	OUT(&o, "-ERR a b\r\n");
	resp_w_simple(&o, "x\ny");
	OUT(&o, "+x y\r\n");

	char big[700];
	memset(big, 'e', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	resp_w_errorf(&o, "%s", big);
	assert_int_equal(o.err, 0);
	assert_int_equal(o.buf.len, 1 + 512 + 2);
	assert_memory_equal(o.buf.data + 513, "\r\n", 2);
	resp_out_deinit(&o);
}

static void test_resp_writer_cap_sets_sticky_error(void **state)
{
	(void)state;
	struct resp_out o;
	resp_out_init(&o, 16);
	resp_w_ok(&o);
	assert_int_equal(o.buf.len, 5);
	/* "$6\r\nabcdef\r\n" is 12 bytes: 17 in all, one past the cap. */
	resp_w_bulk(&o, "abcdef", 6);
	assert_int_equal(o.err, ERR_LIMIT);
	assert_int_equal(o.buf.len, 5);
	/* Sticky: even a reply that would fit is dropped. */
	resp_w_int(&o, 1);
	resp_w_ok(&o);
	assert_null(resp_w_reserve(&o, 1));
	assert_int_equal(o.buf.len, 5);
	assert_int_equal(o.err, ERR_LIMIT);

	/* Exactly at the cap is fine once the error is cleared. */
	o.err = 0;
	resp_w_bulk(&o, "abcde", 5);
	assert_int_equal(o.err, 0);
	assert_int_equal(o.buf.len, 16);
	assert_memory_equal(o.buf.data, "+OK\r\n$5\r\nabcde\r\n", 16);
	resp_w_bool(&o, true);
	assert_int_equal(o.err, ERR_LIMIT);
	assert_int_equal(o.buf.len, 16);
	resp_out_deinit(&o);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_resp_pipeline_same_result_at_every_split_point),
	    cmocka_unit_test(test_resp_pipeline_ending_in_error_same_at_every_split_point),
	    cmocka_unit_test(test_resp_long_inline_line_same_at_every_split_point),
	    cmocka_unit_test(test_resp_multibulk_args_point_into_the_buffer),
	    cmocka_unit_test(test_resp_binary_safe_bulk_data),
	    cmocka_unit_test(test_resp_empty_commands_have_no_args),
	    cmocka_unit_test(test_resp_inline_quoting_follows_sdssplitargs),
	    cmocka_unit_test(test_resp_malformed_input_gives_redis_error_text),
	    cmocka_unit_test(test_resp_parse_after_error_asserts_nothing_after_reset),
	    cmocka_unit_test(test_resp_args_max_at_limit_and_one_past),
	    cmocka_unit_test(test_resp_bulk_bytes_max_at_limit_and_one_past),
	    cmocka_unit_test(test_resp_inline_bytes_max_at_limit_and_one_past),
	    cmocka_unit_test(test_resp_header_bytes_max_at_limit_and_one_past),
	    cmocka_unit_test(test_resp_huge_announced_bulk_is_not_allocated),
	    cmocka_unit_test(test_resp_bytes_wanted_counts_down_the_bulk),
	    cmocka_unit_test(test_resp_parser_reuses_its_index_across_commands),
	    cmocka_unit_test(test_resp_writer_types_in_both_protocols),
	    cmocka_unit_test(test_resp_writer_doubles_like_redis7),
	    cmocka_unit_test(test_resp_writer_keeps_errors_on_one_line),
	    cmocka_unit_test(test_resp_writer_cap_sets_sticky_error),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
