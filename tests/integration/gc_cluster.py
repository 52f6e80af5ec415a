"""gc_cluster.py — run a throw-away gridcall cluster for the integration tests.

A Cluster owns a temporary folder with a private redis-server (Unix socket,
no TCP port; the users of deploy/redis-users.acl with passwords fresh for
the test run, no login as the default user, maxmemory with noeviction, the
function library loaded by `gridcall redis setup`), ipc:// endpoints for
every daemon and each daemon's log. The daemons run with CurveZMQ on, as by
default: every daemon that others reach has a certificate, every client a
key bound to the principal it plays (gc_keys.py: the directory's units, the
pytest gateway, the pytest street operator). The daemons are the real
binaries in build/; the tests talk to them through the wire with pyzmq and
the protobuf module protoc generated from proto/, a second implementation
of the wire independent of the C code.

Nothing here sleeps to wait: every wait polls a condition with a deadline
(wait_for), and every process a Cluster starts is killed when it closes.
"""

import atexit
import hashlib
import itertools
import json
import os
import queue
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

import zmq

import gc_keys

ROOT = Path(__file__).resolve().parents[2]
BUILD = ROOT / "build"
PROTO = ROOT / "proto" / "gridcall.proto"
GEN = Path(__file__).resolve().parent / "gen"
DIRECTORY = Path(os.environ.get("GRIDCALL_TEST_DIRECTORY",
                                ROOT / "deploy" / "tianjiao" / "directory.json"))
REDIS_SERVER = shutil.which("redis-server") or "/usr/bin/redis-server"
REDIS_USERS = ROOT / "scripts" / "redis-users.sh"
ADMIN = "gc-admin"                  # the Redis user of the harness itself

TIERS = ["GRID", "COMMUNITY", "STREET", "DISTRICT"]     # tier n is TIERS[n - 1]
LOG_TAIL_LINES = 40


# ---------------------------------------------------------------------------
# The generated protobuf module

def _load_pb2():
    """Import tests/integration/gen/gridcall_pb2.py; `make all` writes it.
    When it is missing or older than the .proto, run the same protoc command
    the Makefile runs, so a bare pytest run works too."""
    target = GEN / "gridcall_pb2.py"
    if not target.exists() or target.stat().st_mtime < PROTO.stat().st_mtime:
        GEN.mkdir(parents=True, exist_ok=True)
        subprocess.run(["protoc", f"--python_out={GEN}", f"-I{PROTO.parent}", str(PROTO)],
                       check=True)
    if str(GEN) not in sys.path:
        sys.path.insert(0, str(GEN))
    import gridcall_pb2
    return gridcall_pb2


pb = _load_pb2()

#  Reply types of the two conversations and the message each carries.
REPORTER_REPLIES = {"report.ok": pb.ReportReply, "ack": pb.Ack, "error": pb.Error}
UNIT_MESSAGES = {"welcome": pb.Welcome, "offer": pb.Offer, "ok": pb.UnitAck,
                 "error": pb.Error, "heartbeat": pb.Heartbeat, "withdrawn": pb.Withdrawn}


def error_name(code):
    return pb.ErrorCode.Name(code)


def state_name(state):
    return pb.CaseState.Name(state)


def tier_name(tier):
    return pb.Tier.Name(tier)


# ---------------------------------------------------------------------------
# Waiting

class WaitTimeout(AssertionError):
    pass


def wait_for(fn, timeout, what, interval=0.05):
    """Call fn until it returns something truthy and return that; fail the
    test after timeout seconds with what we waited for and the last value."""
    deadline = time.monotonic() + timeout
    while True:
        value = fn()
        if value:
            return value
        if time.monotonic() >= deadline:
            raise WaitTimeout(f"timed out after {timeout:g} s waiting for {what} "
                              f"(last value: {value!r})")
        time.sleep(interval)


# ---------------------------------------------------------------------------
# A small RESP client (Debian has no python3-redis by default)

class RedisError(Exception):
    pass


class Redis:
    """One connection to a Redis Unix socket, logged in as user when given
    (auth: (user, password)). call() raises RedisError on an error reply;
    pipeline() returns errors in place."""

    def __init__(self, path, timeout=10, auth=None):
        self.path = str(path)
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(timeout)
        self.sock.connect(self.path)
        self.reader = self.sock.makefile("rb")
        if auth:
            reply = self.pipeline([("AUTH", *auth)])[0]
            if isinstance(reply, RedisError):
                self.close()
                raise reply

    def close(self):
        self.reader.close()
        self.sock.close()

    @staticmethod
    def _encode(args):
        out = [b"*%d\r\n" % len(args)]
        for a in args:
            if not isinstance(a, bytes):
                a = str(a).encode()
            out.append(b"$%d\r\n%s\r\n" % (len(a), a))
        return b"".join(out)

    def _read(self):
        line = self.reader.readline()
        if not line:
            raise ConnectionError("redis closed the connection")
        kind, rest = line[:1], line[1:-2]
        if kind == b"+":
            return rest.decode()
        if kind == b"-":
            return RedisError(rest.decode())
        if kind == b":":
            return int(rest)
        if kind == b"$":
            n = int(rest)
            if n < 0:
                return None
            data = self.reader.read(n + 2)[:-2]
            try:
                return data.decode()
            except UnicodeDecodeError:
                return data
        if kind == b"*":
            n = int(rest)
            return None if n < 0 else [self._read() for _ in range(n)]
        raise RedisError(f"unexpected reply {line!r}")

    def pipeline(self, commands):
        self.sock.sendall(b"".join(self._encode(c) for c in commands))
        return [self._read() for _ in commands]

    def call(self, *args):
        reply = self.pipeline([args])[0]
        if isinstance(reply, RedisError):
            raise reply
        return reply


