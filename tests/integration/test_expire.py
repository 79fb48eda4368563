"""Expiry: EXPIRE PEXPIRE EXPIREAT PEXPIREAT (NX XX GT LT) TTL PTTL EXPIRETIME
PEXPIRETIME PERSIST, and passive and active expiry."""

import time

import pytest

from util import (NOT_INTEGER, assert_error, info_fields, keyspace_line,
                  scaled, wait_until)

INT64_MAX = 2**63 - 1
INCOMPATIBLE_NX = "ERR NX and XX, GT or LT options at the same time are not compatible"
INCOMPATIBLE_GT_LT = "ERR GT and LT options at the same time are not compatible"


def now_s():
    return int(time.time())


def now_ms():
    return int(time.time() * 1000)


def set_ttl(c, cmd, key, amount, *opts):
    """Run an EXPIRE-family command with `amount` relative to now in the
    command's unit (seconds or milliseconds; absolute for *AT)."""
    if cmd == "EXPIREAT":
        amount = now_s() + amount
    elif cmd == "PEXPIREAT":
        amount = now_ms() + amount
    return c.call(cmd, key, str(amount), *opts)


# Units of each command per second: 100 * PER_S[cmd] is 100 seconds.
PER_S = {"EXPIRE": 1, "EXPIREAT": 1, "PEXPIRE": 1000, "PEXPIREAT": 1000}
ALL_EXPIRE_COMMANDS = ["EXPIRE", "PEXPIRE", "EXPIREAT", "PEXPIREAT"]


# ---- TTL PTTL EXPIRETIME PEXPIRETIME ------------------------------------------

def test_ttl_of_missing_key_is_minus_2(c):
    assert c.call("TTL", "e:missing") == -2
    assert c.call("PTTL", "e:missing") == -2
    assert c.call("EXPIRETIME", "e:missing") == -2
    assert c.call("PEXPIRETIME", "e:missing") == -2


def test_ttl_of_key_without_expiry_is_minus_1(c):
    c.call("SET", "e:k", "v")
    assert c.call("TTL", "e:k") == -1
    assert c.call("PTTL", "e:k") == -1
    assert c.call("EXPIRETIME", "e:k") == -1
    assert c.call("PEXPIRETIME", "e:k") == -1


def test_ttl_rounds_to_nearest_second(c):
    c.call("SET", "e:k", "v", "PX", "1600")
    assert c.call("TTL", "e:k") == 2
    c.call("SET", "e:k", "v", "PX", "2400")
    assert c.call("TTL", "e:k") == 2


@pytest.mark.parametrize("ms_part,rounded_up", [(0, 0), (499, 0), (500, 1), (999, 1)])
def test_expiretime_and_pexpiretime_are_absolute(c, ms_part, rounded_up):
    at_s = now_s() + 123
    at_ms = at_s * 1000 + ms_part
    c.call("SET", "e:k", "v")
    assert c.call("PEXPIREAT", "e:k", str(at_ms)) == 1
    assert c.call("PEXPIRETIME", "e:k") == at_ms
    assert c.call("EXPIRETIME", "e:k") == at_s + rounded_up  # rounded to the nearest second


# ---- EXPIRE family ---------------------------------------------------------

@pytest.mark.parametrize("cmd", ALL_EXPIRE_COMMANDS)
def test_expire_sets_ttl_on_existing_key(c, cmd):
    c.call("SET", "e:k", "v")
    assert set_ttl(c, cmd, "e:k", 100 * PER_S[cmd]) == 1
    assert 95000 <= c.call("PTTL", "e:k") <= 100000
    assert c.call("GET", "e:k") == b"v"


@pytest.mark.parametrize("cmd", ALL_EXPIRE_COMMANDS)
def test_expire_on_missing_key_returns_0(c, cmd):
    assert set_ttl(c, cmd, "e:missing", 100) == 0
    assert c.call("EXISTS", "e:missing") == 0


@pytest.mark.parametrize("cmd,amount", [("EXPIRE", "0"), ("EXPIRE", "-1"), ("PEXPIRE", "0"),
                                        ("PEXPIRE", "-100"), ("EXPIREAT", "1"),
                                        ("PEXPIREAT", "1"), ("EXPIREAT", "0")])
def test_expire_in_the_past_deletes_key_and_returns_1(c, cmd, amount):
    c.call("SET", "e:k", "v")
    assert c.call(cmd, "e:k", amount) == 1
    assert c.call("EXISTS", "e:k") == 0
    assert c.call("GET", "e:k") is None


