"""Parked (asynchronous) replies, exercised through DEBUG PARK: a parked
client waits without blocking its event loop, its pipelined commands wait
behind it, and closing, killing, timing out and shutting down around a
parked client are safe. Also the DEBUG command itself and its
enable-debug-command switch (Redis 7's)."""

import random
import socket
import struct
import time

import pytest

from resp_client import RespError, encode_command
from servers import module_server
from util import assert_error, assert_error_prefix, info_fields, scaled, wait_until

ringkv_only = pytest.mark.ringkv_only

server = module_server(enable_debug_command="yes")

NOT_ALLOWED = ('ERR DEBUG command not allowed. If the enable-debug-command option is set to '
               '"local", you can run it from a local connection, otherwise you need to set this '
               'option in the configuration file, and then restart the server.')

PARK_MS_MAX = 60000
PARK_PENDING_MAX = 1024


def parked_clients(conn):
    return int(info_fields(conn.call("INFO", "clients"))["clients"]["parked_clients"])


# ---- DEBUG and its switch ---------------------------------------------------

def test_debug_is_refused_by_default(start_server, connect):
    srv = start_server()
    c = connect(srv)
    assert_error(c.call("DEBUG", "HELP"), NOT_ALLOWED)
    assert_error(c.call("DEBUG", "SLEEP", "0"), NOT_ALLOWED)
    assert c.call("PING") == "PONG"


def test_debug_local_allows_a_loopback_client(start_server, connect):
    srv = start_server(enable_debug_command="local")
    c = connect(srv)
    assert c.call("DEBUG", "SLEEP", "0") == "OK"


@ringkv_only
def test_enable_debug_command_is_fixed_at_startup(c):
    assert c.call("CONFIG", "GET", "enable-debug-command") == [b"enable-debug-command", b"yes"]
    assert isinstance(c.call("CONFIG", "SET", "enable-debug-command", "no"), RespError)


def test_debug_sleep_blocks_for_the_time_given(c):
    start = time.monotonic()
    assert c.call("DEBUG", "SLEEP", "0.3") == "OK"
    assert time.monotonic() - start >= 0.29


@ringkv_only
def test_debug_arguments_are_checked(c):
    assert_error(c.call("DEBUG", "SLEEP", "60.001"), "ERR DEBUG SLEEP takes 0 to 60 seconds")
    assert_error(c.call("DEBUG", "SLEEP", "-1"), "ERR DEBUG SLEEP takes 0 to 60 seconds")
    assert_error(c.call("DEBUG", "SLEEP", "soon"), "ERR value is not a valid float")
    too_long = "ERR DEBUG PARK takes 0 to 60000 milliseconds"
    assert_error(c.call("DEBUG", "PARK", str(PARK_MS_MAX + 1), "x"), too_long)
    assert_error(c.call("DEBUG", "PARK", "-1", "x"), too_long)
    assert_error(c.call("DEBUG", "PARK", "soon", "x"),
                 "ERR value is not an integer or out of range")
    assert_error(c.call("DEBUG", "PARK", "1"),
                 "ERR wrong number of arguments for 'debug|park' command")
    assert_error(c.call("DEBUG", "NOPE"), "ERR unknown subcommand 'NOPE'. Try DEBUG HELP.")
    assert_error(c.call("DEBUG"), "ERR wrong number of arguments for 'debug' command")
    help_lines = c.call("DEBUG", "HELP")
    assert any(line.startswith("PARK") for line in help_lines)
    assert c.call("PING") == "PONG"


@ringkv_only
def test_debug_park_at_its_longest_delay_parks(c, server, connect):
    parked = connect(server)
    pid = parked.call("CLIENT", "ID")
    parked.send("DEBUG", "PARK", str(PARK_MS_MAX), "late")
    wait_until(lambda: parked_clients(c) >= 1, 5, message="the client parked")
    assert c.call("CLIENT", "KILL", "ID", str(pid)) == 1
    assert parked.is_closed_by_peer(scaled(5))
    wait_until(lambda: parked_clients(c) == 0, 5, message="parked_clients back to 0")


