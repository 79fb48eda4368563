/*
 * cmd_ckv.c - keyed commands in a cluster, run by the cluster's coordinator
 * (cluster/view.h, net/cluster_kv.c) while the client is parked: GET, SET
 * key value, INCR, DECR, INCRBY, DECRBY, and ringkv's GETV, SETV and DELV
 * as one request each; MGET, MSET, DEL, UNLINK and EXISTS as one request
 * per key, joined into one reply.
 *
 *   GETV key [R r] [N n]               -> [context, [value ...]]
 *   SETV key context value [W w] [N n] [STRICT|SLOPPY] -> OK
 *   DELV key context [W w] [N n] [STRICT|SLOPPY]       -> 1 if a value was
 *                                                         visible, else 0
 *
 * STRICT: only the key's own replicas count towards W; SLOPPY: a down
 * replica is replaced by a fallback that keeps a hint (default: the
 * cluster-sloppy-quorum setting).
 *
 * The context is GETV's opaque first element ("" for none): a SETV or DELV
 * with it supersedes exactly the values that GETV returned, and values
 * written concurrently stay as siblings. Plain SET and DEL supersede what
 * their coordinating replica holds; plain GET returns one deterministic
 * value (the last writer's, docs/cluster.md). INCR and its kin add to the
 * key's counter on the cluster thread, which replies the new value.
 *
 * TTLs: SET key value [EX|PX|EXAT|PXAT t], SETEX and PSETEX write a value
 * that expires at an absolute time (computed here, from this node's
 * clock); TTL, PTTL, EXPIRETIME and PEXPIRETIME are quorum reads of the
 * value GET would show; EXPIRE, PEXPIRE, EXPIREAT, PEXPIREAT (with NX, XX,
 * GT, LT) and PERSIST run at a replica on its own state, like INCR
 * (replica_expire). SET's NX, XX, GET and KEEPTTL are refused by name.
 *
 * Multi-key commands. The keys of one command live on different nodes, so
 * each key is one request to the cluster, all sent at once, and a join
 * (struct mk_join) collects the replies. The join is counted: the
 * handler holds one reference while it sends, each sent request one more
 * until its completion (from the cluster thread, possibly while the handler
 * is still sending). Whoever drops the last reference assembles the reply,
 * completes the parked client and frees the join. Replies, in key order:
 *   MGET         -> an array of the per-key GET replies (nil for a missing
 *                   key); if any key failed, that first failure (in key
 *                   order) is the whole reply, as a Redis MGET that fails
 *                   fails whole, never an array with an error inside.
 *   EXISTS       -> the sum of the per-key answers (a key named twice counts
 *                   twice, as in Redis); a failure: the first one, whole.
 *   DEL, UNLINK  -> the number of keys deleted (a key named twice is
 *                   deleted once, as in Redis).
 *   MSET         -> +OK when every key was written (a key named twice takes
 *                   its last value, as in Redis).
 * MSET, DEL and UNLINK are not atomic in a cluster: when some keys fail,
 * the others stay written, and the reply is an error with the first
 * failure's code that says how many of how many keys failed and quotes the
 * first failure ("NOQUORUM MSET failed for 3 of 200 keys (not atomic in a
 * cluster: ...); first failure: NOQUORUM write needed 2 of 3 ..."). If the cluster refuses a
 * request part-way (its queue is full), nothing more is sent, the requests already sent complete as
 * usual (and may have been applied), and the client gets that refusal. A command names at most
 * CLUSTER_MULTI_KEYS_MAX keys; past that nothing is sent.
 *
 * Other keyed commands are not served in a cluster yet, and say so.
 */
#include <ctype.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "base/assert.h"
#include "base/err.h"
#include "base/hash.h"
#include "base/limits.h"
#include "base/strconv.h"
#include "cmd/cmd.h"
#include "cmd/cmd_internal.h"

/* Keys in one multi-key command: CLUSTER_MULTI_KEYS_MAX (base/limits.h);
 * the join is sized from the count before anything is sent. */

/* The assembled MGET reply: as large as a client's default output cap,
 * which fits one reply of the largest value. */
