#!/usr/bin/python3
"""make_corpus.py: write the seed inputs of tests/fuzz/corpus/<target>/.

Seeds are small, real examples: one encoded message of every type each
conversation carries (python3-protobuf, from tests/integration/gen, built by
`make all`), the demo directory trimmed to a few grids and units, typical
report URLs and gc_job_get replies. Files named regress-* are inputs that
once found a bug (docs/fuzzing.md); this script never touches them.

    /usr/bin/python3 tests/fuzz/make_corpus.py      # after make all
"""
import json
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(ROOT, "tests", "integration", "gen"))

import gridcall_pb2 as pb  # noqa: E402
import timers_pb2 as tpb  # noqa: E402
import community_pb2 as cpb  # noqa: E402

CORPUS = os.path.join(HERE, "corpus")


def write(target, name, data):
    folder = os.path.join(CORPUS, target)
    os.makedirs(folder, exist_ok=True)
    if isinstance(data, str):
        data = data.encode()
    with open(os.path.join(folder, name), "wb") as f:
        f.write(data)


def clear(target):
    folder = os.path.join(CORPUS, target)
    if os.path.isdir(folder):
        for name in os.listdir(folder):
            if not name.startswith("regress-"):
                os.remove(os.path.join(folder, name))


# ---- codec: [flags][type length][type][body], see fuzz_codec.c -------------

CONVERSATIONS = {"reporter": 0, "unit": 1, "work": 2, "events": 3}
ROUTER = 0x04


def notification():
    return pb.Notification(job_id="TJ-20260101-000007:3", event="case.resolved",
                           case_id="TJ-20260101-000007", ledger_no="TJ20260101-0007",
                           grid="G01", category="env.garbage", tier=pb.TIER_GRID,
                           state=pb.STATE_RESOLVED, unit="U021", at_ms=1767225600123,
                           audience="grid:G01", note="清理完毕")


def offer():
    return pb.Offer(offer_id="o-7f3a", case_id="TJ-20260101-000007",
                    ledger_no="TJ20260101-0007", grid="G01", category="env.garbage",
                    tier=pb.TIER_GRID, text="安达小区3号楼下垃圾堆积三天未清运",
                    answer_by_ms=1767225660000, resolve_by_ms=1767240000000, role="lead")


def verify_message():
    # "pass" is a Python keyword: set it by name
    message = pb.Verify(case_id="TJ-20260101-000007", note="已清理干净", verifier="白国晨")
    setattr(message, "pass", True)
    return message