_USERS = {}         # key prefix -> a folder with redis-users.sh's output for it


def users_template(key_prefix):
    """scripts/redis-users.sh's users and passwords for key_prefix, made once
    per test run (the script forks a dozen processes per user: a fifth of a
    second for every cluster) and copied into each Redis's folder."""
    folder = _USERS.get(key_prefix)
    if folder is None:
        folder = Path(tempfile.mkdtemp(prefix="gc-users-", dir="/tmp"))
        atexit.register(shutil.rmtree, folder, True)
        subprocess.run([str(REDIS_USERS), str(folder), key_prefix], check=True)
        _USERS[key_prefix] = folder
    return folder


# The settings of deploy/redis.conf that shape how Redis keeps gridcall's
# keys (a case's hash and timeline as listpacks, stats:open as a hash
# table): the tests' Redis keeps them the same way a deployment's does.
DATA_SETTINGS = ("hash-max-listpack-value", "hash-max-listpack-entries",
                 "stream-node-max-entries")


def data_settings():
    out = []
    for line in (ROOT / "deploy" / "redis.conf").read_text().splitlines():
        words = line.split()
        if len(words) == 2 and words[0] in DATA_SETTINGS:
            out += ["--" + words[0], words[1]]
    assert len(out) == 2 * len(DATA_SETTINGS), f"deploy/redis.conf lacks one of {DATA_SETTINGS}"
    return out


class RedisServer:
    """A private redis-server on a Unix socket in folder, no TCP port, with
    gridcall's users (scripts/redis-users.sh: passwords in folder/users) and
    the memory policy and data settings of deploy/redis.conf."""

    MAXMEMORY = "1gb"

    def __init__(self, folder, key_prefix="gc:"):
        self.folder = Path(folder)
        self.socket = self.folder / "redis.sock"
        self.log = self.folder / "redis.log"
        self.proc = None
        if (self.folder / "users").exists():
            #  a new server on the same data keeps the passwords it had
            subprocess.run([str(REDIS_USERS), str(self.folder), key_prefix], check=True)
        else:
            made = users_template(key_prefix)
            shutil.copytree(made / "users", self.folder / "users")      # modes kept: 0700, 0600
            shutil.copy2(made / "users.acl", self.folder / "users.acl")

    def password(self, user):
        return (self.folder / "users" / f"{user}.password").read_text().strip()

    def auth(self, user=ADMIN):
        """(user, password) for Redis(..., auth=)."""
        return user, self.password(user)

    def options(self, user):
        """The redis_user and redis_password options of a daemon or the CLI.
        (On the command line: a throw-away Redis; deployments put them in
        the daemon's own configuration file.)"""
        return {"redis_user": user, "redis_password": self.password(user)}

    def argv(self):
        return [REDIS_SERVER, "--port", "0", "--unixsocket", str(self.socket),
                "--unixsocketperm", "700", "--save", "", "--appendonly", "no",
                "--dir", str(self.folder), "--logfile", str(self.log),
                "--aclfile", str(self.folder / "users.acl"),
                "--maxmemory", self.MAXMEMORY, "--maxmemory-policy", "noeviction"] + data_settings()

    def start(self):
        self.proc = subprocess.Popen(
            self.argv(), stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
            stderr=subprocess.STDOUT, start_new_session=True)

        def up():
            if self.proc.poll() is not None:
                raise AssertionError(f"redis-server exited with {self.proc.returncode}:\n"
                                     + tail(self.log))
            try:
                r = Redis(self.socket, timeout=1, auth=self.auth())
                try:
                    return r.call("PING") == "PONG"
                finally:
                    r.close()
            except OSError:
                return False
        wait_for(up, 10, "redis-server to answer PING", interval=0.01)

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)


# ---------------------------------------------------------------------------
# Daemons

#  Options the daemons take as secrets (CFG_SECRET): never on a command line
SECRET_SUFFIXES = ("_token", "_secret", "_password")


def set_args(options, folder):
    """--set arguments for options; a secret goes into a file of its own
    (mode 0600) in folder and is passed as NAME_file=PATH, as the daemons
    refuse secrets on the command line (ps would show them)."""
    out = []
    for k, v in options.items():
        if k.endswith(SECRET_SUFFIXES):
            #  one file per value: daemons started one after another each
            #  read their own (another's would overwrite it before it is read)
            digest = hashlib.sha1(str(v).encode()).hexdigest()[:12]
            path = Path(folder) / f"secret-{k}-{digest}"
            if not path.exists():           # written whole, then named
                tmp = path.with_suffix(".tmp")
                fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
                with os.fdopen(fd, "w") as f:
                    f.write(f"{v}\n")
                os.replace(tmp, path)
            k, v = f"{k}_file", path
        out += ["--set", f"{k}={v}"]
    return out


