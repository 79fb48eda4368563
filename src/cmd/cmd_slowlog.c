/*
 * cmd_slowlog.c - per-thread histograms and error tables, the slow log
 * (SLOWLOG GET/LEN/RESET/HELP) and the latency monitor (LATENCY
 * LATEST/HISTORY/RESET/HISTOGRAM/HELP); see cmd_slowlog.h.
 *
 * The slow log follows Redis 7: an entry is [id, unix time, duration in
 * usec, argv, client address, client name]; at most 32 arguments are kept
 * (the last one then says "... (N more arguments)") and each keeps at most
 * 128 bytes ("... (N more bytes)"); passwords (AUTH, HELLO AUTH, CONFIG SET
 * of a secret setting) are stored as "(redacted)". EXEC is not logged
 * itself (its commands are), as in Redis.
 *
 * The latency monitor follows Redis's: an event ("command" for commands
 * without the fast flag, "fast-command" for the others) is sampled when a
 * command takes at least latency-monitor-threshold ms; samples of the same
 * second keep the largest, and the last 160 are kept per event.
 */
#include "cmd/cmd_slowlog.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/err.h"
#include "base/strconv.h"
#include "cmd/cmd_internal.h"

#define SLOWLOG_ARGS_MAX    32  /* Redis's SLOWLOG_ENTRY_MAX_ARGC */
#define SLOWLOG_ARG_BYTES   128 /* Redis's SLOWLOG_ENTRY_MAX_STRING */
#define SLOWLOG_GET_DEFAULT 10
#define LATMON_SAMPLES      160 /* Redis's LATENCY_TS_LEN */
_Static_assert(SLOWLOG_ARG_BYTES <= UINT8_MAX, "lengths are stored in a byte");

struct slowlog_entry {
	uint64_t id;
	int64_t time_s;
	uint64_t duration_us;
	uint32_t argc;      /* arguments stored (<= SLOWLOG_ARGS_MAX) */
	uint64_t argc_orig; /* arguments the command had */
	uint8_t len[SLOWLOG_ARGS_MAX];
	uint32_t len_orig[SLOWLOG_ARGS_MAX]; /* UINT32_MAX: "(redacted)" */
	char arg[SLOWLOG_ARGS_MAX][SLOWLOG_ARG_BYTES];
	char addr[64];
	char name[CLIENT_NAME_BYTES_MAX + 1];
};

enum { LATMON_COMMAND, LATMON_FAST_COMMAND, LATMON_EVENTS };
static const char *const latmon_names[LATMON_EVENTS] = {"command", "fast-command"};

struct latmon_event {
	uint32_t count; /* samples stored, <= LATMON_SAMPLES */
	uint32_t next;  /* ring position of the next sample */
	uint64_t max_ms;
	struct {
		int64_t time_s;
		uint64_t latency_ms;
	} s[LATMON_SAMPLES];
};

struct cmd_obs {
	struct env_mutex mu;
	/* Slow log: a ring of cap entries; head is the newest. */
	struct slowlog_entry *ring;
	size_t cap, len, head;
	uint64_t next_id;
	struct latmon_event events[LATMON_EVENTS];
};

/* ---- Threads: histograms and error tables ----------------------------------- */

int obs_thread_init(struct cmd_thread *t)
{
	t->errstats = calloc(1, sizeof(*t->errstats));
	return t->errstats ? 0 : ERR_NOMEM;
}

void obs_thread_deinit(struct cmd_thread *t)
{
	for (size_t i = 0; t->stats && i < cmd_table_len; i++) {
		free(atomic_load(&t->stats[i].latency));
		atomic_store(&t->stats[i].latency, NULL);
	}
	free(t->errstats);
	t->errstats = NULL;
}

struct hist *obs_hist_create(struct cmd_stat *st)
{
	struct hist *h = malloc(sizeof(*h));
	if (!h)
		return NULL;
	hist_init(h);
	/* Release: a reader that sees the pointer sees zeroed buckets. */
	atomic_store_explicit(&st->latency, h, memory_order_release);
	return h;
}

