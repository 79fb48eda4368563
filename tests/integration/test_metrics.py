"""The HTTP port (--http-port): /health, /metrics in the Prometheus text
format (checked by promtool and scraped by a real Prometheus), its limits,
and that it never holds up the client port (docs/observability.md).

promtool and prometheus come from Debian's `prometheus` package, which
scripts/deps.sh installs; the tests that need them skip when it is missing.
"""

import json
import os
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request

import pytest

from util import scaled, wait_until

pytestmark = pytest.mark.ringkv_only

HOST = "127.0.0.1"
PROMTOOL = shutil.which("promtool") or "/usr/bin/promtool"
PROMETHEUS = shutil.which("prometheus") or "/usr/bin/prometheus"


def free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def web():
    """A server with an HTTP port: (server, http_port)."""
    from servers import Server, stop_and_check
    for _ in range(5):
        port = free_port()
        srv = Server({"http_port": port})
        try:
            srv.start()
        except RuntimeError:
            continue
        yield srv, port
        stop_and_check([srv])
        return
    pytest.fail("could not start a server with an HTTP port")


def http_get(port, path, method="GET", timeout=None):
    """(status, headers, body) of one request."""
    req = urllib.request.Request("http://%s:%d%s" % (HOST, port, path), method=method)
    try:
        with urllib.request.urlopen(req, timeout=timeout or scaled(10)) as resp:
            return resp.status, dict(resp.headers), resp.read()
    except urllib.error.HTTPError as e:
        return e.code, dict(e.headers), e.read()


def raw_http(port, data, timeout=None):
    """Sends raw bytes, returns every byte until the server closes."""
    with socket.create_connection((HOST, port), timeout=timeout or scaled(10)) as s:
        s.sendall(data)
        out = b""
        while True:
            chunk = s.recv(65536)
            if not chunk:
                return out
            out += chunk


SAMPLE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[^}]*\})? (\S+)$')


def parse_metrics(text):
    """{(name, frozenset(labels)): value}, and {family: type}."""
    samples, types = {}, {}
    for line in text.splitlines():
        if line.startswith("# TYPE "):
            _, _, name, kind = line.split(" ", 3)
            types[name] = kind
            continue
        if not line or line.startswith("#"):
            continue
        m = SAMPLE.match(line)
        assert m, "not a sample line: %r" % line
        labels = frozenset(re.findall(r'(\w+)="((?:[^"\\]|\\.)*)"', m.group(2) or ""))
        samples[(m.group(1), labels)] = float(m.group(3))
    return samples, types


def metric(samples, name, **labels):
    return samples[(name, frozenset(labels.items()))]


# ---- /health and routing ------------------------------------------------------------

def test_health_is_200_ok(web):
    _, port = web
    status, headers, body = http_get(port, "/health")
    assert status == 200
    assert body == b"ok\n"
    assert headers["Content-Length"] == "3"


def test_unknown_path_is_404_and_other_methods_405(web):
    _, port = web
    assert http_get(port, "/nope")[0] == 404
    assert http_get(port, "/metrics", method="POST")[0] == 405
    status, _, body = http_get(port, "/health", method="HEAD")
    assert status == 200 and body == b""


def test_query_string_is_ignored(web):
    _, port = web
    assert http_get(port, "/health?verbose=1")[0] == 200


def test_oversized_request_is_refused(web):
    _, port = web
    reply = raw_http(port, b"GET /metrics HTTP/1.1\r\nX-Big: " + b"a" * 10000 + b"\r\n\r\n")
    assert reply.startswith(b"HTTP/1.1 431 ")


def test_garbage_request_is_400(web):
    _, port = web
    assert raw_http(port, b"hello\r\n\r\n").startswith(b"HTTP/1.1 400 ")


