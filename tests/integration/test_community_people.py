"""test_community_people.py — the people of the liaison chain (五级包联) at
work: the family-affairs alliance handling a family dispute as a team, a
climb to STREET calling the street leader of that grid by name with the
ledger naming them, agreements' delivery per quarter against what they
promised, and the scorecards and hours ledgers."""
import csv
import datetime
import io
import json

from community_helpers import Speaker, cpb, http, key, person_by, read
from gc_cluster import pb
from test_joint import offers_by_unit


def quarter(ms):
    local = datetime.datetime.utcfromtimestamp(ms / 1000) + datetime.timedelta(minutes=480)
    return f"{local.year}Q{(local.month - 1) // 3 + 1}"


def test_family_dispute_is_handled_by_the_alliance(cluster, gc_directory):
    doc = gc_directory.doc
    team = next(t for t in doc["teams"] if t["id"] == "family-alliance")
    assert gc_directory.categories["dispute.family"]["joint_team"] == "family-alliance"
    units = {u["name"]: u["id"] for u in doc["units"]}
    judicial, women, civil = units["天骄街道司法所"], units["天骄街道妇女联合会"], units["天骄街道民政办"]
    assert (team["lead"], sorted(team["members"])) == (judicial, sorted([women, civil]))
    police = units["天骄派出所"]
    mediation = units["安达社区人民调解委员会"]
    c = cluster("intake", "dispatch", "report")
    # the police and the mediators fit too, and connect first
    connected = [c.unit(u) for u in (police, mediation, judicial, women, civil)]
    by_id = {u.unit_id: u for u in connected}
    before = read(c, "team", "family-alliance")["team"]["served"]
    assert before == 698

    worker = person_by(doc, grid="G01", roles="grid_worker")
    wcert = c.principal_cert("w01", f"grid-worker {worker['name']} grids G01")
    # the grid worker discovers something on the rounds: their scorecard counts it
    c.reporter(cert=wcert).report("G01", "env.garbage", "楼道堆放杂物")
    case = c.reporter().report("G01", "dispute.family", "夫妻争吵，涉及子女抚养",
                               channel=pb.CHANNEL_HOTLINE).case_id
    offers = offers_by_unit(connected, case, 3)
    roles = {u: o.role for u, o in offers.items()}
    assert roles == {judicial: "lead", women: "assist", civil: "assist"}, roles
    for u, o in offers.items():
        assert by_id[u].accept(o)[0] == "ok"
    by_id[judicial].resolve(offers[judicial], "调解协议已签")
    by_id[women].resolve(offers[women], "心理疏导两次")
    kind, ack = by_id[civil].resolve(offers[civil], "困难补助已申请")
    assert kind == "ok" and c.state(case) == "RESOLVED"
    kind, ack = c.reporter(cert=wcert).verify(case, note="回访双方满意")
    assert kind == "ack" and c.state(case) == "CLOSED", (kind, ack)
    kind, _ = c.reporter().evaluate(case, 5, "很及时")
    assert kind == "ack"
    after = read(c, "team", "family-alliance")["team"]
    assert after["served"] == 699 and after["served_here"] == 1
    assert read(c, "lists")["resources"]["teams"][0]["served"] == 699

    # the scorecards: each alliance unit delivered one case this quarter,
    # on time; the lead's was rated 5 by the resident; the grid worker
    # discovered one and verified one
    q = quarter(int(c.case(case)["created"]))
    for u in (judicial, women, civil):
        card = read(c, "unit", u, q)["card"]
        assert card["cases_closed"] == 1 and card["ontime"] == 1 and card["declines"] == 0, card
    assert read(c, "unit", judicial, q)["card"]["satisfaction"] == 5
    assert read(c, "unit", police, q)["card"]["cases_closed"] == 0
    card = read(c, "person", worker["id"])["card"]
    assert card["discovered"] == 1 and card["verified"] == 1, card
    assert card["verify_minutes_avg"] is not None and card["verify_minutes_avg"] >= 0
    status, body = http(c, "/api/community/workers.csv")
    rows = {r[0]: r for r in csv.reader(io.StringIO(body.decode("utf-8-sig")))}
    assert rows[worker["id"]][4:6] == ["1", "1"], rows[worker["id"]]
    assert rows["人员编号"][1] == "姓名"


