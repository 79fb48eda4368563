"""Server commands: INFO CONFIG COMMAND TIME SHUTDOWN, and exit on signals."""

import fnmatch
import signal
import time

import pytest

from util import (assert_error, assert_error_prefix, info_fields, keyspace_line,
                  scaled, wait_until)

INFO_SECTIONS = ["server", "clients", "memory", "stats", "keyspace"]


def flat_pairs(reply):
    assert isinstance(reply, list) and len(reply) % 2 == 0, reply
    return list(zip(reply[0::2], reply[1::2]))


# ---- INFO ------------------------------------------------------------------

def test_info_has_standard_sections_of_key_value_lines(c):
    text = c.call("INFO")
    assert isinstance(text, bytes)
    lines = text.decode().split("\r\n")
    for name in INFO_SECTIONS:
        assert "# " + name.capitalize() in lines, "no '# %s' header" % name.capitalize()
    sections = info_fields(text)  # also checks every line is a header or key:value
    for name in INFO_SECTIONS[:-1]:
        assert sections[name], "section %s is empty" % name


def test_info_server_fields(c, server):
    fields = info_fields(c.call("INFO", "server"))["server"]
    assert int(fields["tcp_port"]) == server.port
    assert int(fields["process_id"]) == server.proc.pid
    assert int(fields["uptime_in_seconds"]) >= 0
    assert fields["redis_version"]


def test_info_single_section_only_and_case_insensitive(c):
    assert list(info_fields(c.call("INFO", "server"))) == ["server"]
    assert list(info_fields(c.call("INFO", "KEYSPACE"))) == ["keyspace"]


def test_info_several_sections(c):
    assert list(info_fields(c.call("INFO", "server", "clients"))) == ["server", "clients"]


def test_info_all_and_everything_include_standard_sections(c):
    for arg in ("all", "everything", "default"):
        sections = info_fields(c.call("INFO", arg))
        assert set(INFO_SECTIONS) <= set(sections), arg


def test_info_unknown_section_is_empty(c):
    assert c.call("INFO", "nosuchsection") == b""


def test_info_clients_counts_connections(c, server, connect):
    def connected():
        return int(info_fields(c.call("INFO", "clients"))["clients"]["connected_clients"])
    before = connected()
    extra = [connect(server) for _ in range(3)]
    for conn in extra:
        conn.call("PING")
    assert connected() == before + 3
    for conn in extra:
        conn.close()
    wait_until(lambda: connected() == before, 5, message="connected_clients back down")


def test_info_memory_reports_used_memory(c):
    fields = info_fields(c.call("INFO", "memory"))["memory"]
    assert int(fields["used_memory"]) > 0


def test_info_stats_counts_commands_connections_hits_and_misses(c, server, connect):
    def stats():
        return {k: v for k, v in info_fields(c.call("INFO", "stats"))["stats"].items()}
    c.call("SET", "i:hit", "v")
    s0 = stats()
    c.call("GET", "i:hit")
    c.call("GET", "i:miss")
    c.call("GET", "i:miss")
    connect(server).call("PING")
    s1 = stats()
    assert int(s1["total_commands_processed"]) >= int(s0["total_commands_processed"]) + 4
    assert int(s1["total_connections_received"]) == int(s0["total_connections_received"]) + 1
    assert int(s1["keyspace_hits"]) == int(s0["keyspace_hits"]) + 1
    assert int(s1["keyspace_misses"]) == int(s0["keyspace_misses"]) + 2


def test_info_keyspace_counts_keys_and_expires(c):
    c.call("MSET", "i:a", "1", "i:b", "2", "i:c", "3")
    c.call("EXPIRE", "i:a", "100")
    db0 = info_fields(c.call("INFO", "keyspace"))["keyspace"]["db0"]
    fields = keyspace_line(db0)
    assert list(fields) == ["keys", "expires", "avg_ttl"]
    assert fields["keys"] == 3 and fields["expires"] == 1
    assert fields["avg_ttl"] >= 0


# ---- CONFIG ------------------------------------------------------------------

def test_config_get_returns_name_value_pairs(c):
    pairs = flat_pairs(c.call("CONFIG", "GET", "maxclients"))
    assert len(pairs) == 1
    name, value = pairs[0]
    assert name == b"maxclients" and value.isdigit()


def test_config_get_glob_pattern(c):
    pairs = flat_pairs(c.call("CONFIG", "GET", "max*"))
    names = [n.decode() for n, _ in pairs]
    assert "maxclients" in names
    assert all(fnmatch.fnmatchcase(n, "max*") for n in names), names
    assert len(set(names)) == len(names)
    assert dict(flat_pairs(c.call("CONFIG", "GET", "*")))[b"maxclients"] == dict(pairs)[b"maxclients"]


def test_config_get_several_parameters(c, server):
    pairs = dict(flat_pairs(c.call("CONFIG", "GET", "port", "maxclients")))
    assert pairs[b"port"] == str(server.port).encode()
    assert b"maxclients" in pairs


