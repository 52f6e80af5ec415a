"""test_http_intake.py — intake's native JSON API (docs/http-api.md) as a
client sees it: a report filed over HTTP is the same case as over ZeroMQ
(one code path: the same checks, the same transition), API keys name
principals whose roles decide what they may do, an Idempotency-Key makes
a retry the first case, the per-key rate limit answers 429 with
Retry-After, and bad input gets a JSON error with a stable code."""
import json
import socket
import time

from doors_helpers import Http, api_key, start_doors
from gc_cluster import wait_for
from gc_keys import GATEWAY, OPERATOR

WORKER = "grid-worker 白国晨 grids G01"


def test_report_over_http_is_a_case_like_any_other(cluster, gc_directory):
    grid, category = gc_directory.choose("GRID")
    c, port, keys = start_doors(cluster)
    h = Http(port, keys[GATEWAY])
    status, body = h.json("POST", "/api/v1/reports",
                          {"grid": grid, "category": category, "text": "路灯不亮",
                           "reporter": "张三 13800000000", "channel": "RESIDENT_APP"},
                          headers={"Idempotency-Key": "app-1"})
    assert status == 201 and body["ok"] and not body["duplicate"], body
    assert body["state"] in ("REGISTERED", "DISPATCHED") and body["tier"] == "GRID", body
    # the case in Redis says who filed it: the API key's principal
    via = c.redis.call("HGET", f"{c.key_prefix}case:{body['case_id']}", "via")
    assert via in (b"gateway:pytest", "gateway:pytest"), via
    # its reporter reads its public status back
    status, got = h.json("GET", f"/api/v1/reports/{body['case_id']}")
    assert status == 200 and got["case_id"] == body["case_id"] and got["open"], got
    assert got["category"] == category and got["grid"] == grid and got["last_what"], got


def test_repeated_idempotency_key_returns_the_first_case(cluster, gc_directory):
    grid, category = gc_directory.choose("GRID")
    c, port, keys = start_doors(cluster)
    h = Http(port, keys[GATEWAY])
    report = {"grid": grid, "category": category, "text": "井盖丢失"}
    s1, first = h.json("POST", "/api/v1/reports", report, headers={"Idempotency-Key": "k-7"})
    s2, again = h.json("POST", "/api/v1/reports", report, headers={"Idempotency-Key": "k-7"})
    assert s1 == 201 and s2 == 200 and again["duplicate"], (first, again)
    assert again["case_id"] == first["case_id"]
    # the same key with other content is a conflict, not a second case
    s3, other = h.json("POST", "/api/v1/reports", {**report, "text": "别的事"},
                       headers={"Idempotency-Key": "k-7"})
    assert s3 == 409 and other["code"] == "CONFLICT", other
    assert int(c.stats()["total"]["reported"]) == 1


