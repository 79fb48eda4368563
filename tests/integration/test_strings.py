"""String commands: GET SET (and its options) SETNX SETEX PSETEX GETSET GETDEL
GETEX MGET MSET MSETNX INCR INCRBY DECR DECRBY INCRBYFLOAT APPEND STRLEN
GETRANGE SETRANGE, in RESP2. Arity errors are in test_arity.py, RESP3
reply shapes in test_resp3.py, expiry in test_expire.py."""

import time

import pytest

from util import (NOT_FLOAT, NOT_INTEGER, OVERFLOW, SYNTAX, assert_error,
                  scaled)

INT64_MAX = 2**63 - 1
INT64_MIN = -2**63


def invalid_expire(cmd):
    return "ERR invalid expire time in '%s' command" % cmd


# ---- GET / SET -------------------------------------------------------------

def test_set_then_get_returns_value(c):
    assert c.call("SET", "s:k", "hello") == "OK"
    assert c.call("GET", "s:k") == b"hello"


def test_get_missing_key_is_null_bulk(c):
    assert c.call("GET", "s:missing") is None
    assert c.last_raw == b"$-1\r\n"


def test_set_overwrites_and_empty_value_is_kept(c):
    c.call("SET", "s:k", "one")
    assert c.call("SET", "s:k", "") == "OK"
    assert c.call("GET", "s:k") == b""
    assert c.last_raw == b"$0\r\n\r\n"
    assert c.call("EXISTS", "s:k") == 1


def test_set_nx_only_sets_missing_key(c):
    assert c.call("SET", "s:nx", "a", "NX") == "OK"
    assert c.call("SET", "s:nx", "b", "NX") is None
    assert c.last_raw == b"$-1\r\n"
    assert c.call("GET", "s:nx") == b"a"


def test_set_xx_only_sets_existing_key(c):
    assert c.call("SET", "s:xx", "a", "XX") is None
    assert c.call("EXISTS", "s:xx") == 0
    c.call("SET", "s:xx", "a")
    assert c.call("SET", "s:xx", "b", "XX") == "OK"
    assert c.call("GET", "s:xx") == b"b"


def test_set_get_returns_old_value(c):
    assert c.call("SET", "s:g", "v1", "GET") is None
    assert c.call("SET", "s:g", "v2", "GET") == b"v1"
    assert c.call("GET", "s:g") == b"v2"


def test_set_get_with_nx_returns_old_value_and_does_not_set(c):
    c.call("SET", "s:gnx", "old")
    assert c.call("SET", "s:gnx", "new", "NX", "GET") == b"old"
    assert c.call("GET", "s:gnx") == b"old"
    assert c.call("SET", "s:gnx2", "new", "NX", "GET") is None
    assert c.call("GET", "s:gnx2") == b"new"


def test_set_get_with_xx_on_missing_key_returns_null_and_does_not_set(c):
    assert c.call("SET", "s:gxx", "v", "XX", "GET") is None
    assert c.call("EXISTS", "s:gxx") == 0


def test_set_options_are_case_insensitive(c):
    assert c.call("set", "s:ci", "v", "ex", "100", "nx") == "OK"
    assert 0 < c.call("TTL", "s:ci") <= 100


def test_set_ex_sets_ttl_in_seconds(c):
    assert c.call("SET", "s:ex", "v", "EX", "100") == "OK"
    assert 99 <= c.call("TTL", "s:ex") <= 100
    assert 98000 < c.call("PTTL", "s:ex") <= 100000


def test_set_px_sets_ttl_in_milliseconds(c):
    assert c.call("SET", "s:px", "v", "PX", "100000") == "OK"
    assert 98000 < c.call("PTTL", "s:px") <= 100000


def test_set_exat_sets_absolute_expiry_in_seconds(c):
    at = int(time.time()) + 100
    assert c.call("SET", "s:exat", "v", "EXAT", str(at)) == "OK"
    assert c.call("EXPIRETIME", "s:exat") == at
    assert 97 <= c.call("TTL", "s:exat") <= 100


def test_set_pxat_sets_absolute_expiry_in_milliseconds(c):
    at = int(time.time() * 1000) + 100000
    assert c.call("SET", "s:pxat", "v", "PXAT", str(at)) == "OK"
    assert c.call("PEXPIRETIME", "s:pxat") == at


