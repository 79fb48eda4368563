/*
 * cmd_slowlog.h - what the dispatcher records about every command beyond
 * its counters: the per-thread latency histograms, error replies by code
 * (INFO errorstats), the slow log (SLOWLOG) and the latency monitor
 * (LATENCY). See docs/observability.md.
 *
 * Cost. obs_record_call() is inlined into cmd_call(): with the defaults it
 * is three relaxed config loads, one histogram increment (a load and a
 * store, no lock prefix) and two compares. Everything else happens only
 * when a command is slow, or replies an error:
 *   - a histogram is created by its thread on the command's first call
 *     (so a steady request loop does not allocate, and commands never
 *     used cost no memory);
 *   - the slow log and the latency monitor are shared by the node's
 *     threads under one mutex, taken only when a command crossed
 *     slowlog-log-slower-than or latency-monitor-threshold. The slow log's
 *     ring is allocated at start (slowlog-max-len entries of fixed size), so
 *     logging a slow command does not allocate either, until
 *     slowlog-max-len changes.
 *
 * Threads. Histograms and error tables have one writer, their thread;
 * readers (INFO, LATENCY HISTOGRAM, /metrics on the HTTP thread) use
 * relaxed loads, and acquire loads for the pointers and entry counts that
 * publish new objects.
 */
#ifndef RINGKV_CMD_CMD_SLOWLOG_H
#define RINGKV_CMD_CMD_SLOWLOG_H

#include "base/histogram.h"
#include "cmd/cmd.h"

/* Error codes tracked per thread; more distinct codes than this are
 * counted only in total_error_replies (Redis stops at 128; ringkv's own
 * replies use about ten). */
#define ERRSTAT_CODES_MAX  32
#define ERRSTAT_CODE_BYTES 24

struct cmd_errstats {
	atomic_uint used; /* entries published (release), never decreases */
	struct {
		char code[ERRSTAT_CODE_BYTES];
		atomic_uint_fast64_t count;
	} e[ERRSTAT_CODES_MAX];
};

/* Allocates n->obs (slow-log ring of slowlog-max-len entries, latency
 * monitor). ERR_NOMEM. */
int obs_node_init(struct node *n);
void obs_node_deinit(struct node *n);

/* Allocates t->errstats. ERR_NOMEM. */
int obs_thread_init(struct cmd_thread *t);
/* Frees t's error table and the histograms of every command. */
void obs_thread_deinit(struct cmd_thread *t);

/* Entries in the slow log now (for /metrics). */
size_t obs_slowlog_len(struct node *n);

/* Zeroes histograms and error counts of every thread (CONFIG RESETSTAT). */
void obs_reset_stats(struct node *n);

/* Counts the error reply that starts at reply[0] == '-' (len bytes from
 * there) under its code: the first word, as Redis's errorstats do. */
void obs_count_error(struct cmd_thread *t, const uint8_t *reply, size_t len);

/* Creates st's histogram on the owning thread; NULL when out of memory
 * (the call then goes unrecorded, and the next one tries again). */
struct hist *obs_hist_create(struct cmd_stat *st);

/* The slow path of obs_record_call: slow log and latency monitor. */
void obs_slow_call(struct client *c, const struct cmd_def *d, const struct bytes *argv, size_t argc,
                   uint64_t ns);

/* Records one executed command that took ns nanoseconds. argv/argc are
 * the command's own arguments, saved before it ran (EXEC replaces them). */
static inline void obs_record_call(struct client *c, const struct cmd_def *d, struct cmd_stat *st,
                                   const struct bytes *argv, size_t argc, uint64_t ns)
{
	const struct config *cfg = c->node->cfg;
	if (config_get(cfg, CFG_LATENCY_TRACKING)) {
		struct hist *h = atomic_load_explicit(&st->latency, memory_order_relaxed);
		if (UNLIKELY(!h))
			h = obs_hist_create(st);
		if (h)
			hist_record(h, ns);
	}
	int64_t slower_us = config_get(cfg, CFG_SLOWLOG_LOG_SLOWER_THAN);
	int64_t monitor_ms = config_get(cfg, CFG_LATENCY_MONITOR_THRESHOLD);
	if (UNLIKELY((slower_us >= 0 && ns / 1000 >= (uint64_t)slower_us) ||
	             (monitor_ms > 0 && ns / 1000000 >= (uint64_t)monitor_ms)))
		obs_slow_call(c, d, argv, argc, ns);
}

#endif
