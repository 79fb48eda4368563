"""ringkv-cli against a live server: ping, info, hotkeys and top."""

import os
import socket
import subprocess

import pytest

from servers import RINGKV_SERVER

pytestmark = pytest.mark.ringkv_only

CLI = os.environ.get("RINGKV_CLI") or os.path.join(os.path.dirname(RINGKV_SERVER), "ringkv-cli")


def cli(srv, *args, timeout=30):
    if not os.path.exists(CLI):
        pytest.fail("ringkv-cli not built at %s" % CLI)
    return subprocess.run([CLI, "-p", str(srv.port)] + list(args), capture_output=True,
                          text=True, timeout=timeout)


def test_ping_prints_pong_with_round_trip(start_server):
    srv = start_server()
    out = cli(srv, "ping")
    assert out.returncode == 0, out.stderr
    assert out.stdout.startswith("PONG (") and out.stdout.rstrip().endswith("ms)")


def test_ping_of_a_dead_port_fails_clearly():
    with socket.socket() as s:  # a port nobody listens on once closed
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    out = subprocess.run([CLI, "-p", str(port), "ping"], capture_output=True, text=True, timeout=30)
    assert out.returncode == 1
    assert "cannot connect" in out.stderr


def test_info_prints_the_sections(start_server):
    srv = start_server()
    out = cli(srv, "info", "server", "keyspace")
    assert out.returncode == 0, out.stderr
    assert "# Server" in out.stdout and "# Keyspace" in out.stdout


def test_password_is_used(start_server):
    srv = start_server(requirepass="s3cret")
    # Without the password PING is refused (NOAUTH), with it it works.
    assert cli(srv, "ping").returncode == 1
    out = subprocess.run([CLI, "-a", "s3cret", "-p", str(srv.port), "ping"],
                         capture_output=True, text=True, timeout=30)
    assert out.returncode == 0, out.stderr


def test_top_shows_rates_latencies_and_fits_80_columns(start_server, connect):
    srv = start_server()
    c = connect(srv)
    for i in range(2000):
        c.send("SET", "k%d" % (i % 50), "v")
    for i in range(2000):
        c.read_reply()
    out = cli(srv, "top", "-n", "2", "-i", "0.2")
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    assert all(len(line) <= 80 for line in lines), max(lines, key=len)
    assert any(line.startswith("command") and "p99" in line for line in lines)
    set_rows = [line.split() for line in lines if line.split()[:1] == ["set"]]
    assert set_rows
    # ops/s, then p50, p95 and p99 in microseconds: numbers, not "-".
    assert all(field.replace(".", "").isdigit() for field in set_rows[-1][2:5]), set_rows
    assert any(line.startswith("memory ") for line in lines)
    assert any("hit ratio" in line for line in lines)


def test_hotkeys_lists_the_skewed_key_first(start_server, connect):
    srv = start_server(maxmemory_policy="allkeys-lfu")
    c = connect(srv)
    for i in range(200):
        c.call("SET", "cold:%d" % i, "v")
    for _ in range(3000):
        c.send("GET", "hot")
    c.call("SET", "hot", "v")
    for _ in range(3000):
        c.read_reply()
    for _ in range(3000):
        c.send("GET", "hot")
    for _ in range(3000):
        c.read_reply()
    out = cli(srv, "hotkeys", "-n", "5")
    assert out.returncode == 0, out.stderr
    rows = [line.split() for line in out.stdout.splitlines()[1:] if line.strip()]
    assert rows and rows[0][1] == "hot", out.stdout
