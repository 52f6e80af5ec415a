"""test_location.py — a report that names a place instead of a grid: a map
point resolved over the demo street's grid polygons (or to the nearest
building), a building id, an address string; places outside the street,
ambiguous addresses, a place outside the grid named and bad coordinates
refused with a sentence naming the problem; the directory refusing a
building outside its grid's polygon at load."""

import json
import math

import pytest

from gc_cluster import pb, error_name


def inside(ring, lon, lat):
    """Even-odd point-in-polygon, the rule the directory documents."""
    hit = False
    j = len(ring) - 1
    for i, (xi, yi) in enumerate(ring):
        xj, yj = ring[j]
        if (yi > lat) != (yj > lat) and lon < (xj - xi) * (lat - yi) / (yj - yi) + xi:
            hit = not hit
        j = i
    return hit


def interior_point(ring):
    """A point well inside a rectangle-like ring: between its centre and a corner."""
    xs, ys = [p[0] for p in ring], [p[1] for p in ring]
    return (min(xs) + (max(xs) - min(xs)) * 0.3, min(ys) + (max(ys) - min(ys)) * 0.7)


@pytest.fixture
def street(cluster, gc_directory):
    c = cluster("intake")
    category = gc_directory.choose("GRID")[1]
    return c, c.reporter(), gc_directory, category


def report(reporter, category, **place):
    grid = place.pop("grid", "")
    return reporter.request("report", reporter.new_report(grid, category, "location test",
                                                          channel=pb.CHANNEL_RESIDENT_APP,
                                                          **place))


def refused(reply):
    kind, msg = reply
    assert kind == "error", f"expected a refusal, got {kind} {msg}"
    return error_name(msg.code), msg.message


def test_demo_geometry_is_marked_schematic(gc_directory):
    loc = gc_directory.doc["location"]
    assert loc["schematic"] is True and "schematic" in loc["note"]
    lats = [p[1] for g in gc_directory.doc["grids"] for p in g["polygon"]]
    lons = [p[0] for g in gc_directory.doc["grids"] for p in g["polygon"]]
    # Dongsheng District, Ordos
    assert 39.7 < min(lats) < max(lats) < 39.9 and 109.9 < min(lons) < max(lons) < 110.1
    for g in gc_directory.doc["grids"]:
        for b in g["buildings"]:
            assert inside(g["polygon"], *b["point"]), (g["id"], b["id"])
            assert b["name"] in b["address"]


def test_points_inside_grids_resolve_to_them(street):
    c, reporter, d, category = street
    grids = d.doc["grids"]
    chosen = [grids[0], grids[8], grids[9], grids[16], grids[31], grids[-1]]
    for g in chosen:
        lon, lat = interior_point(g["polygon"])
        # exactly one grid holds the point (the test's own reading of the data)
        assert [x["id"] for x in grids if inside(x["polygon"], lon, lat)] == [g["id"]]
        kind, msg = report(reporter, category, point=pb.GeoPoint(lat=lat, lon=lon))
        assert kind == "report.ok", f"{g['id']}: {kind} {msg}"
        assert msg.grid == g["id"], (g["id"], msg.grid)
        case = c.case(msg.case_id)
        assert case["grid"] == g["id"] and case["community"] == g["community"]


def test_point_at_a_building_names_it(street):
    c, reporter, d, category = street
    g = d.doc["grids"][20]
    b = g["buildings"][1]
    kind, msg = report(reporter, category, point=pb.GeoPoint(lat=b["point"][1], lon=b["point"][0]))
    assert kind == "report.ok", msg
    assert (msg.grid, msg.building) == (g["id"], b["id"])
    assert c.case(msg.case_id)["building"] == b["id"]


def test_point_outside_the_street_is_refused(street):
    _, reporter, d, category = street
    lons = [p[0] for g in d.doc["grids"] for p in g["polygon"]]
    lats = [p[1] for g in d.doc["grids"] for p in g["polygon"]]
    # a kilometre east of the street: beyond the nearest-building bound
    east = max(lons) + 1000 / (111320 * math.cos(math.radians(39.8)))
    for lat, lon in ((sum(lats) / len(lats), east), (39.9042, 116.4074)):   # ... and Beijing
        code, text = refused(report(reporter, category, point=pb.GeoPoint(lat=lat, lon=lon)))
        assert code == "ERROR_UNKNOWN_GRID", (code, text)
        assert "in no grid of the street" in text and "nearest building" in text, text


