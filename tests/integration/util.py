"""Helpers shared by the integration tests (no fixtures: see conftest.py)."""

import os
import time

from resp_client import RespError

TARGET = "redis" if os.environ.get("RINGKV_TEST_TARGET", "").lower() == "redis" else "ringkv"
IS_REDIS = TARGET == "redis"
ASAN = os.environ.get("RINGKV_ASAN", "") not in ("", "0")
TIME_SCALE = float(os.environ.get("RINGKV_TIME_SCALE") or (5 if ASAN else 1))


def scaled(seconds):
    """A deadline, stretched for sanitizer builds."""
    return seconds * TIME_SCALE


def arity_error(command):
    return "ERR wrong number of arguments for '%s' command" % command.lower()


NOT_INTEGER = "ERR value is not an integer or out of range"
NOT_FLOAT = "ERR value is not a valid float"
SYNTAX = "ERR syntax error"
OVERFLOW = "ERR increment or decrement would overflow"
NO_SUCH_KEY = "ERR no such key"


def error_text(reply):
    """The text of an error reply; fails the test if it is not an error."""
    assert isinstance(reply, RespError), "expected an error reply, got %r" % (reply,)
    return reply.message


def assert_error(reply, expected):
    """The reply is exactly the error `expected`."""
    assert error_text(reply) == expected


def assert_error_prefix(reply, prefix):
    text = error_text(reply)
    assert text.startswith(prefix), "error %r does not start with %r" % (text, prefix)


def wait_until(predicate, timeout, interval=0.01, message="condition"):
    """Poll predicate() until it is true; fail with message at the deadline.
    Returns the last value of predicate()."""
    deadline = time.monotonic() + scaled(timeout)
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() >= deadline:
            raise AssertionError("%s not reached within %.1fs" % (message, scaled(timeout)))
        time.sleep(interval)


def info_fields(text):
    """Parse an INFO reply (bytes or str) into {section: {key: value}}."""
    if isinstance(text, bytes):
        text = text.decode()
    sections = {}
    current = None
    for line in text.split("\r\n"):
        if not line:
            continue
        if line.startswith("# "):
            current = sections.setdefault(line[2:].strip().lower(), {})
            continue
        assert current is not None, "INFO line before any section header: %r" % line
        assert ":" in line, "INFO line without ':': %r" % line
        key, value = line.split(":", 1)
        current[key] = value
    return sections


def keyspace_line(value):
    """'keys=3,expires=1,avg_ttl=0' -> {'keys': 3, 'expires': 1, 'avg_ttl': 0}"""
    return {k: int(v) for k, v in (item.split("=", 1) for item in value.split(","))}
