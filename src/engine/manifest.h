/*
 * manifest.h - the set of live files (versions) and its durable log.
 *
 * A version is the set of live tables per level: L0 tables may overlap and
 * are ordered newest first (highest file number first); tables of L1 and
 * deeper are sorted by smallest key and never overlap. A version is
 * immutable once installed and reference-counted, so a reader can hold one
 * while compaction installs the next; the counts are plain integers that
 * the caller protects with its engine mutex (version_ref/unref and
 * manifest_log_and_apply all run under it).
 *
 * The manifest is a log of version edits (version_edit.h) written with the
 * WAL record format (wal.h) to MANIFEST-<number>; the file CURRENT names
 * the live manifest and is replaced atomically (write CURRENT.tmp, sync,
 * rename, sync the directory). Every manifest begins with a snapshot edit
 * of the whole state, and CURRENT is switched to it only after that
 * snapshot is synced, so CURRENT never names a partial manifest. Layout:
 * docs/formats/manifest.md.
 *
 * manifest_log_and_apply appends and syncs an edit, then installs the new
 * version. If the append or sync fails, nothing in memory changes and the
 * manifest is failed: it refuses every later edit (a failed fsync is never
 * retried; the engine must reopen and recover). The exception is a full
 * disk (ERR_NOSPACE, which is never returned for a failed fsync): an append
 * to the live manifest that runs out of room is cut off the file (which
 * is synced and never appended to again), and the next edit first rolls
 * to a new manifest; a roll that runs out of room leaves CURRENT naming
 * the old manifest, whole. Either way the edit is not installed and the
 * manifest stays usable. Startup: manifest_recover
 * (read CURRENT, replay, check against the directory), then the engine
 * removes the orphans it reports, then manifest_start writes a new
 * manifest. Startup never guesses: damage is ERR_CORRUPT with the file and
 * offset unless the operator asks for salvage.
 */
#ifndef RINGKV_ENGINE_MANIFEST_H
#define RINGKV_ENGINE_MANIFEST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/bytes.h"
#include "base/limits.h"
#include "engine/version_edit.h"
#include "env/fs.h"

/* A live table; shared by every version that holds it. */
struct manifest_file {
	uint64_t number, size, min_seq, max_seq, blob_refs;
	struct bytes smallest, largest; /* internal keys, owned (stored after the struct) */
	uint32_t refs;                  /* versions holding it */
};

/* A blob file as the manifest knows it (docs/formats/manifest.md, "Blob
 * files"): record bytes and counts that tables were ever made to point at
 * (linked) and that no table points at any more (garbage). Sealed: no
 * table will ever point at more of its records; a sealed file whose
 * garbage equals its linked bytes is deleted. */
struct manifest_blob {
	uint64_t number;
	uint64_t linked_bytes, linked_records;
	uint64_t garbage_bytes, garbage_records;
	bool sealed;
};

struct version; /* opaque */

void version_ref(struct version *v);
void version_unref(struct version *v);
size_t version_file_count(const struct version *v, uint32_t level);
/* The i-th file of level in the level's order (see above). */
const struct manifest_file *version_file(const struct version *v, uint32_t level, size_t i);
uint64_t version_level_bytes(const struct version *v, uint32_t level);
/* The blob files of v, by ascending number. */
size_t version_blob_count(const struct version *v);
const struct manifest_blob *version_blob(const struct version *v, size_t i);
/* NULL when v does not list it. */
const struct manifest_blob *version_blob_find(const struct version *v, uint64_t number);
/* Adds v's blob files (FILE records) and the tracking marker to e, for a
 * snapshot edit. ERR_LIMIT, ERR_NOMEM. */
int version_snapshot_blobs(const struct version *v, struct version_edit *e);

struct manifest_options {
	struct env_fs *fs;
	const char *dir;     /* the store's directory */
	uint64_t salt;       /* random; mixed with the manifest number as its WAL salt */
	uint64_t roll_bytes; /* 0: MANIFEST_ROLL_BYTES_DEFAULT */
	bool salvage;        /* skip damaged edits instead of failing */
};

