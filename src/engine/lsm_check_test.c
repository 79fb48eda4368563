/*
 * lsm_check_test.c - lsm_check_dir over a store built by the engine: a
 * clean directory has no problems; a flipped bit in each kind of file is a
 * problem naming that file; a torn WAL tail is a note.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/err.h"
#include "base/limits.h"
#include "engine/blob.h"
#include "engine/ikey.h"
#include "engine/lsm.h"
#include "engine/wal.h"
#include "env/env.h"
#include "env/env_fs_mem.h"

#define DIR "db"

static void put(struct lsm *db, int i, size_t len, uint8_t *scratch)
{
	char k[16];
	snprintf(k, sizeof(k), "key%05d", i);
	uint8_t *v = scratch + 3 * BLOB_THRESHOLD;
	memset(v, 'a' + i % 26, len);
	struct lsm_op op = {.kind = IKEY_KIND_PUT,
	                    .key = bytes_cstr(k),
	                    .value_record =
	                        bytes_make(scratch, vrec_encode(scratch, 0, bytes_make(v, len)))};
	struct lsm_batch b = {.ops = &op, .count = 1};
	assert_int_equal(lsm_write(db, &b), 0);
}

/* A store with tables from flushes and a compaction, blob files, and
 * unflushed writes in its WAL; closed. */
static void build(struct env_fs_mem *l)
{
	env_fs_mem_init(l, 7); /* locks internally: the engine's threads share it */
	struct lsm_options o = {.sync = LSM_SYNC_ALWAYS, .memtable_bytes = 64 * KIB, .seed = 3};
	struct lsm *db = NULL;
	assert_int_equal(lsm_open(DIR, &l->base, &o, &db, NULL), 0);
	uint8_t *scratch = malloc(6 * BLOB_THRESHOLD + 64);
	assert_non_null(scratch);
	for (int round = 0; round < LSM_L0_COMPACTION_TRIGGER + 1; round++) {
		for (int i = 0; i < 20; i++)
			put(db, round * 7 + i, i % 5 == 0 ? BLOB_THRESHOLD + 10 : 50, scratch);
		assert_int_equal(lsm_flush(db), 0);
	}
	assert_int_equal(lsm_compact_wait(db), 0);
	for (int i = 0; i < 8; i++)
		put(db, 500 + i, i == 3 ? BLOB_THRESHOLD + 1 : 40, scratch);
	free(scratch);
	lsm_close(db);
}

static void teardown_fs(struct env_fs_mem *l)
{
	env_fs_mem_deinit(l);
}

struct finding {
	char file[64];
	uint64_t problems, notes;
	char problem_file[64];
};

static void collect(void *ctx, const struct lsm_check_report *r)
{
	struct finding *f = ctx;
	if (r->problem) {
		if (f->problems++ == 0)
			snprintf(f->problem_file, sizeof(f->problem_file), "%s", r->file);
	} else {
		f->notes++;
	}
}

/* The highest-numbered file with this extension ("" for none). */
struct pick {
	const char *ext;
	uint64_t best;
	char name[64];
};

static int pick_entry(void *ctx, const char *name)
{
	struct pick *p = ctx;
	const char *dot = strchr(name, '.');
	bool manifest = strncmp(name, "MANIFEST-", 9) == 0;
	if (manifest != (strcmp(p->ext, "MANIFEST") == 0))
		return 0;
	if (!manifest && (!dot || strcmp(dot + 1, p->ext) != 0))
		return 0;
	uint64_t n = strtoull(name + (manifest ? 9 : 0), NULL, 10);
	if (!p->name[0] || n > p->best) {
		p->best = n;
		snprintf(p->name, sizeof(p->name), "%s", name);
	}
	return 0;
}

static void pick_file(struct env_fs_mem *l, const char *ext, char *name)
{
	struct pick p = {ext, 0, ""};
	assert_int_equal(env_fs_list(&l->base, DIR, pick_entry, &p), 0);
	assert_true(p.name[0] != '\0');
	strcpy(name, p.name);
}

static void test_clean(void **state)
{
	(void)state;
	struct env_fs_mem l;
	build(&l);
	struct finding f = {0};
	struct lsm_check_summary s;
	assert_int_equal(lsm_check_dir(&l.base, DIR, collect, &f, &s), 0);
	assert_int_equal(s.problems, 0);
	assert_int_equal(f.problems, 0);
	assert_true(s.files >= 5); /* CURRENT, manifest, tables, a log, blobs */
	assert_true(s.bytes > 4 * BLOB_THRESHOLD);
	teardown_fs(&l);
}

