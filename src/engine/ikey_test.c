/*
 * ikey_test.c - the internal key and value record encodings of
 * engine/ikey.h: key order (user key bytewise with common prefixes, then
 * seq descending), what a SEEK key finds, and value record round trips and
 * rejection of malformed records.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "engine/ikey.h"

#include <string.h>

struct ik {
	uint8_t buf[64];
	size_t len;
};

static struct bytes ik_make(struct ik *k, const void *ukey, size_t ulen, uint64_t seq,
                            enum ikey_kind kind)
{
	k->len = ikey_encode(k->buf, bytes_make(ukey, ulen), seq, kind);
	return bytes_make(k->buf, k->len);
}

static void test_ikey_encode_decode_round_trip(void **state)
{
	struct ik k;
	struct bytes b = ik_make(&k, "ab\0c", 4, IKEY_SEQ_MAX, IKEY_KIND_BLOB);
	assert_int_equal(b.len, 4 + IKEY_TRAILER_BYTES);
	struct bytes u;
	uint64_t seq;
	enum ikey_kind kind;
	assert_true(ikey_decode(b, &u, &seq, &kind));
	assert_true(bytes_eq(u, bytes_make("ab\0c", 4)));
	assert_true(seq == IKEY_SEQ_MAX);
	assert_int_equal(kind, IKEY_KIND_BLOB);
	/* Little-endian trailer: the kind is the first trailer byte. */
	assert_int_equal(b.ptr[4], IKEY_KIND_BLOB);
	/* Empty user key, seq 0. */
	b = ik_make(&k, "", 0, 0, IKEY_KIND_DELETE);
	assert_true(ikey_decode(b, &u, &seq, &kind));
	assert_int_equal(u.len, 0);
	assert_true(seq == 0 && kind == IKEY_KIND_DELETE);
	/* Shorter than a trailer is corrupt. */
	assert_false(ikey_decode(bytes_make(k.buf, 7), &u, &seq, &kind));
}

static void test_ikey_user_keys_order_bytewise_shorter_prefix_first(void **state)
{
	/* Sorted ascending; includes 0x00 and 0xff and prefix chains. */
	static const struct {
		const char *p;
		size_t n;
	} keys[] = {
	    {"", 0},     {"\0", 1},   {"\0\0", 2}, {"\0\xff", 2}, {"a", 1},
	    {"a\0", 2},  {"aa", 2},   {"aaa", 3},  {"ab", 2},     {"b", 1},
	    {"\x7f", 1}, {"\x80", 1}, {"\xff", 1}, {"\xff\0", 2}, {"\xff\xff", 2},
	};
	for (size_t i = 0; i < ARRAY_LEN(keys); i++) {
		for (size_t j = 0; j < ARRAY_LEN(keys); j++) {
			struct ik a, b;
			/* Seq is chosen against the user key order, to show
			 * the user key dominates. */
			struct bytes ka = ik_make(&a, keys[i].p, keys[i].n, 5, IKEY_KIND_PUT);
			struct bytes kb = ik_make(&b, keys[j].p, keys[j].n, 9, IKEY_KIND_PUT);
			int want = i < j ? -1 : i > j;
			int got = ikey_cmp(ka, kb);
			/* Equal user keys: seq 9 (kb) is newer, so first. */
			assert_int_equal(got < 0 ? -1 : got > 0, i == j ? 1 : want);
			int ucmp = ikey_user_cmp(bytes_make(keys[i].p, keys[i].n),
			                         bytes_make(keys[j].p, keys[j].n));
			assert_int_equal(ucmp < 0 ? -1 : ucmp > 0, want);
		}
	}
}

static void test_ikey_same_user_key_orders_newest_first(void **state)
{
	struct ik a, b;
	assert_true(ikey_cmp(ik_make(&a, "k", 1, 10, IKEY_KIND_PUT),
	                     ik_make(&b, "k", 1, 9, IKEY_KIND_PUT)) < 0);
	assert_true(ikey_cmp(ik_make(&a, "k", 1, 9, IKEY_KIND_PUT),
	                     ik_make(&b, "k", 1, 10, IKEY_KIND_DELETE)) > 0);
	/* Seq dominates kind: seq 256 beats seq 255 of any kind. */
	assert_true(ikey_cmp(ik_make(&a, "k", 1, 256, IKEY_KIND_DELETE),
	                     ik_make(&b, "k", 1, 255, IKEY_KIND_SEEK)) < 0);
	/* At one seq, the larger kind first. */
	assert_true(ikey_cmp(ik_make(&a, "k", 1, 7, IKEY_KIND_BLOB),
	                     ik_make(&b, "k", 1, 7, IKEY_KIND_PUT)) < 0);
	assert_int_equal(
	    ikey_cmp(ik_make(&a, "k", 1, 7, IKEY_KIND_PUT), ik_make(&b, "k", 1, 7, IKEY_KIND_PUT)),
	    0);
	/* Trailer bytes never leak into the user key order: "k" + any
	 * trailer sorts before "k\0" + any trailer. */
	assert_true(ikey_cmp(ik_make(&a, "k", 1, 0, IKEY_KIND_DELETE),
	                     ik_make(&b, "k\0", 2, IKEY_SEQ_MAX, IKEY_KIND_SEEK)) < 0);
}