#define CKV_MULTI_REPLY_BYTES_MAX OUTPUT_BYTES_DEFAULT
static_assert(CKV_MULTI_REPLY_BYTES_MAX == 2 * GIB, "the error reply of a larger one says 2 GiB");

/* The part of a per-key failure quoted in a multi-key error reply. */
#define CKV_QUOTE_BYTES_MAX 300

static const char MULTI_REFUSED[] = "ERR this command cannot run inside MULTI/EXEC in a cluster";
static const char SLOT_NOMEM[] = "-ERR out of memory\r\n";

static void park_done(void *arg, const void *reply, size_t len)
{
	park_complete(arg, reply, len);
}

static const char *submit_error_text(int err)
{
	return err == ERR_LIMIT ? "OVERLOADED too many cluster requests queued"
	                        : "ERR out of memory";
}

/* Parks the client and hands op to the cluster. */
static void submit(struct client *c, struct cluster_op *op)
{
	struct park *pk = client_park(c);
	if (!pk) {
		resp_w_error(&c->out, MULTI_REFUSED);
		return;
	}
	op->resp = park_resp_version(pk);
	op->done = park_done;
	op->arg = pk;
	int err = c->node->cluster->submit(c->node->cluster_ctx, op);
	if (err)
		park_complete_error(pk, submit_error_text(err));
}

/* [R r] [W w] [N n] options, and for writes STRICT or SLOPPY, from
 * argv[from]; false after replying. */
static bool quorum_options(struct client *c, size_t from, struct cluster_op *op, bool read)
{
	size_t i = from;
	while (i < c->argc) {
		struct bytes name = c->argv[i];
		if (!read && (bytes_eq_nocase(name, "strict") || bytes_eq_nocase(name, "sloppy"))) {
			op->sloppy = bytes_eq_nocase(name, "sloppy") ? 1 : 0;
			i++;
			continue;
		}
		int64_t v;
		if (i + 1 >= c->argc || !strconv_i64(c->argv[i + 1], &v)) {
			reply_syntax_error(c);
			return false;
		}
		if (v < 1 || v > RING_REPLICAS_MAX) {
			resp_w_errorf(&c->out, "ERR %.*s must be 1..%d", (int)name.len,
			              (const char *)name.ptr, RING_REPLICAS_MAX);
			return false;
		}
		if (bytes_eq_nocase(name, "n"))
			op->n = (uint8_t)v;
		else if (read && bytes_eq_nocase(name, "r"))
			op->r = (uint8_t)v;
		else if (!read && bytes_eq_nocase(name, "w"))
			op->w = (uint8_t)v;
		else {
			reply_syntax_error(c);
			return false;
		}
		i += 2;
	}
	return true;
}

static void run(struct client *c, enum cluster_op_kind kind, struct bytes value,
                struct bytes *context, size_t options_from)
{
	struct cluster_op op = {.kind = kind, .key = c->argv[1], .value = value, .sloppy = -1};
	if (context) {
		op.context = *context;
		op.has_context = true;
	}
	bool read = cluster_op_is_read(kind);
	if (!quorum_options(c, options_from, &op, read))
		return;
	submit(c, &op);
}

static bool in_cluster(struct client *c)
{
	if (c->node->cluster && c->node->cluster->submit)
		return true;
	resp_w_errorf(&c->out, "ERR %s needs cluster mode (cluster-name)", c->cmd->name);
	return false;
}

void cmd_getv(struct client *c)
{
	if (in_cluster(c))
		run(c, CLUSTER_OP_GETV, bytes_make(NULL, 0), NULL, 2);
}

void cmd_setv(struct client *c)
{
	if (in_cluster(c))
		run(c, CLUSTER_OP_SET, c->argv[3], &c->argv[2], 4);
}

void cmd_delv(struct client *c)
{
	if (in_cluster(c))
		run(c, CLUSTER_OP_DEL, bytes_make(NULL, 0), &c->argv[2], 3);
}

/* ---- INCR, DECR, INCRBY, DECRBY ------------------------------------------- */

/* What the command adds to its key; false after replying the error Redis
 * gives for a non-integer or unnegatable argument. */
