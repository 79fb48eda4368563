/*
 * cmd_server.c - server commands: INFO, CONFIG, COMMAND, TIME, SHUTDOWN.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/err.h"
#include "base/glob.h"
#include "cmd/cmd.h"
#include "cmd/cmd_internal.h"
#include "cmd/cmd_slowlog.h"
#include "cmd/metrics.h"

#define RINGKV_VERSION       "0.1.0"
#define REDIS_COMPAT_VERSION "7.0.0"

/* ---- INFO ---------------------------------------------------------------- */

void infof(struct buf *b, const char *fmt, ...)
{
	char line[512];
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	size_t len = (size_t)n < sizeof(line) ? (size_t)n : sizeof(line) - 1;
	if (buf_reserve(b, len + 2, SIZE_MAX) == 0) {
		buf_put(b, line, len);
		buf_put(b, "\r\n", 2);
	}
}

static void human_bytes(char *dst, size_t cap, uint64_t n)
{
	const char *units = "BKMGTP";
	double v = (double)n;
	int u = 0;
	while (v >= 1024 && u < 5) {
		v /= 1024;
		u++;
	}
	if (u == 0)
		snprintf(dst, cap, "%lluB", (unsigned long long)n);
	else
		snprintf(dst, cap, "%.2f%c", v, units[u]);
}

static uint64_t sum_threads(struct node *n, size_t field_offset)
{
	uint64_t total = 0;
	for (unsigned i = 0; i < n->thread_count; i++) {
		const char *base = (const char *)&n->threads[i];
		total += atomic_load_explicit((atomic_uint_fast64_t *)(base + field_offset),
		                              memory_order_relaxed);
	}
	return total;
}

static void info_server(struct client *c, struct buf *b)
{
	struct node *n = c->node;
	int64_t now = client_now_ms(c);
	int64_t up = (now - n->start_ms) / 1000;
	infof(b, "# Server");
	infof(b, "redis_version:%s", REDIS_COMPAT_VERSION);
	infof(b, "ringkv_version:%s", RINGKV_VERSION);
	infof(b, "redis_mode:standalone");
	infof(b, "os:Linux");
	infof(b, "arch_bits:%d", (int)(sizeof(void *) * 8));
	infof(b, "multiplexing_api:epoll");
	infof(b, "process_id:%lld", (long long)env_pid());
	infof(b, "run_id:%016llx%016llx%08llx", (unsigned long long)n->run_id_hi,
	      (unsigned long long)n->run_id_lo, (unsigned long long)(n->run_id_hi >> 32));
	infof(b, "tcp_port:%lld", (long long)config_get(n->cfg, CFG_PORT));
	infof(b, "server_time_usec:%lld", (long long)env_wall_us());
	infof(b, "uptime_in_seconds:%lld", (long long)up);
	infof(b, "uptime_in_days:%lld", (long long)(up / 86400));
	infof(b, "hz:%lld", (long long)config_get(n->cfg, CFG_HZ));
	infof(b, "threads:%u", n->thread_count);
	infof(b, "engine:%s", n->ks ? "memory" : "none");
}

static void info_clients(struct client *c, struct buf *b)
{
	struct node *n = c->node;
	infof(b, "# Clients");
	infof(b, "connected_clients:%llu", (unsigned long long)n->hooks->client_count(n));
	infof(b, "maxclients:%lld", (long long)config_get(n->cfg, CFG_MAXCLIENTS));
	infof(b, "blocked_clients:0");
	infof(b, "parked_clients:%llu", (unsigned long long)park_count(n));
}

