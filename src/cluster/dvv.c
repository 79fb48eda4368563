/*
 * dvv.c - dotted version vectors and the PN-counter; see dvv.h.
 *
 * Byte layouts (little-endian; docs/cluster.md):
 *   clock:   format u8 (1), reserved u8 (0), count u16,
 *            count x (replica u64, counter u64)
 *   dvv:     format u8 (1), reserved u8 (0), clock_count u16,
 *            sibling_count u16, reserved u16 (0),
 *            clock_count x (replica u64, counter u64),
 *            sibling_count x (replica u64, counter u64, timestamp_ms u64,
 *                             flags u32, [expire_ms u64 when flags has
 *                             DVV_FLAG_EXPIRES], value_len u32, value)
 *   counter: format u8 (1), reserved u8 (0), count u16,
 *            count x (replica u64, p u64, n u64)
 *   counter sibling value (DVV_FLAG_COUNTER):
 *            origin replica u64, origin counter u64, base i64, counter
 * Every list is strictly ascending (by replica, by dot), so an encoding is
 * canonical and a decoder can check order instead of searching for
 * duplicates.
 */
#include "cluster/dvv.h"

#include <stdlib.h>
#include <string.h>

#include "base/assert.h"
#include "base/err.h"
#include "cluster/codec.h"

static_assert(DVV_REPLICAS_MAX <= UINT16_MAX && DVV_SIBLINGS_MAX <= UINT16_MAX,
              "counts are encoded in 16 bits");
static_assert(DVV_SIBLINGS_WARN < DVV_SIBLINGS_MAX, "warn before refusing");
static_assert(VALUE_BYTES_MAX <= UINT32_MAX, "a value length fits 32 bits");

#define DVV_HEADER_BYTES     8
#define DVV_SIBLING_FIXED    32
#define DVV_EXPIRE_BYTES     8 /* expire_ms, only with DVV_FLAG_EXPIRES */
#define CLOCK_HEADER_BYTES   4
#define CLOCK_ENTRY_BYTES    16
#define COUNTER_HEADER_BYTES 4
#define COUNTER_ENTRY_BYTES  24
#define LINEAGE_BYTES        24 /* origin dot, base */

/* ---- Clocks ---------------------------------------------------------------- */

void dvv_clock_init(struct dvv_clock *c)
{
	c->count = 0;
}

static int clock_find(const struct dvv_clock *c, uint64_t replica)
{
	for (uint32_t i = 0; i < c->count; i++) {
		if (c->entries[i].replica == replica)
			return (int)i;
		if (c->entries[i].replica > replica)
			break;
	}
	return -1;
}

uint64_t dvv_clock_get(const struct dvv_clock *c, uint64_t replica)
{
	int i = clock_find(c, replica);
	return i < 0 ? 0 : c->entries[i].counter;
}

bool dvv_clock_covers(const struct dvv_clock *c, struct dvv_dot dot)
{
	return dot.counter <= dvv_clock_get(c, dot.replica);
}

bool dvv_clock_descends(const struct dvv_clock *a, const struct dvv_clock *b)
{
	for (uint32_t i = 0; i < b->count; i++)
		if (!dvv_clock_covers(a, b->entries[i]))
			return false;
	return true;
}

/* out := a | b, both sorted. ERR_LIMIT when the union is too large. */
static int clock_union(struct dvv_clock *out, const struct dvv_clock *a, const struct dvv_clock *b)
{
	uint32_t i = 0, j = 0, n = 0;
	while (i < a->count || j < b->count) {
		struct dvv_dot e;
		if (j == b->count ||
		    (i < a->count && a->entries[i].replica < b->entries[j].replica)) {
			e = a->entries[i++];
		} else if (i == a->count || b->entries[j].replica < a->entries[i].replica) {
			e = b->entries[j++];
		} else {
			e = a->entries[i];
			if (b->entries[j].counter > e.counter)
				e.counter = b->entries[j].counter;
			i++;
			j++;
		}
		if (n == DVV_REPLICAS_MAX)
			return ERR_LIMIT;
		out->entries[n++] = e;
	}
	out->count = n;
	return 0;
}

int dvv_clock_merge(struct dvv_clock *a, const struct dvv_clock *b)
{
	struct dvv_clock u;
	int rc = clock_union(&u, a, b);
	if (rc == 0)
		*a = u;
	return rc;
}

