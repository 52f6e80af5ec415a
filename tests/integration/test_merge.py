"""test_merge.py — three neighbours report one burst pipe: the second and
third hear of the first as a possible duplicate; an operator merges them
(the wire and `gridcall merge`), the unit gives back the duplicates, one
case is handled, the ledger counts the others as merged into it, and all
three reporters hear when it closes. Only operators whose area holds both
cases may merge; nothing is merged unasked."""

import csv
import io
import json
import time

import zmq

from gc_cluster import pb, error_name, timeline_whats
from test_report_api import get

CATEGORY = "infra.water_leak"       # 供水管道漏水: starts at COMMUNITY


def pipe_street(cluster, gc_directory, *extra):
    grid = next(g for g in gc_directory.grids
                if gc_directory.fitting("COMMUNITY", g, CATEGORY))
    unit_id = gc_directory.fitting("COMMUNITY", grid, CATEGORY)[0]
    c = cluster("intake", "dispatch", "notify", *extra,
                notify={"sweep_ms": 100, "lease_ms": 1000})
    return c, grid, unit_id


def building_of(gc_directory, grid):
    return next(g for g in gc_directory.doc["grids"] if g["id"] == grid)["buildings"][0]


def merge(reporter, keep, dup, note="同一处漏水", operator="pytest-operator"):
    return reporter.request("merge", pb.Merge(keep_case_id=keep, duplicate_case_id=dup,
                                              note=note, operator=operator))


def test_three_reports_of_one_burst_pipe(cluster, gc_directory):
    c, grid, unit_id = pipe_street(cluster, gc_directory, "report")
    unit = c.unit(unit_id)
    sub = c.subscriber()
    for topic in (b"case.closed", b"case.merged"):
        sub.setsockopt(zmq.SUBSCRIBE, topic)
    time.sleep(0.3)                     # the SUB joins before anything is published
    reporter = c.reporter()
    b = building_of(gc_directory, grid)
    texts = ["楼下水管爆裂，水漫到路上", "单元门口一直在冒水", "小区水管破了，地面积水"]
    replies = []
    for i, text in enumerate(texts):
        # the first as the grid and building, the others by the building's address
        place = ({"building": b["id"]} if i == 0 else {"address_string": b["address"]})
        r = reporter.report(grid if i == 0 else "", CATEGORY, text, reporter=f"居民{i + 1}",
                            channel=pb.CHANNEL_RESIDENT_APP, **place)
        assert (r.grid, r.building) == (grid, b["id"]), r
        replies.append(r)
    first, second, third = (r.case_id for r in replies)
    assert list(replies[0].possible_duplicates) == []
    assert list(replies[1].possible_duplicates) == [first]
    assert list(replies[2].possible_duplicates) == [first, second]
    # suggestions only: all three are open and offered
    offers = {cid: unit.expect_offer(cid) for cid in (first, second, third)}
    assert all(c.state(cid) == "DISPATCHED" for cid in (first, second, third))

    kind, ack = merge(reporter, first, second)
    assert kind == "ack" and ack.state == pb.STATE_MERGED and not ack.duplicate, ack
    r = c.cli("merge", first, third, "--note", "同一处漏水")
    assert r.returncode == 0, r.stdout + r.stderr
    assert f"merged into {first}" in r.stdout, r.stdout
    kind, ack = merge(reporter, first, second)          # a repeat changes nothing
    assert kind == "ack" and ack.duplicate and ack.state == pb.STATE_MERGED, ack

    # the unit is told to drop the duplicates' offers; only the first is handled
    for cid in (second, third):
        _, w = unit.expect("withdrawn", where=lambda m, cid=cid: m.case_id == cid)
        assert w.reason == pb.WITHDRAW_MERGED and w.state == pb.STATE_MERGED, w
        kind, err = unit.accept(offers[cid])
        assert kind == "error", err
    assert unit.accept(offers[first])[0] == "ok"
    assert unit.resolve(offers[first], "换管修复")[0] == "ok"
    kind, err = reporter.evaluate(second, 5)
    assert kind == "error" and error_name(err.code) == "ERROR_WRONG_STATE", err
    assert f"it follows {first}, not yet closed" in err.message, err.message
    kind, ack = reporter.verify(first, True, note="已修复")
    assert kind == "ack" and ack.state == pb.STATE_CLOSED, ack

    cases = c.cases([first, second, third])
    assert cases[first]["state"] == "CLOSED"
    assert cases[first]["merged_cases"] == sorted([second, third])
    assert timeline_whats(cases[first]).count("merged_in") == 2
    for cid in (second, third):
        d = cases[cid]
        assert d["state"] == "MERGED" and d["merged_into"] == first, d
        assert d.get("unit", "") == ""
        assert timeline_whats(d)[-2:] == ["merged", "kept_closed"], timeline_whats(d)
    # one dispatch: only the first was accepted and resolved
    accepted = [cid for cid in cases if "accepted" in timeline_whats(cases[cid])]
    assert accepted == [first]

    # each resident evaluates by their own case once the kept one is closed
    for cid, score in ((first, 4), (second, 5), (third, 3)):
        kind, ack = reporter.evaluate(cid, score)
        assert kind == "ack", ack
    assert int(c.stats()["total"]["evaluated"]) == 3

    # all three reporters hear of the closure (each by their own case)
    heard = set()
    deadline = time.monotonic() + 10
    while len(heard) < 3 and time.monotonic() < deadline:
        if sub.poll(200):
            topic, body = sub.recv_multipart()[:2]
            n = pb.Notification()
            n.ParseFromString(body)
            if topic == b"case.closed":
                heard.add(n.audience)
    assert heard == {f"reporter:{x}" for x in (first, second, third)}, heard

    stats = c.stats()
    assert stats["state"].get("MERGED") == 2 and stats["state"].get("CLOSED") == 1, stats["state"]
    assert int(stats["total"]["merged"]) == 2
    assert not stats["open_grid"], stats["open_grid"]

    # the ledger: one row closed, the other two counted as merged into it
    host, port = c["report"].ready_match.groups()
    status, _, body = get(f"http://{host}:{port}", "/api/ledger.csv")
    assert status == 200
    rows = {row["台账编号"]: row for row in csv.DictReader(io.StringIO(body.decode("utf-8-sig")))}
    assert rows[first]["状态"] == "结案"
    for cid in (second, third):
        assert rows[cid]["状态"] == f"已合并（并入{first}）", rows[cid]
    status, _, body = get(f"http://{host}:{port}", "/api/cases", state="MERGED")
    merged = {x["case_id"]: x for x in json.loads(body)["items"]}
    assert status == 200 and set(merged) == {second, third}, merged
    assert all(x["merged_into"] == first and x["state"] == "MERGED" for x in merged.values())
    sub.close(0)


