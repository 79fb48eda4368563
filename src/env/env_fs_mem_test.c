/*
 * env_fs_mem_test.c - the in-memory env_fs and its faults (env_fs_mem.h).
 *
 * Each test builds its own seeded file system and ends with
 * env_fs_mem_deinit, which asserts that every handle was closed and every
 * byte accounted for.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <string.h>

#include "base/err.h"
#include "env/env_fs_mem.h"

static struct env_file *open_ok(struct env_fs *fs, const char *path, unsigned flags)
{
	struct env_file *f = NULL;
	assert_int_equal(env_fs_open(fs, path, flags, &f), 0);
	return f;
}

static uint64_t size_of(struct env_fs *fs, struct env_file *f)
{
	uint64_t n = 0;
	assert_int_equal(env_fs_size(fs, f, &n), 0);
	return n;
}

/* Size of the file at path, or -1 when it does not exist. */
static int64_t path_size(struct env_fs *fs, const char *path)
{
	struct env_file *f = NULL;
	int rc = env_fs_open(fs, path, 0, &f);
	if (rc == ERR_NOT_FOUND)
		return -1;
	assert_int_equal(rc, 0);
	int64_t n = (int64_t)size_of(fs, f);
	env_fs_close(fs, f);
	return n;
}

static int count_entry(void *ctx, const char *name)
{
	(void)name;
	(*(int *)ctx)++;
	return 0;
}

static void test_mem_files_behave_like_files(void **state)
{
	(void)state;
	struct env_fs_mem m;
	env_fs_mem_init(&m, 1);
	struct env_fs *fs = &m.base;
	struct env_file *f = NULL;
	assert_int_equal(env_fs_open(fs, "d/a", ENV_FS_CREATE, &f), ERR_NOT_FOUND);
	assert_int_equal(env_fs_mkdir(fs, "d"), 0);
	assert_int_equal(env_fs_mkdir(fs, "d"), ERR_EXISTS);
	assert_int_equal(env_fs_open(fs, "d/a", 0, &f), ERR_NOT_FOUND);
	f = open_ok(fs, "d/a", ENV_FS_CREATE);
	assert_int_equal(env_fs_append(fs, f, "hello", 5), 0);
	assert_int_equal(env_fs_append(fs, f, " world", 6), 0);
	char buf[32];
	size_t got = 0;
	assert_int_equal(env_fs_read_at(fs, f, 6, buf, sizeof(buf), &got), 0);
	assert_int_equal(got, 5);
	assert_memory_equal(buf, "world", 5);
	assert_int_equal(env_fs_truncate(fs, f, 5), 0);
	assert_int_equal(size_of(fs, f), 5);
	assert_int_equal(env_fs_truncate(fs, f, 8), 0); /* grows with zeros */
	assert_int_equal(env_fs_read_at(fs, f, 5, buf, 3, &got), 0);
	assert_memory_equal(buf, "\0\0\0", 3);
	assert_int_equal(env_fs_close(fs, f), 0);
	f = open_ok(fs, "d/b", ENV_FS_CREATE);
	env_fs_close(fs, f);
	int n = 0;
	assert_int_equal(env_fs_list(fs, "d", count_entry, &n), 0);
	assert_int_equal(n, 2);
	assert_int_equal(env_fs_rename(fs, "d/a", "d/b"), 0); /* replaces b */
	assert_int_equal(path_size(fs, "d/a"), -1);
	assert_int_equal(path_size(fs, "d/b"), 8);
	assert_int_equal(env_fs_remove(fs, "d/b"), 0);
	assert_int_equal(env_fs_remove(fs, "d/b"), ERR_NOT_FOUND);
	f = open_ok(fs, "t", ENV_FS_CREATE);
	assert_int_equal(env_fs_append(fs, f, "xyz", 3), 0);
	env_fs_close(fs, f);
	f = open_ok(fs, "t", ENV_FS_CREATE | ENV_FS_TRUNCATE);
	assert_int_equal(size_of(fs, f), 0);
	env_fs_close(fs, f);
	env_fs_mem_deinit(&m);
}

