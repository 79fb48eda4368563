/*
 * dispatch.c - command lookup, checks, key hashing and locking, MULTI
 * queueing, and per-command counters; see cmd.h.
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/assert.h"
#include "base/err.h"
#include "base/hash.h"
#include "cmd/cmd.h"
#include "cmd/cmd_internal.h"
#include "cmd/cmd_slowlog.h"

/* Open-addressing index from lower-case name to table row, built once. */
#define INDEX_SLOTS 512
_Static_assert((INDEX_SLOTS & (INDEX_SLOTS - 1)) == 0, "power of two");

struct cmd_index {
	int16_t slot[INDEX_SLOTS]; /* row + 1, or 0 */
};

#define NAME_BYTES_MAX 32

static uint64_t name_hash(const char *lower, size_t len)
{
	return hash_bytes(lower, len);
}

int cmd_node_init(struct node *n)
{
	evict_init(&n->evict, n->ks, n->cfg);
	n->index = calloc(1, sizeof(*n->index));
	if (!n->index)
		return ERR_NOMEM;
	ASSERT(cmd_table_len < INDEX_SLOTS / 2);
	for (size_t i = 0; i < cmd_table_len; i++) {
		const char *name = cmd_table[i].name;
		size_t len = strlen(name);
		ASSERT(len < NAME_BYTES_MAX);
		uint64_t h = name_hash(name, len);
		size_t s = h & (INDEX_SLOTS - 1);
		while (n->index->slot[s])
			s = (s + 1) & (INDEX_SLOTS - 1);
		n->index->slot[s] = (int16_t)(i + 1);
	}
	int err = persist_node_init(n);
	return err ? err : obs_node_init(n);
}

void cmd_node_deinit(struct node *n)
{
	persist_node_deinit(n);
	obs_node_deinit(n);
	free(n->index);
	n->index = NULL;
}

int cmd_thread_init(struct cmd_thread *t, unsigned index)
{
	memset(t, 0, sizeof(*t));
	t->index = index;
	evict_thread_init(&t->evict);
	env_rng_seed(&t->rng, env_random_seed() ^ index);
	t->stats = calloc(cmd_table_len, sizeof(*t->stats));
	return t->stats ? obs_thread_init(t) : ERR_NOMEM;
}

void cmd_thread_deinit(struct cmd_thread *t)
{
	evict_thread_deinit(&t->evict);
	obs_thread_deinit(t);
	free(t->stats);
	t->stats = NULL;
}

const struct cmd_def *cmd_lookup(const struct node *n, struct bytes name)
{
	char lower[NAME_BYTES_MAX];
	if (name.len == 0 || name.len >= NAME_BYTES_MAX)
		return NULL;
	for (size_t i = 0; i < name.len; i++)
		lower[i] = (char)tolower(name.ptr[i]);
	uint64_t h = name_hash(lower, name.len);
	for (size_t s = h & (INDEX_SLOTS - 1);; s = (s + 1) & (INDEX_SLOTS - 1)) {
		int row = n->index->slot[s];
		if (!row)
			return NULL;
		const struct cmd_def *d = &cmd_table[row - 1];
		if (strncmp(d->name, lower, name.len) == 0 && d->name[name.len] == '\0')
			return d;
	}
}

void client_init(struct client *c, struct node *n, struct cmd_thread *thr, uint64_t id)
{
	memset(c, 0, sizeof(*c));
	c->id = id;
	c->node = n;
	c->thr = thr;
	resp_out_init(&c->out, (size_t)config_get(n->cfg, CFG_CLIENT_OUTPUT_MAX_BYTES));
	c->out.proto = 2;
	c->authenticated = config_get_str(n->cfg, CFG_REQUIREPASS, NULL, 0) == 0;
	c->keys = c->keys_inline;
	ks_watcher_init(&c->watch);
	c->ctime_ms = thr->now_ms;
	c->last_cmd_ms = thr->now_ms;
	c->last_cmd_name = "NULL";
}

void client_deinit(struct client *c)
{
	multi_discard(c);
	free(c->queue);
	ks_unwatch_all(c->node->ks, &c->watch);
	free(c->keys_heap);
	resp_out_deinit(&c->out);
}

