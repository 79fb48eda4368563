"""Observability through the Redis protocol: INFO sections and fields,
latencystats, errorstats, SLOWLOG and LATENCY (docs/observability.md).

Everything not marked ringkv_only behaves the same against Redis 7."""

import time

import pytest

from resp_client import RespError
from util import IS_REDIS, info_fields, wait_until

ALL_SECTIONS = ["server", "clients", "memory", "persistence", "stats", "cpu", "keyspace",
                "commandstats", "latencystats", "errorstats"]

REDIS_FIELDS = {
    "server": ["redis_version", "process_id", "tcp_port", "uptime_in_seconds"],
    "clients": ["connected_clients", "maxclients"],
    "memory": ["used_memory", "used_memory_rss", "mem_fragmentation_ratio"],
    "persistence": ["loading"],
    "stats": ["total_commands_processed", "instantaneous_ops_per_sec", "keyspace_hits",
              "keyspace_misses", "expired_keys", "evicted_keys", "total_error_replies",
              "total_connections_received"],
    "cpu": ["used_cpu_sys", "used_cpu_user"],
}


def info(c, *sections):
    return info_fields(c.call("INFO", *sections))


def parse_kv(value):
    """'calls=3,usec=5' -> {'calls': '3', 'usec': '5'}"""
    return dict(item.split("=", 1) for item in value.split(","))


def pairs(reply):
    """A RESP2 flat map [k1, v1, k2, v2] as a dict with str keys."""
    assert isinstance(reply, list) and len(reply) % 2 == 0, reply
    return {(k.decode() if isinstance(k, bytes) else str(k)): v
            for k, v in zip(reply[0::2], reply[1::2])}


# ---- INFO ---------------------------------------------------------------------

def test_info_all_has_every_section_with_redis_fields(c):
    c.call("SET", "k", "v")
    c.call("GET", "k")
    c.call("INCR", "k")  # an error, so errorstats has a line
    sections = info(c, "all")
    for name in ALL_SECTIONS:
        assert name in sections, "INFO all lacks section %s" % name
    for name, fields in REDIS_FIELDS.items():
        for field in fields:
            assert field in sections[name], "INFO %s lacks %s" % (name, field)
    assert float(sections["memory"]["mem_fragmentation_ratio"]) > 0
    assert int(sections["memory"]["used_memory"]) > 0
    assert "cmdstat_get" in sections["commandstats"]
    assert "latency_percentiles_usec_get" in sections["latencystats"]
    assert "errorstat_ERR" in sections["errorstats"]


def test_info_default_has_errorstats_but_not_latencystats(c):
    c.call("INCR", "nope", "extra")
    sections = info(c)
    assert "errorstats" in sections
    assert "latencystats" not in sections
    assert "commandstats" not in sections


def test_single_sections_are_selectable(c):
    assert list(info(c, "latencystats")) == ["latencystats"]
    assert list(info(c, "errorstats")) == ["errorstats"]


def test_keyspace_hits_and_misses_count_reads(c):
    assert c.call("CONFIG", "RESETSTAT") == "OK"
    c.call("SET", "here", "1")
    c.call("GET", "here")
    c.call("GET", "here")
    c.call("GET", "absent")
    stats = info(c, "stats")["stats"]
    assert int(stats["keyspace_hits"]) == 2
    assert int(stats["keyspace_misses"]) == 1


def test_expired_keys_are_counted(c):
    assert c.call("CONFIG", "RESETSTAT") == "OK"
    c.call("SET", "short", "1", "PX", "1")
    time.sleep(0.02)
    assert c.call("GET", "short") is None
    assert int(info(c, "stats")["stats"]["expired_keys"]) == 1


def test_commandstats_count_calls_and_time(c):
    assert c.call("CONFIG", "RESETSTAT") == "OK"
    for i in range(50):
        c.call("SET", "k%d" % i, "v")
    stat = parse_kv(info(c, "commandstats")["commandstats"]["cmdstat_set"])
    assert int(stat["calls"]) == 50
    assert float(stat["usec_per_call"]) >= 0
    assert int(stat["failed_calls"]) == 0


# ---- latencystats ------------------------------------------------------------------

def percentiles(c, command):
    line = info(c, "latencystats")["latencystats"].get("latency_percentiles_usec_" + command)
    assert line, "no latencystats line for %s" % command
    return {k: float(v) for k, v in parse_kv(line).items()}


def test_latencystats_percentiles_are_present_and_ordered(c):
    assert c.call("CONFIG", "RESETSTAT") == "OK"
    c.pipeline([("SET", "k%d" % i, "x" * 100) for i in range(500)])
    c.pipeline([("GET", "k%d" % i) for i in range(500)])
    for command in ("get", "set"):
        p = percentiles(c, command)
        # Redis's default is 50 99 99.9; ringkv adds p95 (ringkv-cli top shows it).
        expected = ["p50", "p99", "p99.9"] if IS_REDIS else ["p50", "p95", "p99", "p99.9"]
        assert list(p) == expected
        assert 0 < p["p50"] <= p["p99"] <= p["p99.9"] < 1e6, p