def tail(path, lines=LOG_TAIL_LINES):
    try:
        with open(path, "rb") as f:
            text = f.read().decode("utf-8", "replace")
    except OSError as e:
        return f"({path}: {e})"
    return "\n".join(text.splitlines()[-lines:])


class Daemon:
    """One gridcall binary with its options. Output goes to NAME.log in the
    cluster folder (appended to across restarts, with a marker line)."""

    def __init__(self, name, binary, options, folder, binds=(), ready_pattern=None):
        self.name = name
        self.binary = Path(binary)
        self.options = dict(options)
        self.folder = Path(folder)
        self.log = self.folder / f"{name}.log"
        self.binds = [b for b in binds if b.startswith("ipc://")]
        self.ready_pattern = ready_pattern
        self.ready_match = None
        self.proc = None
        self.starts = 0
        self.killed = False          # we sent SIGKILL or SIGTERM ourselves

    def argv(self):
        return [str(self.binary)] + set_args(self.options, self.folder)

    def start(self, timeout=10):
        if not self.binary.exists():
            raise AssertionError(f"{self.binary} is not built (run make all)")
        for b in self.binds:            # a stale socket file must not look ready
            try:
                os.unlink(b[len("ipc://"):])
            except FileNotFoundError:
                pass
        self.starts += 1
        offset = self.log.stat().st_size if self.log.exists() else 0
        with open(self.log, "ab") as log:
            log.write(f"=== pytest: start {self.starts} of {self.name} at "
                      f"{time.strftime('%H:%M:%S')}: {' '.join(self.argv())}\n".encode())
            log.flush()
            self.proc = subprocess.Popen(self.argv(), stdin=subprocess.DEVNULL, stdout=log,
                                         stderr=subprocess.STDOUT, start_new_session=True)
        self.killed = False

        def ready():
            if self.proc.poll() is not None:
                raise AssertionError(f"{self.name} exited with {self.proc.returncode} at start:\n"
                                     + tail(self.log))
            if not all(os.path.exists(b[len("ipc://"):]) for b in self.binds):
                return False
            if self.ready_pattern:
                with open(self.log, "rb") as f:
                    f.seek(offset)
                    m = re.search(self.ready_pattern, f.read().decode("utf-8", "replace"))
                if not m:
                    return False
                self.ready_match = m
            return True
        wait_for(ready, timeout, f"{self.name} to bind {self.binds or ''} "
                 f"{self.ready_pattern or ''}".strip(), interval=0.01)
        return self

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def crashed(self):
        """True when the process ended without us asking."""
        return self.proc is not None and self.proc.poll() is not None and not self.killed

    def kill9(self):
        """SIGKILL, as a crash would; returns when the process is gone."""
        self.killed = True
        if self.alive():
            self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(10)

    def restart(self, timeout=10):
        """Stop the running process (SIGTERM) if any, then start again."""
        if self.alive():
            self.stop()
        return self.start(timeout)

    def terminate(self):
        """Send SIGTERM without waiting (see stop)."""
        if self.proc is not None and self.proc.poll() is None:
            self.killed = True
            self.proc.send_signal(signal.SIGTERM)

    def stop(self, timeout=5):
        """SIGTERM, then SIGKILL after timeout. Returns the exit status."""
        if self.proc is None:
            return None
        self.killed = True
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        if self.proc.poll() is None:
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        return self.proc.returncode


# ---------------------------------------------------------------------------
# The directory, read the way dispatch matches units

class Directory:
    """The street directory JSON, with the look-ups the tests need to pick
    grids, categories and units without hard-coding the data."""

    def __init__(self, path=DIRECTORY):
        self.path = Path(path)
        with open(self.path, encoding="utf-8") as f:
            self.doc = json.load(f)
        self.grids = [g["id"] for g in self.doc["grids"]]
        self.grid_community = {g["id"]: g["community"] for g in self.doc["grids"]}
        self.categories = {c["code"]: c for c in self.doc["categories"]}
        self.units = {u["id"]: u for u in self.doc["units"]}

    def unit_grids(self, unit):
        u = self.units[unit] if isinstance(unit, str) else unit
        if "grids" in u:
            return set(u["grids"])
        cov = u["coverage"]
        if cov == "street":
            return set(self.grids)
        if "communities" in cov:
            return {g for g in self.grids if self.grid_community[g] in cov["communities"]}
        return set(cov["grids"])

    def fits(self, unit, tier, grid, category):
        u = self.units[unit] if isinstance(unit, str) else unit
        return (tier in u["tiers"] and category in u["categories"]
                and grid in self.unit_grids(u))

    @staticmethod
    def always_on_duty(unit):
        return not unit.get("rota")

    def fitting(self, tier, grid, category):
        """Units with no duty rota (always on duty) that fit, by id."""
        return sorted(uid for uid, u in self.units.items()
                      if self.always_on_duty(u) and self.fits(u, tier, grid, category))

    def start_tier(self, category):
        return self.categories[category]["start_tier"]

    def limit_minutes(self, category, tier):
        return self.categories[category]["limits_minutes"][tier]

    def single_unit_categories(self):
        return [c for c, v in self.categories.items() if v.get("joint_units", 1) <= 1]

    def choose(self, start_tier="GRID", min_units=1, next_tier_units=0):
        """A (grid, category) whose category starts at start_tier, is handled
        by one unit, has at least min_units always-on units at that tier and
        next_tier_units at the tier above. Deterministic: the first in
        directory order."""
        for category in self.single_unit_categories():
            if self.start_tier(category) != start_tier:
                continue
            for grid in self.grids:
                if len(self.fitting(start_tier, grid, category)) < min_units:
                    continue
                if next_tier_units:
                    up = TIERS[TIERS.index(start_tier) + 1]
                    if len(self.fitting(up, grid, category)) < next_tier_units:
                        continue
                return grid, category
        raise AssertionError(f"{self.path}: no grid and category start at {start_tier} with "
                             f"{min_units} always-on units (and {next_tier_units} a tier up)")

    def servable(self):
        """Every (grid, category) an always-on unit serves at the start tier."""
        return [(g, c) for c in self.single_unit_categories() for g in self.grids
                if self.fitting(self.start_tier(c), g, c)]

    def spread(self):
        """servable() reordered so that reports filed in turn go to different
        units: one pair of each set of fitting units, then the next. (In
        directory order a hundred reports in a row fall to the same two or
        three units, which then work through them at their capacity.)"""
        groups = {}
        for g, c in self.servable():
            groups.setdefault(tuple(self.fitting(self.start_tier(c), g, c)), []).append((g, c))
        rounds = itertools.zip_longest(*groups.values())
        return [pair for r in rounds for pair in r if pair]