enum manifest_file_kind {
	MANIFEST_KIND_TABLE,    /* <number>.sst */
	MANIFEST_KIND_LOG,      /* <number>.log */
	MANIFEST_KIND_MANIFEST, /* MANIFEST-<number> */
	MANIFEST_KIND_TEMP,     /* CURRENT.tmp */
};

struct manifest_orphan {
	enum manifest_file_kind kind;
	uint64_t number;
	char name[32];
};

struct manifest_recover_result {
	bool new_db;              /* no CURRENT: nothing was ever committed */
	uint64_t manifest_number; /* the manifest replayed */
	uint64_t edit_count;
	uint64_t dropped_bytes, skipped_bytes; /* torn tail; salvage */
	uint64_t error_offset;                 /* ERR_CORRUPT in a manifest */
	char error[160];                       /* ERR_CORRUPT, ERR_LIMIT: what and where */
	struct manifest_orphan *orphans;       /* files no version refers to */
	size_t orphan_count;
};

struct manifest; /* opaque */

/* Reads CURRENT and replays the manifest it names (or, in an empty
 * directory or one with only leftovers of an unfinished first open, starts
 * an empty state: res->new_db). Writes nothing. ERR_CORRUPT ("no CURRENT
 * file", "missing file N", damage with its file and offset), ERR_LIMIT,
 * ERR_IO, ERR_NOMEM; *res is written in every case and must be released
 * with manifest_recover_result_deinit. opt->dir is copied. */
int manifest_recover(struct manifest **out, const struct manifest_options *opt,
                     struct manifest_recover_result *res);
void manifest_recover_result_deinit(struct manifest_recover_result *res);

/* False when the recovered manifest predates blob tracking (its snapshot
 * lacks the marker): its blob files on disk are unknown to it and must be
 * adopted (manifest_adopt_blob) before manifest_start, which marks the new
 * manifest as tracking. A new store tracks from the start. */
bool manifest_blobs_tracked(const struct manifest *m);

/* Before manifest_start only: adds b (op VEDIT_BLOB_FILE) to the current
 * version in place, so that the snapshot manifest_start writes holds it.
 * ERR_CORRUPT if the version lists it already, ERR_NOMEM, ERR_LIMIT. */
int manifest_adopt_blob(struct manifest *m, const struct vedit_blob *b);

/* Writes a new manifest holding a snapshot of the current state, switches
 * CURRENT to it, then removes the previous manifest (best effort). Any env
 * failure marks the manifest failed. */
int manifest_start(struct manifest *m);

/* Stamps e with the next file number (unless set), appends and syncs it
 * (rolling to a new manifest first when the current one has passed the
 * roll size or an append ran out of space), then installs the resulting
 * version. A violation of the level rules by e is a bug (ASSERT). On
 * failure the version is unchanged; an env failure marks the manifest
 * failed (returned by every later call); ERR_LIMIT or ERR_NOMEM before
 * any write, and ERR_NOSPACE (see above), leave it usable. */
int manifest_log_and_apply(struct manifest *m, struct version_edit *e);

/* The current version, borrowed: version_ref it to keep it past the next
 * manifest_log_and_apply. */
struct version *manifest_current(const struct manifest *m);

/* Reserves a file number for a new table, log or manifest. */
uint64_t manifest_new_file_number(struct manifest *m);
uint64_t manifest_next_file(const struct manifest *m);
uint64_t manifest_log_number(const struct manifest *m);
uint64_t manifest_last_seq(const struct manifest *m);
/* 0 while edits are accepted, else the error that stopped the manifest. */
int manifest_failed(const struct manifest *m);

/* Closes the manifest file (no sync) and frees everything; versions still
 * referenced by readers stay valid until their last unref. */
void manifest_destroy(struct manifest *m);

/* dir/<name of the file of this kind and number>. ERR_LIMIT if too long. */
int manifest_file_path(char *out, size_t cap, const char *dir, enum manifest_file_kind kind,
                       uint64_t number);

#endif
