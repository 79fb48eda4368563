/*
 * replica.c - a node's local copy of replicated keys; see replica.h.
 */
#include "cluster/replica.h"

#include <stdlib.h>

#include "base/err.h"
#include "base/limits.h"
#include "env/env.h"

/* Locks the key's stripe and decodes its stored state into d (initialised
 * empty when absent); *raw is the stored encoding (valid while the stripe
 * is held and unwritten). On error the stripe is released. */
static int load_locked(struct keyspace *ks, const struct ekey *k, struct dvv *d, bool *found,
                       struct bytes *raw)
{
	ks_lock(ks, k->stripe);
	struct entry_meta meta;
	int err = ks_get(ks, k, env_wall_ms(), raw, &meta);
	*found = err == 0;
	if (err == ERR_NOT_FOUND) {
		*raw = bytes_make(NULL, 0);
		dvv_init(d);
		return 0;
	}
	if (!err)
		err = dvv_decode(d, raw->ptr, raw->len);
	if (err)
		(void)ks_unlock(ks, k->stripe);
	return err;
}

/* Stores d unless its encoding equals the stored one (stripe held) and
 * releases the stripe: 0 or the error that kept the write from the
 * engine. enc gets the encoding. */
static int store_unlock(struct keyspace *ks, const struct ekey *k, const struct dvv *d,
                        struct bytes stored, struct buf *enc, bool *changed)
{
	enc->len = 0;
	*changed = false;
	int err = dvv_encode(d, enc, VALUE_BYTES_MAX);
	/* Encodings are canonical (dvv.h): equal bytes, equal knowledge, so
	 * a repeated message or the repair of an up-to-date replica writes
	 * nothing. */
	if (!err && !bytes_eq(stored, bytes_make(enc->data, enc->len))) {
		err = ks_set(ks, k, bytes_make(enc->data, enc->len), 0);
		*changed = !err;
	}
	int uerr = ks_unlock(ks, k->stripe);
	if (uerr)
		*changed = false;
	return err ? err : uerr;
}

int replica_read(struct keyspace *ks, struct bytes key, struct buf *out, bool *found)
{
	struct ekey k;
	ks_key_init(&k, key);
	ks_lock(ks, k.stripe);
	struct bytes val;
	struct entry_meta meta;
	int err = ks_get(ks, &k, env_wall_ms(), &val, &meta);
	*found = err == 0;
	out->len = 0;
	if (!err) {
		err = buf_reserve(out, val.len, VALUE_BYTES_MAX);
		if (!err)
			buf_put(out, val.ptr, val.len);
	}
	int uerr = ks_unlock(ks, k.stripe);
	if (err == ERR_NOT_FOUND)
		err = 0;
	return err ? err : uerr;
}

int replica_update(struct keyspace *ks, struct bytes key, const struct dvv_clock *ctx,
                   uint64_t replica, struct bytes value, uint64_t timestamp_ms, uint32_t flags,
                   bool lww, struct buf *out, bool *was_visible)
{
	struct ekey k;
	ks_key_init(&k, key);
	struct dvv *d = malloc(sizeof(*d));
	if (!d)
		return ERR_NOMEM;
	bool found, changed;
	struct bytes raw;
	int err = load_locked(ks, &k, d, &found, &raw);
	if (err) {
		free(d);
		return err;
	}
	if (was_visible)
		*was_visible = replica_visible(d) != NULL;
	struct dvv_clock own;
	if (!ctx) {
		own = d->clock;
		ctx = &own;
	}
	err = dvv_update(d, ctx, replica, value, timestamp_ms, flags, NULL);
	if (lww && !err)
		dvv_resolve_lww(d);
	if (!err)
		err = store_unlock(ks, &k, d, raw, out, &changed);
	else
		(void)ks_unlock(ks, k.stripe);
	dvv_deinit(d);
	free(d);
	return err;
}

int replica_merge(struct keyspace *ks, struct bytes key, struct bytes state, bool lww,
                  bool *changed)
{
	*changed = false;
	struct ekey k;
	ks_key_init(&k, key);
	struct dvv *in = malloc(sizeof(*in));
	struct dvv *d = malloc(sizeof(*d));
	int err = in && d ? dvv_decode(in, state.ptr, state.len) : ERR_NOMEM;
	if (err) {
		free(in);
		free(d);
		return err;
	}
	bool found;
	struct bytes raw;
	err = load_locked(ks, &k, d, &found, &raw);
	if (!err) {
		err = dvv_sync(d, in);
		if (lww && !err)
			dvv_resolve_lww(d);
		if (!err) {
			struct buf enc;
			buf_init(&enc);
			err = store_unlock(ks, &k, d, raw, &enc, changed);
			buf_deinit(&enc);
		} else {
			(void)ks_unlock(ks, k.stripe);
		}
		dvv_deinit(d);
	}
	dvv_deinit(in);
	free(in);
	free(d);
	return err;
}

const struct dvv_sibling *replica_visible(const struct dvv *d)
{
	int i = dvv_lww_index(d);
	if (i < 0 || (d->siblings[i].flags & DVV_FLAG_TOMBSTONE))
		return NULL;
	return &d->siblings[i];
}
