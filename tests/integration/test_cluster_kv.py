"""Reads and writes in a cluster of real processes: any node coordinates,
quorums N/R/W with -NOQUORUM when too few replicas answer, writes through
a node that holds no replica of the key, siblings and contexts (GETV, SETV,
DELV), last-writer-wins, and clear errors for what is not served yet."""

import os
import signal
import time

import pytest
import redis

from cluster import wait_for
from util import info_fields
from test_cluster import make_cluster, net  # noqa: F401 (fixtures)

pytestmark = [
    pytest.mark.ringkv_only,
    pytest.mark.skipif(os.environ.get("RINGKV_TEST_ENGINE", "") not in ("", "lsm"),
                       reason="cluster tests run with the default engine only"),
]


def ring_ready(nodes):
    """Every node holds a ring with every node in it."""
    def ok():
        for n in nodes:
            with n.raw() as conn:
                if conn.call("CLUSTER", "RING", "1")[0] < len(nodes):
                    return False
        return True
    wait_for(ok, 20, "the ring holds every node")


def answers(call):
    """call(), or None while it fails with an error reply (a quorum not
    met yet while restarted nodes are seen up again)."""
    try:
        return call()
    except redis.ResponseError:
        return None


def clients(nodes):
    return [n.redis() for n in nodes]


def test_any_node_coordinates_reads_and_writes(make_cluster):
    nodes = make_cluster(3)
    ring_ready(nodes)
    a, b, c = clients(nodes)
    assert a.set("k1", "v1") is True
    for cl in (a, b, c):
        assert cl.get("k1") == b"v1"
        assert cl.exists("k1") == 1
    assert b.set("k1", "v2") is True
    assert c.get("k1") == b"v2"
    assert c.delete("k1") == 1
    for cl in (a, b, c):
        assert cl.get("k1") is None
        assert cl.exists("k1") == 0
    assert a.delete("k1") == 0
    for i in range(200):
        assert [a, b, c][i % 3].set("key:%d" % i, "val:%d" % i) is True
    for i in range(200):
        assert [b, c, a][i % 3].get("key:%d" % i) == b"val:%d" % i


def test_writes_through_nodes_that_hold_no_replica(make_cluster):
    # N=3 of 5: two in five keys have no replica on a given node, whose
    # writes are then forwarded to a replica.
    nodes = make_cluster(5)
    ring_ready(nodes)
    cl = clients(nodes)
    for i in range(300):
        assert cl[0].set("fw:%d" % i, "x%d" % i) is True
    for i in range(300):
        assert cl[(i % 4) + 1].get("fw:%d" % i) == b"x%d" % i
    for i in range(0, 300, 2):
        assert cl[0].delete("fw:%d" % i) == 1
    for i in range(300):
        want = None if i % 2 == 0 else b"x%d" % i
        assert cl[4].get("fw:%d" % i) == want
    # Node 0 holds no replica of about 2 keys in 5: those writes were
    # forwarded to a replica that coordinated them.
    info = info_fields(nodes[0].raw().call("INFO", "cluster"))["cluster"]
    assert 50 < int(info["forwarded_writes"]) < 400, info
    assert int(info["coordinated_requests"]) == 450
    assert info["requests_in_flight"] == "0"


def test_quorum_failures_are_clear_errors(make_cluster):
    nodes = make_cluster(3, cluster_timeout=500)
    ring_ready(nodes)
    a = nodes[0].redis()
    assert a.set("q", "1") is True
    nodes[1].proc.send_signal(signal.SIGKILL)
    nodes[1].proc.wait()
    # One of three down: W=2 and R=2 still met.
    assert a.set("q", "2") is True
    assert a.get("q") == b"2"
    nodes[2].proc.send_signal(signal.SIGKILL)
    nodes[2].proc.wait()
    # Two of three down: a clear error, never a silent partial success.
    with pytest.raises(redis.ResponseError, match=r"NOQUORUM write needed 2 of 3 replicas, 1"):
        a.set("q", "3")
    with pytest.raises(redis.ResponseError, match=r"NOQUORUM read needed 2 of 3 replicas"):
        a.get("q")
    info = info_fields(nodes[0].raw().call("INFO", "cluster"))["cluster"]
    assert int(info["quorum_failures"]) == 2, info
    # R=1 / W=1 per request (GETV/SETV options) still work. The failed
    # write is on the one replica that took it (reported as failed, not
    # undone): the local one, which answers an R=1 read.
    ctx, values = a.execute_command("GETV", "q", "R", "1")
    assert values == [b"3"]
    assert a.execute_command("SETV", "q", ctx, "4", "W", "1") == b"OK"
    assert a.execute_command("GETV", "q", "R", "1")[1] == [b"4"]
    # Back up (same data directories): quorum reads agree again, and see
    # the latest write, which two replicas never took, through the third.
    nodes[1].restart()
    nodes[2].restart()
    wait_for(lambda: answers(lambda: a.get("q")) == b"4", 20, "a quorum read again")


