/*
 * sst_test.c - SSTables (engine/sst.h) over env_fs_mem: round trips against
 * a reference model with every compression type, corruption of every
 * region giving ERR_CORRUPT and never wrong data, truncation, env faults
 * during a build, limits, and the block cache under the reader.
 *
 * The model is the sorted array of entries handed to the builder; a get as
 * of seq s is answered by scanning the versions of one user key, a seek by
 * binary search. Every test is seeded; env_fs_mem_deinit asserts that no
 * file handle leaked and ASan checks memory.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/le.h"
#include "base/err.h"
#include "base/limits.h"
#include "engine/sst.h"
#include "env/env_fs_mem.h"

/* ---- The reference model --------------------------------------------- */

struct ent {
	uint8_t *ikey;
	size_t klen;
	uint8_t *val;
	size_t vlen;
};

struct model {
	struct ent *e;
	size_t n;
	size_t *ustart; /* first entry of each user key */
	size_t nu;
};

static int ent_cmp(const void *a, const void *b)
{
	const struct ent *x = a, *y = b;
	return ikey_cmp(bytes_make(x->ikey, x->klen), bytes_make(y->ikey, y->klen));
}

static struct bytes ekey(const struct ent *e)
{
	return bytes_make(e->ikey, e->klen);
}

static struct bytes euser(const struct ent *e)
{
	return bytes_make(e->ikey, e->klen - IKEY_TRAILER_BYTES);
}

/* Seven prefixes, none a prefix of another, so keys share prefixes in
 * runs; then the 4-byte big-endian index (unique keys) and a binary tail
 * of 0-12 bytes. Values: compressible text with some random bytes, from
 * empty to 6 KiB (past a block). */
static void model_make(struct model *m, size_t users, uint64_t seed)
{
	static const char *prefix[7] = {
	    "", "a", "user:", "user;1234567890/", "\x00\x01", "\xff\xfe\xfd", "zz"};
	struct env_rng rng;
	env_rng_seed(&rng, seed);
	memset(m, 0, sizeof(*m));
	m->e = calloc(users * 3 + 1, sizeof(*m->e));
	assert_non_null(m->e);
	for (size_t u = 0; u < users; u++) {
		const char *p = prefix[u % 7];
		size_t plen = u % 7 == 4 ? 2 : strlen(p);
		size_t tail = env_rng_next(&rng) % 13;
		uint8_t uk[64];
		memcpy(uk, p, plen);
		for (int i = 0; i < 4; i++)
			uk[plen + i] = (uint8_t)(u >> (24 - 8 * i));
		for (size_t i = 0; i < tail; i++)
			uk[plen + 4 + i] = (uint8_t)env_rng_next(&rng);
		size_t uklen = plen + 4 + tail;
		size_t versions = 1 + env_rng_next(&rng) % 3;
		uint64_t seq = 1 + env_rng_next(&rng) % 1000;
		for (size_t v = 0; v < versions; v++) {
			struct ent *e = &m->e[m->n++];
			uint64_t r = env_rng_next(&rng);
			enum ikey_kind kind = r % 5 == 0 ? IKEY_KIND_DELETE
			    : r % 7 == 0                 ? IKEY_KIND_BLOB
			                                 : IKEY_KIND_PUT;
			e->klen = uklen + IKEY_TRAILER_BYTES;
			e->ikey = malloc(e->klen);
			assert_non_null(e->ikey);
			ikey_encode(e->ikey, bytes_make(uk, uklen), seq, kind);
			seq += 1 + env_rng_next(&rng) % 100;
			e->vlen = kind == IKEY_KIND_DELETE ? 0 : r % 97 == 0 ? 6000 : r % 120;
			e->val = malloc(e->vlen + 1);
			assert_non_null(e->val);
			for (size_t i = 0; i < e->vlen; i++)
				e->val[i] = i % 5 == 4 ? (uint8_t)env_rng_next(&rng)
				                       : (uint8_t)('a' + i % 3);
		}
	}
	qsort(m->e, m->n, sizeof(*m->e), ent_cmp);
	m->ustart = malloc((m->n + 1) * sizeof(*m->ustart));
	assert_non_null(m->ustart);
	for (size_t i = 0; i < m->n; i++)
		if (i == 0 || !bytes_eq(euser(&m->e[i]), euser(&m->e[i - 1])))
			m->ustart[m->nu++] = i;
	m->ustart[m->nu] = m->n;
}

static void model_free(struct model *m)
{
	for (size_t i = 0; i < m->n; i++) {
		free(m->e[i].ikey);
		free(m->e[i].val);
	}
	free(m->e);
	free(m->ustart);
}

