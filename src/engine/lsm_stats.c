/*
 * lsm_stats.c - the engine's statistics (lsm.h, "Statistics").
 *
 * The counters live in db->stats (struct lsm_counters, lsm_internal.h) and
 * are bumped where the work happens: user, WAL and blob bytes, WAL syncs
 * and stalls by the group-commit leader (lsm_write.c), flushes by the
 * flush thread (lsm_flush.c), compactions at install (lsm_compact.c).
 * They are relaxed atomics, so bumping one costs an uncontended add and
 * reading them takes no lock; the get path touches none of them. What the
 * store holds now (memtables, levels, failed) is read under db->mu like
 * lsm_level_bytes does, and the block cache reports its own counters.
 *
 * A reader that waited for some work under mu (lsm_flush, lsm_compact_wait)
 * sees its counters, because they are bumped before the state change that
 * ends the wait is published under mu.
 */
#include "engine/lsm.h"

#include <string.h>

#include "base/histogram.h"
#include "engine/lsm_internal.h"

static uint64_t load(const atomic_uint_fast64_t *c)
{
	return atomic_load_explicit(c, memory_order_relaxed);
}

int lsm_wal_sync_counted(struct lsm *db)
{
	uint64_t t0 = env_mono_ns();
	int err = wal_sync(&db->wal);
	/* A failed sync is counted too: its latency is part of the story. */
	lsm_count_wal_sync(db, env_mono_ns() - t0);
	return err;
}

void lsm_count_wal_sync(struct lsm *db, uint64_t ns)
{
	hist_record(&db->stats.wal_sync_ns, ns);
	lsm_count(&db->stats.wal_syncs, 1);
}

void lsm_stats_wal_sync_hist(struct lsm *db, struct hist_snapshot *out)
{
	hist_snapshot_clear(out);
	hist_snapshot_add(out, &db->stats.wal_sync_ns);
}

/* What the store holds now; mu held. */
static void fill_state_locked(struct lsm *db, struct lsm_stats *out)
{
	out->mem_bytes = memtable_bytes(&db->mem->mt);
	out->imm_bytes = db->imm ? memtable_bytes(&db->imm->mt) : 0;
	struct version *v = manifest_current(db->man);
	for (uint32_t level = 0; level < LSM_LEVELS; level++) {
		out->level_file_count[level] = version_file_count(v, level);
		out->level_bytes[level] = version_level_bytes(v, level);
	}
	out->blob_file_count = version_blob_count(v);
	for (size_t i = 0; i < version_blob_count(v); i++) {
		const struct manifest_blob *b = version_blob(v, i);
		out->blob_live_bytes += b->linked_bytes - b->garbage_bytes;
		out->blob_garbage_bytes += b->garbage_bytes;
	}
	out->failed = db->failed;
	out->nospace = lsm_nospace_locked(db);
	out->last_seq = db->last_seq;
	out->synced_seq = db->synced_seq;
}

static void fill_counters(struct lsm *db, struct lsm_stats *out)
{
	const struct lsm_counters *c = &db->stats;
	out->flush_count = load(&c->flushes);
	out->flush_bytes = load(&c->flush_bytes);
	out->compaction_count = load(&c->compactions);
	out->compaction_read_bytes = load(&c->compaction_read_bytes);
	out->compaction_write_bytes = load(&c->compaction_write_bytes);
	out->user_bytes = load(&c->user_bytes);
	out->wal_bytes = load(&c->wal_bytes);
	out->blob_bytes = load(&c->blob_bytes);
	out->blob_reclaimed_bytes = load(&c->blob_reclaimed_bytes);
	out->blob_gc_write_bytes = load(&c->blob_gc_bytes);
	out->wal_sync_count = load(&c->wal_syncs);
	out->stall_count = load(&c->stalls);
	out->stall_ms = load(&c->stall_ms);
	out->bg_priority_changes = load(&c->bg_priority_changes);
	uint64_t disk = out->wal_bytes + out->flush_bytes + out->compaction_write_bytes +
	    out->blob_bytes + out->blob_gc_write_bytes;
	out->write_amp = out->user_bytes ? (double)disk / (double)out->user_bytes : 0.0;
}

void lsm_stats(struct lsm *db, struct lsm_stats *out)
{
	memset(out, 0, sizeof(*out));
	env_mutex_lock(&db->mu);
	fill_state_locked(db, out);
	env_mutex_unlock(&db->mu);
	fill_counters(db, out);

	struct cache_stats cs;
	cache_get_stats(db->cache, &cs);
	out->cache_capacity_bytes = cs.capacity_bytes;
	out->cache_usage_bytes = cs.usage_bytes;
	out->cache_hits = cs.hits;
	out->cache_misses = cs.misses;

	/* 18 KiB on the stack: this is not a hot path, and it keeps lsm_stats
	 * infallible. */
	struct hist_snapshot s;
	lsm_stats_wal_sync_hist(db, &s);
	out->wal_sync_p50_ns = hist_percentile(&s, 50);
	out->wal_sync_p99_ns = hist_percentile(&s, 99);
	out->wal_sync_max_ns = hist_percentile(&s, 100);
}
