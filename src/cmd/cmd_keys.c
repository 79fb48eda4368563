/*
 * cmd_keys.c - the generic keyspace commands: DEL, UNLINK, EXISTS, TYPE,
 * RENAME, RENAMENX, COPY, the EXPIRE family, TTL and friends, PERSIST,
 * KEYS, SCAN, RANDOMKEY, DBSIZE, FLUSHDB and FLUSHALL.
 *
 * Per-key commands run with their keys' stripes locked by the dispatcher.
 * The whole-keyspace ones (CMD_GLOBAL: KEYS, SCAN, RANDOMKEY, DBSIZE,
 * FLUSH*) lock stripes one at a time through the keyspace, passing c->held
 * so that inside EXEC the stripes EXEC already holds are not locked twice.
 *
 * Keyspace hits and misses are counted where Redis counts them (its read
 * lookups: EXISTS, TYPE, TTL and friends, COPY's source); lookups made to
 * write (DEL, RENAME, EXPIRE, PERSIST) are not counted.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/assert.h"
#include "base/buf.h"
#include "base/err.h"
#include "base/glob.h"
#include "base/strconv.h"
#include "cmd/cmd.h"
#include "cmd/cmd_internal.h"

/* RANDOMKEY tries a stack buffer first; only longer keys need the heap. */
#define RANDOMKEY_STACK_BYTES 512

/* SCAN's default COUNT, as in Redis. */
#define SCAN_COUNT_DEFAULT 10

/* SCAN stops after COUNT * this many ks_scan steps even if they found
 * fewer than COUNT keys (Redis: maxiterations = count * 10), so a sparse
 * table cannot make one call walk all of it. */
#define SCAN_STEPS_PER_COUNT 10

/* Looks up key i of the command; true when it exists (live). */
static inline bool lookup(struct client *c, size_t i, struct bytes *val, struct entry_meta *meta)
{
	return ks_get(c->node->ks, &c->keys[i], client_now_ms(c), val, meta) == 0;
}

/* lookup() that counts a keyspace hit or miss, for Redis's read lookups. */
static inline bool lookup_read(struct client *c, size_t i, struct entry_meta *meta)
{
	struct bytes val;
	bool found = lookup(c, i, &val, meta);
	count_hit(c, found);
	return found;
}

/* ---- DEL UNLINK EXISTS TYPE -------------------------------------------- */

/* DEL and UNLINK: a key named twice is deleted (and counted) once. Values
 * are freed inline either way; UNLINK's lazy freeing is not needed when
 * the engine frees one allocation per key. */
static void del_generic(struct client *c)
{
	int64_t deleted = 0;
	for (size_t i = 0; i < c->key_count; i++)
		if (ks_del(c->node->ks, &c->keys[i], client_now_ms(c)) == 0)
			deleted++;
	resp_w_int(&c->out, deleted);
}

void cmd_del(struct client *c)
{
	del_generic(c);
}

void cmd_unlink(struct client *c)
{
	del_generic(c);
}

void cmd_exists(struct client *c)
{
	int64_t n = 0;
	struct entry_meta meta;
	for (size_t i = 0; i < c->key_count; i++)
		if (lookup_read(c, i, &meta))
			n++;
	resp_w_int(&c->out, n);
}

void cmd_type(struct client *c)
{
	struct entry_meta meta;
	resp_w_simple(&c->out, lookup_read(c, 0, &meta) ? "string" : "none");
}

/* ---- RENAME RENAMENX COPY ---------------------------------------------- */

/* Writes a copy of key src's value (len bytes, live now) to key dst with
 * the given expiry. The source is looked up again after the put because a
 * put may invalidate earlier views of its stripe (engine.h), and src and
 * dst may share one. Returns 0 or ERR_NOMEM (then dst is unchanged). */
