"""Multi-key commands (MGET, MSET, DEL, UNLINK, EXISTS) and counters (INCR,
DECR, INCRBY, DECRBY) in a cluster of real processes: one request per key
through any coordinator, joined into one reply in key order; per-key
failures reported without breaking the reply's shape; the per-command key
limit; RESP3 shapes; clear errors for what is not served."""

import os
import re
import signal
import threading

import pytest
import redis

from cluster import wait_for
from test_cluster import make_cluster, net  # noqa: F401 (fixtures)
from test_cluster_kv import answers, clients, ring_ready

pytestmark = [
    pytest.mark.ringkv_only,
    pytest.mark.skipif(os.environ.get("RINGKV_TEST_ENGINE", "") not in ("", "lsm"),
                       reason="cluster tests run with the default engine only"),
]

KEYS_MAX = 1024  # CKV_MULTI_KEYS_MAX in src/cmd/cmd_ckv.c


def test_mset_then_mget_through_other_coordinators(make_cluster):
    nodes = make_cluster(3)
    ring_ready(nodes)
    a, b, c = clients(nodes)
    pairs = {"mk:%d" % i: "v%d" % i for i in range(200)}
    assert a.mset(pairs) is True
    # Key order is kept, with nil for the keys never written.
    asked = []
    for i in range(200):
        asked += ["mk:%d" % i, "missing:%d" % i]
    got = b.mget(asked)
    assert got == [x for i in range(200) for x in (b"v%d" % i, None)]
    assert c.mget(["mk:%d" % i for i in reversed(range(200))]) == \
        [b"v%d" % i for i in reversed(range(200))]
    # One-key forms, and a key named twice: MSET keeps its last value,
    # MGET answers it twice.
    assert c.mset({"one": "1"}) is True
    assert a.mget("one") == [b"1"]
    assert b.execute_command("MSET", "dup", "first", "x", "y", "dup", "last") is True
    assert a.mget("dup", "dup", "x") == [b"last", b"last", b"y"]
    assert c.get("dup") == b"last"


def test_del_and_exists_of_many_keys(make_cluster):
    nodes = make_cluster(5)
    ring_ready(nodes)
    cl = clients(nodes)
    keys = ["d:%d" % i for i in range(300)]
    assert cl[0].mset({k: k for k in keys}) is True
    # EXISTS counts a key named twice twice, as Redis does.
    assert cl[1].exists("d:0", "d:0", "nope", "d:1") == 3
    assert cl[2].exists(*keys) == 300
    # DEL counts each deleted key once, duplicates and missing keys aside.
    gone = keys[:150]
    assert cl[3].delete(*(gone + ["d:0", "nope:1", "nope:2"])) == 150
    assert cl[4].exists(*gone) == 0
    assert cl[0].mget(gone) == [None] * 150
    assert cl[1].delete(*gone) == 0
    assert cl[2].unlink(*keys) == 150
    assert cl[3].exists(*keys) == 0
    # The one-key forms still answer as before.
    assert cl[4].delete("d:0") == 0
    assert cl[0].exists("d:0") == 0


def test_resp3_and_resp2_reply_shapes(make_cluster):
    nodes = make_cluster(3)
    ring_ready(nodes)
    with nodes[0].raw() as c2, nodes[1].raw() as c3:
        c3.hello(3)
        assert c2.call("MSET", "s:a", "1", "s:b", "22") == "OK"
        assert c3.call("MGET", "s:a", "s:missing", "s:b") == [b"1", None, b"22"]
        assert c3.last_raw == b"*3\r\n$1\r\n1\r\n_\r\n$2\r\n22\r\n"
        assert c2.call("MGET", "s:a", "s:missing") == [b"1", None]
        assert c2.last_raw == b"*2\r\n$1\r\n1\r\n$-1\r\n"
        assert c3.call("EXISTS", "s:a", "s:b", "s:missing") == 2
        assert c3.last_raw == b":2\r\n"
        assert c3.call("DEL", "s:a", "s:b") == 2
        assert c3.call("MGET", "s:a") == [None]
        assert c3.last_raw == b"*1\r\n_\r\n"


