"""chaos_net.py — hosts as Linux network namespaces made by the test.

Each Host is a namespace with one veth pair to the root namespace on a
private /30 of 10.213.0.0/16 (the root side .1, the host side .2); the
cluster's daemons listen on the root side's address, so what a host sends
crosses the pair, and the pair is where the test cuts (iptables DROP in the
host's own tables) or slows (tc netem) the network. Needs root, iproute2
and iptables (scripts/bootstrap.sh chaos). Names carry the test's pid so
parallel runs do not meet; close() removes everything.
"""

import datetime
import os
import shutil
import subprocess

from gc_cluster import Daemon

_COUNT = [0]


def available():
    """None when namespaces can be made here, else why not."""
    if os.geteuid() != 0:
        return "needs root (ip netns)"
    for tool in ("ip", "iptables", "tc"):
        if not shutil.which(tool):
            return f"{tool} is not installed (scripts/bootstrap.sh chaos)"
    return None


def _run(*argv, check=True):
    r = subprocess.run(list(argv), capture_output=True, text=True)
    if check and r.returncode != 0:
        raise AssertionError(f"{' '.join(argv)}: {r.stderr.strip()}")
    return r


class Host:
    """One namespace: root side self.gateway, host side self.address."""

    def __init__(self, label):
        _COUNT[0] += 1
        n = _COUNT[0]
        pid = os.getpid() % 10000
        self.name = f"gc{pid}-{label}"
        self.root_if = f"gc{pid}r{n}"          # at most 15 characters
        self.host_if = f"gc{pid}h{n}"
        octet = (pid * 8 + n) % 16000
        base = 4 * octet
        self.gateway = f"10.213.{base // 256}.{base % 256 + 1}"
        self.address = f"10.213.{base // 256}.{base % 256 + 2}"
        self.up = False

    def start(self):
        _run("ip", "netns", "add", self.name)
        self.up = True
        _run("ip", "link", "add", self.root_if, "type", "veth", "peer", "name", self.host_if)
        _run("ip", "link", "set", self.host_if, "netns", self.name)
        _run("ip", "addr", "add", f"{self.gateway}/30", "dev", self.root_if)
        _run("ip", "link", "set", self.root_if, "up")
        self.ns("ip", "addr", "add", f"{self.address}/30", "dev", self.host_if)
        self.ns("ip", "link", "set", self.host_if, "up")
        self.ns("ip", "link", "set", "lo", "up")
        return self

    def ns(self, *argv, check=True):
        return _run("ip", "netns", "exec", self.name, *argv, check=check)

    def prefix(self):
        """argv prefix that runs a program on this host."""
        return ["ip", "netns", "exec", self.name]

    def cut(self):
        """Drop everything in and out of the host (as a pulled cable, no
        reset: the peers only notice by silence)."""
        self.ns("iptables", "-I", "INPUT", "-i", self.host_if, "-j", "DROP")
        self.ns("iptables", "-I", "OUTPUT", "-o", self.host_if, "-j", "DROP")

    def heal(self):
        self.ns("iptables", "-D", "INPUT", "-i", self.host_if, "-j", "DROP", check=False)
        self.ns("iptables", "-D", "OUTPUT", "-o", self.host_if, "-j", "DROP", check=False)

    def delay(self, ms, jitter_ms=0):
        args = ["tc", "qdisc", "replace", "dev", self.host_if, "root", "netem", "delay", f"{ms}ms"]
        if jitter_ms:
            args.append(f"{jitter_ms}ms")
        self.ns(*args)

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.close()

    def close(self):
        if self.up:
            _run("ip", "link", "del", self.root_if, check=False)
            _run("ip", "netns", "del", self.name, check=False)
            self.up = False


class HostDaemon(Daemon):
    """A Daemon run on a Host."""

    def __init__(self, host, *args, **kw):
        super().__init__(*args, **kw)
        self.host = host

    def argv(self):
        return self.host.prefix() + super().argv()


def log_time(line):
    """The wall time (s) of a daemon log line's ISO stamp."""
    stamp = line.split(" ", 1)[0]
    return datetime.datetime.strptime(stamp, "%Y-%m-%dT%H:%M:%S.%fZ").replace(
        tzinfo=datetime.timezone.utc).timestamp()