void obs_count_error(struct cmd_thread *t, const uint8_t *reply, size_t len)
{
	struct cmd_errstats *es = t->errstats;
	if (!es || len < 2)
		return;
	char code[ERRSTAT_CODE_BYTES];
	size_t n = 0;
	for (size_t i = 1; i < len && n + 1 < sizeof(code); i++) {
		uint8_t ch = reply[i];
		if (ch == ' ' || ch == '\r' || ch == '\n')
			break;
		code[n++] = (char)ch;
	}
	code[n] = '\0';
	unsigned used = atomic_load_explicit(&es->used, memory_order_relaxed);
	for (unsigned i = 0; i < used; i++) {
		if (strcmp(es->e[i].code, code) == 0) {
			atomic_uint_fast64_t *ctr = &es->e[i].count;
			atomic_store_explicit(ctr,
			                      atomic_load_explicit(ctr, memory_order_relaxed) + 1,
			                      memory_order_relaxed);
			return;
		}
	}
	if (used == ERRSTAT_CODES_MAX)
		return;
	memcpy(es->e[used].code, code, n + 1);
	atomic_store_explicit(&es->e[used].count, 1, memory_order_relaxed);
	atomic_store_explicit(&es->used, used + 1, memory_order_release);
}

void obs_reset_stats(struct node *n)
{
	for (unsigned t = 0; t < n->thread_count; t++) {
		struct cmd_thread *th = &n->threads[t];
		for (size_t i = 0; i < cmd_table_len; i++) {
			struct hist *h =
			    atomic_load_explicit(&th->stats[i].latency, memory_order_acquire);
			if (h)
				hist_reset(h);
		}
		struct cmd_errstats *es = th->errstats;
		unsigned used = es ? atomic_load_explicit(&es->used, memory_order_acquire) : 0;
		for (unsigned i = 0; i < used; i++)
			atomic_store_explicit(&es->e[i].count, 0, memory_order_relaxed);
	}
}

/* ---- Node: slow log and latency monitor -------------------------------------- */

int obs_node_init(struct node *n)
{
	struct cmd_obs *o = calloc(1, sizeof(*o));
	if (!o)
		return ERR_NOMEM;
	size_t cap = (size_t)config_get(n->cfg, CFG_SLOWLOG_MAX_LEN);
	if (cap > 0) {
		o->ring = calloc(cap, sizeof(*o->ring));
		if (!o->ring) {
			free(o);
			return ERR_NOMEM;
		}
	}
	o->cap = cap;
	o->next_id = 0;
	env_mutex_init(&o->mu);
	n->obs = o;
	return 0;
}

void obs_node_deinit(struct node *n)
{
	struct cmd_obs *o = n->obs;
	if (!o)
		return;
	env_mutex_deinit(&o->mu);
	free(o->ring);
	free(o);
	n->obs = NULL;
}

size_t obs_slowlog_len(struct node *n)
{
	struct cmd_obs *o = n->obs;
	if (!o)
		return 0;
	env_mutex_lock(&o->mu);
	size_t len = o->len < (size_t)config_get(n->cfg, CFG_SLOWLOG_MAX_LEN)
	    ? o->len
	    : (size_t)config_get(n->cfg, CFG_SLOWLOG_MAX_LEN);
	env_mutex_unlock(&o->mu);
	return len;
}

/* The i-th newest entry (0 = newest); i < o->len. */
static struct slowlog_entry *slowlog_at_locked(struct cmd_obs *o, size_t i)
{
	return &o->ring[(o->head + o->cap - i) % o->cap];
}

/* Follows slowlog-max-len: keeps the newest entries that still fit. False
 * when a new ring could not be allocated (the old one stays). */
static bool slowlog_resize_locked(struct cmd_obs *o, size_t cap)
{
	if (cap == o->cap)
		return true;
	struct slowlog_entry *ring = NULL;
	if (cap > 0) {
		ring = calloc(cap, sizeof(*ring));
		if (!ring)
			return false;
	}
	size_t keep = o->len < cap ? o->len : cap;
	/* Newest at index keep - 1, so head = keep - 1. */
	for (size_t i = 0; i < keep; i++)
		ring[keep - 1 - i] = *slowlog_at_locked(o, i);
	free(o->ring);
	o->ring = ring;
	o->cap = cap;
	o->len = keep;
	o->head = keep ? keep - 1 : 0;
	return true;
}

