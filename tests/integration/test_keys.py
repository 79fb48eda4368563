"""Keyspace commands: DEL UNLINK EXISTS TYPE RENAME RENAMENX COPY KEYS SCAN
RANDOMKEY DBSIZE FLUSHDB FLUSHALL."""

import pytest

from util import NO_SUCH_KEY, NOT_INTEGER, SYNTAX, assert_error, assert_error_prefix


def scan_all(c, *opts, cursor=b"0"):
    """Iterate SCAN to the end; return (list of keys in order, calls)."""
    keys, calls = [], 0
    while True:
        reply = c.call("SCAN", cursor, *opts)
        calls += 1
        assert isinstance(reply, list) and len(reply) == 2, reply
        cursor, batch = reply
        assert isinstance(cursor, bytes) and cursor.isdigit(), cursor
        keys += batch
        if cursor == b"0":
            return keys, calls
        assert calls < 1_000_000


# ---- DEL UNLINK EXISTS TYPE ------------------------------------------------

@pytest.mark.parametrize("cmd", ["DEL", "UNLINK"])
def test_delete_counts_removed_keys_once(c, cmd):
    c.call("MSET", "k:a", "1", "k:b", "2", "k:c", "3")
    assert c.call(cmd, "k:a", "k:a", "k:b", "k:missing") == 2
    assert c.call("MGET", "k:a", "k:b", "k:c") == [None, None, b"3"]
    assert c.call(cmd, "k:a") == 0


def test_del_removes_ttl_with_key(c):
    c.call("SET", "k:t", "v", "EX", "100")
    c.call("DEL", "k:t")
    c.call("SET", "k:t", "w")
    assert c.call("TTL", "k:t") == -1


def test_exists_counts_duplicates(c):
    c.call("SET", "k:a", "1")
    assert c.call("EXISTS", "k:a") == 1
    assert c.call("EXISTS", "k:a", "k:a", "k:missing", "k:a") == 3
    assert c.call("EXISTS", "k:missing") == 0


def test_type_of_string_and_missing_key(c):
    c.call("SET", "k:s", "v")
    assert c.call("TYPE", "k:s") == "string"
    assert c.last_raw == b"+string\r\n"
    assert c.call("TYPE", "k:missing") == "none"
    assert c.last_raw == b"+none\r\n"


# ---- RENAME RENAMENX -------------------------------------------------------

def test_rename_moves_value_and_overwrites_destination(c):
    c.call("SET", "k:src", "v")
    c.call("SET", "k:dst", "old", "EX", "100")
    assert c.call("RENAME", "k:src", "k:dst") == "OK"
    assert c.call("GET", "k:dst") == b"v"
    assert c.call("TTL", "k:dst") == -1
    assert c.call("EXISTS", "k:src") == 0


def test_rename_missing_key_is_no_such_key(c):
    assert_error(c.call("RENAME", "k:missing", "k:dst"), NO_SUCH_KEY)
    assert_error(c.call("RENAMENX", "k:missing", "k:dst"), NO_SUCH_KEY)


def test_rename_to_itself_is_ok(c):
    c.call("SET", "k:same", "v", "EX", "100")
    assert c.call("RENAME", "k:same", "k:same") == "OK"
    assert c.call("GET", "k:same") == b"v"
    assert 99 <= c.call("TTL", "k:same") <= 100


def test_renamenx_only_when_destination_missing(c):
    c.call("SET", "k:src", "v")
    c.call("SET", "k:dst", "old")
    assert c.call("RENAMENX", "k:src", "k:dst") == 0
    assert c.call("MGET", "k:src", "k:dst") == [b"v", b"old"]
    assert c.call("RENAMENX", "k:src", "k:new") == 1
    assert c.call("MGET", "k:src", "k:new") == [None, b"v"]
    assert c.call("RENAMENX", "k:new", "k:new") == 0


def test_rename_of_expired_key_is_no_such_key(c):
    c.call("SET", "k:exp", "v", "PXAT", "1")
    assert_error(c.call("RENAME", "k:exp", "k:dst"), NO_SUCH_KEY)


# ---- COPY --------------------------------------------------------------------

def test_copy_duplicates_value_and_ttl(c):
    c.call("SET", "k:src", "v", "EX", "100")
    assert c.call("COPY", "k:src", "k:dst") == 1
    assert c.call("MGET", "k:src", "k:dst") == [b"v", b"v"]
    assert 99 <= c.call("TTL", "k:dst") <= 100
    c.call("APPEND", "k:dst", "w")
    assert c.call("MGET", "k:src", "k:dst") == [b"v", b"vw"]


def test_copy_does_not_overwrite_without_replace(c):
    c.call("SET", "k:src", "v")
    c.call("SET", "k:dst", "old", "EX", "100")
    assert c.call("COPY", "k:src", "k:dst") == 0
    assert c.call("GET", "k:dst") == b"old"
    assert c.call("COPY", "k:src", "k:dst", "REPLACE") == 1
    assert c.call("GET", "k:dst") == b"v"
    assert c.call("TTL", "k:dst") == -1


