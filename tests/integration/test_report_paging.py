"""test_report_paging.py — the report's pages and export while the street
moves, and the arguments it refuses (docs/report-api.md: Filters,
GET /api/cases, GET /api/ledger.csv, Errors).

/api/cases pages by an opaque cursor, "<created ms>:<case id>" of the last
case a page looked at: cases filed between two pages, or leaving the filter
(parked while state=open is listed), neither repeat a row nor skip one, and
cases created in the same millisecond page one at a time. The ledger CSV,
read slowly while reports are filed, holds no 台账编号 twice. A cursor no
page gave, a date that does not exist, an empty state, an id the directory
does not hold and a URL made long by its query are refused; 0 is a time
like any other. /api/snapshot is the document the first frame of
/api/stream is, with the report's own yellow_fraction, list_max and
time_scale."""
import collections
import csv
import http.client
import io
import json
import re
import socket
import time
import urllib.request
import uuid

from gc_cluster import wait_for
from test_report_api import get, get_json
from test_report_states import DAY_MS, base_of, tpb

CURSOR = re.compile(r"^(\d+):([A-Za-z0-9._-]+)$")


def file_fast(c, n, grid, category, text="楼道堆放杂物"):
    """n reports registered in one Redis pipeline, as intake registers
    them (gc_register): back to back, many to a millisecond. Returns the
    case ids in the order filed."""
    tag = uuid.uuid4().hex[:8]
    replies = c.redis.pipeline([
        ("FCALL", "gc_register", 0, c.key_prefix, f"bulk-{tag}-{i}", grid, category,
         f"{text} {i}", "GRID_WORKER", "pytest", "", "", c.time_scale, 86400,
         "pytest-gateway", "") for i in range(n)])
    ids = []
    for reply in replies:
        doc = json.loads(reply)
        assert doc["ok"], doc
        ids.append(doc["case_id"])
    return ids


