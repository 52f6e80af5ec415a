"""timers_bench.py — the timer engine's figures for scripts/bench-timers.sh.

Runs a private Redis (tests/integration/gc_cluster.py's Cluster: Unix
socket, temporary folder) with the demo directory and gridcall-escalate,
and prints:
  * Redis memory per pending timer, from 1e6 timers added to the set;
  * firing throughput (timers fired per second, each a full reminder,
    climb or overdue step) with an empty timer set and again beside the
    1e6 pending timers — the two should match (ZRANGEBYSCORE is O(log N));
  * lateness (fire time minus due time, Redis time) for timers falling due
    at a steady rate beside the 1e6 pending ones;
  * the same Redis's ceiling for a small Lua transition, pipelined.
Env: BENCH_PENDING (1000000), BENCH_CASES (4000 per throughput phase),
BENCH_STEADY (3000 timers over 5 s)."""

import json
import math
import os
import random
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "integration"))
from gc_cluster import Cluster, wait_for        # noqa: E402

P = "gc:"
SCALE = 1000000                 # case minutes fly: every step of a case is due at once
PENDING = int(os.environ.get("BENCH_PENDING", 1000000))
CASES = int(os.environ.get("BENCH_CASES", 4000))
STEADY = int(os.environ.get("BENCH_STEADY", 3000))
CATEGORY = "env.garbage"


# Timeline entries are JSON arrays in fixed positions (docs/wire.md):
# [at, what, who, state, tier, unit, deadline, note, version, extra?];
# at is ms since the case was created (an absolute time above 10^12)
ENTRY_KEYS = ("at", "what", "who", "state", "tier", "unit", "deadline", "note", "version")
AT_ABSOLUTE = 10 ** 12


def entry(text, created=0):
    """A timeline entry as the keyed object readers see (created: the
    case's, in ms, which a case entry's at counts from)."""
    v = json.loads(text)
    if isinstance(v, dict):
        return v
    out = dict(zip(ENTRY_KEYS, v))
    if isinstance(out.get("at"), int) and out["at"] < AT_ABSOLUTE:
        out["at"] += created
    # a deadline that moved is kept from the case's creation too (0: not moved)
    if isinstance(out.get("deadline"), int) and 0 < out["deadline"] < AT_ABSOLUTE:
        out["deadline"] += created
    if len(v) > 9 and isinstance(v[9], dict):
        out.update({k: x for k, x in v[9].items() if k != "job"})
    return out


def ordered(flat):
    """A timeline hash's HGETALL (entry number, entry, ...) as entries, oldest first."""
    return [v for _, v in sorted(zip(flat[::2], flat[1::2]), key=lambda p: int(p[0]))]


def what_of(text):
    return entry(text)["what"]


def register(c, n, tag):
    cmds = [("FCALL", "gc_register", 0, P, f"bench-{tag}-{i}", "G%02d" % (1 + i % 63), CATEGORY,
             "bench", "GRID_WORKER", "bench", "", "", SCALE, 3600) for i in range(n)]
    ids = []
    for k in range(0, n, 2000):
        for r in c.redis.pipeline(cmds[k:k + 2000]):
            ids.append(json.loads(r)["case_id"])
    return ids


def used_memory(c):
    info = c.redis.call("INFO", "memory")
    return int(info.split("used_memory:")[1].split("\r\n")[0])


def throughput(c, tag):
    """Fire every step of CASES cases (8 each: 4 reminders, 3 climbs, the
    top overdue notice) as fast as escalate can; returns firings/s."""
    before = int(c.stats()["total"].get("overdue_repeats", 0))
    register(c, CASES, tag)
    time.sleep(0.4)                         # every chain is due by now (scale 1e6)
    t0 = time.monotonic()
    esc = c.start("escalate", top_repeat_minutes=525600, batch_max=500, log_level="notice")
    wait_for(lambda: int(c.stats()["total"].get("overdue_repeats", 0)) >= before + CASES, 300,
             "every case at the top", interval=0.02)
    dt = time.monotonic() - t0
    esc.stop()
    del c.daemons["escalate"]
    return 8 * CASES / dt


