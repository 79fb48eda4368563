/*
 * cmd_ckv.c - keyed commands in a cluster: GET, SET, DEL and EXISTS of one
 * key, and ringkv's GETV, SETV and DELV, run by the cluster's coordinator
 * (cluster/view.h, net/cluster_kv.c) while the client is parked.
 *
 *   GETV key [R r] [N n]               -> [context, [value ...]]
 *   SETV key context value [W w] [N n] -> OK
 *   DELV key context [W w] [N n]       -> 1 if a value was visible, else 0
 *
 * The context is GETV's opaque first element ("" for none): a SETV or DELV
 * with it supersedes exactly the values that GETV returned, and values
 * written concurrently stay as siblings. Plain SET and DEL supersede what
 * their coordinating replica holds; plain GET returns one deterministic
 * value (the last writer's, docs/cluster.md). Other keyed commands are not
 * served in a cluster yet, and say so.
 */
#include "base/err.h"
#include "base/strconv.h"
#include "cmd/cmd.h"
#include "cmd/cmd_internal.h"

static void park_done(void *arg, const void *reply, size_t len)
{
	park_complete(arg, reply, len);
}

/* Parks the client and hands op to the cluster. */
static void submit(struct client *c, struct cluster_op *op)
{
	struct park *pk = client_park(c);
	if (!pk) {
		resp_w_error(&c->out, "ERR this command cannot run inside MULTI/EXEC in a cluster");
		return;
	}
	op->resp = park_resp_version(pk);
	op->done = park_done;
	op->arg = pk;
	int err = c->node->cluster->submit(c->node->cluster_ctx, op);
	if (err)
		park_complete_error(pk, err == ERR_LIMIT ? "OVERLOADED too many cluster requests queued"
		                                         : "ERR out of memory");
}

/* [R r] [W w] [N n] options from argv[from]; false after replying. */
static bool quorum_options(struct client *c, size_t from, struct cluster_op *op, bool read)
{
	for (size_t i = from; i < c->argc; i += 2) {
		struct bytes name = c->argv[i];
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
	bool read = kind == CLUSTER_OP_GET || kind == CLUSTER_OP_GETV || kind == CLUSTER_OP_EXISTS;
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
	else if (fn == cmd_get)
		run(c, CLUSTER_OP_GET, bytes_make(NULL, 0), NULL, c->argc);
	else if (fn == cmd_set && c->argc == 3)
		run(c, CLUSTER_OP_SET, c->argv[2], NULL, c->argc);
	else if ((fn == cmd_del || fn == cmd_unlink) && c->argc == 2)
		run(c, CLUSTER_OP_DEL, bytes_make(NULL, 0), NULL, c->argc);
	else if (fn == cmd_exists && c->argc == 2)
		run(c, CLUSTER_OP_EXISTS, bytes_make(NULL, 0), NULL, c->argc);
	else
		resp_w_errorf(&c->out,
		              "ERR '%s'%s is not served in a cluster yet (GET, SET key value, DEL, "
		              "EXISTS of one key, GETV, SETV, DELV are)",
		              d->name, c->argc > 3 ? " with these arguments" : "");
	return true;
}