def test_limit_arity_and_refusals(make_cluster):
    nodes = make_cluster(3)
    ring_ready(nodes)
    a, b, _ = clients(nodes)
    # Exactly at the limit: served.
    at_limit = ["l:%d" % i for i in range(KEYS_MAX)]
    assert a.mset({k: "x" for k in at_limit}) is True
    assert b.mget(at_limit) == [b"x"] * KEYS_MAX
    assert b.exists(*at_limit) == KEYS_MAX
    # One past it: refused whole, nothing sent.
    past = ["p:%d" % i for i in range(KEYS_MAX + 1)]
    for call in (lambda: a.mset({k: "y" for k in past}), lambda: a.mget(past),
                 lambda: a.delete(*past), lambda: a.exists(*past),
                 lambda: a.unlink(*past)):
        with pytest.raises(redis.ResponseError,
                           match=r"of 1025 keys in a cluster: at most 1024 keys per command"):
            call()
    assert b.exists(*past[:KEYS_MAX]) == 0
    assert a.delete(*at_limit) == KEYS_MAX
    # Wrong arity: MSET with a key and no value, MGET of nothing.
    with pytest.raises(redis.ResponseError, match=r"wrong number of arguments for 'mset'"):
        a.execute_command("MSET", "k1", "v1", "k2")
    with pytest.raises(redis.ResponseError, match=r"wrong number of arguments for 'mget'"):
        a.execute_command("MGET")
    with pytest.raises(redis.ResponseError, match=r"wrong number of arguments for 'del'"):
        a.execute_command("DEL")
    assert b.exists("k1") == 0
    # Not inside MULTI/EXEC, as for one-key commands.
    p = a.pipeline(transaction=True)
    p.mget("k1", "k2")
    with pytest.raises(redis.ResponseError, match="MULTI/EXEC"):
        p.execute()
    # Pipelined multi-key commands keep their order while each waits.
    p = a.pipeline(transaction=False)
    for i in range(30):
        p.mset({"pp%d:a" % i: i, "pp%d:b" % i: -i})
        p.mget("pp%d:a" % i, "pp%d:b" % i, "pp%d:c" % i)
        p.exists("pp%d:a" % i, "pp%d:c" % i)
    out = p.execute()
    want = []
    for i in range(30):
        want += [True, [str(i).encode(), str(-i).encode(), None], 1]
    assert out == want
    # What is not served says what is.
    with pytest.raises(redis.ResponseError,
                       match=r"'append' is not served in a cluster yet \(served: GET, .*MGET, "
                             r"MSET, DEL, UNLINK, EXISTS, INCR, DECR, INCRBY, DECRBY"):
        a.append("k", "v")


