/*
 * lsm_blob_sync_test.c - with sync=everysec or none a blob file is synced
 * with the WAL, not per write; a power cut that keeps a WAL record but not
 * the blob bytes it points to must not leave a value that reads as
 * corrupt: recovery stops at that record (lsm.c, blobs_reached_disk).
 * Also: writes of large values in those modes do no fsync per write.
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
#include "engine/lsm.h"
#include "env/env.h"
#include "env/env_fs_mem.h"

#define DIR    "db"
#define WRITES 40
#define VALLEN (6 * KIB)

static void fill(uint8_t *p, size_t len, int i)
{
	for (size_t j = 0; j < len; j++)
		p[j] = (uint8_t)(i * 131 + j * 7);
}

static int put(struct lsm *db, int i, uint8_t *scratch)
{
	char k[16];
	snprintf(k, sizeof(k), "k%03d", i);
	uint8_t *v = scratch + VALLEN + 16;
	fill(v, VALLEN, i);
	struct lsm_op op = {.kind = IKEY_KIND_PUT,
	                    .key = bytes_cstr(k),
	                    .value_record = bytes_make(scratch, vrec_encode(scratch, 0,
	                                                                    bytes_make(v, VALLEN)))};
	struct lsm_batch b = {&op, 1};
	return lsm_write(db, &b);
}

static void test_torn_blob_tail_never_reads_as_corrupt(void **state)
{
	(void)state;
	uint8_t *scratch = malloc(2 * (VALLEN + 16));
	struct buf got;
	buf_init(&got);
	uint64_t dropped_total = 0;
	for (uint64_t seed = 1; seed <= 30; seed++) {
		struct env_fs_mem fs;
		env_fs_mem_init(&fs, seed);
		assert_int_equal(env_fs_mkdir(&fs.base, DIR), 0);
		struct lsm_options o = {.sync = seed % 2 ? LSM_SYNC_NONE : LSM_SYNC_EVERYSEC,
		                        .sync_interval_ms = 60000, /* no background sync */
		                        .seed = seed};
		struct lsm *db;
		assert_int_equal(lsm_open(DIR, &fs.base, &o, &db, NULL), 0);
		uint64_t syncs = env_fs_mem_calls(&fs, ENV_FS_OP_SYNC);
		for (int i = 0; i < WRITES; i++)
			assert_int_equal(put(db, i, scratch), 0);
		/* No fsync per write of a large value. */
		assert_true(env_fs_mem_calls(&fs, ENV_FS_OP_SYNC) - syncs < 3);
		env_fs_mem_crash(&fs, ENV_FS_MEM_CRASH_TORN);
		lsm_close(db);
		struct env_fs_mem_fault none = {0};
		env_fs_mem_inject(&fs, &none);
		struct lsm_open_stats st;
		assert_int_equal(lsm_open(DIR, &fs.base, &o, &db, &st), 0);
		dropped_total += st.unsynced_blob_records_dropped;
		/* What survived is a prefix of the writes, every value whole. */
		bool gone = false;
		for (int i = 0; i < WRITES; i++) {
			char k[16];
			snprintf(k, sizeof(k), "k%03d", i);
			int rc = lsm_get(db, bytes_cstr(k), &got);
			if (rc == ERR_NOT_FOUND) {
				gone = true;
				continue;
			}
			assert_int_equal(rc, 0); /* never ERR_CORRUPT */
			assert_false(gone);      /* a prefix */
			int64_t exp;
			struct bytes v;
			assert_true(vrec_decode(bytes_make(got.data, got.len), &exp, &v));
			assert_int_equal(v.len, VALLEN);
			uint8_t want[VALLEN];
			fill(want, VALLEN, i);
			assert_memory_equal(v.ptr, want, VALLEN);
		}
		lsm_close(db);
		env_fs_mem_deinit(&fs);
	}
	fprintf(stderr, "  30 torn power cuts: %" PRIu64 " WAL records dropped after a blob "
	                "that had not reached its file\n", dropped_total);
	buf_deinit(&got);
	free(scratch);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_torn_blob_tail_never_reads_as_corrupt),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