@pytest.mark.parametrize("cmd", ALL_EXPIRE_COMMANDS)
@pytest.mark.parametrize("amount", ["abc", "1.5", "", "99999999999999999999"])
def test_expire_non_integer_time(c, cmd, amount):
    c.call("SET", "e:k", "v")
    assert_error(c.call(cmd, "e:k", amount), NOT_INTEGER)
    assert c.call("TTL", "e:k") == -1


@pytest.mark.parametrize("cmd,amount", [
    ("EXPIRE", str(INT64_MAX)), ("EXPIRE", "9223372036854775"), ("EXPIRE", str(-INT64_MAX)),
    ("PEXPIRE", str(INT64_MAX)), ("EXPIREAT", str(INT64_MAX)),
])
def test_expire_overflowing_time_is_invalid_expire_time(c, cmd, amount):
    c.call("SET", "e:k", "v")
    assert_error(c.call(cmd, "e:k", amount),
                 "ERR invalid expire time in '%s' command" % cmd.lower())
    assert c.call("TTL", "e:k") == -1


def test_pexpireat_far_future_is_accepted(c):
    c.call("SET", "e:k", "v")
    assert c.call("PEXPIREAT", "e:k", str(INT64_MAX)) == 1
    assert c.call("PEXPIRETIME", "e:k") == INT64_MAX


@pytest.mark.parametrize("cmd", ALL_EXPIRE_COMMANDS)
def test_expire_nx_only_when_no_ttl(c, cmd):
    c.call("SET", "e:k", "v")
    assert set_ttl(c, cmd, "e:k", 100 * PER_S[cmd], "NX") == 1
    assert set_ttl(c, cmd, "e:k", 200 * PER_S[cmd], "NX") == 0
    assert c.call("PTTL", "e:k") <= 100000


@pytest.mark.parametrize("cmd", ALL_EXPIRE_COMMANDS)
def test_expire_xx_only_when_ttl_exists(c, cmd):
    c.call("SET", "e:k", "v")
    assert set_ttl(c, cmd, "e:k", 100 * PER_S[cmd], "XX") == 0
    assert c.call("TTL", "e:k") == -1
    set_ttl(c, cmd, "e:k", 100 * PER_S[cmd])
    assert set_ttl(c, cmd, "e:k", 200 * PER_S[cmd], "XX") == 1
    assert c.call("PTTL", "e:k") > 150000


@pytest.mark.parametrize("cmd", ALL_EXPIRE_COMMANDS)
def test_expire_gt_only_increases_ttl_and_no_ttl_counts_as_infinite(c, cmd):
    c.call("SET", "e:k", "v")
    assert set_ttl(c, cmd, "e:k", 100 * PER_S[cmd], "GT") == 0
    assert c.call("TTL", "e:k") == -1
    set_ttl(c, cmd, "e:k", 100 * PER_S[cmd])
    assert set_ttl(c, cmd, "e:k", 50 * PER_S[cmd], "GT") == 0
    assert set_ttl(c, cmd, "e:k", 200 * PER_S[cmd], "GT") == 1
    assert c.call("PTTL", "e:k") > 150000


@pytest.mark.parametrize("cmd", ALL_EXPIRE_COMMANDS)
def test_expire_lt_only_decreases_ttl_and_no_ttl_counts_as_infinite(c, cmd):
    c.call("SET", "e:k", "v")
    assert set_ttl(c, cmd, "e:k", 200 * PER_S[cmd], "LT") == 1
    assert set_ttl(c, cmd, "e:k", 300 * PER_S[cmd], "LT") == 0
    assert set_ttl(c, cmd, "e:k", 100 * PER_S[cmd], "LT") == 1
    assert c.call("PTTL", "e:k") <= 100000


def test_expire_xx_with_gt_combines(c):
    c.call("SET", "e:k", "v")
    assert c.call("EXPIRE", "e:k", "100", "XX", "GT") == 0
    c.call("EXPIRE", "e:k", "100")
    assert c.call("EXPIRE", "e:k", "200", "XX", "GT") == 1
    assert c.call("EXPIRE", "e:k", "50", "XX", "GT") == 0


def test_expire_options_are_case_insensitive_and_may_repeat(c):
    c.call("SET", "e:k", "v")
    assert c.call("EXPIRE", "e:k", "100", "nx", "nx") == 1


