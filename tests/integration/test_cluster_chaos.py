"""Chaos: five real processes under concurrent load while a nemesis kills
and restarts nodes, pauses them (SIGSTOP), and cuts the network (a 2|3
partition, a one-way cut; nftables on loopback addresses), one fault at a
time, for RINGKV_CHAOS_S seconds (default 60). Then everything is healed,
the hints handed back, and every key is read at R=N against a model of what
the clients were told:

- every value a read returns was written by some client to that key;
- the last acknowledged (W=2) write of a key is among its values at R=3,
  unless a later write that failed (and so may or may not have taken
  effect) superseded it; the value a plain GET shows (the last writer's)
  is that write's, or one of those later ones': so a deleted key does not
  come back and an overwritten value does not reappear as the winner;
- a counter (INCRBY from every client) holds at least the sum of the
  acknowledged increments and at most that plus the failed ones.

Each register key has a single writing client, so "the last acknowledged
write" is well defined; writes that failed with an error or a timeout are
"maybe" writes. Older values may remain as siblings (a plain SET or DEL
supersedes only what its coordinating replica holds, which under faults
can be stale; docs/cluster.md), but never as the winner over the last
acknowledged write.
"""

import os
import random
import signal
import threading
import time

import pytest
import redis

from cluster import nft_available, status, wait_for
from test_cluster import make_cluster, net  # noqa: F401 (fixtures)
from test_cluster_faults import cluster_info, hints_pending
from test_cluster_kv import ring_ready
from util import scaled

pytestmark = [
    pytest.mark.ringkv_only,
    pytest.mark.skipif(os.environ.get("RINGKV_TEST_ENGINE", "") not in ("", "lsm"),
                       reason="cluster tests run with the default engine only"),
]

CHAOS_S = float(os.environ.get("RINGKV_CHAOS_S", "60"))
NODES = 5
THREADS = 3
KEYS_PER_THREAD = 50
COUNTERS = 4
CLIENT_TIMEOUT = 3.0
# Two writes of one key at least this far apart get distinct millisecond
# timestamps, so the last writer wins LWW without a tie-break by dot.
SAME_KEY_GAP = 0.003
MIN_ACKED_WRITES = 500
# How long each kind of fault lasts (seconds, uniform in the range).
HOLD = {"kill": (4.0, 9.0), "pause": (3.0, 8.0), "partition": (5.0, 9.0), "one-way": (3.0, 6.0)}


class Op:
    __slots__ = ("kind", "value", "acked", "error")

    def __init__(self, kind, value):
        self.kind = kind      # "set" or "del"
        self.value = value    # bytes for a set, None for a del
        self.acked = None     # True: acknowledged; False: failed (maybe)
        self.error = None     # why it failed

    @property
    def late(self):
        """A client-side timeout: the command may still sit in the socket
        buffer of a paused node, and take effect when it resumes, after
        the client's later writes. Any server can do that; it may win."""
        return isinstance(self.error, redis.TimeoutError)