static int copy_value(struct client *c, size_t src, size_t dst, size_t len, int64_t expire_ms)
{
	struct keyspace *ks = c->node->ks;
	uint8_t *room;
	int rc = ks_put(ks, &c->keys[dst], len, 0, expire_ms, &room);
	if (rc != 0)
		return rc;
	struct bytes val;
	struct entry_meta meta;
	rc = ks_get(ks, &c->keys[src], client_now_ms(c), &val, &meta);
	ASSERT(rc == 0);
	ASSERT(val.len == len);
	if (len)
		memcpy(room, val.ptr, len);
	return 0;
}

/* RENAME (nx false) and RENAMENX (nx true), with Redis's order: a missing
 * source is an error even when both names are the same, and renaming a key
 * to itself changes nothing. The TTL moves with the value. */
static void rename_generic(struct client *c, bool nx)
{
	struct bytes val, dval;
	struct entry_meta meta, dmeta;
	if (!lookup(c, 0, &val, &meta)) {
		resp_w_error(&c->out, "ERR no such key");
		return;
	}
	if (bytes_eq(c->argv[1], c->argv[2])) {
		if (nx)
			resp_w_int(&c->out, 0);
		else
			resp_w_ok(&c->out);
		return;
	}
	if (nx && lookup(c, 1, &dval, &dmeta)) {
		resp_w_int(&c->out, 0);
		return;
	}
	if (copy_value(c, 0, 1, val.len, meta.expire_ms) != 0) {
		reply_nomem(c);
		return;
	}
	(void)ks_del(c->node->ks, &c->keys[0], client_now_ms(c));
	if (nx)
		resp_w_int(&c->out, 1);
	else
		resp_w_ok(&c->out);
}

void cmd_rename(struct client *c)
{
	rename_generic(c, false);
}

void cmd_renamenx(struct client *c)
{
	rename_generic(c, true);
}

/* Parses COPY's [DB n] [REPLACE]. Only database 0 exists: another index
 * that is a valid int gets Redis's "DB index is out of range"; a number
 * outside int or a non-number gets the errors of Redis's
 * getIntFromObjectOrReply. */
static bool parse_copy_opts(struct client *c, bool *replace)
{
	*replace = false;
	for (size_t i = 3; i < c->argc; i++) {
		struct bytes a = c->argv[i];
		if (bytes_eq_nocase(a, "replace")) {
			*replace = true;
		} else if (bytes_eq_nocase(a, "db") && i + 1 < c->argc) {
			int64_t db;
			if (!arg_i64(c, c->argv[++i], &db))
				return false;
			if (db < INT32_MIN || db > INT32_MAX) {
				resp_w_error(&c->out,
				             "ERR value is out of range, value must between "
				             "-2147483648 and 2147483647");
				return false;
			}
			if (db != 0) {
				resp_w_error(&c->out, "ERR DB index is out of range");
				return false;
			}
		} else {
			reply_syntax_error(c);
			return false;
		}
	}
	return true;
}

void cmd_copy(struct client *c)
{
	bool replace;
	if (!parse_copy_opts(c, &replace))
		return;
	if (bytes_eq(c->argv[1], c->argv[2])) {
		resp_w_error(&c->out, "ERR source and destination objects are the same");
		return;
	}
	struct bytes val, dval;
	struct entry_meta meta, dmeta;
	bool found = lookup(c, 0, &val, &meta);
	count_hit(c, found);
	if (!found || (!replace && lookup(c, 1, &dval, &dmeta))) {
		resp_w_int(&c->out, 0);
		return;
	}
	if (copy_value(c, 0, 1, val.len, meta.expire_ms) != 0) {
		reply_nomem(c);
		return;
	}
	resp_w_int(&c->out, 1);
}

/* ---- EXPIRE family, TTL family, PERSIST -------------------------------- */

