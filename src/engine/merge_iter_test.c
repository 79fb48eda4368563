/*
 * merge_iter_test.c - the merging iterator (engine/merge_iter.h) against a
 * sorted model: memtables and an SSTable as children, seeks, and a failing
 * child whose error must surface.
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
#include "engine/merge_iter.h"
#include "env/env.h"
#include "env/env_fs_mem.h"

#define KIDS    5
#define PER_KID 300

struct ent {
	uint8_t ikey[32];
	size_t len;
	int kid;
};

static int ent_cmp(const void *a, const void *b)
{
	const struct ent *x = a, *y = b;
	return ikey_cmp(bytes_make(x->ikey, x->len), bytes_make(y->ikey, y->len));
}

static size_t make_ikey(uint8_t *out, int user, uint64_t seq)
{
	char k[16];
	int n = snprintf(k, sizeof(k), "k%05d", user);
	return ikey_encode(out, bytes_make(k, (size_t)n), seq, IKEY_KIND_PUT);
}

static const uint8_t vrec[] = {0, 'v'};

/* Kids 0..KIDS-2 are memtables, the last an SSTable; seqs are unique. */
static void test_merge_matches_sorted_model(void **state)
{
	(void)state;
	struct env_rng rng;
	env_rng_seed(&rng, 7);
	static struct ent model[KIDS * PER_KID];
	struct memtable mts[KIDS - 1];
	struct memtable_iter mits[KIDS - 1];
	struct merge_child kids[KIDS];
	struct env_fs_mem fs;
	env_fs_mem_init(&fs, 1);
	struct sst_options so = {.seed = 1};
	struct sst_builder *b;
	assert_int_equal(sst_builder_init(&b, &fs.base, "t.sst", &so), 0);
	uint64_t seq = 1;
	for (int kid = 0; kid < KIDS; kid++) {
		if (kid < KIDS - 1) {
			struct memtable_options mo = {.seed = (uint64_t)kid + 1};
			assert_int_equal(memtable_init(&mts[kid], &mo), 0);
		}
		for (int i = 0; i < PER_KID; i++) {
			struct ent *e = &model[kid * PER_KID + i];
			/* The sst's keys must be added in order: ascending users. */
			int user = kid == KIDS - 1 ? i * 3 : (int)(env_rng_next(&rng) % 1000);
			e->len = make_ikey(e->ikey, user,
			                   kid == KIDS - 1 ? 100000 - (uint64_t)i : seq++);
			e->kid = kid;
			struct bytes uk = bytes_make(e->ikey, e->len - IKEY_TRAILER_BYTES);
			if (kid < KIDS - 1)
				assert_int_equal(memtable_add(&mts[kid], seq - 1, IKEY_KIND_PUT, uk,
				                              bytes_make(vrec, 2)),
				                 0);
			else
				assert_int_equal(sst_builder_add(b, bytes_make(e->ikey, e->len),
				                                 bytes_make(vrec, 2)),
				                 0);
		}
	}
	assert_int_equal(sst_builder_finish(b, NULL), 0);
	struct sst_reader *r;
	assert_int_equal(sst_open(&r, &fs.base, "t.sst", &(struct sst_read_options){0}, NULL), 0);
	struct sst_iter *sit;
	assert_int_equal(sst_iter_create(r, &sit), 0);
	for (int kid = 0; kid < KIDS - 1; kid++) {
		memtable_iter_init(&mits[kid], &mts[kid]);
		kids[kid] = merge_child_memtable(&mits[kid]);
	}
	kids[KIDS - 1] = merge_child_sst(sit);
	qsort(model, KIDS * PER_KID, sizeof(model[0]), ent_cmp);

	struct merge_iter *m;
	assert_int_equal(merge_iter_create(kids, KIDS, &m), 0);
	size_t n = 0;
	for (merge_iter_seek_to_first(m); merge_iter_valid(m); merge_iter_next(m), n++) {
		struct bytes k = merge_iter_key(m);
		assert_true(n < KIDS * PER_KID);
		assert_int_equal(k.len, model[n].len);
		assert_memory_equal(k.ptr, model[n].ikey, k.len);
		assert_int_equal(merge_iter_value(m).len, 2);
	}
	assert_int_equal(n, KIDS * PER_KID);
	assert_int_equal(merge_iter_status(m), 0);
	/* Seeks land on the first entry >= the target. */
	for (int t = 0; t < 200; t++) {
		uint8_t target[32];
		size_t len =
		    make_ikey(target, (int)(env_rng_next(&rng) % 1100), env_rng_next(&rng) % 2000);
		size_t want = 0;
		while (want < KIDS * PER_KID &&
		       ikey_cmp(bytes_make(model[want].ikey, model[want].len),
		                bytes_make(target, len)) < 0)
			want++;
		merge_iter_seek(m, bytes_make(target, len));
		assert_int_equal(merge_iter_valid(m), want < KIDS * PER_KID);
		if (want < KIDS * PER_KID)
			assert_memory_equal(merge_iter_key(m).ptr, model[want].ikey,
			                    model[want].len);
	}
	merge_iter_destroy(m);
	sst_iter_destroy(sit);
	sst_close(r);
	for (int kid = 0; kid < KIDS - 1; kid++)
		memtable_deinit(&mts[kid]);
	env_fs_mem_deinit(&fs);
}