class Worker(threading.Thread):
    """One client: its own register keys (single writer), plus increments
    of the shared counters. Errors are counted, never raised."""

    def __init__(self, tid, nodes, avoid, stop, seed):
        super().__init__(name="chaos-client-%d" % tid, daemon=True)
        self.tid = tid
        self.nodes = nodes
        self.avoid = avoid          # indices the nemesis has down or paused now
        self.stop = stop
        self.rng = random.Random(seed)
        self.keys = ["chaos:t%d:k%d" % (tid, i) for i in range(KEYS_PER_THREAD)]
        self.history = {k: [] for k in self.keys}
        self.written = {k: set() for k in self.keys}
        self.last_done = {k: 0.0 for k in self.keys}
        self.incr_acked = [0] * COUNTERS
        self.incr_maybe = [0] * COUNTERS
        self.stats = {}
        self.errors = {}
        self.client = None
        self.ops_on_client = 0
        self.crashed = None

    def count(self, kind, outcome):
        self.stats[(kind, outcome)] = self.stats.get((kind, outcome), 0) + 1

    def connect(self):
        if self.client is not None:
            try:
                self.client.close()
            except Exception:
                pass
        live = [n for n in self.nodes if n.index not in self.avoid] or self.nodes
        node = self.rng.choice(live)
        self.client = redis.Redis(host=node.host, port=node.port,
                                  socket_timeout=CLIENT_TIMEOUT,
                                  socket_connect_timeout=1.0)
        self.ops_on_client = 0

    def failed(self, kind, exc):
        self.count(kind, "failed")
        if isinstance(exc, redis.ResponseError):
            reason = str(exc).split(" ")[0]
        else:
            reason = type(exc).__name__
        self.errors[reason] = self.errors.get(reason, 0) + 1
        if not isinstance(exc, redis.ResponseError):
            self.client = None  # the connection is in an unknown state

    def run(self):
        try:
            self.loop()
        except BaseException as e:  # a bug in the test itself: reported by the main thread
            self.crashed = e

    def loop(self):
        seq = 0
        while not self.stop.is_set():
            if self.client is None or self.ops_on_client >= 40:
                self.connect()
            self.ops_on_client += 1
            roll = self.rng.random()
            if roll < 0.3:
                i = self.rng.randrange(COUNTERS)
                delta = self.rng.randint(1, 5)
                try:
                    self.client.incrby("chaos:ctr%d" % i, delta)
                    self.incr_acked[i] += delta
                    self.count("incr", "acked")
                except redis.RedisError as e:
                    self.incr_maybe[i] += delta
                    self.failed("incr", e)
                continue
            key = self.rng.choice(self.keys)
            wait = self.last_done[key] + SAME_KEY_GAP - time.monotonic()
            if wait > 0:
                time.sleep(wait)
            seq += 1
            if roll < 0.88:
                value = b"t%d-%d" % (self.tid, seq)
                op = Op("set", value)
                self.written[key].add(value)
            else:
                op = Op("del", None)
            self.history[key].append(op)
            try:
                if op.kind == "set":
                    ok = self.client.set(key, op.value)
                    assert ok is True, ok
                else:
                    self.client.delete(key)
                op.acked = True
                self.count(op.kind, "acked")
            except redis.RedisError as e:
                op.acked = False
                op.error = e
                self.failed(op.kind, e)
            self.last_done[key] = time.monotonic()


class Nemesis:
    """One fault at a time, each undone after a few seconds."""

    def __init__(self, nodes, net, avoid, rng):
        self.nodes = nodes
        self.net = net
        self.avoid = avoid
        self.rng = rng
        self.kinds = ["kill", "pause"] + (["partition", "one-way"] if nft_available() else [])
        self.done = {k: 0 for k in self.kinds}
        self.log = []
        self.paused = set()

    def run(self, stop, end):
        """Faults until the load stops at end. The last one is a partition
        (a pause without nftables) that spans that moment, so that writes
        still in flight when it is undone are checked too: no later write
        of their key covers them up."""
        order = []
        while not stop.is_set():
            if not order:  # every kind once per round, in a random order
                order = list(self.kinds)
                self.rng.shuffle(order)
            left = end - time.monotonic()
            if left < 10:
                kind = "partition" if "partition" in self.kinds else "pause"
                hold = max(left, 0) + self.rng.uniform(0.5, 2.0)
            else:
                kind = order.pop()
                # Long enough, mostly, for the victim to be marked down
                # (about 5 s): writes then go to fallbacks as hints.
                hold = self.rng.uniform(*HOLD[kind])
            getattr(self, kind.replace("-", "_"))(hold)
            self.done[kind] += 1
            stop.wait(self.rng.uniform(1.0, 2.5))

    def note(self, text):
        self.log.append("%5.1fs %s" % (time.monotonic() - self.t0, text))

    def kill(self, hold):
        node = self.rng.choice(self.nodes)
        self.avoid.add(node.index)
        node.proc.send_signal(signal.SIGKILL)
        node.proc.wait()
        self.note("kill n%d for %.1fs" % (node.index, hold))
        time.sleep(hold)
        node.restart()
        self.avoid.discard(node.index)

    def pause(self, hold):
        node = self.rng.choice(self.nodes)
        self.avoid.add(node.index)
        self.paused.add(node)
        node.proc.send_signal(signal.SIGSTOP)
        self.note("pause n%d for %.1fs" % (node.index, hold))
        try:
            time.sleep(hold)
        finally:
            node.proc.send_signal(signal.SIGCONT)
            self.paused.discard(node)
            self.avoid.discard(node.index)

    def partition(self, hold):
        idx = [n.index for n in self.nodes]
        self.rng.shuffle(idx)
        a, b = sorted(idx[:2]), sorted(idx[2:])
        for x in a:
            for y in b:
                self.net.cut(x, y)
        self.note("partition %s | %s for %.1fs" % (a, b, hold))
        try:
            time.sleep(hold)
        finally:
            self.net.heal()

    def one_way(self, hold):
        a, b = self.rng.sample([n.index for n in self.nodes], 2)
        self.net.cut(a, b, both=False)
        self.note("one-way cut n%d -> n%d for %.1fs" % (a, b, hold))
        try:
            time.sleep(hold)
        finally:
            self.net.heal()

    def undo_all(self):
        for node in list(self.paused):
            try:
                node.proc.send_signal(signal.SIGCONT)
            except ProcessLookupError:
                pass
        self.paused.clear()
        self.net.heal()
        for node in self.nodes:
            if not node.alive:
                node.restart()
        self.avoid.clear()


