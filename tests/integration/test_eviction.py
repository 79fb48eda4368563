"""maxmemory and eviction (ringkv only: the bounds and slack are ringkv's;
see docs/memory.md).

Every policy is filled well past maxmemory, then INFO used_memory must be
within maxmemory plus SLACK_BYTES, evicted_keys must have grown, and the
volatile-* policies must never have evicted a key without a TTL. The limit
is set relative to the server's idle footprint, so the tests also hold
under the sanitizer build (whose allocator counts redzones)."""

import pytest

from resp_client import RespError
from util import assert_error, info_fields, keyspace_line, wait_until

pytestmark = pytest.mark.ringkv_only

OOM = "OOM command not allowed when used memory > 'maxmemory'."
# Used memory may pass maxmemory by what one command adds after its check
# (a 1 KiB value here), by the unpublished allocation of the other event
# loop thread (at most 64 KiB), and by client buffers. 512 KiB covers all
# of them with room; the measured overshoot is reported in docs/memory.md.
SLACK_BYTES = 512 * 1024
HEADROOM_BYTES = 8 * 1024 * 1024
VALUE = "x" * 1000
BATCH = 500

ALL_POLICIES = ["allkeys-lru", "allkeys-lfu", "allkeys-random", "volatile-lru",
                "volatile-lfu", "volatile-random", "volatile-ttl"]



@pytest.fixture
def start_server(start_server):
    """Eviction is the in-memory engine's (docs/memory.md): with the durable
    engine, maxmemory sizes its memtable and block cache instead."""
    return lambda **config: start_server(**{"engine": "memory", **config})

def info(conn, section=None):
    reply = conn.call("INFO", section) if section else conn.call("INFO")
    return info_fields(reply)


def used(conn):
    return int(info(conn, "memory")["memory"]["used_memory"])


def evicted(conn):
    return int(info(conn, "stats")["stats"]["evicted_keys"])


def keys_and_expires(conn):
    ks = info(conn, "keyspace").get("keyspace", {})
    if "db0" not in ks:
        return 0, 0
    line = keyspace_line(ks["db0"])
    return line["keys"], line["expires"]


def limit_from_idle(conn):
    """Sets maxmemory to the idle footprint plus HEADROOM_BYTES."""
    limit = used(conn) + HEADROOM_BYTES
    assert conn.call("CONFIG", "SET", "maxmemory", str(limit)) == "OK"
    return limit


def write(conn, prefix, count, ttl=None, start=0):
    """SETs count keys in pipelined batches; returns the error replies."""
    errors = []
    for base in range(start, start + count, BATCH):
        cmds = []
        for i in range(base, min(base + BATCH, start + count)):
            args = ["SET", "%s:%d" % (prefix, i), VALUE]
            if ttl:
                args += ["EX", str(ttl)]
            cmds.append(args)
        errors += [r for r in conn.pipeline(cmds) if isinstance(r, RespError)]
    return errors


def assert_within_limit(conn, limit):
    u = used(conn)
    print("used_memory - maxmemory = %d bytes" % (u - limit))  # shown with -s
    assert u <= limit + SLACK_BYTES, "used_memory %d is %d over maxmemory %d" % (
        u, u - limit, limit)
    return u


@pytest.mark.parametrize("policy", ALL_POLICIES)
def test_policy_keeps_used_memory_within_maxmemory(start_server, connect, policy):
    srv = start_server(maxmemory_policy=policy)
    c = connect(srv)
    limit = limit_from_idle(c)
    volatile = policy.startswith("volatile")
    persistent = 1000 if volatile else 0
    # Keys without TTL first (volatile-* must keep every one of them), then
    # about five times maxmemory of keys that the policy may evict.
    assert write(c, "p", persistent) == []
    assert write(c, "v", 40000, ttl=3600 if volatile else None) == []
    assert_within_limit(c, limit)
    assert evicted(c) > 0
    keys, _ = keys_and_expires(c)
    assert keys < 40000
    if volatile:
        present = c.pipeline([["EXISTS", "p:%d" % i] for i in range(persistent)])
        assert present == [1] * persistent
        # Keys without TTL push out the volatile ones until none is left;
        # then writes are refused with Redis's -OOM.
        errors = write(c, "q", 20000)
        assert errors, "writes never refused"
        assert all(e.message == OOM for e in errors)
        assert keys_and_expires(c)[1] == 0
        assert c.call("EXISTS", "p:0", "p:999") == 2
        assert_within_limit(c, limit)