static bool incr_delta(struct client *c, int64_t *delta)
{
	cmd_fn *fn = c->cmd->fn;
	if (fn == cmd_incr || fn == cmd_decr) {
		*delta = fn == cmd_incr ? 1 : -1;
		return true;
	}
	int64_t v;
	if (!arg_i64(c, c->argv[2], &v))
		return false;
	if (fn == cmd_decrby && v == INT64_MIN) {
		/* -INT64_MIN does not exist; Redis words this one differently. */
		resp_w_error(&c->out, "ERR decrement would overflow");
		return false;
	}
	*delta = fn == cmd_decrby ? -v : v;
	return true;
}

static void run_incr(struct client *c)
{
	int64_t delta;
	if (!check_key_len(c, c->argv[1]) || !incr_delta(c, &delta))
		return;
	struct cluster_op op = {
	    .kind = CLUSTER_OP_INCR, .key = c->argv[1], .delta = delta, .sloppy = -1};
	submit(c, &op);
}

/* ---- TTLs: SET ... EX, SETEX, EXPIRE, PERSIST, TTL ------------------------- */

static_assert(EXPIRE_NX == CLUSTER_EXPIRE_NX && EXPIRE_XX == CLUSTER_EXPIRE_XX &&
                  EXPIRE_GT == CLUSTER_EXPIRE_GT && EXPIRE_LT == CLUSTER_EXPIRE_LT,
              "EXPIRE's options pass to the cluster as parsed");

/* A write of value to argv[1] that expires at expire_ms (0: never). */
static void run_set(struct client *c, struct bytes value, uint64_t expire_ms)
{
	if (!check_key_len(c, c->argv[1]) || !check_value_len(c, value.len))
		return;
	struct cluster_op op = {.kind = CLUSTER_OP_SET,
	                        .key = c->argv[1],
	                        .value = value,
	                        .expire_ms = expire_ms,
	                        .sloppy = -1};
	submit(c, &op);
}

/* SET key value [EX s|PX ms|EXAT s|PXAT ms]. The options that read the
 * key first (NX, XX, GET, KEEPTTL) would need a conditional write at the
 * replica, and are refused by name; other syntax errors as Redis. */
static void run_set_opts(struct client *c)
{
	enum expire_opt_kind kind = EXP_NONE;
	struct bytes arg = bytes_make(NULL, 0);
	bool unserved = false;
	for (size_t i = 3; i < c->argc; i++) {
		struct bytes a = c->argv[i];
		enum expire_opt_kind k = expire_kind_of(a);
		bool timed = k >= EXP_EX && k <= EXP_PXAT;
		if (timed && i + 1 < c->argc && (kind == EXP_NONE || kind == k)) {
			kind = k;
			arg = c->argv[++i];
		} else if (k == EXP_KEEPTTL || bytes_eq_nocase(a, "nx") || bytes_eq_nocase(a, "xx") ||
		           bytes_eq_nocase(a, "get")) {
			unserved = true;
		} else {
			reply_syntax_error(c);
			return;
		}
	}
	if (unserved) {
		resp_w_error(&c->out,
		             "ERR SET with NX, XX, GET or KEEPTTL is not served in a cluster "
		             "yet (served: SET key value [EX s|PX ms|EXAT s|PXAT ms])");
		return;
	}
	int64_t at = 0;
	if (kind != EXP_NONE && !expire_to_abs_ms(c, kind, arg, &at))
		return;
	run_set(c, c->argv[2], (uint64_t)at);
}

/* SETEX key seconds value, PSETEX key ms value. */
static void run_setex(struct client *c, enum expire_opt_kind kind)
{
	int64_t at;
	if (expire_to_abs_ms(c, kind, c->argv[2], &at))
		run_set(c, c->argv[3], (uint64_t)at);
}

/* EXPIRE, PEXPIRE, EXPIREAT, PEXPIREAT [NX|XX|GT|LT], and PERSIST: run at
 * a replica of the key on its own state (replica_expire). */
static void run_expire(struct client *c, bool seconds, bool relative, bool persist)
{
	if (!check_key_len(c, c->argv[1]))
		return;
	struct cluster_op op = {.kind = CLUSTER_OP_EXPIRE, .key = c->argv[1], .sloppy = -1};
	if (persist) {
		op.how = CLUSTER_PERSIST;
	} else {
		int64_t when;
		if (!parse_expire_flags(c, &op.how) ||
		    !expire_when_ms(c, seconds, relative ? client_now_ms(c) : 0, &when))
			return;
		/* At or before 1970 is as past as 1 ms after it: both delete. */
		op.expire_ms = when < 1 ? 1 : (uint64_t)when;
	}
	submit(c, &op);
}