bool parse_expire_flags(struct client *c, unsigned *flags)
{
	*flags = 0;
	for (size_t i = 3; i < c->argc; i++) {
		struct bytes a = c->argv[i];
		if (bytes_eq_nocase(a, "nx")) {
			*flags |= EXPIRE_NX;
		} else if (bytes_eq_nocase(a, "xx")) {
			*flags |= EXPIRE_XX;
		} else if (bytes_eq_nocase(a, "gt")) {
			*flags |= EXPIRE_GT;
		} else if (bytes_eq_nocase(a, "lt")) {
			*flags |= EXPIRE_LT;
		} else {
			/* Redis prints the option as a C string: up to a NUL. The
			 * writer cuts the message at 512 bytes anyway. */
			const uint8_t *nul = a.len ? memchr(a.ptr, 0, a.len) : NULL;
			size_t n = nul ? (size_t)(nul - a.ptr) : a.len;
			resp_w_errorf(&c->out, "ERR Unsupported option %.*s",
			              (int)(n < 512 ? n : 512), (const char *)a.ptr);
			return false;
		}
	}
	if ((*flags & EXPIRE_NX) && (*flags & (EXPIRE_XX | EXPIRE_GT | EXPIRE_LT))) {
		resp_w_error(&c->out,
		             "ERR NX and XX, GT or LT options at the same time are not compatible");
		return false;
	}
	if ((*flags & EXPIRE_GT) && (*flags & EXPIRE_LT)) {
		resp_w_error(&c->out, "ERR GT and LT options at the same time are not compatible");
		return false;
	}
	return true;
}

bool expire_when_ms(struct client *c, bool seconds, int64_t base_ms, int64_t *when)
{
	int64_t v;
	if (!arg_i64(c, c->argv[2], &v))
		return false;
	bool bad = seconds && (v > INT64_MAX / 1000 || v < INT64_MIN / 1000);
	if (!bad && seconds)
		v *= 1000;
	if (!bad && v > INT64_MAX - base_ms)
		bad = true;
	if (bad) {
		resp_w_errorf(&c->out, "ERR invalid expire time in '%s' command", c->cmd->name);
		return false;
	}
	*when = v + base_ms;
	return true;
}

/* True when the NX/XX/GT/LT conditions allow replacing cur (0: no TTL,
 * which GT and LT treat as infinite) by when. */
static bool expire_allowed(unsigned flags, int64_t cur, int64_t when)
{
	if ((flags & EXPIRE_NX) && cur != 0)
		return false;
	if ((flags & EXPIRE_XX) && cur == 0)
		return false;
	if ((flags & EXPIRE_GT) && (cur == 0 || when <= cur))
		return false;
	if ((flags & EXPIRE_LT) && cur != 0 && when >= cur)
		return false;
	return true;
}

/* EXPIRE, PEXPIRE, EXPIREAT, PEXPIREAT. A time at or before now deletes the
 * key and still answers 1, as Redis does. */
static void expire_generic(struct client *c, bool seconds, bool relative)
{
	unsigned flags;
	int64_t when, now = client_now_ms(c);
	if (!parse_expire_flags(c, &flags) ||
	    !expire_when_ms(c, seconds, relative ? now : 0, &when))
		return;
	struct bytes val;
	struct entry_meta meta;
	if (!lookup(c, 0, &val, &meta) || !expire_allowed(flags, meta.expire_ms, when)) {
		resp_w_int(&c->out, 0);
		return;
	}
	struct keyspace *ks = c->node->ks;
	if (when <= now) {
		(void)ks_del(ks, &c->keys[0], now);
	} else if (ks_set_expire(ks, &c->keys[0], now, when) != 0) {
		reply_nomem(c);
		return;
	}
	resp_w_int(&c->out, 1);
}

void cmd_expire(struct client *c)
{
	expire_generic(c, true, true);
}

void cmd_pexpire(struct client *c)
{
	expire_generic(c, false, true);
}

void cmd_expireat(struct client *c)
{
	expire_generic(c, true, false);
}

void cmd_pexpireat(struct client *c)
{
	expire_generic(c, false, false);
}

/* TTL, PTTL, EXPIRETIME, PEXPIRETIME: -2 for a missing key, -1 without an
 * expiry; seconds are rounded to nearest as Redis does ((ms + 500) / 1000). */
