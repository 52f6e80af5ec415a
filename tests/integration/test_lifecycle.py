"""test_lifecycle.py — a case's whole life through the real daemons: report,
offer, accept, progress, resolve, verify, close, evaluate; an idempotent
retry; a failed verification reopening the case; the CLI's view of it all."""

import json
import re
import time

from gc_cluster import CASE_ID, pb, error_name, state_name, timeline_whats

LIFECYCLE = ["registered", "offered", "accepted", "progress", "resolved", "verified", "closed"]


def total(stats, name):
    return int(stats["total"].get(name, 0))


def run_to_resolved(reporter, unit, grid, category, text="pytest report"):
    """Report a case and have unit take and resolve it; returns (reply, offer)."""
    reply = reporter.report(grid, category, text)
    offer = unit.expect_offer(reply.case_id)
    kind, ack = unit.accept(offer)
    assert kind == "ok", f"accept refused: {ack}"
    kind, ack = unit.resolve(offer, "done")
    assert kind == "ok" and ack.state == pb.STATE_RESOLVED, f"resolve refused: {ack}"
    return reply, offer


def test_report_to_closed_with_full_timeline(cluster, gc_directory):
    grid, category = gc_directory.choose("GRID")
    unit_id = gc_directory.fitting("GRID", grid, category)[0]
    c = cluster("intake", "dispatch")
    unit = c.unit(unit_id)
    reporter = c.reporter()
    text = "垃圾桶已满，垃圾溢出到路面 (pytest)"
    before_ms = int(time.time() * 1000)

    reply = reporter.report(grid, category, text, reporter="resident-138", building="")
    assert CASE_ID.match(reply.case_id), reply.case_id
    assert reply.case_id.startswith(gc_directory.doc["street"]["code"] + "-")
    assert reply.ledger_no == reply.case_id
    assert not reply.duplicate
    assert reply.tier == pb.TIER_GRID
    # the unit is connected and on duty: registered and offered in one step
    assert reply.state == pb.STATE_DISPATCHED
    assert reply.resolve_by_ms > before_ms

    offer = unit.expect_offer(reply.case_id)
    assert (offer.grid, offer.category, offer.text) == (grid, category, text)
    assert offer.tier == pb.TIER_GRID
    assert offer.ledger_no == reply.ledger_no
    assert offer.resolve_by_ms == reply.resolve_by_ms
    assert offer.answer_by_ms > before_ms
    assert offer.role == "lead"

    kind, ack = unit.accept(offer)
    assert kind == "ok" and ack.state == pb.STATE_ACCEPTED and not ack.duplicate, ack
    kind, ack = unit.accept(offer)           # a repeated accept changes nothing
    assert kind == "ok" and ack.duplicate, ack
    kind, ack = unit.progress(offer, "crew on site")
    assert kind == "ok" and ack.state == pb.STATE_ACCEPTED, ack
    kind, ack = unit.resolve(offer, "bins emptied, street swept")
    assert kind == "ok" and ack.state == pb.STATE_RESOLVED, ack

    kind, ack = reporter.verify(reply.case_id, True, note="checked on site", verifier="worker-1")
    assert kind == "ack", f"verify refused: {ack}"
    assert ack.case_id == reply.case_id and ack.state == pb.STATE_CLOSED

    case = c.case(reply.case_id)
    assert case["state"] == "CLOSED"
    assert case["unit"] == unit_id
    assert case["responsible"] == gc_directory.units[unit_id]["responsible"]
    timeline = case["timeline"]
    assert timeline_whats(case) == LIFECYCLE
    states = [e["state"] for e in timeline]
    assert states == ["REGISTERED", "DISPATCHED", "ACCEPTED", "ACCEPTED", "RESOLVED",
                      "VERIFIED", "CLOSED"]
    ats = [e["at"] for e in timeline]
    assert ats == sorted(ats) and ats[0] >= before_ms - 5000, ats
    for e in timeline:
        assert e["tier"] == pb.TIER_GRID, e
        assert e["deadline"] == reply.resolve_by_ms, e
        assert e["who"], f"no who on {e}"
    by = {e["what"]: e for e in timeline}
    # who is the principal of the key it came with; the name the client gave is beside it
    assert by["registered"]["who"] == "gateway:pytest" and by["registered"]["by"] == "resident-138"
    assert by["offered"]["offer_unit"] == unit_id
    for what in ("accepted", "progress", "resolved"):
        assert by[what]["who"] == unit_id and by[what]["unit"] == unit_id, by[what]
    assert by["progress"]["note"] == "crew on site"
    assert by["resolved"]["note"] == "bins emptied, street swept"
    assert by["verified"]["who"] == "operator:pytest" and by["closed"]["who"] == "operator:pytest"
    assert by["verified"]["by"] == "worker-1"

    # the operator's view: gridcall case, text and JSON
    r = c.cli("case", reply.case_id)
    assert r.returncode == 0, r.stderr
    assert reply.case_id in r.stdout and "CLOSED" in r.stdout and unit_id in r.stdout
    lines = [ln for ln in r.stdout.splitlines() if re.search(r"\d\d:\d\d:\d\d\.\d{3}\s+\w", ln)]
    shown = [w for ln in lines for w in LIFECYCLE if re.search(rf"\s{w}\s", ln)]
    assert shown == LIFECYCLE, r.stdout
    r = c.cli("case", reply.case_id, "--json")
    assert r.returncode == 0, r.stderr
    doc = json.loads(r.stdout)
    assert doc["state"] == "CLOSED"
    assert [e["what"] for e in doc["timeline"]] == LIFECYCLE

    # the resident's evaluation: 1..5 only
    r = c.cli("evaluate", reply.case_id, "6")
    assert r.returncode != 0 and "BAD_VALUE" in r.stderr, (r.stdout, r.stderr)
    for bad in (6, 0, 100):
        kind, err = reporter.evaluate(reply.case_id, bad)
        assert kind == "error" and err.code == pb.ERROR_BAD_VALUE, (bad, kind, err)
        assert err.ref == reply.case_id and err.message
    kind, ack = reporter.evaluate(reply.case_id, 5, comment="quick and clean")
    assert kind == "ack" and ack.state == pb.STATE_CLOSED and not ack.duplicate, ack
    case = c.case(reply.case_id)
    assert case["satisfaction"] == "5"
    assert timeline_whats(case) == LIFECYCLE + ["evaluated"]
    stats = c.stats()
    assert total(stats, "evaluated") == 1 and total(stats, "satisfaction_sum") == 5
    assert total(stats, "reported") == 1 and total(stats, "closed") == 1


