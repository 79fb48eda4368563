/*
 * cmd_string.c - the string commands (GET, SET and family, counters,
 * ranges) and ringkv's CAS and GETTTL.
 *
 * Every handler runs with the stripes of its keys locked (dispatch.c), so a
 * read-modify-write such as INCR or CAS is atomic without further locking.
 *
 * Expiry follows Redis: a command that replaces a value (SET, GETSET, MSET,
 * SETEX, ...) drops the old TTL, one that modifies it (APPEND, SETRANGE,
 * INCR and friends) keeps it. Read commands count keyspace hits and misses
 * where Redis does (its lookupKeyRead path: GET, MGET, GETEX, GETDEL,
 * GETSET, SET ... GET, STRLEN, GETRANGE), write-only lookups do not.
 *
 * A value view from ks_get is only valid until the next mutating call on
 * its stripe, so every handler that replies with an old value and then
 * overwrites or deletes it writes the reply first; if the write then
 * fails, the reply is taken back and replaced by the error (one reply).
 */
#include <math.h>
#include <string.h>

#include "base/err.h"
#include "base/strconv.h"
#include "cmd/cmd.h"
#include "cmd/cmd_internal.h"

/* strconv_ld_fmt promises to fit in this many bytes. */
#define LD_TEXT_BYTES 5600

/* Looks up key i of the command; true when it exists (live). */
static inline bool lookup(struct client *c, size_t i, struct bytes *val, struct entry_meta *meta)
{
	return ks_get(c->node->ks, &c->keys[i], client_now_ms(c), val, meta) == 0;
}

/* lookup() that counts a keyspace hit or miss, for Redis's read lookups. */
static inline bool lookup_read(struct client *c, size_t i, struct bytes *val,
                               struct entry_meta *meta)
{
	bool found = lookup(c, i, val, meta);
	count_hit(c, found);
	return found;
}

/* Replaces whatever was written to c->out since mark by the OOM error, for
 * a write that failed after its reply (the old value) was already out. */
static void retract_reply_nomem(struct client *c, size_t mark)
{
	if (c->out.buf.len > mark)
		c->out.buf.len = mark;
	reply_nomem(c);
}

/* Replies value-or-null. */
static void reply_value(struct client *c, bool found, struct bytes val)
{
	if (found)
		resp_w_bulk(&c->out, val.ptr, val.len);
	else
		resp_w_null(&c->out);
}

void cmd_get(struct client *c)
{
	struct bytes val;
	struct entry_meta meta;
	reply_value(c, lookup_read(c, 0, &val, &meta), val);
}

/* Parses one expiry option of argv[*i] into *kind and *arg, with Redis's rules
 * (parseExtendedStringArgumentsOrReply): EX/PX/EXAT/PXAT need a following
 * argument; each option may repeat (the last value wins) but not mix with
 * another one. The valueless option `flag` is KEEPTTL for SET and CAS,
 * PERSIST for GETEX. Returns false (nothing replied) when argv[*i] is not
 * an acceptable expiry option here. */
static bool parse_expire_opt(struct client *c, size_t *i, enum expire_opt_kind flag,
                             enum expire_opt_kind *kind, struct bytes *arg)
{
	enum expire_opt_kind k = expire_kind_of(c->argv[*i]);
	if (k == EXP_NONE)
		return false;
	if (*kind != EXP_NONE && *kind != k)
		return false;
	if (k == EXP_KEEPTTL || k == EXP_PERSIST) {
		*kind = k;
		return k == flag;
	}
	if (*i + 1 >= c->argc)
		return false;
	*kind = k;
	*arg = c->argv[++*i];
	return true;
}

/* Parses a command tail that may only hold expiry options. Replies the
 * syntax error and returns false on anything else. */
static bool parse_expire_tail(struct client *c, size_t first, enum expire_opt_kind flag,
                              enum expire_opt_kind *kind, struct bytes *arg)
{
	*kind = EXP_NONE;
	*arg = bytes_make(NULL, 0);
	for (size_t i = first; i < c->argc; i++) {
		if (!parse_expire_opt(c, &i, flag, kind, arg)) {
			reply_syntax_error(c);
			return false;
		}
	}
	return true;
}

/* Options of SET: [NX|XX] [GET] [EX s|PX ms|EXAT s|PXAT ms|KEEPTTL]. */
struct set_opts {
	bool nx, xx, get;
	enum expire_opt_kind exp;
	struct bytes exp_arg;
};

