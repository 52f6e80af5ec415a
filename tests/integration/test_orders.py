"""test_orders.py — service-card orders: the resident orders, the
community places (`gridcall order place`), a unit takes it; auto-placing
categories; a unit off duty gets the order at its next rota slot and the
case records the appointment; services delivered are counted."""

import datetime
import json
import time

from gc_cluster import WaitTimeout, pb, state_name, timeline_whats, wait_for
from units_fixture import UTC_OFFSET_MIN, rota_offset_ms, street  # noqa: F401


def order(c, category, text="please help"):
    return c.reporter().report("G01", category, text, channel=pb.CHANNEL_SERVICE_CARD)


def test_order_waits_for_the_community_then_a_unit_takes_it(street):
    c = street("intake", "dispatch")
    u = c.unit("NOTARY")
    reply = order(c, "svc.notary", "notarise a will")
    assert state_name(reply.state) == "STATE_ORDERED"
    try:
        u.expect_offer(reply.case_id, timeout=1.0)
        raise AssertionError("an order was offered before the community placed it")
    except WaitTimeout:
        pass
    listed = json.loads(c.cli("order", "list", "--json").stdout)
    assert [o["case_id"] for o in listed["waiting"]] == [reply.case_id]
    r = c.cli("order", "place", reply.case_id, "--who", "community-operator")
    assert r.returncode == 0, r.stderr
    offer = u.expect_offer(reply.case_id, timeout=5)
    assert u.accept(offer)[0] == "ok"
    assert u.resolve(offer, "notarised")[0] == "ok"
    again = c.cli("order", "place", reply.case_id)
    assert again.returncode == 0 and "already" in again.stdout
    listed = json.loads(c.cli("order", "list", "--json").stdout)
    assert listed["delivered"] == {"svc.notary": "1"} and not listed["waiting"]
    whats = timeline_whats(c.case(reply.case_id))
    assert whats[:3] == ["registered", "placed", "offered"]
    # a grid worker's report of a service category is not an order
    direct = c.reporter().report("G01", "svc.notary", "on behalf of a resident")
    # (its unit is connected and on duty: offered at once)
    assert state_name(direct.state) in ("STATE_REGISTERED", "STATE_DISPATCHED")
    assert "placed" not in timeline_whats(c.case(direct.case_id))


def test_community_declines_an_order_through_intake(street):
    """`gridcall order decline` is a request to intake (order.decide): the
    order is REJECTED with its reason on the timeline; a decline without a
    reason is refused, and a placed order cannot be declined."""
    c = street("intake", "dispatch")
    reply = order(c, "svc.notary", "notarise a contract")
    r = c.cli("order", "decline", reply.case_id, "--who", "community-operator")
    assert r.returncode != 0 and "MISSING_FIELD" in r.stderr, (r.stdout, r.stderr)
    assert c.state(reply.case_id) == "ORDERED"
    r = c.cli("order", "decline", reply.case_id, "--reason", "公证处本周不接此类业务",
              "--who", "community-operator")
    assert r.returncode == 0 and "declined" in r.stdout and "REJECTED" in r.stdout, r.stderr
    case = c.case(reply.case_id)
    assert case["state"] == "REJECTED"
    declined = [e for e in case["timeline"] if e["what"] == "declined"]
    assert declined and "公证处本周不接此类业务" in declined[0]["note"]
    assert declined[0]["who"] == "operator:pytest" and declined[0]["by"] == "community-operator"
    # a placed order is no longer the community's to decline
    placed = order(c, "svc.notary", "notarise a deed")
    assert c.cli("order", "place", placed.case_id).returncode == 0
    r = c.cli("order", "decline", placed.case_id, "--reason", "too late")
    assert r.returncode != 0 and "WRONG_STATE" in r.stderr, (r.stdout, r.stderr)


def test_auto_placing_category(street):
    c = street("intake", "dispatch", dispatch={"order_autoplace": "svc.notary"})
    u = c.unit("NOTARY")
    wait_for(lambda: c.redis.call("SMEMBERS", f"{c.key_prefix}cfg:autoplace") == ["svc.notary"],
             5, "dispatch to write the auto-placing list")
    reply = order(c, "svc.notary")
    assert state_name(reply.state) != "STATE_ORDERED"
    u.expect_offer(reply.case_id, timeout=3)
    assert c.case(reply.case_id)["placed_by"] == "auto"


def test_off_duty_lawyers_get_the_order_for_next_wednesday_afternoon(street):
    offset = rota_offset_ms(4, 10, 0)          # dispatch's rota clock: Thursday 10:00
    c = street("intake", "dispatch", dispatch={"rota_clock_offset_ms": offset})
    law = c.unit("LAW")
    reply = order(c, "svc.legal", "a lease dispute")
    assert c.cli("order", "place", reply.case_id).returncode == 0
    case = c.wait_event(reply.case_id, "booked", timeout=5)
    tz = datetime.timezone(datetime.timedelta(minutes=UTC_OFFSET_MIN))
    rota_now = datetime.datetime.now(tz) + datetime.timedelta(milliseconds=offset)
    wednesday = rota_now.date() + datetime.timedelta(days=6)
    slot = datetime.datetime(wednesday.year, wednesday.month, wednesday.day, 14, 0, tzinfo=tz)
    expect_ms = int(slot.timestamp() * 1000) - offset
    assert abs(int(case["appointment"]) - expect_ms) < 2000
    assert "Wednesday" in [e for e in case["timeline"] if e["what"] == "booked"][0]["note"]
    try:
        law.expect_offer(reply.case_id, timeout=1.5)
        raise AssertionError("the lawyers were offered a case outside their rota")
    except WaitTimeout:
        pass
    assert c.state(reply.case_id) == "REGISTERED"


def test_booked_order_is_offered_when_the_slot_opens(street):
    offset = rota_offset_ms(3, 13, 59, 57)     # Wednesday 13:59:57: 3 s to the slot
    c = street("intake", "dispatch", dispatch={"rota_clock_offset_ms": offset})
    law = c.unit("LAW")
    t0 = time.monotonic()
    reply = order(c, "svc.legal")
    c.cli("order", "place", reply.case_id)
    offer = law.expect_offer(reply.case_id, timeout=10)
    waited = time.monotonic() - t0
    assert waited > 1.5, f"offered {waited:.1f} s after placing, before the slot opened"
    assert "booked" in timeline_whats(c.case(reply.case_id))
    assert offer.role == "lead"
