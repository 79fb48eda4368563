/*
 * env_fs_mem.h - in-memory files with fault injection and power cuts.
 *
 * An env_fs (fs.h) that keeps every file in memory, for unit tests and the
 * simulator. Deterministic: every random choice (a short write's length, a
 * flipped bit, how much of an unsynced tail survives a crash) comes from a
 * PRNG that the caller seeds, so a seed replays a run exactly.
 *
 * Durability model (after LevelDB's fault-injection env and SQLite's
 * test6.c crash simulation; our own code). Each file has live contents
 * and durable contents; the namespace has live names and durable names:
 * - sync(f) makes the file's durable contents equal its live contents
 *   (data and size). A failed sync changes nothing durable.
 * - sync_dir(d) makes the durable names of directory d equal its live
 *   names: creates, renames into or out of d and removes become durable.
 * - crash() is a power cut. Live names become the durable names: a file
 *   created (or renamed in, or removed) since its directory was last synced
 *   disappears (or reappears, or reverts to its old name). Every surviving
 *   file's contents become its durable contents: every byte not covered by
 *   a successful sync is lost. With ENV_FS_MEM_CRASH_TORN a random prefix of
 *   the unsynced appended tail survives instead (pages written back before
 *   the cut), which is how torn records reach disk; the kept prefix is
 *   always a prefix, never a later page without an earlier one, and only
 *   when the file was only appended to since its last sync.
 * - link adds a name for the same file (contents shared); the name is
 *   durable after sync_dir like a create.
 * - Directories made by mkdir or removed by rmdir are durable at once (a
 *   simplification: the engine makes its directory once, at startup, and
 *   syncs its parent; a checkpoint removes only a directory it made).
 * - Handles opened before a crash are dead: every call on them returns
 *   ERR_IO, and close releases them.
 *
 * Faults: one rule at a time fails the nth later call of one kind (or of
 * any kind) with a chosen error, optionally every call after it too
 * (sticky), and, for append, after writing a random prefix (a short write).
 * A capacity cap makes append fill the disk and fail with ERR_NOSPACE.
 * Bit flips change stored bytes (both live and durable: media damage).
 * map gives a view of the live bytes themselves: a later bit flip shows
 * through it, and each access through it (env_fs_map_read) is counted and
 * fault-checked as a READ, so read faults and bit flips reach mapped
 * readers as they reach read_at. A map call counts as ENV_FS_OP_MAP.
 *
 * Thread-safe: every operation and control call takes the instance's
 * mutex, so an engine's threads (writers, flush, compaction) can share it;
 * a seed replays exactly only when the calls arrive in the same order.
 */
#ifndef RINGKV_ENV_ENV_FS_MEM_H
#define RINGKV_ENV_ENV_FS_MEM_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "env/env.h"
#include "env/fs.h"

struct mem_inode;
struct mem_name;

struct env_fs_mem_fault {
	enum env_fs_op op; /* ENV_FS_OP_ANY matches every call */
	uint64_t nth;      /* 1 = the next matching call; 0 = no fault */
	int err;           /* what the failing call returns (ERR_IO, ERR_NOSPACE) */
	bool sticky;       /* also fail every matching call after the nth */
	bool partial;      /* a failing append first writes a random prefix */
};

enum env_fs_mem_crash_mode {
	ENV_FS_MEM_CRASH_DROP, /* every unsynced byte is lost */
	ENV_FS_MEM_CRASH_TORN, /* a random prefix of each unsynced tail survives */
};

/* Caller-allocated; fields are private to env_fs_mem.c. */
struct env_fs_mem {
	struct env_fs base;
	struct env_rng rng;
	struct mem_name *live, *durable;
	size_t live_count, live_cap, durable_count, durable_cap;
	char **dirs;
	size_t dir_count, dir_cap;
	uint64_t used_bytes, capacity_bytes;
	uint64_t calls[ENV_FS_OP_COUNT];
	struct env_fs_mem_fault fault;
	uint64_t fault_seen;
	uint64_t crash_gen;
	uint64_t open_handles;
	uint64_t open_maps;
	struct env_mutex mu;            /* guards everything above */
	_Atomic uint64_t sync_delay_ns; /* modelled fsync latency */
};

/* An empty file system with the root "." (and "/") and no capacity cap. */
void env_fs_mem_init(struct env_fs_mem *fs, uint64_t seed);

/* Frees every file. Requires every handle closed and every mapping
 * released. */
void env_fs_mem_deinit(struct env_fs_mem *fs);

/* Installs a fault rule (replacing any); counting starts now. A rule with
 * nth == 0 removes it. */
void env_fs_mem_inject(struct env_fs_mem *fs, const struct env_fs_mem_fault *fault);

/* Caps the bytes of all files together (0 = no cap). */
void env_fs_mem_set_capacity(struct env_fs_mem *fs, uint64_t bytes);

/* Makes every sync wait delay_ns first (outside the lock), to model a
 * device's fsync latency, e.g. for group-commit tests. 0: none. */
void env_fs_mem_set_sync_delay(struct env_fs_mem *fs, uint64_t delay_ns);

/* Calls of one kind (ENV_FS_OP_ANY: all) since init, faulted ones included. */
uint64_t env_fs_mem_calls(struct env_fs_mem *fs, enum env_fs_op op);

/* Bytes of all live files together. */
uint64_t env_fs_mem_used_bytes(struct env_fs_mem *fs);

/* Flips bit (bit % 8) of byte (bit / 8) of the file. ERR_NOT_FOUND for a
 * missing file, ERR_RANGE past its end. */
int env_fs_mem_flip_bit(struct env_fs_mem *fs, const char *path, uint64_t bit);

/* Flips one PRNG-chosen bit among bytes [lo, hi) (clamped to the file) and
 * reports it in *bit. ERR_RANGE when the range is empty. */
int env_fs_mem_flip_random(struct env_fs_mem *fs, const char *path, uint64_t lo, uint64_t hi,
                           uint64_t *bit);

/* A power cut; see the model above. */
void env_fs_mem_crash(struct env_fs_mem *fs, enum env_fs_mem_crash_mode mode);

#endif