# ---------------------------------------------------------------------------
# Clients of the two conversations

def parse(table, frames):
    kind = frames[0].decode("utf-8", "replace")
    body = frames[1] if len(frames) > 1 else b""
    cls = table.get(kind)
    if cls is None:
        return kind, body
    msg = cls()
    msg.ParseFromString(body)
    return kind, msg


class Reporter:
    """A reporter app: DEALERs on intake's ROUTER, frames [type][body]. Each
    request goes out with the key of a principal that may make it: reports
    and evaluations as the gateway (cert), verifications and operators'
    decisions as the operator (official, when given; else cert too)."""

    OFFICIAL = {"verify", "extend.decide", "park", "unpark", "order.decide", "merge"}

    def __init__(self, ctx, endpoint, cert=None, server_key=None, official=None):
        self.sock = self._socket(ctx, endpoint, cert, server_key)
        self.official = (self._socket(ctx, endpoint, official, server_key)
                         if official is not None else self.sock)
        self.socks = [self.sock] if self.official is self.sock else [self.sock, self.official]

    @staticmethod
    def _socket(ctx, endpoint, cert, server_key):
        sock = ctx.socket(zmq.DEALER)
        sock.setsockopt(zmq.LINGER, 0)
        if cert is not None:
            gc_keys.secure(sock, cert, server_key)
        sock.connect(endpoint)
        return sock

    def close(self):
        for s in self.socks:
            s.close(0)

    def _route(self, kind):
        kind = kind.decode("utf-8", "replace") if isinstance(kind, bytes) else kind
        return self.official if kind in self.OFFICIAL else self.sock

    def send(self, kind, body):
        raw = body if isinstance(body, bytes) else body.SerializeToString()
        self._route(kind).send_multipart([kind.encode() if isinstance(kind, str) else kind, raw])

    def send_frames(self, frames):
        self._route(frames[0] if frames else b"").send_multipart(frames)

    def _ready(self, timeout_ms):
        if len(self.socks) == 1:
            return self.sock if self.sock.poll(timeout_ms) else None
        poller = zmq.Poller()
        for s in self.socks:
            poller.register(s, zmq.POLLIN)
        ready = dict(poller.poll(timeout_ms))
        return next((s for s in self.socks if s in ready), None)

    def recv(self, timeout=5.0):
        """The next reply as (type, message); fails the test after timeout."""
        sock = self._ready(int(timeout * 1000))
        if sock is None:
            raise WaitTimeout(f"intake sent no reply within {timeout:g} s")
        return parse(REPORTER_REPLIES, sock.recv_multipart())

    def poll_recv(self):
        """A reply if one is waiting, else None."""
        sock = self._ready(0)
        if sock is not None:
            return parse(REPORTER_REPLIES, sock.recv_multipart())
        return None

    def request(self, kind, body, timeout=5.0):
        self.send(kind, body)
        return self.recv(timeout)

    @staticmethod
    def new_report(grid, category, text="pytest report", key=None, reporter="pytest",
                   channel=None, **fields):
        return pb.Report(idempotency_key=key or f"pytest-{uuid.uuid4()}", grid=grid,
                         category=category, text=text, reporter=reporter,
                         channel=channel if channel is not None else pb.CHANNEL_GRID_WORKER,
                         **fields)

    def report(self, grid, category, text="pytest report", **kw):
        """File a report and return its ReportReply; an error fails the test."""
        kind, msg = self.request("report", self.new_report(grid, category, text, **kw))
        assert kind == "report.ok", f"report refused: {kind} {msg}"
        return msg

    def verify(self, case_id, passed=True, note="", verifier="pytest-worker"):
        return self.request("verify", pb.Verify(case_id=case_id, **{"pass": passed},
                                                note=note, verifier=verifier))

    def evaluate(self, case_id, score, comment="", resident="pytest-resident"):
        return self.request("evaluate", pb.Evaluate(case_id=case_id, score=score,
                                                    comment=comment, resident=resident))


