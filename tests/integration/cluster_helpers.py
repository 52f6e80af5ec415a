"""cluster_helpers.py — what the deployment tests need beyond gc_cluster:
Redis nodes on loopback TCP (replication and Sentinel speak TCP; each node
also has a Unix socket for the test's own reads), every node with the
cluster's Redis users (deploy/redis-users.acl: replicas log in to their
primary as gc-replica, Sentinels to every node as gc-sentinel),
Sentinels, and ReportLoad,
a reporter that behaves like a real one: it files reports at a steady rate
and resends any report not yet acknowledged with the same idempotency key,
recording what was acknowledged and when.

Ports: the kernel picks a free one (bind to port 0) just before a node
starts; nothing here uses a fixed port.
"""

import os
import socket
import subprocess
import time
from pathlib import Path

import zmq
import zmq.auth

import gc_cluster
import gc_keys
from gc_cluster import REDIS_SERVER, Redis, RedisError, Reporter, pb, wait_for


REPLICA = "gc-replica"          # a replica's user on its primary (masteruser)
SENTINEL = "gc-sentinel"        # Sentinel's user on every node (sentinel auth-user)


def free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class TcpRedis(Redis):
    """gc_cluster.Redis over TCP (a Sentinel has no Unix socket here),
    logged in as user when given (auth: (user, password))."""

    def __init__(self, port, timeout=5, auth=None):   # pylint: disable=super-init-not-called
        self.path = f"127.0.0.1:{port}"
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
        self.reader = self.sock.makefile("rb")
        if auth:
            reply = self.pipeline([("AUTH", *auth)])[0]
            if isinstance(reply, RedisError):
                self.close()
                raise reply


def ask(port, *args, timeout=2, auth=None):
    """One command to 127.0.0.1:port (after AUTH with auth, when given); the
    reply, or None when nobody answers."""
    try:
        r = TcpRedis(port, timeout)
    except OSError:
        return None
    try:
        commands = ([("AUTH", *auth)] if auth else []) + [args]
        return r.pipeline(commands)[-1]
    except OSError:
        return None
    finally:
        r.close()


