"""test_community_lists.py — the three lists (需求清单, 资源清单, 项目清单)
through intake as their principals: needs recorded from a survey and from
a cluster of reports, a project designed from two of them, volunteers
claiming by skill until it is full, the matching view, venue bookings,
and the refusals a user would see."""
import csv
import io

from community_helpers import Speaker, cpb, http, key, person_by, read


def survey(sid, community):
    return cpb.Survey(id=sid, title="2026年居民需求调查", community=community, questions=[
        cpb.SurveyQuestion(id="q1", text="需要老年助餐", category="svc.meal"),
        cpb.SurveyQuestion(id="q2", text="需要课后托管", category="svc.tutoring")])


def answer(sid, grid, q1, q2, respondent):
    return cpb.SurveyAnswer(key=key(), survey=sid, grid=grid, respondent=respondent, answers=[
        cpb.SurveyAnswerItem(question="q1", yes=q1, text="腿脚不便"),
        cpb.SurveyAnswerItem(question="q2", yes=q2)])


def test_needs_to_project_to_claims_and_the_matching_view(cluster, gc_directory):
    c = cluster("intake", "report")
    doc = gc_directory.doc
    g1, g2 = "G01", "G02"
    community = gc_directory.grid_community[g1]
    operator = Speaker(c, "pytest-operator")
    gateway = Speaker(c, "pytest-gateway")

    # a survey of the community, answered through the gateway: results per
    # grid, and each question answered yes a need of its grid
    operator.ok("survey.create", survey("S1", community))
    first = gateway.ok("survey.answer", answer("S1", g1, True, True, "3号楼2单元501户"))
    second = gateway.ok("survey.answer", answer("S1", g1, True, False, "3号楼1单元202户"))
    meal, tutoring = first.id.split(",")
    assert second.id == meal, "a second yes adds to the need, not a new one"
    res = read(c, "survey", "S1")
    assert res["results"][g1] == {"q1:yes": 2, "q2:yes": 1, "q2:no": 1, "sheets": 2}
    assert res["survey"]["sheets"] == 2

    # a cluster of reports: three noise reports in G02 are a need, detected
    for i in range(3):
        c.reporter().report(g2, "env.noise", f"夜间施工噪音 {i}")
    c.reporter().report(g2, "env.garbage", "one garbage report is no cluster")
    got = operator.ok("needs.detect", cpb.NeedsDetect(grid=g2, window_days=7, min_reports=3))
    noise = got.id
    assert noise and "," not in noise, got
    again = operator.ok("needs.detect", cpb.NeedsDetect(grid=g2, window_days=7, min_reports=3))
    assert again.id == "" and again.status == "unchanged", "a cluster is one need"
    lists = read(c, "lists")
    needs = {n["id"]: n for n in lists["needs"]}
    assert needs[noise]["source"] == "reports" and needs[noise]["evidence"] == 3
    assert needs[meal]["source"] == "survey" and needs[meal]["evidence"] == 2
    assert {needs[i]["status"] for i in (meal, tutoring, noise)} == {"open"}

    # a project covering two of the needs, wanting two volunteers who cook
    operator.ok("project.design", cpb.ProjectDesign(
        id="P1", name="邻里助餐", goal="为独居老人送餐、降低噪音扰民", needs=[meal, noise],
        units=["U006"], skills=["cooking"], volunteers=2))
    cooks = [p["id"] for p in doc["people"] if "volunteer" in p["roles"]
             and "cooking" in p.get("skills", [])]
    others = [p["id"] for p in doc["people"] if "volunteer" in p["roles"]
              and "cooking" not in p.get("skills", [])]
    assert len(cooks) >= 3
    msg = operator.refused("project.claim", cpb.ProjectClaim(project="P1", person=others[0]),
                           "ERROR_NOT_PERMITTED")
    assert "skills" in msg and "cooking" in msg, msg
    assert operator.ok("project.claim", cpb.ProjectClaim(project="P1", person=cooks[0])).status == "active"
    assert operator.ok("project.claim", cpb.ProjectClaim(project="P1", person=cooks[1])).status == "full"
    msg = operator.refused("project.claim", cpb.ProjectClaim(project="P1", person=cooks[2]),
                           "ERROR_WRONG_STATE")
    assert "full" in msg and "2 of 2" in msg, msg
    # claiming twice changes nothing
    assert operator.ok("project.claim", cpb.ProjectClaim(project="P1", person=cooks[0])).duplicate

    # the matching view: the third need has no project; P1 is oversubscribed
    m = read(c, "matching")
    assert [n["id"] for n in m["uncovered_needs"]] == [tutoring]
    assert [p["id"] for p in m["oversubscribed"]] == ["P1"]
    assert m["oversubscribed"][0]["refused_full"] == 1
    assert cooks[0] not in m["unused"]["people"] and m["unused"]["people_total"] > 0
    lists = read(c, "lists")
    assert lists["need_counts"] == {"open": 1, "covered": 2, "met": 0}
    p1 = next(p for p in lists["projects"] if p["id"] == "P1")
    assert p1["people"] == sorted(cooks[:2]) and p1["progress"] == 1

    # a leaver frees a place; a need already covered cannot be covered again
    operator.ok("project.claim", cpb.ProjectClaim(project="P1", person=cooks[1], leave=True))
    operator.ok("project.claim", cpb.ProjectClaim(project="P1", person=cooks[2]))
    msg = operator.refused("project.design", cpb.ProjectDesign(
        id="P2", name="x", goal="y", needs=[meal], volunteers=1), "ERROR_WRONG_STATE")
    assert "covered by project P1" in msg, msg

    # units claim too, within the project's unit places (one: its one implementer)
    assert operator.ok("project.claim", cpb.ProjectClaim(project="P1", unit="U006")).status == "full"
    msg = operator.refused("project.claim", cpb.ProjectClaim(project="P1", unit="U005"),
                           "ERROR_WRONG_STATE")
    assert "1 of 1 unit places" in msg, msg
    assert read(c, "lists")["projects"][0]["claimed_units"] == ["U006"]

    # done: its needs are met, and the list says so
    operator.ok("project.status", cpb.ProjectStatusChange(
        project="P1", status=cpb.PROJECT_STATUS_DONE, reason="三个月送餐完成"))
    lists = read(c, "lists")
    assert lists["need_counts"] == {"open": 1, "covered": 0, "met": 2}

    # the lists as ledgers: CSV with a BOM that Excel opens in Chinese
    status, body = http(c, "/api/community/needs.csv")
    assert status == 200 and body.startswith(b"\xef\xbb\xbf")
    rows = list(csv.reader(io.StringIO(body.decode("utf-8-sig"))))
    assert rows[0][0] == "需求编号" and len(rows) == 4
    assert {r[0]: r[8] for r in rows[1:]} == {meal: "met", tutoring: "open", noise: "met"}
    status, body = http(c, "/api/community/projects.csv")
    rows = list(csv.reader(io.StringIO(body.decode("utf-8-sig"))))
    assert rows[1][0] == "P1" and rows[1][9] == "2" and rows[1][11] == "done"
    status, body = http(c, "/api/community/matching")
    assert status == 200 and b"uncovered_needs" in body
    assert http(c, "/api/community/nothing")[0] == 404


