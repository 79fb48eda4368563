/*
 * manifest_test.c - version edits, versions, the manifest log and its
 * recovery (engine/version_edit.h, engine/manifest.h) over env_fs_mem.
 *
 * Tables are empty files named as the manifest names them: the manifest
 * only checks that they exist. Every test is seeded; the crash walk prints
 * the sync point it failed at. env_fs_mem_deinit asserts that no handle
 * leaked.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/err.h"
#include "base/limits.h"
#include "engine/block.h"
#include "engine/ikey.h"
#include "engine/manifest.h"
#include "engine/version_edit.h"
#include "engine/wal.h"
#include "env/env_fs_mem.h"

#define DIR       "db"
#define KEY_SLOTS 4096

/* ---- Keys, tables, snapshots of state -------------------------------- */

/* Internal keys the edits borrow; lives as long as the test. */
struct keys {
	uint8_t data[KEY_SLOTS][40];
	size_t n;
};

static struct bytes key_make(struct keys *k, uint32_t id, uint64_t seq, size_t pad)
{
	assert_true(k->n < KEY_SLOTS && pad <= 20);
	uint8_t *p = k->data[k->n++];
	char user[32];
	int len = snprintf(user, sizeof(user), "k%08u%.*s", id, (int)pad, "....................");
	return bytes_make(p, ikey_encode(p, bytes_make(user, (size_t)len), seq, IKEY_KIND_PUT));
}

static void touch(struct env_fs *fs, uint64_t number)
{
	char path[FS_PATH_BYTES_MAX];
	struct env_file *f;
	assert_int_equal(manifest_file_path(path, sizeof(path), DIR, MANIFEST_KIND_TABLE, number),
	                 0);
	assert_int_equal(env_fs_open(fs, path, ENV_FS_CREATE, &f), 0);
	assert_int_equal(env_fs_close(fs, f), 0);
}

/* Adds table number with user keys [lo, hi] at level. */
static void add_table(struct version_edit *e, struct keys *k, uint32_t level, uint64_t number,
                      uint32_t lo, uint32_t hi)
{
	struct vedit_file f = {level,
	                       number,
	                       1000 + number,
	                       number,
	                       number + 5,
	                       0,
	                       key_make(k, lo, number + 5, 0),
	                       key_make(k, hi, number, 0)};
	assert_int_equal(version_edit_add_file(e, &f), 0);
}

#define SNAP_FILES 512

/* The observable state: files per level in order, bytes, scalars. */
struct snap {
	size_t n[LSM_LEVELS];
	uint64_t nums[LSM_LEVELS][SNAP_FILES];
	uint64_t bytes[LSM_LEVELS];
	uint64_t log_number, last_seq;
};

static void snap_take(struct manifest *m, struct snap *s)
{
	memset(s, 0, sizeof(*s));
	struct version *v = manifest_current(m);
	for (uint32_t l = 0; l < LSM_LEVELS; l++) {
		s->n[l] = version_file_count(v, l);
		assert_true(s->n[l] <= SNAP_FILES);
		for (size_t i = 0; i < s->n[l]; i++)
			s->nums[l][i] = version_file(v, l, i)->number;
		s->bytes[l] = version_level_bytes(v, l);
	}
	s->log_number = manifest_log_number(m);
	s->last_seq = manifest_last_seq(m);
}

static bool snap_eq(const struct snap *a, const struct snap *b)
{
	return memcmp(a, b, sizeof(*a)) == 0; /* memset first: padding is zero */
}

static struct manifest_options opts(struct env_fs_mem *mem, uint64_t roll_bytes)
{
	struct manifest_options o = {&mem->base, DIR, 0x5eed, roll_bytes, false};
	return o;
}

/* Recovers and starts a manifest in a fresh or existing directory. */
static struct manifest *open_db(struct env_fs_mem *mem, uint64_t roll_bytes)
{
	struct manifest_options o = opts(mem, roll_bytes);
	struct manifest_recover_result res;
	struct manifest *m = NULL;
	int rc = manifest_recover(&m, &o, &res);
	if (rc)
		fail_msg("recover: %d %s", rc, res.error);
	manifest_recover_result_deinit(&res);
	assert_int_equal(manifest_start(m), 0);
	return m;
}

static void fs_setup(struct env_fs_mem *mem, uint64_t seed)
{
	env_fs_mem_init(mem, seed);
	assert_int_equal(env_fs_mkdir(&mem->base, DIR), 0);
}

/* ---- Version edits ---------------------------------------------------- */