def all_up_everywhere(nodes):
    names = {"n%d" % n.index for n in nodes}
    for n in nodes:
        st = status(n)
        if set(st) != names or any(s != "up" for s, _ in st.values()):
            return False
    return True


def read_all(node, key, attempts=20):
    """GETV key R 3 through node, retried while quorums settle; then the
    plain GET (the last writer's value)."""
    last = None
    for _ in range(attempts):
        try:
            c = node.redis(socket_timeout=scaled(5))
            _, values = c.execute_command("GETV", key, "R", "3")
            return values, c.get(key)
        except redis.RedisError as e:
            last = e
            time.sleep(0.25)
    raise AssertionError("GETV %s R 3 kept failing: %r" % (key, last))


def check_key(key, values, winner, history, written):
    """Problems of one register key against the client's model (list)."""
    problems = []
    strangers = [v for v in values if v not in written]
    if winner is not None and winner not in written:
        strangers.append(winner)
    if strangers:
        problems.append("%s: values no client wrote: %r" % (key, strangers))
    last = max((i for i, op in enumerate(history) if op.acked), default=None)
    later = history[last + 1:] if last is not None else history
    # A failed write takes effect when it failed or not at all, except a
    # client-side timeout, which may take effect later (Op.late).
    later = [op for op in history[:last] if op.late] + later
    allowed = {op.value for op in later}  # None: a delete
    if last is None:
        allowed.add(None)  # nothing acknowledged: absent is fine
    else:
        acked = history[last]
        allowed.add(acked.value)
        if acked.kind == "set" and acked.value not in values and not later:
            problems.append("%s: acknowledged write %r lost (R=3 values %r, GET %r)"
                            % (key, acked.value, values, winner))
    if winner not in allowed:
        older = [op for op in history[:last] if op.acked is False and op.value == winner] \
            if last else []
        problems.append(
            "%s: GET shows %r; the last acknowledged op is %s, later failed ops %s%s "
            "(R=3 values %r)" % (
                key, winner,
                "none" if last is None else "%s %r" % (history[last].kind, history[last].value),
                [(op.kind, op.value) for op in later],
                "; it is that of an EARLIER write that failed (%s)"
                % " / ".join(sorted({str(op.error) for op in older})) if older else "",
                values))
    return problems


