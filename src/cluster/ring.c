/*
 * ring.c - partition ring, claim and preference lists; see ring.h.
 *
 * Claim on add (quota by largest remainder, so the quotas of all members
 * always sum to Q exactly):
 *   quota(m) = floor(Q * w_m / W), plus one for the Q - sum(floor) members
 *   with the largest remainders (ties: lower id).
 * The new member visits the partitions in the order of a per-member hash
 * score (XXH3 of partition and new id), which scatters its partitions
 * around the ring instead of taking a contiguous run, and takes each
 * partition whose owner holds more than its new quota, until it holds
 * its own quota. Old members only ever lose partitions, and only to the
 * new member. On remove, each partition of the leaving member, in the
 * same score order, goes to the member furthest below its new quota (ties:
 * lower score, so equal members are picked in a scattered order).
 *
 * Byte layout of the encoding (all little-endian; docs/cluster.md):
 *   header (32 bytes): magic "RKRG", format u8 (1), partition_bits u8,
 *     member_count u16, version u64, content_hash u64, body_bytes u32,
 *     reserved u32 (0)
 *   member_count members: id u16, weight u16, name_len u8, zone_len u8,
 *     addr_len u16, name, addr, zone
 *   Q owners: member id u16
 * content_hash = XXH3-64 of the body (members and owners) with seed
 * partition_bits; the version is not part of it.
 */
#include "cluster/ring.h"

#include <stdlib.h>
#include <string.h>

#include "base/assert.h"
#include "base/err.h"
#include "base/hash.h"
#include "cluster/codec.h"

#define RING_MAGIC              "RKRG"
#define RING_HEADER_BYTES       32
#define RING_MEMBER_FIXED_BYTES 8

static_assert(RING_MEMBERS_MAX < RING_MEMBER_NONE, "member ids and NONE must not meet");
static_assert(RING_NAME_BYTES_MAX <= UINT8_MAX && RING_ZONE_BYTES_MAX <= UINT8_MAX,
              "name and zone lengths are encoded in one byte");
static_assert(RING_ADDR_BYTES_MAX <= UINT16_MAX, "address length is encoded in two bytes");
static_assert(RING_PARTITIONS_MAX <= 65536, "partition ids fit 16 bits");
static_assert(RING_REPLICAS_MAX <= RING_PARTITIONS_MIN, "a preference list fits the ring");

static uint64_t content_hash(const struct ring *r);

static uint32_t log2_exact(uint32_t v)
{
	uint32_t b = 0;
	while ((1u << b) < v)
		b++;
	return b;
}

static bool partition_count_ok(uint32_t q)
{
	return q >= RING_PARTITIONS_MIN && q <= RING_PARTITIONS_MAX && (q & (q - 1)) == 0;
}

int ring_init(struct ring *r, uint32_t partition_count)
{
	if (!partition_count_ok(partition_count))
		return ERR_INVALID;
	uint16_t *owners = malloc(sizeof(*owners) * partition_count);
	if (!owners)
		return ERR_NOMEM;
	memset(r, 0, sizeof(*r));
	for (uint32_t p = 0; p < partition_count; p++)
		owners[p] = RING_MEMBER_NONE;
	r->partition_count = partition_count;
	r->partition_bits = log2_exact(partition_count);
	r->owners = owners;
	r->content_hash = content_hash(r);
	return 0;
}

void ring_deinit(struct ring *r)
{
	free(r->members);
	free(r->owners);
	memset(r, 0, sizeof(*r));
}

