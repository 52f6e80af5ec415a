"""test_report_api.py — the report's query API and ledger export over HTTP
against a real cluster (intake registers the cases, nothing dispatches):
filters, paging, time ranges, units, the snapshot, /metrics, and the CSV
ledger read back with Python's csv module (UTF-8 BOM, Chinese intact)."""
import concurrent.futures
import csv
import io
import json
import re
import time
import urllib.error
import urllib.parse
import urllib.request

import pytest

from gc_cluster import wait_for


def get(base, path, **query):
    url = base + path + ("?" + urllib.parse.urlencode(query) if query else "")
    try:
        with urllib.request.urlopen(url, timeout=10) as r:
            return r.status, r.headers, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.headers, e.read()


def get_json(base, path, **query):
    status, _, body = get(base, path, **query)
    return status, json.loads(body)


@pytest.fixture
def street(cluster, gc_directory):
    """A cluster with 12 cases over 3 grids of two communities and 2 categories."""
    c = cluster("intake", "report")
    host, port = c["report"].ready_match.groups()
    base = f"http://{host}:{port}"
    grids_by_comm = {}
    for g in gc_directory.grids:
        grids_by_comm.setdefault(gc_directory.grid_community[g], []).append(g)
    comms = sorted(grids_by_comm)[:2]
    grids = [grids_by_comm[comms[0]][0], grids_by_comm[comms[0]][1], grids_by_comm[comms[1]][0]]
    cats = [k for k, v in gc_directory.categories.items() if v["start_tier"] == "GRID"][:2]
    r = c.reporter()
    cases = []
    for i in range(12):
        grid, cat = grids[i % 3], cats[i % 2]
        reply = r.report(grid, cat, f"第{i}号：楼道堆放杂物，\"消防通道\"堵塞, 需清理")
        cases.append({"id": reply.case_id, "grid": grid, "category": cat})
        if i == 5:
            time.sleep(0.02)
            middle = c.stats()["now"]
    return c, base, cases, grids, cats, comms, middle


def test_cases_filters_and_paging(street):
    c, base, cases, grids, cats, comms, _ = street
    status, page = get_json(base, "/api/cases", limit=5)
    assert status == 200 and page["total"] == 12 and len(page["items"]) == 5
    ids = [x["case_id"] for x in page["items"]]
    assert ids == [x["id"] for x in reversed(cases)][:5]          # newest first
    seen = list(ids)
    while page["next_cursor"] is not None:
        status, page = get_json(base, "/api/cases", limit=5, cursor=page["next_cursor"])
        assert status == 200
        seen += [x["case_id"] for x in page["items"]]
    assert sorted(seen) == sorted(x["id"] for x in cases) and len(seen) == 12
    # one filter: exact total; two filters: checked per case
    status, page = get_json(base, "/api/cases", grid=grids[0])
    assert {x["case_id"] for x in page["items"]} == {x["id"] for x in cases if x["grid"] == grids[0]}
    assert page["total"] == 4
    status, page = get_json(base, "/api/cases", community=comms[0], category=cats[0], limit=100)
    want = {x["id"] for x in cases if x["grid"] in grids[:2] and x["category"] == cats[0]}
    assert {x["case_id"] for x in page["items"]} == want and page["total"] is None
    row = page["items"][0]
    assert row["grid_name"] and row["category_name"] and row["tier"] == "GRID"
    status, page = get_json(base, "/api/cases", state="open", grid=grids[2])
    assert len(page["items"]) == 4 and all(x["state"] == "REGISTERED" for x in page["items"])
    status, page = get_json(base, "/api/cases", state="CLOSED")
    assert page["items"] == [] and page["total"] == 0
    for bad in ({"grid": "../x"}, {"state": "NOPE"}, {"limit": "0"}, {"from": "yesterday"},
                {"cursor": "-1"}, {"from": "2000", "to": "1000"}):
        status, body = get_json(base, "/api/cases", **bad)
        assert status == 400 and body["code"] == "BAD_VALUE", bad