def test_latency_tracking_info_percentiles_setting(c):
    old = c.call("CONFIG", "GET", "latency-tracking-info-percentiles")[1]
    try:
        assert c.call("CONFIG", "SET", "latency-tracking-info-percentiles", "50 90 100") == "OK"
        c.call("GET", "k")
        assert list(percentiles(c, "get")) == ["p50", "p90", "p100"]
    finally:
        c.call("CONFIG", "SET", "latency-tracking-info-percentiles", old)


def test_latency_tracking_off_records_no_histograms(c):
    try:
        assert c.call("CONFIG", "SET", "latency-tracking", "no") == "OK"
        assert c.call("CONFIG", "RESETSTAT") == "OK"
        for _ in range(10):
            c.call("GET", "k")
        lines = info(c, "latencystats")["latencystats"]
        assert "latency_percentiles_usec_get" not in lines
        # Command counts go on regardless.
        stat = parse_kv(info(c, "commandstats")["commandstats"]["cmdstat_get"])
        assert int(stat["calls"]) == 10
    finally:
        c.call("CONFIG", "SET", "latency-tracking", "yes")
    c.call("GET", "k")
    assert "latency_percentiles_usec_get" in info(c, "latencystats")["latencystats"]


# ---- errorstats ----------------------------------------------------------------------

def test_errorstats_count_every_error_reply_by_code(c):
    assert c.call("CONFIG", "RESETSTAT") == "OK"
    c.call("SET", "s", "text")
    assert isinstance(c.call("INCR", "s"), RespError)           # failed: ERR
    assert isinstance(c.call("NOSUCHCOMMAND"), RespError)       # rejected: ERR
    assert isinstance(c.call("GET"), RespError)                 # rejected (arity): ERR
    assert c.call("MULTI") == "OK"
    assert isinstance(c.call("GET"), RespError)                 # rejected in MULTI: ERR
    reply = c.call("EXEC")
    assert isinstance(reply, RespError) and reply.code == "EXECABORT"
    sections = info(c, "errorstats", "stats", "commandstats")
    errs = sections["errorstats"]
    assert parse_kv(errs["errorstat_ERR"]) == {"count": "4"}
    assert parse_kv(errs["errorstat_EXECABORT"]) == {"count": "1"}
    assert int(sections["stats"]["total_error_replies"]) == 5
    incr = parse_kv(sections["commandstats"]["cmdstat_incr"])
    assert int(incr["failed_calls"]) == 1
    get = parse_kv(sections["commandstats"]["cmdstat_get"])
    assert int(get["rejected_calls"]) == 2


def test_resetstat_clears_errorstats(c):
    c.call("INCR", "a", "b")
    assert info(c, "errorstats")["errorstats"]
    assert c.call("CONFIG", "RESETSTAT") == "OK"
    assert info(c, "errorstats")["errorstats"] == {}
    assert int(info(c, "stats")["stats"]["total_error_replies"]) == 0


# ---- SLOWLOG -----------------------------------------------------------------------

@pytest.fixture
def slow(start_server, connect):
    """A server that logs every command."""
    srv = start_server(slowlog_log_slower_than=0, slowlog_max_len=128)
    conn = connect(srv)
    assert conn.call("SLOWLOG", "RESET") == "OK"
    return conn


def entries_for(conn, name):
    return [e for e in conn.call("SLOWLOG", "GET", -1) if e[3][0].lower() == name]


def test_slowlog_get_has_redis_entry_shape(slow):
    assert slow.call("CLIENT", "SETNAME", "probe") == "OK"
    assert slow.call("SET", "key", "value") == "OK"
    log = slow.call("SLOWLOG", "GET")
    assert isinstance(log, list) and log
    entry = next(e for e in log if e[3][0].lower() == b"set")
    ident, when, usec, argv, addr, name = entry
    assert isinstance(ident, int) and ident >= 0
    assert abs(when - time.time()) < 60
    assert isinstance(usec, int) and usec >= 0
    assert argv == [b"SET", b"key", b"value"]
    assert addr.startswith(b"127.0.0.1:")
    assert name == b"probe"
    # Newest first, ids increasing with time.
    ids = [e[0] for e in log]
    assert ids == sorted(ids, reverse=True)


def test_slowlog_trims_long_arguments_and_long_commands(slow):
    slow.call("SET", "big", "a" * 200)
    argv = entries_for(slow, b"set")[0][3]
    assert argv[2] == b"a" * 128 + b"... (72 more bytes)"
    keys = ["k%d" % i for i in range(40)]
    slow.call("DEL", *keys)
    argv = entries_for(slow, b"del")[0][3]
    assert len(argv) == 32
    assert argv[:31] == [b"DEL"] + [k.encode() for k in keys[:30]]
    assert argv[31] == b"... (10 more arguments)"


