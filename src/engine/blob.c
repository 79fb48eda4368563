/*
 * blob.c - blob files: writer, reader, pointers, garbage accounting, GC.
 *
 * Layout (docs/formats/blob.md; integers little-endian):
 *     header  40 B: magic "ringkvBL" | u32 version | u32 0 | u64 file_number
 *                   | u64 salt | u64 XXH3(bytes 0..31, seed 0)
 *     record*     : u64 checksum | u32 key_len | u64 value_len | key | value
 *     footer  32 B: u64 record_count | u64 record_bytes | u64 checksum
 *                   | magic "ringkvBE"
 * A record's checksum is XXH3-64 over its bytes after the checksum field,
 * seeded with salt ^ (offset * golden ratio), as the WAL's fragments: a
 * record of another file or at another offset never verifies.
 *
 * The checksum leads the record, so the writer hashes a value before it
 * writes it: one extra pass over memory the caller already holds, rather
 * than a second copy or a seek back. A reader hashes as it reads, so a
 * value is read once.
 */
#include "base/le.h"
#include "engine/blob.h"

#include <stdlib.h>
#include <string.h>

#include "base/assert.h"
#include "base/err.h"
#include "base/hash.h"
#include "base/limits.h"
#include "engine/block.h"

#define SEED_MIX 0x9e3779b97f4a7c15ull

static_assert(BLOB_WRITE_BUFFER_BYTES >= BLOB_HEADER_BYTES + BLOB_FOOTER_BYTES, "staging");
static_assert(BLOB_POINTER_BYTES_MAX == 3 * BLOCK_VARINT64_BYTES_MAX, "three varints");
static_assert(VALUE_BYTES_MAX < BLOB_FILE_BYTES_MAX, "a file holds the largest value");

static uint64_t min_u64(uint64_t a, uint64_t b)
{
	return a < b ? a : b;
}

static uint64_t record_seed(uint64_t salt, uint64_t offset)
{
	return salt ^ (offset * SEED_MIX);
}

/* ---- Pointers ---------------------------------------------------------- */

size_t blob_pointer_encode(uint8_t *dst, const struct blob_pointer *p)
{
	size_t n = block_put_varint(dst, p->file_number);
	n += block_put_varint(dst + n, p->offset);
	n += block_put_varint(dst + n, p->value_len);
	ASSERT(n <= BLOB_POINTER_BYTES_MAX);
	return n;
}

int blob_pointer_decode(struct bytes src, struct blob_pointer *p)
{
	const uint8_t *q = src.ptr, *end = src.ptr + src.len;
	struct blob_pointer t;
	if (src.len == 0 || !block_get_varint(&q, end, &t.file_number) ||
	    !block_get_varint(&q, end, &t.offset) || !block_get_varint(&q, end, &t.value_len))
		return ERR_CORRUPT;
	if (q != end || t.offset < BLOB_HEADER_BYTES || t.offset > BLOB_FILE_BYTES_MAX ||
	    t.value_len > VALUE_BYTES_MAX)
		return ERR_CORRUPT;
	*p = t;
	return 0;
}

/* ---- Writer ------------------------------------------------------------ */

static void header_encode(uint8_t *h, uint64_t file_number, uint64_t salt)
{
	memcpy(h, BLOB_MAGIC, 8);
	le_put32(h + 8, BLOB_VERSION);
	le_put32(h + 12, 0);
	le_put64(h + 16, file_number);
	le_put64(h + 24, salt);
	le_put64(h + 32, XXH3_64bits(h, 32));
}

/* A failed fsync is ERR_IO even when the OS said ENOSPC: ERR_NOSPACE from
 * the writer always means an append or a create ran out of room, which
 * freeing space cures (the engine then starts a new file); after a failed
 * fsync nothing cures the doubt but recovery (wal.c does the same). */
static int sync_err(int rc)
{
	return rc == ERR_NOSPACE ? ERR_IO : rc;
}

