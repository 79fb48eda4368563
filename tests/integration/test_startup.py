"""Start-up: a second server on a port that is taken fails with a clear
message instead of sharing the port."""

import subprocess
import tempfile

import pytest

from servers import HOST, RINGKV_SERVER

pytestmark = pytest.mark.ringkv_only


def test_second_server_on_the_same_port_refuses_to_start(start_server, connect):
    first = start_server()
    with tempfile.TemporaryDirectory(prefix="ringkv-it-") as d:
        out = subprocess.run([RINGKV_SERVER, "--port", str(first.port), "--bind", HOST,
                              "--dir", d, "--http-port", "0"],
                             capture_output=True, text=True, timeout=30)
    assert out.returncode == 1
    assert "could not listen on %s:%d: Address already in use" % (HOST, first.port) in out.stderr
    # The first server keeps every client.
    c = connect(first)
    assert c.call("PING") == "PONG"


def test_unknown_option_and_bad_value_fail_start_with_the_reason(tmp_path):
    out = subprocess.run([RINGKV_SERVER, "--no-such-option", "1"], capture_output=True,
                         text=True, timeout=30)
    assert out.returncode == 1 and "unknown option '--no-such-option'" in out.stderr
    out = subprocess.run([RINGKV_SERVER, "--maxclients", "0", "--dir", str(tmp_path)],
                         capture_output=True, text=True, timeout=30)
    assert out.returncode == 1 and "--maxclients 0" in out.stderr
    out = subprocess.run([RINGKV_SERVER, "--compression", "snappy", "--dir", str(tmp_path)],
                         capture_output=True, text=True, timeout=30)
    assert out.returncode == 1 and "--compression snappy" in out.stderr
