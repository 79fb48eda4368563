/*
 * replica.c - a node's local copy of replicated keys; see replica.h.
 */
#include "cluster/replica.h"

#include <stdlib.h>

#include "base/assert.h"
#include "base/err.h"
#include "base/limits.h"
#include "base/strconv.h"
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

/* load_locked into a state allocated here (a struct dvv holds room for
 * DVV_SIBLINGS_MAX siblings: too large for the stack); *out is NULL on
 * error. */
static int load_new_locked(struct keyspace *ks, const struct ekey *k, struct dvv **out,
                           bool *found, struct bytes *raw)
{
	*out = malloc(sizeof(**out));
	if (!*out)
		return ERR_NOMEM;
	int err = load_locked(ks, k, *out, found, raw);
	if (err) {
		free(*out);
		*out = NULL;
	}
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
                   struct replica_self self, struct bytes value, uint64_t timestamp_ms,
                   uint32_t flags, bool lww, struct buf *out, bool *was_visible)
{
	return replica_update_expiring(ks, key, ctx, self, value, timestamp_ms, flags, 0, lww, out,
	                               was_visible);
}

/* Writes d (stripe held, loaded from raw) with a client's write limits
 * and the LWW rule, and releases the stripe. */
static int finish_client_write(struct keyspace *ks, const struct ekey *k, struct dvv *d,
                               struct bytes raw, bool lww, int err, struct buf *out)
{
	bool changed;
	if (lww && !err)
		dvv_resolve_lww(d);
	/* A client's write stops below the structural maximum, so that the
	 * merges of handoff and repair have room to join what was written
	 * concurrently elsewhere. */
	if (!err && d->sibling_count > DVV_SIBLINGS_WRITE_MAX)
		err = ERR_LIMIT;
	if (!err)
		err = store_unlock(ks, k, d, raw, out, &changed);
	else
		(void)ks_unlock(ks, k->stripe);
	return err;
}

