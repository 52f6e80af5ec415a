"""test_open311.py — Open311 GeoReport v2 at /open311/v2/ (docs/open311.md),
each of the spec's requests and the shape of its response, in JSON and in
XML (parsed by xml.etree), and the spec's errors: a list of code and
description with the spec's HTTP codes. Places are the demo directory's
schematic geometry (a building's point, its id, its address)."""
import json
import xml.etree.ElementTree as ET

import pytest

from doors_helpers import OPEN311_GATEWAY, Http, start_doors

SERVICE_KEYS = ["service_code", "service_name", "description", "metadata", "type", "keywords",
                "group"]
REQUEST_KEYS = ["service_request_id", "status", "status_notes", "service_name", "service_code",
                "description", "agency_responsible", "service_notice", "requested_datetime",
                "updated_datetime", "expected_datetime", "address", "address_id", "zipcode",
                "lat", "long", "media_url"]
ISO = r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\+08:00$"


@pytest.fixture
def doors(cluster):
    c, port, keys = start_doors(cluster, keys=(OPEN311_GATEWAY,))
    return c, Http(port), keys[OPEN311_GATEWAY]


def building(directory, grid_index=0):
    """(grid id, a building of it with its point and address)."""
    g = directory.doc["grids"][grid_index]
    return g["id"], g["buildings"][0]


def get(h, path):
    status, headers, body = h.request("GET", "/open311/v2/" + path, key=False)
    if path.split("?")[0].endswith(".xml"):
        assert headers["content-type"].startswith("text/xml"), headers
        return status, ET.fromstring(body)
    assert headers["content-type"].startswith("application/json"), headers
    return status, json.loads(body)


def post(h, fmt, fields, headers=None):
    status, h2, body = h.form(f"/open311/v2/requests.{fmt}", fields, headers)
    return status, (ET.fromstring(body) if fmt == "xml" else json.loads(body))


def errors_of(fmt, doc):
    """[(code, description)] of an error document."""
    if fmt == "xml":
        assert doc.tag == "errors"
        return [(int(e.findtext("code")), e.findtext("description")) for e in doc.findall("error")]
    return [(e["code"], e["description"]) for e in doc]


def test_discovery(doors):
    c, h, key = doors
    status, d = get(h, "discovery.json")
    assert status == 200 and d["changeset"] and d["contact"] and d["key_service"]
    ep = d["endpoints"][0]
    assert ep["specification"] == "http://wiki.open311.org/GeoReport_v2"
    assert ep["url"].endswith("/open311/v2/") and set(ep["formats"]) == {"text/xml",
                                                                          "application/json"}
    status, x = get(h, "discovery.xml")
    assert status == 200 and x.tag == "discovery"
    e = x.find("endpoints/endpoint")
    assert e.findtext("specification") == ep["specification"]
    assert [f.text for f in e.findall("formats/format")] == ep["formats"]


def test_services_from_the_directory(doors, gc_directory):
    c, h, key = doors
    categories = gc_directory.doc["categories"]
    status, services = get(h, "services.json")
    assert status == 200 and len(services) == len(categories)
    for s, cat in zip(services, categories):
        assert list(s) == SERVICE_KEYS, s
        assert s["service_code"] == cat["code"] and s["service_name"] == cat["name"]
        assert s["group"] == ("服务卡" if cat["kind"] == "service" else "事件")
        assert s["metadata"] is True and s["type"] == "realtime"
    status, x = get(h, "services.xml")
    assert status == 200 and x.tag == "services"
    items = x.findall("service")
    assert [i.findtext("service_code") for i in items] == [s["service_code"] for s in services]
    assert [child.tag for child in items[0]] == SERVICE_KEYS
    assert items[0].findtext("metadata") == "true"


def test_service_definition(doors, gc_directory):
    c, h, key = doors
    cats = gc_directory.doc["categories"]
    service = next(x for x in cats if x["kind"] == "service")["code"]
    incident = next(x for x in cats if x["kind"] == "incident")["code"]
    status, d = get(h, f"services/{service}.json")
    assert status == 200 and d["service_code"] == service
    codes = [a["code"] for a in d["attributes"]]
    assert codes == ["building", "grid", "appointment"], codes
    for a in d["attributes"]:
        assert set(a) >= {"variable", "code", "datatype", "required", "datatype_description",
                          "order", "description"}, a
    grid = d["attributes"][1]
    assert grid["datatype"] == "singlevaluelist"
    assert {v["key"] for v in grid["values"]} == {g["id"] for g in gc_directory.doc["grids"]}
    status, d2 = get(h, f"services/{incident}.json")
    assert [a["code"] for a in d2["attributes"]] == ["building", "grid"]
    status, x = get(h, f"services/{service}.xml")
    assert status == 200 and x.tag == "service_definition"
    assert x.findtext("service_code") == service
    attrs = x.findall("attributes/attribute")
    assert [a.findtext("code") for a in attrs] == codes
    assert attrs[1].find("values/value/key").text == d["attributes"][1]["values"][0]["key"]
    assert attrs[0].findtext("variable") == "true" and attrs[0].findtext("required") == "false"
    status, e = get(h, "services/no.such.json")
    assert status == 404 and errors_of("json", e)[0][0] == 404