class TestUnit:
    """A responder unit written with pyzmq. A background thread owns the
    DEALER: it heartbeats once welcomed, queues what dispatch sends (except
    heartbeats, which it counts) and sends what the test hands it."""

    __test__ = False                # not a pytest class

    def __init__(self, ctx, endpoint, unit_id, heartbeat_ms=1000, cert=None, server_key=None):
        self.ctx = ctx
        self.endpoint = endpoint
        self.unit_id = unit_id
        self.cert = cert                # its key (gc_keys.Cert), or None: no CURVE
        self.server_key = server_key
        self.heartbeat_ms = heartbeat_ms
        self.inbox = queue.Queue()
        self.outbox = queue.Queue()
        self.backlog = []               # received, not yet taken by expect()
        self.beats_received = 0
        self.beating = False
        self.stopping = False
        self.thread = threading.Thread(target=self._run, name=f"unit-{unit_id}", daemon=True)
        self.thread.start()

    def _run(self):
        sock = self.ctx.socket(zmq.DEALER)
        sock.setsockopt(zmq.LINGER, 0)
        #  a send never blocks the thread for long: a unit whose peer is gone
        #  (or never finished its handshake) must still stop when closed
        sock.setsockopt(zmq.SNDTIMEO, 200)
        if self.cert is not None:
            gc_keys.secure(sock, self.cert, self.server_key)
        sock.connect(self.endpoint)
        last_sent = time.monotonic()

        def send(frames):
            try:
                sock.send_multipart(frames)
            except zmq.Again:
                pass                    # dropped, as a unit whose link is down would
        while not self.stopping:
            if sock.poll(20):
                kind, msg = parse(UNIT_MESSAGES, sock.recv_multipart())
                if kind == "heartbeat":
                    self.beats_received += 1
                else:
                    if kind == "welcome":
                        self.beating = True
                        if msg.heartbeat_ms:
                            self.heartbeat_ms = msg.heartbeat_ms
                    self.inbox.put((kind, msg))
            while True:
                try:
                    frames = self.outbox.get_nowait()
                except queue.Empty:
                    break
                send(frames)
                last_sent = time.monotonic()
            if self.beating and time.monotonic() - last_sent >= self.heartbeat_ms / 1000.0:
                send([b"heartbeat", b""])
                last_sent = time.monotonic()
        sock.close(0)

    def close(self, bye=True):
        if bye and self.beating:
            self.outbox.put([b"bye", b""])
        self.beating = False
        deadline = time.monotonic() + 1
        while not self.outbox.empty() and time.monotonic() < deadline:
            time.sleep(0.01)
        self.stopping = True
        self.thread.join(5)

    def send(self, kind, body):
        raw = body if isinstance(body, bytes) else body.SerializeToString()
        self.outbox.put([kind.encode(), raw])

    def expect(self, kinds, timeout=5.0, where=None, what=None):
        """Take the first received message whose type is in kinds (and for
        which where(msg) is true); others stay for later. Fails after timeout."""
        kinds = (kinds,) if isinstance(kinds, str) else tuple(kinds)
        deadline = time.monotonic() + timeout
        while True:
            for i, (kind, msg) in enumerate(self.backlog):
                if kind in kinds and (where is None or where(msg)):
                    del self.backlog[i]
                    return kind, msg
            left = deadline - time.monotonic()
            if left <= 0:
                seen = ", ".join(f"{k}" for k, _ in self.backlog) or "nothing"
                raise WaitTimeout(f"unit {self.unit_id}: no {what or '/'.join(kinds)} within "
                                  f"{timeout:g} s (holding: {seen})")
            try:
                self.backlog.append(self.inbox.get(timeout=min(left, 0.1)))
            except queue.Empty:
                pass

    def hello(self, timeout=5.0, **claims):
        self.send("hello", pb.Hello(unit_id=self.unit_id, protocol=1, **claims))
        return self.expect(("welcome", "error"), timeout)

    def expect_offer(self, case_id=None, timeout=10.0, tier=None):
        def match(o):
            return (case_id is None or o.case_id == case_id) and (tier is None or o.tier == tier)
        return self.expect("offer", timeout, match,
                           what=f"offer for {case_id or 'any case'}")[1]

    def _reply(self, kind, body, offer_id, timeout):
        self.send(kind, body)
        return self.expect(("ok", "error"), timeout,
                           lambda m: getattr(m, "offer_id", None) == offer_id
                           or getattr(m, "ref", None) in (offer_id, ""),
                           what=f"answer to {kind} of offer {offer_id}")

    def accept(self, offer, timeout=5.0):
        return self._reply("accept", pb.Accept(offer_id=offer.offer_id, case_id=offer.case_id),
                           offer.offer_id, timeout)

    def decline(self, offer, reason=None, note="", timeout=5.0):
        return self._reply("decline", pb.Decline(
            offer_id=offer.offer_id, case_id=offer.case_id,
            reason=reason if reason is not None else pb.DECLINE_NO_CAPACITY, note=note),
            offer.offer_id, timeout)

    def progress(self, offer, note, timeout=5.0):
        return self._reply("progress", pb.Progress(offer_id=offer.offer_id,
                                                   case_id=offer.case_id, note=note),
                           offer.offer_id, timeout)

    def resolve(self, offer, summary, timeout=5.0):
        return self._reply("resolve", pb.Resolve(offer_id=offer.offer_id,
                                                 case_id=offer.case_id, summary=summary),
                           offer.offer_id, timeout)


