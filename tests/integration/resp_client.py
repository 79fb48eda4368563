"""A small raw-socket RESP client for the integration tests.

redis-py 4.3.4 (Debian's) cannot speak RESP3, and it hides the wire: it
rejects malformed input before sending and turns replies into Python values
without saying which RESP type carried them. The tests of reply shapes, of
RESP3 and of the protocol itself (inline commands, pipelining, split writes,
malformed input) need both directions byte for byte, so this client:

* sends commands as multibulk (``call``/``send``) or as raw bytes
  (``send_raw``), never checking what it sends;
* parses every RESP2 and RESP3 reply type into a Python value whose type
  says which RESP type it came from (see the table below), and keeps the
  exact bytes of the last reply in ``last_raw``;
* returns error replies as ``RespError`` values instead of raising, so that
  a test can look at a pipeline of replies, errors included.

RESP type -> Python value:

    +  simple string   Status (a str subclass)
    -  simple error    RespError
    :  integer         int
    $  bulk string     bytes ($-1 -> None)
    *  array           list (*-1 -> None)
    _  null            None
    ,  double          float (inf, -inf, nan included)
    #  boolean         bool
    !  blob error      RespError (blob=True)
    =  verbatim        Verbatim (a str subclass with .format, e.g. "txt")
    (  big number      BigNumber (an int subclass)
    %  map             RespMap (a dict subclass; list keys become tuples)
    ~  set             RespSet (a list subclass, order as received)
    >  push            Push (a list subclass)
    |  attribute       read and kept in ``last_attributes``; the value that
                       follows is returned

Streamed strings and aggregates (``$?``, ``*?`` ...) are parsed as well.
"""

import socket
import time

CRLF = b"\r\n"


class RespError:
    """An error reply. Not raised: returned as a value.

    ``message`` is the whole text after the type byte, e.g.
    "ERR syntax error"; ``code`` is its first word ("ERR", "WRONGTYPE").
    """

    def __init__(self, message, blob=False):
        self.message = message
        self.blob = blob

    @property
    def code(self):
        return self.message.split(" ", 1)[0]

    def startswith(self, prefix):
        return self.message.startswith(prefix)

    def __contains__(self, text):
        return text in self.message

    def __eq__(self, other):
        if isinstance(other, RespError):
            return self.message == other.message
        return NotImplemented

    def __hash__(self):
        return hash(self.message)

    def __str__(self):
        return self.message

    def __repr__(self):
        return "RespError(%r)" % self.message


class Status(str):
    """A simple string reply (+OK)."""

    def __repr__(self):
        return "Status(%s)" % str.__repr__(self)


class Verbatim(str):
    """A verbatim string reply; ``format`` is its three-letter type."""

    def __new__(cls, text, fmt):
        obj = str.__new__(cls, text)
        obj.format = fmt
        return obj

    def __repr__(self):
        return "Verbatim(%r, %s)" % (self.format, str.__repr__(self))


class BigNumber(int):
    """A RESP3 big number reply."""


class RespMap(dict):
    """A RESP3 map reply."""


class RespSet(list):
    """A RESP3 set reply (kept as a list: elements may be unhashable)."""

    def __repr__(self):
        return "RespSet(%s)" % list.__repr__(self)


class Push(list):
    """A RESP3 push message."""

    def __repr__(self):
        return "Push(%s)" % list.__repr__(self)


class ConnectionClosed(Exception):
    """The peer closed the connection before a whole reply arrived."""


class ProtocolViolation(Exception):
    """The server sent bytes that are not RESP."""


def encode_command(*args):
    """Encode one command as a RESP multibulk request."""
    out = [b"*%d\r\n" % len(args)]
    for a in args:
        if isinstance(a, str):
            a = a.encode()
        elif isinstance(a, (int, float)) and not isinstance(a, bool):
            a = repr(a).encode() if isinstance(a, float) else b"%d" % a
        elif not isinstance(a, (bytes, bytearray, memoryview)):
            raise TypeError("cannot encode %r" % (a,))
        a = bytes(a)
        out.append(b"$%d\r\n" % len(a))
        out.append(a)
        out.append(CRLF)
    return b"".join(out)


def _mapkey(k):
    if isinstance(k, list):
        return tuple(_mapkey(x) for x in k)
    if isinstance(k, dict):
        return tuple(sorted(k.items()))
    return k