CODEC_SEEDS = [
    # reporter <-> intake (ROUTER side reads requests)
    ("reporter", True, "report", pb.Report(
        idempotency_key="app-4f1c2a", grid="G01", category="env.garbage",
        text="安达小区3号楼下垃圾堆积三天未清运", channel=pb.CHANNEL_RESIDENT_APP,
        reporter="13800000000", building="B0103", location="3号楼东侧")),
    ("reporter", True, "verify", verify_message()),
    ("reporter", True, "evaluate", pb.Evaluate(case_id="TJ-20260101-000007", score=5,
                                               comment="很及时", resident="13800000000")),
    ("reporter", True, "extend.decide", tpb.ExtendDecision(
        case_id="TJ-20260101-000007", verb=tpb.EXTEND_APPROVE, until_ms=1767312000000,
        reason="需协调物业", operator="街道主任")),
    ("reporter", True, "park", tpb.Park(case_id="TJ-20260101-000007", review_ms=1767830400000,
                                        reason="等待区级审批", operator="街道主任")),
    ("reporter", True, "unpark", tpb.Unpark(case_id="TJ-20260101-000007", reason="审批已下达",
                                            operator="街道主任")),
    ("reporter", True, "order.decide", pb.OrderDecision(case_id="TJ-20260101-000011",
                                                        place=False, reason="本周已约满",
                                                        operator="安达社区")),
    # the community's requests (community.proto)
    ("reporter", True, "need.record", cpb.NeedRecord(
        key="visit-0301", grid="G01", category="svc.meal", text="独居老人需要送餐",
        source=cpb.NEED_SOURCE_VISIT, person="P0012", residents=2)),
    ("reporter", True, "survey.answer", cpb.SurveyAnswer(
        key="sheet-17", survey="S1", grid="G01", respondent="3号楼501户",
        answers=[cpb.SurveyAnswerItem(question="q1", yes=True, text="腿脚不便")])),
    ("reporter", True, "project.design", cpb.ProjectDesign(
        id="P1", name="邻里助餐", goal="送餐上门", needs=["N000001", "N000003"], units=["U006"],
        skills=["cooking"], volunteers=2)),
    ("reporter", True, "project.claim", cpb.ProjectClaim(project="P1", person="P0101")),
    ("reporter", True, "service.log", cpb.ServiceLog(key="h-9", unit="U001", minutes=90,
                                                     note="法律咨询")),
    ("reporter", True, "venue.book", cpb.VenueBooking(key="b-1", venue="V01",
                                                      from_ms=1767312000000,
                                                      to_ms=1767319200000, people=20,
                                                      purpose="居民议事会")),
    ("reporter", False, "community.ok", cpb.CommunityAck(ref="visit-0301", id="N000001",
                                                         status="open", note="recorded")),
    ("reporter", False, "report.ok", pb.ReportReply(
        idempotency_key="app-4f1c2a", case_id="TJ-20260101-000007",
        ledger_no="TJ20260101-0007", tier=pb.TIER_GRID, state=pb.STATE_DISPATCHED,
        resolve_by_ms=1767240000000)),
    ("reporter", False, "ack", pb.Ack(case_id="TJ-20260101-000007", state=pb.STATE_CLOSED)),
    ("reporter", False, "error", pb.Error(code=pb.ERROR_UNKNOWN_GRID, message="grid G99 is unknown",
                                          ref="app-4f1c2a")),
    # unit <-> dispatch
    ("unit", True, "hello", pb.Hello(unit_id="U021", protocol=1, categories=["env.garbage"],
                                     grids=["G01", "G02"], capacity=5)),
    ("unit", True, "heartbeat", pb.Heartbeat()),
    ("unit", True, "bye", pb.Heartbeat()),
    ("unit", True, "accept", pb.Accept(offer_id="o-7f3a", case_id="TJ-20260101-000007")),
    ("unit", True, "decline", pb.Decline(offer_id="o-7f3a", case_id="TJ-20260101-000007",
                                         reason=pb.DECLINE_NO_CAPACITY, note="车辆都在外")),
    ("unit", True, "progress", pb.Progress(offer_id="o-7f3a", case_id="TJ-20260101-000007",
                                           note="已到现场")),
    ("unit", True, "resolve", pb.Resolve(offer_id="o-7f3a", case_id="TJ-20260101-000007",
                                         summary="已清运两车")),
    ("unit", True, "extend", tpb.ExtendRequest(case_id="TJ-20260101-000007", offer_id="o-7f3a",
                                               until_ms=1767312000000, reason="需要吊车")),
    ("unit", False, "welcome", pb.Welcome(unit_id="U021", heartbeat_ms=5000,
                                          held_cases=["TJ-20260101-000003"])),
    ("unit", False, "offer", offer()),
    ("unit", False, "withdrawn", pb.Withdrawn(case_id="TJ-20260101-000007", offer_id="o-7f3a",
                                              reason=pb.WITHDRAW_ESCALATED,
                                              state=pb.STATE_DISPATCHED, tier=pb.TIER_COMMUNITY,
                                              note="deadline passed at GRID")),
    ("unit", False, "ok", pb.UnitAck(offer_id="o-7f3a", case_id="TJ-20260101-000007",
                                     state=pb.STATE_ACCEPTED, role="lead", waiting_for=2)),
    ("unit", False, "error", pb.Error(code=pb.ERROR_STALE, message="offer o-7f3a is no longer open",
                                      ref="o-7f3a")),
    # daemon -> daemon
    ("work", False, "case.dispatch", pb.CaseRef(
        case_id="TJ-20260101-000007", version=3, state=pb.STATE_DISPATCHED, tier=1, grid="G01",
        category="env.garbage", offers=[offer()], offer_units=["U021"])),
    ("work", False, "notify.job", pb.JobRef(job_id="TJ-20260101-000007:3", job=notification())),
    # notify PUB
    ("events", False, "case.resolved", notification()),
]


