"""near_bench.py — what the duplicate suggestion costs, for
scripts/bench-near.sh. A private Redis (tests/integration/gc_cluster.py's
Cluster) with the demo directory; gc_register called pipelined, with no
daemon, in rounds that take turns so the machine's drift falls on each:
  * window 0: the directory's duplicate_window_minutes off (idx:near is
    still written: one ZADD a report);
  * spread: the demo's 1440-minute window, reports over 63 grids and 5
    categories (a few suggestions each);
  * crowded: the same window, every report in one grid and category (ten
    suggestions each, the most a reply carries);
  * by place: crowded, each report giving a map point instead of its grid.
It prints Redis's own time per call (INFO commandstats: the client's
Python does not count) and calls per second. Env: BENCH_NEAR_CALLS (10000
per round), BENCH_NEAR_ROUNDS (3)."""

import json
import os
import re
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "integration"))
from gc_cluster import DIRECTORY, Cluster        # noqa: E402

P = "gc:"
CALLS = int(os.environ.get("BENCH_NEAR_CALLS", 10000))
ROUNDS = int(os.environ.get("BENCH_NEAR_ROUNDS", 3))
CATEGORIES = ("env.garbage", "env.sanitation", "env.noise", "infra.streetlight",
              "property.service")


def fcall_usec(c):
    stats = c.redis.call("INFO", "commandstats")
    m = re.search(r"cmdstat_fcall:calls=(\d+),usec=(\d+)", stats)
    return (int(m.group(1)), int(m.group(2))) if m else (0, 0)


def run(c, tag, place=None, crowded=False):
    cmds = []
    for i in range(CALLS):
        grid = "G05" if crowded else "G%02d" % (1 + i % 63)
        category = CATEGORIES[0] if crowded else CATEGORIES[i % len(CATEGORIES)]
        args = [f"{tag}-{i}", "" if place else grid, category, "bench", "GRID_WORKER", "bench",
                "", "", 1, 3600, "bench", "h"]
        if place:
            args += [repr(place[1]), repr(place[0]), "", ""]
        cmds.append(("FCALL", "gc_register", 0, P, *args))
    c.redis.call("CONFIG", "RESETSTAT")
    t0 = time.monotonic()
    for k in range(0, CALLS, 1000):
        for r in c.redis.pipeline(cmds[k:k + 1000]):
            assert json.loads(r)["ok"], r
    dt = time.monotonic() - t0
    calls, usec = fcall_usec(c)
    return usec / max(calls, 1), CALLS / dt


def main():
    doc = json.loads(Path(DIRECTORY).read_text(encoding="utf-8"))
    ring = doc["grids"][4]["polygon"]
    point = ((ring[0][0] + ring[2][0]) / 2, (ring[0][1] + ring[2][1]) / 2)   # inside G05
    off = json.loads(json.dumps(doc))
    off.setdefault("location", {})["duplicate_window_minutes"] = 0
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False, encoding="utf-8") as f:
        json.dump(off, f, ensure_ascii=False)
    window = doc.get("location", {}).get("duplicate_window_minutes", 0)
    phases = (("window 0", Path(f.name), {}), (f"spread ({window} min)", None, {}),
              (f"crowded ({window} min)", None, {"crowded": True}),
              (f"by place ({window} min)", None, {"crowded": True, "place": point}))
    results = {name: [] for name, _, _ in phases}
    c = Cluster(name="bench-near")
    try:
        for r in range(ROUNDS):
            for name, directory, kw in phases:
                c.redis.call("FLUSHALL")
                c.setup_redis()
                c.load_directory(directory)
                results[name].append(run(c, f"r{r}-{name.split()[0]}", **kw))
    finally:
        c.close()
        os.unlink(f.name)
    print(f"duplicate suggestion: gc_register, {CALLS} calls a round, {ROUNDS} rounds, median")
    base = sorted(x[0] for x in results["window 0"])[ROUNDS // 2]
    for name, _, _ in phases:
        usec = sorted(x[0] for x in results[name])[ROUNDS // 2]
        rate = sorted(x[1] for x in results[name])[ROUNDS // 2]
        print(f"  {name:22s} {usec:6.1f} us of Redis a call ({usec / base:5.2f}x)   "
              f"{rate:7.0f} calls/s through the client")


if __name__ == "__main__":
    main()
