/*
 * hintlog.c - durable hint queues, one per target (hintlog.h).
 *
 * Segment file "<hex>.<seg_no:016x>.seg", all integers little-endian:
 *   header (40 bytes): magic "ringkvHS" | version u32 | reserved u32 (0) |
 *     seg_no u64 | name_hash u64 | checksum u64 (XXH3-64 of bytes 0..32)
 *   records, back to back: checksum u64 | key_len u32 | state_len u32 |
 *     created_ms u64 | key | state
 * A record's checksum is XXH3-64 of everything after the checksum field,
 * seeded with the target's name hash mixed with the segment number and the
 * record's file offset, so a record copied to another place, another
 * segment or another target's file never verifies. name_hash is XXH3-64 of
 * the target's name bytes.
 *
 * Cursor file "<hex>.cur" (48 bytes): magic "ringkvHC" | version u32 |
 * reserved u32 | seg_no u64 | offset u64 | name_hash u64 | checksum u64
 * (XXH3-64 of bytes 0..40). Every record before (seg_no, offset) has been
 * delivered. It is replaced whole: written to "<hex>.cur.tmp", synced,
 * renamed over, and the directory synced.
 *
 * In memory, a target is its segments (number, valid end, record count,
 * oldest created_ms, open handle), two positions and a window:
 *   del  - the first record not delivered (records before it are done);
 *   send - the first record never handed out;
 *   win  - the records in [del, send), in order, each in flight, eligible
 *          for a resend, or done (acked or expired) but not yet at the
 *          front. The front's done records are popped and move del.
 * A position (seg_no, off) at the end of a segment that has a successor
 * means the start of the successor; pos_normalize makes that explicit.
 * Segment numbers only grow (next_seg_no is past every number on disk and
 * the cursor's), so a cursor never points into a newer segment.
 *
 * I/O happens in append (the record and, for a new segment, its header),
 * next (read_at of one record), sync and drop. ack and retry touch memory
 * only.
 */
#include "cluster/hintlog.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/assert.h"
#include "base/err.h"
#include "base/hash.h"
#include "base/le.h"

#define SEG_MAGIC        "ringkvHS"
#define CUR_MAGIC        "ringkvHC"
#define HL_VERSION       1
#define SEG_HDR          40
#define REC_HDR          24
#define CUR_BYTES        48
#define HINTLOG_IO_BYTES (64 * KIB)
#define REC_KEEP_BYTES   (1 * MIB)
#define HEX_MAX          (2 * RING_NAME_BYTES_MAX)
/* The longest file name: "<hex>.<16 hex digits>.seg" (".cur.tmp" is shorter). */
#define FILE_NAME_MAX (HEX_MAX + 1 + 16 + 4)

static_assert(sizeof(SEG_MAGIC) - 1 == 8 && sizeof(CUR_MAGIC) - 1 == 8, "magics are 8 bytes");
static_assert(KEY_BYTES_MAX <= UINT32_MAX, "a key length fits its u32 field");
static_assert(HINTLOG_STATE_BYTES_MAX <= UINT32_MAX, "a state length fits its u32 field");
static_assert(SIZE_MAX >= REC_HDR + KEY_BYTES_MAX + HINTLOG_STATE_BYTES_MAX,
              "a whole record fits one buffer");
static_assert(REC_HDR <= HINTLOG_IO_BYTES && SEG_HDR <= HINTLOG_IO_BYTES, "headers fit the buffer");
static_assert(HINTLOG_SEGMENT_BYTES_MIN > SEG_HDR + REC_HDR, "a segment holds a record");

struct hl_pos {
	uint64_t seg_no, off;
};

struct hl_seg {
	uint64_t no;
	uint64_t end;            /* valid bytes: the header plus whole records */
	uint64_t records;        /* whole records in [SEG_HDR, end) */
	uint64_t min_created_ms; /* of those records; UINT64_MAX when none */
	struct env_file *file;   /* open handle, or NULL */
	bool sealed;             /* never appended to again */
	bool dirty;              /* appended or cut since its last fsync */
};

enum hl_ent_state { ENT_INFLIGHT = 1, ENT_RESEND, ENT_DONE };

struct hl_ent {
	struct hl_pos pos;
	uint64_t len, seq;
	uint8_t state;
};

struct hintlog_target {
	uint8_t name[RING_NAME_BYTES_MAX];
	size_t name_len;
	char hex[HEX_MAX + 1];
	uint64_t name_hash;
	struct hl_seg *segs; /* ascending by number */
	size_t seg_count, seg_cap;
	uint64_t next_seg_no;
	struct hl_pos del, send;
	uint64_t send_rec; /* records of send's segment before send.off */
	struct hl_ent win[HINTLOG_INFLIGHT_MAX];
	size_t win_head, win_len;
	uint64_t pending_records, pending_bytes;
	bool cursor_dirty;   /* del moved since the cursor file was written */
	bool cursor_on_disk; /* a cursor file may exist */
};

/* ---- Encoding -------------------------------------------------------- */

static uint64_t rec_seed(const struct hintlog_target *t, uint64_t seg_no, uint64_t off)
{
	return t->name_hash ^ (seg_no * 0x9e3779b97f4a7c15ull) ^ (off * 0xc2b2ae3d27d4eb4full);
}

static void seg_header_encode(uint8_t *p, const struct hintlog_target *t, uint64_t seg_no)
{
	memcpy(p, SEG_MAGIC, 8);
	le_put32(p + 8, HL_VERSION);
	le_put32(p + 12, 0);
	le_put64(p + 16, seg_no);
	le_put64(p + 24, t->name_hash);
	le_put64(p + 32, XXH3_64bits(p, 32));
}

static bool seg_header_ok(const uint8_t *p, const struct hintlog_target *t, uint64_t seg_no)
{
	return memcmp(p, SEG_MAGIC, 8) == 0 && le_get64(p + 32) == XXH3_64bits(p, 32) &&
	    le_get32(p + 8) == HL_VERSION && le_get64(p + 16) == seg_no &&
	    le_get64(p + 24) == t->name_hash;
}

static void cursor_encode(uint8_t *p, const struct hintlog_target *t, struct hl_pos pos)
{
	memcpy(p, CUR_MAGIC, 8);
	le_put32(p + 8, HL_VERSION);
	le_put32(p + 12, 0);
	le_put64(p + 16, pos.seg_no);
	le_put64(p + 24, pos.off);
	le_put64(p + 32, t->name_hash);
	le_put64(p + 40, XXH3_64bits(p, 40));
}

static bool cursor_decode(const uint8_t *p, const struct hintlog_target *t, struct hl_pos *pos)
{
	if (memcmp(p, CUR_MAGIC, 8) != 0 || le_get64(p + 40) != XXH3_64bits(p, 40) ||
	    le_get32(p + 8) != HL_VERSION || le_get64(p + 32) != t->name_hash ||
	    le_get64(p + 24) < SEG_HDR)
		return false;
	pos->seg_no = le_get64(p + 16);
	pos->off = le_get64(p + 24);
	return true;
}

/* The checksum of a record whose header (checksum field not yet set) is
 * hdr, streamed over its three parts: the same value as XXH3-64 of the
 * contiguous bytes, which is how a reader checks it. */