def test_siblings_and_contexts(make_cluster):
    nodes = make_cluster(3)
    ring_ready(nodes)
    a, b, c = clients(nodes)
    # Two blind writes (empty context) through different coordinators are
    # concurrent: both stay.
    assert a.execute_command("SETV", "s", "", "from-a") == b"OK"
    assert b.execute_command("SETV", "s", "", "from-b") == b"OK"
    ctx, values = c.execute_command("GETV", "s", "R", "3")
    assert sorted(values) == [b"from-a", b"from-b"]
    # A plain GET shows one of them, the same on every node.
    seen = {cl.get("s") for cl in (a, b, c)}
    assert len(seen) == 1 and seen.pop() in (b"from-a", b"from-b")
    # A write with the context supersedes exactly what it saw.
    assert c.execute_command("SETV", "s", ctx, "merged") == b"OK"
    assert a.execute_command("GETV", "s", "R", "3")[1] == [b"merged"]
    ctx2, _ = a.execute_command("GETV", "s")
    assert b.execute_command("DELV", "s", ctx2) == 1
    assert c.get("s") is None
    assert a.execute_command("GETV", "s", "R", "3")[1] == []


def test_lww_mode_keeps_one_value(make_cluster):
    nodes = make_cluster(3, cluster_conflicts="lww")
    ring_ready(nodes)
    a, b, c = clients(nodes)
    assert a.execute_command("SETV", "l", "", "first") == b"OK"
    # LWW compares millisecond timestamps (ties go to the higher dot, the
    # same choice everywhere): let the clock move on.
    time.sleep(0.01)
    assert b.execute_command("SETV", "l", "", "second") == b"OK"
    _, values = c.execute_command("GETV", "l", "R", "3")
    assert values == [b"second"]
    assert a.get("l") == b"second"


def test_bad_requests_get_clear_errors(make_cluster, start_server):
    nodes = make_cluster(3)
    ring_ready(nodes)
    a = nodes[0].redis()
    with pytest.raises(redis.ResponseError, match="invalid context"):
        a.execute_command("SETV", "k", "not a context", "v")
    with pytest.raises(redis.ResponseError, match=r"R \(3\) must not exceed N \(2\)"):
        a.execute_command("GETV", "k", "R", "3", "N", "2")
    with pytest.raises(redis.ResponseError, match="syntax error"):
        a.execute_command("GETV", "k", "R")
    with pytest.raises(redis.ResponseError, match="must be 1..16"):
        a.execute_command("SETV", "k", "", "v", "W", "0")
    with pytest.raises(redis.ResponseError, match="not served in a cluster yet"):
        a.append("counter", "x")
    with pytest.raises(redis.ResponseError, match="not served in a cluster yet"):
        a.set("k", "v", ex=10, nx=True)
    p = a.pipeline(transaction=True)
    p.set("k", "v")
    with pytest.raises(redis.ResponseError, match="MULTI/EXEC"):
        p.execute()
    # Pipelined commands keep their order while each waits for its quorum.
    p = a.pipeline(transaction=False)
    for i in range(50):
        p.set("p%d" % i, i)
        p.get("p%d" % i)
    out = p.execute()
    assert out == [x for i in range(50) for x in (True, str(i).encode())]
    single = start_server()
    with pytest.raises(redis.ResponseError, match="needs cluster mode"):
        single.redis().execute_command("GETV", "k")