/* Parses SET's options from argv[first]; replies and returns false on a
 * syntax error. NX and XX exclude each other but may each repeat. */
static bool parse_set_opts(struct client *c, size_t first, struct set_opts *o)
{
	memset(o, 0, sizeof(*o));
	for (size_t i = first; i < c->argc; i++) {
		struct bytes a = c->argv[i];
		if (bytes_eq_nocase(a, "nx") && !o->xx)
			o->nx = true;
		else if (bytes_eq_nocase(a, "xx") && !o->nx)
			o->xx = true;
		else if (bytes_eq_nocase(a, "get"))
			o->get = true;
		else if (!parse_expire_opt(c, &i, EXP_KEEPTTL, &o->exp, &o->exp_arg)) {
			reply_syntax_error(c);
			return false;
		}
	}
	return true;
}

/* Computes the expiry a write leaves on the key: new, kept, or none. */
static bool resolve_expire(struct client *c, enum expire_opt_kind kind, struct bytes arg,
                           int64_t old_expire_ms, int64_t *expire_ms)
{
	if (kind == EXP_KEEPTTL) {
		*expire_ms = old_expire_ms;
		return true;
	}
	if (kind == EXP_NONE || kind == EXP_PERSIST) {
		*expire_ms = 0;
		return true;
	}
	return expire_to_abs_ms(c, kind, arg, expire_ms);
}

void cmd_set(struct client *c)
{
	struct set_opts o;
	if (!parse_set_opts(c, 3, &o))
		return;
	struct bytes old;
	struct entry_meta meta;
	/* Only SET ... GET reads the key the way Redis counts (lookupKeyRead). */
	bool exists = o.get ? lookup_read(c, 0, &old, &meta) : lookup(c, 0, &old, &meta);
	int64_t expire_ms;
	if (!resolve_expire(c, o.exp, o.exp_arg, exists ? meta.expire_ms : 0, &expire_ms))
		return;
	if (!check_value_len(c, c->argv[2].len))
		return;
	size_t mark = c->out.buf.len;
	if (o.get)
		reply_value(c, exists, old);
	if ((o.nx && exists) || (o.xx && !exists)) {
		if (!o.get)
			resp_w_null(&c->out);
		return;
	}
	if (ks_set(c->node->ks, &c->keys[0], c->argv[2], expire_ms) != 0) {
		retract_reply_nomem(c, mark);
		return;
	}
	if (!o.get)
		resp_w_ok(&c->out);
}

void cmd_setnx(struct client *c)
{
	struct bytes old;
	struct entry_meta meta;
	if (!check_value_len(c, c->argv[2].len))
		return;
	if (lookup(c, 0, &old, &meta)) {
		resp_w_int(&c->out, 0);
		return;
	}
	if (ks_set(c->node->ks, &c->keys[0], c->argv[2], 0) != 0) {
		reply_nomem(c);
		return;
	}
	resp_w_int(&c->out, 1);
}

/* SETEX and PSETEX: key, time, value; the time must be positive. */
static void setex_generic(struct client *c, enum expire_opt_kind kind)
{
	int64_t expire_ms;
	if (!expire_to_abs_ms(c, kind, c->argv[2], &expire_ms))
		return;
	if (!check_value_len(c, c->argv[3].len))
		return;
	if (ks_set(c->node->ks, &c->keys[0], c->argv[3], expire_ms) != 0) {
		reply_nomem(c);
		return;
	}
	resp_w_ok(&c->out);
}

void cmd_setex(struct client *c)
{
	setex_generic(c, EXP_EX);
}

void cmd_psetex(struct client *c)
{
	setex_generic(c, EXP_PX);
}

void cmd_getset(struct client *c)
{
	struct bytes old;
	struct entry_meta meta;
	if (!check_value_len(c, c->argv[2].len))
		return;
	bool found = lookup_read(c, 0, &old, &meta);
	size_t mark = c->out.buf.len;
	reply_value(c, found, old);
	/* GETSET replaces the value, so the TTL goes with the old one. */
	if (ks_set(c->node->ks, &c->keys[0], c->argv[2], 0) != 0)
		retract_reply_nomem(c, mark);
}

