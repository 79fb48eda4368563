"""Transactions: MULTI EXEC DISCARD WATCH UNWATCH, raw and through redis-py."""

import pytest
import redis

from resp_client import RespError
from util import NOT_INTEGER, SYNTAX, arity_error, assert_error

EXECABORT = "EXECABORT Transaction discarded because of previous errors."


@pytest.fixture
def other(server, connect):
    """A second client of the module's server."""
    return connect(server)


def test_multi_queues_and_exec_returns_replies_in_order(c):
    assert c.call("MULTI") == "OK"
    assert c.call("SET", "t:a", "1") == "QUEUED"
    assert c.last_raw == b"+QUEUED\r\n"
    assert c.call("INCR", "t:a") == "QUEUED"
    assert c.call("GET", "t:a") == "QUEUED"
    assert c.call("GET", "t:missing") == "QUEUED"
    assert c.call("EXEC") == ["OK", 2, b"2", None]
    assert c.last_raw == b"*4\r\n+OK\r\n:2\r\n$1\r\n2\r\n$-1\r\n"


def test_queued_commands_do_not_run_before_exec(c, other):
    c.call("MULTI")
    c.call("SET", "t:a", "1")
    assert other.call("GET", "t:a") is None
    c.call("EXEC")
    assert other.call("GET", "t:a") == b"1"


def test_empty_transaction_returns_empty_array(c):
    c.call("MULTI")
    assert c.call("EXEC") == []
    assert c.last_raw == b"*0\r\n"


def test_discard_drops_queued_commands(c):
    c.call("MULTI")
    c.call("SET", "t:a", "1")
    assert c.call("DISCARD") == "OK"
    assert c.call("GET", "t:a") is None
    assert_error(c.call("EXEC"), "ERR EXEC without MULTI")


def test_exec_and_discard_without_multi_are_errors(c):
    assert_error(c.call("EXEC"), "ERR EXEC without MULTI")
    assert_error(c.call("DISCARD"), "ERR DISCARD without MULTI")


def test_nested_multi_is_error_and_transaction_continues(c):
    c.call("MULTI")
    assert_error(c.call("MULTI"), "ERR MULTI calls can not be nested")
    assert c.call("SET", "t:a", "1") == "QUEUED"
    assert c.call("EXEC") == ["OK"]
    assert c.call("GET", "t:a") == b"1"


def test_queued_arity_error_aborts_exec(c):
    c.call("MULTI")
    assert c.call("SET", "t:a", "1") == "QUEUED"
    assert_error(c.call("GET"), arity_error("get"))
    assert c.call("INCR", "t:b") == "QUEUED"
    assert_error(c.call("EXEC"), EXECABORT)
    assert c.call("MGET", "t:a", "t:b") == [None, None]
    assert_error(c.call("EXEC"), "ERR EXEC without MULTI")


def test_queued_unknown_command_aborts_exec(c):
    c.call("MULTI")
    c.call("SET", "t:a", "1")
    reply = c.call("NOSUCHCOMMAND", "x")
    assert_error(reply, "ERR unknown command 'NOSUCHCOMMAND', with args beginning with: 'x' ")
    assert_error(c.call("EXEC"), EXECABORT)
    assert c.call("GET", "t:a") is None


def test_exec_with_arguments_aborts_transaction(c):
    c.call("MULTI")
    c.call("SET", "t:a", "1")
    assert_error(c.call("EXEC", "x"), "EXECABORT Transaction discarded because of: "
                 "wrong number of arguments for 'exec' command")
    assert c.call("GET", "t:a") is None
    assert_error(c.call("EXEC"), "ERR EXEC without MULTI")


def test_option_syntax_error_is_reported_inside_exec_without_aborting(c):
    c.call("MULTI")
    assert c.call("SET", "t:a", "1", "FOO") == "QUEUED"
    assert c.call("SET", "t:b", "2") == "QUEUED"
    replies = c.call("EXEC")
    assert len(replies) == 2
    assert_error(replies[0], SYNTAX)
    assert replies[1] == "OK"
    assert c.call("MGET", "t:a", "t:b") == [None, b"2"]


def test_runtime_errors_inside_exec_do_not_abort_others(c):
    c.call("SET", "t:s", "notanumber")
    c.call("MULTI")
    c.call("INCR", "t:s")
    c.call("SET", "t:a", "1")
    c.call("RENAME", "t:missing", "t:x")
    c.call("INCR", "t:a")
    replies = c.call("EXEC")
    assert_error(replies[0], NOT_INTEGER)
    assert replies[1] == "OK"
    assert_error(replies[2], "ERR no such key")
    assert replies[3] == 2
    assert c.last_raw.startswith(b"*4\r\n-ERR value is not an integer or out of range\r\n+OK\r\n")


# ---- WATCH -----------------------------------------------------------------