static void info_memory(struct client *c, struct buf *b, const struct ks_stats *st)
{
	uint64_t rss = env_rss_bytes();
	/* The allocator's own count in every build (env_posix.c: jemalloc,
	 * the sanitizer allocator, or glibc). */
	uint64_t used = env_allocated_bytes();
	char h1[32], h2[32], h3[32];
	human_bytes(h1, sizeof(h1), used);
	human_bytes(h2, sizeof(h2), rss);
	human_bytes(h3, sizeof(h3), env_rss_peak_bytes());
	infof(b, "# Memory");
	infof(b, "used_memory:%llu", (unsigned long long)used);
	infof(b, "used_memory_human:%s", h1);
	infof(b, "used_memory_rss:%llu", (unsigned long long)rss);
	infof(b, "used_memory_rss_human:%s", h2);
	infof(b, "used_memory_peak_rss:%llu", (unsigned long long)env_rss_peak_bytes());
	infof(b, "used_memory_peak_rss_human:%s", h3);
	infof(b, "used_memory_dataset:%llu", (unsigned long long)st->memory_bytes);
	uint64_t maxmemory = (uint64_t)config_get(c->node->cfg, CFG_MAXMEMORY);
	char h4[32];
	human_bytes(h4, sizeof(h4), maxmemory);
	infof(b, "maxmemory:%llu", (unsigned long long)maxmemory);
	infof(b, "maxmemory_human:%s", h4);
	infof(b, "maxmemory_policy:%s",
	      evict_policy_name((int)config_get(c->node->cfg, CFG_MAXMEMORY_POLICY)));
	infof(b, "mem_fragmentation_ratio:%.2f", used ? (double)rss / (double)used : 0.0);
	infof(b, "mem_allocator:%s", env_allocator_name());
}

static void info_stats(struct client *c, struct buf *b, const struct ks_stats *st)
{
	struct node *n = c->node;
	infof(b, "# Stats");
	n->hooks->info_stats(n, b);
	infof(b, "total_commands_processed:%llu",
	      (unsigned long long)sum_threads(n, offsetof(struct cmd_thread, commands)));
	infof(b, "instantaneous_ops_per_sec:%llu", (unsigned long long)cmd_node_ops_per_sec(n));
	infof(b, "expired_keys:%llu", (unsigned long long)st->expired_keys);
	infof(b, "evicted_keys:%llu", (unsigned long long)st->evicted_keys);
	infof(b, "keyspace_hits:%llu",
	      (unsigned long long)sum_threads(n, offsetof(struct cmd_thread, hits)));
	infof(b, "keyspace_misses:%llu",
	      (unsigned long long)sum_threads(n, offsetof(struct cmd_thread, misses)));
	infof(b, "total_error_replies:%llu",
	      (unsigned long long)sum_threads(n, offsetof(struct cmd_thread, errors)));
}

static void info_replication(struct buf *b)
{
	infof(b, "# Replication");
	infof(b, "role:master");
	infof(b, "connected_slaves:0");
}

static void info_cpu(struct buf *b)
{
	int64_t user_us, sys_us;
	env_cpu_usage_us(&user_us, &sys_us);
	infof(b, "# CPU");
	infof(b, "used_cpu_sys:%.6f", (double)sys_us / 1e6);
	infof(b, "used_cpu_user:%.6f", (double)user_us / 1e6);
}

static void info_commandstats(struct client *c, struct buf *b)
{
	struct node *n = c->node;
	infof(b, "# Commandstats");
	for (size_t i = 0; i < cmd_table_len; i++) {
		uint64_t calls = 0, ns = 0, rejected = 0, failed = 0;
		for (unsigned t = 0; t < n->thread_count; t++) {
			struct cmd_stat *s = &n->threads[t].stats[i];
			calls += atomic_load_explicit(&s->calls, memory_order_relaxed);
			ns += atomic_load_explicit(&s->ns, memory_order_relaxed);
			rejected += atomic_load_explicit(&s->rejected, memory_order_relaxed);
			failed += atomic_load_explicit(&s->failed, memory_order_relaxed);
		}
		if (calls == 0 && rejected == 0)
			continue;
		infof(b,
		      "cmdstat_%s:calls=%llu,usec=%llu,usec_per_call=%.2f,rejected_calls=%llu,"
		      "failed_calls=%llu",
		      cmd_table[i].name, (unsigned long long)calls, (unsigned long long)(ns / 1000),
		      calls ? (double)ns / 1000.0 / (double)calls : 0.0,
		      (unsigned long long)rejected, (unsigned long long)failed);
	}
}

static void info_keyspace(struct buf *b, const struct ks_stats *st)
{
	infof(b, "# Keyspace");
	if (st->keys > 0)
		infof(b, "db0:keys=%llu,expires=%llu,avg_ttl=%lld", (unsigned long long)st->keys,
		      (unsigned long long)st->volatile_keys, (long long)st->avg_ttl_ms);
}