def test_slowlog_len_get_count_and_reset(slow):
    for i in range(5):
        slow.call("SET", "k%d" % i, "v")
    assert slow.call("SLOWLOG", "LEN") >= 5
    assert len(slow.call("SLOWLOG", "GET", 2)) == 2
    assert len(slow.call("SLOWLOG", "GET", 0)) == 0
    assert isinstance(slow.call("SLOWLOG", "GET", -2), RespError)
    assert slow.call("SLOWLOG", "RESET") == "OK"
    assert slow.call("SLOWLOG", "LEN") <= 1  # at most the RESET itself
    assert isinstance(slow.call("SLOWLOG", "HELP"), list)
    assert isinstance(slow.call("SLOWLOG", "NOPE"), RespError)


def test_slowlog_max_len_bounds_the_log(slow):
    assert slow.call("CONFIG", "SET", "slowlog-max-len", "3") == "OK"
    for i in range(10):
        slow.call("SET", "k%d" % i, "v")
    assert slow.call("SLOWLOG", "LEN") == 3
    log = slow.call("SLOWLOG", "GET", -1)
    assert len(log) == 3
    assert log[0][3][0] == b"SLOWLOG" or log[0][3][:2] == [b"SET", b"k9"]


def test_slowlog_threshold_minus_one_disables(slow):
    assert slow.call("CONFIG", "SET", "slowlog-log-slower-than", "-1") == "OK"
    assert slow.call("SLOWLOG", "RESET") == "OK"
    for i in range(5):
        slow.call("SET", "k%d" % i, "v")
    assert slow.call("SLOWLOG", "LEN") == 0


def test_slowlog_default_threshold_skips_fast_commands(c):
    assert c.call("CONFIG", "GET", "slowlog-log-slower-than")[1] == b"10000"
    assert c.call("CONFIG", "GET", "slowlog-max-len")[1] == b"128"
    assert c.call("SLOWLOG", "RESET") == "OK"
    for i in range(20):
        c.call("SET", "k%d" % i, "v")
    assert all(e[3][0].lower() != b"set" for e in c.call("SLOWLOG", "GET", -1))


@pytest.mark.ringkv_only
def test_slowlog_redacts_passwords(slow):
    slow.call("AUTH", "secret-password")
    slow.call("HELLO", "2", "AUTH", "default", "other-secret")
    text = repr(slow.call("SLOWLOG", "GET", -1))
    assert "secret" not in text
    assert "(redacted)" in text


# ---- LATENCY ------------------------------------------------------------------------

def make_slow_command(conn):
    """Runs KEYS over enough keys that it takes at least a millisecond."""
    for start in range(0, 100000, 10000):
        args = []
        for i in range(start, start + 10000):
            args += ["key:%d" % i, "v"]
        assert conn.call("MSET", *args) == "OK"
    assert len(conn.call("KEYS", "*")) == 100000


def test_latency_monitor_records_slow_commands(start_server, connect):
    srv = start_server(latency_monitor_threshold=1)
    conn = connect(srv)
    assert conn.call("LATENCY", "LATEST") == []
    make_slow_command(conn)
    latest = conn.call("LATENCY", "LATEST")
    events = {e[0]: e for e in latest}
    assert b"command" in events, latest
    name, when, last_ms, max_ms = events[b"command"]
    assert abs(when - time.time()) < 60
    assert 1 <= last_ms <= max_ms
    history = conn.call("LATENCY", "HISTORY", "command")
    assert history and all(len(s) == 2 and s[1] >= 1 for s in history)
    assert conn.call("LATENCY", "RESET") >= 1
    assert conn.call("LATENCY", "LATEST") == []
    assert conn.call("LATENCY", "HISTORY", "command") == []
    assert isinstance(conn.call("LATENCY", "HELP"), list)


def test_latency_monitor_is_off_by_default(c):
    assert c.call("CONFIG", "GET", "latency-monitor-threshold") == [
        b"latency-monitor-threshold", b"0"]
    assert c.call("LATENCY", "LATEST") == []


def test_latency_histogram_reports_calls_and_cumulative_buckets(c):
    assert c.call("CONFIG", "RESETSTAT") == "OK"
    for i in range(100):
        c.call("SET", "k%d" % i, "v")
    reply = pairs(c.call("LATENCY", "HISTOGRAM", "set", "nosuchcommand"))
    assert list(reply) == ["set"]
    detail = pairs(reply["set"])
    assert detail["calls"] == 100
    buckets = pairs(detail["histogram_usec"])
    bounds = [int(k) for k in buckets]
    counts = list(buckets.values())
    assert bounds == sorted(bounds) and all(b & (b - 1) == 0 for b in bounds)
    assert counts == sorted(counts) and counts[-1] == 100
