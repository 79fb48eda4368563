"""Data directories written by earlier versions open with the current
server and serve exactly what they held (tests/fixtures/README.md)."""

import os
import shutil
import tempfile

import pytest

from servers import Server, stop_and_check

pytestmark = pytest.mark.ringkv_only

FIXTURES = os.path.join(os.path.dirname(__file__), "..", "fixtures")


def expected():
    want = {b"small:%d" % i: b"value-%d" % i for i in range(320) if i != 7}
    for i in range(7):
        if i != 5:
            want[b"big:%d" % i] = (b"%d" % i) * 9000
    want[b"big:0"] = b"Z" * 9000
    want[b"ttl"] = b"x"
    return want


def test_a_store_from_before_blob_gc_opens_and_upgrades():
    tmp = tempfile.mkdtemp(prefix="ringkv-compat-")
    data = os.path.join(tmp, "data")
    shutil.copytree(os.path.join(FIXTURES, "store-before-blob-gc"), data)
    srv = Server({"dir": data, "engine": "lsm"})
    try:
        srv.start()
        want = expected()
        c = srv.raw()
        assert c.call("DBSIZE") == len(want)
        keys = sorted(want)
        assert c.call("MGET", *keys) == [want[k] for k in keys]
        assert c.call("TTL", "ttl") > 10**7
        assert c.call("EXISTS", "small:7", "big:5") == 0
        assert c.call("ENGINE", "CHECK")[0] == b"status:ok"
        # Writes and a restart on the upgraded store.
        c.call("SET", "big:1", b"n" * 9000)
        c.call("SAVE")
        c.close()
        srv.restart(signum=15)
        c = srv.raw()
        assert c.call("GET", "big:1") == b"n" * 9000
        assert c.call("GET", "big:2") == b"2" * 9000
        assert c.call("ENGINE", "CHECK")[0] == b"status:ok"
        c.close()
    finally:
        stop_and_check([srv])
        shutil.rmtree(tmp, ignore_errors=True)
