/*
 * config.c - the settings table and its parsers; see config.h.
 */
#include "base/config.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/err.h"
#include "base/limits.h"

static const char *const loglevel_names[] = {"debug", "verbose", "notice", "warning", NULL};
/* In the order of enum cfg_engine and enum cfg_fsync. */
static const char *const engine_names[] = {"memory", "lsm", NULL};
static const char *const fsync_names[] = {"always", "everysec", "no", NULL};
static const char *const compression_names[] = {"none", "lz4", "zstd", NULL};
/* In the order of enum cfg_debug_command. */
static const char *const debug_command_names[] = {"no", "yes", "local", NULL};
static const char *const conflicts_names[] = {"siblings", "lww", NULL};
/* In the order of enum evict_policy (keyspace/evict.h checks it). */
static const char *const maxmemory_policy_names[] = {
    "noeviction",      "allkeys-lru",  "allkeys-lfu",
    "allkeys-random",  "volatile-lru", "volatile-lfu",
    "volatile-random", "volatile-ttl", NULL};

#define INT(n, f, d, lo, hi, h)                                                                    \
	{                                                                                          \
		n, CFG_T_INT, f, d, lo, hi, NULL, NULL, h                                          \
	}
#define BYTES(n, f, d, lo, hi, h)                                                                  \
	{                                                                                          \
		n, CFG_T_BYTES, f, d, lo, hi, NULL, NULL, h                                        \
	}
#define BOOL(n, f, d, h)                                                                           \
	{                                                                                          \
		n, CFG_T_BOOL, f, d, 0, 1, NULL, NULL, h                                           \
	}
#define STR(n, f, d, h)                                                                            \
	{                                                                                          \
		n, CFG_T_STRING, f, 0, 0, 0, d, NULL, h                                            \
	}
#define ENUM(n, f, d, names, h)                                                                    \
	{                                                                                          \
		n, CFG_T_ENUM, f, d, 0, 0, NULL, names, h                                          \
	}