def codec_seeds():
    clear("codec")
    for conversation, router, type_, message in CODEC_SEEDS:
        flags = CONVERSATIONS[conversation] | (ROUTER if router else 0)
        data = bytes([flags, len(type_)]) + type_.encode() + message.SerializeToString()
        write("codec", "%s-%s" % (conversation, type_), data)
    # the ways a peer gets the frames wrong: no body, a third frame, an
    # unknown type, an oversized body
    report = CODEC_SEEDS[0][3].SerializeToString()
    write("codec", "reporter-report-no-body", bytes([ROUTER | 0x08, 6]) + b"report")
    write("codec", "reporter-report-extra-frame", bytes([ROUTER | 0x10, 6]) + b"report" + report)
    write("codec", "reporter-unknown-type", bytes([ROUTER, 5]) + b"hello" + report)
    write("codec", "reporter-report-too-large", bytes([ROUTER | 0x20, 6]) + b"report" + report)


# ---- directory: the demo street, trimmed ---------------------------------

def trim_community(full, trimmed, communities, grids):
    """The people, chain, teams, venues and agreements of what was kept."""
    grid_ids = {g["id"] for g in grids}
    buildings = {b["id"] for g in grids for b in g["buildings"]}
    unit_ids = {u["id"] for u in trimmed["units"]}
    codes = {c["code"] for c in trimmed["categories"]}
    chain = full["chain"]
    kept = [dict(g, buildings=[b for b in g["buildings"] if b["building"] in buildings])
            for g in chain["grids"] if g["grid"] in grid_ids]
    secretaries = [x for x in chain["communities"] if x["community"] in communities]
    named = {chain["district"]} | {x["secretary"] for x in secretaries}
    for g in kept:
        named |= {g["street_leader"], g["secretary"], g["worker"]}
        for b in g["buildings"]:
            named |= {b["party_group"], b.get("head")} | set(b["members"])
    people = []
    for p in full["people"]:
        if p["id"] not in named and not (p.get("community") in communities and "volunteer" in p["roles"]):
            continue
        p = dict(p)
        if p.get("grid") not in grid_ids:
            p.pop("grid", None)
        if p.get("building") not in buildings:
            p.pop("building", None)
        if p.get("unit") not in unit_ids:
            p.pop("unit", None)
        if p.get("community") not in communities:
            p.pop("community", None)
        people.append(p)
    trimmed["people"] = people
    trimmed["chain"] = {"district": chain["district"], "communities": secretaries, "grids": kept}
    trimmed["teams"] = [t for t in full["teams"] if t["lead"] in unit_ids
                        and set(t["members"]) <= unit_ids]
    teams = {t["id"] for t in trimmed["teams"]}
    for c in trimmed["categories"]:
        if c.get("joint_team") not in teams:
            c.pop("joint_team", None)
    trimmed["venues"] = [v for v in full["venues"] if v.get("unit", next(iter(unit_ids))) in unit_ids
                         and v.get("community", communities[0]) in communities]
    venues = {v["id"] for v in trimmed["venues"]}
    agreements = []
    for a in full["agreements"]:
        services = [c for c in a["services"] if c in codes]
        if a["unit"] in unit_ids and services:
            a = dict(a, services=services, venues=[v for v in a.get("venues", []) if v in venues])
            if not a["venues"]:
                a.pop("venues")
            agreements.append(a)
    trimmed["agreements"] = agreements


