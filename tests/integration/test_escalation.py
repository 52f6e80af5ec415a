"""test_escalation.py — how a case moves on when it is not being handled:
a decline or an unanswered offer moves it to the next fitting unit, and a
passed deadline lifts it one tier (GRID -> COMMUNITY) and offers it again
to a unit serving the new tier."""

import math

from gc_cluster import pb, take_offer, tier_name, timeline_whats


def test_decline_moves_the_offer_to_the_next_unit(cluster, gc_directory):
    grid, category = gc_directory.choose("GRID", min_units=2)
    ids = gc_directory.fitting("GRID", grid, category)[:2]
    c = cluster("intake", "dispatch")
    units = [c.unit(i) for i in ids]
    reporter = c.reporter()
    reply = reporter.report(grid, category, "overflowing bins by the school")

    first, offer1 = take_offer(units, reply.case_id)
    second = units[1] if first is units[0] else units[0]
    kind, ack = first.decline(offer1, pb.DECLINE_NO_CAPACITY, "crew busy elsewhere")
    assert kind == "ok" and not ack.duplicate, (kind, ack)

    offer2 = second.expect_offer(reply.case_id, timeout=5)
    assert offer2.offer_id != offer1.offer_id
    assert (offer2.grid, offer2.category, offer2.tier) == (grid, category, pb.TIER_GRID)

    case = c.case(reply.case_id)
    assert timeline_whats(case) == ["registered", "offered", "declined", "offered"]
    offered1, declined, offered2 = case["timeline"][1:]
    assert offered1["offer_unit"] == first.unit_id
    assert declined["who"] == first.unit_id and "crew busy elsewhere" in declined["note"]
    assert offered2["offer_unit"] == second.unit_id
    assert case["state"] == "DISPATCHED"

    # the declining unit cannot take it back; the second one can
    kind, err = first.accept(offer1)
    assert kind == "error" and err.code == pb.ERROR_STALE, (kind, err)
    kind, ack = second.accept(offer2)
    assert kind == "ok" and ack.state == pb.STATE_ACCEPTED, (kind, ack)
    assert c.case(reply.case_id)["unit"] == second.unit_id
    assert int(c.stats()["total"]["declines"]) == 1


def test_silence_expires_the_offer_and_moves_it_on(cluster, gc_directory):
    grid, category = gc_directory.choose("GRID", min_units=2)
    ids = gc_directory.fitting("GRID", grid, category)[:2]
    c = cluster("intake", "dispatch", dispatch={"offer_timeout_ms": 1000})
    units = [c.unit(i) for i in ids]
    reporter = c.reporter()
    reply = reporter.report(grid, category, "broken lid on the bin")

    silent, offer1 = take_offer(units, reply.case_id)
    other = units[1] if silent is units[0] else units[0]
    assert offer1.answer_by_ms > 0
    # silent never answers (it keeps heartbeating: it is alive, just not taking it)
    offer2 = other.expect_offer(reply.case_id, timeout=6)
    assert offer2.offer_id != offer1.offer_id

    case = c.case(reply.case_id)
    assert timeline_whats(case) == ["registered", "offered", "offer_expired", "offered"]
    offered1, expired, offered2 = case["timeline"][1:]
    assert offered1["offer_unit"] == silent.unit_id
    assert silent.unit_id in expired["note"]
    assert expired["at"] >= offer1.answer_by_ms, "expired before its answer_by"
    assert offered2["offer_unit"] == other.unit_id

    kind, err = silent.accept(offer1)                    # too late
    assert kind == "error" and err.code == pb.ERROR_STALE, (kind, err)
    kind, ack = other.accept(offer2)
    assert kind == "ok" and ack.state == pb.STATE_ACCEPTED, (kind, ack)
    assert int(c.stats()["total"]["offers_expired"]) == 1


def test_deadline_escalates_one_tier(cluster, gc_directory):
    grid, category = gc_directory.choose("GRID", min_units=1, next_tier_units=1)
    grid_ms_wanted = 2000
    limit_grid = gc_directory.limit_minutes(category, "GRID")
    limit_community = gc_directory.limit_minutes(category, "COMMUNITY")
    # case seconds per wall second so that the GRID limit passes in ~2 s
    scale = limit_grid * 60 * 1000 / grid_ms_wanted
    grid_ms = math.floor(limit_grid * 60000 / scale)
    community_ms = math.floor(limit_community * 60000 / scale)
    # prefer a unit that serves the case at COMMUNITY but not at GRID
    up = gc_directory.fitting("COMMUNITY", grid, category)
    at_grid = set(gc_directory.fitting("GRID", grid, category))
    unit_id = ([u for u in up if u not in at_grid] or up)[0]

    c = cluster("intake", "dispatch", "escalate", time_scale=scale)
    unit = c.unit(unit_id)
    reporter = c.reporter()
    reply = reporter.report(grid, category, "garbage not collected for days")
    assert reply.tier == pb.TIER_GRID
    case = c.case(reply.case_id)
    assert int(case["resolve_by"]) - int(case["created"]) == grid_ms

    # the unit ignores any GRID offer; the climb brings a COMMUNITY one
    offer = unit.expect_offer(reply.case_id, tier=pb.TIER_COMMUNITY, timeout=grid_ms / 1000 + 8)
    assert offer.tier == pb.TIER_COMMUNITY, tier_name(offer.tier)
    kind, ack = unit.accept(offer)
    assert kind == "ok" and ack.state == pb.STATE_ACCEPTED, (kind, ack)
    kind, ack = unit.resolve(offer, "collected after the community call")
    assert kind == "ok" and ack.state == pb.STATE_RESOLVED, (kind, ack)

    case = c.case(reply.case_id)
    whats = timeline_whats(case)
    assert whats.count("escalated") == 1, whats
    climb = whats.index("escalated")
    escalated = case["timeline"][climb]
    assert escalated["tier"] == pb.TIER_COMMUNITY and escalated["state"] == "ESCALATED"
    assert escalated["who"] == "escalate"
    assert "GRID" in escalated["note"] and "COMMUNITY" in escalated["note"]
    assert escalated["at"] >= int(case["created"]) + grid_ms
    # the new deadline is the COMMUNITY limit counted from the old deadline
    assert escalated["deadline"] == int(case["created"]) + grid_ms + community_ms
    assert offer.resolve_by_ms == escalated["deadline"]
    after = case["timeline"][climb + 1:]
    assert [e["what"] for e in after] == ["offered", "accepted", "resolved"], whats
    assert after[0]["offer_unit"] == unit_id and after[0]["tier"] == pb.TIER_COMMUNITY
    assert all(e["tier"] == pb.TIER_GRID for e in case["timeline"][:climb])
    assert case["tier"] == str(pb.TIER_COMMUNITY)
    stats = c.stats()
    assert int(stats["total"]["escalations"]) == 1
    assert int(stats["total"]["resolved"]) == 1


