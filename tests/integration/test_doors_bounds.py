"""test_doors_bounds.py — the edges of intake's HTTP doors (docs/http-api.md,
docs/open311.md, docs/security.md), as a client probing them sees them:
control characters and NUL bytes in what is filed, an over-long
Idempotency-Key, a reporter longer than a name may be, a chunked body over
http_body_max, another gateway's case answered as a missing one, unknown
routes, a Host header that is no host name, attribute[grid] as the place of
last resort, and dates that do not exist. Each refusal makes no case, and
Open311's XML answers stay well-formed."""
import json
import socket
import urllib.parse
import xml.etree.ElementTree as ET

from doors_helpers import OPEN311_GATEWAY, Http, start_doors
from gc_keys import GATEWAY
from test_open311 import errors_of, get, post

APP = "gateway app channels RESIDENT_APP"
PHONE = "13800000000"
FORM = {"Content-Type": "application/x-www-form-urlencoded"}


def open311(cluster, **intake):
    """A cluster with the doors on and an Open311 key: (cluster, Http, port, key)."""
    c, port, keys = start_doors(cluster, keys=(OPEN311_GATEWAY,), **intake)
    return c, Http(port), port, keys[OPEN311_GATEWAY]


def reported(c):
    return int(c.stats()["total"]["reported"])


def raw(port, data, timeout=15):
    """Send data on a fresh connection and read until it closes: the bytes
    answered, or b"" when the door cut the connection without an answer."""
    sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    out = b""
    try:
        sock.sendall(data)
    except (BrokenPipeError, ConnectionResetError):
        pass                    # cut while sending: whatever came back is the answer
    try:
        while True:
            chunk = sock.recv(65536)
            if not chunk:
                break
            out += chunk
    except ConnectionResetError:
        pass
    finally:
        sock.close()
    return out


def chunked_post(port, path, body, piece=4000):
    """POST a urlencoded form with Transfer-Encoding: chunked (no Content-Length)."""
    chunks = b"".join(b"%x\r\n%s\r\n" % (len(body[i:i + piece]), body[i:i + piece])
                      for i in range(0, len(body), piece)) + b"0\r\n\r\n"
    return raw(port, f"POST {path} HTTP/1.1\r\nHost: x\r\n"
               "Content-Type: application/x-www-form-urlencoded\r\n"
               "Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n".encode() + chunks)


def test_control_characters_in_report_text_are_refused_and_xml_stays_well_formed(
        cluster, gc_directory):
    c, port, keys = start_doors(cluster, keys=(GATEWAY, OPEN311_GATEWAY))
    api, h, key = Http(port, keys[GATEWAY]), Http(port), keys[OPEN311_GATEWAY]
    grid, category = gc_directory.choose("GRID")
    # the JSON door: a C0 control (not tab or a line break) or DEL is refused
    for text in ("水管\x01爆裂", "水管爆裂\x1b[31m", "水管\x7f爆裂"):
        s, e = api.json("POST", "/api/v1/reports", {"grid": grid, "category": category,
                                                    "text": text})
        assert s == 400 and e["code"] == "BAD_VALUE", (text, s, e)
        assert "control character" in e["message"], e
    # Open311, in the spec's error form, JSON and XML (the XML parses)
    fields = {"api_key": key, "service_code": category, "address_id": "B0101",
              "description": "水管\x01爆裂"}
    for fmt in ("json", "xml"):
        s, doc = post(h, fmt, fields)
        errs = errors_of(fmt, doc)
        assert s == 400 and errs[0][0] == 400 and "control character" in errs[0][1], (s, errs)
    assert reported(c) == 0
    # tabs and line breaks are text: kept, and the listing is still XML
    kept = "第一行\t附注\n第二行"
    s, doc = post(h, "xml", {**fields, "description": kept})
    assert s == 200, ET.tostring(doc)
    rid = doc.findtext("request/service_request_id")
    s, listing = get(h, f"requests.xml?api_key={key}")
    assert s == 200 and listing.tag == "service_requests"
    (mine,) = [r for r in listing.findall("request") if r.findtext("service_request_id") == rid]
    assert mine.findtext("description") == kept
    s, one = get(h, f"requests/{rid}.json?api_key={key}")
    assert one[0]["description"] == kept
    assert reported(c) == 1
    # a case stored before such text was refused: its control character
    # must not make the whole listing unreadable XML
    c.redis.call("HSET", f"{c.key_prefix}case:{rid}", "text", "旧\x01案")
    s, listing = get(h, f"requests.xml?api_key={key}")
    (mine,) = [r for r in listing.findall("request") if r.findtext("service_request_id") == rid]
    assert mine.findtext("description") == "旧\ufffd案"


