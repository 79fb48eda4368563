/*
 * wal.c - the write-ahead log (wal.h); byte layout in docs/formats/wal.md.
 *
 * File: a 40-byte header, then fragments packed into WAL_BLOCK_BYTES
 * blocks (block 0 starts after the header). A fragment never crosses a
 * block boundary: when fewer than WAL_FRAGMENT_HEADER_BYTES remain in a
 * block, the writer fills them with zeros and starts the next fragment at
 * the next block. Every later block therefore starts with a fragment
 * header, which is what lets recovery find valid data after damage.
 *
 * Fragment header (little-endian): checksum u64 | length u16 | type u8 |
 * reserved u8 (0), then length payload bytes. The checksum is XXH3-64 of
 * bytes [8, 12 + length) of the fragment, seeded with the log's salt mixed
 * with the fragment's file offset: a fragment of another log (a reused
 * file) or one written at another offset (a misdirected write) does not
 * verify.
 */
#include "base/le.h"
#include "engine/wal.h"

#include <stdlib.h>
#include <string.h>

#include "base/assert.h"
#include "base/err.h"
#include "base/hash.h"
#include "base/limits.h"

#define HDR   WAL_FRAGMENT_HEADER_BYTES
#define BLOCK WAL_BLOCK_BYTES

static_assert(WAL_BLOCK_BYTES - HDR <= UINT16_MAX, "a fragment length fits its u16 field");
static_assert(WAL_FILE_HEADER_BYTES + HDR <= WAL_BLOCK_BYTES, "block 0 holds a fragment");
static_assert(WAL_WRITE_BUFFER_BYTES >= WAL_BLOCK_BYTES, "staging holds a whole fragment");
static_assert(sizeof(WAL_MAGIC) - 1 == 8, "the magic is 8 bytes");

/* ---- Encoding helpers ------------------------------------------------ */

/* The checksum of the fragment whose header is at h (payload follows it)
 * and lies at file offset off. Mixing the offset into the seed with a
 * multiply makes neighbouring offsets give unrelated seeds. */
static uint64_t frag_checksum(const uint8_t *h, size_t len, uint64_t salt, uint64_t off)
{
	uint64_t seed = salt ^ (off * 0x9e3779b97f4a7c15ull);
	return XXH3_64bits_withSeed(h + 8, 4 + len, seed);
}

static void header_encode(uint8_t *h, uint64_t log_number, uint64_t salt)
{
	memcpy(h, WAL_MAGIC, 8);
	le_put32(h + 8, WAL_VERSION);
	le_put32(h + 12, WAL_BLOCK_BYTES);
	le_put64(h + 16, log_number);
	le_put64(h + 24, salt);
	le_put64(h + 32, XXH3_64bits(h, 32));
}

static uint64_t record_max(uint64_t configured)
{
	return configured ? configured : WAL_RECORD_BYTES_DEFAULT;
}

/* ---- Writer ---------------------------------------------------------- */

/* A failed fsync is reported as ERR_IO even when the OS said ENOSPC:
 * ERR_NOSPACE from this module always means that an append (or a create)
 * ran out of room, which freeing space cures; after a failed fsync nobody
 * knows what reached the disk, and nothing cures that but recovery. */
static int sync_err(int rc)
{
	return rc == ERR_NOSPACE ? ERR_IO : rc;
}

/* Hands the staged bytes to the env. Any failure stops the log. */
static int stage_flush(struct wal *w)
{
	if (w->buf_len == 0)
		return 0;
	int rc = env_fs_append(w->fs, w->file, w->buf, w->buf_len);
	if (rc) {
		w->failed = rc;
		return rc;
	}
	w->appended += w->buf_len;
	w->buf_len = 0;
	return 0;
}

static uint8_t frag_type(bool first, bool last)
{
	if (first)
		return last ? WAL_FRAG_FULL : WAL_FRAG_FIRST;
	return last ? WAL_FRAG_LAST : WAL_FRAG_MIDDLE;
}

/* Stages one record as fragments, flushing the staging buffer when the
 * next piece does not fit. */