const struct cfg_def cfg_defs[CFG_COUNT] = {
    [CFG_PORT] = INT("port", 0, 6380, 0, 65535, "TCP port for clients"),
    [CFG_BIND] = STR("bind", 0, "127.0.0.1", "address to listen on"),
    [CFG_DIR] = STR("dir", 0, ".", "data directory"),
    [CFG_THREADS] = INT("threads", 0, 0, 1, THREADS_MAX, "event-loop threads (default: cores)"),
    [CFG_LOGFILE] = STR("logfile", 0, "", "log file (empty: stderr)"),
    [CFG_LOGLEVEL] =
        ENUM("loglevel", CFG_F_RUNTIME, 2, loglevel_names, "debug, verbose, notice or warning"),
    [CFG_REQUIREPASS] =
        STR("requirepass", CFG_F_RUNTIME | CFG_F_SECRET, "", "password for AUTH (empty: none)"),
    [CFG_PROTECTED_MODE] = BOOL("protected-mode", CFG_F_RUNTIME, 1,
                                "refuse non-loopback clients while no password is set"),
    [CFG_MAXCLIENTS] = INT("maxclients", CFG_F_RUNTIME, CLIENTS_DEFAULT, 1, CLIENTS_MAX,
                           "most concurrent clients"),
    [CFG_TIMEOUT] = INT("timeout", CFG_F_RUNTIME, 0, 0, INT32_MAX,
                        "close clients idle this many seconds (0: never)"),
    [CFG_HZ] = INT("hz", CFG_F_RUNTIME, EXPIRE_HZ, 1, 500, "background task frequency"),
    [CFG_PROTO_MAX_BULK_LEN] = BYTES("proto-max-bulk-len", CFG_F_RUNTIME, VALUE_BYTES_DEFAULT, 1024,
                                     VALUE_BYTES_MAX, "largest value / bulk string"),
    [CFG_CLIENT_QUERY_BUFFER_LIMIT] =
        BYTES("client-query-buffer-limit", CFG_F_RUNTIME, QUERY_BYTES_DEFAULT, 1024 * 1024 / 64,
              QUERY_BYTES_MAX, "unparsed bytes held per client"),
    [CFG_KEY_MAX_BYTES] =
        BYTES("key-max-bytes", CFG_F_RUNTIME, KEY_BYTES_DEFAULT, 1, KEY_BYTES_MAX, "largest key"),
    [CFG_MAX_ARGS] = INT("max-args-per-command", CFG_F_RUNTIME, ARGS_DEFAULT, 3, ARGS_MAX,
                         "most arguments in one command"),
    [CFG_INLINE_MAX_BYTES] = BYTES("inline-max-bytes", CFG_F_RUNTIME, INLINE_BYTES_DEFAULT, 64,
                                   INLINE_BYTES_MAX, "longest inline command line"),
    [CFG_CLIENT_OUTPUT_MAX_BYTES] =
        BYTES("client-output-max-bytes", CFG_F_RUNTIME, OUTPUT_BYTES_DEFAULT, 1024 * 1024,
              OUTPUT_BYTES_MAX, "pending reply bytes before a client is dropped"),
    [CFG_CLIENT_OUTPUT_STALL_MS] =
        INT("client-output-stall-ms", CFG_F_RUNTIME, OUTPUT_STALL_MS_DEFAULT, 100, INT32_MAX,
            "drop a client whose replies do not drain for this long"),
    [CFG_ACTIVE_EXPIRE] = BOOL("active-expire", CFG_F_RUNTIME, 1, "background expiry cycle"),
    [CFG_ENGINE] = ENUM("engine", 0, CFG_ENGINE_LSM, engine_names,
                        "storage engine: lsm (durable) or memory (cache)"),
    [CFG_TCP_BACKLOG] = INT("tcp-backlog", 0, 511, 1, 65535, "listen() backlog"),
    [CFG_BUSY_POLL_US] = INT("busy-poll-us", CFG_F_RUNTIME, 50, 0, 10000,
                             "poll this long before sleeping after a busy turn (0: off)"),
    /* Observability (docs/observability.md). A slow-log entry keeps at most
     * 32 arguments of 128 bytes (~4.6 KiB), so 10000 entries bound it at ~46 MB. */
    [CFG_LATENCY_TRACKING] =
        BOOL("latency-tracking", CFG_F_RUNTIME, 1, "per-command latency histograms"),
    [CFG_LATENCY_TRACKING_PERCENTILES] =
        STR("latency-tracking-info-percentiles", CFG_F_RUNTIME, "50 95 99 99.9",
            "percentiles shown by INFO latencystats"),
    [CFG_SLOWLOG_LOG_SLOWER_THAN] =
        INT("slowlog-log-slower-than", CFG_F_RUNTIME, 10000, -1, INT32_MAX,
            "log commands slower than this many us (-1: off, 0: all)"),
    [CFG_SLOWLOG_MAX_LEN] =
        INT("slowlog-max-len", CFG_F_RUNTIME, 128, 0, 10000, "entries kept in the slow log"),
    [CFG_LATENCY_MONITOR_THRESHOLD] =
        INT("latency-monitor-threshold", CFG_F_RUNTIME, 0, 0, INT32_MAX,
            "record latency events of at least this many ms (0: off)"),
    [CFG_HTTP_PORT] =
        INT("http-port", 0, 9380, 0, 65535, "HTTP port for /metrics and /health (0: off)"),
    /* Memory limits and eviction (docs/memory.md); names and defaults as Redis's. */
    [CFG_MAXMEMORY] = BYTES("maxmemory", CFG_F_RUNTIME, 0, 0, MAXMEMORY_BYTES_MAX,
                            "evict or refuse writes above this many bytes (0: no limit)"),
    [CFG_MAXMEMORY_POLICY] = ENUM("maxmemory-policy", CFG_F_RUNTIME, 0, maxmemory_policy_names,
                                  "what to do at maxmemory: noeviction, allkeys-lru, ..."),
    [CFG_MAXMEMORY_SAMPLES] =
        INT("maxmemory-samples", CFG_F_RUNTIME, 5, 1, 64, "keys sampled per eviction round"),
    [CFG_LFU_LOG_FACTOR] = INT("lfu-log-factor", CFG_F_RUNTIME, 10, 0, INT32_MAX,
                               "LFU counter growth: higher needs more hits per step"),
    [CFG_LFU_DECAY_TIME] = INT("lfu-decay-time", CFG_F_RUNTIME, 1, 0, INT32_MAX,
                               "minutes per LFU counter decrement (0: never decays)"),
    /* The durable engine (docs/storage.md). */
    [CFG_FSYNC] = ENUM("fsync", 0, CFG_FSYNC_EVERYSEC, fsync_names,
                       "WAL sync before a write is acknowledged: always, everysec or no"),
    /* A memtable rotates at 64 MiB (the engine's default) or 128 Ki
     * entries, whichever comes first. A skip-list insert into a memtable
     * of many small entries is most of a SET's cost (cache misses): 128 Ki
     * is what the earlier 16 MiB default held with 64 B values, where SET
     * at pipeline 1 ran ~10% faster than at 64 MiB. With 1 KiB values
     * (60 Ki entries in 64 MiB) 16 MiB flushes filled L0 four times as
     * fast: L0 compactions rewrote L1 for fewer flushes each and writers
     * stalled behind them, 16-30 s in a 1M-SET run (docs/benchmarks.md). */
    [CFG_MEMTABLE_BYTES] = BYTES("memtable-bytes", 0, 64 * 1024 * 1024, 64 * 1024,
                                 MEMTABLE_BYTES_MAX, "memtable size before a flush"),
    [CFG_MEMTABLE_ENTRIES] = INT("memtable-entries", 0, 128 * 1024, 0, INT32_MAX,
                                 "memtable entries before a flush (0: bytes only)"),
    [CFG_BLOCK_CACHE_BYTES] = BYTES("block-cache-bytes", 0, BLOCK_CACHE_BYTES_DEFAULT, 1024 * 1024,
                                    MAXMEMORY_BYTES_MAX, "cache of table blocks"),
    [CFG_ROW_CACHE_BYTES] = BYTES("row-cache-bytes", 0, GIB, 0, MAXMEMORY_BYTES_MAX,
                                  "cache of recently used entries in front of the store (0: none)"),
    [CFG_BLOB_THRESHOLD] = BYTES("blob-threshold", 0, BLOB_THRESHOLD, 64, VALUE_BYTES_MAX,
                                 "values of this size or more go to blob files"),
    /* lz4 by default, as LevelDB and RocksDB compress by default (snappy):
     * a block that does not shrink by an eighth is stored as it is, so
     * incompressible data costs one failed lz4 pass per block written. */
    [CFG_COMPRESSION] = ENUM("compression", 0, CFG_COMPRESSION_LZ4, compression_names,
                             "table data blocks: none, lz4 or zstd"),
    /* 19: request threads preempt flushes and compactions at once on a
     * shared CPU; the engine goes back to 0 while they fall behind
     * (lsm_flush.c says why, docs/benchmarks.md has the figures). */
    [CFG_BACKGROUND_NICE] = INT("background-nice", 0, LSM_BACKGROUND_NICE_MAX, 0, LSM_BACKGROUND_NICE_MAX,
                                "nice value of flushes and compactions while they keep up (0: none)"),
    [CFG_COMPACTION_RATE] = BYTES("compaction-rate", 0, 0, 0, MAXMEMORY_BYTES_MAX,
                                  "compaction write limit in bytes per second (0: none)"),
    [CFG_SALVAGE] = BOOL("salvage", 0, 0,
                         "start past corrupt WAL/manifest records, dropping them (logged)"),
    [CFG_CHECKPOINT_KEEP] = INT("checkpoint-keep", CFG_F_RUNTIME, 2, 0, 1000,
                                "SAVE/BGSAVE checkpoints kept in dir/checkpoints (0: all)"),
    /* The cluster (docs/cluster.md). Empty cluster-name: a node alone, as
     * before, with no internode port. */
    [CFG_CLUSTER_NAME] = STR("cluster-name", 0, "", "cluster to form or join (empty: none)"),
    [CFG_NODE_NAME] = STR("node-name", 0, "", "this node's name in the cluster (default: bind:port)"),
    [CFG_JOIN] = STR("join", 0, "", "internode address (host:port) of a member to join through"),
    [CFG_CLUSTER_PORT] = INT("cluster-port", 0, 0, 0, 65535,
                             "internode port (0: port + 10000)"),
    [CFG_ZONE] = STR("zone", 0, "", "failure zone (replicas spread over zones)"),
    [CFG_WEIGHT] = INT("weight", 0, 1, 1, 1000, "share of partitions, relative to the others"),
    [CFG_CLUSTER_PARTITIONS] = INT("cluster-partitions", 0, 256, 8, 65536,
                                   "partitions of the ring (a power of two, fixed at creation)"),
    /* Dynamo's common N=3, R=2, W=2: R + W > N, so a read meets every
     * acknowledged write while one replica is down. */
    [CFG_CLUSTER_N] = INT("cluster-n", CFG_F_RUNTIME, 3, 1, RING_REPLICAS_MAX,
                          "replicas of each key (per request: N option)"),
    [CFG_CLUSTER_R] = INT("cluster-r", CFG_F_RUNTIME, 2, 1, RING_REPLICAS_MAX,
                          "replica answers a read waits for (per request: R option)"),
    [CFG_CLUSTER_W] = INT("cluster-w", CFG_F_RUNTIME, 2, 1, RING_REPLICAS_MAX,
                          "durable replica acknowledgements a write waits for (W option)"),
    [CFG_CLUSTER_TIMEOUT] = INT("cluster-timeout", CFG_F_RUNTIME, 1000, 10, 600000,
                                "ms a cluster read or write waits for its quorum (-NOQUORUM)"),
    [CFG_CLUSTER_CONFLICTS] = ENUM("cluster-conflicts", CFG_F_RUNTIME, CFG_CONFLICTS_SIBLINGS,
                                   conflicts_names,
                                   "concurrent writes: siblings (kept, GETV) or lww"),
    /* Dynamo's sloppy quorum: a write whose preferred replica is down goes
     * to the next healthy node with a hint, handed back when the owner
     * returns. Hints wait at most a bounded time and space per owner
     * (Cassandra keeps them 3 hours by default); past either the owner
     * catches up by read repair instead. */
    [CFG_CLUSTER_SLOPPY] = BOOL("cluster-sloppy-quorum", CFG_F_RUNTIME, 1,
                                "down replicas replaced by fallbacks holding hints (per request: "
                                "STRICT/SLOPPY)"),
    [CFG_CLUSTER_HINT_MAX_BYTES] = BYTES("cluster-hint-max-bytes", CFG_F_RUNTIME,
                                         HINTLOG_PENDING_BYTES_DEFAULT, MIB,
                                         HINTLOG_PENDING_BYTES_MAX,
                                         "hints kept for one down node, in bytes"),
    [CFG_CLUSTER_HINT_MAX_AGE] = INT("cluster-hint-max-age", CFG_F_RUNTIME,
                                     HINTLOG_MAX_AGE_S_DEFAULT, 1, HINTLOG_MAX_AGE_S_MAX,
                                     "seconds a hint waits for its owner"),
    [CFG_CLUSTER_HANDOFF_RATE] = INT("cluster-handoff-rate", CFG_F_RUNTIME, 2000, 1, 1000000,
                                     "hints handed back per second to a returning node"),
    [CFG_CLUSTER_SIBLINGS_WARN] = INT("cluster-siblings-warn", CFG_F_RUNTIME, DVV_SIBLINGS_WARN,
                                      1, DVV_SIBLINGS_MAX,
                                      "siblings of one key that make a read log a warning"),
    /* A tombstone is dropped once older than this and held (or nothing)
     * by every replica of its key; never sooner than a hint may wait. */
    [CFG_CLUSTER_TOMBSTONE_GRACE] = INT("cluster-tombstone-grace", CFG_F_RUNTIME,
                                        TOMBSTONE_GRACE_S_DEFAULT, 1, TOMBSTONE_GRACE_S_MAX,
                                        "seconds a delete's tombstone is kept at least"),
    [CFG_CLUSTER_TOMBSTONE_SCAN_RATE] = INT("cluster-tombstone-scan-rate", CFG_F_RUNTIME,
                                            GC_SCAN_RATE_DEFAULT, 0, GC_SCAN_RATE_MAX,
                                            "keys examined per second for old tombstones "
                                            "(0: never collect)"),
    /* As Redis 7: DEBUG is off unless the operator enables it at start-up,
     * since it can block the server (DEBUG SLEEP). */
    [CFG_ENABLE_DEBUG_COMMAND] = ENUM("enable-debug-command", 0, CFG_DEBUG_COMMAND_NO,
                                      debug_command_names,
                                      "allow DEBUG: no, yes, or local (loopback clients)"),
    [CFG_SAVE] = STR("save", CFG_F_READONLY, "", "snapshots (none yet; for tools)"),
    [CFG_APPENDONLY] = STR("appendonly", CFG_F_READONLY, "no", "append-only file (for tools)"),
};