static int dot_cmp(struct dvv_dot a, struct dvv_dot b)
{
	if (a.replica != b.replica)
		return a.replica < b.replica ? -1 : 1;
	if (a.counter != b.counter)
		return a.counter < b.counter ? -1 : 1;
	return 0;
}

/* ---- States ---------------------------------------------------------------- */

void dvv_init(struct dvv *d)
{
	dvv_clock_init(&d->clock);
	d->sibling_count = 0;
}

void dvv_deinit(struct dvv *d)
{
	for (uint32_t i = 0; i < d->sibling_count; i++)
		free(d->siblings[i].value);
	dvv_init(d);
}

static int copy_value(uint8_t **out, const uint8_t *p, size_t n)
{
	*out = NULL;
	if (n == 0)
		return 0;
	*out = malloc(n);
	if (!*out)
		return ERR_NOMEM;
	memcpy(*out, p, n);
	return 0;
}

/* True when flags are known and consistent with the value: a counter is
 * never a tombstone and its value decodes as a counter; a tombstone never
 * expires. */
static bool sibling_valid(uint32_t flags, const uint8_t *value, size_t len)
{
	if (flags & ~DVV_FLAGS_KNOWN)
		return false;
	if ((flags & DVV_FLAG_EXPIRES) && (flags & DVV_FLAG_TOMBSTONE))
		return false;
	if (!(flags & DVV_FLAG_COUNTER))
		return true;
	struct dvv_counter c;
	return !(flags & DVV_FLAG_TOMBSTONE) && dvv_counter_decode(&c, value, len) == 0;
}

int dvv_update(struct dvv *d, const struct dvv_clock *ctx, uint64_t replica, struct bytes value,
               uint64_t timestamp_ms, uint32_t flags, struct dvv_dot *dot)
{
	return dvv_update_above(d, ctx, replica, 0, value, timestamp_ms, flags, dot);
}

int dvv_update_above(struct dvv *d, const struct dvv_clock *ctx, uint64_t replica, uint64_t floor,
                     struct bytes value, uint64_t timestamp_ms, uint32_t flags, struct dvv_dot *dot)
{
	return dvv_update_expiring(d, ctx, replica, floor, value, timestamp_ms, flags, 0, dot);
}

bool dvv_sibling_expired(const struct dvv_sibling *s, uint64_t now_ms)
{
	return s->expire_ms != 0 && s->expire_ms <= now_ms;
}

int dvv_update_expiring(struct dvv *d, const struct dvv_clock *ctx, uint64_t replica,
                        uint64_t floor, struct bytes value, uint64_t timestamp_ms, uint32_t flags,
                        uint64_t expire_ms, struct dvv_dot *dot)
{
	flags = (flags & ~DVV_FLAG_EXPIRES) | (expire_ms ? DVV_FLAG_EXPIRES : 0);
	if (value.len > VALUE_BYTES_MAX)
		return ERR_LIMIT;
	if (!sibling_valid(flags, value.ptr, value.len))
		return ERR_INVALID;
	uint64_t last = dvv_clock_get(&d->clock, replica);
	uint64_t seen = dvv_clock_get(ctx, replica);
	if (seen > last)
		last = seen; /* only after a lost state; see dvv.h on replica ids */
	if (floor > last)
		last = floor; /* the state was dropped before: dvv.h, floors */
	if (last == UINT64_MAX)
		return ERR_RANGE;
	struct dvv_dot nd = {replica, last + 1};
	struct dvv_clock one = {.count = 1, .entries = {nd}};
	struct dvv_clock u, clock;
	int rc = clock_union(&u, &d->clock, ctx);
	if (rc == 0)
		rc = clock_union(&clock, &u, &one);
	if (rc)
		return rc;
	uint32_t kept = 0;
	for (uint32_t i = 0; i < d->sibling_count; i++)
		kept += !dvv_clock_covers(ctx, d->siblings[i].dot);
	if (kept + 1 > DVV_SIBLINGS_MAX)
		return ERR_LIMIT;
	struct dvv_sibling s = {.dot = nd,
	                        .timestamp_ms = timestamp_ms,
	                        .flags = flags,
	                        .expire_ms = expire_ms,
	                        .value_len = (uint32_t)value.len};
	rc = copy_value(&s.value, value.ptr, value.len);
	if (rc)
		return rc;
	/* Commit: drop what the client saw, insert the new dot in order. */
	struct dvv_sibling out[DVV_SIBLINGS_MAX];
	uint32_t n = 0;
	bool placed = false;
	for (uint32_t i = 0; i < d->sibling_count; i++) {
		const struct dvv_sibling *cur = &d->siblings[i];
		if (dvv_clock_covers(ctx, cur->dot)) {
			free(cur->value);
			continue;
		}
		if (!placed && dot_cmp(nd, cur->dot) < 0) {
			out[n++] = s;
			placed = true;
		}
		out[n++] = *cur;
	}
	if (!placed)
		out[n++] = s;
	memcpy(d->siblings, out, sizeof(out[0]) * n);
	d->sibling_count = n;
	d->clock = clock;
	if (dot)
		*dot = nd;
	return 0;
}

