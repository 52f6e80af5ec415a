#!/bin/sh
# dispatch_memory.sh — is gridcall-dispatch's memory bounded under sustained
# load? Samples dispatch's VmRSS / VmHWM once a second against the cases
# resolved, prints RSS at the start, at each quarter of the cases and at
# the end, and a verdict line:
#   dispatch memory: BOUNDED (...)   or   dispatch memory: GROWS (...)
# BOUNDED when VmHWM grew by at most GROWTH_MB over the second half of the
# cases (a leak of 0.4 KB per case shows as 4 MB over 10,000 cases).
#
#   dispatch_memory.sh              runs its own load: the units bench's
#       street (tests/bench/units_load.py: UNITS units of gridcall-unit-sim,
#       intake, notify, dispatch), CASES cases filed at RATE per second,
#       followed to RESOLVED, then SETTLE idle seconds.
#   dispatch_memory.sh --watch PID  samples the dispatch that process PID
#       started (scripts/bench-units.sh runs units_load.py as PID) until
#       it is gone; CASES says how many cases that load files.
#
# Options in the environment: UNITS (200), CASES (20000), RATE (2000),
# SETTLE (5), GROWTH_MB (4), SAMPLES=FILE (every sample as TSV),
# DISPATCH_WRAP (a command put before the dispatch binary, e.g. "valgrind
# --tool=massif --massif-out-file=/tmp/m.out"), PROBE=1 (needs gdb: asks
# glibc what malloc holds in use at the end, then malloc_trim (0)). The
# environment reaches dispatch, so MALLOC_ARENA_MAX and the like can be
# tried too. Exit 0 when bounded. Takes CASES / min (RATE, ~450) seconds.
set -eu
cd "$(dirname "$0")/../.."
[ -x build/gridcall-dispatch ] || make all
exec /usr/bin/python3 - "$@" <<'EOF'
import json
import os
import re
import shlex
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path.cwd()
sys.path.insert(0, str(ROOT / "tests" / "integration"))
sys.path.insert(0, str(ROOT / "tests" / "bench"))
import gc_cluster  # noqa: E402
from gc_cluster import Cluster, Redis, Reporter, wait_for  # noqa: E402
from units_load import CATEGORIES, directory  # noqa: E402

UNITS = int(os.environ.get("UNITS", 200))
CASES = int(os.environ.get("CASES", 20000))
RATE = int(os.environ.get("RATE", 2000))
SETTLE = float(os.environ.get("SETTLE", 5))
GROWTH_MB = float(os.environ.get("GROWTH_MB", 4))
WRAP = shlex.split(os.environ.get("DISPATCH_WRAP", ""))
SAMPLES = os.environ.get("SAMPLES", "")
PROBE = os.environ.get("PROBE", "") not in ("", "0")


def status(pid):
    """VmRSS, VmHWM, RssAnon (kB) and Threads of pid; {} once it is gone."""
    out = {}
    try:
        for line in open(f"/proc/{pid}/status"):
            k, _, v = line.partition(":")
            if k in ("VmRSS", "VmHWM", "RssAnon", "Threads"):
                out[k] = int(v.split()[0])
    except OSError:
        pass
    return out