static int encode_record(struct wal *w, struct bytes rec)
{
	const uint8_t *p = rec.ptr;
	size_t left = rec.len;
	bool first = true;
	for (;;) {
		uint64_t pos = w->appended + w->buf_len;
		size_t avail = BLOCK - (size_t)(pos % BLOCK);
		size_t room = WAL_WRITE_BUFFER_BYTES - w->buf_len;
		size_t n = avail < HDR ? 0 : (left < avail - HDR ? left : avail - HDR);
		size_t need = avail < HDR ? avail : HDR + n;
		if (room < need) {
			int rc = stage_flush(w);
			if (rc)
				return rc;
			continue;
		}
		uint8_t *h = w->buf + w->buf_len;
		w->buf_len += need;
		if (avail < HDR) {
			memset(h, 0, avail); /* block trailer: too small for a header */
			continue;
		}
		le_put16(h + 8, (uint16_t)n);
		h[10] = frag_type(first, n == left);
		h[11] = 0;
		if (n)
			memcpy(h + HDR, p, n);
		le_put64(h, frag_checksum(h, n, w->salt, pos));
		p += n;
		left -= n;
		first = false;
		if (left == 0)
			return 0;
	}
}

int wal_open(struct wal *w, struct env_fs *fs, const char *path, const struct wal_options *opt)
{
	ASSERT(w && fs && path && opt);
	uint64_t max = record_max(opt->record_bytes_max);
	if (max > WAL_RECORD_BYTES_MAX)
		return ERR_INVALID;
	char dir[FS_PATH_BYTES_MAX];
	int rc = env_fs_dirname(path, dir, sizeof(dir));
	if (rc)
		return rc;
	memset(w, 0, sizeof(*w));
	w->fs = fs;
	w->log_number = opt->log_number;
	w->salt = opt->salt;
	w->record_bytes_max = max;
	w->buf = malloc(WAL_WRITE_BUFFER_BYTES);
	if (!w->buf)
		return ERR_NOMEM;
	rc = env_fs_open(fs, path, ENV_FS_CREATE | ENV_FS_TRUNCATE, &w->file);
	if (rc)
		goto fail_free;
	/* The header is synced, and the new name with its directory, before
	 * any record is acknowledged: a record never depends on a header or
	 * a directory entry that might vanish in a crash. */
	header_encode(w->buf, opt->log_number, opt->salt);
	if ((rc = env_fs_append(fs, w->file, w->buf, WAL_FILE_HEADER_BYTES)))
		goto fail_close;
	if ((rc = sync_err(env_fs_sync(fs, w->file))) || (rc = sync_err(env_fs_sync_dir(fs, dir))))
		goto fail_close;
	w->appended = WAL_FILE_HEADER_BYTES;
	w->synced = WAL_FILE_HEADER_BYTES;
	return 0;
fail_close:
	env_fs_close(fs, w->file);
	env_fs_remove(fs, path); /* best effort: recovery copes with a stub */
fail_free:
	free(w->buf);
	memset(w, 0, sizeof(*w));
	return rc;
}

int wal_stage(struct wal *w, const struct bytes *records, size_t count)
{
	ASSERT(w->file != NULL);
	if (w->failed)
		return w->failed;
	/* Check every limit first, so that a refused batch leaves no partial
	 * write behind and the log stays usable. */
	for (size_t i = 0; i < count; i++)
		if (records[i].len > w->record_bytes_max)
			return ERR_LIMIT;
	for (size_t i = 0; i < count; i++) {
		int rc = encode_record(w, records[i]);
		if (rc)
			return rc;
	}
	return 0;
}

int wal_append(struct wal *w, const struct bytes *records, size_t count)
{
	int rc = wal_stage(w, records, count);
	if (!rc)
		rc = stage_flush(w);
	ASSERT(rc != 0 || w->buf_len == 0);
	return rc;
}

int wal_flush(struct wal *w)
{
	ASSERT(w->file != NULL);
	if (w->failed)
		return w->failed;
	return stage_flush(w);
}

uint64_t wal_written_bytes(const struct wal *w)
{
	return w->appended + w->buf_len;
}

int wal_sync(struct wal *w)
{
	ASSERT(w->file != NULL);
	if (w->failed)
		return w->failed;
	int frc = stage_flush(w);
	if (frc)
		return frc;
	ASSERT(w->buf_len == 0 && w->synced <= w->appended);
	if (w->synced == w->appended)
		return 0; /* nothing new: save the fsync */
	int rc = sync_err(env_fs_sync(w->fs, w->file));
	if (rc) {
		w->failed = rc;
		return rc;
	}
	w->synced = w->appended;
	return 0;
}