static void test_mem_crash_drops_unsynced_bytes(void **state)
{
	(void)state;
	struct env_fs_mem m;
	env_fs_mem_init(&m, 2);
	struct env_fs *fs = &m.base;
	struct env_file *f = open_ok(fs, "a", ENV_FS_CREATE);
	assert_int_equal(env_fs_sync_dir(fs, "."), 0);
	assert_int_equal(env_fs_append(fs, f, "durable", 7), 0);
	assert_int_equal(env_fs_sync(fs, f), 0);
	assert_int_equal(env_fs_append(fs, f, "lost", 4), 0);
	env_fs_mem_crash(&m, ENV_FS_MEM_CRASH_DROP);
	/* The handle died with the process. */
	uint64_t n;
	assert_int_equal(env_fs_size(fs, f, &n), ERR_IO);
	assert_int_equal(env_fs_append(fs, f, "x", 1), ERR_IO);
	env_fs_close(fs, f);
	assert_int_equal(path_size(fs, "a"), 7);
	/* A truncate after the sync is undone too. */
	f = open_ok(fs, "a", 0);
	assert_int_equal(env_fs_truncate(fs, f, 2), 0);
	assert_int_equal(env_fs_append(fs, f, "ZZZZZZZZ", 8), 0);
	env_fs_mem_crash(&m, ENV_FS_MEM_CRASH_TORN);
	env_fs_close(fs, f);
	f = open_ok(fs, "a", 0);
	char buf[16];
	size_t got;
	assert_int_equal(env_fs_read_at(fs, f, 0, buf, sizeof(buf), &got), 0);
	assert_int_equal(got, 7);
	assert_memory_equal(buf, "durable", 7);
	env_fs_close(fs, f);
	env_fs_mem_deinit(&m);
}

static void test_mem_crash_torn_keeps_a_prefix(void **state)
{
	(void)state;
	struct env_fs_mem m;
	env_fs_mem_init(&m, 3);
	struct env_fs *fs = &m.base;
	uint8_t data[1000];
	for (size_t i = 0; i < sizeof(data); i++)
		data[i] = (uint8_t)(i * 7);
	bool saw_partial = false;
	for (int round = 0; round < 50; round++) {
		struct env_file *f = open_ok(fs, "a", ENV_FS_CREATE | ENV_FS_TRUNCATE);
		assert_int_equal(env_fs_sync_dir(fs, "."), 0);
		assert_int_equal(env_fs_append(fs, f, data, 100), 0);
		assert_int_equal(env_fs_sync(fs, f), 0);
		assert_int_equal(env_fs_append(fs, f, data + 100, 900), 0);
		env_fs_mem_crash(&m, ENV_FS_MEM_CRASH_TORN);
		env_fs_close(fs, f);
		f = open_ok(fs, "a", 0);
		uint8_t buf[1000];
		size_t got;
		assert_int_equal(env_fs_read_at(fs, f, 0, buf, sizeof(buf), &got), 0);
		assert_true(got >= 100 && got <= 1000);
		assert_memory_equal(buf, data, got);
		saw_partial |= got > 100 && got < 1000;
		env_fs_close(fs, f);
	}
	assert_true(saw_partial);
	env_fs_mem_deinit(&m);
}

