/*
 * cmd_persist.c - checkpoints and engine checks over RESP: SAVE, BGSAVE,
 * LASTSAVE, ENGINE CHECK, and the figures INFO persistence shows.
 *
 * With the durable engine every acknowledged write is already in the data
 * directory (per the fsync policy), so SAVE does not write the data out
 * as Redis's does: it makes a checkpoint, a consistent copy of the store
 * as of the call, in <dir>/checkpoints/ckpt-<UTC time> (engine_lsm.h;
 * hard links, so it costs little disk until compaction moves on). The
 * newest checkpoint-keep checkpoints are kept. A server started with
 * --dir on a checkpoint serves exactly its contents.
 *
 * SAVE runs on the calling client's thread; BGSAVE on a thread of its
 * own. Neither blocks writers beyond a memtable rotation. One checkpoint
 * at a time: a second gets Redis's "already in progress" error.
 *
 * With the in-memory engine there is nothing to save: SAVE and BGSAVE
 * answer with an error that says so.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/config.h"
#include "base/err.h"
#include "cmd/cmd.h"
#include "cmd/cmd_internal.h"
#include "engine/engine_lsm.h"
#include "env/env.h"
#include "env/fs.h"
#include "keyspace/keyspace.h"

#define CHECKPOINT_PARENT "checkpoints"
#define CHECK_PROBLEMS_SHOWN 16

struct persist {
	struct env_mutex mu;
	bool running;  /* a SAVE, BGSAVE or ENGINE CHECK is making a checkpoint */
	bool joinable; /* a BGSAVE thread finished and awaits its join */
	struct env_thread thread;
	int64_t last_save_s;
	int last_err; /* of the last checkpoint: 0 ok */
	uint64_t last_seq, saves;
	char last_dir[128];
	struct node *node;
};

int persist_node_init(struct node *n)
{
	struct persist *p = calloc(1, sizeof(*p));
	if (!p)
		return ERR_NOMEM;
	env_mutex_init(&p->mu);
	p->last_save_s = n->start_ms / 1000; /* as Redis: the start counts as a save */
	p->node = n;
	n->persist = p;
	return 0;
}

void persist_node_deinit(struct node *n)
{
	struct persist *p = n->persist;
	if (!p)
		return;
	env_mutex_lock(&p->mu);
	bool join = p->running || p->joinable;
	env_mutex_unlock(&p->mu);
	if (join)
		env_thread_join(&p->thread); /* a BGSAVE finishes its checkpoint */
	env_mutex_deinit(&p->mu);
	free(p);
	n->persist = NULL;
}

/* Takes the one checkpoint slot; false if another holds it. */
static bool begin(struct persist *p)
{
	env_mutex_lock(&p->mu);
	if (p->joinable) { /* reap a finished BGSAVE before starting anew */
		env_mutex_unlock(&p->mu);
		env_thread_join(&p->thread);
		env_mutex_lock(&p->mu);
		p->joinable = false;
	}
	bool ok = !p->running;
	if (ok)
		p->running = true;
	env_mutex_unlock(&p->mu);
	return ok;
}

/* A checkpoint name from the wall clock, sortable: 20261121T120501.123Z. */
static void checkpoint_name(char *out, size_t cap)
{
	int64_t ms = env_wall_ms();
	time_t s = (time_t)(ms / 1000);
	struct tm tm;
	gmtime_r(&s, &tm);
	char day[32];
	strftime(day, sizeof(day), "%Y%m%dT%H%M%S", &tm);
	snprintf(out, cap, "%s.%03dZ", day, (int)(ms % 1000));
}

