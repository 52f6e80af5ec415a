"""test_cli_input.py — what the gridcall CLI does with what an operator
types: a typo in a number (a vote's tally, a rating, a count, a time) is
refused naming the option, exit 2, and nothing is recorded, so the right
command still works afterwards; a date the month does not have is refused,
not moved into the next month; reading the case clock does not change its
rate; a config path that is a directory is refused by the daemons and the
CLI; an unknown command is named. (docs/matters.md, docs/community.md,
docs/escalation.md, docs/operations.md)"""

import json
import os
import re
import subprocess

from gc_cluster import BUILD
from test_matters import TEMPLATES, matter, whats

DAEMONS = ("intake", "dispatch", "escalate", "notify", "report")


def ok(r):
    assert r.returncode == 0, (r.args[-6:], r.stdout, r.stderr)
    return r.stdout


def refused(r, *words):
    """The CLI refused before sending anything: exit 2, stderr naming words."""
    assert r.returncode == 2, (r.args[-6:], r.returncode, r.stdout, r.stderr)
    for w in words:
        assert w in r.stderr, (w, r.stderr)
    return r.stderr


def meetings(c):
    return c.redis.call("ZCARD", c.key_prefix + "idx:meetings")


def test_a_mistyped_tally_is_refused_and_the_right_vote_then_counts(cluster):
    c = cluster("intake")
    ok(c.cli("matter", "templates", "load", TEMPLATES))
    mid = ok(c.cli("matter", "propose", "--template", "renovation", "--grid", "G01",
                   "--title", "3号楼管网改造")).split()[0]
    g = ok(c.cli("matter", "meeting", "--level", "GRID", "--grid", "G01", "--venue", "议事之家",
                 "--agenda", mid)).split()[0]
    ok(c.cli("matter", "deliberate", mid, "--meeting", g, "--minutes", "同意"))
    cm = ok(c.cli("matter", "meeting", "--level", "COMMUNITY", "--community", "C01",
                  "--venue", "议事之家", "--agenda", mid)).split()[0]
    ok(c.cli("matter", "deliberate", mid, "--meeting", cm, "--minutes", "方案A"))
    ok(c.cli("matter", "notice", mid, "--options", "方案A|方案B"))
    ok(c.cli("clock", "--set", "+169h"))        # past the notice's week
    vm = ok(c.cli("matter", "meeting", "--level", "COMMUNITY", "--community", "C01",
                  "--venue", "议事之家", "--agenda", mid)).split()[0]
    # the board shows a meeting's time as the street's local time, not ms
    board = ok(c.cli("matter", "board"))
    line = next(x for x in board.splitlines() if x.strip().startswith(vm))
    assert re.search(r"at 议事之家, \d{4}-\d\d-\d\d \d\d:\d\d$", line), line
    before = matter(c, mid)
    held = meetings(c)

    def vote(tally, eligible="120"):
        return c.cli("matter", "vote", mid, "--meeting", vm, "--eligible", eligible,
                     "--tally", tally)

    # the letter O for a zero was read as 9 votes: a failed vote recorded at
    # the meeting, which then refused the right tally (one vote a meeting)
    refused(vote("方案A=9O|against=5"), "--tally", "9O")
    refused(vote("方案A=-1|against=5"), "--tally")
    refused(vote("方案A|against=5"), "--tally", "OPTION=VOTES")
    refused(vote("方案A=90|against=5", eligible="abc"), "--eligible", "abc")
    # "+tomorrow" is not minutes: it was read as now and a meeting scheduled
    refused(c.cli("matter", "meeting", "--level", "GRID", "--grid", "G01", "--venue", "议事之家",
                  "--at", "+tomorrow"), "--at")
    after = matter(c, mid)
    assert whats(after) == whats(before) and "vote_failed" not in whats(after), whats(after)
    assert meetings(c) == held

    # the vote this meeting takes is the right one
    out = ok(vote("方案A=90|against=5"))
    assert "passed: 方案A with 90 of 95" in out, out
    m = matter(c, mid)
    assert whats(m) == whats(before) + ["decided"] and m["decision"] == "方案A", whats(m)


def test_a_mistyped_community_number_is_refused_and_nothing_recorded(cluster):
    c = cluster("intake")

    def lists():
        return json.loads(c.redis.call("FCALL", "gc_community_read", 0, c.key_prefix, "lists"))

    def card():
        doc = json.loads(c.redis.call("FCALL", "gc_community_read", 0, c.key_prefix,
                                      "unit", "U001", "2026Q3"))
        assert doc["ok"], doc
        return doc["card"]

    # "4x" was read as a rating of 4
    refused(c.cli("community", "rate", "U001", "2026Q3", "4x"), "score", "4x")
    assert card().get("community_rating") is None
    refused(c.cli("community", "need", "--grid", "G01", "--category", "svc.eldercare",
                  "--residents", "abc", "独居老人需要上门照护"), "--residents", "abc")
    assert lists()["need_total"] == 0
    # a date where Unix ms are asked for was read as 2026 ms past 1970
    err = refused(c.cli("community", "book", "V01", "--from", "2026-12-01", "--to", "2026-12-02",
                        "--purpose", "居民议事会"), "--from")
    assert "Unix ms" in err, err

    # the same commands typed right are recorded
    ok(c.cli("community", "rate", "U001", "2026Q3", "4"))
    assert card()["community_rating"] == 4
    ok(c.cli("community", "need", "--grid", "G01", "--category", "svc.eldercare",
             "--residents", "2", "独居老人需要上门照护"))
    assert lists()["need_total"] == 1
    t0 = 1893456000000          # 2030-01-01 08:00 local
    ok(c.cli("community", "book", "V01", "--from", t0, "--to", t0 + 3600000,
             "--purpose", "居民议事会"))