def metres(a, b):
    k = math.pi / 180
    x = (b[0] - a[0]) * k * math.cos((a[1] + b[1]) / 2 * k)
    return math.hypot(x, (b[1] - a[1]) * k) * 6371008.8


def test_point_just_outside_resolves_to_the_nearest_building(street):
    _, reporter, d, category = street
    bound = d.doc["location"]["nearest_building_m"]
    grids = d.doc["grids"]
    east = max(p[0] for g in grids for p in g["polygon"])
    # 10 m beyond the street's east edge, level with the building nearest to it
    _, g, b = max(((b["point"][0], g, b) for g in grids for b in g["buildings"]
                   if max(p[0] for p in g["polygon"]) == east), key=lambda t: t[0])
    at = (east + 10 / (111320 * math.cos(math.radians(39.8))), b["point"][1])
    assert not any(inside(x["polygon"], *at) for x in grids)
    nearest = min(((metres(at, y["point"]), y["id"]) for x in grids for y in x["buildings"]))
    assert nearest[1] == b["id"] and nearest[0] < bound, nearest
    kind, msg = report(reporter, category, point=pb.GeoPoint(lat=at[1], lon=at[0]))
    assert kind == "report.ok", msg
    assert (msg.grid, msg.building) == (g["id"], b["id"])


def test_address_id_and_address_string(street):
    c, reporter, d, category = street
    g = d.doc["grids"][12]
    b = g["buildings"][0]
    kind, msg = report(reporter, category, address_id=b["id"])
    assert kind == "report.ok", msg
    assert (msg.grid, msg.building) == (g["id"], b["id"])
    # the building's name, its full address, the address with a unit number after it
    for text in (b["name"], b["address"], b["address"] + " 2单元 301", " " + b["name"] + " "):
        kind, msg = report(reporter, category, address_string=text)
        assert kind == "report.ok", f"{text}: {msg}"
        assert (msg.grid, msg.building) == (g["id"], b["id"]), text
    code, text = refused(report(reporter, category, address_id="B9999"))
    assert code == "ERROR_BAD_VALUE" and "B9999" in text, text
    compound = b["name"].split("小区")[0] + "小区" if "小区" in b["name"] else b["name"][:3]
    code, text = refused(report(reporter, category, address_string=compound))
    assert code == "ERROR_BAD_VALUE" and "ambiguous" in text, text
    code, text = refused(report(reporter, category, address_string="火星基地7号楼"))
    assert code == "ERROR_UNKNOWN_GRID" and "matches no building" in text, text


def test_a_place_outside_the_grid_named_is_refused(street):
    _, reporter, d, category = street
    g0, g1 = d.doc["grids"][0], d.doc["grids"][1]
    code, text = refused(report(reporter, category, grid=g0["id"],
                                building=g1["buildings"][0]["id"]))
    assert code == "ERROR_BAD_VALUE" and g1["buildings"][0]["id"] in text, text
    code, text = refused(report(reporter, category, grid=g0["id"],
                                address_id=g1["buildings"][0]["id"]))
    assert code == "ERROR_BAD_VALUE" and g1["id"] in text, text
    lon, lat = interior_point(g1["polygon"])
    code, text = refused(report(reporter, category, grid=g0["id"],
                                point=pb.GeoPoint(lat=lat, lon=lon)))
    assert code == "ERROR_BAD_VALUE" and f"lies in grid {g1['id']}, not in grid {g0['id']}" in text
    # the same point with its own grid is taken
    kind, msg = report(reporter, category, grid=g1["id"], point=pb.GeoPoint(lat=lat, lon=lon))
    assert kind == "report.ok" and msg.grid == g1["id"], msg


def test_bad_coordinates_and_no_place(street):
    _, reporter, _, category = street
    for lat, lon, field in ((90.5, 110.0, "point.lat"), (-91, 110.0, "point.lat"),
                            (39.8, 180.5, "point.lon"), (39.8, -200, "point.lon"),
                            (float("nan"), 110.0, "point.lat"), (39.8, float("inf"), "point.lon")):
        code, text = refused(report(reporter, category, point=pb.GeoPoint(lat=lat, lon=lon)))
        assert code == "ERROR_BAD_VALUE" and field in text, (lat, lon, text)
    code, text = refused(report(reporter, category))
    assert code == "ERROR_MISSING_FIELD" and "a place" in text, text
    code, text = refused(report(reporter, category, address_string="x" * 300))
    assert code == "ERROR_TEXT_TOO_LONG" and "address_string" in text, text
    code, text = refused(report(reporter, category, address_id="B 01"))
    assert code == "ERROR_BAD_VALUE" and "address_id" in text, text