def test_unit_holding_a_climbing_case_is_told_it_is_withdrawn(cluster, gc_directory):
    """The unit that holds a case when its deadline passes hears "withdrawn"
    (reason ESCALATED, the new tier) and its replies under the old offer
    are refused."""
    grid, category = gc_directory.choose("GRID", min_units=1, next_tier_units=1)
    limit_grid = gc_directory.limit_minutes(category, "GRID")
    scale = limit_grid * 60 * 1000 / 2000          # the GRID limit passes in ~2 s
    unit_id = gc_directory.fitting("GRID", grid, category)[0]
    c = cluster("intake", "dispatch", "escalate", time_scale=scale)
    unit = c.unit(unit_id)
    reporter = c.reporter()
    reply = reporter.report(grid, category, "streetlight dark")
    offer = unit.expect_offer(reply.case_id, tier=pb.TIER_GRID)
    kind, ack = unit.accept(offer)
    assert kind == "ok" and ack.role == "lead" and ack.waiting_for == 0, ack

    kind, gone = unit.expect("withdrawn", timeout=12,
                             where=lambda m: m.case_id == reply.case_id,
                             what="withdrawn after the climb")
    assert gone.offer_id == offer.offer_id
    assert gone.reason == pb.WITHDRAW_ESCALATED
    assert gone.tier == pb.TIER_COMMUNITY, gone
    assert "GRID" in gone.note
    kind, err = unit.resolve(offer, "done anyway")
    assert kind == "error", err


def test_offers_sent_again_after_welcome_are_flagged(cluster, gc_directory):
    grid, category = gc_directory.choose("GRID")
    unit_id = gc_directory.fitting("GRID", grid, category)[0]
    c = cluster("intake", "dispatch", dispatch={"offer_timeout_ms": 60000})
    unit = c.unit(unit_id)
    reporter = c.reporter()
    held = reporter.report(grid, category, "bench broken")
    first = unit.expect_offer(held.case_id)
    assert not first.resent
    assert unit.accept(first)[0] == "ok"
    waiting = reporter.report(grid, category, "bin overflowing")
    second = unit.expect_offer(waiting.case_id)
    assert not second.resent and second.answer_by_ms > 0

    again = c.unit(unit_id)                       # the same unit reconnects
    offers = {o.case_id: o for o in (again.expect_offer(), again.expect_offer())}
    assert offers[held.case_id].resent and offers[held.case_id].answer_by_ms == 0
    assert offers[waiting.case_id].resent
    assert offers[waiting.case_id].answer_by_ms == second.answer_by_ms


def test_a_case_that_climbed_leaves_the_overdue_and_red_lists_as_it_ends(cluster, gc_directory):
    """A case that passed its deadline is in idx:overdue (the overdue
    figure) and idx:late (the red list) until it is resolved and closed:
    the transitions that end it take it out, though they skip both sets
    for a case that never climbed."""
    grid, category = gc_directory.choose("GRID", min_units=1, next_tier_units=1)
    limit_grid = gc_directory.limit_minutes(category, "GRID")
    scale = limit_grid * 60 * 1000 / 1500          # the GRID limit passes in ~1.5 s
    up = gc_directory.fitting("COMMUNITY", grid, category)[0]
    c = cluster("intake", "dispatch", "escalate", time_scale=scale)
    unit = c.unit(up)
    reporter = c.reporter()
    cid = reporter.report(grid, category, "streetlight dark for days").case_id
    offer = unit.expect_offer(cid, tier=pb.TIER_COMMUNITY, timeout=15)
    assert c.redis.call("ZSCORE", "gc:idx:overdue", cid) is not None
    assert c.redis.call("ZSCORE", "gc:idx:late", cid) is not None
    assert unit.accept(offer)[0] == "ok"
    kind, ack = unit.resolve(offer, "lamp replaced")
    assert kind == "ok" and ack.state == pb.STATE_RESOLVED, ack
    assert c.redis.call("ZSCORE", "gc:idx:overdue", cid) is None
    assert c.redis.call("ZSCORE", "gc:idx:late", cid) is not None   # red until it closes
    kind, ack = reporter.verify(cid, True, "lamp lit")
    assert kind == "ack" and ack.state == pb.STATE_CLOSED, (kind, ack)
    assert c.redis.call("ZSCORE", "gc:idx:late", cid) is None
    assert c.case(cid)["state"] == "CLOSED"
