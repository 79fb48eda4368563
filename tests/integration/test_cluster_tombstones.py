"""Tombstone collection in a cluster of real processes: a deleted key's
tombstone is dropped once it is older than the grace and every replica
holds it (or nothing); never while a replica is down, so a replica that
missed the delete cannot bring the value back; and a key written again
after its tombstone was collected gets versions no old context covers."""

import os
import signal
import time

import pytest

from cluster import wait_for
from test_cluster import make_cluster  # noqa: F401 (fixture)
from test_cluster_faults import cluster_info, kill, local_value, seen_down, seen_up
from test_cluster_kv import ring_ready

pytestmark = [
    pytest.mark.ringkv_only,
    pytest.mark.skipif(os.environ.get("RINGKV_TEST_ENGINE", "") not in ("", "lsm"),
                       reason="cluster tests run with the default engine only"),
]

# The grace in force is max(grace, hint max age + 2 x timeout): 3 s here.
FAST_GC = {"cluster_tombstone_grace": "1", "cluster_hint_max_age": "1",
           "cluster_tombstone_scan_rate": "20000", "fsync": "always"}


def collected(node):
    return int(cluster_info(node)["tombstones_collected"])


def dbsize(node):
    return node.redis().dbsize()


def test_tombstones_are_collected_once_old_and_held_everywhere(make_cluster):
    nodes = make_cluster(3, **FAST_GC)
    ring_ready(nodes)
    a = nodes[0].redis()
    assert int(cluster_info(nodes[0])["tombstone_grace_ms"]) == 3000
    for i in range(40):
        assert a.set("gc:%d" % i, "v%d" % i) is True
    for i in range(20):
        assert a.delete("gc:%d" % i) == 1
    # Within the grace every replica keeps all 40 states (W=2: the third
    # may apply the writes a moment later).
    wait_for(lambda: [dbsize(n) for n in nodes] == [40, 40, 40], 2, "all 40 states held")
    assert [collected(n) for n in nodes] == [0, 0, 0]
    wait_for(lambda: all(dbsize(n) == 20 for n in nodes), 30, "tombstones collected")
    assert [collected(n) for n in nodes] == [20, 20, 20]
    for i in range(40):
        want = None if i < 20 else b"v%d" % i
        assert nodes[i % 3].redis().execute_command("GETV", "gc:%d" % i, "R", "3")[1] == \
            ([] if want is None else [want])
    assert int(cluster_info(nodes[1])["tombstone_scan_passes"]) > 0
    # n0 coordinated the writes: its floor passed its numbers for them; n1
    # numbered none.
    assert int(cluster_info(nodes[0])["dot_floor"]) >= 2
    assert int(cluster_info(nodes[1])["dot_floor"]) == 0


def test_a_replica_that_missed_the_delete_blocks_collection_then_is_repaired(make_cluster):
    nodes = make_cluster(3, **FAST_GC)
    ring_ready(nodes)
    a = nodes[0].redis()
    for i in range(10):
        assert a.set("miss:%d" % i, "old%d" % i) is True
    c = nodes[2]
    kill(c)
    wait_for(lambda: seen_down(nodes[:2], "n2"), 30, "n2 marked down")
    for i in range(10):
        assert a.delete("miss:%d" % i) == 1  # W=2 of the two left
    # Well past the grace: nothing is collected while n2 (holding the old
    # values) is down; the checks are counted as blocked.
    time.sleep(5)
    assert [collected(n) for n in nodes[:2]] == [0, 0]
    assert int(cluster_info(nodes[0])["tombstone_checks_blocked"]) > 0
    assert dbsize(nodes[0]) == 10
    c.restart()
    wait_for(lambda: seen_up(nodes, "n2"), 30, "n2 up again")
    # The check finds n2's old values, gives it the tombstones, and the
    # next pass collects them everywhere.
    wait_for(lambda: all(dbsize(n) == 0 for n in nodes), 40, "tombstones collected everywhere")
    assert int(cluster_info(nodes[0])["tombstone_repairs"]) + \
        int(cluster_info(nodes[1])["tombstone_repairs"]) > 0
    for i in range(10):
        key = "miss:%d" % i
        assert local_value(c, key) == []
        assert c.redis().execute_command("GETV", key, "R", "3")[1] == []


def test_a_key_written_again_after_collection_is_not_hidden_by_old_contexts(make_cluster):
    nodes = make_cluster(3, **FAST_GC)
    ring_ready(nodes)
    n0 = nodes[0]
    a = n0.redis()
    assert a.set("again", "a") is True
    old_ctx, values = a.execute_command("GETV", "again")
    assert values == [b"a"]
    assert a.delete("again") == 1
    wait_for(lambda: all(dbsize(n) == 0 for n in nodes), 30, "tombstone collected")
    # Written again, then a write with the context read before the delete:
    # it names the old write only, so the new value stays as a sibling.
    assert a.set("again", "b") is True
    assert a.execute_command("SETV", "again", old_ctx, "c") == b"OK"
    _, values = a.execute_command("GETV", "again", "R", "3")
    assert sorted(values) == [b"b", b"c"]
    # The floor is kept across a clean restart (with the replica id).
    floor = int(cluster_info(n0)["dot_floor"])
    assert floor > 0
    n0.restart(signal.SIGTERM)
    # n0 was the seed: it restarts as a cluster of its own, and would learn
    # the ring only from a periodic sync (every 10 s, with a random member).
    assert n0.redis().execute_command("CLUSTER", "JOIN", nodes[1].internode) in (b"OK", "OK", True)
    ring_ready(nodes)
    assert int(cluster_info(n0)["dot_floor"]) == floor