def test_climb_to_street_calls_the_street_leader_by_name(cluster, gc_directory):
    doc = gc_directory.doc
    chain = next(g for g in doc["chain"]["grids"] if g["grid"] == "G01")
    leader = next(p for p in doc["people"] if p["id"] == chain["street_leader"])
    assert "street_leader" in leader["roles"]
    secretary_id = next(x["secretary"] for x in doc["chain"]["communities"]
                        if x["community"] == gc_directory.grid_community["G01"])
    scale = 28800                       # GRID 240 min = 0.5 s, COMMUNITY 480 min = 1 s
    c = cluster("intake", "escalate", "report", time_scale=scale)
    cid = c.reporter().report("G01", "env.garbage", "垃圾满溢无人清运").case_id
    first = c.case(cid)
    worker_id = chain["worker"]
    assert first["liaison"].endswith(f"({worker_id})")
    case = c.wait_event(cid, "escalated", count=2, timeout=20)
    climbs = [e for e in case["timeline"] if e["what"] == "escalated"]
    assert [e["tier"] for e in climbs] == [2, 3]
    assert f"calls {leader['name']} ({leader['title']}, {leader['id']})" in climbs[1]["note"]
    assert secretary_id in climbs[0]["note"]
    P = c.key_prefix
    audiences = []
    for jid in c.redis.call("ZRANGE", P + "pending:notify", 0, -1):
        job = json.loads(c.redis.call("FCALL", "gc_job_get", 0, P, jid))
        if job.get("ok") and job["event"] == "case.escalated":
            audiences.append(job["audience"])
    assert f"person:{leader['id']}" in audiences and f"person:{secretary_id}" in audiences
    assert c.case(cid)["liaison"] == f"{leader['name']} ({leader['id']})"
    # the ledger's 责任人 is the person answering for the case now
    status, body = http(c, "/api/ledger.csv")
    rows = list(csv.reader(io.StringIO(body.decode("utf-8-sig"))))
    col = rows[0].index("责任人")
    row = next(r for r in rows[1:] if r[0] == cid)
    assert row[col] == f"{leader['name']} ({leader['id']})", row
    # the grid's chain, named building by building
    got = read(c, "chain", "G01")["chain"]
    assert got["street_leader"]["name"] == leader["name"]
    assert got["worker"]["id"] == worker_id
    assert len(got["buildings"]) == len(chain["buildings"])
    b = got["buildings"][0]
    assert b["party_group"]["id"] == chain["buildings"][0]["party_group"] and b["members"]


def test_agreement_delivery_per_quarter_and_ratings(cluster, gc_directory):
    doc = gc_directory.doc
    c = cluster("intake", "report")
    lawyers = Speaker(c, "U001")
    operator = Speaker(c, "pytest-operator")
    agreement = next(a for a in doc["agreements"] if a["unit"] == "U001")
    now_ms = int(c.stats()["now"])
    this_q = quarter(now_ms)
    last_q_ms = now_ms - 100 * 86400000
    last_q = quarter(last_q_ms)
    for minutes in (60, 90, 30):
        lawyers.ok("service.log", cpb.ServiceLog(key=key(), unit="U001", minutes=minutes,
                                                 note="周三下午法律咨询"))
    lawyers.ok("service.log", cpb.ServiceLog(key=key(), unit="U001", minutes=120,
                                             day_ms=last_q_ms, note="普法讲座"))
    # the same key twice logs once
    k = key()
    lawyers.ok("service.log", cpb.ServiceLog(key=k, unit="U001", minutes=45))
    assert lawyers.ok("service.log", cpb.ServiceLog(key=k, unit="U001", minutes=45)).duplicate
    # a unit speaks for itself only
    msg = lawyers.refused("service.log", cpb.ServiceLog(key=key(), unit="U002", minutes=30),
                          "ERROR_NOT_PERMITTED")
    assert "U002" in msg, msg
    now_view = {a["id"]: a for a in read(c, "agreements", this_q)["agreements"]}
    past_view = {a["id"]: a for a in read(c, "agreements", last_q)["agreements"]}
    a = now_view[agreement["id"]]
    assert (a["promised"], a["delivered"], a["services_logged"]) == \
        (agreement["services_per_quarter"], 4, 4), a
    assert a["hours"] == 3.75
    assert past_view[agreement["id"]]["delivered"] == 1
    assert now_view["A002"]["delivered"] == 0

    # the community rates its units each quarter; a second rating replaces the first
    operator.ok("unit.rate", cpb.UnitRating(unit="U001", quarter=this_q, score=3))
    operator.ok("unit.rate", cpb.UnitRating(unit="U001", quarter=this_q, score=4, comment="准时"))
    operator.refused("unit.rate", cpb.UnitRating(unit="U001", quarter="2999Q1", score=4),
                     "ERROR_BAD_VALUE")
    card = read(c, "unit", "U001", this_q)["card"]
    assert card["community_rating"] == 4 and card["rating_comment"] == "准时"
    assert card["agreement"] == agreement["id"]

    # the agreements ledger, and the volunteers' hours ledger
    status, body = http(c, "/api/community/agreements.csv", quarter=this_q)
    assert status == 200 and body.startswith(b"\xef\xbb\xbf")
    rows = list(csv.reader(io.StringIO(body.decode("utf-8-sig"))))
    assert len(rows) == 1 + len(doc["agreements"])
    row = next(r for r in rows if r[0] == "U001")
    assert row[2:8] == [this_q, agreement["id"], str(agreement["services_per_quarter"]), "0", "4",
                        "4"], row
    assert row[11] == "4"
    volunteer = person_by(doc, roles="volunteer")
    operator.ok("service.log", cpb.ServiceLog(key=key(), person=volunteer["id"], minutes=90,
                                              note="陪老人就医"))
    status, body = http(c, "/api/community/hours.csv")
    rows = {r[0]: r for r in csv.reader(io.StringIO(body.decode("utf-8-sig")))}
    assert rows[volunteer["id"]][6:8] == ["1.50", "1.50"], rows[volunteer["id"]]
    assert http(c, "/api/community/bogus.csv")[0] == 404
    status, body = http(c, "/api/community/unit", id="U001", quarter=this_q)
    assert status == 200 and json.loads(body)["card"]["delivered"] == 4
