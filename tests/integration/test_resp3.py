"""RESP3 reply shapes after HELLO 3, byte for byte where they differ from
RESP2 (null, map, verbatim), and where they must not differ."""

import pytest

from resp_client import RespMap, Verbatim
from util import NOT_INTEGER, assert_error


@pytest.fixture
def c3(c):
    """The module server's raw connection, switched to RESP3."""
    reply = c.hello(3)
    assert isinstance(reply, RespMap), reply
    return c


def test_hello_3_replies_with_a_map(c):
    reply = c.call("HELLO", "3")
    assert c.last_raw.startswith(b"%7\r\n")
    assert isinstance(reply, RespMap)
    assert set(reply) == {b"server", b"version", b"proto", b"id", b"mode", b"role", b"modules"}
    assert reply[b"proto"] == 3
    assert reply[b"id"] == c.call("CLIENT", "ID")
    assert reply[b"modules"] == []


def test_hello_2_switches_back_to_resp2(c3):
    reply = c3.call("HELLO", "2")
    assert isinstance(reply, list) and not isinstance(reply, dict)
    assert c3.call("GET", "r3:missing") is None
    assert c3.last_raw == b"$-1\r\n"


@pytest.mark.parametrize("cmd", [
    ("GET", "r3:missing"), ("GETDEL", "r3:missing"), ("GETEX", "r3:missing"),
    ("GETSET", "r3:new", "v"), ("SET", "r3:new2", "v", "GET"), ("RANDOMKEY",),
    ("CLIENT", "GETNAME"),
], ids=lambda v: " ".join(v))
def test_null_replies_are_resp3_null(c3, cmd):
    assert c3.call(*cmd) is None
    assert c3.last_raw == b"_\r\n"


def test_set_nx_not_set_is_null(c3):
    c3.call("SET", "r3:k", "v")
    assert c3.call("SET", "r3:k", "w", "NX") is None
    assert c3.last_raw == b"_\r\n"
    assert c3.call("SET", "r3:x", "w", "XX") is None
    assert c3.last_raw == b"_\r\n"


def test_mget_nulls_inside_array(c3):
    c3.call("SET", "r3:a", "1")
    assert c3.call("MGET", "r3:a", "r3:missing") == [b"1", None]
    assert c3.last_raw == b"*2\r\n$1\r\n1\r\n_\r\n"


def test_aborted_exec_is_null(c3, server, connect):
    c3.call("WATCH", "r3:w")
    connect(server).call("SET", "r3:w", "x")
    c3.call("MULTI")
    c3.call("GET", "r3:w")
    assert c3.call("EXEC") is None
    assert c3.last_raw == b"_\r\n"


def test_exec_replies_keep_resp3_types(c3):
    c3.call("MULTI")
    c3.call("GET", "r3:missing")
    c3.call("INCR", "r3:n")
    assert c3.call("EXEC") == [None, 1]
    assert c3.last_raw == b"*2\r\n_\r\n:1\r\n"


def test_incrbyfloat_is_bulk_in_resp3_too(c3):
    assert c3.call("INCRBYFLOAT", "r3:f", "1.5") == b"1.5"
    assert c3.last_raw == b"$3\r\n1.5\r\n"


def test_scalars_are_unchanged(c3):
    assert c3.call("PING") == "PONG"
    assert c3.last_raw == b"+PONG\r\n"
    assert c3.call("SET", "r3:k", "v") == "OK"
    assert c3.last_raw == b"+OK\r\n"
    assert c3.call("EXISTS", "r3:k") == 1
    assert c3.last_raw == b":1\r\n"
    assert c3.call("TTL", "r3:k") == -1
    assert c3.last_raw == b":-1\r\n"
    assert c3.call("GET", "r3:k") == b"v"
    assert c3.last_raw == b"$1\r\nv\r\n"
    assert c3.call("TYPE", "r3:k") == "string"
    assert c3.last_raw == b"+string\r\n"
    assert_error(c3.call("INCR", "r3:k"), NOT_INTEGER)
    assert c3.last_raw == b"-ERR value is not an integer or out of range\r\n"


def test_keys_and_scan_are_arrays(c3):
    c3.call("SET", "r3:k", "v")
    assert c3.call("KEYS", "*") == [b"r3:k"]
    assert c3.last_raw == b"*1\r\n$4\r\nr3:k\r\n"
    assert c3.call("SCAN", "0") == [b"0", [b"r3:k"]]
    assert c3.last_raw == b"*2\r\n$1\r\n0\r\n*1\r\n$4\r\nr3:k\r\n"


def test_config_get_is_a_map(c3):
    reply = c3.call("CONFIG", "GET", "maxclients")
    assert isinstance(reply, RespMap)
    assert list(reply) == [b"maxclients"]
    assert c3.last_raw.startswith(b"%1\r\n$10\r\nmaxclients\r\n")


def test_info_and_client_list_are_verbatim_text(c3):
    info = c3.call("INFO", "server")
    assert isinstance(info, Verbatim) and info.format == "txt"
    assert info.startswith("# Server\r\n")
    assert c3.last_raw.startswith(b"=")
    clients = c3.call("CLIENT", "LIST")
    assert isinstance(clients, Verbatim) and clients.format == "txt"
    assert "id=%d " % c3.call("CLIENT", "ID") in clients


def test_command_docs_is_a_map(c3):
    reply = c3.call("COMMAND", "DOCS", "get")
    assert isinstance(reply, RespMap) and list(reply) == [b"get"]
    assert isinstance(reply[b"get"], RespMap)
    assert b"summary" in reply[b"get"]


def test_command_info_unknown_is_null_in_array(c3):
    assert c3.call("COMMAND", "INFO", "nosuchcommand") == [None]
    assert c3.last_raw == b"*1\r\n_\r\n"


def test_time_is_array_of_bulk_strings(c3):
    secs, usecs = c3.call("TIME")
    assert isinstance(secs, bytes) and isinstance(usecs, bytes)


def test_reset_returns_to_resp2(c3):
    assert c3.call("RESET") == "RESET"
    assert c3.call("GET", "r3:missing") is None
    assert c3.last_raw == b"$-1\r\n"


@pytest.mark.ringkv_only
def test_getttl_missing_key_is_resp3_null(c3):
    assert c3.call("GETTTL", "r3:missing") is None
    assert c3.last_raw == b"_\r\n"


@pytest.mark.ringkv_only
def test_getttl_is_array_in_resp3(c3):
    c3.call("SET", "r3:t", "v")
    assert c3.call("GETTTL", "r3:t") == [b"v", -1]
    assert c3.last_raw == b"*2\r\n$1\r\nv\r\n:-1\r\n"


@pytest.mark.ringkv_only
def test_cas_is_integer_in_resp3(c3):
    c3.call("SET", "r3:c", "a")
    assert c3.call("CAS", "r3:c", "a", "b") == 1
    assert c3.last_raw == b":1\r\n"
