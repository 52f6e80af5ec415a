"""test_verify_clock.py — the verify-by clock: a resolved case the grid
worker leaves unverified is called out to the grid, then to the community,
and the clock stops once it is verified."""

import json

from gc_cluster import pb, timeline_whats, wait_for


def test_unverified_case_is_called_out_then_stops(cluster, gc_directory, tmp_path):
    grid, category = gc_directory.choose("GRID")
    unit_id = gc_directory.fitting("GRID", grid, category)[0]
    # 30x: the category's resolve limit is hours away, a 1-minute verify
    # limit is 2 s
    c = cluster("escalate", "dispatch", "intake", time_scale=30)
    # the street gives this category a 1-minute verify limit
    doc = json.loads(json.dumps(gc_directory.doc))
    next(k for k in doc["categories"] if k["code"] == category)["verify_minutes"] = 1
    changed = tmp_path / "directory.json"
    changed.write_text(json.dumps(doc, ensure_ascii=False))
    c.load_directory(changed)
    unit = c.unit(unit_id)
    reporter = c.reporter()
    reply = reporter.report(grid, category, "verify clock")
    offer = unit.expect_offer(reply.case_id)
    assert unit.accept(offer)[0] == "ok"
    kind, ack = unit.resolve(offer, "done")
    assert kind == "ok" and ack.state == pb.STATE_RESOLVED

    def notices(n):
        case = c.case(reply.case_id)
        events = [e for e in case["timeline"] if e["what"] == "verify_overdue"]
        return events if len(events) >= n else None

    first = wait_for(lambda: notices(1), 6, "a first verify_overdue notice")
    assert "grid:" + grid in first[0]["note"]
    resolved_at = next(e["at"] for e in c.case(reply.case_id)["timeline"] if e["what"] == "resolved")
    # never early: one verify limit (60 case s = 2000 ms) after the resolve
    assert first[0]["at"] >= resolved_at + 2000 - 5
    second = wait_for(lambda: notices(2), 6, "a second notice, to the community")
    assert "community:" in second[1]["note"]

    kind, ack = reporter.verify(reply.case_id, True, "checked on site")
    assert kind == "ack" and ack.state == pb.STATE_CLOSED
    case = c.case(reply.case_id)
    count = timeline_whats(case).count("verify_overdue")
    assert int(c.redis.call("ZSCORE", c.key_prefix + "timers", reply.case_id + "|deadline") or 0) == 0
    assert case["state"] == "CLOSED"
    assert count >= 2
    unit.close()
