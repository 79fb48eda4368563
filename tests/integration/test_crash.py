"""Crash safety of the durable engine through the server: writers run
SET and DEL against their own keys, the server is SIGKILLed at a random
moment, restarted on the same directory, and every key is checked against
what its writer knows:

- with fsync always, every acknowledged write is there, no acknowledged
  delete is undone, and a key may only show the write that was in flight
  when the server died (acknowledged or not) or nothing newer;
- with fsync everysec, writes acknowledged more than EVERYSEC_BOUND_S
  before the kill are there (a SIGKILL leaves the page cache alone, so in
  practice nothing is lost; power cuts are tested on the engine itself,
  src/engine/lsm_test.c, with the in-memory file system's crash modes);
- never a value that no writer wrote, never an error reply.

A reader checks values while the writers run. The memtable is small so
flushes and compactions happen during the kills, and some values are large
enough to go to blob files. RINGKV_CRASH_KILLS scales the number of kills
(make test-long runs many more).
"""

import os
import random
import re
import signal
import threading
import time

import pytest

from resp_client import ConnectionClosed, RespError
from util import scaled

pytestmark = pytest.mark.ringkv_only

KILLS = int(os.environ.get("RINGKV_CRASH_KILLS", "20"))
WRITERS = 4
# What start-up says about real damage (server/main.c, engine_lsm.c).
DAMAGE = re.compile(r"damage:|is damaged|damage found|skipped [1-9][0-9]* damaged")
KEYS_PER_WRITER = 64
EVERYSEC_BOUND_S = 2.0
ABSENT = None


class KeyHistory:
    """What one key went through in one round: the state it was seen in
    after the last restart (base), then the ops sent since, in order."""

    def __init__(self):
        self.base = ABSENT
        self.ops = []  # [state after the op, ack time or None]

    def allowed(self, durable_index):
        """States the key may be in after a crash, given that ops up to
        durable_index (-1: none) must have survived."""
        states = [self.base] if durable_index < 0 else []
        states += [op[0] for op in self.ops[max(durable_index, 0):]]
        return states


def value_for(writer, key_index, seq, rng):
    size = rng.choice((16, 100, 1000, 5000))  # 5000: a blob file value
    head = b"%d:%d:%d:" % (writer, key_index, seq)
    return head + b"x" * max(0, size - len(head))


def well_formed(value, writer, key_index):
    head = b"%d:%d:" % (writer, key_index)
    if not value.startswith(head):
        return False
    rest = value[len(head):]
    seq, sep, pad = rest.partition(b":")
    return sep == b":" and seq.isdigit() and pad == b"x" * len(pad)


def writer_loop(srv, w, histories, stop, errors, seed):
    rng = random.Random(seed)
    seq = 0
    try:
        conn = srv.raw(timeout=scaled(5))
    except OSError:
        return
    try:
        while not stop.is_set():
            j = rng.randrange(KEYS_PER_WRITER)
            h = histories[w][j]
            seq += 1
            if rng.random() < 0.15:
                op = [ABSENT, None]
                h.ops.append(op)
                reply = conn.call("DEL", "c:%d:%d" % (w, j))
            else:
                value = value_for(w, j, seq, rng)
                op = [value, None]
                h.ops.append(op)
                reply = conn.call("SET", "c:%d:%d" % (w, j), value)
            if isinstance(reply, RespError):
                errors.append("writer %d: %s" % (w, reply))
                return
            op[1] = time.monotonic()
    except (OSError, EOFError, ConnectionError, ConnectionClosed):
        return  # the server died under us: the op in flight is unknown
    finally:
        conn.close()


def reader_loop(srv, stop, errors, seed):
    rng = random.Random(seed)
    try:
        conn = srv.raw(timeout=scaled(5))
    except OSError:
        return
    try:
        while not stop.is_set():
            w, j = rng.randrange(WRITERS), rng.randrange(KEYS_PER_WRITER)
            value = conn.call("GET", "c:%d:%d" % (w, j))
            if isinstance(value, RespError) or (value is not None and
                                                not well_formed(value, w, j)):
                errors.append("reader: c:%d:%d = %r" % (w, j, value))
                return
    except (OSError, EOFError, ConnectionError, ConnectionClosed):
        return
    finally:
        conn.close()


def durable_index(h, fsync, kill_time):
    """Index of the last op that must survive (-1: none)."""
    last = -1
    for i, (_, acked) in enumerate(h.ops):
        if acked is None:
            continue
        if fsync == "always" or acked < kill_time - EVERYSEC_BOUND_S:
            last = i
    return last


def check_round(srv, histories, fsync, kill_time, round_no):
    conn = srv.raw(timeout=scaled(10))
    try:
        for w in range(WRITERS):
            names = ["c:%d:%d" % (w, j) for j in range(KEYS_PER_WRITER)]
            values = conn.call("MGET", *names)
            assert not isinstance(values, RespError), values
            for j, value in enumerate(values):
                h = histories[w][j]
                allowed = h.allowed(durable_index(h, fsync, kill_time))
                assert value in allowed, (
                    "round %d, key c:%d:%d: found %r, allowed %r (ops %d, base %r)"
                    % (round_no, w, j, value and value[:24], [a and a[:24] for a in allowed],
                       len(h.ops), h.base and h.base[:24]))
                h.base = value
                h.ops = []
    finally:
        conn.close()


def crash_rounds(start_server, fsync, kills, seed):
    srv = start_server(engine="lsm", fsync=fsync, memtable_bytes="256kb")
    rng = random.Random(seed)
    histories = [[KeyHistory() for _ in range(KEYS_PER_WRITER)] for _ in range(WRITERS)]
    for round_no in range(kills):
        stop, errors = threading.Event(), []
        threads = [threading.Thread(target=writer_loop,
                                    args=(srv, w, histories, stop, errors, rng.random()))
                   for w in range(WRITERS)]
        threads.append(threading.Thread(target=reader_loop,
                                        args=(srv, stop, errors, rng.random())))
        for t in threads:
            t.start()
        time.sleep(rng.uniform(0.15, 0.6))
        kill_time = time.monotonic()
        srv.proc.send_signal(signal.SIGKILL)
        srv.proc.wait(timeout=scaled(10))
        stop.set()
        for t in threads:
            t.join(timeout=scaled(10))
        assert not errors, errors
        srv.restart()
        # A torn WAL tail is what a kill leaves ("dropped N bytes of a torn
        # WAL tail and skipped 0 damaged bytes"); damage is anything else.
        assert not DAMAGE.search(srv.log_tail(5)), srv.log_tail()
        check_round(srv, histories, fsync, kill_time, round_no)
    return srv


# About 0.4 s per round, more on a loaded machine (make test-long runs 200).
ROUND_LIMIT_S = 1.5


@pytest.mark.watchdog(60 + KILLS * ROUND_LIMIT_S)
def test_fsync_always_keeps_every_acknowledged_write_across_sigkills(start_server):
    crash_rounds(start_server, "always", KILLS, seed=1)


@pytest.mark.watchdog(60 + max(3, KILLS // 4) * ROUND_LIMIT_S)
def test_fsync_everysec_loses_at_most_the_last_seconds_across_sigkills(start_server):
    crash_rounds(start_server, "everysec", max(3, KILLS // 4), seed=2)