static void test_mem_crash_forgets_names_until_dir_sync(void **state)
{
	(void)state;
	struct env_fs_mem m;
	env_fs_mem_init(&m, 4);
	struct env_fs *fs = &m.base;
	/* Created and synced, but the directory was not: gone. */
	struct env_file *f = open_ok(fs, "new", ENV_FS_CREATE);
	assert_int_equal(env_fs_append(fs, f, "abc", 3), 0);
	assert_int_equal(env_fs_sync(fs, f), 0);
	env_fs_close(fs, f);
	env_fs_mem_crash(&m, ENV_FS_MEM_CRASH_DROP);
	assert_int_equal(path_size(fs, "new"), -1);
	/* With the directory synced it stays. */
	f = open_ok(fs, "new", ENV_FS_CREATE);
	assert_int_equal(env_fs_append(fs, f, "abc", 3), 0);
	assert_int_equal(env_fs_sync(fs, f), 0);
	env_fs_close(fs, f);
	assert_int_equal(env_fs_sync_dir(fs, "."), 0);
	/* A rename without a directory sync is undone... */
	assert_int_equal(env_fs_rename(fs, "new", "renamed"), 0);
	env_fs_mem_crash(&m, ENV_FS_MEM_CRASH_DROP);
	assert_int_equal(path_size(fs, "new"), 3);
	assert_int_equal(path_size(fs, "renamed"), -1);
	/* ...and kept after one. */
	assert_int_equal(env_fs_rename(fs, "new", "renamed"), 0);
	assert_int_equal(env_fs_sync_dir(fs, "."), 0);
	env_fs_mem_crash(&m, ENV_FS_MEM_CRASH_DROP);
	assert_int_equal(path_size(fs, "new"), -1);
	assert_int_equal(path_size(fs, "renamed"), 3);
	/* A remove without a directory sync is undone. */
	assert_int_equal(env_fs_remove(fs, "renamed"), 0);
	assert_int_equal(path_size(fs, "renamed"), -1);
	env_fs_mem_crash(&m, ENV_FS_MEM_CRASH_DROP);
	assert_int_equal(path_size(fs, "renamed"), 3);
	env_fs_mem_deinit(&m);
}

static void test_mem_fails_the_nth_call(void **state)
{
	(void)state;
	struct env_fs_mem m;
	env_fs_mem_init(&m, 5);
	struct env_fs *fs = &m.base;
	struct env_file *f = open_ok(fs, "a", ENV_FS_CREATE);
	/* The 3rd call of any kind fails, once. */
	struct env_fs_mem_fault any = {.op = ENV_FS_OP_ANY, .nth = 3, .err = ERR_IO};
	env_fs_mem_inject(&m, &any);
	assert_int_equal(env_fs_append(fs, f, "a", 1), 0);
	assert_int_equal(env_fs_sync(fs, f), 0);
	assert_int_equal(env_fs_append(fs, f, "b", 1), ERR_IO);
	assert_int_equal(env_fs_append(fs, f, "c", 1), 0);
	/* The 2nd sync fails with ENOSPC, and every later one (sticky). */
	struct env_fs_mem_fault sync = {
	    .op = ENV_FS_OP_SYNC, .nth = 2, .err = ERR_NOSPACE, .sticky = true};
	env_fs_mem_inject(&m, &sync);
	assert_int_equal(env_fs_sync(fs, f), 0);
	assert_int_equal(env_fs_append(fs, f, "d", 1), 0);
	assert_int_equal(env_fs_sync(fs, f), ERR_NOSPACE);
	assert_int_equal(env_fs_sync(fs, f), ERR_NOSPACE);
	assert_int_equal(env_fs_mem_calls(&m, ENV_FS_OP_SYNC), 4);
	/* A failed sync made nothing durable: "d" is lost in a crash. */
	assert_int_equal(env_fs_sync_dir(fs, "."), 0);
	env_fs_mem_crash(&m, ENV_FS_MEM_CRASH_DROP);
	env_fs_close(fs, f);
	assert_int_equal(path_size(fs, "a"), 2);
	struct env_fs_mem_fault off = {0};
	env_fs_mem_inject(&m, &off);
	/* Every kind can fail. */
	for (int op = ENV_FS_OP_OPEN; op < ENV_FS_OP_COUNT; op++) {
		struct env_fs_mem_fault one = {.op = (enum env_fs_op)op, .nth = 1, .err = ERR_IO};
		env_fs_mem_inject(&m, &one);
		int rc = 0;
		f = NULL;
		if (op != ENV_FS_OP_OPEN)
			f = open_ok(fs, "a", 0);
		uint64_t n;
		char c;
		size_t got;
		switch ((enum env_fs_op)op) {
		case ENV_FS_OP_OPEN:
			rc = env_fs_open(fs, "a", 0, &f);
			break;
		case ENV_FS_OP_CLOSE:
			rc = env_fs_close(fs, f);
			f = NULL;
			break;
		case ENV_FS_OP_READ:
			rc = env_fs_read_at(fs, f, 0, &c, 1, &got);
			break;
		case ENV_FS_OP_APPEND:
			rc = env_fs_append(fs, f, "e", 1);
			break;
		case ENV_FS_OP_SYNC:
			rc = env_fs_sync(fs, f);
			break;
		case ENV_FS_OP_SYNC_DIR:
			rc = env_fs_sync_dir(fs, ".");
			break;
		case ENV_FS_OP_RENAME:
			rc = env_fs_rename(fs, "a", "b");
			break;
		case ENV_FS_OP_REMOVE:
			rc = env_fs_remove(fs, "a");
			break;
		case ENV_FS_OP_TRUNCATE:
			rc = env_fs_truncate(fs, f, 0);
			break;
		case ENV_FS_OP_SIZE:
			rc = env_fs_size(fs, f, &n);
			break;
		case ENV_FS_OP_LIST:
			rc = env_fs_list(fs, ".", count_entry, &(int){0});
			break;
		case ENV_FS_OP_MKDIR:
			rc = env_fs_mkdir(fs, "z");
			break;
		case ENV_FS_OP_LINK:
			rc = env_fs_link(fs, "a", "b");
			break;
		case ENV_FS_OP_RMDIR:
			rc = env_fs_rmdir(fs, "z");
			break;
		case ENV_FS_OP_MAP: {
			struct env_fs_map map;
			rc = env_fs_map(fs, f, &map);
			break;
		}
		default:
			fail();
		}
		assert_int_equal(rc, ERR_IO);
		if (f)
			env_fs_close(fs, f);
	}
	assert_int_equal(path_size(fs, "a"), 2); /* nothing changed */
	env_fs_mem_deinit(&m);
}