static void lock(struct config *c)
{
	while (atomic_flag_test_and_set_explicit(&c->lock, memory_order_acquire))
		;
}

static void unlock(struct config *c)
{
	atomic_flag_clear_explicit(&c->lock, memory_order_release);
}

int config_init(struct config *c, int cpu_count)
{
	memset(c, 0, sizeof(*c));
	atomic_flag_clear(&c->lock);
	for (int i = 0; i < CFG_COUNT; i++) {
		const struct cfg_def *d = &cfg_defs[i];
		if (d->type == CFG_T_STRING) {
			c->str[i] = strdup(d->str_def);
			if (!c->str[i]) {
				config_deinit(c);
				return ERR_NOMEM;
			}
		} else {
			atomic_init(&c->num[i], d->def);
		}
	}
	int64_t threads = cpu_count < 1 ? 1 : cpu_count > THREADS_MAX ? THREADS_MAX : cpu_count;
	atomic_init(&c->num[CFG_THREADS], threads);
	return 0;
}

void config_deinit(struct config *c)
{
	for (int i = 0; i < CFG_COUNT; i++) {
		free(c->str[i]);
		c->str[i] = NULL;
	}
}

size_t config_get_str(struct config *c, enum cfg_id id, char *dst, size_t cap)
{
	lock(c);
	const char *s = c->str[id] ? c->str[id] : "";
	size_t n = strlen(s);
	if (cap) {
		size_t m = n < cap - 1 ? n : cap - 1;
		memcpy(dst, s, m);
		dst[m] = '\0';
	}
	unlock(c);
	return n;
}