static void test_version_edit_round_trips_every_field(void **state)
{
	struct keys *k = calloc(1, sizeof(*k));
	struct version_edit e, d;
	struct buf out;
	const char *reason = NULL;
	version_edit_init(&e);
	version_edit_set_comparator(&e);
	version_edit_set_log_number(&e, 7);
	version_edit_set_next_file(&e, 1ull << 40);
	version_edit_set_last_seq(&e, IKEY_SEQ_MAX);
	add_table(&e, k, 0, 12, 1, 5);
	add_table(&e, k, 6, 13, 9, 9);
	assert_int_equal(version_edit_delete_file(&e, 3, 99), 0);
	version_edit_set_compact_pointer(&e, 2, key_make(k, 4, 1, 3));
	buf_init(&out);
	assert_int_equal(version_edit_encode(&e, &out), 0);
	version_edit_init(&d);
	assert_int_equal(version_edit_decode(&d, bytes_make(out.data, out.len), &reason), 0);
	assert_int_equal(d.has, e.has);
	assert_true(d.log_number == 7 && d.next_file == 1ull << 40 && d.last_seq == IKEY_SEQ_MAX);
	assert_int_equal(d.add_count, 2);
	for (size_t i = 0; i < 2; i++) {
		assert_int_equal(d.adds[i].level, e.adds[i].level);
		assert_int_equal(d.adds[i].number, e.adds[i].number);
		assert_int_equal(d.adds[i].size, e.adds[i].size);
		assert_int_equal(d.adds[i].min_seq, e.adds[i].min_seq);
		assert_int_equal(d.adds[i].max_seq, e.adds[i].max_seq);
		assert_true(bytes_eq(d.adds[i].smallest, e.adds[i].smallest));
		assert_true(bytes_eq(d.adds[i].largest, e.adds[i].largest));
	}
	assert_int_equal(d.del_count, 1);
	assert_true(d.dels[0].level == 3 && d.dels[0].number == 99);
	assert_int_equal(d.pointer_mask, 1u << 2);
	assert_true(bytes_eq(d.compact_pointer[2], e.compact_pointer[2]));
	version_edit_deinit(&d);

	/* Every prefix either fails cleanly or decodes a subset (a cut on a
	 * field boundary); none reads past its end (ASan). */
	for (size_t len = 0; len < out.len; len++) {
		uint8_t *copy = malloc(len + 1);
		memcpy(copy, out.data, len);
		version_edit_init(&d);
		int rc = version_edit_decode(&d, bytes_make(copy, len), &reason);
		assert_true(rc == 0 || rc == ERR_CORRUPT);
		if (rc == 0)
			assert_true(d.add_count <= 2);
		version_edit_deinit(&d);
		free(copy);
	}
	version_edit_deinit(&e);
	buf_deinit(&out);
	free(k);
	(void)state;
}

/* Decodes raw bytes into a fresh edit and returns the result. */
static int decode_raw(const uint8_t *p, size_t len)
{
	struct version_edit d;
	const char *reason = NULL;
	version_edit_init(&d);
	int rc = version_edit_decode(&d, bytes_make(p, len), &reason);
	if (rc)
		assert_non_null(reason);
	version_edit_deinit(&d);
	return rc;
}

static void test_version_edit_rejects_malformed_fields(void **state)
{
	/* Unknown optional tag (64 | 5) is skipped; unknown required tag 9 is not. */
	const uint8_t optional[] = {64 | 5, 2, 0xaa, 0xbb, VEDIT_TAG_LAST_SEQ, 1, 3};
	const uint8_t required[] = {9, 1, 0};
	assert_int_equal(decode_raw(optional, sizeof(optional)), 0);
	assert_int_equal(decode_raw(required, sizeof(required)), ERR_CORRUPT);
	/* Body length past the end; body longer than its contents. */
	const uint8_t past_end[] = {VEDIT_TAG_LAST_SEQ, 5, 1};
	const uint8_t slack[] = {VEDIT_TAG_LAST_SEQ, 2, 1, 0};
	assert_int_equal(decode_raw(past_end, sizeof(past_end)), ERR_CORRUPT);
	assert_int_equal(decode_raw(slack, sizeof(slack)), ERR_CORRUPT);
	/* Repeated scalar; wrong comparator; level out of range. */
	const uint8_t repeated[] = {VEDIT_TAG_LOG_NUMBER, 1, 1, VEDIT_TAG_LOG_NUMBER, 1, 2};
	const uint8_t comparator[] = {VEDIT_TAG_COMPARATOR, 3, 'a', 'b', 'c'};
	const uint8_t level[] = {VEDIT_TAG_DELETE_FILE, 2, LSM_LEVELS, 1};
	const uint8_t level_ok[] = {VEDIT_TAG_DELETE_FILE, 2, LSM_LEVELS - 1, 1};
	assert_int_equal(decode_raw(repeated, sizeof(repeated)), ERR_CORRUPT);
	assert_int_equal(decode_raw(comparator, sizeof(comparator)), ERR_CORRUPT);
	assert_int_equal(decode_raw(level, sizeof(level)), ERR_CORRUPT);
	assert_int_equal(decode_raw(level_ok, sizeof(level_ok)), 0);
	/* A varint of 11 bytes. */
	const uint8_t long_varint[] = {VEDIT_TAG_LAST_SEQ,
	                               11,
	                               0x80,
	                               0x80,
	                               0x80,
	                               0x80,
	                               0x80,
	                               0x80,
	                               0x80,
	                               0x80,
	                               0x80,
	                               0x80,
	                               0x01};
	assert_int_equal(decode_raw(long_varint, sizeof(long_varint)), ERR_CORRUPT);

	/* Key length exactly at the limit and one past it, as a compaction
	 * pointer (level 0, then the key). */
	size_t cap = KEY_BYTES_MAX + IKEY_TRAILER_BYTES + 1 + 32;
	uint8_t *p = calloc(1, cap);
	for (size_t klen = KEY_BYTES_MAX + IKEY_TRAILER_BYTES; klen <= KEY_BYTES_MAX + 9; klen++) {
		uint8_t tmp[BLOCK_VARINT64_BYTES_MAX];
		size_t n = 0, body = 1 + block_put_varint(tmp, klen) + klen;
		n += block_put_varint(p + n, VEDIT_TAG_COMPACT_POINTER);
		n += block_put_varint(p + n, body);
		n += block_put_varint(p + n, 0);
		n += block_put_varint(p + n, klen);
		assert_true(n + klen <= cap);
		int want = klen == KEY_BYTES_MAX + IKEY_TRAILER_BYTES ? 0 : ERR_CORRUPT;
		assert_int_equal(decode_raw(p, n + klen), want);
	}
	free(p);
	(void)state;
}