static void test_mem_short_write_keeps_a_prefix(void **state)
{
	(void)state;
	struct env_fs_mem m;
	env_fs_mem_init(&m, 6);
	struct env_fs *fs = &m.base;
	struct env_file *f = open_ok(fs, "a", ENV_FS_CREATE);
	char data[100];
	memset(data, 'q', sizeof(data));
	uint64_t before = 0;
	for (int i = 0; i < 20; i++) {
		struct env_fs_mem_fault shrt = {
		    .op = ENV_FS_OP_APPEND, .nth = 1, .err = ERR_IO, .partial = true};
		env_fs_mem_inject(&m, &shrt);
		assert_int_equal(env_fs_append(fs, f, data, sizeof(data)), ERR_IO);
		uint64_t after = size_of(fs, f);
		assert_true(after >= before && after < before + sizeof(data));
		before = after;
	}
	assert_true(before > 0); /* some prefixes were not empty */
	env_fs_close(fs, f);
	env_fs_mem_deinit(&m);
}

static void test_mem_full_disk_fails_with_nospace(void **state)
{
	(void)state;
	struct env_fs_mem m;
	env_fs_mem_init(&m, 7);
	struct env_fs *fs = &m.base;
	env_fs_mem_set_capacity(&m, 100);
	struct env_file *f = open_ok(fs, "a", ENV_FS_CREATE);
	char data[80] = {0};
	assert_int_equal(env_fs_append(fs, f, data, 80), 0);
	assert_int_equal(env_fs_append(fs, f, data, 30), ERR_NOSPACE);
	assert_int_equal(size_of(fs, f), 100); /* filled to the brim */
	assert_int_equal(env_fs_append(fs, f, data, 1), ERR_NOSPACE);
	assert_int_equal(env_fs_truncate(fs, f, 110), ERR_NOSPACE);
	assert_int_equal(env_fs_truncate(fs, f, 50), 0);
	assert_int_equal(env_fs_append(fs, f, data, 50), 0);
	env_fs_close(fs, f);
	env_fs_mem_deinit(&m);
}

