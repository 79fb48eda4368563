"""Temporary failures in a cluster of real processes: a node killed while
reads and writes go on, then catching up; strict against sloppy quorums
with two of a key's three replicas down, and the hints handed back; a
network partition with writes on both sides, then siblings or LWW after
healing. Each node has its own loopback address; partitions are nftables
rules (cluster.py), removed whatever happens."""

import os
import re
import shutil
import signal
import subprocess
import urllib.request

import pytest
import redis

from cluster import free_port_on, nft_available, node_addr, status, wait_for
from util import info_fields
from test_cluster import make_cluster, net  # noqa: F401 (fixtures)
from test_cluster_kv import answers, clients, ring_ready

pytestmark = [
    pytest.mark.ringkv_only,
    pytest.mark.skipif(os.environ.get("RINGKV_TEST_ENGINE", "") not in ("", "lsm"),
                       reason="cluster tests run with the default engine only"),
]


def kill(node):
    node.proc.send_signal(signal.SIGKILL)
    node.proc.wait()


def seen_down(nodes, name):
    return all(status(n).get(name, ("?",))[0] == "down" for n in nodes)


def seen_up(nodes, name):
    return all(status(n).get(name, ("?",))[0] == "up" for n in nodes)


def cluster_info(node):
    return info_fields(node.raw().call("INFO", "cluster"))["cluster"]


def hints_pending(nodes):
    return sum(int(cluster_info(n)["hints_pending"]) for n in nodes)


def nodes_for(node, key, n=3):
    with node.raw() as conn:
        return [x.decode() for x in conn.call("CLUSTER", "NODESFOR", key, str(n))]


def local_value(node, key):
    """The value node's own replica holds: an R=1 read coordinated by a
    replica completes with its own answer, which comes first."""
    ctx, values = node.redis().execute_command("GETV", key, "R", "1")
    return values


def key_on(node, names, prefix):
    """A key whose preference list is exactly names, in that order."""
    for i in range(20000):
        key = "%s:%d" % (prefix, i)
        if nodes_for(node, key) == names:
            return key
    raise AssertionError("no key with preference list %s" % names)


def metrics(node, port):
    with urllib.request.urlopen("http://%s:%d/metrics" % (node.host, port), timeout=10) as r:
        text = r.read().decode()
    promtool = shutil.which("promtool") or "/usr/bin/promtool"
    if os.access(promtool, os.X_OK):
        proc = subprocess.run([promtool, "check", "metrics"], input=text.encode(),
                              capture_output=True, timeout=30)
        assert proc.returncode == 0, proc.stdout.decode() + proc.stderr.decode()
    return text


def test_one_node_of_five_down_then_catching_up(make_cluster):
    http_port = free_port_on(node_addr(0))  # each node on its own address
    nodes = make_cluster(5, http_port=http_port)
    ring_ready(nodes)
    cl = clients(nodes)
    keys = ["one:%d" % i for i in range(150)]
    for i, k in enumerate(keys):
        assert cl[i % 5].set(k, "a%d" % i) is True
    victim = nodes[2]
    others = [n for n in nodes if n is not victim]
    kill(victim)
    wait_for(lambda: seen_down(others, "n2"), 20, "n2 seen down")
    live = [cl[i] for i in range(5) if i != 2]
    # Every write and read still succeeds: the down replica's share goes
    # to fallbacks as hints.
    for i, k in enumerate(keys):
        assert live[i % 4].set(k, "b%d" % i) is True
    for i, k in enumerate(keys):
        assert live[(i + 1) % 4].get(k) == b"b%d" % i
    held = hints_pending(others)
    assert held > 0
    text = metrics(nodes[0], http_port)
    assert 'ringkv_cluster_hints_pending{target="n2"}' in text
    assert "ringkv_cluster_hints_stored_total" in text
    assert 'ringkv_cluster_request_seconds_count{op="set",quorum="2"}' in text
    victim.restart()
    wait_for(lambda: seen_up(others, "n2"), 20, "n2 up again")
    # The hints go back, and n2's own replica has every write it missed.
    wait_for(lambda: hints_pending(others) == 0, 30, "every hint handed back")
    delivered = sum(int(cluster_info(n)["hints_delivered"]) for n in others)
    assert delivered >= held
    mine = [k for k in keys if "n2" in nodes_for(nodes[0], k)]
    assert len(mine) > 30
    for k in mine:
        i = keys.index(k)
        assert local_value(victim, k) == [b"b%d" % i], k
    # CLUSTER STATUS shows the hints a node holds per member (none now).
    rows = nodes[0].raw().call("CLUSTER", "STATUS")
    assert all(len(r) == 9 and r[6] == 0 for r in rows)
    # Coordinator latency by operation and quorum.
    info = cluster_info(nodes[0])
    for field in ("cluster_latency_set_w2", "cluster_latency_get_r2"):
        stats = dict(kv.split("=") for kv in info[field].split(","))
        assert int(stats["count"]) > 0 and 0 < float(stats["p50"]) <= float(stats["p99"]), stats


