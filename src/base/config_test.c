/*
 * config_test.c - settings and limits: every bounded setting accepts its
 * limit exactly and refuses one past it; sizes parse as Redis's; the
 * config file reports the line of an error; run-time changes are refused
 * for start-up-only settings. Also buf.h's cap.
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

#include "base/buf.h"
#include "base/config.h"
#include "base/err.h"
#include "base/limits.h"

static int set(struct config *c, const char *name, const char *value, bool startup)
{
	char err[256];
	int id = config_find(name, strlen(name));
	assert_true(id >= 0);
	return config_set(c, id, value, strlen(value), startup, err, sizeof(err));
}

static void test_every_numeric_setting_accepts_its_bounds_and_refuses_one_past(void **state)
{
	struct config c;
	assert_int_equal(config_init(&c, 2), 0);
	for (int id = 0; id < CFG_COUNT; id++) {
		const struct cfg_def *d = &cfg_defs[id];
		if (d->type != CFG_T_INT && d->type != CFG_T_BYTES)
			continue;
		char v[32], err[256];
		snprintf(v, sizeof(v), "%lld", (long long)d->max);
		assert_int_equal(config_set(&c, id, v, strlen(v), true, err, sizeof(err)), 0);
		assert_int_equal(config_get(&c, id), d->max);
		snprintf(v, sizeof(v), "%lld", (long long)d->max + 1);
		assert_int_equal(config_set(&c, id, v, strlen(v), true, err, sizeof(err)),
		                 ERR_INVALID);
		assert_int_equal(config_get(&c, id), d->max); /* unchanged on failure */
		snprintf(v, sizeof(v), "%lld", (long long)d->min);
		assert_int_equal(config_set(&c, id, v, strlen(v), true, err, sizeof(err)), 0);
		snprintf(v, sizeof(v), "%lld", (long long)d->min - 1);
		assert_int_equal(config_set(&c, id, v, strlen(v), true, err, sizeof(err)),
		                 ERR_INVALID);
	}
	config_deinit(&c);
}

static void test_value_limit_is_512_mib_by_default_and_1_gib_at_most(void **state)
{
	struct config c;
	assert_int_equal(config_init(&c, 2), 0);
	assert_int_equal(config_get(&c, CFG_PROTO_MAX_BULK_LEN), 512 * 1024 * 1024);
	assert_int_equal(set(&c, "proto-max-bulk-len", "1gb", false), 0);
	assert_int_equal(config_get(&c, CFG_PROTO_MAX_BULK_LEN), 1024 * 1024 * 1024);
	assert_int_equal(set(&c, "proto-max-bulk-len", "1073741825", false), ERR_INVALID);
	config_deinit(&c);
}

/* The memtable rotates at 64 MiB or 128 Ki entries by default (config.c
 * says why); memtable-entries 0 leaves bytes alone in charge. */
static void test_memtable_rotates_at_64_mib_or_128_ki_entries_by_default(void **state)
{
	(void)state;
	struct config c;
	assert_int_equal(config_init(&c, 2), 0);
	assert_int_equal(config_get(&c, CFG_MEMTABLE_BYTES), 64 * 1024 * 1024);
	assert_int_equal(config_get(&c, CFG_MEMTABLE_ENTRIES), 128 * 1024);
	assert_int_equal(set(&c, "memtable-entries", "0", true), 0);
	assert_int_equal(config_get(&c, CFG_MEMTABLE_ENTRIES), 0);
	assert_int_equal(set(&c, "memtable-entries", "1000", false), ERR_INVALID); /* startup only */
	config_deinit(&c);
}

/* Table blocks are lz4-compressed by default; none, lz4 and zstd are the
 * choices, fixed at startup. */
static void test_compression_is_lz4_by_default(void **state)
{
	(void)state;
	struct config c;
	assert_int_equal(config_init(&c, 2), 0);
	assert_int_equal(config_get(&c, CFG_COMPRESSION), CFG_COMPRESSION_LZ4);
	assert_int_equal(set(&c, "compression", "zstd", true), 0);
	assert_int_equal(config_get(&c, CFG_COMPRESSION), CFG_COMPRESSION_ZSTD);
	assert_int_equal(set(&c, "compression", "none", true), 0);
	assert_int_equal(config_get(&c, CFG_COMPRESSION), CFG_COMPRESSION_NONE);
	assert_int_equal(set(&c, "compression", "snappy", true), ERR_INVALID);
	assert_int_equal(set(&c, "compression", "lz4", false), ERR_INVALID); /* startup only */
	assert_int_equal(config_get(&c, CFG_COMPRESSION), CFG_COMPRESSION_NONE);
	config_deinit(&c);
}