@pytest.mark.parametrize("fmt", ["json", "xml"])
def test_post_request_and_read_it_back(doors, gc_directory, fmt):
    c, h, key = doors
    grid, b = building(gc_directory)
    lon, lat = b["point"]
    code = gc_directory.choose("GRID")[1]
    status, doc = post(h, fmt, {"api_key": key, "service_code": code, "lat": lat, "long": lon,
                                "description": "路面塌陷，有积水", "first_name": "三",
                                "last_name": "张", "phone": "13800000000",
                                "media_url": "https://example.org/p/1.jpg"})
    assert status == 200, doc
    if fmt == "xml":
        assert doc.tag == "service_requests"
        r = doc.find("request")
        rid = r.findtext("service_request_id")
        assert [child.tag for child in r] == ["service_request_id", "service_notice",
                                              "account_id"]
    else:
        assert list(doc[0]) == ["service_request_id", "service_notice", "account_id"]
        rid = doc[0]["service_request_id"]
    assert rid.startswith("TJ-")
    # the case is in the grid whose polygon holds the point
    assert c.redis.call("HGET", f"{c.key_prefix}case:{rid}", "grid") in (grid, grid.encode())
    status, one = get(h, f"requests/{rid}.{fmt}?api_key={key}")
    assert status == 200
    if fmt == "xml":
        r = one.find("request")
        assert [child.tag for child in r] == REQUEST_KEYS
        got = {child.tag: child.text for child in r}
    else:
        assert list(one[0]) == REQUEST_KEYS
        got = one[0]
    assert got["service_request_id"] == rid and got["status"] == "open"
    assert got["service_code"] == code and got["description"] == "路面塌陷，有积水"
    assert got["media_url"] == "https://example.org/p/1.jpg"
    # the point it was filed with is kept and shown
    assert abs(float(got["lat"]) - lat) < 1e-9 and abs(float(got["long"]) - lon) < 1e-9, got
    import re
    for f in ("requested_datetime", "updated_datetime", "expected_datetime"):
        assert re.match(ISO, got[f]), (f, got[f])


def test_post_by_address_id_and_address_string(doors, gc_directory):
    c, h, key = doors
    grid, b = building(gc_directory, 1)
    code = gc_directory.choose("GRID")[1]
    s, doc = post(h, "json", {"api_key": key, "service_code": code, "address_id": b["id"],
                              "description": "楼道灯坏"})
    assert s == 200, doc
    rid = doc[0]["service_request_id"]
    assert c.redis.call("HGET", f"{c.key_prefix}case:{rid}", "building") in (b["id"],
                                                                            b["id"].encode())
    # no point given, none shown and none stored
    s, one = get(h, f"requests/{rid}.json?api_key={key}")
    assert s == 200 and one[0]["lat"] is None and one[0]["long"] is None, one
    assert c.redis.call("HEXISTS", f"{c.key_prefix}case:{rid}", "lat") == 0
    s, doc = post(h, "json", {"api_key": key, "service_code": code,
                              "address_string": b["address"], "description": "楼道灯坏"})
    assert s == 200, doc
    rid2 = doc[0]["service_request_id"]
    assert c.redis.call("HGET", f"{c.key_prefix}case:{rid2}", "grid") in (grid, grid.encode())
    # the second report of the same thing at the same building: a possible duplicate
    assert doc[0]["service_notice"] and rid in doc[0]["service_notice"], doc


