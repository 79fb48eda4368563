"""The durable engine through the server: data survives restarts, SAVE and
BGSAVE make checkpoints a node can be started on, LASTSAVE and INFO
persistence/engine report them, ENGINE CHECK verifies the data, and damage
on disk is an error for the reads that meet it, never data."""

import glob
import os
import threading
import time

import pytest

from resp_client import RespError
from test_cli import cli
from util import info_fields, wait_until

pytestmark = pytest.mark.ringkv_only

BIG = b"B" * 10000  # goes to a blob file


@pytest.fixture
def start_server(start_server):
    """The durable engine, also when the suite runs on another one."""
    return lambda **config: start_server(**{"engine": "lsm", **config})


def fill(c, n, prefix="k"):
    for i in range(0, n, 500):
        c.call("MSET", *[x for j in range(i, min(n, i + 500))
                         for x in ("%s%d" % (prefix, j), "v%d" % j)])


def snapshot(c):
    keys = sorted(c.call("KEYS", "*"))
    values = c.call("MGET", *keys) if keys else []
    return dict(zip(keys, values))


def info(c, section):
    return info_fields(c.call("INFO", section))[section]


def stop_now(srv):
    """Stops a server started on another's checkpoint before that one's
    directory goes away at the end of the test."""
    problems = srv.stop()
    srv.proc = None
    assert not problems, problems


def checkpoints(srv):
    return sorted(glob.glob(os.path.join(srv.dir, "checkpoints", "ckpt-*")))


def test_data_survives_a_clean_restart(start_server):
    srv = start_server()
    c = srv.raw()
    fill(c, 3000)
    c.call("SET", "big", BIG)
    c.call("SET", "ttl", "x", "EX", "1000")
    c.call("DEL", "k7")
    before = snapshot(c)
    c.close()
    srv.restart(signum=15)  # SIGTERM: a clean shutdown
    c = srv.raw()
    assert snapshot(c) == before
    assert c.call("DBSIZE") == len(before)
    assert 900 < c.call("TTL", "ttl") <= 1000
    assert info(c, "keyspace")["db0"].startswith(
        "keys=%d,expires=1" % len(before))


def test_save_bgsave_lastsave_and_info(start_server):
    srv = start_server(checkpoint_keep=2)
    c = srv.raw()
    start = c.call("LASTSAVE")
    assert abs(start - time.time()) < 60
    c.call("SET", "a", "1")
    assert c.call("SAVE") == "OK"
    assert c.call("BGSAVE") == "Background saving started"
    wait_until(lambda: info(c, "persistence")["rdb_bgsave_in_progress"] == "0",
               10, message="BGSAVE done")
    time.sleep(0.01)  # a distinct checkpoint name (ms resolution)
    assert c.call("SAVE") == "OK"
    pers = info(c, "persistence")
    assert pers["rdb_saves"] == "3" and pers["rdb_last_bgsave_status"] == "ok"
    assert pers["aof_enabled"] == "1" and pers["fsync"] == "everysec"
    assert c.call("LASTSAVE") >= start
    assert len(checkpoints(srv)) == 2  # checkpoint-keep
    assert os.path.basename(checkpoints(srv)[-1]) in pers["last_checkpoint"]
    engine = info(c, "engine")
    assert engine["engine"] == "lsm" and int(engine["flushes"]) >= 1
    assert float(engine["write_amplification"]) > 0
    for field in ("memtable_bytes", "level0", "compactions", "block_cache_hit_ratio",
                  "wal_bytes_written"):
        assert field in engine, field


def test_a_node_started_on_a_checkpoint_serves_exactly_its_contents(start_server):
    srv = start_server()
    c = srv.raw()
    fill(c, 2000)
    c.call("SET", "big", BIG)
    c.call("SET", "ttl", "x", "EX", "1000")
    c.call("DEL", "k5")
    expected = snapshot(c)
    assert c.call("SAVE") == "OK"
    # Changes after the checkpoint must not show in it.
    c.call("SET", "k1", "changed")
    c.call("DEL", "k2")
    c.call("SET", "after", "x")
    c.call("SET", "big", b"other")
    ckpt = checkpoints(srv)[-1]
    other = start_server(dir=ckpt)
    d = other.raw()
    assert snapshot(d) == expected
    assert d.call("DBSIZE") == len(expected)
    assert 900 < d.call("TTL", "ttl") <= 1000
    d.close()
    stop_now(other)