# ---- Parked replies ---------------------------------------------------------

@ringkv_only
def test_parked_reply_arrives_after_the_delay_while_others_are_served(c, server, connect):
    parked = connect(server)
    start = time.monotonic()
    parked.send("DEBUG", "PARK", "1000", "later")
    # Several connections, so that some share the parked client's loop
    # (the server runs two): each is answered at once.
    others = [connect(server) for _ in range(8)]
    for o in others:
        t0 = time.monotonic()
        assert o.call("PING") == "PONG"
        assert time.monotonic() - t0 < scaled(0.3)
    assert time.monotonic() - start < scaled(0.9)
    assert parked.read_reply() == b"later"
    assert time.monotonic() - start >= 0.95


@ringkv_only
def test_pipelined_commands_after_a_parked_one_come_back_in_order(c, server, connect):
    conn = connect(server)
    replies = conn.pipeline([
        ("SET", "k", "1"),
        ("DEBUG", "PARK", "200", "first"),
        ("INCR", "k"),
        ("DEBUG", "PARK", "0", "second"),
        ("GET", "k"),
        ("DEBUG", "PARK", "50", "third"),
        ("PING",),
    ])
    assert replies == ["OK", b"first", 2, b"second", b"2", b"third", "PONG"]


@ringkv_only
def test_commands_behind_a_parked_one_do_not_run_before_it_completes(c, server, connect):
    conn = connect(server)
    conn.send_many([("DEBUG", "PARK", "500", "done"), ("SET", "behind", "1")])
    time.sleep(0.2)
    assert c.call("EXISTS", "behind") == 0
    assert conn.read_replies(2) == [b"done", "OK"]
    assert c.call("EXISTS", "behind") == 1


@ringkv_only
def test_many_parked_clients_all_complete(c, server, connect):
    conns = [connect(server) for _ in range(200)]
    for i, conn in enumerate(conns):
        conn.send("DEBUG", "PARK", str(200 + i % 50), "v%d" % i)
    assert c.call("PING") == "PONG"
    for i, conn in enumerate(conns):
        assert conn.read_reply() == b"v%d" % i
    wait_until(lambda: parked_clients(c) == 0, 5, message="parked_clients back to 0")


@ringkv_only
def test_info_counts_parked_clients(c, server, connect):
    assert parked_clients(c) == 0
    conns = [connect(server) for _ in range(5)]
    for conn in conns:
        conn.send("DEBUG", "PARK", "1500", "x")
    wait_until(lambda: parked_clients(c) == 5, 5, message="5 parked clients")
    assert c.call("CLIENT", "LIST").count(b"\n") >= 6
    for conn in conns:
        assert conn.read_reply() == b"x"
    wait_until(lambda: parked_clients(c) == 0, 5, message="parked_clients back to 0")


@ringkv_only
def test_resp3_client_gets_its_value(c, server, connect):
    conn = connect(server)
    assert conn.hello(3)[b"proto"] == 3
    assert conn.call("DEBUG", "PARK", "10", "three") == b"three"
    assert conn.call("DEBUG", "PARK", "10", "") == b""


@ringkv_only
def test_debug_park_inside_multi_replies_an_error(c, server, connect):
    conn = connect(server)
    assert conn.call("MULTI") == "OK"
    assert conn.call("DEBUG", "PARK", "10", "x") == "QUEUED"
    assert conn.call("SET", "after", "1") == "QUEUED"
    replies = conn.call("EXEC")
    assert_error_prefix(replies[0], "ERR DEBUG PARK cannot park")
    assert replies[1] == "OK"
    assert conn.call("DEBUG", "PARK", "10", "ok") == b"ok"


