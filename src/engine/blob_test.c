/*
 * blob_test.c - blob files (engine/blob.h) over env_fs_mem, and once over
 * real files.
 *
 * Values are generated from an id (deterministic bytes), so a test keeps
 * only ids and lengths and regenerates a value to compare. Every test is
 * seeded; a crash or fault walk that fails prints its point.
 * env_fs_mem_deinit asserts that no handle leaked.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/assert.h"
#include "base/err.h"
#include "base/hash.h"
#include "base/limits.h"
#include "engine/blob.h"
#include "env/env_fs_mem.h"

#define PATH "7.blob"
#define FNUM 7
#define SALT 0x5eedull

/* ---- Values and keys ---------------------------------------------------- */

static void val_fill(uint8_t *p, size_t len, uint64_t id)
{
	uint64_t x = id * 0x9e3779b97f4a7c15ull + 1;
	size_t i = 0;
	for (; i + 8 <= len; i += 8) {
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		memcpy(p + i, &x, 8);
	}
	for (; i < len; i++)
		p[i] = (uint8_t)(x >> (8 * (i & 7)));
}

static uint8_t *val_make(size_t len, uint64_t id)
{
	uint8_t *p = malloc(len ? len : 1);
	assert_non_null(p);
	val_fill(p, len, id);
	return p;
}

struct key {
	char s[32];
};

static struct bytes key_of(struct key *k, uint64_t id)
{
	snprintf(k->s, sizeof(k->s), "key:%llu", (unsigned long long)id);
	return bytes_cstr(k->s);
}

/* Adds value id of len under key id; returns blob_writer_add's result. */
static int add(struct blob_writer *w, uint64_t id, size_t len, struct blob_pointer *p)
{
	struct key k;
	uint8_t *v = val_make(len, id);
	int rc = blob_writer_add(w, key_of(&k, id), bytes_make(v, len), p);
	free(v);
	return rc;
}

/* Reads pointer p of value id and returns the result; on success checks
 * the bytes. */
static int check(struct blob_reader *r, const struct blob_pointer *p, uint64_t id)
{
	struct key k;
	uint8_t *got = malloc(p->value_len + 1), *want = val_make(p->value_len, id);
	int rc = blob_read(r, p, key_of(&k, id), got, p->value_len);
	if (rc == 0)
		assert_memory_equal(got, want, p->value_len);
	free(got);
	free(want);
	return rc;
}

/* blob_read_into consumer: hashes chunks and counts them. */
struct stream {
	XXH3_state_t st;
	uint64_t bytes, chunks;
};

static int stream_chunk(void *ctx, struct bytes chunk)
{
	struct stream *s = ctx;
	assert_true(chunk.len > 0 && chunk.len <= BLOB_IO_CHUNK_BYTES);
	XXH3_64bits_update(&s->st, chunk.ptr, chunk.len);
	s->bytes += chunk.len;
	s->chunks++;
	return 0;
}

static void check_streamed(struct blob_reader *r, const struct blob_pointer *p, uint64_t id)
{
	struct key k;
	struct stream s = {.bytes = 0};
	XXH3_64bits_reset(&s.st);
	assert_int_equal(blob_read_into(r, p, key_of(&k, id), stream_chunk, &s), 0);
	uint8_t *want = val_make(p->value_len, id);
	assert_int_equal(s.bytes, p->value_len);
	assert_int_equal(XXH3_64bits_digest(&s.st), XXH3_64bits(want, p->value_len));
	free(want);
}

static void writer_open(struct blob_writer *w, struct env_fs *fs)
{
	assert_int_equal(blob_writer_open(w, fs, PATH, FNUM, SALT), 0);
}

/* ---- Pointers ----------------------------------------------------------- */