def test_copy_missing_source_returns_0(c):
    assert c.call("COPY", "k:missing", "k:dst") == 0
    assert c.call("EXISTS", "k:dst") == 0


def test_copy_to_itself_is_error(c):
    c.call("SET", "k:same", "v")
    assert_error(c.call("COPY", "k:same", "k:same"),
                 "ERR source and destination objects are the same")


def test_copy_db_0_is_the_current_db(c):
    c.call("SET", "k:src", "v")
    assert c.call("COPY", "k:src", "k:dst", "DB", "0") == 1
    assert c.call("GET", "k:dst") == b"v"


@pytest.mark.parametrize("opts,error", [
    (("FOO",), SYNTAX), (("DB",), SYNTAX), (("DB", "x"), NOT_INTEGER),
])
def test_copy_bad_options(c, opts, error):
    c.call("SET", "k:src", "v")
    assert_error(c.call("COPY", "k:src", "k:dst", *opts), error)
    assert c.call("EXISTS", "k:dst") == 0


@pytest.mark.ringkv_only
@pytest.mark.parametrize("db", ["1", "15", "99"])
def test_copy_to_other_db_is_error_in_ringkv(c, db):
    c.call("SET", "k:src", "v")
    assert_error_prefix(c.call("COPY", "k:src", "k:dst", "DB", db), "ERR")
    assert c.call("EXISTS", "k:dst") == 0


# ---- KEYS --------------------------------------------------------------------

GLOB_KEYS = [b"hello", b"hallo", b"hxllo", b"hllo", b"heeeello", b"hillo", b"hbllo",
             b"h*llo", b"h?llo", b"h[llo", b"other"]


@pytest.mark.parametrize("pattern,expected", [
    ("*", GLOB_KEYS),
    ("h?llo", [b"hello", b"hallo", b"hxllo", b"hillo", b"hbllo", b"h*llo", b"h?llo", b"h[llo"]),
    ("h*llo", [k for k in GLOB_KEYS if k != b"other"]),
    ("h[ae]llo", [b"hello", b"hallo"]),
    ("h[^e]llo", [b"hallo", b"hxllo", b"hillo", b"hbllo", b"h*llo", b"h?llo", b"h[llo"]),
    ("h[a-b]llo", [b"hallo", b"hbllo"]),
    ("h\\*llo", [b"h*llo"]),
    ("h\\?llo", [b"h?llo"]),
    ("h\\[llo", [b"h[llo"]),
    ("HELLO", []),
    ("hello", [b"hello"]),
    ("o*", [b"other"]),
    ("*r", [b"other"]),
    ("*e*e*", [b"heeeello"]),
    ("nomatch*", []),
], ids=lambda v: v if isinstance(v, str) else None)
def test_keys_glob_patterns(c, pattern, expected):
    c.call("MSET", *[x for k in GLOB_KEYS for x in (k, b"v")])
    assert sorted(c.call("KEYS", pattern)) == sorted(expected)


def test_keys_on_empty_db_is_empty_array(c):
    assert c.call("KEYS", "*") == []
    assert c.last_raw == b"*0\r\n"


def test_keys_skips_expired_keys(c):
    c.call("SET", "k:live", "v")
    c.call("SET", "k:dead", "v", "PXAT", "1")
    assert c.call("KEYS", "k:*") == [b"k:live"]


# ---- SCAN --------------------------------------------------------------------

def test_scan_full_iteration_returns_every_key(c):
    expected = {b"sc:%d" % i for i in range(1000)}
    c.pipeline([("SET", k, "v") for k in expected])
    keys, _ = scan_all(c)
    assert set(keys) == expected


def test_scan_on_empty_db_returns_cursor_0_and_no_keys(c):
    assert c.call("SCAN", "0") == [b"0", []]


def test_scan_match_filters_keys(c):
    c.pipeline([("SET", "sc:a:%d" % i, "v") for i in range(200)] +
               [("SET", "sc:b:%d" % i, "v") for i in range(200)])
    keys, _ = scan_all(c, "MATCH", "sc:a:*")
    assert set(keys) == {b"sc:a:%d" % i for i in range(200)}


def test_scan_count_is_a_hint_that_bounds_work(c):
    c.pipeline([("SET", "sc:%d" % i, "v") for i in range(1000)])
    keys, calls_small = scan_all(c, "COUNT", "10")
    assert len(set(keys)) == 1000
    keys, calls_big = scan_all(c, "COUNT", "1000")
    assert len(set(keys)) == 1000
    assert calls_small > calls_big
    assert calls_small >= 20


def test_scan_type_filter(c):
    c.pipeline([("SET", "sc:%d" % i, "v") for i in range(100)])
    keys, _ = scan_all(c, "TYPE", "string")
    assert len(set(keys)) == 100
    keys, _ = scan_all(c, "TYPE", "list")
    assert keys == []


