"""Connection commands: PING ECHO HELLO AUTH (no password configured) SELECT
QUIT RESET CLIENT, and protected mode. Password-protected servers are in
test_auth.py."""

import pytest

from resp_client import RespError
from util import NOT_INTEGER, SYNTAX, assert_error, assert_error_prefix, scaled, wait_until

NAME_ERROR = "ERR Client names cannot contain spaces, newlines or special characters."
HELLO_KEYS = {b"server", b"version", b"proto", b"id", b"mode", b"role", b"modules"}


def hello_fields(reply):
    """HELLO's reply as a dict, from a RESP2 flat array or a RESP3 map."""
    if isinstance(reply, dict):
        return dict(reply)
    assert isinstance(reply, list) and len(reply) % 2 == 0, reply
    return dict(zip(reply[0::2], reply[1::2]))


def client_list_entries(text):
    """CLIENT LIST text -> list of {field: value}."""
    if isinstance(text, bytes):
        text = text.decode()
    entries = []
    for line in text.split("\n"):
        if line.strip():
            entries.append(dict(f.split("=", 1) for f in line.split(" ") if "=" in f))
    return entries


# ---- PING ECHO -------------------------------------------------------------

def test_ping_replies_pong(c):
    assert c.call("PING") == "PONG"
    assert c.last_raw == b"+PONG\r\n"


def test_ping_with_message_echoes_it_as_bulk(c):
    assert c.call("PING", "hello world") == b"hello world"
    assert c.last_raw == b"$11\r\nhello world\r\n"


def test_echo_is_binary_safe(c):
    payload = bytes(range(256)) + b"\r\n\x00end"
    assert c.call("ECHO", payload) == payload
    assert c.call("ECHO", "") == b""


def test_commands_are_case_insensitive(c):
    assert c.call("ping") == "PONG"
    assert c.call("PiNg") == "PONG"
    assert c.call("echo", "x") == b"x"


# ---- HELLO -----------------------------------------------------------------

def test_hello_2_returns_flat_server_info(c):
    reply = c.call("HELLO", "2")
    assert isinstance(reply, list) and len(reply) == 14
    fields = hello_fields(reply)
    assert set(fields) == HELLO_KEYS
    assert fields[b"proto"] == 2
    assert fields[b"id"] == c.call("CLIENT", "ID")
    assert fields[b"mode"] == b"standalone"
    assert fields[b"role"] == b"master"
    assert fields[b"modules"] == []
    assert isinstance(fields[b"server"], bytes) and isinstance(fields[b"version"], bytes)


def test_hello_without_arguments_reports_current_protocol(c):
    assert hello_fields(c.call("HELLO"))[b"proto"] == 2


@pytest.mark.parametrize("version", ["4", "1", "0", "-1", "100"])
def test_hello_unsupported_version_is_noproto(c, version):
    assert_error(c.call("HELLO", version), "NOPROTO unsupported protocol version")
    assert c.call("GET", "c:missing") is None
    assert c.last_raw == b"$-1\r\n"  # still RESP2


def test_hello_non_integer_version(c):
    assert_error(c.call("HELLO", "abc"), "ERR Protocol version is not an integer or out of range")


def test_hello_setname_sets_client_name(c):
    hello_fields(c.call("HELLO", "2", "SETNAME", "myname"))
    assert c.call("CLIENT", "GETNAME") == b"myname"


def test_hello_setname_rejects_bad_name(c):
    assert_error(c.call("HELLO", "3", "SETNAME", "a b"), NAME_ERROR)
    assert c.call("CLIENT", "GETNAME") is None
    assert c.last_raw == b"$-1\r\n"  # the failed HELLO did not switch to RESP3


@pytest.mark.parametrize("opts,bad", [(("FOO",), "FOO"), (("SETNAME",), "SETNAME"),
                                      (("AUTH", "default"), "AUTH")])
def test_hello_bad_option_is_syntax_error(c, opts, bad):
    assert_error(c.call("HELLO", "2", *opts), "ERR Syntax error in HELLO option '%s'" % bad)


def test_hello_auth_default_user_without_password_configured_succeeds(c):
    assert hello_fields(c.call("HELLO", "2", "AUTH", "default", "anything"))[b"proto"] == 2