/* Whether argument i of the command is a secret to be stored redacted. */
static bool arg_is_secret(const struct cmd_def *d, const struct bytes *argv, size_t argc, size_t i)
{
	if (d->fn == cmd_auth)
		return i >= 1;
	if (d->fn == cmd_hello) {
		/* HELLO [protover [AUTH username password] [SETNAME name]] */
		for (size_t k = 2; k + 2 < argc; k++)
			if (bytes_eq_nocase(argv[k], "auth"))
				return i == k + 1 || i == k + 2;
		return false;
	}
	if (d->fn == cmd_config && argc >= 4 && i >= 3 && i % 2 == 1 &&
	    bytes_eq_nocase(argv[1], "set")) {
		int id = config_find((const char *)argv[i - 1].ptr, argv[i - 1].len);
		return id >= 0 && (cfg_defs[id].flags & CFG_F_SECRET);
	}
	return false;
}

static void slowlog_fill(struct slowlog_entry *e, const struct client *c, const struct cmd_def *d,
                         const struct bytes *argv, size_t argc)
{
	e->argc_orig = argc;
	e->argc = argc > SLOWLOG_ARGS_MAX ? SLOWLOG_ARGS_MAX : (uint32_t)argc;
	for (uint32_t i = 0; i < e->argc; i++) {
		if (arg_is_secret(d, argv, argc, i)) {
			e->len[i] = 0;
			e->len_orig[i] = UINT32_MAX;
			continue;
		}
		size_t keep = argv[i].len < SLOWLOG_ARG_BYTES ? argv[i].len : SLOWLOG_ARG_BYTES;
		if (keep)
			memcpy(e->arg[i], argv[i].ptr, keep);
		e->len[i] = (uint8_t)keep;
		e->len_orig[i] =
		    argv[i].len > UINT32_MAX - 1 ? UINT32_MAX - 1 : (uint32_t)argv[i].len;
	}
	snprintf(e->addr, sizeof(e->addr), "%s", c->addr);
	snprintf(e->name, sizeof(e->name), "%s", c->name);
}

static void slowlog_push_locked(struct cmd_obs *o, const struct client *c, const struct cmd_def *d,
                                const struct bytes *argv, size_t argc, uint64_t ns)
{
	size_t want = (size_t)config_get(c->node->cfg, CFG_SLOWLOG_MAX_LEN);
	slowlog_resize_locked(o, want);
	uint64_t id = o->next_id++;
	if (o->cap == 0)
		return;
	o->head = o->len == 0 ? 0 : (o->head + 1) % o->cap;
	if (o->len < o->cap)
		o->len++;
	struct slowlog_entry *e = &o->ring[o->head];
	e->id = id;
	e->time_s = client_now_ms(c) / 1000;
	e->duration_us = ns / 1000;
	slowlog_fill(e, c, d, argv, argc);
}

static void latmon_add_locked(struct latmon_event *ev, int64_t now_s, uint64_t ms)
{
	if (ms > ev->max_ms)
		ev->max_ms = ms;
	if (ev->count > 0) {
		uint32_t last = (ev->next + LATMON_SAMPLES - 1) % LATMON_SAMPLES;
		if (ev->s[last].time_s == now_s) {
			if (ms > ev->s[last].latency_ms)
				ev->s[last].latency_ms = ms;
			return;
		}
	}
	ev->s[ev->next].time_s = now_s;
	ev->s[ev->next].latency_ms = ms;
	ev->next = (ev->next + 1) % LATMON_SAMPLES;
	if (ev->count < LATMON_SAMPLES)
		ev->count++;
}

void obs_slow_call(struct client *c, const struct cmd_def *d, const struct bytes *argv, size_t argc,
                   uint64_t ns)
{
	struct cmd_obs *o = c->node->obs;
	if (!o || d->fn == cmd_exec)
		return;
	int64_t slower_us = config_get(c->node->cfg, CFG_SLOWLOG_LOG_SLOWER_THAN);
	int64_t monitor_ms = config_get(c->node->cfg, CFG_LATENCY_MONITOR_THRESHOLD);
	env_mutex_lock(&o->mu);
	if (slower_us >= 0 && ns / 1000 >= (uint64_t)slower_us)
		slowlog_push_locked(o, c, d, argv, argc, ns);
	if (monitor_ms > 0 && ns / 1000000 >= (uint64_t)monitor_ms) {
		int ev = (d->flags & CMD_FAST) ? LATMON_FAST_COMMAND : LATMON_COMMAND;
		latmon_add_locked(&o->events[ev], client_now_ms(c) / 1000, ns / 1000000);
	}
	env_mutex_unlock(&o->mu);
}

