"""test_timers_chaos.py — the timer engine under crashes and competition.

1,000 cases get deadlines spread over the run; each then climbs
grid -> community -> street -> district with a reminder before every
deadline. escalate is killed with SIGKILL every couple of seconds and
started again. Afterwards every case shows exactly its expected chain of
reminders and climbs — each once, none early, in order — and the lateness
(fire time minus due time, both Redis time) is printed; p99 must stay
under one second. A second test runs two escalate instances side by side
on the same timers: still each step exactly once."""

import json
import math
import random
import time

import gc_cluster
from gc_cluster import BUILD, Daemon, pb, wait_for

P = "gc:"
CATEGORY = "env.garbage"
SCALE = 28800                          # COMMUNITY 480 min = 1 s, STREET 3 s, DISTRICT 6 s


def file_cases(c, n, grids):
    """File n reports through intake, pipelined on one DEALER; returns ids."""
    reporter = c.reporter()
    for i in range(n):
        reporter.send("report", reporter.new_report(grids[i % len(grids)], CATEGORY,
                                                    f"chaos timer case {i}"))
    ids = []
    for _ in range(n):
        kind, msg = reporter.recv(timeout=20)
        assert kind == "report.ok", (kind, msg)
        ids.append(msg.case_id)
    return ids


def spread_deadlines(c, ids, first_s, last_s, seed):
    """Re-base each case's deadline to now + a random first_s..last_s of
    wall time (an operator extension), so the timers fall due all along."""
    rng = random.Random(seed)
    now = json.loads(c.redis.call("FCALL", "gc_clock_get", 0, P, SCALE))["case_now"]
    cmds = [("FCALL", "gc_extend_decide", 0, P, cid, "pytest", "extend",
             int(now + rng.uniform(first_s, last_s) * 1000 * SCALE), "spread for the test", SCALE)
            for cid in ids]
    for r in c.redis.pipeline(cmds):
        assert json.loads(r)["ok"], r


def expected_chain(case, gd):
    """The reminders and deadlines this case must fire, from its extension:
    [(what, due)] in order."""
    ext = [e for e in case["timeline"] if e["what"] == "extended"][-1]
    chain = [("reminder", ext["remind_at"]), ("escalated", ext["deadline"])]
    due = ext["deadline"]
    for tier in ("COMMUNITY", "STREET", "DISTRICT"):
        limit = gd.limit_minutes(CATEGORY, tier)
        chain.append(("reminder", due + math.floor(limit * 60000 * 0.75 / SCALE)))
        due += math.floor(limit * 60000 / SCALE)
        chain.append(("escalated" if tier != "DISTRICT" else "overdue", due))
    return chain


def check_chains(c, ids, gd):
    """Every case fired exactly its chain, none early; returns lateness in ms."""
    lateness, problems = [], []
    cases = {}
    for k in range(0, len(ids), 200):
        cases.update(c.cases(ids[k:k + 200]))
    for cid in ids:
        case = cases[cid]
        fired = [e for e in case["timeline"] if e["what"] in ("reminder", "escalated", "overdue")]
        want = expected_chain(case, gd)
        got = [(e["what"], e["due"]) for e in fired]
        if got != want:
            problems.append(f"{cid}: fired {got}, expected {want}")
            continue
        for e in fired:
            if e["at"] < e["due"]:
                problems.append(f"{cid}: {e['what']} fired {e['due'] - e['at']} ms early")
            lateness.append(e["at"] - e["due"])
        if case["tier"] != str(pb.TIER_DISTRICT):
            problems.append(f"{cid}: ends at tier {case['tier']}")
    assert not problems, f"{len(problems)} cases wrong:\n" + "\n".join(problems[:20])
    return sorted(lateness)


def percentile(values, p):
    return values[min(len(values) - 1, int(math.ceil(p / 100 * len(values))) - 1)]


def wait_all_overdue(c, ids, timeout):
    def done():
        n = int(c.stats()["total"].get("overdue_repeats", 0))
        return n >= len(ids) and n
    return wait_for(done, timeout, f"all {len(ids)} cases to reach the top tier", interval=0.2)


def test_sigkill_every_few_seconds_every_climb_exactly_once(cluster, gc_directory):
    c = cluster("intake", time_scale=SCALE,
                escalate={"top_repeat_minutes": 525600})
    ids = file_cases(c, 1000, gc_directory.grids)
    spread_deadlines(c, ids, 2, 8, seed=4)
    esc = c.start("escalate", top_repeat_minutes=525600)
    rng = random.Random(7)
    kills = 0
    end = time.monotonic() + 8 + 10           # the last first deadline, then the ladder
    while time.monotonic() < end:
        time.sleep(rng.uniform(1.5, 2.5))
        esc.kill9()
        kills += 1
        esc.restart()
    wait_all_overdue(c, ids, 30)
    lateness = check_chains(c, ids, gc_directory)
    p50, p99 = percentile(lateness, 50), percentile(lateness, 99)
    line = (f"timers under SIGKILL: {len(ids)} cases, {len(lateness)} firings "
            f"({3 * len(ids)} climbs), escalate killed {kills} times; lateness "
            f"p50 {p50} ms, p99 {p99} ms, max {lateness[-1]} ms")
    print(line)
    gc_cluster.SUMMARY.append(line)
    assert kills >= 5
    assert p99 < 1000, line
    totals = c.stats()["total"]
    assert int(totals["escalations"]) == 3 * len(ids)
    assert int(totals["reminders"]) == 4 * len(ids)


def test_two_escalate_instances_never_double_climb(cluster, gc_directory):
    c = cluster("intake", time_scale=SCALE)
    ids = file_cases(c, 300, gc_directory.grids)
    spread_deadlines(c, ids, 1, 3, seed=11)
    first = c.start("escalate", top_repeat_minutes=525600, tick_ms=20)
    second = Daemon("escalate-b", BUILD / "gridcall-escalate", first.options, c.folder)
    c.daemons["escalate-b"] = second
    second.start()
    wait_all_overdue(c, ids, 30)
    check_chains(c, ids, gc_directory)
    totals = c.stats()["total"]
    assert int(totals["escalations"]) == 3 * len(ids)
    assert int(totals["overdue_repeats"]) == len(ids)
    # both took part (each logs the climbs it fired)
    for d in (first, second):
        with open(d.log, encoding="utf-8") as f:
            assert "overdue, now at " in f.read(), f"{d.name} fired nothing"