int wal_abandon(struct wal *w, uint64_t keep_bytes, uint64_t *file_bytes)
{
	ASSERT(w->file != NULL && w->failed != 0);
	ASSERT(keep_bytes >= w->synced);
	w->buf_len = 0; /* never handed over: wal_close must not try again */
	uint64_t size = 0;
	int rc = env_fs_size(w->fs, w->file, &size);
	if (!rc && size > keep_bytes) {
		rc = env_fs_truncate(w->fs, w->file, keep_bytes);
		size = keep_bytes;
	}
	/* The sync makes the cut durable (or a crash could bring back bytes
	 * of records whose writers were told they failed) and the records
	 * handed over before the failure durable too, before the engine
	 * starts the next log. */
	if (!rc)
		rc = sync_err(env_fs_sync(w->fs, w->file));
	if (rc) {
		w->failed = rc == ERR_NOSPACE ? ERR_IO : rc;
		return w->failed;
	}
	w->synced = size < w->appended ? size : w->appended;
	*file_bytes = size;
	return 0;
}

int wal_close(struct wal *w)
{
	int rc = 0;
	if (w->file && !w->failed)
		rc = stage_flush(w); /* what wal_stage left: handed over, not synced */
	if (w->file) {
		int crc = env_fs_close(w->fs, w->file);
		rc = rc ? rc : crc;
	}
	free(w->buf);
	memset(w, 0, sizeof(*w));
	return rc;
}

/* ---- Reader ---------------------------------------------------------- */

enum { FRAG_OK = 1, FRAG_BAD = 2 };
enum { SCAN_NONE = 0, SCAN_FOUND = 1 };

struct reader {
	struct env_fs *fs;
	struct env_file *file;
	uint64_t size, salt;
	uint8_t *block;
	uint64_t block_start; /* file offset of block[0], UINT64_MAX when none */
	uint8_t *rec;         /* the record being assembled */
	size_t rec_len, rec_cap;
};

struct frag {
	const uint8_t *payload;
	uint16_t len;
	uint8_t type;
};

/* One recovery: the reader plus where it is and what it reports. */
struct replay {
	struct reader r;
	const struct wal_recover_options *opt;
	uint64_t max;
	wal_record_fn *fn;
	void *ctx;
	struct wal_recover_result *res;
	uint64_t pos;       /* the next fragment (or block trailer) */
	uint64_t rec_start; /* first fragment of the record being assembled */
	bool in_rec;
	bool resync; /* salvage skipped damage: drop fragments until a record start */
};

static int load_block(struct reader *r, uint64_t off)
{
	uint64_t start = off - off % BLOCK;
	if (start == r->block_start)
		return 0;
	size_t len = r->size - start < BLOCK ? (size_t)(r->size - start) : BLOCK;
	size_t got = 0;
	int rc = env_fs_read_at(r->fs, r->file, start, r->block, len, &got);
	if (rc)
		return rc;
	if (got != len)
		return ERR_IO; /* the file shrank under us */
	r->block_start = start;
	return 0;
}

/* Parses and verifies the fragment at off (which leaves room for a header
 * in its block): FRAG_OK with *fr, FRAG_BAD with *why, or an env error. */
static int frag_parse(struct reader *r, uint64_t off, struct frag *fr, const char **why)
{
	if (r->size - off < HDR) {
		*why = "truncated fragment header";
		return FRAG_BAD;
	}
	int rc = load_block(r, off);
	if (rc)
		return rc;
	const uint8_t *h = r->block + (off - r->block_start);
	uint16_t len = le_get16(h + 8);
	uint8_t type = h[10];
	if (type < WAL_FRAG_FULL || type > WAL_FRAG_LAST || h[11] != 0) {
		*why = "bad fragment type";
		return FRAG_BAD;
	}
	if (len > BLOCK - off % BLOCK - HDR) {
		*why = "fragment length past the block end";
		return FRAG_BAD;
	}
	if (off + HDR + len > r->size) {
		*why = "truncated fragment payload";
		return FRAG_BAD;
	}
	if (le_get64(h) != frag_checksum(h, len, r->salt, off)) {
		*why = "checksum mismatch";
		return FRAG_BAD;
	}
	fr->payload = h + HDR;
	fr->len = len;
	fr->type = type;
	return FRAG_OK;
}

/* Looks for any valid fragment after the damaged one at bad: at every byte
 * offset in the rest of its block (the damaged length field cannot be
 * trusted to find the next header), then at the start of every later block
 * (where a fragment header always starts). A hit means the damage is not
 * the tail of the log. Bounded by the file size; runs only after damage. */
