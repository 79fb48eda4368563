"""TTLs in a cluster of real processes: SET with EX/PX/EXAT/PXAT, SETEX and
PSETEX write a value that carries its absolute expiry; TTL and its kin are
quorum reads of the value GET shows; EXPIRE and its kin and PERSIST are a
read-modify-write at a replica, forwarded like INCR when the coordinator
holds no replica; INCR keeps a key's TTL; an expired key reads as missing
on every node and its state is collected like a tombstone."""

import os
import time

import pytest
import redis

from cluster import wait_for
from test_cluster import make_cluster  # noqa: F401 (fixture)
from test_cluster_faults import cluster_info, nodes_for
from test_cluster_kv import ring_ready
from test_cluster_tombstones import FAST_GC

pytestmark = [
    pytest.mark.ringkv_only,
    pytest.mark.skipif(os.environ.get("RINGKV_TEST_ENGINE", "") not in ("", "lsm"),
                       reason="cluster tests run with the default engine only"),
]


def gone_everywhere(nodes, key):
    """Nothing visible through any node, at R=3."""
    for n in nodes:
        r = n.redis()
        if r.get(key) is not None or r.exists(key) != 0 or r.ttl(key) != -2:
            return False
        if r.execute_command("GETV", key, "R", "3")[1] != []:
            return False
    return True


def test_set_ex_read_through_every_node_then_gone_everywhere(make_cluster):
    nodes = make_cluster(3)
    ring_ready(nodes)
    a, b, c = (n.redis() for n in nodes)
    assert a.set("ttl:ex", "v", ex=3) is True
    assert b.get("ttl:ex") == b"v"
    assert 2 <= b.ttl("ttl:ex") <= 3
    assert 1500 < c.pttl("ttl:ex") <= 3000
    now = time.time()
    assert abs(c.execute_command("EXPIRETIME", "ttl:ex") - (now + 3)) <= 2
    assert abs(c.execute_command("PEXPIRETIME", "ttl:ex") - (now + 3) * 1000) <= 2000
    assert a.setex("ttl:setex", 3, "s") is True
    assert a.psetex("ttl:psetex", 3000, "p") is True
    assert a.execute_command("SET", "ttl:pxat", "x", "PXAT", int((now + 3) * 1000)) is True
    assert a.execute_command("SET", "ttl:exat", "x", "EXAT", int(now + 3)) is True
    for k in ("ttl:setex", "ttl:psetex", "ttl:pxat"):
        assert 0 < c.pttl(k) <= 3000, k
    # A key without an expiry and a missing key.
    assert a.set("ttl:plain", "p") is True
    assert c.ttl("ttl:plain") == -1 and c.pttl("ttl:plain") == -1
    assert c.execute_command("EXPIRETIME", "ttl:plain") == -1
    assert c.ttl("ttl:none") == -2 and c.pttl("ttl:none") == -2
    # Visible, with its TTL, at R=3 on every node; then gone everywhere.
    for n in nodes:
        assert n.redis().execute_command("GETV", "ttl:ex", "R", "3")[1] == [b"v"]
    for k in ("ttl:ex", "ttl:setex", "ttl:psetex", "ttl:pxat", "ttl:exat"):
        wait_for(lambda: gone_everywhere(nodes, k), 10, "%s expired on every node" % k)
    assert c.get("ttl:plain") == b"p"
    # A SET without options clears the TTL, as in Redis.
    assert a.set("ttl:reset", "1", px=100000) is True
    assert b.set("ttl:reset", "2") is True
    assert c.ttl("ttl:reset") == -1
    # The latency rows of the new operations.
    info = cluster_info(nodes[2])
    assert any(k.startswith("cluster_latency_ttl_r") for k in info)


