/*
 * wal_test.c - the write-ahead log (engine/wal.h) over env_fs_mem.
 *
 * Records are generated from an id (deterministic bytes), so a test keeps
 * only ids and lengths of what it wrote and checks recovered records by
 * hash. Every test is seeded; a failing crash or fault walk prints the
 * point it failed at. env_fs_mem_deinit asserts that no handle leaked.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/err.h"
#include "base/hash.h"
#include "base/limits.h"
#include "engine/wal.h"
#include "env/env_fs_mem.h"

#define B    WAL_BLOCK_BYTES
#define H    WAL_FRAGMENT_HEADER_BYTES
#define RECS 4096

/* ---- Records and what was written ------------------------------------ */

static void rec_fill(uint8_t *p, size_t len, uint64_t id)
{
	uint64_t x = id * 0x9e3779b97f4a7c15ull + 1;
	for (size_t i = 0; i < len; i++) {
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		p[i] = (uint8_t)x;
	}
}

/* The sequence of records handed to wal_append, in order. */
struct log_model {
	size_t count;
	size_t lens[RECS];
	uint64_t hashes[RECS];
};

/* What recovery delivered. */
struct got {
	size_t count;
	size_t lens[RECS];
	uint64_t hashes[RECS];
	uint64_t offsets[RECS];
};

static int collect(void *ctx, struct bytes rec, uint64_t offset)
{
	struct got *g = ctx;
	assert_true(g->count < RECS);
	g->lens[g->count] = rec.len;
	g->hashes[g->count] = hash_bytes(rec.ptr, rec.len);
	g->offsets[g->count] = offset;
	g->count++;
	return 0;
}

/* Appends records of the given lengths as one batch; ids continue the
 * model's sequence. Returns wal_append's result; the model records them
 * whatever it is (a failed append may still have written some). */
static int append_batch(struct wal *w, struct log_model *m, const size_t *lens, size_t n)
{
	struct bytes recs[8];
	uint8_t *bufs[8];
	assert_true(n <= 8 && m->count + n <= RECS);
	for (size_t i = 0; i < n; i++) {
		bufs[i] = malloc(lens[i] ? lens[i] : 1);
		assert_non_null(bufs[i]);
		rec_fill(bufs[i], lens[i], m->count + i);
		recs[i] = bytes_make(bufs[i], lens[i]);
	}
	int rc = wal_append(w, recs, n);
	if (rc != ERR_LIMIT) {
		for (size_t i = 0; i < n; i++) {
			m->lens[m->count] = lens[i];
			m->hashes[m->count] = hash_bytes(bufs[i], lens[i]);
			m->count++;
		}
	}
	for (size_t i = 0; i < n; i++)
		free(bufs[i]);
	return rc;
}

static int append_one(struct wal *w, struct log_model *m, size_t len)
{
	return append_batch(w, m, &len, 1);
}

/* Recovered records are exactly the model's first g->count records. */
static void assert_prefix(const struct got *g, const struct log_model *m)
{
	assert_true(g->count <= m->count);
	for (size_t i = 0; i < g->count; i++) {
		assert_int_equal(g->lens[i], m->lens[i]);
		assert_int_equal(g->hashes[i], m->hashes[i]);
	}
}

static int recover(struct env_fs *fs, const char *path, bool salvage, bool truncate, struct got *g,
                   struct wal_recover_result *res)
{
	struct wal_recover_options o = {.salvage = salvage, .truncate_tail = truncate};
	g->count = 0;
	return wal_recover(fs, path, &o, collect, g, res);
}

static void open_log(struct wal *w, struct env_fs *fs, const char *path, uint64_t salt)
{
	struct wal_options o = {.log_number = 7, .salt = salt};
	assert_int_equal(wal_open(w, fs, path, &o), 0);
}