def test_a_day_the_month_does_not_have_is_refused_not_moved(cluster):
    c = cluster("intake")
    # a fixed calendar, so each impossible date would land (moved into the
    # next month) inside the year a deadline or review date may be set in
    ok(c.cli("clock", "--set", "2026-10-09 08:00"))
    cid = c.reporter().report("G01", "env.garbage", "垃圾桶满了").case_id
    before = c.case(cid)

    r = c.cli("extend", cid, "--until", "2027-02-30 10:00", "--reason", "crane booked")
    assert r.returncode != 0 and "2027-02-30" in r.stderr, (r.stdout, r.stderr)
    r = c.cli("park", cid, "--until", "2026-11-31 09:00", "--reason", "owner abroad")
    assert r.returncode != 0 and "2026-11-31" in r.stderr, (r.stdout, r.stderr)
    r = c.cli("park", cid, "--until", "2027-02-29", "--reason", "not a leap year")
    assert r.returncode != 0 and "2027-02-29" in r.stderr, (r.stdout, r.stderr)
    after = c.case(cid)
    for field in ("state", "resolve_by", "review_at", "extensions"):
        assert after.get(field) == before.get(field), (field, before.get(field), after.get(field))
    assert len(after["timeline"]) == len(before["timeline"])

    # the last day of the month is a date
    out = ok(c.cli("extend", cid, "--until", "2027-02-28 10:00", "--reason", "crane booked"))
    assert "deadline extended to 2027-02-28 10:00" in out, out
    assert c.case(cid)["timeline"][-1]["what"] == "extended"
    # and a leap day is, in a leap year (within the year ahead parking allows)
    ok(c.cli("clock", "--set", "2027-12-01 08:00"))
    out = ok(c.cli("park", cid, "--until", "2028-02-29 09:00", "--reason", "owner abroad"))
    assert "parked until 2028-02-29 09:00" in out, out
    case = c.case(cid)
    assert case["state"] == "PARKED"
    assert case["timeline"][-1]["review_local"] == "2028-02-29 09:00"


def test_reading_the_clock_keeps_the_clusters_scale(cluster):
    # no daemon runs: nothing else writes the clock hash, so what the read
    # did to it is all that can change it
    c = cluster(time_scale=600)
    ok(c.cli("clock"))                          # anchors a clock at the cluster's scale
    before = c.redis.call("HGETALL", c.key_prefix + "clock")
    assert dict(zip(before[::2], before[1::2]))["scale"] == "600", before
    # an operator's CLI with the default scale, only reading: it re-anchored
    # the clock at 1, and case time ran 600 times slower for every daemon
    ok(c.cli("clock", time_scale=1))
    after = c.redis.call("HGETALL", c.key_prefix + "clock")
    assert dict(zip(after[::2], after[1::2]))["scale"] == "600", after
    assert after == before, "a read moved the clock's anchor"


def test_a_config_path_that_is_a_directory_is_refused(cluster, tmp_path):
    # a directory opens but reads nothing: it was taken as an empty file, so
    # every option silently fell back to its default
    for name in DAEMONS:
        r = subprocess.run([str(BUILD / f"gridcall-{name}"), "-c", str(tmp_path), "--check-config"],
                           capture_output=True, text=True, timeout=30, stdin=subprocess.DEVNULL)
        assert r.returncode != 0 and "cannot read" in r.stdout + r.stderr, \
            (name, r.returncode, r.stdout, r.stderr)
    c = cluster()
    ok(c.cli("stats"))
    r = c.cli("-c", tmp_path, "stats")         # the cluster's options, and the directory
    assert r.returncode != 0 and "cannot read" in r.stderr, (r.returncode, r.stdout, r.stderr)


def test_an_unknown_command_is_named_and_the_usage_lists_order_decline():
    env = {k: v for k, v in os.environ.items() if k != "GRIDCALL_CONF"}

    def run(*args):
        return subprocess.run([str(BUILD / "gridcall"), *args], capture_output=True, text=True,
                              timeout=30, stdin=subprocess.DEVNULL, env=env)
    r = run("frobnicate")
    assert r.returncode == 2, (r.returncode, r.stderr)
    assert 'unknown command "frobnicate"' in r.stderr, r.stderr
    usage = run("--help").stderr
    assert "order decline ID --reason TEXT" in usage, usage
    # every form of report the README shows, not the grid alone
    assert "--lat LAT --lon LON" in usage and "--address TEXT" in usage, usage
