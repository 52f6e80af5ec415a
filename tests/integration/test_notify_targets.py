"""test_notify_targets.py — what a webhook's owner sees of notify's
targets and retries in a real cluster: a failed POST to a URL two gateways
share, or `webhooks` shares with a gateway, is retried (the done mask keeps
the targets apart); jobs filed while notify is down are each posted once
after its restart; a registered job's wake-up says what a read of the job
from Redis says; an unsigned target on this machine is never reached through
http_proxy; a dead job re-driven as docs/notify.md says reaches only the
target that missed it; and a retry is posted when it falls due, not at the
next sweep."""

import collections
import http.server
import json
import re
import shlex
import socket
import threading
import time

import pytest
import zmq

from gc_cluster import ROOT, pb, wait_for

P = "gc:"                           # the clusters' key prefix (docs/notify.md's too)


class Receiver:
    """A webhook receiver on 127.0.0.1 that records every POST (path,
    headers, JSON body, status, arrival time). It answers 500 to the first
    fail_first[path] POSTs of each job on path and to every POST on a path
    in down; else 200."""

    def __init__(self):
        self.lock = threading.Lock()
        self.requests = []
        self.fail_first = {}
        self.down = set()
        rx = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self):
                raw = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                job = self.headers.get("X-Gridcall-Job")
                with rx.lock:
                    seen = sum(1 for r in rx.requests if r["path"] == self.path and r["job"] == job)
                    fail = self.path in rx.down or seen < rx.fail_first.get(self.path, 0)
                    rx.requests.append({"path": self.path, "job": job, "t": time.monotonic(),
                                        "attempt": self.headers.get("X-Gridcall-Attempt"),
                                        "body": json.loads(raw), "status": 500 if fail else 200})
                self.send_response(500 if fail else 200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        class Server(http.server.ThreadingHTTPServer):
            request_queue_size = 256        # the default 5 drops bursts
            daemon_threads = True

        self.server = Server(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def url(self, path):
        return f"http://127.0.0.1:{self.port}{path}"

    def posts(self, job=None, path=None, case=None):
        with self.lock:
            return [r for r in self.requests if (job is None or r["job"] == job)
                    and (path is None or r["path"] == path)
                    and (case is None or r["body"]["case_id"] == case)]

    def close(self):
        self.server.shutdown()
        self.server.server_close()


class FakeProxy:
    """A TCP listener standing in for a proxy elsewhere: records every
    connection (and the first bytes sent on it) and answers 502."""

    def __init__(self):
        self.lock = threading.Lock()
        self.connections = []
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(64)
        self.port = self.sock.getsockname()[1]
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self):
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return                      # closed
            with conn:
                conn.settimeout(2)
                try:
                    first = conn.recv(200)
                except OSError:
                    first = b""
                with self.lock:
                    self.connections.append(first)
                try:
                    conn.sendall(b"HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\n"
                                 b"Connection: close\r\n\r\n")
                except OSError:
                    pass

    def seen(self):
        with self.lock:
            return list(self.connections)

    def close(self):
        self.sock.close()


@pytest.fixture
def receiver():
    r = Receiver()
    yield r
    r.close()


def job_gone(c, job):
    """Neither pending nor holding a tries entry: delivered to every target."""
    return (c.redis.call("ZSCORE", f"{P}pending:notify", job) is None
            and c.redis.call("HEXISTS", f"{P}notify:tries", job) == 0)


def registered_job(case_id):
    """The case.registered job of a case: its first timeline entry."""
    return f"{case_id}:1"


def synced_subscriber(c, reporter, grid, category):
    """A SUB on notify's PUB known to receive: file reports in grid and
    category until one's notification arrives (a SUB misses what was
    published before its subscription reached the PUB)."""
    sub = c.subscriber("events", "notify")
    sub.setsockopt(zmq.SUBSCRIBE, b"case.")
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        reporter.report(grid, category, "订阅探测")
        if sub.poll(500):
            return sub
    raise AssertionError("the SUB never received a notification")


def notifications(sub, job, timeout_ms=0):
    """The notifications for job the SUB holds (or gets within timeout)."""
    found = []
    while sub.poll(timeout_ms):
        topic, body = sub.recv_multipart()
        msg = pb.Notification.FromString(body)
        if msg.job_id == job:
            found.append((topic.decode(), msg))
        timeout_ms = 0
    return found


# ---------------------------------------------------------------------------
# targets sharing a URL


@pytest.mark.parametrize("shared", ["two gateways", "webhooks and a gateway"])
def test_a_failed_post_to_a_shared_url_is_retried(cluster, gc_directory, receiver, shared):
    """A URL registered twice is two targets: the pytest gateway's case is
    not the hotline's, so the hotline's target is marked done without a
    POST; that must not mark done the failed POST of the other target to the
    same URL (it did: the mask held one hash per URL)."""
    receiver.fail_first["/shared"] = 1
    url = receiver.url("/shared")
    c = cluster()
    c.keys.make("gw-hotline", "gateway hotline channels HOTLINE")
    c.keys.write()
    c.start("intake")
    if shared == "two gateways":
        targets = {"gateway_webhooks": f"gateway:pytest={url}, gateway:hotline={url}"}
    else:
        targets = {"webhooks": url, "gateway_webhooks": f"gateway:hotline={url}"}
    c.start("notify", retry_base_ms=100, **targets)
    grid, category = gc_directory.choose("GRID")
    case = c.reporter().report(grid, category, "同一个接收地址",
                               channel=pb.CHANNEL_RESIDENT_APP).case_id
    job = registered_job(case)

    wait_for(lambda: [p for p in receiver.posts(job) if p["status"] == 200], 10,
             f"the retry of {job} after its failed POST")
    wait_for(lambda: job_gone(c, job), 10, f"{job} to be recorded as delivered")
    posts = receiver.posts(job)
    assert [(p["attempt"], p["status"]) for p in posts] == [("1", 500), ("2", 200)], posts
    assert c.redis.call("ZSCORE", f"{P}dead:notify", job) is None


# ---------------------------------------------------------------------------
# a restart with wake-ups queued


def test_jobs_filed_while_notify_is_down_are_each_posted_once(cluster, gc_directory, receiver):
    """intake queues its wake-ups while notify is down; once the jobs are
    past notify's grace (lease_ms) the sweep after the restart claims them
    too. Each job is POSTed once: a wake-up that old is read from Redis, and
    dropped there when the sweep has delivered its job (it was delivered
    straight from the wake-up, a second time)."""
    grid, category = gc_directory.choose("GRID")
    c = cluster("intake", "notify", notify={"webhooks": receiver.url("/hook"), "lease_ms": 1000,
                                            "log_level": "debug"})
    reporter = c.reporter()
    warm = registered_job(reporter.report(grid, category, "预热").case_id)
    wait_for(lambda: job_gone(c, warm), 10, "the first job (intake and notify connected)")
    c["notify"].kill9()

    cases = [reporter.report(grid, category, f"停机期间 {i}").case_id for i in range(20)]
    jobs = {registered_job(x) for x in cases}

    def all_due():
        sec, usec = c.redis.call("TIME")
        now = int(sec) * 1000 + int(usec) // 1000
        scores = [c.redis.call("ZSCORE", f"{P}pending:notify", j) for j in jobs]
        return all(s is not None and float(s) <= now for s in scores)
    # past the grace: the sweep may claim every one as soon as notify is back
    wait_for(all_due, 10, "the jobs to be due for a sweep")
    assert receiver.posts(path="/hook", case=cases[0]) == []

    restarted_at = c["notify"].log.stat().st_size

    def woken():
        """The jobs whose queued wake-up the restarted notify has read."""
        with open(c["notify"].log, "rb") as f:
            f.seek(restarted_at)
            log = f.read().decode("utf-8", "replace")
        return set(re.findall(r"wake-up (?:with|for) job ([^\s,]+)", log)) & jobs
    c["notify"].start()
    wait_for(lambda: all(job_gone(c, j) for j in jobs), 20, "every job delivered")
    # the sweep comes first (at start); the wake-ups after intake reconnects
    wait_for(lambda: woken() == jobs, 10, "the queued wake-ups to reach notify")
    c["notify"].stop()                  # its transfers drained: no POST can come later
    posted = collections.Counter(p["job"] for p in receiver.posts(path="/hook")
                                 if p["body"]["case_id"] in cases)
    assert set(posted) == jobs
    twice = {j: n for j, n in posted.items() if n > 1}
    assert not twice, f"{len(twice)} of 20 jobs were POSTed more than once: {twice}"


# ---------------------------------------------------------------------------
# the wake-up and Redis agree


def test_a_registered_jobs_wakeup_says_what_redis_says(cluster, gc_directory, receiver):
    """A case offered at once (a unit is connected) is DISPATCHED when the
    register returns, but its case.registered job is the entry logged while
    it was REGISTERED: the first POST (and the PUB message), built from the
    wake-up, and the retry, read from Redis, say the same state, tier and
    unit as that timeline entry."""
    grid, category = gc_directory.choose("GRID")
    unit_id = gc_directory.fitting("GRID", grid, category)[0]
    receiver.fail_first["/hook"] = 1            # the retry is read from Redis
    c = cluster("intake", "dispatch", "notify",
                notify={"webhooks": receiver.url("/hook"), "retry_base_ms": 100})
    reporter = c.reporter()
    # probes the unit does not serve (no offer keeps it busy)
    probe = next((g, k) for k in gc_directory.single_unit_categories() for g in gc_directory.grids
                 if not gc_directory.fits(unit_id, gc_directory.start_tier(k), g, k))
    sub = synced_subscriber(c, reporter, *probe)
    c.unit(unit_id)

    reply = reporter.report(grid, category, "上报即派单")
    assert reply.state == pb.STATE_DISPATCHED, "the case was not offered at once"
    job = registered_job(reply.case_id)
    wait_for(lambda: len(receiver.posts(job)) >= 2 and job_gone(c, job), 10,
             f"{job}'s failed POST and its retry")
    first, retry = receiver.posts(job)
    assert (first["attempt"], retry["attempt"]) == ("1", "2")
    entry = c.case(reply.case_id)["timeline"][0]
    assert entry["what"] == "registered" and entry["state"] == "REGISTERED", entry
    assert first["body"]["state"] == "REGISTERED", first["body"]
    for field in ("state", "tier", "unit"):
        assert first["body"][field] == retry["body"][field], (field, first["body"], retry["body"])
    assert first["body"]["unit"] == entry.get("unit", ""), (first["body"], entry)

    got = wait_for(lambda: notifications(sub, job, 100), 10, "the PUB message")
    (topic, msg), = got
    assert topic == "case.registered" and msg.state == pb.STATE_REGISTERED, msg
    assert pb.Tier.Name(msg.tier) == "TIER_" + first["body"]["tier"]
    assert msg.unit == first["body"]["unit"]


# ---------------------------------------------------------------------------
# http_proxy


def test_an_unsigned_local_webhook_is_never_sent_through_a_proxy(cluster, gc_directory, receiver,
                                                                 monkeypatch):
    """Unsigned targets are allowed because they are on this machine; with
    http_proxy in notify's environment the POST must still go straight to
    127.0.0.1, not out through the proxy."""
    proxy = FakeProxy()
    try:
        c = cluster("intake")
        with monkeypatch.context() as env:     # the daemon inherits the test's environment
            for name in ("no_proxy", "NO_PROXY", "all_proxy", "ALL_PROXY"):
                env.delenv(name, raising=False)
            env.setenv("http_proxy", f"http://127.0.0.1:{proxy.port}")
            c.start("notify", webhooks=receiver.url("/hook"), retry_base_ms=100)
        environ = open(f"/proc/{c['notify'].proc.pid}/environ", "rb").read().split(b"\0")
        assert f"http_proxy=http://127.0.0.1:{proxy.port}".encode() in environ

        grid, category = gc_directory.choose("GRID")
        case = c.reporter().report(grid, category, "代理之外").case_id
        job = registered_job(case)
        wait_for(lambda: receiver.posts(job), 10, "the POST at the receiver")
        wait_for(lambda: job_gone(c, job), 10, f"{job} to be recorded as delivered")
        assert proxy.seen() == [], "notify went through the proxy"
    finally:
        proxy.close()


# ---------------------------------------------------------------------------
# dead letters


def documented_redrive():
    """The redis-cli commands of docs/notify.md "Dead letters" that put a
    dead job back, each as an argument list, with the example's job id and
    the done mask its HGET comment shows."""
    text = (ROOT / "docs" / "notify.md").read_text(encoding="utf-8")
    section = text.split("## Dead letters", 1)[1].split("\n## ", 1)[0]
    lines = [line for block in re.findall(r"```\n(.*?)```", section, re.S)
             for line in block.splitlines() if line.startswith("redis-cli ")]
    assert lines, "docs/notify.md: no redis-cli commands under Dead letters"
    commands = [shlex.split(line.split("#", 1)[0])[1:] for line in lines]
    job = next(args[2] for args in commands if args[0] == "ZREM")
    shown = [line.split("#", 1)[1].strip() for line in lines if "#" in line and " HGET " in line]
    mask = shown[0].split("|", 1)[1] if shown else None
    return commands, job, mask


def test_a_dead_job_redriven_as_documented_reaches_only_the_target_that_missed_it(
        cluster, gc_directory, receiver):
    """/ok took the job, /down never did and it died; /down is fixed and
    the job re-driven with the page's commands: /down gets it, /ok and the
    PUB (and the log) do not get it again."""
    receiver.down.add("/down")
    c = cluster("intake", "notify", notify={
        "webhooks": f"{receiver.url('/ok')}, {receiver.url('/down')}", "max_attempts": 2,
        "retry_base_ms": 100})
    grid, category = gc_directory.choose("GRID")
    reporter = c.reporter()
    sub = synced_subscriber(c, reporter, grid, category)
    case = reporter.report(grid, category, "重投死信").case_id
    job = registered_job(case)
    wait_for(lambda: c.redis.call("ZSCORE", f"{P}dead:notify", job) is not None, 10,
             f"{job} to die")
    assert [p["status"] for p in receiver.posts(job, "/ok")] == [200]
    assert [p["status"] for p in receiver.posts(job, "/down")] == [500, 500]
    assert len(wait_for(lambda: notifications(sub, job, 100), 10, "the PUB message")) == 1
    logged = f'case.registered case "{case}"'
    assert c["notify"].log.read_text(errors="replace").count(logged) == 1

    receiver.down.discard("/down")
    commands, example, example_mask = documented_redrive()
    tries = None
    for args in commands:
        args = [a.replace(example, job) for a in args]
        if example_mask and tries is not None:
            args = [a.replace(example_mask, tries.split("|", 1)[1]) for a in args]
        reply = c.redis.call(*args)
        if args[0] == "HGET":
            tries = reply
            assert re.fullmatch(r"2\|[0-9a-fp,]+", tries or ""), tries
            assert "p" in tries.split("|")[1].split(","), tries

    wait_for(lambda: [p for p in receiver.posts(job, "/down") if p["status"] == 200], 10,
             f"the re-driven {job} at /down")
    wait_for(lambda: job_gone(c, job), 10, f"{job} to be recorded as delivered")
    assert c.redis.call("ZSCORE", f"{P}dead:notify", job) is None
    assert len(receiver.posts(job, "/ok")) == 1, "the target that took it was posted it again"
    assert notifications(sub, job, 500) == [], "the PUB message went out again"
    assert c["notify"].log.read_text(errors="replace").count(logged) == 1


# ---------------------------------------------------------------------------
# retry timing


def test_a_retry_is_posted_when_it_falls_due_not_at_the_next_sweep(cluster, gc_directory,
                                                                   receiver):
    """With retry delays longer than sweep_ms (2.5 s doubling, +-20 %,
    capped at 6 s; a sweep every 3.8 s), each retry is posted when it falls
    due. (A sweep that found nothing due used to push the next sweep a whole
    sweep_ms on, forgetting the retry: it came 1.6 s or more late.)"""
    receiver.fail_first["/hook"] = 3
    c = cluster("intake", "notify", notify={
        "webhooks": receiver.url("/hook"), "sweep_ms": 3800, "retry_base_ms": 2500,
        "retry_max_ms": 6000, "lease_ms": 20000})
    grid, category = gc_directory.choose("GRID")
    job = registered_job(c.reporter().report(grid, category, "按时重试").case_id)
    wait_for(lambda: job_gone(c, job), 40, f"{job} delivered on its fourth attempt")
    posts = receiver.posts(job)
    assert [(p["attempt"], p["status"]) for p in posts] == [
        ("1", 500), ("2", 500), ("3", 500), ("4", 200)], posts
    log = c["notify"].log.read_text(errors="replace")
    planned = {int(n): int(ms) / 1000 for n, ms in re.findall(
        rf"job {re.escape(job)} round (\d) incomplete; retry in (\d+) ms", log)}
    assert sorted(planned) == [1, 2, 3], log
    for n in (2, 3):            # the retries that follow a sweep's claim
        gap = posts[n]["t"] - posts[n - 1]["t"]
        assert gap < planned[n] + 1.0, \
            f"attempt {n + 1} came {gap:.2f} s after attempt {n}, planned {planned[n]:.2f} s"