enum {
	SEC_SERVER = 1 << 0,
	SEC_CLIENTS = 1 << 1,
	SEC_MEMORY = 1 << 2,
	SEC_PERSISTENCE = 1 << 3,
	SEC_STATS = 1 << 4,
	SEC_REPLICATION = 1 << 5,
	SEC_CPU = 1 << 6,
	SEC_COMMANDSTATS = 1 << 7,
	SEC_KEYSPACE = 1 << 8,
	SEC_LATENCYSTATS = 1 << 9,
	SEC_ERRORSTATS = 1 << 10,
	SEC_ENGINE = 1 << 11,  /* ringkv's: the storage engine */
	SEC_CLUSTER = 1 << 12, /* ringkv's: membership and ring */
	SEC_DEFAULT = SEC_SERVER | SEC_CLIENTS | SEC_MEMORY | SEC_PERSISTENCE | SEC_STATS |
	    SEC_REPLICATION | SEC_CPU | SEC_ERRORSTATS | SEC_KEYSPACE | SEC_ENGINE | SEC_CLUSTER,
	SEC_ALL = SEC_DEFAULT | SEC_COMMANDSTATS | SEC_LATENCYSTATS,
};

static unsigned info_section_bits(struct bytes name)
{
	static const struct {
		const char *name;
		unsigned bits;
	} names[] = {
	    {"server", SEC_SERVER},
	    {"clients", SEC_CLIENTS},
	    {"memory", SEC_MEMORY},
	    {"persistence", SEC_PERSISTENCE},
	    {"stats", SEC_STATS},
	    {"replication", SEC_REPLICATION},
	    {"cpu", SEC_CPU},
	    {"commandstats", SEC_COMMANDSTATS},
	    {"keyspace", SEC_KEYSPACE},
	    {"default", SEC_DEFAULT},
	    {"all", SEC_ALL},
	    {"everything", SEC_ALL},
	    {"latencystats", SEC_LATENCYSTATS},
	    {"errorstats", SEC_ERRORSTATS},
	    {"engine", SEC_ENGINE},
	    {"cluster", SEC_CLUSTER},
	};
	for (size_t i = 0; i < ARRAY_LEN(names); i++)
		if (bytes_eq_nocase(name, names[i].name))
			return names[i].bits;
	return 0;
}

void cmd_info(struct client *c)
{
	unsigned sections = c->argc == 1 ? SEC_DEFAULT : 0;
	for (size_t i = 1; i < c->argc; i++)
		sections |= info_section_bits(c->argv[i]);
	struct ks_stats st;
	ks_stats(c->node->ks, client_now_ms(c), &st);
	struct buf b;
	buf_init(&b);
	bool first = true;
#define SECTION(bit, call)                                                                         \
	if (sections & (bit)) {                                                                    \
		if (!first)                                                                        \
			infof(&b, "%s", "");                                                       \
		first = false;                                                                     \
		call;                                                                              \
	}
	SECTION(SEC_SERVER, info_server(c, &b));
	SECTION(SEC_CLIENTS, info_clients(c, &b));
	SECTION(SEC_MEMORY, info_memory(c, &b, &st));
	SECTION(SEC_PERSISTENCE, persist_info(c->node, &b));
	SECTION(SEC_STATS, info_stats(c, &b, &st));
	SECTION(SEC_REPLICATION, info_replication(&b));
	SECTION(SEC_CPU, info_cpu(&b));
	SECTION(SEC_COMMANDSTATS, info_commandstats(c, &b));
	SECTION(SEC_ERRORSTATS, metrics_info_errorstats(c->node, &b));
	SECTION(SEC_LATENCYSTATS, metrics_info_latencystats(c->node, &b));
	SECTION(SEC_KEYSPACE, info_keyspace(&b, &st));
	SECTION(SEC_ENGINE, engine_info(c->node, &b));
	SECTION(SEC_CLUSTER, cluster_info_section(c->node, &b));
#undef SECTION
	resp_w_verbatim(&c->out, b.data, b.len);
	buf_deinit(&b);
}

/* ---- CONFIG ---------------------------------------------------------------- */

static void config_get_cmd(struct client *c)
{
	bool match[CFG_COUNT] = {0};
	size_t count = 0;
	for (int id = 0; id < CFG_COUNT; id++) {
		struct bytes name = bytes_cstr(cfg_defs[id].name);
		for (size_t i = 2; i < c->argc && !match[id]; i++)
			if (glob_match(c->argv[i], name, true)) {
				match[id] = true;
				count++;
			}
	}
	resp_w_map(&c->out, count);
	for (int id = 0; id < CFG_COUNT; id++) {
		if (!match[id])
			continue;
		char value[1024];
		size_t n = config_format(c->node->cfg, id, value, sizeof(value));
		resp_w_bulk_cstr(&c->out, cfg_defs[id].name);
		resp_w_bulk(&c->out, value, n < sizeof(value) ? n : sizeof(value) - 1);
	}
}

