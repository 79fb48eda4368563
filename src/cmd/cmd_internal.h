/*
 * cmd_internal.h - shared by the files of the cmd module: the handlers of
 * the command table and the MULTI helpers.
 */
#ifndef RINGKV_CMD_CMD_INTERNAL_H
#define RINGKV_CMD_CMD_INTERNAL_H

#include "cmd/cmd.h"

/* dispatch.c */
void cmd_call(struct client *c);

/* cmd_tx.c */
void multi_queue(struct client *c);
void multi_flag_error(struct client *c);
void multi_discard(struct client *c);

/* cmd_util.c: expiry option parsing shared by SET, GETEX, CAS. */
enum expire_opt_kind { EXP_NONE = 0, EXP_EX, EXP_PX, EXP_EXAT, EXP_PXAT, EXP_KEEPTTL, EXP_PERSIST };

/* The kind an option keyword names (EX, PX, EXAT, PXAT, KEEPTTL, PERSIST,
 * any case); EXP_NONE for anything else. */
enum expire_opt_kind expire_kind_of(struct bytes a);

/* Converts an expiry option value to an absolute ms time. Replies
 * "ERR invalid expire time in '<cmd>' command" (or the integer error) and
 * returns false when the value is not a positive integer or overflows. */
bool expire_to_abs_ms(struct client *c, enum expire_opt_kind kind, struct bytes arg,
                      int64_t *abs_ms);

/* cmd_keys.c: EXPIRE's options, shared with the cluster's EXPIRE. */
#define EXPIRE_NX 1u
#define EXPIRE_XX 2u
#define EXPIRE_GT 4u
#define EXPIRE_LT 8u
/* Parses [NX|XX|GT|LT]... from argv[3] with Redis 7.0's rules and texts:
 * options may repeat, NX excludes the others, GT excludes LT. False after
 * replying. */
bool parse_expire_flags(struct client *c, unsigned *flags);
/* Converts EXPIRE's time argument argv[2] (seconds or ms) to absolute ms
 * from base_ms (0 for EXPIREAT). Negative times are allowed (they delete
 * the key); only overflow is an error, replied. */
bool expire_when_ms(struct client *c, bool seconds, int64_t base_ms, int64_t *when);

/* A subcommand of CONFIG, CLIENT or COMMAND, with its Redis arity (the
 * whole argv, negative = at least). */
struct subcmd {
	const char *name;
	int arity;
};

/* Checks argv[1] against the subcommands of parent (lower case); replies
 * Redis's unknown-subcommand or arity error and returns false if it fails. */
bool subcmd_check(struct client *c, const char *parent, const struct subcmd *subs, size_t n);

/* Counts a keyspace hit or miss of a read (INFO keyspace_hits/misses).
 * The counters have one writer, the thread, hence load + store. */
static inline void count_hit(struct client *c, bool hit)
{
	atomic_uint_fast64_t *ctr = hit ? &c->thr->hits : &c->thr->misses;
	atomic_store_explicit(ctr, atomic_load_explicit(ctr, memory_order_relaxed) + 1,
	                      memory_order_relaxed);
}

/* Replies an array of status lines (the HELP subcommands). */
void reply_lines(struct client *c, const char *const *lines, size_t n);

/* The error reply for an engine error (ks_unlock's), which means the
 * command's changes were not applied. */
void reply_engine_error(struct client *c, int err);

/* Appends one "line\r\n" of INFO (cmd_server.c). */
void infof(struct buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Checkpoints (cmd_persist.c): node state, and the INFO sections
 * persistence and engine. */
int persist_node_init(struct node *n);
void persist_node_deinit(struct node *n);
void persist_info(struct node *n, struct buf *b);
void engine_info(struct node *n, struct buf *b);

/* In a cluster: runs a keyed command through the coordinator (or refuses
 * it) and returns true; false when not in a cluster or not keyed
 * (cmd_ckv.c). */
bool cmd_cluster_route(struct client *c);

/* INFO cluster (cmd_cluster.c). */
void cluster_info_section(struct node *n, struct buf *b);

/* Copies a key into a reply as a bulk string. */
void reply_key(struct client *c, struct bytes key);

#define HANDLERS(X)                                                                                \
	X(ping)                                                                                    \
	X(echo)                                                                                    \
	X(hello)                                                                                   \
	X(auth) X(select) X(quit) X(reset) X(client) X(get) X(set) X(setnx) X(setex) X(psetex)     \
	    X(getset) X(getdel) X(getex) X(mget) X(mset) X(msetnx) X(incr) X(incrby) X(decr)       \
	        X(decrby) X(incrbyfloat) X(append) X(strlen) X(getrange) X(setrange) X(cas)        \
	            X(getttl) X(del) X(unlink) X(exists) X(type) X(rename) X(renamenx) X(copy)     \
	                X(expire) X(pexpire) X(expireat) X(pexpireat) X(ttl) X(pttl) X(expiretime) \
	                    X(pexpiretime) X(persist) X(keys) X(scan) X(randomkey) X(dbsize)       \
	                        X(flushdb) X(flushall) X(multi) X(exec) X(discard) X(watch)        \
	                            X(unwatch) X(info) X(config) X(command) X(time) X(shutdown)    \
	                                X(slowlog) X(latency) X(object) X(hotkeys) X(save) X(bgsave)      \
	                                    X(lastsave) X(engine) X(cluster) X(getv) X(setv) X(delv) X(debug)

#define DECLARE_HANDLER(name) void cmd_##name(struct client *c);
HANDLERS(DECLARE_HANDLER)
#undef DECLARE_HANDLER

#endif
