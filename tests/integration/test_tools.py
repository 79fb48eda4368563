"""Redis's own tools against the server: redis-cli (plain, --no-raw, --pipe)
and redis-benchmark."""

import re
import shutil
import subprocess

import pytest

from resp_client import encode_command
from util import scaled

REDIS_CLI = shutil.which("redis-cli") or "/usr/bin/redis-cli"
REDIS_BENCHMARK = shutil.which("redis-benchmark") or "/usr/bin/redis-benchmark"


def cli(server, *args, stdin=None, timeout=20):
    proc = subprocess.run([REDIS_CLI, "-h", server.host, "-p", str(server.port), *args],
                          input=stdin, capture_output=True, timeout=scaled(timeout))
    return proc


def test_redis_cli_set_and_get(server, c):
    p = cli(server, "SET", "t:a", "b")
    assert p.returncode == 0, p.stderr
    assert p.stdout == b"OK\n"
    p = cli(server, "GET", "t:a")
    assert p.stdout == b"b\n"
    assert c.call("GET", "t:a") == b"b"


def test_redis_cli_no_raw_formats_types(server, c):
    c.call("SET", "t:a", "b")
    assert cli(server, "--no-raw", "GET", "t:a").stdout == b'"b"\n'
    assert cli(server, "--no-raw", "GET", "t:missing").stdout == b"(nil)\n"
    assert cli(server, "--no-raw", "INCR", "t:n").stdout == b"(integer) 1\n"
    assert cli(server, "--no-raw", "MGET", "t:a", "t:missing").stdout == b'1) "b"\n2) (nil)\n'
    out = cli(server, "--no-raw", "INCR", "t:a").stdout
    assert out == b"(error) ERR value is not an integer or out of range\n"


def test_redis_cli_resp3(server, c):
    c.call("SET", "t:a", "b")
    assert cli(server, "-3", "--no-raw", "GET", "t:missing").stdout == b"(nil)\n"
    assert cli(server, "-3", "GET", "t:a").stdout == b"b\n"


def test_redis_cli_reads_commands_from_stdin(server, c):
    p = cli(server, stdin=b"SET t:x 1\nINCR t:x\nGET t:x\n")
    assert p.returncode == 0, p.stderr
    assert p.stdout == b"OK\n2\n2\n"


def test_redis_cli_pipe_mass_insert(server, c):
    data = b"".join(encode_command("SET", "t:mass:%d" % i, "value-%d" % i) for i in range(10000))
    p = cli(server, "--pipe", stdin=data, timeout=30)
    out = p.stdout.decode() + p.stderr.decode()
    assert p.returncode == 0, out
    m = re.search(r"errors: (\d+), replies: (\d+)", out)
    assert m, out
    assert (int(m.group(1)), int(m.group(2))) == (0, 10000)
    assert c.call("DBSIZE") == 10000
    assert c.call("GET", "t:mass:9999") == b"value-9999"


@pytest.mark.parametrize("pipeline", [None, "16"], ids=["no-pipeline", "P16"])
def test_redis_benchmark_set_get(server, c, pipeline):
    args = [REDIS_BENCHMARK, "-h", server.host, "-p", str(server.port),
            "-t", "set,get", "-n", "20000", "-q"]
    if pipeline:
        args += ["-P", pipeline]
    p = subprocess.run(args, capture_output=True, timeout=scaled(60))
    out = p.stdout.decode() + p.stderr.decode()
    assert p.returncode == 0, out
    for test in ("SET", "GET"):
        m = re.search(r"(?:^|\r|\n)%s: ([\d.]+) requests per second" % test, out)
        assert m, "no %s rate in output:\n%s" % (test, out)
        assert float(m.group(1)) > 0
    assert c.call("DBSIZE") == 1
    assert c.call("STRLEN", "key:__rand_int__") == 3