@ringkv_only
def test_debug_park_pending_limit(c, server, connect):
    conns = [connect(server) for _ in range(PARK_PENDING_MAX + 1)]
    for conn in conns[:PARK_PENDING_MAX]:
        conn.send("DEBUG", "PARK", "3000", "held")
    wait_until(lambda: parked_clients(c) == PARK_PENDING_MAX, 10,
               message="%d parked clients" % PARK_PENDING_MAX)
    assert_error(conns[-1].call("DEBUG", "PARK", "0", "one too many"),
                 "ERR too many DEBUG PARK commands waiting (1024)")
    for conn in conns[:PARK_PENDING_MAX]:
        assert conn.read_reply() == b"held"
    assert conns[-1].call("DEBUG", "PARK", "0", "room again") == b"room again"


@ringkv_only
def test_parked_client_keeps_reading_up_to_the_query_limit(start_server, connect):
    # The smallest query buffer limit: the pipeline behind the parked
    # command is larger, so reading stops until the reply arrives; then the
    # whole pipeline runs, in order, and the client is not disconnected.
    srv = start_server(enable_debug_command="yes", client_query_buffer_limit=16384)
    conn = connect(srv)
    pings = 10000
    conn.send_raw(encode_command("DEBUG", "PARK", "500", "first") + b"PING\r\n" * pings)
    replies = conn.read_replies(1 + pings, timeout=scaled(10))
    assert replies[0] == b"first"
    assert replies[1:] == ["PONG"] * pings
    assert conn.call("ECHO", "alive") == b"alive"


# ---- Closing around a parked client ------------------------------------------

@ringkv_only
def test_disconnecting_while_parked_is_harmless(c, server, connect):
    rng = random.Random(7)
    for _ in range(5):
        conns = [connect(server) for _ in range(40)]
        for conn in conns:
            conn.send("DEBUG", "PARK", str(rng.randrange(0, 60)), "gone")
        # Close around the moment the replies complete, to race the two.
        time.sleep(rng.uniform(0, 0.06))
        for conn in conns:
            conn.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            conn.close()
        assert c.call("PING") == "PONG"
    wait_until(lambda: parked_clients(c) == 0, 5, message="parked_clients back to 0")
    assert server.ping_ok()


@ringkv_only
def test_client_kill_closes_a_parked_client(c, server, connect):
    parked = connect(server)
    pid = parked.call("CLIENT", "ID")
    parked.send("DEBUG", "PARK", "5000", "never seen")
    wait_until(lambda: parked_clients(c) == 1, 5, message="the client parked")
    start = time.monotonic()
    assert c.call("CLIENT", "KILL", "ID", str(pid)) == 1
    assert parked.is_closed_by_peer(scaled(3))
    assert time.monotonic() - start < scaled(3)
    # The gauge drops as the owning thread finishes the close, which may
    # be a moment after the peer sees the connection end.
    wait_until(lambda: parked_clients(c) == 0, scaled(2), message="parked_clients back to 0")
    assert c.call("PING") == "PONG"


@ringkv_only
def test_idle_timeout_spares_a_parked_client(start_server, connect):
    srv = start_server(enable_debug_command="yes", timeout=1)
    idle = connect(srv)
    idle.call("PING")
    parked = connect(srv)
    start = time.monotonic()
    assert parked.call("DEBUG", "PARK", "2500", "still here") == b"still here"
    assert time.monotonic() - start >= 2.4
    assert idle.is_closed_by_peer(scaled(1)), "the idle client was not timed out"
    assert parked.call("PING") == "PONG"


@ringkv_only
@pytest.mark.watchdog(30)
def test_shutdown_with_parked_clients_exits_cleanly(start_server, connect):
    srv = start_server(enable_debug_command="yes")
    parked = [connect(srv) for _ in range(10)]
    for conn in parked:
        conn.send("DEBUG", "PARK", "30000", "too late")
    admin = connect(srv)
    wait_until(lambda: parked_clients(admin) == 10, 5, message="10 parked clients")
    start = time.monotonic()
    admin.send("SHUTDOWN", "NOSAVE")
    assert srv.wait_exit(scaled(5)) == 0
    assert time.monotonic() - start < scaled(5)
    for conn in parked:
        assert conn.is_closed_by_peer(scaled(2))