def test_stats_for_a_time_range(street):
    c, base, cases, grids, cats, comms, middle = street
    status, all_ = get_json(base, "/api/stats", **{"from": "1"})
    assert status == 200 and all_["created"] == 12
    assert all_["by_grid"][grids[0]] == 4 and all_["by_state"]["REGISTERED"] == 12
    assert all_["by_community"][comms[1]] == 4 and sum(all_["by_unit"].values()) == 0
    status, early = get_json(base, "/api/stats", to=str(middle))
    status, late = get_json(base, "/api/stats", **{"from": str(middle)})
    assert early["created"] == 6 and late["created"] == 6
    status, live = get_json(base, "/api/stats")
    assert live["open"] == 12                      # no range: the live counters


def test_units_snapshot_and_metrics(street):
    c, base, cases, grids, *_ = street
    status, units = get_json(base, "/api/units")
    assert status == 200 and len(units["units"]) == len(c.directory.units)
    assert all({"id", "name", "capacity", "open", "on_duty"} <= set(u) for u in units["units"])
    status, snap = get_json(base, "/api/snapshot")
    assert status == 200 and snap["stats"]["open"] == 12
    g = [g for com in snap["communities"] for g in com["grids"] if g["id"] == grids[0]][0]
    assert g["open"] == 4 and g["week"] == 4
    assert sum(len(com["grids"]) for com in snap["communities"]) == len(c.directory.grids)
    assert [f["count"] for f in snap["funnel"]][:2] == [12, 12]
    status, headers, body = get(base, "/metrics")
    text = body.decode()
    assert status == 200 and headers["Content-Type"].startswith("text/plain; version=0.0.4")
    assert "# TYPE gridcall_report_http_requests_total counter" in text
    wait_for(lambda: re.search(r'gridcall_report_open_cases\{instance="[^"]+"\} 12\n',
                               get(base, "/metrics")[2].decode()), 10,
             "the open-case gauge")


def test_ledger_csv_opens_in_python_csv(street):
    c, base, cases, grids, cats, comms, _ = street
    status, headers, body = get(base, "/api/ledger.csv", community=comms[0])
    assert status == 200 and headers["Content-Type"].startswith("text/csv")
    assert body.startswith(b"\xef\xbb\xbf")
    rows = list(csv.reader(io.StringIO(body.decode("utf-8-sig"), newline="")))
    assert rows[0][0] == "台账编号" and "满意度" in rows[0] and "问题描述" in rows[0]
    data = rows[1:]
    assert {r[0] for r in data} == {x["id"] for x in cases if x["grid"] in grids[:2]}
    text_col = rows[0].index("问题描述")
    assert all("楼道堆放杂物，\"消防通道\"堵塞, 需清理" in r[text_col] for r in data)
    assert all(len(r) == len(rows[0]) for r in data)
    assert data[0][rows[0].index("状态")] == "立案"
    status, _, body = get(base, "/api/ledger.csv", state="CLOSED")
    assert list(csv.reader(io.StringIO(body.decode("utf-8-sig"))))[1:] == []


def test_stream_sends_a_snapshot_first(street):
    c, base, *_ = street
    with urllib.request.urlopen(base + "/api/stream", timeout=10) as r:
        assert r.headers["Content-Type"].startswith("text/event-stream")
        lines = []
        while not any(l.startswith("data: ") for l in lines):
            lines.append(r.readline().decode().rstrip("\n"))
    assert "event: snapshot" in lines
    snap = json.loads([l for l in lines if l.startswith("data: ")][0][6:])
    assert snap["stats"]["open"] == 12


def _gauge(base, name):
    m = re.search(r"gridcall_report_%s\{instance=\"[^\"]+\"\} (\d+)\n" % name,
                  get(base, "/metrics")[2].decode())
    return int(m.group(1)) if m else None