class Sampler:
    """Samples (t, filed, resolved, VmRSS, VmHWM, RssAnon, Threads) of pid,
    reading the resolved count from Redis with stats ()."""

    def __init__(self, pid, stats):
        self.pid = pid
        self.stats = stats
        self.t0 = time.monotonic()
        self.filed = 0
        self.resolved = 0
        self.rows = []

    def sample(self):
        s = status(self.pid)
        if not s:
            return False
        try:
            st = self.stats()
            self.resolved = int(st["state"].get("RESOLVED", 0))
            self.filed = max(self.filed, int(st["total"].get("reported", 0)))
        except Exception:       # Redis going down with the cluster: RSS still counts
            pass
        self.rows.append((time.monotonic() - self.t0, self.filed, self.resolved,
                          s.get("VmRSS", 0), s.get("VmHWM", 0), s.get("RssAnon", 0),
                          s.get("Threads", 0)))
        return True

    def save(self, path):
        with open(path, "w") as f:
            f.write("t_s\tfiled\tresolved\tvmrss_kb\tvmhwm_kb\trssanon_kb\tthreads\n")
            for s in self.rows:
                f.write("%.1f\t%d\t%d\t%d\t%d\t%d\t%d\n" % s)

    def report(self, cases, end_note):
        """Print the table and the verdict; True when bounded."""
        rows = self.rows
        if SAMPLES:
            self.save(SAMPLES)
        if not rows:
            print("dispatch memory: no samples")
            return False

        def at(fraction):
            for s in rows:
                if s[2] >= fraction * cases:
                    return s
            return rows[-1]
        start = max((s for s in rows if s[1] == 0), key=lambda s: s[0], default=rows[0])
        mb = lambda kb: kb / 1024  # noqa: E731
        print("  resolved   t(s)  VmRSS MB  VmHWM MB")
        print(f"  {start[2]:8d} {start[0]:6.1f}  {mb(start[3]):8.1f}  {mb(start[4]):8.1f}  (start)")
        for q in (0.25, 0.5, 0.75, 1.0):
            s = at(q)
            print(f"  {s[2]:8d} {s[0]:6.1f}  {mb(s[3]):8.1f}  {mb(s[4]):8.1f}"
                  + ("  (middle)" if q == 0.5 else ""))
        last = rows[-1]
        print(f"  {last[2]:8d} {last[0]:6.1f}  {mb(last[3]):8.1f}  {mb(last[4]):8.1f}  ({end_note})")
        half = at(0.5)
        if half[2] >= cases:
            print("dispatch memory: UNKNOWN (no sample between half and all of the cases)")
            return False
        peak_half = max(s[4] for s in rows if s[0] <= half[0])
        grow = mb(last[4] - peak_half)
        per10k = grow / ((cases - half[2]) / 10000)
        ok = grow <= GROWTH_MB
        print(f"dispatch memory: {'BOUNDED' if ok else 'GROWS'} at {mb(last[4]):.1f} MB peak "
              f"(start {mb(start[3]):.1f}, middle {mb(half[3]):.1f}, end {mb(last[3]):.1f} MB RSS; "
              f"{grow:+.1f} MB over the second half of {cases} cases, {per10k:+.2f} MB per 10k; "
              f"allowed {GROWTH_MB:g} MB)")
        return ok


def probe(log, pid):
    """gdb: glibc's malloc_stats () into dispatch's log, then malloc_trim (0);
    prints what malloc holds in use against what RSS shows."""
    offset = log.stat().st_size
    before = status(pid).get("VmRSS", 0)
    subprocess.run(["gdb", "-p", str(pid), "-batch", "-nx",
                    "-ex", "call (void) malloc_stats ()",
                    "-ex", "call (int) malloc_trim (0)"],
                   capture_output=True, timeout=120)
    after = status(pid).get("VmRSS", 0)
    text = log.read_bytes()[offset:].decode(errors="replace")
    total = re.findall(r"Total \(incl. mmap\):\s*system bytes\s*=\s*(\d+)\s*in use bytes\s*=\s*(\d+)", text)
    arenas = re.findall(r"Arena (\d+):\s*system bytes\s*=\s*(\d+)\s*in use bytes\s*=\s*(\d+)", text)
    for a, sysb, used in arenas:
        print(f"  malloc arena {a}: {int(sysb) / 1048576:.1f} MB from the system, "
              f"{int(used) / 1048576:.1f} MB in use")
    if total:
        print(f"  malloc total: {int(total[0][0]) / 1048576:.1f} MB from the system, "
              f"{int(total[0][1]) / 1048576:.1f} MB in use; VmRSS {before / 1024:.1f} MB, "
              f"{after / 1024:.1f} MB after malloc_trim (0)")
    else:
        print("  malloc probe: no malloc_stats output (is gdb installed?)")


def watch(parent):
    """Sample the gridcall-dispatch child of parent until it is gone."""
    deadline = time.monotonic() + 120
    pid = None
    while pid is None:
        for p in Path("/proc").iterdir():
            if not p.name.isdigit():
                continue
            try:
                stat = (p / "stat").read_text()
                ppid = int(stat[stat.rindex(")") + 2:].split()[1])
                argv = (p / "cmdline").read_bytes().split(b"\0")
            except (OSError, ValueError):
                continue
            if ppid == parent and argv[0].endswith(b"/gridcall-dispatch"):
                pid = int(p.name)
                opts = dict(a.decode().split("=", 1) for a in argv if b"=" in a)
        if pid is None:
            if time.monotonic() > deadline or not Path(f"/proc/{parent}").exists():
                print("dispatch memory: no gridcall-dispatch under process", parent)
                return False
            time.sleep(0.2)
    redis = {}

    def stats():
        if "r" not in redis:
            redis["r"] = Redis(opts["redis_socket"], timeout=2)
        try:
            return json.loads(redis["r"].call("FCALL", "gc_stats", 0, opts.get("key_prefix", "gc:")))
        except Exception:
            redis.pop("r").close()
            raise
    s = Sampler(pid, stats)
    next_sample = time.monotonic()
    while s.sample():
        next_sample += 1
        time.sleep(max(0.0, next_sample - time.monotonic()))
    return s.report(CASES, "when the bench stopped dispatch")