def test_get_requests_filters(doors, gc_directory):
    c, h, key = doors
    grid, b = building(gc_directory)
    cats = [x["code"] for x in gc_directory.doc["categories"] if x["kind"] == "incident"][:2]
    ids = []
    for code in cats:
        s, doc = post(h, "json", {"api_key": key, "service_code": code, "address_id": b["id"]})
        assert s == 200, doc
        ids.append(doc[0]["service_request_id"])
    s, all_ = get(h, f"requests.json?api_key={key}")
    assert s == 200 and {r["service_request_id"] for r in all_} == set(ids)
    s, one = get(h, f"requests.json?api_key={key}&service_code={cats[0]}")
    assert [r["service_request_id"] for r in one] == [ids[0]]
    s, listed = get(h, f"requests.xml?api_key={key}&service_request_id={ids[1]},{ids[0]}")
    assert [r.findtext("service_request_id") for r in listed.findall("request")] == [ids[1],
                                                                                     ids[0]]
    s, closed = get(h, f"requests.json?api_key={key}&status=closed")
    assert s == 200 and closed == []
    s, opened = get(h, f"requests.json?api_key={key}&status=open&start_date=2000-01-01T00:00:00Z")
    assert len(opened) == 2
    s, none = get(h, f"requests.json?api_key={key}&end_date=2001-01-01T00:00:00Z")
    assert none == []
    s, e = get(h, f"requests.json?api_key={key}&start_date=yesterday")
    assert s == 400 and errors_of("json", e)[0][0] == 400
    s, e = get(h, "requests.json")
    assert s == 403


@pytest.mark.parametrize("fmt", ["json", "xml"])
def test_tokens(doors, gc_directory, fmt):
    c, h, key = doors
    code = gc_directory.choose("GRID")[1]
    grid, b = building(gc_directory)
    s, doc = post(h, fmt, {"api_key": key, "service_code": code, "address_id": b["id"]},
                  headers={"Idempotency-Key": f"tok-{fmt}"})
    assert s == 200
    rid = doc.find("request/service_request_id").text if fmt == "xml" \
        else doc[0]["service_request_id"]
    s, t = get(h, f"tokens/tok-{fmt}.{fmt}?api_key={key}")
    assert s == 200, t
    if fmt == "xml":
        r = t.find("request")
        assert r.findtext("service_request_id") == rid and r.findtext("token") == f"tok-{fmt}"
    else:
        assert t == [{"service_request_id": rid, "token": f"tok-{fmt}"}]
    s, e = get(h, f"tokens/nothing.{fmt}?api_key={key}")
    assert s == 404 and errors_of(fmt, e)[0][0] == 404


@pytest.mark.parametrize("fmt", ["json", "xml"])
def test_errors_in_the_spec_form(doors, gc_directory, fmt):
    c, h, key = doors
    code = gc_directory.choose("GRID")[1]
    grid, b = building(gc_directory)
    cases = [
        ({"api_key": key, "lat": 39.8, "long": 110.0}, 400, "service_code"),
        ({"api_key": key, "service_code": "no.such", "lat": 39.8, "long": 110.0}, 404, "service_code"),
        ({"api_key": "gck_wrong", "service_code": code, "lat": 39.8, "long": 110.0}, 403, "api_key"),
        ({"service_code": code, "lat": 39.8, "long": 110.0}, 403, "api_key"),
        ({"api_key": key, "service_code": code, "lat": 91, "long": 110.0}, 400, "lat"),
        ({"api_key": key, "service_code": code, "lat": "north", "long": 110.0}, 400, "lat"),
        ({"api_key": key, "service_code": code, "address_id": "B9999"}, 400, "B9999"),
        ({"api_key": key, "service_code": code}, 400, "location"),
        ({"api_key": key, "service_code": code, "lat": 10.0, "long": 10.0}, 400, ""),
    ]
    for fields, want, word in cases:
        s, doc = post(h, fmt, fields)
        errs = errors_of(fmt, doc)
        assert s == want and errs[0][0] == want and word in errs[0][1], (fields, s, errs)
    assert int(c.stats()["total"]["reported"]) == 0


def test_token_when_registered_but_not_yet_confirmed(cluster, gc_directory):
    """intake acknowledges a report only once wait_replicas Redis replicas
    have it; with none there it is registered but unconfirmed, and Open311
    answers a token (the spec's deferred answer) that finds the case."""
    c, port, keys = start_doors(cluster, keys=(OPEN311_GATEWAY,), wait_replicas=1,
                                wait_timeout_ms=200)
    h, key = Http(port), keys[OPEN311_GATEWAY]
    code = gc_directory.choose("GRID")[1]
    grid, b = building(gc_directory)
    s, doc = post(h, "json", {"api_key": key, "service_code": code, "address_id": b["id"]})
    assert s == 200 and list(doc[0]) == ["token"], doc
    token = doc[0]["token"]
    s, t = get(h, f"tokens/{token}.json?api_key={key}")
    assert s == 200 and t[0]["token"] == token and t[0]["service_request_id"].startswith("TJ-"), t
    s, x = get(h, f"tokens/{token}.xml?api_key={key}")
    assert x.find("request/service_request_id").text == t[0]["service_request_id"]
