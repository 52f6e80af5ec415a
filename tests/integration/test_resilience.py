"""test_resilience.py — the cluster outlives its Redis and its operators:

* Redis is SIGKILLed under load and restarted on the same socket and AOF,
  loading slowly (LOADING answers): every daemon still runs after, every
  report intake acknowledged is still there and closes, each daemon logs
  the outage once and its end.
* SIGHUP reloads: every daemon keeps running, logs "reloaded", applies a
  new log_level at once and names the options that need a restart.
* scripts/redis-local.sh waits for Redis to load a large AOF; the demo
  (scripts/run-local.sh) stops cleanly on Ctrl-C and starts again on the
  same data while Redis loads.
* The simulated street places service-card orders after a few case
  minutes and declines some, with a reason the reporter hears about.
"""

import json
import os
import random
import signal
import subprocess
import threading
import time
import urllib.request
from collections import Counter

import pytest
import zmq

from gc_cluster import (DIRECTORY, ROOT, Cluster, Redis, RedisError, Reporter, pb, parse,
                        REPORTER_REPLIES, timeline_whats, wait_for)
from resilience_helpers import (blocks_sighup, log_size, log_text, processes_under, restart_redis,
                                start_with_conf, use_aof_redis)
from units_fixture import PyUnit, street_doc

N_REPORTS = 300
REPORT_RATE = 100               # reports per second offered to intake
KILL_AT = 100                   # acknowledged reports before Redis is killed
DOWN_S = 1.0                    # Redis stays dead this long
CLOSE_TIMEOUT_S = 120
DAEMONS = ("notify", "dispatch", "intake", "escalate")
#  notify's main still calls gc_daemon_init without its option table: a
#  SIGHUP keeps it running and bumps the reload generation, but cannot
#  re-read its options until it passes the table (gc_daemon_init_options)
OPTIONS_NOT_REREAD = set()


@pytest.fixture
def aof_cluster(request):
    """Factory: a Cluster whose Redis has its AOF on (and can be killed and
    restarted), the directory loaded, no daemon started yet."""
    made = []
    failed_before = request.session.testsfailed

    def make(directory=DIRECTORY, slow_load_us=0, time_scale=1):
        c = Cluster(time_scale=time_scale, directory=directory,
                    name=f"{request.node.name}#{len(made) + 1}")
        made.append(c)
        use_aof_redis(c, slow_load_us)
        c.load_directory()
        return c

    yield make
    failed = request.session.testsfailed > failed_before
    for c in made:
        c.close(keep=failed)
        if failed:
            print(f"\n{c.name}: logs kept in {c.folder}")


def _redis_try(c, fn):
    """fn(c) or None while Redis is down or loading."""
    try:
        return fn(c)
    except (OSError, ConnectionError, RedisError):
        if c._redis is not None:
            try:
                c._redis.close()
            except OSError:
                pass
            c._redis = None
        return None