static void test_mem_bit_flips_change_stored_bytes(void **state)
{
	(void)state;
	struct env_fs_mem m;
	env_fs_mem_init(&m, 8);
	struct env_fs *fs = &m.base;
	struct env_file *f = open_ok(fs, "a", ENV_FS_CREATE);
	uint8_t zeros[64] = {0};
	assert_int_equal(env_fs_append(fs, f, zeros, sizeof(zeros)), 0);
	assert_int_equal(env_fs_sync(fs, f), 0);
	assert_int_equal(env_fs_sync_dir(fs, "."), 0);
	assert_int_equal(env_fs_mem_flip_bit(&m, "a", 8 * 10 + 3), 0);
	assert_int_equal(env_fs_mem_flip_bit(&m, "a", 8 * 64), ERR_RANGE);
	assert_int_equal(env_fs_mem_flip_bit(&m, "nope", 0), ERR_NOT_FOUND);
	uint64_t bit = 0;
	assert_int_equal(env_fs_mem_flip_random(&m, "a", 32, 40, &bit), 0);
	assert_true(bit >= 32 * 8 && bit < 40 * 8);
	assert_int_equal(env_fs_mem_flip_random(&m, "a", 64, 70, &bit), ERR_RANGE);
	/* The damage is on disk: it survives a crash. */
	env_fs_mem_crash(&m, ENV_FS_MEM_CRASH_DROP);
	env_fs_close(fs, f);
	f = open_ok(fs, "a", 0);
	uint8_t buf[64];
	size_t got;
	assert_int_equal(env_fs_read_at(fs, f, 0, buf, sizeof(buf), &got), 0);
	assert_int_equal(buf[10], 1u << 3);
	int flipped = 0;
	for (int i = 32; i < 40; i++)
		flipped += buf[i] != 0;
	assert_int_equal(flipped, 1);
	env_fs_close(fs, f);
	env_fs_mem_deinit(&m);
}

static void test_mem_same_seed_same_faults(void **state)
{
	(void)state;
	uint64_t bits[2][10];
	for (int run = 0; run < 2; run++) {
		struct env_fs_mem m;
		env_fs_mem_init(&m, 42);
		struct env_file *f = open_ok(&m.base, "a", ENV_FS_CREATE);
		uint8_t zeros[4096] = {0};
		assert_int_equal(env_fs_append(&m.base, f, zeros, sizeof(zeros)), 0);
		for (int i = 0; i < 10; i++)
			assert_int_equal(env_fs_mem_flip_random(&m, "a", 0, 4096, &bits[run][i]),
			                 0);
		env_fs_close(&m.base, f);
		env_fs_mem_deinit(&m);
	}
	assert_memory_equal(bits[0], bits[1], sizeof(bits[0]));
}

static struct env_fs_map map_ok(struct env_fs *fs, struct env_file *f)
{
	struct env_fs_map map = {0};
	assert_int_equal(env_fs_map(fs, f, &map), 0);
	assert_non_null(map.ptr);
	return map;
}

/* A mapping shows the file's bytes at map time, outlives its handle, never
 * moves when the file grows, and counts each access as a read. */
