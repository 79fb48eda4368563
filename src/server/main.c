/*
 * main.c - ringkv-server: parse the configuration, wire one node together
 * (engine, keyspace, command threads, network) and run it until a signal
 * or SHUTDOWN asks it to stop.
 *
 * Process-wide state lives here and only here: the signal handlers need to
 * find the running node's network layer.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/config.h"
#include "base/err.h"
#include "cmd/cmd.h"
#include "engine/engine.h"
#include "engine/engine_lsm.h"
#include "env/fs.h"
#include "env/env.h"
#include "env/log.h"
#include "keyspace/keyspace.h"
#include "net/cluster.h"
#include "net/http.h"
#include "net/net.h"

#define RINGKV_VERSION "0.1.0"

/* The one mutable global: the signal handler's way to the running node. */
static struct net *volatile signal_net;

/* The file system of the durable engine (the process's working directory
 * is the data directory, see run). */
static struct env_fs_posix posix_fs;

static void on_stop_signal(int sig)
{
	(void)sig;
	if (signal_net)
		net_request_shutdown(signal_net);
}

static void install_signals(void)
{
	struct sigaction sa;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_stop_signal;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
}

static void usage(void)
{
	printf("Usage: ringkv-server [CONFIG_FILE] [--name value ...]\n"
	       "       ringkv-server --help | --version\n\n"
	       "Every setting can be given as --name value; --config FILE reads a file of\n"
	       "'name value' lines. Settings:\n");
	for (int i = 0; i < CFG_COUNT; i++)
		printf("  --%-28s %s\n", cfg_defs[i].name, cfg_defs[i].help);
}

/* Loads settings: an optional leading config file, then --name value. */
static int load_config(struct config *cfg, int argc, char **argv)
{
	char err[512];
	int first = 1;
	if (argc > 1 && strncmp(argv[1], "--", 2) != 0) {
		if (config_load_file(cfg, argv[1], err, sizeof(err)) != 0) {
			fprintf(stderr, "ringkv-server: %s\n", err);
			return ERR_INVALID;
		}
		argv[1] = argv[0];
		first = 2;
	}
	if (config_load_args(cfg, argc - first + 1, argv + first - 1, err, sizeof(err)) != 0) {
		fprintf(stderr, "ringkv-server: %s (see --help)\n", err);
		return ERR_INVALID;
	}
	return 0;
}

static void log_check_finding(void *ctx, const struct lsm_check_report *r)
{
	struct log *log = ctx;
	if (r->has_offset)
		LOG_W(log, "%s %s at offset %llu: %s", r->problem ? "damage:" : "note:", r->file,
		      (unsigned long long)r->offset, r->reason);
	else
		LOG_W(log, "%s %s: %s", r->problem ? "damage:" : "note:", r->file, r->reason);
}

/* Opens the durable engine on the working directory, logging what
 * recovery did or, when it cannot start, what is damaged and where. */
