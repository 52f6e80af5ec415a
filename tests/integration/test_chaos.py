"""test_chaos.py — 500 reports through the whole cluster while dispatch and
then notify are killed with SIGKILL and restarted. Every case must still
close, exactly once: no case lost, none registered twice, nothing handled
twice. Units are gridcall-unit-sim (accepts everything, quickly); the grid
workers are this test, verifying each case it hears is resolved (from
notify's PUB) or sees resolved in Redis (notifications sent while notify
is down are not lost but come late)."""

import random
import time
from collections import Counter

import zmq

import gc_cluster
from gc_cluster import Reporter, WaitTimeout, pb, wait_for

N_REPORTS = 500
REPORT_RATE = 100           # reports per second offered to intake
OUTAGE_REPORTS = 100        # a killed daemon stays down while this many more register
CLOSE_TIMEOUT_S = 120


def test_500_reports_survive_dispatch_and_notify_crashes(cluster, gc_directory):
    pairs = gc_directory.servable()
    rng = random.Random(20261126)
    work = [rng.choice(pairs) for _ in range(N_REPORTS)]
    c = cluster("notify", "dispatch", "intake", "escalate", "unit-sim",
                time_scale=1,           # limits are hours: nothing may escalate
                dispatch={"offer_timeout_ms": 1500, "retry_ms": 200, "sweep_ms": 100,
                          "lease_ms": 1000},
                notify={"sweep_ms": 200, "lease_ms": 1000},
                unit_sim={"units": "all", "accept_rate": 1, "silence_rate": 0,
                          "accept_delay_ms": 10, "resolve_delay_ms": 300,
                          "progress_notes": 1, "seed": 7})
    reporter = c.reporter()
    verifier = c.reporter()
    sub = c.subscriber()
    sub.setsockopt(zmq.SUBSCRIBE, b"case.resolved")
    poller = zmq.Poller()
    for s in (*reporter.socks, *verifier.socks, sub):
        poller.register(s, zmq.POLLIN)

    case_of_key = {}            # idempotency key -> case id
    refused = []
    verified_at = {}            # case id -> when we last sent verify pass
    closed = set()
    heard = Counter()           # where verifies came from: pub, scan
    events = {}                 # milestone -> seconds since start
    backlog = {}                # daemon -> its work waiting in Redis when restarted
    plan = [("kill dispatch", 100), ("restart dispatch", 100 + OUTAGE_REPORTS),
            ("kill notify", 300), ("restart notify", 300 + OUTAGE_REPORTS)]
    sent = 0
    t0 = time.monotonic()
    next_scan = t0 + 0.5

    def verify(case_id, source):
        now = time.monotonic()
        if case_id in closed or now - verified_at.get(case_id, -10) < 1.0:
            return
        verified_at[case_id] = now
        heard[source] += 1
        verifier.send("verify", pb.Verify(case_id=case_id, note="checked", verifier="chaos",
                                          **{"pass": True}))

    while len(closed) < N_REPORTS:
        now = time.monotonic()
        if now - t0 > CLOSE_TIMEOUT_S:
            break
        target = min(N_REPORTS, int((now - t0) * REPORT_RATE) + 1)
        while sent < target:
            grid, category = work[sent]
            reporter.send("report", Reporter.new_report(grid, category, f"chaos report {sent}",
                                                        key=f"chaos-{sent:04d}"))
            sent += 1
        for sock, _ in poller.poll(20):
            while sock.poll(0):
                frames = sock.recv_multipart()
                if sock is sub:
                    n = pb.Notification()
                    n.ParseFromString(frames[1])
                    verify(n.case_id, "pub")
                    continue
                kind, msg = gc_cluster.parse(gc_cluster.REPORTER_REPLIES, frames)
                if kind == "report.ok":
                    case_of_key[msg.idempotency_key] = msg.case_id
                elif kind == "ack" and msg.state == pb.STATE_CLOSED:
                    closed.add(msg.case_id)
                elif kind == "error" and sock is reporter.sock:
                    refused.append(msg)
                # a verify error (WRONG_STATE for a stale scan) is retried by the scan
        if plan and len(case_of_key) >= plan[0][1]:
            step, _ = plan.pop(0)
            action, name = step.split()
            if action == "restart":         # what piled up while it was down
                st = c.stats()
                # dispatch: cases not yet in a unit's hands (registered, or
                # offered at registration while no dispatch could send it)
                backlog[name] = (int(st["state"].get("REGISTERED", 0))
                                 + int(st["state"].get("DISPATCHED", 0)) if name == "dispatch"
                                 else st["pending"]["notify"])
            getattr(c[name], "kill9" if action == "kill" else "restart")()
            events[step] = time.monotonic() - t0
        if now >= next_scan:
            ids = [i for i in case_of_key.values() if i not in closed]
            states = c.redis.pipeline([("HGET", f"gc:case:{i}", "state") for i in ids])
            for i, s in zip(ids, states):
                if s == "RESOLVED":
                    verify(i, "scan")
                elif s == "CLOSED":
                    closed.add(i)
            next_scan = time.monotonic() + 0.5
        if len(case_of_key) == N_REPORTS and "registered" not in events:
            events["registered"] = time.monotonic() - t0
    elapsed = time.monotonic() - t0

    assert not refused, f"intake refused good reports: {refused[:5]}"
    assert sent == N_REPORTS and len(case_of_key) == N_REPORTS, \
        f"{len(case_of_key)} of {sent} reports answered"
    ids = sorted(set(case_of_key.values()))
    assert len(ids) == N_REPORTS, "two reports got the same case id"
    assert not plan, f"the run ended before: {plan}"
    # the crashes were real: work waited in Redis for the restarted daemons
    assert backlog["dispatch"] > 0 and backlog["notify"] > 0, backlog
    if len(closed) < N_REPORTS:
        states = Counter(c.redis.pipeline([("HGET", f"gc:case:{i}", "state") for i in ids]))
        raise WaitTimeout(f"after {CLOSE_TIMEOUT_S} s only {len(closed)} of {N_REPORTS} cases "
                          f"closed; states now: {dict(states)}")

    # Redis holds exactly the 500 cases, every one closed once
    stats = c.stats()
    totals = {k: int(v) for k, v in stats["total"].items()}
    assert totals["reported"] == N_REPORTS, totals
    assert totals["closed"] == N_REPORTS and totals["resolved"] == N_REPORTS, totals
    assert totals.get("escalations", 0) == 0, totals
    assert int(stats["state"].get("CLOSED", 0)) == N_REPORTS, stats["state"]
    assert len(c.case_keys()) == N_REPORTS
    problems = []
    for case_id, case in c.cases(ids).items():
        tl = case["timeline"]
        whats = Counter(e["what"] for e in tl)
        offers = [e.get("offer") for e in tl if e["what"] == "offered"]
        accepted = [e.get("offer") for e in tl if e["what"] == "accepted"]
        if case["state"] != "CLOSED":
            problems.append(f"{case_id}: state {case['state']}")
        for what in ("registered", "accepted", "resolved", "verified", "closed"):
            if whats[what] != 1:
                problems.append(f"{case_id}: {whats[what]} \"{what}\" events")
        if whats["escalated"] or whats["reopened"]:
            problems.append(f"{case_id}: escalated or reopened: {dict(whats)}")
        if len(set(offers)) != len(offers):
            problems.append(f"{case_id}: an offer id was used twice: {offers}")
        if any(a not in offers for a in accepted):
            problems.append(f"{case_id}: accepted an offer never made: {accepted} vs {offers}")
        order = [e["what"] for e in tl]
        if order[0] != "registered" or order[-1] != "closed" \
                or order.index("accepted") > order.index("resolved"):
            problems.append(f"{case_id}: timeline out of order: {order}")
    assert not problems, f"{len(problems)} problems:\n" + "\n".join(problems[:30])

    # notify's pending work drains: jobs of the killed notify were redelivered
    wait_for(lambda: c.stats()["pending"]["notify"] == 0, 30,
             "pending:notify to drain after notify's restart")
    assert c.stats()["dead"]["notify"] == 0
    for name in ("dispatch", "notify"):
        assert c[name].alive() and c[name].starts == 2
    for name in ("intake", "escalate", "unit-sim"):
        assert c[name].alive() and c[name].starts == 1, f"{name} died"

    line = (f"chaos: {N_REPORTS} reports, all closed in {elapsed:.1f} s "
            f"(all registered at {events.get('registered', 0):.1f} s); "
            + ", ".join(f"{k} at {v:.1f} s" for k, v in events.items() if k != "registered")
            + f"; offers {totals.get('offers', 0)}, expired {totals.get('offers_expired', 0)}, "
            f"declines {totals.get('declines', 0)}; verifies from pub {heard['pub']}, "
            f"from scan {heard['scan']}; waiting at restart: "
            f"{backlog['dispatch']} cases for dispatch, {backlog['notify']} jobs for notify")
    print(line)
    gc_cluster.SUMMARY.append(line)