int dvv_sync(struct dvv *d, const struct dvv *other)
{
	struct dvv_clock clock;
	int rc = clock_union(&clock, &d->clock, &other->clock);
	if (rc)
		return rc;
	/* The joined sibling list, in dot order: from d the dots other has not
	 * overwritten, from other the dots d has not seen. */
	struct dvv_sibling out[DVV_SIBLINGS_MAX];
	bool from_other[DVV_SIBLINGS_MAX];
	bool keep_mine[DVV_SIBLINGS_MAX] = {false};
	uint32_t i = 0, j = 0, n = 0;
	while (i < d->sibling_count || j < other->sibling_count) {
		const struct dvv_sibling *a = i < d->sibling_count ? &d->siblings[i] : NULL;
		const struct dvv_sibling *b = j < other->sibling_count ? &other->siblings[j] : NULL;
		int c = !a ? 1 : !b ? -1 : dot_cmp(a->dot, b->dot);
		const struct dvv_sibling *take = NULL;
		bool theirs = false;
		if (c <= 0) {
			i++;
			j += c == 0;
			if (c == 0 || !dvv_clock_covers(&other->clock, a->dot)) {
				take = a;
				keep_mine[i - 1] = true;
			}
		} else {
			j++;
			if (!dvv_clock_covers(&d->clock, b->dot)) {
				take = b;
				theirs = true;
			}
		}
		if (!take)
			continue;
		if (n == DVV_SIBLINGS_MAX)
			return ERR_LIMIT;
		out[n] = *take;
		from_other[n++] = theirs;
	}
	for (uint32_t k = 0; k < n; k++) {
		if (from_other[k] && copy_value(&out[k].value, out[k].value, out[k].value_len)) {
			while (k-- > 0)
				if (from_other[k])
					free(out[k].value);
			return ERR_NOMEM;
		}
	}
	/* Commit: free d's values that did not survive. */
	for (uint32_t k = 0; k < d->sibling_count; k++)
		if (!keep_mine[k])
			free(d->siblings[k].value);
	memcpy(d->siblings, out, sizeof(out[0]) * n);
	d->sibling_count = n;
	d->clock = clock;
	return 0;
}

int dvv_copy(struct dvv *d, const struct dvv *src)
{
	struct dvv t;
	dvv_init(&t);
	int rc = dvv_sync(&t, src);
	if (rc)
		return rc;
	dvv_deinit(d);
	*d = t;
	return 0;
}

bool dvv_descends(const struct dvv *a, const struct dvv *b)
{
	return dvv_clock_descends(&a->clock, &b->clock);
}

bool dvv_concurrent(const struct dvv *a, const struct dvv *b)
{
	return !dvv_descends(a, b) && !dvv_descends(b, a);
}

bool dvv_equal(const struct dvv *a, const struct dvv *b)
{
	if (a->clock.count != b->clock.count || a->sibling_count != b->sibling_count)
		return false;
	for (uint32_t i = 0; i < a->clock.count; i++)
		if (dot_cmp(a->clock.entries[i], b->clock.entries[i]) != 0)
			return false;
	for (uint32_t i = 0; i < a->sibling_count; i++) {
		const struct dvv_sibling *x = &a->siblings[i], *y = &b->siblings[i];
		if (dot_cmp(x->dot, y->dot) != 0 || x->timestamp_ms != y->timestamp_ms ||
		    x->flags != y->flags || x->expire_ms != y->expire_ms ||
		    !bytes_eq(bytes_make(x->value, x->value_len),
		              bytes_make(y->value, y->value_len)))
			return false;
	}
	return true;
}

