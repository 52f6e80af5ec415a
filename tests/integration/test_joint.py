"""test_joint.py — joint handling (协同处置): a category that needs three
units gets a lead and two assisting units, each with its own part and
state; the case resolves only when the lead has resolved and every
assisting unit has reported. A declining assistant is replaced."""

from gc_cluster import pb, timeline_whats, wait_for
from units_fixture import street  # noqa: F401


def offers_by_unit(units, case_id, count, timeout=5):
    got = {}

    def poll():
        for u in units:
            if u.unit_id in got:
                continue
            try:
                got[u.unit_id] = u.expect_offer(case_id, timeout=0.02)
            except AssertionError:
                pass
        return len(got) >= count
    wait_for(poll, timeout, f"{count} offers for {case_id}")
    return got


def test_joint_case_resolves_only_when_every_party_has_reported(street):
    c = street("intake", "dispatch")
    units = [c.unit(f"FAM{i}") for i in range(1, 5)]
    by_id = {u.unit_id: u for u in units}
    case = c.reporter().report("G01", "dispute.family", "a family quarrel").case_id
    offers = offers_by_unit(units, case, 3)
    roles = {uid: o.role for uid, o in offers.items()}
    assert roles == {"FAM1": "lead", "FAM2": "assist", "FAM3": "assist"}, roles
    for uid, o in offers.items():
        assert by_id[uid].accept(o)[0] == "ok"
    assert c.state(case) == "ACCEPTED"
    kind, ack = by_id["FAM1"].resolve(offers["FAM1"], "agreement drafted")
    assert kind == "ok" and c.state(case) == "ACCEPTED"
    # the lead's ok says the case waits for the two assisting units
    assert ack.role == "lead" and ack.waiting_for == 2, ack
    assert ack.state == pb.STATE_ACCEPTED
    assert "lead_resolved" in timeline_whats(c.case(case))
    assert by_id["FAM2"].progress(offers["FAM2"], "counselling held")[0] == "ok"
    kind, ack = by_id["FAM2"].resolve(offers["FAM2"], "counselling done")
    assert kind == "ok" and ack.role == "assist", ack
    assert c.state(case) == "ACCEPTED", "resolved before every party reported"
    kind, ack = by_id["FAM3"].resolve(offers["FAM3"], "allowance arranged")
    assert kind == "ok" and pb.CaseState.Name(ack.state) == "STATE_RESOLVED"
    assert c.state(case) == "RESOLVED"
    whats = timeline_whats(c.case(case))
    assert whats.count("assist_reported") == 2 and whats[-1] == "resolved"
    opens = [c.redis.call("ZCOUNT", f"{c.key_prefix}unit:FAM{i}:load", "9000000000000000", "9000000000000000") for i in range(1, 4)]
    assert opens == [0, 0, 0]
    # a repeated report changes nothing
    kind, ack = by_id["FAM3"].resolve(offers["FAM3"], "allowance arranged")
    assert kind == "ok" and ack.duplicate


def test_declining_assistant_is_replaced(street):
    c = street("intake", "dispatch")
    units = [c.unit(f"FAM{i}") for i in range(1, 5)]
    by_id = {u.unit_id: u for u in units}
    case = c.reporter().report("G01", "dispute.family").case_id
    offers = offers_by_unit(units, case, 3)
    assert by_id["FAM2"].decline(offers["FAM2"], pb.DECLINE_NO_CAPACITY)[0] == "ok"
    replacement = by_id["FAM4"].expect_offer(case, timeout=5)
    assert replacement.role == "assist"
    held = c.redis.call("HKEYS", f"{c.key_prefix}case:{case}:parties")
    assert sorted(held) == ["FAM3", "FAM4"]
