"""Clusters of real processes: forming, the ring, failure detection under
kills, pauses and network partitions (nftables on loopback addresses).
Times measured here are quoted in docs/cluster.md."""

import os
import shutil
import signal
import subprocess
import time
import urllib.request

import pytest

from cluster import (ClusterNode, Network, free_port_on, nft_available, node_addr, status,
                     wait_for)
from resp_client import RespError
from servers import stop_and_check
from util import info_fields

pytestmark = [
    pytest.mark.ringkv_only,
    # Membership does not depend on the storage engine: run once, on the default one.
    pytest.mark.skipif(os.environ.get("RINGKV_TEST_ENGINE", "") not in ("", "lsm"),
                       reason="cluster tests run with the default engine only"),
]

SOAK_S = float(os.environ.get("RINGKV_CLUSTER_SOAK_S", "20"))


@pytest.fixture
def net():
    n = Network()
    yield n
    n.heal()


@pytest.fixture
def make_cluster():
    nodes = []

    def make(count, **config):
        for i in range(count):
            cfg = {"cluster_name": "t", "node_name": "n%d" % i, "zone": "z%d" % (i % 3)}
            cfg.update(config)
            if i:
                cfg["join"] = nodes[0].internode
            node = ClusterNode(i, cfg)
            nodes.append(node)
            node.start()
        wait_for(lambda: all(all(st == "up" for st, _ in status(n).values()) and
                             len(status(n)) == count for n in nodes), 20,
                 "every node sees %d members up" % count)
        return nodes

    yield make
    stop_and_check(nodes)


def all_see(nodes, name, state):
    return all(status(n).get(name, ("?",))[0] == state for n in nodes)


def ring(node, n=3):
    with node.raw() as conn:
        return conn.call("CLUSTER", "RING", str(n))


def test_five_nodes_form_a_cluster_and_agree_on_the_ring(make_cluster):
    nodes = make_cluster(5)
    wait_for(lambda: len({tuple(map(tuple, ring(n)[1:])) for n in nodes}) == 1 and
             ring(nodes[0])[0] >= 5, 10, "every node holds the same ring")
    lists = ring(nodes[2])[1:]
    assert len(lists) == 256
    for pl in lists:
        assert len(pl) == 3 and len(set(pl)) == 3
        zones = {int(name[1:]) % 3 for name in (x.decode() for x in pl)}
        assert len(zones) == 3, "replicas of a partition in distinct zones: %r" % pl
    owned = [p for _, p in status(nodes[0]).values()]
    assert sum(owned) == 256 and max(owned) - min(owned) <= 1
    info = info_fields(nodes[3].raw().call("INFO", "cluster"))["cluster"]
    assert info["cluster_enabled"] == "1" and info["members_up"] == "5"


def test_a_killed_node_is_detected_and_comes_back(make_cluster):
    nodes = make_cluster(5)
    others = [n for n in nodes if n.index != 3]
    nodes[3].proc.send_signal(signal.SIGKILL)
    nodes[3].proc.wait()
    t0 = time.monotonic()
    first = wait_for(lambda: any(status(n)["n3"][0] == "down" for n in others), 15,
                     "someone marks n3 down")
    last = wait_for(lambda: all_see(others, "n3", "down"), 15, "all mark n3 down")
    print("killed node: first marked down after %.1f s, by all after %.1f s"
          % (first - t0, last - t0))
    nodes[3].restart()
    wait_for(lambda: all_see(others, "n3", "up"), 10, "n3 up again everywhere")


def test_a_paused_node_refutes_its_suspicion(make_cluster):
    nodes = make_cluster(4)
    nodes[2].proc.send_signal(signal.SIGSTOP)
    try:
        wait_for(lambda: any(status(n)["n2"][0] == "suspect" for n in nodes if n.index != 2),
                 5, "n2 suspected")
    finally:
        nodes[2].proc.send_signal(signal.SIGCONT)
    wait_for(lambda: all_see([n for n in nodes if n.index != 2], "n2", "up"), 10,
             "n2 refuted its suspicion")
    info = info_fields(nodes[2].raw().call("INFO", "cluster"))["cluster"]
    assert int(info["refutations"]) >= 1