int dvv_lww_index(const struct dvv *d)
{
	int best = -1;
	for (uint32_t i = 0; i < d->sibling_count; i++) {
		const struct dvv_sibling *s = &d->siblings[i];
		if (best < 0 || s->timestamp_ms > d->siblings[best].timestamp_ms ||
		    (s->timestamp_ms == d->siblings[best].timestamp_ms &&
		     dot_cmp(s->dot, d->siblings[best].dot) > 0))
			best = (int)i;
	}
	return best;
}

static bool is_counter(const struct dvv_sibling *s)
{
	return (s->flags & DVV_FLAG_COUNTER) != 0;
}

uint32_t dvv_lww_kept(const struct dvv *d, uint32_t idx[DVV_SIBLINGS_MAX])
{
	int w = dvv_lww_index(d);
	if (w < 0)
		return 0;
	const struct dvv_sibling *win = &d->siblings[w];
	if (!is_counter(win)) {
		idx[0] = (uint32_t)w;
		return 1;
	}
	uint32_t n = 0;
	for (uint32_t i = 0; i < d->sibling_count; i++) {
		const struct dvv_sibling *s = &d->siblings[i];
		if (is_counter(s) && dvv_counter_same_lineage(s, win))
			idx[n++] = i;
	}
	ASSERT(n >= 1);
	return n;
}

void dvv_resolve_lww(struct dvv *d)
{
	uint32_t idx[DVV_SIBLINGS_MAX];
	uint32_t kept = dvv_lww_kept(d, idx);
	if (kept == 0)
		return;
	/* idx ascends, so moving kept siblings down keeps the dot order. */
	uint32_t k = 0;
	for (uint32_t i = 0; i < d->sibling_count; i++) {
		if (k < kept && idx[k] == i)
			d->siblings[k++] = d->siblings[i];
		else
			free(d->siblings[i].value);
	}
	ASSERT(k == kept);
	d->sibling_count = kept;
}

void dvv_check_invariants(const struct dvv *d)
{
	ASSERT(d->clock.count <= DVV_REPLICAS_MAX);
	ASSERT(d->sibling_count <= DVV_SIBLINGS_MAX);
	for (uint32_t i = 0; i < d->clock.count; i++) {
		ASSERT(d->clock.entries[i].counter >= 1);
		ASSERT(i == 0 || d->clock.entries[i - 1].replica < d->clock.entries[i].replica);
	}
	for (uint32_t i = 0; i < d->sibling_count; i++) {
		const struct dvv_sibling *s = &d->siblings[i];
		ASSERT(s->dot.counter >= 1);
		ASSERT(dvv_clock_covers(&d->clock, s->dot));
		ASSERT(i == 0 || dot_cmp(d->siblings[i - 1].dot, s->dot) < 0);
		ASSERT((s->value == NULL) == (s->value_len == 0));
		ASSERT((s->flags & ~DVV_FLAGS_KNOWN) == 0);
		ASSERT(((s->flags & DVV_FLAG_EXPIRES) != 0) == (s->expire_ms != 0));
		ASSERT(!(s->flags & DVV_FLAG_EXPIRES) || !(s->flags & DVV_FLAG_TOMBSTONE));
		ASSERT(!is_counter(s) || !(s->flags & DVV_FLAG_TOMBSTONE));
		ASSERT(!is_counter(s) || s->value_len >= LINEAGE_BYTES);
	}
}

/* ---- Encoding -------------------------------------------------------------- */

size_t dvv_clock_encoded_bytes(const struct dvv_clock *c)
{
	return CLOCK_HEADER_BYTES + CLOCK_ENTRY_BYTES * (size_t)c->count;
}

static void put_entries(struct buf *out, const struct dvv_clock *c)
{
	for (uint32_t i = 0; i < c->count; i++) {
		codec_put64(out, c->entries[i].replica);
		codec_put64(out, c->entries[i].counter);
	}
}

int dvv_clock_encode(const struct dvv_clock *c, struct buf *out, size_t cap_bytes)
{
	int rc = buf_reserve(out, dvv_clock_encoded_bytes(c), cap_bytes);
	if (rc)
		return rc;
	codec_put8(out, DVV_FORMAT_VERSION);
	codec_put8(out, 0);
	codec_put16(out, (uint16_t)c->count);
	put_entries(out, c);
	return 0;
}

