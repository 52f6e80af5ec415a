#!/bin/sh
# bench-report.sh: the report's figures at city scale. Starts a private
# Redis, loads the demo directory under the key prefix "bench:", registers
# BENCH_CASES cases (default 1,000,000) with gc_register in pipelined
# batches, starts gridcall-report, then times GET /api/stats, the gc_stats
# call behind it, a filtered /api/cases page and the screen snapshot
# (gc_report_screen), printing p50/p99 and Redis's memory. The goal: stats
# under 5 ms with 1,000,000 cases.
set -eu
cd "$(dirname "$0")/.."
[ -x build/gridcall-report ] || { echo "bench-report: run make all first" >&2; exit 1; }
exec /usr/bin/python3 - "$@" <<'PY'
import http.client, json, os, shutil, statistics, subprocess, sys, tempfile, threading, time
sys.path.insert(0, "tests/integration")
from gc_cluster import Redis, RedisServer, wait_for, Directory, set_args

N = int(os.environ.get("BENCH_CASES", "1000000"))
REQS = int(os.environ.get("BENCH_REQUESTS", "500"))
P = "bench:"
folder = tempfile.mkdtemp(prefix="gc-bench-report-", dir="/tmp")
server = RedisServer(folder, key_prefix=P)
server.MAXMEMORY = "0"              # a million cases outgrow the tests' limit
report = None


def login(user):
    """--set options of a Redis user (deploy/redis-users.acl); the password
    goes in a file (secrets never on a command line)."""
    return set_args(server.options(user), folder)


try:
    server.start()
    r = Redis(server.socket, timeout=120, auth=server.auth())
    cli = ["build/gridcall", "--set", f"redis_socket={server.socket}", "--set", f"key_prefix={P}"]
    subprocess.run(cli + login("gc-admin")
                   + ["redis", "setup"], check=True, capture_output=True)
    subprocess.run(cli + login("gc-operator")
                   + ["directory", "load", "deploy/tianjiao/directory.json"], check=True,
                   capture_output=True)
    d = Directory()
    pairs = [(g, c) for g in d.grids for c in list(d.categories)[:12]]
    t0 = time.monotonic()
    batch = 5000
    for start in range(0, N, batch):
        cmds = []
        for i in range(start, min(start + batch, N)):
            g, c = pairs[i % len(pairs)]
            cmds.append(("FCALL", "gc_register", 0, P, f"b{i}", g, c, "楼道堆物，需清理",
                         "GRID_WORKER", "bench", "", "", 1, 1))
        for reply in r.pipeline(cmds):
            if not isinstance(reply, str) or '"ok":true' not in reply:
                raise SystemExit(f"gc_register failed: {reply}")
    load_s = time.monotonic() - t0
    info = r.call("INFO", "memory")
    used = [l for l in info.splitlines() if l.startswith("used_memory:")][0].split(":")[1]
    print(f"cases registered:          {N} in {load_s:.1f} s ({N / load_s:,.0f}/s, pipelined FCALL gc_register)")
    print(f"redis used_memory:         {int(used) / 2**20:,.0f} MiB ({int(used) / N:,.0f} B per case, with its timeline, indexes and notify job)")

    def timed(fn, n):
        out = []
        for _ in range(n):
            t = time.perf_counter()
            fn()
            out.append((time.perf_counter() - t) * 1000)
        out.sort()
        return out[len(out) // 2], out[int(len(out) * 0.99) - 1]

    def show(name, p):
        print(f"{name:<26} p50 {p[0]:7.3f} ms   p99 {p[1]:7.3f} ms")

    show("FCALL gc_stats:", timed(lambda: r.call("FCALL", "gc_stats", 0, P), REQS))
    show("PING (round trip):", timed(lambda: r.call("PING"), REQS))
    show("FCALL gc_report_screen:", timed(lambda: r.call("FCALL", "gc_report_screen", 0, P,
                                                         "0.25", "1", "50", "500", "30"), 50))
    report = subprocess.Popen(["build/gridcall-report", "--set", f"redis_socket={server.socket}",
                               *login("gc-report"),
                               "--set", f"key_prefix={P}", "--set", "http_port=0",
                               "--set", "static_dir=build/web"],
                              stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True)
    port = None
    while port is None:
        line = report.stderr.readline()
        if not line:
            raise SystemExit("gridcall-report did not start")
        if "listening on http://" in line:
            port = int(line.rsplit(":", 1)[1])
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)

    def get(path):
        conn.request("GET", path)
        resp = conn.getresponse()
        body = resp.read()
        assert resp.status == 200, (path, resp.status, body[:200])
        return body
    assert json.loads(get("/api/stats"))["open"] == N
    show("GET /api/stats:", timed(lambda: get("/api/stats"), REQS))
    # a range's open cases are read one by one, a page a call: the request
    # takes as long as they are many, but Redis answers others meanwhile
    pings, busy = [], [True]
    r2 = Redis(server.socket, timeout=120, auth=server.auth())

    def ping_while_busy():
        while busy[0]:
            t = time.perf_counter()
            r2.call("PING")
            pings.append((time.perf_counter() - t) * 1000)
            time.sleep(0.001)
    pinger = threading.Thread(target=ping_while_busy)
    pinger.start()
    try:
        rng = timed(lambda: get("/api/stats?from=1"), 5)
    finally:
        busy[0] = False
        pinger.join()
    pings.sort()
    show("GET /api/stats?from=..:", rng)
    print(f"PING meanwhile:            p50 {pings[len(pings) // 2]:7.3f} ms   "
          f"max {pings[-1]:7.3f} ms ({len(pings)} pings; the range reads every open case)")
    show("GET /api/cases?grid=..:", timed(lambda: get(f"/api/cases?grid={d.grids[5]}&limit=50"), 100))
    show("GET /api/snapshot:", timed(lambda: get("/api/snapshot"), 30))
finally:
    if report:
        report.terminate()
        report.wait(10)
    server.stop()
    shutil.rmtree(folder, ignore_errors=True)
PY