def test_expire_persist_and_their_options(make_cluster):
    nodes = make_cluster(3)
    ring_ready(nodes)
    a, b, c = (n.redis() for n in nodes)
    assert a.expire("exp:none", 10) is False
    assert a.persist("exp:none") is False
    assert a.set("exp:k", "v") is True
    assert a.persist("exp:k") is False  # no TTL to remove
    assert b.expire("exp:k", 100) is True
    assert 99 <= c.ttl("exp:k") <= 100
    assert c.get("exp:k") == b"v"
    assert a.persist("exp:k") is True
    assert b.ttl("exp:k") == -1
    assert c.pexpire("exp:k", 50000) is True
    assert 49000 < a.pttl("exp:k") <= 50000
    # NX, XX, GT, LT (Redis 7).
    assert a.execute_command("EXPIRE", "exp:k", "100", "NX") == 0
    assert a.execute_command("EXPIRE", "exp:k", "100", "XX") == 1
    assert a.execute_command("EXPIRE", "exp:k", "50", "GT") == 0
    assert a.execute_command("EXPIRE", "exp:k", "200", "GT") == 1
    assert a.execute_command("EXPIRE", "exp:k", "300", "LT") == 0
    assert a.execute_command("EXPIRE", "exp:k", "150", "LT") == 1
    assert 149 <= b.ttl("exp:k") <= 150
    assert a.set("exp:nottl", "v") is True
    assert a.execute_command("EXPIRE", "exp:nottl", "10", "XX") == 0
    assert a.execute_command("EXPIRE", "exp:nottl", "10", "GT") == 0
    assert a.execute_command("EXPIRE", "exp:nottl", "10", "LT") == 1
    assert a.execute_command("EXPIRE", "exp:nottl", "20", "NX") == 0
    # EXPIREAT / PEXPIREAT, and EXPIRETIME reads them back.
    at = int(time.time()) + 1000
    assert b.execute_command("EXPIREAT", "exp:k", at) == 1
    assert c.execute_command("EXPIRETIME", "exp:k") == at
    assert b.execute_command("PEXPIREAT", "exp:k", at * 1000 + 123) == 1
    assert c.execute_command("PEXPIRETIME", "exp:k") == at * 1000 + 123
    # A time in the past deletes the key (and still answers 1).
    assert a.set("exp:past", "v") is True
    assert b.expire("exp:past", -1) is True
    assert gone_everywhere(nodes, "exp:past")
    assert a.set("exp:pastat", "v") is True
    assert b.execute_command("PEXPIREAT", "exp:pastat", "1") == 1
    assert gone_everywhere(nodes, "exp:pastat")
    # A short PEXPIRE: gone everywhere once it passes.
    assert a.set("exp:short", "v") is True
    assert c.pexpire("exp:short", 300) is True
    wait_for(lambda: gone_everywhere(nodes, "exp:short"), 10, "exp:short expired")
    assert b.expire("exp:short", 100) is False  # nothing visible: no write


def key_not_on(node, name, prefix):
    """A key whose preference list (N=3) does not hold name."""
    for i in range(20000):
        key = "%s:%d" % (prefix, i)
        if name not in nodes_for(node, key):
            return key
    raise AssertionError("no key without %s" % name)


def test_forwarded_set_px_and_expire(make_cluster):
    nodes = make_cluster(5)
    ring_ready(nodes)
    n0 = nodes[0].redis()
    key = key_not_on(nodes[0], "n0", "fwd")
    before = int(cluster_info(nodes[0])["forwarded_writes"])
    assert n0.set(key, "v", px=1500) is True
    assert n0.get(key) == b"v"
    for n in nodes[1:]:
        assert 0 < n.redis().pttl(key) <= 1500
    assert n0.pexpire(key, 100000) is True
    assert 99000 < nodes[4].redis().pttl(key) <= 100000
    assert n0.persist(key) is True
    assert nodes[3].redis().ttl(key) == -1
    assert n0.execute_command("EXPIRE", key, "10", "XX") == 0
    assert n0.execute_command("PEXPIRE", key, "400", "NX") == 1
    assert int(cluster_info(nodes[0])["forwarded_writes"]) >= before + 5
    wait_for(lambda: gone_everywhere(nodes, key), 10, "the forwarded key expired")
    assert n0.expire(key, 10) is False
    assert n0.persist(key) is False
    # A forwarded SETEX, then EXPIRE in the past deletes it.
    assert n0.setex(key, 100, "again") is True
    assert 99 <= nodes[2].redis().ttl(key) <= 100
    assert n0.expire(key, 0) is True
    assert gone_everywhere(nodes, key)