/* Effects of settings that other modules cache. */
static void config_apply_effects(struct node *n)
{
	atomic_store(&n->requirepass_set, config_get_str(n->cfg, CFG_REQUIREPASS, NULL, 0) > 0);
	atomic_store(&n->log->level, (int)config_get(n->cfg, CFG_LOGLEVEL));
	evict_apply_config(&n->evict);
}

static void config_set_cmd(struct client *c)
{
	if (c->argc < 4 || c->argc % 2 != 0) {
		resp_w_error(&c->out, "ERR wrong number of arguments for 'config|set' command");
		return;
	}
	struct config *cfg = c->node->cfg;
	size_t pairs = (c->argc - 2) / 2;
	for (size_t i = 0; i < pairs; i++) {
		struct bytes name = c->argv[2 + 2 * i];
		if (config_find((const char *)name.ptr, name.len) < 0) {
			resp_w_errorf(
			    &c->out,
			    "ERR Unknown option or number of arguments for CONFIG SET - '%.*s'",
			    (int)(name.len < 64 ? name.len : 64), (const char *)name.ptr);
			return;
		}
	}
	/* Apply in order; on the first failure restore what was applied, so
	 * CONFIG SET of several settings is all or nothing, as in Redis 7. */
	char(*old)[256] = calloc(pairs, sizeof(*old));
	if (!old) {
		reply_nomem(c);
		return;
	}
	size_t i;
	char why[200] = "";
	int failed_id = -1;
	for (i = 0; i < pairs; i++) {
		struct bytes name = c->argv[2 + 2 * i], value = c->argv[3 + 2 * i];
		int id = config_find((const char *)name.ptr, name.len);
		config_format(cfg, id, old[i], sizeof(old[i]));
		if (config_set(cfg, id, (const char *)value.ptr, value.len, false, why,
		               sizeof(why)) != 0) {
			failed_id = id;
			break;
		}
	}
	if (failed_id >= 0) {
		while (i-- > 0) {
			struct bytes name = c->argv[2 + 2 * i];
			int id = config_find((const char *)name.ptr, name.len);
			char ignored[200];
			config_set(cfg, id, old[i], strlen(old[i]), true, ignored, sizeof(ignored));
		}
		resp_w_errorf(&c->out,
		              "ERR CONFIG SET failed (possibly related to argument '%s') - %s",
		              cfg_defs[failed_id].name, why);
	} else {
		resp_w_ok(&c->out);
	}
	free(old);
	config_apply_effects(c->node);
}

static void config_resetstat(struct client *c)
{
	struct node *n = c->node;
	for (unsigned t = 0; t < n->thread_count; t++) {
		struct cmd_thread *th = &n->threads[t];
		atomic_store(&th->commands, 0);
		atomic_store(&th->hits, 0);
		atomic_store(&th->misses, 0);
		atomic_store(&th->errors, 0);
		for (size_t i = 0; i < cmd_table_len; i++) {
			atomic_store(&th->stats[i].calls, 0);
			atomic_store(&th->stats[i].ns, 0);
			atomic_store(&th->stats[i].rejected, 0);
			atomic_store(&th->stats[i].failed, 0);
		}
	}
	obs_reset_stats(n);
	ks_reset_stats(n->ks);
	n->hooks->reset_stats(n);
	resp_w_ok(&c->out);
}

static const struct subcmd config_subs[] = {
    {"get", -3}, {"set", -4}, {"resetstat", 2}, {"rewrite", 2}, {"help", 2},
};