static void ttl_generic(struct client *c, bool ms, bool absolute)
{
	struct entry_meta meta;
	if (!lookup_read(c, 0, &meta)) {
		resp_w_int(&c->out, -2);
		return;
	}
	if (meta.expire_ms == 0) {
		resp_w_int(&c->out, -1);
		return;
	}
	int64_t t = absolute ? meta.expire_ms : meta.expire_ms - client_now_ms(c);
	if (t < 0)
		t = 0;
	resp_w_int(&c->out, ms ? t : (t + 500) / 1000);
}

void cmd_ttl(struct client *c)
{
	ttl_generic(c, false, false);
}

void cmd_pttl(struct client *c)
{
	ttl_generic(c, true, false);
}

void cmd_expiretime(struct client *c)
{
	ttl_generic(c, false, true);
}

void cmd_pexpiretime(struct client *c)
{
	ttl_generic(c, true, true);
}

void cmd_persist(struct client *c)
{
	struct bytes val;
	struct entry_meta meta;
	if (!lookup(c, 0, &val, &meta) || meta.expire_ms == 0) {
		resp_w_int(&c->out, 0);
		return;
	}
	if (ks_set_expire(c->node->ks, &c->keys[0], client_now_ms(c), 0) != 0) {
		reply_nomem(c);
		return;
	}
	resp_w_int(&c->out, 1);
}

/* ---- KEYS SCAN --------------------------------------------------------- */

/* Keys gathered by a scan visitor, already encoded as RESP bulk strings
 * (the same bytes in RESP2 and RESP3), because the array header that must
 * precede them needs their count. The buffer is capped at the room left in
 * the client's output, so a huge keyspace costs at most one reply's worth
 * of memory and ends in an error instead of a reply the client cannot get. */
struct key_sink {
	struct buf buf;
	size_t cap_bytes;
	size_t count;     /* keys in buf */
	uint64_t visited; /* keys seen, matching or not (SCAN's COUNT) */
	struct bytes pattern;
	bool match_all;
	bool type_ok; /* SCAN TYPE names our only type (or no TYPE) */
	int err;      /* first failure: ERR_LIMIT or ERR_NOMEM */
};

static void sink_init(struct key_sink *s, const struct client *c, struct bytes pattern)
{
	memset(s, 0, sizeof(*s));
	buf_init(&s->buf);
	s->cap_bytes = c->out.cap_bytes > c->out.buf.len ? c->out.cap_bytes - c->out.buf.len : 0;
	s->pattern = pattern;
	s->match_all = glob_matches_all(pattern);
	s->type_ok = true;
}

/* engine_visit_fn: runs with the key's stripe held; touches only the sink. */
static void sink_visit(void *ctx, struct bytes key, const struct entry_meta *meta)
{
	(void)meta;
	struct key_sink *s = ctx;
	s->visited++;
	if (s->err || !s->type_ok || (!s->match_all && !glob_match(s->pattern, key, false)))
		return;
	char hdr[32];
	size_t n = 1 + strconv_i64_fmt(hdr + 1, (int64_t)key.len);
	hdr[0] = '$';
	hdr[n++] = '\r';
	hdr[n++] = '\n';
	int rc = buf_reserve(&s->buf, n + key.len + 2, s->cap_bytes);
	if (rc != 0) {
		s->err = rc;
		return;
	}
	buf_put(&s->buf, hdr, n);
	buf_put(&s->buf, key.ptr, key.len);
	buf_put(&s->buf, "\r\n", 2);
	s->count++;
}

/* Writes the gathered keys as one array, or the error that stopped them. */
static void sink_reply(struct client *c, struct key_sink *s)
{
	if (s->err == ERR_LIMIT) {
		resp_w_error(&c->out, "ERR reply exceeds client-output-max-bytes (use SCAN)");
	} else if (s->err) {
		reply_engine_error(c, s->err);
	} else {
		resp_w_array(&c->out, s->count);
		uint8_t *dst = s->buf.len ? resp_w_reserve(&c->out, s->buf.len) : NULL;
		if (dst)
			memcpy(dst, s->buf.data, s->buf.len);
	}
	buf_deinit(&s->buf);
}

