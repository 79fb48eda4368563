"""Self-test of resp_client's parser on canned bytes (no server needed): every
RESP3 type, including those no command of the suite makes Redis send."""

import math
import socket

import pytest

from resp_client import (BigNumber, ConnectionClosed, Push, RespConnection, RespError,
                         RespMap, RespSet, Status, Verbatim, encode_command)


@pytest.fixture
def feed():
    """feed(bytes) -> a RespConnection whose peer has sent those bytes."""
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.bind(("127.0.0.1", 0))
    listener.listen(1)
    opened = []

    def make(data, close=False):
        conn = RespConnection("127.0.0.1", listener.getsockname()[1], timeout=5)
        peer, _ = listener.accept()
        peer.sendall(data)
        if close:
            peer.close()
        opened.extend([conn, peer])
        return conn

    yield make
    for o in opened:
        o.close()
    listener.close()


@pytest.mark.parametrize("data,expected,kind", [
    (b"+OK\r\n", "OK", Status),
    (b":-42\r\n", -42, int),
    (b"$3\r\na\r\n\r\n", b"a\r\n", bytes),
    (b"$0\r\n\r\n", b"", bytes),
    (b"$-1\r\n", None, type(None)),
    (b"*-1\r\n", None, type(None)),
    (b"_\r\n", None, type(None)),
    (b"*2\r\n:1\r\n$1\r\nx\r\n", [1, b"x"], list),
    (b",3.25\r\n", 3.25, float),
    (b",inf\r\n", math.inf, float),
    (b",-inf\r\n", -math.inf, float),
    (b"#t\r\n", True, bool),
    (b"#f\r\n", False, bool),
    (b"(12345678901234567890\r\n", 12345678901234567890, BigNumber),
    (b"%2\r\n+a\r\n:1\r\n$1\r\nb\r\n_\r\n", {"a": 1, b"b": None}, RespMap),
    (b"~2\r\n:1\r\n:2\r\n", [1, 2], RespSet),
    (b">2\r\n+message\r\n$1\r\nx\r\n", ["message", b"x"], Push),
    (b"$?\r\n;2\r\nab\r\n;1\r\nc\r\n;0\r\n", b"abc", bytes),
    (b"*?\r\n:1\r\n:2\r\n.\r\n", [1, 2], list),
    (b"%?\r\n+k\r\n:1\r\n.\r\n", {"k": 1}, RespMap),
], ids=lambda v: repr(v) if isinstance(v, bytes) else None)
def test_parses_every_type(feed, data, expected, kind):
    conn = feed(data)
    value = conn.read_reply()
    assert type(value) is kind
    assert value == expected
    assert conn.last_raw == data


def test_nan_double(feed):
    assert math.isnan(feed(b",nan\r\n").read_reply())


def test_errors_are_values(feed):
    conn = feed(b"-ERR bad thing\r\n!8\r\nSYNTAX x\r\n")
    e = conn.read_reply()
    assert isinstance(e, RespError) and e.message == "ERR bad thing" and e.code == "ERR"
    b = conn.read_reply()
    assert isinstance(b, RespError) and b.blob and b.message == "SYNTAX x"


def test_verbatim_string(feed):
    v = feed(b"=9\r\ntxt:hello\r\n").read_reply()
    assert isinstance(v, Verbatim) and v == "hello" and v.format == "txt"


def test_attribute_is_kept_and_value_returned(feed):
    conn = feed(b"|1\r\n+ttl\r\n:5\r\n$1\r\nv\r\n")
    assert conn.read_reply() == b"v"
    assert conn.last_attributes == {"ttl": 5}


def test_reply_split_across_reads_and_close(feed):
    conn = feed(b"*2\r\n$5\r\nhel", close=True)
    with pytest.raises(ConnectionClosed):
        conn.read_reply()


def test_encode_command():
    assert encode_command("SET", b"k\r\n", 10) == b"*3\r\n$3\r\nSET\r\n$3\r\nk\r\n\r\n$2\r\n10\r\n"
    with pytest.raises(TypeError):
        encode_command("SET", None)