def test_strict_and_sloppy_quorums_with_two_replicas_down(make_cluster):
    nodes = make_cluster(5, cluster_timeout=500)
    ring_ready(nodes)
    by_name = {"n%d" % n.index: n for n in nodes}
    key = key_on(nodes[0], ["n0", "n1", "n2"], "two")
    a = nodes[0].redis()
    assert a.set(key, "before") is True
    kill(nodes[1])
    kill(nodes[2])
    others = [nodes[0], nodes[3], nodes[4]]
    wait_for(lambda: seen_down(others, "n1") and seen_down(others, "n2"), 20,
             "n1 and n2 seen down")
    # Strict: only the key's own replicas count; one is up, W=2 fails.
    a.config_set("cluster-sloppy-quorum", "no")
    with pytest.raises(redis.ResponseError, match=r"NOQUORUM write needed 2 of 3 replicas"):
        a.set(key, "strict")
    # Sloppy: n3 and n4 stand in for n1 and n2 and keep hints.
    a.config_set("cluster-sloppy-quorum", "yes")
    # Strict per request, whatever the setting.
    with pytest.raises(redis.ResponseError, match=r"NOQUORUM write needed 2 of 3 replicas"):
        a.execute_command("SETV", key, "", "strict too", "W", "2", "STRICT")
    assert a.set(key, "sloppy") is True
    # W=2 completes at n0 and one fallback; the other's hint may land after.
    wait_for(lambda: hints_pending([nodes[3], nodes[4]]) >= 2, 5, "both fallbacks hold a hint")
    rows = {r[0].decode(): r for r in nodes[3].raw().call("CLUSTER", "STATUS")}
    assert rows["n1"][6] + rows["n2"][6] >= 1
    # Reads stay strict: R=2 of the key's replicas cannot be met.
    with pytest.raises(redis.ResponseError, match=r"NOQUORUM read"):
        a.get(key)
    # The fallbacks' hint backlog is bounded (CONFIG SET at run time): past
    # it a hint is refused, and a write that needed it fails, saying so.
    for n in (nodes[3], nodes[4]):
        n.redis().config_set("cluster-hint-max-bytes", "1mb")
    big = "x" * (100 * 1024)

    def refused():
        try:
            a.set(key, big)
        except redis.ResponseError as e:
            assert "NOQUORUM" in str(e)
        return sum(int(cluster_info(n)["hints_refused"]) for n in (nodes[3], nodes[4])) > 0
    wait_for(refused, 20, "a hint refused past cluster-hint-max-bytes")
    for n in (nodes[3], nodes[4]):
        n.redis().config_set("cluster-hint-max-bytes", "256mb")
    wait_for(lambda: answers(lambda: a.set(key, "sloppy")), 10, "hints taken again")
    by_name["n1"].restart()
    by_name["n2"].restart()
    wait_for(lambda: seen_up(others, "n1") and seen_up(others, "n2"), 20, "owners back")
    wait_for(lambda: hints_pending(nodes) == 0, 30, "hints handed back")
    # Every replica agrees on the sloppy write (R=3), and each holds it.
    ctx, values = a.execute_command("GETV", key, "R", "3")
    assert values == [b"sloppy"]
    for n in nodes[:3]:
        assert local_value(n, key) == [b"sloppy"]


def partition_writes(make_cluster, net, mode):
    """Five nodes; the key's replicas are n0, n1, n2; a partition puts n0
    and n3 on one side, n1, n2 and n4 on the other. A write through n0 and
    one through n1 both succeed (sloppy quorum), then the partition heals
    and the hints go back."""
    if not nft_available():
        pytest.skip("nftables is not usable here (needs root)")
    nodes = make_cluster(5, cluster_conflicts=mode, cluster_timeout=500)
    ring_ready(nodes)
    key = key_on(nodes[0], ["n0", "n1", "n2"], "part")
    side_a, side_b = [0, 3], [1, 2, 4]
    for x in side_a:
        for y in side_b:
            net.cut(x, y)
    na, nb = nodes[0], nodes[1]
    wait_for(lambda: seen_down([na], "n1") and seen_down([na], "n2") and
             seen_down([nb], "n0") and seen_down([nb], "n3"), 30, "each side sees the other down")
    a, b = na.redis(), nb.redis()
    assert a.set(key, "side-a") is True
    assert b.set(key, "side-b") is True
    net.heal()
    wait_for(lambda: all(seen_up([n], "n%d" % m.index) for n in nodes for m in nodes), 30,
             "the partition healed")
    wait_for(lambda: hints_pending(nodes) == 0, 30, "hints handed back")
    return nodes, key


