/*
 * version_edit.h - one change to the set of live files, as stored in the
 * manifest.
 *
 * A version edit says: the WAL now in use, the next file number, the last
 * sequence number, the comparator, files added (level, number, size,
 * smallest and largest internal key, min/max seq, blob references) and
 * files deleted (level, number), and optionally a compaction pointer per
 * level. The manifest (manifest.h) is a log of edits; replaying them in
 * order from its first (snapshot) edit gives the current version.
 *
 * Encoding (docs/formats/manifest.md): a sequence of fields, each
 * varint tag | varint body_bytes | body. Tags below VEDIT_TAG_OPTIONAL are
 * required: a reader that does not know one refuses the edit (ERR_CORRUPT),
 * since ignoring it could change the set of live files. Tags with that bit
 * set are hints: an unknown one is skipped. Every length is checked against
 * the bytes present and limits.h before use; a known body must be consumed
 * exactly.
 *
 * Memory: the edit owns its arrays of added and deleted files, but not the
 * key bytes: the caller's keys (add_file, set_compact_pointer) must stay
 * valid until the edit is encoded or applied, and a decoded edit's keys
 * are views into the decoded bytes. Single owner, no locking.
 */
#ifndef RINGKV_ENGINE_VERSION_EDIT_H
#define RINGKV_ENGINE_VERSION_EDIT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/buf.h"
#include "base/bytes.h"
#include "base/limits.h"

/* The key order this engine uses (ikey.h); recorded so a store is never
 * opened with another order. */
#define VEDIT_COMPARATOR "ringkv.ikey.v1"

enum vedit_tag {
	VEDIT_TAG_COMPARATOR = 1,
	VEDIT_TAG_LOG_NUMBER = 2,
	VEDIT_TAG_NEXT_FILE = 3,
	VEDIT_TAG_LAST_SEQ = 4,
	VEDIT_TAG_DELETE_FILE = 5,
	VEDIT_TAG_ADD_FILE = 6,
	VEDIT_TAG_BLOB_FILE = 7,    /* a blob file's whole record (snapshots) */
	VEDIT_TAG_BLOB_LINK = 8,    /* tables now point at more of its records */
	VEDIT_TAG_BLOB_GARBAGE = 9, /* records no table points at any more */
	VEDIT_TAG_BLOB_SEAL = 10,   /* no table will ever point at more of it */
	VEDIT_TAG_BLOB_DELETE = 11, /* sealed, all garbage: gone */
	VEDIT_TAG_BLOBS_TRACKED = 12, /* snapshot: the manifest tracks blob files */
	VEDIT_TAG_OPTIONAL = 64, /* bit: an unknown tag with it set is skipped */
	VEDIT_TAG_COMPACT_POINTER = VEDIT_TAG_OPTIONAL | 1,
};

/* Which scalar fields an edit sets (struct version_edit.has). */
enum vedit_has {
	VEDIT_HAS_COMPARATOR = 1u << 0,
	VEDIT_HAS_LOG_NUMBER = 1u << 1,
	VEDIT_HAS_NEXT_FILE = 1u << 2,
	VEDIT_HAS_LAST_SEQ = 1u << 3,
	VEDIT_HAS_BLOBS_TRACKED = 1u << 4,
};

struct vedit_file {
	uint32_t level;
	uint64_t number, size;
	uint64_t min_seq, max_seq;
	uint64_t blob_refs;             /* the oldest blob file the table points into; 0: none */
	struct bytes smallest, largest; /* internal keys, borrowed */
};

struct vedit_delete {
	uint32_t level;
	uint64_t number;
};

/* One change to the blob files (docs/formats/manifest.md, "Blob files");
 * applied in the order of the edit. */
enum vedit_blob_op {
	VEDIT_BLOB_FILE = VEDIT_TAG_BLOB_FILE,
	VEDIT_BLOB_LINK = VEDIT_TAG_BLOB_LINK,
	VEDIT_BLOB_GARBAGE = VEDIT_TAG_BLOB_GARBAGE,
	VEDIT_BLOB_SEAL = VEDIT_TAG_BLOB_SEAL,
	VEDIT_BLOB_DELETE = VEDIT_TAG_BLOB_DELETE,
};

/* Bytes are blob record bytes (blob_record_bytes: header, key, value). FILE
 * sets every field; LINK adds linked_*, GARBAGE adds garbage_*; SEAL and
 * DELETE use only number. */
struct vedit_blob {
	enum vedit_blob_op op;
	uint64_t number;
	uint64_t linked_bytes, linked_records;
	uint64_t garbage_bytes, garbage_records;
	bool sealed;
};

struct version_edit {
	unsigned has;
	uint64_t log_number, next_file, last_seq;
	struct vedit_file *adds;
	size_t add_count, add_cap;
	struct vedit_delete *dels;
	size_t del_count, del_cap;
	struct vedit_blob *blobs;
	size_t blob_count, blob_cap;
	unsigned pointer_mask; /* bit L: compact_pointer[L] is set */
	struct bytes compact_pointer[LSM_LEVELS];
};

void version_edit_init(struct version_edit *e);
void version_edit_deinit(struct version_edit *e);

void version_edit_set_comparator(struct version_edit *e);
void version_edit_set_log_number(struct version_edit *e, uint64_t n);
void version_edit_set_next_file(struct version_edit *e, uint64_t n);
void version_edit_set_last_seq(struct version_edit *e, uint64_t seq);
void version_edit_set_compact_pointer(struct version_edit *e, uint32_t level, struct bytes ikey);

/* Records a new file (keys borrowed). ERR_LIMIT past MANIFEST_FILES_MAX,
 * ERR_NOMEM; the edit is unchanged on failure. */
int version_edit_add_file(struct version_edit *e, const struct vedit_file *f);

/* Records the removal of a file. ERR_LIMIT, ERR_NOMEM as above. */
int version_edit_delete_file(struct version_edit *e, uint32_t level, uint64_t number);

/* Marks a snapshot of a manifest that tracks its blob files. */
void version_edit_set_blobs_tracked(struct version_edit *e);

/* Records a change to a blob file. ERR_LIMIT, ERR_NOMEM as above. */
int version_edit_blob(struct version_edit *e, const struct vedit_blob *b);

/* Appends the encoding of e to out. ERR_LIMIT when out would pass
 * MANIFEST_RECORD_BYTES_MAX (out then holds what it held before, possibly
 * with a larger allocation), ERR_NOMEM. */
int version_edit_encode(const struct version_edit *e, struct buf *out);

/* Decodes in into e, which must be freshly initialised; keys are views into
 * in. ERR_CORRUPT (with a constant *reason) for a malformed or unknown
 * required field, ERR_NOMEM; e must be deinitialised either way. */
int version_edit_decode(struct version_edit *e, struct bytes in, const char **reason);

#endif