/* Visits every live key of one stripe while holding it throughout (unless
 * EXEC holds it already), so that no resize between ks_scan steps can show
 * a key twice: KEYS, unlike SCAN, must not repeat keys. */
static void keys_stripe(struct client *c, unsigned stripe, struct key_sink *s)
{
	struct keyspace *ks = c->node->ks;
	struct ks_lockset held;
	if (c->held)
		held = *c->held;
	else
		ks_lockset_clear(&held);
	bool mine = !held.all && !((held.bits[stripe / 64] >> (stripe % 64)) & 1);
	if (mine) {
		ks_lock(ks, stripe);
		ks_lockset_add(&held, stripe);
	}
	uint64_t cursor = stripe;
	int err = 0;
	do
		cursor = ks_scan(ks, &held, cursor, client_now_ms(c), sink_visit, s, &err);
	while (cursor % KEYSPACE_STRIPES == stripe && cursor != 0 && !s->err && !err);
	if (mine) {
		int e = ks_unlock(ks, stripe);
		err = err ? err : e;
	}
	if (err && !s->err)
		s->err = err;
}

void cmd_keys(struct client *c)
{
	struct key_sink s;
	sink_init(&s, c, c->argv[1]);
	for (unsigned i = 0; i < KEYSPACE_STRIPES && !s.err; i++)
		keys_stripe(c, i, &s);
	sink_reply(c, &s);
}

static inline bool is_space(uint8_t ch)
{
	return ch == ' ' || (ch >= '\t' && ch <= '\r');
}

/* Parses a SCAN cursor exactly as Redis's strtoul-based parser accepts it:
 * the text up to a NUL, no leading space, an optional sign ("-1" wraps as
 * strtoul does), decimal digits, no overflow; an empty text is cursor 0. */
static bool parse_cursor(struct bytes b, uint64_t *out)
{
	const uint8_t *nul = b.len ? memchr(b.ptr, 0, b.len) : NULL;
	size_t n = nul ? (size_t)(nul - b.ptr) : b.len;
	if (n == 0) {
		*out = 0;
		return true;
	}
	size_t i = 0;
	bool neg = b.ptr[0] == '-';
	if (is_space(b.ptr[0]))
		return false;
	if (b.ptr[0] == '-' || b.ptr[0] == '+')
		i = 1;
	if (i == n)
		return false;
	uint64_t v = 0;
	for (; i < n; i++) {
		uint8_t ch = b.ptr[i];
		if (ch < '0' || ch > '9')
			return false;
		uint64_t d = (uint64_t)(ch - '0');
		if (v > (UINT64_MAX - d) / 10)
			return false;
		v = v * 10 + d;
	}
	*out = neg ? 0 - v : v;
	return true;
}

struct scan_opts {
	uint64_t cursor;
	int64_t count;
	struct bytes pattern;
	struct bytes type;
	bool has_type;
};

/* Parses SCAN cursor [MATCH p] [COUNT n] [TYPE t]; later repeats win.
 * Replies and returns false on an error. */
static bool parse_scan(struct client *c, struct scan_opts *o)
{
	memset(o, 0, sizeof(*o));
	o->count = SCAN_COUNT_DEFAULT;
	o->pattern = bytes_cstr("*");
	if (!parse_cursor(c->argv[1], &o->cursor)) {
		resp_w_error(&c->out, "ERR invalid cursor");
		return false;
	}
	for (size_t i = 2; i < c->argc; i += 2) {
		struct bytes a = c->argv[i];
		bool has_value = i + 1 < c->argc;
		if (has_value && bytes_eq_nocase(a, "count")) {
			if (!arg_i64(c, c->argv[i + 1], &o->count))
				return false;
			if (o->count < 1) {
				reply_syntax_error(c);
				return false;
			}
		} else if (has_value && bytes_eq_nocase(a, "match")) {
			o->pattern = c->argv[i + 1];
		} else if (has_value && bytes_eq_nocase(a, "type")) {
			o->type = c->argv[i + 1];
			o->has_type = true;
		} else {
			reply_syntax_error(c);
			return false;
		}
	}
	return true;
}