static void test_blob_pointer_round_trips_and_rejects_malformed(void **state)
{
	(void)state;
	uint8_t b[BLOB_POINTER_BYTES_MAX + 2];
	struct blob_pointer p = {UINT64_MAX, BLOB_FILE_BYTES_MAX, VALUE_BYTES_MAX}, q;
	size_t n = blob_pointer_encode(b, &p);
	assert_true(n <= BLOB_POINTER_BYTES_MAX);
	assert_int_equal(blob_pointer_decode(bytes_make(b, n), &q), 0);
	assert_memory_equal(&p, &q, sizeof(p));
	for (size_t cut = 0; cut < n; cut++) /* every truncation */
		assert_int_equal(blob_pointer_decode(bytes_make(b, cut), &q), ERR_CORRUPT);
	b[n] = 0;
	assert_int_equal(blob_pointer_decode(bytes_make(b, n + 1), &q), ERR_CORRUPT);
	struct blob_pointer bad[] = {
	    {1, BLOB_HEADER_BYTES - 1, 5},               /* inside the header */
	    {1, BLOB_HEADER_BYTES, VALUE_BYTES_MAX + 1}, /* over the value limit */
	    {1, BLOB_FILE_BYTES_MAX + 1, 5},             /* past any file */
	};
	for (size_t i = 0; i < ARRAY_LEN(bad); i++) {
		n = blob_pointer_encode(b, &bad[i]);
		assert_int_equal(blob_pointer_decode(bytes_make(b, n), &q), ERR_CORRUPT);
	}
	memset(b, 0xff, 11); /* an 11-byte varint */
	assert_int_equal(blob_pointer_decode(bytes_make(b, 11), &q), ERR_CORRUPT);
}

/* ---- Round trips -------------------------------------------------------- */

/* Writes values of the given lengths (id = index), finishes, and reads them
 * back both ways from a fresh reader. */
static void round_trip(struct env_fs *fs, const char *path, const size_t *lens, size_t n)
{
	struct blob_writer w;
	struct blob_pointer ptrs[16];
	assert_true(n <= 16);
	assert_int_equal(blob_writer_open(&w, fs, path, FNUM, SALT), 0);
	uint64_t expect = BLOB_HEADER_BYTES;
	for (size_t i = 0; i < n; i++) {
		assert_int_equal(add(&w, i, lens[i], &ptrs[i]), 0);
		assert_int_equal(ptrs[i].offset, expect);
		struct key k;
		expect += blob_record_bytes(key_of(&k, i).len, lens[i]);
		assert_int_equal(blob_writer_bytes(&w), expect);
	}
	assert_int_equal(blob_writer_finish(&w), 0);
	struct blob_reader r;
	assert_int_equal(blob_reader_open(&r, fs, path, FNUM), 0);
	assert_true(r.finished);
	assert_int_equal(r.record_count, n);
	for (size_t i = 0; i < n; i++) {
		assert_int_equal(check(&r, &ptrs[i], i), 0);
		check_streamed(&r, &ptrs[i], i);
	}
	blob_reader_close(&r);
}

static void test_blob_round_trips_4k_and_1m_values(void **state)
{
	(void)state;
	struct env_fs_mem mem;
	env_fs_mem_init(&mem, 1);
	size_t lens[] = {4096, 0, 1 * MIB, 4097, BLOB_WRITE_BUFFER_BYTES, 3 * MIB + 1};
	round_trip(&mem.base, PATH, lens, ARRAY_LEN(lens));
	env_fs_mem_deinit(&mem);
}

static void test_blob_round_trips_64m_value_streamed(void **state)
{
	(void)state;
	struct env_fs_mem mem;
	env_fs_mem_init(&mem, 2);
	size_t lens[] = {64 * MIB};
	round_trip(&mem.base, PATH, lens, 1);
	env_fs_mem_deinit(&mem);
}

static void test_blob_round_trips_on_real_files(void **state)
{
	(void)state;
	char dir[] = "/tmp/ringkv-blob-test-XXXXXX";
	assert_non_null(mkdtemp(dir));
	char path[256];
	snprintf(path, sizeof(path), "%s/%d.blob", dir, FNUM);
	struct env_fs_posix px;
	env_fs_posix_init(&px);
	size_t lens[] = {4096, 1 * MIB, 10};
	round_trip(&px.base, path, lens, ARRAY_LEN(lens));
	assert_int_equal(env_fs_remove(&px.base, path), 0);
	assert_int_equal(rmdir(dir), 0);
}

