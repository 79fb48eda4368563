/*
 * cluster_id.c - this node's DVV replica id (cluster/dvv.h): the id its
 * writes' dots carry.
 *
 * A replica must never issue a dot twice for two different writes, and it
 * numbers its writes of a key from what it holds of that key. A node whose
 * store lost writes it had acknowledged - its data directory wiped, the
 * memory engine restarted, or the tail of its WAL under fsync everysec
 * lost in a crash while other replicas kept those writes - would number
 * its next writes from the older state and reissue dots. So the id is kept
 * in the data directory (cluster-replica-id) only across clean shutdowns:
 * a clean exit leaves a marker (cluster-clean-shutdown, holding the id)
 * after the engine closed, and start-up removes it, durably, before
 * anything is served. Start-up without the marker takes a new random id.
 * The cost is one more entry in the version vector of each key the node
 * writes after a crash (DVV_REPLICAS_MAX, docs/cluster.md).
 *
 * The marker also holds the replica's dot floor (cluster/dvv.h, floors:
 * raised as tombstones are collected), so that a kept id keeps numbering
 * above the states it dropped. A new id starts from floor 0: it never
 * numbered anything.
 */
#include <stdio.h>
#include <unistd.h>

#include "base/err.h"
#include "env/env.h"
#include "net/cluster.h"
#include "net/cluster_internal.h"

#define ID_FILE    "cluster-replica-id"
#define CLEAN_FILE "cluster-clean-shutdown"

/* The id in path, and the floor after it if there is one (0 if not): 0,
 * ERR_NOT_FOUND, or ERR_CORRUPT. */
static int read_id(const char *path, uint64_t *id, uint64_t *floor)
{
	FILE *f = fopen(path, "r");
	if (!f)
		return ERR_NOT_FOUND;
	unsigned long long v = 0, fl = 0;
	int n = fscanf(f, "%16llx %16llx", &v, &fl);
	fclose(f);
	if (n < 1 || v == 0)
		return ERR_CORRUPT;
	*id = v;
	*floor = n == 2 ? fl : 0;
	return 0;
}

static int sync_dir(void)
{
	FILE *d = fopen(".", "r");
	if (!d)
		return ERR_IO;
	int rc = fsync(fileno(d)) == 0 ? 0 : ERR_IO;
	fclose(d);
	return rc;
}

/* Writes id and floor to path durably (tmp, fsync, rename, fsync of the
 * directory). */
static int write_id(const char *path, uint64_t id, uint64_t floor)
{
	char tmp[64];
	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	FILE *f = fopen(tmp, "w");
	bool ok = f &&
	    fprintf(f, "%016llx %016llx\n", (unsigned long long)id, (unsigned long long)floor) >
	        0 &&
	    fflush(f) == 0 && fsync(fileno(f)) == 0;
	if (f && fclose(f) != 0)
		ok = false;
	if (!ok || rename(tmp, path) != 0)
		return ERR_IO;
	return sync_dir();
}

static uint64_t new_id(void)
{
	uint64_t v = 0;
	while (!v)
		v = env_random_seed();
	return v;
}

static bool durable_engine(const struct config *cfg)
{
	return config_get(cfg, CFG_ENGINE) == CFG_ENGINE_LSM;
}

int cluster_replica_id_load(struct config *cfg, struct log *log, struct replica_self *out,
                            char *err, size_t err_cap)
{
	if (!durable_engine(cfg)) {
		/* the memory engine starts empty every time */
		*out = (struct replica_self){new_id(), 0};
		return 0;
	}
	uint64_t id = 0, clean_id = 0, ignored, floor = 0;
	int rc = read_id(ID_FILE, &id, &ignored);
	if (rc == ERR_CORRUPT) {
		snprintf(err, err_cap,
		         "cluster: %s is damaged (remove it to take a new replica id)", ID_FILE);
		return rc;
	}
	bool had_id = rc == 0;
	bool clean = had_id && read_id(CLEAN_FILE, &clean_id, &floor) == 0 && clean_id == id;
	if (!clean) {
		if (had_id)
			LOG_W(
			    log,
			    "cluster: the last run did not shut down cleanly: taking a new replica "
			    "id so that no write's version is issued twice (was %016llx)",
			    (unsigned long long)id);
		id = new_id();
		floor = 0;
		if (write_id(ID_FILE, id, 0) != 0) {
			snprintf(err, err_cap, "cluster: cannot write %s", ID_FILE);
			return ERR_IO;
		}
	}
	/* From here on an exit is unclean until cluster_mark_clean says not. */
	if ((unlink(CLEAN_FILE) == 0 && sync_dir() != 0)) {
		snprintf(err, err_cap, "cluster: cannot remove %s durably", CLEAN_FILE);
		return ERR_IO;
	}
	*out = (struct replica_self){id, floor};
	return 0;
}

void cluster_mark_clean(struct config *cfg, struct log *log, struct replica_self self)
{
	if (self.id && durable_engine(cfg) && write_id(CLEAN_FILE, self.id, self.floor) != 0)
		LOG_W(log, "cluster: cannot write %s: the next start takes a new replica id",
		      CLEAN_FILE);
}