static void run_ttl(struct client *c, enum cluster_ttl_reply how)
{
	struct cluster_op op = {
	    .kind = CLUSTER_OP_TTL, .key = c->argv[1], .ttl_reply = how, .sloppy = -1};
	submit(c, &op);
}

/* The TTL commands; false when fn is none of them. */
static bool route_ttl(struct client *c, cmd_fn *fn)
{
	if (fn == cmd_set && c->argc > 3)
		run_set_opts(c);
	else if (fn == cmd_setex || fn == cmd_psetex)
		run_setex(c, fn == cmd_setex ? EXP_EX : EXP_PX);
	else if (fn == cmd_expire || fn == cmd_pexpire)
		run_expire(c, fn == cmd_expire, true, false);
	else if (fn == cmd_expireat || fn == cmd_pexpireat)
		run_expire(c, fn == cmd_expireat, false, false);
	else if (fn == cmd_persist)
		run_expire(c, false, false, true);
	else if (fn == cmd_ttl || fn == cmd_pttl)
		run_ttl(c, fn == cmd_ttl ? CLUSTER_TTL_S : CLUSTER_TTL_MS);
	else if (fn == cmd_expiretime || fn == cmd_pexpiretime)
		run_ttl(c, fn == cmd_expiretime ? CLUSTER_TTL_AT_S : CLUSTER_TTL_AT_MS);
	else
		return false;
	return true;
}

/* ---- Multi-key commands ----------------------------------------------------- */

enum mk_shape {
	MK_ARRAY, /* MGET: the per-key replies, as an array */
	MK_COUNT, /* DEL, UNLINK, EXISTS: the sum of the per-key integers */
	MK_OK,    /* MSET: +OK when every key was written */
};

struct mk_join;

struct mk_slot {
	struct mk_join *join;
	uint8_t *reply; /* the key's reply (a copy); NULL: out of memory */
	size_t len;
	uint64_t hash; /* of the key, to find duplicates */
	bool skipped;  /* a write's key named again later: that one is sent */
};

struct mk_join {
	atomic_size_t refs; /* the handler's while it sends, one per request sent */
	struct park *pk;
	char name[16]; /* the command's, upper case, for error replies */
	enum mk_shape shape;
	bool write;
	int resp;
	size_t key_count;
	/* Written by the handler before it drops its reference. */
	size_t sent;
	const char *refused; /* the cluster refused request `sent`; NULL: all sent */
	struct mk_slot slots[];
};

/* The command's name in upper case, as error texts quote it. */
static void command_name_upper(const struct client *c, char *out, size_t cap)
{
	size_t n = 0;
	for (const char *p = c->cmd->name; *p && n + 1 < cap; p++)
		out[n++] = (char)toupper((unsigned char)*p);
	out[n] = '\0';
}

static struct mk_join *mk_join_create(const struct client *c, size_t key_count, enum mk_shape shape)
{
	struct mk_join *j = calloc(1, sizeof(*j) + key_count * sizeof(j->slots[0]));
	if (!j)
		return NULL;
	atomic_init(&j->refs, 1);
	command_name_upper(c, j->name, sizeof(j->name));
	j->shape = shape;
	j->write = (c->cmd->flags & CMD_WRITE) != 0;
	j->key_count = key_count;
	for (size_t i = 0; i < key_count; i++)
		j->slots[i].join = j;
	return j;
}

static void mk_join_destroy(struct mk_join *j)
{
	for (size_t i = 0; i < j->key_count; i++)
		free(j->slots[i].reply);
	free(j);
}

/* The reply of slot s, which completed. */
static struct bytes slot_reply(const struct mk_slot *s)
{
	if (!s->reply)
		return bytes_make(SLOT_NOMEM, sizeof(SLOT_NOMEM) - 1);
	return bytes_make(s->reply, s->len);
}

static bool reply_is_error(struct bytes r)
{
	return r.len > 0 && r.ptr[0] == '-';
}