static void test_empty_and_missing(void **state)
{
	(void)state;
	struct env_fs_mem mem;
	env_fs_mem_init(&mem, 1);
	assert_int_equal(env_fs_mkdir(&mem.base, DIR), 0);
	struct lsm_check_summary s;
	assert_int_equal(lsm_check_dir(&mem.base, DIR, NULL, NULL, &s), 0);
	assert_int_equal(s.files, 0);
	assert_int_not_equal(lsm_check_dir(&mem.base, "nope", NULL, NULL, &s), 0);
	assert_int_not_equal(lsm_check_dir(&mem.base, "nope", NULL, NULL, &s), ERR_CORRUPT);
	env_fs_mem_deinit(&mem);
}

/* Flips a bit of byte `byte` of the chosen file; the check must fail
 * naming it. */
static void flip_case(const char *ext, const char *fixed, uint64_t byte)
{
	struct env_fs_mem l;
	build(&l);
	char name[64], path[128];
	if (fixed)
		strcpy(name, fixed);
	else
		pick_file(&l, ext, name);
	snprintf(path, sizeof(path), DIR "/%s", name);
	assert_int_equal(env_fs_mem_flip_bit(&l, path, byte * 8 + 1), 0);
	struct finding f = {0};
	struct lsm_check_summary s;
	int rc = lsm_check_dir(&l.base, DIR, collect, &f, &s);
	if (rc != ERR_CORRUPT || strcmp(f.problem_file, name) != 0)
		fprintf(stderr, "%s: rc %d, first problem in '%s'\n", name, rc, f.problem_file);
	assert_int_equal(rc, ERR_CORRUPT);
	assert_true(s.problems >= 1);
	assert_string_equal(f.problem_file, name);
	teardown_fs(&l);
}

static void test_flip_current(void **state)
{
	(void)state;
	flip_case(NULL, "CURRENT", 0);
}

static void test_flip_manifest(void **state)
{
	(void)state;
	/* Inside the first record (the snapshot), which later records follow. */
	flip_case("MANIFEST", NULL, WAL_FILE_HEADER_BYTES + WAL_FRAGMENT_HEADER_BYTES + 4);
}

static void test_flip_sst(void **state)
{
	(void)state;
	flip_case("sst", NULL, 10);
}

static void test_flip_wal(void **state)
{
	(void)state;
	flip_case("log", NULL, WAL_FILE_HEADER_BYTES + WAL_FRAGMENT_HEADER_BYTES + 4);
}

static void test_flip_blob(void **state)
{
	(void)state;
	flip_case("blob", NULL, BLOB_HEADER_BYTES + BLOB_RECORD_HEADER_BYTES + 8 + 100);
}

static void test_torn_wal_tail(void **state)
{
	(void)state;
	struct env_fs_mem l;
	build(&l);
	char name[64], path[128];
	pick_file(&l, "log", name);
	snprintf(path, sizeof(path), DIR "/%s", name);
	struct env_file *f;
	uint64_t size;
	assert_int_equal(env_fs_open(&l.base, path, 0, &f), 0);
	assert_int_equal(env_fs_size(&l.base, f, &size), 0);
	assert_true(size > WAL_FILE_HEADER_BYTES + 8);
	assert_int_equal(env_fs_truncate(&l.base, f, size - 5), 0);
	assert_int_equal(env_fs_close(&l.base, f), 0);
	struct finding fd = {0};
	struct lsm_check_summary s;
	assert_int_equal(lsm_check_dir(&l.base, DIR, collect, &fd, &s), 0);
	assert_int_equal(s.problems, 0);
	assert_int_equal(s.notes, 1);
	assert_int_equal(fd.notes, 1);
	teardown_fs(&l);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_clean),        cmocka_unit_test(test_empty_and_missing),
	    cmocka_unit_test(test_flip_current), cmocka_unit_test(test_flip_manifest),
	    cmocka_unit_test(test_flip_sst),     cmocka_unit_test(test_flip_wal),
	    cmocka_unit_test(test_flip_blob),    cmocka_unit_test(test_torn_wal_tail),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
