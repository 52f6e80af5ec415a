"""test_units.py — units plug in and out while the cluster runs: offers
within a second of hello, claims beyond the directory refused, a unit
killed with an offer in hand (the offer moves on within 5 s, the unit is
told its cases when it comes back), a stopped unit detected within 4 s,
capacity never exceeded, ranking recorded in the timeline."""

import signal
import time

from gc_cluster import WaitTimeout, error_name, pb, state_name, timeline_whats, wait_for
from units_fixture import PyUnit, street  # noqa: F401  (fixture)


def connected(c, unit):
    return c.redis.call("HEXISTS", f"{c.key_prefix}units:connected", unit) == 1


def test_unit_plugs_in_and_gets_waiting_case_within_a_second(street):
    c = street("intake", "dispatch", dispatch={"retry_ms": 5000})
    r = c.reporter()
    case = r.report("G01", "env.garbage", "bins overflowing").case_id
    c.wait_event(case, "waiting")
    u = c.unit("CLEAN2")                        # plugs in while everything runs
    t0 = time.monotonic()
    offer = u.expect_offer(case, timeout=3)
    assert time.monotonic() - t0 < 1.0, "the waiting case reached the new unit late"
    assert offer.role == "lead" and offer.category == "env.garbage"
    # a new case reaches it at once too
    t0 = time.monotonic()
    second = r.report("G02", "env.garbage", "more bins").case_id
    u.expect_offer(second, timeout=3)
    assert time.monotonic() - t0 < 1.0


def test_a_report_no_unit_can_take_is_recorded_waiting_in_one_step(street):
    # no unit connected: gc_register records what dispatch's round would,
    # in the same write (one version), and dispatch's retry is set from its
    # own retry_ms; a unit at capacity makes the same case say so
    c = street("intake", "dispatch", dispatch={"retry_ms": 7000})
    # dispatch writes its retry_ms for registration once it has started
    wait_for(lambda: c.redis.call("GET", f"{c.key_prefix}cfg:offer_retry_ms") == "7000", 5,
             "dispatch's retry_ms in cfg:offer_retry_ms")
    r = c.reporter()
    case = r.report("G01", "env.garbage", "bins overflowing").case_id
    got = c.wait_event(case, "waiting")
    assert timeline_whats(got) == ["registered", "waiting"]
    waiting = got["timeline"][1]
    assert waiting["who"] == "dispatch" and waiting["note"] == "no connected unit on duty fits"
    assert waiting["version"] == 1 and int(got["version"]) == 1, "waiting took a second write"
    assert got["state"] == "REGISTERED" and got["waiting"] == "no connected unit on duty fits"
    due = float(c.redis.call("ZSCORE", f"{c.key_prefix}pending:dispatch", case))
    assert abs(due - (int(got["created"]) + 7000)) < 50, "the retry is dispatch's retry_ms"
    assert c.redis.call("ZSCORE", f"{c.key_prefix}dispatch:waiting", case) is not None
    time.sleep(0.5)                     # dispatch, not woken, writes nothing more
    assert int(c.case(case)["version"]) == 1
    # a unit with no room left: ready, but the new case waits and says why
    u = c.unit("CLEAN2", hello=False)
    assert u.hello(capacity=1)[0] == "welcome"
    u.expect_offer(case, timeout=3)
    full = r.report("G01", "env.garbage", "more bins").case_id
    got = c.wait_event(full, "waiting")
    assert got["timeline"][1]["note"] == "every fitting unit is at capacity or declined"
    assert int(got["version"]) == 1


def test_claims_beyond_the_directory_are_refused_with_a_reason(street):
    c = street("dispatch")
    u = c.unit("CLEAN1", hello=False)
    kind, msg = u.hello(categories=["svc.legal"])
    assert kind == "error" and error_name(msg.code) == "ERROR_NOT_PERMITTED"
    assert "svc.legal" in msg.message
    kind, msg = u.hello(grids=["G99"])
    assert kind == "error" and error_name(msg.code) == "ERROR_NOT_PERMITTED"
    assert "G99" in msg.message
    kind, msg = u.hello(capacity=6)
    assert kind == "error" and error_name(msg.code) == "ERROR_NOT_PERMITTED"
    assert "capacity" in msg.message
    kind, msg = u.hello(categories=["env.garbage"], grids=["G01"], capacity=5)
    assert kind == "welcome"