def test_set_exat_in_the_past_leaves_no_key(c):
    assert c.call("SET", "s:past", "v", "EXAT", "1") == "OK"
    assert c.call("GET", "s:past") is None
    assert c.call("EXISTS", "s:past") == 0
    assert c.call("SET", "s:past2", "v", "PXAT", "1") == "OK"
    assert c.call("EXISTS", "s:past2") == 0


def test_set_without_expiry_option_clears_ttl(c):
    c.call("SET", "s:clr", "v", "EX", "100")
    c.call("SET", "s:clr", "w")
    assert c.call("TTL", "s:clr") == -1


def test_set_keepttl_keeps_ttl(c):
    c.call("SET", "s:keep", "v", "PX", "100000")
    assert c.call("SET", "s:keep", "w", "KEEPTTL") == "OK"
    assert c.call("GET", "s:keep") == b"w"
    assert 90000 < c.call("PTTL", "s:keep") <= 100000


def test_set_keepttl_on_key_without_ttl_keeps_no_ttl(c):
    c.call("SET", "s:keep0", "v")
    assert c.call("SET", "s:keep0", "w", "KEEPTTL") == "OK"
    assert c.call("TTL", "s:keep0") == -1


@pytest.mark.parametrize("opts", [
    ("NX", "XX"),
    ("EX", "10", "PX", "10"),
    ("EX", "10", "EXAT", "9999999999"),
    ("PX", "10", "PXAT", "9999999999999"),
    ("KEEPTTL", "EX", "10"),
    ("PX", "10", "KEEPTTL"),
    ("EX",),
    ("PX",),
    ("FOO",),
    ("EX", "10", "EX"),
], ids=lambda o: "-".join(o))
def test_set_bad_option_combinations_are_syntax_errors(c, opts):
    assert_error(c.call("SET", "s:bad", "v", *opts), SYNTAX)
    assert c.call("EXISTS", "s:bad") == 0


@pytest.mark.parametrize("opt,value", [
    ("EX", "0"), ("EX", "-1"), ("PX", "0"), ("PX", "-100"),
    ("EXAT", "0"), ("EXAT", "-5"), ("PXAT", "0"),
    ("EX", "9999999999999999"), ("PX", str(INT64_MAX)), ("EXAT", str(INT64_MAX)),
])
def test_set_invalid_expire_time(c, opt, value):
    assert_error(c.call("SET", "s:inv", "v", opt, value), invalid_expire("set"))
    assert c.call("EXISTS", "s:inv") == 0


@pytest.mark.parametrize("value", ["abc", "1.5", "", "10x", " 10"])
def test_set_non_integer_expire_is_not_integer_error(c, value):
    assert_error(c.call("SET", "s:ni", "v", "EX", value), NOT_INTEGER)
    assert_error(c.call("SET", "s:ni", "v", "PX", value), NOT_INTEGER)


def test_set_on_expired_key_with_nx_succeeds(c):
    c.call("SET", "s:expnx", "old", "PX", "20")
    time.sleep(0.06)
    assert c.call("SET", "s:expnx", "new", "NX") == "OK"
    assert c.call("GET", "s:expnx") == b"new"
    assert c.call("TTL", "s:expnx") == -1


def test_redis_py_client_roundtrip(r):
    assert r.set("s:py", b"value") is True
    assert r.get("s:py") == b"value"
    assert r.set("s:py", b"x", nx=True) is None
    assert r.set("s:py", b"y", xx=True, px=100000) is True
    assert 0 < r.pttl("s:py") <= 100000


# ---- SETNX SETEX PSETEX GETSET GETDEL -------------------------------------

def test_setnx_returns_1_when_set_and_0_when_exists(c):
    assert c.call("SETNX", "s:snx", "a") == 1
    assert c.call("SETNX", "s:snx", "b") == 0
    assert c.call("GET", "s:snx") == b"a"


def test_setex_sets_value_and_ttl(c):
    assert c.call("SETEX", "s:setex", "100", "v") == "OK"
    assert c.call("GET", "s:setex") == b"v"
    assert 99 <= c.call("TTL", "s:setex") <= 100


@pytest.mark.parametrize("secs", ["0", "-1", "9999999999999999"])
def test_setex_invalid_expire_time(c, secs):
    assert_error(c.call("SETEX", "s:setex", secs, "v"), invalid_expire("setex"))


def test_setex_non_integer_seconds(c):
    assert_error(c.call("SETEX", "s:setex", "abc", "v"), NOT_INTEGER)


