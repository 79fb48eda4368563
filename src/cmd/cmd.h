/*
 * cmd.h - the command table, the client session state that commands act
 * on, and the dispatcher.
 *
 * A command is one row of a const table: name, arity (negative: at least
 * -arity arguments), flags, and key positions (first, last, step; last -1
 * means the last argument). The dispatcher checks arity and
 * authentication, queues the command inside MULTI, hashes its keys once
 * (c->keys), locks their stripes in ascending order and calls the handler,
 * which therefore finds every key it names already locked. Handlers write
 * exactly one reply to c->out.
 *
 * Objects:
 *   struct node      - shared by all threads of one node: config, keyspace,
 *                      log, and the hooks by which commands reach the
 *                      network layer (client list, kill, shutdown).
 *   struct cmd_thread- one per event-loop thread: its clock snapshot, PRNG
 *                      and counters (single writer; read by INFO).
 *   struct client    - one per connection: protocol version, auth, name,
 *                      reply buffer, MULTI queue, WATCH state.
 *
 * Thread: a client is used only by the thread that owns its connection.
 * Fields that other threads read (name, for CLIENT LIST) change under the
 * network layer's registry lock, through the hooks.
 */
#ifndef RINGKV_CMD_CMD_H
#define RINGKV_CMD_CMD_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cluster/view.h"
#include "base/bytes.h"
#include "base/config.h"
#include "base/limits.h"
#include "env/env.h"
#include "env/log.h"
#include "keyspace/evict.h"
#include "keyspace/keyspace.h"
#include "proto/resp.h"

struct client;
struct node;

/* Command flags. */
#define CMD_WRITE    0x01u /* changes data */
#define CMD_READONLY 0x02u /* reads data */
#define CMD_ADMIN    0x04u /* server administration */
#define CMD_NOAUTH   0x08u /* allowed before AUTH (AUTH, HELLO, QUIT, RESET) */
#define CMD_NOMULTI  0x10u /* runs immediately even inside MULTI (EXEC, DISCARD, ...) */
#define CMD_GLOBAL   0x20u /* touches the whole keyspace and locks it itself */
#define CMD_FAST     0x40u
#define CMD_NOSCRIPT 0x80u
#define CMD_LOADING  0x100u
#define CMD_STALE    0x200u
#define CMD_NOCREATE 0x400u /* a write that never creates a key (DEL, EXPIRE, ...) */

typedef void cmd_fn(struct client *c);

struct cmd_def {
	const char *name;
	int arity;
	unsigned flags;
	int first_key, last_key, key_step;
	cmd_fn *fn;
	const char *group;   /* for COMMAND DOCS: "string", "generic", ... */
	const char *summary; /* for COMMAND DOCS */
	const char *since;
};

struct hist;
struct cmd_errstats;
struct cmd_obs;

/* Counters of one thread for one command. ns sums execution time in
 * nanoseconds (INFO shows usec). latency is the command's histogram on this
 * thread, created by the thread on its first call while latency-tracking is
 * on (cmd_slowlog.c), then read by INFO and /metrics. */
struct cmd_stat {
	atomic_uint_fast64_t calls, ns, rejected, failed;
	struct hist *_Atomic latency;
};

/* What commands need from the network layer. */
struct node_hooks {
	/* Appends CLIENT LIST lines for every client (or only those with
	 * ids[] when id_count > 0) to dst; returns 0 or ERR_NOMEM. */
	int (*client_list)(struct node *n, struct buf *dst, const uint64_t *ids, size_t id_count);
	/* Kills clients matching: id (if nonzero), addr or laddr (if set).
	 * Returns the count. self may be killed after its reply. */
	uint64_t (*client_kill)(struct node *n, struct client *self, uint64_t id, const char *addr,
	                        const char *laddr, bool skip_self);
	/* Sets a client's name under the registry lock. */
	void (*client_set_name)(struct node *n, struct client *c, struct bytes name);
	/* Clients connected now, and those refused for maxclients. */
	uint64_t (*client_count)(struct node *n);
	/* Asks the node to shut down cleanly after this command. */
	void (*shutdown)(struct node *n);
	/* Zeroes the network counters (CONFIG RESETSTAT). */
	void (*reset_stats)(struct node *n);
	/* Appends network statistics lines for INFO stats. */
	void (*info_stats)(struct node *n, struct buf *dst);
};