static void test_blob_read_checks_key_file_and_buffer(void **state)
{
	(void)state;
	struct env_fs_mem mem;
	env_fs_mem_init(&mem, 3);
	struct blob_writer w;
	struct blob_pointer p0, p1;
	writer_open(&w, &mem.base);
	assert_int_equal(add(&w, 0, 5000, &p0), 0);
	assert_int_equal(add(&w, 1, 5000, &p1), 0);
	assert_int_equal(blob_writer_sync(&w), 0);
	struct blob_reader r;
	/* An unfinished file reads too (the engine reads the file it writes). */
	assert_int_equal(blob_reader_open(&r, &mem.base, PATH, FNUM), 0);
	assert_false(r.finished);
	assert_int_equal(check(&r, &p1, 1), 0);
	assert_int_equal(check(&r, &p0, 1), ERR_CORRUPT); /* another key's record */
	struct blob_pointer q = p0;
	q.value_len--;
	assert_int_equal(check(&r, &q, 0), ERR_CORRUPT); /* wrong length */
	q = p0;
	q.offset++;
	assert_int_equal(check(&r, &q, 0), ERR_CORRUPT); /* not a record start */
	q = p1;
	q.offset += 1000000;
	assert_int_equal(check(&r, &q, 1), ERR_CORRUPT); /* past the end */
	q = p0;
	q.file_number++;
	assert_int_equal(check(&r, &q, 0), ERR_INVALID);
	struct key k;
	uint8_t small[10];
	assert_int_equal(blob_read(&r, &p0, key_of(&k, 0), small, sizeof(small)), ERR_INVALID);
	/* Records added after the reader opened are found. */
	struct blob_pointer p2;
	assert_int_equal(add(&w, 2, 70000, &p2), 0);
	assert_int_equal(check(&r, &p2, 2), 0);
	blob_reader_close(&r);
	assert_int_equal(blob_writer_finish(&w), 0);
	assert_int_equal(blob_reader_open(&r, &mem.base, PATH, FNUM + 1), ERR_CORRUPT);
	env_fs_mem_deinit(&mem);
}

static void test_blob_key_and_value_limits_exact_and_one_past(void **state)
{
	(void)state;
	struct env_fs_mem mem;
	env_fs_mem_init(&mem, 4);
	struct blob_writer w;
	struct blob_pointer p;
	writer_open(&w, &mem.base);
	uint8_t *key = calloc(1, KEY_BYTES_MAX + 1);
	assert_int_equal(
	    blob_writer_add(&w, bytes_make(key, KEY_BYTES_MAX + 1), bytes_make("v", 1), &p),
	    ERR_LIMIT);
	/* Refused on the length alone: the bytes are never touched. */
	assert_int_equal(
	    blob_writer_add(&w, bytes_make("k", 1), bytes_make(key, VALUE_BYTES_MAX + 1), &p),
	    ERR_LIMIT);
	assert_int_equal(blob_writer_failed(&w), 0);
	assert_int_equal(blob_writer_bytes(&w), BLOB_HEADER_BYTES);
	assert_int_equal(
	    blob_writer_add(&w, bytes_make(key, KEY_BYTES_MAX), bytes_make("v", 1), &p), 0);
	assert_int_equal(blob_writer_finish(&w), 0);
	struct blob_reader r;
	assert_int_equal(blob_reader_open(&r, &mem.base, PATH, FNUM), 0);
	char v;
	assert_int_equal(blob_read(&r, &p, bytes_make(key, KEY_BYTES_MAX), &v, 1), 0);
	assert_int_equal(v, 'v');
	blob_reader_close(&r);
	free(key);
	env_fs_mem_deinit(&mem);
}

/* ---- Damage ------------------------------------------------------------- */

static void write_three(struct env_fs_mem *mem, struct blob_pointer *p, bool finish)
{
	struct blob_writer w;
	writer_open(&w, &mem->base);
	for (int i = 0; i < 3; i++)
		assert_int_equal(add(&w, (uint64_t)i, 4096 + (size_t)i * 100, &p[i]), 0);
	if (finish)
		assert_int_equal(blob_writer_finish(&w), 0);
	else
		assert_int_equal(blob_writer_close(&w), 0);
}

static uint64_t rec_end(const struct blob_pointer *p, uint64_t id)
{
	struct key k;
	return p->offset + blob_record_bytes(key_of(&k, id).len, p->value_len);
}