class RespConnection:
    """One TCP connection speaking RESP; see the module comment."""

    def __init__(self, host, port, timeout=10.0, source_address=None):
        self.host = host
        self.port = port
        self.timeout = timeout
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        try:
            if source_address is not None:
                self.sock.bind(source_address)
            self.sock.settimeout(timeout)
            self.sock.connect((host, port))
            self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        except BaseException:
            self.sock.close()
            raise
        self.buf = bytearray()
        self.pos = 0
        self.last_raw = b""
        self.last_attributes = None

    # ---- sending ---------------------------------------------------------

    def send_raw(self, data):
        self.sock.sendall(data)

    def send(self, *args):
        self.sock.sendall(encode_command(*args))

    def send_many(self, commands):
        """Send many commands in one write (a pipeline)."""
        self.sock.sendall(b"".join(encode_command(*c) for c in commands))

    # ---- receiving -------------------------------------------------------

    def _fill(self):
        try:
            chunk = self.sock.recv(1 << 16)
        except ConnectionResetError:
            chunk = b""
        if not chunk:
            raise ConnectionClosed("connection closed by the server")
        self.buf += chunk

    def _line(self):
        while True:
            i = self.buf.find(CRLF, self.pos)
            if i >= 0:
                line = bytes(self.buf[self.pos:i])
                self.pos = i + 2
                return line
            self._fill()

    def _exact(self, n):
        while len(self.buf) - self.pos < n + 2:
            self._fill()
        data = bytes(self.buf[self.pos:self.pos + n])
        if self.buf[self.pos + n:self.pos + n + 2] != CRLF:
            raise ProtocolViolation("bulk not followed by CRLF")
        self.pos += n + 2
        return data

    def _aggregate_count(self, rest):
        if rest == b"?":
            return None  # streamed: ends with ".\r\n"
        return int(rest)

    def _read_n(self, count):
        """Read count values, or a streamed aggregate's values up to '.'."""
        items = []
        if count is None:
            while True:
                if self._peek_end():
                    return items
                items.append(self._parse())
        for _ in range(count):
            items.append(self._parse())
        return items

    def _peek_end(self):
        while len(self.buf) - self.pos < 3:
            self._fill()
        if bytes(self.buf[self.pos:self.pos + 3]) == b".\r\n":
            self.pos += 3
            return True
        return False

    def _parse(self):
        line = self._line()
        if not line:
            raise ProtocolViolation("empty reply line")
        t, rest = line[:1], line[1:]
        if t == b"+":
            return Status(rest.decode("utf-8", "surrogateescape"))
        if t == b"-":
            return RespError(rest.decode("utf-8", "surrogateescape"))
        if t == b":":
            return int(rest)
        if t == b"$":
            if rest == b"?":
                parts = []
                while True:
                    chunk = self._line()
                    if chunk[:1] != b";":
                        raise ProtocolViolation("bad streamed chunk %r" % chunk)
                    n = int(chunk[1:])
                    if n == 0:
                        return b"".join(parts)
                    parts.append(self._exact(n))
            n = int(rest)
            if n < 0:
                return None
            return self._exact(n)
        if t in (b"*", b"~", b">"):
            if rest == b"-1":
                return None
            items = self._read_n(self._aggregate_count(rest))
            if t == b"~":
                return RespSet(items)
            if t == b">":
                return Push(items)
            return items
        if t == b"%":
            count = self._aggregate_count(rest)
            flat = self._read_n(None if count is None else 2 * count)
            m = RespMap()
            for i in range(0, len(flat), 2):
                m[_mapkey(flat[i])] = flat[i + 1]
            return m
        if t == b"|":
            flat = self._read_n(2 * int(rest))
            self.last_attributes = RespMap(
                (_mapkey(flat[i]), flat[i + 1]) for i in range(0, len(flat), 2)
            )
            return self._parse()
        if t == b"_":
            return None
        if t == b",":
            s = rest.decode().lower()
            if s in ("inf", "+inf"):
                return float("inf")
            if s == "-inf":
                return float("-inf")
            return float(s)  # also "nan"
        if t == b"#":
            if rest == b"t":
                return True
            if rest == b"f":
                return False
            raise ProtocolViolation("bad boolean %r" % line)
        if t == b"!":
            return RespError(self._exact(int(rest)).decode("utf-8", "surrogateescape"), blob=True)
        if t == b"=":
            data = self._exact(int(rest))
            if data[3:4] != b":":
                raise ProtocolViolation("bad verbatim string %r" % data)
            return Verbatim(data[4:].decode("utf-8", "surrogateescape"), data[:3].decode())
        if t == b"(":
            return BigNumber(int(rest))
        raise ProtocolViolation("unknown reply type %r" % line[:40])

    def read_reply(self, timeout=None):
        """Read one reply (push messages included) and return its value."""
        if self.pos > (1 << 20):  # drop parsed bytes, between replies only
            del self.buf[: self.pos]
            self.pos = 0
        old = self.sock.gettimeout()
        if timeout is not None:
            self.sock.settimeout(timeout)
        start = self.pos
        try:
            self.last_attributes = None
            value = self._parse()
        except BaseException:
            self.pos = start  # leave a partial reply to a later attempt
            raise
        finally:
            if timeout is not None:
                self.sock.settimeout(old)
        self.last_raw = bytes(self.buf[start:self.pos])
        return value

    def read_replies(self, n, timeout=None):
        return [self.read_reply(timeout) for _ in range(n)]

    def call(self, *args):
        """Send one command and return its reply."""
        self.send(*args)
        return self.read_reply()

    def pipeline(self, commands):
        """Send all commands in one write and return their replies in order."""
        commands = list(commands)
        self.send_many(commands)
        return self.read_replies(len(commands))

    def hello(self, proto=3, *extra):
        """Send HELLO (switching protocol on success) and return its reply."""
        return self.call("HELLO", proto, *extra)

    # ---- connection state -------------------------------------------------

    def read_all_until_close(self, timeout):
        """Read every byte up to EOF and return the unparsed bytes. If the
        connection is still open at the deadline, raise TimeoutError and
        leave what arrived unparsed (read_reply can still parse it)."""
        deadline = time.monotonic() + timeout
        try:
            while True:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise TimeoutError("connection still open after %.1fs" % timeout)
                self.sock.settimeout(left)
                try:
                    chunk = self.sock.recv(1 << 16)
                except socket.timeout:
                    raise TimeoutError("connection still open after %.1fs" % timeout)
                except ConnectionResetError:
                    chunk = b""
                if not chunk:
                    data = bytes(self.buf[self.pos:])
                    self.pos = len(self.buf)
                    return data
                self.buf += chunk
        finally:
            self.sock.settimeout(self.timeout)

    def is_closed_by_peer(self, timeout):
        """True if the server closes the connection within timeout (any
        unread bytes are discarded)."""
        try:
            self.read_all_until_close(timeout)
            return True
        except TimeoutError:
            return False

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