# ---- AUTH without a password ------------------------------------------------

def test_auth_password_without_requirepass_is_error(c):
    assert_error(c.call("AUTH", "x"),
                 "ERR AUTH <password> called without any password configured for the "
                 "default user. Are you sure your configuration is correct?")


def test_auth_default_user_without_requirepass_is_ok(c):
    assert c.call("AUTH", "default", "whatever") == "OK"


def test_auth_unknown_user_is_wrongpass(c):
    assert_error(c.call("AUTH", "nobody", "x"),
                 "WRONGPASS invalid username-password pair or user is disabled.")


def test_auth_too_many_arguments_is_syntax_error(c):
    assert_error(c.call("AUTH", "a", "b", "c"), SYNTAX)


# ---- SELECT ------------------------------------------------------------------

def test_select_0_is_ok(c):
    assert c.call("SELECT", "0") == "OK"
    c.call("SET", "c:k", "v")
    assert c.call("SELECT", "0") == "OK"
    assert c.call("GET", "c:k") == b"v"


def test_select_non_integer_is_error(c):
    assert_error(c.call("SELECT", "abc"), NOT_INTEGER)


@pytest.mark.parametrize("db", ["-1", "16", "100000"])
def test_select_out_of_range_is_error(c, db):
    assert_error_prefix(c.call("SELECT", db), "ERR")


@pytest.mark.ringkv_only
@pytest.mark.parametrize("db", ["1", "2", "15"])
def test_select_other_db_is_error_in_ringkv(c, db):
    c.call("SET", "c:k", "v")
    assert_error_prefix(c.call("SELECT", db), "ERR")
    assert c.call("GET", "c:k") == b"v"


# ---- QUIT RESET ----------------------------------------------------------------

def test_quit_replies_ok_and_closes(server, connect):
    conn = connect(server)
    assert conn.call("QUIT") == "OK"
    assert conn.is_closed_by_peer(scaled(5))


def test_commands_pipelined_after_quit_are_not_run(server, connect):
    conn = connect(server)
    conn.send_many([("SET", "c:q1", "1"), ("QUIT",), ("SET", "c:q2", "2")])
    assert conn.read_reply() == "OK"
    assert conn.read_reply() == "OK"
    assert conn.is_closed_by_peer(scaled(5))
    check = connect(server)
    assert check.call("MGET", "c:q1", "c:q2") == [b"1", None]
    check.call("DEL", "c:q1")


def test_reset_restores_connection_defaults(c):
    c.hello(3)
    c.call("CLIENT", "SETNAME", "before")
    c.call("WATCH", "c:w")
    c.call("MULTI")
    c.call("SET", "c:r", "1")
    assert c.call("RESET") == "RESET"
    assert c.last_raw == b"+RESET\r\n"
    assert c.call("GET", "c:r") is None
    assert c.last_raw == b"$-1\r\n"  # back to RESP2
    assert c.call("CLIENT", "GETNAME") is None
    assert_error(c.call("EXEC"), "ERR EXEC without MULTI")


def test_reset_forgets_watched_keys(c, server, connect):
    c.call("WATCH", "c:w")
    c.call("RESET")
    connect(server).call("SET", "c:w", "x")
    c.call("MULTI")
    c.call("GET", "c:w")
    assert c.call("EXEC") == [b"x"]


# ---- CLIENT ----------------------------------------------------------------------

def test_client_id_is_unique_and_stable(server, connect):
    a, b = connect(server), connect(server)
    ida, idb = a.call("CLIENT", "ID"), b.call("CLIENT", "ID")
    assert isinstance(ida, int) and isinstance(idb, int) and ida > 0 and idb > 0
    assert ida != idb
    assert a.call("CLIENT", "ID") == ida
    assert connect(server).call("CLIENT", "ID") > max(ida, idb)


def test_client_setname_and_getname(c):
    assert c.call("CLIENT", "GETNAME") is None
    assert c.call("CLIENT", "SETNAME", "worker-1") == "OK"
    assert c.call("CLIENT", "GETNAME") == b"worker-1"
    assert c.call("CLIENT", "SETNAME", "") == "OK"
    assert c.call("CLIENT", "GETNAME") is None