def walk(base, limit, after_page=None, **filters):
    """Follow next_cursor from the first page to the last; after_page(page)
    runs after each page but the last. Returns the listed ids in order and
    the pages."""
    seen, pages, cursor = [], [], None
    while True:
        query = dict(filters, limit=limit)
        if cursor is not None:
            query["cursor"] = cursor
        status, page = get_json(base, "/api/cases", **query)
        assert status == 200, (query, page)
        pages.append(page)
        seen += [x["case_id"] for x in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            return seen, pages
        # opaque to a client, but a string naming a case, never a position
        assert isinstance(cursor, str) and CURSOR.match(cursor), cursor
        assert len(pages) < 1000, "the pages never end"
        if after_page:
            after_page(page)


def once_each(seen):
    twice = [i for i, n in collections.Counter(seen).items() if n > 1]
    assert not twice, f"listed more than once: {twice}"


def park(reporter, case_id):
    kind, ack = reporter.request("park", tpb.Park(
        case_id=case_id, review_ms=int(time.time() * 1000) + 30 * DAY_MS,
        reason="纳入区级立项", operator="街道"))
    assert kind == "ack", ack


def test_cases_filed_between_pages_are_neither_repeated_nor_skipped(cluster, gc_directory):
    c = cluster("intake", "report")
    base = base_of(c)
    grid, category = gc_directory.choose("GRID")
    reporter = c.reporter()
    before = [reporter.report(grid, category, f"第{i}件：路灯不亮").case_id
              for i in range(20)]
    filed = []

    def file_two(page):
        # newest first: the new cases come before the cursor, outside this walk
        filed.extend(reporter.report(grid, category, "翻页时新报").case_id for _ in range(2))
    seen, pages = walk(base, 5, file_two)
    once_each(seen)
    assert seen == before[::-1], seen           # every earlier case, newest first
    assert not set(filed) & set(seen) and len(filed) == 2 * (len(pages) - 1)
    # the cursor names the last case of its page (creation time and id)
    last = pages[0]["items"][-1]
    assert pages[0]["next_cursor"] == f"{last['created_ms']}:{last['case_id']}"
    # a walk begun now finds them all
    seen, _ = walk(base, 7)
    once_each(seen)
    assert set(seen) == set(before) | set(filed)


def test_cases_parked_while_open_ones_are_paged_leave_no_later_case_unlisted(
        cluster, gc_directory):
    c = cluster("intake", "report")
    base = base_of(c)
    grid, category = gc_directory.choose("GRID")
    reporter = c.reporter()
    before = [reporter.report(grid, category, f"第{i}件：垃圾满溢").case_id
              for i in range(20)]
    parked = []

    def park_listed(page):
        # an operator parks cases the screen has just shown: they leave
        # idx:open, above the cursor (three after the first page, then one)
        for row in page["items"][:3 if not parked else 1]:
            park(reporter, row["case_id"])
            parked.append(row["case_id"])
    seen, pages = walk(base, 5, park_listed, state="open")
    once_each(seen)
    assert len(pages) >= 4 and len(parked) >= 5
    assert seen == before[::-1], f"never listed: {sorted(set(before) - set(seen))}"
    status, page = get_json(base, "/api/cases", state="open", limit=100)
    assert status == 200 and not set(parked) & {x["case_id"] for x in page["items"]}


def test_cases_of_the_same_millisecond_page_one_at_a_time(cluster, gc_directory):
    c = cluster("intake", "report")
    base = base_of(c)
    grid, category = gc_directory.choose("GRID")
    ids = file_fast(c, 24, grid, category)
    # eight cases to a ms, in the indexes and the cases alike (a pipeline
    # makes several to a ms by itself; this makes it sure): pages of one
    # and of three end inside each ms
    P = c.key_prefix
    t0 = int(c.redis.call("HGET", f"{P}case:{ids[0]}", "created"))
    created = {case_id: t0 + i // 8 for i, case_id in enumerate(ids)}
    c.redis.pipeline([cmd for case_id, ms in created.items() for cmd in (
        ("HSET", f"{P}case:{case_id}", "created", ms),
        ("ZADD", f"{P}idx:created", "XX", ms, case_id),
        ("ZADD", f"{P}idx:open", "XX", ms, case_id),
        ("ZADD", f"{P}idx:grid:{grid}", "XX", ms, case_id))])
    # newest first; within a ms, the greater id first
    order = sorted(ids, key=lambda i: (created[i], i), reverse=True)
    for filters in ({}, {"state": "open"}, {"grid": grid},
                    {"community": gc_directory.grid_community[grid]}):
        for limit in (1, 3):
            seen, pages = walk(base, limit, **filters)
            once_each(seen)
            assert seen == order, (filters, limit, seen)
            for page in pages[:-1]:
                last = page["items"][-1]["case_id"]
                assert page["next_cursor"] == f"{created[last]}:{last}", (filters, page)
    status, page = get_json(base, "/api/cases", limit=1)
    assert page["total"] == 24


EXPORT_TOKEN = "export-token-for-pytest-0123456789"


def test_ledger_read_slowly_while_reports_are_filed_has_each_case_once(cluster, gc_directory):
    """1,200 cases: the export reads them 500 to a page as the client takes
    the rows. The client reads 4 KB at a time from a small receive buffer,
    filing reports between its reads: each page after the first is read
    after cases were filed above the one before."""
    c = cluster("report", report={"export_token": EXPORT_TOKEN})
    base = base_of(c)
    grid, category = gc_directory.choose("GRID")
    # rows of ~10 KB: a page (~5 MB) is more than the kernel's socket
    # buffers (4 MB at most) and the report's 64 KB block hold, so the
    # report reads the next page only once the client has read much of this
    # one, whatever the buffers grew to
    text = "楼道堆放杂物，消防通道堵塞，需清理。" * 200
    before = set(file_fast(c, 1200, grid, category, text))
    host, port = base[len("http://"):].rsplit(":", 1)
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.settimeout(30)
    sock.connect((host, int(port)))
    conn = http.client.HTTPConnection(host, int(port), timeout=30)
    conn.sock = sock
    filed = []
    try:
        conn.request("GET", "/api/ledger.csv",
                     headers={"Authorization": f"Bearer {EXPORT_TOKEN}"})
        resp = conn.getresponse()
        assert resp.status == 200, resp.read()
        chunks = []
        while True:
            chunk = resp.read(4096)
            if not chunk:
                break
            chunks.append(chunk)
            if len(chunks) % 32 == 1:          # two new reports every 128 KB read
                filed += file_fast(c, 2, grid, category, "导出时新报")
    finally:
        conn.close()
    body = b"".join(chunks)
    rows = list(csv.reader(io.StringIO(body.decode("utf-8-sig"), newline="")))
    assert rows[0][0] == "台账编号"
    numbers = [r[0] for r in rows[1:]]
    assert len(filed) >= 100, len(filed)        # reports came in all along the download
    once_each(numbers)
    assert before <= set(numbers), f"missing: {sorted(before - set(numbers))[:5]}"
    # cases filed during the download are not in it, but for any filed
    # before the first page was read
    assert set(numbers) <= before | set(filed)


def test_a_cursor_no_page_gave_is_refused_naming_the_cursor(cluster, gc_directory):
    c = cluster("intake", "report")
    base = base_of(c)
    grid, category = gc_directory.choose("GRID")
    file_fast(c, 3, grid, category)
    # "5" was the old cursor: a position in the index
    for cursor in ("5", "abc", "12:", "1:bad id", ":TJ-1", "-1", "1:2:3"):
        status, body = get_json(base, "/api/cases", cursor=cursor)
        assert status == 400 and body["code"] == "BAD_VALUE", (cursor, body)
        assert "cursor" in body["message"], (cursor, body)
    status, page = get_json(base, "/api/cases", limit=2)
    status, rest = get_json(base, "/api/cases", limit=2, cursor=page["next_cursor"])
    assert status == 200 and len(rest["items"]) == 1
    # a cursor of another query (outside its from..to) is the client's
    # mistake, not a store fault: 400, not 502
    at = int(page["next_cursor"].split(":")[0])
    for bounds in ({"from": str(at + 1)}, {"to": str(at)}):
        status, body = get_json(base, "/api/cases", cursor=page["next_cursor"], **bounds)
        assert status == 400 and body["code"] == "BAD_VALUE", (bounds, body)
        assert "cursor" in body["message"], (bounds, body)


def test_zero_is_a_time_like_any_other(cluster, gc_directory):
    c = cluster("intake", "report")
    base = base_of(c)
    grid, category = gc_directory.choose("GRID")
    file_fast(c, 3, grid, category)
    status, page = get_json(base, "/api/cases", to="0")
    assert status == 200 and page["items"] == [] and page["total"] == 0, page
    status, page = get_json(base, "/api/cases", **{"from": "0"})
    assert status == 200 and len(page["items"]) == 3, page
    status, body = get_json(base, "/api/cases", **{"from": "5", "to": "0"})
    assert status == 400 and body["code"] == "BAD_VALUE"
    assert body["message"] == "to must be after from", body
    status, _, csv_body = get(base, "/api/ledger.csv", to="0")
    assert status == 200 and len(csv_body.decode("utf-8-sig").splitlines()) == 1
    # a range from the epoch to 0: the range document, not the live counters
    status, rng = get_json(base, "/api/stats", to="0")
    assert status == 200 and rng["created"] == 0 and rng["to_ms"] == 0, rng
    assert "by_grid" in rng and "open" not in rng, rng
    status, rng = get_json(base, "/api/stats", **{"from": "0"})
    assert status == 200 and rng["created"] == 3 and rng["from_ms"] == 0, rng
    assert rng["by_grid"][grid] == 3


def raw_get(base, path_and_query):
    """A GET whose path and query go out exactly as given (urllib would
    escape a '+')."""
    host, port = base[len("http://"):].rsplit(":", 1)
    conn = http.client.HTTPConnection(host, int(port), timeout=10)
    try:
        conn.request("GET", path_and_query)
        resp = conn.getresponse()
        return resp.status, resp.read()
    finally:
        conn.close()


def test_bad_arguments_and_unknown_ids_are_refused_naming_the_argument(cluster, gc_directory):
    c = cluster("intake", "report")
    base = base_of(c)
    grid, category = gc_directory.choose("GRID")
    file_fast(c, 3, grid, category)
    community = gc_directory.grid_community[grid]
    unit = gc_directory.fitting("GRID", grid, category)[0]
    bad = [("from", "2026-02-31"), ("from", "2026-02-30"), ("to", "2026-04-31"),
           ("from", "2026-01-+1"), ("from", "2026-01-%2B1"), ("from", "2026-1-001"),
           ("state", ""), ("state", "ACCEPTED,"), ("state", ",ACCEPTED"),
           ("state", "CLOSED,,ACCEPTED"), ("state", ","),
           ("grid", "G99"), ("grid", grid.lower()), ("community", "C99"),
           ("category", "no.such"), ("unit", "NOBODY")]
    # /api/stats counts by from and to, and checks the other filters alike
    for path in ("/api/cases", "/api/stats", "/api/ledger.csv"):
        for name, value in bad:
            status, body = raw_get(base, f"{path}?{name}={value}")
            doc = json.loads(body)
            assert status == 400 and doc["code"] == "BAD_VALUE", (path, name, value, doc)
            assert doc["message"].startswith(name), (path, name, value, doc)
    # the ids the directory holds still work
    for name, value in (("grid", grid), ("community", community), ("category", category),
                        ("unit", unit), ("state", "REGISTERED,DISPATCHED"),
                        ("from", "2026-02-28")):
        for path in ("/api/cases", "/api/stats", "/api/ledger.csv"):
            status, _, body = get(base, path, **{name: value})
            assert status == 200, (path, name, value, body[:200])
    status, page = get_json(base, "/api/cases", grid=grid, community=community,
                            category=category)
    assert len(page["items"]) == 3


def test_a_url_made_long_by_its_query_is_414(cluster):
    c = cluster("report")
    base = base_of(c)
    query = "&".join(f"x{i}=y" for i in range(120))     # ~600 bytes, a short path
    assert len("/api/stats?" + query) > 512
    status, body = raw_get(base, "/api/stats?" + query)
    assert status == 414 and json.loads(body)["code"] == "TOO_LARGE", (status, body)
    status, _ = raw_get(base, "/api/cases?" + query)
    assert status == 414
    # within 512 bytes, unknown arguments are let be
    query = "&".join(f"x{i}=y" for i in range(60))
    assert len("/api/stats?" + query) < 512
    assert raw_get(base, "/api/stats?" + query)[0] == 200


def stream_snapshot(base, open_cases):
    """The first snapshot frame of /api/stream once it counts open_cases
    (a stream opened before the feed saw the cases starts older)."""
    def first_frame():
        with urllib.request.urlopen(base + "/api/stream", timeout=15) as r:
            event = None
            while True:
                line = r.readline().decode().rstrip("\n")
                if line.startswith("event: "):
                    event = line[len("event: "):]
                elif line.startswith("data: ") and event == "snapshot":
                    doc = json.loads(line[len("data: "):])
                    return doc if doc["stats"]["open"] == open_cases else None
    return wait_for(first_frame, 20, f"a stream snapshot with {open_cases} open cases",
                    interval=0.2)


def listed(doc):
    return {name: sorted(x["case_id"] for x in doc[name]) for name in ("red", "yellow")}


def test_snapshot_uses_the_report_s_yellow_fraction_and_list_max(cluster, gc_directory):
    # yellow_fraction 1: a case just filed is within its whole limit
    c = cluster("intake", "report", report={"yellow_fraction": 1, "list_max": 3,
                                            "snapshot_ms": 200})
    base = base_of(c)
    grid, category = gc_directory.choose("GRID")
    reporter = c.reporter()
    ids = [reporter.report(grid, category, f"第{i}件").case_id for i in range(5)]
    status, snap = get_json(base, "/api/snapshot")
    assert status == 200
    yellow = [x["case_id"] for x in snap["yellow"]]
    assert len(yellow) == 3 and set(yellow) <= set(ids), snap["yellow"]   # list_max rows
    assert snap["red"] == []
    stream = stream_snapshot(base, 5)
    status, snap = get_json(base, "/api/snapshot")
    assert listed(snap) == listed(stream)


def test_snapshot_uses_the_report_s_time_scale(cluster, gc_directory):
    # at 60 case seconds to the second, a fresh case has its whole limit
    # before it: not yellow (read at time scale 1, it would be within a
    # sixtieth of the limit, and yellow)
    c = cluster("intake", "report", time_scale=60, report={"snapshot_ms": 200})
    base = base_of(c)
    grid, category = gc_directory.choose("GRID")
    reporter = c.reporter()
    for i in range(3):
        reporter.report(grid, category, f"第{i}件")
    status, snap = get_json(base, "/api/snapshot")
    assert status == 200 and snap["stats"]["open"] == 3
    assert snap["yellow"] == [] and snap["red"] == [], listed(snap)
    stream = stream_snapshot(base, 3)
    assert listed(stream) == {"red": [], "yellow": []}
    # and with the default fraction at time scale 1, a fresh case is not yellow either
    c1 = cluster("intake", "report")
    c1.reporter().report(grid, category, "路灯不亮")
    status, snap = get_json(base_of(c1), "/api/snapshot")
    assert status == 200 and snap["stats"]["open"] == 1 and snap["yellow"] == [], snap["yellow"]