def test_redis_killed_and_restarted_under_load(aof_cluster, tmp_path):
    path = tmp_path / "street.json"
    path.write_text(json.dumps(street_doc()), encoding="utf-8")
    c = aof_cluster(directory=path, slow_load_us=3000)
    for name in DAEMONS:
        c.start(name, **{"dispatch": {"offer_timeout_ms": 1500, "retry_ms": 200,
                                      "sweep_ms": 100, "lease_ms": 1000},
                         "notify": {"sweep_ms": 200, "lease_ms": 1000}}.get(name, {}))
    units = [PyUnit(c, uid, "resolve") for uid in ("CLEAN1", "CLEAN2")]
    for u in units:
        u.wait("welcome")
    reporter, verifier = c.reporter(), c.reporter()
    for s in (*reporter.socks, *verifier.socks):    # a dead intake must not block the test
        s.setsockopt(zmq.SNDTIMEO, 0)
    poller = zmq.Poller()
    for s in (*reporter.socks, *verifier.socks):
        poller.register(s, zmq.POLLIN)
    rng = random.Random(9)
    grids = [rng.choice(["G01", "G02"]) for _ in range(N_REPORTS)]

    acked = {}              # idempotency key -> case id
    last_sent = {}          # key -> when we last sent it
    verified_at = {}
    closed = set()
    phase = "up"            # up -> down -> back
    killed_at = restarted_at = None
    saw_loading = False
    acked_at_kill = 0
    t0 = time.monotonic()
    next_scan = t0

    def send(i):
        key = f"res-{i:04d}"
        last_sent[key] = time.monotonic()
        try:
            reporter.send("report", Reporter.new_report(grids[i], "env.garbage",
                                                        f"resilience report {i}", key=key))
        except zmq.Again:
            pass                # queue full: resent with the others


    sent = 0
    while len(closed) < N_REPORTS and time.monotonic() - t0 < CLOSE_TIMEOUT_S:
        now = time.monotonic()
        while sent < min(N_REPORTS, int((now - t0) * REPORT_RATE) + 1):
            send(sent)
            sent += 1
        for sock, _ in poller.poll(20):
            while sock.poll(0):
                kind, msg = parse(REPORTER_REPLIES, sock.recv_multipart())
                if kind == "report.ok":
                    acked[msg.idempotency_key] = msg.case_id
                elif kind == "ack" and msg.state == pb.STATE_CLOSED:
                    closed.add(msg.case_id)
                # an error (UNAVAILABLE while Redis is away) is retried below
        # a reporter app resends what was not acknowledged, with the same key
        for key, at in list(last_sent.items()):
            if key not in acked and now - at > 1.5:
                send(int(key[4:]))
        if phase == "up" and len(acked) >= KILL_AT:
            c.redis_server.rewrite_aof()        # the restart then loads slowly
            c.redis_server.kill9()
            acked_at_kill = len(acked)
            killed_at, phase = time.monotonic(), "down"
        elif phase == "down" and now - killed_at >= DOWN_S:
            restart_redis(c)
            saw_loading = c.redis_server.loading()
            restarted_at, phase = time.monotonic(), "back"
        if phase != "down" and now >= next_scan:
            ids = [i for i in acked.values() if i not in closed]
            states = _redis_try(c, lambda c: c.redis.pipeline(
                [("HGET", f"gc:case:{i}", "state") for i in ids]))
            for i, s in zip(ids, states or []):
                if s == "RESOLVED" and now - verified_at.get(i, -10) > 1.0:
                    verified_at[i] = now
                    try:
                        verifier.send("verify", pb.Verify(case_id=i, note="ok", verifier="pytest",
                                                          **{"pass": True}))
                    except zmq.Again:
                        pass

                elif s == "CLOSED":
                    closed.add(i)
            next_scan = time.monotonic() + 0.3

    # every daemon outlived the outage (none died of SIGPIPE, 141)
    dead = {d.name: d.proc.returncode for d in c.daemons.values() if not d.alive()}
    assert not dead, f"daemons died: {dead}"
    assert phase == "back", f"the run ended before Redis was restarted ({phase})"
    assert saw_loading, "the restarted Redis was never seen loading: the test did not test LOADING"
    assert acked_at_kill >= KILL_AT and len(acked) == N_REPORTS, \
        f"{len(acked)} of {N_REPORTS} reports acknowledged"
    ids = set(acked.values())
    assert len(ids) == N_REPORTS, "two reports got the same case id"
    states = Counter(c.redis.pipeline([("HGET", f"gc:case:{i}", "state") for i in ids]))
    assert states == {"CLOSED": N_REPORTS}, \
        f"after {CLOSE_TIMEOUT_S} s: {len(closed)} of {N_REPORTS} closed; states: {dict(states)}"
    totals = {k: int(v) for k, v in c.stats()["total"].items()}
    assert totals["reported"] == N_REPORTS and totals["closed"] == N_REPORTS, totals
    # each daemon said once per outage that Redis was gone, and that it came back
    for name in DAEMONS:
        text = log_text(c[name])
        lost = sum('redis "' in line and "failed" in line for line in text.splitlines())
        back = text.count("redis connection restored")
        assert 1 <= lost <= back, f"{name}: {lost} outage lines, {back} restored lines:\n" \
            + "\n".join(text.splitlines()[-20:])
    print(f"resilience: Redis down {restarted_at - killed_at:.1f} s at {acked_at_kill} "
          f"acknowledged reports; all {N_REPORTS} closed in {time.monotonic() - t0:.1f} s")


def _reloaded(d, since, count=1):
    lines = [line for line in log_text(d, since).splitlines() if "reloaded" in line]
    return lines[count - 1] if len(lines) >= count else None