@pytest.mark.parametrize("name", ["a b", "a\nb", "tab\there", "\x01", "caf\xe9"])
def test_client_setname_rejects_spaces_and_special_characters(c, name):
    c.call("CLIENT", "SETNAME", "good")
    assert_error(c.call("CLIENT", "SETNAME", name), NAME_ERROR)
    assert c.call("CLIENT", "GETNAME") == b"good"


def test_client_list_shows_every_client(c, server, connect):
    c.call("CLIENT", "SETNAME", "lister")
    other = connect(server)
    other.call("CLIENT", "SETNAME", "listed")
    text = c.call("CLIENT", "LIST")
    assert isinstance(text, bytes) and text.endswith(b"\n")
    entries = client_list_entries(text)
    for e in entries:
        assert {"id", "addr", "name"} <= set(e), e
    by_name = {e["name"]: e for e in entries}
    assert int(by_name["lister"]["id"]) == c.call("CLIENT", "ID")
    assert int(by_name["listed"]["id"]) == other.call("CLIENT", "ID")
    host, port = other.sock.getsockname()
    assert by_name["listed"]["addr"] == "%s:%d" % (host, port)


def test_client_kill_by_id_closes_that_connection(c, server, connect):
    victim = connect(server)
    vid = victim.call("CLIENT", "ID")
    assert c.call("CLIENT", "KILL", "ID", str(vid)) == 1
    assert victim.is_closed_by_peer(scaled(5))
    assert c.call("CLIENT", "KILL", "ID", str(vid)) == 0
    assert c.call("PING") == "PONG"


def test_client_kill_by_addr_closes_that_connection(c, server, connect):
    victim = connect(server)
    victim.call("PING")
    addr = "%s:%d" % victim.sock.getsockname()
    assert c.call("CLIENT", "KILL", "ADDR", addr) == 1
    assert victim.is_closed_by_peer(scaled(5))
    assert c.call("CLIENT", "KILL", "ADDR", addr) == 0


def test_client_kill_old_form_by_address(c, server, connect):
    victim = connect(server)
    victim.call("PING")
    addr = "%s:%d" % victim.sock.getsockname()
    assert c.call("CLIENT", "KILL", addr) == "OK"
    assert victim.is_closed_by_peer(scaled(5))
    assert_error(c.call("CLIENT", "KILL", addr), "ERR No such client")


def test_client_kill_bad_arguments(c):
    assert_error(c.call("CLIENT", "KILL", "ID", "abc"), "ERR client-id should be greater than 0")
    assert_error(c.call("CLIENT", "KILL", "FOO", "bar"), SYNTAX)


def test_client_unknown_subcommand(c):
    assert_error(c.call("CLIENT", "FOO"), "ERR unknown subcommand 'FOO'. Try CLIENT HELP.")


def test_client_list_drops_closed_connections(c, server, connect):
    gone = connect(server)
    gone.call("CLIENT", "SETNAME", "shortlived")
    gone.close()
    wait_until(lambda: b"name=shortlived " not in c.call("CLIENT", "LIST"), 5,
               message="closed client removed from CLIENT LIST")


# ---- protected mode ----------------------------------------------------------------

def test_protected_mode_denies_non_loopback_source_without_password(start_server, connect):
    srv = start_server()
    local = connect(srv)
    assert local.call("PING") == "PONG"
    outsider = connect(srv, source_address=("127.0.0.2", 0))
    outsider.send("PING")
    reply = outsider.read_reply()
    assert isinstance(reply, RespError) and reply.message.startswith("DENIED"), reply
    assert outsider.is_closed_by_peer(scaled(5))
    assert local.call("PING") == "PONG"


def test_protected_mode_accepts_non_loopback_source_with_password(start_server, connect):
    srv = start_server(requirepass="secret")
    outsider = connect(srv, source_address=("127.0.0.2", 0))
    assert_error(outsider.call("PING"), "NOAUTH Authentication required.")
    assert outsider.call("AUTH", "secret") == "OK"
    assert outsider.call("PING") == "PONG"