def test_open311_idempotency_key_over_128_bytes_is_refused_and_makes_no_case(cluster):
    c, h, port, key = open311(cluster)
    fields = {"api_key": key, "service_code": "infra.water_leak", "address_id": "B0101",
              "description": "漏水"}
    long_key = "k" * 129
    # a key dropped silently made each retry a case of its own
    for _ in range(2):
        s, doc = post(h, "json", fields, headers={"Idempotency-Key": long_key})
        errs = errors_of("json", doc)
        assert s == 400 and errs[0][0] == 400 and "Idempotency-Key" in errs[0][1], (s, errs)
    assert reported(c) == 0
    # 128 bytes is a key: the retry is the first case
    ok_key = "k" * 128
    s1, first = post(h, "json", fields, headers={"Idempotency-Key": ok_key})
    s2, again = post(h, "json", fields, headers={"Idempotency-Key": ok_key})
    assert s1 == s2 == 200, (first, again)
    assert first[0]["service_request_id"] == again[0]["service_request_id"]
    assert reported(c) == 1


def test_open311_nul_byte_in_a_form_field_or_argument_is_refused(cluster):
    c, h, port, key = open311(cluster)
    base = {"api_key": key, "service_code": "infra.water_leak", "address_id": "B0101",
            "description": "漏水"}
    # in the body (urlencoded %00): refused, not cut short at the NUL
    for field, value in (("service_code", "infra.water_leak\x00ANYTHING"),
                         ("description", "看得见\x00看不见的部分")):
        s, doc = post(h, "json", {**base, field: value})
        errs = errors_of("json", doc)
        assert s == 400 and errs[0][0] == 400 and "NUL" in errs[0][1], (field, s, errs)
    # as a query argument of the POST
    for field, value in (("service_code", "infra.water_leak\x00X"),
                         ("description", "看得见\x00看不见")):
        rest = {k: v for k, v in base.items() if k != field}
        s, _, body = h.request("POST", "/open311/v2/requests.json?"
                               + urllib.parse.urlencode({field: value}),
                               urllib.parse.urlencode(rest).encode(), FORM, key=False)
        assert s == 400 and errors_of("json", json.loads(body))[0][0] == 400, (field, s, body)
    assert reported(c) == 0
    # the same fields without the NUL are a report
    s, doc = post(h, "json", base)
    assert s == 200, doc
    assert reported(c) == 1


def test_open311_reporter_too_long_is_refused_by_name_and_short_ones_are_kept_whole(cluster):
    c, h, port, key = open311(cluster)
    base = {"api_key": key, "service_code": "infra.water_leak", "address_id": "B0101",
            "phone": PHONE}
    # 欧阳 + 41 × 娜 + the phone is over 128 bytes: once a cut mid-character
    # ("not valid UTF-8"), now refused naming the fields
    for last, first in (("欧阳", "娜" * 41), ("Montgomery-Worthington", "Alexandra " * 10)):
        s, doc = post(h, "json", {**base, "description": "长名字", "last_name": last,
                                  "first_name": first})
        errs = errors_of("json", doc)
        assert s == 400 and errs[0][0] == 400, (last, s, errs)
        said = errs[0][1]
        assert all(f in said for f in ("last_name", "first_name", "phone")), said
        assert "UTF-8" not in said, said
    assert reported(c) == 0

    def reporter_of(last, first, description):
        s, doc = post(h, "json", {**base, "description": description, "last_name": last,
                                  "first_name": first})
        assert s == 200, doc
        return c.case(doc[0]["service_request_id"])["reporter"]
    # family name first; a space between Latin names, none between Chinese ones
    assert reporter_of("Smith", "Alexandra", "a") == f"Smith Alexandra {PHONE}"
    assert reporter_of("欧阳", "娜", "b") == f"欧阳娜 {PHONE}"
    # exactly 128 bytes together: kept whole, the phone included
    last, first = "L" * 57, "F" * 58
    assert reporter_of(last, first, "c") == f"{last} {first} {PHONE}"
    assert reported(c) == 3


def test_chunked_form_body_over_http_body_max_is_413_and_makes_no_case(cluster):
    c, h, port, key = open311(cluster, http_body_max=2048)
    path = "/open311/v2/requests.json"
    head = f"api_key={key}&service_code=infra.water_leak&address_id=B0101&".encode()
    # about 6 KB, sent chunked so no Content-Length announces it
    answer = chunked_post(port, path, head + b"description=" + b"d" * 6000)
    assert answer.startswith(b"HTTP/1.1 413"), answer[:300]
    assert errors_of("json", json.loads(answer.partition(b"\r\n\r\n")[2]))[0][0] == 413
    # 5 MB: the door may answer 413 or cut the sender off, but files nothing
    big = head + b"&".join(b"description=" + b"d" * 1000 for _ in range(5000))
    answer = chunked_post(port, path, big, piece=8000)
    assert answer == b"" or answer.startswith(b"HTTP/1.1 413"), answer[:300]
    assert reported(c) == 0
    # under the limit, chunked is fine, and the door still serves
    answer = chunked_post(port, path, head + b"description=small+leak")
    assert answer.startswith(b"HTTP/1.1 200"), answer[:300]
    assert reported(c) == 1


