"""ringkv's own commands, CAS and GETTTL (ringkv only), and the atomicity of
multi-key writes under concurrent readers (both servers)."""

import threading
import time

import pytest

from util import NOT_INTEGER, SYNTAX, arity_error, assert_error, scaled

ringkv_only = pytest.mark.ringkv_only


def run_threads(targets, timeout):
    """Run the callables in threads; re-raise the first exception."""
    errors = []

    def wrap(fn):
        def run():
            try:
                fn()
            except BaseException as e:  # reported to the main thread
                errors.append(e)
        return run

    threads = [threading.Thread(target=wrap(fn), daemon=True) for fn in targets]
    for t in threads:
        t.start()
    deadline = time.monotonic() + scaled(timeout)
    for t in threads:
        t.join(max(0.0, deadline - time.monotonic()))
    assert not any(t.is_alive() for t in threads), "threads still running after %.0fs" % timeout
    if errors:
        raise errors[0]


# ---- CAS -------------------------------------------------------------------------

@ringkv_only
def test_cas_swaps_when_value_matches(c):
    c.call("SET", "o:k", "old")
    assert c.call("CAS", "o:k", "old", "new") == 1
    assert c.last_raw == b":1\r\n"
    assert c.call("GET", "o:k") == b"new"


@ringkv_only
def test_cas_does_nothing_when_value_differs(c):
    c.call("SET", "o:k", "old", "EX", "100")
    assert c.call("CAS", "o:k", "other", "new") == 0
    assert c.last_raw == b":0\r\n"
    assert c.call("GET", "o:k") == b"old"
    assert 99 <= c.call("TTL", "o:k") <= 100


@ringkv_only
def test_cas_compares_whole_value_exactly(c):
    c.call("SET", "o:k", "abc")
    for expected in ("ab", "abcd", "ABC", ""):
        assert c.call("CAS", "o:k", expected, "x") == 0
    assert c.call("GET", "o:k") == b"abc"


@ringkv_only
def test_cas_on_missing_key_returns_0_and_creates_nothing(c):
    assert c.call("CAS", "o:missing", "", "new") == 0
    assert c.call("CAS", "o:missing", "x", "new") == 0
    assert c.call("EXISTS", "o:missing") == 0


@ringkv_only
def test_cas_on_expired_key_returns_0(c):
    c.call("SET", "o:exp", "v", "PX", "20")
    time.sleep(0.06)
    assert c.call("CAS", "o:exp", "v", "new") == 0
    assert c.call("EXISTS", "o:exp") == 0


@ringkv_only
def test_cas_empty_and_binary_values(c):
    blob = bytes(range(256)) + b"\r\n\x00"
    c.call("SET", "o:b", "")
    assert c.call("CAS", "o:b", "", blob) == 1
    assert c.call("GET", "o:b") == blob
    assert c.call("CAS", "o:b", blob, "") == 1
    assert c.call("GET", "o:b") == b""


@ringkv_only
def test_cas_without_expiry_option_clears_ttl(c):
    c.call("SET", "o:t", "a", "EX", "100")
    assert c.call("CAS", "o:t", "a", "b") == 1
    assert c.call("TTL", "o:t") == -1


@ringkv_only
def test_cas_keepttl_keeps_ttl(c):
    c.call("SET", "o:t", "a", "PX", "100000")
    assert c.call("CAS", "o:t", "a", "b", "KEEPTTL") == 1
    assert 90000 < c.call("PTTL", "o:t") <= 100000
    assert c.call("GET", "o:t") == b"b"