void cmd_getdel(struct client *c)
{
	struct bytes val;
	struct entry_meta meta;
	bool found = lookup_read(c, 0, &val, &meta);
	reply_value(c, found, val);
	if (found)
		(void)ks_del(c->node->ks, &c->keys[0], client_now_ms(c));
}

/* GETEX key [EX s|PX ms|EXAT s|PXAT ms|PERSIST]. As in Redis, the expiry
 * value is validated only once the key is known to exist, so a missing key
 * answers null even with an invalid time. */
void cmd_getex(struct client *c)
{
	enum expire_opt_kind kind;
	struct bytes arg;
	if (!parse_expire_tail(c, 2, EXP_PERSIST, &kind, &arg))
		return;
	struct bytes val;
	struct entry_meta meta;
	if (!lookup_read(c, 0, &val, &meta)) {
		resp_w_null(&c->out);
		return;
	}
	int64_t expire_ms = 0;
	if (kind != EXP_NONE && kind != EXP_PERSIST && !expire_to_abs_ms(c, kind, arg, &expire_ms))
		return;
	size_t mark = c->out.buf.len;
	resp_w_bulk(&c->out, val.ptr, val.len);
	struct keyspace *ks = c->node->ks;
	int64_t now = client_now_ms(c);
	int rc = 0;
	if ((kind == EXP_EXAT || kind == EXP_PXAT) && expire_ms <= now)
		rc = ks_del(ks, &c->keys[0], now); /* an absolute time already past */
	else if (kind != EXP_NONE && kind != EXP_PERSIST)
		rc = ks_set_expire(ks, &c->keys[0], now, expire_ms);
	else if (kind == EXP_PERSIST && meta.expire_ms != 0)
		rc = ks_set_expire(ks, &c->keys[0], now, 0);
	if (rc != 0)
		retract_reply_nomem(c, mark);
}

void cmd_mget(struct client *c)
{
	resp_w_array(&c->out, c->key_count);
	for (size_t i = 0; i < c->key_count; i++) {
		struct bytes val;
		struct entry_meta meta;
		reply_value(c, lookup_read(c, i, &val, &meta), val);
	}
}

/* Checks MSET/MSETNX's shape (pairs) and every value's size before any
 * write, so that a rejected command changes nothing. */
static bool mset_check(struct client *c)
{
	if (c->argc % 2 == 0) {
		reply_wrong_arity(c);
		return false;
	}
	for (size_t i = 2; i < c->argc; i += 2)
		if (!check_value_len(c, c->argv[i].len))
			return false;
	return true;
}

/* Writes every pair (later duplicates win); TTLs are dropped. On a failed
 * allocation the earlier pairs stay written: memory ran out mid-command,
 * and the client is told so. */
static bool mset_write(struct client *c)
{
	for (size_t i = 0; i < c->key_count; i++) {
		if (ks_set(c->node->ks, &c->keys[i], c->argv[2 + 2 * i], 0) != 0) {
			reply_nomem(c);
			return false;
		}
	}
	return true;
}

void cmd_mset(struct client *c)
{
	if (mset_check(c) && mset_write(c))
		resp_w_ok(&c->out);
}

void cmd_msetnx(struct client *c)
{
	if (!mset_check(c))
		return;
	for (size_t i = 0; i < c->key_count; i++) {
		struct bytes val;
		struct entry_meta meta;
		if (lookup(c, i, &val, &meta)) {
			resp_w_int(&c->out, 0);
			return;
		}
	}
	if (mset_write(c))
		resp_w_int(&c->out, 1);
}

/* Stores text as key 0's value, keeping expire_ms; replies OOM on failure. */
static bool store_text(struct client *c, const char *text, size_t len, int64_t expire_ms)
{
	if (ks_set(c->node->ks, &c->keys[0], bytes_make(text, len), expire_ms) == 0)
		return true;
	reply_nomem(c);
	return false;
}

/* INCR, INCRBY, DECR, DECRBY: adds delta to the integer value (0 if the
 * key is missing) and keeps the key's TTL. */