def test_venue_bookings_never_overlap(cluster):
    c = cluster("intake")
    operator = Speaker(c, "pytest-operator")
    hour = 3600000
    t0 = 1893456000000          # 2030-01-01 08:00 local
    book = lambda f, t, **kw: cpb.VenueBooking(key=key(), venue="V01", from_ms=f, to_ms=t,
                                               purpose="居民议事会", **kw)  # noqa: E731
    first = operator.ok("venue.book", book(t0, t0 + 2 * hour, people=20))
    msg = operator.refused("venue.book", book(t0 + hour, t0 + 3 * hour), "ERROR_WRONG_STATE")
    assert "booked" in msg and first.id in msg, msg
    operator.ok("venue.book", book(t0 + 2 * hour, t0 + 3 * hour))   # back to back is fine
    msg = operator.refused("venue.book", book(t0 + 5 * hour, t0 + 6 * hour, people=31),
                           "ERROR_BAD_VALUE")
    assert "capacity of 30" in msg, msg
    operator.refused("venue.book", book(t0, t0), "ERROR_BAD_VALUE")
    operator.refused("venue.book", cpb.VenueBooking(key=key(), venue="V99", from_ms=t0,
                                                    to_ms=t0 + hour, purpose="x"), "ERROR_BAD_VALUE")


