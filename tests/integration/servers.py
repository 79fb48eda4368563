"""Server processes for the integration tests (the fixtures are in conftest.py).

Which server runs is chosen by the environment (see conftest.py).
A server runs in its own temporary directory on a free port of 127.0.0.1,
with its stdout and stderr captured to a log whose tail is added to the
report of any test that fails while it runs. It is always stopped by PID
(SIGTERM, then SIGKILL after a deadline) and its directory removed. A
server that died on its own, did not exit 0 on SIGTERM, or printed a
sanitizer report makes the test (or the module's last test) error.

Config names use '_' or '-' and become "--name value" options, which both
servers accept.
"""

import atexit
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path

import pytest
import redis

from resp_client import RespConnection, RespError
from util import IS_REDIS, scaled

REPO = Path(__file__).resolve().parents[2]
RINGKV_SERVER = os.environ.get("RINGKV_SERVER", str(REPO / "build" / "ringkv-server"))
REDIS_SERVER = os.environ.get("REDIS_SERVER", "/usr/bin/redis-server")
HOST = "127.0.0.1"

live_servers = []


def _free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


def _option_name(name):
    return name.replace("_", "-")


ENGINE = os.environ.get("RINGKV_TEST_ENGINE", "")

# Settings Redis does not have: dropped when the target is Redis.
RINGKV_ONLY_OPTIONS = {"engine", "fsync", "memtable-bytes", "block-cache-bytes", "blob-threshold",
                       "compaction-rate", "salvage", "http-port", "compression"}