static uint64_t rec_checksum(uint64_t seed, const uint8_t *hdr, struct bytes key,
                             struct bytes state)
{
	XXH3_state_t st;
	memset(&st, 0, sizeof(st)); /* xxhash asks for this on a stack state */
	XXH3_64bits_reset_withSeed(&st, seed);
	XXH3_64bits_update(&st, hdr + 8, REC_HDR - 8);
	if (key.len)
		XXH3_64bits_update(&st, key.ptr, key.len);
	if (state.len)
		XXH3_64bits_update(&st, state.ptr, state.len);
	return XXH3_64bits_digest(&st);
}

static void hex_encode(const uint8_t *p, size_t n, char *out)
{
	static const char digits[] = "0123456789abcdef";
	for (size_t i = 0; i < n; i++) {
		out[2 * i] = digits[p[i] >> 4];
		out[2 * i + 1] = digits[p[i] & 15];
	}
	out[2 * n] = '\0';
}

static int hex_digit(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1; /* upper case too: one spelling per name */
}

/* Decodes n hex digits (n even) into out; false if any is not one. */
static bool hex_decode(const char *s, size_t n, uint8_t *out)
{
	for (size_t i = 0; i < n; i += 2) {
		int hi = hex_digit(s[i]), lo = hex_digit(s[i + 1]);
		if (hi < 0 || lo < 0)
			return false;
		out[i / 2] = (uint8_t)(hi << 4 | lo);
	}
	return true;
}

static void seg_path(const struct hintlog *h, const struct hintlog_target *t, uint64_t no,
                     char *out)
{
	int n = snprintf(out, FS_PATH_BYTES_MAX, "%s/%s.%016" PRIx64 ".seg", h->dir, t->hex, no);
	ASSERT(n > 0 && n < FS_PATH_BYTES_MAX); /* the dir length was checked at open */
}

static void cursor_path(const struct hintlog *h, const struct hintlog_target *t, bool tmp,
                        char *out)
{
	int n = snprintf(out, FS_PATH_BYTES_MAX, "%s/%s.cur%s", h->dir, t->hex, tmp ? ".tmp" : "");
	ASSERT(n > 0 && n < FS_PATH_BYTES_MAX);
}

/* ---- Targets, segments, positions ------------------------------------ */

static bool name_valid(struct bytes name)
{
	return name.len >= 1 && name.len <= RING_NAME_BYTES_MAX;
}

static struct hintlog_target *target_find(const struct hintlog *h, struct bytes name)
{
	if (!name_valid(name))
		return NULL;
	uint64_t hash = hash_bytes(name.ptr, name.len);
	for (size_t i = 0; i < h->target_count; i++) {
		struct hintlog_target *t = h->targets[i];
		if (t->name_hash == hash && bytes_eq(bytes_make(t->name, t->name_len), name))
			return t;
	}
	return NULL;
}

/* A new empty target (name already validated). ERR_LIMIT, ERR_NOMEM. */
static int target_add(struct hintlog *h, struct bytes name, struct hintlog_target **out)
{
	if (h->target_count >= HINTLOG_TARGETS_MAX)
		return ERR_LIMIT;
	if (h->target_count == h->target_cap) {
		size_t cap = h->target_cap ? h->target_cap * 2 : 8;
		struct hintlog_target **p = realloc(h->targets, cap * sizeof(*p));
		if (!p)
			return ERR_NOMEM;
		h->targets = p;
		h->target_cap = cap;
	}
	struct hintlog_target *t = calloc(1, sizeof(*t));
	if (!t)
		return ERR_NOMEM;
	memcpy(t->name, name.ptr, name.len);
	t->name_len = name.len;
	hex_encode(name.ptr, name.len, t->hex);
	t->name_hash = hash_bytes(name.ptr, name.len);
	t->next_seg_no = 1;
	t->del = t->send = (struct hl_pos){1, SEG_HDR};
	h->targets[h->target_count++] = t;
	*out = t;
	return 0;
}

static int seg_close(struct hintlog *h, struct hl_seg *s)
{
	int rc = 0;
	if (s->file)
		rc = env_fs_close(h->fs, s->file);
	s->file = NULL;
	s->dirty = false;
	return rc;
}

/* Closes every handle of t and frees it; the files stay. */
static int target_free(struct hintlog *h, struct hintlog_target *t)
{
	int rc = 0;
	for (size_t i = 0; i < t->seg_count; i++) {
		int crc = seg_close(h, &t->segs[i]);
		rc = rc ? rc : crc;
	}
	for (size_t i = 0; i < h->target_count; i++) {
		if (h->targets[i] == t) {
			h->targets[i] = h->targets[--h->target_count];
			break;
		}
	}
	free(t->segs);
	free(t);
	return rc;
}