int config_find(const char *name, size_t len)
{
	for (int i = 0; i < CFG_COUNT; i++)
		if (strlen(cfg_defs[i].name) == len &&
		    strncasecmp(cfg_defs[i].name, name, len) == 0)
			return i;
	return -1;
}

bool config_parse_bytes(const char *s, size_t len, int64_t *out)
{
	size_t i = 0;
	uint64_t v = 0;
	if (len == 0)
		return false;
	for (; i < len && isdigit((unsigned char)s[i]); i++) {
		if (v > (uint64_t)INT64_MAX / 10)
			return false;
		v = v * 10 + (uint64_t)(s[i] - '0');
	}
	if (i == 0)
		return false;
	uint64_t mul = 1;
	size_t rest = len - i;
	const char *u = s + i;
	if (rest == 0)
		mul = 1;
	else if (rest == 1 && (*u == 'k' || *u == 'K'))
		mul = 1000;
	else if (rest == 2 && strncasecmp(u, "kb", 2) == 0)
		mul = 1024;
	else if (rest == 1 && (*u == 'm' || *u == 'M'))
		mul = 1000 * 1000;
	else if (rest == 2 && strncasecmp(u, "mb", 2) == 0)
		mul = 1024 * 1024;
	else if (rest == 1 && (*u == 'g' || *u == 'G'))
		mul = 1000ull * 1000 * 1000;
	else if (rest == 2 && strncasecmp(u, "gb", 2) == 0)
		mul = 1024ull * 1024 * 1024;
	else
		return false;
	if (v > (uint64_t)INT64_MAX / mul)
		return false;
	*out = (int64_t)(v * mul);
	return true;
}