/* count entries, strictly ascending by replica, counters >= 1. */
static int get_entries(struct codec_rd *rd, struct dvv_clock *c, uint32_t count)
{
	if (count > DVV_REPLICAS_MAX)
		return ERR_LIMIT;
	for (uint32_t i = 0; i < count; i++) {
		c->entries[i].replica = codec_get64(rd);
		c->entries[i].counter = codec_get64(rd);
		if (rd->bad || c->entries[i].counter == 0 ||
		    (i > 0 && c->entries[i - 1].replica >= c->entries[i].replica))
			return ERR_PROTO;
	}
	c->count = count;
	return 0;
}

int dvv_clock_decode(struct dvv_clock *c, const uint8_t *p, size_t n)
{
	struct codec_rd rd = codec_rd_make(p, n);
	uint8_t format = codec_get8(&rd);
	uint8_t reserved = codec_get8(&rd);
	uint16_t count = codec_get16(&rd);
	if (rd.bad || format != DVV_FORMAT_VERSION || reserved != 0)
		return ERR_PROTO;
	struct dvv_clock t;
	int rc = get_entries(&rd, &t, count);
	if (rc == 0 && rd.left != 0)
		rc = ERR_PROTO;
	if (rc == 0)
		*c = t;
	return rc;
}

size_t dvv_encoded_bytes(const struct dvv *d)
{
	size_t n = DVV_HEADER_BYTES + CLOCK_ENTRY_BYTES * (size_t)d->clock.count;
	for (uint32_t i = 0; i < d->sibling_count; i++)
		n += DVV_SIBLING_FIXED + d->siblings[i].value_len +
		    ((d->siblings[i].flags & DVV_FLAG_EXPIRES) ? DVV_EXPIRE_BYTES : 0);
	return n;
}

int dvv_encode(const struct dvv *d, struct buf *out, size_t cap_bytes)
{
	int rc = buf_reserve(out, dvv_encoded_bytes(d), cap_bytes);
	if (rc)
		return rc;
	codec_put8(out, DVV_FORMAT_VERSION);
	codec_put8(out, 0);
	codec_put16(out, (uint16_t)d->clock.count);
	codec_put16(out, (uint16_t)d->sibling_count);
	codec_put16(out, 0);
	put_entries(out, &d->clock);
	for (uint32_t i = 0; i < d->sibling_count; i++) {
		const struct dvv_sibling *s = &d->siblings[i];
		codec_put64(out, s->dot.replica);
		codec_put64(out, s->dot.counter);
		codec_put64(out, s->timestamp_ms);
		codec_put32(out, s->flags);
		if (s->flags & DVV_FLAG_EXPIRES)
			codec_put64(out, s->expire_ms);
		codec_put32(out, s->value_len);
		buf_put(out, s->value, s->value_len);
	}
	return 0;
}

/* One sibling; its value is copied into t (which owns it on success). */
static int get_sibling(struct codec_rd *rd, struct dvv *t, uint32_t i)
{
	struct dvv_sibling *s = &t->siblings[i];
	s->dot.replica = codec_get64(rd);
	s->dot.counter = codec_get64(rd);
	s->timestamp_ms = codec_get64(rd);
	s->flags = codec_get32(rd);
	s->expire_ms = (s->flags & DVV_FLAG_EXPIRES) ? codec_get64(rd) : 0;
	s->value_len = codec_get32(rd);
	s->value = NULL;
	/* With the flag, 0 would be a second encoding of "no expiry". */
	if (rd->bad || ((s->flags & DVV_FLAG_EXPIRES) && s->expire_ms == 0))
		return ERR_PROTO;
	if (s->value_len > VALUE_BYTES_MAX)
		return ERR_LIMIT;
	struct bytes v = codec_get_bytes(rd, s->value_len);
	if (rd->bad || s->dot.counter == 0 || !sibling_valid(s->flags, v.ptr, v.len) ||
	    !dvv_clock_covers(&t->clock, s->dot) ||
	    (i > 0 && dot_cmp(t->siblings[i - 1].dot, s->dot) >= 0))
		return ERR_PROTO;
	return copy_value(&s->value, v.ptr, v.len);
}