/* ---- Hand-written manifests (for what a live apply would ASSERT on) --- */

static void write_manifest(struct env_fs_mem *mem, uint64_t number, struct version_edit *edits,
                           size_t count)
{
	char path[FS_PATH_BYTES_MAX], line[64];
	struct wal w;
	struct wal_options wo = {number, 77, 0};
	struct buf b;
	buf_init(&b);
	assert_int_equal(
	    manifest_file_path(path, sizeof(path), DIR, MANIFEST_KIND_MANIFEST, number), 0);
	assert_int_equal(wal_open(&w, &mem->base, path, &wo), 0);
	for (size_t i = 0; i < count; i++) {
		b.len = 0;
		assert_int_equal(version_edit_encode(&edits[i], &b), 0);
		struct bytes rec = bytes_make(b.data, b.len);
		assert_int_equal(wal_append(&w, &rec, 1), 0);
	}
	assert_int_equal(wal_sync(&w), 0);
	assert_int_equal(wal_close(&w), 0);
	buf_deinit(&b);
	struct env_file *f;
	int n = snprintf(line, sizeof(line), "MANIFEST-%06" PRIu64 "\n", number);
	assert_int_equal(
	    env_fs_open(&mem->base, DIR "/CURRENT", ENV_FS_CREATE | ENV_FS_TRUNCATE, &f), 0);
	assert_int_equal(env_fs_append(&mem->base, f, line, (size_t)n), 0);
	assert_int_equal(env_fs_close(&mem->base, f), 0);
}

static int recover_err(struct env_fs_mem *mem, char *err, size_t cap)
{
	struct manifest_options o = opts(mem, 0);
	struct manifest_recover_result res;
	struct manifest *m = NULL;
	int rc = manifest_recover(&m, &o, &res);
	snprintf(err, cap, "%s", res.error);
	manifest_recover_result_deinit(&res);
	manifest_destroy(m);
	return rc;
}

static void test_manifest_recovery_rejects_l1_overlap(void **state)
{
	struct keys *k = calloc(1, sizeof(*k));
	struct env_fs_mem mem;
	char err[160];
	struct version_edit e[2];
	fs_setup(&mem, 3);
	for (uint64_t n = 10; n <= 12; n++)
		touch(&mem.base, n);
	version_edit_init(&e[0]);
	version_edit_init(&e[1]);
	version_edit_set_comparator(&e[0]);
	version_edit_set_next_file(&e[0], 20);
	add_table(&e[0], k, 1, 10, 0, 10);
	add_table(&e[0], k, 1, 11, 11, 20); /* touching, not overlapping: fine */
	add_table(&e[1], k, 0, 12, 5, 15);  /* L0 may overlap */
	write_manifest(&mem, 2, e, 2);
	assert_int_equal(recover_err(&mem, err, sizeof(err)), 0);

	add_table(&e[1], k, 1, 13, 20, 25); /* shares user key 20 with table 11 */
	touch(&mem.base, 13);
	write_manifest(&mem, 3, e, 2);
	assert_int_equal(recover_err(&mem, err, sizeof(err)), ERR_CORRUPT);
	assert_non_null(strstr(err, "overlapping"));

	/* Deleting a file the version does not hold. */
	version_edit_deinit(&e[1]);
	version_edit_init(&e[1]);
	assert_int_equal(version_edit_delete_file(&e[1], 2, 10), 0);
	write_manifest(&mem, 4, e, 2);
	assert_int_equal(recover_err(&mem, err, sizeof(err)), ERR_CORRUPT);
	assert_non_null(strstr(err, "MANIFEST-000004"));
	/* A first edit that is not a snapshot. */
	write_manifest(&mem, 5, &e[1], 1);
	assert_int_equal(recover_err(&mem, err, sizeof(err)), ERR_CORRUPT);
	version_edit_deinit(&e[0]);
	version_edit_deinit(&e[1]);
	env_fs_mem_deinit(&mem);
	free(k);
	(void)state;
}

/* Blob file records: they replay to the same state, and an edit that
 * breaks their rules (garbage past linked, a link to a sealed file,
 * deleting a file not all garbage, touching an unknown file) is
 * corruption with its manifest named. */
