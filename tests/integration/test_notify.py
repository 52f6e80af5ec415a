"""gridcall-notify as a black box: a throw-away Redis, jobs written the way
the Lua transitions write them, wake-ups over a PUSH socket, a SUB on the
event PUB and a small HTTP receiver for the webhooks. Self-contained: it
needs build/gridcall-notify, redis-server, protoc, pyzmq and protobuf."""

import hashlib
import hmac
import http.server
import importlib
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import zmq

import gc_keys

ROOT = Path(__file__).resolve().parents[2]
NOTIFY = ROOT / "build" / "gridcall-notify"
LUA = ROOT / "build" / "gen" / "gridcall.lua"   # the function library make builds
PROTO = ROOT / "proto"
WAIT_S = 10.0


def wait_for(cond, what, timeout=WAIT_S):
    """Poll cond until it returns something true; fail after timeout."""
    deadline = time.monotonic() + timeout
    while True:
        value = cond()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.02)


# --------------------------------------------------------------------------
# protobuf: the Makefile's generated module, or generate one here


@pytest.fixture(scope="module")
def pb(tmp_path_factory):
    gen = ROOT / "tests" / "integration" / "gen"
    if not (gen / "gridcall_pb2.py").exists():
        gen = tmp_path_factory.mktemp("pbgen")
        subprocess.run(["protoc", f"--python_out={gen}", f"-I{PROTO}",
                        str(PROTO / "gridcall.proto")], check=True)
    sys.path.insert(0, str(gen))
    try:
        return importlib.import_module("gridcall_pb2")
    finally:
        sys.path.remove(str(gen))


# --------------------------------------------------------------------------
# Redis: a private server on a Unix socket, and a minimal RESP client


class RedisError(Exception):
    pass


class Redis:
    def __init__(self, path):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.connect(path)
        self.file = self.sock.makefile("rb")

    def __call__(self, *args):
        out = [b"*%d\r\n" % len(args)]
        for arg in args:
            data = arg if isinstance(arg, bytes) else str(arg).encode()
            out.append(b"$%d\r\n%s\r\n" % (len(data), data))
        self.sock.sendall(b"".join(out))
        return self._read()

    def _read(self):
        line = self.file.readline()[:-2]
        kind, rest = line[:1], line[1:]
        if kind == b"+":
            return rest.decode()
        if kind == b"-":
            raise RedisError(rest.decode())
        if kind == b":":
            return int(rest)
        if kind == b"$":
            n = int(rest)
            return None if n < 0 else self.file.read(n + 2)[:-2].decode()
        if kind == b"*":
            n = int(rest)
            return None if n < 0 else [self._read() for _ in range(n)]
        raise RedisError(f"unexpected reply {line!r}")

    def close(self):
        self.file.close()
        self.sock.close()

    def now_ms(self):
        sec, usec = self("TIME")
        return int(sec) * 1000 + int(usec) // 1000