static void test_ikey_seek_key_finds_newest_visible_version(void **state)
{
	/* Versions of "k" at seq 3, 5 (DELETE) and 8, in ikey order. */
	struct ik v[3], s;
	struct bytes versions[3] = {
	    ik_make(&v[0], "k", 1, 8, IKEY_KIND_PUT),
	    ik_make(&v[1], "k", 1, 5, IKEY_KIND_DELETE),
	    ik_make(&v[2], "k", 1, 3, IKEY_KIND_PUT),
	};
	/* as_of -> index of the first version >= seek key (3: none). */
	static const struct {
		uint64_t as_of;
		int first;
	} cases[] = {{9, 0}, {8, 0}, {7, 1}, {5, 1}, {4, 2}, {3, 2}, {2, 3}, {0, 3}};
	for (size_t c = 0; c < ARRAY_LEN(cases); c++) {
		struct bytes seek = ik_make(&s, "k", 1, cases[c].as_of, IKEY_KIND_SEEK);
		int first = 3;
		for (int i = 2; i >= 0; i--)
			if (ikey_cmp(versions[i], seek) >= 0)
				first = i;
		assert_int_equal(first, cases[c].first);
	}
	/* The seek key of the largest seq precedes every real version. */
	assert_true(ikey_cmp(ik_make(&s, "k", 1, IKEY_SEQ_MAX, IKEY_KIND_SEEK),
	                     ik_make(&v[0], "k", 1, IKEY_SEQ_MAX, IKEY_KIND_BLOB)) < 0);
}

static void test_vrec_round_trip_with_and_without_expiry(void **state)
{
	uint8_t buf[64];
	static const int64_t expiries[] = {0, 1, -1, INT64_MAX, INT64_MIN, 1700000000000};
	for (size_t i = 0; i < ARRAY_LEN(expiries); i++) {
		struct bytes value = bytes_make("v\0\xffz", i % 2 ? 4 : 0);
		size_t n = vrec_encode(buf, expiries[i], value);
		assert_int_equal(n, (expiries[i] ? 9 : 1) + value.len);
		int64_t exp = 42;
		struct bytes got = {0};
		assert_true(vrec_decode(bytes_make(buf, n), &exp, &got));
		assert_true(exp == expiries[i]);
		assert_true(bytes_eq(got, value));
	}
}

static void test_vrec_rejects_malformed_records(void **state)
{
	int64_t exp;
	struct bytes v;
	/* Empty: no flags byte. */
	assert_false(vrec_decode(bytes_make("", 0), &exp, &v));
	/* Unknown flag bits. */
	for (unsigned f = 2; f < 256; f++) {
		uint8_t rec[16] = {(uint8_t)f};
		assert_false(vrec_decode(bytes_make(rec, sizeof(rec)), &exp, &v));
	}
	/* Expiry flag but fewer than 8 expiry bytes. */
	uint8_t rec[9] = {VREC_EXPIRE, 1, 2, 3, 4, 5, 6, 7, 8};
	for (size_t n = 1; n < 9; n++)
		assert_false(vrec_decode(bytes_make(rec, n), &exp, &v));
	assert_true(vrec_decode(bytes_make(rec, 9), &exp, &v));
	assert_int_equal(v.len, 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_ikey_encode_decode_round_trip),
	    cmocka_unit_test(test_ikey_user_keys_order_bytewise_shorter_prefix_first),
	    cmocka_unit_test(test_ikey_same_user_key_orders_newest_first),
	    cmocka_unit_test(test_ikey_seek_key_finds_newest_visible_version),
	    cmocka_unit_test(test_vrec_round_trip_with_and_without_expiry),
	    cmocka_unit_test(test_vrec_rejects_malformed_records),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