static void test_manifest_blob_records_replay_and_their_rules(void **state)
{
	struct env_fs_mem mem;
	char err[160];
	struct version_edit e[3];
	fs_setup(&mem, 4);
	for (int i = 0; i < 3; i++)
		version_edit_init(&e[i]);
	version_edit_set_comparator(&e[0]);
	version_edit_set_next_file(&e[0], 40);
	version_edit_set_blobs_tracked(&e[0]);
	struct vedit_blob f30 = {VEDIT_BLOB_FILE, 30, 1000, 10, 200, 2, true};
	struct vedit_blob f31 = {VEDIT_BLOB_FILE, 31, 500, 5, 0, 0, false};
	assert_int_equal(version_edit_blob(&e[0], &f30), 0);
	assert_int_equal(version_edit_blob(&e[0], &f31), 0);
	struct vedit_blob link = {.op = VEDIT_BLOB_LINK, .number = 31, .linked_bytes = 300,
	                          .linked_records = 3};
	struct vedit_blob garbage = {.op = VEDIT_BLOB_GARBAGE, .number = 30, .garbage_bytes = 800,
	                             .garbage_records = 8};
	struct vedit_blob seal = {.op = VEDIT_BLOB_SEAL, .number = 31};
	assert_int_equal(version_edit_blob(&e[1], &link), 0);
	assert_int_equal(version_edit_blob(&e[1], &garbage), 0);
	assert_int_equal(version_edit_blob(&e[1], &seal), 0);
	struct vedit_blob del30 = {.op = VEDIT_BLOB_DELETE, .number = 30};
	assert_int_equal(version_edit_blob(&e[2], &del30), 0);
	write_manifest(&mem, 2, e, 3);
	struct manifest_options o = opts(&mem, 0);
	struct manifest_recover_result res;
	struct manifest *m = NULL;
	assert_int_equal(manifest_recover(&m, &o, &res), 0);
	assert_true(manifest_blobs_tracked(m));
	struct version *v = manifest_current(m);
	assert_int_equal(version_blob_count(v), 1);
	const struct manifest_blob *b = version_blob_find(v, 31);
	assert_non_null(b);
	assert_true(b->linked_bytes == 800 && b->linked_records == 8 && b->sealed);
	assert_null(version_blob_find(v, 30));
	manifest_recover_result_deinit(&res);
	manifest_destroy(m);

	/* Each broken rule, as the last edit. */
	struct vedit_blob bad[] = {
	    {.op = VEDIT_BLOB_GARBAGE, .number = 31, .garbage_bytes = 900, .garbage_records = 1},
	    {.op = VEDIT_BLOB_LINK, .number = 31, .linked_bytes = 1, .linked_records = 1},
	    {.op = VEDIT_BLOB_DELETE, .number = 31},
	    {.op = VEDIT_BLOB_SEAL, .number = 99},
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		version_edit_deinit(&e[2]);
		version_edit_init(&e[2]);
		assert_int_equal(version_edit_blob(&e[2], &bad[i]), 0);
		write_manifest(&mem, 3 + i, e, 3);
		assert_int_equal(recover_err(&mem, err, sizeof(err)), ERR_CORRUPT);
		char name[32];
		snprintf(name, sizeof(name), "MANIFEST-%06zu", 3 + i);
		assert_non_null(strstr(err, name));
	}
	for (int i = 0; i < 3; i++)
		version_edit_deinit(&e[i]);
	env_fs_mem_deinit(&mem);
	(void)state;
}

/* ---- A scripted sequence of edits ------------------------------------ */

/* Edit i (from 1): every fourth moves all of L0 into one new L1 table of
 * its own key range; the others flush one L0 table. Creates the tables it
 * adds (and syncs the directory, as the engine does before an edit). */
static int script_edit(struct manifest *m, struct env_fs_mem *mem, struct keys *k, uint32_t i)
{
	struct version_edit e;
	version_edit_init(&e);
	struct version *v = manifest_current(m);
	uint64_t number = manifest_new_file_number(m);
	if (i % 4 == 0) {
		for (size_t j = 0; j < version_file_count(v, 0); j++)
			assert_int_equal(
			    version_edit_delete_file(&e, 0, version_file(v, 0, j)->number), 0);
		add_table(&e, k, 1, number, i * 100, i * 100 + 99);
		version_edit_set_compact_pointer(&e, 1, key_make(k, i * 100 + 99, 0, 0));
	} else {
		add_table(&e, k, 0, number, (i * 37) % 500, (i * 37) % 500 + 300);
	}
	version_edit_set_log_number(&e, i);
	version_edit_set_last_seq(&e, i * 10ull);
	touch(&mem->base, number);
	int rc = env_fs_sync_dir(&mem->base, DIR);
	if (!rc)
		rc = manifest_log_and_apply(m, &e);
	version_edit_deinit(&e);
	return rc;
}