/* The integer of a ":n\r\n" reply. */
static bool reply_int(struct bytes r, int64_t *v)
{
	if (r.len < 4 || r.ptr[0] != ':' || r.ptr[r.len - 2] != '\r' || r.ptr[r.len - 1] != '\n')
		return false;
	return strconv_i64(bytes_make(r.ptr + 1, r.len - 3), v);
}

static bool reply_ok(struct bytes r)
{
	return r.len == 5 && memcmp(r.ptr, "+OK\r\n", 5) == 0;
}

/* An error reply's text, without its '-' and line end. */
static struct bytes error_text(struct bytes r)
{
	size_t n = 1;
	while (n < r.len && r.ptr[n] != '\r' && r.ptr[n] != '\n')
		n++;
	return bytes_make(r.ptr + 1, n - 1);
}

/* Completes the join's client with the reply in o, or the error its
 * overflow means. */
static void mk_complete_out(struct mk_join *j, struct resp_out *o)
{
	if (o->err == ERR_LIMIT)
		park_complete_error(j->pk, "ERR the reply would exceed 2 GiB; ask for fewer keys");
	else if (o->err)
		park_complete_error(j->pk, "ERR out of memory");
	else
		park_complete(j->pk, o->buf.data, o->buf.len);
}

/* The cluster refused request j->sent: the client gets the refusal, and
 * learns that the requests before it went out. */
static void mk_reply_refused(struct mk_join *j)
{
	struct resp_out o;
	resp_out_init(&o, 4096);
	if (j->sent == 0)
		resp_w_error(&o, j->refused);
	else
		resp_w_errorf(&o, "%s (%s sent %zu of %zu keys first%s)", j->refused, j->name,
		              j->sent, j->key_count,
		              j->write ? ", which may have been applied" : "");
	mk_complete_out(j, &o);
	resp_out_deinit(&o);
}

/* failed of the sent keys of a write failed, first among them: an error
 * with first's code that counts them and quotes first. */
static void mk_reply_failures(struct mk_join *j, size_t failed, struct bytes first)
{
	size_t total = 0;
	for (size_t i = 0; i < j->key_count; i++)
		total += !j->slots[i].skipped;
	struct bytes text = error_text(first);
	size_t code_len = 0;
	while (code_len < text.len && text.ptr[code_len] != ' ')
		code_len++;
	int quote_len = (int)(text.len < CKV_QUOTE_BYTES_MAX ? text.len : CKV_QUOTE_BYTES_MAX);
	struct resp_out o;
	resp_out_init(&o, 4096);
	resp_w_errorf(&o,
	              "%.*s %s failed for %zu of %zu keys (not atomic in a cluster: the keys "
	              "that did not fail took effect); first failure: %.*s",
	              (int)code_len, (const char *)text.ptr, j->name, failed, total, quote_len,
	              (const char *)text.ptr);
	mk_complete_out(j, &o);
	resp_out_deinit(&o);
}

/* A failure of a key: a read's whole reply is the first one; a write's
 * reply counts them (mk_reply_failures). */
static void mk_reply_failed(struct mk_join *j, size_t failed, struct bytes first)
{
	if (j->write)
		mk_reply_failures(j, failed, first);
	else
		park_complete(j->pk, first.ptr, first.len);
}

static void mk_reply_array(struct mk_join *j)
{
	for (size_t i = 0; i < j->key_count; i++) {
		struct bytes r = slot_reply(&j->slots[i]);
		if (reply_is_error(r)) {
			mk_reply_failed(j, 1, r);
			return;
		}
	}
	struct resp_out o;
	resp_out_init(&o, CKV_MULTI_REPLY_BYTES_MAX);
	o.proto = j->resp;
	resp_w_array(&o, j->key_count);
	for (size_t i = 0; i < j->key_count && !o.err; i++) {
		struct bytes r = slot_reply(&j->slots[i]);
		uint8_t *at = resp_w_reserve(&o, r.len);
		if (at)
			memcpy(at, r.ptr, r.len);
		/* Give each part back once copied: the peak is one copy, not two. */
		free(j->slots[i].reply);
		j->slots[i].reply = NULL;
		j->slots[i].len = 0;
	}
	mk_complete_out(j, &o);
	resp_out_deinit(&o);
}