static uint64_t rnd(uint64_t *s)
{
	uint64_t z = (*s += 0x9e3779b97f4a7c15ull);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

/* A record length: mostly small, sometimes around a block, rarely many. */
static size_t rnd_len(uint64_t *s)
{
	switch (rnd(s) % 8) {
	case 0:
		return 0;
	case 1:
		return (size_t)(rnd(s) % (3 * B));
	case 2:
		return (size_t)(B - H - rnd(s) % 24);
	default:
		return (size_t)(rnd(s) % 300);
	}
}

/* Reads a whole file into a fresh buffer. */
static uint8_t *slurp(struct env_fs *fs, const char *path, size_t *len)
{
	struct env_file *f = NULL;
	uint64_t n = 0;
	assert_int_equal(env_fs_open(fs, path, 0, &f), 0);
	assert_int_equal(env_fs_size(fs, f, &n), 0);
	uint8_t *p = malloc(n ? n : 1);
	size_t got = 0;
	assert_int_equal(env_fs_read_at(fs, f, 0, p, n, &got), 0);
	assert_int_equal(got, n);
	env_fs_close(fs, f);
	*len = n;
	return p;
}

static void spit(struct env_fs *fs, const char *path, const uint8_t *p, size_t len)
{
	struct env_file *f = NULL;
	assert_int_equal(env_fs_open(fs, path, ENV_FS_CREATE | ENV_FS_TRUNCATE, &f), 0);
	assert_int_equal(env_fs_append(fs, f, p, len), 0);
	env_fs_close(fs, f);
}

/* ---- Round trips ----------------------------------------------------- */

static void test_wal_round_trips_every_size_class(void **state)
{
	(void)state;
	struct env_fs_mem mem;
	env_fs_mem_init(&mem, 11);
	struct env_fs *fs = &mem.base;
	struct wal w;
	struct log_model *m = calloc(1, sizeof(*m));
	struct got *g = calloc(1, sizeof(*g));
	open_log(&w, fs, "x.wal", 0x1234);
	/* The rest of block 0 exactly, a trailer of 5 bytes, empty, tiny,
	 * exactly a block's payload, a block, many blocks. */
	size_t fixed[] = {B - WAL_FILE_HEADER_BYTES - H,
	                  B - H - 5,
	                  0,
	                  1,
	                  7,
	                  B - H,
	                  B,
	                  B + 1,
	                  0,
	                  5 * B,
	                  3 * B + 17};
	for (size_t i = 0; i < sizeof(fixed) / sizeof(fixed[0]); i++)
		assert_int_equal(append_one(&w, m, fixed[i]), 0);
	uint64_t s = 11;
	for (int i = 0; i < 200; i++) {
		size_t lens[3] = {rnd_len(&s), rnd_len(&s), rnd_len(&s)};
		assert_int_equal(append_batch(&w, m, lens, 1 + rnd(&s) % 3), 0);
	}
	assert_int_equal(wal_sync(&w), 0);
	assert_int_equal(wal_close(&w), 0);
	struct wal_recover_result res;
	assert_int_equal(recover(fs, "x.wal", false, true, g, &res), 0);
	assert_int_equal(g->count, m->count);
	assert_prefix(g, m);
	assert_int_equal(res.log_number, 7);
	assert_int_equal(res.dropped_bytes, 0);
	assert_int_equal(res.skipped_bytes, 0);
	assert_int_equal(g->offsets[0], WAL_FILE_HEADER_BYTES);
	/* The record filling block 0 ends it; the next starts block 1 and
	 * leaves a 5-byte trailer, so the third starts block 2. */
	assert_int_equal(g->offsets[1], B);
	assert_int_equal(g->offsets[2], 2 * B);
	free(m);
	free(g);
	env_fs_mem_deinit(&mem);
}

static uint64_t file_size(struct env_fs *fs, const char *path)
{
	struct env_file *f = NULL;
	uint64_t n = 0;
	assert_int_equal(env_fs_open(fs, path, 0, &f), 0);
	assert_int_equal(env_fs_size(fs, f, &n), 0);
	env_fs_close(fs, f);
	return n;
}

/* Staged records stay in the buffer until a flush, a full buffer, a sync
 * or close; then they replay in order like appended ones. */
static void test_wal_staged_records_reach_the_file_on_flush_sync_or_close(void **state)
{
	(void)state;
	struct env_fs_mem mem;
	env_fs_mem_init(&mem, 12);
	struct env_fs *fs = &mem.base;
	struct wal w;
	open_log(&w, fs, "s.wal", 0x55);
	uint8_t rec[100];
	rec_fill(rec, sizeof(rec), 1);
	struct bytes b = bytes_make(rec, sizeof(rec));
	assert_int_equal(wal_stage(&w, &b, 1), 0);
	assert_int_equal(file_size(fs, "s.wal"), WAL_FILE_HEADER_BYTES);
	assert_int_equal(wal_written_bytes(&w), WAL_FILE_HEADER_BYTES + H + sizeof(rec));
	assert_int_equal(wal_flush(&w), 0);
	assert_int_equal(file_size(fs, "s.wal"), WAL_FILE_HEADER_BYTES + H + sizeof(rec));
	for (int i = 0; i < 3; i++)
		assert_int_equal(wal_stage(&w, &b, 1), 0);
	assert_int_equal(wal_sync(&w), 0); /* hands over what is staged, then syncs */
	for (int i = 0; i < 2; i++)
		assert_int_equal(wal_stage(&w, &b, 1), 0);
	size_t big_len = WAL_WRITE_BUFFER_BYTES + 10; /* overflows the buffer on its own */
	uint8_t *big = malloc(big_len);
	rec_fill(big, big_len, 2);
	struct bytes bb = bytes_make(big, big_len);
	assert_int_equal(wal_stage(&w, &bb, 1), 0);
	assert_true(file_size(fs, "s.wal") > WAL_FILE_HEADER_BYTES + 4 * (H + sizeof(rec)));
	assert_int_equal(wal_close(&w), 0); /* the staged tail too */
	struct got *g = calloc(1, sizeof(*g));
	struct wal_recover_result res;
	assert_int_equal(recover(fs, "s.wal", false, false, g, &res), 0);
	assert_int_equal(g->count, 7);
	assert_int_equal(g->lens[6], big_len);
	assert_true(g->hashes[6] == hash_bytes(big, big_len));
	assert_true(g->hashes[5] == hash_bytes(rec, sizeof(rec)));
	free(g);
	free(big);
	env_fs_mem_deinit(&mem);
}

static void test_wal_record_limit_exact_and_one_past(void **state)
{
	(void)state;
	struct env_fs_mem mem;
	env_fs_mem_init(&mem, 12);
	struct env_fs *fs = &mem.base;
	struct wal w;
	struct log_model *m = calloc(1, sizeof(*m));
	struct got *g = calloc(1, sizeof(*g));
	struct wal_options o = {.log_number = 1, .salt = 5, .record_bytes_max = 3 * B};
	assert_int_equal(wal_open(&w, fs, "x.wal", &o), 0);
	assert_int_equal(append_one(&w, m, 3 * B), 0);
	assert_int_equal(append_one(&w, m, 3 * B + 1), ERR_LIMIT);
	assert_int_equal(wal_failed(&w), 0); /* refused, not failed */
	assert_int_equal(append_one(&w, m, 10), 0);
	assert_int_equal(wal_sync(&w), 0);
	wal_close(&w);
	struct wal_recover_result res;
	struct wal_recover_options ro = {.record_bytes_max = 3 * B};
	assert_int_equal(wal_recover(fs, "x.wal", &ro, collect, g, &res), 0);
	assert_int_equal(g->count, 2);
	assert_prefix(g, m);
	/* A reader with a lower limit refuses the record, before growing. */
	g->count = 0;
	ro.record_bytes_max = 3 * B - 1;
	assert_int_equal(wal_recover(fs, "x.wal", &ro, collect, g, &res), ERR_LIMIT);
	assert_int_equal(res.error_offset, WAL_FILE_HEADER_BYTES);
	assert_int_equal(g->count, 0);
	o.record_bytes_max = WAL_RECORD_BYTES_MAX + 1;
	assert_int_equal(wal_open(&w, fs, "y.wal", &o), ERR_INVALID);
	free(m);
	free(g);
	env_fs_mem_deinit(&mem);
}

/* ---- Torn tails ------------------------------------------------------ */

/* Writes records of the given lengths, then for each cut point of the last
 * record (every byte within stride 1 of a fragment boundary, else every
 * stride-th) recovers a copy cut there. */
static void torn_tail_walk(const size_t *lens, size_t n, size_t stride)
{
	struct env_fs_mem mem;
	env_fs_mem_init(&mem, 13);
	struct env_fs *fs = &mem.base;
	struct wal w;
	struct log_model *m = calloc(1, sizeof(*m));
	struct got *g = calloc(1, sizeof(*g));
	open_log(&w, fs, "x.wal", 99);
	for (size_t i = 0; i < n; i++)
		assert_int_equal(append_one(&w, m, lens[i]), 0);
	assert_int_equal(wal_sync(&w), 0);
	wal_close(&w);
	struct wal_recover_result res;
	assert_int_equal(recover(fs, "x.wal", false, false, g, &res), 0);
	uint64_t last = g->offsets[n - 1];
	size_t len;
	uint8_t *bytes = slurp(fs, "x.wal", &len);
	for (uint64_t cut = last; cut <= len; cut++) {
		bool near = cut % B < 2 * H || B - cut % B < 2 * H || len - cut < 2 * H;
		if (!near && cut % stride != 0 && cut != last)
			continue;
		spit(fs, "cut.wal", bytes, cut);
		int rc = recover(fs, "cut.wal", false, true, g, &res);
		if (rc != 0 || g->count != (cut == len ? n : n - 1))
			fail_msg("cut at %llu: rc %d, %zu records", (unsigned long long)cut, rc,
			         g->count);
		assert_prefix(g, m);
		assert_int_equal(res.dropped_bytes, cut == len ? 0 : cut - last);
		/* The tail was cut off: a second recovery finds a clean log. */
		assert_int_equal(recover(fs, "cut.wal", false, true, g, &res), 0);
		assert_int_equal(res.dropped_bytes, 0);
		assert_int_equal(res.valid_bytes, cut == len ? len : last);
	}
	free(bytes);
	free(m);
	free(g);
	env_fs_mem_deinit(&mem);
}

static void test_wal_replay_stops_at_torn_record(void **state)
{
	(void)state;
	/* A small last record across the block 0/1 boundary: every byte. */
	size_t small[] = {100, B - WAL_FILE_HEADER_BYTES - 2 * H - 100 - 150, 300};
	torn_tail_walk(small, 3, 1);
	/* A last record of many blocks, every 61st byte plus every boundary. */
	size_t big[] = {10, 20, 4 * B + 333};
	torn_tail_walk(big, 3, 61);
	/* An empty last record. */
	size_t empty[] = {10, 0};
	torn_tail_walk(empty, 2, 1);
}

static void test_wal_torn_or_empty_header_is_an_empty_log(void **state)
{
	(void)state;
	struct env_fs_mem mem;
	env_fs_mem_init(&mem, 14);
	struct env_fs *fs = &mem.base;
	struct got *g = calloc(1, sizeof(*g));
	struct wal_recover_result res;
	uint8_t zeros[100] = {0};
	spit(fs, "a.wal", zeros, 0);
	assert_int_equal(recover(fs, "a.wal", false, true, g, &res), 0);
	assert_true(res.header_torn);
	spit(fs, "a.wal", zeros, 100);
	assert_int_equal(recover(fs, "a.wal", false, true, g, &res), 0);
	assert_true(res.header_torn);
	assert_int_equal(res.dropped_bytes, 100);
	spit(fs, "a.wal", (const uint8_t *)"not a wal file at all, no: a text file....", 42);
	assert_int_equal(recover(fs, "a.wal", false, true, g, &res), ERR_CORRUPT);
	assert_string_equal(res.error_reason, "bad magic number");
	assert_int_equal(recover(fs, "none.wal", false, true, g, &res), ERR_NOT_FOUND);
	free(g);
	env_fs_mem_deinit(&mem);
}

/* ---- Crashes --------------------------------------------------------- */

/* One run of the crash workload: batches of random records, each synced
 * (fsync-always), until sync point `stop`; then `extra` unsynced batches
 * and a power cut. Returns the number of acknowledged records. */
static size_t crash_run(struct env_fs_mem *mem, struct log_model *m, uint64_t seed, int stop,
                        int extra, enum env_fs_mem_crash_mode mode)
{
	struct wal w;
	open_log(&w, &mem->base, "x.wal", seed);
	uint64_t s = seed;
	size_t acked = 0;
	for (int i = 0; i < stop + extra; i++) {
		size_t lens[3] = {rnd_len(&s), rnd_len(&s), rnd_len(&s)};
		assert_int_equal(append_batch(&w, m, lens, 1 + rnd(&s) % 3), 0);
		if (i < stop) {
			assert_int_equal(wal_sync(&w), 0);
			acked = m->count;
		}
	}
	env_fs_mem_crash(mem, mode);
	wal_close(&w);
	return acked;
}

static void test_wal_crash_at_every_sync_point_keeps_acked_records(void **state)
{
	(void)state;
	struct log_model *m = calloc(1, sizeof(*m));
	struct got *g = calloc(1, sizeof(*g));
	const int points = 40;
	for (int stop = 0; stop <= points; stop++) {
		for (int variant = 0; variant < 4; variant++) {
			uint64_t seed = 1000 + (uint64_t)stop * 4 + (uint64_t)variant;
			struct env_fs_mem mem;
			env_fs_mem_init(&mem, seed);
			m->count = 0;
			int extra = variant == 0 ? 0 : (int)(seed % 3) + 1;
			enum env_fs_mem_crash_mode mode =
			    variant < 2 ? ENV_FS_MEM_CRASH_DROP : ENV_FS_MEM_CRASH_TORN;
			size_t acked = crash_run(&mem, m, seed, stop, extra, mode);
			struct wal_recover_result res;
			int rc = recover(&mem.base, "x.wal", false, true, g, &res);
			if (rc != 0 || g->count < acked)
				fail_msg("seed %llu stop %d: rc %d (%s), %zu of %zu acked",
				         (unsigned long long)seed, stop, rc,
				         res.error_reason ? res.error_reason : "-", g->count,
				         acked);
			assert_prefix(g, m);
			if (mode == ENV_FS_MEM_CRASH_DROP)
				assert_int_equal(g->count, acked);
			env_fs_mem_deinit(&mem);
		}
	}
	free(m);
	free(g);
}

/* ---- Corruption ------------------------------------------------------ */

/* A synced log of n records of 1..700 bytes, one fragment each. */
static void write_small_records(struct env_fs *fs, struct log_model *m, size_t n, uint64_t seed)
{
	struct wal w;
	open_log(&w, fs, "x.wal", seed);
	uint64_t s = seed;
	for (size_t i = 0; i < n; i++)
		assert_int_equal(append_one(&w, m, 1 + rnd(&s) % 700), 0);
	assert_int_equal(wal_sync(&w), 0);
	wal_close(&w);
}

static void test_wal_bit_flip_in_the_middle_is_corruption_at_its_offset(void **state)
{
	(void)state;
	struct env_fs_mem mem;
	env_fs_mem_init(&mem, 15);
	struct env_fs *fs = &mem.base;
	struct log_model *m = calloc(1, sizeof(*m));
	struct got *g = calloc(1, sizeof(*g));
	struct got *clean = calloc(1, sizeof(*clean));
	write_small_records(fs, m, 300, 15);
	struct wal_recover_result res;
	assert_int_equal(recover(fs, "x.wal", false, false, clean, &res), 0);
	assert_int_equal(clean->count, 300);
	uint64_t s = 15;
	for (int trial = 0; trial < 200; trial++) {
		size_t j = (size_t)(rnd(&s) % 295); /* valid records follow */
		/* A record crossing a block boundary is two fragments; the
		 * damaged one is reported. Trailer bytes are not flipped. */
		uint64_t lo = clean->offsets[j], block_end = lo - lo % B + B;
		bool split = lo + H + m->lens[j] > block_end;
		uint64_t hi = lo + H + m->lens[j] + (split ? H : 0), bit;
		assert_int_equal(env_fs_mem_flip_random(&mem, "x.wal", lo, hi, &bit), 0);
		uint64_t want = split && bit / 8 >= block_end ? block_end : lo;
		int rc = recover(fs, "x.wal", false, false, g, &res);
		if (rc != ERR_CORRUPT || res.error_offset != want || g->count != j)
			fail_msg(
			    "flip of bit %llu in record %zu at %llu: rc %d at %llu, %zu records",
			    (unsigned long long)bit, j, (unsigned long long)lo, rc,
			    (unsigned long long)res.error_offset, g->count);
		assert_prefix(g, m);
		assert_int_equal(env_fs_mem_flip_bit(&mem, "x.wal", bit), 0); /* repair */
	}
	/* A flip in the header. */
	assert_int_equal(env_fs_mem_flip_bit(&mem, "x.wal", 8 * 20), 0);
	assert_int_equal(recover(fs, "x.wal", false, false, g, &res), ERR_CORRUPT);
	assert_int_equal(res.error_offset, 0);
	assert_int_equal(env_fs_mem_flip_bit(&mem, "x.wal", 8 * 20), 0);
	/* A flip in the last record cannot be told from a torn write. */
	assert_int_equal(env_fs_mem_flip_bit(&mem, "x.wal", 8 * (clean->offsets[299] + 3)), 0);
	assert_int_equal(recover(fs, "x.wal", false, false, g, &res), 0);
	assert_int_equal(g->count, 299);
	assert_true(res.dropped_bytes > 0);
	free(m);
	free(g);
	free(clean);
	env_fs_mem_deinit(&mem);
}

static void test_wal_salvage_skips_a_corrupt_block(void **state)
{
	(void)state;
	struct env_fs_mem mem;
	env_fs_mem_init(&mem, 16);
	struct env_fs *fs = &mem.base;
	struct log_model *m = calloc(1, sizeof(*m));
	struct got *g = calloc(1, sizeof(*g));
	struct wal w;
	open_log(&w, fs, "x.wal", 16);
	for (int i = 0; i < 100; i++)
		assert_int_equal(append_one(&w, m, 500), 0);
	assert_int_equal(append_one(&w, m, 3 * B), 0); /* record 100 */
	for (int i = 0; i < 100; i++)
		assert_int_equal(append_one(&w, m, 500), 0);
	assert_int_equal(wal_sync(&w), 0);
	wal_close(&w);
	struct wal_recover_result res;
	assert_int_equal(recover(fs, "x.wal", false, false, g, &res), 0);
	uint64_t off50 = g->offsets[50], off100 = g->offsets[100];
	/* Zero the length and type of record 50 (a damaged header). */
	assert_int_equal(env_fs_mem_flip_bit(&mem, "x.wal", 8 * (off50 + 10)), 0);
	assert_int_equal(recover(fs, "x.wal", false, false, g, &res), ERR_CORRUPT);
	assert_int_equal(res.error_offset, off50);
	assert_int_equal(recover(fs, "x.wal", true, false, g, &res), 0);
	assert_int_equal(res.skipped_regions, 1);
	assert_int_equal(g->count, 200); /* only record 50 lost */
	assert_int_equal(g->hashes[50], m->hashes[51]);
	/* Damage the middle fragment of the 3-block record too: it is lost
	 * whole, and what follows it survives. */
	assert_int_equal(env_fs_mem_flip_bit(&mem, "x.wal", 8 * (off100 + B + 100)), 0);
	assert_int_equal(recover(fs, "x.wal", true, false, g, &res), 0);
	assert_int_equal(res.skipped_regions, 2);
	assert_int_equal(g->count, 199);
	assert_int_equal(g->hashes[99], m->hashes[101]);
	assert_int_equal(g->hashes[198], m->hashes[200]);
	free(m);
	free(g);
	env_fs_mem_deinit(&mem);
}

static void test_wal_stale_bytes_of_another_log_never_verify(void **state)
{
	(void)state;
	struct env_fs_mem mem;
	env_fs_mem_init(&mem, 17);
	struct env_fs *fs = &mem.base;
	struct log_model *ma = calloc(1, sizeof(*ma)), *mb = calloc(1, sizeof(*mb));
	struct got *g = calloc(1, sizeof(*g));
	struct wal w;
	open_log(&w, fs, "a.wal", 1);
	for (int i = 0; i < 400; i++)
		assert_int_equal(append_one(&w, ma, 300), 0);
	assert_int_equal(wal_sync(&w), 0);
	wal_close(&w);
	open_log(&w, fs, "b.wal", 2);
	for (int i = 0; i < 10; i++)
		assert_int_equal(append_one(&w, mb, 1000), 0);
	assert_int_equal(wal_sync(&w), 0);
	wal_close(&w);
	/* A recycled file: log b written over the start of log a. */
	size_t la, lb;
	uint8_t *a = slurp(fs, "a.wal", &la), *b = slurp(fs, "b.wal", &lb);
	memcpy(a, b, lb);
	spit(fs, "c.wal", a, la);
	struct wal_recover_result res;
	assert_int_equal(recover(fs, "c.wal", false, false, g, &res), 0);
	assert_int_equal(g->count, 10);
	assert_prefix(g, mb);
	assert_int_equal(res.dropped_bytes, la - lb);
	free(a);
	free(b);
	free(ma);
	free(mb);
	free(g);
	env_fs_mem_deinit(&mem);
}

/* ---- Failures of the writer ------------------------------------------ */

static void test_wal_failed_fsync_refuses_further_appends(void **state)
{
	(void)state;
	struct env_fs_mem mem;
	env_fs_mem_init(&mem, 18);
	struct env_fs *fs = &mem.base;
	struct log_model *m = calloc(1, sizeof(*m));
	struct got *g = calloc(1, sizeof(*g));
	struct wal w;
	open_log(&w, fs, "x.wal", 18);
	assert_int_equal(append_one(&w, m, 100), 0);
	assert_int_equal(wal_sync(&w), 0);
	struct env_fs_mem_fault f = {.op = ENV_FS_OP_SYNC, .nth = 1, .err = ERR_IO};
	env_fs_mem_inject(&mem, &f);
	assert_int_equal(append_one(&w, m, 100), 0);
	assert_int_equal(wal_sync(&w), ERR_IO);
	uint64_t syncs = env_fs_mem_calls(&mem, ENV_FS_OP_SYNC);
	uint64_t appends = env_fs_mem_calls(&mem, ENV_FS_OP_APPEND);
	/* The env would succeed now; the log must not try. */
	assert_int_equal(wal_sync(&w), ERR_IO);
	assert_int_equal(append_one(&w, m, 1), ERR_IO);
	assert_int_equal(wal_failed(&w), ERR_IO);
	assert_int_equal(env_fs_mem_calls(&mem, ENV_FS_OP_SYNC), syncs);
	assert_int_equal(env_fs_mem_calls(&mem, ENV_FS_OP_APPEND), appends);
	assert_int_equal(wal_synced_bytes(&w), WAL_FILE_HEADER_BYTES + H + 100);
	env_fs_mem_crash(&mem, ENV_FS_MEM_CRASH_DROP);
	wal_close(&w);
	struct wal_recover_result res;
	assert_int_equal(recover(fs, "x.wal", false, true, g, &res), 0);
	assert_int_equal(g->count, 1);
	free(m);
	free(g);
	env_fs_mem_deinit(&mem);
}

static void test_wal_full_disk_refuses_further_appends(void **state)
{
	(void)state;
	struct env_fs_mem mem;
	env_fs_mem_init(&mem, 19);
	struct env_fs *fs = &mem.base;
	struct log_model *m = calloc(1, sizeof(*m));
	struct got *g = calloc(1, sizeof(*g));
	env_fs_mem_set_capacity(&mem, 5 * B);
	struct wal w;
	open_log(&w, fs, "x.wal", 19);
	size_t acked = 0;
	int rc;
	while ((rc = append_one(&w, m, 3000)) == 0) {
		assert_int_equal(wal_sync(&w), 0);
		acked = m->count;
	}
	assert_int_equal(rc, ERR_NOSPACE);
	env_fs_mem_set_capacity(&mem, 0); /* space is back: still refused */
	assert_int_equal(append_one(&w, m, 1), ERR_NOSPACE);
	assert_int_equal(wal_sync(&w), ERR_NOSPACE);
	wal_close(&w);
	/* Without a crash the partial write is a torn tail. */
	struct wal_recover_result res;
	assert_int_equal(recover(fs, "x.wal", false, true, g, &res), 0);
	assert_int_equal(g->count, acked);
	assert_true(res.dropped_bytes > 0);
	assert_prefix(g, m);
	free(m);
	free(g);
	env_fs_mem_deinit(&mem);
}

static void test_wal_short_write_refuses_further_appends(void **state)
{
	(void)state;
	struct env_fs_mem mem;
	env_fs_mem_init(&mem, 20);
	struct env_fs *fs = &mem.base;
	struct log_model *m = calloc(1, sizeof(*m));
	struct got *g = calloc(1, sizeof(*g));
	for (int round = 0; round < 30; round++) {
		struct wal w;
		open_log(&w, fs, "x.wal", (uint64_t)round);
		m->count = 0;
		assert_int_equal(append_one(&w, m, 200), 0);
		assert_int_equal(wal_sync(&w), 0);
		struct env_fs_mem_fault f = {
		    .op = ENV_FS_OP_APPEND, .nth = 1, .err = ERR_IO, .partial = true};
		env_fs_mem_inject(&mem, &f);
		size_t lens[4] = {50, 2 * B, 10, 70};
		assert_int_equal(append_batch(&w, m, lens, 4), ERR_IO);
		assert_int_equal(append_one(&w, m, 5), ERR_IO);
		wal_close(&w);
		struct wal_recover_result res;
		assert_int_equal(recover(fs, "x.wal", false, true, g, &res), 0);
		assert_true(g->count >= 1);
		assert_prefix(g, m);
	}
	free(m);
	free(g);
	env_fs_mem_deinit(&mem);
}

/* ---- Fault walks ----------------------------------------------------- */

/* Open, append and sync batch A, append and sync batch B, with the nth env
 * call failing. Then checks the writer's state and what recovery finds,
 * with and without a power cut. Returns true when the fault never fired. */
static bool fault_walk_step(uint64_t n, int err, bool partial)
{
	struct env_fs_mem mem;
	env_fs_mem_init(&mem, 21 + n);
	struct env_fs *fs = &mem.base;
	struct log_model *m = calloc(1, sizeof(*m));
	struct got *g = calloc(1, sizeof(*g));
	struct env_fs_mem_fault f = {.op = ENV_FS_OP_ANY, .nth = n, .err = err, .partial = partial};
	env_fs_mem_inject(&mem, &f);
	struct wal w;
	struct wal_options o = {.log_number = 3, .salt = 21};
	size_t acked = 0;
	int rc = wal_open(&w, fs, "x.wal", &o);
	bool opened = rc == 0;
	size_t a[3] = {10, B + 5, 0}, b[2] = {300, 7};
	if (rc == 0 && (rc = append_batch(&w, m, a, 3)) == 0 && (rc = wal_sync(&w)) == 0)
		acked = m->count;
	if (rc == 0 && (rc = append_batch(&w, m, b, 2)) == 0 && (rc = wal_sync(&w)) == 0)
		acked = m->count;
	if (opened && rc != 0) {
		/* A failed fsync is ERR_IO even when the env said ERR_NOSPACE. */
		assert_true(rc == err || (err == ERR_NOSPACE && rc == ERR_IO));
		assert_int_equal(wal_failed(&w), rc);
		assert_int_equal(append_one(&w, m, 1), rc); /* refused from now on */
		assert_int_equal(wal_sync(&w), rc);
	}
	if (opened)
		wal_close(&w);
	bool clean = mem.fault_seen < n; /* the nth call never came */
	struct env_fs_mem_fault none = {0};
	env_fs_mem_inject(&mem, &none);
	/* Now: whatever was written is a prefix of the model. Without
	 * truncation, so that recovery syncs nothing: its truncate-and-sync
	 * would make a written but unacknowledged record durable. */
	struct wal_recover_result res;
	rc = recover(fs, "x.wal", false, false, g, &res);
	assert_true(rc == 0 || (rc == ERR_NOT_FOUND && !opened));
	assert_true(g->count >= acked);
	assert_prefix(g, m);
	/* After a power cut: exactly the acknowledged records. */
	env_fs_mem_crash(&mem, ENV_FS_MEM_CRASH_DROP);
	rc = recover(fs, "x.wal", false, true, g, &res);
	if (!(rc == 0 || (rc == ERR_NOT_FOUND && acked == 0)) || g->count != acked)
		fail_msg("fault at call %llu (err %d, partial %d): rc %d, %zu records, %zu acked",
		         (unsigned long long)n, err, partial, rc, g->count, acked);
	assert_prefix(g, m);
	free(m);
	free(g);
	env_fs_mem_deinit(&mem);
	return clean;
}

static void test_wal_fault_walk_append_and_sync(void **state)
{
	(void)state;
	const int errs[] = {ERR_IO, ERR_NOSPACE};
	for (int e = 0; e < 2; e++) {
		for (int partial = 0; partial < 2; partial++) {
			uint64_t n = 1;
			while (!fault_walk_step(n, errs[e], partial))
				n++;
			assert_true(n > 5); /* open+header+sync+dir, appends, syncs */
		}
	}
}

/* Recovery with the nth env call failing either succeeds with the right
 * records or returns the env's error; it never returns wrong data. */
static void test_wal_fault_walk_recovery(void **state)
{
	(void)state;
	struct env_fs_mem mem;
	env_fs_mem_init(&mem, 22);
	struct env_fs *fs = &mem.base;
	struct log_model *m = calloc(1, sizeof(*m));
	struct got *g = calloc(1, sizeof(*g));
	write_small_records(fs, m, 200, 22);
	/* A torn tail, so that the truncation path runs too. */
	struct env_file *f = NULL;
	assert_int_equal(env_fs_open(fs, "x.wal", 0, &f), 0);
	assert_int_equal(env_fs_append(fs, f, "\x01\x02\x03", 3), 0);
	env_fs_close(fs, f);
	for (uint64_t n = 1;; n++) {
		struct env_fs_mem_fault fault = {.op = ENV_FS_OP_ANY, .nth = n, .err = ERR_IO};
		env_fs_mem_inject(&mem, &fault);
		struct wal_recover_result res;
		int rc = recover(fs, "x.wal", false, true, g, &res);
		assert_true(rc == 0 || rc == ERR_IO);
		assert_prefix(g, m);
		if (mem.fault_seen < n) {
			assert_int_equal(rc, 0);
			assert_int_equal(g->count, 200);
			break;
		}
	}
	free(m);
	free(g);
	env_fs_mem_deinit(&mem);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_wal_round_trips_every_size_class),
	    cmocka_unit_test(test_wal_record_limit_exact_and_one_past),
	    cmocka_unit_test(test_wal_staged_records_reach_the_file_on_flush_sync_or_close),
	    cmocka_unit_test(test_wal_replay_stops_at_torn_record),
	    cmocka_unit_test(test_wal_torn_or_empty_header_is_an_empty_log),
	    cmocka_unit_test(test_wal_crash_at_every_sync_point_keeps_acked_records),
	    cmocka_unit_test(test_wal_bit_flip_in_the_middle_is_corruption_at_its_offset),
	    cmocka_unit_test(test_wal_salvage_skips_a_corrupt_block),
	    cmocka_unit_test(test_wal_stale_bytes_of_another_log_never_verify),
	    cmocka_unit_test(test_wal_failed_fsync_refuses_further_appends),
	    cmocka_unit_test(test_wal_full_disk_refuses_further_appends),
	    cmocka_unit_test(test_wal_short_write_refuses_further_appends),
	    cmocka_unit_test(test_wal_fault_walk_append_and_sync),
	    cmocka_unit_test(test_wal_fault_walk_recovery),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