static int scan_for_valid(struct reader *r, uint64_t bad, uint64_t *next)
{
	struct frag fr;
	const char *why;
	uint64_t block_end = bad - bad % BLOCK + BLOCK;
	for (uint64_t off = bad + 1; off + HDR <= block_end && off + HDR <= r->size; off++) {
		int rc = frag_parse(r, off, &fr, &why);
		if (rc < 0)
			return rc;
		if (rc == FRAG_OK) {
			*next = off;
			return SCAN_FOUND;
		}
	}
	for (uint64_t off = block_end; off + HDR <= r->size; off += BLOCK) {
		int rc = frag_parse(r, off, &fr, &why);
		if (rc < 0)
			return rc;
		if (rc == FRAG_OK) {
			*next = off;
			return SCAN_FOUND;
		}
	}
	return SCAN_NONE;
}

/* Damage at off, with valid data again at resume. Without salvage it is
 * the answer (ERR_CORRUPT); with salvage the unfinished record and the
 * damaged bytes are skipped and counted. */
static int damage(struct replay *st, uint64_t off, const char *why, uint64_t resume)
{
	if (!st->opt->salvage) {
		st->res->error_offset = off;
		st->res->error_reason = why;
		return ERR_CORRUPT;
	}
	uint64_t from = st->in_rec ? st->rec_start : off;
	st->res->skipped_bytes += resume - from;
	st->res->skipped_regions++;
	st->in_rec = false;
	st->r.rec_len = 0;
	return 0;
}

/* Appends a fragment's payload to the record being assembled, growing the
 * buffer only up to the record limit. */
static int rec_add(struct replay *st, const struct frag *fr)
{
	struct reader *r = &st->r;
	size_t need = r->rec_len + fr->len;
	if (need > st->max) {
		st->res->error_offset = st->rec_start;
		st->res->error_reason = "record over the record limit";
		return ERR_LIMIT;
	}
	if (need > r->rec_cap) {
		size_t cap = r->rec_cap ? r->rec_cap * 2 : 64 * KIB;
		if (cap < need)
			cap = need;
		if (cap > st->max)
			cap = (size_t)st->max;
		uint8_t *p = realloc(r->rec, cap);
		if (!p)
			return ERR_NOMEM;
		r->rec = p;
		r->rec_cap = cap;
	}
	if (fr->len)
		memcpy(r->rec + r->rec_len, fr->payload, fr->len);
	r->rec_len = need;
	return 0;
}

static int deliver(struct replay *st, struct bytes rec, uint64_t end)
{
	st->in_rec = false;
	st->res->record_count++;
	st->res->valid_bytes = end;
	return st->fn(st->ctx, rec, st->rec_start);
}

/* Feeds one verified fragment into record assembly. */
static int on_fragment(struct replay *st, const struct frag *fr)
{
	uint64_t off = st->pos, end = st->pos + HDR + fr->len;
	bool starts = fr->type == WAL_FRAG_FULL || fr->type == WAL_FRAG_FIRST;
	int rc;
	st->pos = end;
	if (starts && st->in_rec &&
	    (rc = damage(st, off, "record start inside an unfinished record", off)))
		return rc;
	if (!starts && !st->in_rec) {
		if (st->resync) {
			st->res->skipped_bytes += end - off;
			return 0;
		}
		return damage(st, off, "fragment without a record start", end);
	}
	if (starts) {
		st->resync = false;
		st->in_rec = true;
		st->rec_start = off;
		st->r.rec_len = 0;
	}
	if (fr->type == WAL_FRAG_FULL && fr->len <= st->max)
		return deliver(st, bytes_make(fr->payload, fr->len), end);
	if ((rc = rec_add(st, fr)))
		return rc;
	if (fr->type == WAL_FRAG_LAST)
		return deliver(st, bytes_make(st->r.rec, st->r.rec_len), end);
	return 0;
}

/* A damaged fragment at st->pos: torn tail (1) when nothing valid follows,
 * else corruption (ERR_CORRUPT, or 0 after a salvage skip). */
static int on_bad(struct replay *st, const char *why)
{
	uint64_t next = 0;
	int rc = scan_for_valid(&st->r, st->pos, &next);
	if (rc < 0)
		return rc;
	if (rc == SCAN_NONE)
		return 1;
	if ((rc = damage(st, st->pos, why, next)))
		return rc;
	st->pos = next;
	st->resync = true;
	return 0;
}