class Server:
    """One server process; see the module comment."""

    def __init__(self, config=None):
        config = dict(config or {})
        # dir=PATH: run on that data directory (a checkpoint, say) instead of
        # a fresh one; it is left in place, the log goes elsewhere.
        self.fixed_dir = config.pop("dir", None)
        if ENGINE and not IS_REDIS:  # RINGKV_TEST_ENGINE: run the suite on another engine
            config.setdefault("engine", ENGINE)
        self.config = {_option_name(k): str(v) for k, v in config.items()}
        self.port = None
        self.host = HOST
        self.proc = None
        self.dir = None
        self.log_path = None
        self.exit_expected = False  # a test shut it down on purpose
        self._saved_log = ""

    # ---- lifecycle ------------------------------------------------------

    def argv(self):
        if IS_REDIS:
            argv = [REDIS_SERVER, "--port", str(self.port), "--bind", HOST,
                    "--save", "", "--appendonly", "no", "--dir", self.dir]
        else:
            # No HTTP port unless a test asks for one (http_port=...): the
            # default 9380 would collide between servers running at once.
            argv = [RINGKV_SERVER, "--port", str(self.port), "--bind", HOST,
                    "--dir", self.dir, "--threads", "2", "--http-port", "0"]
        for name, value in self.config.items():
            if IS_REDIS and name in RINGKV_ONLY_OPTIONS:
                continue
            argv += ["--" + name, value]
        return argv

    def start(self):
        if not IS_REDIS and not os.access(RINGKV_SERVER, os.X_OK):
            pytest.fail("server binary %s is missing (build it, or set RINGKV_SERVER "
                        "or RINGKV_TEST_TARGET=redis)" % RINGKV_SERVER, pytrace=False)
        if self.fixed_dir:
            self.dir = self.fixed_dir
            self.log_path = os.path.join(tempfile.mkdtemp(prefix="ringkv-it-log-"), "server.log")
        else:
            self.dir = tempfile.mkdtemp(prefix="ringkv-it-")
            self.log_path = os.path.join(self.dir, "server.log")
        last_error = None
        for _ in range(5):  # a free port can be taken by someone else meanwhile
            self.port = _free_port()
            log = open(self.log_path, "ab")
            try:
                self.proc = subprocess.Popen(self.argv(), cwd=self.dir, stdin=subprocess.DEVNULL,
                                             stdout=log, stderr=subprocess.STDOUT,
                                             start_new_session=True)
            finally:
                log.close()
            live_servers.append(self)
            try:
                self._wait_ready(scaled(10))
                return self
            except RuntimeError as e:
                last_error = e
                self._reap()
                if "in use" not in self.log_tail():
                    break
        self.proc = None  # nothing left to stop
        self.remove_dir_keep_log()
        raise RuntimeError("%s\n--- server log tail ---\n%s" % (last_error, self.log_tail()))

    def _wait_ready(self, timeout):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError("server exited with status %s during start-up"
                                   % self.proc.returncode)
            try:
                with RespConnection(self.host, self.port, timeout=1.0) as conn:
                    reply = conn.call("PING")
                # PONG, or an error such as NOAUTH: either way it serves.
                if reply == "PONG" or isinstance(reply, RespError):
                    return
            except Exception:  # refused, reset, closed: not ready yet
                pass
            time.sleep(0.02)
        raise RuntimeError("server did not answer PING within %.0fs" % timeout)

    def _reap(self):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
        if self.proc is not None:
            try:
                self.proc.wait(timeout=scaled(10))
            except subprocess.TimeoutExpired:
                pass
        if self in live_servers:
            live_servers.remove(self)

    def restart(self, signum=signal.SIGKILL):
        """Stops the process with signum (SIGKILL: a crash) and starts it
        again on the same directory and port, as an operator would."""
        if self.alive:
            self.proc.send_signal(signum)
            self.proc.wait(timeout=scaled(10))
        log = open(self.log_path, "ab")
        try:
            self.proc = subprocess.Popen(self.argv(), cwd=self.dir, stdin=subprocess.DEVNULL,
                                         stdout=log, stderr=subprocess.STDOUT,
                                         start_new_session=True)
        finally:
            log.close()
        if self not in live_servers:
            live_servers.append(self)
        self._wait_ready(scaled(30))
        return self

    def wait_exit(self, timeout):
        """Wait for the process to exit on its own; return its status."""
        self.exit_expected = True
        try:
            return self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            return None

    def signal(self, signum):
        self.proc.send_signal(signum)

    def stop(self):
        """Stop by PID: SIGTERM, SIGKILL after a deadline. Returns a list of
        problems (empty when the server behaved), and removes the dir."""
        problems = []
        if self.proc is None:
            return problems
        if self.proc.poll() is not None:
            if not self.exit_expected:
                problems.append("server died during the test (status %s)" % self.proc.returncode)
            elif self.proc.returncode != 0:
                problems.append("server exited with status %s" % self.proc.returncode)
        else:
            self.proc.send_signal(signal.SIGTERM)
            try:
                code = self.proc.wait(timeout=scaled(10))
                if code != 0:
                    problems.append("server exited with status %s on SIGTERM" % code)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
                problems.append("server ignored SIGTERM for %.0fs; killed" % scaled(10))
        log = self._log_text()
        if any(m in log for m in ("AddressSanitizer", "LeakSanitizer", "runtime error:")):
            problems.append("sanitizer report in the server log")
        if problems:
            problems.append("--- server log tail ---\n" + self.log_tail())
        if self in live_servers:
            live_servers.remove(self)
        self.remove_dir_keep_log()
        return problems

    def remove_dir_keep_log(self):
        self._saved_log = self._log_text()
        path = os.path.dirname(self.log_path) if self.fixed_dir else self.dir
        if path and os.path.isdir(path):
            shutil.rmtree(path, ignore_errors=True)

    # ---- log ------------------------------------------------------------

    def _log_text(self):
        try:
            with open(self.log_path, "rb") as f:
                return f.read().decode("utf-8", "replace")
        except (OSError, TypeError):
            return self._saved_log

    def log_tail(self, lines=40):
        return "\n".join(self._log_text().splitlines()[-lines:])

    # ---- clients --------------------------------------------------------

    @property
    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def raw(self, timeout=None, **kw):
        return RespConnection(self.host, self.port, timeout=timeout or scaled(10), **kw)

    def redis(self, **kw):
        kw.setdefault("socket_timeout", scaled(10))
        return redis.Redis(host=self.host, port=self.port, **kw)

    def ping_ok(self):
        """True if a new connection gets +PONG (or NOAUTH) promptly."""
        try:
            with self.raw(timeout=scaled(5)) as conn:
                reply = conn.call("PING")
            return reply == "PONG" or (isinstance(reply, RespError) and reply.code == "NOAUTH")
        except Exception:
            return False


def stop_and_check(servers):
    problems = []
    for s in servers:
        problems += s.stop()
    if problems:
        pytest.fail("\n".join(problems), pytrace=False)


@atexit.register
def _kill_leftovers():
    """Last resort if pytest is interrupted before fixtures tear down."""
    for s in list(live_servers):
        if s.alive:
            s.proc.kill()
            s.proc.wait()
        s.remove_dir_keep_log()


def module_server(**config):
    """A module-scoped fixture: one server with this config for a module.
    Use as `name = module_server(requirepass="x")` at module level."""

    @pytest.fixture(scope="module")
    def fixture():
        s = Server(config)
        s.start()
        yield s
        stop_and_check([s])

    return fixture