@ringkv_only
def test_cas_expiry_options_set_ttl(c):
    c.call("SET", "o:t", "0")
    assert c.call("CAS", "o:t", "0", "1", "EX", "100") == 1
    assert 99 <= c.call("TTL", "o:t") <= 100
    assert c.call("CAS", "o:t", "1", "2", "PX", "50000") == 1
    assert 40000 < c.call("PTTL", "o:t") <= 50000
    at = int(time.time()) + 200
    assert c.call("CAS", "o:t", "2", "3", "EXAT", str(at)) == 1
    assert c.call("EXPIRETIME", "o:t") == at
    atms = int(time.time() * 1000) + 300000
    assert c.call("CAS", "o:t", "3", "4", "PXAT", str(atms)) == 1
    assert c.call("PEXPIRETIME", "o:t") == atms
    assert c.call("GET", "o:t") == b"4"


@ringkv_only
def test_cas_failed_compare_does_not_apply_expiry(c):
    c.call("SET", "o:t", "a")
    assert c.call("CAS", "o:t", "b", "c", "EX", "100") == 0
    assert c.call("TTL", "o:t") == -1


@ringkv_only
@pytest.mark.parametrize("opts", [("EX",), ("EX", "10", "PX", "10"), ("KEEPTTL", "EX", "10"),
                                  ("FOO",), ("NX",), ("EX", "10", "EXAT", "99999999999")],
                         ids=lambda v: "-".join(v))
def test_cas_bad_options_are_syntax_errors(c, opts):
    c.call("SET", "o:s", "a")
    assert_error(c.call("CAS", "o:s", "a", "b", *opts), SYNTAX)
    assert c.call("GET", "o:s") == b"a"


@ringkv_only
@pytest.mark.parametrize("opt,value", [("EX", "0"), ("PX", "-1"), ("EXAT", "0"),
                                       ("EX", "9999999999999999")])
def test_cas_invalid_expire_time(c, opt, value):
    c.call("SET", "o:s", "a")
    assert_error(c.call("CAS", "o:s", "a", "b", opt, value),
                 "ERR invalid expire time in 'cas' command")
    assert c.call("GET", "o:s") == b"a"


@ringkv_only
def test_cas_non_integer_expiry(c):
    c.call("SET", "o:s", "a")
    assert_error(c.call("CAS", "o:s", "a", "b", "EX", "abc"), NOT_INTEGER)
    assert c.call("GET", "o:s") == b"a"


@ringkv_only
def test_cas_wrong_number_of_arguments(c):
    assert_error(c.call("CAS", "o:k", "a"), arity_error("cas"))


@ringkv_only
def test_cas_inside_multi_and_seen_by_watch(c, server, connect):
    c.call("SET", "o:w", "1")
    c.call("WATCH", "o:w")
    assert connect(server).call("CAS", "o:w", "1", "2") == 1
    c.call("MULTI")
    assert c.call("CAS", "o:w", "2", "3") == "QUEUED"
    assert c.call("EXEC") is None
    c.call("MULTI")
    c.call("CAS", "o:w", "2", "3")
    c.call("CAS", "o:w", "2", "4")
    assert c.call("EXEC") == [1, 0]
    assert c.call("GET", "o:w") == b"3"


@ringkv_only
def test_cas_increment_loops_lose_no_update(server, c):
    threads, per_thread = 4, 250
    c.call("SET", "o:ctr", "0")

    def worker():
        conn = server.raw()
        try:
            done = 0
            deadline = time.monotonic() + scaled(15)
            while done < per_thread:
                assert time.monotonic() < deadline, "CAS loop made too little progress"
                current = conn.call("GET", "o:ctr")
                if conn.call("CAS", "o:ctr", current, str(int(current) + 1)) == 1:
                    done += 1
        finally:
            conn.close()

    run_threads([worker] * threads, timeout=20)
    assert c.call("GET", "o:ctr") == str(threads * per_thread).encode()


# ---- GETTTL ------------------------------------------------------------------------

@ringkv_only
def test_getttl_missing_key_is_null_array(c):
    assert c.call("GETTTL", "o:missing") is None
    assert c.last_raw == b"*-1\r\n"


