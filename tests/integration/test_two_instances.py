"""test_two_instances.py — two of intake, escalate, notify and report on
one Redis under the lifecycle load (dispatch stays single: docs/cluster.md).

Reports go to both intakes over one DEALER (round robin); intake A, escalate
A and dispatch wake notify A, intake B and escalate B wake notify B, and
both notifies sweep the same pending set. Time runs so that the quick
categories miss their first deadline while the simulated unit works, so
escalate has climbs to fire. The test verifies every resolved case (the
grid worker) through either intake. Afterwards: every report became one
case and closed once, no climb was fired twice (each (case, tier) once in
the timelines and in the two escalate logs together), no notification
was published twice (both notifies' PUB, by job id), and both reports
serve the same figures."""

import json
import random
import time
import urllib.request
from collections import Counter

import zmq

import gc_cluster
import gc_keys
from cluster_helpers import case_states, cluster_load
from gc_cluster import BUILD, Daemon, pb, wait_for

SCALE = 7200                # 2 case hours a second: a 2 h limit passes in 1 s
RATE = 40
SECONDS = 5


def start_second(c, name, **overrides):
    """A second instance NAME-b with NAME's options and overrides."""
    options, binds, ready = c._defaults(name)
    options = {**c.common(), **c.credentials(name), **c.curve_options(name), **options,
               **overrides}
    binds = [options[k] for k in ("bind", "work_bind", "pub_bind") if k in options]
    d = Daemon(f"{name}-b", BUILD / f"gridcall-{name}", options, c.folder, binds, ready)
    c.daemons[d.name] = d
    return d.start()


def http_json(daemon, path):
    host, port = daemon.ready_match.group(1), daemon.ready_match.group(2)
    with urllib.request.urlopen(f"http://{host}:{port}{path}", timeout=5) as r:
        return json.loads(r.read())