def test_sighup_reloads_every_daemon(cluster, gc_directory, tmp_path):
    conf = tmp_path / "common.conf"
    conf.write_text("log_level info\n")
    c = cluster()
    names = ("notify", "dispatch", "intake", "escalate", "report", "unit-sim")
    for name in names:
        extra = {"unit_sim": {"units": "all", "accept_rate": 1, "silence_rate": 0}}
        start_with_conf(c, name, conf, **extra.get(name.replace("-", "_"), {}))
    daemons = [c[n] for n in names]
    for d in daemons:       # unit-sim binds nothing that says it is up
        wait_for(lambda: blocks_sighup(d), 10, f"{d.name} to take SIGHUP in its own thread")
    grid, category = gc_directory.choose()
    reporter = c.reporter()

    # 1. log_level info -> debug at once; redis_timeout_ms named for a restart
    offsets = {d.name: log_size(d) for d in daemons}
    conf.write_text("log_level debug\nredis_timeout_ms 2500\n")
    for d in daemons:
        d.proc.send_signal(signal.SIGHUP)
    for d in daemons:
        line = wait_for(lambda: _reloaded(d, offsets[d.name]), 10, f"{d.name} to log reloaded")
        assert d.alive(), f"{d.name} exited {d.proc.returncode} on SIGHUP"
        if d.name not in OPTIONS_NOT_REREAD:
            assert "log_level info -> debug" in line and "redis_timeout_ms" in line, line
    # the loops still serve after the signal, now logging at debug
    case_id = reporter.report(grid, category, "after a reload").case_id
    wait_for(lambda: c.state(case_id) not in ("REGISTERED", None), 10, f"{case_id} dispatched")
    wait_for(lambda: " DEBUG dispatch: offered" in log_text(c["dispatch"], offsets["dispatch"]),
             10, "dispatch's debug line for the offer")
    port = c["report"].ready_match.group(2)
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=10) as r:
        assert r.status == 200
    wait_for(lambda: " DEBUG report: GET" in log_text(c["report"], offsets["report"]), 10,
             "report's debug line for GET /healthz")

    # 2. log_level error: after the reload nothing below error is written
    offsets = {d.name: log_size(d) for d in daemons}
    conf.write_text("log_level error\n")
    for d in daemons:
        d.proc.send_signal(signal.SIGHUP)
    for d in daemons:
        line = wait_for(lambda: _reloaded(d, offsets[d.name]), 10, f"{d.name} to log reloaded")
        if d.name not in OPTIONS_NOT_REREAD:
            assert "log_level debug -> error" in line and "restart" not in line, line
    case_id = reporter.report(grid, category, "after the second reload").case_id
    wait_for(lambda: c.state(case_id) not in ("REGISTERED", None), 10, f"{case_id} dispatched")
    for d in daemons:
        assert d.alive(), f"{d.name} exited {d.proc.returncode} on the second SIGHUP"
        assert d.stop() == 0, f"{d.name} stopped with {d.proc.returncode}"
        if d.name in OPTIONS_NOT_REREAD:
            continue
        after = log_text(d, offsets[d.name]).split("reloaded", 1)[1].splitlines()[1:]
        chatty = [line for line in after
                  if any(f" {lvl} " in line for lvl in ("DEBUG", "INFO", "NOTICE"))]
        assert not chatty, f"{d.name} logs below error after the reload: {chatty[:3]}"


def _redis_local(*args, env=None, timeout=120):
    return subprocess.run([str(ROOT / "scripts" / "redis-local.sh"), *map(str, args)],
                          capture_output=True, text=True, timeout=timeout,
                          env={**os.environ, **(env or {})})


def _admin(folder):
    """Log in as gc-admin to the Redis redis-local.sh runs in folder."""
    return "gc-admin", (folder / "users" / "gc-admin.password").read_text().strip()