/* The end of valid data: whatever lies past the last complete record is a
 * torn tail (an unfinished record, a cut fragment, zeros), reported and cut
 * off if asked. */
static int finish_tail(struct replay *st)
{
	struct wal_recover_result *res = st->res;
	res->dropped_bytes = st->r.size - res->valid_bytes;
	if (!st->opt->truncate_tail || res->dropped_bytes == 0)
		return 0;
	int rc = env_fs_truncate(st->r.fs, st->r.file, res->valid_bytes);
	if (rc == 0)
		rc = env_fs_sync(st->r.fs, st->r.file);
	return rc;
}

static int replay_run(struct replay *st)
{
	for (;;) {
		/* Skip a block trailer: too small for a header, zero-filled. */
		if (BLOCK - st->pos % BLOCK < HDR)
			st->pos += BLOCK - st->pos % BLOCK;
		if (st->pos >= st->r.size)
			return finish_tail(st);
		struct frag fr;
		const char *why = NULL;
		int rc = frag_parse(&st->r, st->pos, &fr, &why);
		if (rc < 0)
			return rc;
		if (rc == FRAG_BAD) {
			rc = on_bad(st, why);
			if (rc == 1)
				return finish_tail(st);
		} else {
			rc = on_fragment(st, &fr);
		}
		if (rc)
			return rc;
	}
}

static bool all_zero(const uint8_t *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (p[i])
			return false;
	return true;
}

/* Reads and checks the file header. A header shorter than its size or all
 * zeros never fully reached the disk (the writer syncs it before any
 * record), so the log is empty: 1. A header that is there but wrong is
 * corruption that salvage cannot help: without the salt no fragment can
 * be verified. */
static int header_read(struct replay *st)
{
	struct reader *r = &st->r;
	struct wal_recover_result *res = st->res;
	uint8_t h[WAL_FILE_HEADER_BYTES];
	size_t got = 0;
	int rc = env_fs_read_at(r->fs, r->file, 0, h, sizeof(h), &got);
	if (rc)
		return rc;
	if (got < sizeof(h) || all_zero(h, sizeof(h))) {
		res->header_torn = true;
		res->dropped_bytes = r->size;
		return 1;
	}
	const char *why = NULL;
	if (memcmp(h, WAL_MAGIC, 8) != 0)
		why = "bad magic number";
	else if (le_get64(h + 32) != XXH3_64bits(h, 32))
		why = "header checksum mismatch";
	else if (le_get32(h + 8) != WAL_VERSION)
		why = "unsupported format version";
	else if (le_get32(h + 12) != WAL_BLOCK_BYTES)
		why = "unsupported block size";
	if (why) {
		res->error_offset = 0;
		res->error_reason = why;
		return ERR_CORRUPT;
	}
	res->log_number = le_get64(h + 16);
	res->salt = r->salt = le_get64(h + 24);
	res->valid_bytes = WAL_FILE_HEADER_BYTES;
	st->pos = WAL_FILE_HEADER_BYTES;
	return 0;
}

int wal_recover(struct env_fs *fs, const char *path, const struct wal_recover_options *opt,
                wal_record_fn *fn, void *ctx, struct wal_recover_result *res)
{
	ASSERT(fs && path && opt && fn && res);
	memset(res, 0, sizeof(*res));
	struct replay st = {
	    .opt = opt, .max = record_max(opt->record_bytes_max), .fn = fn, .ctx = ctx, .res = res};
	if (st.max > WAL_RECORD_BYTES_MAX)
		return ERR_INVALID;
	st.r.fs = fs;
	st.r.block_start = UINT64_MAX;
	int rc = env_fs_open(fs, path, 0, &st.r.file);
	if (rc)
		return rc;
	st.r.block = malloc(BLOCK);
	if (!st.r.block) {
		rc = ERR_NOMEM;
		goto out;
	}
	if ((rc = env_fs_size(fs, st.r.file, &st.r.size)))
		goto out;
	rc = header_read(&st);
	if (rc == 0)
		rc = replay_run(&st);
	else if (rc == 1)
		rc = 0; /* a torn header: an empty log */
out:
	free(st.r.block);
	free(st.r.rec);
	int crc = env_fs_close(fs, st.r.file);
	return rc ? rc : crc;
}