def test_keys_and_roles(cluster, gc_directory):
    grid, category = gc_directory.choose("GRID")
    c, port, keys = start_doors(cluster, keys=(GATEWAY, OPERATOR, WORKER))
    gateway = Http(port, keys[GATEWAY])
    s, body = gateway.json("POST", "/api/v1/reports", {"grid": grid, "category": category,
                                                        "text": "垃圾满了"})
    case_id = body["case_id"]
    # no key: 401; a key nobody holds: 403
    s, e = Http(port).json("POST", "/api/v1/reports", {"grid": grid, "category": category,
                                                        "text": "x"})
    assert s == 401 and e["code"] == "UNAUTHENTICATED", e
    s, e = Http(port, "gck_" + "0" * 64).json("GET", f"/api/v1/reports/{case_id}")
    assert s == 403 and e["code"] == "NOT_PERMITTED", e
    # a gateway cannot verify: the loop's role check, answered 403
    s, e = gateway.json("POST", f"/api/v1/reports/{case_id}/verify", {"pass": True})
    assert s == 403 and e["code"] == "NOT_PERMITTED" and "may not verify" in e["message"], e
    # the operator may, but the case is not resolved yet: the transition says so
    s, e = Http(port, keys[OPERATOR]).json("POST", f"/api/v1/reports/{case_id}/verify",
                                           {"pass": True, "note": "看过了"})
    assert s == 409 and e["code"] == "WRONG_STATE", e
    # a grid worker may not decide on the clock; an operator may park and unpark
    s, e = Http(port, keys[WORKER]).json("POST", f"/api/v1/reports/{case_id}/park",
                                         {"review_ms": int(time.time() * 1000) + 86400000,
                                          "reason": "等待施工"})
    assert s == 403 and e["code"] == "NOT_PERMITTED", e
    op = Http(port, keys[OPERATOR])
    s, ack = op.json("POST", f"/api/v1/reports/{case_id}/park",
                     {"review_ms": int(time.time() * 1000) + 86400000, "reason": "等待施工",
                      "by": "王主任"})
    assert s == 200 and ack["state"] == "PARKED", ack
    s, ack = op.json("POST", f"/api/v1/reports/{case_id}/unpark", {"reason": "施工完"})
    assert s == 200 and ack["state"] != "PARKED", ack
    # a gateway may not evaluate a case before it is closed (the transition's rule)
    s, e = gateway.json("POST", f"/api/v1/reports/{case_id}/evaluate", {"score": 5})
    assert s in (409, 400) and e["code"] in ("WRONG_STATE", "BAD_VALUE"), e
    # another gateway does not see the first one's case
    other = api_key(c, "gateway other channels HOTLINE")
    def read():     # 403 (a key nobody holds) until the doors' once-a-second look at the file
        r = Http(port, other).json("GET", f"/api/v1/reports/{case_id}")
        return r if r[0] != 403 else None
    s, e = wait_for(read, 3, "the doors to know the new key")
    assert s == 404 and e["code"] == "UNKNOWN_CASE", e
    # a revoked key is refused at once by the loop and within a second by reads
    r = c.cli("keys", "api-revoke", "--principals", c.keys.principals_path, keys[WORKER])
    assert r.returncode == 0 and "revoked" in r.stdout, r.stdout + r.stderr
    wait_for(lambda: Http(port, keys[WORKER]).json(
        "POST", "/api/v1/reports", {"grid": grid, "category": category, "text": "x"})[0] == 403,
        1.5, "the revoked key to be refused")


def test_rate_limit_answers_429_with_retry_after(cluster, gc_directory):
    grid, category = gc_directory.choose("GRID")
    c, port, keys = start_doors(cluster, http_rate_limit=5,
                                http_rate_window_s=60)
    h = Http(port, keys[GATEWAY])
    statuses = []
    for i in range(7):
        s, _, body = h.request("POST", "/api/v1/reports",
                               {"grid": grid, "category": category, "text": f"第{i}次"})
        statuses.append(s)
    assert statuses[:5] == [201] * 5 and statuses[5:] == [429, 429], statuses
    s, headers, body = h.request("GET", "/api/v1/reports/none")
    assert s == 429 and 1 <= int(headers["retry-after"]) <= 60, headers
    assert json.loads(body)["code"] == "RATE_LIMITED"
    assert int(c.stats()["total"]["reported"]) == 5


def test_bad_input_gets_a_json_error_with_a_stable_code(cluster, gc_directory):
    grid, category = gc_directory.choose("GRID")
    c, port, keys = start_doors(cluster, http_body_max=2048)
    h = Http(port, keys[GATEWAY])
    s, _, body = h.request("POST", "/api/v1/reports", b'{"grid": "G01", "text": ',
                           headers={"Content-Type": "application/json"})
    assert s == 400 and json.loads(body)["code"] == "MALFORMED", body
    s, e = h.json("POST", "/api/v1/reports", [1, 2])
    assert s == 400 and e["code"] == "MALFORMED", e
    s, e = h.json("POST", "/api/v1/reports", {"grid": grid, "category": category})
    assert s == 400 and e["code"] == "MISSING_FIELD" and "text" in e["message"], e
    s, e = h.json("POST", "/api/v1/reports", {"grid": "G99", "category": category, "text": "x"})
    assert s == 400 and e["code"] == "UNKNOWN_GRID", e
    s, e = h.json("POST", "/api/v1/reports", {"grid": grid, "category": category, "text": 5})
    assert s == 400 and e["code"] == "BAD_VALUE", e
    s, e = h.json("POST", "/api/v1/reports", {"grid": grid, "category": category, "text": "x",
                                              "media_urls": ["javascript:alert(1)"]})
    assert s == 400 and e["code"] == "BAD_VALUE" and "media_urls" in e["message"], e
    # an oversized body: refused by its Content-Length, before it is read
    s, _, body = h.request("POST", "/api/v1/reports",
                           json.dumps({"grid": grid, "category": category,
                                       "text": "长" * 5000}).encode(),
                           headers={"Content-Type": "application/json"})
    assert s == 413 and json.loads(body)["code"] == "TOO_LARGE", body
    s, e = h.json("DELETE", "/api/v1/reports")
    assert s == 405 and e["code"] == "METHOD_NOT_ALLOWED", e
    s, e = h.json("GET", "/nothing")
    assert s == 404 and e["code"] == "NOT_FOUND", e
    # nothing of it became a case, and the door still serves
    s, ok = h.json("POST", "/api/v1/reports", {"grid": grid, "category": category, "text": "好"})
    assert s == 201, ok
    assert int(c.stats()["total"]["reported"]) == 1