/* Makes a checkpoint and records the outcome; the slot is held. */
static int save(struct persist *p)
{
	struct node *n = p->node;
	struct engine *e = ks_engine(n->ks);
	char name[64];
	checkpoint_name(name, sizeof(name));
	struct lsm_checkpoint_info info = {0};
	unsigned keep = (unsigned)config_get(n->cfg, CFG_CHECKPOINT_KEEP);
	int err = engine_lsm_checkpoint(e, CHECKPOINT_PARENT, name, keep, &info);
	env_mutex_lock(&p->mu);
	p->last_err = err;
	if (!err) {
		p->last_save_s = env_wall_ms() / 1000;
		p->last_seq = info.seq;
		p->saves++;
		snprintf(p->last_dir, sizeof(p->last_dir), "%s/ckpt-%s", CHECKPOINT_PARENT, name);
	}
	env_mutex_unlock(&p->mu);
	if (err)
		LOG_W(n->log, "checkpoint failed: %s", err_str(err));
	else
		LOG_N(n->log, "checkpoint %s/ckpt-%s: %llu files, %llu bytes, up to sequence %llu",
		      CHECKPOINT_PARENT, name, (unsigned long long)info.file_count,
		      (unsigned long long)info.bytes, (unsigned long long)info.seq);
	return err;
}

static void end(struct persist *p, bool joinable)
{
	env_mutex_lock(&p->mu);
	p->running = false;
	p->joinable = joinable;
	env_mutex_unlock(&p->mu);
}

static bool durable(struct client *c)
{
	if (engine_lsm_store(ks_engine(c->node->ks)))
		return true;
	resp_w_error(&c->out, "ERR the memory engine keeps no data on disk: nothing to save "
	                      "(start with --engine lsm for a durable node)");
	return false;
}

static void reply_save_error(struct client *c, int err)
{
	resp_w_errorf(&c->out, "ERR checkpoint failed: %s (see the server log)", err_str(err));
}

void cmd_save(struct client *c)
{
	struct persist *p = c->node->persist;
	if (!durable(c))
		return;
	if (!begin(p)) {
		resp_w_error(&c->out, "ERR Background save already in progress");
		return;
	}
	int err = save(p);
	end(p, false);
	if (err)
		reply_save_error(c, err);
	else
		resp_w_ok(&c->out);
}

static void *bgsave_main(void *arg)
{
	struct persist *p = arg;
	(void)save(p);
	end(p, true);
	return NULL;
}

void cmd_bgsave(struct client *c)
{
	struct persist *p = c->node->persist;
	if (c->argc > 2 || (c->argc == 2 && !bytes_eq_nocase(c->argv[1], "schedule"))) {
		reply_syntax_error(c);
		return;
	}
	if (!durable(c))
		return;
	if (!begin(p)) {
		resp_w_error(&c->out, "ERR Background save already in progress");
		return;
	}
	if (env_thread_start(&p->thread, "bgsave", bgsave_main, p) != 0) {
		end(p, false);
		resp_w_error(&c->out, "ERR could not start the background save thread");
		return;
	}
	resp_w_simple(&c->out, "Background saving started");
}

void cmd_lastsave(struct client *c)
{
	struct persist *p = c->node->persist;
	env_mutex_lock(&p->mu);
	int64_t s = p->last_save_s;
	env_mutex_unlock(&p->mu);
	resp_w_int(&c->out, s);
}

void persist_info(struct node *n, struct buf *b)
{
	struct persist *p = n->persist;
	struct lsm *db = engine_lsm_store(ks_engine(n->ks));
	struct lsm_stats st = {0};
	if (db)
		lsm_stats(db, &st);
	env_mutex_lock(&p->mu);
	bool running = p->running;
	int64_t last_s = p->last_save_s;
	int last_err = p->last_err;
	uint64_t last_seq = p->last_seq, saves = p->saves;
	char dir[sizeof(p->last_dir)];
	memcpy(dir, p->last_dir, sizeof(dir));
	env_mutex_unlock(&p->mu);
	static const char *const fsync_names[] = {"always", "everysec", "no"};
	infof(b, "# Persistence");
	infof(b, "loading:0");
	infof(b, "engine:%s", ks_engine(n->ks)->ops->name);
	infof(b, "rdb_changes_since_last_save:%llu",
	      (unsigned long long)(st.last_seq > last_seq ? st.last_seq - last_seq : 0));
	infof(b, "rdb_bgsave_in_progress:%d", running ? 1 : 0);
	infof(b, "rdb_last_save_time:%lld", (long long)last_s);
	infof(b, "rdb_last_bgsave_status:%s", last_err ? "err" : "ok");
	infof(b, "rdb_saves:%llu", (unsigned long long)saves);
	infof(b, "last_checkpoint:%s", dir);
	infof(b, "aof_enabled:%d", db ? 1 : 0);
	infof(b, "aof_rewrite_in_progress:0");
	if (!db)
		return;
	infof(b, "fsync:%s", fsync_names[config_get(n->cfg, CFG_FSYNC)]);
	infof(b, "wal_last_seq:%llu", (unsigned long long)st.last_seq);
	infof(b, "wal_synced_seq:%llu", (unsigned long long)st.synced_seq);
	infof(b, "wal_fsyncs:%llu", (unsigned long long)st.wal_sync_count);
	infof(b, "wal_fsync_p50_usec:%.1f", (double)st.wal_sync_p50_ns / 1000.0);
	infof(b, "wal_fsync_p99_usec:%.1f", (double)st.wal_sync_p99_ns / 1000.0);
	infof(b, "wal_fsync_max_usec:%.1f", (double)st.wal_sync_max_ns / 1000.0);
	infof(b, "engine_failed:%s", st.failed ? err_str(st.failed) : "no");
}

