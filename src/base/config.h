/*
 * config.h - the settings of a node: one table of definitions (name, type,
 * default, bounds, whether it can change at run time), values parsed from
 * a config file, the command line and CONFIG SET.
 *
 * Values are read on hot paths by every thread and written by CONFIG SET,
 * so numbers are atomics (relaxed loads are plain loads on x86) and strings
 * are swapped under a small spin lock (base/ may not use OS locks, and the
 * critical sections are a few instructions); readers of strings copy them out
 * with config_get_str().
 *
 * Names follow Redis where Redis has the setting (port, bind, maxclients,
 * proto-max-bulk-len, client-query-buffer-limit, requirepass, timeout, hz,
 * ...), so operators' habits carry over; ringkv's own are documented in
 * README.md.
 */
#ifndef RINGKV_BASE_CONFIG_H
#define RINGKV_BASE_CONFIG_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum cfg_id {
	CFG_PORT,
	CFG_BIND,
	CFG_DIR,
	CFG_THREADS,
	CFG_LOGFILE,
	CFG_LOGLEVEL,
	CFG_REQUIREPASS,
	CFG_PROTECTED_MODE,
	CFG_MAXCLIENTS,
	CFG_TIMEOUT,
	CFG_HZ,
	CFG_PROTO_MAX_BULK_LEN,
	CFG_CLIENT_QUERY_BUFFER_LIMIT,
	CFG_KEY_MAX_BYTES,
	CFG_MAX_ARGS,
	CFG_INLINE_MAX_BYTES,
	CFG_CLIENT_OUTPUT_MAX_BYTES,
	CFG_CLIENT_OUTPUT_STALL_MS,
	CFG_ACTIVE_EXPIRE,
	CFG_ENGINE,
	CFG_TCP_BACKLOG,
	CFG_BUSY_POLL_US,
	CFG_LATENCY_TRACKING, /* observability: docs/observability.md */
	CFG_LATENCY_TRACKING_PERCENTILES,
	CFG_SLOWLOG_LOG_SLOWER_THAN,
	CFG_SLOWLOG_MAX_LEN,
	CFG_LATENCY_MONITOR_THRESHOLD,
	CFG_HTTP_PORT,
	CFG_MAXMEMORY, /* memory limits and eviction: docs/memory.md */
	CFG_MAXMEMORY_POLICY,
	CFG_MAXMEMORY_SAMPLES,
	CFG_LFU_LOG_FACTOR,
	CFG_LFU_DECAY_TIME,
	CFG_FSYNC, /* the durable engine: docs/storage.md */
	CFG_MEMTABLE_BYTES,
	CFG_MEMTABLE_ENTRIES,
	CFG_BLOCK_CACHE_BYTES,
	CFG_ROW_CACHE_BYTES,
	CFG_BLOB_THRESHOLD,
	CFG_COMPRESSION, /* enum cfg_compression */
	CFG_BACKGROUND_NICE,
	CFG_COMPACTION_RATE,
	CFG_SALVAGE,
	CFG_CHECKPOINT_KEEP,
	CFG_CLUSTER_NAME, /* the cluster: docs/cluster.md */
	CFG_NODE_NAME,
	CFG_JOIN,
	CFG_CLUSTER_PORT,
	CFG_ZONE,
	CFG_WEIGHT,
	CFG_CLUSTER_PARTITIONS,
	CFG_CLUSTER_N, /* replicas per key and quorums (cluster/coord.h) */
	CFG_CLUSTER_R,
	CFG_CLUSTER_W,
	CFG_CLUSTER_TIMEOUT,
	CFG_CLUSTER_CONFLICTS, /* enum cfg_conflicts */
	CFG_CLUSTER_SLOPPY,    /* sloppy quorum with hinted handoff (net/cluster_hints.c) */
	CFG_CLUSTER_HINT_MAX_BYTES,
	CFG_CLUSTER_HINT_MAX_AGE,
	CFG_CLUSTER_HANDOFF_RATE,
	CFG_CLUSTER_SIBLINGS_WARN,
	CFG_CLUSTER_TOMBSTONE_GRACE, /* tombstone collection (net/cluster_gc.c) */
	CFG_CLUSTER_TOMBSTONE_SCAN_RATE,
	CFG_ENABLE_DEBUG_COMMAND, /* DEBUG (cmd_debug.c): no, yes or local */
	CFG_SAVE,       /* compatibility: redis-benchmark reads it */
	CFG_APPENDONLY, /* compatibility: redis-benchmark reads it */
	CFG_COUNT
};