/* Writes Redis's unknown-command error, quoting the first arguments. */
static void reply_unknown(struct client *c)
{
	char args[160];
	size_t n = 0;
	args[0] = '\0';
	for (size_t i = 1; i < c->argc && n < 128; i++) {
		int w = snprintf(args + n, sizeof(args) - n, "'%.*s' ",
		                 (int)(c->argv[i].len < 128 - n ? c->argv[i].len : 128 - n),
		                 (const char *)c->argv[i].ptr);
		if (w < 0)
			break;
		n += (size_t)w < sizeof(args) - n ? (size_t)w : sizeof(args) - n - 1;
	}
	resp_w_errorf(&c->out, "ERR unknown command '%.*s', with args beginning with: %s",
	              (int)(c->argv[0].len < 128 ? c->argv[0].len : 128),
	              (const char *)c->argv[0].ptr, args);
}

static bool arity_ok(const struct cmd_def *d, size_t argc)
{
	return d->arity > 0 ? argc == (size_t)d->arity : argc >= (size_t)-d->arity;
}

/* Hashes the command's keys into c->keys; false (with a reply) when a key
 * is over key-max-bytes or memory runs out. */
static bool collect_keys(struct client *c)
{
	const struct cmd_def *d = c->cmd;
	c->key_count = 0;
	if (d->first_key == 0 || (size_t)d->first_key >= c->argc)
		return true;
	size_t last = d->last_key < 0 ? c->argc + (size_t)d->last_key : (size_t)d->last_key;
	if (last >= c->argc)
		last = c->argc - 1;
	size_t step = (size_t)d->key_step;
	size_t count = (last - (size_t)d->first_key) / step + 1;
	if (count > CLIENT_KEYS_INLINE) {
		if (count > c->keys_heap_cap) {
			struct ekey *k = realloc(c->keys_heap, count * sizeof(*k));
			if (!k) {
				reply_nomem(c);
				return false;
			}
			c->keys_heap = k;
			c->keys_heap_cap = count;
		}
		c->keys = c->keys_heap;
	} else {
		c->keys = c->keys_inline;
	}
	bool creates = (d->flags & CMD_WRITE) && !(d->flags & CMD_NOCREATE);
	for (size_t i = (size_t)d->first_key; i <= last; i += step) {
		/* Only a write that can create a key is refused for an overlong
		 * key: a read of one finds nothing, and DEL or EXPIRE of a key
		 * made before key-max-bytes was lowered still works. */
		if (creates && !check_key_len(c, c->argv[i]))
			return false;
		ks_key_init(&c->keys[c->key_count++], c->argv[i]);
	}
	return true;
}

/* Calls the handler with its keys locked (unless EXEC holds them).
 * Returns the engine's error if the command's changes were not applied
 * (ks_unlock); its reply must then be replaced. */
static int call_locked(struct client *c)
{
	struct keyspace *ks = c->node->ks;
	if (c->held || c->key_count == 0 || (c->cmd->flags & CMD_GLOBAL)) {
		c->cmd->fn(c);
		return 0;
	}
	if (c->key_count == 1) {
		unsigned s = c->keys[0].stripe;
		ks_lock(ks, s);
		c->cmd->fn(c);
		return ks_unlock(ks, s);
	}
	struct ks_lockset ls;
	ks_lockset_clear(&ls);
	for (size_t i = 0; i < c->key_count; i++)
		ks_lockset_add(&ls, c->keys[i].stripe);
	ks_lock_set(ks, &ls);
	c->cmd->fn(c);
	return ks_unlock_set(ks, &ls);
}

/* Counts the error reply written at c->out.buf.data[at] (INFO stats
 * total_error_replies and errorstats). */
static void count_error_reply(struct client *c, size_t at)
{
	struct cmd_thread *t = c->thr;
	atomic_store_explicit(&t->errors,
	                      atomic_load_explicit(&t->errors, memory_order_relaxed) + 1,
	                      memory_order_relaxed);
	if (c->out.buf.len > at)
		obs_count_error(t, c->out.buf.data + at, c->out.buf.len - at);
}

