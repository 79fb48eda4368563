"""Clean shutdown: on SIGTERM the server stops accepting, still delivers the
replies it already produced to a slow reader, and exits 0."""

import signal
import socket
import time

import pytest

from resp_client import encode_command
from util import scaled

ringkv_only = pytest.mark.ringkv_only

VALUE_BYTES = 32 * 1024 * 1024


@ringkv_only
def test_sigterm_finishes_in_flight_reply_and_refuses_new_clients(start_server, connect):
    srv = start_server()
    c = connect(srv)
    assert c.call("SET", "big", b"x" * VALUE_BYTES) == "OK"

    # A client asks for the big value and does not read yet: the server's
    # reply is in flight, far larger than the socket buffers.
    slow = socket.create_connection((srv.host, srv.port), timeout=scaled(10))
    slow.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 64 * 1024)
    slow.sendall(encode_command("GET", "big"))
    time.sleep(0.3)
    srv.signal(signal.SIGTERM)

    # New clients are refused while the reply drains.
    deadline = time.monotonic() + scaled(5)
    refused = False
    while time.monotonic() < deadline and not refused:
        try:
            socket.create_connection((srv.host, srv.port), timeout=1).close()
            time.sleep(0.05)
        except ConnectionRefusedError:
            refused = True
    assert refused, "the server still accepted connections after SIGTERM"

    # The whole reply arrives, then the connection closes.
    expected = b"$%d\r\n" % VALUE_BYTES + b"x" * VALUE_BYTES + b"\r\n"
    got = bytearray()
    slow.settimeout(scaled(10))
    while True:
        chunk = slow.recv(1 << 20)
        if not chunk:
            break
        got += chunk
    slow.close()
    assert len(got) == len(expected)
    assert bytes(got) == expected
    assert srv.wait_exit(scaled(10)) == 0
