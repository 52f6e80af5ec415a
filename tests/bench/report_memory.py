#!/usr/bin/env python3
"""report_memory.py — is gridcall-report's memory bounded while screens,
API clients and ledger exports read a street that keeps changing?

Starts a private cluster (tests/integration/gc_cluster.py: Redis, the demo
directory, intake, report), files reports at --rate a second (each a case
event for the live feed), and runs --clients HTTP clients over every route
of the report (stats, cases, one case, units, snapshot, matters, metrics,
the page; a ledger export in one request of 20) and --screens event
streams that reconnect every 5-60 s. Samples the report's VmRSS every
--every seconds and prints RSS at the start, at each quarter and at the
end, and a verdict:
    report memory: BOUNDED (...)   or   report memory: GROWS (...)
BOUNDED when VmHWM grew by at most --growth-mb over the second half.

--quiet: no reports after the first 20 and snapshot_ms 100 (50 times the
default), the street of a night: the feed sends a snapshot every 0.1 s and
nothing else. --report-binary runs another build of the report (an older
commit's, to compare). Exit 0 when bounded.
"""

import argparse
import http.client
import random
import re
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tests" / "integration"))
from gc_cluster import Cluster, Daemon  # noqa: E402

PATHS = ["/api/stats", "/api/cases?limit=50", "/api/units", "/api/snapshot", "/api/matters",
         "/metrics", "/healthz", "/", "/api/cases?state=CLOSED&limit=20",
         "/api/stats?from=2020-01-01"]


def vm(pid, field):
    with open(f"/proc/{pid}/status") as f:
        return int(re.search(field + r":\s+(\d+)", f.read()).group(1))


class Load:
    """The HTTP clients and screens; counts what they did."""

    def __init__(self, port, until):
        self.port, self.until = port, until
        self.lock = threading.Lock()
        self.requests = self.exports = self.streams = self.errors = 0
        self.ids = []

    def _count(self, name):
        with self.lock:
            setattr(self, name, getattr(self, name) + 1)

    def client(self):
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
        while time.monotonic() < self.until:
            path = random.choice(PATHS)
            if random.random() < 0.25 and self.ids:
                path = "/api/cases/" + random.choice(self.ids)
            elif random.random() < 0.05:
                path = "/api/ledger.csv"
            try:
                conn.request("GET", path)
                resp = conn.getresponse()
                body = resp.read()
                ids = re.findall(rb'"case_id":"([^"]+)"', body) if path.startswith("/api/cases?") else []
                if ids:
                    self.ids = [i.decode() for i in ids]
                self._count("exports" if path == "/api/ledger.csv" else "requests")
            except (OSError, http.client.HTTPException):
                self._count("errors")
                conn.close()
                conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)

    def screen(self):
        while time.monotonic() < self.until:
            try:
                conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=20)
                conn.request("GET", "/api/stream")
                resp = conn.getresponse()
                self._count("streams")
                leave = min(self.until, time.monotonic() + random.uniform(5, 60))
                while time.monotonic() < leave and resp.read1(65536):
                    pass
                conn.close()
            except (OSError, http.client.HTTPException):
                self._count("errors")
                time.sleep(0.5)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--seconds", type=float, default=300)
    ap.add_argument("--rate", type=float, default=5, help="reports a second")
    ap.add_argument("--clients", type=int, default=3)
    ap.add_argument("--screens", type=int, default=3)
    ap.add_argument("--every", type=float, default=5, help="seconds between samples")
    ap.add_argument("--growth-mb", type=float, default=2)
    ap.add_argument("--quiet", action="store_true")
    ap.add_argument("--report-binary", default=str(ROOT / "build" / "gridcall-report"))
    args = ap.parse_args()

    c = Cluster(name="report-memory")
    try:
        c.load_directory()
        c.start("intake")
        options, binds, ready = c._defaults("report")
        options = {**c.common(), **c.credentials("report"), **c.curve_options("report"),
                   **options, **({"snapshot_ms": 100} if args.quiet else {})}
        report = Daemon("report", args.report_binary, options, c.folder, binds, ready).start()
        port = int(report.ready_match.group(2))
        pid = report.proc.pid
        reporter = c.reporter()
        servable = c.directory.servable()
        for i in range(20):
            grid, category = servable[i % len(servable)]
            reporter.report(grid, category, f"路灯不亮 {i}")
        until = time.monotonic() + args.seconds
        load = Load(port, until)
        threads = [threading.Thread(target=load.client, daemon=True) for _ in range(args.clients)]
        threads += [threading.Thread(target=load.screen, daemon=True) for _ in range(args.screens)]
        for t in threads:
            t.start()
        started = time.monotonic()
        samples, filed, next_report = [], 20, started
        next_sample = started
        while time.monotonic() < until:
            now = time.monotonic()
            if not args.quiet and args.rate > 0 and now >= next_report:
                grid, category = servable[filed % len(servable)]
                reporter.report(grid, category, f"楼道堆物 {filed}")
                filed += 1
                next_report += 1 / args.rate
            if now >= next_sample:
                samples.append((now - started, vm(pid, "VmRSS"), vm(pid, "VmHWM"), filed,
                                load.requests))
                next_sample += args.every
            time.sleep(min(0.02, max(0.0, min(next_report, next_sample) - time.monotonic())))
        for t in threads:
            t.join(25)
        samples.append((time.monotonic() - started, vm(pid, "VmRSS"), vm(pid, "VmHWM"), filed,
                        load.requests))
        print(f"report memory ({'quiet street' if args.quiet else f'{args.rate:g} reports/s'}, "
              f"{args.clients} clients, {args.screens} screens, {args.seconds:g} s, "
              f"{args.report_binary}):")
        for q in range(5):
            t, rss, hwm, cases, reqs = samples[min(len(samples) - 1, q * (len(samples) - 1) // 4)]
            print(f"  {t:6.0f} s  RSS {rss / 1024:6.1f} MB  HWM {hwm / 1024:6.1f} MB  "
                  f"cases {cases:6d}  requests {reqs:7d}")
        print(f"  requests {load.requests}, ledger exports {load.exports}, "
              f"streams {load.streams}, errors {load.errors}")
        half = samples[len(samples) // 2]
        growth = (samples[-1][2] - half[2]) / 1024
        verdict = "BOUNDED" if growth <= args.growth_mb else "GROWS"
        print(f"report memory: {verdict} (VmHWM {growth:+.1f} MB over the second half; "
              f"limit {args.growth_mb:g} MB)")
        report.stop()
        return 0 if verdict == "BOUNDED" else 1
    finally:
        c.close()


if __name__ == "__main__":
    sys.exit(main())