def directory_seeds():
    clear("directory")
    with open(os.path.join(ROOT, "deploy", "tianjiao", "directory.json"), encoding="utf-8") as f:
        full = json.load(f)
    communities = ["C01", "C02"]
    grids = [g for c in communities for g in full["grids"] if g["community"] == c][:2] \
        + [g for g in full["grids"] if g["community"] == communities[1]][:2]
    for g in grids:
        g["buildings"] = g["buildings"][:2]
    grid_ids = {g["id"] for g in grids}
    codes = ["svc.legal", "env.garbage", "infra.water_leak", "safety.gas_leak",
             "dispute.family", "safety.fire_hazard"]
    categories = [c for c in full["categories"] if c["code"] in codes]
    units = []
    served = set()
    for u in full["units"]:
        u = dict(u)
        u["categories"] = [c for c in u["categories"] if c in codes]
        cov = u["coverage"]
        if isinstance(cov, dict):
            if "communities" in cov:
                cov = {"communities": [c for c in cov["communities"] if c in communities]}
                if not cov["communities"]:
                    continue
            if "grids" in cov:
                cov = {"grids": [g for g in cov["grids"] if g in grid_ids]}
                if not cov["grids"]:
                    continue
            u["coverage"] = cov
        # keep a unit when it serves a category at a tier none kept does
        serves = {(c, t) for c in u["categories"] for t in u["tiers"]}
        if serves - served:
            units.append(u)
            served |= serves
    # every category must keep a unit at each tier it can reach
    trimmed = dict(full)
    trimmed["communities"] = [c for c in full["communities"] if c["id"] in communities]
    trimmed["grids"] = grids
    trimmed["categories"] = categories
    trimmed["units"] = units
    # and one unit that covers single grids
    trimmed["units"].append({
        "id": "U900", "name": "安达小区保洁队", "kind": "property", "responsible": "汤国艳",
        "contact": "0477-8083115", "tiers": ["GRID"], "categories": ["env.garbage"],
        "coverage": {"grids": [grids[0]["id"], grids[1]["id"]]}, "capacity": 2,
        "rota": [{"weekday": 1, "from": "08:00", "to": "12:00"},
                 {"weekday": 6, "from": "14:00", "to": "24:00"}]})
    trim_community(full, trimmed, communities, grids)
    cal = dict(full["calendar"])
    cal["holidays"] = cal["holidays"][:4]
    cal["makeup_days"] = cal["makeup_days"][:2]
    trimmed["calendar"] = cal
    write("directory", "tianjiao-trimmed.json",
          json.dumps(trimmed, ensure_ascii=False, indent=1))
    # the smallest street: one of everything, no calendar
    small = {
        "version": 1,
        "street": {"id": "tianjiao", "code": "TJ", "name": "天骄街道", "utc_offset_minutes": 480},
        "communities": [{"id": "C01", "name": "安达社区"}],
        "grids": [{"id": "G01", "name": "安达社区第1网格", "community": "C01", "worker": "白国晨",
                   "buildings": [{"id": "B0101", "name": "安达小区1号楼", "head": "袁琪琳"}]}],
        "categories": [{"code": "env.garbage", "name": "垃圾清运", "kind": "incident",
                        "start_tier": "GRID",
                        "limits_minutes": {"GRID": 240, "COMMUNITY": 480, "STREET": 1440,
                                           "DISTRICT": 2880}}],
        "units": [{"id": "U001", "name": "和信物业", "kind": "property", "responsible": "汤国艳",
                   "contact": "0477-8083115", "tiers": ["GRID", "COMMUNITY", "STREET", "DISTRICT"],
                   "categories": ["env.garbage"], "coverage": {"grids": ["G01"]}, "capacity": 3,
                   "rota": [{"weekday": 1, "from": "08:30", "to": "24:00"}]}],
    }
    write("directory", "smallest.json", json.dumps(small, ensure_ascii=False))


# ---- report API: request targets ------------------------------------------

REPORT_TARGETS = [
    "/", "/healthz", "/metrics", "/api/stats", "/api/units", "/api/snapshot", "/api/stream",
    "/static/screen.js", "/static/echarts.min.js", "/static/.hidden",
    "/api/cases/TJ-20260101-000007", "/api/cases/TJ-20260101-000007:log",
    "/api/cases?grid=G01&state=open&limit=20",
    "/api/cases?state=OFFERED,ACCEPTED&category=env.garbage&cursor=1767225600123",
    "/api/cases?from=2026-01-01&to=2026-01-31&community=C01&unit=U021",
    "/api/cases?from=1767225600000&to=1767312000000&limit=1000",
    "/api/stats?from=2026-01-01&grid=G01",
    "/api/ledger.csv?from=2026-01-01&to=2026-02-01&token=s3cret",
    "/api/cases?grid=G%30%31&state=open+&limit=%35",
    "/api/cases?grid=a%00b", "/api/cases?GRID=G01&grid=G02&limit=0",
    "/api/stream?token=abc%2Bdef",
]