def test_merge_refusals(cluster, gc_directory):
    grid = next(g for g in gc_directory.grids if gc_directory.fitting("COMMUNITY", g, CATEGORY))
    unit_id = gc_directory.fitting("COMMUNITY", grid, CATEGORY)[0]
    community = gc_directory.grid_community[grid]
    other_grid = next(g for g in gc_directory.grids if gc_directory.grid_community[g] != community)
    other_community = gc_directory.grid_community[other_grid]
    c = cluster()
    # keys: an operator of this community, an operator of another, a unit
    here = c.keys.make("op-here", f"operator 王主任 community {community}")
    there = c.keys.make("op-there", f"operator 李主任 community {other_community}")
    c.keys.write()
    c.start("intake")
    reporter = c.reporter()
    a = reporter.report(grid, CATEGORY, "漏水一").case_id
    b = reporter.report(grid, CATEGORY, "漏水二").case_id
    far = reporter.report(other_grid, CATEGORY, "别的社区漏水").case_id

    def as_(cert):
        return c.reporter(cert=cert)

    op_here, op_there, gateway = as_(here), as_(there), as_(c.keys.certs["pytest-gateway"])
    unit = as_(c.keys.certs[unit_id])

    def refused(r, keep, dup):
        kind, msg = merge(r, keep, dup)
        assert kind == "error", (kind, msg)
        return error_name(msg.code), msg.message

    code, text = refused(op_there, a, b)
    assert code == "ERROR_NOT_PERMITTED" and community in text, text
    code, text = refused(op_here, a, far)           # one case outside the area
    assert code == "ERROR_NOT_PERMITTED" and other_community in text, text
    code, text = refused(gateway, a, b)
    assert code == "ERROR_NOT_PERMITTED", text
    code, text = refused(unit, a, b)
    assert code == "ERROR_NOT_PERMITTED", text
    code, text = refused(reporter, a, a)
    assert code == "ERROR_BAD_VALUE" and "itself" in text, text
    code, text = refused(reporter, a, "TJ-20200101-000001")
    assert code == "ERROR_UNKNOWN_CASE", text
    assert all(c.state(x) != "MERGED" for x in (a, b, far))

    # the community's own operator may; a merged case cannot be kept or merged again
    kind, ack = merge(op_here, a, b)
    assert kind == "ack" and ack.state == pb.STATE_MERGED, ack
    code, text = refused(reporter, b, a)
    assert code == "ERROR_WRONG_STATE" and "MERGED" in text, text
    code, text = refused(reporter, far, b)
    assert code == "ERROR_WRONG_STATE" and f"already merged into {a}" in text, text
    r = c.cli("merge", a)
    assert r.returncode == 2 and "usage: gridcall merge KEEP DUP" in r.stderr