struct cmd_thread {
	unsigned index;
	int64_t now_ms; /* wall clock, refreshed per batch of commands */
	struct env_rng rng;
	struct evict_thread evict; /* memory accounting and eviction pool */
	atomic_uint_fast64_t commands;
	atomic_uint_fast64_t hits, misses;
	atomic_uint_fast64_t errors;
	struct cmd_stat *stats;        /* one per command-table row */
	struct cmd_errstats *errstats; /* error replies by code (cmd_slowlog.c) */
};

struct node {
	struct config *cfg;
	struct keyspace *ks;
	struct evict evict; /* maxmemory and eviction (keyspace/evict.h) */
	struct log *log;
	const struct node_hooks *hooks;
	void *net; /* the network layer's own state, for the hooks */
	int64_t start_ms;
	uint64_t run_id_hi, run_id_lo;
	struct cmd_thread *threads;
	unsigned thread_count;
	atomic_bool requirepass_set; /* cached: protected mode checks it per accept */
	struct cmd_index *index;     /* name -> command lookup, built at start */
	struct cmd_obs *obs;         /* slow log and latency monitor (cmd_slowlog.c) */
	struct persist *persist;     /* checkpoints: SAVE, BGSAVE (cmd_persist.c) */
	const struct cluster_hooks *cluster; /* NULL: not in a cluster (cluster/view.h) */
	void *cluster_ctx;
	atomic_uint_fast64_t stat_reset_ms;
	/* instantaneous_ops_per_sec: sampled by cmd_node_cron (one thread). */
	atomic_uint_fast64_t ops_per_sec;
	uint64_t ops_last_total;
	int64_t ops_last_ms;
	uint64_t ops_samples[16];
	unsigned ops_sample_idx;
};

/* A queued MULTI command: a copy of its arguments. */
struct multi_cmd {
	const struct cmd_def *cmd;
	uint8_t *data;      /* all argument bytes */
	struct bytes *argv; /* views into data */
	size_t argc;
};

#define CLIENT_CLOSE_AFTER_REPLY 0x1u /* QUIT: send the reply, then close */
#define CLIENT_MULTI             0x2u
#define CLIENT_DIRTY_EXEC        0x4u /* a queued command was rejected */
#define CLIENT_KEYS_INLINE       8

struct client {
	uint64_t id;
	struct node *node;
	struct cmd_thread *thr;
	struct resp_out out;
	unsigned flags;
	bool authenticated;
	/* The command being executed. */
	const struct cmd_def *cmd;
	struct bytes *argv;
	size_t argc;
	struct ekey *keys; /* hashed keys of the command, by position */
	size_t key_count;
	struct ekey keys_inline[CLIENT_KEYS_INLINE];
	struct ekey *keys_heap;
	size_t keys_heap_cap;
	/* Stripes already held by the caller (EXEC), else NULL. */
	const struct ks_lockset *held;
	/* MULTI/EXEC and WATCH. */
	struct multi_cmd *queue;
	size_t queue_len, queue_cap;
	struct ks_watcher watch;
	/* Identity, for CLIENT LIST. name changes under the registry lock. */
	char name[CLIENT_NAME_BYTES_MAX + 1];
	char addr[64];
	char laddr[64];
	int64_t ctime_ms;
	int64_t last_cmd_ms;
	const char *last_cmd_name;
	unsigned lib_proto;
};