static void incr_by(struct client *c, int64_t delta)
{
	struct bytes val;
	struct entry_meta meta;
	int64_t cur = 0;
	bool found = lookup(c, 0, &val, &meta);
	if (found && !strconv_i64(val, &cur)) {
		reply_not_integer(c);
		return;
	}
	if ((delta < 0 && cur < 0 && delta < INT64_MIN - cur) ||
	    (delta > 0 && cur > 0 && delta > INT64_MAX - cur)) {
		resp_w_error(&c->out, "ERR increment or decrement would overflow");
		return;
	}
	int64_t next = cur + delta;
	char text[24];
	size_t len = strconv_i64_fmt(text, next);
	if (store_text(c, text, len, found ? meta.expire_ms : 0))
		resp_w_int(&c->out, next);
}

void cmd_incr(struct client *c)
{
	incr_by(c, 1);
}

void cmd_decr(struct client *c)
{
	incr_by(c, -1);
}

void cmd_incrby(struct client *c)
{
	int64_t delta;
	if (arg_i64(c, c->argv[2], &delta))
		incr_by(c, delta);
}

void cmd_decrby(struct client *c)
{
	int64_t delta;
	if (!arg_i64(c, c->argv[2], &delta))
		return;
	/* -INT64_MIN does not exist; Redis words this one differently. */
	if (delta == INT64_MIN) {
		resp_w_error(&c->out, "ERR decrement would overflow");
		return;
	}
	incr_by(c, -delta);
}

/* True when b spells an infinity ("inf", "-Infinity", ...): Redis's
 * string2ld accepts those (strtold parses them without ERANGE), and
 * INCRBYFLOAT then fails on the result rather than on the input, whereas
 * strconv_ld rejects every non-finite value outright. */
static bool is_inf_text(struct bytes b, long double *out)
{
	size_t i = b.len > 0 && (b.ptr[0] == '-' || b.ptr[0] == '+') ? 1 : 0;
	struct bytes rest = bytes_make(b.ptr + i, b.len - i);
	if (!bytes_eq_nocase(rest, "inf") && !bytes_eq_nocase(rest, "infinity"))
		return false;
	*out = b.ptr[0] == '-' ? -INFINITY : INFINITY;
	return true;
}

/* Parses a float the way Redis's INCRBYFLOAT does; replies on failure. */
static bool parse_float(struct client *c, struct bytes b, long double *out)
{
	if (strconv_ld(b, out) || is_inf_text(b, out))
		return true;
	resp_w_error(&c->out, "ERR value is not a valid float");
	return false;
}

void cmd_incrbyfloat(struct client *c)
{
	struct bytes val;
	struct entry_meta meta;
	long double cur = 0, incr;
	bool found = lookup(c, 0, &val, &meta);
	/* Redis checks the stored value before the increment. */
	if ((found && !parse_float(c, val, &cur)) || !parse_float(c, c->argv[2], &incr))
		return;
	long double next = cur + incr;
	char text[LD_TEXT_BYTES];
	size_t len = isfinite(next) ? strconv_ld_fmt(text, sizeof(text), next) : 0;
	if (len == 0) {
		resp_w_error(&c->out, "ERR increment would produce NaN or Infinity");
		return;
	}
	if (store_text(c, text, len, found ? meta.expire_ms : 0))
		resp_w_bulk(&c->out, text, len);
}

void cmd_append(struct client *c)
{
	struct bytes val, add = c->argv[2];
	struct entry_meta meta;
	bool found = lookup(c, 0, &val, &meta);
	size_t old_len = found ? val.len : 0;
	if (!check_value_len(c, (uint64_t)old_len + add.len))
		return;
	/* keep_bytes lets the engine extend the value in place with spare
	 * room, so repeated APPENDs cost amortised O(appended bytes). */
	uint8_t *dst;
	if (ks_put(c->node->ks, &c->keys[0], old_len + add.len, old_len, found ? meta.expire_ms : 0,
	           &dst) != 0) {
		reply_nomem(c);
		return;
	}
	if (add.len)
		memcpy(dst + old_len, add.ptr, add.len);
	resp_w_int(&c->out, (int64_t)(old_len + add.len));
}

void cmd_strlen(struct client *c)
{
	struct bytes val;
	struct entry_meta meta;
	bool found = lookup_read(c, 0, &val, &meta);
	resp_w_int(&c->out, found ? (int64_t)val.len : 0);
}

/* Resolves GETRANGE's inclusive [start, end] against a value of len bytes
 * with Redis's rules: negative indexes count from the end, both are then
 * clamped to the value, and an empty range is reported as false. */