/* Runs one resolved command and counts it. */
void cmd_call(struct client *c)
{
	struct cmd_thread *t = c->thr;
	const struct cmd_def *d = c->cmd; /* EXEC changes c->cmd while it runs */
	struct cmd_stat *st = &t->stats[d - cmd_table];
	size_t out_before = c->out.buf.len;
	struct bytes *argv = c->argv; /* EXEC changes c->argv too */
	size_t argc = c->argc;
	uint64_t start = env_mono_ns();
	ks_clock_advance(c->node->ks, t->now_ms);
	if (UNLIKELY(c->node->cluster != NULL) && cmd_cluster_route(c)) {
		/* replied, or parked until the coordinator answers */
	} else if (collect_keys(c)) {
		int err = call_locked(c);
		if (err) {
			c->out.buf.len = out_before;
			reply_engine_error(c, err);
		}
	}
	uint64_t ns = env_mono_ns() - start;
	atomic_store_explicit(&st->calls,
	                      atomic_load_explicit(&st->calls, memory_order_relaxed) + 1,
	                      memory_order_relaxed);
	atomic_store_explicit(&st->ns, atomic_load_explicit(&st->ns, memory_order_relaxed) + ns,
	                      memory_order_relaxed);
	if (c->out.buf.len > out_before && c->out.buf.data[out_before] == '-') {
		atomic_store_explicit(&st->failed,
		                      atomic_load_explicit(&st->failed, memory_order_relaxed) + 1,
		                      memory_order_relaxed);
		count_error_reply(c, out_before);
	}
	obs_record_call(c, d, st, argv, argc, ns);
	c->last_cmd_name = d->name;
}

/* Counts a command rejected before it ran; its error reply, which the
 * caller writes next, is counted by count_error_reply. */
static void count_rejected(struct client *c, const struct cmd_def *d)
{
	struct cmd_thread *t = c->thr;
	if (d) {
		struct cmd_stat *st = &t->stats[d - cmd_table];
		atomic_store_explicit(&st->rejected,
		                      atomic_load_explicit(&st->rejected, memory_order_relaxed) + 1,
		                      memory_order_relaxed);
	}
}

/* Rejects the command with an error. Inside MULTI the transaction is
 * flagged; a rejected EXEC aborts it, quoting the reason (as Redis 7). */
static void reject(struct client *c, const struct cmd_def *d, const char *err)
{
	count_rejected(c, d);
	size_t at = c->out.buf.len;
	if (d && d->fn == cmd_exec) {
		const char *reason = strncmp(err, "ERR ", 4) == 0 ? err + 4 : err;
		resp_w_errorf(&c->out, "EXECABORT Transaction discarded because of: %s", reason);
		count_error_reply(c, at);
		multi_discard(c);
		ks_unwatch_all(c->node->ks, &c->watch);
		return;
	}
	resp_w_error(&c->out, err);
	count_error_reply(c, at);
	multi_flag_error(c);
}

#define OOM_MAXMEMORY "OOM command not allowed when used memory > 'maxmemory'."

static bool grows_memory(const struct cmd_def *d)
{
	return (d->flags & CMD_WRITE) && !(d->flags & (CMD_NOCREATE | CMD_GLOBAL));
}

/* Redis's "denyoom" commands: writes that may create a key or grow a value
 * (not DEL, EXPIRE, FLUSHALL, ...), and EXEC of a transaction holding one.
 * Under maxmemory they first make room (evicting while the command's own
 * stripes are not yet locked), or are refused with -OOM. */
static bool may_grow_memory(const struct client *c, const struct cmd_def *d)
{
	if (grows_memory(d))
		return true;
	if (d->fn != cmd_exec || !(c->flags & CLIENT_MULTI))
		return false;
	for (size_t i = 0; i < c->queue_len; i++)
		if (grows_memory(c->queue[i].cmd))
			return true;
	return false;
}

