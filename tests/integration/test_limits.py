"""Limits on client input and resources: each exactly at the limit works and
one past it fails, and the server answers PING afterwards.

Most limits are ringkv options (Redis lacks them or will not go this low);
maxclients behaves the same in both servers."""

import socket
import time

import pytest

from resp_client import encode_command
from servers import module_server
from util import assert_error, assert_error_prefix, info_fields, scaled, wait_until

ringkv_only = pytest.mark.ringkv_only

KEY_MAX = 1024
BULK_MAX = 4096
ARGS_MAX = 100
INLINE_MAX = 1024
QUERY_MAX = 65536

limited = module_server(key_max_bytes=KEY_MAX, proto_max_bulk_len=BULK_MAX,
                        max_args_per_command=ARGS_MAX, inline_max_bytes=INLINE_MAX,
                        client_query_buffer_limit=QUERY_MAX)


def send_ignoring_reset(conn, data):
    """Send data to a server that may close the connection meanwhile."""
    try:
        conn.send_raw(data)
    except (BrokenPipeError, ConnectionResetError):
        pass


def assert_protocol_error_and_close(conn, message):
    rest = conn.read_all_until_close(scaled(10))
    assert rest == b"-ERR Protocol error: " + message.encode() + b"\r\n"


# ---- key size ----------------------------------------------------------------------

@ringkv_only
def test_key_at_key_max_bytes_works(limited, connect):
    c = connect(limited)
    key = b"k" * KEY_MAX
    assert c.call("SET", key, "v") == "OK"
    assert c.call("GET", key) == b"v"
    assert c.call("DEL", key) == 1


@ringkv_only
@pytest.mark.parametrize("cmd", ["SET", "MSET"])
def test_key_past_key_max_bytes_is_error(limited, connect, cmd):
    c = connect(limited)
    key = b"k" * (KEY_MAX + 1)
    reply = c.call(cmd, key, "v")
    assert_error_prefix(reply, "ERR")
    assert "key-max-bytes" in reply.message, reply
    c2 = connect(limited)
    assert c2.call("EXISTS", key) == 0
    assert limited.ping_ok()


@ringkv_only
def test_key_made_before_key_max_bytes_was_lowered_can_still_be_deleted(start_server, connect):
    srv = start_server()
    c = connect(srv)
    key = b"k" * 2000
    assert c.call("SET", key, "v") == "OK"
    assert c.call("CONFIG", "SET", "key-max-bytes", "1000") == "OK"
    # Writes that would create or overwrite it are refused ...
    assert_error_prefix(c.call("SET", key, "w"), "ERR")
    assert_error_prefix(c.call("APPEND", key, "w"), "ERR")
    # ... reads, expiry changes and deletes still work on it.
    assert c.call("GET", key) == b"v"
    assert c.call("EXPIRE", key, "100") == 1
    assert c.call("PERSIST", key) == 1
    assert c.call("DEL", key) == 1
    assert c.call("EXISTS", key) == 0


# ---- bulk length -------------------------------------------------------------------

@ringkv_only
def test_bulk_at_proto_max_bulk_len_works(limited, connect):
    c = connect(limited)
    value = b"v" * BULK_MAX
    assert c.call("SET", "l:bulk", value) == "OK"
    assert c.call("GET", "l:bulk") == value
    c.call("DEL", "l:bulk")


@ringkv_only
def test_bulk_past_proto_max_bulk_len_is_protocol_error_and_close(limited, connect):
    c = connect(limited)
    send_ignoring_reset(c, encode_command("SET", "l:bulk2", b"v" * (BULK_MAX + 1)))
    assert_protocol_error_and_close(c, "invalid bulk length")
    assert connect(limited).call("EXISTS", "l:bulk2") == 0
    assert limited.ping_ok()


@ringkv_only
def test_bulk_length_is_checked_from_the_header_alone(limited, connect):
    c = connect(limited)
    c.send_raw(b"*2\r\n$4\r\nECHO\r\n$%d\r\n" % (BULK_MAX + 1))  # no data follows
    assert_protocol_error_and_close(c, "invalid bulk length")
    assert limited.ping_ok()


# ---- arguments per command -------------------------------------------------------------

@ringkv_only
def test_args_at_max_args_per_command_work(limited, connect):
    c = connect(limited)
    keys = ["l:a%d" % i for i in range(ARGS_MAX - 1)]
    assert c.call("MGET", *keys) == [None] * (ARGS_MAX - 1)


@ringkv_only
def test_args_past_max_args_per_command_is_protocol_error_and_close(limited, connect):
    c = connect(limited)
    send_ignoring_reset(c, encode_command("MGET", *["l:a%d" % i for i in range(ARGS_MAX)]))
    assert_protocol_error_and_close(c, "invalid multibulk length")
    assert limited.ping_ok()


@ringkv_only
def test_arg_count_is_checked_from_the_header_alone(limited, connect):
    c = connect(limited)
    c.send_raw(b"*%d\r\n" % (ARGS_MAX + 1))
    assert_protocol_error_and_close(c, "invalid multibulk length")
    assert limited.ping_ok()


# ---- inline line length --------------------------------------------------------------

# The line's length is that of the command text, without its terminator:
# "\r\n" and "\n" end the same line, so they must not change the outcome.
TERMINATORS = pytest.mark.parametrize("end", [b"\r\n", b"\n"], ids=["CRLF", "LF"])