def test_many_clients_run_multi_key_commands_at_once(make_cluster):
    # Completions race the sending of the rest of a command's keys, and
    # other commands' completions: every reply must still be whole.
    nodes = make_cluster(3)
    ring_ready(nodes)
    errors = []

    def work(t):
        cl = nodes[t % len(nodes)].redis()
        keys = ["t%d:%d" % (t, i) for i in range(50)]
        try:
            for it in range(40):
                assert cl.mset({k: "%d:%s" % (it, k) for k in keys}) is True
                assert cl.mget(keys + ["t%d:none" % t]) == \
                    [("%d:%s" % (it, k)).encode() for k in keys] + [None]
                assert cl.exists(*keys) == 50
                if it % 2:
                    assert cl.delete(*keys) == 50
        except Exception as e:  # reported below, not lost in the thread
            errors.append(e)

    ts = [threading.Thread(target=work, args=(t,)) for t in range(6)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    assert errors == []


def kill(nodes):
    for n in nodes:
        n.proc.send_signal(signal.SIGKILL)
        n.proc.wait()


def restart(nodes):
    for n in nodes:
        if not n.alive:
            n.restart()


def test_per_key_failures_keep_the_reply_shape(make_cluster):
    nodes = make_cluster(3, cluster_timeout=500)
    ring_ready(nodes)
    a = nodes[0].redis()
    keys = ["f:%d" % i for i in range(20)]
    assert a.mset({k: "1" for k in keys}) is True
    kill(nodes[1:])
    try:
        per_key_failures(nodes[0], a, keys)
    finally:
        restart(nodes)
    wait_for(lambda: answers(lambda: a.mget(keys)) is not None, 20, "a quorum read again")


def per_key_failures(node, a, keys):
    # N=3, W=2 with two of three nodes down: every key fails, and the reply
    # counts them and quotes the first failure.
    with pytest.raises(redis.ResponseError,
                       match=r"^NOQUORUM MSET failed for 20 of 20 keys \(not atomic in a "
                             r"cluster.*first failure: NOQUORUM write needed 2 of 3 replicas"):
        a.mset({k: "2" for k in keys})
    with pytest.raises(redis.ResponseError, match=r"^NOQUORUM DEL failed for 19 of 19 keys"):
        a.delete(*keys[1:])
    with pytest.raises(redis.ResponseError, match=r"^NOQUORUM UNLINK failed for 2 of 2 keys"):
        a.unlink(keys[0], keys[1], keys[0])
    # Reads fail whole with the first failure, never an array with holes.
    with pytest.raises(redis.ResponseError, match=r"^NOQUORUM read needed 2 of 3 replicas"):
        a.mget(keys)
    with pytest.raises(redis.ResponseError, match=r"^NOQUORUM read needed 2 of 3 replicas"):
        a.exists(*keys)
    with node.raw() as raw:
        reply = raw.call("MSET", "f:0", "3", "f:1", "3")
        assert reply.startswith("NOQUORUM MSET failed for 2 of 2 keys"), reply


def test_partial_failures_name_how_many_keys_failed(make_cluster):
    # N=3 of 5 with two nodes down: a key whose replicas include both fails
    # its W=2, the others are written.
    nodes = make_cluster(5, cluster_timeout=500)
    ring_ready(nodes)
    keys = ["pf:%d" % i for i in range(100)]
    kill(nodes[3:])
    try:
        with nodes[0].raw() as raw:
            reply = raw.call("MSET", *[x for k in keys for x in (k, "v")])
    finally:
        restart(nodes)
    if reply == "OK":
        pytest.skip("every key kept a write quorum (sloppy quorum or placement)")
    text = str(reply)
    m = re.match(r"^[A-Z]+ MSET failed for (\d+) of 100 keys \(not atomic in a cluster: the keys "
                 r"that did not fail took effect\); first failure: [A-Z]+ ", text)
    assert m, text
    failed = int(m.group(1))
    assert 0 < failed < 100, text
    # The keys that did not fail were written (a failed one may have been
    # written on a replica that took it).
    ring_ready(nodes)
    b = nodes[1].redis()
    wait_for(lambda: answers(lambda: b.mget(keys)) is not None, 20, "a quorum read again")
    assert sum(v == b"v" for v in b.mget(keys)) >= 100 - failed


def test_incr_arguments_are_checked_like_redis(make_cluster):
    nodes = make_cluster(3)
    ring_ready(nodes)
    a = nodes[0].redis()
    with pytest.raises(redis.ResponseError, match=r"^value is not an integer or out of range"):
        a.execute_command("INCRBY", "n", "1.5")
    with pytest.raises(redis.ResponseError, match=r"^value is not an integer or out of range"):
        a.execute_command("DECRBY", "n", "x")
    with pytest.raises(redis.ResponseError, match=r"^decrement would overflow"):
        a.execute_command("DECRBY", "n", str(-2 ** 63))
    with pytest.raises(redis.ResponseError, match=r"wrong number of arguments for 'incr'"):
        a.execute_command("INCR", "n", "2")


def settles(cl, key, want):
    """Every coordinator reads want for the counter key (INCRBY 0), once
    the replicas that acknowledged no write yet have caught up."""
    wait_for(lambda: all(answers(lambda c=c: c.incrby(key, 0)) == want for c in cl), 10,
             "every coordinator sees %s = %d" % (key, want))


def test_incr_decr_incrby_decrby(make_cluster):
    nodes = make_cluster(3)
    ring_ready(nodes)
    cl = clients(nodes)
    a = cl[0]
    assert a.incr("cnt") == 1
    assert a.incr("cnt") == 2
    assert a.incrby("cnt", 10) == 12
    assert a.decr("cnt") == 11
    assert a.decrby("cnt", 5) == 6
    assert a.incrby("cnt", -7) == -1
    assert a.decrby("cnt", -1) == 0
    settles(cl, "cnt", 0)
    assert cl[1].incrby("cnt", 2 ** 62) == 2 ** 62
    assert cl[2].decr("other") == -1
    settles(cl, "other", -1)


def test_concurrent_increments_through_different_coordinators(make_cluster):
    nodes = make_cluster(3)
    ring_ready(nodes)
    threads, per_thread = 4, 200
    errors = []

    def work(i):
        cl = nodes[i % len(nodes)].redis()
        try:
            for _ in range(per_thread):
                cl.incr("shared")
        except Exception as e:  # reported below, not lost in the thread
            errors.append(e)

    ts = [threading.Thread(target=work, args=(i,)) for i in range(threads)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    assert errors == []
    settles(clients(nodes), "shared", threads * per_thread)