def test_watch_key_modified_by_other_client_makes_exec_return_null(c, other):
    c.call("SET", "t:w", "1")
    assert c.call("WATCH", "t:w") == "OK"
    other.call("SET", "t:w", "2")
    c.call("MULTI")
    c.call("SET", "t:w", "3")
    c.call("SET", "t:side", "x")
    assert c.call("EXEC") is None
    assert c.last_raw == b"*-1\r\n"
    assert c.call("MGET", "t:w", "t:side") == [b"2", None]


@pytest.mark.parametrize("modify", [
    ("DEL", "t:w"), ("EXPIRE", "t:w", "100"), ("INCR", "t:w"), ("APPEND", "t:w", "x"),
    ("RENAME", "t:w", "t:other"), ("GETDEL", "t:w"), ("PERSIST", "t:w"), ("FLUSHALL",),
], ids=lambda m: m[0])
def test_watch_detects_each_kind_of_write(c, other, modify):
    c.call("SET", "t:w", "1")
    if modify[0] == "PERSIST":
        c.call("EXPIRE", "t:w", "100")
    c.call("WATCH", "t:w")
    assert not isinstance(other.call(*modify), RespError)
    c.call("MULTI")
    c.call("PING")
    assert c.call("EXEC") is None


def test_watch_missing_key_created_by_other_client_aborts(c, other):
    c.call("WATCH", "t:new")
    other.call("SET", "t:new", "x")
    c.call("MULTI")
    c.call("GET", "t:new")
    assert c.call("EXEC") is None


def test_watch_key_modified_by_same_client_aborts(c):
    c.call("WATCH", "t:w")
    c.call("SET", "t:w", "mine")
    c.call("MULTI")
    c.call("GET", "t:w")
    assert c.call("EXEC") is None


def test_watch_unrelated_key_modified_still_executes(c, other):
    c.call("SET", "t:w", "1")
    c.call("WATCH", "t:w")
    other.call("SET", "t:unrelated", "2")
    other.call("GET", "t:w")
    c.call("MULTI")
    c.call("INCR", "t:w")
    assert c.call("EXEC") == [2]


def test_unwatch_forgets_watched_keys(c, other):
    c.call("WATCH", "t:w")
    assert c.call("UNWATCH") == "OK"
    other.call("SET", "t:w", "2")
    c.call("MULTI")
    c.call("GET", "t:w")
    assert c.call("EXEC") == [b"2"]


def test_exec_and_discard_forget_watched_keys(c, other):
    c.call("WATCH", "t:w")
    c.call("MULTI")
    c.call("EXEC")
    other.call("SET", "t:w", "1")
    c.call("MULTI")
    c.call("GET", "t:w")
    assert c.call("EXEC") == [b"1"]
    c.call("WATCH", "t:w")
    c.call("MULTI")
    c.call("DISCARD")
    other.call("SET", "t:w", "2")
    c.call("MULTI")
    c.call("GET", "t:w")
    assert c.call("EXEC") == [b"2"]


def test_watch_inside_multi_is_error_and_transaction_continues(c):
    c.call("MULTI")
    assert_error(c.call("WATCH", "t:w"), "ERR WATCH inside MULTI is not allowed")
    c.call("SET", "t:w", "1")
    assert c.call("EXEC") == ["OK"]


def test_watch_several_keys_any_change_aborts(c, other):
    c.call("WATCH", "t:a", "t:b", "t:c")
    other.call("SET", "t:c", "1")
    c.call("MULTI")
    c.call("SET", "t:a", "1")
    assert c.call("EXEC") is None


# ---- redis-py ----------------------------------------------------------------

def test_redis_py_transaction_pipeline(r):
    pipe = r.pipeline(transaction=True)
    pipe.set("t:py", 1).incr("t:py").get("t:py")
    assert pipe.execute() == [True, 2, b"2"]


def test_redis_py_watch_error_on_concurrent_change(r, server):
    other = server.redis()
    try:
        r.set("t:pyw", 1)
        with r.pipeline() as pipe:
            pipe.watch("t:pyw")
            other.set("t:pyw", 5)
            pipe.multi()
            pipe.incr("t:pyw")
            with pytest.raises(redis.WatchError):
                pipe.execute()
        assert r.get("t:pyw") == b"5"
    finally:
        other.close()


def test_keys_scan_and_dbsize_inside_exec_see_the_transactions_own_writes(c):
    c.call("SET", "tx:a", "1")
    c.call("SET", "tx:b", "2")
    assert c.call("MULTI") == "OK"
    for cmd in (("SET", "tx:c", "3"), ("DEL", "tx:a"), ("KEYS", "tx:*"), ("DBSIZE",),
                ("SCAN", "0", "MATCH", "tx:*", "COUNT", "1000")):
        assert c.call(*cmd) == "QUEUED"
    replies = c.call("EXEC")
    assert sorted(replies[2]) == [b"tx:b", b"tx:c"]
    assert replies[3] == 2
    cursor, keys = replies[4]
    assert sorted(keys) == [b"tx:b", b"tx:c"]