def test_slow_headers_are_cut_and_keep_alive_serves_many(cluster, gc_directory):
    grid, category = gc_directory.choose("GRID")
    c, port, keys = start_doors(cluster, http_header_timeout_s=1)
    slow = socket.create_connection(("127.0.0.1", port))
    slow.sendall(b"POST /api/v1/reports HTTP/1.1\r\nHost: x\r\n")
    slow.settimeout(4.5)
    try:
        rest = slow.recv(100)
    except ConnectionResetError:
        rest = b""
    except socket.timeout:
        rest = "still open after 4.5 s"
    assert rest == b"", rest            # cut: end of file, no answer
    h = Http(port, keys[GATEWAY])
    for i in range(20):
        s, body = h.json("POST", "/api/v1/reports", {"grid": grid, "category": category,
                                                     "text": f"连续{i}"})
        assert s == 201, body
    assert int(c.stats()["total"]["reported"]) == 20


def test_duplicates_suggested_and_merged_by_an_operator(cluster, gc_directory):
    grid, category = gc_directory.choose("GRID")
    c, port, keys = start_doors(cluster, keys=(GATEWAY, OPERATOR))
    gateway, op = Http(port, keys[GATEWAY]), Http(port, keys[OPERATOR])
    report = {"grid": grid, "category": category, "text": "水管爆了"}
    s, first = gateway.json("POST", "/api/v1/reports", report)
    s, second = gateway.json("POST", "/api/v1/reports", {**report, "text": "楼下水管爆裂"})
    assert s == 201 and first["case_id"] in second["possible_duplicates"], second
    # a gateway may not merge; the operator may
    s, e = gateway.json("POST", f"/api/v1/reports/{first['case_id']}/merge",
                        {"duplicate": second["case_id"]})
    assert s == 403 and e["code"] == "NOT_PERMITTED", e
    s, ack = op.json("POST", f"/api/v1/reports/{first['case_id']}/merge",
                     {"duplicate": second["case_id"], "note": "同一处漏水"})
    assert s == 200 and ack["ok"], ack
    s, dup = gateway.json("GET", f"/api/v1/reports/{second['case_id']}")
    assert dup["state"] == "MERGED" and not dup["open"], dup
    assert dup.get("merged_into") == first["case_id"], dup


def test_doors_open_to_other_hosts_need_api_keys(tmp_path):
    """Secure by default: --check-config (and start) refuse http_bind on an
    address other hosts reach without a principals file."""
    import subprocess
    from pathlib import Path
    binary = Path(__file__).resolve().parents[2] / "build" / "gridcall-intake"

    def check(*sets):
        argv = [str(binary), "--set", "curve=no"]
        for s in sets:
            argv += ["--set", s]
        return subprocess.run(argv + ["--check-config"], capture_output=True, text=True)
    assert check("http_bind=127.0.0.1").returncode == 0
    r = check("http_bind=0.0.0.0")
    assert r.returncode != 0 and "principals" in r.stderr, r.stderr
    r = check("http_bind=localhost")
    assert r.returncode != 0 and "numeric" in r.stderr, r.stderr
    principals = tmp_path / "principals.json"
    principals.write_text('{"principals": {}}')
    assert check("http_bind=0.0.0.0", f"principals={principals}").returncode == 0