static int open_lsm(struct config *cfg, struct log *log, struct engine **out)
{
	static const enum lsm_sync sync_of[] = {
	    [CFG_FSYNC_ALWAYS] = LSM_SYNC_ALWAYS,
	    [CFG_FSYNC_EVERYSEC] = LSM_SYNC_EVERYSEC,
	    [CFG_FSYNC_NO] = LSM_SYNC_NONE,
	};
	static const enum sst_compression compression_of[] = {
	    [CFG_COMPRESSION_NONE] = SST_COMPRESSION_NONE,
	    [CFG_COMPRESSION_LZ4] = SST_COMPRESSION_LZ4,
	    [CFG_COMPRESSION_ZSTD] = SST_COMPRESSION_ZSTD,
	};
	struct lsm_options opt = {
	    .sync = sync_of[config_get(cfg, CFG_FSYNC)],
	    .memtable_bytes = (uint64_t)config_get(cfg, CFG_MEMTABLE_BYTES),
	    .memtable_entries = (uint64_t)config_get(cfg, CFG_MEMTABLE_ENTRIES),
	    .blob_threshold = (uint64_t)config_get(cfg, CFG_BLOB_THRESHOLD),
	    .compression = compression_of[config_get(cfg, CFG_COMPRESSION)],
	    .block_cache_bytes = (uint64_t)config_get(cfg, CFG_BLOCK_CACHE_BYTES),
	    .compaction_bytes_per_sec = (uint64_t)config_get(cfg, CFG_COMPACTION_RATE),
	    .salvage = config_get(cfg, CFG_SALVAGE) != 0,
	    /* One WAL write per event-loop turn; net.c hands it over before
	     * the turn's replies go out (ks_flush_log). */
	    .wal_staged = true,
	    .background_nice = (int)config_get(cfg, CFG_BACKGROUND_NICE),
	};
	/* maxmemory bounds the engine's memory too, with a quarter left for
	 * everything else (clients, the TTL index): each of the two memtables
	 * (the one filling and the one being flushed) and the block cache get
	 * at most an eighth, the row cache three eighths. The data itself is on
	 * disk, so a durable node at maxmemory serves from disk rather than
	 * refusing writes or evicting keys. */
	uint64_t maxmem = (uint64_t)config_get(cfg, CFG_MAXMEMORY);
	if (maxmem && opt.memtable_bytes > maxmem / 8)
		opt.memtable_bytes = maxmem / 8 > 64 * 1024 ? maxmem / 8 : 64 * 1024;
	if (maxmem && opt.block_cache_bytes > maxmem / 8)
		opt.block_cache_bytes = maxmem / 8 > 1024 * 1024 ? maxmem / 8 : 1024 * 1024;
	env_fs_posix_init(&posix_fs);
	struct engine_lsm_open_info info;
	uint64_t row_cache = (uint64_t)config_get(cfg, CFG_ROW_CACHE_BYTES);
	if (maxmem && row_cache > maxmem / 8 * 3)
		row_cache = maxmem / 8 * 3;
	int err = engine_lsm_open(".", &posix_fs.base, &opt, row_cache, KEYSPACE_STRIPES, log, out,
	                          &info);
	if (err) {
		LOG_W(log, "cannot open the data directory: %s", err_str(err));
		if (err == ERR_CORRUPT) {
			struct lsm_check_summary sum;
			(void)lsm_check_dir(&posix_fs.base, ".", log_check_finding, log, &sum);
			LOG_W(log, "the data directory is damaged (above: what and where). To start "
			           "anyway, dropping the damaged WAL or manifest records, run with "
			           "--salvage yes; copy the directory first.");
		}
		return err;
	}
	const struct lsm_open_stats *st = &info.lsm;
	if (st->unsynced_blob_records_dropped)
		LOG_W(log, "recovery dropped the last %llu WAL records: the first of them points at "
		           "blob bytes that never reached the disk (a power cut with fsync everysec "
		           "or no)",
		      (unsigned long long)st->unsynced_blob_records_dropped);
	if (st->torn_bytes_dropped || st->skipped_bytes)
		LOG_W(log, "recovery dropped %llu bytes of a torn WAL tail and skipped %llu damaged "
		           "bytes",
		      (unsigned long long)st->torn_bytes_dropped,
		      (unsigned long long)st->skipped_bytes);
	LOG_N(log,
	      "engine lsm: %llu keys (%llu with a TTL, %llu in the row cache) counted in %llu ms; "
	      "replayed %llu WAL records from %llu logs; removed %llu orphan files",
	      (unsigned long long)info.keys, (unsigned long long)info.volatile_keys,
	      (unsigned long long)info.cached_keys, (unsigned long long)info.scan_ms, (unsigned long long)st->records_replayed,
	      (unsigned long long)st->logs_replayed, (unsigned long long)st->orphans_removed);
	return 0;
}

static int node_init(struct node *n, struct config *cfg, struct log *log)
{
	memset(n, 0, sizeof(*n));
	n->cfg = cfg;
	n->log = log;
	n->hooks = &net_node_hooks;
	n->start_ms = env_wall_ms();
	n->run_id_hi = env_random_seed();
	n->run_id_lo = env_random_seed();
	n->thread_count = (unsigned)config_get(cfg, CFG_THREADS);
	atomic_store(&n->requirepass_set, config_get_str(cfg, CFG_REQUIREPASS, NULL, 0) > 0);
	struct engine *engine = NULL;
	if (config_get(cfg, CFG_ENGINE) == CFG_ENGINE_LSM) {
		int err = open_lsm(cfg, log, &engine);
		if (err)
			return err;
	} else if (!(engine = engine_mem_create(KEYSPACE_STRIPES))) {
		return ERR_NOMEM;
	}
	n->ks = ks_create(engine);
	if (!n->ks) {
		engine->ops->destroy(engine);
		return ERR_NOMEM;
	}
	n->threads = calloc(n->thread_count, sizeof(*n->threads));
	if (!n->threads)
		return ERR_NOMEM;
	for (unsigned i = 0; i < n->thread_count; i++)
		if (cmd_thread_init(&n->threads[i], i) != 0)
			return ERR_NOMEM;
	return cmd_node_init(n);
}

static void node_deinit(struct node *n)
{
	cmd_node_deinit(n);
	for (unsigned i = 0; n->threads && i < n->thread_count; i++)
		cmd_thread_deinit(&n->threads[i]);
	free(n->threads);
	ks_destroy(n->ks);
}

/* The command layer's way to the cluster (cluster/view.h). */
static void hook_view(void *ctx, struct cluster_view *out)
{
	cluster_view(ctx, out);
}

