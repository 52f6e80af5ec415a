"""test_timers.py — tiered response in time: reminders before each
deadline, the climb grid -> community -> street -> district at the right
moments and the red light at the top; extension re-bases the clock;
a parked case leaves the overdue figures and returns on its review date;
working-time clocks skip holidays and nights and run on make-up days.

Time runs scaled (case seconds per wall second). Where the calendar
matters the case clock is set to a chosen local date first
(`gridcall clock --set`), so the outcome never depends on when the test
runs. Due times are asserted exactly against an independent computation
here; firing times only from below (never early) and within a generous
lateness bound."""

import datetime
import json
import math

from gc_cluster import pb, take_offer, wait_for

P = "gc:"
TZ = datetime.timezone(datetime.timedelta(minutes=480))
LATE_MAX_MS = 1500          # generous: the suite runs on a busy 2-core machine


def fcall(c, fn, *args):
    return json.loads(c.redis.call("FCALL", fn, 0, P, *args))


def set_clock(c, local):
    r = c.cli("clock", "--set", local)
    assert r.returncode == 0, r.stderr
    return fcall(c, "gc_clock_get", c.time_scale)


def case_ms(local):
    """Case time in ms for a local "YYYY-MM-DD HH:MM" of the street (UTC+8)."""
    d = datetime.datetime.strptime(local, "%Y-%m-%d %H:%M").replace(tzinfo=TZ)
    return int(d.timestamp() * 1000)


def to_wall(clock, case):
    return math.ceil(clock["anchor_wall"] + (case - clock["anchor_case"]) / clock["scale"])


def local(case):
    return datetime.datetime.fromtimestamp(case / 1000, TZ).strftime("%Y-%m-%d %H:%M")


def to_local(clock, wall):
    x = clock["anchor_case"] + (wall - clock["anchor_wall"]) * clock["scale"]
    return datetime.datetime.fromtimestamp(x / 1000, TZ).strftime("%Y-%m-%d %H:%M")


def calendar_add(doc, start_case_ms, minutes):
    """Independent walk of the directory calendar: case ms after adding
    `minutes` of working time to start_case_ms."""
    cal = doc["calendar"]
    hours = {}
    for h in cal["working_hours"]:
        f = int(h["from"][:2]) * 60 + int(h["from"][3:])
        t = int(h["to"][:2]) * 60 + int(h["to"][3:])
        hours.setdefault(h["weekday"], []).append((f, t))
    holidays, makeup = set(cal.get("holidays", [])), set(cal.get("makeup_days", []))
    t = datetime.datetime.fromtimestamp(start_case_ms / 1000, TZ)
    left = minutes * 60000
    day = t.date()
    pos = (t - datetime.datetime.combine(day, datetime.time(), TZ)) / datetime.timedelta(milliseconds=1)
    for _ in range(1500):
        iso = day.isoformat()
        wd = cal.get("makeup_weekday", 1) if iso in makeup else day.isoweekday()
        spans = [] if iso in holidays else sorted(hours.get(wd, []))
        for f, e in spans:
            a, b = max(pos, f * 60000), e * 60000
            if a < b:
                if left <= b - a:
                    midnight = datetime.datetime.combine(day, datetime.time(), TZ)
                    return int(midnight.timestamp() * 1000 + a + left)
                left -= b - a
        day += datetime.timedelta(days=1)
        pos = 0
    raise AssertionError("no working time")


def clock_events(case, kinds=("reminder", "escalated", "overdue", "extended", "parked",
                              "unparked")):
    return [e for e in case["timeline"] if e["what"] in kinds]


def jobs(c):
    """Notification jobs queued (no notify runs in these tests): (event,
    audience, case), in the order they were queued."""
    out = []
    for jid in c.redis.call("ZRANGE", P + "pending:notify", 0, -1):
        job = json.loads(c.redis.call("FCALL", "gc_job_get", 0, P, jid))
        if job.get("ok"):
            out.append((int(jid.rsplit(":", 1)[1]), job["case"], job["event"], job["audience"]))
    return [(e, a, case) for _, case, e, a in sorted(out, key=lambda j: (j[1], j[0]))]