def test_who_may_do_what_and_bad_input(cluster, gc_directory):
    c = cluster("intake")
    doc = gc_directory.doc
    worker = person_by(doc, grid="G01", roles="grid_worker")
    w = Speaker(c, "w01", f"grid-worker {worker['name']} grids G01")
    gateway = Speaker(c, "pytest-gateway")
    unit = Speaker(c, "U001")
    operator = Speaker(c, "pytest-operator")
    visit = lambda grid, **kw: cpb.NeedRecord(**{**dict(  # noqa: E731
        key=key(), grid=grid, category="svc.eldercare", text="独居老人需要上门照护",
        source=cpb.NEED_SOURCE_VISIT), **kw})

    # a grid worker records a need found on a visit in their grid, not another's
    got = w.ok("need.record", visit("G01", residents=2, person=worker["id"]))
    assert got.status == "open"
    msg = w.refused("need.record", visit("G02"), "ERROR_NOT_PERMITTED")
    assert "G02" in msg, msg
    # a gateway answers surveys but does not record needs; a unit does not plan
    msg = gateway.refused("need.record", visit("G01"), "ERROR_NOT_PERMITTED")
    assert "may not record needs" in msg, msg
    msg = unit.refused("project.design", cpb.ProjectDesign(id="PX", name="x", goal="y",
                                                           needs=[got.id], volunteers=1),
                       "ERROR_NOT_PERMITTED")
    assert "may not plan" in msg, msg
    msg = w.refused("unit.rate", cpb.UnitRating(unit="U001", quarter="2026Q1", score=5),
                    "ERROR_NOT_PERMITTED")
    # a community's operator plans its own community only
    other = sorted(set(gc_directory.grid_community.values()) - {gc_directory.grid_community["G01"]})[0]
    op2 = Speaker(c, "op2", f"operator 王主任 community {other}")
    msg = op2.refused("survey.create", survey("S2", gc_directory.grid_community["G01"]),
                      "ERROR_NOT_PERMITTED")
    assert "outside" in msg, msg

    # a grid worker logs hours for the party members of their grids only
    mine = person_by(doc, grid="G01", roles="party_member")
    theirs = person_by(doc, grid="G02", roles="party_member")
    assert w.ok("service.log", cpb.ServiceLog(key=key(), person=mine["id"], minutes=60)).status == "logged"
    msg = w.refused("service.log", cpb.ServiceLog(key=key(), person=theirs["id"], minutes=60),
                    "ERROR_NOT_PERMITTED")
    assert theirs["id"] in msg and "outside" in msg, msg

    # bad input: a clear error, nothing recorded
    operator.refused("need.record", visit("G01", text=""), "ERROR_MISSING_FIELD")
    operator.refused("need.record", visit("G01", category="svc.nope"), "ERROR_UNKNOWN_CATEGORY")
    operator.refused("need.record", visit("G99"), "ERROR_UNKNOWN_GRID")
    operator.refused("need.record", visit("G 1"), "ERROR_BAD_VALUE")
    operator.refused("need.record", cpb.NeedRecord(key=key(), grid="G01", category="svc.meal",
                                                   text="x"), "ERROR_BAD_VALUE")
    msg = operator.refused("need.record", visit("G01", source=cpb.NEED_SOURCE_REPORTS),
                           "ERROR_BAD_VALUE")
    assert "visits" in msg, msg
    too_many = cpb.Survey(id="S3", title="t", questions=[
        cpb.SurveyQuestion(id=f"q{i}", text="t", category="svc.meal") for i in range(21)])
    operator.refused("survey.create", too_many, "ERROR_BAD_VALUE")
    operator.refused("service.log", cpb.ServiceLog(key=key(), unit="U001", minutes=0),
                     "ERROR_BAD_VALUE")
    operator.refused("service.log", cpb.ServiceLog(key=key(), minutes=30), "ERROR_MISSING_FIELD")
    operator.refused("unit.rate", cpb.UnitRating(unit="U001", quarter="2026-3", score=4),
                     "ERROR_BAD_VALUE")
    operator.refused("unit.rate", cpb.UnitRating(unit="U001", quarter="2026Q1", score=6),
                     "ERROR_BAD_VALUE")
    operator.refused("project.claim", cpb.ProjectClaim(project="NOPE", person=worker["id"]),
                     "ERROR_BAD_VALUE")
    w.peer.send_frames([b"need.record", b"\xff\xff\xff"])
    kind, err = w.peer.recv()
    assert kind == "error"
    assert read(c, "lists")["need_total"] == 1
    # the same key twice records once
    k = key()
    first = w.ok("need.record", visit("G01", key=k))
    assert w.ok("need.record", visit("G01", key=k)).duplicate
    assert read(c, "lists")["need_total"] == 2 and first.id


def test_the_cli_answers_a_survey_and_reads_the_lists(cluster, gc_directory):
    c = cluster("intake")
    community = gc_directory.grid_community["G01"]
    Speaker(c, "pytest-operator").ok("survey.create", survey("S9", community))
    r = c.cli("community", "answer", "S9", "--grid", "G01", "--respondent", "8号楼302户",
              "q1=no", "q2=yes")
    assert r.returncode == 0, r.stderr
    assert "answered" in r.stdout and "1 needs" in r.stdout, r.stdout
    r = c.cli("community", "need", "--grid", "G03", "--category", "svc.health",
              "--residents", "4", "楼里三位老人需要上门体检")
    assert r.returncode == 0 and "open" in r.stdout, r.stderr
    r = c.cli("community", "lists")
    assert r.returncode == 0, r.stderr
    lists = __import__("json").loads(r.stdout)
    assert lists["need_counts"]["open"] == 2
    assert {n["category"] for n in lists["needs"]} == {"svc.tutoring", "svc.health"}
    r = c.cli("community", "answer", "S9", "--grid", "G01", "--respondent", "x", "q7=yes")
    assert r.returncode != 0 and "no question" in r.stderr, r.stderr
    r = c.cli("community", "survey", "S9")
    assert r.returncode == 0 and '"q2:yes": 1' in r.stdout, r.stdout
