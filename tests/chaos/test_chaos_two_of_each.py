"""test_chaos_two_of_each.py — two of every daemon (dispatch leading and
standing by) under the lifecycle load, with time running at 2 case hours a
second so the quick categories climb while units work: 0 double offers
(the history checker), 0 double climbs (each (case, tier) once in the
timelines, and the two escalate logs together name each firing once), 0
double notifications (the two notifies' PUBs, by job id)."""

from collections import Counter

import zmq

from chaos_history import Lifecycle, assert_clean, figures, say
from lease_helpers import LEASE_MS
from test_chaos_kill import second
from gc_cluster import pb

SCALE = 7200
RATE = 40
SECONDS = 10


def test_two_of_every_daemon_no_double_offer_climb_or_notification(cluster, gc_directory):
    c = cluster(time_scale=SCALE)
    e = c.endpoints
    b = {k: f"ipc://{c.folder}/{k}-b.sock" for k in ("intake", "notify", "events", "units", "work")}
    c.start("notify", sweep_ms=200, lease_ms=2000)
    second(c, "notify", work_bind=b["notify"], pub_bind=b["events"], sweep_ms=200, lease_ms=2000)
    disp = {"offer_timeout_ms": 3000, "leader_lease_ms": LEASE_MS}
    c.start("dispatch", instance="disp-a", **disp)
    second(c, "dispatch", instance="disp-b", unit_bind=b["units"], work_bind=b["work"],
           notify_endpoint=b["notify"], **disp)
    works = f"{e['work']},{b['work']}"
    c.start("escalate", dispatch_endpoint=works, top_repeat_minutes=525600)
    second(c, "escalate", dispatch_endpoint=works, notify_endpoint=b["notify"],
           top_repeat_minutes=525600)
    c.start("intake", dispatch_endpoint=works)
    second(c, "intake", bind=b["intake"], dispatch_endpoint=works, notify_endpoint=b["notify"])
    c.start("report")
    second(c, "report")
    c.start("unit-sim", dispatch_endpoint=f"{e['units']},{b['units']}", units="all",
            accept_rate=1, silence_rate=0, accept_delay_ms=20, resolve_delay_ms=1500,
            progress_notes=1, seed=5)
    subs = {name: c.subscriber(endpoint) for name, endpoint in
            (("notify", e["events"]), ("notify-b", b["events"]))}
    for sub in subs.values():
        sub.setsockopt(zmq.SUBSCRIBE, b"")
    work = [(g, cat) for g, cat in gc_directory.servable()
            if gc_directory.categories[cat].get("clock", "wall") == "wall"]
    life = Lifecycle(c, work, RATE, endpoints=[e["intake"], b["intake"]], prefix="two")
    published, per_notify = Counter(), Counter()

    def hear():
        for name, sub in subs.items():
            while sub.poll(0):
                n = pb.Notification()
                n.ParseFromString(sub.recv_multipart()[1])
                published[n.job_id] += 1
                per_notify[name] += 1
    try:
        life.run(SECONDS, hear)
        life.finish()
        life.run(0.5, hear)
        result = life.check()
    finally:
        life.close()
        for s in subs.values():
            s.close(0)
    ids = sorted(set(life.load.acked.values()))
    climbs, double_climbs, fired_in_redis = 0, [], Counter()
    for i in range(0, len(ids), 200):
        for case_id, case in c.cases(ids[i:i + 200]).items():
            tiers = [ev["from_tier"] for ev in case["timeline"] if ev["what"] == "escalated"]
            if len(tiers) != len(set(tiers)):
                double_climbs.append(case_id)
            climbs += len(tiers)
            fired_in_redis[case_id] = len(tiers) + sum(ev["what"] == "overdue"
                                                       for ev in case["timeline"])
    fired = Counter()
    for name in ("escalate", "escalate-b"):
        fired.update(line.split('"')[1] for line in c[name].log.read_text(
            errors="replace").splitlines() if "overdue, now at " in line)
    doubled_notes = [j for j, n in published.items() if n > 1]
    lease_holder = c.redis.call("GET", f"{c.key_prefix}dispatch:lease")
    line = (f"two of every daemon (dispatch: {lease_holder.split()[0]} leads) under {RATE} "
            f"reports/s, {SCALE // 3600} case hours a second: {climbs} climbs, "
            f"{len(double_climbs)} doubled; {len(published)} notifications (A "
            f"{per_notify['notify']}, B {per_notify['notify-b']}), {len(doubled_notes)} doubled; "
            + figures(result))
    say(line)
    assert_clean(result)
    assert climbs > 0, "no case climbed: the run did not exercise two escalates"
    assert not double_climbs, double_climbs[:5]
    assert fired == +fired_in_redis, "the escalate logs and the timelines disagree"
    assert not doubled_notes, doubled_notes[:5]
    assert per_notify["notify"] and per_notify["notify-b"], per_notify