def test_every_score_from_1_to_5_is_taken(cluster, gc_directory):
    grid, category = gc_directory.choose("GRID")
    unit_id = gc_directory.fitting("GRID", grid, category)[0]
    c = cluster("intake", "dispatch")
    unit = c.unit(unit_id)
    reporter = c.reporter()
    ids = []
    for score in range(1, 6):
        reply, _ = run_to_resolved(reporter, unit, grid, category, f"case for score {score}")
        kind, ack = reporter.verify(reply.case_id, True)
        assert kind == "ack" and ack.state == pb.STATE_CLOSED, ack
        ids.append(reply.case_id)
    for score, case_id in zip(range(1, 5), ids):
        kind, ack = reporter.evaluate(case_id, score)
        assert kind == "ack", f"score {score} refused: {ack}"
    r = c.cli("evaluate", ids[4], "5")              # the CLI takes it too
    assert r.returncode == 0 and ids[4] in r.stdout, (r.stdout, r.stderr)
    for score, case_id in zip(range(1, 6), ids):
        assert c.case(case_id)["satisfaction"] == str(score)
    kind, ack = reporter.evaluate(ids[0], 1)          # the same evaluation again
    assert kind == "ack" and ack.duplicate, ack
    kind, err = reporter.evaluate(ids[0], 4)          # a second opinion is refused
    assert kind == "error" and err.code == pb.ERROR_WRONG_STATE, err
    stats = c.stats()
    assert total(stats, "evaluated") == 5 and total(stats, "satisfaction_sum") == 15


def test_idempotent_retry_returns_the_same_case(cluster, gc_directory):
    grid, category = gc_directory.choose("GRID")
    c = cluster("intake", "dispatch")
    reporter = c.reporter()
    key = "pytest-retry-0001"
    first = reporter.report(grid, category, "street light out", key=key)
    again = reporter.report(grid, category, "street light out", key=key)
    assert not first.duplicate
    assert again.duplicate
    assert again.case_id == first.case_id and again.ledger_no == first.ledger_no
    assert again.idempotency_key == key

    # the CLI's retry with the same key and the same report finds the same case
    r = c.cli("report", "--grid", grid, "--category", category, "--key", key,
              "--reporter", "pytest", "--channel", "GRID_WORKER", "street light out")
    assert r.returncode == 0, r.stderr
    assert re.search(rf"^case {re.escape(first.case_id)}\b", r.stdout, re.M), r.stdout

    # a new key is a new case, numbered next in the ledger
    other = reporter.report(grid, category, "another light out")
    assert other.case_id != first.case_id and not other.duplicate
    if other.case_id[:-6] == first.case_id[:-6]:         # same day's ledger
        assert int(other.case_id[-6:]) == int(first.case_id[-6:]) + 1

    stats = c.stats()
    assert total(stats, "reported") == 2
    assert sorted(c.case_keys()) == sorted(f"gc:case:{i}" for i in (first.case_id, other.case_id))
    assert timeline_whats(c.case(first.case_id)).count("registered") == 1
    r = c.cli("stats", "--json")
    assert r.returncode == 0 and json.loads(r.stdout)["total"]["reported"] in (2, "2"), r.stdout