void cmd_config(struct client *c)
{
	struct bytes sub = c->argv[1];
	if (!subcmd_check(c, "config", config_subs, ARRAY_LEN(config_subs)))
		return;
	if (bytes_eq_nocase(sub, "get")) {
		if (c->argc < 3) {
			resp_w_error(&c->out,
			             "ERR wrong number of arguments for 'config|get' command");
			return;
		}
		config_get_cmd(c);
	} else if (bytes_eq_nocase(sub, "set")) {
		config_set_cmd(c);
	} else if (bytes_eq_nocase(sub, "resetstat")) {
		if (c->argc != 2) {
			resp_w_error(
			    &c->out,
			    "ERR wrong number of arguments for 'config|resetstat' command");
			return;
		}
		config_resetstat(c);
	} else if (bytes_eq_nocase(sub, "rewrite")) {
		resp_w_error(&c->out,
		             "ERR CONFIG REWRITE is not supported by ringkv; edit the config file");
	} else if (bytes_eq_nocase(sub, "help")) {
		static const char *const lines[] = {
		    "CONFIG <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
		    "GET <pattern> [<pattern> ...]",
		    "    Return the settings matching the patterns.",
		    "SET <name> <value> [<name> <value> ...]",
		    "    Change settings (all or none).",
		    "RESETSTAT",
		    "    Reset the statistics reported by INFO.",
		    "HELP",
		    "    Print this help.",
		};
		reply_lines(c, lines, ARRAY_LEN(lines));
	} else {
		resp_w_errorf(&c->out, "ERR unknown subcommand '%.*s'. Try CONFIG HELP.",
		              (int)(sub.len < 64 ? sub.len : 64), (const char *)sub.ptr);
	}
}

/* ---- COMMAND ------------------------------------------------------------- */

static void command_flags(struct client *c, const struct cmd_def *d)
{
	const char *names[6];
	size_t n = 0;
	if (d->flags & CMD_WRITE)
		names[n++] = "write";
	if (d->flags & CMD_READONLY)
		names[n++] = "readonly";
	if (d->flags & CMD_ADMIN)
		names[n++] = "admin";
	if (d->flags & CMD_FAST)
		names[n++] = "fast";
	if (d->flags & CMD_NOAUTH)
		names[n++] = "no_auth";
	resp_w_set(&c->out, n);
	for (size_t i = 0; i < n; i++)
		resp_w_simple(&c->out, names[i]);
}

static void command_info_one(struct client *c, const struct cmd_def *d)
{
	resp_w_array(&c->out, 10);
	resp_w_bulk_cstr(&c->out, d->name);
	resp_w_int(&c->out, d->arity);
	command_flags(c, d);
	resp_w_int(&c->out, d->first_key);
	resp_w_int(&c->out, d->last_key);
	resp_w_int(&c->out, d->key_step);
	resp_w_set(&c->out, 0);   /* ACL categories */
	resp_w_array(&c->out, 0); /* tips */
	resp_w_array(&c->out, 0); /* key specs */
	resp_w_array(&c->out, 0); /* subcommands */
}

static void command_docs_one(struct client *c, const struct cmd_def *d)
{
	resp_w_bulk_cstr(&c->out, d->name);
	resp_w_map(&c->out, 3);
	resp_w_bulk_cstr(&c->out, "summary");
	resp_w_bulk_cstr(&c->out, d->summary);
	resp_w_bulk_cstr(&c->out, "since");
	resp_w_bulk_cstr(&c->out, d->since);
	resp_w_bulk_cstr(&c->out, "group");
	resp_w_bulk_cstr(&c->out, d->group);
}

static void command_docs(struct client *c)
{
	if (c->argc == 2) {
		resp_w_map(&c->out, cmd_table_len);
		for (size_t i = 0; i < cmd_table_len; i++)
			command_docs_one(c, &cmd_table[i]);
		return;
	}
	size_t found = 0;
	for (size_t i = 2; i < c->argc; i++)
		found += cmd_lookup(c->node, c->argv[i]) != NULL;
	resp_w_map(&c->out, found);
	for (size_t i = 2; i < c->argc; i++) {
		const struct cmd_def *d = cmd_lookup(c->node, c->argv[i]);
		if (d)
			command_docs_one(c, d);
	}
}

static void command_getkeys(struct client *c)
{
	if (c->argc < 3) {
		resp_w_error(&c->out,
		             "ERR wrong number of arguments for 'command|getkeys' command");
		return;
	}
	const struct cmd_def *d = cmd_lookup(c->node, c->argv[2]);
	size_t argc = c->argc - 2;
	if (!d) {
		resp_w_error(&c->out, "ERR Invalid command specified");
		return;
	}
	bool arity_ok = d->arity > 0 ? argc == (size_t)d->arity : argc >= (size_t)-d->arity;
	if (!arity_ok) {
		resp_w_error(&c->out, "ERR Invalid number of arguments specified for command");
		return;
	}
	if (d->first_key == 0) {
		resp_w_error(&c->out, "ERR The command has no key arguments");
		return;
	}
	size_t last = d->last_key < 0 ? argc + (size_t)d->last_key : (size_t)d->last_key;
	size_t n = (last - (size_t)d->first_key) / (size_t)d->key_step + 1;
	resp_w_array(&c->out, n);
	for (size_t i = (size_t)d->first_key; i <= last; i += (size_t)d->key_step)
		reply_key(c, c->argv[2 + i]);
}