static void test_mem_map_is_a_stable_view(void **state)
{
	(void)state;
	struct env_fs_mem m;
	env_fs_mem_init(&m, 9);
	struct env_fs *fs = &m.base;
	struct env_file *f = open_ok(fs, "a", ENV_FS_CREATE);
	struct env_fs_map map;
	assert_int_equal(env_fs_map(fs, f, &map), ERR_INVALID); /* empty */
	assert_int_equal(env_fs_append(fs, f, "hello world", 11), 0);
	map = map_ok(fs, f);
	assert_int_equal(map.len, 11);
	assert_int_equal(env_fs_mem_calls(&m, ENV_FS_OP_MAP), 2);
	uint64_t reads = env_fs_mem_calls(&m, ENV_FS_OP_READ);
	const uint8_t *p = NULL;
	assert_int_equal(env_fs_map_read(fs, &map, 6, 5, &p), 0);
	assert_memory_equal(p, "world", 5);
	assert_int_equal(env_fs_mem_calls(&m, ENV_FS_OP_READ), reads + 1);
	/* Growing the file (far past its buffer) and shrinking it leave the
	 * view as it was. */
	uint8_t big[8192];
	memset(big, 'x', sizeof(big));
	assert_int_equal(env_fs_append(fs, f, big, sizeof(big)), 0);
	assert_int_equal(env_fs_truncate(fs, f, 2), 0);
	assert_int_equal(env_fs_append(fs, f, "zzzz", 4), 0);
	env_fs_close(fs, f);
	assert_int_equal(env_fs_remove(fs, "a"), 0);
	assert_int_equal(env_fs_map_read(fs, &map, 0, 11, &p), 0);
	assert_memory_equal(p, "hello world", 11);
	env_fs_unmap(fs, &map);
	assert_int_equal(env_fs_mem_used_bytes(&m), 0);
	env_fs_mem_deinit(&m); /* asserts every mapping released */
}

/* Faults reach mapped reads: a read fault armed after map fails an
 * access, a bit flip shows through the view, a crash kills the mapping,
 * and a failed map leaves nothing behind. */
static void test_mem_map_faults_reach_mapped_reads(void **state)
{
	(void)state;
	struct env_fs_mem m;
	env_fs_mem_init(&m, 10);
	struct env_fs *fs = &m.base;
	struct env_file *f = open_ok(fs, "a", ENV_FS_CREATE);
	uint8_t zeros[64] = {0};
	assert_int_equal(env_fs_append(fs, f, zeros, sizeof(zeros)), 0);
	assert_int_equal(env_fs_sync(fs, f), 0);
	assert_int_equal(env_fs_sync_dir(fs, "."), 0);
	struct env_fs_mem_fault fail_map = {.op = ENV_FS_OP_MAP, .nth = 1, .err = ERR_IO};
	env_fs_mem_inject(&m, &fail_map);
	struct env_fs_map map;
	assert_int_equal(env_fs_map(fs, f, &map), ERR_IO);
	map = map_ok(fs, f);
	struct env_fs_mem_fault fail_read = {.op = ENV_FS_OP_READ, .nth = 2, .err = ERR_IO};
	env_fs_mem_inject(&m, &fail_read);
	const uint8_t *p = NULL;
	assert_int_equal(env_fs_map_read(fs, &map, 0, 64, &p), 0);
	assert_int_equal(env_fs_map_read(fs, &map, 0, 64, &p), ERR_IO);
	assert_int_equal(env_fs_map_read(fs, &map, 0, 64, &p), 0);
	assert_int_equal(env_fs_mem_flip_bit(&m, "a", 8 * 20 + 5), 0);
	assert_int_equal(p[20], 1u << 5);
	env_fs_mem_crash(&m, ENV_FS_MEM_CRASH_DROP);
	assert_int_equal(env_fs_map_read(fs, &map, 0, 64, &p), ERR_IO);
	env_fs_unmap(fs, &map);
	env_fs_close(fs, f);
	env_fs_mem_deinit(&m);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_mem_files_behave_like_files),
	    cmocka_unit_test(test_mem_crash_drops_unsynced_bytes),
	    cmocka_unit_test(test_mem_crash_torn_keeps_a_prefix),
	    cmocka_unit_test(test_mem_crash_forgets_names_until_dir_sync),
	    cmocka_unit_test(test_mem_fails_the_nth_call),
	    cmocka_unit_test(test_mem_short_write_keeps_a_prefix),
	    cmocka_unit_test(test_mem_full_disk_fails_with_nospace),
	    cmocka_unit_test(test_mem_bit_flips_change_stored_bytes),
	    cmocka_unit_test(test_mem_same_seed_same_faults),
	    cmocka_unit_test(test_mem_map_is_a_stable_view),
	    cmocka_unit_test(test_mem_map_faults_reach_mapped_reads),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