/* SCAN: ks_scan steps until about COUNT keys were visited (before MATCH
 * and TYPE filter them, as in Redis) or the cursor wraps to 0. Keys present
 * for the whole iteration are returned at least once; some may repeat. */
void cmd_scan(struct client *c)
{
	struct scan_opts o;
	if (!parse_scan(c, &o))
		return;
	struct key_sink s;
	sink_init(&s, c, o.pattern);
	/* Every key is a string; a TYPE naming another type matches nothing
	 * but the cursor still advances, as in Redis 7.0. */
	s.type_ok = !o.has_type || bytes_eq_nocase(o.type, "string");
	uint64_t count = (uint64_t)o.count;
	uint64_t max_steps = count > (UINT64_MAX - KEYSPACE_STRIPES) / SCAN_STEPS_PER_COUNT
	    ? UINT64_MAX
	    : count * SCAN_STEPS_PER_COUNT + KEYSPACE_STRIPES;
	uint64_t cursor = o.cursor;
	for (uint64_t steps = 0; steps < max_steps && s.visited < count && !s.err; steps++) {
		int err;
		cursor =
		    ks_scan(c->node->ks, c->held, cursor, client_now_ms(c), sink_visit, &s, &err);
		if (err && !s.err)
			s.err = err;
		if (cursor == 0)
			break;
	}
	if (s.err) {
		sink_reply(c, &s);
		return;
	}
	char text[24];
	snprintf(text, sizeof(text), "%llu", (unsigned long long)cursor);
	resp_w_array(&c->out, 2);
	resp_w_bulk(&c->out, text, strlen(text));
	sink_reply(c, &s);
}

/* ---- RANDOMKEY DBSIZE FLUSHDB FLUSHALL --------------------------------- */

void cmd_randomkey(struct client *c)
{
	struct keyspace *ks = c->node->ks;
	uint8_t small[RANDOMKEY_STACK_BYTES];
	int64_t len = ks_random_key(ks, c->held, env_rng_next(&c->thr->rng), client_now_ms(c),
	                            small, sizeof(small));
	if (len >= 0) {
		resp_w_bulk(&c->out, small, (size_t)len);
		return;
	}
	if (len == -1) {
		resp_w_null(&c->out);
		return;
	}
	/* A long key (rare): pick again into a buffer that fits any key. */
	uint8_t *big = malloc(KEY_BYTES_MAX);
	if (!big) {
		reply_nomem(c);
		return;
	}
	len = ks_random_key(ks, c->held, env_rng_next(&c->thr->rng), client_now_ms(c), big,
	                    KEY_BYTES_MAX);
	if (len >= 0)
		resp_w_bulk(&c->out, big, (size_t)len);
	else
		resp_w_null(&c->out);
	free(big);
}

void cmd_dbsize(struct client *c)
{
	resp_w_int(&c->out, (int64_t)ks_count(c->node->ks, c->held));
}

/* FLUSHDB and FLUSHALL [ASYNC|SYNC]: either way the flush runs now, a slice
 * of keys per lock hold (ks_flush), and its reply follows it. */
static void flush_generic(struct client *c)
{
	if (c->argc > 2 ||
	    (c->argc == 2 && !bytes_eq_nocase(c->argv[1], "sync") &&
	     !bytes_eq_nocase(c->argv[1], "async"))) {
		reply_syntax_error(c);
		return;
	}
	int err = ks_flush(c->node->ks, c->held);
	if (err)
		reply_engine_error(c, err); /* some keys may be gone, the rest remain */
	else
		resp_w_ok(&c->out);
}

void cmd_flushdb(struct client *c)
{
	flush_generic(c);
}

void cmd_flushall(struct client *c)
{
	flush_generic(c);
}