static int writer_fail(struct blob_writer *w, int rc)
{
	w->failed = rc;
	return rc;
}

/* Hands bytes to the env in chunks, so that one call never carries more
 * than BLOB_IO_CHUNK_BYTES however large the value. */
static int writer_append(struct blob_writer *w, const uint8_t *p, uint64_t n)
{
	for (uint64_t done = 0; done < n;) {
		size_t len = (size_t)min_u64(n - done, BLOB_IO_CHUNK_BYTES);
		int rc = env_fs_append(w->fs, w->file, p + done, len);
		if (rc)
			return writer_fail(w, rc);
		done += len;
		w->size += len;
	}
	return 0;
}

int blob_writer_open(struct blob_writer *w, struct env_fs *fs, const char *path,
                     uint64_t file_number, uint64_t salt)
{
	char dir[FS_PATH_BYTES_MAX];
	memset(w, 0, sizeof(*w));
	w->fs = fs;
	w->file_number = file_number;
	w->salt = salt;
	int rc = env_fs_dirname(path, dir, sizeof(dir));
	if (rc)
		return rc;
	w->buf = malloc(BLOB_WRITE_BUFFER_BYTES);
	if (!w->buf)
		return ERR_NOMEM;
	rc = env_fs_open(fs, path, ENV_FS_CREATE | ENV_FS_TRUNCATE, &w->file);
	if (rc)
		goto fail_buf;
	header_encode(w->buf, file_number, salt);
	/* The header and the name are synced now, so that a later record sync
	 * alone makes that record reachable after a power cut. */
	if ((rc = writer_append(w, w->buf, BLOB_HEADER_BYTES)) != 0 ||
	    (rc = sync_err(env_fs_sync(fs, w->file))) != 0 ||
	    (rc = sync_err(env_fs_sync_dir(fs, dir))) != 0)
		goto fail_file;
	w->synced = w->size;
	return 0;
fail_file:
	env_fs_close(fs, w->file);
	env_fs_remove(fs, path);
fail_buf:
	free(w->buf);
	memset(w, 0, sizeof(*w));
	return rc;
}

static uint64_t record_checksum(uint64_t salt, uint64_t offset, const uint8_t *h, struct bytes key,
                                struct bytes value)
{
	/* Zeroed first: reset_withSeed reads the old seed, and GCC at -O3
	 * cannot see that XXH3_INITSTATE initialises it. */
	XXH3_state_t st;
	memset(&st, 0, sizeof(st));
	XXH3_INITSTATE(&st);
	XXH3_64bits_reset_withSeed(&st, record_seed(salt, offset));
	XXH3_64bits_update(&st, h + 8, BLOB_RECORD_HEADER_BYTES - 8);
	XXH3_64bits_update(&st, key.ptr, key.len);
	XXH3_64bits_update(&st, value.ptr, value.len);
	return XXH3_64bits_digest(&st);
}

int blob_writer_add(struct blob_writer *w, struct bytes key, struct bytes value,
                    struct blob_pointer *out)
{
	ASSERT(w->file);
	if (w->failed)
		return w->failed;
	if (key.len > KEY_BYTES_MAX || value.len > VALUE_BYTES_MAX)
		return ERR_LIMIT;
	uint64_t offset = w->size;
	uint8_t h[BLOB_RECORD_HEADER_BYTES];
	le_put32(h + 8, (uint32_t)key.len);
	le_put64(h + 12, value.len);
	le_put64(h, record_checksum(w->salt, offset, h, key, value));
	uint64_t total = blob_record_bytes(key.len, value.len);
	int rc;
	if (total <= BLOB_WRITE_BUFFER_BYTES) {
		/* One append for the common record of a few KiB. */
		memcpy(w->buf, h, sizeof(h));
		if (key.len)
			memcpy(w->buf + sizeof(h), key.ptr, key.len);
		if (value.len)
			memcpy(w->buf + sizeof(h) + key.len, value.ptr, value.len);
		rc = writer_append(w, w->buf, total);
	} else if ((rc = writer_append(w, h, sizeof(h))) == 0 &&
	           (rc = writer_append(w, key.ptr, key.len)) == 0) {
		rc = writer_append(w, value.ptr, value.len);
	}
	if (rc)
		return rc;
	ASSERT(w->size == offset + total);
	w->record_count++;
	*out = (struct blob_pointer){w->file_number, offset, value.len};
	return 0;
}