def test_memory_of_screens_and_directory_stays_flat(cluster, gc_directory):
    """A quiet street: the feed sends a snapshot every snapshot_ms and
    nothing else, hundreds more than a small stream_buffer holds. The hub
    keeps the latest snapshot and the case frames, not every snapshot; the
    feed and the Redis connections of the HTTP threads hold one directory."""
    c = cluster("intake", "report", report={"snapshot_ms": 100, "stream_buffer": 64,
                                            "redis_pool": 4})
    host, port = c["report"].ready_match.groups()
    base = f"http://{host}:{port}"
    grid, category = gc_directory.choose("GRID")
    reporter = c.reporter()
    for i in range(3):
        reporter.report(grid, category, f"路灯不亮 {i}")
    snapshot = len(get(base, "/api/snapshot")[2])
    wait_for(lambda: (_gauge(base, "snapshots_total") or 0) >= 80, 30,
             "80 snapshots, more than the ring's 64 frames")
    held = _gauge(base, "stream_buffer_bytes")
    # one snapshot (masked, as screens get it) and three small case frames;
    # a ring of every snapshot held 64 of them
    assert snapshot // 2 < held < 2 * snapshot, (held, snapshot)

    # requests at once take every pooled Redis connection: the directory is
    # read and parsed once, by whichever came first (the feed, at start)
    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        statuses = list(pool.map(lambda _: get(base, "/api/units")[0], range(40)))
    assert statuses == [200] * 40
    log = c["report"].log.read_text(errors="replace")
    assert len(re.findall(r"report: directory version \d+", log)) == 1, log


def test_daily_ledger_file_and_pub(cluster, gc_directory, tmp_path):
    """ledger_dir gets today's file every ledger_interval_s; the PUB sends
    screen.event for each case event and screen.snapshot documents."""
    import zmq
    import report_pb2
    pub = f"ipc://{tmp_path}/screen.sock"
    c = cluster("intake", "report", report={"ledger_dir": tmp_path / "ledger",
                                            "ledger_interval_s": 1, "pub_bind": pub})
    sub = c.subscriber(pub, server="report")
    sub.setsockopt(zmq.SUBSCRIBE, b"screen.")
    grid, category = gc_directory.choose("GRID")
    reply = None

    def published():
        nonlocal reply
        if reply is None:
            time.sleep(0.2)                 # let the subscription reach the PUB
            reply = c.reporter().report(grid, category, "路灯不亮，夜间出行不便")
        while sub.poll(100):
            topic, body = sub.recv_multipart()
            if topic == b"screen.event":
                ev = report_pb2.ScreenEvent.FromString(body)
                if ev.case_id == reply.case_id and ev.what == "registered":
                    return ev
        return None
    ev = wait_for(published, 10, "a screen.event for the new case")
    assert ev.grid == grid and ev.grid_name and ev.tier == 1 and ev.state == "REGISTERED"

    def snapshot():
        while sub.poll(100):
            topic, body = sub.recv_multipart()
            if topic == b"screen.snapshot":
                doc = json.loads(report_pb2.ScreenSnapshot.FromString(body).json)
                if doc["stats"]["open"] == 1:
                    return doc
        return None
    wait_for(snapshot, 15, "a screen.snapshot with the case")

    def ledger_rows():
        files = list((tmp_path / "ledger").glob("ledger-*.csv"))
        today = [f for f in files if reply.case_id[3:11] in f.name]
        if not today:
            return None
        rows = list(csv.reader(io.StringIO(today[0].read_bytes().decode("utf-8-sig"))))
        return rows if any(r and r[0] == reply.case_id for r in rows) else None
    rows = wait_for(ledger_rows, 10, "today's ledger file with the case")
    assert rows[0][0] == "台账编号" and any("路灯不亮" in cell for r in rows for cell in r)
    sub.close(0)


def test_screen_token_guards_the_data_not_the_page(cluster):
    c = cluster("report", report={"screen_token": "s3cret-screen-token-0123"})
    host, port = c["report"].ready_match.groups()
    base = f"http://{host}:{port}"
    status, body = get_json(base, "/api/stats")
    assert status == 401 and body["code"] == "UNAUTHORIZED"
    assert get(base, "/api/stats", token="wrong")[0] == 401
    assert get(base, "/api/stats", token="s3cret-screen-token-0123")[0] == 200
    req = urllib.request.Request(base + "/api/stats",
                                 headers={"Authorization": "Bearer s3cret-screen-token-0123"})
    with urllib.request.urlopen(req, timeout=10) as r:
        assert r.status == 200 and "by_state" in json.loads(r.read())
    assert get(base, "/api/ledger.csv")[0] == 401
    # the page and health carry no data: open, so a screen can load and a
    # load balancer can probe
    assert get(base, "/")[0] == 200
    assert get(base, "/healthz")[0] == 200