/* The first entry >= target, or m->n. */
static size_t model_lower_bound(const struct model *m, struct bytes target)
{
	size_t lo = 0, hi = m->n;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (ikey_cmp(ekey(&m->e[mid]), target) < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

/* ---- Building and reading -------------------------------------------- */

static int build(struct env_fs_mem *fs, const char *path, const struct model *m,
                 enum sst_compression comp, uint32_t block_bytes)
{
	struct sst_options opt = {.seed = 0x5eed, .block_bytes = block_bytes, .compression = comp};
	struct sst_builder *b;
	int rc = sst_builder_init(&b, &fs->base, path, &opt);
	if (rc)
		return rc;
	for (size_t i = 0; i < m->n; i++) {
		rc = sst_builder_add(b, ekey(&m->e[i]), bytes_make(m->e[i].val, m->e[i].vlen));
		if (rc) {
			sst_builder_abandon(b);
			return rc;
		}
	}
	return sst_builder_finish(b, NULL);
}

/* Checks one get against the model: equal, or (when allow_corrupt) an
 * ERR_CORRUPT; never a different answer. Returns the get's rc. */
static int check_get(struct sst_reader *r, const struct model *m, size_t u, uint64_t as_of,
                     bool allow_corrupt)
{
	struct bytes uk = euser(&m->e[m->ustart[u]]);
	const struct ent *want = NULL;
	for (size_t i = m->ustart[u]; i < m->ustart[u + 1]; i++) {
		struct bytes k;
		uint64_t seq = 0;
		enum ikey_kind kind = IKEY_KIND_PUT;
		ikey_decode(ekey(&m->e[i]), &k, &seq, &kind);
		if (seq <= as_of) {
			want = &m->e[i];
			break;
		}
	}
	struct sst_get_result res;
	struct buf v;
	buf_init(&v);
	int rc = sst_get(r, uk, as_of, &res, &v);
	if (rc) {
		assert_true(allow_corrupt);
		assert_int_equal(rc, ERR_CORRUPT);
		buf_deinit(&v);
		return rc;
	}
	if (!want) {
		assert_int_equal(res.status, SST_GET_NOT_FOUND);
	} else {
		struct bytes k;
		uint64_t seq = 0;
		enum ikey_kind kind = IKEY_KIND_PUT;
		ikey_decode(ekey(want), &k, &seq, &kind);
		assert_int_equal(res.seq, seq);
		assert_int_equal(res.kind, kind);
		if (kind == IKEY_KIND_DELETE) {
			assert_int_equal(res.status, SST_GET_DELETED);
		} else {
			assert_int_equal(res.status, SST_GET_VALUE);
			assert_true(
			    bytes_eq(bytes_make(v.data, v.len), bytes_make(want->val, want->vlen)));
		}
	}
	buf_deinit(&v);
	return 0;
}

static void check_all_gets(struct sst_reader *r, const struct model *m)
{
	for (size_t u = 0; u < m->nu; u++) {
		struct bytes k;
		uint64_t newest = 0, oldest = 0;
		enum ikey_kind kind = IKEY_KIND_PUT;
		ikey_decode(ekey(&m->e[m->ustart[u]]), &k, &newest, &kind);
		ikey_decode(ekey(&m->e[m->ustart[u + 1] - 1]), &k, &oldest, &kind);
		check_get(r, m, u, IKEY_SEQ_MAX, false);
		check_get(r, m, u, oldest - 1, false); /* before any version */
		check_get(r, m, u, oldest + (newest - oldest) / 2, false);
	}
}

static void check_absent(struct sst_reader *r, uint64_t seed, size_t count)
{
	struct env_rng rng;
	env_rng_seed(&rng, seed);
	for (size_t i = 0; i < count; i++) {
		/* "~" sorts after every prefix and no model key starts with it;
		 * "user:" with a 3-byte index falls between model keys. */
		uint8_t k[16];
		uint64_t x = env_rng_next(&rng);
		size_t n = i % 2 ? 9 : 8;
		memcpy(k, i % 2 ? "~absent!" : "user:", i % 2 ? 8 : 5);
		memcpy(k + n - 3, &x, 3);
		struct sst_get_result res;
		struct buf v;
		buf_init(&v);
		assert_int_equal(sst_get(r, bytes_make(k, n), IKEY_SEQ_MAX, &res, &v), 0);
		assert_int_equal(res.status, SST_GET_NOT_FOUND);
		buf_deinit(&v);
	}
}

/* Walks the whole table and seeks to many targets, against the model. */
static void check_iter(struct sst_reader *r, const struct model *m, uint64_t seed)
{
	struct sst_iter *it;
	assert_int_equal(sst_iter_create(r, &it), 0);
	size_t i = 0;
	for (sst_iter_seek_to_first(it); sst_iter_valid(it); sst_iter_next(it), i++) {
		assert_true(i < m->n);
		assert_true(bytes_eq(sst_iter_key(it), ekey(&m->e[i])));
		assert_true(bytes_eq(sst_iter_value(it), bytes_make(m->e[i].val, m->e[i].vlen)));
	}
	assert_int_equal(sst_iter_status(it), 0);
	assert_int_equal(i, m->n);
	struct env_rng rng;
	env_rng_seed(&rng, seed);
	size_t seeks = m->n < 2000 ? m->n + 1 : 2000;
	for (size_t s = 0; s < seeks; s++) {
		size_t j = m->n ? env_rng_next(&rng) % m->n : 0;
		uint8_t t[128];
		struct bytes target;
		if (m->n == 0 || s % 3 == 0) { /* a seek key of some user key */
			struct bytes uk = m->n ? euser(&m->e[j]) : bytes_make("q", 1);
			uint64_t seq = env_rng_next(&rng) % 1200;
			target = bytes_make(t, ikey_encode(t, uk, seq, IKEY_KIND_SEEK));
		} else if (s % 3 == 1) { /* an existing key */
			target = ekey(&m->e[j]);
		} else { /* between keys: a key with one byte appended */
			struct bytes uk = euser(&m->e[j]);
			memcpy(t, uk.ptr, uk.len);
			t[uk.len] = 0;
			target = bytes_make(
			    t, ikey_encode(t, bytes_make(t, uk.len + 1), 5, IKEY_KIND_PUT));
		}
		size_t want = model_lower_bound(m, target);
		sst_iter_seek(it, target);
		assert_int_equal(sst_iter_status(it), 0);
		if (want == m->n) {
			assert_false(sst_iter_valid(it));
			continue;
		}
		assert_true(sst_iter_valid(it));
		assert_true(bytes_eq(sst_iter_key(it), ekey(&m->e[want])));
		sst_iter_next(it);
		if (want + 1 < m->n)
			assert_true(bytes_eq(sst_iter_key(it), ekey(&m->e[want + 1])));
		else
			assert_false(sst_iter_valid(it));
	}
	sst_iter_destroy(it);
}

static void check_props(struct sst_reader *r, const struct model *m)
{
	const struct sst_props *p = sst_props(r);
	assert_int_equal(p->entry_count, m->n);
	uint64_t tomb = 0, lo = UINT64_MAX, hi = 0;
	for (size_t i = 0; i < m->n; i++) {
		struct bytes k;
		uint64_t seq = 0;
		enum ikey_kind kind = IKEY_KIND_PUT;
		ikey_decode(ekey(&m->e[i]), &k, &seq, &kind);
		tomb += kind == IKEY_KIND_DELETE;
		lo = seq < lo ? seq : lo;
		hi = seq > hi ? seq : hi;
	}
	assert_int_equal(p->tombstone_count, tomb);
	if (m->n) {
		assert_int_equal(p->min_seq, lo);
		assert_int_equal(p->max_seq, hi);
		assert_true(bytes_eq(p->smallest, ekey(&m->e[0])));
		assert_true(bytes_eq(p->largest, ekey(&m->e[m->n - 1])));
	} else {
		assert_int_equal(p->smallest.len, 0);
	}
	assert_int_equal(p->format_version, SST_FORMAT_VERSION);
}

static uint64_t file_size(struct env_fs_mem *fs, const char *path)
{
	struct env_file *f;
	uint64_t n;
	assert_int_equal(env_fs_open(&fs->base, path, 0, &f), 0);
	assert_int_equal(env_fs_size(&fs->base, f, &n), 0);
	env_fs_close(&fs->base, f);
	return n;
}

/* Builds, opens (with a cache when asked) and checks everything. */
static uint64_t round_trip(size_t users, enum sst_compression comp, struct cache *cache,
                           uint64_t seed)
{
	struct env_fs_mem fs;
	env_fs_mem_init(&fs, seed);
	struct model m;
	model_make(&m, users, seed);
	assert_int_equal(build(&fs, "t.sst", &m, comp, 0), 0);
	struct sst_read_options ro = {.cache = cache, .file_number = seed};
	struct sst_reader *r;
	const char *why = NULL;
	assert_int_equal(sst_open(&r, &fs.base, "t.sst", &ro, &why), 0);
	check_props(r, &m);
	check_all_gets(r, &m);
	check_absent(r, seed + 1, users < 1000 ? 1000 : users);
	check_iter(r, &m, seed + 2);
	struct sst_check_result cr;
	assert_int_equal(sst_check(r, &cr), 0);
	assert_int_equal(cr.blocks_checked, sst_props(r)->data_block_count + 3);
	sst_close(r);
	uint64_t size = file_size(&fs, "t.sst");
	model_free(&m);
	env_fs_mem_deinit(&fs);
	return size;
}

/* ---- Round trips ----------------------------------------------------- */

static void test_sst_empty_table_finds_nothing(void **state)
{
	(void)state;
	for (int c = 0; c <= SST_COMPRESSION_ZSTD; c++)
		round_trip(0, (enum sst_compression)c, NULL, 11);
}

static void test_sst_one_key_tables_round_trip(void **state)
{
	(void)state;
	for (uint64_t seed = 1; seed <= 20; seed++)
		round_trip(1, (enum sst_compression)(seed % 3), NULL, seed);
}

/* About 50k user keys, 100k entries. */
#define BIG_USERS 50000

static void test_sst_100k_entries_round_trip_uncompressed(void **state)
{
	(void)state;
	uint64_t size = round_trip(BIG_USERS, SST_COMPRESSION_NONE, NULL, 21);
	printf("uncompressed: %llu bytes\n", (unsigned long long)size);
}

static void test_sst_100k_entries_round_trip_lz4(void **state)
{
	(void)state;
	uint64_t size = round_trip(BIG_USERS, SST_COMPRESSION_LZ4, NULL, 21);
	printf("lz4: %llu bytes\n", (unsigned long long)size);
}

static void test_sst_100k_entries_round_trip_zstd_through_cache(void **state)
{
	(void)state;
	struct cache *c = cache_create(4 * MIB);
	assert_non_null(c);
	uint64_t size = round_trip(BIG_USERS, SST_COMPRESSION_ZSTD, c, 21);
	printf("zstd: %llu bytes\n", (unsigned long long)size);
	struct cache_stats st;
	cache_get_stats(c, &st);
	assert_true(st.hits > 0 && st.misses > 0 && st.usage_bytes <= 4 * MIB);
	assert_int_equal(st.entry_count, 0 + st.entry_count); /* all handles released */
	cache_destroy(c);
}

static void test_sst_compression_shrinks_compressible_tables(void **state)
{
	(void)state;
	uint64_t none = round_trip(3000, SST_COMPRESSION_NONE, NULL, 5);
	uint64_t lz4 = round_trip(3000, SST_COMPRESSION_LZ4, NULL, 5);
	uint64_t zstd = round_trip(3000, SST_COMPRESSION_ZSTD, NULL, 5);
	assert_true(lz4 < none && zstd < none);
}

/* ---- Corruption and truncation ---------------------------------------- */

struct regions {
	uint64_t size;
	uint64_t data_end; /* data blocks are [0, data_end) */
	uint64_t filter[2], meta[2], index[2], footer[2];
};

static void read_regions(struct env_fs_mem *fs, const char *path, struct regions *g)
{
	g->size = file_size(fs, path);
	uint8_t f[SST_FOOTER_BYTES];
	struct env_file *h;
	size_t got;
	assert_int_equal(env_fs_open(&fs->base, path, 0, &h), 0);
	assert_int_equal(env_fs_read_at(&fs->base, h, g->size - sizeof(f), f, sizeof(f), &got), 0);
	env_fs_close(&fs->base, h);
	uint64_t *dst[3] = {g->index, g->filter, g->meta};
	for (int i = 0; i < 3; i++) {
		dst[i][0] = le_get64(f + 16 * i);
		dst[i][1] = dst[i][0] + le_get64(f + 16 * i + 8) + SST_TRAILER_BYTES;
	}
	g->data_end = g->filter[0];
	g->footer[0] = g->size - SST_FOOTER_BYTES;
	g->footer[1] = g->size;
}

/* A flipped bit in a data block: open works (data is read on demand),
 * gets answer right or ERR_CORRUPT (some of them must), iteration ends in
 * ERR_CORRUPT after a correct prefix, and check names the block. */
static void flip_data_once(struct env_fs_mem *fs, const struct model *m, const struct regions *g)
{
	uint64_t bit;
	assert_int_equal(env_fs_mem_flip_random(fs, "t.sst", 0, g->data_end, &bit), 0);
	struct sst_reader *r;
	assert_int_equal(sst_open(&r, &fs->base, "t.sst", NULL, NULL), 0);
	size_t corrupt = 0;
	for (size_t u = 0; u < m->nu; u++)
		corrupt += check_get(r, m, u, IKEY_SEQ_MAX, true) != 0;
	assert_true(corrupt > 0);
	struct sst_iter *it;
	assert_int_equal(sst_iter_create(r, &it), 0);
	size_t i = 0;
	for (sst_iter_seek_to_first(it); sst_iter_valid(it); sst_iter_next(it), i++)
		assert_true(bytes_eq(sst_iter_key(it), ekey(&m->e[i])));
	assert_int_equal(sst_iter_status(it), ERR_CORRUPT);
	assert_true(i < m->n);
	sst_iter_destroy(it);
	struct sst_check_result cr;
	assert_int_equal(sst_check(r, &cr), ERR_CORRUPT);
	assert_true(cr.bad_offset <= bit / 8 && cr.reason != NULL);
	sst_close(r);
	assert_int_equal(env_fs_mem_flip_bit(fs, "t.sst", bit), 0); /* repair */
}

static void test_sst_bit_flip_in_data_block_is_corrupt_never_wrong_data(void **state)
{
	(void)state;
	for (int c = 0; c <= SST_COMPRESSION_ZSTD; c++) {
		struct env_fs_mem fs;
		env_fs_mem_init(&fs, 31 + (uint64_t)c);
		struct model m;
		model_make(&m, 400, 31);
		assert_int_equal(build(&fs, "t.sst", &m, (enum sst_compression)c, 0), 0);
		struct regions g;
		read_regions(&fs, "t.sst", &g);
		for (int t = 0; t < 25; t++)
			flip_data_once(&fs, &m, &g);
		model_free(&m);
		env_fs_mem_deinit(&fs);
	}
}

static void flip_region_fails_open(struct env_fs_mem *fs, const uint64_t range[2], int trials)
{
	for (int t = 0; t < trials; t++) {
		uint64_t bit;
		assert_int_equal(env_fs_mem_flip_random(fs, "t.sst", range[0], range[1], &bit), 0);
		struct sst_reader *r;
		const char *why = NULL;
		assert_int_equal(sst_open(&r, &fs->base, "t.sst", NULL, &why), ERR_CORRUPT);
		assert_non_null(why);
		assert_int_equal(env_fs_mem_flip_bit(fs, "t.sst", bit), 0);
	}
	struct sst_reader *r;
	assert_int_equal(sst_open(&r, &fs->base, "t.sst", NULL, NULL), 0); /* repaired */
	sst_close(r);
}

static void test_sst_bit_flip_in_index_filter_props_footer_fails_open(void **state)
{
	(void)state;
	struct env_fs_mem fs;
	env_fs_mem_init(&fs, 41);
	struct model m;
	model_make(&m, 400, 41);
	assert_int_equal(build(&fs, "t.sst", &m, SST_COMPRESSION_LZ4, 0), 0);
	struct regions g;
	read_regions(&fs, "t.sst", &g);
	flip_region_fails_open(&fs, g.index, 40);
	flip_region_fails_open(&fs, g.filter, 40);
	flip_region_fails_open(&fs, g.meta, 40);
	for (uint64_t bit = g.footer[0] * 8; bit < g.footer[1] * 8; bit += 3) {
		uint64_t one[2] = {bit / 8, bit / 8 + 1};
		flip_region_fails_open(&fs, one, 1);
	}
	model_free(&m);
	env_fs_mem_deinit(&fs);
}

static void test_sst_truncated_file_fails_open(void **state)
{
	(void)state;
	struct env_fs_mem fs;
	env_fs_mem_init(&fs, 51);
	struct model m;
	model_make(&m, 400, 51);
	assert_int_equal(build(&fs, "t.sst", &m, SST_COMPRESSION_NONE, 0), 0);
	uint64_t size = file_size(&fs, "t.sst");
	/* Ever shorter prefixes: each cut keeps a prefix of the previous. */
	const uint64_t cuts[] = {size - 1,
	                         size - SST_FOOTER_BYTES + 1,
	                         size - SST_FOOTER_BYTES,
	                         size / 2,
	                         SST_FOOTER_BYTES,
	                         SST_FOOTER_BYTES - 1,
	                         1,
	                         0};
	for (size_t i = 0; i < ARRAY_LEN(cuts); i++) {
		struct env_file *f;
		assert_int_equal(env_fs_open(&fs.base, "t.sst", 0, &f), 0);
		assert_int_equal(env_fs_truncate(&fs.base, f, cuts[i]), 0);
		env_fs_close(&fs.base, f);
		struct sst_reader *r;
		const char *why = NULL;
		assert_int_equal(sst_open(&r, &fs.base, "t.sst", NULL, &why), ERR_CORRUPT);
		assert_non_null(why);
	}
	model_free(&m);
	env_fs_mem_deinit(&fs);
}

/* ---- Env faults ------------------------------------------------------ */

static bool file_exists(struct env_fs_mem *fs, const char *path)
{
	struct env_file *f;
	if (env_fs_open(&fs->base, path, 0, &f))
		return false;
	env_fs_close(&fs->base, f);
	return true;
}

/* Fails env call n of a small build (ERR_IO or ERR_NOSPACE, appends short)
 * for n = 1, 2, ... until a build makes fewer calls than n. A failed build
 * returns the error, holds nothing and leaves no file. */
static void test_sst_fault_walk_over_every_env_call_of_a_build(void **state)
{
	(void)state;
	struct model m;
	model_make(&m, 300, 61);
	for (uint64_t n = 1;; n++) {
		struct env_fs_mem fs;
		env_fs_mem_init(&fs, 61 + n);
		int err = n % 2 ? ERR_IO : ERR_NOSPACE;
		struct env_fs_mem_fault f = {
		    .op = ENV_FS_OP_ANY, .nth = n, .err = err, .partial = true};
		env_fs_mem_inject(&fs, &f);
		uint64_t before = env_fs_mem_calls(&fs, ENV_FS_OP_ANY);
		/* Small blocks and zstd: many blocks, several staged appends. */
		int rc = build(&fs, "t.sst", &m, SST_COMPRESSION_NONE, 256);
		uint64_t calls = env_fs_mem_calls(&fs, ENV_FS_OP_ANY) - before;
		env_fs_mem_inject(&fs, &(struct env_fs_mem_fault){0});
		if (rc) {
			assert_int_equal(rc, err);
			assert_false(file_exists(&fs, "t.sst"));
		} else {
			assert_true(calls < n); /* the fault never fired */
			struct sst_reader *r;
			assert_int_equal(sst_open(&r, &fs.base, "t.sst", NULL, NULL), 0);
			check_all_gets(r, &m);
			sst_close(r);
		}
		env_fs_mem_deinit(&fs);
		if (!rc) {
			assert_true(n > 4);
			break;
		}
	}
	model_free(&m);
}

static void test_sst_failed_fsync_fails_finish_and_removes_file(void **state)
{
	(void)state;
	struct env_fs_mem fs;
	env_fs_mem_init(&fs, 71);
	struct model m;
	model_make(&m, 300, 71);
	env_fs_mem_inject(
	    &fs, &(struct env_fs_mem_fault){.op = ENV_FS_OP_SYNC, .nth = 1, .err = ERR_IO});
	assert_int_equal(build(&fs, "t.sst", &m, SST_COMPRESSION_LZ4, 0), ERR_IO);
	assert_false(file_exists(&fs, "t.sst"));
	assert_int_equal(env_fs_mem_calls(&fs, ENV_FS_OP_SYNC), 1); /* never retried */
	model_free(&m);
	env_fs_mem_deinit(&fs);
}

static void test_sst_full_disk_fails_build_and_frees_space(void **state)
{
	(void)state;
	struct env_fs_mem fs;
	env_fs_mem_init(&fs, 81);
	env_fs_mem_set_capacity(&fs, 8 * KIB);
	struct model m;
	model_make(&m, 3000, 81);
	assert_int_equal(build(&fs, "t.sst", &m, SST_COMPRESSION_NONE, 0), ERR_NOSPACE);
	assert_false(file_exists(&fs, "t.sst"));
	model_free(&m);
	model_make(&m, 10, 82); /* space came back: a small table fits */
	assert_int_equal(build(&fs, "t.sst", &m, SST_COMPRESSION_NONE, 0), 0);
	model_free(&m);
	env_fs_mem_deinit(&fs);
}

static void test_sst_open_fault_walk_holds_nothing(void **state)
{
	(void)state;
	struct env_fs_mem fs;
	env_fs_mem_init(&fs, 91);
	struct model m;
	model_make(&m, 300, 91);
	struct cache *c = cache_create(MIB);
	assert_int_equal(build(&fs, "t.sst", &m, SST_COMPRESSION_NONE, 0), 0);
	for (uint64_t n = 1;; n++) {
		uint64_t calls = env_fs_mem_calls(&fs, ENV_FS_OP_ANY);
		env_fs_mem_inject(
		    &fs, &(struct env_fs_mem_fault){.op = ENV_FS_OP_ANY, .nth = n, .err = ERR_IO});
		struct sst_reader *r;
		struct sst_read_options ro = {.cache = c, .file_number = n};
		int rc = sst_open(&r, &fs.base, "t.sst", &ro, NULL);
		env_fs_mem_inject(&fs, &(struct env_fs_mem_fault){0});
		if (rc) {
			assert_int_equal(rc, ERR_IO);
			continue;
		}
		sst_close(r);
		/* A failed map is no error (the reader falls back to read_at):
		 * go on until the open made fewer than n calls. */
		if (env_fs_mem_calls(&fs, ENV_FS_OP_ANY) - calls < n)
			break;
	}
	assert_int_equal(fs.open_maps, 0);
	cache_destroy(c);
	model_free(&m);
	env_fs_mem_deinit(&fs);
}

/* ---- Limits and options ---------------------------------------------- */

static void test_sst_options_at_and_past_limits(void **state)
{
	(void)state;
	struct env_fs_mem fs;
	env_fs_mem_init(&fs, 101);
	struct sst_builder *b;
	struct sst_options o = {.block_bytes = SST_BLOCK_BYTES_MIN - 1};
	assert_int_equal(sst_builder_init(&b, &fs.base, "t.sst", &o), ERR_INVALID);
	o.block_bytes = SST_BLOCK_BYTES_MAX + 1;
	assert_int_equal(sst_builder_init(&b, &fs.base, "t.sst", &o), ERR_INVALID);
	o = (struct sst_options){.bloom_bits_per_key = BLOOM_BITS_PER_KEY_MAX + 1};
	assert_int_equal(sst_builder_init(&b, &fs.base, "t.sst", &o), ERR_INVALID);
	o = (struct sst_options){.compression = 3};
	assert_int_equal(sst_builder_init(&b, &fs.base, "t.sst", &o), ERR_INVALID);
	struct model m;
	model_make(&m, 200, 101);
	assert_int_equal(build(&fs, "t.sst", &m, SST_COMPRESSION_NONE, SST_BLOCK_BYTES_MIN), 0);
	assert_int_equal(build(&fs, "t.sst", &m, SST_COMPRESSION_ZSTD, SST_BLOCK_BYTES_MAX), 0);
	struct sst_reader *r;
	assert_int_equal(sst_open(&r, &fs.base, "t.sst", NULL, NULL), 0);
	assert_int_equal(sst_props(r)->data_block_count, 1);
	check_all_gets(r, &m);
	sst_close(r);
	model_free(&m);
	o = (struct sst_options){.bloom_bits_per_key = BLOOM_BITS_PER_KEY_MAX};
	assert_int_equal(sst_builder_init(&b, &fs.base, "t.sst", &o), 0);
	sst_builder_abandon(b);
	assert_false(file_exists(&fs, "t.sst"));
	env_fs_mem_deinit(&fs);
}

/* A key of exactly KEY_BYTES_MAX is stored and found; one byte more is
 * ERR_LIMIT and leaves the builder usable. */
static void test_sst_key_at_limit_and_one_past(void **state)
{
	(void)state;
	struct env_fs_mem fs;
	env_fs_mem_init(&fs, 111);
	uint8_t *k = malloc(KEY_BYTES_MAX + 1 + IKEY_TRAILER_BYTES);
	assert_non_null(k);
	memset(k, 'k', KEY_BYTES_MAX + 1);
	struct sst_builder *b;
	struct sst_options o = {.compression = SST_COMPRESSION_LZ4};
	assert_int_equal(sst_builder_init(&b, &fs.base, "t.sst", &o), 0);
	size_t n = ikey_encode(k, bytes_make(k, KEY_BYTES_MAX + 1), 9, IKEY_KIND_PUT);
	assert_int_equal(sst_builder_add(b, bytes_make(k, n), bytes_make("\0v", 2)), ERR_LIMIT);
	n = ikey_encode(k, bytes_make(k, KEY_BYTES_MAX), 9, IKEY_KIND_PUT);
	assert_int_equal(sst_builder_add(b, bytes_make(k, n), bytes_make("\0v", 2)), 0);
	assert_int_equal(sst_builder_finish(b, NULL), 0);
	struct sst_reader *r;
	assert_int_equal(sst_open(&r, &fs.base, "t.sst", NULL, NULL), 0);
	struct sst_get_result res;
	struct buf v;
	buf_init(&v);
	assert_int_equal(sst_get(r, bytes_make(k, KEY_BYTES_MAX), 100, &res, &v), 0);
	assert_int_equal(res.status, SST_GET_VALUE);
	assert_true(bytes_eq(bytes_make(v.data, v.len), bytes_make("\0v", 2)));
	assert_int_equal(sst_get(r, bytes_make(k, KEY_BYTES_MAX + 1), 100, &res, &v), ERR_LIMIT);
	buf_deinit(&v);
	sst_close(r);
	free(k);
	env_fs_mem_deinit(&fs);
}

/* ---- Cache under the reader ------------------------------------------ */

static void test_sst_readers_share_the_block_cache(void **state)
{
	(void)state;
	struct env_fs_mem fs;
	env_fs_mem_init(&fs, 121);
	struct model m;
	model_make(&m, 2000, 121);
	assert_int_equal(build(&fs, "a.sst", &m, SST_COMPRESSION_LZ4, 0), 0);
	assert_int_equal(build(&fs, "b.sst", &m, SST_COMPRESSION_NONE, 0), 0);
	struct cache *c = cache_create(8 * MIB);
	struct sst_reader *ra, *rb;
	assert_int_equal(sst_open(&ra, &fs.base, "a.sst", &(struct sst_read_options){c, 1}, NULL),
	                 0);
	assert_int_equal(sst_open(&rb, &fs.base, "b.sst", &(struct sst_read_options){c, 2}, NULL),
	                 0);
	check_all_gets(ra, &m);
	check_all_gets(rb, &m);
	struct cache_stats s1, s2;
	cache_get_stats(c, &s1);
	uint64_t reads = env_fs_mem_calls(&fs, ENV_FS_OP_READ);
	check_all_gets(ra, &m); /* every block is cached now: no reads */
	check_iter(rb, &m, 7);
	cache_get_stats(c, &s2);
	assert_int_equal(env_fs_mem_calls(&fs, ENV_FS_OP_READ), reads);
	assert_int_equal(s2.misses, s1.misses);
	assert_true(s2.hits > s1.hits);
	sst_close(ra);
	sst_close(rb);
	cache_destroy(c);
	model_free(&m);
	env_fs_mem_deinit(&fs);
}

/* ---- Reads through a mapping ----------------------------------------- */

/* The env maps the table; every get and scan is right through the
 * mapping, each uncached block read is one counted access (a READ), and
 * a block read once is served by the cache after. An uncompressed block
 * in the cache points into the mapping and is charged only its heap
 * bytes; a compressed one is charged its decoded bytes. Closing the reader
 * erases its mapped blocks and releases the mapping. */
static void test_sst_reads_through_a_mapping(void **state)
{
	(void)state;
	for (int comp = SST_COMPRESSION_NONE; comp <= SST_COMPRESSION_LZ4; comp++) {
		struct env_fs_mem fs;
		env_fs_mem_init(&fs, 131);
		struct model m;
		model_make(&m, 3000, 131);
		assert_int_equal(build(&fs, "t.sst", &m, (enum sst_compression)comp, 0), 0);
		struct cache *c = cache_create(8 * MIB);
		struct sst_reader *r;
		assert_int_equal(
		    sst_open(&r, &fs.base, "t.sst", &(struct sst_read_options){c, 1}, NULL), 0);
		assert_int_equal(env_fs_mem_calls(&fs, ENV_FS_OP_MAP), 1);
		assert_int_equal(fs.open_maps, 1);
		uint64_t reads = env_fs_mem_calls(&fs, ENV_FS_OP_READ);
		check_all_gets(r, &m);
		check_iter(r, &m, 3);
		struct cache_stats st;
		cache_get_stats(c, &st);
		uint64_t blocks = sst_props(r)->data_block_count;
		/* One access per block read: each missed the cache once. */
		assert_int_equal(env_fs_mem_calls(&fs, ENV_FS_OP_READ) - reads, blocks);
		assert_int_equal(st.entry_count, blocks + 1); /* and the index */
		uint64_t data_bytes = sst_props(r)->data_bytes;
		if (comp == SST_COMPRESSION_NONE)
			assert_true(st.usage_bytes < data_bytes / 8); /* headers, not bytes */
		else
			assert_true(st.usage_bytes > data_bytes); /* decoded copies */
		reads = env_fs_mem_calls(&fs, ENV_FS_OP_READ);
		check_all_gets(r, &m);
		assert_int_equal(env_fs_mem_calls(&fs, ENV_FS_OP_READ), reads);
		struct sst_check_result cr;
		assert_int_equal(sst_check(r, &cr), 0);
		sst_close(r);
		cache_get_stats(c, &st);
		assert_int_equal(st.entry_count, comp == SST_COMPRESSION_NONE ? 1 : blocks + 1);
		assert_int_equal(fs.open_maps, 0);
		cache_destroy(c);
		model_free(&m);
		env_fs_mem_deinit(&fs);
	}
}

/* Two readers of one file share the cache, so one may pin a block that
 * points into the other's mapping. That mapping must outlive its reader
 * until the block is released; then it goes. */
static void test_sst_mapped_block_outlives_its_reader(void **state)
{
	(void)state;
	struct env_fs_mem fs;
	env_fs_mem_init(&fs, 141);
	struct model m;
	model_make(&m, 2000, 141);
	assert_int_equal(build(&fs, "t.sst", &m, SST_COMPRESSION_NONE, 0), 0);
	struct cache *c = cache_create(8 * MIB);
	struct sst_reader *ra, *rb;
	assert_int_equal(sst_open(&ra, &fs.base, "t.sst", &(struct sst_read_options){c, 7}, NULL),
	                 0);
	assert_int_equal(sst_open(&rb, &fs.base, "t.sst", &(struct sst_read_options){c, 7}, NULL),
	                 0);
	check_all_gets(ra, &m); /* every data block now points into ra's mapping */
	struct sst_iter *it;
	assert_int_equal(sst_iter_create(rb, &it), 0);
	sst_iter_seek_to_first(it); /* pins ra's first block */
	assert_true(sst_iter_valid(it));
	assert_int_equal(env_fs_remove(&fs.base, "t.sst"), 0);
	sst_close(ra);
	assert_int_equal(fs.open_maps, 2); /* ra's, held by the pinned block */
	size_t i = 0;
	for (; sst_iter_valid(it); sst_iter_next(it), i++) {
		assert_true(bytes_eq(sst_iter_key(it), ekey(&m.e[i])));
		assert_true(bytes_eq(sst_iter_value(it), bytes_make(m.e[i].val, m.e[i].vlen)));
	}
	assert_int_equal(sst_iter_status(it), 0);
	assert_int_equal(i, m.n);
	sst_iter_destroy(it);
	assert_int_equal(fs.open_maps, 1);
	check_all_gets(rb, &m);
	sst_close(rb);
	assert_int_equal(fs.open_maps, 0);
	cache_destroy(c);
	model_free(&m);
	env_fs_mem_deinit(&fs);
}

/* A bit flipped in a mapped data block before it is cached: the read
 * that brings it in fails its checksum (ERR_CORRUPT, never data), nothing
 * enters the cache, and after a repair the same reader reads it right. */
static void test_sst_bit_flip_in_mapped_table_is_corrupt(void **state)
{
	(void)state;
	struct env_fs_mem fs;
	env_fs_mem_init(&fs, 151);
	struct model m;
	model_make(&m, 2000, 151);
	assert_int_equal(build(&fs, "t.sst", &m, SST_COMPRESSION_NONE, 0), 0);
	struct regions g;
	read_regions(&fs, "t.sst", &g);
	struct cache *c = cache_create(8 * MIB);
	struct sst_reader *r;
	assert_int_equal(sst_open(&r, &fs.base, "t.sst", &(struct sst_read_options){c, 1}, NULL),
	                 0);
	assert_int_equal(fs.open_maps, 1);
	uint64_t bit;
	assert_int_equal(env_fs_mem_flip_random(&fs, "t.sst", 0, g.data_end, &bit), 0);
	struct cache_stats before, after;
	cache_get_stats(c, &before);
	size_t corrupt = 0;
	for (size_t u = 0; u < m.nu; u++)
		corrupt += check_get(r, &m, u, IKEY_SEQ_MAX, true) != 0;
	assert_true(corrupt > 0);
	cache_get_stats(c, &after);
	assert_int_equal(after.entry_count, before.entry_count + sst_props(r)->data_block_count - 1);
	for (size_t u = 0; u < m.nu; u++) /* still corrupt: never cached */
		corrupt -= check_get(r, &m, u, IKEY_SEQ_MAX, true) != 0;
	assert_int_equal(corrupt, 0);
	assert_int_equal(env_fs_mem_flip_bit(&fs, "t.sst", bit), 0); /* repair */
	check_all_gets(r, &m);
	sst_close(r);
	cache_destroy(c);
	model_free(&m);
	env_fs_mem_deinit(&fs);
}

/* When the env cannot map (here: a failed map), the reader reads with
 * read_at and answers the same. */
static void test_sst_failed_map_falls_back_to_reads(void **state)
{
	(void)state;
	struct env_fs_mem fs;
	env_fs_mem_init(&fs, 161);
	struct model m;
	model_make(&m, 1000, 161);
	assert_int_equal(build(&fs, "t.sst", &m, SST_COMPRESSION_NONE, 0), 0);
	env_fs_mem_inject(&fs, &(struct env_fs_mem_fault){
	                           .op = ENV_FS_OP_MAP, .nth = 1, .err = ERR_NOMEM, .sticky = true});
	struct sst_reader *r;
	assert_int_equal(sst_open(&r, &fs.base, "t.sst", NULL, NULL), 0);
	assert_int_equal(fs.open_maps, 0);
	check_all_gets(r, &m);
	check_iter(r, &m, 5);
	sst_close(r);
	model_free(&m);
	env_fs_mem_deinit(&fs);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_sst_empty_table_finds_nothing),
	    cmocka_unit_test(test_sst_one_key_tables_round_trip),
	    cmocka_unit_test(test_sst_100k_entries_round_trip_uncompressed),
	    cmocka_unit_test(test_sst_100k_entries_round_trip_lz4),
	    cmocka_unit_test(test_sst_100k_entries_round_trip_zstd_through_cache),
	    cmocka_unit_test(test_sst_compression_shrinks_compressible_tables),
	    cmocka_unit_test(test_sst_bit_flip_in_data_block_is_corrupt_never_wrong_data),
	    cmocka_unit_test(test_sst_bit_flip_in_index_filter_props_footer_fails_open),
	    cmocka_unit_test(test_sst_truncated_file_fails_open),
	    cmocka_unit_test(test_sst_fault_walk_over_every_env_call_of_a_build),
	    cmocka_unit_test(test_sst_failed_fsync_fails_finish_and_removes_file),
	    cmocka_unit_test(test_sst_full_disk_fails_build_and_frees_space),
	    cmocka_unit_test(test_sst_open_fault_walk_holds_nothing),
	    cmocka_unit_test(test_sst_options_at_and_past_limits),
	    cmocka_unit_test(test_sst_key_at_limit_and_one_past),
	    cmocka_unit_test(test_sst_readers_share_the_block_cache),
	    cmocka_unit_test(test_sst_reads_through_a_mapping),
	    cmocka_unit_test(test_sst_mapped_block_outlives_its_reader),
	    cmocka_unit_test(test_sst_bit_flip_in_mapped_table_is_corrupt),
	    cmocka_unit_test(test_sst_failed_map_falls_back_to_reads),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