def write_private(path, text):
    """A file only this user can read (it holds a password)."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(text)


class RedisNode:
    """A redis-server on 127.0.0.1:port and a Unix socket in folder/name,
    optionally a replica of another node, with the users (users.acl) and
    passwords of users, a gc_cluster.RedisServer (a Cluster's): ACLs do not
    replicate, so every node reads the same file. Every node, the primary
    too (a failover may make it a replica), logs in to its primary as
    gc-replica. kill9 and start again keep the port, so Sentinel sees the
    same instance come back."""

    def __init__(self, folder, name, users, replica_of=None):
        self.folder = Path(folder) / name
        self.folder.mkdir(parents=True, exist_ok=True)
        self.name = name
        self.users = users
        self.port = free_port()
        self.socket = self.folder / "redis.sock"
        self.log = self.folder / "redis.log"
        self.conf = self.folder / "redis.conf"
        self.replica_of = replica_of
        self.proc = None

    def start(self):
        # the replication password in a file, not on the command line;
        # Sentinel's CONFIG REWRITE after a failover rewrites it here
        if not self.conf.exists():
            write_private(self.conf, f"masteruser {REPLICA}\n"
                                     f"masterauth {self.users.password(REPLICA)}\n")
        argv = [REDIS_SERVER, str(self.conf), "--port", str(self.port), "--bind", "127.0.0.1",
                "--unixsocket", str(self.socket), "--unixsocketperm", "700",
                "--save", "", "--appendonly", "no", "--dir", str(self.folder),
                "--logfile", str(self.log), "--repl-diskless-sync", "yes",
                "--repl-diskless-sync-delay", "0",
                "--aclfile", str(self.users.folder / "users.acl")]
        if self.replica_of is not None:
            argv += ["--replicaof", "127.0.0.1", str(self.replica_of.port)]
        self.proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                     stderr=subprocess.STDOUT, start_new_session=True)
        wait_for(lambda: self._up(), 10, f"redis {self.name} to answer PING")
        return self

    def _up(self):
        if self.proc.poll() is not None:
            raise AssertionError(f"redis {self.name} exited with {self.proc.returncode}:\n"
                                 + gc_cluster.tail(self.log))
        return self.ask("PING") == "PONG"

    def ask(self, *args, timeout=2):
        """One command as gc-admin; the reply, or None when nobody answers."""
        return ask(self.port, *args, timeout=timeout, auth=self.users.auth())

    def redis(self):
        return Redis(self.socket, auth=self.users.auth())

    def info(self, section):
        text = self.ask("INFO", section)
        if not isinstance(text, str):
            return {}
        return dict(line.split(":", 1) for line in text.replace("\r", "").splitlines()
                    if ":" in line)

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def kill9(self):
        if self.alive():
            self.proc.kill()
        self.proc.wait(10)

    def stop(self):
        if self.alive():
            self.proc.kill()
            self.proc.wait(10)


def own_primary(c, nodes):
    """Put a RedisNode (TCP too, so replicas can follow it) in place of
    cluster c's Redis, with the function library loaded; appended to nodes
    for the caller to stop."""
    c.redis_server.stop()
    primary = RedisNode(c.folder, "primary", c.redis_server)
    nodes.append(primary)
    primary.start()
    c.redis_server.socket = primary.socket
    c.setup_redis()
    return primary


class SentinelNode:
    """redis-server --sentinel on 127.0.0.1:port, monitoring master (a
    RedisNode) under name with quorum, logged in to every node as
    gc-sentinel; failure detection and failover timeouts short, for a test.
    Sentinel rewrites its file, so each has its own (mode 0600: it holds
    the password). The Sentinel itself takes no password (the daemons do
    not send one: docs/operations.md)."""

    def __init__(self, folder, index, master, name="gridcall", quorum=2, down_after_ms=500,
                 failover_timeout_ms=2000):
        self.folder = Path(folder)
        self.index = index
        self.port = free_port()
        self.conf = self.folder / f"sentinel-{index}.conf"
        self.log = self.folder / f"sentinel-{index}.log"
        write_private(self.conf,
            f"port {self.port}\nbind 127.0.0.1\ndir {self.folder}\nlogfile {self.log}\n"
            f"sentinel monitor {name} 127.0.0.1 {master.port} {quorum}\n"
            f"sentinel auth-user {name} {SENTINEL}\n"
            f"sentinel auth-pass {name} {master.users.password(SENTINEL)}\n"
            f"sentinel down-after-milliseconds {name} {down_after_ms}\n"
            f"sentinel failover-timeout {name} {failover_timeout_ms}\n"
            f"sentinel parallel-syncs {name} 2\n")
        self.name = name
        self.proc = None

    def start(self):
        self.proc = subprocess.Popen([REDIS_SERVER, str(self.conf), "--sentinel"],
                                     stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                     stderr=subprocess.STDOUT, start_new_session=True)
        wait_for(lambda: ask(self.port, "PING") == "PONG", 10, f"sentinel {self.index} to answer")
        return self

    def master(self):
        """The master's "host:port" as this Sentinel sees it."""
        reply = ask(self.port, "SENTINEL", "get-master-addr-by-name", self.name)
        return f"{reply[0]}:{reply[1]}" if isinstance(reply, list) else None

    def view(self):
        reply = ask(self.port, "SENTINEL", "master", self.name)
        if not isinstance(reply, list):
            return {}
        return dict(zip(reply[0::2], reply[1::2]))

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)