static void test_sizes_parse_like_redis(void **state)
{
	int64_t v;
	assert_true(config_parse_bytes("100", 3, &v) && v == 100);
	assert_true(config_parse_bytes("1k", 2, &v) && v == 1000);
	assert_true(config_parse_bytes("1kb", 3, &v) && v == 1024);
	assert_true(config_parse_bytes("2MB", 3, &v) && v == 2 * 1024 * 1024);
	assert_true(config_parse_bytes("1g", 2, &v) && v == 1000000000);
	assert_false(config_parse_bytes("", 0, &v));
	assert_false(config_parse_bytes("-1", 2, &v));
	assert_false(config_parse_bytes("1tb", 3, &v));
	assert_false(config_parse_bytes("99999999999999999999", 20, &v));
	assert_false(config_parse_bytes("9223372036854775807gb", 21, &v));
}

static void test_startup_only_settings_refuse_runtime_change(void **state)
{
	struct config c;
	assert_int_equal(config_init(&c, 2), 0);
	assert_int_equal(set(&c, "port", "7000", false), ERR_INVALID);
	assert_int_equal(set(&c, "port", "7000", true), 0);
	assert_int_equal(set(&c, "maxclients", "5", false), 0);
	assert_int_equal(set(&c, "save", "900 1", true), ERR_INVALID);
	assert_int_equal(set(&c, "protected-mode", "maybe", true), ERR_INVALID);
	assert_int_equal(set(&c, "protected-mode", "no", true), 0);
	assert_int_equal(config_get(&c, CFG_PROTECTED_MODE), 0);
	assert_int_equal(set(&c, "loglevel", "WARNING", false), 0);
	char out[64];
	config_format(&c, CFG_LOGLEVEL, out, sizeof(out));
	assert_string_equal(out, "warning");
	config_deinit(&c);
}

static void test_config_file_applies_lines_and_reports_the_bad_one(void **state)
{
	char path[] = "/tmp/ringkv-config-test-XXXXXX";
	int fd = mkstemp(path);
	assert_true(fd >= 0);
	const char *text = "# a comment\n\nport 7777\nrequirepass \"two words\"\nmaxclients 0\n";
	assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	close(fd);
	struct config c;
	assert_int_equal(config_init(&c, 2), 0);
	char err[256];
	assert_int_equal(config_load_file(&c, path, err, sizeof(err)), ERR_INVALID);
	assert_non_null(strstr(err, ":5:"));
	assert_non_null(strstr(err, "maxclients"));
	assert_int_equal(config_get(&c, CFG_PORT), 7777);
	char pass[64];
	config_get_str(&c, CFG_REQUIREPASS, pass, sizeof(pass));
	assert_string_equal(pass, "two words");
	unlink(path);
	config_deinit(&c);
}

static void test_command_line_names_unknown_options(void **state)
{
	struct config c;
	assert_int_equal(config_init(&c, 2), 0);
	char *argv[] = {"ringkv-server", "--port", "7001", "--no-such-thing", "1", NULL};
	char err[256];
	assert_int_equal(config_load_args(&c, 5, argv, err, sizeof(err)), ERR_INVALID);
	assert_non_null(strstr(err, "no-such-thing"));
	assert_int_equal(config_get(&c, CFG_PORT), 7001);
	char *argv2[] = {"ringkv-server", "--port", NULL};
	assert_int_equal(config_load_args(&c, 2, argv2, err, sizeof(err)), ERR_INVALID);
	config_deinit(&c);
}

static void test_buf_reserve_allows_the_cap_exactly_and_refuses_one_past(void **state)
{
	struct buf b;
	buf_init(&b);
	assert_int_equal(buf_reserve(&b, 1000, 1000), 0);
	memset(b.data, 'a', 1000);
	b.len = 1000;
	assert_int_equal(buf_reserve(&b, 0, 1000), 0);
	assert_int_equal(buf_reserve(&b, 1, 1000), ERR_LIMIT);
	assert_int_equal(buf_reserve(&b, SIZE_MAX, SIZE_MAX), ERR_LIMIT);
	buf_consume(&b, 400);
	assert_int_equal(b.len, 600);
	assert_int_equal(buf_reserve(&b, 400, 1000), 0);
	buf_deinit(&b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_every_numeric_setting_accepts_its_bounds_and_refuses_one_past),
	    cmocka_unit_test(test_value_limit_is_512_mib_by_default_and_1_gib_at_most),
	    cmocka_unit_test(test_memtable_rotates_at_64_mib_or_128_ki_entries_by_default),
	    cmocka_unit_test(test_compression_is_lz4_by_default),
	    cmocka_unit_test(test_sizes_parse_like_redis),
	    cmocka_unit_test(test_startup_only_settings_refuse_runtime_change),
	    cmocka_unit_test(test_config_file_applies_lines_and_reports_the_bad_one),
	    cmocka_unit_test(test_command_line_names_unknown_options),
	    cmocka_unit_test(test_buf_reserve_allows_the_cap_exactly_and_refuses_one_past),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