/* ---- SLOWLOG ------------------------------------------------------------------ */

static void slowlog_reply_arg(struct client *c, const struct slowlog_entry *e, uint32_t i)
{
	char text[SLOWLOG_ARG_BYTES + 48];
	if (i + 1 == SLOWLOG_ARGS_MAX && e->argc_orig > SLOWLOG_ARGS_MAX) {
		int n = snprintf(text, sizeof(text), "... (%llu more arguments)",
		                 (unsigned long long)(e->argc_orig - SLOWLOG_ARGS_MAX + 1));
		resp_w_bulk(&c->out, text, (size_t)n);
		return;
	}
	if (e->len_orig[i] == UINT32_MAX) {
		resp_w_bulk_cstr(&c->out, "(redacted)");
		return;
	}
	if (e->len_orig[i] <= SLOWLOG_ARG_BYTES) {
		resp_w_bulk(&c->out, e->arg[i], e->len[i]);
		return;
	}
	memcpy(text, e->arg[i], SLOWLOG_ARG_BYTES);
	int n =
	    snprintf(text + SLOWLOG_ARG_BYTES, sizeof(text) - SLOWLOG_ARG_BYTES,
	             "... (%lu more bytes)", (unsigned long)(e->len_orig[i] - SLOWLOG_ARG_BYTES));
	resp_w_bulk(&c->out, text, SLOWLOG_ARG_BYTES + (size_t)n);
}

static void slowlog_reply_entry(struct client *c, const struct slowlog_entry *e)
{
	resp_w_array(&c->out, 6);
	resp_w_int(&c->out, (int64_t)e->id);
	resp_w_int(&c->out, e->time_s);
	resp_w_int(&c->out, (int64_t)e->duration_us);
	resp_w_array(&c->out, e->argc);
	for (uint32_t i = 0; i < e->argc; i++)
		slowlog_reply_arg(c, e, i);
	resp_w_bulk_cstr(&c->out, e->addr);
	resp_w_bulk_cstr(&c->out, e->name);
}

static void slowlog_get(struct client *c)
{
	struct cmd_obs *o = c->node->obs;
	int64_t count = SLOWLOG_GET_DEFAULT;
	if (c->argc == 3) {
		if (!strconv_i64(c->argv[2], &count) || count < -1) {
			resp_w_error(&c->out, "ERR count should be greater than or equal to -1");
			return;
		}
	}
	env_mutex_lock(&o->mu);
	slowlog_resize_locked(o, (size_t)config_get(c->node->cfg, CFG_SLOWLOG_MAX_LEN));
	size_t n = count < 0 || (uint64_t)count > o->len ? o->len : (size_t)count;
	resp_w_array(&c->out, n);
	for (size_t i = 0; i < n; i++)
		slowlog_reply_entry(c, slowlog_at_locked(o, i));
	env_mutex_unlock(&o->mu);
}

static const struct subcmd slowlog_subs[] = {
    {"get", -2},
    {"len", 2},
    {"reset", 2},
    {"help", 2},
};