static void test_manifest_log_and_apply_then_recover_gives_same_version(void **state)
{
	struct keys *k = calloc(1, sizeof(*k));
	struct env_fs_mem mem;
	struct snap *a = malloc(sizeof(*a)), *b = malloc(sizeof(*b));
	fs_setup(&mem, 5);
	struct manifest *m = open_db(&mem, 0);
	for (uint32_t i = 1; i <= 30; i++)
		assert_int_equal(script_edit(m, &mem, k, i), 0);
	snap_take(m, a);
	assert_int_equal(a->n[0], 2);
	assert_int_equal(a->n[1], 7);
	/* Readers hold a version across a later apply. */
	struct version *held = manifest_current(m);
	version_ref(held);
	assert_int_equal(script_edit(m, &mem, k, 31), 0);
	assert_int_equal(version_file_count(held, 0), 2);
	version_unref(held);
	snap_take(m, a);
	uint64_t next = manifest_next_file(m);
	manifest_destroy(m);

	struct manifest_options o = opts(&mem, 0);
	struct manifest_recover_result res;
	assert_int_equal(manifest_recover(&m, &o, &res), 0);
	snap_take(m, b);
	assert_true(snap_eq(a, b));
	assert_true(manifest_next_file(m) >= next);
	/* The L0 tables compacted away (24 flushed, 3 still live) are the
	 * orphans; nothing else is. */
	assert_int_equal(res.orphan_count, 21);
	for (size_t i = 0; i < res.orphan_count; i++)
		assert_int_equal(res.orphans[i].kind, MANIFEST_KIND_TABLE);
	manifest_recover_result_deinit(&res);
	manifest_destroy(m);
	env_fs_mem_deinit(&mem);
	free(a);
	free(b);
	free(k);
	(void)state;
}

static int count_manifests(void *ctx, const char *name)
{
	if (strncmp(name, "MANIFEST-", 9) == 0)
		++*(int *)ctx;
	return 0;
}

static void test_manifest_rolls_over_to_a_new_manifest(void **state)
{
	struct keys *k = calloc(1, sizeof(*k));
	struct env_fs_mem mem;
	struct snap *a = malloc(sizeof(*a)), *b = malloc(sizeof(*b));
	fs_setup(&mem, 6);
	struct manifest *m = open_db(&mem, 1024);
	struct manifest_options o = opts(&mem, 0);
	struct manifest_recover_result res;
	for (uint32_t i = 1; i <= 40; i++)
		assert_int_equal(script_edit(m, &mem, k, i), 0);
	snap_take(m, a);
	manifest_destroy(m);
	int manifests = 0;
	assert_int_equal(env_fs_list(&mem.base, DIR, count_manifests, &manifests), 0);
	assert_int_equal(manifests, 1); /* each roll removed its predecessor */
	assert_int_equal(manifest_recover(&m, &o, &res), 0);
	assert_true(res.manifest_number > 1);
	assert_true(res.edit_count < 40);
	snap_take(m, b);
	assert_true(snap_eq(a, b));
	manifest_recover_result_deinit(&res);
	/* Opening starts a new manifest from the recovered state. */
	assert_int_equal(manifest_start(m), 0);
	manifest_destroy(m);
	assert_int_equal(manifest_recover(&m, &o, &res), 0);
	assert_int_equal(res.edit_count, 1);
	snap_take(m, b);
	assert_true(snap_eq(a, b));
	manifest_recover_result_deinit(&res);
	manifest_destroy(m);
	env_fs_mem_deinit(&mem);
	free(a);
	free(b);
	free(k);
	(void)state;
}

/* ---- Power cuts ------------------------------------------------------- */

#define CRASH_EDITS 24

/* Runs open + CRASH_EDITS edits, stopping at the first failure. Returns
 * the index of the last operation that succeeded (0: the open, -1: none);
 * *attempted is the one after it. states[j] (if not NULL) records the
 * state after operation j. */
static int crash_run(struct env_fs_mem *mem, struct snap *states, int *attempted)
{
	struct keys *k = calloc(1, sizeof(*k));
	struct manifest_options o = opts(mem, 600); /* a roll every few edits */
	struct manifest_recover_result res;
	struct manifest *m = NULL;
	int acked = -1;
	*attempted = 0;
	assert_int_equal(manifest_recover(&m, &o, &res), 0);
	manifest_recover_result_deinit(&res);
	if (manifest_start(m) == 0) {
		acked = 0;
		if (states)
			snap_take(m, &states[0]);
		for (uint32_t i = 1; i <= CRASH_EDITS; i++) {
			*attempted = (int)i;
			if (script_edit(m, mem, k, i))
				break;
			acked = (int)i;
			if (states)
				snap_take(m, &states[i]);
		}
	}
	manifest_destroy(m);
	free(k);
	return acked;
}

