"""test_event_stream.py — the events stream the screens read: one step
that writes two timeline entries (registered and offered, verified and
closed) announces them in one stream entry, and the feed (gc_report_events)
and the ticker (gc_report_screen) still show every event of a lifecycle,
in order, each with its deadline; the stream stays capped."""

import json

from gc_cluster import pb, timeline_entries
from units_fixture import street  # noqa: F401  (fixture)

LIFECYCLE = ["registered", "offered", "accepted", "resolved", "verified", "closed"]


def fcall(c, fn, *args):
    return json.loads(c.redis.call("FCALL", fn, "0", c.key_prefix, *[str(a) for a in args]))


def test_feed_and_ticker_show_every_event_of_a_lifecycle(street):
    c = street("intake", "dispatch")
    u = c.unit("CLEAN1")
    start = fcall(c, "gc_report_events", "")["last"]
    reply = c.reporter().report("G01", "env.garbage", "bins overflowing")
    assert reply.state == pb.STATE_DISPATCHED
    offer = u.expect_offer(reply.case_id)
    assert u.accept(offer)[0] == "ok"
    assert u.resolve(offer, "emptied")[0] == "ok"
    assert c.reporter().verify(reply.case_id)[0] == "ack"
    case = reply.case_id

    # four steps wrote six entries: the stream holds four entries for them
    entries = c.redis.call("XRANGE", f"{c.key_prefix}events", f"({start}", "+")
    mine = [e for e in entries if case in e[1]]
    assert len(mine) == 4, mine

    feed = fcall(c, "gc_report_events", start, 100)["events"]
    rows = [e for e in feed if e["case"] == case]
    assert [e["what"] for e in rows] == LIFECYCLE
    assert [e["state"] for e in rows] == ["REGISTERED", "DISPATCHED", "ACCEPTED", "RESOLVED",
                                          "VERIFIED", "CLOSED"]
    assert all(e["grid"] == "G01" and e["category"] == "env.garbage" for e in rows)

    screen = fcall(c, "gc_report_screen", 0.25, 1, 50, 10, 4)
    assert [e["what"] for e in screen["ticker"]] == list(reversed(LIFECYCLE))[:4]

    timeline = c.case(case)["timeline"]
    assert [e["what"] for e in timeline] == LIFECYCLE
    assert all(e["deadline"] == reply.resolve_by_ms for e in timeline)

    # every reader gives each event its time: the feed, the timeline, the
    # job notify reads; in Redis an entry keeps ms since the case was
    # created and leaves out the state its event names
    created = int(c.case(case)["created"])
    raw = timeline_entries(c, case)
    assert [e[0] for e in raw] == [e["at"] - created for e in timeline]
    assert all(0 <= e[0] < 60000 and e[3] == 0 for e in raw), raw
    assert [e["at"] for e in rows] == [e["at"] for e in timeline]
    assert timeline[0]["at"] == created and timeline[-1]["at"] == int(c.case(case)["closed"])
    job = fcall(c, "gc_job_get", f"{case}:{len(raw)}")
    assert job["event"] == "case.closed" and job["at"] == timeline[-1]["at"]


def test_entries_written_before_compact_times_still_read(street):
    # a timeline an earlier library kept, in a list, with an entry as it
    # wrote them: absolute time, state spelled out
    c = street("intake")
    reply = c.reporter().report("G01", "env.garbage", "bins overflowing")
    case = reply.case_id
    created = int(c.case(case)["created"])
    P = c.key_prefix
    entries = [json.dumps(e) for e in timeline_entries(c, case)]
    c.redis.call("DEL", f"{P}case:{case}:tl")
    c.redis.call("RPUSH", f"{P}case:{case}:log", *entries)
    old = [created + 5000, "progress", "U1", "REGISTERED", 1, "", 0, "from an older library", 9]
    c.redis.call("RPUSH", f"{P}case:{case}:log", json.dumps(old))
    last = c.case(case)["timeline"][-1]
    assert (last["at"], last["state"], last["note"]) == (created + 5000, "REGISTERED",
                                                          "from an older library")
    assert c.case(case)["timeline"][0]["at"] == created


def test_the_stream_is_capped_by_the_sweeps(street):
    c = street("intake", "dispatch")
    key = f"{c.key_prefix}events"
    c.redis.call("XTRIM", key, "MAXLEN", "0")
    for i in range(12000):
        c.redis.call("XADD", key, "*", "c", "none", "n", "1")
    fcall(c, "gc_claim", "dispatch", 1000, 10)      # dispatch's sweeps call it too
    assert 10000 <= c.redis.call("XLEN", key) < 10200