# ---------------------------------------------------------------------------
# The cluster

CASE_ID = re.compile(r"^[A-Z]+-\d{8}-\d{6}$")

TEARDOWN_GRACE_S = 0.3  # what a closing cluster gives its daemons to exit on SIGTERM
LIVE_CLUSTERS = []      # clusters open now; conftest prints their logs on failure
SUMMARY = []            # lines conftest prints at the end of the run (timings)


#  The Redis user each program logs in as (deploy/redis-users.acl).
REDIS_USER = {"intake": "gc-intake", "dispatch": "gc-dispatch", "escalate": "gc-escalate",
              "notify": "gc-notify", "report": "gc-report", "unit-sim": None}


class Cluster:
    """Redis, the directory and any daemons, in one temporary folder."""

    def __init__(self, time_scale=1, key_prefix="gc:", log_level="info",
                 directory=DIRECTORY, name="cluster"):
        #  ipc paths must fit sockaddr_un (107 bytes): keep the folder short
        self.folder = Path(tempfile.mkdtemp(prefix="gc-", dir="/tmp"))
        self.name = name
        self.time_scale = time_scale
        self.key_prefix = key_prefix
        self.log_level = log_level
        self.directory_path = Path(directory)
        self.directory = Directory(directory)
        self.ctx = zmq.Context()
        self.redis_server = RedisServer(self.folder, key_prefix)
        self.daemons = {}
        self.clients = []
        self._redis = None
        self.endpoints = {k: f"ipc://{self.folder}/{k}.sock"
                          for k in ("intake", "units", "work", "notify", "events")}
        self.keys = self._make_keys()
        LIVE_CLUSTERS.append(self)
        try:
            self.redis_server.start()
            self.setup_redis()
        except BaseException:
            self.close(keep=True)
            raise

    def setup_redis(self):
        """`gridcall redis setup` as gc-admin: the function library loaded
        (the daemons' users may not load it)."""
        r = self.cli("redis", "setup", user=ADMIN)
        assert r.returncode == 0, f"gridcall redis setup failed: {r.stdout}{r.stderr}"
        return r

    # -- keys ---------------------------------------------------------------

    SERVERS = ("intake", "dispatch", "notify", "report")

    def _make_keys(self):
        """A certificate per daemon, per directory unit, the pytest gateway
        and the pytest street operator; the principals file binding them."""
        keys = gc_keys.Keyring(self.folder / "keys")
        for name in self.SERVERS:
            keys.make(name)
        keys.make("pytest-gateway", gc_keys.GATEWAY)
        keys.make("pytest-operator", gc_keys.OPERATOR)
        for uid in self.directory.units:
            keys.make(uid, f"unit {uid}", sub="units")
        keys.write()
        return keys

    def server_key(self, daemon):
        """A daemon's public key (Z85 bytes), for clients to connect with."""
        return self.keys.certs[daemon].public

    def unit_cert(self, unit_id):
        """The key of a unit; a unit not in the directory the cluster
        started with gets a key now (bound, and reloaded by the daemons)."""
        if unit_id not in self.keys.certs:
            self.keys.make(unit_id, f"unit {unit_id}", sub="units")
            self.rekey()
        return self.keys.certs[unit_id]

    def principal_cert(self, name, principal):
        """A new key bound to principal (e.g. "grid-worker W grids G01"),
        in force at every running daemon when this returns."""
        cert = self.keys.make(name, principal)
        self.rekey()
        return cert

    def rekey(self, timeout=10):
        """Write the principals file and wait until every running daemon
        that reads it has reloaded it."""
        readers = [d for d in self.daemons.values() if d.alive() and "principals" in d.options]

        def reloads(d):
            try:
                return len(re.findall(r"principals \S+ reloaded", d.log.read_text(errors="replace")))
            except OSError:
                return 0
        before = {d.name: reloads(d) for d in readers}
        self.keys.write()
        for d in readers:
            wait_for(lambda: reloads(d) > before[d.name], timeout,
                     f"{d.name} to reload the principals")

    def curve_options(self, name):
        """The CurveZMQ options of daemon name."""
        k = self.keys.certs
        out = {"curve": "yes"}
        if name in self.SERVERS:
            out["curve_secret_file"] = k[name].secret_path
            out["principals"] = self.keys.principals_path
        if name == "unit-sim":
            out = {"dispatch_key": k["dispatch"].path, "keys_dir": self.keys.folder / "units"}
        return out

    def cli_options(self):
        """What the gridcall CLI needs to reach this cluster: endpoints and keys
        (the operator's for official requests, the gateway's for reports)."""
        k = self.keys.certs
        return {**self.common(), "intake_endpoint": self.endpoints["intake"],
                "events_endpoint": self.endpoints["events"],
                "client_cert": k["pytest-operator"].secret_path,
                "gateway_cert": k["pytest-gateway"].secret_path,
                "intake_key": k["intake"].path, "events_key": k["notify"].path}

    def subscriber(self, endpoint="events", server="notify", cert="pytest-gateway"):
        """A SUB on a PUB of the cluster, connected with a principal's key;
        subscribe before use."""
        sub = self.ctx.socket(zmq.SUB)
        sub.setsockopt(zmq.LINGER, 0)
        gc_keys.secure(sub, self.keys.certs[cert], self.server_key(server))
        sub.connect(self.endpoints.get(endpoint, endpoint))
        return sub

    # -- options ------------------------------------------------------------

    def common(self):
        return {"redis_socket": self.redis_server.socket, "key_prefix": self.key_prefix,
                "log_level": self.log_level, "time_scale": self.time_scale}

    def _defaults(self, name):
        e = self.endpoints
        if name == "intake":
            return {"bind": e["intake"], "dispatch_endpoint": e["work"],
                    "notify_endpoint": e["notify"]}, [e["intake"]], None
        if name == "dispatch":
            return {"unit_bind": e["units"], "work_bind": e["work"],
                    "notify_endpoint": e["notify"], "sweep_ms": 200, "retry_ms": 500,
                    "lease_ms": 2000, "directory_poll_ms": 500}, [e["units"], e["work"]], None
        if name == "escalate":
            return {"dispatch_endpoint": e["work"], "notify_endpoint": e["notify"],
                    "tick_ms": 50}, [], None
        if name == "notify":
            return {"work_bind": e["notify"], "pub_bind": e["events"], "sweep_ms": 200,
                    "lease_ms": 2000}, [e["notify"], e["events"]], None
        if name == "report":
            return ({"http_bind": "127.0.0.1", "http_port": 0}, [],
                    r"listening on http://(\S+):(\d+)")
        if name == "unit-sim":
            return {"dispatch_endpoint": e["units"], "directory": self.directory_path}, [], None
        raise ValueError(f"unknown daemon {name}")

    # -- processes ----------------------------------------------------------

    def start(self, name, **overrides):
        """Start build/gridcall-NAME with the cluster's options and overrides
        and wait until it has bound its endpoints. Returns the Daemon."""
        if name in self.daemons and self.daemons[name].alive():
            raise AssertionError(f"{name} is already running")
        options, binds, ready = self._defaults(name)
        options = {**self.common(), **self.credentials(name), **self.curve_options(name),
                   **options, **overrides}
        binds = [b for b in binds if b in options.values()]     # an override moved it
        d = Daemon(name, BUILD / f"gridcall-{name}", options, self.folder, binds, ready)
        self.daemons[name] = d
        return d.start()

    def __getitem__(self, name):
        return self.daemons[name]

    def credentials(self, name):
        """The Redis login options of daemon name (none for one that does
        not use Redis)."""
        user = REDIS_USER.get(name)
        return self.redis_server.options(user) if user else {}

    def load_directory(self, path=None):
        r = self.cli("directory", "load", str(path or self.directory_path))
        assert r.returncode == 0, f"directory load failed: {r.stdout}{r.stderr}"
        return r

    def cli(self, *args, timeout=30, user="gc-operator", **overrides):
        """Run build/gridcall with this cluster's options and keys, logged in
        to Redis as user; returns the CompletedProcess (text)."""
        options = {**self.cli_options(), **self.redis_server.options(user), **overrides}
        argv = [str(BUILD / "gridcall")] + set_args(options, self.folder)
        return subprocess.run(argv + [str(a) for a in args], capture_output=True, text=True,
                              timeout=timeout, stdin=subprocess.DEVNULL)

    def crashed(self):
        return [d for d in self.daemons.values() if d.crashed()]

    # -- clients ------------------------------------------------------------

    def reporter(self, cert=None, official=None):
        """A reporter: as the pytest gateway (reports, evaluations) and the
        pytest street operator (verify, decisions), or as cert alone."""
        k = self.keys.certs
        if cert is None:
            cert, official = k["pytest-gateway"], k["pytest-operator"]
        r = Reporter(self.ctx, self.endpoints["intake"], cert, self.server_key("intake"), official)
        self.clients.append(r)
        return r

    def peer(self, endpoint, cert, server):
        """One DEALER on a cluster endpoint with cert's key, for raw frames."""
        r = Reporter(self.ctx, self.endpoints[endpoint], cert, self.server_key(server))
        self.clients.append(r)
        return r

    def unit(self, unit_id, hello=True, cert=None):
        """A pyzmq test unit with its own key (or cert); with hello, it is
        welcomed before this returns."""
        u = TestUnit(self.ctx, self.endpoints["units"], unit_id,
                     cert=cert or self.unit_cert(unit_id), server_key=self.server_key("dispatch"))
        self.clients.append(u)
        if hello:
            kind, msg = u.hello()
            assert kind == "welcome", f"dispatch refused unit {unit_id}: {msg}"
        return u

    # -- Redis --------------------------------------------------------------

    @property
    def redis(self):
        """The test's own connection, as gc-admin."""
        if self._redis is None:
            self._redis = Redis(self.redis_server.socket, auth=self.redis_server.auth())
        return self._redis

    @staticmethod
    def _decode_case(reply):
        doc = json.loads(reply)
        if not doc.get("ok"):
            return None
        c = doc["case"]
        c["timeline"] = [json.loads(e) for e in c.get("timeline", [])]
        return c

    def case(self, case_id):
        """The case hash with its timeline (a list of dicts), or None."""
        return self._decode_case(self.redis.call("FCALL", "gc_case_get", 0,
                                                 self.key_prefix, case_id))

    def cases(self, case_ids):
        """Several cases in one pipeline: {case_id: case or None}."""
        replies = self.redis.pipeline([("FCALL", "gc_case_get", 0, self.key_prefix, i)
                                       for i in case_ids])
        out = {}
        for i, r in zip(case_ids, replies):
            if isinstance(r, RedisError):
                raise r
            out[i] = self._decode_case(r)
        return out

    def state(self, case_id):
        return self.redis.call("HGET", f"{self.key_prefix}case:{case_id}", "state")

    def stats(self):
        return json.loads(self.redis.call("FCALL", "gc_stats", 0, self.key_prefix))

    def case_keys(self):
        """Every case hash key (not timelines or tried sets) in Redis."""
        keys, cursor = [], "0"
        pattern = f"{self.key_prefix}case:*"
        while True:
            cursor, batch = self.redis.call("SCAN", cursor, "MATCH", pattern, "COUNT", 1000)
            keys += [k for k in batch if ":" not in k[len(self.key_prefix) + len("case:"):]]
            if cursor == "0":
                return keys

    def wait_state(self, case_id, state, timeout=10):
        return wait_for(lambda: self.state(case_id) == state, timeout,
                        f"case {case_id} to be {state} (is {self.state(case_id)})")

    def wait_event(self, case_id, what, count=1, timeout=10):
        """Wait until the timeline holds count events named what; returns the case."""
        def seen():
            c = self.case(case_id)
            return c if c and sum(e["what"] == what for e in c["timeline"]) >= count else None
        return wait_for(seen, timeout, f"{count} \"{what}\" event(s) in the timeline of {case_id}")

    # -- diagnostics and teardown -------------------------------------------

    def log_tails(self, lines=LOG_TAIL_LINES):
        parts = []
        for d in self.daemons.values():
            status = ("running" if d.alive() else f"exited {d.proc.returncode}"
                      if d.proc else "never started")
            parts.append(f"----- {d.name} ({status}), last {lines} lines of {d.log}\n"
                         + tail(d.log, lines))
        parts.append(f"----- redis, last 10 lines of {self.redis_server.log}\n"
                     + tail(self.redis_server.log, 10))
        for c in self.clients:
            if hasattr(c, "diagnostics"):
                parts.append(c.diagnostics())
        return "\n".join(parts)

    def close(self, keep=False):
        """Stop clients, daemons and Redis; remove the folder unless keep."""
        for c in self.clients:
            try:
                c.close()
            except Exception:       # a broken client must not leak the processes
                pass
        #  SIGTERM to all at once, then SIGKILL to any still running after
        #  TEARDOWN_GRACE_S: a daemon holding wake-ups for a peer the test
        #  never started lingers a second (ZMQ_LINGER) before it exits; no
        #  test asserts anything of a shutdown at teardown (test_drain does,
        #  with its own stop())
        for d in self.daemons.values():
            d.terminate()
        deadline = time.monotonic() + TEARDOWN_GRACE_S
        for d in self.daemons.values():
            d.stop(max(0.01, deadline - time.monotonic()))
        self.redis_server.stop()
        if self._redis:
            self._redis.close()
        self.ctx.destroy(0)
        if self in LIVE_CLUSTERS:
            LIVE_CLUSTERS.remove(self)
        if not keep:
            shutil.rmtree(self.folder, ignore_errors=True)