def test_redis_local_waits_for_a_large_aof_to_load(tmp_path, gc_directory):
    folder = tmp_path / "redis"
    sock = folder / "redis.sock"
    assert _redis_local("start", folder).returncode == 0
    try:
        r = Redis(sock, auth=_admin(folder))
        # 4 MB and more of AOF, as after a long demo
        r.call("EVAL", "for i = 1, 25000 do local v = '' for k = 1, 5 do "
               "v = v .. redis.sha1hex(i .. ':' .. k) end redis.call('SET', 'demo:' .. i, v) "
               "end return 1", 0)
        r.call("BGREWRITEAOF")
        wait_for(lambda: "aof_rewrite_in_progress:0" in r.call("INFO", "persistence")
                 and "aof_rewrite_scheduled:0" in r.call("INFO", "persistence"), 30, "AOF rewrite")
        r.call("SET", "after-rewrite", "1")          # in the AOF's incremental part
        keys = r.call("DBSIZE")
        r.close()
        aof = sum(f.stat().st_size for f in (folder / "appendonlydir").iterdir())
        assert aof > 4_000_000, aof
        assert _redis_local("stop", folder).returncode == 0
        wait_for(lambda: not sock.exists() or subprocess.run(
            ["redis-cli", "-s", str(sock), "ping"], capture_output=True).stdout.strip() == b"",
            10, "redis to stop")

        # loading takes ~3 s here (120 us a key): start must wait it out
        t0 = time.monotonic()
        started = _redis_local("start", folder, env={"GRIDCALL_REDIS_ARGS":
                               "--key-load-delay 120 --loading-process-events-interval-bytes 1024"})
        took = time.monotonic() - t0
        assert started.returncode == 0, started.stderr
        assert took > 2, f"start returned after {took:.1f} s: the load cannot have finished"
        assert "Redis is loading its data" in started.stdout, started.stdout
        r = Redis(sock, auth=_admin(folder))
        assert "loading:0" in r.call("INFO", "persistence")
        assert r.call("DBSIZE") == keys
        r.close()
        # and the library and the directory load at once, as make run does next
        for user, words in (("gc-admin", ["redis", "setup"]),
                            ("gc-operator", ["directory", "load", str(gc_directory.path)])):
            load = subprocess.run([str(ROOT / "build" / "gridcall"), "-c",
                                   str(folder / "users" / f"{user}.conf"),
                                   "--set", f"redis_socket={sock}", *words],
                                  capture_output=True, text=True, timeout=60)
            assert load.returncode == 0, load.stdout + load.stderr
    finally:
        _redis_local("stop", folder)


class _Demo:
    """scripts/run-local.sh in a session of its own, as a terminal runs it."""

    def __init__(self, var, env=None):
        self.var = var
        self.lines = []
        self.proc = subprocess.Popen(
            [str(ROOT / "scripts" / "run-local.sh")], stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT, text=True, start_new_session=True, cwd=ROOT,
            env={**os.environ, "GRIDCALL_VAR": str(var), "GRIDCALL_HTTP_PORT": "0",
                 "GRIDCALL_REPORT_RATE": "5", **(env or {})})
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self):
        for line in self.proc.stdout:
            self.lines.append(line)

    def text(self):
        return "".join(self.lines)

    def wait_running(self):
        wait_for(lambda: self.proc.poll() is not None or "Ctrl-C stops everything" in self.text(),
                 120, "the demo to start")
        assert self.proc.poll() is None, f"the demo stopped at start:\n{self.text()}"

    def ctrl_c(self):
        """SIGINT to the foreground process group, as the terminal sends."""
        os.killpg(self.proc.pid, signal.SIGINT)
        return self.proc.wait(60)

    def kill(self):
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
        for pid, _ in processes_under(self.var):
            os.kill(pid, signal.SIGKILL)


def test_demo_stops_on_ctrl_c_and_restarts_on_its_data(tmp_path):
    var = tmp_path / "var"
    sock = var / "redis" / "redis.sock"
    demo = _Demo(var)
    try:
        demo.wait_running()

        def reported():
            r = Redis(sock, auth=_admin(var / "redis"))
            try:
                return int(r.call("ZCARD", "gc:idx:created") or 0)
            finally:
                r.close()
        wait_for(lambda: reported() >= 10, 30, "the simulated street to file 10 reports")
        r = Redis(sock, auth=_admin(var / "redis"))
        r.call("BGREWRITEAOF")              # an RDB base: the restart below loads slowly
        wait_for(lambda: "aof_rewrite_in_progress:0" in r.call("INFO", "persistence")
                 and "aof_rewrite_scheduled:0" in r.call("INFO", "persistence"), 30, "rewrite")
        keys = r.call("DBSIZE")
        r.close()
        status = demo.ctrl_c()
        out = demo.text()
        assert status == 0, out
        assert "stopped on its own" not in out and "stopped; data kept" in out, out
        assert not processes_under(var), f"left running: {processes_under(var)}"
        before = len(list((var / "redis").glob("appendonlydir/*")))
        assert before, "no AOF kept"

        # the next run loads the same data, however slowly, and runs
        slow = f"--key-load-delay {4_000_000 // keys} --loading-process-events-interval-bytes 1024"
        again = _Demo(var, env={"GRIDCALL_REDIS_ARGS": slow})      # ~4 s of LOADING
        demo = again
        again.wait_running()
        assert "Redis is loading its data" in again.text(), again.text()
        assert reported() >= 10
        status = again.ctrl_c()
        assert status == 0 and "stopped on its own" not in again.text(), again.text()
        assert not processes_under(var)
    finally:
        demo.kill()