def test_climbs_every_tier_with_reminders_then_stays_red(cluster, gc_directory):
    category = "env.garbage"
    cat = gc_directory.categories[category]
    assert cat["start_tier"] == "GRID" and cat.get("clock", "wall") == "wall"
    scale = 28800                      # GRID 240 min = 0.5 s, the whole ladder ~ 10 s
    repeat_min = 60
    c = cluster("intake", "escalate", time_scale=scale,
                escalate={"top_repeat_minutes": repeat_min})
    reply = c.reporter().report("G01", category, "bins overflowing, nobody comes")
    assert reply.tier == pb.TIER_GRID
    cid = reply.case_id
    created = int(c.case(cid)["created"])
    frac = cat.get("reminder_fraction", 0.75)

    # the ladder, computed here: reminder then deadline at each tier, each
    # tier counted from the previous deadline; then the top re-notices
    expected, start = [], created
    for tier in ("GRID", "COMMUNITY", "STREET", "DISTRICT"):
        limit = cat["limits_minutes"][tier]
        expected.append(("reminder", tier, start + math.floor(limit * 60000 * frac / scale)))
        due = start + math.floor(limit * 60000 / scale)
        expected.append(("escalated" if tier != "DISTRICT" else "overdue", tier, due))
        start = due
    repeat_ms = int(repeat_min * 60000 / scale) + 1
    expected.append(("overdue", "DISTRICT", start + repeat_ms))

    case = c.wait_event(cid, "overdue", count=2, timeout=30)
    seen = clock_events(case)[:len(expected)]
    tiers = ["GRID", "COMMUNITY", "STREET", "DISTRICT"]
    got = [(e["what"], tiers[e["tier"] - 1] if e["what"] == "reminder" else
            tiers[e.get("from_tier", e["tier"]) - 1], e["due"]) for e in seen]
    assert got == expected, "\n".join(map(str, got))
    for e in seen:
        assert e["at"] >= e["due"], f"fired early: {e}"
        assert e["at"] - e["due"] < LATE_MAX_MS, f"fired late: {e}"
        assert e["who"] == "escalate"
    climbs = [e for e in seen if e["what"] == "escalated"]
    assert [e["tier"] for e in climbs] == [2, 3, 4]
    assert all(e["state"] == "ESCALATED" and "climbs to" in e["note"] for e in climbs)
    # the new tier's leaders are called each time; the top is re-notified
    events = [(ev, aud) for ev, aud, cc in jobs(c) if cc == cid]
    # ... by name: the person of the liaison chain answering for G01 there
    # (docs/community.md), else the tier
    chain = gc_directory.doc.get("chain", {})
    named = {"COMMUNITY": next((x["secretary"] for x in chain.get("communities", [])
                                if x["community"] == "C01"), None),
             "STREET": next((x["street_leader"] for x in chain.get("grids", [])
                             if x["grid"] == "G01"), None),
             "DISTRICT": chain.get("district")}
    for tier in ("COMMUNITY", "STREET", "DISTRICT"):
        audience = "person:" + named[tier] if named[tier] else "tier:" + tier
        assert ("case.escalated", audience) in events, events
    # the top tier's re-notices and every reminder go to the tier's named
    # person too (the tier when the directory names nobody)
    top = "person:" + named["DISTRICT"] if named["DISTRICT"] else "tier:DISTRICT"
    assert events.count(("case.overdue", top)) >= 2, events
    named["GRID"] = next((x["worker"] for x in chain.get("grids", []) if x["grid"] == "G01"), None)
    for tier in ("GRID", "COMMUNITY", "STREET", "DISTRICT"):
        audience = "person:" + named[tier] if named[tier] else "tier:" + tier
        assert ("case.reminder", audience) in events, (tier, events)
    if named["DISTRICT"]:
        overdue = [e for e in seen if e["what"] == "overdue"]
        assert all("calls " in e["note"] and named["DISTRICT"] in e["note"] for e in overdue)
    final = c.case(cid)
    assert final["tier"] == "4" and final["light"] == "red"
    st = fcall(c, "gc_timer_stats")
    assert st["overdue"] == 1
    assert int(st["totals"]["escalations"]) == 3


