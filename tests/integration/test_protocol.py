"""The wire: binary safety, pipelining, inline commands, commands split across
many writes, unknown commands, and malformed input (protocol errors close
the connection)."""

import time

import pytest

from resp_client import RespError, encode_command
from util import assert_error, scaled


def assert_protocol_error_and_close(conn, message):
    """The connection gets exactly "-ERR Protocol error: <message>" and is
    then closed by the server."""
    rest = conn.read_all_until_close(scaled(10))
    assert rest == b"-ERR Protocol error: " + message.encode() + b"\r\n"


# ---- binary safety -----------------------------------------------------------

def test_all_byte_values_in_keys_and_values(c):
    blob = bytes(range(256))
    assert c.call("SET", blob, blob) == "OK"
    assert c.call("GET", blob) == blob
    assert c.call("STRLEN", blob) == 256
    assert c.call("KEYS", "*") == [blob]
    assert c.call("SCAN", "0")[1] == [blob]
    assert c.call("EXISTS", blob) == 1


@pytest.mark.parametrize("key", [b"a\r\nb", b"\x00", b"a\x00b", b"\r\n", b" ", b"*1\r\n$4\r\nPING",
                                 b"\xff\xfe", b""])
def test_binary_keys_are_distinct_and_exact(c, key):
    value = b"v\x00\r\n" + key
    assert c.call("SET", key, value) == "OK"
    assert c.call("GET", key) == value
    assert c.call("GET", key + b"x") is None
    assert c.call("MGET", key, key) == [value, value]
    assert c.call("DEL", key) == 1


def test_binary_values_survive_append_getrange_setrange(c):
    c.call("SET", "p:bin", b"\x00\r\n")
    assert c.call("APPEND", "p:bin", b"\xff\x00") == 5
    assert c.call("GET", "p:bin") == b"\x00\r\n\xff\x00"
    assert c.call("GETRANGE", "p:bin", "1", "3") == b"\r\n\xff"
    c.call("SETRANGE", "p:bin", "1", b"\x00\x00")
    assert c.call("GET", "p:bin") == b"\x00\x00\x00\xff\x00"


def test_binary_roundtrip_with_redis_py(r):
    blob = bytes(range(256)) * 4
    r.set(blob[:100], blob)
    assert r.get(blob[:100]) == blob
    assert r.keys(b"*") == [blob[:100]]


def test_large_value_roundtrip(c):
    value = bytes(range(256)) * 4096 * 4  # 4 MiB
    assert c.call("SET", "p:large", value) == "OK"
    assert c.call("GET", "p:large") == value
    assert c.call("STRLEN", "p:large") == len(value)


# ---- pipelining --------------------------------------------------------------

def test_ten_thousand_pipelined_commands_reply_in_order(c):
    cmds = []
    for i in range(5000):
        cmds.append(("SET", "p:%d" % i, "v%d" % i))
        cmds.append(("GET", "p:%d" % i))
    replies = c.pipeline(cmds)
    assert len(replies) == 10000
    for i in range(5000):
        assert replies[2 * i] == "OK"
        assert replies[2 * i + 1] == b"v%d" % i
    assert c.call("DBSIZE") == 5000


def test_pipelined_large_replies_all_arrive_in_order(c):
    value = bytes(range(256)) * 1024  # 256 KiB: 100 replies are 25 MiB
    c.call("SET", "p:big", value)
    c.send_many([("GET", "p:big"), ("STRLEN", "p:big")] * 50 + [("PING",)])
    for _ in range(50):
        assert c.read_reply() == value
        assert c.read_reply() == len(value)
    assert c.read_reply() == "PONG"


def test_pipelined_incr_keeps_order(c):
    replies = c.pipeline([("INCR", "p:ctr")] * 10000)
    assert replies == list(range(1, 10001))


def test_pipeline_mixing_errors_and_replies(c):
    replies = c.pipeline([("SET", "p:a", "x"), ("INCR", "p:a"), ("GET",), ("GET", "p:a"),
                          ("NOSUCH",), ("PING",)])
    assert replies[0] == "OK"
    assert isinstance(replies[1], RespError)
    assert isinstance(replies[2], RespError)
    assert replies[3] == b"x"
    assert isinstance(replies[4], RespError)
    assert replies[5] == "PONG"


# ---- inline commands -------------------------------------------------------------

def test_inline_ping(c):
    c.send_raw(b"PING\r\n")
    assert c.read_reply() == "PONG"
    c.send_raw(b"PING\n")
    assert c.read_reply() == "PONG"


def test_inline_set_with_double_quotes(c):
    c.send_raw(b'SET p:a "b c"\r\n')
    assert c.read_reply() == "OK"
    assert c.call("GET", "p:a") == b"b c"


def test_inline_quoting_and_escapes(c):
    c.send_raw(b"SET p:q 'it is'\r\nSET p:e \"\\x41\\n\\t\\\\\"\r\nSET   p:s    x  \r\n")
    assert c.read_replies(3) == ["OK", "OK", "OK"]
    assert c.call("MGET", "p:q", "p:e", "p:s") == [b"it is", b"A\n\t\\", b"x"]