static bool range_resolve(int64_t start, int64_t end, size_t len, size_t *from, size_t *count)
{
	int64_t n = (int64_t)len;
	if (start < 0 && end < 0 && start > end)
		return false;
	if (start < 0)
		start += n;
	if (end < 0)
		end += n;
	if (start < 0)
		start = 0;
	if (end < 0)
		end = 0;
	if (end >= n)
		end = n - 1;
	if (n == 0 || start > end)
		return false;
	*from = (size_t)start;
	*count = (size_t)(end - start + 1);
	return true;
}

void cmd_getrange(struct client *c)
{
	int64_t start, end;
	if (!arg_i64(c, c->argv[2], &start) || !arg_i64(c, c->argv[3], &end))
		return;
	struct bytes val;
	struct entry_meta meta;
	size_t from, count;
	bool found = lookup_read(c, 0, &val, &meta);
	if (found && range_resolve(start, end, val.len, &from, &count))
		resp_w_bulk(&c->out, val.ptr + from, count);
	else
		resp_w_bulk(&c->out, "", 0);
}

/* Writes piece at offset into key 0's value (old_len bytes now), growing it
 * with zero bytes as needed and keeping its TTL. Replies the new length. */
static void setrange_write(struct client *c, size_t old_len, int64_t expire_ms, size_t offset,
                           struct bytes piece)
{
	size_t end = offset + piece.len;
	size_t new_len = end > old_len ? end : old_len;
	uint8_t *dst;
	if (ks_put(c->node->ks, &c->keys[0], new_len, old_len, expire_ms, &dst) != 0) {
		reply_nomem(c);
		return;
	}
	if (offset > old_len)
		memset(dst + old_len, 0, offset - old_len);
	memcpy(dst + offset, piece.ptr, piece.len);
	resp_w_int(&c->out, (int64_t)new_len);
}

void cmd_setrange(struct client *c)
{
	int64_t offset;
	struct bytes piece = c->argv[3];
	if (!arg_i64(c, c->argv[2], &offset))
		return;
	if (offset < 0) {
		resp_w_error(&c->out, "ERR offset is out of range");
		return;
	}
	struct bytes val;
	struct entry_meta meta;
	bool found = lookup(c, 0, &val, &meta);
	/* Writing nothing changes nothing and creates nothing. */
	if (piece.len == 0) {
		resp_w_int(&c->out, found ? (int64_t)val.len : 0);
		return;
	}
	/* offset < 2^63 and the piece is bounded, so the sum cannot wrap. */
	if (!check_value_len(c, (uint64_t)offset + piece.len))
		return;
	setrange_write(c, found ? val.len : 0, found ? meta.expire_ms : 0, (size_t)offset, piece);
}

/* CAS key expected new [EX s|PX ms|EXAT s|PXAT ms|KEEPTTL]: sets new only
 * if the key holds exactly expected. Options are validated even when the
 * comparison fails, so a malformed command never looks like a lost race. */
void cmd_cas(struct client *c)
{
	enum expire_opt_kind kind;
	struct bytes arg;
	if (!parse_expire_tail(c, 4, EXP_KEEPTTL, &kind, &arg))
		return;
	struct bytes val;
	struct entry_meta meta;
	bool found = lookup(c, 0, &val, &meta);
	int64_t expire_ms;
	if (!resolve_expire(c, kind, arg, found ? meta.expire_ms : 0, &expire_ms))
		return;
	if (!check_value_len(c, c->argv[3].len))
		return;
	if (!found || !bytes_eq(val, c->argv[2])) {
		resp_w_int(&c->out, 0);
		return;
	}
	if (ks_set(c->node->ks, &c->keys[0], c->argv[3], expire_ms) != 0) {
		reply_nomem(c);
		return;
	}
	resp_w_int(&c->out, 1);
}

/* GETTTL key: [value, remaining ms or -1], or a null array. */
void cmd_getttl(struct client *c)
{
	struct bytes val;
	struct entry_meta meta;
	if (!lookup_read(c, 0, &val, &meta)) {
		resp_w_null_array(&c->out);
		return;
	}
	/* A live key's expiry is after now, so the remainder is positive. */
	int64_t ttl_ms = meta.expire_ms ? meta.expire_ms - client_now_ms(c) : -1;
	resp_w_array(&c->out, 2);
	resp_w_bulk(&c->out, val.ptr, val.len);
	resp_w_int(&c->out, ttl_ms);
}
