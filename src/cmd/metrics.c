/*
 * metrics.c - Prometheus exposition and INFO latencystats/errorstats; see
 * metrics.h.
 *
 * Names follow Prometheus's conventions: a ringkv_ prefix, base units
 * (seconds, bytes), _total on counters, one HELP and TYPE per family. The
 * per-command latency histogram exports a fixed set of le bounds from 100 ns
 * to 10 s (1-2.5-5 per decade): enough to see a GET at a few microseconds
 * and a stall at seconds, at 26 series per command that has run. A bound's
 * cumulative count is exact to within the histogram bucket that straddles
 * it (1.6%; base/histogram.h).
 */
#include "cmd/metrics.h"

#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/err.h"
#include "base/histogram.h"
#include "cmd/cmd_slowlog.h"
#include "engine/engine_lsm.h"
#include "keyspace/keyspace.h"

#define RINGKV_VERSION       "0.1.0"
#define REDIS_COMPAT_VERSION "7.0.0"
#define PERCENTILES_MAX      16

static const struct {
	uint64_t ns;
	const char *le;
} le_bounds[] = {
    {100, "1e-07"},      {250, "2.5e-07"},    {500, "5e-07"},      {1000, "1e-06"},
    {2500, "2.5e-06"},   {5000, "5e-06"},     {10000, "1e-05"},    {25000, "2.5e-05"},
    {50000, "5e-05"},    {100000, "0.0001"},  {250000, "0.00025"}, {500000, "0.0005"},
    {1000000, "0.001"},  {2500000, "0.0025"}, {5000000, "0.005"},  {10000000, "0.01"},
    {25000000, "0.025"}, {50000000, "0.05"},  {100000000, "0.1"},  {250000000, "0.25"},
    {500000000, "0.5"},  {1000000000, "1"},   {2500000000, "2.5"}, {5000000000, "5"},
    {10000000000, "10"},
};
#define LE_COUNT (sizeof(le_bounds) / sizeof(le_bounds[0]))

/* Appends formatted text; a failed allocation is remembered in *rc. */
__attribute__((format(printf, 3, 4))) static void put(struct buf *b, int *rc, const char *fmt, ...)
{
	char line[512];
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	if (n < 0 || *rc != 0)
		return;
	size_t len = (size_t)n < sizeof(line) ? (size_t)n : sizeof(line) - 1;
	if (buf_reserve(b, len, SIZE_MAX) != 0) {
		*rc = ERR_NOMEM;
		return;
	}
	buf_put(b, line, len);
}