def test_grid_claim_narrows_what_a_unit_is_offered(street):
    c = street("intake", "dispatch")
    u1 = c.unit("CLEAN1", hello=False)
    assert u1.hello(grids=["G01"])[0] == "welcome"
    u2 = c.unit("CLEAN2")
    r = c.reporter()
    case = r.report("G02", "env.garbage").case_id
    u2.expect_offer(case)               # CLEAN1 has more spare but did not claim G02
    assert c.case(case)["offer_unit"] == "CLEAN2"


def test_killed_unit_offer_moves_on_and_it_is_told_its_cases(street):
    c = street("intake", "dispatch", dispatch={"offer_timeout_ms": 30000})
    r = c.reporter()
    first = PyUnit(c, "CLEAN1", "accept")
    first.wait("welcome")
    held = r.report("G01", "env.garbage", "held case").case_id
    c.wait_state(held, "ACCEPTED")
    first.signal(signal.SIGKILL)
    first.proc.wait(5)
    silent = PyUnit(c, "CLEAN1", "silent")     # the same unit, now not answering
    w = silent.wait("welcome")
    assert w["held"] == [held]
    other = c.unit("CLEAN2")
    case = r.report("G01", "env.garbage", "offer in hand").case_id
    silent.wait("offer", where=lambda e: e["case_id"] == case)
    assert c.case(case)["offer_unit"] == "CLEAN1"     # most spare capacity
    silent.signal(signal.SIGKILL)
    t0 = time.monotonic()
    other.expect_offer(case, timeout=10)
    moved = time.monotonic() - t0
    assert moved < 5.0, f"offer moved on after {moved:.1f} s"
    assert "offer_withdrawn" in timeline_whats(c.case(case))
    # it comes back: told which cases it holds; the moved offer is not re-sent
    back = PyUnit(c, "CLEAN1", "silent")
    w = back.wait("welcome")
    assert w["held"] == [held]
    time.sleep(0.5)
    assert not [e for e in back.events("offer") if e["case_id"] == case]
    assert c.state(held) == "ACCEPTED" and c.case(held)["unit"] == "CLEAN1"


def test_reconnect_before_expiry_gets_waiting_offers_again(street):
    c = street("intake", "dispatch", dispatch={"offer_timeout_ms": 30000})
    u = c.unit("CLEAN1")
    case = c.reporter().report("G01", "env.garbage").case_id
    offer = u.expect_offer(case)
    u.close(bye=False)
    again = c.unit("CLEAN1")            # a new connection says hello at once
    resent = again.expect_offer(case, timeout=3)
    assert resent.offer_id == offer.offer_id
    assert again.accept(resent)[0] == "ok"


def test_stopped_unit_is_detected_within_4_seconds(street):
    c = street("dispatch")
    u = PyUnit(c, "CLEAN1", "silent")
    u.wait("welcome")
    wait_for(lambda: connected(c, "CLEAN1"), 5, "CLEAN1 in units:connected")
    u.signal(signal.SIGSTOP)
    t0 = time.monotonic()
    wait_for(lambda: not connected(c, "CLEAN1"), 8, "dispatch to notice the stopped unit")
    took = time.monotonic() - t0
    assert took < 4.0, f"detected after {took:.1f} s"
    u.signal(signal.SIGCONT)
    wait_for(lambda: connected(c, "CLEAN1"), 15, "CLEAN1 back after SIGCONT")


def test_capacity_claim_is_never_exceeded(street):
    c = street("intake", "dispatch")
    u = c.unit("CLEAN1", hello=False)
    assert u.hello(capacity=1)[0] == "welcome"
    r = c.reporter()
    cases = [r.report("G01", "env.garbage", f"bin {i}").case_id for i in range(3)]
    done = []
    for _ in cases:
        offer = u.expect_offer(timeout=5)
        with_offers = [i for i in cases if c.state(i) in ("DISPATCHED", "ACCEPTED")]
        assert len(with_offers) == 1, f"two cases at once for capacity 1: {with_offers}"
        assert u.accept(offer)[0] == "ok"
        try:
            extra = u.expect_offer(timeout=1.0)
            raise AssertionError(f"offered {extra.case_id} while full")
        except WaitTimeout:
            pass
        assert u.resolve(offer, "done")[0] == "ok"
        done.append(offer.case_id)
    assert sorted(done) == sorted(cases)