/* A child over a fixed array that fails with ERR_CORRUPT at fail_at. */
struct fake {
	const struct ent *ents;
	size_t count, pos, fail_at;
	int err;
};

static void f_first(void *it)
{
	struct fake *f = it;
	f->pos = 0;
	f->err = f->fail_at == 0 ? ERR_CORRUPT : 0;
}
static void f_seek(void *it, struct bytes k)
{
	struct fake *f = it;
	f_first(it);
	while (!f->err && f->pos < f->count &&
	       ikey_cmp(bytes_make(f->ents[f->pos].ikey, f->ents[f->pos].len), k) < 0)
		f->pos++;
	if (f->pos >= f->fail_at)
		f->err = ERR_CORRUPT;
}
static void f_next(void *it)
{
	struct fake *f = it;
	if (++f->pos >= f->fail_at)
		f->err = ERR_CORRUPT;
}
static bool f_valid(const void *it)
{
	const struct fake *f = it;
	return !f->err && f->pos < f->count;
}
static struct bytes f_key(const void *it)
{
	const struct fake *f = it;
	return bytes_make(f->ents[f->pos].ikey, f->ents[f->pos].len);
}
static struct bytes f_value(const void *it)
{
	(void)it;
	return bytes_make(vrec, 2);
}
static int f_status(const void *it)
{
	return ((const struct fake *)it)->err;
}

static const struct merge_child_ops fake_ops = {f_first, f_seek,  f_next,  f_valid,
                                                f_key,   f_value, f_status};

static void test_merge_surfaces_child_error(void **state)
{
	(void)state;
	struct ent a[10], b[10];
	for (int i = 0; i < 10; i++) {
		a[i].len = make_ikey(a[i].ikey, 2 * i, 1);
		b[i].len = make_ikey(b[i].ikey, 2 * i + 1, 1);
	}
	struct fake fa = {.ents = a, .count = 10, .fail_at = SIZE_MAX};
	struct fake fb = {.ents = b, .count = 10, .fail_at = 4};
	struct merge_child kids[2] = {{&fake_ops, &fa}, {&fake_ops, &fb}};
	struct merge_iter *m;
	assert_int_equal(merge_iter_create(kids, 2, &m), 0);
	size_t n = 0;
	for (merge_iter_seek_to_first(m); merge_iter_valid(m); merge_iter_next(m))
		n++;
	/* a0 b0 a1 b1 a2 b2 a3 b3 a4: b's next past b3 fails. */
	assert_int_equal(n, 8);
	assert_int_equal(merge_iter_status(m), ERR_CORRUPT);
	/* A seek that lands on the failure fails at once. */
	merge_iter_seek(m, bytes_make(b[5].ikey, b[5].len));
	assert_false(merge_iter_valid(m));
	assert_int_equal(merge_iter_status(m), ERR_CORRUPT);
	/* A seek before it clears the error. */
	merge_iter_seek(m, bytes_make(a[0].ikey, a[0].len));
	assert_true(merge_iter_valid(m));
	assert_int_equal(merge_iter_status(m), 0);
	merge_iter_destroy(m);
	/* No children: never valid. */
	assert_int_equal(merge_iter_create(NULL, 0, &m), 0);
	merge_iter_seek_to_first(m);
	assert_false(merge_iter_valid(m));
	merge_iter_destroy(m);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_merge_matches_sorted_model),
	    cmocka_unit_test(test_merge_surfaces_child_error),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