@pytest.mark.parametrize("policy", ["volatile-lru", "volatile-lfu", "volatile-random",
                                    "volatile-ttl"])
def test_volatile_policy_without_volatile_keys_refuses_like_noeviction(start_server, connect,
                                                                       policy):
    srv = start_server(maxmemory_policy=policy)
    c = connect(srv)
    limit = limit_from_idle(c)
    errors = write(c, "p", 20000)
    assert errors and all(e.message == OOM for e in errors)
    assert evicted(c) == 0
    assert_within_limit(c, limit)


def test_noeviction_refuses_writes_with_redis_error_and_serves_reads_and_deletes(start_server,
                                                                              connect):
    srv = start_server()
    c = connect(srv)
    assert c.call("CONFIG", "GET", "maxmemory-policy") == [b"maxmemory-policy", b"noeviction"]
    limit = limit_from_idle(c)
    errors = write(c, "k", 20000)
    assert errors and all(e.message == OOM for e in errors)
    assert evicted(c) == 0
    assert_within_limit(c, limit)
    assert c.call("GET", "k:0") == VALUE.encode()
    assert_error(c.call("SET", "new", "v"), OOM)
    assert_error(c.call("APPEND", "k:0", "more"), OOM)
    assert_error(c.call("INCR", "counter"), OOM)
    assert c.call("EXPIRE", "k:1", "100") == 1  # does not need memory
    # In MULTI the refused command flags the transaction (as Redis).
    assert c.call("MULTI") == "OK"
    assert_error(c.call("SET", "new", "v"), OOM)
    assert c.call("EXEC").message.startswith("EXECABORT")
    keys, _ = keys_and_expires(c)
    assert c.call("DEL", *["k:%d" % i for i in range(2000)]) == 2000
    assert c.call("SET", "new", "v") == "OK"
    assert c.call("GET", "new") == b"v"
    assert keys_and_expires(c)[0] == keys - 2000 + 1


def test_config_set_policy_and_limit_at_run_time(start_server, connect):
    srv = start_server()
    c = connect(srv)
    idle = used(c)
    assert write(c, "k", 20000) == []  # about 24 MB, no limit yet
    limit = idle + HEADROOM_BYTES
    assert c.call("CONFIG", "SET", "maxmemory", str(limit),
                  "maxmemory-policy", "allkeys-random") == "OK"
    assert c.call("CONFIG", "GET", "maxmemory") == [b"maxmemory", str(limit).encode()]
    # The background cycle evicts down to the new limit without any write.
    wait_until(lambda: used(c) <= limit + SLACK_BYTES, 20, interval=0.05,
               message="used memory back under the lowered maxmemory")
    mem = info(c, "memory")["memory"]
    assert mem["maxmemory"] == str(limit)
    assert mem["maxmemory_policy"] == "allkeys-random"
    assert mem["maxmemory_human"].endswith("M")
    assert evicted(c) > 0
    assert c.call("CONFIG", "SET", "maxmemory-policy", "noeviction") == "OK"
    # The check precedes the write (as in Redis): one 1 MB value may still
    # land just under the limit; the next is refused.
    replies = [c.call("SET", "big:%d" % i, VALUE * 1000) for i in range(2)]
    assert replies[0] == "OK" or replies[0].message == OOM
    assert_error(replies[1], OOM)
    bad = c.call("CONFIG", "SET", "maxmemory-policy", "sometimes")
    assert isinstance(bad, RespError) and "maxmemory-policy" in bad.message
    for name, default in (("maxmemory-samples", b"5"), ("lfu-log-factor", b"10"),
                          ("lfu-decay-time", b"1")):
        assert c.call("CONFIG", "GET", name) == [name.encode(), default]
    assert c.call("CONFIG", "SET", "maxmemory", "0") == "OK"
    assert c.call("SET", "big:1", VALUE * 1000) == "OK"
    assert c.call("CONFIG", "RESETSTAT") == "OK"
    assert evicted(c) == 0


