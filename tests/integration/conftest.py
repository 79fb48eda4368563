"""Fixtures of the integration suite (servers: see servers.py).

Target, by environment:
  RINGKV_TEST_TARGET=redis   run against Debian's redis-server (the reference:
                             every test not marked ringkv_only must pass there)
  otherwise                  run $RINGKV_SERVER (default <repo>/build/ringkv-server)
  RINGKV_ASAN=1              sanitizer build: every deadline is stretched
  RINGKV_TIME_SCALE=x        stretch deadlines by x (overrides the ASan factor)
  REDIS_SERVER               the redis-server binary (default /usr/bin/redis-server)

Fixtures:
  start_server(**config)   factory; a server per call, stopped after the test
  server                   one default server shared by a test module
  c                        a raw RESP2 connection to `server`, after FLUSHALL
  r                        a redis-py client to `server`, after FLUSHALL
  connect                  factory of extra raw connections to any server

Every test also runs under a watchdog (SIGALRM) so that a hung server fails
the test instead of hanging the suite.
"""

import signal
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
pytest.register_assert_rewrite("util")

from servers import (REDIS_SERVER, RINGKV_SERVER, Server, live_servers,  # noqa: E402
                     module_server, stop_and_check)
from util import IS_REDIS, TARGET, scaled  # noqa: E402

TEST_WATCHDOG_S = 60


# ---- pytest hooks --------------------------------------------------------

def pytest_configure(config):
    config.addinivalue_line(
        "markers", "ringkv_only: behaviour of ringkv that Redis lacks; skipped against Redis")
    config.addinivalue_line(
        "markers", "watchdog(seconds): this test's own limit instead of TEST_WATCHDOG_S")


def pytest_collection_modifyitems(config, items):
    if not IS_REDIS:
        return
    skip = pytest.mark.skip(reason="ringkv-only behaviour (target is Redis)")
    for item in items:
        if "ringkv_only" in item.keywords:
            item.add_marker(skip)


def pytest_report_header(config):
    if IS_REDIS:
        return "integration target: redis (%s)" % REDIS_SERVER
    return "integration target: ringkv (%s)" % RINGKV_SERVER


class WatchdogExpired(Exception):
    pass


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_call(item):
    marker = item.get_closest_marker("watchdog")
    limit = scaled(marker.args[0] if marker else TEST_WATCHDOG_S)

    def _watchdog(signum, frame):
        raise WatchdogExpired("test ran longer than %.0fs" % limit)

    old = signal.signal(signal.SIGALRM, _watchdog)
    signal.setitimer(signal.ITIMER_REAL, limit)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    rep = outcome.get_result()
    if rep.failed and call.when == "call":
        for s in list(live_servers):
            rep.sections.append(("server :%s log tail (%s)" % (s.port, TARGET), s.log_tail()))


# ---- fixtures ------------------------------------------------------------

@pytest.fixture
def start_server():
    """Factory: start_server(**config) -> a running Server, stopped at the
    end of the test."""
    servers = []

    def start(**config):
        s = Server(config)
        servers.append(s)
        return s.start()

    yield start
    stop_and_check(servers)


server = module_server()
server.__doc__ = "One default server shared by a test module."


@pytest.fixture
def connect():
    """Factory: connect(server, **kw) -> RespConnection, closed at the end."""
    conns = []

    def make(srv, **kw):
        conn = srv.raw(**kw)
        conns.append(conn)
        return conn

    yield make
    for conn in conns:
        conn.close()


@pytest.fixture
def c(server):
    if not server.alive:
        pytest.fail("the module's server is not running", pytrace=False)
    conn = server.raw()
    assert conn.call("FLUSHALL") == "OK"
    yield conn
    conn.close()


@pytest.fixture
def r(server):
    if not server.alive:
        pytest.fail("the module's server is not running", pytrace=False)
    client = server.redis()
    client.flushall()
    yield client
    client.close()