/* DEL, UNLINK, EXISTS (sum the integers) and MSET (every one +OK). */
static void mk_reply_counted(struct mk_join *j)
{
	int64_t sum = 0;
	size_t failed = 0;
	struct bytes first = {0};
	for (size_t i = 0; i < j->key_count; i++) {
		if (j->slots[i].skipped)
			continue;
		struct bytes r = slot_reply(&j->slots[i]);
		int64_t v = 0;
		bool ok = j->shape == MK_OK ? reply_ok(r) : reply_int(r, &v);
		if (ok) {
			sum += v;
		} else if (failed++ == 0) {
			first = reply_is_error(r)
			    ? r
			    : bytes_cstr("-ERR unexpected reply from the cluster\r\n");
		}
	}
	if (failed) {
		mk_reply_failed(j, failed, first);
		return;
	}
	struct resp_out o;
	resp_out_init(&o, 4096);
	if (j->shape == MK_OK)
		resp_w_ok(&o);
	else
		resp_w_int(&o, sum);
	mk_complete_out(j, &o);
	resp_out_deinit(&o);
}

/* Drops a reference; the last one replies to the client and frees j. */
static void mk_unref(struct mk_join *j)
{
	if (atomic_fetch_sub_explicit(&j->refs, 1, memory_order_acq_rel) != 1)
		return;
	if (j->refused)
		mk_reply_refused(j);
	else if (j->shape == MK_ARRAY)
		mk_reply_array(j);
	else
		mk_reply_counted(j);
	mk_join_destroy(j);
}

/* One key's request completed (cluster thread). */
static void mk_key_done(void *arg, const void *reply, size_t len)
{
	struct mk_slot *s = arg;
	s->reply = malloc(len ? len : 1);
	if (s->reply) {
		memcpy(s->reply, reply, len);
		s->len = len;
	}
	mk_unref(s->join);
}

/* For a write: marks every key that the command names again later, whose
 * later request alone is sent (so MSET's last value wins, and DEL counts a
 * key once). Keys are compared by hash first: a byte compare of every pair
 * of long keys would cost far more than the requests. */
static void mk_mark_duplicates(struct mk_join *j, const struct client *c, size_t step)
{
	for (size_t i = 0; i < j->key_count; i++) {
		struct bytes k = c->argv[1 + i * step];
		j->slots[i].hash = hash_bytes(k.ptr, k.len);
	}
	for (size_t i = 0; i < j->key_count; i++) {
		struct bytes k = c->argv[1 + i * step];
		for (size_t l = i + 1; l < j->key_count && !j->slots[i].skipped; l++)
			j->slots[i].skipped = j->slots[l].hash == j->slots[i].hash &&
			    bytes_eq(k, c->argv[1 + l * step]);
	}
}

/* Sends one request per key, until the cluster refuses one. */
static void mk_send(struct mk_join *j, struct client *c, enum cluster_op_kind kind, size_t step)
{
	for (size_t i = 0; i < j->key_count; i++) {
		if (j->slots[i].skipped)
			continue;
		size_t at = 1 + i * step;
		struct cluster_op op = {.kind = kind,
		                        .key = c->argv[at],
		                        .sloppy = -1,
		                        .resp = j->resp,
		                        .done = mk_key_done,
		                        .arg = &j->slots[i]};
		if (kind == CLUSTER_OP_SET)
			op.value = c->argv[at + 1];
		atomic_fetch_add_explicit(&j->refs, 1, memory_order_relaxed);
		int err = c->node->cluster->submit(c->node->cluster_ctx, &op);
		if (err) {
			/* done never runs for it; the handler's reference keeps j. */
			atomic_fetch_sub_explicit(&j->refs, 1, memory_order_relaxed);
			j->refused = submit_error_text(err);
			return;
		}
		j->sent++;
	}
}

/* The command's shape and limits, before anything is allocated or sent:
 * MSET's pairs, the key count, and what a write may create. False after
 * replying. */