static void test_blob_bit_flip_in_a_record_is_corrupt_never_data(void **state)
{
	(void)state;
	struct env_fs_mem mem;
	env_fs_mem_init(&mem, 5);
	struct blob_pointer p[3];
	write_three(&mem, p, true);
	/* The middle record: checksum, lengths, key and value bytes. */
	for (int trial = 0; trial < 200; trial++) {
		uint64_t bit;
		uint64_t lo = trial < 40 ? p[1].offset : p[1].offset + 20;
		assert_int_equal(env_fs_mem_flip_random(&mem, PATH, lo, rec_end(&p[1], 1), &bit),
		                 0);
		struct blob_reader r;
		assert_int_equal(blob_reader_open(&r, &mem.base, PATH, FNUM), 0);
		assert_int_equal(check(&r, &p[1], 1), ERR_CORRUPT);
		assert_int_equal(check(&r, &p[0], 0), 0);
		assert_int_equal(check(&r, &p[2], 2), 0);
		struct key k;
		struct stream s = {.bytes = 0};
		XXH3_64bits_reset(&s.st);
		assert_int_equal(blob_read_into(&r, &p[1], key_of(&k, 1), stream_chunk, &s),
		                 ERR_CORRUPT);
		blob_reader_close(&r);
		assert_int_equal(env_fs_mem_flip_bit(&mem, PATH, bit), 0); /* repair */
	}
	env_fs_mem_deinit(&mem);
}

static void test_blob_bit_flip_in_the_header_fails_open(void **state)
{
	(void)state;
	struct env_fs_mem mem;
	env_fs_mem_init(&mem, 6);
	struct blob_pointer p[3];
	write_three(&mem, p, true);
	for (uint64_t bit = 0; bit < 8 * BLOB_HEADER_BYTES; bit++) {
		assert_int_equal(env_fs_mem_flip_bit(&mem, PATH, bit), 0);
		struct blob_reader r;
		assert_int_equal(blob_reader_open(&r, &mem.base, PATH, FNUM), ERR_CORRUPT);
		assert_int_equal(env_fs_mem_flip_bit(&mem, PATH, bit), 0);
	}
	env_fs_mem_deinit(&mem);
}

/* A file cut anywhere inside its last record (a torn write): it opens as
 * unfinished, the earlier records read, the torn one is ERR_CORRUPT. A cut
 * inside the header fails open. */
static void test_blob_truncated_file_detects_torn_last_record(void **state)
{
	(void)state;
	struct env_fs_mem mem;
	env_fs_mem_init(&mem, 7);
	struct blob_pointer p[3];
	write_three(&mem, p, true);
	uint64_t end = rec_end(&p[2], 2), o = p[2].offset;
	const uint64_t cuts[] = {end + BLOB_FOOTER_BYTES,
	                         end + BLOB_FOOTER_BYTES - 1,
	                         end,
	                         end - 1,
	                         end - 1000,
	                         o + 25,
	                         o + 19,
	                         o};
	for (size_t i = 0; i < ARRAY_LEN(cuts); i++) {
		uint64_t cut = cuts[i];
		struct env_file *f = NULL;
		assert_int_equal(env_fs_open(&mem.base, PATH, 0, &f), 0);
		assert_int_equal(env_fs_truncate(&mem.base, f, cut), 0);
		env_fs_close(&mem.base, f);
		struct blob_reader r;
		assert_int_equal(blob_reader_open(&r, &mem.base, PATH, FNUM), 0);
		assert_int_equal(r.finished, i == 0);
		assert_int_equal(check(&r, &p[0], 0), 0);
		assert_int_equal(check(&r, &p[1], 1), 0);
		assert_int_equal(check(&r, &p[2], 2), cut >= end ? 0 : ERR_CORRUPT);
		blob_reader_close(&r);
	}
	struct env_file *f = NULL;
	assert_int_equal(env_fs_open(&mem.base, PATH, 0, &f), 0);
	assert_int_equal(env_fs_truncate(&mem.base, f, BLOB_HEADER_BYTES - 1), 0);
	env_fs_close(&mem.base, f);
	struct blob_reader r;
	assert_int_equal(blob_reader_open(&r, &mem.base, PATH, FNUM), ERR_CORRUPT);
	env_fs_mem_deinit(&mem);
}

/* ---- Failures ------------------------------------------------------------ */

static void assert_refuses(struct blob_writer *w, int err)
{
	struct blob_pointer p;
	assert_int_equal(blob_writer_failed(w), err);
	assert_int_equal(add(w, 99, 10, &p), err);
	assert_int_equal(blob_writer_sync(w), err);
	assert_int_equal(blob_writer_finish(w), err);
}

