"""test_point_kept.py — a report filed with a map point keeps it: the case
stores lat and lon (only when a point was given), the JSON API's
GET /api/v1/reports/{id} and report's /api/cases/ID show it, and a report
filed by grid or building shows none."""
import http.client
import json

from doors_helpers import Http, start_doors
from gc_keys import GATEWAY

TOKEN = "screen-token-for-points-0123"


def test_point_is_kept_and_shown(cluster, gc_directory):
    c, port, keys = start_doors(cluster)
    c.start("report", screen_token=TOKEN)
    host, rport = c["report"].ready_match.groups()
    h = Http(port, keys[GATEWAY])
    g = gc_directory.doc["grids"][0]
    b = g["buildings"][0]
    lon, lat = b["point"]
    category = gc_directory.choose("GRID")[1]
    s, filed = h.json("POST", "/api/v1/reports", {"category": category, "text": "井盖缺失",
                                                  "lat": lat, "lon": lon})
    assert s == 201 and filed["grid"] == g["id"], filed
    point_id = filed["case_id"]
    s, filed = h.json("POST", "/api/v1/reports", {"grid": g["id"], "category": category,
                                                  "text": "井盖缺失"})
    assert s == 201, filed
    plain_id = filed["case_id"]
    key = f"{c.key_prefix}case:"
    assert abs(float(c.redis.call("HGET", key + point_id, "lat")) - lat) < 1e-9
    # no point, no empty fields
    assert c.redis.call("HEXISTS", key + plain_id, "lat") == 0
    assert c.redis.call("HEXISTS", key + plain_id, "lon") == 0

    s, case = h.json("GET", f"/api/v1/reports/{point_id}")
    assert s == 200 and abs(case["lat"] - lat) < 1e-9 and abs(case["lon"] - lon) < 1e-9, case
    s, case = h.json("GET", f"/api/v1/reports/{plain_id}")
    assert s == 200 and "lat" not in case and "lon" not in case, case

    conn = http.client.HTTPConnection(host, int(rport), timeout=10)
    for cid, want in ((point_id, (lat, lon)), (plain_id, (None, None))):
        conn.request("GET", f"/api/cases/{cid}", headers={"Authorization": f"Bearer {TOKEN}"})
        r = conn.getresponse()
        view = json.loads(r.read())
        assert r.status == 200, view
        if want[0] is None:
            assert view["lat"] is None and view["lon"] is None, view
        else:
            assert abs(view["lat"] - lat) < 1e-9 and abs(view["lon"] - lon) < 1e-9, view
    conn.close()