static bool parse_int(const char *s, size_t len, int64_t *out)
{
	char tmp[32];
	if (len == 0 || len >= sizeof(tmp))
		return false;
	memcpy(tmp, s, len);
	tmp[len] = '\0';
	char *end;
	long long v = strtoll(tmp, &end, 10);
	if (*end != '\0')
		return false;
	*out = v;
	return true;
}

static bool parse_bool(const char *s, size_t len, int64_t *out)
{
	if ((len == 3 && strncasecmp(s, "yes", 3) == 0) ||
	    (len == 2 && strncasecmp(s, "on", 2) == 0)) {
		*out = 1;
		return true;
	}
	if ((len == 2 && strncasecmp(s, "no", 2) == 0) ||
	    (len == 3 && strncasecmp(s, "off", 3) == 0)) {
		*out = 0;
		return true;
	}
	return false;
}

static bool parse_enum(const struct cfg_def *d, const char *s, size_t len, int64_t *out)
{
	for (int64_t i = 0; d->enum_names[i]; i++)
		if (strlen(d->enum_names[i]) == len && strncasecmp(d->enum_names[i], s, len) == 0) {
			*out = i;
			return true;
		}
	return false;
}

static int set_string(struct config *c, int id, const char *value, size_t len)
{
	char *copy = malloc(len + 1);
	if (!copy)
		return ERR_NOMEM;
	memcpy(copy, value, len);
	copy[len] = '\0';
	lock(c);
	char *old = c->str[id];
	c->str[id] = copy;
	unlock(c);
	free(old);
	return 0;
}