class ReportLoad:
    """A reporter at a steady rate over one DEALER (connected to every
    endpoint given, so requests spread over several intakes). A report not
    acknowledged within resend_s, or retry_s after a refusal, is sent again
    with the same key, as the reporter protocol asks. With cert (a
    gc_keys.Cert) it speaks CURVE to server_key, the intakes' public key,
    as a gateway must (intake refuses a peer without a key). Call step()
    often; it never blocks longer than wait_ms."""

    def __init__(self, ctx, endpoints, work, rate, resend_s=1.0, retry_s=0.2, prefix="load",
                 cert=None, server_key=None):
        self.sock = ctx.socket(zmq.DEALER)
        self.sock.setsockopt(zmq.LINGER, 0)
        if cert is not None:
            gc_keys.secure(self.sock, cert, server_key)
        for e in endpoints:
            self.sock.connect(e)
        self.work = work                # [(grid, category)], cycled
        self.rate = rate
        self.resend_s = resend_s
        self.retry_s = retry_s          # resend after a refusal
        self.prefix = prefix
        self.t0 = None
        self.sent = 0                   # distinct reports filed
        self.sends = 0                  # messages sent, resends included
        self.last_sent = {}             # key -> monotonic time of its last send
        self.first_sent = {}            # key -> monotonic time of its first send
        self.acked = {}                 # key -> case id
        self.acked_at = {}              # key -> monotonic time of its first report.ok
        self.conflicts = []             # a key answered with two different case ids
        self.refusals = {}              # error code name -> count
        self.filing = True

    def key(self, n):
        return f"{self.prefix}-{n:05d}"

    def _send(self, n):
        key = self.key(n)
        grid, category = self.work[n % len(self.work)]
        self.sock.send_multipart([b"report", Reporter.new_report(
            grid, category, f"{self.prefix} report {n}", key=key).SerializeToString()])
        now = time.monotonic()
        self.last_sent[key] = now
        self.first_sent.setdefault(key, now)
        self.sends += 1

    def step(self, wait_ms=20):
        now = time.monotonic()
        if self.t0 is None:
            self.t0 = now
        if self.filing:
            target = int((now - self.t0) * self.rate) + 1
            while self.sent < target:
                self._send(self.sent)
                self.sent += 1
        if self.sock.poll(wait_ms):
            while self.sock.poll(0):
                kind, msg = gc_cluster.parse(gc_cluster.REPORTER_REPLIES,
                                             self.sock.recv_multipart())
                if kind == "report.ok":
                    key = msg.idempotency_key
                    if key in self.acked and self.acked[key] != msg.case_id:
                        self.conflicts.append((key, self.acked[key], msg.case_id))
                    self.acked.setdefault(key, msg.case_id)
                    self.acked_at.setdefault(key, time.monotonic())
                elif kind == "error":
                    name = gc_cluster.error_name(msg.code)
                    self.refusals[name] = self.refusals.get(name, 0) + 1
                    if msg.ref in self.last_sent and msg.ref not in self.acked:
                        # resend soon, not at once: a refusing cluster is not stormed
                        self.last_sent[msg.ref] = min(self.last_sent[msg.ref],
                                                      time.monotonic() - self.resend_s
                                                      + self.retry_s)
        now = time.monotonic()
        for n in range(self.sent):
            key = self.key(n)
            if key not in self.acked and now - self.last_sent[key] >= self.resend_s:
                self._send(n)

    def waiting(self):
        return [self.key(n) for n in range(self.sent) if self.key(n) not in self.acked]

    def run(self, seconds):
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            self.step()

    def drain(self, timeout, what="every report to be acknowledged"):
        """Stop filing new reports; resend until all are acknowledged."""
        self.filing = False

        def done():
            self.step()
            return not self.waiting()
        wait_for(done, timeout, f"{what} ({len(self.waiting())} of {self.sent} waiting)",
                 interval=0)

    def close(self):
        self.sock.close(0)


def cluster_load(c, work, rate, endpoints=None, **kw):
    """A ReportLoad on cluster c's intake (or endpoints, intakes sharing
    its key) as the pytest gateway."""
    return ReportLoad(c.ctx, endpoints or [c.endpoints["intake"]], work, rate,
                      cert=c.keys.certs["pytest-gateway"], server_key=c.server_key("intake"),
                      **kw)


def demo_cert(keys, name):
    """A key `gridcall keys new` made (czmq zcert files in folder keys):
    NAME.key_secret read with pyzmq's zcert reader, as a gc_keys.Cert."""
    public, secret = zmq.auth.load_certificate(str(Path(keys) / f"{name}.key_secret"))
    return gc_keys.Cert(name, public, secret, keys)


def case_states(redis, prefix, case_ids):
    """{case id: state} read in one pipeline (None for a missing case)."""
    ids = list(case_ids)
    out = {}
    for i in range(0, len(ids), 500):
        chunk = ids[i:i + 500]
        replies = redis.pipeline([("HGET", f"{prefix}case:{c}", "state") for c in chunk])
        for c, s in zip(chunk, replies):
            if isinstance(s, RedisError):
                raise s
            out[c] = s
    return out


__all__ = ["free_port", "TcpRedis", "ask", "RedisNode", "SentinelNode", "ReportLoad",
           "cluster_load", "demo_cert", "case_states", "pb"]