/* Values of the engine and fsync settings. */
enum cfg_engine { CFG_ENGINE_MEMORY = 0, CFG_ENGINE_LSM = 1 };
enum cfg_fsync { CFG_FSYNC_ALWAYS = 0, CFG_FSYNC_EVERYSEC = 1, CFG_FSYNC_NO = 2 };
enum cfg_compression { CFG_COMPRESSION_NONE = 0, CFG_COMPRESSION_LZ4 = 1, CFG_COMPRESSION_ZSTD = 2 };
enum cfg_conflicts { CFG_CONFLICTS_SIBLINGS = 0, CFG_CONFLICTS_LWW = 1 };
enum cfg_debug_command {
	CFG_DEBUG_COMMAND_NO = 0,
	CFG_DEBUG_COMMAND_YES = 1,
	CFG_DEBUG_COMMAND_LOCAL = 2 /* loopback clients only */
};

enum cfg_type { CFG_T_INT, CFG_T_BYTES, CFG_T_BOOL, CFG_T_STRING, CFG_T_ENUM };

#define CFG_F_RUNTIME  1u /* CONFIG SET may change it */
#define CFG_F_SECRET   2u /* never logged */
#define CFG_F_READONLY 4u /* compatibility value: CONFIG GET only */

struct cfg_def {
	const char *name;
	enum cfg_type type;
	unsigned flags;
	int64_t def, min, max;
	const char *str_def;
	const char *const *enum_names; /* NULL-terminated, for CFG_T_ENUM */
	const char *help;
};

struct config {
	_Atomic int64_t num[CFG_COUNT];
	char *str[CFG_COUNT];
	atomic_flag lock; /* guards str[] swaps and copies */
};

extern const struct cfg_def cfg_defs[CFG_COUNT];

/* Fills defaults (threads default to cpu_count). ERR_NOMEM. */
int config_init(struct config *c, int cpu_count);
void config_deinit(struct config *c);

static inline int64_t config_get(const struct config *c, enum cfg_id id)
{
	return atomic_load_explicit(&((struct config *)c)->num[id], memory_order_relaxed);
}

/* Copies a string setting into dst (cap bytes, NUL-terminated, truncated
 * if longer); returns its full length. */
size_t config_get_str(struct config *c, enum cfg_id id, char *dst, size_t cap);

/* Looks a name up (case-insensitive); -1 if unknown. */
int config_find(const char *name, size_t len);

/* Sets a value from text. Returns 0, or ERR_INVALID with a message in err
 * (cap bytes). startup is true for the config file and command line,
 * where settings without CFG_F_RUNTIME are allowed. */
int config_set(struct config *c, int id, const char *value, size_t len, bool startup, char *err,
               size_t errcap);

/* Formats the current value as CONFIG GET shows it. Returns the length. */
size_t config_format(struct config *c, int id, char *dst, size_t cap);

/* Reads a config file of "name value" lines ('#' comments, optional
 * quotes around the value). ERR_IO or ERR_INVALID with the file, line
 * and reason in err. */
int config_load_file(struct config *c, const char *path, char *err, size_t errcap);

/* Applies argv-style "--name value" pairs (and "--config FILE"). */
int config_load_args(struct config *c, int argc, char **argv, char *err, size_t errcap);

/* Parses sizes like "64", "64k", "64kb", "1gb" (Redis memtoll rules:
 * k = 1000, kb = 1024). */
bool config_parse_bytes(const char *s, size_t len, int64_t *out);

#endif