int blob_writer_sync(struct blob_writer *w)
{
	ASSERT(w->file);
	if (w->failed)
		return w->failed;
	int rc = sync_err(env_fs_sync(w->fs, w->file));
	if (rc)
		return writer_fail(w, rc);
	w->synced = w->size;
	return 0;
}

int blob_writer_finish(struct blob_writer *w)
{
	ASSERT(w->file);
	int rc = w->failed;
	if (rc == 0) {
		uint8_t *f = w->buf;
		le_put64(f, w->record_count);
		le_put64(f + 8, w->size - BLOB_HEADER_BYTES);
		le_put64(f + 16, XXH3_64bits_withSeed(f, 16, record_seed(w->salt, w->size)));
		memcpy(f + 24, BLOB_FOOTER_MAGIC, 8);
		if ((rc = writer_append(w, f, BLOB_FOOTER_BYTES)) == 0)
			rc = blob_writer_sync(w);
	}
	int crc = blob_writer_close(w);
	return rc ? rc : crc;
}

int blob_writer_close(struct blob_writer *w)
{
	int rc = w->file ? env_fs_close(w->fs, w->file) : 0;
	free(w->buf);
	w->buf = NULL;
	w->file = NULL;
	return rc;
}

/* ---- Reader ------------------------------------------------------------ */

/* Reads exactly len bytes at off; a short read means the file ended
 * before a record the checks said was there: corruption. */
static int read_full(struct blob_reader *r, uint64_t off, void *buf, size_t len)
{
	size_t got = 0;
	int rc = env_fs_read_at(r->fs, r->file, off, buf, len, &got);
	if (rc)
		return rc;
	return got == len ? 0 : ERR_CORRUPT;
}

static int header_check(const uint8_t *h, uint64_t file_number, uint64_t *salt)
{
	if (memcmp(h, BLOB_MAGIC, 8) != 0 || le_get64(h + 32) != XXH3_64bits(h, 32))
		return ERR_CORRUPT;
	if (le_get32(h + 8) != BLOB_VERSION || le_get32(h + 12) != 0 ||
	    le_get64(h + 16) != file_number)
		return ERR_CORRUPT;
	*salt = le_get64(h + 24);
	return 0;
}

/* Looks for a valid footer at the end of the file; without one the file is
 * unfinished (being written, or cut by a crash) and its records run to the
 * end of the file. */
static int footer_load(struct blob_reader *r)
{
	r->records_end = r->size;
	if (r->size < BLOB_HEADER_BYTES + BLOB_FOOTER_BYTES)
		return 0;
	uint8_t f[BLOB_FOOTER_BYTES];
	uint64_t off = r->size - BLOB_FOOTER_BYTES;
	int rc = read_full(r, off, f, sizeof(f));
	if (rc)
		return rc;
	if (memcmp(f + 24, BLOB_FOOTER_MAGIC, 8) != 0 ||
	    le_get64(f + 16) != XXH3_64bits_withSeed(f, 16, record_seed(r->salt, off)) ||
	    le_get64(f + 8) != off - BLOB_HEADER_BYTES)
		return 0;
	r->finished = true;
	r->records_end = off;
	r->record_count = le_get64(f);
	return 0;
}