void engine_info(struct node *n, struct buf *b)
{
	struct lsm *db = engine_lsm_store(ks_engine(n->ks));
	infof(b, "# Engine");
	infof(b, "engine:%s", ks_engine(n->ks)->ops->name);
	if (!db)
		return;
	struct lsm_stats st;
	lsm_stats(db, &st);
	infof(b, "memtable_bytes:%llu", (unsigned long long)st.mem_bytes);
	infof(b, "memtable_immutable_bytes:%llu", (unsigned long long)st.imm_bytes);
	infof(b, "memtable_limit_bytes:%lld", (long long)config_get(n->cfg, CFG_MEMTABLE_BYTES));
	uint64_t files = 0, bytes = 0;
	int levels = 0;
	for (int l = 0; l < LSM_LEVELS; l++) {
		files += st.level_file_count[l];
		bytes += st.level_bytes[l];
		if (st.level_file_count[l])
			levels = l + 1;
	}
	infof(b, "levels:%d", levels);
	for (int l = 0; l < LSM_LEVELS; l++)
		if (st.level_file_count[l] || l < levels)
			infof(b, "level%d:files=%llu,bytes=%llu", l,
			      (unsigned long long)st.level_file_count[l],
			      (unsigned long long)st.level_bytes[l]);
	infof(b, "table_files:%llu", (unsigned long long)files);
	infof(b, "table_bytes:%llu", (unsigned long long)bytes);
	infof(b, "flushes:%llu", (unsigned long long)st.flush_count);
	infof(b, "flush_bytes:%llu", (unsigned long long)st.flush_bytes);
	infof(b, "compactions:%llu", (unsigned long long)st.compaction_count);
	infof(b, "compaction_read_bytes:%llu", (unsigned long long)st.compaction_read_bytes);
	infof(b, "compaction_write_bytes:%llu", (unsigned long long)st.compaction_write_bytes);
	infof(b, "user_bytes_written:%llu", (unsigned long long)st.user_bytes);
	infof(b, "wal_bytes_written:%llu", (unsigned long long)st.wal_bytes);
	infof(b, "blob_bytes_written:%llu", (unsigned long long)st.blob_bytes);
	infof(b, "write_amplification:%.2f", st.write_amp);
	uint64_t lookups = st.cache_hits + st.cache_misses;
	infof(b, "block_cache_capacity:%llu", (unsigned long long)st.cache_capacity_bytes);
	infof(b, "block_cache_used:%llu", (unsigned long long)st.cache_usage_bytes);
	infof(b, "block_cache_hits:%llu", (unsigned long long)st.cache_hits);
	infof(b, "block_cache_misses:%llu", (unsigned long long)st.cache_misses);
	infof(b, "block_cache_hit_ratio:%.4f", lookups ? (double)st.cache_hits / (double)lookups : 0.0);
	infof(b, "write_stalls:%llu", (unsigned long long)st.stall_count);
	infof(b, "write_stall_ms:%llu", (unsigned long long)st.stall_ms);
	infof(b, "background_priority_changes:%llu", (unsigned long long)st.bg_priority_changes);
}

/* ---- ENGINE CHECK ------------------------------------------------------ */

struct check_out {
	struct buf lines;
	size_t shown;
};

