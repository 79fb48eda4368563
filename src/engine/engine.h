/*
 * engine.h - the storage engine interface of one node.
 *
 * The keyspace (src/keyspace/) implements the data model and the command
 * semantics over an engine; an engine stores entries: a binary key, a
 * binary value and metadata (absolute expiry time, version). Two engines
 * implement this interface: the durable engine (engine_lsm.c, over the LSM
 * store of lsm.h; the default) and the in-memory engine (engine_mem.c, for
 * cache use).
 *
 * Concurrency contract. The keyspace splits keys into KEYSPACE_STRIPES lock
 * stripes by the high bits of the key hash and holds a stripe's lock around
 * every call that names that stripe. An engine may rely on that: calls for
 * one stripe never overlap, calls for different stripes may run on
 * different threads at once. The memory engine therefore keeps one table
 * per stripe and takes no locks of its own.
 *
 * Views. A value or key view returned by an engine stays valid until the
 * next mutating call on the same stripe (the caller still holds the lock)
 * and, for an engine with an end op, until one more get on the stripe
 * (the durable engine keeps the last two values read per stripe).
 *
 * Commands. An engine with an end op (the durable one) keeps the changes
 * of a command pending, visible to that command's own reads, until the
 * keyspace ends the command on its stripes: end writes them as one atomic
 * batch, or reports the read or write error that stopped the command, in
 * which case none of them is applied. The keyspace calls end whenever it
 * releases stripes (ks_unlock), so no path can leave changes pending.
 *
 * Expiry is data, not policy: the engine stores expire_ms and can sample
 * entries that have one; deciding that an entry is expired (passive expiry)
 * and deleting it is the keyspace's job.
 */
#ifndef RINGKV_ENGINE_ENGINE_H
#define RINGKV_ENGINE_ENGINE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/bytes.h"

/* A key with its hash computed once (base/hash.h) and its stripe. */
struct ekey {
	struct bytes key;
	uint64_t hash;
	unsigned stripe;
};

/* The access word: 64 bits per entry that the engine stores and never
 * interprets; the keyspace keeps its LRU clock and LFU counter in it
 * (keyspace/evict.h). get, random, random_volatile and scan report it;
 * put stores meta->access for a new entry and keeps the stored word when
 * it replaces an entry (access history belongs to the key, as in Redis);
 * set_meta ignores it. get and put also hand out a pointer to the stored
 * word (a view, like the value) so that the keyspace can update it in place
 * without a second lookup. */
struct entry_meta {
	int64_t expire_ms; /* absolute wall-clock ms, or 0 for no expiry */
	uint64_t version;  /* sequence number of the last write */
	uint64_t access;   /* the access word */
};

typedef void engine_visit_fn(void *ctx, struct bytes key, const struct entry_meta *meta);

struct engine;

struct engine_ops {
	const char *name;
	void (*destroy)(struct engine *e);
	/* Looks a key up. 0 with *val and *meta set, or ERR_NOT_FOUND. When
	 * access is not NULL, *access points at the stored access word. */
	int (*get)(struct engine *e, const struct ekey *k, struct bytes *val,
	           struct entry_meta *meta, uint64_t **access);
	/* Creates or replaces the entry and returns room for a value of len
	 * bytes in *val_out. The first keep_bytes bytes of the old value (at
	 * most its length) are preserved; the rest is uninitialised and the
	 * caller fills it before releasing the stripe. ERR_NOMEM on failure,
	 * in which case the old entry is unchanged. When access is not NULL,
	 * *access points at the entry's access word (see entry_meta). */
	int (*put)(struct engine *e, const struct ekey *k, size_t len, size_t keep_bytes,
	           const struct entry_meta *meta, uint8_t **val_out, uint64_t **access);
	/* Changes the metadata of an existing entry; ERR_NOT_FOUND if none. */
	int (*set_meta)(struct engine *e, const struct ekey *k, const struct entry_meta *meta);
	/* Deletes an entry; ERR_NOT_FOUND if none. */
	int (*del)(struct engine *e, const struct ekey *k);
	/* Entries in the stripe, and those with an expiry time. */
	uint64_t (*count)(struct engine *e, unsigned stripe);
	uint64_t (*volatile_count)(struct engine *e, unsigned stripe);
	/* One step of a stripe scan; returns the next cursor, 0 when done.
	 * Entries present for the whole scan are visited at least once. */
	uint64_t (*scan)(struct engine *e, unsigned stripe, uint64_t cursor, engine_visit_fn *fn,
	                 void *ctx);
	/* A random entry of the stripe (rnd: caller's random bits), or
	 * ERR_NOT_FOUND when the stripe is empty. */
	int (*random)(struct engine *e, unsigned stripe, uint64_t rnd, struct bytes *key,
	              struct entry_meta *meta);
	/* A random entry among those with an expiry time, for active expiry. */
	int (*random_volatile)(struct engine *e, unsigned stripe, uint64_t rnd, struct bytes *key,
	                       struct entry_meta *meta);
	/* Deletes up to max_entries entries of the stripe; true while more
	 * remain (a flush of a huge stripe is done in slices). */
	bool (*clear)(struct engine *e, unsigned stripe, uint64_t max_entries);
	/* Background upkeep of a stripe (incremental rehash); true while work
	 * remains. */
	bool (*maintain)(struct engine *e, unsigned stripe);
	/* Bytes of memory the stripe's data uses (for INFO). */
	uint64_t (*memory_bytes)(struct engine *e, unsigned stripe);
	/* Ends a command on the stripes set in stripes (KEYSPACE_STRIPES bits,
	 * all held): applies their pending changes as one batch, durably as the
	 * engine's policy promises, and releases views. 0, or the first read
	 * error the command met on them (ERR_CORRUPT, ERR_IO) or the write's
	 * error (ERR_NOSPACE, ERR_IO, ERR_LIMIT, ...), in which case nothing
	 * pending on them is applied. NULL: every call applies at once. */
	int (*end)(struct engine *e, const uint64_t *stripes);
	/* Hands the log records of ended commands that the engine still holds
	 * in memory to the OS; the server calls it once per event-loop turn,
	 * before that turn's replies go out, so that every acknowledged write
	 * survives a crash of the process. 0, or the error (which fails the
	 * engine). NULL: nothing is held back. Any thread, no stripe held. */
	int (*flush_log)(struct engine *e);
	/* Frees up to bytes of the stripe's caches (not data); returns the
	 * bytes freed. Stripe held. NULL: the engine caches nothing. */
	uint64_t (*shed)(struct engine *e, unsigned stripe, uint64_t bytes);
};

struct engine {
	const struct engine_ops *ops;
};

/* Creates the in-memory engine for stripe_count stripes; NULL on ENOMEM. */
struct engine *engine_mem_create(unsigned stripe_count);

#endif