@ringkv_only
def test_getttl_key_without_expiry(c):
    c.call("SET", "o:g", "value")
    assert c.call("GETTTL", "o:g") == [b"value", -1]
    assert c.last_raw == b"*2\r\n$5\r\nvalue\r\n:-1\r\n"


@ringkv_only
def test_getttl_key_with_expiry_in_milliseconds(c):
    c.call("SET", "o:g", "v", "PX", "10000")
    value, ttl = c.call("GETTTL", "o:g")
    assert value == b"v"
    assert 9000 < ttl <= 10000
    c.call("SET", "o:g", "v", "EX", "100")
    assert 99000 < c.call("GETTTL", "o:g")[1] <= 100000


@ringkv_only
def test_getttl_expired_key_is_null(c):
    c.call("SET", "o:g", "v", "PX", "20")
    time.sleep(0.06)
    assert c.call("GETTTL", "o:g") is None


@ringkv_only
def test_getttl_binary_and_empty_value(c):
    blob = bytes(range(256))
    c.call("SET", "o:g", blob)
    assert c.call("GETTTL", "o:g") == [blob, -1]
    c.call("SET", "o:g", "")
    assert c.call("GETTTL", "o:g") == [b"", -1]


@ringkv_only
def test_getttl_wrong_number_of_arguments(c):
    assert_error(c.call("GETTTL"), arity_error("getttl"))
    assert_error(c.call("GETTTL", "a", "b"), arity_error("getttl"))


# ---- concurrency and multi-key atomicity (both servers) --------------------------------------

def test_concurrent_incr_from_many_clients_loses_no_update(server, c):
    clients, per_client = 6, 2000

    def worker():
        conn = server.raw()
        try:
            replies = conn.pipeline([("INCR", "o:shared")] * per_client)
            assert all(isinstance(r, int) for r in replies)
            assert replies == sorted(replies)  # one client's increments stay in order
        finally:
            conn.close()

    run_threads([worker] * clients, timeout=20)
    assert c.call("GET", "o:shared") == str(clients * per_client).encode()


KEYS = ["o:atom:%d" % i for i in range(10)]


def test_mset_is_atomic_for_concurrent_mget(server, c):
    c.call("MSET", *[x for k in KEYS for x in (k, "w0:0")])
    stop = threading.Event()
    seen = {"reads": 0}

    def writer(wid):
        def run():
            conn = server.raw()
            try:
                gen = 0
                while not stop.is_set():
                    gen += 1
                    value = "w%d:%d" % (wid, gen)
                    assert conn.call("MSET", *[x for k in KEYS for x in (k, value)]) == "OK"
            finally:
                conn.close()
        return run

    def reader():
        conn = server.raw()
        try:
            deadline = time.monotonic() + 2.0
            while time.monotonic() < deadline:
                values = conn.call("MGET", *KEYS)
                assert len(set(values)) == 1, "MGET saw a mix of MSETs: %r" % values
                seen["reads"] += 1
        finally:
            stop.set()
            conn.close()

    run_threads([writer(1), writer(2), reader], timeout=15)
    assert seen["reads"] > 100


def test_msetnx_is_all_or_nothing_for_concurrent_mget(server, c):
    stop = threading.Event()
    seen = {"reads": 0, "full": 0}

    def writer():
        conn = server.raw()
        try:
            gen = 0
            while not stop.is_set():
                gen += 1
                conn.call("DEL", *KEYS)
                assert conn.call("MSETNX", *[x for k in KEYS for x in (k, str(gen))]) == 1
        finally:
            conn.close()

    def reader():
        conn = server.raw()
        try:
            deadline = time.monotonic() + 2.0
            while time.monotonic() < deadline:
                values = conn.call("MGET", *KEYS)
                assert len(set(values)) == 1, "MGET saw a partial MSETNX: %r" % values
                seen["reads"] += 1
                seen["full"] += values[0] is not None
        finally:
            stop.set()
            conn.close()

    run_threads([writer, reader], timeout=15)
    assert seen["reads"] > 100