def test_idle_http_clients_do_not_block_anything(web):
    srv, port = web
    idle = [socket.create_connection((HOST, port)) for _ in range(8)]
    try:
        for s in idle:
            s.sendall(b"GET /metr")  # and never finish the request
        t0 = time.monotonic()
        assert http_get(port, "/health")[0] == 200
        with srv.raw() as conn:
            assert conn.call("PING") == "PONG"
        assert time.monotonic() - t0 < scaled(2)
    finally:
        for s in idle:
            s.close()


def test_http_port_in_use_fails_start_with_a_clear_message(start_server):
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as taken:
        taken.bind((HOST, 0))
        taken.listen(1)
        port = taken.getsockname()[1]
        with pytest.raises(RuntimeError) as e:
            start_server(http_port=port)
        assert "http-port: could not listen on" in str(e.value)
        assert "Address already in use" in str(e.value)


# ---- /metrics -----------------------------------------------------------------------

def scrape(port):
    status, headers, body = http_get(port, "/metrics")
    assert status == 200
    assert headers["Content-Type"].startswith("text/plain; version=0.0.4")
    return body.decode()


def test_metrics_count_commands_hits_misses_and_errors(web):
    srv, port = web
    with srv.raw() as conn:
        assert conn.call("CONFIG", "RESETSTAT") == "OK"
        conn.call("SET", "k", "v")
        for _ in range(3):
            conn.call("GET", "k")
        conn.call("GET", "missing")
        conn.call("INCR", "k")  # ERR
    samples, types = parse_metrics(scrape(port))
    assert metric(samples, "ringkv_commands_total", cmd="get") == 4
    assert metric(samples, "ringkv_commands_total", cmd="set") == 1
    assert metric(samples, "ringkv_command_failed_calls_total", cmd="incr") == 1
    assert metric(samples, "ringkv_keyspace_hits_total") == 3
    assert metric(samples, "ringkv_keyspace_misses_total") == 1
    assert metric(samples, "ringkv_errors_total", code="ERR") == 1
    assert metric(samples, "ringkv_error_replies_total") == 1
    assert metric(samples, "ringkv_keys") >= 1
    assert metric(samples, "ringkv_memory_used_bytes") > 0
    assert metric(samples, "ringkv_memory_rss_bytes") > 0
    assert metric(samples, "ringkv_connected_clients") >= 0
    for name in ("ringkv_expired_keys_total", "ringkv_evicted_keys_total",
                 "ringkv_instantaneous_ops_per_second", "ringkv_uptime_seconds"):
        assert any(k[0] == name for k in samples), name
    assert types["ringkv_commands_total"] == "counter"
    assert types["ringkv_memory_used_bytes"] == "gauge"
    assert types["ringkv_command_duration_seconds"] == "histogram"


def test_metrics_histogram_is_cumulative_and_matches_calls(web):
    srv, port = web
    with srv.raw() as conn:
        assert conn.call("CONFIG", "RESETSTAT") == "OK"
        conn.pipeline([("SET", "k%d" % i, "v") for i in range(300)])
    samples, _ = parse_metrics(scrape(port))
    buckets = sorted(
        (float("inf") if dict(k[1])["le"] == "+Inf" else float(dict(k[1])["le"]), v)
        for k, v in samples.items()
        if k[0] == "ringkv_command_duration_seconds_bucket" and dict(k[1])["cmd"] == "set")
    assert len(buckets) >= 10
    counts = [v for _, v in buckets]
    assert counts == sorted(counts), "buckets are not cumulative"
    assert buckets[-1] == (float("inf"), 300)
    assert metric(samples, "ringkv_command_duration_seconds_count", cmd="set") == 300
    total = metric(samples, "ringkv_command_duration_seconds_sum", cmd="set")
    assert 0 < total < 300 * 0.1