int blob_reader_open(struct blob_reader *r, struct env_fs *fs, const char *path,
                     uint64_t file_number)
{
	memset(r, 0, sizeof(*r));
	r->fs = fs;
	r->file_number = file_number;
	int rc = env_fs_open(fs, path, 0, &r->file);
	if (rc)
		return rc;
	uint8_t h[BLOB_HEADER_BYTES];
	if ((rc = env_fs_size(fs, r->file, &r->size)) != 0)
		goto fail;
	rc = ERR_CORRUPT; /* a torn header: the file was never usable */
	if (r->size < BLOB_HEADER_BYTES)
		goto fail;
	rc = ERR_LIMIT;
	if (r->size > BLOB_FILE_BYTES_MAX)
		goto fail;
	if ((rc = read_full(r, 0, h, sizeof(h))) != 0 ||
	    (rc = header_check(h, file_number, &r->salt)) != 0 || (rc = footer_load(r)) != 0)
		goto fail;
	return 0;
fail:
	env_fs_close(fs, r->file);
	memset(r, 0, sizeof(*r));
	return rc;
}

int blob_reader_close(struct blob_reader *r)
{
	int rc = r->file ? env_fs_close(r->fs, r->file) : 0;
	r->file = NULL;
	return rc;
}

/* Checks that a record of key_len and p->value_len at p->offset lies in
 * the file's records. An unfinished file may have grown since it was
 * opened (the engine reads the file it is writing), so its size is looked
 * at again before giving up. */
static int record_bounds(struct blob_reader *r, const struct blob_pointer *p, uint64_t key_len)
{
	if (p->offset < BLOB_HEADER_BYTES || p->offset > BLOB_FILE_BYTES_MAX ||
	    p->value_len > VALUE_BYTES_MAX || key_len > KEY_BYTES_MAX)
		return ERR_CORRUPT;
	uint64_t end = p->offset + blob_record_bytes(key_len, p->value_len);
	if (end <= r->records_end)
		return 0;
	if (!r->finished) {
		int rc = env_fs_size(r->fs, r->file, &r->size);
		if (rc)
			return rc;
		r->records_end = r->size;
		if (end <= r->records_end)
			return 0;
	}
	return ERR_CORRUPT;
}

/* Reads the record header at p, checks its lengths against the pointer
 * and the expected key, then the key itself, feeding the hash. */
static int record_begin(struct blob_reader *r, const struct blob_pointer *p, struct bytes key,
                        XXH3_state_t *st, uint64_t *sum)
{
	if (p->file_number != r->file_number)
		return ERR_INVALID;
	int rc = record_bounds(r, p, key.len);
	if (rc)
		return rc;
	uint8_t h[BLOB_RECORD_HEADER_BYTES];
	if ((rc = read_full(r, p->offset, h, sizeof(h))) != 0)
		return rc;
	if (le_get32(h + 8) != key.len || le_get64(h + 12) != p->value_len)
		return ERR_CORRUPT; /* a pointer into the wrong record, or damage */
	*sum = le_get64(h);
	XXH3_INITSTATE(st); /* reset_withSeed reads the old seed */
	XXH3_64bits_reset_withSeed(st, record_seed(r->salt, p->offset));
	XXH3_64bits_update(st, h + 8, sizeof(h) - 8);
	uint8_t tmp[4096];
	uint64_t off = p->offset + sizeof(h);
	for (size_t done = 0; done < key.len;) {
		size_t n = (size_t)min_u64(key.len - done, sizeof(tmp));
		if ((rc = read_full(r, off + done, tmp, n)) != 0)
			return rc;
		XXH3_64bits_update(st, tmp, n);
		if (memcmp(tmp, key.ptr + done, n) != 0)
			return ERR_CORRUPT;
		done += n;
	}
	return 0;
}

/* Reads len value bytes at off in chunks into dst (or, when dst is NULL,
 * through scratch), hashing each and handing it to fn if set. */