int dvv_decode(struct dvv *d, const uint8_t *p, size_t n)
{
	struct codec_rd rd = codec_rd_make(p, n);
	uint8_t format = codec_get8(&rd);
	uint8_t reserved = codec_get8(&rd);
	uint16_t clock_count = codec_get16(&rd);
	uint16_t sibling_count = codec_get16(&rd);
	uint16_t reserved2 = codec_get16(&rd);
	if (rd.bad || format != DVV_FORMAT_VERSION || reserved != 0 || reserved2 != 0)
		return ERR_PROTO;
	if (sibling_count > DVV_SIBLINGS_MAX)
		return ERR_LIMIT;
	struct dvv *t = malloc(sizeof(*t));
	if (!t)
		return ERR_NOMEM;
	dvv_init(t);
	int rc = get_entries(&rd, &t->clock, clock_count);
	for (uint32_t i = 0; rc == 0 && i < sibling_count; i++) {
		rc = get_sibling(&rd, t, i);
		if (rc == 0)
			t->sibling_count = i + 1;
	}
	if (rc == 0 && rd.left != 0)
		rc = ERR_PROTO;
	if (rc == 0)
		*d = *t;
	else
		dvv_deinit(t);
	free(t);
	return rc;
}

/* ---- PN-counter ------------------------------------------------------------ */

void pncounter_init(struct pncounter *c)
{
	c->count = 0;
}

int pncounter_add(struct pncounter *c, uint64_t replica, int64_t delta)
{
	uint32_t i = 0;
	while (i < c->count && c->entries[i].replica < replica)
		i++;
	bool found = i < c->count && c->entries[i].replica == replica;
	if (!found && c->count == PNCOUNTER_REPLICAS_MAX)
		return ERR_LIMIT;
	struct pncounter_entry e = found ? c->entries[i] : (struct pncounter_entry){replica, 0, 0};
	if (delta >= 0) {
		if (e.p > UINT64_MAX - (uint64_t)delta)
			return ERR_RANGE;
		e.p += (uint64_t)delta;
	} else {
		uint64_t mag = (uint64_t)(-(delta + 1)) + 1; /* |INT64_MIN| without overflow */
		if (e.n > UINT64_MAX - mag)
			return ERR_RANGE;
		e.n += mag;
	}
	if (!found) {
		memmove(&c->entries[i + 1], &c->entries[i], sizeof(e) * (c->count - i));
		c->count++;
	}
	c->entries[i] = e;
	return 0;
}

int pncounter_merge(struct pncounter *a, const struct pncounter *b)
{
	struct pncounter out;
	uint32_t i = 0, j = 0, n = 0;
	while (i < a->count || j < b->count) {
		struct pncounter_entry e;
		if (j == b->count ||
		    (i < a->count && a->entries[i].replica < b->entries[j].replica)) {
			e = a->entries[i++];
		} else if (i == a->count || b->entries[j].replica < a->entries[i].replica) {
			e = b->entries[j++];
		} else {
			e = a->entries[i];
			if (b->entries[j].p > e.p)
				e.p = b->entries[j].p;
			if (b->entries[j].n > e.n)
				e.n = b->entries[j].n;
			i++;
			j++;
		}
		if (n == PNCOUNTER_REPLICAS_MAX)
			return ERR_LIMIT;
		out.entries[n++] = e;
	}
	out.count = n;
	*a = out;
	return 0;
}

/* The sum, exact: 64 entries of 64 bits each, plus an int64 base, are
 * below 2^71, which is also why a value's text fits DVV_COUNTER_TEXT_BYTES
 * (22 digits and a sign). */
static_assert(PNCOUNTER_REPLICAS_MAX <= 64, "a counter's sum fits 71 bits");

static __int128 pncounter_sum(const struct pncounter *c)
{
	__int128 v = 0;
	for (uint32_t i = 0; i < c->count; i++)
		v += (__int128)c->entries[i].p - (__int128)c->entries[i].n;
	return v;
}

int pncounter_value(const struct pncounter *c, int64_t *out)
{
	__int128 v = pncounter_sum(c);
	if (v > INT64_MAX || v < INT64_MIN)
		return ERR_RANGE;
	*out = (int64_t)v;
	return 0;
}

size_t pncounter_encoded_bytes(const struct pncounter *c)
{
	return COUNTER_HEADER_BYTES + COUNTER_ENTRY_BYTES * (size_t)c->count;
}

int pncounter_encode(const struct pncounter *c, struct buf *out, size_t cap_bytes)
{
	int rc = buf_reserve(out, pncounter_encoded_bytes(c), cap_bytes);
	if (rc)
		return rc;
	codec_put8(out, DVV_FORMAT_VERSION);
	codec_put8(out, 0);
	codec_put16(out, (uint16_t)c->count);
	for (uint32_t i = 0; i < c->count; i++) {
		codec_put64(out, c->entries[i].replica);
		codec_put64(out, c->entries[i].p);
		codec_put64(out, c->entries[i].n);
	}
	return 0;
}

