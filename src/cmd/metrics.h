/*
 * metrics.h - the node's counters rendered for people and scrapers: the
 * Prometheus text exposition (format 0.0.4) served on /metrics, and INFO's
 * latencystats and errorstats sections. See docs/observability.md for the
 * metric names.
 *
 * Rendering reads the per-thread counters and histograms with relaxed
 * loads and merges them; it takes no lock that a command takes, except
 * the keyspace stripes for one pass of key counts (as INFO does) and the
 * slow log's mutex for its length. It may run on any thread (the HTTP
 * thread for /metrics).
 */
#ifndef RINGKV_CMD_METRICS_H
#define RINGKV_CMD_METRICS_H

#include "base/buf.h"
#include "cmd/cmd.h"

/* Counters that the network layer keeps and passes in. */
struct metrics_net {
	uint64_t connections_received;
	uint64_t connections_rejected;
	uint64_t input_bytes;
	uint64_t output_bytes;
};

/* Appends the Prometheus text exposition of node n to out (net may be
 * NULL). Returns 0 or ERR_NOMEM (out then holds a partial page). */
int metrics_render(struct node *n, const struct metrics_net *net, struct buf *out);

/* INFO sections, header line included, in Redis 7's format:
 * "latency_percentiles_usec_<cmd>:p50=...,p99=...,p99.9=..." for the
 * percentiles of latency-tracking-info-percentiles, and
 * "errorstat_<CODE>:count=N". */
void metrics_info_latencystats(struct node *n, struct buf *out);
void metrics_info_errorstats(struct node *n, struct buf *out);

#endif