def test_config_get_unknown_parameter_is_empty(c):
    assert c.call("CONFIG", "GET", "nosuchparameter") == []


def test_config_set_changes_runtime_setting(start_server, connect):
    conn = connect(start_server())
    assert conn.call("CONFIG", "SET", "maxclients", "50") == "OK"
    assert conn.call("CONFIG", "GET", "maxclients") == [b"maxclients", b"50"]


def test_config_set_unknown_parameter_is_error(c):
    assert_error(c.call("CONFIG", "SET", "nosuchparameter", "1"),
                 "ERR Unknown option or number of arguments for CONFIG SET - 'nosuchparameter'")


def test_config_set_bad_value_is_error_and_keeps_old_value(c):
    before = c.call("CONFIG", "GET", "maxclients")
    assert_error_prefix(c.call("CONFIG", "SET", "maxclients", "abc"),
                        "ERR CONFIG SET failed (possibly related to argument 'maxclients')")
    assert c.call("CONFIG", "GET", "maxclients") == before


def test_config_resetstat_zeroes_counters(c):
    for _ in range(20):
        c.call("GET", "i:miss")
    assert c.call("CONFIG", "RESETSTAT") == "OK"
    stats = info_fields(c.call("INFO", "stats"))["stats"]
    assert int(stats["total_commands_processed"]) <= 2
    assert int(stats["total_connections_received"]) == 0
    assert int(stats["keyspace_misses"]) == 0


def test_config_unknown_subcommand(c):
    assert_error(c.call("CONFIG", "FOO"), "ERR unknown subcommand 'FOO'. Try CONFIG HELP.")


# ---- COMMAND -----------------------------------------------------------------

def test_command_count_matches_command_list(c):
    count = c.call("COMMAND", "COUNT")
    assert isinstance(count, int) and count > 50
    entries = c.call("COMMAND")
    assert len(entries) == count
    names = {e[0] for e in entries}
    for name in (b"get", b"set", b"mset", b"scan", b"multi", b"hello", b"command"):
        assert name in names


@pytest.mark.parametrize("name,arity,first,last,step", [
    ("get", 2, 1, 1, 1), ("set", -3, 1, 1, 1), ("mset", -3, 1, -1, 2),
    ("del", -2, 1, -1, 1), ("ping", -1, 0, 0, 0), ("rename", 3, 1, 2, 1),
])
def test_command_info_reports_arity_and_key_positions(c, name, arity, first, last, step):
    reply = c.call("COMMAND", "INFO", name.upper())
    assert len(reply) == 1
    entry = reply[0]
    assert entry[0] == name.encode()
    assert entry[1] == arity
    assert isinstance(entry[2], list)  # flags
    assert entry[3:6] == [first, last, step]


def test_command_info_several_and_unknown(c):
    reply = c.call("COMMAND", "INFO", "get", "nosuchcommand", "set")
    assert [e[0] if e else e for e in reply] == [b"get", None, b"set"]


def test_command_docs_get(c):
    reply = c.call("COMMAND", "DOCS", "get")
    assert isinstance(reply, list) and reply[0] == b"get"
    docs = dict(flat_pairs(reply[1]))
    assert b"summary" in docs and isinstance(docs[b"summary"], bytes)


def test_command_unknown_subcommand(c):
    assert_error(c.call("COMMAND", "FOO"), "ERR unknown subcommand 'FOO'. Try COMMAND HELP.")


# ---- TIME --------------------------------------------------------------------

def test_time_returns_seconds_and_microseconds(c):
    before = time.time()
    reply = c.call("TIME")
    after = time.time()
    assert isinstance(reply, list) and len(reply) == 2
    secs, usecs = reply
    assert isinstance(secs, bytes) and isinstance(usecs, bytes)
    assert 0 <= int(usecs) < 1000000
    t = int(secs) + int(usecs) / 1e6
    assert before - 1 <= t <= after + 1


def test_time_does_not_go_backwards(c):
    last = 0
    for _ in range(50):
        secs, usecs = c.call("TIME")
        t = int(secs) * 1000000 + int(usecs)
        assert t >= last
        last = t


# ---- SHUTDOWN and signals -------------------------------------------------------

def test_shutdown_closes_connection_and_exits_0(start_server, connect):
    srv = start_server()
    conn = connect(srv)
    conn.call("SET", "k", "v")
    conn.send("SHUTDOWN")
    assert conn.read_all_until_close(scaled(10)) == b""
    assert srv.wait_exit(scaled(10)) == 0


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_signal_makes_server_exit_0(start_server, connect, signum):
    srv = start_server()
    conn = connect(srv)
    assert conn.call("PING") == "PONG"
    srv.signal(signum)
    assert srv.wait_exit(scaled(10)) == 0
    assert conn.is_closed_by_peer(scaled(5))