static int member_index(const struct ring *r, uint16_t id)
{
	uint32_t lo = 0, hi = r->member_count;
	while (lo < hi) {
		uint32_t mid = lo + (hi - lo) / 2;
		if (r->members[mid].id < id)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo < r->member_count && r->members[lo].id == id ? (int)lo : -1;
}

const struct ring_member *ring_member_find(const struct ring *r, uint16_t id)
{
	int i = member_index(r, id);
	return i < 0 ? NULL : &r->members[i];
}

uint32_t ring_partition_of_key(const struct ring *r, struct bytes key)
{
	return ring_partition_of_hash(r, hash_bytes(key.ptr, key.len));
}

uint32_t ring_owned_count(const struct ring *r, uint16_t id)
{
	uint32_t n = 0;
	for (uint32_t p = 0; p < r->partition_count; p++)
		n += r->owners[p] == id;
	return n;
}

/* ---- Content hash and derived fields ---------------------------------- */

static void member_fixed(const struct ring_member *m, uint8_t out[RING_MEMBER_FIXED_BYTES])
{
	le_put16(out, m->id);
	le_put16(out + 2, m->weight);
	out[4] = m->name_len;
	out[5] = m->zone_len;
	le_put16(out + 6, m->addr_len);
}

static uint64_t content_hash(const struct ring *r)
{
	XXH3_state_t st;
	memset(&st, 0, sizeof(st)); /* reset_withSeed reads the old seed */
	XXH3_64bits_reset_withSeed(&st, r->partition_bits);
	for (uint32_t i = 0; i < r->member_count; i++) {
		const struct ring_member *m = &r->members[i];
		uint8_t fixed[RING_MEMBER_FIXED_BYTES];
		member_fixed(m, fixed);
		XXH3_64bits_update(&st, fixed, sizeof(fixed));
		XXH3_64bits_update(&st, m->name, m->name_len);
		XXH3_64bits_update(&st, m->addr, m->addr_len);
		XXH3_64bits_update(&st, m->zone, m->zone_len);
	}
	uint8_t chunk[512];
	for (uint32_t p = 0; p < r->partition_count;) {
		uint32_t k = 0;
		for (; k < sizeof(chunk) / 2 && p < r->partition_count; k++, p++)
			le_put16(chunk + 2 * k, r->owners[p]);
		XXH3_64bits_update(&st, chunk, 2 * (size_t)k);
	}
	return XXH3_64bits_digest(&st);
}

static bool same_zone(const struct ring_member *a, const struct ring_member *b)
{
	return a->zone_len == b->zone_len && memcmp(a->zone, b->zone, a->zone_len) == 0;
}

/* Zone indices in order of first appearance by id: O(M^2), on changes only. */
static void index_zones(struct ring *r)
{
	r->zone_count = 0;
	for (uint32_t i = 0; i < r->member_count; i++) {
		uint32_t j = 0;
		while (j < i && !same_zone(&r->members[j], &r->members[i]))
			j++;
		r->members[i].zone_index =
		    j < i ? r->members[j].zone_index : (uint16_t)r->zone_count++;
	}
}

static void changed(struct ring *r)
{
	index_zones(r);
	r->version++;
	r->content_hash = content_hash(r);
}

/* ---- Claim -------------------------------------------------------------- */

/* quota[i] for members[i], by largest remainder; skip is an index left
 * out (a leaving member), or -1. */
static void quotas(const struct ring *r, int skip, uint32_t *quota)
{
	uint64_t total = 0;
	for (uint32_t i = 0; i < r->member_count; i++)
		if ((int)i != skip)
			total += r->members[i].weight;
	uint32_t given = 0;
	for (uint32_t i = 0; i < r->member_count; i++) {
		quota[i] = 0;
		if ((int)i != skip) {
			quota[i] =
			    (uint32_t)((uint64_t)r->partition_count * r->members[i].weight / total);
			given += quota[i];
		}
	}
	/* The Q - given extra partitions (fewer than member_count) go to the
	 * largest remainders, ties to the lower index (= lower id): member i
	 * gets one when fewer than that many members rank before it. O(M^2),
	 * on membership changes only. */
	uint32_t extra = r->partition_count - given;
	for (uint32_t i = 0; i < r->member_count; i++) {
		if ((int)i == skip)
			continue;
		uint64_t rem_i = (uint64_t)r->partition_count * r->members[i].weight % total;
		uint32_t rank = 0;
		for (uint32_t j = 0; j < r->member_count && rank < extra; j++) {
			if ((int)j == skip || j == i)
				continue;
			uint64_t rem_j =
			    (uint64_t)r->partition_count * r->members[j].weight % total;
			rank += rem_j > rem_i || (rem_j == rem_i && j < i);
		}
		quota[i] += rank < extra;
	}
}

struct scored {
	uint64_t score;
	uint32_t partition;
};

static int scored_cmp(const void *a, const void *b)
{
	const struct scored *x = a, *y = b;
	if (x->score != y->score)
		return x->score < y->score ? -1 : 1;
	return x->partition < y->partition ? -1 : x->partition > y->partition;
}

static uint64_t claim_score(uint32_t partition, uint16_t id)
{
	uint8_t k[6];
	le_put32(k, partition);
	le_put16(k + 4, id);
	return hash_bytes(k, sizeof(k));
}

/* The partitions in the scattered order of member id. */
static void score_order(const struct ring *r, uint16_t id, struct scored *order)
{
	for (uint32_t p = 0; p < r->partition_count; p++) {
		order[p].score = claim_score(p, id);
		order[p].partition = p;
	}
	qsort(order, r->partition_count, sizeof(*order), scored_cmp);
}

static void claim_for_new(struct ring *r, uint32_t new_idx, const struct scored *order,
                          uint32_t *quota, uint32_t *count)
{
	uint16_t new_id = r->members[new_idx].id;
	if (r->member_count == 1) {
		for (uint32_t p = 0; p < r->partition_count; p++)
			r->owners[p] = new_id;
		return;
	}
	for (uint32_t i = 0; i < r->partition_count && count[new_idx] < quota[new_idx]; i++) {
		uint32_t p = order[i].partition;
		int o = member_index(r, r->owners[p]);
		ASSERT(o >= 0 && (uint32_t)o != new_idx);
		if (count[o] > quota[o]) {
			count[o]--;
			count[new_idx]++;
			r->owners[p] = new_id;
		}
	}
}

static void owned_counts(const struct ring *r, uint32_t *count)
{
	memset(count, 0, sizeof(*count) * r->member_count);
	for (uint32_t p = 0; p < r->partition_count; p++) {
		int i = member_index(r, r->owners[p]);
		if (i >= 0)
			count[i]++;
	}
}

static int validate_spec(const struct ring *r, const struct ring_member_spec *s)
{
	if (s->id == RING_MEMBER_NONE || s->weight == 0 || s->weight > RING_WEIGHT_MAX ||
	    s->name.len == 0)
		return ERR_INVALID;
	if (s->name.len > RING_NAME_BYTES_MAX || s->addr.len > RING_ADDR_BYTES_MAX ||
	    s->zone.len > RING_ZONE_BYTES_MAX || r->member_count >= RING_MEMBERS_MAX)
		return ERR_LIMIT;
	for (uint32_t i = 0; i < r->member_count; i++) {
		const struct ring_member *m = &r->members[i];
		if (m->id == s->id || bytes_eq(bytes_make(m->name, m->name_len), s->name))
			return ERR_EXISTS;
	}
	return 0;
}

static int reserve_members(struct ring *r, uint32_t want)
{
	if (want <= r->member_cap)
		return 0;
	uint32_t cap = r->member_cap ? r->member_cap * 2 : 8;
	if (cap < want)
		cap = want;
	struct ring_member *m = realloc(r->members, sizeof(*m) * cap);
	if (!m)
		return ERR_NOMEM;
	r->members = m;
	r->member_cap = cap;
	return 0;
}

static void member_from_spec(struct ring_member *m, const struct ring_member_spec *s)
{
	memset(m, 0, sizeof(*m));
	m->id = s->id;
	m->weight = s->weight;
	m->name_len = (uint8_t)s->name.len;
	m->addr_len = (uint16_t)s->addr.len;
	m->zone_len = (uint8_t)s->zone.len;
	if (s->name.len)
		memcpy(m->name, s->name.ptr, s->name.len);
	if (s->addr.len)
		memcpy(m->addr, s->addr.ptr, s->addr.len);
	if (s->zone.len)
		memcpy(m->zone, s->zone.ptr, s->zone.len);
}

int ring_add_member(struct ring *r, const struct ring_member_spec *spec)
{
	int rc = validate_spec(r, spec);
	if (rc)
		return rc;
	uint32_t n = r->member_count + 1;
	uint32_t *quota = malloc(sizeof(*quota) * n);
	uint32_t *count = malloc(sizeof(*count) * n);
	struct scored *order = malloc(sizeof(*order) * r->partition_count);
	rc = quota && count && order ? reserve_members(r, n) : ERR_NOMEM;
	if (rc)
		goto out;
	uint32_t at = 0;
	while (at < r->member_count && r->members[at].id < spec->id)
		at++;
	memmove(&r->members[at + 1], &r->members[at], sizeof(*r->members) * (r->member_count - at));
	member_from_spec(&r->members[at], spec);
	r->member_count = n;
	quotas(r, -1, quota);
	owned_counts(r, count);
	score_order(r, spec->id, order);
	claim_for_new(r, at, order, quota, count);
	changed(r);
out:
	free(order);
	free(count);
	free(quota);
	return rc;
}

/* The member, other than skip, furthest below its quota; ties go to the
 * lower claim score of this partition. */
static uint32_t receiver_of(const struct ring *r, uint32_t partition, int skip,
                            const uint32_t *quota, const uint32_t *count)
{
	int best = -1;
	int64_t best_deficit = 0;
	uint64_t best_score = 0;
	for (uint32_t i = 0; i < r->member_count; i++) {
		if ((int)i == skip)
			continue;
		int64_t deficit = (int64_t)quota[i] - (int64_t)count[i];
		uint64_t score = claim_score(partition, r->members[i].id);
		if (best < 0 || deficit > best_deficit ||
		    (deficit == best_deficit && score < best_score)) {
			best = (int)i;
			best_deficit = deficit;
			best_score = score;
		}
	}
	ASSERT(best >= 0);
	return (uint32_t)best;
}

int ring_remove_member(struct ring *r, uint16_t id)
{
	int gone = member_index(r, id);
	if (gone < 0)
		return ERR_NOT_FOUND;
	uint32_t *quota = malloc(sizeof(*quota) * r->member_count);
	uint32_t *count = malloc(sizeof(*count) * r->member_count);
	struct scored *order = malloc(sizeof(*order) * r->partition_count);
	int rc = quota && count && order ? 0 : ERR_NOMEM;
	if (rc)
		goto out;
	if (r->member_count == 1) {
		for (uint32_t p = 0; p < r->partition_count; p++)
			r->owners[p] = RING_MEMBER_NONE;
	} else {
		quotas(r, gone, quota);
		owned_counts(r, count);
		score_order(r, id, order);
		for (uint32_t i = 0; i < r->partition_count; i++) {
			uint32_t p = order[i].partition;
			if (r->owners[p] != id)
				continue;
			uint32_t to = receiver_of(r, p, gone, quota, count);
			count[to]++;
			r->owners[p] = r->members[to].id;
		}
	}
	memmove(&r->members[gone], &r->members[gone + 1],
	        sizeof(*r->members) * (r->member_count - (uint32_t)gone - 1));
	r->member_count--;
	changed(r);
out:
	free(order);
	free(count);
	free(quota);
	return rc;
}

int ring_build(struct ring *r, uint32_t partition_count, const struct ring_member_spec *specs,
               size_t spec_count)
{
	int rc = ring_init(r, partition_count);
	if (rc)
		return rc;
	if (spec_count > RING_MEMBERS_MAX) {
		ring_deinit(r);
		return ERR_LIMIT;
	}
	/* Ascending id order, whatever order the caller lists them in. */
	bool *done = calloc(spec_count ? spec_count : 1, sizeof(*done));
	if (!done) {
		ring_deinit(r);
		return ERR_NOMEM;
	}
	for (size_t k = 0; k < spec_count && rc == 0; k++) {
		size_t next = spec_count;
		for (size_t i = 0; i < spec_count; i++)
			if (!done[i] && (next == spec_count || specs[i].id < specs[next].id))
				next = i;
		done[next] = true;
		rc = ring_add_member(r, &specs[next]);
	}
	free(done);
	if (rc)
		ring_deinit(r);
	return rc;
}

/* ---- Preference lists ----------------------------------------------------- */

static bool has_id(const uint16_t *ids, uint32_t n, uint16_t id)
{
	for (uint32_t i = 0; i < n; i++)
		if (ids[i] == id)
			return true;
	return false;
}

uint32_t ring_preference_list(const struct ring *r, uint32_t partition, uint32_t n, uint16_t *out)
{
	ASSERT(partition < r->partition_count);
	ASSERT(n <= RING_REPLICAS_MAX);
	uint32_t count = 0;
	uint32_t mask = r->partition_count - 1;
	/* Each pass walks the whole ring from the owner and takes at most one
	 * new member per zone; a pass that takes nobody means every member
	 * that owns a partition is chosen. */
	while (count < n) {
		uint16_t pass_zones[RING_REPLICAS_MAX];
		uint32_t zones = 0, added = 0;
		for (uint32_t i = 0; i < r->partition_count && count < n; i++) {
			uint16_t id = r->owners[(partition + i) & mask];
			if (id == RING_MEMBER_NONE || has_id(out, count, id))
				continue;
			uint16_t zone = r->members[member_index(r, id)].zone_index;
			if (has_id(pass_zones, zones, zone))
				continue;
			out[count++] = id;
			pass_zones[zones++] = zone;
			added++;
			if (zones == r->zone_count)
				break;
		}
		if (added == 0)
			break;
	}
	return count;
}

/* ---- Versions, copy, merge ------------------------------------------------ */

int ring_compare(const struct ring *a, const struct ring *b)
{
	if (a->version != b->version)
		return a->version > b->version ? 1 : -1;
	if (a->content_hash != b->content_hash)
		return a->content_hash > b->content_hash ? 1 : -1;
	return 0;
}

int ring_copy(struct ring *dst, const struct ring *src)
{
	uint16_t *owners = malloc(sizeof(*owners) * src->partition_count);
	struct ring_member *members =
	    malloc(sizeof(*members) * (src->member_count ? src->member_count : 1));
	if (!owners || !members) {
		free(owners);
		free(members);
		return ERR_NOMEM;
	}
	memcpy(owners, src->owners, sizeof(*owners) * src->partition_count);
	if (src->member_count)
		memcpy(members, src->members, sizeof(*members) * src->member_count);
	ring_deinit(dst);
	*dst = *src;
	dst->owners = owners;
	dst->members = members;
	dst->member_cap = src->member_count ? src->member_count : 1;
	return 0;
}

int ring_merge(struct ring *local, const struct ring *remote, bool *replaced)
{
	if (ring_compare(remote, local) <= 0) {
		*replaced = false;
		return 0;
	}
	int rc = ring_copy(local, remote);
	if (rc == 0)
		*replaced = true;
	return rc;
}

/* ---- Encoding ------------------------------------------------------------- */

size_t ring_encoded_bytes(const struct ring *r)
{
	size_t n = RING_HEADER_BYTES + 2 * (size_t)r->partition_count;
	for (uint32_t i = 0; i < r->member_count; i++) {
		const struct ring_member *m = &r->members[i];
		n += RING_MEMBER_FIXED_BYTES + m->name_len + m->addr_len + m->zone_len;
	}
	return n;
}

int ring_encode(const struct ring *r, struct buf *out, size_t cap_bytes)
{
	size_t total = ring_encoded_bytes(r);
	ASSERT(total <= RING_ENCODED_BYTES_MAX);
	int rc = buf_reserve(out, total, cap_bytes);
	if (rc)
		return rc;
	size_t start = out->len;
	buf_put(out, RING_MAGIC, 4);
	codec_put8(out, RING_FORMAT_VERSION);
	codec_put8(out, (uint8_t)r->partition_bits);
	codec_put16(out, (uint16_t)r->member_count);
	codec_put64(out, r->version);
	codec_put64(out, r->content_hash);
	codec_put32(out, (uint32_t)(total - RING_HEADER_BYTES));
	codec_put32(out, 0);
	for (uint32_t i = 0; i < r->member_count; i++) {
		const struct ring_member *m = &r->members[i];
		uint8_t fixed[RING_MEMBER_FIXED_BYTES];
		member_fixed(m, fixed);
		buf_put(out, fixed, sizeof(fixed));
		buf_put(out, m->name, m->name_len);
		buf_put(out, m->addr, m->addr_len);
		buf_put(out, m->zone, m->zone_len);
	}
	for (uint32_t p = 0; p < r->partition_count; p++)
		codec_put16(out, r->owners[p]);
	ASSERT(out->len - start == total);
	return 0;
}

/* One member record; ids must ascend strictly. */
static int decode_member(struct codec_rd *rd, struct ring_member *m, int prev_id)
{
	memset(m, 0, sizeof(*m));
	m->id = codec_get16(rd);
	m->weight = codec_get16(rd);
	m->name_len = codec_get8(rd);
	m->zone_len = codec_get8(rd);
	m->addr_len = codec_get16(rd);
	if (rd->bad)
		return ERR_PROTO;
	if ((int)m->id <= prev_id || m->id == RING_MEMBER_NONE || m->weight == 0 ||
	    m->name_len == 0)
		return ERR_PROTO;
	if (m->weight > RING_WEIGHT_MAX || m->name_len > RING_NAME_BYTES_MAX ||
	    m->addr_len > RING_ADDR_BYTES_MAX || m->zone_len > RING_ZONE_BYTES_MAX)
		return ERR_LIMIT;
	struct bytes name = codec_get_bytes(rd, m->name_len);
	struct bytes addr = codec_get_bytes(rd, m->addr_len);
	struct bytes zone = codec_get_bytes(rd, m->zone_len);
	if (rd->bad)
		return ERR_PROTO;
	memcpy(m->name, name.ptr, name.len);
	if (addr.len)
		memcpy(m->addr, addr.ptr, addr.len);
	if (zone.len)
		memcpy(m->zone, zone.ptr, zone.len);
	return 0;
}

static int decode_body(struct ring *r, struct codec_rd *rd, uint32_t member_count)
{
	int prev = -1;
	for (uint32_t i = 0; i < member_count; i++) {
		int rc = decode_member(rd, &r->members[i], prev);
		if (rc)
			return rc;
		for (uint32_t j = 0; j < i; j++)
			if (r->members[j].name_len == r->members[i].name_len &&
			    memcmp(r->members[j].name, r->members[i].name,
			           r->members[i].name_len) == 0)
				return ERR_PROTO;
		prev = r->members[i].id;
		r->member_count = i + 1;
	}
	if (rd->left != 2 * (size_t)r->partition_count)
		return ERR_PROTO;
	for (uint32_t p = 0; p < r->partition_count; p++) {
		uint16_t id = codec_get16(rd);
		bool ok = member_count ? member_index(r, id) >= 0 : id == RING_MEMBER_NONE;
		if (!ok)
			return ERR_PROTO;
		r->owners[p] = id;
	}
	return 0;
}

int ring_decode(struct ring *out, const uint8_t *p, size_t n)
{
	if (n > RING_ENCODED_BYTES_MAX)
		return ERR_LIMIT;
	struct codec_rd rd = codec_rd_make(p, n);
	struct bytes magic = codec_get_bytes(&rd, 4);
	uint8_t format = codec_get8(&rd);
	uint8_t bits = codec_get8(&rd);
	uint16_t member_count = codec_get16(&rd);
	uint64_t version = codec_get64(&rd);
	uint64_t hash = codec_get64(&rd);
	uint32_t body_bytes = codec_get32(&rd);
	uint32_t reserved = codec_get32(&rd);
	if (rd.bad || memcmp(magic.ptr, RING_MAGIC, 4) != 0 || format != RING_FORMAT_VERSION ||
	    reserved != 0 || body_bytes != rd.left || bits >= 32 || !partition_count_ok(1u << bits))
		return ERR_PROTO;
	if (member_count > RING_MEMBERS_MAX)
		return ERR_LIMIT;
	/* Each member takes at least 9 bytes and each owner 2, so counts the
	 * body cannot hold are refused before any array is sized from them. */
	if ((size_t)member_count * (RING_MEMBER_FIXED_BYTES + 1) + ((size_t)2 << bits) > rd.left)
		return ERR_PROTO;
	struct ring r;
	int rc = ring_init(&r, 1u << bits);
	if (rc)
		return rc;
	rc = reserve_members(&r, member_count ? member_count : 1);
	if (rc == 0)
		rc = decode_body(&r, &rd, member_count);
	if (rc == 0 && content_hash(&r) != hash)
		rc = ERR_CORRUPT;
	if (rc) {
		ring_deinit(&r);
		return rc;
	}
	index_zones(&r);
	r.version = version;
	r.content_hash = hash;
	*out = r;
	return 0;
}

void ring_check_invariants(const struct ring *r)
{
	ASSERT(partition_count_ok(r->partition_count));
	ASSERT((1u << r->partition_bits) == r->partition_count);
	ASSERT(r->member_count <= r->member_cap || r->member_count == 0);
	ASSERT(r->member_count <= RING_MEMBERS_MAX);
	for (uint32_t i = 1; i < r->member_count; i++)
		ASSERT(r->members[i - 1].id < r->members[i].id);
	for (uint32_t i = 0; i < r->member_count; i++) {
		const struct ring_member *m = &r->members[i];
		ASSERT(m->weight >= 1 && m->weight <= RING_WEIGHT_MAX);
		ASSERT(m->name_len >= 1 && m->name_len <= RING_NAME_BYTES_MAX);
		ASSERT(m->zone_index < r->zone_count);
	}
	for (uint32_t p = 0; p < r->partition_count; p++) {
		if (r->member_count == 0)
			ASSERT(r->owners[p] == RING_MEMBER_NONE);
		else
			ASSERT(member_index(r, r->owners[p]) >= 0);
	}
	ASSERT(r->content_hash == content_hash(r));
}