def test_scan_combines_match_count_and_type(c):
    c.pipeline([("SET", "sc:%d" % i, "v") for i in range(300)])
    keys, _ = scan_all(c, "MATCH", "sc:1*", "COUNT", "20", "TYPE", "string")
    assert set(keys) == {b"sc:%d" % i for i in range(300) if str(i).startswith("1")}


@pytest.mark.parametrize("args,error", [
    (("abc",), "ERR invalid cursor"),
    (("1.5",), "ERR invalid cursor"),
    (("18446744073709551616",), "ERR invalid cursor"),
    (("0", "COUNT", "0"), SYNTAX),
    (("0", "COUNT", "-1"), SYNTAX),
    (("0", "COUNT", "abc"), NOT_INTEGER),
    (("0", "COUNT"), SYNTAX),
    (("0", "MATCH"), SYNTAX),
    (("0", "TYPE"), SYNTAX),
    (("0", "FOO", "bar"), SYNTAX),
], ids=lambda v: "-".join(v) if isinstance(v, tuple) else None)
def test_scan_errors(c, args, error):
    assert_error(c.call("SCAN", *args), error)


def test_scan_sees_every_key_present_for_the_whole_scan_while_table_grows(c):
    """50k keys, then SCAN COUNT 10 while 50k more are added between the
    calls: each of the first 50k keys is returned at least once."""
    first = [b"sg:a:%d" % i for i in range(50000)]
    for i in range(0, len(first), 1000):
        c.pipeline([("MSET", *[x for k in first[i:i + 1000] for x in (k, b"v")])])
    added = [b"sg:b:%d" % i for i in range(50000)]
    seen, cursor, next_add, calls = set(), b"0", 0, 0
    while True:
        batch = added[next_add:next_add + 8]
        next_add += len(batch)
        cmds = [("MSET", *[x for k in batch for x in (k, b"v")])] if batch else []
        replies = c.pipeline(cmds + [("SCAN", cursor, "COUNT", "10")])
        cursor, keys = replies[-1]
        seen.update(keys)
        calls += 1
        if cursor == b"0":
            break
        assert calls < 200000, "SCAN does not terminate"
    missing = [k for k in first if k not in seen]
    assert not missing, "%d keys never returned, e.g. %r" % (len(missing), missing[:5])
    assert seen <= set(first) | set(added)
    assert next_add > 10000, "the scan ended before the table grew much (%d added)" % next_add


# ---- RANDOMKEY DBSIZE FLUSHDB FLUSHALL ------------------------------------------

def test_randomkey(c):
    assert c.call("RANDOMKEY") is None
    assert c.last_raw == b"$-1\r\n"
    c.call("SET", "k:only", "v")
    assert c.call("RANDOMKEY") == b"k:only"
    c.call("MSET", "k:a", "1", "k:b", "2")
    for _ in range(20):
        assert c.call("RANDOMKEY") in (b"k:only", b"k:a", b"k:b")


def test_randomkey_skips_expired_keys(c):
    c.call("SET", "k:dead", "v", "PXAT", "1")
    assert c.call("RANDOMKEY") is None
    c.call("SET", "k:live", "v")
    for _ in range(10):
        assert c.call("RANDOMKEY") == b"k:live"


def test_dbsize_counts_keys(c):
    assert c.call("DBSIZE") == 0
    c.call("MSET", "k:a", "1", "k:b", "2")
    assert c.call("DBSIZE") == 2
    c.call("DEL", "k:a")
    assert c.call("DBSIZE") == 1


@pytest.mark.parametrize("cmd", [("FLUSHDB",), ("FLUSHDB", "SYNC"), ("FLUSHDB", "ASYNC"),
                                 ("FLUSHALL",), ("FLUSHALL", "SYNC"), ("FLUSHALL", "ASYNC"),
                                 ("flushall", "async")],
                         ids=lambda v: "-".join(v))
def test_flush_empties_the_db(c, cmd):
    c.pipeline([("SET", "k:%d" % i, "v", "EX", "100") for i in range(100)])
    assert c.call(*cmd) == "OK"
    assert c.call("DBSIZE") == 0
    assert c.call("GET", "k:1") is None
    assert c.call("KEYS", "*") == []
    c.call("SET", "k:1", "w")
    assert c.call("TTL", "k:1") == -1


@pytest.mark.parametrize("cmd", ["FLUSHDB", "FLUSHALL"])
@pytest.mark.parametrize("opts", [("FOO",), ("ASYNC", "SYNC"), ("SYNC", "SYNC")],
                         ids=lambda v: "-".join(v))
def test_flush_bad_option_is_syntax_error_and_flushes_nothing(c, cmd, opts):
    c.call("SET", "k:keep", "v")
    assert_error(c.call(cmd, *opts), SYNTAX)
    assert c.call("DBSIZE") == 1