def timeline_whats(case):
    return [e["what"] for e in case["timeline"]]


def take_offer(units, case_id, timeout=10.0):
    """Wait until one of units is offered case_id; returns (unit, offer)."""
    deadline = time.monotonic() + timeout
    while True:
        for u in units:
            try:
                return u, u.expect_offer(case_id, timeout=0.02)
            except WaitTimeout:
                pass
        if time.monotonic() >= deadline:
            raise WaitTimeout(f"none of {[u.unit_id for u in units]} was offered {case_id} "
                              f"within {timeout:g} s")


def encode_varint(n):
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        if n:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def raw_string_field(field_number, raw):
    """One length-delimited field with raw bytes, for bytes protobuf would
    refuse to put in a string (invalid UTF-8). Appended to a serialized
    message it replaces that field (the last occurrence wins)."""
    return encode_varint(field_number << 3 | 2) + encode_varint(len(raw)) + raw


def timeline_entries(c, case):
    """A case's timeline entries as stored (the hash case:<id>:tl, entry
    number -> entry), oldest first."""
    flat = c.redis.call("HGETALL", f"{c.key_prefix}case:{case}:tl")
    pairs = sorted(zip(flat[::2], flat[1::2]), key=lambda p: int(p[0]))
    return [json.loads(v) for _, v in pairs]