static int value_pass(struct blob_reader *r, uint64_t off, uint64_t len, XXH3_state_t *st,
                      uint8_t *dst, uint8_t *scratch, blob_chunk_fn *fn, void *ctx)
{
	for (uint64_t done = 0; done < len;) {
		size_t n = (size_t)min_u64(len - done, BLOB_IO_CHUNK_BYTES);
		uint8_t *p = dst ? dst + done : scratch;
		int rc = read_full(r, off + done, p, n);
		if (rc)
			return rc;
		XXH3_64bits_update(st, p, n);
		if (fn && (rc = fn(ctx, bytes_make(p, n))) != 0)
			return rc;
		done += n;
	}
	return 0;
}

int blob_read(struct blob_reader *r, const struct blob_pointer *p, struct bytes key, void *buf,
              size_t cap)
{
	if (cap < p->value_len)
		return ERR_INVALID;
	XXH3_state_t st;
	uint64_t sum;
	int rc = record_begin(r, p, key, &st, &sum);
	if (rc)
		return rc;
	uint64_t off = p->offset + BLOB_RECORD_HEADER_BYTES + key.len;
	if ((rc = value_pass(r, off, p->value_len, &st, buf, NULL, NULL, NULL)) != 0)
		return rc;
	return XXH3_64bits_digest(&st) == sum ? 0 : ERR_CORRUPT;
}

int blob_read_into(struct blob_reader *r, const struct blob_pointer *p, struct bytes key,
                   blob_chunk_fn *fn, void *ctx)
{
	XXH3_state_t st;
	uint64_t sum;
	int rc = record_begin(r, p, key, &st, &sum);
	if (rc)
		return rc;
	uint8_t *scratch = malloc((size_t)min_u64(p->value_len, BLOB_IO_CHUNK_BYTES) + 1);
	if (!scratch)
		return ERR_NOMEM;
	uint64_t off = p->offset + BLOB_RECORD_HEADER_BYTES + key.len;
	rc = value_pass(r, off, p->value_len, &st, NULL, scratch, fn, ctx);
	free(scratch);
	if (rc)
		return rc;
	return XXH3_64bits_digest(&st) == sum ? 0 : ERR_CORRUPT;
}

/* ---- Checking a whole file -------------------------------------------- */

static int check_sink(void *ctx, struct bytes chunk)
{
	(void)ctx;
	(void)chunk;
	return 0;
}

/* The record at off: ERR_CORRUPT with *reason, or 1 for a torn tail. */
static int check_record(struct blob_reader *r, uint64_t off, uint8_t **key_buf, size_t *key_cap,
                        uint64_t *next, const char **reason)
{
	uint8_t h[BLOB_RECORD_HEADER_BYTES];
	*reason = "record runs past the end of the file";
	if (r->records_end - off < sizeof(h))
		return r->finished ? ERR_CORRUPT : 1;
	int rc = read_full(r, off, h, sizeof(h));
	if (rc)
		return rc;
	struct blob_pointer p = {r->file_number, off, le_get64(h + 12)};
	uint32_t key_len = le_get32(h + 8);
	*reason = "bad record lengths";
	if (key_len > KEY_BYTES_MAX || p.value_len > VALUE_BYTES_MAX)
		return ERR_CORRUPT;
	if (blob_record_bytes(key_len, p.value_len) > r->records_end - off) {
		*reason = "record runs past the end of the file";
		return r->finished ? ERR_CORRUPT : 1;
	}
	if (key_len + 1 > *key_cap) { /* grows with the keys that are there */
		uint8_t *k = realloc(*key_buf, key_len + 1);
		if (!k)
			return ERR_NOMEM;
		*key_buf = k;
		*key_cap = key_len + 1;
	}
	if ((rc = read_full(r, off + sizeof(h), *key_buf, key_len)) != 0)
		return rc;
	*reason = "record checksum mismatch";
	rc = blob_read_into(r, &p, bytes_make(*key_buf, key_len), check_sink, NULL);
	*next = off + blob_record_bytes(key_len, p.value_len);
	return rc;
}