def test_cli_report_prints_the_ledger_number(cluster, gc_directory):
    grid, category = gc_directory.choose("GRID")
    c = cluster("intake")
    r = c.cli("report", "--grid", grid, "--category", category, "--reporter", "operator-7",
              "路灯不亮")
    assert r.returncode == 0, r.stderr
    m = re.search(r"^case (\S+)", r.stdout, re.M)
    assert m and CASE_ID.match(m.group(1)), r.stdout
    case = c.case(m.group(1))
    assert case["text"] == "路灯不亮" and case["reporter"] == "operator-7"
    assert case["grid"] == grid and case["category"] == category
    r = c.cli("report", "--grid", "NO-SUCH-GRID", "--category", category, "text")
    assert r.returncode != 0 and "UNKNOWN_GRID" in r.stderr, (r.stdout, r.stderr)


def test_failed_verification_reopens_and_redispatches(cluster, gc_directory):
    grid, category = gc_directory.choose("GRID")
    unit_id = gc_directory.fitting("GRID", grid, category)[0]
    c = cluster("intake", "dispatch")
    unit = c.unit(unit_id)
    reporter = c.reporter()
    reply, first = run_to_resolved(reporter, unit, grid, category, "noise every night")

    kind, ack = reporter.verify(reply.case_id, False, note="still noisy", verifier="worker-2")
    assert kind == "ack", f"verify fail refused: {ack}"
    assert ack.state == pb.STATE_REOPENED, state_name(ack.state)

    second = unit.expect_offer(reply.case_id)
    assert second.offer_id != first.offer_id
    case = c.wait_event(reply.case_id, "offered", count=2)
    whats = timeline_whats(case)
    assert whats == ["registered", "offered", "accepted", "resolved", "reopened", "offered"]
    reopened = case["timeline"][4]
    assert reopened["what"] == "reopened" and reopened["state"] == "REOPENED"
    assert reopened["who"] == "operator:pytest" and reopened["by"] == "worker-2"
    assert reopened["note"] == "still noisy"
    assert reopened["unit"] == ""               # nobody holds it any more
    assert case["state"] == "DISPATCHED"
    assert int(c.stats()["total"]["reopened"]) == 1

    # the second round closes it
    kind, ack = unit.accept(second)
    assert kind == "ok", ack
    kind, ack = unit.resolve(second, "speaker removed")
    assert kind == "ok", ack
    kind, ack = reporter.verify(reply.case_id, True)
    assert kind == "ack" and ack.state == pb.STATE_CLOSED, ack
    whats = timeline_whats(c.case(reply.case_id))
    assert whats == ["registered", "offered", "accepted", "resolved", "reopened", "offered",
                     "accepted", "resolved", "verified", "closed"]
    # the first offer is spent: resolving under it again is refused
    kind, err = unit.resolve(first, "again")
    assert kind == "error", err
    assert error_name(err.code) in ("ERROR_NOT_PERMITTED", "ERROR_STALE"), err
    assert timeline_whats(c.case(reply.case_id)).count("resolved") == 2


def test_reopened_case_goes_to_another_unit_first(cluster, gc_directory):
    """A case whose resolution failed verification is offered to another
    fitting unit, and the "why this unit" note gives its rank."""
    grid, category = gc_directory.choose("GRID", min_units=2)
    first_id, second_id = gc_directory.fitting("GRID", grid, category)[:2]
    c = cluster("intake", "dispatch")
    units = {first_id: c.unit(first_id), second_id: c.unit(second_id)}
    reporter = c.reporter()
    reply = reporter.report(grid, category, "lamp out again")
    case = c.wait_event(reply.case_id, "offered")
    holder = case["offer_unit"]
    offer = units[holder].expect_offer(reply.case_id)
    assert units[holder].accept(offer)[0] == "ok"
    assert units[holder].resolve(offer, "bulb changed")[0] == "ok"
    kind, ack = reporter.verify(reply.case_id, False, note="still dark", verifier="worker-3")
    assert kind == "ack" and ack.state == pb.STATE_REOPENED, ack

    other = second_id if holder == first_id else first_id
    again = units[other].expect_offer(reply.case_id)
    assert again.offer_id != offer.offer_id
    case = c.wait_event(reply.case_id, "offered", count=2)
    offered = [e for e in case["timeline"] if e["what"] == "offered"]
    assert offered[-1]["offer_unit"] == other
    assert "ranked 1 of " in offered[-1]["note"], offered[-1]["note"]
    assert case["prev_unit"] == holder
