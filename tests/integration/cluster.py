"""Multi-process clusters for the integration tests.

Node i listens on its own loopback address 127.0.0.(11+i), for clients and
for internode traffic, and connects to its peers from that address, so a
network partition between two nodes is an nftables rule dropping packets
from one address to the other (Network.cut), removed afterwards whatever
happens (Network.heal in the fixture's teardown). Processes are stopped by
PID, data directories removed, as for single servers (servers.py).
"""

import os
import socket
import subprocess
import time

from servers import Server
from util import scaled

BASE_ADDR = 11  # node i: 127.0.0.(11 + i)
NFT_TABLE = "ringkv_test_%d" % os.getpid()


def node_addr(i):
    return "127.0.0.%d" % (BASE_ADDR + i)


def free_port_on(host):
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return s.getsockname()[1]


class ClusterNode(Server):
    """A Server on its own loopback address, with an internode port."""

    def __init__(self, index, config):
        super().__init__(config)
        self.index = index
        self.host = node_addr(index)
        self.cluster_port = None

    def argv(self):
        argv = super().argv()
        # Server.argv binds 127.0.0.1; this node has an address of its own.
        argv[argv.index("--bind") + 1] = self.host
        return argv + ["--cluster-port", str(self.cluster_port)]

    def start(self):
        self.cluster_port = free_port_on(self.host)
        return super().start()

    @property
    def internode(self):
        return "%s:%d" % (self.host, self.cluster_port)


class Network:
    """One-way and symmetric partitions between nodes, with nftables."""

    def __init__(self):
        self.rules = False

    def _nft(self, *args):
        subprocess.run(["nft"] + list(args), check=True, capture_output=True, timeout=10)

    def cut(self, a, b, both=True):
        """Drops what node a sends to node b (and b to a, when both)."""
        if not self.rules:
            self._nft("add", "table", "inet", NFT_TABLE)
            self._nft("add", "chain", "inet", NFT_TABLE, "out",
                      "{ type filter hook output priority 0; }")
            self.rules = True
        pairs = [(a, b), (b, a)] if both else [(a, b)]
        for x, y in pairs:
            self._nft("add", "rule", "inet", NFT_TABLE, "out", "ip", "saddr", node_addr(x),
                      "ip", "daddr", node_addr(y), "drop")

    def heal(self):
        if self.rules:
            subprocess.run(["nft", "delete", "table", "inet", NFT_TABLE], capture_output=True,
                           timeout=10)
            self.rules = False


def nft_available():
    try:
        probe = "ringkv_probe_%d" % os.getpid()
        subprocess.run(["nft", "add", "table", "inet", probe], check=True, capture_output=True,
                       timeout=10)
        subprocess.run(["nft", "delete", "table", "inet", probe], check=True,
                       capture_output=True, timeout=10)
        return True
    except (OSError, subprocess.SubprocessError):
        return False


def status(node):
    """{member: (state, partitions)} as node sees it (CLUSTER STATUS)."""
    with node.raw(timeout=scaled(5)) as conn:
        rows = conn.call("CLUSTER", "STATUS")
    return {r[0].decode(): (r[3].decode(), r[5]) for r in rows}


def wait_for(predicate, timeout, message):
    deadline = time.monotonic() + scaled(timeout)
    while True:
        try:
            if predicate():
                return time.monotonic()
        except (OSError, ConnectionError, EOFError):
            pass
        if time.monotonic() >= deadline:
            raise AssertionError("timed out after %.0fs: %s" % (scaled(timeout), message))
        time.sleep(0.05)