def test_another_gateways_case_answers_as_one_that_does_not_exist(cluster, gc_directory):
    grid, category = gc_directory.choose("GRID")
    c, port, keys = start_doors(cluster, keys=(GATEWAY, APP))
    mine, other = Http(port, keys[GATEWAY]), Http(port, keys[APP])
    s, r = mine.json("POST", "/api/v1/reports", {"grid": grid, "category": category,
                                                 "text": "垃圾满了"})
    assert s == 201, r
    real = r["case_id"]
    missing = real[:-6] + "999999"
    assert c.case(missing) is None
    assert mine.json("GET", f"/api/v1/reports/{real}")[0] == 200
    # reading: the same status, code and message, so nothing tells them apart
    s1, e1 = other.json("GET", f"/api/v1/reports/{real}")
    s2, e2 = other.json("GET", f"/api/v1/reports/{missing}")
    assert s1 == s2 == 404 and e1["code"] == e2["code"] == "UNKNOWN_CASE", (e1, e2)
    assert e1["message"] == e2["message"], (e1, e2)
    # evaluating: not a 403 naming the gateway that filed it
    s3, e3 = other.json("POST", f"/api/v1/reports/{real}/evaluate", {"score": 5})
    s4, e4 = other.json("POST", f"/api/v1/reports/{missing}/evaluate", {"score": 5})
    assert s3 == 404 and e3["code"] == "UNKNOWN_CASE", e3
    assert (s4, e4["code"]) == (404, "UNKNOWN_CASE"), e4
    assert "pytest" not in e3["message"], e3


def test_unknown_get_routes_are_404_not_found_and_other_methods_405(cluster):
    c, port, keys = start_doors(cluster)
    h = Http(port, keys[GATEWAY])
    for path in ("/api/v1/reports", "/api/v1/", "/api/v1/nothing"):
        s, e = h.json("GET", path)
        assert (s, e["code"]) == (404, "NOT_FOUND"), (path, s, e)
    s, e = h.json("PUT", "/api/v1/reports", {"text": "x"})
    assert (s, e["code"]) == (405, "METHOD_NOT_ALLOWED"), e


def test_discovery_with_a_host_header_that_is_no_host_name_points_at_localhost(cluster):
    c, h, port, key = open311(cluster)

    def discovery(host):
        answer = raw(port, b"GET /open311/v2/discovery.xml HTTP/1.1\r\nHost: " + host
                     + b"\r\nConnection: close\r\n\r\n")
        head, _, body = answer.partition(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 200"), answer[:300]
        return ET.fromstring(body).findtext("endpoints/endpoint/url")
    for host in (b"\xff\xfe", b"a b<c>"):
        assert discovery(host) == "http://localhost/open311/v2/", host
    # a real one is still echoed
    assert discovery(f"127.0.0.1:{port}".encode()) == f"http://127.0.0.1:{port}/open311/v2/"


def test_open311_grid_attribute_places_a_report_no_place_resolves(cluster):
    c, h, port, key = open311(cluster)
    base = {"api_key": key, "service_code": "infra.water_leak", "description": "漏水"}
    nowhere = {"address_string": "火星路1号"}
    # about 5 km south-west of the street: in no grid, far from every building
    outside = {"lat": "39.75", "long": "109.95"}
    for place in (nowhere, outside):
        s, doc = post(h, "json", {**base, **place})
        assert s == 400 and errors_of("json", doc)[0][0] == 400, (place, s, doc)
    assert reported(c) == 0
    for place, grid in ((nowhere, "G01"), (outside, "G02")):
        s, doc = post(h, "json", {**base, **place, "attribute[grid]": grid})
        assert s == 200, (place, doc)
        assert c.case(doc[0]["service_request_id"])["grid"] == grid
    # a place that resolves still decides: a grid attribute contradicting it is refused
    s, doc = post(h, "json", {**base, "address_id": "B0101", "attribute[grid]": "G02"})
    assert s == 400, doc
    assert reported(c) == 2


def test_impossible_dates_are_refused_and_a_leap_day_is_not(cluster):
    c, h, port, key = open311(cluster)
    for day in ("2026-02-31", "2026-11-31", "2025-02-29"):
        s, e = get(h, f"requests.json?api_key={key}&start_date={day}")
        assert s == 400 and errors_of("json", e)[0][0] == 400, (day, s, e)
    s, listed = get(h, f"requests.json?api_key={key}&start_date=2024-02-29")
    assert s == 200 and listed == [], listed
    form = {"api_key": key, "service_code": "svc.legal", "address_id": "B0101"}
    s, doc = post(h, "json", {**form, "attribute[appointment]": "2026-02-30T09:00:00+08:00"})
    assert s == 400 and "appointment" in errors_of("json", doc)[0][1], doc
    assert reported(c) == 0
    s, doc = post(h, "json", {**form, "attribute[appointment]": "2024-02-29T09:00:00+08:00"})
    assert s == 200, doc
    assert reported(c) == 1
