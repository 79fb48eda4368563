/*
 * member_codec_test.c - membership messages round trip; every truncation
 * and random damage is refused or decodes to something valid, never read
 * out of bounds (run under ASan by make test-asan).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "base/err.h"
#include "cluster/member_codec.h"
#include "env/env.h"

static struct member_msg sample(struct member_info *u, size_t n)
{
	struct member_msg m;
	memset(&m, 0, sizeof(m));
	m.type = MEMBER_MSG_SYNC;
	snprintf(m.from, sizeof(m.from), "node-a");
	snprintf(m.from_addr, sizeof(m.from_addr), "127.0.0.11:16380");
	m.seq = 0x0102030405060708ull;
	snprintf(m.target, sizeof(m.target), "node-b");
	snprintf(m.target_addr, sizeof(m.target_addr), "127.0.0.12:16380");
	for (size_t i = 0; i < n; i++) {
		memset(&u[i], 0, sizeof(u[i]));
		snprintf(u[i].name, sizeof(u[i].name), "n%zu", i);
		snprintf(u[i].addr, sizeof(u[i].addr), "127.0.0.%zu:16380", 11 + i);
		snprintf(u[i].zone, sizeof(u[i].zone), i % 2 ? "z1" : "");
		u[i].weight = (uint32_t)i + 1;
		u[i].incarnation = 1000 + i;
		u[i].status = (enum member_status)(i % 4);
	}
	m.updates = u;
	m.update_count = n;
	return m;
}

static void test_member_msg_round_trips(void **state)
{
	(void)state;
	struct member_info u[5];
	struct member_msg m = sample(u, 5);
	struct buf b;
	buf_init(&b);
	assert_int_equal(member_msg_encode(&m, &b), 0);
	struct member_msg d;
	assert_int_equal(member_msg_decode(bytes_make(b.data, b.len), &d), 0);
	assert_int_equal(d.type, m.type);
	assert_string_equal(d.from, "node-a");
	assert_string_equal(d.target_addr, "127.0.0.12:16380");
	assert_true(d.seq == m.seq);
	assert_int_equal(d.update_count, 5);
	assert_memory_equal(d.updates, u, sizeof(u));
	free(d.updates);
	/* Every truncation is refused. */
	for (size_t n = 0; n < b.len; n++)
		assert_int_equal(member_msg_decode(bytes_make(b.data, n), &d), ERR_PROTO);
	buf_deinit(&b);
}

static void test_member_msg_damage_never_crashes(void **state)
{
	(void)state;
	struct member_info u[3];
	struct member_msg m = sample(u, 3);
	struct buf b;
	buf_init(&b);
	assert_int_equal(member_msg_encode(&m, &b), 0);
	struct env_rng rng;
	env_rng_seed(&rng, 5);
	uint8_t *copy = malloc(b.len);
	int ok = 0;
	for (int i = 0; i < 20000; i++) {
		memcpy(copy, b.data, b.len);
		int flips = 1 + (int)(env_rng_next(&rng) % 4);
		for (int f = 0; f < flips; f++)
			copy[env_rng_next(&rng) % b.len] ^= (uint8_t)(1u << (env_rng_next(&rng) % 8));
		struct member_msg d;
		if (member_msg_decode(bytes_make(copy, b.len), &d) == 0) {
			ok++;
			for (size_t k = 0; k < d.update_count; k++)
				assert_true(strlen(d.updates[k].name) > 0 && d.updates[k].status <= MEMBER_LEFT);
			free(d.updates);
		}
	}
	fprintf(stderr, "  %d of 20000 damaged messages still decoded (to valid content)\n", ok);
	free(copy);
	buf_deinit(&b);
}

static void test_member_msg_bounds(void **state)
{
	(void)state;
	uint8_t huge_count[] = {MEMBER_MSG_PING, 1, 'a', 1, 'b', 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
	                        0xff, 0xff};
	struct member_msg d;
	assert_int_equal(member_msg_decode(bytes_make(huge_count, sizeof(huge_count)), &d),
	                 ERR_PROTO);
	uint8_t bad_type[] = {99};
	assert_int_equal(member_msg_decode(bytes_make(bad_type, 1), &d), ERR_PROTO);
	uint8_t empty_from[] = {MEMBER_MSG_PING, 0};
	assert_int_equal(member_msg_decode(bytes_make(empty_from, 2), &d), ERR_PROTO);
	struct member_msg too_many;
	memset(&too_many, 0, sizeof(too_many));
	too_many.update_count = MEMBERS_MAX + 2;
	struct buf b;
	buf_init(&b);
	assert_int_equal(member_msg_encode(&too_many, &b), ERR_LIMIT);
	buf_deinit(&b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_member_msg_round_trips),
	    cmocka_unit_test(test_member_msg_damage_never_crashes),
	    cmocka_unit_test(test_member_msg_bounds),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