def test_maxmemory_from_the_command_line(start_server, connect):
    srv = start_server(maxmemory="64mb", maxmemory_policy="allkeys-lru")
    c = connect(srv)
    mem = info(c, "memory")["memory"]
    assert mem["maxmemory"] == str(64 * 1024 * 1024)
    assert mem["maxmemory_human"] == "64.00M"
    assert mem["maxmemory_policy"] == "allkeys-lru"


def test_allkeys_lru_keeps_recently_read_keys(start_server, connect):
    srv = start_server(maxmemory_policy="allkeys-lru")
    c = connect(srv)
    limit_from_idle(c)
    assert write(c, "hot", 500) == []
    for round_ in range(8):
        write(c, "cold", 2000, start=round_ * 2000)
        c.pipeline([["GET", "hot:%d" % i] for i in range(500)])
    present = sum(c.pipeline([["EXISTS", "hot:%d" % i] for i in range(500)]))
    assert present >= 450, "only %d of 500 recently read keys kept" % present


@pytest.mark.parametrize("engine", ["memory", "lsm"])
def test_object_freq_idletime_and_hotkeys(start_server, connect, engine):
    """Access tracking works on both engines (the durable one keeps it in
    its row cache)."""
    srv = start_server(engine=engine, maxmemory_policy="allkeys-lfu")
    c = connect(srv)
    for i in range(100):
        c.call("SET", "cold:%d" % i, "v")
    c.call("SET", "hot", "v")
    c.pipeline([["GET", "hot"]] * 2000)
    freq = c.call("OBJECT", "FREQ", "hot")
    assert 10 <= freq <= 40
    assert c.call("OBJECT", "FREQ", "cold:1") == 5
    assert c.call("OBJECT", "FREQ", "missing") is None
    assert c.call("OBJECT", "IDLETIME", "hot").message.startswith(
        "ERR An LFU maxmemory policy is selected, idle time not tracked.")
    top = c.call("HOTKEYS", "COUNT", "3")
    assert top[0] == b"hot" and top[1] == freq and len(top) == 6
    assert c.call("HOTKEYS")[:2] == [b"hot", freq]
    assert_error(c.call("HOTKEYS", "COUNT", "0"), "ERR COUNT must be between 1 and 1000")
    assert_error(c.call("HOTKEYS", "LIMIT", "3"), "ERR syntax error")
    assert c.call("CONFIG", "SET", "maxmemory-policy", "allkeys-lru") == "OK"
    assert c.call("OBJECT", "FREQ", "hot").message.startswith(
        "ERR An LFU maxmemory policy is not selected, access frequency not tracked.")
    assert c.call("OBJECT", "IDLETIME", "hot") == 0
    c.call("SET", "n", "12")
    assert c.call("OBJECT", "ENCODING", "n") == b"int"
    assert c.call("OBJECT", "ENCODING", "hot") == b"embstr"


def test_durable_engine_at_maxmemory_serves_from_disk(start_server, connect):
    """With the durable engine, maxmemory sizes the memtables, the block
    cache and the row cache (docs/storage.md): writing several times
    maxmemory of data neither evicts nor refuses anything, used memory stays
    within the bound, and every key reads back."""
    limit = 48 * 1024 * 1024
    # Without compression: the one value written to every key would shrink
    # to a fraction of maxmemory on disk (docs/storage.md, Compression).
    srv = start_server(engine="lsm", maxmemory=limit, maxmemory_policy="noeviction",
                       compression="none")
    c = connect(srv)
    count = 150000  # ~150 MB of values: three times maxmemory
    assert write(c, "d", count) == []
    assert_within_limit(c, limit)
    assert evicted(c) == 0
    keys, _ = keys_and_expires(c)
    assert keys == count
    engine = info(c, "engine")["engine"]
    assert int(engine["table_bytes"]) > limit  # the data is on disk
    for base in range(0, count, 5000):
        got = c.pipeline([["GET", "d:%d" % i] for i in range(base, base + 100)])
        assert got == [VALUE.encode()] * 100
    assert_within_limit(c, limit)