static void test_blob_failed_fsync_refuses_further_writes(void **state)
{
	(void)state;
	struct env_fs_mem mem;
	env_fs_mem_init(&mem, 8);
	struct blob_writer w;
	struct blob_pointer p;
	writer_open(&w, &mem.base);
	assert_int_equal(add(&w, 0, 5000, &p), 0);
	struct env_fs_mem_fault f = {.op = ENV_FS_OP_SYNC, .nth = 1, .err = ERR_IO};
	env_fs_mem_inject(&mem, &f);
	assert_int_equal(blob_writer_sync(&w), ERR_IO);
	assert_refuses(&w, ERR_IO); /* the next sync would succeed: never retried */
	env_fs_mem_deinit(&mem);
}

static void test_blob_full_disk_refuses_further_writes(void **state)
{
	(void)state;
	struct env_fs_mem mem;
	env_fs_mem_init(&mem, 9);
	struct blob_writer w;
	struct blob_pointer p;
	writer_open(&w, &mem.base);
	env_fs_mem_set_capacity(&mem, 100000);
	int rc = 0;
	for (int i = 0; i < 100 && rc == 0; i++)
		rc = add(&w, (uint64_t)i, 4096, &p);
	assert_int_equal(rc, ERR_NOSPACE);
	env_fs_mem_set_capacity(&mem, 0);
	assert_refuses(&w, ERR_NOSPACE);
	env_fs_mem_deinit(&mem);
}

/* Open, add two records, sync, add one, finish, with the nth env call
 * failing; then a power cut. Every record whose sync returned 0 reads back
 * intact. Returns true when the nth call never came. */
static bool fault_walk_step(uint64_t n, int err)
{
	struct env_fs_mem mem;
	env_fs_mem_init(&mem, 10 + n);
	struct env_fs_mem_fault f = {.op = ENV_FS_OP_ANY, .nth = n, .err = err, .partial = n & 1};
	env_fs_mem_inject(&mem, &f);
	struct blob_writer w;
	struct blob_pointer p[3];
	size_t lens[3] = {5000, 2 * MIB, 7000};
	int acked = 0, rc = blob_writer_open(&w, &mem.base, PATH, FNUM, SALT);
	bool opened = rc == 0;
	if (rc == 0 && (rc = add(&w, 0, lens[0], &p[0])) == 0 &&
	    (rc = add(&w, 1, lens[1], &p[1])) == 0 && (rc = blob_writer_sync(&w)) == 0)
		acked = 2;
	if (rc == 0 && (rc = add(&w, 2, lens[2], &p[2])) == 0 && (rc = blob_writer_finish(&w)) == 0)
		acked = 3;
	if (opened && rc != 0) {
		/* A failed fsync is ERR_IO even when the env said ERR_NOSPACE. */
		assert_true(rc == err || (err == ERR_NOSPACE && rc == ERR_IO));
		if (w.file) /* finish releases the writer even when it fails */
			assert_refuses(&w, rc);
	}
	bool clean = mem.fault_seen < n;
	struct env_fs_mem_fault none = {0};
	env_fs_mem_inject(&mem, &none);
	env_fs_mem_crash(&mem, ENV_FS_MEM_CRASH_DROP);
	struct blob_reader r;
	rc = blob_reader_open(&r, &mem.base, PATH, FNUM);
	if (acked == 0) {
		assert_true(rc == 0 || rc == ERR_NOT_FOUND || rc == ERR_CORRUPT);
	} else {
		if (rc != 0)
			fail_msg("fault at call %llu: open %d with %d acked", (unsigned long long)n,
			         rc, acked);
		for (int i = 0; i < acked; i++)
			assert_int_equal(check(&r, &p[i], (uint64_t)i), 0);
	}
	if (rc == 0)
		blob_reader_close(&r);
	env_fs_mem_deinit(&mem);
	return clean;
}

static void test_blob_fault_walk_over_every_env_call(void **state)
{
	(void)state;
	const int errs[] = {ERR_IO, ERR_NOSPACE};
	for (int e = 0; e < 2; e++) {
		uint64_t n = 1;
		while (!fault_walk_step(n, errs[e]))
			n++;
		assert_true(n > 6); /* open, header, sync, dir, appends, syncs */
	}
}

/* Records of 1..3 chunks, a sync after each; power cut (torn tails kept)
 * after the k-th sync for every k: each synced record reads intact, and a
 * later one reads intact or is ERR_CORRUPT, never other bytes. */
