"""A server started with requirepass: NOAUTH before AUTH, WRONGPASS, AUTH and
HELLO AUTH, RESET de-authenticates; CONFIG SET requirepass at run time."""

import pytest
import redis

from servers import module_server
from util import arity_error, assert_error, scaled

NOAUTH = "NOAUTH Authentication required."
WRONGPASS = "WRONGPASS invalid username-password pair or user is disabled."
HELLO_NOAUTH = ("NOAUTH HELLO must be called with the client already authenticated, otherwise "
                "the HELLO AUTH <user> <pass> option can be used to authenticate the "
                "client and select the RESP protocol version at the same time")


auth_server = module_server(requirepass="secret")


@pytest.fixture
def a(auth_server, connect):
    """An unauthenticated connection to the password-protected server."""
    return connect(auth_server)


@pytest.mark.parametrize("cmd", [("PING",), ("GET", "k"), ("SET", "k", "v"), ("ECHO", "x"),
                                 ("CLIENT", "ID"), ("DBSIZE",), ("MULTI",), ("INFO",)],
                         ids=lambda v: v[0])
def test_commands_before_auth_get_noauth(a, cmd):
    assert_error(a.call(*cmd), NOAUTH)


def test_unknown_command_and_arity_errors_come_before_noauth(a):
    assert_error(a.call("NOSUCHCOMMAND"),
                 "ERR unknown command 'NOSUCHCOMMAND', with args beginning with: ")
    assert_error(a.call("GET"), arity_error("get"))
    assert_error(a.call("PING"), NOAUTH)


def test_noauth_does_not_run_the_command(a, auth_server, connect):
    assert_error(a.call("SET", "au:k", "v"), NOAUTH)
    ok = connect(auth_server)
    assert ok.call("AUTH", "secret") == "OK"
    assert ok.call("EXISTS", "au:k") == 0


@pytest.mark.parametrize("args", [("wrong",), ("default", "wrong"), ("nobody", "secret"),
                                  ("",)], ids=["password", "user-password", "user", "empty"])
def test_auth_with_wrong_credentials_is_wrongpass(a, args):
    assert_error(a.call("AUTH", *args), WRONGPASS)
    assert_error(a.call("PING"), NOAUTH)


def test_auth_password_then_commands_work(a):
    assert a.call("AUTH", "secret") == "OK"
    assert a.call("PING") == "PONG"
    assert a.call("SET", "au:k", "v") == "OK"
    assert a.call("GET", "au:k") == b"v"
    a.call("DEL", "au:k")


def test_auth_default_user_and_password(a):
    assert a.call("AUTH", "default", "secret") == "OK"
    assert a.call("PING") == "PONG"


def test_failed_auth_after_success_keeps_authentication(a):
    assert a.call("AUTH", "secret") == "OK"
    assert_error(a.call("AUTH", "wrong"), WRONGPASS)
    assert a.call("PING") == "PONG"


def test_hello_without_auth_is_noauth(a):
    assert_error(a.call("HELLO", "3"), HELLO_NOAUTH)
    assert_error(a.call("PING"), NOAUTH)


def test_hello_with_auth_authenticates_and_switches_protocol(a):
    reply = a.call("HELLO", "3", "AUTH", "default", "secret", "SETNAME", "authed")
    assert isinstance(reply, dict) and reply[b"proto"] == 3
    assert a.call("CLIENT", "GETNAME") == b"authed"
    assert a.call("GET", "au:missing") is None
    assert a.last_raw == b"_\r\n"


def test_hello_with_wrong_auth_is_wrongpass(a):
    assert_error(a.call("HELLO", "2", "AUTH", "default", "nope"), WRONGPASS)
    assert_error(a.call("PING"), NOAUTH)


def test_quit_and_reset_are_allowed_before_auth(a, auth_server, connect):
    assert a.call("RESET") == "RESET"
    assert a.call("QUIT") == "OK"
    assert a.is_closed_by_peer(scaled(5))


def test_reset_deauthenticates(a):
    a.call("AUTH", "secret")
    assert a.call("RESET") == "RESET"
    assert_error(a.call("PING"), NOAUTH)


def test_redis_py_with_password(auth_server):
    client = auth_server.redis(password="secret")
    try:
        assert client.ping() is True
        client.set("au:py", "1")
        assert client.get("au:py") == b"1"
        client.delete("au:py")
    finally:
        client.close()
    bad = auth_server.redis(password="wrong")
    try:
        with pytest.raises((redis.AuthenticationError, redis.ResponseError), match="WRONGPASS"):
            bad.ping()
    finally:
        bad.close()


def test_config_set_requirepass_applies_to_new_connections(start_server, connect):
    srv = start_server()
    admin = connect(srv)
    assert admin.call("CONFIG", "SET", "requirepass", "newpass") == "OK"
    assert admin.call("CONFIG", "GET", "requirepass") == [b"requirepass", b"newpass"]
    fresh = connect(srv)
    assert_error(fresh.call("PING"), NOAUTH)
    assert fresh.call("AUTH", "newpass") == "OK"
    assert fresh.call("PING") == "PONG"
    assert admin.call("PING") == "PONG"  # connected before: stays authenticated
    assert admin.call("CONFIG", "SET", "requirepass", "") == "OK"
    assert connect(srv).call("PING") == "PONG"
