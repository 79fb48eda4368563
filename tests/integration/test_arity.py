"""Wrong number of arguments, for every command of the suite: one error text,
"ERR wrong number of arguments for '<name>' command" (subcommands as
'container|sub'), the command not run, and the connection usable after."""

import pytest

from util import arity_error, assert_error

CASES = [
    # (reported name, argv)
    ("ping", ["PING", "a", "b"]),
    ("echo", ["ECHO"]), ("echo", ["ECHO", "a", "b"]),
    ("auth", ["AUTH"]),
    ("select", ["SELECT"]), ("select", ["SELECT", "0", "1"]),
    ("reset", ["RESET", "x"]),
    ("get", ["GET"]), ("get", ["GET", "a", "b"]),
    ("set", ["SET"]), ("set", ["SET", "k"]),
    ("setnx", ["SETNX", "k"]), ("setnx", ["SETNX", "k", "v", "x"]),
    ("setex", ["SETEX", "k", "10"]), ("setex", ["SETEX", "k", "10", "v", "x"]),
    ("psetex", ["PSETEX", "k", "10"]), ("psetex", ["PSETEX", "k", "10", "v", "x"]),
    ("getset", ["GETSET", "k"]), ("getset", ["GETSET", "k", "v", "x"]),
    ("getdel", ["GETDEL"]), ("getdel", ["GETDEL", "k", "x"]),
    ("getex", ["GETEX"]),
    ("mget", ["MGET"]),
    ("mset", ["MSET"]), ("mset", ["MSET", "k"]), ("mset", ["MSET", "k", "v", "k2"]),
    ("msetnx", ["MSETNX"]), ("msetnx", ["MSETNX", "k"]), ("msetnx", ["MSETNX", "k", "v", "k2"]),
    ("del", ["DEL"]), ("unlink", ["UNLINK"]), ("exists", ["EXISTS"]),
    ("type", ["TYPE"]), ("type", ["TYPE", "a", "b"]),
    ("rename", ["RENAME", "a"]), ("rename", ["RENAME", "a", "b", "c"]),
    ("renamenx", ["RENAMENX", "a"]), ("renamenx", ["RENAMENX", "a", "b", "c"]),
    ("copy", ["COPY", "a"]),
    ("expire", ["EXPIRE", "k"]), ("pexpire", ["PEXPIRE", "k"]),
    ("expireat", ["EXPIREAT", "k"]), ("pexpireat", ["PEXPIREAT", "k"]),
    ("ttl", ["TTL"]), ("ttl", ["TTL", "a", "b"]),
    ("pttl", ["PTTL"]), ("expiretime", ["EXPIRETIME"]), ("pexpiretime", ["PEXPIRETIME"]),
    ("persist", ["PERSIST"]), ("persist", ["PERSIST", "a", "b"]),
    ("incr", ["INCR"]), ("incr", ["INCR", "a", "b"]),
    ("incrby", ["INCRBY", "a"]), ("incrby", ["INCRBY", "a", "1", "2"]),
    ("decr", ["DECR"]), ("decrby", ["DECRBY", "a"]),
    ("incrbyfloat", ["INCRBYFLOAT", "a"]), ("incrbyfloat", ["INCRBYFLOAT", "a", "1", "2"]),
    ("append", ["APPEND", "a"]), ("append", ["APPEND", "a", "b", "c"]),
    ("strlen", ["STRLEN"]), ("strlen", ["STRLEN", "a", "b"]),
    ("getrange", ["GETRANGE", "a", "0"]), ("getrange", ["GETRANGE", "a", "0", "1", "2"]),
    ("setrange", ["SETRANGE", "a", "0"]), ("setrange", ["SETRANGE", "a", "0", "x", "y"]),
    ("keys", ["KEYS"]), ("keys", ["KEYS", "a", "b"]),
    ("scan", ["SCAN"]),
    ("randomkey", ["RANDOMKEY", "x"]), ("dbsize", ["DBSIZE", "x"]),
    ("multi", ["MULTI", "x"]), ("discard", ["DISCARD", "x"]),  # EXEC x: see test_tx.py
    ("watch", ["WATCH"]), ("unwatch", ["UNWATCH", "x"]),
    ("config", ["CONFIG"]), ("config|get", ["CONFIG", "GET"]),
    ("config|set", ["CONFIG", "SET", "maxclients"]),
    ("config|resetstat", ["CONFIG", "RESETSTAT", "x"]),
    ("client", ["CLIENT"]), ("client|id", ["CLIENT", "ID", "x"]),
    ("client|setname", ["CLIENT", "SETNAME"]), ("client|setname", ["CLIENT", "SETNAME", "a", "b"]),
    ("client|getname", ["CLIENT", "GETNAME", "x"]),
    ("client|kill", ["CLIENT", "KILL"]),
    ("command|count", ["COMMAND", "COUNT", "x"]),
    ("time", ["TIME", "x"]),
]


@pytest.mark.parametrize("name,argv", CASES, ids=[" ".join(a) for _, a in CASES])
def test_wrong_number_of_arguments(c, name, argv):
    c.call("SET", "a", "keep")
    assert_error(c.call(*argv), arity_error(name))
    assert c.call("GET", "a") == b"keep"
    assert c.call("DBSIZE") == 1
    assert c.call("PING") == "PONG"


def test_arity_error_uses_lowercase_name_whatever_the_case_sent(c):
    assert_error(c.call("gEt"), arity_error("get"))
    assert_error(c.call("Client", "SetName"), arity_error("client|setname"))


@pytest.mark.ringkv_only
def test_wrong_number_of_arguments_for_ringkv_commands(c):
    for argv, name in [(["CAS", "k", "a"], "cas"), (["CAS", "k"], "cas"),
                       (["GETTTL"], "getttl"), (["GETTTL", "a", "b"], "getttl")]:
        assert_error(c.call(*argv), arity_error(name))