static void test_blob_power_cut_at_every_sync_point_keeps_synced_records(void **state)
{
	(void)state;
	enum { RECS = 12 };
	for (int stop = 0; stop <= RECS; stop++) {
		struct env_fs_mem mem;
		env_fs_mem_init(&mem, 100 + (uint64_t)stop);
		struct blob_writer w;
		struct blob_pointer p[RECS + 1];
		writer_open(&w, &mem.base);
		for (int i = 0; i < RECS; i++) {
			assert_int_equal(add(&w, (uint64_t)i, 4096 + (size_t)i * 100000, &p[i]), 0);
			if (i < stop)
				assert_int_equal(blob_writer_sync(&w), 0);
		}
		env_fs_mem_crash(&mem, ENV_FS_MEM_CRASH_TORN);
		blob_writer_close(&w); /* a dead handle: close releases it */
		struct blob_reader r;
		assert_int_equal(blob_reader_open(&r, &mem.base, PATH, FNUM), 0);
		for (int i = 0; i < RECS; i++) {
			int rc = check(&r, &p[i], (uint64_t)i);
			if (i < stop && rc != 0)
				fail_msg("cut after sync %d: record %d: %d", stop, i, rc);
			assert_true(rc == 0 || rc == ERR_CORRUPT);
		}
		blob_reader_close(&r);
		env_fs_mem_deinit(&mem);
	}
}

/* ---- Garbage ------------------------------------------------------------ */

static void test_blob_stats_and_gc_candidates(void **state)
{
	(void)state;
	struct blob_file_stats s[5];
	const uint64_t garbage[5] = {10, 60, 50, 0, 99};
	for (size_t i = 0; i < 5; i++) {
		blob_stats_init(&s[i], i + 1, 100);
		assert_int_equal(blob_stats_add_garbage(&s[i], garbage[i]), 0);
	}
	assert_int_equal(blob_stats_add_garbage(&s[4], 2), ERR_RANGE); /* a double count */
	assert_int_equal(s[4].garbage_bytes, 99);
	assert_int_equal(blob_stats_live_bytes(&s[1]), 40);
	size_t out[5];
	assert_int_equal(blob_gc_candidates(s, 5, BLOB_GC_RATIO_DEFAULT, out, 5), 3);
	assert_int_equal(out[0], 4);
	assert_int_equal(out[1], 1);
	assert_int_equal(out[2], 2); /* exactly at the ratio */
	assert_int_equal(blob_gc_candidates(s, 5, BLOB_GC_RATIO_DEFAULT, out, 2), 2);
	assert_int_equal(out[0], 4);
	assert_int_equal(out[1], 1);
	struct blob_file_stats empty;
	blob_stats_init(&empty, 9, 0);
	assert_int_equal(blob_gc_candidates(&empty, 1, 0.01, out, 5), 0);
}

static int live_if_even(void *ctx, struct bytes key, const struct blob_pointer *p)
{
	(void)p;
	char s[32];
	assert_true(key.len > 4 && key.len < sizeof(s));
	memcpy(s, key.ptr, key.len);
	s[key.len] = 0;
	unsigned long long id = strtoull(s + 4, NULL, 10);
	(*(int *)ctx)++;
	return (id % 2) == 0;
}