static void check_finding(void *ctx, const struct lsm_check_report *r)
{
	struct check_out *o = ctx;
	if (o->shown >= CHECK_PROBLEMS_SHOWN)
		return;
	char line[512];
	int n = r->has_offset ? snprintf(line, sizeof(line), "%s %s at %llu: %s",
	                                 r->problem ? "problem" : "note", r->file,
	                                 (unsigned long long)r->offset, r->reason)
	                      : snprintf(line, sizeof(line), "%s %s: %s",
	                                 r->problem ? "problem" : "note", r->file, r->reason);
	if (n < 0)
		return;
	size_t len = (size_t)n < sizeof(line) ? (size_t)n : sizeof(line) - 1;
	if (buf_reserve(&o->lines, len + 1, SIZE_MAX) != 0)
		return;
	buf_put(&o->lines, line, len + 1); /* with its NUL */
	o->shown++;
}

/* ENGINE CHECK: checkpoints the store into a scratch directory, verifies
 * every checksum there (lsm_check_dir: manifest, every block of every
 * table, every blob record) and removes it. Runs on the calling thread. */
static void engine_check(struct client *c)
{
	struct persist *p = c->node->persist;
	struct engine *e = ks_engine(c->node->ks);
	if (!durable(c))
		return;
	if (!begin(p)) {
		resp_w_error(&c->out, "ERR a checkpoint is in progress; retry");
		return;
	}
	char name[64];
	checkpoint_name(name, sizeof(name));
	static const char parent[] = CHECKPOINT_PARENT "/check";
	struct lsm_checkpoint_info info;
	int err = engine_lsm_checkpoint(e, parent, name, 0, &info);
	struct check_out o = {{0}, 0};
	buf_init(&o.lines);
	struct lsm_check_summary sum = {0};
	char dir[256];
	snprintf(dir, sizeof(dir), "%s/ckpt-%s", parent, name);
	int cerr = err ? err : lsm_check_dir(engine_lsm_fs(e), dir, check_finding, &o, &sum);
	if (!err)
		(void)engine_lsm_checkpoint_remove(e, dir);
	end(p, false);
	if (cerr && cerr != ERR_CORRUPT) {
		resp_w_errorf(&c->out, "ERR engine check could not run: %s", err_str(cerr));
		buf_deinit(&o.lines);
		return;
	}
	resp_w_array(&c->out, 4 + o.shown);
	resp_w_bulk_cstr(&c->out, sum.problems ? "status:damaged" : "status:ok");
	char line[128];
	snprintf(line, sizeof(line), "files:%llu", (unsigned long long)sum.files);
	resp_w_bulk_cstr(&c->out, line);
	snprintf(line, sizeof(line), "bytes:%llu", (unsigned long long)sum.bytes);
	resp_w_bulk_cstr(&c->out, line);
	snprintf(line, sizeof(line), "problems:%llu notes:%llu", (unsigned long long)sum.problems,
	         (unsigned long long)sum.notes);
	resp_w_bulk_cstr(&c->out, line);
	for (size_t off = 0, i = 0; i < o.shown; i++) {
		const char *s = (const char *)o.lines.data + off;
		resp_w_bulk_cstr(&c->out, s);
		off += strlen(s) + 1;
	}
	buf_deinit(&o.lines);
	if (sum.problems)
		LOG_W(c->node->log, "ENGINE CHECK found %llu problems",
		      (unsigned long long)sum.problems);
}

void cmd_engine(struct client *c)
{
	if (bytes_eq_nocase(c->argv[1], "check") && c->argc == 2) {
		engine_check(c);
	} else if (bytes_eq_nocase(c->argv[1], "help") && c->argc == 2) {
		static const char *const lines[] = {
		    "ENGINE <subcommand> [<arg> ...]. Subcommands are:",
		    "CHECK",
		    "    Verify every checksum of a consistent copy of the data directory.",
		    "HELP",
		    "    Print this help.",
		};
		reply_lines(c, lines, ARRAY_LEN(lines));
	} else {
		resp_w_errorf(&c->out,
		              "ERR unknown subcommand or wrong number of arguments for '%.*s'. Try "
		              "ENGINE HELP.",
		              (int)(c->argv[1].len > 64 ? 64 : c->argv[1].len),
		              (const char *)c->argv[1].ptr);
	}
}