static uint32_t hook_ring_names(void *ctx, unsigned n, char (*names)[MEMBER_NAME_BYTES],
                                size_t cap, uint64_t *version)
{
	return cluster_ring_names(ctx, n, names, cap, version);
}

static int hook_join(void *ctx, const char *addr)
{
	return cluster_join(ctx, addr);
}

static int hook_submit(void *ctx, const struct cluster_op *op)
{
	return cluster_submit(ctx, op);
}

static uint32_t hook_key_nodes(void *ctx, struct bytes key, unsigned n,
                               char (*names)[MEMBER_NAME_BYTES])
{
	return cluster_key_nodes(ctx, key, n, names);
}

static const struct cluster_hooks cluster_hooks = {hook_view, hook_ring_names, hook_join,
                                                   hook_submit, hook_key_nodes};

static int run(struct config *cfg, struct log *log)
{
	char dir[4096], err[512];
	config_get_str(cfg, CFG_DIR, dir, sizeof(dir));
	if (env_dir_enter(dir, err, sizeof(err)) != 0) {
		LOG_W(log, "%s", err);
		return 1;
	}
	struct node node;
	int init_err = node_init(&node, cfg, log);
	if (init_err != 0) {
		if (init_err == ERR_NOMEM)
			LOG_W(log, "out of memory while starting");
		node_deinit(&node);
		return 1;
	}
	struct cluster *cluster = NULL;
	if (cluster_create(&cluster, cfg, log, err, sizeof(err)) != 0) {
		LOG_W(log, "%s", err);
		node_deinit(&node);
		return 1;
	}
	if (cluster && cluster_attach(cluster, node.ks, err, sizeof(err)) != 0) {
		LOG_W(log, "%s", err);
		cluster_destroy(cluster, NULL);
		node_deinit(&node);
		return 1;
	}
	if (cluster) {
		node.cluster = &cluster_hooks;
		node.cluster_ctx = cluster;
	}
	struct net *net;
	if (net_create(&net, &node, err, sizeof(err)) != 0) {
		LOG_W(log, "%s", err);
		cluster_destroy(cluster, NULL);
		node_deinit(&node);
		return 1;
	}
	struct http *http;
	if (http_create(&http, &node, net, err, sizeof(err)) != 0 ||
	    (http && http_start(http) != 0)) {
		LOG_W(log, "%s", http ? "could not start the HTTP thread" : err);
		http_destroy(http);
		net_destroy(net);
		cluster_destroy(cluster, NULL);
		node_deinit(&node);
		return 1;
	}
	if (cluster && cluster_start(cluster) != 0) {
		LOG_W(log, "could not start the cluster thread");
		http_destroy(http);
		net_destroy(net);
		cluster_destroy(cluster, NULL);
		node_deinit(&node);
		return 1;
	}
	signal_net = net;
	char bind_s[256];
	config_get_str(cfg, CFG_BIND, bind_s, sizeof(bind_s));
	LOG_N(log,
	      "ringkv %s ready to accept connections on %s port %lld (threads %u, engine %s, "
	      "dir %s)",
	      RINGKV_VERSION, bind_s, (long long)config_get(cfg, CFG_PORT), node.thread_count,
	      ks_engine(node.ks)->ops->name, dir);
	if (http)
		LOG_N(log, "metrics on http://%s:%lld/metrics", bind_s,
		      (long long)config_get(cfg, CFG_HTTP_PORT));
	int rc = net_run(net);
	signal_net = NULL;
	http_destroy(http);
	net_destroy(net);
	struct replica_self self = {0, 0};
	cluster_destroy(cluster, &self);
	node_deinit(&node);
	cluster_mark_clean(cfg, log, self);
	LOG_N(log, "ringkv is now ready to exit, bye bye...");
	return rc == 0 ? 0 : 1;
}

int main(int argc, char **argv)
{
	if (argc > 1 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0)) {
		usage();
		return 0;
	}
	if (argc > 1 && (strcmp(argv[1], "--version") == 0 || strcmp(argv[1], "-v") == 0)) {
		printf("ringkv-server %s\n", RINGKV_VERSION);
		return 0;
	}
	struct config cfg;
	if (config_init(&cfg, env_cpu_count()) != 0) {
		fprintf(stderr, "ringkv-server: out of memory\n");
		return 1;
	}
	if (load_config(&cfg, argc, argv) != 0) {
		config_deinit(&cfg);
		return 1;
	}
	char logfile[1024];
	config_get_str(&cfg, CFG_LOGFILE, logfile, sizeof(logfile));
	struct log log;
	if (log_open(&log, logfile, (enum log_level)config_get(&cfg, CFG_LOGLEVEL)) != 0)
		fprintf(stderr, "ringkv-server: cannot open log file '%s', logging to stderr\n",
		        logfile);
	install_signals();
	int rc = run(&cfg, &log);
	log_close(&log);
	config_deinit(&cfg);
	return rc;
}