def test_retry_returns_the_resolved_grid(street):
    _, reporter, d, category = street
    b = d.doc["grids"][5]["buildings"][0]
    body = reporter.new_report("", category, "retry", address_id=b["id"],
                               channel=pb.CHANNEL_RESIDENT_APP)
    first = reporter.request("report", body)[1]
    again = reporter.request("report", body)[1]
    assert again.duplicate and again.case_id == first.case_id
    assert (again.grid, again.building) == (first.grid, first.building) == (d.doc["grids"][5]["id"], b["id"])


def test_directory_refuses_a_building_outside_its_grid(cluster, gc_directory, tmp_path):
    c = cluster("intake", load_directory=False)
    doc = json.loads(json.dumps(gc_directory.doc))
    far = doc["grids"][1]["buildings"][0]["point"]
    doc["grids"][0]["buildings"][0]["point"] = far
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(doc, ensure_ascii=False), encoding="utf-8")
    r = c.cli("directory", "load", str(path))
    assert r.returncode != 0
    out = r.stdout + r.stderr
    assert "grids[0].buildings[0].point" in out and "outside its grid's polygon" in out, out
    doc["grids"][0]["buildings"][0]["point"] = gc_directory.doc["grids"][0]["buildings"][0]["point"]
    doc["grids"][0]["polygon"] = doc["grids"][0]["polygon"][:-1]
    path.write_text(json.dumps(doc, ensure_ascii=False), encoding="utf-8")
    r = c.cli("directory", "load", str(path))
    assert r.returncode != 0 and "grids[0].polygon" in r.stdout + r.stderr, r.stdout + r.stderr


def test_cli_reports_a_place(street):
    c, _, d, category = street
    g = d.doc["grids"][40]
    b = g["buildings"][0]
    r = c.cli("report", "--category", category, "--channel", "HOTLINE", "--address", b["address"],
              "CLI 按地址上报")
    assert r.returncode == 0, r.stdout + r.stderr
    assert f"grid {g['id']}, building {b['id']}" in r.stdout, r.stdout
    lon, lat = interior_point(g["polygon"])
    r = c.cli("report", "--category", category, "--channel", "HOTLINE", "--lat", f"{lat:.6f}",
              "--lon", f"{lon:.6f}", "CLI 按坐标上报")
    assert r.returncode == 0 and f"grid {g['id']}" in r.stdout, r.stdout + r.stderr
    r = c.cli("report", "--category", category, "--lat", "39.8", "CLI 缺经度")
    assert r.returncode == 2 and "--lon" in r.stderr


def test_a_point_in_overlapping_grids_goes_to_the_named_one_only_if_it_holds_it(
        cluster, gc_directory, tmp_path):
    # grid 1's polygon made the box around grids 0 and 1: a point of grid 0
    # then lies in both
    c = cluster("intake", load_directory=False)
    doc = json.loads(json.dumps(gc_directory.doc))
    g0, g1, g2 = doc["grids"][0], doc["grids"][1], doc["grids"][2]
    pts = g0["polygon"] + g1["polygon"]
    w, e = min(p[0] for p in pts), max(p[0] for p in pts)
    s, n = min(p[1] for p in pts), max(p[1] for p in pts)
    g1["polygon"] = [[w, s], [e, s], [e, n], [w, n], [w, s]]
    path = tmp_path / "overlap.json"
    path.write_text(json.dumps(doc, ensure_ascii=False), encoding="utf-8")
    r = c.cli("directory", "load", str(path))
    assert r.returncode == 0, r.stdout + r.stderr
    reporter = c.reporter()
    category = gc_directory.choose("GRID")[1]
    lon, lat = interior_point(gc_directory.doc["grids"][0]["polygon"])
    at = pb.GeoPoint(lat=lat, lon=lon)
    code, text = refused(report(reporter, category, point=at))
    assert code == "ERROR_BAD_VALUE" and "more than one grid" in text, text
    for named in (g0["id"], g1["id"]):
        kind, msg = report(reporter, category, point=at, grid=named)
        assert kind == "report.ok" and msg.grid == named, (named, kind, msg)
    # a grid that does not hold the point does not take it
    code, text = refused(report(reporter, category, point=at, grid=g2["id"]))
    assert code == "ERROR_BAD_VALUE" and "more than one grid" in text, text