def test_psetex_sets_value_and_ttl_in_milliseconds(c):
    assert c.call("PSETEX", "s:psetex", "100000", "v") == "OK"
    assert c.call("GET", "s:psetex") == b"v"
    assert 90000 < c.call("PTTL", "s:psetex") <= 100000


@pytest.mark.parametrize("ms", ["0", "-5"])
def test_psetex_invalid_expire_time(c, ms):
    assert_error(c.call("PSETEX", "s:psetex", ms, "v"), invalid_expire("psetex"))


def test_psetex_non_integer_milliseconds(c):
    assert_error(c.call("PSETEX", "s:psetex", "1e3", "v"), NOT_INTEGER)


def test_getset_returns_old_value_and_clears_ttl(c):
    assert c.call("GETSET", "s:gs", "a") is None
    c.call("SET", "s:gs", "b", "EX", "100")
    assert c.call("GETSET", "s:gs", "c") == b"b"
    assert c.call("GET", "s:gs") == b"c"
    assert c.call("TTL", "s:gs") == -1


def test_getdel_returns_value_and_deletes(c):
    c.call("SET", "s:gd", "v", "EX", "100")
    assert c.call("GETDEL", "s:gd") == b"v"
    assert c.call("EXISTS", "s:gd") == 0
    assert c.call("GETDEL", "s:gd") is None


# ---- GETEX -----------------------------------------------------------------

def test_getex_without_options_returns_value_and_keeps_ttl(c):
    c.call("SET", "s:gex", "v", "EX", "100")
    assert c.call("GETEX", "s:gex") == b"v"
    assert 99 <= c.call("TTL", "s:gex") <= 100


def test_getex_missing_key_is_null(c):
    assert c.call("GETEX", "s:gexmiss") is None
    assert c.call("GETEX", "s:gexmiss", "EX", "10") is None
    assert c.call("EXISTS", "s:gexmiss") == 0


def test_getex_ex_px_exat_pxat_set_ttl(c):
    c.call("SET", "s:gex", "v")
    assert c.call("GETEX", "s:gex", "EX", "100") == b"v"
    assert 99 <= c.call("TTL", "s:gex") <= 100
    assert c.call("GETEX", "s:gex", "PX", "50000") == b"v"
    assert 40000 < c.call("PTTL", "s:gex") <= 50000
    at = int(time.time()) + 200
    assert c.call("GETEX", "s:gex", "EXAT", str(at)) == b"v"
    assert c.call("EXPIRETIME", "s:gex") == at
    atms = int(time.time() * 1000) + 300000
    assert c.call("GETEX", "s:gex", "PXAT", str(atms)) == b"v"
    assert c.call("PEXPIRETIME", "s:gex") == atms


def test_getex_persist_removes_ttl(c):
    c.call("SET", "s:gexp", "v", "EX", "100")
    assert c.call("GETEX", "s:gexp", "PERSIST") == b"v"
    assert c.call("TTL", "s:gexp") == -1


def test_getex_exat_in_the_past_returns_value_then_key_is_gone(c):
    c.call("SET", "s:gexpast", "v")
    assert c.call("GETEX", "s:gexpast", "EXAT", "1") == b"v"
    assert c.call("EXISTS", "s:gexpast") == 0


@pytest.mark.parametrize("opts", [
    ("EX", "10", "PX", "10"), ("PERSIST", "EX", "10"), ("EX", "10", "PERSIST"),
    ("FOO",), ("EX",), ("KEEPTTL",),
], ids=lambda o: "-".join(o))
def test_getex_bad_options_are_syntax_errors(c, opts):
    c.call("SET", "s:gexbad", "v")
    assert_error(c.call("GETEX", "s:gexbad", *opts), SYNTAX)
    assert c.call("TTL", "s:gexbad") == -1


@pytest.mark.parametrize("opt,value", [("EX", "0"), ("PX", "-1"), ("EXAT", "0"),
                                       ("EX", "9999999999999999")])
def test_getex_invalid_expire_time(c, opt, value):
    c.call("SET", "s:gexinv", "v")
    assert_error(c.call("GETEX", "s:gexinv", opt, value), invalid_expire("getex"))
    assert c.call("GET", "s:gexinv") == b"v"


def test_getex_non_integer_expire(c):
    c.call("SET", "s:gexni", "v")
    assert_error(c.call("GETEX", "s:gexni", "EX", "abc"), NOT_INTEGER)


# ---- MGET MSET MSETNX ------------------------------------------------------