def test_incr_keeps_the_ttl(make_cluster):
    nodes = make_cluster(3)
    ring_ready(nodes)
    a, b, c = (n.redis() for n in nodes)
    # A counter started from a register with a TTL keeps it.
    assert a.set("cnt", "10", ex=100) is True
    assert b.incr("cnt") == 11
    assert 99 <= c.ttl("cnt") <= 100
    assert c.incrby("cnt", 5) == 16
    assert a.decr("cnt") == 15
    assert 99 <= b.ttl("cnt") <= 100
    # EXPIRE on a counter: its value stays, with the new TTL; INCR keeps it.
    assert b.pexpire("cnt", 1500) is True
    assert c.get("cnt") == b"15"
    assert a.incr("cnt") == 16
    assert 0 < c.pttl("cnt") <= 1500
    wait_for(lambda: gone_everywhere(nodes, "cnt"), 10, "the counter expired")
    # After expiry the key counts from nothing, without a TTL.
    assert b.incr("cnt") == 1
    assert c.ttl("cnt") == -1
    # A counter without a TTL gets one and keeps it.
    assert a.expire("cnt", 200) is True
    assert b.incr("cnt") == 2
    assert 199 <= c.ttl("cnt") <= 200
    assert a.persist("cnt") is True
    assert b.incr("cnt") == 3
    assert c.ttl("cnt") == -1


def test_expired_states_are_collected_everywhere(make_cluster):
    nodes = make_cluster(3, **FAST_GC)
    ring_ready(nodes)
    a = nodes[0].redis()
    for i in range(10):
        assert a.set("gcx:%d" % i, "v", px=300) is True
    for i in range(5):
        assert a.set("gcx:keep:%d" % i, "v") is True
    for i in range(5):
        assert a.set("gcx:keepttl:%d" % i, "v", ex=1000) is True
    assert a.set("gcx:past", "v") is True
    assert a.expire("gcx:past", -1) is True
    # W=2: the third replica may apply the writes a moment later.
    wait_for(lambda: [n.redis().dbsize() for n in nodes] == [21, 21, 21], 10,
             "every replica holds the 21 states")
    # Expired 300 ms after the write; collected once the grace (3 s) passed.
    wait_for(lambda: all(n.redis().dbsize() == 10 for n in nodes), 30,
             "expired states collected")
    assert all(int(cluster_info(n)["tombstones_collected"]) >= 11 for n in nodes)
    for i in range(5):
        assert nodes[i % 3].redis().get("gcx:keep:%d" % i) == b"v"
        assert nodes[i % 3].redis().ttl("gcx:keepttl:%d" % i) > 990
    # A key written again after its expired state was collected.
    assert a.set("gcx:0", "new") is True
    assert nodes[1].redis().execute_command("GETV", "gcx:0", "R", "3")[1] == [b"new"]


def test_unserved_options_and_bad_arguments(make_cluster):
    nodes = make_cluster(3)
    ring_ready(nodes)
    a = nodes[0].redis()
    for args in (("SET", "k", "v", "NX"), ("SET", "k", "v", "XX", "EX", "10"),
                 ("SET", "k", "v", "GET"), ("SET", "k", "v", "KEEPTTL")):
        with pytest.raises(redis.ResponseError, match="not served in a cluster yet"):
            a.execute_command(*args)
    for args in (("GETEX", "k", "EX", "10"), ("SETNX", "k", "v"), ("GETSET", "k", "v")):
        with pytest.raises(redis.ResponseError, match="not served in a cluster yet"):
            a.execute_command(*args)
    with pytest.raises(redis.ResponseError, match="invalid expire time in 'set'"):
        a.execute_command("SET", "k", "v", "EX", "0")
    with pytest.raises(redis.ResponseError, match="invalid expire time in 'setex'"):
        a.execute_command("SETEX", "k", "-1", "v")
    with pytest.raises(redis.ResponseError, match="syntax error"):
        a.execute_command("SET", "k", "v", "EX", "10", "PX", "10")
    with pytest.raises(redis.ResponseError, match="syntax error"):
        a.execute_command("SET", "k", "v", "EX")
    with pytest.raises(redis.ResponseError, match="not compatible"):
        a.execute_command("EXPIRE", "k", "10", "NX", "XX")
    with pytest.raises(redis.ResponseError, match="not compatible"):
        a.execute_command("EXPIRE", "k", "10", "GT", "LT")
    with pytest.raises(redis.ResponseError, match="Unsupported option"):
        a.execute_command("EXPIRE", "k", "10", "YY")
    with pytest.raises(redis.ResponseError, match="not an integer"):
        a.execute_command("EXPIRE", "k", "ten")
    with pytest.raises(redis.ResponseError, match="invalid expire time"):
        a.execute_command("EXPIRE", "k", str(2**62))
    assert a.get("k") is None