def test_simulated_community_places_and_declines_orders(cluster, gc_directory):
    scale = 600                     # 10 case minutes = 1 s
    c = cluster("notify", "dispatch", "intake", "escalate", "unit-sim", time_scale=scale,
                unit_sim={"units": "all", "accept_rate": 1, "silence_rate": 0})
    sub = c.subscriber()
    sub.setsockopt(zmq.SUBSCRIBE, b"case.declined")
    argv = ["simulate", "reports", "--rate", "20", "--count", "80", "--seed", "3",
            "--place-after-minutes", "10", "--decline-rate", "0.2",
            "--directory", gc_directory.path]
    options = c.cli_options()
    cmd = [str(ROOT / "build" / "gridcall")]
    for k, v in options.items():
        cmd += ["--set", f"{k}={v}"]
    sim = subprocess.Popen(cmd + [str(a) for a in argv], stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT, text=True, start_new_session=True)
    heard = set()
    try:
        def settled():
            heard.update(_drain(sub))
            t = c.stats()["total"]
            orders = int(t.get("orders", 0))
            done = int(t.get("orders_placed", 0)) + int(t.get("orders_declined", 0))
            return (int(t.get("reported", 0)) == 80 and orders and done == orders
                    and c.redis.call("ZCARD", "gc:idx:state:ORDERED") == 0)
        wait_for(settled, 60, "every order of 80 reports to be placed or declined")
    finally:
        sim.send_signal(signal.SIGINT)
        out = sim.communicate(timeout=10)[0]
    assert sim.returncode == 0, out

    totals = {k: int(v) for k, v in c.stats()["total"].items()}
    placed, declined = totals.get("orders_placed", 0), totals.get("orders_declined", 0)
    assert placed > declined > 0, totals
    assert f"{placed} orders placed, {declined} declined" in out, out
    ids = [k.split(":")[-1] for k in c.case_keys()]

    def orders_with_placed_offered():
        cases = [x for x in c.cases(ids).values() if x.get("ordered")]
        placed_ones = [x for x in cases if x["state"] != "REJECTED"]
        offered = all("offered" in timeline_whats(x) for x in placed_ones)
        return cases if offered else None
    # dispatch takes a placed order from its pending set on its next sweep
    cases = wait_for(orders_with_placed_offered, 15, "every placed order to be offered")
    assert len(cases) == totals["orders"]
    for case in cases:
        whats = timeline_whats(case)
        acted = [e for e in case["timeline"] if e["what"] in ("placed", "declined")]
        assert len(acted) == 1 and acted[0]["who"] == "operator:pytest", whats
        assert acted[0]["by"] == "community operator", acted
        waited_ms = int(acted[0]["at"]) - int(case["ordered"])
        assert waited_ms >= 0.5 * 10 * 60000 / scale * 0.9, \
            f"{case['id']} was {acted[0]['what']} {waited_ms} ms after it was ordered"
        if acted[0]["what"] == "declined":
            assert case["state"] == "REJECTED" and acted[0]["note"], case
            assert case["decline_reason"] == acted[0]["note"]
        else:
            assert case["state"] not in ("ORDERED", "REJECTED") and "offered" in whats, whats
    declined_ids = {x["id"] for x in cases if x["state"] == "REJECTED"}
    def all_heard():
        heard.update(_drain(sub))
        return declined_ids <= heard
    wait_for(all_heard, 10, "a case.declined notification for every declined order")


def _drain(sub):
    out = set()
    while sub.poll(0):
        n = pb.Notification()
        n.ParseFromString(sub.recv_multipart()[1])
        out.add(n.case_id)
    return out
