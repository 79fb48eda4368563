"""A very large value through the server and the durable engine: SET and
GET of one value of RINGKV_BIG_VALUE_MB MiB (256 in make test, 1024 in make
test-long), checked byte for byte, after a restart too, with the server's
peak memory (VmHWM) growing by at most about twice the value's size: the
request buffer holding the value and the engine's copy of it (it goes to a
blob file; the tree keeps a pointer)."""

import hashlib
import os

import pytest

from util import ASAN, scaled

pytestmark = pytest.mark.ringkv_only

MIB = 1 << 20
SIZE = int(os.environ.get("RINGKV_BIG_VALUE_MB", "256")) * MIB
PEAK_FACTOR = 2.1  # "about twice": measured 1.96-2.0 (docs/storage.md)


def peak_rss_bytes(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    raise AssertionError("no VmHWM")


def test_a_huge_value_round_trips_with_bounded_memory(start_server):
    srv = start_server(engine="lsm", proto_max_bulk_len=max(SIZE, 512 * MIB),
                       client_query_buffer_limit=2 * SIZE)
    r = srv.redis(socket_timeout=scaled(300))
    value = os.urandom(MIB) * (SIZE // MIB)
    digest = hashlib.sha256(value).digest()
    base = peak_rss_bytes(srv.proc.pid)
    assert r.set("huge", value)
    del value
    got = r.get("huge")
    assert len(got) == SIZE and hashlib.sha256(got).digest() == digest
    del got
    grown = peak_rss_bytes(srv.proc.pid) - base
    # The sanitizer's allocator keeps freed memory in quarantine: the bound
    # holds for the real allocator only.
    assert ASAN or grown < PEAK_FACTOR * SIZE, "peak grew by %.2fx the value" % (grown / SIZE)
    assert r.strlen("huge") == SIZE
    r.close()
    srv.restart(signum=15)
    r = srv.redis(socket_timeout=scaled(300))
    got = r.get("huge")
    assert len(got) == SIZE and hashlib.sha256(got).digest() == digest
    r.close()