def start_redis(path):
    proc = subprocess.Popen(
        ["redis-server", "--port", "0", "--unixsocket", str(path), "--save", "",
         "--appendonly", "no", "--dir", str(path.parent)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    def ready():
        try:
            client = Redis(str(path))
        except OSError:
            return None
        return client if client("PING") == "PONG" else None

    client = wait_for(ready, "redis-server")
    # the admin step (gridcall redis setup): notify checks it and never loads it
    client("FUNCTION", "LOAD", "REPLACE", LUA.read_bytes())
    return proc, client


def stop_redis(proc, client):
    client.close()
    proc.terminate()
    proc.wait(timeout=WAIT_S)


@pytest.fixture(scope="module")
def redis(tmp_path_factory):
    if not shutil.which("redis-server"):
        pytest.fail("redis-server is not installed")
    path = tmp_path_factory.mktemp("redis") / "redis.sock"
    proc, client = start_redis(path)
    client.path = str(path)
    yield client
    stop_redis(proc, client)


# --------------------------------------------------------------------------
# the webhook receiver


class Receiver:
    """Records every POST; answers 500 to the first fail_first[path]
    requests of each job on a path (always for paths in always_fail), else
    200."""

    def __init__(self):
        self.lock = threading.Lock()
        self.requests = []
        self.fail_first = {}
        self.always_fail = set()
        self.delay_s = 0.0
        self.active = 0
        self.max_active = 0
        receiver = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                with receiver.lock:
                    receiver.active += 1
                    receiver.max_active = max(receiver.max_active, receiver.active)
                    job = self.headers.get("X-Gridcall-Job")
                    seen = sum(1 for r in receiver.requests if r["path"] == self.path
                               and r["headers"].get("X-Gridcall-Job") == job)
                    fail = (self.path in receiver.always_fail
                            or seen < receiver.fail_first.get(self.path, 0))
                    receiver.requests.append({"path": self.path, "headers": dict(self.headers),
                                              "body": body, "status": 500 if fail else 200})
                if receiver.delay_s:
                    time.sleep(receiver.delay_s)
                with receiver.lock:
                    receiver.active -= 1
                self.send_response(500 if fail else 200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        class Server(http.server.ThreadingHTTPServer):
            request_queue_size = 256        # the default 5 drops bursts

        self.server = Server(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def url(self, path):
        return f"http://127.0.0.1:{self.port}{path}"

    def posts(self, job_id=None, path=None):
        with self.lock:
            return [r for r in self.requests
                    if (job_id is None or r["headers"].get("X-Gridcall-Job") == job_id)
                    and (path is None or r["path"] == path)]

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver():
    r = Receiver()
    yield r
    r.close()


# --------------------------------------------------------------------------
# the daemon under test


class Notify:
    def __init__(self, tmp, name, redis_socket, prefix, options):
        self.work = f"ipc://{tmp}/{name}-work.ipc"
        self.pub = f"ipc://{tmp}/{name}-pub.ipc"
        self.log_path = tmp / f"{name}.log"
        self.prefix = prefix
        args = [str(NOTIFY), "--set", f"redis_socket={redis_socket}",
                "--set", f"key_prefix={prefix}", "--set", f"work_bind={self.work}",
                "--set", f"pub_bind={self.pub}", "--set", "log_level=debug",
                "--set", "sweep_ms=100",
                # delivery is under test here, not keys: ipc without CURVE
                "--set", "curve=no"]
        for name, value in options.items():
            if name.endswith("_secret"):
                # secrets never go on a command line: a file of their own
                path = tmp / f"{name}.secret"
                path.write_text(f"{value}\n")
                path.chmod(0o600)
                name, value = f"{name}_file", path
            args += ["--set", f"{name}={value}"]
        self.log_file = open(self.log_path, "wb")
        self.proc = subprocess.Popen(args, stdout=self.log_file, stderr=subprocess.STDOUT)
        wait_for(lambda: "notify: started" in self.log() or self.proc.poll() is not None,
                 "notify to start")
        assert self.proc.poll() is None, self.log()

    def log(self):
        return self.log_path.read_text(errors="replace")

    def stop(self, sig=signal.SIGTERM):
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        try:
            return self.proc.wait(timeout=WAIT_S)
        finally:
            if self.proc.poll() is None:
                self.proc.kill()
                self.proc.wait()
            self.log_file.close()


@pytest.fixture
def zctx():
    ctx = zmq.Context()
    yield ctx
    ctx.destroy(linger=0)


@pytest.fixture
def start_notify(tmp_path, redis, request):
    if not NOTIFY.exists():
        pytest.fail(f"{NOTIFY} is not built (make all)")
    started = []
    prefix = f"t{abs(hash(request.node.name)) % 10**8}:"

    def start(redis_socket=None, **options):
        n = Notify(tmp_path, f"notify{len(started)}", redis_socket or redis.path, prefix,
                   options)
        started.append(n)
        return n

    yield start
    for n in started:
        n.stop(signal.SIGKILL)


def make_job(redis, prefix, event="case.resolved", case="TJ-20260101-000001", note="清理完毕",
             **fields):
    """Queue a job the way the transitions do (services/common/lua/00_core.lua):
    a timeline entry whose extra names the job, and its id in pending:notify.
    The entry goes in a timeline as an earlier gridcall kept it, a list,
    which notify still reads."""
    now = redis.now_ms()
    values = {"grid": "G01", "category": "env.garbage", "tier": 2, "state": "RESOLVED",
              "unit": "U01", "audience": "grid:G01"}
    values.update(fields)
    redis("HSET", prefix + "case:" + case, "grid", values["grid"],
          "category", values["category"], "ledger", case)
    entry = [now, event.split(".", 1)[-1], "U01", values["state"], int(values["tier"]),
             values["unit"], now + 3600000, note, 3, {"job": [event, values["audience"]]}]
    n = redis("RPUSH", prefix + "case:" + case + ":log", json.dumps(entry, ensure_ascii=False))
    jid = f"{case}:{n}"
    redis("ZADD", prefix + "pending:notify", now, jid)
    return jid


def wake(push, pb, jid):
    push.send_multipart([b"notify.job", pb.JobRef(job_id=jid).SerializeToString()])


def job_gone(redis, prefix, jid):
    return (redis("ZSCORE", prefix + "pending:notify", jid) is None
            and redis("HEXISTS", prefix + "notify:tries", jid) == 0)


def connect_push(zctx, notify):
    push = zctx.socket(zmq.PUSH)
    push.connect(notify.work)
    return push


def synced_sub(zctx, notify, redis, push, pb):
    """A SUB that is known to receive: send probe jobs until one arrives
    (a subscriber misses what was published before it joined)."""
    sub = zctx.socket(zmq.SUB)
    sub.setsockopt(zmq.SUBSCRIBE, b"case.")
    sub.connect(notify.pub)
    deadline = time.monotonic() + WAIT_S
    while time.monotonic() < deadline:
        jid = make_job(redis, notify.prefix, event="case.probe")
        wake(push, pb, jid)
        if sub.poll(200):
            while sub.poll(200):        # drain the probes still on their way
                sub.recv_multipart()
            return sub
    raise AssertionError("SUB never received a probe")


def notifications(sub, pb, job_id, timeout_ms=0):
    """Notifications for job_id that the SUB holds now (or within timeout)."""
    found = []
    while sub.poll(timeout_ms):
        topic, body = sub.recv_multipart()
        msg = pb.Notification()
        msg.ParseFromString(body)
        if msg.job_id == job_id:
            found.append((topic.decode(), msg))
        timeout_ms = 0
    return found


# --------------------------------------------------------------------------
# tests


def test_delivers_to_log_pub_and_signed_webhook(redis, receiver, start_notify, zctx, pb):
    notify = start_notify(webhooks=receiver.url("/hook"), webhook_secret="s3cret")
    push = connect_push(zctx, notify)
    sub = synced_sub(zctx, notify, redis, push, pb)
    jid = make_job(redis, notify.prefix, event="case.resolved", case="TJ-20260101-000042")
    wake(push, pb, jid)

    got = []
    wait_for(lambda: got.extend(notifications(sub, pb, jid, 100)) or got, "the PUB message")
    topic, msg = got[0]
    assert topic == "case.resolved"
    assert msg.event == "case.resolved" and msg.case_id == "TJ-20260101-000042"
    assert msg.tier == pb.TIER_COMMUNITY and msg.state == pb.STATE_RESOLVED
    assert msg.unit == "U01" and msg.audience == "grid:G01" and msg.note == "清理完毕"

    post = wait_for(lambda: receiver.posts(jid), "the webhook POST")[0]
    headers = post["headers"]
    assert headers["Content-Type"] == "application/json"
    assert headers["X-Gridcall-Event"] == "case.resolved"
    assert headers["X-Gridcall-Job"] == jid
    assert re.fullmatch(r"[0-9a-f]{32}", headers["X-Gridcall-Delivery"])
    # t=<unix s>,v1=<hex HMAC-SHA256 of "<t>." + body> (docs/notify.md)
    m = re.fullmatch(r"t=(\d+),v1=([0-9a-f]{64})", headers["X-Gridcall-Signature"])
    assert m and abs(int(m.group(1)) - time.time()) < 60
    expected = hmac.new(b"s3cret", m.group(1).encode() + b"." + post["body"],
                        hashlib.sha256).hexdigest()
    assert m.group(2) == expected
    body = json.loads(post["body"])
    assert set(body) == {"job_id", "event", "case_id", "ledger_no", "grid", "category", "tier",
                         "state", "unit", "at_ms", "audience", "note"}
    assert body["job_id"] == jid and body["case_id"] == "TJ-20260101-000042"
    assert body["tier"] == "COMMUNITY" and body["state"] == "RESOLVED"
    assert body["note"] == "清理完毕" and isinstance(body["at_ms"], int)

    wait_for(lambda: job_gone(redis, notify.prefix, jid), "the job to be removed")
    assert f'case.resolved case "TJ-20260101-000042"' in notify.log()
    assert notify.stop() == 0
    assert "notify: stopped" in notify.log()


def test_retries_a_failing_webhook_and_publishes_once(redis, receiver, start_notify, zctx, pb):
    receiver.fail_first["/flaky"] = 2
    notify = start_notify(webhooks=receiver.url("/flaky"), retry_base_ms=50)
    push = connect_push(zctx, notify)
    sub = synced_sub(zctx, notify, redis, push, pb)
    jid = make_job(redis, notify.prefix)
    wake(push, pb, jid)

    wait_for(lambda: job_gone(redis, notify.prefix, jid), "delivery after two failures")
    posts = receiver.posts(jid)
    assert [p["status"] for p in posts] == [500, 500, 200]
    assert [p["headers"]["X-Gridcall-Attempt"] for p in posts] == ["1", "2", "3"]
    assert {p["body"] for p in posts} == {posts[0]["body"]}
    assert len(notifications(sub, pb, jid, 300)) == 1
    assert notify.stop() == 0


def test_a_target_that_succeeded_is_not_posted_again(redis, receiver, start_notify, zctx, pb):
    receiver.fail_first["/flaky"] = 1
    notify = start_notify(webhooks=f"{receiver.url('/ok')}, {receiver.url('/flaky')}",
                          retry_base_ms=50)
    push = connect_push(zctx, notify)
    jid = make_job(redis, notify.prefix)
    wake(push, pb, jid)
    wait_for(lambda: job_gone(redis, notify.prefix, jid), "delivery to both targets")
    assert len(receiver.posts(jid, "/ok")) == 1
    assert [p["status"] for p in receiver.posts(jid, "/flaky")] == [500, 200]
    assert notify.stop() == 0


def test_dead_letter_after_max_attempts(redis, receiver, start_notify, zctx, pb):
    receiver.always_fail.add("/down")
    notify = start_notify(webhooks=receiver.url("/down"), retry_base_ms=20, max_attempts=3)
    push = connect_push(zctx, notify)
    jid = make_job(redis, notify.prefix)
    wake(push, pb, jid)
    p = notify.prefix
    wait_for(lambda: redis("ZSCORE", p + "dead:notify", jid) is not None, "the dead letter")
    assert redis("ZSCORE", p + "pending:notify", jid) is None
    attempts, done = redis("HGET", p + "notify:tries", jid).split("|", 1)
    assert attempts == "3"
    assert "p" in done.split(",")
    assert len(receiver.posts(jid)) == 3
    log = notify.log()
    assert f"job {jid} failed 3 times; moved to dead:notify" in log
    # rounds 1 and 2 promise a retry; the third does not, it is the last
    assert f"job {jid} round 2 incomplete; retry in" in log
    assert f"job {jid} round 3 incomplete" not in log
    assert notify.stop() == 0


def test_sweep_delivers_a_job_whose_wakeup_was_lost(redis, receiver, start_notify):
    notify = start_notify(webhooks=receiver.url("/hook"))
    jid = make_job(redis, notify.prefix)        # no wake-up sent
    wait_for(lambda: job_gone(redis, notify.prefix, jid), "the sweep to deliver")
    assert len(receiver.posts(jid)) == 1
    assert notify.stop(signal.SIGINT) == 0


def test_bad_wakeups_are_dropped_and_counted(redis, receiver, start_notify, zctx, pb):
    notify = start_notify(webhooks=receiver.url("/hook"))
    push = connect_push(zctx, notify)
    push.send_multipart([b"notify.job", b"\xff\xff\xff"])
    push.send_multipart([b"no.such.type", b""])
    push.send_multipart([b"notify.job", b"", b"extra"])
    push.send_multipart([b"case.dispatch", pb.CaseRef(case_id="X").SerializeToString()])
    push.send_multipart([b"notify.job", pb.JobRef(job_id="").SerializeToString()])
    wake(push, pb, "TJ-20260101-999999:1")       # no such job: dropped quietly
    jid = make_job(redis, notify.prefix)
    wake(push, pb, jid)
    wait_for(lambda: job_gone(redis, notify.prefix, jid), "delivery after the garbage")
    assert len(receiver.posts(jid)) == 1
    assert receiver.posts("999999") == []
    log = notify.log()
    assert log.count("dropped:") == 5, log
    assert notify.stop() == 0
    assert "5 malformed" in notify.log()


def test_undeliverable_job_goes_straight_to_dead(redis, receiver, start_notify, zctx, pb):
    notify = start_notify(webhooks=receiver.url("/hook"))
    push = connect_push(zctx, notify)
    jid = make_job(redis, notify.prefix, event="not-an-event")
    wake(push, pb, jid)
    wait_for(lambda: redis("ZSCORE", notify.prefix + "dead:notify", jid) is not None,
             "the dead letter")
    assert receiver.posts(jid) == []
    assert "is not deliverable" in notify.log()
    assert notify.stop() == 0


def test_inflight_cap_bounds_concurrent_deliveries(redis, receiver, start_notify, zctx, pb):
    receiver.delay_s = 0.1
    notify = start_notify(webhooks=receiver.url("/slow"), inflight_max=2)
    push = connect_push(zctx, notify)
    jids = [make_job(redis, notify.prefix) for _ in range(6)]
    for jid in jids:
        wake(push, pb, jid)
    wait_for(lambda: all(job_gone(redis, notify.prefix, j) for j in jids), "all six jobs")
    assert sorted(p["headers"]["X-Gridcall-Job"] for p in receiver.posts()) == sorted(jids)
    assert receiver.max_active <= 2
    assert notify.stop() == 0


def test_two_instances_share_the_work_without_duplicates(redis, receiver, start_notify):
    first = start_notify(webhooks=receiver.url("/hook"), sweep_ms=20, batch_max=5)
    second = start_notify(webhooks=receiver.url("/hook"), sweep_ms=20, batch_max=5)
    jids = [make_job(redis, first.prefix) for _ in range(200)]   # found by the sweeps
    wait_for(lambda: all(job_gone(redis, first.prefix, j) for j in jids), "all 200 jobs")
    delivered = [p["headers"]["X-Gridcall-Job"] for p in receiver.posts()]
    assert sorted(delivered) == sorted(jids)            # each exactly once
    assert first.stop() == 0 and second.stop() == 0
    counts = [int(n.log().split(" delivered,")[0].rsplit(" ", 1)[1]) for n in (first, second)]
    assert sum(counts) == 200


def test_keeps_running_while_redis_is_down(tmp_path, receiver, start_notify):
    path = tmp_path / "late" / "redis.sock"
    path.parent.mkdir()
    notify = start_notify(redis_socket=str(path), webhooks=receiver.url("/hook"))
    wait_for(lambda: "failed" in notify.log(), "the outage to be logged")
    assert notify.proc.poll() is None
    proc, late = start_redis(path)
    try:
        jid = make_job(late, notify.prefix)
        wait_for(lambda: job_gone(late, notify.prefix, jid), "delivery once Redis is up")
        assert len(receiver.posts(jid)) == 1
        assert "redis connection restored" in notify.log()
        assert notify.stop() == 0
    finally:
        stop_redis(proc, late)


def test_bad_webhook_list_is_refused_at_start(tmp_path, redis):
    result = subprocess.run([str(NOTIFY), "--set", f"redis_socket={redis.path}",
                             "--set", "webhooks=ftp://example.org/x",
                             "--set", f"work_bind=ipc://{tmp_path}/w.ipc",
                             "--set", f"pub_bind=ipc://{tmp_path}/p.ipc", "--set", "curve=no"],
                            capture_output=True, text=True, timeout=WAIT_S)
    assert result.returncode == 1
    assert "is not an http:// or https:// URL" in result.stderr


def test_sample_config_checks(tmp_path):
    conf = ROOT / "deploy" / "gridcall-notify.conf"
    # secure by default: the sample has CURVE on and wants its key files
    result = subprocess.run([str(NOTIFY), "--check-config", "-c", str(conf)],
                            capture_output=True, text=True, timeout=WAIT_S)
    assert result.returncode == 1 and "curve_secret_file" in result.stderr, result.stderr
    keys = gc_keys.Keyring(tmp_path / "keys")
    cert = keys.make("notify")
    keys.write()
    result = subprocess.run([str(NOTIFY), "--check-config", "-c", str(conf),
                             "--set", f"curve_secret_file={cert.secret_path}",
                             "--set", f"principals={keys.principals_path}"],
                            capture_output=True, text=True, timeout=WAIT_S)
    assert result.returncode == 0, result.stderr
    bad = tmp_path / "bad.conf"
    bad.write_text("max_attempts 0\n")
    result = subprocess.run([str(NOTIFY), "--check-config", "-c", str(bad)],
                            capture_output=True, text=True, timeout=WAIT_S)
    assert result.returncode == 1
    assert "max_attempts" in result.stderr
