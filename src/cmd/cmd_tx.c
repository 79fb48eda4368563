/*
 * cmd_tx.c - MULTI, EXEC, DISCARD, WATCH, UNWATCH.
 *
 * EXEC locks, in ascending order, the stripes of every key of every queued
 * command and of every watched key (all stripes when a queued command
 * touches the whole keyspace), checks the watches, then runs the queue with
 * c->held set so that the handlers do not lock again. Other clients thus
 * see the transaction all at once or not at all.
 */
#include <stdlib.h>
#include <string.h>

#include "base/err.h"
#include "cmd/cmd.h"
#include "cmd/cmd_internal.h"

void multi_flag_error(struct client *c)
{
	if (c->flags & CLIENT_MULTI)
		c->flags |= CLIENT_DIRTY_EXEC;
}

void multi_discard(struct client *c)
{
	for (size_t i = 0; i < c->queue_len; i++)
		free(c->queue[i].data);
	c->queue_len = 0;
	c->flags &= ~(CLIENT_MULTI | CLIENT_DIRTY_EXEC);
	if (c->queue_cap > 64) {
		free(c->queue);
		c->queue = NULL;
		c->queue_cap = 0;
	}
}

/* Copies the current command's arguments into one allocation. */
static int queue_copy(struct client *c, struct multi_cmd *m)
{
	size_t bytes = 0;
	for (size_t i = 0; i < c->argc; i++)
		bytes += c->argv[i].len;
	size_t index_bytes = c->argc * sizeof(struct bytes);
	uint8_t *mem = malloc(index_bytes + bytes + 1);
	if (!mem)
		return ERR_NOMEM;
	struct bytes *argv = (struct bytes *)mem;
	uint8_t *p = mem + index_bytes;
	for (size_t i = 0; i < c->argc; i++) {
		if (c->argv[i].len)
			memcpy(p, c->argv[i].ptr, c->argv[i].len);
		argv[i] = bytes_make(p, c->argv[i].len);
		p += c->argv[i].len;
	}
	m->cmd = c->cmd;
	m->data = mem;
	m->argv = argv;
	m->argc = c->argc;
	return 0;
}

void multi_queue(struct client *c)
{
	if (c->queue_len >= MULTI_COMMANDS_MAX) {
		resp_w_error(&c->out, "ERR too many commands in MULTI");
		c->flags |= CLIENT_DIRTY_EXEC;
		return;
	}
	if (c->queue_len == c->queue_cap) {
		size_t cap = c->queue_cap ? c->queue_cap * 2 : 8;
		struct multi_cmd *q = realloc(c->queue, cap * sizeof(*q));
		if (!q) {
			reply_nomem(c);
			c->flags |= CLIENT_DIRTY_EXEC;
			return;
		}
		c->queue = q;
		c->queue_cap = cap;
	}
	if (queue_copy(c, &c->queue[c->queue_len]) != 0) {
		reply_nomem(c);
		c->flags |= CLIENT_DIRTY_EXEC;
		return;
	}
	c->queue_len++;
	resp_w_simple(&c->out, "QUEUED");
}

void cmd_multi(struct client *c)
{
	if (c->flags & CLIENT_MULTI) {
		resp_w_error(&c->out, "ERR MULTI calls can not be nested");
		return;
	}
	c->flags |= CLIENT_MULTI;
	resp_w_ok(&c->out);
}

void cmd_discard(struct client *c)
{
	if (!(c->flags & CLIENT_MULTI)) {
		resp_w_error(&c->out, "ERR DISCARD without MULTI");
		return;
	}
	multi_discard(c);
	ks_unwatch_all(c->node->ks, &c->watch);
	resp_w_ok(&c->out);
}

/* Adds the stripes of a queued command's keys to ls. */
static void add_stripes(const struct multi_cmd *m, struct ks_lockset *ls)
{
	const struct cmd_def *d = m->cmd;
	if (d->flags & CMD_GLOBAL) {
		ls->all = true;
		return;
	}
	if (d->first_key == 0 || (size_t)d->first_key >= m->argc)
		return;
	size_t last = d->last_key < 0 ? m->argc + (size_t)d->last_key : (size_t)d->last_key;
	if (last >= m->argc)
		last = m->argc - 1;
	for (size_t i = (size_t)d->first_key; i <= last; i += (size_t)d->key_step) {
		struct ekey k;
		ks_key_init(&k, m->argv[i]);
		ks_lockset_add(ls, k.stripe);
	}
}

static void exec_queue(struct client *c, const struct ks_lockset *ls)
{
	resp_w_array(&c->out, c->queue_len);
	c->held = ls;
	for (size_t i = 0; i < c->queue_len; i++) {
		struct multi_cmd *m = &c->queue[i];
		c->cmd = m->cmd;
		c->argv = m->argv;
		c->argc = m->argc;
		cmd_call(c);
	}
	c->held = NULL;
}

void cmd_exec(struct client *c)
{
	struct keyspace *ks = c->node->ks;
	if (!(c->flags & CLIENT_MULTI)) {
		resp_w_error(&c->out, "ERR EXEC without MULTI");
		return;
	}
	if (c->flags & CLIENT_DIRTY_EXEC) {
		resp_w_error(&c->out,
		             "EXECABORT Transaction discarded because of previous errors.");
		multi_discard(c);
		ks_unwatch_all(ks, &c->watch);
		return;
	}
	struct ks_lockset ls;
	ks_lockset_clear(&ls);
	for (size_t i = 0; i < c->queue_len; i++)
		add_stripes(&c->queue[i], &ls);
	ks_watch_lockset(&c->watch, &ls);
	size_t mark = c->out.buf.len;
	ks_lock_set(ks, &ls);
	ks_watch_expire_check(ks, &c->watch, client_now_ms(c));
	if (atomic_load_explicit(&c->watch.dirty, memory_order_acquire))
		resp_w_null_array(&c->out);
	else
		exec_queue(c, &ls);
	int err = ks_unlock_set(ks, &ls);
	if (err) { /* none of the transaction's changes was applied */
		c->out.buf.len = mark;
		reply_engine_error(c, err);
	}
	c->cmd = NULL;
	multi_discard(c);
	ks_unwatch_all(ks, &c->watch);
}

void cmd_watch(struct client *c)
{
	if (c->flags & CLIENT_MULTI) {
		resp_w_error(&c->out, "ERR WATCH inside MULTI is not allowed");
		return;
	}
	for (size_t i = 0; i < c->key_count; i++) {
		int rc = ks_watch(c->node->ks, &c->keys[i], &c->watch);
		if (rc == ERR_LIMIT) {
			resp_w_error(&c->out, "ERR too many watched keys");
			return;
		}
		if (rc != 0) {
			reply_nomem(c);
			return;
		}
	}
	resp_w_ok(&c->out);
}

void cmd_unwatch(struct client *c)
{
	/* Inside EXEC the stripes are held; EXEC drops the watches anyway. */
	if (!c->held)
		ks_unwatch_all(c->node->ks, &c->watch);
	resp_w_ok(&c->out);
}