static void crash_walk(enum env_fs_op op, enum env_fs_mem_crash_mode mode, struct snap *states)
{
	struct snap *got = malloc(sizeof(*got));
	uint64_t p;
	for (p = 1;; p++) {
		struct env_fs_mem mem;
		int attempted;
		fs_setup(&mem, 100 + p);
		struct env_fs_mem_fault f = {op, p, ERR_IO, true, false};
		env_fs_mem_inject(&mem, &f);
		int acked = crash_run(&mem, NULL, &attempted);
		struct env_fs_mem_fault none = {0};
		env_fs_mem_inject(&mem, &none);
		env_fs_mem_crash(&mem, mode);

		struct manifest_options o = opts(&mem, 600);
		struct manifest_recover_result res;
		struct manifest *m = NULL;
		int rc = manifest_recover(&m, &o, &res);
		if (rc)
			fail_msg("op %d point %" PRIu64 ": recover %d %s", op, p, rc, res.error);
		snap_take(m, got);
		int lo = acked < 0 ? 0 : acked, hi = attempted;
		int match = -1;
		for (int j = lo; j <= hi && match < 0; j++)
			if (snap_eq(got, &states[j]))
				match = j;
		if (match < 0)
			fail_msg("op %d point %" PRIu64 ": state matches no edit in [%d, %d]", op,
			         p, lo, hi);
		/* The recovered store accepts a new manifest. */
		assert_int_equal(manifest_start(m), 0);
		manifest_recover_result_deinit(&res);
		manifest_destroy(m);
		env_fs_mem_deinit(&mem);
		if (acked == CRASH_EDITS)
			break; /* the fault point lies past the whole run */
	}
	print_message("crash walk op %d mode %d: %" PRIu64 " points\n", op, mode, p);
	assert_true(p > 3); /* even rename: the open and every roll */
	free(got);
}

static void test_manifest_power_cut_at_every_sync_point(void **state)
{
	struct snap *states = calloc(CRASH_EDITS + 1, sizeof(*states));
	struct env_fs_mem mem;
	int attempted;
	fs_setup(&mem, 99);
	assert_int_equal(crash_run(&mem, states, &attempted), CRASH_EDITS);
	env_fs_mem_deinit(&mem);
	crash_walk(ENV_FS_OP_SYNC, ENV_FS_MEM_CRASH_DROP, states);
	crash_walk(ENV_FS_OP_SYNC, ENV_FS_MEM_CRASH_TORN, states);
	crash_walk(ENV_FS_OP_SYNC_DIR, ENV_FS_MEM_CRASH_DROP, states);
	crash_walk(ENV_FS_OP_RENAME, ENV_FS_MEM_CRASH_TORN, states);
	free(states);
	(void)state;
}

/* ---- Failures during log_and_apply ------------------------------------ */

static void failed_write_leaves_version(struct env_fs_mem_fault *fault, uint64_t capacity)
{
	struct keys *k = calloc(1, sizeof(*k));
	struct env_fs_mem mem;
	struct snap *a = malloc(sizeof(*a)), *b = malloc(sizeof(*b));
	fs_setup(&mem, 8);
	struct manifest *m = open_db(&mem, 0);
	for (uint32_t i = 1; i <= 5; i++)
		assert_int_equal(script_edit(m, &mem, k, i), 0);
	snap_take(m, a);
	struct version *before = manifest_current(m);
	if (fault)
		env_fs_mem_inject(&mem, fault);
	if (capacity)
		env_fs_mem_set_capacity(&mem, env_fs_mem_used_bytes(&mem) + capacity);
	int rc = script_edit(m, &mem, k, 6);
	assert_true(rc == ERR_IO || rc == ERR_NOSPACE);
	assert_ptr_equal(manifest_current(m), before);
	snap_take(m, b);
	assert_true(snap_eq(a, b));
	assert_int_equal(manifest_failed(m), rc);
	/* No retry: later edits are refused without touching the disk. */
	struct env_fs_mem_fault none = {0};
	env_fs_mem_inject(&mem, &none);
	env_fs_mem_set_capacity(&mem, 0);
	uint64_t calls = env_fs_mem_calls(&mem, ENV_FS_OP_ANY);
	struct version_edit e;
	version_edit_init(&e);
	version_edit_set_last_seq(&e, 1000);
	assert_int_equal(manifest_log_and_apply(m, &e), rc);
	assert_int_equal(manifest_start(m), rc);
	assert_int_equal(env_fs_mem_calls(&mem, ENV_FS_OP_ANY), calls);
	version_edit_deinit(&e);
	manifest_destroy(m);
	env_fs_mem_deinit(&mem);
	free(a);
	free(b);
	free(k);
}

static void test_manifest_failed_fsync_leaves_version_and_refuses_edits(void **state)
{
	struct env_fs_mem_fault f = {ENV_FS_OP_SYNC, 1, ERR_IO, false, false};
	failed_write_leaves_version(&f, 0);
	(void)state;
}

/* Recovers the manifest after a power cut and checks it holds want. */
static void recover_expect(struct env_fs_mem *mem, const struct snap *want, uint64_t edits)
{
	env_fs_mem_crash(mem, ENV_FS_MEM_CRASH_TORN);
	struct manifest_options o = opts(mem, 0);
	struct manifest_recover_result res;
	struct manifest *m = NULL;
	int rc = manifest_recover(&m, &o, &res);
	if (rc)
		fail_msg("recover: %d %s", rc, res.error);
	struct snap *got = malloc(sizeof(*got));
	snap_take(m, got);
	assert_true(snap_eq(got, want));
	assert_int_equal(res.edit_count, edits);
	free(got);
	manifest_recover_result_deinit(&res);
	manifest_destroy(m);
}