static bool parse_number(const struct cfg_def *d, const char *value, size_t len, int64_t *v,
                         const char **why)
{
	bool ok = false;
	*why = "argument couldn't be parsed into an integer";
	if (d->type == CFG_T_INT)
		ok = parse_int(value, len, v);
	else if (d->type == CFG_T_BYTES)
		ok = config_parse_bytes(value, len, v);
	else if (d->type == CFG_T_BOOL) {
		ok = parse_bool(value, len, v);
		*why = "argument must be 'yes' or 'no'";
	} else if (d->type == CFG_T_ENUM) {
		ok = parse_enum(d, value, len, v);
		*why = "argument(s) must be one of the following values";
	}
	if (ok && (d->type == CFG_T_INT || d->type == CFG_T_BYTES) &&
	    (*v < d->min || *v > d->max)) {
		*why = "argument must be between the minimum and maximum";
		ok = false;
	}
	return ok;
}

int config_set(struct config *c, int id, const char *value, size_t len, bool startup, char *err,
               size_t errcap)
{
	const struct cfg_def *d = &cfg_defs[id];
	if (d->flags & CFG_F_READONLY) {
		snprintf(err, errcap, "can't set immutable config");
		return ERR_INVALID;
	}
	if (!startup && !(d->flags & CFG_F_RUNTIME)) {
		snprintf(err, errcap, "can't set immutable config");
		return ERR_INVALID;
	}
	if (d->type == CFG_T_STRING)
		return set_string(c, id, value, len);
	int64_t v;
	const char *why;
	if (!parse_number(d, value, len, &v, &why)) {
		if (d->type == CFG_T_INT || d->type == CFG_T_BYTES)
			snprintf(err, errcap, "%s (%lld to %lld)", why, (long long)d->min,
			         (long long)d->max);
		else
			snprintf(err, errcap, "%s", why);
		return ERR_INVALID;
	}
	atomic_store_explicit(&c->num[id], v, memory_order_relaxed);
	return 0;
}