def test_metrics_show_the_durable_engine(web):
    from servers import ENGINE
    if ENGINE == "memory":
        pytest.skip("the suite runs on the memory engine")
    srv, port = web
    with srv.raw() as conn:
        conn.pipeline([("SET", "e%d" % i, "v" * 100) for i in range(1000)])
        assert conn.call("SAVE") == "OK"  # flushes the memtable: a table appears
    samples, _ = parse_metrics(scrape(port))
    assert metric(samples, "ringkv_engine_user_bytes_total") >= 100000
    assert metric(samples, "ringkv_engine_flushes_total") >= 1
    assert sum(v for k, v in samples.items() if k[0] == "ringkv_engine_level_files") >= 1
    assert metric(samples, "ringkv_engine_write_amplification") > 0
    assert metric(samples, "ringkv_engine_failed") == 0
    # SAVE rotated the memtable, which syncs the WAL (fsync everysec).
    assert metric(samples, "ringkv_engine_wal_fsync_seconds_count") >= 1


def test_metrics_pass_promtool_check(web):
    srv, port = web
    if not os.access(PROMTOOL, os.X_OK):
        pytest.skip("promtool not found (Debian package 'prometheus'; scripts/deps.sh "
                    "installs it)")
    with srv.raw() as conn:
        conn.call("SET", "k", "v")
        conn.call("GET", "k")
        conn.call("NOSUCHCOMMAND")
    text = scrape(port)
    proc = subprocess.run([PROMTOOL, "check", "metrics"], input=text.encode(),
                          capture_output=True, timeout=scaled(30))
    assert proc.returncode == 0, "promtool: %s%s" % (proc.stdout.decode(),
                                                      proc.stderr.decode())


# ---- a real Prometheus --------------------------------------------------------------

PROM_CONFIG = """\
global:
  scrape_interval: 1s
  scrape_timeout: 1s
  evaluation_interval: 1s
scrape_configs:
  - job_name: ringkv
    static_configs:
      - targets: ['127.0.0.1:%d']
"""


def prom_query(web_port, query):
    url = "http://%s:%d/api/v1/query?%s" % (HOST, web_port,
                                            urllib.parse.urlencode({"query": query}))
    with urllib.request.urlopen(url, timeout=scaled(5)) as resp:
        return json.loads(resp.read())


def test_a_real_prometheus_scrapes_the_node(web):
    srv, port = web
    if not os.access(PROMETHEUS, os.X_OK):
        pytest.skip("prometheus not found (Debian package 'prometheus'; scripts/deps.sh "
                    "installs it)")
    with srv.raw() as conn:
        conn.call("SET", "k", "v")
        conn.call("GET", "k")
    tmp = tempfile.mkdtemp(prefix="ringkv-prom-")
    proc = None
    try:
        with open(os.path.join(tmp, "prometheus.yml"), "w") as f:
            f.write(PROM_CONFIG % port)
        web_port = free_port()
        log = open(os.path.join(tmp, "prometheus.log"), "wb")
        proc = subprocess.Popen(
            [PROMETHEUS, "--config.file=" + os.path.join(tmp, "prometheus.yml"),
             "--storage.tsdb.path=" + os.path.join(tmp, "data"),
             "--web.listen-address=%s:%d" % (HOST, web_port)],
            cwd=tmp, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
            start_new_session=True)
        log.close()

        def scraped():
            if proc.poll() is not None:
                raise AssertionError("prometheus exited with %s" % proc.returncode)
            try:
                answer = prom_query(web_port, 'ringkv_commands_total{cmd="get"}')
            except (OSError, ValueError):
                return None
            result = answer.get("data", {}).get("result", [])
            return result or None

        try:
            result = wait_until(scraped, 40, interval=0.25, message="a Prometheus scrape")
        except AssertionError:
            with open(os.path.join(tmp, "prometheus.log"), "rb") as f:
                tail = f.read().decode("utf-8", "replace")[-3000:]
            raise AssertionError("no data from Prometheus; its log:\n" + tail)
        assert result[0]["metric"]["job"] == "ringkv"
        assert float(result[0]["value"][1]) >= 1
        up = prom_query(web_port, 'up{job="ringkv"}')["data"]["result"]
        assert up and up[0]["value"][1] == "1"
    finally:
        if proc is not None and proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=scaled(10))
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        shutil.rmtree(tmp, ignore_errors=True)