/* Sets up the command index. ERR_NOMEM. */
int cmd_node_init(struct node *n);
void cmd_node_deinit(struct node *n);
int cmd_thread_init(struct cmd_thread *t, unsigned index);
void cmd_thread_deinit(struct cmd_thread *t);

void client_init(struct client *c, struct node *n, struct cmd_thread *thr, uint64_t id);
void client_deinit(struct client *c);

/* Periodic node upkeep, called by thread 0 about every 100 ms: samples
 * the command rate for INFO, resyncs memory accounting (evict_cron). */
void cmd_node_cron(struct node *n, int64_t now_ms);
uint64_t cmd_node_ops_per_sec(struct node *n);

/* Executes the command in c->argv/argc (set by the caller), writing its
 * reply to c->out. */
void cmd_dispatch(struct client *c);

/* The command table, sorted by nothing in particular; cmd_table_len rows. */
extern const struct cmd_def cmd_table[];
extern const size_t cmd_table_len;

const struct cmd_def *cmd_lookup(const struct node *n, struct bytes name);

/* ---- Helpers for handlers ---------------------------------------------- */

/* Redis's standard errors. */
void reply_wrong_arity(struct client *c);
void reply_syntax_error(struct client *c);
void reply_not_integer(struct client *c);
void reply_nomem(struct client *c);

/* Parses an integer argument; on failure replies "ERR value is not an
 * integer or out of range" and returns false. */
bool arg_i64(struct client *c, struct bytes b, int64_t *out);

/* Checks a key against key-max-bytes; replies the error on failure. */
bool check_key_len(struct client *c, struct bytes key);

/* Checks a value size against proto-max-bulk-len; replies on failure. */
bool check_value_len(struct client *c, uint64_t len);

/* Milliseconds now (the thread's snapshot). */
static inline int64_t client_now_ms(const struct client *c)
{
	return c->thr->now_ms;
}

/* ---- Parked (asynchronous) replies ------------------------------------------
 * A handler that must wait (for other nodes, a timer) without blocking its
 * event loop parks its client instead of replying, and hands the ticket to
 * whoever will produce the reply. Implemented by the network layer
 * (net/park.c, net/conn.c; the state machine is described in net/park.h).
 */
struct park; /* a parked command's ticket */

/* Called by a command handler instead of writing a reply: the client
 * executes no further input (pipelined commands wait, so replies stay in
 * order) until the ticket is completed. It keeps reading input up to
 * client-query-buffer-limit, then stops reading until it resumes; the idle
 * timeout spares it; CLIENT KILL and shutdown close it (a later completion
 * is then dropped). Returns NULL when the client cannot be parked: inside
 * MULTI/EXEC, already parked, not a network client, or out of memory; the
 * handler must then reply synchronously. */
struct park *client_park(struct client *c);

/* The client's protocol (2 or 3) when it was parked: encode the reply so. */
int park_resp_version(const struct park *p);

/* From any thread, exactly once per ticket: delivers resp (complete RESP
 * bytes; copied) to the parked client on its own loop, at the end of that
 * loop's turn like any other reply; the client then resumes its buffered
 * input. If the connection has closed meanwhile, the reply is dropped.
 * Never blocks on the client; the ticket is invalid afterwards. */
void park_complete(struct park *p, const void *resp, size_t len);

/* park_complete with the error reply "-msg" (msg carries its prefix, as in
 * "ERR not now"; an error reads the same in RESP2 and RESP3). */
void park_complete_error(struct park *p, const char *msg);

/* park_complete(p, resp, len) after delay_ms, from the network layer's
 * timer thread (resp is copied now). Returns 0, or ERR_LIMIT when
 * PARK_TIMER_PENDING_MAX (1024) completions already wait, or ERR_NOMEM; on
 * failure the caller still owes the completion. Only while the node runs
 * (from a command handler, say). */
int park_complete_later(struct park *p, uint32_t delay_ms, const void *resp, size_t len);

/* Clients parked now, node-wide (INFO clients parked_clients). */
uint64_t park_count(struct node *n);

#endif