size_t config_format(struct config *c, int id, char *dst, size_t cap)
{
	const struct cfg_def *d = &cfg_defs[id];
	int64_t v = config_get(c, (enum cfg_id)id);
	switch (d->type) {
	case CFG_T_STRING:
		return config_get_str(c, (enum cfg_id)id, dst, cap);
	case CFG_T_BOOL:
		return (size_t)snprintf(dst, cap, "%s", v ? "yes" : "no");
	case CFG_T_ENUM:
		return (size_t)snprintf(dst, cap, "%s", d->enum_names[v]);
	default:
		return (size_t)snprintf(dst, cap, "%lld", (long long)v);
	}
}

/* Strips blanks around a value and one pair of matching quotes. */
static void trim_value(const char **s, size_t *len)
{
	while (*len && isspace((unsigned char)**s)) {
		(*s)++;
		(*len)--;
	}
	while (*len && isspace((unsigned char)(*s)[*len - 1]))
		(*len)--;
	if (*len >= 2 &&
	    ((**s == '"' && (*s)[*len - 1] == '"') || (**s == '\'' && (*s)[*len - 1] == '\''))) {
		(*s)++;
		*len -= 2;
	}
}

static int apply_line(struct config *c, const char *line, size_t len, char *err, size_t errcap)
{
	const char *name = line;
	size_t nlen = 0;
	while (nlen < len && !isspace((unsigned char)name[nlen]))
		nlen++;
	const char *value = name + nlen;
	size_t vlen = len - nlen;
	trim_value(&value, &vlen);
	int id = config_find(name, nlen);
	if (id < 0) {
		snprintf(err, errcap, "unknown setting '%.*s'", (int)(nlen < 64 ? nlen : 64), name);
		return ERR_INVALID;
	}
	char why[160];
	int rc = config_set(c, id, value, vlen, true, why, sizeof(why));
	if (rc != 0)
		snprintf(err, errcap, "'%s': %s", cfg_defs[id].name, why);
	return rc;
}

int config_load_file(struct config *c, const char *path, char *err, size_t errcap)
{
	FILE *f = fopen(path, "r");
	if (!f) {
		snprintf(err, errcap, "cannot open config file '%s'", path);
		return ERR_IO;
	}
	char line[4096];
	int lineno = 0, rc = 0;
	while (fgets(line, sizeof(line), f)) {
		lineno++;
		size_t len = strlen(line);
		const char *p = line;
		trim_value(&p, &len); /* only blanks matter here; quotes stay for the value */
		if (len == 0 || *p == '#')
			continue;
		char why[200];
		rc = apply_line(c, p, len, why, sizeof(why));
		if (rc != 0) {
			snprintf(err, errcap, "%s:%d: %s", path, lineno, why);
			break;
		}
	}
	fclose(f);
	return rc;
}

int config_load_args(struct config *c, int argc, char **argv, char *err, size_t errcap)
{
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];
		if (strncmp(a, "--", 2) != 0 || i + 1 >= argc) {
			snprintf(err, errcap, "expected '--name value', got '%s'", a);
			return ERR_INVALID;
		}
		const char *name = a + 2;
		const char *value = argv[++i];
		if (strcmp(name, "config") == 0) {
			int rc = config_load_file(c, value, err, errcap);
			if (rc != 0)
				return rc;
			continue;
		}
		int id = config_find(name, strlen(name));
		if (id < 0) {
			snprintf(err, errcap, "unknown option '--%s'", name);
			return ERR_INVALID;
		}
		char why[160];
		int rc = config_set(c, id, value, strlen(value), true, why, sizeof(why));
		if (rc != 0) {
			snprintf(err, errcap, "--%s %s: %s", name, value, why);
			return rc;
		}
	}
	return 0;
}