def test_inline_empty_lines_are_ignored(c):
    c.send_raw(b"\r\n\r\n\nPING\r\n")
    assert c.read_reply() == "PONG"
    assert c.call("PING") == "PONG"


def test_inline_and_multibulk_mixed_in_one_write(c):
    c.send_raw(b"SET p:m 1\r\n" + encode_command("INCR", "p:m") + b"GET p:m\r\n")
    assert c.read_replies(3) == ["OK", 2, b"2"]


@pytest.mark.parametrize("line", [b'SET a "b c\r\n', b"SET a 'b\r\n", b'SET a "b"c\r\n'])
def test_inline_unbalanced_quotes_is_protocol_error(server, connect, line):
    conn = connect(server)
    conn.send_raw(line)
    assert_protocol_error_and_close(conn, "unbalanced quotes in request")


# ---- split writes -----------------------------------------------------------------

def test_command_split_byte_by_byte(c):
    data = encode_command("SET", "p:split", "hello\r\nworld") + encode_command("GET", "p:split")
    for i in range(len(data)):
        c.send_raw(data[i:i + 1])
        if i % 8 == 0:
            time.sleep(0.001)
    assert c.read_replies(2) == ["OK", b"hello\r\nworld"]


def test_inline_command_split_byte_by_byte(c):
    for b in b"ECHO split\r\n":
        c.send_raw(bytes([b]))
        time.sleep(0.001)
    assert c.read_reply() == b"split"


def test_large_bulk_arriving_in_chunks(c):
    value = b"x" * 300000
    data = encode_command("SET", "p:chunks", value)
    for i in range(0, len(data), 7001):
        c.send_raw(data[i:i + 7001])
    assert c.read_reply() == "OK"
    assert c.call("STRLEN", "p:chunks") == 300000


def test_empty_multibulk_is_ignored(c):
    c.send_raw(b"*0\r\n*-1\r\n" + encode_command("PING"))
    assert c.read_reply() == "PONG"
    assert c.call("PING") == "PONG"


# ---- unknown commands ----------------------------------------------------------------

def test_unknown_command_error_lists_arguments(c):
    assert_error(c.call("foo", "bar", "baz"),
                 "ERR unknown command 'foo', with args beginning with: 'bar' 'baz' ")
    assert_error(c.call("FOO"), "ERR unknown command 'FOO', with args beginning with: ")
    assert c.call("PING") == "PONG"


def test_unknown_command_error_truncates_long_arguments(c):
    assert_error(c.call("foo", "a" * 300, "b"),
                 "ERR unknown command 'foo', with args beginning with: '%s' " % ("a" * 128))


def test_unknown_inline_command(c):
    c.send_raw(b"foo bar baz\r\n")
    assert_error(c.read_reply(), "ERR unknown command 'foo', with args beginning with: 'bar' 'baz' ")


# ---- malformed input -------------------------------------------------------------------

@pytest.mark.parametrize("data,message", [
    (b"*1\r\n$x\r\n", "invalid bulk length"),
    (b"*1\r\n$-1\r\n", "invalid bulk length"),
    (b"*1\r\n$536870913\r\n", "invalid bulk length"),
    (b"*x\r\n", "invalid multibulk length"),
    (b"*3000000000\r\n", "invalid multibulk length"),
    (b"*1\r\nfoo\r\n", "expected '$', got 'f'"),
    (b"*1\r\n*1\r\n", "expected '$', got '*'"),
    (b"*1\r\n:1\r\n", "expected '$', got ':'"),
], ids=lambda v: repr(v) if isinstance(v, bytes) else None)
def test_malformed_multibulk_is_protocol_error_then_close(server, connect, data, message):
    conn = connect(server)
    conn.send_raw(data)
    assert_protocol_error_and_close(conn, message)
    assert server.ping_ok()


def test_replies_before_a_protocol_error_are_sent(server, connect):
    conn = connect(server)
    conn.send_raw(encode_command("PING") + encode_command("ECHO", "x") + b"*1\r\n$x\r\n")
    assert conn.read_reply() == "PONG"
    assert conn.read_reply() == b"x"
    assert_protocol_error_and_close(conn, "invalid bulk length")


def test_overlong_inline_request_is_protocol_error(server, connect):
    conn = connect(server)
    conn.send_raw(b"x" * 70000)
    assert_protocol_error_and_close(conn, "too big inline request")


def test_overlong_multibulk_header_is_protocol_error(server, connect):
    conn = connect(server)
    conn.send_raw(b"*" + b"1" * 70000)
    assert_protocol_error_and_close(conn, "too big mbulk count string")


def test_overlong_bulk_header_is_protocol_error(server, connect):
    conn = connect(server)
    conn.send_raw(b"*1\r\n$" + b"1" * 70000)
    assert_protocol_error_and_close(conn, "too big bulk count string")


def test_client_disconnect_mid_command_leaves_server_healthy(server, connect):
    conn = connect(server)
    conn.send_raw(b"*3\r\n$3\r\nSET\r\n$5\r\np:cut\r\n$100\r\nabc")
    conn.close()
    check = connect(server)
    assert check.call("PING") == "PONG"
    assert check.call("EXISTS", "p:cut") == 0