def test_mget_returns_values_and_nulls_in_order(c):
    c.call("MSET", "s:m1", "a", "s:m3", "c")
    assert c.call("MGET", "s:m1", "s:m2", "s:m3", "s:m1") == [b"a", None, b"c", b"a"]
    assert c.last_raw == b"*4\r\n$1\r\na\r\n$-1\r\n$1\r\nc\r\n$1\r\na\r\n"


def test_mset_sets_all_and_last_duplicate_wins(c):
    assert c.call("MSET", "s:a", "1", "s:b", "2", "s:a", "3") == "OK"
    assert c.call("MGET", "s:a", "s:b") == [b"3", b"2"]


def test_mset_clears_ttl(c):
    c.call("SET", "s:mttl", "v", "EX", "100")
    c.call("MSET", "s:mttl", "w")
    assert c.call("TTL", "s:mttl") == -1


def test_msetnx_sets_all_when_none_exist(c):
    assert c.call("MSETNX", "s:n1", "a", "s:n2", "b") == 1
    assert c.call("MGET", "s:n1", "s:n2") == [b"a", b"b"]


def test_msetnx_sets_nothing_when_any_exists(c):
    c.call("SET", "s:n2", "old")
    assert c.call("MSETNX", "s:n1", "a", "s:n2", "b", "s:n3", "c") == 0
    assert c.call("MGET", "s:n1", "s:n2", "s:n3") == [None, b"old", None]


# ---- INCR family -----------------------------------------------------------

def test_incr_on_missing_key_starts_at_zero(c):
    assert c.call("INCR", "s:i") == 1
    assert c.call("INCR", "s:i") == 2
    assert c.call("GET", "s:i") == b"2"


def test_incrby_decr_decrby(c):
    assert c.call("INCRBY", "s:i", "10") == 10
    assert c.call("INCRBY", "s:i", "-3") == 7
    assert c.call("DECR", "s:i") == 6
    assert c.call("DECRBY", "s:i", "10") == -4
    assert c.call("DECRBY", "s:d", "5") == -5
    assert c.call("DECR", "s:d2") == -1
    assert c.call("GET", "s:i") == b"-4"


def test_incr_keeps_ttl(c):
    c.call("SET", "s:ittl", "5", "EX", "100")
    assert c.call("INCR", "s:ittl") == 6
    assert 99 <= c.call("TTL", "s:ittl") <= 100


@pytest.mark.parametrize("value", ["abc", "1.5", "", " 1", "1 ", "01", "+1", "-0",
                                   "99999999999999999999", "0x10", "1e3"])
def test_incr_on_non_integer_value_is_error(c, value):
    c.call("SET", "s:bad", value)
    assert_error(c.call("INCR", "s:bad"), NOT_INTEGER)
    assert_error(c.call("DECR", "s:bad"), NOT_INTEGER)
    assert_error(c.call("INCRBY", "s:bad", "1"), NOT_INTEGER)
    assert c.call("GET", "s:bad") == value.encode()


@pytest.mark.parametrize("incr", ["abc", "1.5", "", "9223372036854775808"])
def test_incrby_non_integer_increment_is_error(c, incr):
    assert_error(c.call("INCRBY", "s:i", incr), NOT_INTEGER)
    assert_error(c.call("DECRBY", "s:i", incr), NOT_INTEGER)
    assert c.call("EXISTS", "s:i") == 0


def test_incr_accepts_int64_extremes(c):
    c.call("SET", "s:max", str(INT64_MAX - 1))
    assert c.call("INCR", "s:max") == INT64_MAX
    c.call("SET", "s:min", str(INT64_MIN + 1))
    assert c.call("DECR", "s:min") == INT64_MIN
    assert c.call("INCRBY", "s:z", str(INT64_MIN)) == INT64_MIN


def test_incr_overflow_is_error_and_value_unchanged(c):
    c.call("SET", "s:of", str(INT64_MAX))
    assert_error(c.call("INCR", "s:of"), OVERFLOW)
    assert_error(c.call("INCRBY", "s:of", "1"), OVERFLOW)
    c.call("SET", "s:uf", str(INT64_MIN))
    assert_error(c.call("DECR", "s:uf"), OVERFLOW)
    assert_error(c.call("DECRBY", "s:uf", "1"), OVERFLOW)
    assert_error(c.call("INCRBY", "s:uf", "-1"), OVERFLOW)
    assert c.call("MGET", "s:of", "s:uf") == [str(INT64_MAX).encode(), str(INT64_MIN).encode()]