def event(**fields):
    return json.dumps(fields, ensure_ascii=False)


CASE_REPLY = {"ok": True, "case": {
    "id": "TJ-20260101-000007", "ledger": "TJ20260101-0007", "grid": "G01", "community": "C01",
    "category": "env.garbage", "text": "安达小区3号楼下垃圾堆积", "channel": "RESIDENT_APP",
    "reporter": "13800000000", "building": "B0103", "location": "", "tier": "2", "unit": "U021",
    "created": "1767225600123", "version": "4", "state": "ACCEPTED",
    "resolve_by": "1767240000000", "responsible": "汤国艳", "waiting": "", "joint": "2",
    "prev_unit": "U011", "climbs": "1", "due0": "1767240000000", "satisfaction": "",
    "timeline": [
        event(at=1767225600123, what="registered", who="13800000000", state="REGISTERED",
              tier=1, unit="", deadline=1767240000000, note="tier GRID", version=1),
        event(at=1767240000000, what="escalated", who="escalate", state="ESCALATED", tier=2,
              unit="", deadline=1767254400000, note="deadline passed", version=2, late_ms=12,
              due=1767240000000, from_tier=1, joint=2, prev_unit="U011"),
        event(at=1767240001000, what="offered", who="dispatch", state="DISPATCHED", tier=2,
              unit="", deadline=1767254400000, note="", version=3, offer="7",
              offer_unit="U021", answer_by=1767240061000),
        "not json"]}}

STATS_REPLY = {
    "ok": True, "now": 1767225600123,
    "state": {"REGISTERED": "3", "ACCEPTED": "2", "CLOSED": "7"},
    "open_tier": {"GRID": "4", "STREET": "1"}, "open_grid": {"G01": "2", "G07": "3"},
    "open_category": {"env.garbage": "5"}, "reported_category": {"env.garbage": "10"},
    "total": {"reported": "12", "closed": "7", "satisfaction_sum": "31"},
    "pending": {"dispatch": 3, "notify": 0}, "timers": 5, "dead": {"notify": 1}}


def report_seeds():
    clear("report_api")
    for i, target in enumerate(REPORT_TARGETS):
        write("report_api", "target-%02d" % i, target)
    # store replies the answers are built from (fuzz_report_api.c: '{')
    write("report_api", "reply-case", json.dumps(CASE_REPLY, ensure_ascii=False))
    write("report_api", "reply-stats", json.dumps(STATS_REPLY, ensure_ascii=False))
    write("report_api", "reply-unknown-case",
          '{"ok":false,"code":"UNKNOWN_CASE","message":"no case X"}')


# ---- notify: gc_job_get replies -------------------------------------------

def job(**change):
    reply = {"ok": True, "id": "TJ-20260101-000007:3", "event": "case.resolved",
             "case": "TJ-20260101-000007", "grid": "G01", "category": "env.garbage",
             "tier": 1, "state": "RESOLVED", "unit": "U021", "at": 1767225600123,
             "audience": "grid:G01", "note": "清理完毕", "attempts": 0, "done": ""}
    reply.update(change)
    return json.dumps({k: v for k, v in reply.items() if v is not None}, ensure_ascii=False)


def notify_seeds():
    clear("notify_job")
    write("notify_job", "resolved", job())
    write("notify_job", "retried", job(attempts=3, done="p,1a2b3c4d"))
    write("notify_job", "escalated", job(event="case.escalated", tier=2, state="DISPATCHED",
                                         audience="tier:COMMUNITY", unit="", note="deadline passed"))
    write("notify_job", "strings", job(tier="2", at="1767225600123", attempts="1", ledger="TJ0007"))
    write("notify_job", "registered-no-unit", job(event="case.registered", unit=None, note=None,
                                                  state="REPORTED"))
    write("notify_job", "bad-event", job(event="case resolved\r\nX-Evil: 1"))
    write("notify_job", "unknown", '{"ok":false,"code":"UNKNOWN_JOB","message":"no job 7"}')


if __name__ == "__main__":
    codec_seeds()
    directory_seeds()
    report_seeds()
    notify_seeds()