def test_partition_makes_siblings_resolved_by_context(make_cluster, net):
    nodes, key = partition_writes(make_cluster, net, "siblings")
    c = nodes[4].redis()
    ctx, values = c.execute_command("GETV", key, "R", "3")
    assert sorted(values) == [b"side-a", b"side-b"]
    info = cluster_info(nodes[4])
    assert int(info["sibling_reads"]) >= 1 and int(info["siblings_max"]) == 2, info
    # A plain GET shows one of them, the same through every node.
    seen = {n.redis().get(key) for n in nodes}
    assert len(seen) == 1 and seen.pop() in (b"side-a", b"side-b")
    assert c.execute_command("SETV", key, ctx, "resolved") == b"OK"
    for n in nodes:
        assert n.redis().execute_command("GETV", key, "R", "3")[1] == [b"resolved"]


def test_partition_in_lww_mode_keeps_one_value_everywhere(make_cluster, net):
    nodes, key = partition_writes(make_cluster, net, "lww")
    seen = set()
    for n in nodes:
        _, values = n.redis().execute_command("GETV", key, "R", "3")
        assert len(values) == 1
        seen.add(values[0])
    assert len(seen) == 1 and seen.pop() in (b"side-a", b"side-b")
    # Each replica keeps only the winner (the last one through read repair).
    wait_for(lambda: len({tuple(local_value(n, key)) for n in nodes[:3]}) == 1, 10,
             "every replica holds the winner")


def replica_ids(node):
    with open(node.log_path, "rb") as f:
        return re.findall(rb"cluster: replica id ([0-9a-f]{16})", f.read())


def test_replica_id_is_kept_across_clean_restarts_only(make_cluster):
    # A node that may have lost acknowledged writes (a crash under fsync
    # everysec) must not issue a version dot twice: it takes a new id.
    nodes = make_cluster(3)
    ring_ready(nodes)
    a = nodes[0].redis()
    for i in range(20):
        assert a.set("rid:%d" % i, "v%d" % i) is True
    n1 = nodes[1]
    n1.restart(signal.SIGTERM)
    ids = replica_ids(n1)
    assert len(ids) == 2 and ids[0] == ids[1], ids
    n1.restart(signal.SIGKILL)
    ids = replica_ids(n1)
    assert len(ids) == 3 and ids[2] != ids[1], ids
    with open(n1.log_path, "rb") as f:
        assert b"did not shut down cleanly" in f.read()
    # Its data is still there and still served, under the new id too.
    ring_ready(nodes)
    wait_for(lambda: seen_up(nodes, "n1"), 20, "n1 up again")
    for i in range(20):
        assert n1.redis().execute_command("GETV", "rid:%d" % i, "R", "3")[1] == [b"v%d" % i]
    assert n1.redis().set("rid:0", "after") is True
    assert a.get("rid:0") == b"after"


def test_a_forwarded_write_that_failed_is_not_applied_later(make_cluster):
    # A write forwarded to a paused replica fails (NOQUORUM) at its
    # forwarder; the frame waits in the paused process's socket. When that
    # replica resumes, the write must not run over what was acknowledged
    # meanwhile (it would undo a later SET and a DEL).
    nodes = make_cluster(5, cluster_timeout=500)
    ring_ready(nodes)
    key = key_on(nodes[0], ["n1", "n2", "n3"], "late")
    n0, n1, n2 = nodes[0].redis(), nodes[1], nodes[2].redis()
    assert n2.set(key, "first") is True
    n1.proc.send_signal(signal.SIGSTOP)
    try:
        with pytest.raises(redis.ResponseError, match="NOQUORUM"):
            n0.set(key, "failed")
        assert n2.set(key, "acked") is True
        assert n2.delete(key) == 1
    finally:
        n1.proc.send_signal(signal.SIGCONT)
    wait_for(lambda: int(cluster_info(n1)["late_forwards_refused"]) >= 1, 10,
             "the late forward refused")
    for n in nodes:
        assert n.redis().execute_command("GETV", key, "R", "3")[1] == []
        assert n.redis().get(key) is None