def test_two_of_each_no_double_climb_or_notification(cluster, gc_directory):
    c = cluster(time_scale=SCALE)
    e = c.endpoints
    b = {k: f"ipc://{c.folder}/{k}-b.sock" for k in ("intake", "notify", "events")}
    c.start("notify", sweep_ms=200, lease_ms=2000)
    start_second(c, "notify", work_bind=b["notify"], pub_bind=b["events"], sweep_ms=200,
                 lease_ms=2000)
    c.start("dispatch", offer_timeout_ms=3000)
    c.start("escalate", top_repeat_minutes=525600)
    start_second(c, "escalate", notify_endpoint=b["notify"], top_repeat_minutes=525600)
    c.start("intake")
    start_second(c, "intake", bind=b["intake"], notify_endpoint=b["notify"])
    c.start("report")
    start_second(c, "report")
    c.start("unit-sim", units="all", accept_rate=1, silence_rate=0, accept_delay_ms=20,
            resolve_delay_ms=1500, progress_notes=1, seed=5)

    subs = {}                       # notify instance -> a SUB on its PUB
    for name, endpoint in (("notify", e["events"]), ("notify-b", b["events"])):
        sub = c.ctx.socket(zmq.SUB)     # both notifies share notify's key
        sub.setsockopt(zmq.LINGER, 0)
        sub.setsockopt(zmq.RCVHWM, 0)
        sub.setsockopt(zmq.SUBSCRIBE, b"")
        gc_keys.secure(sub, c.keys.certs["pytest-gateway"], c.server_key("notify"))
        sub.connect(endpoint)
        subs[name] = sub
    verifier = c.ctx.socket(zmq.DEALER)     # verifies as the street operator
    verifier.setsockopt(zmq.LINGER, 0)
    gc_keys.secure(verifier, c.keys.certs["pytest-operator"], c.server_key("intake"))
    verifier.connect(e["intake"])
    verifier.connect(b["intake"])
    time.sleep(0.2)                 # let the SUB join before the first event is published
    # wall-clock categories, shuffled: the 2 h ones climb, the longer ones do not
    work = [(g, cat) for g, cat in gc_directory.servable()
            if gc_directory.categories[cat].get("clock", "wall") == "wall"]
    random.Random(3).shuffle(work)
    load = cluster_load(c, work, RATE, endpoints=[e["intake"], b["intake"]], prefix="two")
    published = Counter()           # job id -> times heard on the two PUBs
    per_notify = Counter()          # notify instance -> notifications it published
    verified_at = {}
    closed = set()
    next_scan = 0

    def step():
        nonlocal next_scan
        load.step(5)
        for name, sub in subs.items():
            while sub.poll(0):
                frames = sub.recv_multipart()
                n = pb.Notification()
                n.ParseFromString(frames[1])
                published[n.job_id] += 1
                per_notify[name] += 1
        while verifier.poll(0):
            kind, msg = gc_cluster.parse(gc_cluster.REPORTER_REPLIES, verifier.recv_multipart())
            if kind == "ack" and msg.state == pb.STATE_CLOSED:
                closed.add(msg.case_id)
        now = time.monotonic()
        if now >= next_scan:
            open_ids = [i for i in load.acked.values() if i not in closed]
            for i, s in case_states(c.redis, "gc:", open_ids).items():
                if s == "CLOSED":
                    closed.add(i)
                elif s == "RESOLVED" and now - verified_at.get(i, 0) > 1.0:
                    verified_at[i] = now
                    verifier.send_multipart([b"verify", pb.Verify(
                        case_id=i, note="ok", verifier="two", **{"pass": True}
                    ).SerializeToString()])
            next_scan = now + 0.3

    try:
        end = time.monotonic() + SECONDS
        while time.monotonic() < end:
            step()
        load.filing = False
        wait_for(lambda: (step(), not load.waiting() and len(closed) == load.sent)[1], 60,
                 "every report to be acknowledged and its case closed", interval=0)
        time.sleep(0.5)             # the last notifications in flight
        step()

        ids = sorted(set(load.acked.values()))
        assert not load.conflicts and len(ids) == load.sent, "a report became two cases"
        totals = {k: int(v) for k, v in c.stats()["total"].items()}
        assert totals["reported"] == load.sent and totals["closed"] == load.sent, totals

        climbs, tops, problems = 0, 0, []
        fired_in_redis = Counter()  # case -> climbs and top-tier notices in its timeline
        for case_id, case in c.cases(ids).items():
            whats = Counter(ev["what"] for ev in case["timeline"])
            for what in ("registered", "verified", "closed"):
                if whats[what] != 1:
                    problems.append(f"{case_id}: {whats[what]} {what}")
            tiers = [ev["from_tier"] for ev in case["timeline"] if ev["what"] == "escalated"]
            if len(tiers) != len(set(tiers)):
                problems.append(f"{case_id}: climbed from the same tier twice: {tiers}")
            climbs += len(tiers)
            tops += whats["overdue"]
            fired_in_redis[case_id] = len(tiers) + whats["overdue"]
        assert not problems, "\n".join(problems[:20])
        assert climbs > 0, "no case climbed: the run did not exercise two escalates"
        assert totals.get("escalations", 0) == climbs

        # each firing was done by one escalate: the two logs together name
        # every case as often as its timeline shows a climb or top notice
        fired = Counter()
        by_instance = {}
        for name in ("escalate", "escalate-b"):
            text = c[name].log.read_text(errors="replace")
            mine = [line.split('"')[1] for line in text.splitlines()
                    if "overdue, now at " in line]
            by_instance[name] = len(mine)
            fired.update(mine)
        assert fired == +fired_in_redis, "the escalate logs and the timelines disagree"
        assert by_instance["escalate"] and by_instance["escalate-b"], by_instance

        doubled = [j for j, n in published.items() if n > 1]
        assert not doubled, f"{len(doubled)} notifications published twice: {doubled[:5]}"
        assert published, "no notification heard"
        assert c.stats()["pending"]["notify"] == 0

        assert per_notify["notify"] and per_notify["notify-b"], per_notify
        a, bb = http_json(c["report"], "/api/stats"), http_json(c["report-b"], "/api/stats")
        for stats in (a, bb):       # both serve the same truth
            assert stats["by_state"]["CLOSED"] == load.sent and stats["open"] == 0, stats

        line = (f"two of each: {load.sent} reports over 2 intakes, all closed once; "
                f"{climbs} climbs and {tops} top-tier notices (escalate A {by_instance['escalate']}, "
                f"B {by_instance['escalate-b']}), 0 doubled; {len(published)} notifications "
                f"published by 2 notifies (A {per_notify['notify']}, B {per_notify['notify-b']}), "
                f"0 doubled")
        print(line)
        gc_cluster.SUMMARY.append(line)
    finally:
        load.close()
        for sub in subs.values():
            sub.close(0)
        verifier.close(0)