def test_extension_request_approved_rebases_the_clock(cluster, gc_directory):
    category = "env.garbage"
    scale = 3600                       # GRID 240 min = 4 s
    grid = "G01"
    unit_id = gc_directory.fitting("GRID", grid, category)[0]
    c = cluster("intake", "dispatch", "escalate", time_scale=scale)
    unit = c.unit(unit_id)
    cid = c.reporter().report(grid, category, "skip full of rubble").case_id
    _, offer = take_offer([unit], cid)
    kind, ack = unit.accept(offer)
    assert kind == "ok", ack
    old = int(c.case(cid)["resolve_by"])
    clock = fcall(c, "gc_clock_get", scale)
    until = clock["case_now"] + 6 * 3600 * 1000          # 6 case hours = 6 s

    # the unit asks (what the unit protocol's extend carries), a refusal first
    r = fcall(c, "gc_extend_request", cid, unit_id, offer.offer_id, until - 3600000,
              "truck broken", scale)
    assert r["ok"], r
    r = c.cli("extend", cid, "--refuse", "--reason", "no: borrow a truck", "--by", "op-li")
    assert r.returncode == 0, r.stderr
    assert int(c.case(cid)["resolve_by"]) == old
    r = fcall(c, "gc_extend_request", cid, unit_id, offer.offer_id, until,
              "crane needed for the skip", scale)
    assert r["ok"], r
    again = fcall(c, "gc_extend_request", cid, unit_id, offer.offer_id, until,
                  "crane needed for the skip", scale)
    assert again["ok"] and again["duplicate"]
    r = c.cli("extend", cid, "--approve", "--reason", "crane booked", "--by", "op-li")
    assert r.returncode == 0, r.stderr
    assert "deadline extended" in r.stdout

    case = c.case(cid)
    new = int(case["resolve_by"])
    assert new == to_wall(clock, until), (new, to_wall(clock, until))
    whats = [e["what"] for e in case["timeline"]]
    assert whats[-4:] == ["extension_requested", "extension_refused", "extension_requested",
                          "extended"], whats
    refused, ext = case["timeline"][-3], case["timeline"][-1]
    assert refused["who"] == "operator:pytest" and refused["by"] == "op-li"
    assert refused["note"] == "no: borrow a truck"
    assert ext["who"] == "operator:pytest" and ext["by"] == "op-li" and ext["requested_by"] == unit_id
    assert ext["old_deadline"] == old and ext["deadline"] == new
    assert ext["note"] == "crane booked"
    # the old deadline passes quietly; the climb comes at the new one
    case = c.wait_event(cid, "escalated", timeout=15)
    climb = [e for e in case["timeline"] if e["what"] == "escalated"][0]
    assert climb["due"] == new and climb["at"] >= new
    assert climb["at"] > old + 1000
    rem = [e for e in case["timeline"] if e["what"] == "reminder"]
    assert any(e["due"] > old for e in rem), "the reminder was re-based too"
    # an operator may also extend directly, without a request
    r = c.cli("extend", cid, "--until", "+12h", "--reason", "street crew on it")
    assert r.returncode == 0, r.stderr
    assert c.case(cid)["timeline"][-1]["what"] == "extended"
    bad = c.cli("extend", cid, "--until", "yesterday", "--reason", "x")
    assert bad.returncode == 2


def test_parked_case_leaves_overdue_and_returns_on_its_review_date(cluster, gc_directory):
    category = "env.noise"             # GRID 120 min
    scale = 7200                       # GRID limit 1 s
    c = cluster("intake", "escalate", time_scale=scale)
    set_clock(c, "2026-10-09 08:00")
    cid = c.reporter().report("G02", category, "karaoke every night").case_id
    c.wait_event(cid, "escalated", timeout=10)
    assert fcall(c, "gc_timer_stats")["overdue"] == 1
    open_before = int(c.stats()["open_tier"].get("COMMUNITY", 0))

    clock = fcall(c, "gc_clock_get", scale)
    review_local = datetime.datetime.fromtimestamp((clock["case_now"] + 3 * 3600000) / 1000, TZ)
    review_local = review_local.strftime("%Y-%m-%d %H:%M")      # about 1.5 s ahead
    r = c.cli("park", cid, "--until", review_local, "--reason", "owner abroad until the court date",
              "--by", "op-wang")
    assert r.returncode == 0, r.stderr
    case = c.case(cid)
    assert case["state"] == "PARKED"
    review_at = to_wall(clock, case_ms(review_local))
    assert int(case["review_at"]) == review_at
    st = fcall(c, "gc_timer_stats")
    assert st["overdue"] == 0 and st["parked"] == 1
    assert int(c.stats()["open_tier"].get("COMMUNITY", 0)) == open_before - 1
    parked = case["timeline"][-1]
    assert parked["what"] == "parked" and parked["who"] == "operator:pytest" and parked["by"] == "op-wang"
    assert parked["review_local"] == review_local

    case = c.wait_event(cid, "unparked", timeout=10)
    back = case["timeline"][-1]
    assert back["what"] == "unparked" and back["who"] == "escalate"
    assert back["at"] >= review_at and back["at"] - review_at < LATE_MAX_MS
    assert case["state"] == "REOPENED" and case["tier"] == "2"
    # a fresh clock at its tier, counted from the review date
    limit = gc_directory.limit_minutes(category, "COMMUNITY")
    assert int(case["resolve_by"]) == review_at + math.floor(limit * 60000 / scale)
    assert int(c.stats()["open_tier"]["COMMUNITY"]) == open_before
    assert fcall(c, "gc_timer_stats")["parked"] == 0
    # by hand: park again, bring back at once
    assert c.cli("park", cid, "--until", "+1d", "--reason", "again").returncode == 0
    r = c.cli("unpark", cid, "--reason", "owner came back early", "--by", "op-wang")
    assert r.returncode == 0, r.stderr
    assert c.state(cid) == "REOPENED"
    assert c.case(cid)["timeline"][-1]["note"] == "owner came back early"