int replica_update_expiring(struct keyspace *ks, struct bytes key, const struct dvv_clock *ctx,
                            struct replica_self self, struct bytes value, uint64_t timestamp_ms,
                            uint32_t flags, uint64_t expire_ms, bool lww, struct buf *out,
                            bool *was_visible)
{
	struct ekey k;
	ks_key_init(&k, key);
	struct dvv *d;
	bool found;
	struct bytes raw;
	int err = load_new_locked(ks, &k, &d, &found, &raw);
	if (err)
		return err;
	if (was_visible)
		*was_visible = replica_visible(d, timestamp_ms) != NULL;
	struct dvv_clock own;
	if (!ctx) {
		own = d->clock;
		ctx = &own;
	}
	err = dvv_update_expiring(d, ctx, self.id, self.floor, value, timestamp_ms, flags,
	                          expire_ms, NULL);
	err = finish_client_write(ks, &k, d, raw, lww, err, out);
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

/* ---- Tombstone collection ------------------------------------------------ */

bool replica_collectable(const struct dvv *d, uint64_t now_ms, uint64_t grace_ms)
{
	if (d->sibling_count == 0)
		return false;
	uint64_t newest = 0;
	for (uint32_t i = 0; i < d->sibling_count; i++) {
		const struct dvv_sibling *s = &d->siblings[i];
		bool expired = dvv_sibling_expired(s, now_ms);
		if (!(s->flags & DVV_FLAG_TOMBSTONE) && !expired)
			return false;
		/* An expired value died at its expiry, which may be after the
		 * write (or before it, for a SET ... PXAT in the past). */
		uint64_t died =
		    expired && s->expire_ms > s->timestamp_ms ? s->expire_ms : s->timestamp_ms;
		if (died > newest)
			newest = died;
	}
	return newest <= now_ms && now_ms - newest >= grace_ms;
}

int replica_read_collectable(struct keyspace *ks, struct bytes key, uint64_t now_ms,
                             uint64_t grace_ms, struct buf *state, bool *collectable)
{
	*collectable = false;
	bool found;
	int err = replica_read(ks, key, state, &found);
	if (err || !found)
		return err;
	struct dvv *d = malloc(sizeof(*d));
	if (!d)
		return ERR_NOMEM;
	err = dvv_decode(d, state->data, state->len);
	if (!err) {
		*collectable = replica_collectable(d, now_ms, grace_ms);
		dvv_deinit(d);
	}
	free(d);
	return err;
}

int replica_drop_if(struct keyspace *ks, struct bytes key, struct bytes expect, uint64_t self_id,
                    uint64_t *floor, bool *dropped)
{
	*dropped = false;
	struct ekey k;
	ks_key_init(&k, key);
	struct dvv *d;
	bool found;
	struct bytes raw;
	int err = load_new_locked(ks, &k, &d, &found, &raw);
	if (err)
		return err;
	if (found && bytes_eq(raw, expect)) {
		/* The floor first: from here this replica forgets the numbers
		 * it gave its writes of the key (dvv.h, floors). */
		uint64_t own = dvv_clock_get(&d->clock, self_id);
		if (own > *floor)
			*floor = own;
		err = ks_del(ks, &k, env_wall_ms());
		*dropped = !err;
	}
	int uerr = ks_unlock(ks, k.stripe);
	dvv_deinit(d);
	free(d);
	if (uerr)
		*dropped = false;
	return err ? err : uerr;
}

int replica_live_index(const struct dvv *d, uint64_t now_ms)
{
	int i = dvv_lww_index(d);
	if (i < 0 || (d->siblings[i].flags & DVV_FLAG_TOMBSTONE) ||
	    dvv_sibling_expired(&d->siblings[i], now_ms))
		return -1;
	return i;
}

const struct dvv_sibling *replica_visible(const struct dvv *d, uint64_t now_ms)
{
	int i = replica_live_index(d, now_ms);
	return i < 0 ? NULL : &d->siblings[i];
}

/* ---- Counters ------------------------------------------------------------ */

/* The counter a state shows when its LWW winner is a counter: the merge of
 * every sibling dvv_lww_kept keeps, which is the winner's lineage. *counting
 * false (out unwritten) when the winner is not a counter or there is none.
 * ERR_LIMIT past PNCOUNTER_REPLICAS_MAX. */
static int visible_counter(const struct dvv *d, uint64_t now_ms, struct dvv_counter *out,
                           bool *counting)
{
	uint32_t idx[DVV_SIBLINGS_MAX];
	uint32_t n = replica_live_index(d, now_ms) < 0 ? 0 : dvv_lww_kept(d, idx);
	*counting = n > 0 && (d->siblings[idx[0]].flags & DVV_FLAG_COUNTER);
	if (!*counting)
		return 0;
	struct dvv_counter one;
	for (uint32_t k = 0; k < n; k++) {
		const struct dvv_sibling *s = &d->siblings[idx[k]];
		/* dvv_update and dvv_decode admit only counters that decode. */
		int err = dvv_counter_decode(k == 0 ? out : &one, s->value, s->value_len);
		ASSERT(err == 0);
		err = k == 0 ? 0 : pncounter_merge(&out->pn, &one.pn);
		if (err)
			return err;
	}
	return 0;
}

/* The counter an INCR starts when the state shows no counter: from the
 * visible register's integer (ERR_INVALID when it is not a decimal int64,
 * as INCR on one node), or from 0 over a tombstone, an expired value or
 * nothing. Its origin is the dot of the winner it replaces ({0, 0}: none),
 * so replicas that start from the same value build one counter (dvv.h,
 * lineage). *expire_ms: the visible register's expiry, which the counter
 * keeps (Redis: INCR keeps a key's TTL). */
static int counter_start(const struct dvv *d, uint64_t now_ms, struct dvv_counter *c,
                         uint64_t *expire_ms)
{
	int w = dvv_lww_index(d);
	const struct dvv_sibling *win = w < 0 ? NULL : &d->siblings[w];
	bool live = replica_live_index(d, now_ms) >= 0;
	ASSERT(!live || !(win->flags & DVV_FLAG_COUNTER));
	c->origin = win ? win->dot : (struct dvv_dot){0, 0};
	c->base = 0;
	pncounter_init(&c->pn);
	*expire_ms = live ? win->expire_ms : 0;
	if (live && !strconv_i64(bytes_make(win->value, win->value_len), &c->base))
		return ERR_INVALID;
	return 0;
}

static bool add_overflows(int64_t a, int64_t b)
{
	return (b < 0 && a < 0 && b < INT64_MIN - a) || (b > 0 && a > 0 && b > INT64_MAX - a);
}

/* The counter an INCR of delta at replica writes, its value, and the
 * expiry it keeps: the visible value's. */
static int incr_next(const struct dvv *d, uint64_t now_ms, uint64_t replica, int64_t delta,
                     struct dvv_counter *next, int64_t *value, uint64_t *expire_ms)
{
	bool counting;
	int err = visible_counter(d, now_ms, next, &counting);
	if (!err && counting)
		*expire_ms = d->siblings[dvv_lww_index(d)].expire_ms;
	if (!err && !counting)
		err = counter_start(d, now_ms, next, expire_ms);
	if (err)
		return err;
	int64_t cur;
	if (dvv_counter_value(next, &cur) != 0)
		return ERR_INVALID; /* GET shows a number past int64 */
	if (add_overflows(cur, delta))
		return ERR_RANGE;
	err = pncounter_add(&next->pn, replica, delta);
	if (err)
		return err;
	*value = cur + delta;
	int64_t check;
	ASSERT(dvv_counter_value(next, &check) == 0 && check == *value);
	return 0;
}

/* Writes next into d as a counter sibling over every sibling d holds. */
static int incr_write(struct dvv *d, struct replica_self self, const struct dvv_counter *next,
                      uint64_t timestamp_ms, uint64_t expire_ms, bool lww)
{
	struct buf enc;
	buf_init(&enc);
	int err = dvv_counter_encode(next, &enc, VALUE_BYTES_MAX);
	struct dvv_clock all = d->clock;
	struct dvv_dot dot;
	if (!err)
		err =
		    dvv_update_expiring(d, &all, self.id, self.floor, bytes_make(enc.data, enc.len),
		                        timestamp_ms, DVV_FLAG_COUNTER, expire_ms, &dot);
	buf_deinit(&enc);
	if (err)
		return err;
	/* A lineage's origin is a write this state has seen. */
	ASSERT(dvv_clock_covers(&d->clock, next->origin));
	ASSERT(d->sibling_count == 1 && dvv_clock_covers(&d->clock, dot));
	/* One sibling is its own LWW resolution; resolving anyway keeps the
	 * rule in one place should the context above ever narrow. */
	if (lww)
		dvv_resolve_lww(d);
	return 0;
}

int replica_incr(struct keyspace *ks, struct bytes key, struct replica_self self, int64_t delta,
                 uint64_t timestamp_ms, bool lww, struct buf *out, int64_t *new_value)
{
	struct ekey k;
	ks_key_init(&k, key);
	struct dvv *d = malloc(sizeof(*d));
	struct dvv_counter *next = malloc(sizeof(*next));
	bool found, changed;
	struct bytes raw;
	int err = d && next ? load_locked(ks, &k, d, &found, &raw) : ERR_NOMEM;
	if (err) {
		free(d);
		free(next);
		return err;
	}
	int64_t value = 0;
	uint64_t expire_ms = 0;
	err = incr_next(d, timestamp_ms, self.id, delta, next, &value, &expire_ms);
	if (!err)
		err = incr_write(d, self, next, timestamp_ms, expire_ms, lww);
	if (!err)
		err = store_unlock(ks, &k, d, raw, out, &changed);
	else
		(void)ks_unlock(ks, k.stripe);
	if (!err)
		*new_value = value;
	dvv_deinit(d);
	free(d);
	free(next);
	return err;
}

int replica_value(const struct dvv *d, uint64_t now_ms, char text[REPLICA_TEXT_BYTES],
                  struct bytes *out, bool *found)
{
	struct dvv_counter c;
	bool counting;
	int err = visible_counter(d, now_ms, &c, &counting);
	if (err)
		return err;
	if (counting) {
		*out = bytes_make(text, dvv_counter_format(&c, text));
		*found = true;
		return 0;
	}
	const struct dvv_sibling *v = replica_visible(d, now_ms);
	*out = v ? bytes_make(v->value, v->value_len) : bytes_make(NULL, 0);
	*found = v != NULL;
	return 0;
}

struct bytes replica_sibling_value(const struct dvv_sibling *s, char text[REPLICA_TEXT_BYTES])
{
	if (!(s->flags & DVV_FLAG_COUNTER))
		return bytes_make(s->value, s->value_len);
	struct dvv_counter c;
	int err = dvv_counter_decode(&c, s->value, s->value_len);
	ASSERT(err == 0);
	return bytes_make(text, dvv_counter_format(&c, text));
}

/* ---- EXPIRE, PERSIST ----------------------------------------------------- */

/* Whether the NX/XX/GT/LT conditions let when replace cur (0: no expiry,
 * which GT and LT treat as infinite), with Redis 7's rules. */
static bool expire_allowed(unsigned how, uint64_t cur, uint64_t when)
{
	if ((how & REPLICA_EXPIRE_NX) && cur != 0)
		return false;
	if ((how & REPLICA_EXPIRE_XX) && cur == 0)
		return false;
	if ((how & REPLICA_EXPIRE_GT) && (cur == 0 || when <= cur))
		return false;
	if ((how & REPLICA_EXPIRE_LT) && cur != 0 && when >= cur)
		return false;
	return true;
}

/* The write an EXPIRE or PERSIST makes of d (stripe held): the visible
 * value again, with its new expiry, or a tombstone for a time already
 * past, over everything d holds. *applied false: nothing to write. */
static int expire_step(struct dvv *d, struct replica_self self, unsigned how, uint64_t expire_ms,
                       uint64_t now_ms, bool *applied)
{
	char text[REPLICA_TEXT_BYTES];
	struct bytes v;
	bool found;
	*applied = false;
	int err = replica_value(d, now_ms, text, &v, &found);
	if (err || !found)
		return err;
	uint64_t cur = d->siblings[replica_live_index(d, now_ms)].expire_ms;
	if (how & REPLICA_PERSIST) {
		if (cur == 0)
			return 0;
		expire_ms = 0;
	} else if (!expire_allowed(how, cur, expire_ms)) {
		return 0;
	}
	uint32_t flags = 0;
	if (!(how & REPLICA_PERSIST) && expire_ms <= now_ms) {
		/* A time already past deletes the key, as in Redis. */
		flags = DVV_FLAG_TOMBSTONE;
		v = bytes_make(NULL, 0);
		expire_ms = 0;
	}
	/* v views d or text: dvv_update copies it before dropping what the
	 * context covers. A counter is written back as a register holding its
	 * decimal value; a later INCR starts a new lineage from it. */
	struct dvv_clock all = d->clock;
	err = dvv_update_expiring(d, &all, self.id, self.floor, v, now_ms, flags, expire_ms, NULL);
	*applied = err == 0;
	return err;
}

int replica_expire(struct keyspace *ks, struct bytes key, struct replica_self self, unsigned how,
                   uint64_t expire_ms, uint64_t timestamp_ms, bool lww, struct buf *out,
                   bool *applied)
{
	*applied = false;
	out->len = 0;
	struct ekey k;
	ks_key_init(&k, key);
	struct dvv *d;
	bool found, done;
	struct bytes raw;
	int err = load_new_locked(ks, &k, &d, &found, &raw);
	if (err)
		return err;
	err = expire_step(d, self, how, expire_ms, timestamp_ms, &done);
	if (!err && !done)
		err = ks_unlock(ks, k.stripe);
	else
		err = finish_client_write(ks, &k, d, raw, lww, err, out);
	if (!err)
		*applied = done;
	dvv_deinit(d);
	free(d);
	return err;
}