if WRAP:
    argv = gc_cluster.Daemon.argv
    gc_cluster.Daemon.argv = lambda self: (WRAP if self.name == "dispatch" else []) + argv(self)
    start = gc_cluster.Daemon.start      # a wrapper is slow to start and to stop
    gc_cluster.Daemon.start = lambda self, timeout=10: start(
        self, 120 if self.name == "dispatch" else timeout)
    stop = gc_cluster.Daemon.stop        # massif writes its file at exit
    gc_cluster.Daemon.stop = lambda self, timeout=5: stop(
        self, 120 if self.name == "dispatch" else timeout)


def run():
    """Our own load: CASES cases at RATE through the units bench's street."""
    folder = Path(tempfile.mkdtemp(prefix="gc-bench-mem-"))
    path = folder / "street.json"
    doc = directory(UNITS)
    path.write_text(json.dumps(doc))
    c = Cluster(directory=path, log_level="info", name="bench-mem")
    ok = False
    try:
        c.load_directory()
        c.start("notify")
        c.start("dispatch", offer_timeout_ms=10000, retry_ms=300, sweep_ms=200, lease_ms=3000,
                log_level="notice")
        c.start("intake", log_level="notice")
        c.start("unit-sim", units="all", accept_rate=0.9, silence_rate=0.02, accept_delay_ms=5,
                resolve_delay_ms=300, progress_notes=0, seed=11)
        pid = c["dispatch"].proc.pid
        P = c.key_prefix
        wait_for(lambda: c.redis.call("HLEN", f"{P}units:connected") >= UNITS, 120,
                 f"{UNITS} units connected")
        s = Sampler(pid, c.stats)
        s.sample()
        grids = [g["id"] for g in doc["grids"]]
        r = c.reporter()            # as the pytest gateway, with its key
        sent = answered = 0
        next_sample = s.t0 + 1
        while answered < CASES:
            due = min(CASES, int((time.monotonic() - s.t0) * RATE) + 1)
            while sent < due and sent - answered < 500:
                r.send("report", Reporter.new_report(grids[sent % len(grids)],
                                                     CATEGORIES[sent % 4], f"bench {sent}",
                                                     key=f"bench-{sent}"))
                sent += 1
            while r.sock.poll(1 if sent < CASES else 50):
                kind, msg = r.poll_recv()
                if kind != "report.ok":
                    raise SystemExit(f"report refused: {msg}")
                answered += 1
            if time.monotonic() >= next_sample:
                s.sample()
                next_sample += 1
        filed = time.monotonic() - s.t0
        deadline = time.monotonic() + 600
        while s.resolved < CASES:
            if time.monotonic() > deadline:
                raise SystemExit(f"only {s.resolved} of {CASES} resolved in time")
            time.sleep(max(0.0, next_sample - time.monotonic()))
            s.sample()
            next_sample += 1
        took = time.monotonic() - s.t0
        settle_end = time.monotonic() + SETTLE
        while time.monotonic() < settle_end:
            time.sleep(max(0.0, min(next_sample, settle_end) - time.monotonic()))
            s.sample()
            next_sample += 1
        print(f"dispatch memory: {UNITS} units, {CASES} cases at {RATE}/s: filed in "
              f"{filed:.1f} s, resolved in {took:.1f} s ({CASES / took:.0f} cases/s)")
        if PROBE:
            probe(c["dispatch"].log, pid)
        ok = s.report(CASES, f"after {SETTLE:g} s idle")
    finally:
        c.close(keep=not ok)
        if not ok:
            print(f"logs kept in {c.folder}")
    return ok


if len(sys.argv) == 3 and sys.argv[1] == "--watch":
    sys.exit(0 if watch(int(sys.argv[2])) else 1)
if len(sys.argv) > 1:
    sys.exit("usage: dispatch_memory.sh [--watch PID]")
sys.exit(0 if run() else 1)
EOF