@ringkv_only
@TERMINATORS
def test_inline_line_at_inline_max_bytes_works(limited, connect, end):
    c = connect(limited)
    line = b"ECHO " + b"a" * (INLINE_MAX - 5)
    assert len(line) == INLINE_MAX
    c.send_raw(line + end)
    assert c.read_reply() == b"a" * (INLINE_MAX - 5)


@ringkv_only
@TERMINATORS
def test_inline_line_past_inline_max_bytes_is_protocol_error_and_close(limited, connect, end):
    c = connect(limited)
    send_ignoring_reset(c, b"ECHO " + b"a" * (INLINE_MAX - 4) + end)
    assert_protocol_error_and_close(c, "too big inline request")
    assert limited.ping_ok()


@ringkv_only
def test_unterminated_inline_line_past_limit_is_protocol_error_and_close(limited, connect):
    c = connect(limited)
    send_ignoring_reset(c, b"a" * (INLINE_MAX * 2))  # never a newline
    assert_protocol_error_and_close(c, "too big inline request")
    assert limited.ping_ok()


# ---- query buffer ----------------------------------------------------------------------

def mset_of_size(approx_bytes):
    pairs = approx_bytes // (BULK_MAX - 96 + 30)
    value = b"q" * (BULK_MAX - 96)
    return encode_command("MSET", *[x for i in range(pairs) for x in (b"l:q%d" % i, value)])


@ringkv_only
def test_command_below_client_query_buffer_limit_works(limited, connect):
    c = connect(limited)
    data = mset_of_size(QUERY_MAX - 8192)
    assert QUERY_MAX - 16384 < len(data) < QUERY_MAX
    c.send_raw(data)
    assert c.read_reply() == "OK"
    assert c.call("STRLEN", "l:q0") == BULK_MAX - 96
    c.call("FLUSHALL")


@ringkv_only
def test_command_past_client_query_buffer_limit_closes_connection(limited, connect):
    c = connect(limited)
    data = mset_of_size(QUERY_MAX + 32768)
    assert len(data) > QUERY_MAX + 16384
    send_ignoring_reset(c, data)
    c.read_all_until_close(scaled(10))  # an error reply first is allowed
    assert connect(limited).call("EXISTS", "l:q0") == 0
    assert limited.ping_ok()


# ---- maxclients (both servers) --------------------------------------------------------

def test_client_past_maxclients_is_refused(start_server, connect):
    srv = start_server(maxclients=20)
    first = connect(srv)

    def connected():
        return int(info_fields(first.call("INFO", "clients"))["clients"]["connected_clients"])
    wait_until(lambda: connected() == 1, 5, message="only the test's client connected")
    conns = [first] + [connect(srv) for _ in range(19)]
    for conn in conns:
        assert conn.call("PING") == "PONG"
    extra = connect(srv)
    extra.send("PING")
    assert_error(extra.read_reply(), "ERR max number of clients reached")
    assert extra.is_closed_by_peer(scaled(5))
    assert all(conn.call("PING") == "PONG" for conn in conns)
    conns.pop().close()

    def can_connect():
        conn = connect(srv)
        return conn.call("PING") == "PONG"
    wait_until(can_connect, 5, interval=0.05, message="a slot freed by a closed client")


# ---- a client that never reads ---------------------------------------------------------

@ringkv_only
def test_client_not_reading_is_disconnected_while_others_are_served(start_server, connect):
    stall_ms = 500
    srv = start_server(client_output_stall_ms=stall_ms)
    c = connect(srv)
    c.call("SET", "big", b"x" * 100 * 1024)
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.settimeout(scaled(10))
    try:
        sock.connect((srv.host, srv.port))
        sock.sendall(encode_command("CLIENT", "SETNAME", "staller"))
        assert sock.recv(5) == b"+OK\r\n"
        sock.sendall(encode_command("GET", "big") * 2000)  # 200 MB of replies
        start = time.monotonic()
        worst = 0.0
        while True:
            t0 = time.monotonic()
            assert c.call("PING") == "PONG"
            worst = max(worst, time.monotonic() - t0)
            if b"name=staller " not in c.call("CLIENT", "LIST"):
                break
            assert time.monotonic() - start < scaled(10), "the stalled client was never dropped"
            time.sleep(0.02)
        elapsed = time.monotonic() - start
        assert elapsed >= stall_ms / 1000 * 0.8, "dropped before the stall timeout"
        assert worst < scaled(0.3), "PING took %.3fs while a client stalled" % worst
        sock.settimeout(scaled(10))
        while True:  # drain what was sent before the server closed
            try:
                if not sock.recv(1 << 20):
                    break
            except ConnectionResetError:
                break
    finally:
        sock.close()
    assert srv.ping_ok()
    assert c.call("STRLEN", "big") == 100 * 1024


def test_a_client_is_served_after_each_reply_larger_than_the_backpressure_limit(r):
    """A reply over 1 MiB holds the client's input back until it drains;
    however it drains, the next command must be served (a reply that
    drained in the end-of-turn write used to leave the client unread)."""
    big = b"x" * (32 * 1024 * 1024)
    r.connection_pool.connection_kwargs["socket_timeout"] = 10
    assert r.set("bp:big", big)
    for _ in range(20):
        assert r.get("bp:big") == big
        time.sleep(0.05)
        assert r.strlen("bp:big") == len(big)