int blob_check_file(struct env_fs *fs, const char *path, uint64_t file_number,
                    struct blob_check_result *res)
{
	memset(res, 0, sizeof(*res));
	struct blob_reader r;
	int rc = blob_reader_open(&r, fs, path, file_number);
	if (rc) {
		res->reason = "bad header or footer";
		return rc;
	}
	uint8_t *key_buf = NULL;
	size_t key_cap = 0;
	uint64_t off = BLOB_HEADER_BYTES;
	/* Bounded: each step advances at least a record header. */
	while (off < r.records_end) {
		uint64_t next = off;
		const char *reason = NULL;
		rc = check_record(&r, off, &key_buf, &key_cap, &next, &reason);
		if (rc == 1) {
			res->torn_bytes = r.records_end - off;
			rc = 0;
			break;
		}
		if (rc) {
			res->bad_offset = off;
			res->reason = reason;
			break;
		}
		res->record_count++;
		res->record_bytes += next - off;
		off = next;
	}
	if (rc == 0 && r.finished && res->record_count != r.record_count) {
		res->bad_offset = r.records_end;
		res->reason = "footer record count mismatch";
		rc = ERR_CORRUPT;
	}
	free(key_buf);
	blob_reader_close(&r);
	return rc;
}

int blob_file_records(struct env_fs *fs, const char *path, uint64_t file_number,
                      uint64_t *record_bytes, uint64_t *record_count)
{
	struct blob_reader r;
	int rc = blob_reader_open(&r, fs, path, file_number);
	if (rc)
		return rc;
	uint64_t bytes = 0, count = 0;
	/* Bounded: each step advances at least a record header. */
	for (uint64_t off = BLOB_HEADER_BYTES; off < r.records_end;) {
		uint8_t h[BLOB_RECORD_HEADER_BYTES];
		if (r.records_end - off < sizeof(h))
			break; /* torn (a finished file's footer said where records end) */
		if ((rc = read_full(&r, off, h, sizeof(h))) != 0)
			break;
		uint64_t key_len = le_get32(h + 8), value_len = le_get64(h + 12);
		if (key_len > KEY_BYTES_MAX || value_len > VALUE_BYTES_MAX) {
			rc = ERR_CORRUPT;
			break;
		}
		uint64_t n = blob_record_bytes(key_len, value_len);
		if (n > r.records_end - off)
			break; /* a torn last record */
		bytes += n;
		count++;
		off += n;
	}
	blob_reader_close(&r);
	if (rc)
		return rc;
	*record_bytes = bytes;
	*record_count = count;
	return 0;
}

/* ---- Garbage accounting ------------------------------------------------ */

void blob_stats_init(struct blob_file_stats *s, uint64_t file_number, uint64_t total_bytes)
{
	*s = (struct blob_file_stats){file_number, total_bytes, 0};
}

int blob_stats_add_garbage(struct blob_file_stats *s, uint64_t record_bytes)
{
	if (record_bytes > s->total_bytes - s->garbage_bytes)
		return ERR_RANGE;
	s->garbage_bytes += record_bytes;
	return 0;
}

double blob_stats_garbage_ratio(const struct blob_file_stats *s)
{
	return s->total_bytes ? (double)s->garbage_bytes / (double)s->total_bytes : 0.0;
}

size_t blob_gc_candidates(const struct blob_file_stats *files, size_t count, double ratio,
                          size_t *out, size_t cap)
{
	ASSERT(ratio > 0);
	size_t n = 0;
	for (size_t i = 0; i < count; i++) {
		double g = blob_stats_garbage_ratio(&files[i]);
		if (g < ratio)
			continue;
		/* Insertion into the top-cap list, highest ratio first. */
		size_t j = n < cap ? n++ : cap;
		while (j > 0 && blob_stats_garbage_ratio(&files[out[j - 1]]) < g) {
			if (j < cap)
				out[j] = out[j - 1];
			j--;
		}
		if (j < cap)
			out[j] = i;
	}
	return n;
}