def test_ranking_by_spare_capacity_then_track_record_is_in_the_timeline(street):
    c = street("intake", "dispatch")
    u1, u2 = c.unit("CLEAN1"), c.unit("CLEAN2")
    case = c.reporter().report("G01", "env.garbage").case_id
    offer = u1.expect_offer(case)           # spare 5 beats spare 2
    note = [e for e in c.case(case)["timeline"] if e["what"] == "offered"][0]["note"]
    assert "CLEAN1" in note and "spare 5 of 5" in note and "accept rate" in note
    assert "next CLEAN2" in note
    u1.decline(offer, pb.DECLINE_NOT_OURS, "not ours")
    u2.expect_offer(case)
    rec = c.redis.call("HMGET", f"{c.key_prefix}unit:CLEAN1", "accepts_n", "declines_n")
    assert rec == [None, "1"]          # one offer answered: declined


def test_route_dry_run_ranks_and_explains(street):
    import json
    c = street("dispatch")
    c.unit("CLEAN1")
    c.unit("CLEAN2")
    wait_for(lambda: connected(c, "CLEAN2"), 5, "CLEAN2 in units:connected")
    rows = json.loads(c.cli("route", "--grid", "G01", "--category", "env.garbage", "--json").stdout)
    ranked = [(r["unit"], r["rank"]) for r in rows if r["in"]]
    assert ranked == [("CLEAN1", 1), ("CLEAN2", 2)]
    assert "spare 5 of 5" in rows[0]["reason"]
    # Thursday 2026-12-03 10:00 local: the lawyers are off duty until Wednesday 14:00
    r = c.cli("route", "--grid", "G01", "--category", "svc.legal", "--at", "2026-12-03T10:00")
    assert r.returncode == 0, r.stderr
    law = [line for line in r.stdout.splitlines() if "LAW" in line][0]
    assert "out" in law and "off duty" in law and "2026-12-09 14:00" in law and "not connected" in law


def test_a_ready_unit_gets_a_new_case_in_the_step_that_registers_it(street):
    """With CLEAN1 connected and on duty, a report comes back DISPATCHED and
    its timeline shows registered then offered at once; after CLEAN1 says
    bye it is no longer ready, and the next report waits REGISTERED."""
    c = street("intake", "dispatch")
    u1 = c.unit("CLEAN1")
    reporter = c.reporter()
    first = reporter.report("G01", "env.garbage", "bins full")
    assert first.state == pb.STATE_DISPATCHED, state_name(first.state)
    assert timeline_whats(c.case(first.case_id)) == ["registered", "offered"]
    offer = u1.expect_offer(first.case_id)
    assert offer.answer_by_ms > 0 and not offer.resent
    assert c.redis.call("SISMEMBER", f"{c.key_prefix}ready:1:G01:env.garbage", "CLEAN1") == 1
    u1.close()
    wait_for(lambda: c.redis.call("SISMEMBER", f"{c.key_prefix}ready:1:G01:env.garbage",
                                  "CLEAN1") == 0, 5, "CLEAN1 out of the ready set")
    second = reporter.report("G01", "env.garbage", "bins full again")
    assert second.state == pb.STATE_REGISTERED, state_name(second.state)


def test_no_unit_is_ready_after_dispatch_stops(street):
    """A clean stop of dispatch takes every unit out of the ready sets: new
    reports wait REGISTERED for the next dispatch instead of being offered
    where nobody would send the offer."""
    c = street("intake", "dispatch")
    c.unit("CLEAN1")
    reporter = c.reporter()
    assert reporter.report("G01", "env.garbage", "bins").state == pb.STATE_DISPATCHED
    assert c.daemons["dispatch"].stop() == 0
    assert c.redis.call("SCARD", f"{c.key_prefix}ready:1:G01:env.garbage") == 0
    assert reporter.report("G01", "env.garbage", "more bins").state == pb.STATE_REGISTERED