void cmd_dispatch(struct client *c)
{
	struct cmd_thread *t = c->thr;
	ASSERT(c->argc > 0);
	atomic_store_explicit(&t->commands,
	                      atomic_load_explicit(&t->commands, memory_order_relaxed) + 1,
	                      memory_order_relaxed);
	c->last_cmd_ms = t->now_ms;
	const struct cmd_def *d = cmd_lookup(c->node, c->argv[0]);
	if (UNLIKELY(!d)) {
		count_rejected(c, NULL);
		size_t at = c->out.buf.len;
		reply_unknown(c);
		count_error_reply(c, at);
		multi_flag_error(c);
		return;
	}
	c->cmd = d;
	if (UNLIKELY(!arity_ok(d, c->argc))) {
		char err[128];
		snprintf(err, sizeof(err), "ERR wrong number of arguments for '%s' command",
		         d->name);
		reject(c, d, err);
		return;
	}
	if (UNLIKELY(!c->authenticated && !(d->flags & CMD_NOAUTH))) {
		reject(c, d, "NOAUTH Authentication required.");
		return;
	}
	if (UNLIKELY(config_get(c->node->cfg, CFG_MAXMEMORY) > 0) && may_grow_memory(c, d) &&
	    evict_make_room(&c->node->evict, &t->evict, t->now_ms, &t->rng) != 0) {
		reject(c, d, OOM_MAXMEMORY);
		return;
	}
	if (UNLIKELY(c->flags & CLIENT_MULTI) && !(d->flags & CMD_NOMULTI)) {
		multi_queue(c);
		return;
	}
	cmd_call(c);
}

void reply_wrong_arity(struct client *c)
{
	resp_w_errorf(&c->out, "ERR wrong number of arguments for '%s' command", c->cmd->name);
}

void reply_syntax_error(struct client *c)
{
	resp_w_error(&c->out, "ERR syntax error");
}

void reply_not_integer(struct client *c)
{
	resp_w_error(&c->out, "ERR value is not an integer or out of range");
}

void reply_nomem(struct client *c)
{
	resp_w_error(&c->out, "OOM command not allowed: out of memory");
}

bool check_key_len(struct client *c, struct bytes key)
{
	int64_t max = config_get(c->node->cfg, CFG_KEY_MAX_BYTES);
	if ((int64_t)key.len <= max)
		return true;
	resp_w_errorf(&c->out, "ERR key is too long (%zu bytes; key-max-bytes is %lld)", key.len,
	              (long long)max);
	return false;
}

bool check_value_len(struct client *c, uint64_t len)
{
	if (len <= (uint64_t)config_get(c->node->cfg, CFG_PROTO_MAX_BULK_LEN))
		return true;
	resp_w_error(&c->out, "ERR string exceeds maximum allowed size (proto-max-bulk-len)");
	return false;
}

void cmd_node_cron(struct node *n, int64_t now_ms)
{
	/* Runs on thread 0 (net.c), which owns threads[0]'s eviction state. */
	evict_cron(&n->evict, &n->threads[0].evict, now_ms, &n->threads[0].rng);
	uint64_t total = 0;
	for (unsigned i = 0; i < n->thread_count; i++)
		total += atomic_load_explicit(&n->threads[i].commands, memory_order_relaxed);
	int64_t dt = now_ms - n->ops_last_ms;
	if (n->ops_last_ms != 0 && dt > 0) {
		uint64_t delta = total >= n->ops_last_total ? total - n->ops_last_total : 0;
		n->ops_samples[n->ops_sample_idx++ % ARRAY_LEN(n->ops_samples)] =
		    delta * 1000 / (uint64_t)dt;
		uint64_t sum = 0;
		for (size_t i = 0; i < ARRAY_LEN(n->ops_samples); i++)
			sum += n->ops_samples[i];
		atomic_store_explicit(&n->ops_per_sec, sum / ARRAY_LEN(n->ops_samples),
		                      memory_order_relaxed);
	}
	n->ops_last_total = total;
	n->ops_last_ms = now_ms;
}

uint64_t cmd_node_ops_per_sec(struct node *n)
{
	return atomic_load_explicit(&n->ops_per_sec, memory_order_relaxed);
}