def test_decrby_int64_min_is_decrement_overflow_error(c):
    assert_error(c.call("DECRBY", "s:i", str(INT64_MIN)), "ERR decrement would overflow")


# ---- INCRBYFLOAT -----------------------------------------------------------

def test_incrbyfloat_documented_examples(c):
    c.call("SET", "s:f", "10.50")
    assert c.call("INCRBYFLOAT", "s:f", "0.1") == b"10.6"
    assert c.call("INCRBYFLOAT", "s:f", "-5") == b"5.6"
    c.call("SET", "s:f", "5.0e3")
    assert c.call("INCRBYFLOAT", "s:f", "2.0e2") == b"5200"
    assert c.call("GET", "s:f") == b"5200"


def test_incrbyfloat_missing_key_and_formatting(c):
    assert c.call("INCRBYFLOAT", "s:g", "3") == b"3"
    assert c.call("INCRBYFLOAT", "s:g", "0.1") == b"3.1"
    assert c.call("INCRBYFLOAT", "s:g", "-0.1") == b"3"
    assert c.call("INCRBYFLOAT", "s:h", "0.1") == b"0.1"
    assert c.call("INCRBYFLOAT", "s:h", "0.2") == b"0.3"
    assert c.call("INCRBYFLOAT", "s:h", "-1") == b"-0.7"


def test_incrbyfloat_keeps_ttl(c):
    c.call("SET", "s:fttl", "1", "EX", "100")
    assert c.call("INCRBYFLOAT", "s:fttl", "1.5") == b"2.5"
    assert 99 <= c.call("TTL", "s:fttl") <= 100


@pytest.mark.parametrize("incr", ["abc", "", "1.5x", "nan"])
def test_incrbyfloat_invalid_increment(c, incr):
    assert_error(c.call("INCRBYFLOAT", "s:f", incr), NOT_FLOAT)
    assert c.call("EXISTS", "s:f") == 0


def test_incrbyfloat_on_non_float_value(c):
    c.call("SET", "s:f", "abc")
    assert_error(c.call("INCRBYFLOAT", "s:f", "1"), NOT_FLOAT)
    assert c.call("GET", "s:f") == b"abc"


def test_incrbyfloat_to_infinity_is_error(c):
    c.call("SET", "s:f", "1")
    assert_error(c.call("INCRBYFLOAT", "s:f", "inf"),
                 "ERR increment would produce NaN or Infinity")
    assert c.call("GET", "s:f") == b"1"


# ---- APPEND STRLEN GETRANGE SETRANGE ----------------------------------------

def test_append_creates_and_extends(c):
    assert c.call("APPEND", "s:ap", "hello") == 5
    assert c.call("APPEND", "s:ap", " world") == 11
    assert c.call("APPEND", "s:ap", "") == 11
    assert c.call("GET", "s:ap") == b"hello world"


def test_append_keeps_ttl(c):
    c.call("SET", "s:apttl", "a", "EX", "100")
    c.call("APPEND", "s:apttl", "b")
    assert 99 <= c.call("TTL", "s:apttl") <= 100


def test_strlen(c):
    assert c.call("STRLEN", "s:sl") == 0
    c.call("SET", "s:sl", "hello")
    assert c.call("STRLEN", "s:sl") == 5
    c.call("SET", "s:sl", b"\x00\xff\r\n")
    assert c.call("STRLEN", "s:sl") == 4


@pytest.mark.parametrize("start,end,expected", [
    (0, 3, b"This"), (-3, -1, b"ing"), (0, -1, b"This is a string"),
    (10, 100, b"string"), (5, 3, b""), (-100, 3, b"This"), (100, 200, b""),
    (-1, -5, b""), (15, 15, b"g"), (0, 0, b"T"),
    (0, INT64_MAX, b"This is a string"), (INT64_MIN, 1, b"Th"),
])
def test_getrange(c, start, end, expected):
    c.call("SET", "s:gr", "This is a string")
    assert c.call("GETRANGE", "s:gr", str(start), str(end)) == expected


def test_getrange_missing_key_is_empty_string(c):
    assert c.call("GETRANGE", "s:grmiss", "0", "-1") == b""
    assert c.last_raw == b"$0\r\n\r\n"


def test_getrange_non_integer_index(c):
    c.call("SET", "s:gr", "abc")
    assert_error(c.call("GETRANGE", "s:gr", "a", "1"), NOT_INTEGER)
    assert_error(c.call("GETRANGE", "s:gr", "0", "1.0"), NOT_INTEGER)