/* A full disk during an edit's append (a cap at every few bytes past the
 * used ones, and short writes): the edit fails with ERR_NOSPACE and is not
 * installed, the manifest is not failed, and a power cut then recovers
 * the state before it (the partial record was cut off, even when most of
 * it had reached the file). Once space is back, the next edit rolls to a
 * new manifest, and a power cut recovers the state with that edit. A roll
 * that runs out of space leaves CURRENT on the old manifest. */
static void test_manifest_full_disk_cuts_the_edit_and_rolls(void **state)
{
	(void)state;
	struct snap *a = malloc(sizeof(*a)), *b = malloc(sizeof(*b));
	for (int round = 0; round < 24; round++) {
		for (int crash_early = 0; crash_early < 2; crash_early++) {
			struct keys *k = calloc(1, sizeof(*k));
			struct env_fs_mem mem;
			fs_setup(&mem, 30 + (uint64_t)round);
			struct manifest *m = open_db(&mem, 0);
			for (uint32_t i = 1; i <= 5; i++)
				assert_int_equal(script_edit(m, &mem, k, i), 0);
			snap_take(m, a);
			if (round % 2) {
				struct env_fs_mem_fault f = {ENV_FS_OP_APPEND, 1, ERR_NOSPACE, false,
				                             true};
				env_fs_mem_inject(&mem, &f);
			} else {
				env_fs_mem_set_capacity(&mem, env_fs_mem_used_bytes(&mem) +
				                                  (uint64_t)round);
			}
			assert_int_equal(script_edit(m, &mem, k, 6), ERR_NOSPACE);
			assert_int_equal(manifest_failed(m), 0);
			snap_take(m, b);
			assert_true(snap_eq(a, b));
			struct env_fs_mem_fault none = {0};
			env_fs_mem_inject(&mem, &none);
			if (crash_early) {
				manifest_destroy(m);
				recover_expect(&mem, a, 6); /* the snapshot and 5 edits */
			} else {
				/* Still full: the roll fails too, CURRENT stays. */
				if (round % 2 == 0) {
					assert_int_equal(script_edit(m, &mem, k, 7), ERR_NOSPACE);
					assert_int_equal(manifest_failed(m), 0);
				}
				env_fs_mem_set_capacity(&mem, 0);
				assert_int_equal(script_edit(m, &mem, k, 8), 0);
				snap_take(m, b);
				manifest_destroy(m);
				int manifests = 0;
				assert_int_equal(
				    env_fs_list(&mem.base, DIR, count_manifests, &manifests), 0);
				assert_int_equal(manifests, 1); /* rolled; the old one removed */
				recover_expect(&mem, b, 1);     /* a new manifest: its snapshot */
			}
			env_fs_mem_deinit(&mem);
			free(k);
		}
	}
	free(a);
	free(b);
}

/* ---- Damage, orphans, missing files ----------------------------------- */

static void test_manifest_bit_flip_is_corruption_with_file_and_offset(void **state)
{
	struct keys *k = calloc(1, sizeof(*k));
	struct env_fs_mem mem;
	char err[160];
	fs_setup(&mem, 9);
	struct manifest *m = open_db(&mem, 0); /* MANIFEST-000001, never rolls */
	for (uint32_t i = 1; i <= 300; i++) {
		struct version_edit e;
		version_edit_init(&e);
		uint64_t n = manifest_new_file_number(m);
		struct vedit_file f = {
		    0, n, 1, 0, 0, 0, key_make(k, i, 0, 20), key_make(k, i, 0, 20)};
		assert_int_equal(version_edit_add_file(&e, &f), 0);
		touch(&mem.base, n);
		assert_int_equal(manifest_log_and_apply(m, &e), 0);
		version_edit_deinit(&e);
	}
	manifest_destroy(m);
	assert_int_equal(env_fs_mem_flip_bit(&mem, DIR "/MANIFEST-000001", 5000 * 8 + 3), 0);
	assert_int_equal(recover_err(&mem, err, sizeof(err)), ERR_CORRUPT);
	assert_non_null(strstr(err, "MANIFEST-000001"));
	assert_non_null(strstr(err, "offset"));

	struct manifest_options o = opts(&mem, 0);
	struct manifest_recover_result res;
	assert_int_equal(manifest_recover(&m, &o, &res), ERR_CORRUPT);
	assert_true(res.error_offset > WAL_FILE_HEADER_BYTES && res.error_offset <= 5000);
	manifest_recover_result_deinit(&res);
	/* Salvage skips the damaged edits and keeps the rest. */
	o.salvage = true;
	assert_int_equal(manifest_recover(&m, &o, &res), 0);
	size_t files = version_file_count(manifest_current(m), 0);
	assert_true(files < 300 && files > 250);
	assert_true(res.skipped_bytes > 0);
	manifest_recover_result_deinit(&res);
	manifest_destroy(m);
	env_fs_mem_deinit(&mem);
	free(k);
	(void)state;
}