static void test_blob_gc_rewrite_keeps_exactly_the_live_records(void **state)
{
	(void)state;
	struct env_fs_mem mem;
	env_fs_mem_init(&mem, 11);
	enum { N = 40 };
	struct blob_writer w;
	struct blob_pointer p[N];
	struct blob_file_stats st;
	writer_open(&w, &mem.base);
	for (int i = 0; i < N; i++)
		assert_int_equal(add(&w, (uint64_t)i, 4096 + (size_t)i * 1000, &p[i]), 0);
	blob_stats_init(&st, FNUM, blob_writer_bytes(&w) - BLOB_HEADER_BYTES);
	assert_int_equal(blob_writer_finish(&w), 0);
	for (int i = 1; i < N; i += 2)
		assert_int_equal(
		    blob_stats_add_garbage(&st, rec_end(&p[i], (uint64_t)i) - p[i].offset), 0);
	size_t out;
	assert_int_equal(blob_gc_candidates(&st, 1, BLOB_GC_RATIO_DEFAULT, &out, 1), 1);

	struct blob_reader r;
	struct blob_writer w2;
	struct blob_relocations rl;
	int calls = 0;
	assert_int_equal(blob_reader_open(&r, &mem.base, PATH, FNUM), 0);
	assert_int_equal(blob_writer_open(&w2, &mem.base, "8.blob", 8, SALT + 1), 0);
	blob_relocations_init(&rl);
	assert_int_equal(blob_gc_rewrite(&r, live_if_even, &calls, &w2, &rl), 0);
	assert_int_equal(calls, N);
	assert_int_equal(rl.count, N / 2);
	assert_int_equal(blob_writer_bytes(&w2) - BLOB_HEADER_BYTES, blob_stats_live_bytes(&st));
	assert_int_equal(blob_writer_finish(&w2), 0);
	blob_reader_close(&r);

	assert_int_equal(blob_reader_open(&r, &mem.base, "8.blob", 8), 0);
	assert_int_equal(r.record_count, N / 2);
	for (size_t i = 0; i < rl.count; i++) {
		uint64_t id = 2 * i;
		struct key k;
		assert_true(bytes_eq(blob_relocation_key(&rl, i), key_of(&k, id)));
		assert_memory_equal(&rl.items[i].from, &p[id], sizeof(p[id]));
		assert_int_equal(rl.items[i].to.file_number, 8);
		assert_int_equal(check(&r, &rl.items[i].to, id), 0);
	}
	blob_reader_close(&r);
	blob_relocations_deinit(&rl);
	env_fs_mem_deinit(&mem);
}

static void test_blob_gc_rewrite_stops_at_a_corrupt_record(void **state)
{
	(void)state;
	struct env_fs_mem mem;
	env_fs_mem_init(&mem, 12);
	struct blob_pointer p[3];
	write_three(&mem, p, true);
	assert_int_equal(env_fs_mem_flip_bit(&mem, PATH, 8 * (p[1].offset + 30)), 0);
	struct blob_reader r;
	struct blob_writer w2;
	struct blob_relocations rl;
	int calls = 0;
	assert_int_equal(blob_reader_open(&r, &mem.base, PATH, FNUM), 0);
	assert_int_equal(blob_writer_open(&w2, &mem.base, "8.blob", 8, SALT), 0);
	blob_relocations_init(&rl);
	assert_int_equal(blob_gc_rewrite(&r, live_if_even, &calls, &w2, &rl), ERR_CORRUPT);
	assert_int_equal(calls, 1);
	blob_writer_close(&w2);
	blob_reader_close(&r);
	/* An unfinished file is not collected. */
	write_three(&mem, p, false);
	assert_int_equal(blob_reader_open(&r, &mem.base, PATH, FNUM), 0);
	assert_int_equal(blob_writer_open(&w2, &mem.base, "8.blob", 8, SALT), 0);
	assert_int_equal(blob_gc_rewrite(&r, live_if_even, &calls, &w2, &rl), ERR_INVALID);
	blob_writer_close(&w2);
	blob_reader_close(&r);
	blob_relocations_deinit(&rl);
	env_fs_mem_deinit(&mem);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_blob_pointer_round_trips_and_rejects_malformed),
	    cmocka_unit_test(test_blob_round_trips_4k_and_1m_values),
	    cmocka_unit_test(test_blob_round_trips_64m_value_streamed),
	    cmocka_unit_test(test_blob_round_trips_on_real_files),
	    cmocka_unit_test(test_blob_read_checks_key_file_and_buffer),
	    cmocka_unit_test(test_blob_key_and_value_limits_exact_and_one_past),
	    cmocka_unit_test(test_blob_bit_flip_in_a_record_is_corrupt_never_data),
	    cmocka_unit_test(test_blob_bit_flip_in_the_header_fails_open),
	    cmocka_unit_test(test_blob_truncated_file_detects_torn_last_record),
	    cmocka_unit_test(test_blob_failed_fsync_refuses_further_writes),
	    cmocka_unit_test(test_blob_full_disk_refuses_further_writes),
	    cmocka_unit_test(test_blob_fault_walk_over_every_env_call),
	    cmocka_unit_test(test_blob_power_cut_at_every_sync_point_keeps_synced_records),
	    cmocka_unit_test(test_blob_stats_and_gc_candidates),
	    cmocka_unit_test(test_blob_gc_rewrite_keeps_exactly_the_live_records),
	    cmocka_unit_test(test_blob_gc_rewrite_stops_at_a_corrupt_record),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