def test_working_clock_skips_a_holiday_and_runs_on_a_makeup_day(cluster, gc_directory):
    category = "svc.meal"
    cat = gc_directory.categories[category]
    assert cat["clock"] == "working" and cat["start_tier"] == "COMMUNITY"
    doc = gc_directory.doc
    limit = cat["limits_minutes"]["COMMUNITY"]
    scale = 172800                     # two case days per wall second
    c = cluster("intake", "escalate", time_scale=scale)
    reporter = c.reporter()

    # Filed after hours, so the few case minutes a registration takes at
    # this scale fall outside working time and change nothing.
    # 1) filed the evening before National Day: the week off does not count;
    #    the reminder (6 of 8 working hours) falls on 8 October, the first
    #    day back, and the deadline the morning after
    clock = set_clock(c, "2026-09-30 19:00")
    a = reporter.report("G03", category, "lunch delivery for an old couple").case_id
    case_a = c.case(a)
    start = clock["anchor_case"] + (int(case_a["created"]) - clock["anchor_wall"]) * scale
    assert to_local(clock, int(case_a["created"]))[:13] == "2026-09-30 19"
    due_case = calendar_add(doc, start, limit)
    assert int(case_a["resolve_by"]) == to_wall(clock, due_case)
    assert local(due_case) == "2026-10-09 09:30"
    remind = calendar_add(doc, start, math.floor(limit * cat["reminder_fraction"]))
    assert int(case_a["remind_at"]) == to_wall(clock, remind)
    assert local(remind) == "2026-10-08 17:00"
    assert case_a["clock"] == "working"

    # 2) filed Friday 9 October after hours: the clock runs on Saturday the
    #    10th, a make-up working day (the reminder falls that afternoon),
    #    skips Sunday, and is due Monday 09:30 (Tuesday without the make-up day)
    clock = set_clock(c, "2026-10-09 19:00")
    b = reporter.report("G03", category, "meal card lost").case_id
    case_b = c.case(b)
    start = clock["anchor_case"] + (int(case_b["created"]) - clock["anchor_wall"]) * scale
    due_case = calendar_add(doc, start, limit)
    remind = calendar_add(doc, start, math.floor(limit * cat["reminder_fraction"]))
    assert int(case_b["resolve_by"]) == to_wall(clock, due_case)
    assert int(case_b["remind_at"]) == to_wall(clock, remind)
    assert local(remind) == "2026-10-10 17:00"
    assert local(due_case) == "2026-10-12 09:30"

    # 3) a wall-time emergency beside them runs through the night and holiday
    gas = reporter.report("G03", "safety.gas_leak", "smell of gas in stairwell 2").case_id
    case_g = c.case(gas)
    assert case_g["clock"] == "wall"
    registered = case_g["timeline"][0]
    assert registered["deadline"] - int(case_g["created"]) == math.floor(30 * 60000 / scale)

    # the climbs fire at those moments, not before
    for cid, due in ((a, int(case_a["resolve_by"])), (b, int(case_b["resolve_by"]))):
        case = c.wait_event(cid, "escalated", timeout=20)
        climb = [e for e in case["timeline"] if e["what"] == "escalated"][0]
        assert climb["due"] == due and climb["at"] >= due
        assert climb["at"] - due < LATE_MAX_MS
        # the STREET clock is working time again, from the COMMUNITY deadline
        street_due = calendar_add(doc, clock["anchor_case"] + (due - clock["anchor_wall"]) * scale,
                                  cat["limits_minutes"]["STREET"])
        assert climb["deadline"] == to_wall(clock, street_due)