def test_bgsave_under_writes_holds_a_prefix_of_them(start_server):
    srv = start_server()
    stop, acked = threading.Event(), [0]

    def writer():
        w = srv.raw()
        i = 0
        while not stop.is_set() and i < 200000:
            w.call("SET", "w%d" % i, "v")
            i += 1
            acked[0] = i
        w.close()

    t = threading.Thread(target=writer)
    t.start()
    wait_until(lambda: acked[0] > 500, 10, message="writes under way")
    c = srv.raw()
    before = acked[0]
    assert c.call("SAVE") == "OK"
    after = acked[0]
    stop.set()
    t.join()
    other = start_server(dir=checkpoints(srv)[-1])
    d = other.raw()
    n = d.call("DBSIZE")
    assert before <= n <= after + 1
    present = d.call("MGET", *["w%d" % i for i in range(n + 50)])
    assert all(v == b"v" for v in present[:n]) and all(v is None for v in present[n:])
    d.close()
    stop_now(other)


def test_engine_check_reports_ok_then_damage_and_reads_fail_cleanly(start_server):
    srv = start_server(block_cache_bytes="1mb")
    c = srv.raw()
    fill(c, 20000)
    assert c.call("SAVE") == "OK"  # flushes the memtable to a table
    check = c.call("ENGINE", "CHECK")
    assert check[0] == b"status:ok", check
    c.close()
    srv.restart(signum=15)
    tables = sorted(glob.glob(os.path.join(srv.dir, "*.sst")), key=os.path.getsize)
    assert tables
    srv.proc.send_signal(15)
    srv.proc.wait(timeout=10)
    with open(tables[-1], "r+b") as f:  # one byte in a data block of the largest table
        size = os.path.getsize(tables[-1])
        f.seek(size // 3)
        b = f.read(1)
        f.seek(size // 3)
        f.write(bytes([b[0] ^ 0x55]))
    srv.restart()
    assert "damage found while counting keys" in srv.log_tail(20)
    c = srv.raw()
    errors = 0
    for i in range(0, 20000, 500):
        keys = ["k%d" % j for j in range(i, i + 500)]
        for k in keys:
            r = c.call("GET", k)
            if isinstance(r, RespError):
                assert "corruption" in str(r), r
                errors += 1
            else:
                assert r == b"v" + k[1:].encode(), (k, r)  # never wrong data
    assert errors > 0
    check = c.call("ENGINE", "CHECK")
    assert check[0] == b"status:damaged", check
    assert any(os.path.basename(tables[-1]).encode() in line for line in check[4:]), check
    c.close()
    offline = cli(srv, "check", srv.dir)
    assert offline.returncode != 0 and os.path.basename(tables[-1]) in offline.stdout + offline.stderr


def sst_bytes(srv):
    return sum(os.path.getsize(p) for p in glob.glob(os.path.join(srv.dir, "*.sst")))


def test_tables_are_compressed_and_readable_under_any_compression(start_server):
    value = b"compressible " * 40  # 520 bytes, below the blob threshold
    sizes = {}
    for compression in ("none", "lz4"):
        srv = start_server(compression=compression)
        c = srv.raw()
        for i in range(0, 4000, 500):
            c.call("MSET", *[x for j in range(i, i + 500) for x in ("k%d" % j, value)])
        assert c.call("SAVE") == "OK"  # flushes the memtable to a table
        assert c.call("CONFIG", "GET", "compression") == [b"compression", compression.encode()]
        sizes[compression] = sst_bytes(srv)
        c.close()
    assert sizes["lz4"] * 4 < sizes["none"], sizes
    # The lz4 tables read back under every setting, and new tables mix in.
    for compression in ("zstd", "none", "lz4"):
        srv.config["compression"] = compression
        srv.restart(signum=15)
        c = srv.raw()
        c.call("SET", "new-" + compression, value)
        assert c.call("SAVE") == "OK"
        assert c.call("MGET", "k0", "k3999", "new-" + compression) == [value] * 3
        assert c.call("DBSIZE") == 4000 + ["zstd", "none", "lz4"].index(compression) + 1
        assert c.call("ENGINE", "CHECK")[0] == b"status:ok"
        c.close()


def test_memory_engine_has_nothing_to_save(start_server):
    srv = start_server(engine="memory")
    c = srv.raw()
    r = c.call("SAVE")
    assert isinstance(r, RespError) and "memory engine" in str(r)
    assert isinstance(c.call("ENGINE", "CHECK"), RespError)
    assert isinstance(c.call("LASTSAVE"), int)