/* Index of the first segment numbered no or more (seg_count if none). */
static size_t seg_lower(const struct hintlog_target *t, uint64_t no)
{
	size_t lo = 0, hi = t->seg_count;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (t->segs[mid].no < no)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

static struct hl_seg *seg_get(struct hintlog_target *t, uint64_t no)
{
	size_t i = seg_lower(t, no);
	return i < t->seg_count && t->segs[i].no == no ? &t->segs[i] : NULL;
}

static struct hl_seg *seg_active(struct hintlog_target *t)
{
	if (t->seg_count == 0 || t->segs[t->seg_count - 1].sealed)
		return NULL;
	return &t->segs[t->seg_count - 1];
}

static int seg_reserve(struct hintlog_target *t)
{
	if (t->seg_count < t->seg_cap)
		return 0;
	size_t cap = t->seg_cap ? t->seg_cap * 2 : 4;
	struct hl_seg *p = realloc(t->segs, cap * sizeof(*p));
	if (!p)
		return ERR_NOMEM;
	t->segs = p;
	t->seg_cap = cap;
	return 0;
}

static int seg_file(struct hintlog *h, struct hintlog_target *t, struct hl_seg *s)
{
	if (s->file)
		return 0;
	char path[FS_PATH_BYTES_MAX];
	seg_path(h, t, s->no, path);
	int rc = env_fs_open(h->fs, path, 0, &s->file);
	if (rc == ERR_NOT_FOUND)
		return ERR_CORRUPT; /* recovered, then gone: its records are lost */
	return rc;
}

/* Moves pos from the end of a segment that has a successor, or from a
 * segment that is gone, to the start of the next segment there is. True
 * when it changed segment. */
static bool pos_normalize(const struct hintlog_target *t, struct hl_pos *pos)
{
	bool moved = false;
	for (size_t i = seg_lower(t, pos->seg_no); i < t->seg_count; i++) {
		const struct hl_seg *s = &t->segs[i];
		if (s->no != pos->seg_no) {
			pos->seg_no = s->no;
			pos->off = SEG_HDR;
			moved = true;
		}
		if (pos->off < s->end || i + 1 == t->seg_count)
			break;
	}
	return moved;
}

static void send_normalize(struct hintlog_target *t)
{
	if (pos_normalize(t, &t->send))
		t->send_rec = 0;
}

static bool pos_same(const struct hintlog_target *t, struct hl_pos a, struct hl_pos b)
{
	pos_normalize(t, &a);
	pos_normalize(t, &b);
	return a.seg_no == b.seg_no && a.off == b.off;
}

static struct hl_ent *win_at(struct hintlog_target *t, size_t i)
{
	ASSERT(i < t->win_len);
	return &t->win[(t->win_head + i) % HINTLOG_INFLIGHT_MAX];
}

/* Pops the done records at the front of the window: del moves past them. */
static void win_compact(struct hintlog_target *t)
{
	while (t->win_len > 0 && win_at(t, 0)->state == ENT_DONE) {
		struct hl_ent *e = win_at(t, 0);
		ASSERT(t->pending_records > 0 && t->pending_bytes >= e->len);
		t->del = (struct hl_pos){e->pos.seg_no, e->pos.off + e->len};
		t->pending_records--;
		t->pending_bytes -= e->len;
		t->win_head = (t->win_head + 1) % HINTLOG_INFLIGHT_MAX;
		t->win_len--;
		t->cursor_dirty = true;
	}
}

static uint64_t win_inflight(const struct hintlog_target *t)
{
	uint64_t n = 0;
	for (size_t i = 0; i < t->win_len; i++)
		n += t->win[(t->win_head + i) % HINTLOG_INFLIGHT_MAX].state != ENT_DONE;
	return n;
}

/* ---- Recovery -------------------------------------------------------- */

enum { REC_OK = 0, REC_BAD = 1, REC_TAIL = 2 };

/* A buffered reader over one file: bytes [start, start + len) of the file
 * are in buf (the hintlog's I/O buffer). */
struct rd {
	struct env_fs *fs;
	struct env_file *f;
	uint64_t size, start;
	uint8_t *buf;
	size_t len;
};

static int rd_get(struct rd *r, uint64_t off, size_t n, const uint8_t **p)
{
	ASSERT(n >= 1 && n <= HINTLOG_IO_BYTES && off <= r->size && n <= r->size - off);
	if (off < r->start || off + n > r->start + r->len) {
		size_t want = r->size - off < HINTLOG_IO_BYTES ? (size_t)(r->size - off)
		                                               : (size_t)HINTLOG_IO_BYTES;
		size_t got = 0;
		int rc = env_fs_read_at(r->fs, r->f, off, r->buf, want, &got);
		if (rc)
			return rc;
		if (got < n)
			return ERR_IO; /* the file shrank under us */
		r->start = off;
		r->len = got;
	}
	*p = r->buf + (off - r->start);
	return 0;
}

/* True when the bytes from off to the end are all zero: a tail that the
 * file system extended but never wrote (a torn tail, not damage). */
static int rd_zero_from(struct rd *r, uint64_t off, bool *zero)
{
	*zero = false;
	while (off < r->size) {
		size_t n = r->size - off < HINTLOG_IO_BYTES ? (size_t)(r->size - off)
		                                            : (size_t)HINTLOG_IO_BYTES;
		const uint8_t *p;
		int rc = rd_get(r, off, n, &p);
		if (rc)
			return rc;
		for (size_t i = 0; i < n; i++)
			if (p[i])
				return 0;
		off += n;
	}
	*zero = true;
	return 0;
}

/* Verifies the record at off: REC_OK with its length and created_ms;
 * REC_TAIL when it is damaged and reaches the end of the file (a torn last
 * write); REC_BAD for damage with bytes after it; or an env error. */
static int scan_one(const struct hintlog_target *t, uint64_t seg_no, struct rd *r, uint64_t off,
                    uint64_t *len, uint64_t *created_ms)
{
	if (r->size - off < REC_HDR)
		return REC_TAIL;
	const uint8_t *p;
	int rc = rd_get(r, off, REC_HDR, &p);
	if (rc)
		return rc;
	uint8_t hdr[REC_HDR];
	memcpy(hdr, p, REC_HDR);
	uint64_t klen = le_get32(hdr + 8), slen = le_get32(hdr + 12);
	if (klen > KEY_BYTES_MAX || slen > HINTLOG_STATE_BYTES_MAX)
		return REC_BAD;
	uint64_t n = REC_HDR + klen + slen;
	if (n > r->size - off)
		return REC_TAIL;
	XXH3_state_t st;
	memset(&st, 0, sizeof(st));
	XXH3_64bits_reset_withSeed(&st, rec_seed(t, seg_no, off));
	XXH3_64bits_update(&st, hdr + 8, REC_HDR - 8);
	for (uint64_t pos = off + REC_HDR; pos < off + n;) {
		size_t k = off + n - pos < HINTLOG_IO_BYTES ? (size_t)(off + n - pos)
		                                            : (size_t)HINTLOG_IO_BYTES;
		if ((rc = rd_get(r, pos, k, &p)))
			return rc;
		XXH3_64bits_update(&st, p, k);
		pos += k;
	}
	if (XXH3_64bits_digest(&st) != le_get64(hdr))
		return off + n == r->size ? REC_TAIL : REC_BAD;
	*len = n;
	*created_ms = le_get64(hdr + 16);
	return REC_OK;
}

struct scan_res {
	uint64_t end, records, min_created_ms;
	uint64_t upto_off, upto_records; /* the last record boundary <= upto, records before it */
};

/* Reads a segment's header: 0 when valid, 1 when torn or damaged (counted;
 * the segment then holds no records). */
static int scan_header(struct hintlog *h, const struct hintlog_target *t, uint64_t seg_no,
                       struct rd *r)
{
	bool zero = false;
	int rc = rd_zero_from(r, 0, &zero);
	if (rc)
		return rc;
	if (r->size < SEG_HDR || zero) {
		/* Created, and the header never fully reached the disk. */
		h->stats.torn++;
		h->stats.torn_bytes += r->size;
		return 1;
	}
	const uint8_t *p;
	if ((rc = rd_get(r, 0, SEG_HDR, &p)))
		return rc;
	if (seg_header_ok(p, t, seg_no))
		return 0;
	h->stats.corrupt++;
	h->stats.corrupt_bytes += r->size;
	return 1;
}

static int scan_records(struct hintlog *h, const struct hintlog_target *t, uint64_t seg_no,
                        struct rd *r, uint64_t upto, struct scan_res *res)
{
	uint64_t off = SEG_HDR;
	while (off < r->size) {
		uint64_t len = 0, created = 0;
		int rc = scan_one(t, seg_no, r, off, &len, &created);
		if (rc < 0)
			return rc;
		bool zero = false;
		int zrc = rc == REC_BAD ? rd_zero_from(r, off, &zero) : 0;
		if (zrc)
			return zrc;
		if (rc == REC_TAIL || zero) {
			h->stats.torn++;
			h->stats.torn_bytes += r->size - off;
			break;
		}
		if (rc == REC_BAD) {
			h->stats.corrupt++;
			h->stats.corrupt_bytes += r->size - off;
			break;
		}
		off += len;
		res->records++;
		if (created < res->min_created_ms)
			res->min_created_ms = created;
		if (off <= upto) {
			res->upto_off = off;
			res->upto_records = res->records;
		}
	}
	res->end = off;
	return 0;
}

/* Scans one segment: its valid end, records, and (for the cursor's
 * segment) where the cursor lands. */
static int seg_scan(struct hintlog *h, struct hintlog_target *t, uint64_t seg_no, uint64_t upto,
                    struct scan_res *res)
{
	*res = (struct scan_res){SEG_HDR, 0, UINT64_MAX, SEG_HDR, 0};
	char path[FS_PATH_BYTES_MAX];
	seg_path(h, t, seg_no, path);
	struct rd r = {.fs = h->fs, .buf = h->io};
	int rc = env_fs_open(h->fs, path, 0, &r.f);
	if (rc)
		return rc;
	rc = env_fs_size(h->fs, r.f, &r.size);
	if (rc == 0)
		rc = scan_header(h, t, seg_no, &r);
	if (rc == 0)
		rc = scan_records(h, t, seg_no, &r, upto, res);
	if (rc == 1)
		rc = 0;
	/* What recovery found may still sit unsynced in the OS cache (a
	 * process crash): made durable now, so that every record reported
	 * pending survives a power cut, and a later cursor never points past
	 * records that could vanish while newer segments survive. */
	if (rc == 0 && res->records > 0)
		rc = env_fs_sync(h->fs, r.f);
	int crc = env_fs_close(h->fs, r.f);
	return rc ? rc : crc;
}

/* The target's cursor file: 0 with *pos, ERR_CORRUPT, or an env error. */
static int cursor_read(struct hintlog *h, const struct hintlog_target *t, struct hl_pos *pos)
{
	char path[FS_PATH_BYTES_MAX];
	cursor_path(h, t, false, path);
	struct env_file *f;
	int rc = env_fs_open(h->fs, path, 0, &f);
	if (rc)
		return rc;
	uint8_t b[CUR_BYTES + 1];
	size_t got = 0;
	rc = env_fs_read_at(h->fs, f, 0, b, sizeof(b), &got);
	int crc = env_fs_close(h->fs, f);
	if (rc || (rc = crc))
		return rc;
	return got == CUR_BYTES && cursor_decode(b, t, pos) ? 0 : ERR_CORRUPT;
}

static int seg_cmp(const void *a, const void *b)
{
	uint64_t x = ((const struct hl_seg *)a)->no, y = ((const struct hl_seg *)b)->no;
	return x < y ? -1 : x > y;
}

/* Reads the cursor: where delivery starts. No cursor, or a damaged one
 * (counted), starts at the first segment. */
static int recover_cursor(struct hintlog *h, struct hintlog_target *t)
{
	t->del = (struct hl_pos){0, SEG_HDR};
	if (!t->cursor_on_disk)
		return 0;
	int rc = cursor_read(h, t, &t->del);
	if (rc == ERR_CORRUPT) {
		h->stats.corrupt++;
		h->stats.corrupt_bytes += CUR_BYTES;
		t->cursor_dirty = true;
		return 0;
	}
	if (rc == ERR_NOT_FOUND) {
		t->cursor_on_disk = false;
		return 0;
	}
	return rc;
}

/* Rebuilds a target from its listed segments and its cursor. Segments
 * before the cursor are delivered: they stay listed as empty until the next
 * sync removes them, so nothing is read from them. */
static int target_recover(struct hintlog *h, struct hintlog_target *t)
{
	if (t->seg_count > 0)
		qsort(t->segs, t->seg_count, sizeof(*t->segs), seg_cmp);
	int rc = recover_cursor(h, t);
	if (rc)
		return rc;
	uint64_t max_no = t->seg_count ? t->segs[t->seg_count - 1].no : 0;
	t->next_seg_no = (max_no > t->del.seg_no ? max_no : t->del.seg_no) + 1;
	for (size_t i = 0; i < t->seg_count; i++) {
		struct hl_seg *s = &t->segs[i];
		if (s->no < t->del.seg_no)
			continue;
		bool at_cursor = s->no == t->del.seg_no;
		struct scan_res res;
		if ((rc = seg_scan(h, t, s->no, at_cursor ? t->del.off : 0, &res)))
			return rc;
		s->end = res.end;
		s->records = res.records;
		s->min_created_ms = res.min_created_ms;
		t->pending_records += res.records - (at_cursor ? res.upto_records : 0);
		t->pending_bytes += res.end - (at_cursor ? res.upto_off : SEG_HDR);
		if (at_cursor) {
			t->del.off = res.upto_off;
			t->send_rec = res.upto_records;
		}
	}
	t->send = t->del;
	send_normalize(t);
	t->del = t->send;
	return 0;
}

enum name_kind { NAME_OTHER, NAME_SEG, NAME_CUR, NAME_TMP };

/* Parses a directory entry: "<hex>.<016x>.seg", "<hex>.cur" or
 * "<hex>.cur.tmp". Anything else is not ours and is left alone. */
static enum name_kind name_parse(const char *s, uint8_t *name, size_t *name_len, uint64_t *seg_no)
{
	const char *dot = strchr(s, '.');
	size_t hex_len = dot ? (size_t)(dot - s) : 0;
	if (hex_len < 2 || hex_len > HEX_MAX || hex_len % 2 || !hex_decode(s, hex_len, name))
		return NAME_OTHER;
	*name_len = hex_len / 2;
	if (strcmp(dot, ".cur") == 0)
		return NAME_CUR;
	if (strcmp(dot, ".cur.tmp") == 0)
		return NAME_TMP;
	if (strlen(dot) != 1 + 16 + 4 || strcmp(dot + 17, ".seg") != 0)
		return NAME_OTHER;
	uint64_t no = 0;
	for (int i = 1; i <= 16; i++) {
		int d = hex_digit(dot[i]);
		if (d < 0)
			return NAME_OTHER;
		no = no << 4 | (uint64_t)d;
	}
	if (no == 0 || no == UINT64_MAX)
		return NAME_OTHER;
	*seg_no = no;
	return NAME_SEG;
}

struct listing {
	char **names;
	size_t count, cap;
};

static int listing_add(void *ctx, const char *name)
{
	struct listing *l = ctx;
	if (l->count >= HINTLOG_DIR_ENTRIES_MAX)
		return ERR_LIMIT;
	if (l->count == l->cap) {
		size_t cap = l->cap ? l->cap * 2 : 64;
		char **p = realloc(l->names, cap * sizeof(*p));
		if (!p)
			return ERR_NOMEM;
		l->names = p;
		l->cap = cap;
	}
	if (!(l->names[l->count] = strdup(name)))
		return ERR_NOMEM;
	l->count++;
	return 0;
}

static void listing_free(struct listing *l)
{
	for (size_t i = 0; i < l->count; i++)
		free(l->names[i]);
	free(l->names);
}

/* Files a directory entry under its target. */
static int recover_entry(struct hintlog *h, const char *entry, struct hintlog_target **last)
{
	uint8_t name[RING_NAME_BYTES_MAX];
	size_t len = 0;
	uint64_t no = 0;
	enum name_kind kind = name_parse(entry, name, &len, &no);
	if (kind == NAME_OTHER)
		return 0;
	if (kind == NAME_TMP) {
		char path[FS_PATH_BYTES_MAX];
		snprintf(path, sizeof(path), "%s/%s", h->dir, entry);
		env_fs_remove(h->fs, path); /* best effort: a cursor write cut short */
		return 0;
	}
	struct bytes nb = bytes_make(name, len);
	struct hintlog_target *t = *last;
	if (!t || !bytes_eq(bytes_make(t->name, t->name_len), nb))
		t = target_find(h, nb);
	int rc;
	if (!t && (rc = target_add(h, nb, &t)))
		return rc;
	*last = t;
	if (kind == NAME_CUR) {
		t->cursor_on_disk = true;
		return 0;
	}
	if ((rc = seg_reserve(t)))
		return rc;
	t->segs[t->seg_count++] =
	    (struct hl_seg){.no = no, .end = SEG_HDR, .min_created_ms = UINT64_MAX, .sealed = true};
	return 0;
}

static int str_cmp(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

static int recover_all(struct hintlog *h)
{
	struct listing l = {0};
	int rc = env_fs_list(h->fs, h->dir, listing_add, &l);
	if (rc == 0 && l.count > 0) /* sorted, a target's files are (nearly always) together */
		qsort(l.names, l.count, sizeof(*l.names), str_cmp);
	struct hintlog_target *last = NULL;
	for (size_t i = 0; rc == 0 && i < l.count; i++)
		rc = recover_entry(h, l.names[i], &last);
	listing_free(&l);
	for (size_t i = 0; rc == 0 && i < h->target_count; i++)
		rc = target_recover(h, h->targets[i]);
	if (rc == 0 && h->target_count > 0)
		rc = env_fs_sync_dir(h->fs, h->dir); /* and their names */
	return rc;
}

/* ---- Open, close ----------------------------------------------------- */

static int config_apply(struct hintlog *h, const struct hintlog_config *cfg)
{
	if (!cfg->dir || !cfg->dir[0])
		return ERR_INVALID;
	if (strlen(cfg->dir) + 1 + FILE_NAME_MAX >= FS_PATH_BYTES_MAX)
		return ERR_LIMIT;
	h->segment_bytes = cfg->segment_bytes ? cfg->segment_bytes : HINTLOG_SEGMENT_BYTES_DEFAULT;
	h->pending_bytes_max =
	    cfg->pending_bytes_max ? cfg->pending_bytes_max : HINTLOG_PENDING_BYTES_DEFAULT;
	h->state_bytes_max =
	    cfg->state_bytes_max ? cfg->state_bytes_max : HINTLOG_STATE_BYTES_DEFAULT;
	h->max_age_ms =
	    cfg->max_age_ms ? cfg->max_age_ms : HINTLOG_MAX_AGE_S_DEFAULT * UINT64_C(1000);
	h->sync_each_append = cfg->sync_each_append;
	if (h->segment_bytes < HINTLOG_SEGMENT_BYTES_MIN ||
	    h->segment_bytes > HINTLOG_SEGMENT_BYTES_MAX ||
	    h->pending_bytes_max > HINTLOG_PENDING_BYTES_MAX ||
	    h->state_bytes_max > HINTLOG_STATE_BYTES_MAX)
		return ERR_INVALID;
	return 0;
}

int hintlog_set_bounds(struct hintlog *h, uint64_t pending_bytes_max, uint64_t max_age_ms)
{
	if (pending_bytes_max > HINTLOG_PENDING_BYTES_MAX)
		return ERR_INVALID;
	h->pending_bytes_max = pending_bytes_max ? pending_bytes_max : HINTLOG_PENDING_BYTES_DEFAULT;
	h->max_age_ms = max_age_ms ? max_age_ms : HINTLOG_MAX_AGE_S_DEFAULT * UINT64_C(1000);
	return 0;
}

/* Makes the directory if it is missing, and its name durable. */
static int dir_prepare(struct hintlog *h)
{
	int rc = env_fs_mkdir(h->fs, h->dir);
	if (rc == ERR_EXISTS)
		return 0;
	if (rc)
		return rc;
	char parent[FS_PATH_BYTES_MAX];
	if ((rc = env_fs_dirname(h->dir, parent, sizeof(parent))))
		return rc;
	return env_fs_sync_dir(h->fs, parent);
}

int hintlog_open(struct hintlog *h, struct env_fs *fs, const struct hintlog_config *cfg)
{
	ASSERT(h && fs && cfg);
	memset(h, 0, sizeof(*h));
	int rc = config_apply(h, cfg);
	if (rc) {
		memset(h, 0, sizeof(*h));
		return rc;
	}
	h->fs = fs;
	h->next_seq = 1;
	h->dir = strdup(cfg->dir);
	h->io = malloc(HINTLOG_IO_BYTES);
	if (!h->dir || !h->io)
		rc = ERR_NOMEM;
	if (rc == 0)
		rc = dir_prepare(h);
	if (rc == 0)
		rc = recover_all(h);
	if (rc)
		hintlog_close(h);
	return rc;
}

int hintlog_close(struct hintlog *h)
{
	int rc = 0;
	while (h->target_count > 0) {
		int crc = target_free(h, h->targets[h->target_count - 1]);
		rc = rc ? rc : crc;
	}
	free(h->targets);
	free(h->dir);
	free(h->io);
	free(h->rec);
	memset(h, 0, sizeof(*h));
	return rc;
}

/* ---- Append ---------------------------------------------------------- */

/* A failed fsync is ERR_IO even when the OS said ENOSPC: nothing but a
 * reopen cures it (wal.c does the same). */
static int fail(struct hintlog *h, int rc)
{
	h->failed = rc == ERR_NOSPACE ? ERR_IO : rc;
	return h->failed;
}

/* Creates the next segment of t and writes its header. On failure the
 * file is removed (best effort) and t is unchanged but for the number. */
static int seg_create(struct hintlog *h, struct hintlog_target *t, struct hl_seg **out)
{
	if (t->seg_count >= HINTLOG_SEGMENTS_MAX)
		return ERR_LIMIT;
	int rc = seg_reserve(t);
	if (rc)
		return rc;
	/* The number is used up even on failure: a stub may be left behind. */
	uint64_t no = t->next_seg_no++;
	char path[FS_PATH_BYTES_MAX];
	seg_path(h, t, no, path);
	struct env_file *f;
	if ((rc = env_fs_open(h->fs, path, ENV_FS_CREATE | ENV_FS_TRUNCATE, &f)))
		return rc;
	uint8_t hdr[SEG_HDR];
	seg_header_encode(hdr, t, no);
	if ((rc = env_fs_append(h->fs, f, hdr, SEG_HDR))) {
		env_fs_close(h->fs, f);
		env_fs_remove(h->fs, path);
		return rc;
	}
	struct hl_seg *s = &t->segs[t->seg_count++];
	*s = (struct hl_seg){
	    .no = no, .end = SEG_HDR, .min_created_ms = UINT64_MAX, .file = f, .dirty = true};
	h->dir_dirty = true;
	*out = s;
	return 0;
}

/* Writes one record at the end of s: one append when it fits the staging
 * buffer, else header, key and state straight from the caller's memory. */
static int rec_write(struct hintlog *h, const struct hintlog_target *t, struct hl_seg *s,
                     struct bytes key, struct bytes state, uint64_t created_ms, uint64_t len)
{
	uint8_t hdr[REC_HDR];
	le_put32(hdr + 8, (uint32_t)key.len);
	le_put32(hdr + 12, (uint32_t)state.len);
	le_put64(hdr + 16, created_ms);
	le_put64(hdr, rec_checksum(rec_seed(t, s->no, s->end), hdr, key, state));
	if (len <= HINTLOG_IO_BYTES) {
		memcpy(h->io, hdr, REC_HDR);
		if (key.len)
			memcpy(h->io + REC_HDR, key.ptr, key.len);
		if (state.len)
			memcpy(h->io + REC_HDR + key.len, state.ptr, state.len);
		return env_fs_append(h->fs, s->file, h->io, (size_t)len);
	}
	int rc = env_fs_append(h->fs, s->file, hdr, REC_HDR);
	if (rc == 0 && key.len)
		rc = env_fs_append(h->fs, s->file, key.ptr, key.len);
	if (rc == 0 && state.len)
		rc = env_fs_append(h->fs, s->file, state.ptr, state.len);
	return rc;
}

/* A failed append left any prefix of the record behind: the segment is
 * never appended to again, and the bytes are cut off (best effort; a cut
 * that fails leaves a torn tail that recovery ignores, unless the whole
 * record reached the file). The next sync makes the cut durable. */
static void seg_retire(struct hintlog *h, struct hl_seg *s)
{
	s->sealed = true;
	s->dirty = true;
	env_fs_truncate(h->fs, s->file, s->end);
}

static int target_append(struct hintlog *h, struct hintlog_target *t, struct bytes key,
                         struct bytes state, uint64_t created_ms, uint64_t len)
{
	struct hl_seg *s = seg_active(t);
	if (s && s->records > 0 && s->end + len > h->segment_bytes) {
		s->sealed = true; /* rotation; its handle stays open until the next sync */
		s = NULL;
	}
	int rc;
	if (!s && (rc = seg_create(h, t, &s)))
		return rc;
	ASSERT(s->file && !s->sealed);
	if ((rc = rec_write(h, t, s, key, state, created_ms, len))) {
		seg_retire(h, s);
		return rc;
	}
	s->end += len;
	s->records++;
	s->dirty = true;
	if (created_ms < s->min_created_ms)
		s->min_created_ms = created_ms;
	t->pending_records++;
	t->pending_bytes += len;
	return 0;
}

static int refuse(struct hintlog *h, int rc)
{
	h->stats.refused++;
	return rc;
}

static int sync_files(struct hintlog *h);

int hintlog_append(struct hintlog *h, struct bytes target, struct bytes key, struct bytes state,
                   uint64_t created_ms)
{
	ASSERT(h->fs != NULL);
	if (h->failed)
		return h->failed;
	if (target.len == 0)
		return ERR_INVALID;
	if (target.len > RING_NAME_BYTES_MAX || key.len > KEY_BYTES_MAX ||
	    state.len > h->state_bytes_max)
		return refuse(h, ERR_LIMIT);
	uint64_t len = REC_HDR + (uint64_t)key.len + state.len;
	struct hintlog_target *t = target_find(h, target);
	/* No subtraction: a bound lowered below what is pending already
	 * (hintlog_set_bounds) must refuse, not wrap around. */
	if ((t ? t->pending_bytes : 0) + len > h->pending_bytes_max)
		return refuse(h, ERR_LIMIT);
	bool fresh = t == NULL;
	int rc;
	if (fresh && (rc = target_add(h, target, &t)))
		return rc == ERR_LIMIT ? refuse(h, rc) : rc;
	if ((rc = target_append(h, t, key, state, created_ms, len))) {
		if (fresh && t->seg_count == 0)
			target_free(h, t);
		return rc == ERR_LIMIT ? refuse(h, rc) : rc;
	}
	h->stats.appended++;
	return h->sync_each_append ? sync_files(h) : 0;
}

/* ---- Sync ------------------------------------------------------------ */

/* fsyncs every segment appended or cut since its last fsync, then the
 * directory if segments were created. Any failure marks the hintlog
 * failed. */
static int sync_files(struct hintlog *h)
{
	if (h->failed)
		return h->failed;
	for (size_t i = 0; i < h->target_count; i++) {
		struct hintlog_target *t = h->targets[i];
		for (size_t j = 0; j < t->seg_count; j++) {
			struct hl_seg *s = &t->segs[j];
			if (!s->dirty)
				continue;
			ASSERT(s->file != NULL);
			int rc = env_fs_sync(h->fs, s->file);
			if (rc)
				return fail(h, rc);
			s->dirty = false;
		}
	}
	if (h->dir_dirty) {
		int rc = env_fs_sync_dir(h->fs, h->dir);
		if (rc)
			return fail(h, rc);
		h->dir_dirty = false;
	}
	return 0;
}

/* Writes the cursor file whole: a tmp file, synced, renamed over the old
 * one (the caller syncs the directory). On failure the old file stays. */
static int cursor_write(struct hintlog *h, const struct hintlog_target *t)
{
	char tmp[FS_PATH_BYTES_MAX], path[FS_PATH_BYTES_MAX];
	cursor_path(h, t, true, tmp);
	cursor_path(h, t, false, path);
	uint8_t b[CUR_BYTES];
	cursor_encode(b, t, t->del);
	struct env_file *f;
	int rc = env_fs_open(h->fs, tmp, ENV_FS_CREATE | ENV_FS_TRUNCATE, &f);
	if (rc)
		return rc;
	rc = env_fs_append(h->fs, f, b, CUR_BYTES);
	if (rc == 0)
		rc = env_fs_sync(h->fs, f);
	int crc = env_fs_close(h->fs, f);
	if (rc == 0 && (rc = crc) == 0)
		rc = env_fs_rename(h->fs, tmp, path);
	if (rc)
		env_fs_remove(h->fs, tmp);
	return rc;
}

static int cursor_store(struct hintlog *h, struct hintlog_target *t, bool *changed)
{
	if (!t->cursor_dirty)
		return 0;
	if (t->seg_count == 0) {
		t->cursor_dirty = false; /* nothing left: the file goes (settle) */
		return 0;
	}
	int rc = cursor_write(h, t);
	if (rc)
		return rc;
	t->cursor_dirty = false;
	t->cursor_on_disk = true;
	*changed = true;
	return 0;
}

static bool seg_delivered(const struct hintlog_target *t, const struct hl_seg *s)
{
	return s->no < t->del.seg_no || (s->no == t->del.seg_no && t->del.off >= s->end);
}

/* Removes t's leading segments that are fully delivered (del normalized).
 * A segment that fails to go stays listed, and the next sync retries. */
static int segs_remove_delivered(struct hintlog *h, struct hintlog_target *t, bool *changed)
{
	size_t n = 0;
	int rc = 0;
	while (n < t->seg_count && seg_delivered(t, &t->segs[n])) {
		struct hl_seg *s = &t->segs[n];
		seg_close(h, s);
		char path[FS_PATH_BYTES_MAX];
		seg_path(h, t, s->no, path);
		rc = env_fs_remove(h->fs, path);
		if (rc && rc != ERR_NOT_FOUND)
			break;
		rc = 0;
		*changed = true;
		n++;
	}
	memmove(t->segs, t->segs + n, (t->seg_count - n) * sizeof(*t->segs));
	t->seg_count -= n;
	return rc;
}

/* Closes handles nobody needs now: not the active segment, not the one
 * being read, none with unsynced bytes. Resends reopen on demand. */
static void close_idle(struct hintlog *h, struct hintlog_target *t)
{
	for (size_t j = 0; j < t->seg_count; j++) {
		struct hl_seg *s = &t->segs[j];
		bool active = j + 1 == t->seg_count && !s->sealed;
		if (s->file && !s->dirty && !active && s->no != t->send.seg_no)
			seg_close(h, s);
	}
}

static bool target_empty(const struct hintlog_target *t)
{
	return t->seg_count == 0 && t->win_len == 0;
}

static void keep_first(int *first, int rc)
{
	if (*first == 0)
		*first = rc;
}

/* Persists cursors and removes delivered segments of every target (or of
 * only one), syncs the directory, then removes the cursor files of
 * targets left empty and forgets them. A cursor file goes only after the
 * removal of its segments is durable: otherwise a crash could bring back
 * delivered segments without the cursor that says so. */
static int settle(struct hintlog *h, struct hintlog_target *only)
{
	int first = 0;
	bool changed = false;
	for (size_t i = 0; i < h->target_count; i++) {
		struct hintlog_target *t = h->targets[i];
		if (only && t != only)
			continue;
		pos_normalize(t, &t->del);
		send_normalize(t);
		keep_first(&first, cursor_store(h, t, &changed));
		keep_first(&first, segs_remove_delivered(h, t, &changed));
		close_idle(h, t);
	}
	int rc;
	if (changed && (rc = env_fs_sync_dir(h->fs, h->dir)))
		return fail(h, rc);
	changed = false;
	for (size_t i = 0; i < h->target_count; i++) {
		struct hintlog_target *t = h->targets[i];
		if ((only && t != only) || !target_empty(t) || !t->cursor_on_disk)
			continue;
		char path[FS_PATH_BYTES_MAX];
		cursor_path(h, t, false, path);
		rc = env_fs_remove(h->fs, path);
		if (rc && rc != ERR_NOT_FOUND) {
			keep_first(&first, rc);
			continue;
		}
		t->cursor_on_disk = false;
		changed = true;
	}
	if (changed && (rc = env_fs_sync_dir(h->fs, h->dir)))
		return fail(h, rc);
	/* No file of theirs is left: a target added again numbers from 1. */
	if (only && target_empty(only) && !only->cursor_on_disk)
		target_free(h, only);
	for (size_t i = h->target_count; !only && i-- > 0;) {
		struct hintlog_target *t = h->targets[i];
		if (target_empty(t) && !t->cursor_on_disk)
			target_free(h, t);
	}
	return first;
}

int hintlog_sync(struct hintlog *h)
{
	int rc = sync_files(h);
	return rc ? rc : settle(h, NULL);
}

/* ---- Delivery -------------------------------------------------------- */

static bool expired(const struct hintlog *h, uint64_t created_ms, uint64_t now_ms)
{
	return h->max_age_ms != UINT64_MAX && now_ms > created_ms &&
	    now_ms - created_ms > h->max_age_ms;
}

/* Makes room for an n-byte record in h->rec. A buffer grown past
 * REC_KEEP_BYTES for one large record is given back on the next small one. */
static int rec_reserve(struct hintlog *h, uint64_t n)
{
	if (n <= h->rec_cap && (h->rec_cap <= REC_KEEP_BYTES || n > REC_KEEP_BYTES))
		return 0;
	size_t cap = n > REC_KEEP_BYTES ? (size_t)n : (size_t)REC_KEEP_BYTES;
	free(h->rec); /* no copy: the old record is no longer valid */
	h->rec = malloc(cap);
	h->rec_cap = h->rec ? cap : 0;
	return h->rec ? 0 : ERR_NOMEM;
}

static int read_exact(struct hintlog *h, struct env_file *f, uint64_t off, uint8_t *buf,
                      uint64_t len)
{
	if (len == 0)
		return 0;
	size_t got = 0;
	int rc = env_fs_read_at(h->fs, f, off, buf, (size_t)len, &got);
	if (rc)
		return rc;
	return got == len ? 0 : ERR_CORRUPT; /* shorter than recovery found it */
}

/* Reads and verifies the record at off of s into h->rec: 0 with *out (no
 * seq) and its length; ERR_CORRUPT; or an env error or ERR_NOMEM. */
static int rec_read(struct hintlog *h, struct hintlog_target *t, struct hl_seg *s, uint64_t off,
                    struct hint_rec *out, uint64_t *len)
{
	int rc = seg_file(h, t, s);
	if (rc)
		return rc;
	if (off > s->end || s->end - off < REC_HDR)
		return ERR_CORRUPT;
	uint8_t hdr[REC_HDR];
	if ((rc = read_exact(h, s->file, off, hdr, REC_HDR)))
		return rc;
	uint64_t klen = le_get32(hdr + 8), slen = le_get32(hdr + 12);
	uint64_t n = REC_HDR + klen + slen;
	if (klen > KEY_BYTES_MAX || slen > HINTLOG_STATE_BYTES_MAX || n > s->end - off)
		return ERR_CORRUPT;
	if ((rc = rec_reserve(h, n)))
		return rc;
	memcpy(h->rec, hdr, REC_HDR);
	if ((rc = read_exact(h, s->file, off + REC_HDR, h->rec + REC_HDR, n - REC_HDR)))
		return rc;
	if (XXH3_64bits_withSeed(h->rec + 8, n - 8, rec_seed(t, s->no, off)) != le_get64(hdr))
		return ERR_CORRUPT;
	out->created_ms = le_get64(hdr + 16);
	out->key = bytes_make(h->rec + REC_HDR, klen);
	out->state = bytes_make(h->rec + REC_HDR + klen, slen);
	*len = n;
	return 0;
}

/* The record at send failed its check after recovery verified it (media
 * damage, or the file shrank): the rest of its segment is lost, as
 * recovery would have decided. */
static void seg_cut(struct hintlog *h, struct hintlog_target *t, struct hl_seg *s)
{
	uint64_t lost_records = s->records - t->send_rec, lost_bytes = s->end - t->send.off;
	ASSERT(lost_records > 0 && t->pending_records >= lost_records);
	ASSERT(t->pending_bytes >= lost_bytes);
	h->stats.corrupt++;
	h->stats.corrupt_bytes += lost_bytes;
	t->pending_records -= lost_records;
	t->pending_bytes -= lost_bytes;
	s->end = t->send.off;
	s->records = t->send_rec;
	s->sealed = true;
}

/* Serves the oldest retry-eligible record: 0 with *out, 1 when there is
 * none, or an error (nothing changed). Expired or damaged ones are done. */
static int resend_next(struct hintlog *h, struct hintlog_target *t, uint64_t now_ms,
                       struct hint_rec *out)
{
	int rc = 1;
	for (size_t i = 0; i < t->win_len && rc == 1; i++) {
		struct hl_ent *e = win_at(t, i);
		if (e->state != ENT_RESEND)
			continue;
		struct hl_seg *s = seg_get(t, e->pos.seg_no);
		ASSERT(s != NULL);
		struct hint_rec rec;
		uint64_t len = 0;
		int rrc = rec_read(h, t, s, e->pos.off, &rec, &len);
		if (rrc == 0 && len != e->len)
			rrc = ERR_CORRUPT;
		if (rrc == ERR_CORRUPT) {
			e->state = ENT_DONE;
			h->stats.corrupt++;
			h->stats.corrupt_bytes += e->len;
		} else if (rrc) {
			rc = rrc;
		} else if (expired(h, rec.created_ms, now_ms)) {
			e->state = ENT_DONE;
			h->stats.expired++;
		} else {
			e->state = ENT_INFLIGHT;
			h->stats.sent++;
			rec.seq = e->seq;
			*out = rec;
			rc = 0;
		}
	}
	win_compact(t);
	return rc;
}

/* Hands out the record at send: 0 with *out, 1 when it was skipped
 * (expired or damaged), ERR_LIMIT, ERR_NOT_FOUND, or an error. */
static int send_next(struct hintlog *h, struct hintlog_target *t, uint64_t now_ms,
                     struct hint_rec *out)
{
	if (t->win_len == HINTLOG_INFLIGHT_MAX)
		return ERR_LIMIT;
	send_normalize(t);
	struct hl_seg *s = seg_get(t, t->send.seg_no);
	if (!s || t->send.off >= s->end)
		return ERR_NOT_FOUND;
	struct hint_rec rec;
	uint64_t len = 0;
	int rc = rec_read(h, t, s, t->send.off, &rec, &len);
	if (rc == ERR_CORRUPT) {
		seg_cut(h, t, s);
		return 1;
	}
	if (rc)
		return rc;
	struct hl_ent *e = &t->win[(t->win_head + t->win_len++) % HINTLOG_INFLIGHT_MAX];
	*e = (struct hl_ent){.pos = t->send, .len = len, .seq = h->next_seq++};
	t->send.off += len;
	t->send_rec++;
	if (expired(h, rec.created_ms, now_ms)) {
		e->state = ENT_DONE;
		h->stats.expired++;
		win_compact(t);
		return 1;
	}
	e->state = ENT_INFLIGHT;
	h->stats.sent++;
	rec.seq = e->seq;
	*out = rec;
	return 0;
}

int hintlog_next(struct hintlog *h, struct bytes target, uint64_t now_ms, struct hint_rec *out)
{
	struct hintlog_target *t = target_find(h, target);
	if (!t)
		return ERR_NOT_FOUND;
	int rc = resend_next(h, t, now_ms, out);
	for (int i = 0; rc == 1 && i < HINTLOG_EXPIRED_PER_CALL; i++)
		rc = send_next(h, t, now_ms, out);
	return rc == 1 ? ERR_AGAIN : rc;
}

int hintlog_ack(struct hintlog *h, struct bytes target, uint64_t seq)
{
	struct hintlog_target *t = target_find(h, target);
	if (!t)
		return ERR_NOT_FOUND;
	for (size_t i = 0; i < t->win_len; i++) {
		struct hl_ent *e = win_at(t, i);
		if (e->seq != seq)
			continue;
		if (e->state == ENT_DONE)
			return ERR_NOT_FOUND;
		e->state = ENT_DONE;
		h->stats.delivered++;
		win_compact(t);
		return 0;
	}
	return ERR_NOT_FOUND;
}

int hintlog_retry(struct hintlog *h, struct bytes target)
{
	struct hintlog_target *t = target_find(h, target);
	if (!t)
		return ERR_NOT_FOUND;
	for (size_t i = 0; i < t->win_len; i++) {
		struct hl_ent *e = win_at(t, i);
		if (e->state == ENT_INFLIGHT)
			e->state = ENT_RESEND;
	}
	return 0;
}

int hintlog_drop(struct hintlog *h, struct bytes target)
{
	struct hintlog_target *t = target_find(h, target);
	if (!t)
		return ERR_NOT_FOUND;
	h->stats.dropped += t->pending_records;
	t->pending_records = 0;
	t->pending_bytes = 0;
	t->win_head = t->win_len = 0;
	struct hl_seg *s = seg_active(t);
	if (s)
		s->sealed = true; /* the next append must land past the cursor */
	t->del = t->send = (struct hl_pos){t->next_seg_no, SEG_HDR};
	t->send_rec = 0;
	t->cursor_dirty = true;
	return settle(h, t);
}

/* ---- Stats and invariants -------------------------------------------- */

static void target_stats(const struct hintlog_target *t, struct hintlog_target_stats *st)
{
	st->name = bytes_make(t->name, t->name_len);
	st->pending_records = t->pending_records;
	st->pending_bytes = t->pending_bytes;
	st->inflight = win_inflight(t);
	st->segments = t->seg_count;
	uint64_t oldest = UINT64_MAX;
	for (size_t i = 0; i < t->seg_count; i++) {
		const struct hl_seg *s = &t->segs[i];
		bool pending =
		    s->no > t->del.seg_no || (s->no == t->del.seg_no && t->del.off < s->end);
		if (pending && s->records && s->min_created_ms < oldest)
			oldest = s->min_created_ms;
	}
	st->oldest_created_ms = t->pending_records && oldest != UINT64_MAX ? oldest : 0;
}

int hintlog_target_stats(const struct hintlog *h, struct bytes target,
                         struct hintlog_target_stats *out)
{
	const struct hintlog_target *t = target_find(h, target);
	if (!t)
		return ERR_NOT_FOUND;
	target_stats(t, out);
	return 0;
}

int hintlog_targets(const struct hintlog *h, hintlog_target_fn *fn, void *ctx)
{
	for (size_t i = 0; i < h->target_count; i++) {
		struct hintlog_target_stats st;
		target_stats(h->targets[i], &st);
		int rc = fn(ctx, &st);
		if (rc)
			return rc;
	}
	return 0;
}

void hintlog_get_stats(const struct hintlog *h, struct hintlog_stats *out)
{
	*out = h->stats;
	out->targets = h->target_count;
	for (size_t i = 0; i < h->target_count; i++) {
		const struct hintlog_target *t = h->targets[i];
		out->pending_records += t->pending_records;
		out->pending_bytes += t->pending_bytes;
		out->inflight += win_inflight(t);
	}
}

/* Record bytes from del to the end, from the segments alone. */
static uint64_t pending_bytes_of_segs(const struct hintlog_target *t)
{
	uint64_t n = 0;
	for (size_t i = 0; i < t->seg_count; i++) {
		const struct hl_seg *s = &t->segs[i];
		if (s->no > t->del.seg_no)
			n += s->end - SEG_HDR;
		else if (s->no == t->del.seg_no)
			n += s->end - t->del.off;
	}
	return n;
}

static void check_segments(const struct hintlog_target *t)
{
	for (size_t i = 0; i < t->seg_count; i++) {
		const struct hl_seg *s = &t->segs[i];
		ASSERT(s->no >= 1 && s->no < t->next_seg_no);
		ASSERT(i == 0 || t->segs[i - 1].no < s->no);
		ASSERT(s->end >= SEG_HDR);
		ASSERT((s->records == 0) == (s->end == SEG_HDR));
		ASSERT(s->sealed || (i + 1 == t->seg_count && s->file));
		ASSERT(!s->dirty || s->file);
	}
}

/* The window tiles [del, send): each record starts where the previous one
 * ends, done ones never lead, seqs grow. */
static void check_window(const struct hintlog *h, struct hintlog_target *t)
{
	ASSERT(t->win_len <= HINTLOG_INFLIGHT_MAX && t->win_head < HINTLOG_INFLIGHT_MAX);
	struct hl_pos at = t->del;
	uint64_t prev_seq = 0;
	for (size_t i = 0; i < t->win_len; i++) {
		const struct hl_ent *e = win_at(t, i);
		ASSERT(i > 0 || e->state != ENT_DONE);
		ASSERT(e->seq > prev_seq && e->seq < h->next_seq);
		ASSERT(pos_same(t, at, e->pos));
		ASSERT(e->len >= REC_HDR);
		const struct hl_seg *s = seg_get(t, e->pos.seg_no);
		ASSERT(s && e->pos.off + e->len <= s->end);
		prev_seq = e->seq;
		at = (struct hl_pos){e->pos.seg_no, e->pos.off + e->len};
	}
	ASSERT(pos_same(t, at, t->send));
	ASSERT(t->pending_records >= t->win_len);
}

void hintlog_check_invariants(const struct hintlog *h)
{
	ASSERT(h->target_count <= HINTLOG_TARGETS_MAX && h->target_count <= h->target_cap);
	for (size_t i = 0; i < h->target_count; i++) {
		struct hintlog_target *t = h->targets[i];
		ASSERT(name_valid(bytes_make(t->name, t->name_len)));
		ASSERT(t->seg_count <= t->seg_cap);
		check_segments(t);
		check_window(h, t);
		ASSERT(t->pending_bytes == pending_bytes_of_segs(t));
		ASSERT((t->pending_records == 0) == (t->pending_bytes == 0));
		const struct hl_seg *s = seg_get(t, t->send.seg_no);
		ASSERT(!s || t->send_rec <= s->records);
	}
}