def test_setrange_overwrites_and_pads_with_zero_bytes(c):
    c.call("SET", "s:sr", "Hello World")
    assert c.call("SETRANGE", "s:sr", "6", "Redis") == 11
    assert c.call("GET", "s:sr") == b"Hello Redis"
    assert c.call("SETRANGE", "s:sr2", "5", "x") == 6
    assert c.call("GET", "s:sr2") == b"\x00\x00\x00\x00\x00x"
    assert c.call("SETRANGE", "s:sr", "9", "abcdef") == 15
    assert c.call("GET", "s:sr") == b"Hello Redabcdef"


def test_setrange_empty_value_on_missing_key_creates_nothing(c):
    assert c.call("SETRANGE", "s:sre", "10", "") == 0
    assert c.call("EXISTS", "s:sre") == 0


def test_setrange_empty_value_on_existing_key_returns_length(c):
    c.call("SET", "s:sre", "abc")
    assert c.call("SETRANGE", "s:sre", "100", "") == 3
    assert c.call("GET", "s:sre") == b"abc"


def test_setrange_keeps_ttl(c):
    c.call("SET", "s:srttl", "abc", "EX", "100")
    c.call("SETRANGE", "s:srttl", "1", "X")
    assert 99 <= c.call("TTL", "s:srttl") <= 100


def test_setrange_negative_offset_is_out_of_range(c):
    assert_error(c.call("SETRANGE", "s:sr", "-1", "x"), "ERR offset is out of range")
    assert c.call("EXISTS", "s:sr") == 0


def test_setrange_non_integer_offset(c):
    assert_error(c.call("SETRANGE", "s:sr", "abc", "x"), NOT_INTEGER)


def test_setrange_beyond_default_proto_max_bulk_len_is_error(c):
    # 512 MiB is the default proto-max-bulk-len: offset 512 MiB + 1 byte.
    assert_error(c.call("SETRANGE", "s:big", str(512 * 1024 * 1024), "x"),
                 "ERR string exceeds maximum allowed size (proto-max-bulk-len)")
    assert_error(c.call("SETRANGE", "s:big", str(INT64_MAX - 10), "x"),
                 "ERR string exceeds maximum allowed size (proto-max-bulk-len)")
    assert c.call("EXISTS", "s:big") == 0


def test_string_growth_stops_exactly_at_proto_max_bulk_len(start_server, connect):
    limit = 1024 * 1024  # the smallest proto-max-bulk-len Redis accepts
    srv = start_server(proto_max_bulk_len=limit)
    c = connect(srv, timeout=scaled(20))
    too_big = "ERR string exceeds maximum allowed size (proto-max-bulk-len)"
    assert c.call("SETRANGE", "at", str(limit - 1), "x") == limit
    assert_error(c.call("SETRANGE", "past", str(limit), "x"), too_big)
    assert_error(c.call("SETRANGE", "past", str(limit - 1), "xy"), too_big)
    assert c.call("EXISTS", "past") == 0
    c.call("SET", "ap", b"a" * (limit - 2))
    assert c.call("APPEND", "ap", "bc") == limit
    assert_error(c.call("APPEND", "ap", "d"), too_big)
    assert c.call("STRLEN", "ap") == limit
    assert c.call("PING") == "PONG"


# ---- wrong arguments after an expiry ---------------------------------------

def test_commands_treat_expired_key_as_missing(c):
    keys = ["s:e%d" % i for i in range(12)]
    for k in keys:
        c.call("SET", k, "5", "PX", "20")
    time.sleep(0.06)
    assert c.call("GET", keys[0]) is None
    assert c.call("MGET", keys[1]) == [None]
    assert c.call("INCR", keys[2]) == 1
    assert c.call("APPEND", keys[3], "ab") == 2
    assert c.call("STRLEN", keys[4]) == 0
    assert c.call("GETRANGE", keys[5], "0", "-1") == b""
    assert c.call("GETSET", keys[6], "x") is None
    assert c.call("GETDEL", keys[7]) is None
    assert c.call("GETEX", keys[8], "PERSIST") is None
    assert c.call("SET", keys[9], "x", "XX") is None
    assert c.call("MSETNX", keys[10], "x") == 1
    assert c.call("SETNX", keys[11], "y") == 1
    assert c.call("INCRBYFLOAT", "s:never", "1") == b"1"