@pytest.mark.watchdog(CHAOS_S + 150)
def test_chaos_kills_pauses_partitions_under_load(make_cluster, net):
    t_start = time.monotonic()
    nodes = make_cluster(NODES, cluster_timeout=500)
    ring_ready(nodes)
    seed = int(os.environ.get("RINGKV_CHAOS_SEED") or random.randrange(1 << 30))
    print("\nchaos seed %d (RINGKV_CHAOS_SEED), %d s" % (seed, CHAOS_S))
    rng = random.Random(seed)
    avoid = set()
    stop = threading.Event()
    workers = [Worker(t, nodes, avoid, stop, rng.randrange(1 << 30)) for t in range(THREADS)]
    nemesis = Nemesis(nodes, net, avoid, rng)
    t_stop = []
    timer = threading.Timer(CHAOS_S, lambda: (t_stop.append(time.monotonic()), stop.set()))
    timer.daemon = True
    try:
        for w in workers:
            w.start()
        nemesis.t0 = time.monotonic()
        timer.start()
        nemesis.run(stop, nemesis.t0 + CHAOS_S)
    finally:
        stop.set()
        timer.cancel()
        try:
            nemesis.undo_all()
        finally:
            for w in workers:
                w.join(timeout=CLIENT_TIMEOUT * 3 + 5)
    assert not any(w.is_alive() for w in workers), "a client thread did not stop"
    for w in workers:
        if w.crashed:
            raise w.crashed
    t_load = time.monotonic()

    # Converge: everyone sees everyone up, every hint handed back.
    wait_for(lambda: all_up_everywhere(nodes), 40, "every node sees every node up")
    wait_for(lambda: hints_pending(nodes) == 0, 40, "every hint handed back")
    t_converged = time.monotonic()

    # A first R=3 pass repairs the replicas that missed writes (read repair
    # is asynchronous); the second one is the check.
    keys = [k for w in workers for k in w.keys] + ["chaos:ctr%d" % i for i in range(COUNTERS)]
    for i, k in enumerate(keys):
        read_all(nodes[i % NODES], k)
    time.sleep(1.0)
    problems = []
    siblings = 0
    for w in workers:
        for i, k in enumerate(w.keys):
            values, winner = read_all(nodes[(i + w.tid) % NODES], k)
            siblings += len(values) > 1
            problems += check_key(k, values, winner, w.history[k], w.written[k])
    counters = []
    for i in range(COUNTERS):
        key = "chaos:ctr%d" % i
        _, got = read_all(nodes[i % NODES], key)
        got = int(got) if got is not None else 0
        acked = sum(w.incr_acked[i] for w in workers)
        maybe = sum(w.incr_maybe[i] for w in workers)
        counters.append("%s=%d (acked %d, +%d maybe)" % (key, got, acked, maybe))
        if not acked <= got <= acked + maybe:
            problems.append("%s: %d, outside [%d, %d]: %s" % (
                key, got, acked, acked + maybe,
                "an acknowledged increment was lost" if got < acked
                else "more than every increment sent"))

    # Summary (pytest -s shows it).
    stats, errors = {}, {}
    for w in workers:
        for k, v in w.stats.items():
            stats[k] = stats.get(k, 0) + v
        for k, v in w.errors.items():
            errors[k] = errors.get(k, 0) + v
    infos = [cluster_info(n) for n in nodes]
    total = lambda f: sum(int(i.get(f, 0)) for i in infos)  # noqa: E731
    acked_writes = sum(v for (kind, outcome), v in stats.items() if outcome == "acked")
    print("faults: %s" % ", ".join("%s x%d" % kv for kv in nemesis.done.items()))
    for line in nemesis.log:
        print("  " + line)
    for kind in ("set", "del", "incr"):
        print("%-5s acked %6d  failed %5d" % (kind, stats.get((kind, "acked"), 0),
                                              stats.get((kind, "failed"), 0)))
    print("errors: %s" % (errors or "none"))
    print("counters: %s" % "; ".join(counters))
    print("keys with siblings at the end: %d of %d" % (siblings, THREADS * KEYS_PER_THREAD))
    print("hints stored %d, delivered %d (counts since each node's last start)"
          % (total("hints_stored"), total("hints_delivered")))
    print("time: setup %.1fs, load %.1fs, last fault undone %.1fs later, convergence %.1fs, "
          "checks %.1fs" % (nemesis.t0 - t_start, t_stop[0] - nemesis.t0, t_load - t_stop[0],
                            t_converged - t_load, time.monotonic() - t_converged))

    assert not problems, "%d problems:\n%s" % (len(problems), "\n".join(problems[:40]))
    assert acked_writes > MIN_ACKED_WRITES, "too little load got through: %s" % stats
    assert all(n >= 1 for n in nemesis.done.values()), nemesis.done