void cmd_slowlog(struct client *c)
{
	if (!subcmd_check(c, "slowlog", slowlog_subs, ARRAY_LEN(slowlog_subs)))
		return;
	struct cmd_obs *o = c->node->obs;
	struct bytes sub = c->argv[1];
	if (bytes_eq_nocase(sub, "get")) {
		if (c->argc > 3) {
			resp_w_error(&c->out,
			             "ERR wrong number of arguments for 'slowlog|get' command");
			return;
		}
		slowlog_get(c);
	} else if (bytes_eq_nocase(sub, "len")) {
		env_mutex_lock(&o->mu);
		slowlog_resize_locked(o, (size_t)config_get(c->node->cfg, CFG_SLOWLOG_MAX_LEN));
		size_t len = o->len;
		env_mutex_unlock(&o->mu);
		resp_w_int(&c->out, (int64_t)len);
	} else if (bytes_eq_nocase(sub, "reset")) {
		env_mutex_lock(&o->mu);
		o->len = 0;
		o->head = 0;
		env_mutex_unlock(&o->mu);
		resp_w_ok(&c->out);
	} else {
		static const char *const lines[] = {
		    "SLOWLOG <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
		    "GET [<count>]",
		    "    Return top <count> entries from the slowlog (default: 10, -1 mean all).",
		    "    Entries are made of:",
		    "    id, timestamp, time in microseconds, arguments array, client IP and port,",
		    "    client name",
		    "LEN",
		    "    Return the length of the slowlog.",
		    "RESET",
		    "    Reset the slowlog.",
		    "HELP",
		    "    Print this help.",
		};
		reply_lines(c, lines, ARRAY_LEN(lines));
	}
}

/* ---- LATENCY ------------------------------------------------------------------ */

static int latmon_find(struct bytes name)
{
	for (int i = 0; i < LATMON_EVENTS; i++)
		if (bytes_eq_nocase(name, latmon_names[i]))
			return i;
	return -1;
}

static void latency_latest(struct client *c)
{
	struct cmd_obs *o = c->node->obs;
	env_mutex_lock(&o->mu);
	size_t n = 0;
	for (int i = 0; i < LATMON_EVENTS; i++)
		n += o->events[i].count > 0;
	resp_w_array(&c->out, n);
	for (int i = 0; i < LATMON_EVENTS; i++) {
		const struct latmon_event *ev = &o->events[i];
		if (ev->count == 0)
			continue;
		uint32_t last = (ev->next + LATMON_SAMPLES - 1) % LATMON_SAMPLES;
		resp_w_array(&c->out, 4);
		resp_w_bulk_cstr(&c->out, latmon_names[i]);
		resp_w_int(&c->out, ev->s[last].time_s);
		resp_w_int(&c->out, (int64_t)ev->s[last].latency_ms);
		resp_w_int(&c->out, (int64_t)ev->max_ms);
	}
	env_mutex_unlock(&o->mu);
}

static void latency_history(struct client *c)
{
	struct cmd_obs *o = c->node->obs;
	int i = latmon_find(c->argv[2]);
	if (i < 0) {
		resp_w_array(&c->out, 0);
		return;
	}
	env_mutex_lock(&o->mu);
	const struct latmon_event *ev = &o->events[i];
	resp_w_array(&c->out, ev->count);
	uint32_t first = (ev->next + LATMON_SAMPLES - ev->count) % LATMON_SAMPLES;
	for (uint32_t k = 0; k < ev->count; k++) {
		uint32_t j = (first + k) % LATMON_SAMPLES;
		resp_w_array(&c->out, 2);
		resp_w_int(&c->out, ev->s[j].time_s);
		resp_w_int(&c->out, (int64_t)ev->s[j].latency_ms);
	}
	env_mutex_unlock(&o->mu);
}

static void latency_reset(struct client *c)
{
	struct cmd_obs *o = c->node->obs;
	int64_t resets = 0;
	env_mutex_lock(&o->mu);
	for (int i = 0; i < LATMON_EVENTS; i++) {
		bool named = c->argc == 2;
		for (size_t k = 2; k < c->argc && !named; k++)
			named = latmon_find(c->argv[k]) == i;
		if (!named || o->events[i].count == 0)
			continue;
		memset(&o->events[i], 0, sizeof(o->events[i]));
		resets++;
	}
	env_mutex_unlock(&o->mu);
	resp_w_int(&c->out, resets);
}

/* Merges a command's histograms over every thread into s. */
static void command_snapshot(struct node *n, size_t row, struct hist_snapshot *s)
{
	hist_snapshot_clear(s);
	for (unsigned t = 0; t < n->thread_count; t++) {
		const struct hist *h =
		    atomic_load_explicit(&n->threads[t].stats[row].latency, memory_order_acquire);
		if (h)
			hist_snapshot_add(s, h);
	}
}

/* Redis 7's LATENCY HISTOGRAM entry: calls, and the cumulative count at
 * every power-of-two microsecond bound where it grows. */