@pytest.mark.parametrize("cmd", ALL_EXPIRE_COMMANDS)
@pytest.mark.parametrize("opts,error", [
    (("NX", "XX"), INCOMPATIBLE_NX), (("NX", "GT"), INCOMPATIBLE_NX),
    (("NX", "LT"), INCOMPATIBLE_NX), (("XX", "NX"), INCOMPATIBLE_NX),
    (("GT", "LT"), INCOMPATIBLE_GT_LT),
    (("FOO",), "ERR Unsupported option FOO"), (("20",), "ERR Unsupported option 20"),
], ids=lambda v: "-".join(v) if isinstance(v, tuple) else None)
def test_expire_incompatible_or_unknown_options(c, cmd, opts, error):
    c.call("SET", "e:k", "v")
    assert_error(set_ttl(c, cmd, "e:k", 100 * PER_S[cmd], *opts), error)
    assert c.call("TTL", "e:k") == -1


# ---- PERSIST ---------------------------------------------------------------

def test_persist_removes_ttl_once(c):
    c.call("SET", "e:k", "v", "EX", "100")
    assert c.call("PERSIST", "e:k") == 1
    assert c.call("TTL", "e:k") == -1
    assert c.call("PERSIST", "e:k") == 0
    assert c.call("PERSIST", "e:missing") == 0
    assert c.call("GET", "e:k") == b"v"


# ---- writes and TTLs ---------------------------------------------------------

def test_overwriting_commands_clear_ttl_and_modifying_ones_keep_it(c):
    for k in ("e:set", "e:getset", "e:mset", "e:incr", "e:append", "e:setrange"):
        c.call("SET", k, "1", "EX", "100")
    c.call("SET", "e:set", "2")
    c.call("GETSET", "e:getset", "2")
    c.call("MSET", "e:mset", "2")
    c.call("INCR", "e:incr")
    c.call("APPEND", "e:append", "2")
    c.call("SETRANGE", "e:setrange", "0", "2")
    assert [c.call("TTL", k) for k in ("e:set", "e:getset", "e:mset")] == [-1, -1, -1]
    for k in ("e:incr", "e:append", "e:setrange"):
        assert 99 <= c.call("TTL", k) <= 100


def test_rename_moves_ttl_with_value(c):
    c.call("SET", "e:src", "v", "EX", "100")
    c.call("SET", "e:dst", "old")
    assert c.call("RENAME", "e:src", "e:dst") == "OK"
    assert 99 <= c.call("TTL", "e:dst") <= 100
    assert c.call("TTL", "e:src") == -2


# ---- passive and active expiry ------------------------------------------------

def test_expired_key_is_gone_for_every_read(c):
    ttl_ms = int(scaled(50))
    for cmd in ("GET", "EXISTS", "TTL", "PTTL", "TYPE", "KEYS", "STRLEN"):
        c.call("SET", "e:p:" + cmd, "v", "PX", str(ttl_ms))
    assert c.call("DBSIZE") == 7
    time.sleep(2 * ttl_ms / 1000)
    assert c.call("GET", "e:p:GET") is None
    assert c.call("EXISTS", "e:p:EXISTS") == 0
    assert c.call("TTL", "e:p:TTL") == -2
    assert c.call("PTTL", "e:p:PTTL") == -2
    assert c.call("TYPE", "e:p:TYPE") == "none"
    assert c.call("KEYS", "e:p:*") == []
    assert c.call("STRLEN", "e:p:STRLEN") == 0
    wait_until(lambda: c.call("DBSIZE") == 0, 3, message="DBSIZE 0 after expiry")


def test_key_is_visible_until_it_expires(c):
    c.call("SET", "e:soon", "v", "PX", "1500")
    assert c.call("GET", "e:soon") == b"v"
    assert c.call("EXISTS", "e:soon") == 1
    assert 0 < c.call("PTTL", "e:soon") <= 1500


def test_active_expiry_removes_untouched_keys(c):
    c.pipeline([("SET", "e:a:%d" % i, "v", "PX", "100") for i in range(2000)])
    c.call("SET", "e:stay", "v")
    c.call("SET", "e:stay-ttl", "v", "EX", "1000")
    # Never touch the keys: only DBSIZE and INFO, which do not expire keys.
    wait_until(lambda: c.call("DBSIZE") == 2, 3, interval=0.05,
               message="active expiry of 2000 untouched keys")
    ks = keyspace_line(info_fields(c.call("INFO", "keyspace"))["keyspace"]["db0"])
    assert ks["keys"] == 2
    assert ks["expires"] == 1
    stats = info_fields(c.call("INFO", "stats"))["stats"]
    assert int(stats["expired_keys"]) >= 2000


def test_info_keyspace_has_no_db0_line_when_empty(c):
    c.call("SET", "e:one", "v", "PX", "50")
    wait_until(lambda: c.call("DBSIZE") == 0, 3, message="DBSIZE 0")
    assert "db0" not in info_fields(c.call("INFO", "keyspace"))["keyspace"]