def add_pending(c, n):
    script = """
    local now = redis.call('TIME')
    local base = (tonumber(now[1]) + 86400 * 30) * 1000
    for i = tonumber(ARGV[2]), tonumber(ARGV[3]) do
      redis.call('ZADD', ARGV[1] .. 'timers', base + i, string.format('TJ-20260101-%07d|deadline', i))
    end
    return 1"""
    step = 100000
    for k in range(0, n, step):
        c.redis.call("EVAL", script, 0, P, k, min(n, k + step) - 1)


def steady_lateness(c):
    """STEADY cases whose deadlines fall due evenly over 5 s while escalate
    runs; lateness of their first climb, Redis time."""
    ids = register(c, STEADY, "steady")
    # re-base: first deadline 2..7 s from now (an extension), not at once
    now = json.loads(c.redis.call("FCALL", "gc_clock_get", 0, P, SCALE))["case_now"]
    rng = random.Random(1)
    cmds = [("FCALL", "gc_extend_decide", 0, P, i, "bench", "extend",
             int(now + rng.uniform(2, 7) * 1000 * SCALE), "bench", SCALE) for i in ids]
    for k in range(0, len(cmds), 2000):
        c.redis.pipeline(cmds[k:k + 2000])
    c.start("escalate", top_repeat_minutes=525600, log_level="notice")
    target = int(c.stats()["total"].get("escalations", 0))
    wait_for(lambda: all(
        any(what_of(e) == "escalated" for e in ordered(c.redis.call("HGETALL", f"{P}case:{i}:tl"))[-12:])
        for i in ids[-50:]), 60, "the steady cases to climb", interval=0.2)
    time.sleep(1.5)
    late = []
    for k in range(0, len(ids), 1000):
        chunk = ids[k:k + 1000]
        logs = [ordered(x) for x in c.redis.pipeline([("HGETALL", f"{P}case:{i}:tl") for i in chunk])]
        born = c.redis.pipeline([("HGET", f"{P}case:{i}", "created") for i in chunk])
        for log, created in zip(logs, born):
            ev = [entry(e, int(created)) for e in log]
            ext = [e for e in ev if e["what"] == "extended"][-1]
            climb = [e for e in ev if e["what"] == "escalated" and e["due"] == ext["deadline"]]
            if climb:
                late.append(climb[0]["at"] - climb[0]["due"])
    c.daemons["escalate"].stop()
    late.sort()
    return late, target


def ceiling(c, n=20000):
    script = ("redis.call('HSET', KEYS[1], 'a', ARGV[1]) "
              "redis.call('XADD', KEYS[2], 'MAXLEN', '~', 1000, '*', 'a', ARGV[1]) "
              "redis.call('ZADD', KEYS[3], ARGV[1], ARGV[1]) return 1")
    sha = c.redis.call("SCRIPT", "LOAD", script)
    t0 = time.monotonic()
    for k in range(0, n, 2000):
        c.redis.pipeline([("EVALSHA", sha, 3, "ceil:h", "ceil:s", "ceil:z", i)
                          for i in range(k, k + 2000)])
    return n / (time.monotonic() - t0)


def main():
    c = Cluster(time_scale=SCALE, name="bench-timers")
    try:
        c.load_directory()
        lua_ceiling = ceiling(c)
        empty = throughput(c, "a")
        m0 = used_memory(c)
        t0 = time.monotonic()
        add_pending(c, PENDING)
        load_s = time.monotonic() - t0
        per_timer = (used_memory(c) - m0) / max(1, PENDING)
        full = throughput(c, "b")
        late, _ = steady_lateness(c)
        pct = lambda p: late[min(len(late) - 1, max(0, math.ceil(p / 100 * len(late)) - 1))]
        print(f"timers: Redis ceiling (HSET+XADD+ZADD Lua, pipelined): {lua_ceiling:,.0f}/s")
        print(f"timers: firing, empty timer set:          {empty:,.0f} timers/s "
              f"(each a reminder, climb or overdue transition)")
        print(f"timers: firing, {PENDING:,} pending timers: {full:,.0f} timers/s "
              f"({100 * full / empty:.0f}% of the empty-set rate)")
        print(f"timers: Redis memory per pending timer:    {per_timer:.0f} bytes "
              f"({PENDING:,} added in {load_s:.1f} s; the case hash itself is extra)")
        print(f"timers: lateness beside {PENDING:,} pending, {len(late)} deadlines over 5 s: "
              f"p50 {pct(50)} ms, p99 {pct(99)} ms, max {late[-1]} ms (Redis time)")
    finally:
        c.close()


if __name__ == "__main__":
    main()
