/*
 * env_fs_posix_test.c - the real-file env_fs (fs.h) in a temporary
 * directory that the test removes.
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

#include "base/err.h"
#include "env/fs.h"

static int count_entry(void *ctx, const char *name)
{
	(void)name;
	(*(int *)ctx)++;
	return 0;
}

static void path_in(char *out, size_t cap, const char *dir, const char *name)
{
	snprintf(out, cap, "%s/%s", dir, name);
}

static void test_posix_files_round_trip(void **state)
{
	(void)state;
	char dir[] = "/tmp/ringkv-fs-test-XXXXXX";
	assert_non_null(mkdtemp(dir));
	struct env_fs_posix px;
	env_fs_posix_init(&px);
	struct env_fs *fs = &px.base;
	char a[256], b[256], sub[256];
	path_in(a, sizeof(a), dir, "a");
	path_in(b, sizeof(b), dir, "b");
	path_in(sub, sizeof(sub), dir, "sub");
	struct env_file *f = NULL;
	assert_int_equal(env_fs_open(fs, a, 0, &f), ERR_NOT_FOUND);
	assert_int_equal(env_fs_open(fs, a, ENV_FS_CREATE, &f), 0);
	assert_int_equal(env_fs_append(fs, f, "hello", 5), 0);
	assert_int_equal(env_fs_append(fs, f, " world", 6), 0);
	assert_int_equal(env_fs_sync(fs, f), 0);
	assert_int_equal(env_fs_sync_dir(fs, dir), 0);
	char buf[32];
	size_t got = 0;
	assert_int_equal(env_fs_read_at(fs, f, 6, buf, sizeof(buf), &got), 0);
	assert_int_equal(got, 5);
	assert_memory_equal(buf, "world", 5);
	uint64_t n = 0;
	assert_int_equal(env_fs_truncate(fs, f, 5), 0);
	assert_int_equal(env_fs_size(fs, f, &n), 0);
	assert_int_equal(n, 5);
	assert_int_equal(env_fs_append(fs, f, "!", 1), 0); /* appends at the new end */
	assert_int_equal(env_fs_read_at(fs, f, 0, buf, sizeof(buf), &got), 0);
	assert_int_equal(got, 6);
	assert_memory_equal(buf, "hello!", 6);
	assert_int_equal(env_fs_close(fs, f), 0);
	assert_int_equal(env_fs_mkdir(fs, sub), 0);
	assert_int_equal(env_fs_mkdir(fs, sub), ERR_EXISTS);
	int entries = 0;
	assert_int_equal(env_fs_list(fs, dir, count_entry, &entries), 0);
	assert_int_equal(entries, 2);
	assert_int_equal(env_fs_rename(fs, a, b), 0);
	assert_int_equal(env_fs_open(fs, a, 0, &f), ERR_NOT_FOUND);
	assert_int_equal(env_fs_open(fs, b, ENV_FS_TRUNCATE, &f), 0);
	assert_int_equal(env_fs_size(fs, f, &n), 0);
	assert_int_equal(n, 0);
	assert_int_equal(env_fs_close(fs, f), 0);
	assert_int_equal(env_fs_remove(fs, b), 0);
	assert_int_equal(env_fs_remove(fs, b), ERR_NOT_FOUND);
	assert_int_equal(env_fs_rename(fs, a, b), ERR_NOT_FOUND);
	assert_int_equal(env_fs_list(fs, a, count_entry, &entries), ERR_NOT_FOUND);
	assert_int_equal(rmdir(sub), 0);
	assert_int_equal(rmdir(dir), 0);
}

/* /dev/full fails every write with ENOSPC: the mapping to ERR_NOSPACE. */
static void test_posix_full_disk_is_nospace(void **state)
{
	(void)state;
	struct env_fs_posix px;
	env_fs_posix_init(&px);
	struct env_file *f = NULL;
	if (env_fs_open(&px.base, "/dev/full", 0, &f) != 0)
		skip();
	assert_int_equal(env_fs_append(&px.base, f, "x", 1), ERR_NOSPACE);
	assert_int_equal(env_fs_close(&px.base, f), 0);
}

static void test_posix_dirname(void **state)
{
	(void)state;
	char d[8];
	assert_int_equal(env_fs_dirname("a/b/c", d, sizeof(d)), 0);
	assert_string_equal(d, "a/b");
	assert_int_equal(env_fs_dirname("c", d, sizeof(d)), 0);
	assert_string_equal(d, ".");
	assert_int_equal(env_fs_dirname("/c", d, sizeof(d)), 0);
	assert_string_equal(d, "/");
	assert_int_equal(env_fs_dirname("abcdefgh/c", d, sizeof(d)), ERR_LIMIT);
}

/* map shows the file's bytes, survives closing the handle and removing
 * the name, and refuses an empty file. */
static void test_posix_map_reads_the_file(void **state)
{
	(void)state;
	char dir[] = "/tmp/ringkv-fs-test-XXXXXX";
	assert_non_null(mkdtemp(dir));
	struct env_fs_posix px;
	env_fs_posix_init(&px);
	struct env_fs *fs = &px.base;
	char a[256];
	path_in(a, sizeof(a), dir, "a");
	struct env_file *f = NULL;
	assert_int_equal(env_fs_open(fs, a, ENV_FS_CREATE, &f), 0);
	struct env_fs_map map = {0};
	assert_int_equal(env_fs_map(fs, f, &map), ERR_INVALID); /* empty */
	uint8_t data[10000];
	for (size_t i = 0; i < sizeof(data); i++)
		data[i] = (uint8_t)(i * 7);
	assert_int_equal(env_fs_append(fs, f, data, sizeof(data)), 0);
	if (sizeof(void *) < 8) {
		assert_int_equal(env_fs_map(fs, f, &map), ERR_INVALID); /* pread instead */
		assert_int_equal(env_fs_close(fs, f), 0);
		assert_int_equal(env_fs_remove(fs, a), 0);
		assert_int_equal(rmdir(dir), 0);
		return;
	}
	assert_int_equal(env_fs_map(fs, f, &map), 0);
	assert_int_equal(map.len, sizeof(data));
	assert_int_equal(env_fs_close(fs, f), 0);
	assert_int_equal(env_fs_remove(fs, a), 0);
	const uint8_t *p = NULL;
	assert_int_equal(env_fs_map_read(fs, &map, 0, sizeof(data), &p), 0);
	assert_memory_equal(p, data, sizeof(data));
	assert_int_equal(env_fs_map_read(fs, &map, 9000, 1000, &p), 0);
	assert_memory_equal(p, data + 9000, 1000);
	env_fs_unmap(fs, &map);
	assert_null(map.ptr);
	assert_int_equal(rmdir(dir), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_posix_files_round_trip),
	    cmocka_unit_test(test_posix_full_disk_is_nospace),
	    cmocka_unit_test(test_posix_dirname),
	    cmocka_unit_test(test_posix_map_reads_the_file),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