static void create_file(struct env_fs_mem *mem, const char *name)
{
	char path[FS_PATH_BYTES_MAX];
	struct env_file *f;
	snprintf(path, sizeof(path), DIR "/%s", name);
	assert_int_equal(env_fs_open(&mem->base, path, ENV_FS_CREATE, &f), 0);
	assert_int_equal(env_fs_close(&mem->base, f), 0);
}

static void test_manifest_reports_orphans_and_missing_files(void **state)
{
	struct keys *k = calloc(1, sizeof(*k));
	struct env_fs_mem mem;
	char err[160];
	fs_setup(&mem, 10);
	struct manifest *m = open_db(&mem, 0);
	for (uint32_t i = 1; i <= 3; i++) /* log number ends at 3 */
		assert_int_equal(script_edit(m, &mem, k, i), 0);
	manifest_destroy(m);
	const char *orphans[] = {"999999.sst", "000001.log", "CURRENT.tmp", "MANIFEST-000099"};
	for (size_t i = 0; i < 4; i++)
		create_file(&mem, orphans[i]);
	create_file(&mem, "000003.log"); /* the live WAL */
	create_file(&mem, "000042.blob");

	struct manifest_options o = opts(&mem, 0);
	struct manifest_recover_result res;
	assert_int_equal(manifest_recover(&m, &o, &res), 0);
	assert_int_equal(res.orphan_count, 4);
	for (size_t i = 0; i < 4; i++) {
		bool found = false;
		for (size_t j = 0; j < res.orphan_count; j++)
			found |= strcmp(res.orphans[j].name, orphans[i]) == 0;
		assert_true(found);
	}
	assert_true(manifest_next_file(m) > 999999); /* never reuses a number on disk */
	uint64_t victim = version_file(manifest_current(m), 0, 1)->number;
	manifest_recover_result_deinit(&res);
	manifest_destroy(m);

	char path[FS_PATH_BYTES_MAX], want[32];
	manifest_file_path(path, sizeof(path), DIR, MANIFEST_KIND_TABLE, victim);
	assert_int_equal(env_fs_remove(&mem.base, path), 0);
	assert_int_equal(recover_err(&mem, err, sizeof(err)), ERR_CORRUPT);
	snprintf(want, sizeof(want), "missing file %" PRIu64, victim);
	assert_string_equal(err, want);
	env_fs_mem_deinit(&mem);
	free(k);
	(void)state;
}

static void test_manifest_without_current(void **state)
{
	struct env_fs_mem mem;
	char err[160];
	struct manifest_options o;
	struct manifest_recover_result res;
	struct manifest *m = NULL;
	fs_setup(&mem, 11);
	o = opts(&mem, 0);
	/* Empty directory: a new store. */
	assert_int_equal(manifest_recover(&m, &o, &res), 0);
	assert_true(res.new_db);
	assert_int_equal(res.orphan_count, 0);
	manifest_recover_result_deinit(&res);
	manifest_destroy(m);
	/* Leftovers of a first open that never wrote CURRENT: still new. */
	create_file(&mem, "MANIFEST-000001");
	assert_int_equal(manifest_recover(&m, &o, &res), 0);
	assert_true(res.new_db);
	assert_int_equal(res.orphan_count, 1);
	manifest_recover_result_deinit(&res);
	manifest_destroy(m);
	/* Data without CURRENT: never guessed at. */
	create_file(&mem, "000005.sst");
	assert_int_equal(recover_err(&mem, err, sizeof(err)), ERR_CORRUPT);
	assert_string_equal(err, "no CURRENT file");
	/* A malformed CURRENT. */
	struct env_file *f;
	assert_int_equal(env_fs_open(&mem.base, DIR "/CURRENT", ENV_FS_CREATE, &f), 0);
	assert_int_equal(env_fs_append(&mem.base, f, "MANIFEST-x\n", 11), 0);
	assert_int_equal(env_fs_close(&mem.base, f), 0);
	assert_int_equal(recover_err(&mem, err, sizeof(err)), ERR_CORRUPT);
	assert_string_equal(err, "CURRENT is malformed");
	env_fs_mem_deinit(&mem);
	(void)state;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_version_edit_round_trips_every_field),
	    cmocka_unit_test(test_version_edit_rejects_malformed_fields),
	    cmocka_unit_test(test_manifest_recovery_rejects_l1_overlap),
	    cmocka_unit_test(test_manifest_blob_records_replay_and_their_rules),
	    cmocka_unit_test(test_manifest_log_and_apply_then_recover_gives_same_version),
	    cmocka_unit_test(test_manifest_rolls_over_to_a_new_manifest),
	    cmocka_unit_test(test_manifest_power_cut_at_every_sync_point),
	    cmocka_unit_test(test_manifest_failed_fsync_leaves_version_and_refuses_edits),
	    cmocka_unit_test(test_manifest_full_disk_cuts_the_edit_and_rolls),
	    cmocka_unit_test(test_manifest_bit_flip_is_corruption_with_file_and_offset),
	    cmocka_unit_test(test_manifest_reports_orphans_and_missing_files),
	    cmocka_unit_test(test_manifest_without_current),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