def test_a_partition_is_seen_and_heals(make_cluster, net):
    if not nft_available():
        pytest.skip("nftables is not usable here (needs root)")
    nodes = make_cluster(5)
    for a in (0, 1):
        for b in (2, 3, 4):
            net.cut(a, b)
    wait_for(lambda: status(nodes[0])["n4"][0] == "down" and status(nodes[4])["n0"][0] == "down",
             20, "each side sees the other down")
    net.heal()
    t0 = time.monotonic()
    wait_for(lambda: all(all(st == "up" for st, _ in status(n).values()) for n in nodes), 40,
             "all up everywhere after healing")
    print("partition healed: all up everywhere after %.1f s" % (time.monotonic() - t0))


def test_a_one_way_partition_is_survived_by_indirect_probes(make_cluster, net):
    if not nft_available():
        pytest.skip("nftables is not usable here (needs root)")
    nodes = make_cluster(4)
    net.cut(0, 1, both=False)  # n0 cannot reach n1; everyone else can
    time.sleep(8)  # longer than the suspicion timeout
    for n in nodes:
        assert all(st == "up" for st, _ in status(n).values()), status(n)


@pytest.mark.watchdog(SOAK_S + 60)
def test_no_member_is_marked_down_under_load(make_cluster):
    nodes = make_cluster(5)
    bench = [subprocess.Popen(["redis-benchmark", "-h", n.host, "-p", str(n.port), "-q",
                               "-t", "set,get", "-n", "100000000", "-c", "10", "-P", "4",
                               "-r", "100000"],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
             for n in nodes]
    try:
        time.sleep(SOAK_S)
    finally:
        for b in bench:
            b.kill()
            b.wait()
    for n in nodes:
        info = info_fields(n.raw().call("INFO", "cluster"))["cluster"]
        assert info["members_marked_down"] == "0", info
        assert info["members_up"] == "5", info
    print("%.0f s under load: suspicions %s" % (SOAK_S, [
        info_fields(n.raw().call("INFO", "cluster"))["cluster"]["suspicions"] for n in nodes]))


def test_cluster_join_at_run_time_and_metrics(make_cluster):
    http_port = free_port_on(node_addr(0))
    nodes = make_cluster(3, http_port=http_port)  # each on its own address
    loner = ClusterNode(3, {"cluster_name": "t", "node_name": "n3", "zone": "z0"})
    loner.start()
    try:
        with loner.raw() as c:
            assert c.call("CLUSTER", "JOIN", nodes[1].internode) == "OK"
        wait_for(lambda: all(len(status(n)) == 4 and
                             all(st == "up" for st, _ in status(n).values())
                             for n in nodes + [loner]), 20, "the loner joined")
        wait_for(lambda: status(loner)["n3"][1] > 0 and
                 len({ring(n)[0] for n in nodes + [loner]}) == 1, 10,
                 "everyone holds the ring that gives n3 partitions")
    finally:
        stop_and_check([loner])
    with urllib.request.urlopen("http://%s:%d/metrics" % (node_addr(0), http_port),
                                timeout=10) as resp:
        text = resp.read().decode()
    assert 'ringkv_cluster_members{state="up"} 4' in text or \
        'ringkv_cluster_members{state="down"} 1' in text, text[-2000:]
    promtool = shutil.which("promtool") or "/usr/bin/promtool"
    if os.access(promtool, os.X_OK):
        proc = subprocess.run([promtool, "check", "metrics"], input=text.encode(),
                              capture_output=True, timeout=30)
        assert proc.returncode == 0, proc.stdout.decode() + proc.stderr.decode()


def test_cluster_commands_without_a_cluster_and_bad_arguments(start_server, make_cluster):
    alone = start_server()
    c = alone.raw()
    r = c.call("CLUSTER", "STATUS")
    assert isinstance(r, RespError) and "not in a cluster" in r.message
    assert info_fields(c.call("INFO", "cluster"))["cluster"]["cluster_enabled"] == "0"
    nodes = make_cluster(1)
    d = nodes[0].raw()
    assert isinstance(d.call("CLUSTER", "JOIN", "nowhere"), RespError)
    assert isinstance(d.call("CLUSTER", "RING", "9"), RespError)
    assert isinstance(d.call("CLUSTER", "NOSUCH"), RespError)
    wait_for(lambda: d.call("CLUSTER", "RING", "1")[0] >= 1, 10, "the ring of one is made")