int pncounter_decode(struct pncounter *c, const uint8_t *p, size_t n)
{
	struct codec_rd rd = codec_rd_make(p, n);
	uint8_t format = codec_get8(&rd);
	uint8_t reserved = codec_get8(&rd);
	uint16_t count = codec_get16(&rd);
	if (rd.bad || format != DVV_FORMAT_VERSION || reserved != 0)
		return ERR_PROTO;
	if (count > PNCOUNTER_REPLICAS_MAX)
		return ERR_LIMIT;
	struct pncounter t;
	t.count = count;
	for (uint32_t i = 0; i < count; i++) {
		t.entries[i].replica = codec_get64(&rd);
		t.entries[i].p = codec_get64(&rd);
		t.entries[i].n = codec_get64(&rd);
		if (rd.bad || (i > 0 && t.entries[i - 1].replica >= t.entries[i].replica))
			return ERR_PROTO;
	}
	if (rd.left != 0)
		return ERR_PROTO;
	*c = t;
	return 0;
}

/* ---- Counter siblings ------------------------------------------------------ */

size_t dvv_counter_encoded_bytes(const struct dvv_counter *c)
{
	return LINEAGE_BYTES + pncounter_encoded_bytes(&c->pn);
}

int dvv_counter_encode(const struct dvv_counter *c, struct buf *out, size_t cap_bytes)
{
	ASSERT(c->origin.counter >= 1 || (c->origin.replica == 0 && c->base == 0));
	int rc = buf_reserve(out, dvv_counter_encoded_bytes(c), cap_bytes);
	if (rc)
		return rc;
	codec_put64(out, c->origin.replica);
	codec_put64(out, c->origin.counter);
	codec_put64(out, (uint64_t)c->base);
	return pncounter_encode(&c->pn, out, cap_bytes);
}

int dvv_counter_decode(struct dvv_counter *c, const uint8_t *p, size_t n)
{
	struct codec_rd rd = codec_rd_make(p, n);
	struct dvv_dot origin;
	origin.replica = codec_get64(&rd);
	origin.counter = codec_get64(&rd);
	uint64_t base = codec_get64(&rd);
	/* No origin ({0, 0}) means the counter started from nothing: base 0. */
	if (rd.bad || (origin.counter == 0 && (origin.replica != 0 || base != 0)))
		return ERR_PROTO;
	struct pncounter pn;
	int rc = pncounter_decode(&pn, p + LINEAGE_BYTES, n - LINEAGE_BYTES);
	if (rc)
		return rc;
	c->origin = origin;
	c->base = (int64_t)base;
	c->pn = pn;
	return 0;
}

int dvv_counter_value(const struct dvv_counter *c, int64_t *out)
{
	__int128 v = (__int128)c->base + pncounter_sum(&c->pn);
	if (v > INT64_MAX || v < INT64_MIN)
		return ERR_RANGE;
	*out = (int64_t)v;
	return 0;
}

size_t dvv_counter_format(const struct dvv_counter *c, char dst[DVV_COUNTER_TEXT_BYTES])
{
	__int128 v = (__int128)c->base + pncounter_sum(&c->pn);
	unsigned __int128 mag = v < 0 ? (unsigned __int128)(-(v + 1)) + 1 : (unsigned __int128)v;
	char digits[DVV_COUNTER_TEXT_BYTES];
	size_t n = 0;
	do {
		digits[n++] = (char)('0' + (int)(mag % 10));
		mag /= 10;
	} while (mag != 0);
	size_t len = 0;
	if (v < 0)
		dst[len++] = '-';
	while (n > 0)
		dst[len++] = digits[--n];
	ASSERT(len < DVV_COUNTER_TEXT_BYTES);
	return len;
}

bool dvv_counter_same_lineage(const struct dvv_sibling *a, const struct dvv_sibling *b)
{
	/* Every sibling in a struct dvv came through dvv_update or dvv_decode,
	 * both of which checked a counter's value. */
	ASSERT(is_counter(a) && a->value_len >= LINEAGE_BYTES);
	ASSERT(is_counter(b) && b->value_len >= LINEAGE_BYTES);
	return memcmp(a->value, b->value, LINEAGE_BYTES) == 0;
}