static void latency_histogram_one(struct client *c, size_t row, struct hist_snapshot *s)
{
	command_snapshot(c->node, row, s);
	uint64_t bounds[HIST_MAX_EXP], cum[HIST_MAX_EXP];
	size_t nb = 0;
	for (uint64_t us = 1; nb < HIST_MAX_EXP && us * 1000 <= HIST_VALUE_MAX; us <<= 1)
		bounds[nb++] = us * 1000 - 1; /* values below us microseconds */
	hist_cumulative(s, bounds, nb, cum);
	size_t shown = 0;
	uint64_t prev = 0;
	for (size_t k = 0; k < nb && prev < s->total; k++)
		if (cum[k] > prev) {
			shown++;
			prev = cum[k];
		}
	resp_w_bulk_cstr(&c->out, cmd_table[row].name);
	resp_w_map(&c->out, 2);
	resp_w_bulk_cstr(&c->out, "calls");
	resp_w_int(&c->out, (int64_t)s->total);
	resp_w_bulk_cstr(&c->out, "histogram_usec");
	resp_w_map(&c->out, shown);
	prev = 0;
	for (size_t k = 0; k < nb && prev < s->total; k++)
		if (cum[k] > prev) {
			resp_w_int(&c->out, (int64_t)((bounds[k] + 1) / 1000));
			resp_w_int(&c->out, (int64_t)cum[k]);
			prev = cum[k];
		}
}

static void latency_histogram(struct client *c)
{
	struct hist_snapshot *s = malloc(sizeof(*s));
	if (!s) {
		reply_nomem(c);
		return;
	}
	bool *want = calloc(cmd_table_len, sizeof(*want));
	if (!want) {
		free(s);
		reply_nomem(c);
		return;
	}
	size_t n = 0;
	for (size_t row = 0; row < cmd_table_len; row++) {
		bool named = c->argc == 2;
		for (size_t k = 2; k < c->argc && !named; k++)
			named = cmd_lookup(c->node, c->argv[k]) == &cmd_table[row];
		if (!named)
			continue;
		command_snapshot(c->node, row, s);
		if (s->total == 0)
			continue;
		want[row] = true;
		n++;
	}
	resp_w_map(&c->out, n);
	for (size_t row = 0; row < cmd_table_len; row++)
		if (want[row])
			latency_histogram_one(c, row, s);
	free(want);
	free(s);
}

static const struct subcmd latency_subs[] = {
    {"latest", 2}, {"history", 3}, {"reset", -2}, {"histogram", -2},
    {"doctor", 2}, {"graph", 3},   {"help", 2},
};

void cmd_latency(struct client *c)
{
	if (!subcmd_check(c, "latency", latency_subs, ARRAY_LEN(latency_subs)))
		return;
	struct bytes sub = c->argv[1];
	if (bytes_eq_nocase(sub, "latest")) {
		latency_latest(c);
	} else if (bytes_eq_nocase(sub, "history")) {
		latency_history(c);
	} else if (bytes_eq_nocase(sub, "reset")) {
		latency_reset(c);
	} else if (bytes_eq_nocase(sub, "histogram")) {
		latency_histogram(c);
	} else if (bytes_eq_nocase(sub, "doctor") || bytes_eq_nocase(sub, "graph")) {
		resp_w_errorf(&c->out,
		              "ERR LATENCY %s is not supported by ringkv; use LATENCY LATEST, "
		              "HISTORY or HISTOGRAM, or /metrics",
		              bytes_eq_nocase(sub, "doctor") ? "DOCTOR" : "GRAPH");
	} else {
		static const char *const lines[] = {
		    "LATENCY <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
		    "LATEST",
		    "    Return the latest latency samples for all events.",
		    "HISTORY <event>",
		    "    Return time-latency samples for the <event> class.",
		    "RESET [<event> ...]",
		    "    Reset latency data of one or more <event> classes.",
		    "    (default: reset all data for all event classes)",
		    "HISTOGRAM [COMMAND ...]",
		    "    Return a cumulative distribution of latencies in the format of a",
		    "    histogram for the specified command names.",
		    "    If no commands are specified then all histograms are replied.",
		    "HELP",
		    "    Print this help.",
		};
		reply_lines(c, lines, ARRAY_LEN(lines));
	}
}