static const struct subcmd command_subs[] = {
    {"count", 2}, {"info", -2}, {"docs", -2}, {"list", -2}, {"getkeys", -3}, {"help", 2},
};

static void command_help(struct client *c)
{
	static const char *const lines[] = {
	    "COMMAND <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
	    "(no subcommand)",
	    "    Return details about all commands.",
	    "COUNT",
	    "    Return the total number of commands.",
	    "DOCS [<command-name> ...]",
	    "    Return documentation details about commands.",
	    "GETKEYS <full-command>",
	    "    Return the keys from a full command.",
	    "INFO [<command-name> ...]",
	    "    Return details about the given commands.",
	    "LIST",
	    "    Return a list of all commands.",
	    "HELP",
	    "    Print this help.",
	};
	reply_lines(c, lines, ARRAY_LEN(lines));
}

void cmd_command(struct client *c)
{
	if (c->argc > 1 && !subcmd_check(c, "command", command_subs, ARRAY_LEN(command_subs)))
		return;
	if (c->argc == 1) {
		resp_w_array(&c->out, cmd_table_len);
		for (size_t i = 0; i < cmd_table_len; i++)
			command_info_one(c, &cmd_table[i]);
		return;
	}
	struct bytes sub = c->argv[1];
	if (bytes_eq_nocase(sub, "count")) {
		resp_w_int(&c->out, (int64_t)cmd_table_len);
	} else if (bytes_eq_nocase(sub, "info")) {
		if (c->argc == 2) {
			resp_w_array(&c->out, cmd_table_len);
			for (size_t i = 0; i < cmd_table_len; i++)
				command_info_one(c, &cmd_table[i]);
			return;
		}
		resp_w_array(&c->out, c->argc - 2);
		for (size_t i = 2; i < c->argc; i++) {
			const struct cmd_def *d = cmd_lookup(c->node, c->argv[i]);
			if (d)
				command_info_one(c, d);
			else
				resp_w_null_array(&c->out);
		}
	} else if (bytes_eq_nocase(sub, "docs")) {
		command_docs(c);
	} else if (bytes_eq_nocase(sub, "list")) {
		resp_w_array(&c->out, cmd_table_len);
		for (size_t i = 0; i < cmd_table_len; i++)
			resp_w_bulk_cstr(&c->out, cmd_table[i].name);
	} else if (bytes_eq_nocase(sub, "getkeys")) {
		command_getkeys(c);
	} else if (bytes_eq_nocase(sub, "help")) {
		command_help(c);
	} else {
		resp_w_errorf(&c->out,
		              "ERR unknown subcommand or wrong number of arguments for '%.*s'. Try "
		              "COMMAND HELP.",
		              (int)(sub.len < 64 ? sub.len : 64), (const char *)sub.ptr);
	}
}

/* ---- TIME, SHUTDOWN ------------------------------------------------------ */

void cmd_time(struct client *c)
{
	int64_t us = env_wall_us();
	resp_w_array(&c->out, 2);
	resp_w_bulk_int(&c->out, us / 1000000);
	resp_w_bulk_int(&c->out, us % 1000000);
}

void cmd_shutdown(struct client *c)
{
	for (size_t i = 1; i < c->argc; i++) {
		struct bytes a = c->argv[i];
		if (bytes_eq_nocase(a, "abort")) {
			resp_w_error(&c->out, "ERR No shutdown in progress.");
			return;
		}
		if (!bytes_eq_nocase(a, "nosave") && !bytes_eq_nocase(a, "save") &&
		    !bytes_eq_nocase(a, "now") && !bytes_eq_nocase(a, "force")) {
			reply_syntax_error(c);
			return;
		}
	}
	LOG_W(c->node->log, "User requested shutdown...");
	c->node->hooks->shutdown(c->node);
	/* As in Redis, a successful SHUTDOWN has no reply: the connection closes. */
	c->flags |= CLIENT_CLOSE_AFTER_REPLY;
}