static bool mk_check(struct client *c, size_t key_count, size_t step)
{
	if ((c->argc - 1) % step != 0) {
		reply_wrong_arity(c);
		return false;
	}
	if (key_count > CLUSTER_MULTI_KEYS_MAX) {
		char name[16];
		command_name_upper(c, name, sizeof(name));
		resp_w_errorf(
		    &c->out,
		    "ERR %s of %zu keys in a cluster: at most %d keys per command; split it", name,
		    key_count, CLUSTER_MULTI_KEYS_MAX);
		return false;
	}
	if (c->cmd->fn != cmd_mset)
		return true;
	for (size_t i = 1; i < c->argc; i += 2)
		if (!check_key_len(c, c->argv[i]) || !check_value_len(c, c->argv[i + 1].len))
			return false;
	return true;
}

static void run_multi(struct client *c, enum cluster_op_kind kind, enum mk_shape shape)
{
	size_t step = (size_t)c->cmd->key_step;
	size_t key_count = (c->argc - 1) / step;
	if (!mk_check(c, key_count, step))
		return;
	struct mk_join *j = mk_join_create(c, key_count, shape);
	if (!j) {
		reply_nomem(c);
		return;
	}
	j->pk = client_park(c);
	if (!j->pk) {
		mk_join_destroy(j);
		resp_w_error(&c->out, MULTI_REFUSED);
		return;
	}
	j->resp = park_resp_version(j->pk);
	if (j->write)
		mk_mark_duplicates(j, c, step);
	mk_send(j, c, kind, step);
	mk_unref(j);
}

/* ---- Routing ------------------------------------------------------------------ */

/* GET, SET key value and the one-key forms of DEL, UNLINK and EXISTS. */
static bool route_one_key(struct client *c, cmd_fn *fn)
{
	struct bytes none = bytes_make(NULL, 0);
	if (fn == cmd_get)
		run(c, CLUSTER_OP_GET, none, NULL, c->argc);
	else if (fn == cmd_set && c->argc == 3) {
		if (check_key_len(c, c->argv[1]))
			run(c, CLUSTER_OP_SET, c->argv[2], NULL, c->argc);
	} else if ((fn == cmd_del || fn == cmd_unlink) && c->argc == 2)
		run(c, CLUSTER_OP_DEL, none, NULL, c->argc);
	else if (fn == cmd_exists && c->argc == 2)
		run(c, CLUSTER_OP_EXISTS, none, NULL, c->argc);
	else
		return false;
	return true;
}

static bool route_multi_key(struct client *c, cmd_fn *fn)
{
	if (fn == cmd_mget)
		run_multi(c, CLUSTER_OP_GET, MK_ARRAY);
	else if (fn == cmd_mset)
		run_multi(c, CLUSTER_OP_SET, MK_OK);
	else if (fn == cmd_del || fn == cmd_unlink)
		run_multi(c, CLUSTER_OP_DEL, MK_COUNT);
	else if (fn == cmd_exists)
		run_multi(c, CLUSTER_OP_EXISTS, MK_COUNT);
	else
		return false;
	return true;
}

bool cmd_cluster_route(struct client *c)
{
	const struct cmd_def *d = c->cmd;
	if (d->first_key <= 0 || !c->node->cluster || !c->node->cluster->submit)
		return false;
	/* No stripe is locked here: the replicas' work happens on the
	 * cluster thread, which locks what it touches. */
	cmd_fn *fn = d->fn;
	if (fn == cmd_getv || fn == cmd_setv || fn == cmd_delv)
		fn(c);
	else if (fn == cmd_incr || fn == cmd_decr || fn == cmd_incrby || fn == cmd_decrby)
		run_incr(c);
	else if (!route_one_key(c, fn) && !route_ttl(c, fn) && !route_multi_key(c, fn))
		resp_w_errorf(
		    &c->out,
		    "ERR '%s'%s is not served in a cluster yet (served: GET, SET key value "
		    "[EX|PX|EXAT|PXAT t], SETEX, PSETEX, MGET, MSET, DEL, UNLINK, EXISTS, INCR, "
		    "DECR, INCRBY, DECRBY, EXPIRE, PEXPIRE, EXPIREAT, PEXPIREAT, PERSIST, TTL, "
		    "PTTL, "
		    "EXPIRETIME, PEXPIRETIME, GETV, SETV, DELV)",
		    d->name, c->argc > 3 ? " with these arguments" : "");
	return true;
}