/* ---- GC rewrite -------------------------------------------------------- */

void blob_relocations_init(struct blob_relocations *rl)
{
	memset(rl, 0, sizeof(*rl));
}

void blob_relocations_deinit(struct blob_relocations *rl)
{
	free(rl->items);
	free(rl->keys);
	memset(rl, 0, sizeof(*rl));
}

static int grow(void **p, size_t *cap, size_t need, size_t elem)
{
	if (need <= *cap)
		return 0;
	size_t c = *cap ? *cap : 16;
	while (c < need)
		c *= 2;
	void *q = realloc(*p, c * elem);
	if (!q)
		return ERR_NOMEM;
	*p = q;
	*cap = c;
	return 0;
}

static int relocation_add(struct blob_relocations *rl, struct bytes key,
                          const struct blob_pointer *from, const struct blob_pointer *to)
{
	int rc = grow((void **)&rl->items, &rl->cap, rl->count + 1, sizeof(*rl->items));
	if (rc == 0)
		rc = grow((void **)&rl->keys, &rl->keys_cap, rl->keys_len + key.len + 1, 1);
	if (rc)
		return rc;
	if (key.len)
		memcpy(rl->keys + rl->keys_len, key.ptr, key.len);
	rl->items[rl->count++] = (struct blob_relocation){*from, *to, rl->keys_len, key.len};
	rl->keys_len += key.len;
	return 0;
}

/* Reads the whole record at off (header checked against the file's end)
 * into *rec (grown as needed), verifies it and describes it. */
static int gc_read_record(struct blob_reader *r, uint64_t off, uint8_t **rec, size_t *rec_cap,
                          struct bytes *key, struct blob_pointer *p)
{
	uint8_t h[BLOB_RECORD_HEADER_BYTES];
	if (r->records_end - off < sizeof(h))
		return ERR_CORRUPT;
	int rc = read_full(r, off, h, sizeof(h));
	if (rc)
		return rc;
	*p = (struct blob_pointer){r->file_number, off, le_get64(h + 12)};
	uint32_t key_len = le_get32(h + 8);
	if ((rc = record_bounds(r, p, key_len)) != 0)
		return rc;
	size_t body = (size_t)(key_len + p->value_len);
	if ((rc = grow((void **)rec, rec_cap, body + 1, 1)) != 0)
		return rc;
	if ((rc = read_full(r, off + sizeof(h), *rec, body)) != 0)
		return rc;
	*key = bytes_make(*rec, key_len);
	struct bytes value = bytes_make(*rec + key_len, p->value_len);
	if (record_checksum(r->salt, off, h, *key, value) != le_get64(h))
		return ERR_CORRUPT;
	return 0;
}

int blob_gc_rewrite(struct blob_reader *r, blob_is_live_fn *is_live, void *ctx,
                    struct blob_writer *w, struct blob_relocations *rl)
{
	if (!r->finished)
		return ERR_INVALID;
	uint8_t *rec = NULL;
	size_t rec_cap = 0;
	uint64_t seen = 0;
	int rc = 0;
	/* Bounded: each step advances at least a record header. */
	for (uint64_t off = BLOB_HEADER_BYTES; off < r->records_end && rc == 0;) {
		struct bytes key;
		struct blob_pointer from, to;
		if ((rc = gc_read_record(r, off, &rec, &rec_cap, &key, &from)) != 0)
			break;
		seen++;
		off += blob_record_bytes(key.len, from.value_len);
		int live = is_live(ctx, key, &from);
		if (live < 0) {
			rc = live;
		} else if (live) {
			struct bytes value = bytes_make(rec + key.len, from.value_len);
			if ((rc = blob_writer_add(w, key, value, &to)) == 0)
				rc = relocation_add(rl, key, &from, &to);
		}
	}
	free(rec);
	if (rc == 0 && seen != r->record_count)
		rc = ERR_CORRUPT;
	return rc;
}