static void family(struct buf *b, int *rc, const char *name, const char *type, const char *help)
{
	put(b, rc, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

static void one(struct buf *b, int *rc, const char *name, const char *type, const char *help,
                uint64_t v)
{
	family(b, rc, name, type, help);
	put(b, rc, "%s %llu\n", name, (unsigned long long)v);
}

static void one_f(struct buf *b, int *rc, const char *name, const char *type, const char *help,
                  double v)
{
	family(b, rc, name, type, help);
	put(b, rc, "%s %.6f\n", name, v);
}

/* Copies a label value with Prometheus's escapes (\\, \", \n). */
static void label_escape(char *dst, size_t cap, const char *s)
{
	size_t n = 0;
	for (; *s && n + 3 < cap; s++) {
		if (*s == '\\' || *s == '"' || *s == '\n') {
			dst[n++] = '\\';
			dst[n++] = *s == '\n' ? 'n' : *s;
		} else {
			dst[n++] = *s;
		}
	}
	dst[n] = '\0';
}

static uint64_t thread_sum(struct node *n, size_t offset)
{
	uint64_t total = 0;
	for (unsigned i = 0; i < n->thread_count; i++) {
		const char *base = (const char *)&n->threads[i];
		total += atomic_load_explicit((atomic_uint_fast64_t *)(base + offset),
		                              memory_order_relaxed);
	}
	return total;
}

/* Sums one counter of command row over the threads. */
static uint64_t cmd_sum(struct node *n, size_t row, size_t offset)
{
	uint64_t total = 0;
	for (unsigned t = 0; t < n->thread_count; t++) {
		const char *base = (const char *)&n->threads[t].stats[row];
		total += atomic_load_explicit((atomic_uint_fast64_t *)(base + offset),
		                              memory_order_relaxed);
	}
	return total;
}

/* Merges a command's histograms over every thread; false if it has none. */
static bool cmd_snapshot(struct node *n, size_t row, struct hist_snapshot *s)
{
	bool any = false;
	hist_snapshot_clear(s);
	for (unsigned t = 0; t < n->thread_count; t++) {
		const struct hist *h =
		    atomic_load_explicit(&n->threads[t].stats[row].latency, memory_order_acquire);
		if (h) {
			hist_snapshot_add(s, h);
			any = true;
		}
	}
	return any && s->total > 0;
}

/* ---- Error codes merged over threads ----------------------------------------------- */

struct err_total {
	char code[ERRSTAT_CODE_BYTES];
	uint64_t count;
};

/* Fills out[] (cap ERRSTAT_CODES_MAX) with the codes of every thread;
 * returns how many. */
static size_t errors_merge(struct node *n, struct err_total *out)
{
	size_t len = 0;
	for (unsigned t = 0; t < n->thread_count; t++) {
		struct cmd_errstats *es = n->threads[t].errstats;
		unsigned used = es ? atomic_load_explicit(&es->used, memory_order_acquire) : 0;
		for (unsigned i = 0; i < used; i++) {
			uint64_t c = atomic_load_explicit(&es->e[i].count, memory_order_relaxed);
			size_t k = 0;
			while (k < len && strcmp(out[k].code, es->e[i].code) != 0)
				k++;
			if (k == len) {
				if (len == ERRSTAT_CODES_MAX)
					continue;
				memcpy(out[len].code, es->e[i].code, sizeof(out[len].code));
				out[len++].count = 0;
			}
			out[k].count += c;
		}
	}
	return len;
}

/* ---- INFO ---------------------------------------------------------------------------------- */

static void info_line(struct buf *b, const char *s, size_t len)
{
	if (buf_reserve(b, len + 2, SIZE_MAX) == 0) {
		buf_put(b, s, len);
		buf_put(b, "\r\n", 2);
	}
}

void metrics_info_errorstats(struct node *n, struct buf *out)
{
	struct err_total errs[ERRSTAT_CODES_MAX];
	size_t len = errors_merge(n, errs);
	info_line(out, "# Errorstats", 12);
	for (size_t i = 0; i < len; i++) {
		if (errs[i].count == 0)
			continue;
		char line[128];
		int w = snprintf(line, sizeof(line), "errorstat_%s:count=%llu", errs[i].code,
		                 (unsigned long long)errs[i].count);
		if (w > 0)
			info_line(out, line,
			          (size_t)w < sizeof(line) ? (size_t)w : sizeof(line) - 1);
	}
}

/* Parses latency-tracking-info-percentiles ("50 99 99.9"); words that are
 * not numbers in (0, 100] are skipped. */
static size_t parse_percentiles(struct node *n, double *p, char (*name)[24])
{
	char text[256];
	config_get_str(n->cfg, CFG_LATENCY_TRACKING_PERCENTILES, text, sizeof(text));
	size_t count = 0;
	for (char *save = NULL, *tok = strtok_r(text, " ", &save); tok && count < PERCENTILES_MAX;
	     tok = strtok_r(NULL, " ", &save)) {
		char *end;
		double v = strtod(tok, &end);
		if (*end != '\0' || !(v > 0.0 && v <= 100.0))
			continue;
		/* Redis's name: %f with the trailing zeros (and point) trimmed. */
		snprintf(name[count], sizeof(name[count]), "%f", v);
		char *dot = strchr(name[count], '.');
		if (dot) {
			char *z = name[count] + strlen(name[count]) - 1;
			while (z > dot && *z == '0')
				*z-- = '\0';
			if (z == dot)
				*z = '\0';
		}
		p[count++] = v;
	}
	return count;
}

void metrics_info_latencystats(struct node *n, struct buf *out)
{
	info_line(out, "# Latencystats", 14);
	double p[PERCENTILES_MAX];
	char names[PERCENTILES_MAX][24];
	size_t np = parse_percentiles(n, p, names);
	struct hist_snapshot *s = malloc(sizeof(*s));
	if (!s)
		return;
	for (size_t row = 0; row < cmd_table_len; row++) {
		if (!cmd_snapshot(n, row, s))
			continue;
		char line[1024];
		size_t len = (size_t)snprintf(line, sizeof(line),
		                              "latency_percentiles_usec_%s:", cmd_table[row].name);
		for (size_t k = 0; k < np && len < sizeof(line); k++) {
			int w = snprintf(line + len, sizeof(line) - len, "%sp%s=%.3f", k ? "," : "",
			                 names[k], (double)hist_percentile(s, p[k]) / 1000.0);
			if (w < 0)
				break;
			len += (size_t)w;
		}
		info_line(out, line, len < sizeof(line) ? len : sizeof(line) - 1);
	}
	free(s);
}

/* ---- Prometheus ------------------------------------------------------------------------- */

static void render_server(struct node *n, const struct metrics_net *net, struct buf *b, int *rc)
{
	int64_t now_ms = env_wall_ms();
	family(b, rc, "ringkv_build_info", "gauge",
	       "Version of ringkv and of Redis it is compatible with.");
	put(b, rc, "ringkv_build_info{version=\"%s\",redis_version=\"%s\"} 1\n", RINGKV_VERSION,
	    REDIS_COMPAT_VERSION);
	one_f(b, rc, "ringkv_uptime_seconds", "gauge", "Seconds since the server started.",
	      (double)(now_ms - n->start_ms) / 1000.0);
	one(b, rc, "ringkv_connected_clients", "gauge", "Client connections open now.",
	    n->hooks && n->hooks->client_count ? n->hooks->client_count(n) : 0);
	one(b, rc, "ringkv_maxclients", "gauge", "The maxclients setting.",
	    (uint64_t)config_get(n->cfg, CFG_MAXCLIENTS));
	if (net) {
		one(b, rc, "ringkv_connections_received_total", "counter",
		    "Client connections accepted.", net->connections_received);
		one(b, rc, "ringkv_rejected_connections_total", "counter",
		    "Client connections refused (maxclients, protected mode).",
		    net->connections_rejected);
		one(b, rc, "ringkv_net_input_bytes_total", "counter", "Bytes read from clients.",
		    net->input_bytes);
		one(b, rc, "ringkv_net_output_bytes_total", "counter", "Bytes written to clients.",
		    net->output_bytes);
	}
	int64_t user_us, sys_us;
	env_cpu_usage_us(&user_us, &sys_us);
	one_f(b, rc, "ringkv_cpu_user_seconds_total", "counter", "User CPU time of the process.",
	      (double)user_us / 1e6);
	one_f(b, rc, "ringkv_cpu_system_seconds_total", "counter",
	      "System CPU time of the process.", (double)sys_us / 1e6);
}

static void render_memory_keys(struct node *n, struct buf *b, int *rc)
{
	struct ks_stats st;
	ks_stats(n->ks, env_wall_ms(), &st);
	uint64_t rss = env_rss_bytes();
	/* The allocator's own count in every build (env_posix.c: jemalloc,
	 * the sanitizer allocator, or glibc). */
	uint64_t used = env_allocated_bytes();
	one(b, rc, "ringkv_memory_used_bytes", "gauge",
	    "Bytes allocated by the server (INFO used_memory).", used);
	one(b, rc, "ringkv_memory_rss_bytes", "gauge", "Resident set size (INFO used_memory_rss).",
	    rss);
	one(b, rc, "ringkv_memory_dataset_bytes", "gauge",
	    "Bytes of keys, values and their metadata (INFO used_memory_dataset).",
	    st.memory_bytes);
	one_f(b, rc, "ringkv_memory_fragmentation_ratio", "gauge",
	      "used_memory_rss / used_memory (INFO mem_fragmentation_ratio).",
	      used ? (double)rss / (double)used : 0.0);
	one(b, rc, "ringkv_keys", "gauge", "Keys stored now.", st.keys);
	one(b, rc, "ringkv_expiring_keys", "gauge", "Keys with a time to live.", st.volatile_keys);
	one(b, rc, "ringkv_expired_keys_total", "counter", "Keys deleted because they expired.",
	    st.expired_keys);
	one(b, rc, "ringkv_evicted_keys_total", "counter", "Keys evicted to stay under maxmemory.",
	    st.evicted_keys);
}

static void render_stats(struct node *n, struct buf *b, int *rc)
{
	one(b, rc, "ringkv_commands_processed_total", "counter",
	    "Commands received, including rejected ones.",
	    thread_sum(n, offsetof(struct cmd_thread, commands)));
	one(b, rc, "ringkv_instantaneous_ops_per_second", "gauge",
	    "Commands per second over the last 1.6 s.", cmd_node_ops_per_sec(n));
	one(b, rc, "ringkv_keyspace_hits_total", "counter", "Reads that found their key.",
	    thread_sum(n, offsetof(struct cmd_thread, hits)));
	one(b, rc, "ringkv_keyspace_misses_total", "counter", "Reads that did not find their key.",
	    thread_sum(n, offsetof(struct cmd_thread, misses)));
	one(b, rc, "ringkv_error_replies_total", "counter", "Error replies sent.",
	    thread_sum(n, offsetof(struct cmd_thread, errors)));
	struct err_total errs[ERRSTAT_CODES_MAX];
	size_t ne = errors_merge(n, errs);
	family(b, rc, "ringkv_errors_total", "counter", "Error replies by error code.");
	for (size_t i = 0; i < ne; i++) {
		char code[2 * ERRSTAT_CODE_BYTES];
		label_escape(code, sizeof(code), errs[i].code);
		put(b, rc, "ringkv_errors_total{code=\"%s\"} %llu\n", code,
		    (unsigned long long)errs[i].count);
	}
	one(b, rc, "ringkv_slowlog_length", "gauge", "Entries in the slow log.",
	    obs_slowlog_len(n));
}

/* Per-command counters: one family at a time, commands that ran only. */
static void render_command_counters(struct node *n, struct buf *b, int *rc)
{
	static const struct {
		const char *name, *help;
		size_t offset;
	} fams[] = {
	    {"ringkv_commands_total", "Calls of each command.", offsetof(struct cmd_stat, calls)},
	    {"ringkv_command_failed_calls_total", "Calls of each command that replied an error.",
	     offsetof(struct cmd_stat, failed)},
	    {"ringkv_command_rejected_calls_total",
	     "Calls of each command refused before running (arity, auth, ...).",
	     offsetof(struct cmd_stat, rejected)},
	};
	for (size_t f = 0; f < sizeof(fams) / sizeof(fams[0]); f++) {
		family(b, rc, fams[f].name, "counter", fams[f].help);
		for (size_t row = 0; row < cmd_table_len; row++) {
			uint64_t calls = cmd_sum(n, row, offsetof(struct cmd_stat, calls));
			uint64_t rejected = cmd_sum(n, row, offsetof(struct cmd_stat, rejected));
			if (calls == 0 && rejected == 0)
				continue;
			put(b, rc, "%s{cmd=\"%s\"} %llu\n", fams[f].name, cmd_table[row].name,
			    (unsigned long long)cmd_sum(n, row, fams[f].offset));
		}
	}
	family(b, rc, "ringkv_command_seconds_total", "counter",
	       "Time spent executing each command.");
	for (size_t row = 0; row < cmd_table_len; row++) {
		uint64_t calls = cmd_sum(n, row, offsetof(struct cmd_stat, calls));
		if (calls == 0)
			continue;
		put(b, rc, "ringkv_command_seconds_total{cmd=\"%s\"} %.9f\n", cmd_table[row].name,
		    (double)cmd_sum(n, row, offsetof(struct cmd_stat, ns)) / 1e9);
	}
}

static void render_histograms(struct node *n, struct buf *b, int *rc)
{
	struct hist_snapshot *s = malloc(sizeof(*s));
	if (!s) {
		*rc = ERR_NOMEM;
		return;
	}
	uint64_t bounds[LE_COUNT], cum[LE_COUNT];
	for (size_t k = 0; k < LE_COUNT; k++)
		bounds[k] = le_bounds[k].ns;
	family(b, rc, "ringkv_command_duration_seconds", "histogram",
	       "Execution time of each command (latency-tracking).");
	for (size_t row = 0; row < cmd_table_len; row++) {
		if (!cmd_snapshot(n, row, s))
			continue;
		const char *name = cmd_table[row].name;
		hist_cumulative(s, bounds, LE_COUNT, cum);
		for (size_t k = 0; k < LE_COUNT; k++)
			put(b, rc,
			    "ringkv_command_duration_seconds_bucket{cmd=\"%s\",le=\"%s\"} %llu\n",
			    name, le_bounds[k].le, (unsigned long long)cum[k]);
		put(b, rc, "ringkv_command_duration_seconds_bucket{cmd=\"%s\",le=\"+Inf\"} %llu\n",
		    name, (unsigned long long)s->total);
		put(b, rc, "ringkv_command_duration_seconds_sum{cmd=\"%s\"} %.9f\n", name,
		    (double)s->sum / 1e9);
		put(b, rc, "ringkv_command_duration_seconds_count{cmd=\"%s\"} %llu\n", name,
		    (unsigned long long)s->total);
	}
	free(s);
}

/* The durable engine's figures (INFO engine and persistence). */
static void render_engine(struct node *n, struct buf *b, int *rc)
{
	struct lsm *db = engine_lsm_store(ks_engine(n->ks));
	if (!db)
		return;
	struct lsm_stats st;
	lsm_stats(db, &st);
	one(b, rc, "ringkv_engine_memtable_bytes", "gauge",
	    "Bytes in the memtables (mutable and immutable).", st.mem_bytes + st.imm_bytes);
	family(b, rc, "ringkv_engine_level_files", "gauge", "Tables per LSM level.");
	for (int l = 0; l < LSM_LEVELS; l++)
		put(b, rc, "ringkv_engine_level_files{level=\"%d\"} %llu\n", l,
		    (unsigned long long)st.level_file_count[l]);
	family(b, rc, "ringkv_engine_level_bytes", "gauge", "Table bytes per LSM level.");
	for (int l = 0; l < LSM_LEVELS; l++)
		put(b, rc, "ringkv_engine_level_bytes{level=\"%d\"} %llu\n", l,
		    (unsigned long long)st.level_bytes[l]);
	one(b, rc, "ringkv_engine_flushes_total", "counter", "Memtables flushed to tables.",
	    st.flush_count);
	one(b, rc, "ringkv_engine_compactions_total", "counter", "Compactions done.",
	    st.compaction_count);
	one(b, rc, "ringkv_engine_compaction_read_bytes_total", "counter",
	    "Bytes compactions read.", st.compaction_read_bytes);
	one(b, rc, "ringkv_engine_compaction_write_bytes_total", "counter",
	    "Bytes compactions wrote.", st.compaction_write_bytes);
	one(b, rc, "ringkv_engine_user_bytes_total", "counter",
	    "Bytes of keys and values written by clients.", st.user_bytes);
	one(b, rc, "ringkv_engine_wal_bytes_total", "counter", "Bytes written to the WAL.",
	    st.wal_bytes);
	one(b, rc, "ringkv_engine_blob_bytes_total", "counter", "Bytes written to blob files.",
	    st.blob_bytes);
	one_f(b, rc, "ringkv_engine_write_amplification", "gauge",
	      "Bytes written to disk per byte written by clients.", st.write_amp);
	one(b, rc, "ringkv_engine_block_cache_capacity_bytes", "gauge", "Block cache capacity.",
	    st.cache_capacity_bytes);
	one(b, rc, "ringkv_engine_block_cache_used_bytes", "gauge", "Block cache bytes in use.",
	    st.cache_usage_bytes);
	one(b, rc, "ringkv_engine_block_cache_hits_total", "counter", "Block cache hits.",
	    st.cache_hits);
	one(b, rc, "ringkv_engine_block_cache_misses_total", "counter", "Block cache misses.",
	    st.cache_misses);
	one(b, rc, "ringkv_engine_write_stalls_total", "counter",
	    "Writes that waited for a flush to make room.", st.stall_count);
	one(b, rc, "ringkv_engine_failed", "gauge",
	    "1 when the engine refuses writes after an I/O error.", st.failed ? 1 : 0);
	struct hist_snapshot *h = malloc(sizeof(*h));
	if (!h) {
		*rc = ERR_NOMEM;
		return;
	}
	lsm_stats_wal_sync_hist(db, h);
	uint64_t bounds[LE_COUNT], cum[LE_COUNT];
	for (size_t k = 0; k < LE_COUNT; k++)
		bounds[k] = le_bounds[k].ns;
	hist_cumulative(h, bounds, LE_COUNT, cum);
	family(b, rc, "ringkv_engine_wal_fsync_seconds", "histogram",
	       "Duration of each fdatasync of the WAL.");
	for (size_t k = 0; k < LE_COUNT; k++)
		put(b, rc, "ringkv_engine_wal_fsync_seconds_bucket{le=\"%s\"} %llu\n",
		    le_bounds[k].le, (unsigned long long)cum[k]);
	put(b, rc, "ringkv_engine_wal_fsync_seconds_bucket{le=\"+Inf\"} %llu\n",
	    (unsigned long long)h->total);
	put(b, rc, "ringkv_engine_wal_fsync_seconds_sum %.9f\n", (double)h->sum / 1e9);
	put(b, rc, "ringkv_engine_wal_fsync_seconds_count %llu\n", (unsigned long long)h->total);
	free(h);
}

/* Coordinator latency, siblings and hinted handoff (INFO cluster). */
static void render_cluster_latency(const struct cluster_view *v, struct buf *b, int *rc)
{
	family(b, rc, "ringkv_cluster_request_seconds", "summary",
	       "Latency of requests this node coordinated, by operation and quorum (R or W).");
	static const char *const qs[CLUSTER_LAT_QUORUMS] = {"1", "2", "3", "4+"};
	for (unsigned k = 0; k < CLUSTER_LAT_OPS; k++)
		for (unsigned q = 0; q < CLUSTER_LAT_QUORUMS; q++) {
			const struct cluster_latency *l = &v->latency[k][q];
			if (!l->count)
				continue;
			const char *op = cluster_op_name((enum cluster_op_kind)k);
			const struct {
				const char *name;
				uint64_t ns;
			} pts[] = {{"0.5", l->p50_ns}, {"0.99", l->p99_ns}, {"0.999", l->p999_ns}};
			for (size_t i = 0; i < ARRAY_LEN(pts); i++)
				put(b, rc,
				    "ringkv_cluster_request_seconds{op=\"%s\",quorum=\"%s\",quantile=\"%s\"} "
				    "%.9f\n",
				    op, qs[q], pts[i].name, (double)pts[i].ns / 1e9);
			put(b, rc, "ringkv_cluster_request_seconds_sum{op=\"%s\",quorum=\"%s\"} %.9f\n", op,
			    qs[q], (double)l->sum_ns / 1e9);
			put(b, rc, "ringkv_cluster_request_seconds_count{op=\"%s\",quorum=\"%s\"} %llu\n",
			    op, qs[q], (unsigned long long)l->count);
		}
}

/* One gauge per member (label target): its hints, or their bytes. */
static void member_gauge(struct buf *b, int *rc, const struct cluster_view *v, const char *name,
                         const char *help, bool bytes)
{
	family(b, rc, name, "gauge", help);
	for (size_t i = 0; i < v->count; i++) {
		char target[2 * MEMBER_NAME_BYTES];
		label_escape(target, sizeof(target), v->rows[i].name);
		put(b, rc, "%s{target=\"%s\"} %llu\n", name, target,
		    (unsigned long long)(bytes ? v->rows[i].hint_bytes : v->rows[i].hints));
	}
}

/* The cluster's counters and gauges: one row each, read from the view. */
static const struct {
	const char *name, *type, *help;
	size_t offset; /* of a uint64_t in struct cluster_view */
} cluster_series[] = {
#define CV(field) offsetof(struct cluster_view, field)
    {"ringkv_cluster_ring_version", "gauge", "Version of the ring this node holds.",
     CV(ring_version)},
    {"ringkv_cluster_suspicions_total", "counter",
     "Members this node suspected after a failed probe.", CV(suspicions)},
    {"ringkv_cluster_refutations_total", "counter", "Suspicions of this node that it refuted.",
     CV(refutations)},
    {"ringkv_cluster_members_marked_down_total", "counter", "Members this node marked down.",
     CV(downs)},
    {"ringkv_cluster_internode_received_bytes_total", "counter",
     "Bytes received from other members.", CV(bytes_in)},
    {"ringkv_cluster_internode_sent_bytes_total", "counter", "Bytes sent to other members.",
     CV(bytes_out)},
    {"ringkv_cluster_internode_dropped_messages_total", "counter",
     "Internode messages dropped (peer unreachable or its queue full).", CV(dropped)},
    {"ringkv_cluster_coordinated_requests_total", "counter",
     "Client requests this node coordinated.", CV(requests)},
    {"ringkv_cluster_forwarded_writes_total", "counter",
     "Writes forwarded to a replica because this node holds none of the key.", CV(forwarded)},
    {"ringkv_cluster_quorum_failures_total", "counter",
     "Requests that failed their quorum (NOQUORUM, replica limits, errors).",
     CV(quorum_failures)},
    {"ringkv_cluster_read_repairs_total", "counter", "Read-repair writes sent to stale replicas.",
     CV(read_repairs)},
    {"ringkv_cluster_requests_in_flight", "gauge", "Coordinated requests waiting for replicas.",
     CV(inflight)},
    {"ringkv_cluster_replica_requests_total", "counter",
     "Replica requests from other coordinators served here.", CV(replica_requests)},
    {"ringkv_cluster_replica_errors_total", "counter",
     "Replica requests served here that failed (malformed, disk, limits, hints refused).",
     CV(replica_errors)},
    {"ringkv_cluster_late_forwards_refused_total", "counter",
     "Forwarded writes refused because they arrived after their deadline, and replica "
     "messages older than the tombstone grace.",
     CV(late_forwards)},
    {"ringkv_cluster_tombstone_scan_keys_total", "counter",
     "Keys the tombstone collector examined.", CV(gc_examined)},
    {"ringkv_cluster_tombstones_collected_total", "counter",
     "Tombstones dropped once every replica held them and the grace had passed.",
     CV(gc_collected)},
    {"ringkv_cluster_tombstone_checks_blocked_total", "counter",
     "Tombstone checks that could not pass (a replica down, silent or different).",
     CV(gc_blocked)},
    {"ringkv_cluster_sibling_reads_total", "counter",
     "Reads that met more than one concurrent value (sibling) of a key.", CV(sibling_reads)},
    {"ringkv_cluster_siblings_max", "gauge", "Most siblings one read has met since start-up.",
     CV(siblings_max)},
    {"ringkv_cluster_sibling_warnings_total", "counter",
     "Reads that met cluster-siblings-warn siblings or more.", CV(sibling_warnings)},
    {"ringkv_cluster_hints_stored_total", "counter",
     "Writes this node took as a fallback for a down replica.", CV(hints_stored)},
    {"ringkv_cluster_hints_refused_total", "counter",
     "Hints refused: the down replica's backlog was at cluster-hint-max-bytes.",
     CV(hints_refused)},
    {"ringkv_cluster_hints_delivered_total", "counter", "Hints handed back to their replica.",
     CV(hints_delivered)},
    {"ringkv_cluster_hints_expired_total", "counter", "Hints dropped after cluster-hint-max-age.",
     CV(hints_expired)},
    {"ringkv_cluster_hints_dropped_total", "counter",
     "Hints their replica refused at the key's sibling limit, dropped.", CV(hints_dropped)},
    {"ringkv_cluster_hints_corrupt_total", "counter",
     "Damaged hint records skipped at start-up.", CV(hints_corrupt)},
#undef CV
};

/* The cluster's membership, data path and handoff (INFO cluster). */
static void render_cluster(struct node *n, struct buf *b, int *rc)
{
	if (!n->cluster)
		return;
	struct cluster_view *v = malloc(sizeof(*v));
	if (!v) {
		*rc = ERR_NOMEM;
		return;
	}
	n->cluster->view(n->cluster_ctx, v);
	uint64_t by_state[4] = {0};
	for (size_t i = 0; i < v->count; i++)
		if ((unsigned)v->rows[i].status < 4)
			by_state[v->rows[i].status]++;
	static const char *const names[4] = {"up", "suspect", "down", "left"};
	family(b, rc, "ringkv_cluster_members", "gauge", "Members by state, as this node sees them.");
	for (int s = 0; s < 4; s++)
		put(b, rc, "ringkv_cluster_members{state=\"%s\"} %llu\n", names[s],
		    (unsigned long long)by_state[s]);
	for (size_t i = 0; i < ARRAY_LEN(cluster_series); i++) {
		uint64_t x;
		memcpy(&x, (const char *)v + cluster_series[i].offset, sizeof(x));
		one(b, rc, cluster_series[i].name, cluster_series[i].type, cluster_series[i].help, x);
	}
	one_f(b, rc, "ringkv_cluster_replication_lag_seconds", "gauge",
	      "Age of the oldest hint not yet handed back (0: none pending).",
	      (double)v->hint_lag_ms / 1000.0);
	member_gauge(b, rc, v, "ringkv_cluster_hints_pending",
	             "Hints held for each member, waiting for it to come back.", false);
	member_gauge(b, rc, v, "ringkv_cluster_hint_bytes_pending",
	             "Bytes of hints held for each member.", true);
	render_cluster_latency(v, b, rc);
	free(v);
}

int metrics_render(struct node *n, const struct metrics_net *net, struct buf *out)
{
	int rc = 0;
	render_server(n, net, out, &rc);
	render_memory_keys(n, out, &rc);
	render_stats(n, out, &rc);
	render_command_counters(n, out, &rc);
	render_histograms(n, out, &rc);
	render_engine(n, out, &rc);
	render_cluster(n, out, &rc);
	return rc;
}
