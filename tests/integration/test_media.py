"""test_media.py — photos of a report's place: a media_url kept on the case,
a JPEG or PNG uploaded to POST /api/v1/reports/{id}/media (checked by its
first bytes, at most media_max), stored by its content SHA-256 and served
by gridcall-report behind the screen token; a photo too large is 413, a
file that is no photo 415, and another gateway may not add one."""
import hashlib
import http.client
import json
import socket
import uuid

from doors_helpers import Http, api_key, start_doors
from gc_cluster import timeline_entries, wait_for
from gc_keys import GATEWAY

JPEG = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00" + b"\x00" * 200 \
    + b"\xff\xd9"
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00\x00\x00\rIHDR" + b"\x00" * 100
TOKEN = "screen-token-for-photos-0123"


def multipart(name, filename, data, content_type="application/octet-stream"):
    boundary = uuid.uuid4().hex
    body = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"{name}\"; "
            f"filename=\"{filename}\"\r\nContent-Type: {content_type}\r\n\r\n").encode() \
        + data + f"\r\n--{boundary}--\r\n".encode()
    return body, {"Content-Type": f"multipart/form-data; boundary={boundary}"}


def upload(h, case_id, data, filename="p.jpg"):
    body, headers = multipart("photo", filename, data)
    status, _, raw = h.request("POST", f"/api/v1/reports/{case_id}/media", body, headers)
    return status, json.loads(raw)


def file_a_case(h, gc_directory, **extra):
    grid, category = gc_directory.choose("GRID")
    s, body = h.json("POST", "/api/v1/reports", {"grid": grid, "category": category,
                                                 "text": "墙面开裂", **extra})
    assert s == 201, body
    return body["case_id"]


def test_upload_is_stored_by_hash_recorded_and_served_by_report(cluster, gc_directory):
    c, port, keys = start_doors(cluster)
    media = c.folder / "media"
    c.start("report", media_dir=media, screen_token=TOKEN)
    host, rport = c["report"].ready_match.groups()
    h = Http(port, keys[GATEWAY])
    case_id = file_a_case(h, gc_directory, media_urls=["https://example.org/a.jpg"])
    status, got = upload(h, case_id, JPEG)
    digest = hashlib.sha256(JPEG).hexdigest()
    assert status == 201 and got["media"] == f"media:{digest}.jpg", got
    assert (media / f"{digest}.jpg").read_bytes() == JPEG
    status, png = upload(h, case_id, PNG, "p.png")
    assert status == 201 and png["media"].endswith(".png"), png
    # the same photo again is not a second one
    status, again = upload(h, case_id, JPEG)
    assert status == 201 and again["media_urls"] == png["media_urls"], again
    s, case = h.json("GET", f"/api/v1/reports/{case_id}")
    assert case["media"] == ["https://example.org/a.jpg", f"media:{digest}.jpg",
                             png["media"]], case
    # the timeline tells it
    log = timeline_entries(c, case_id)
    assert sum(1 for e in log if e[1] == "media") == 3, log
    # report's case view links them; it serves them to the screen token, not to anyone
    conn = http.client.HTTPConnection(host, int(rport), timeout=10)
    conn.request("GET", f"/api/cases/{case_id}", headers={"Authorization": f"Bearer {TOKEN}"})
    r = conn.getresponse()
    view = json.loads(r.read())
    assert view["media"] == ["https://example.org/a.jpg", f"/media/{digest}.jpg",
                             "/media/" + png["media"][6:]], view
    # the screen's data carries them too: the case's row of its grid (the
    # drawer) and the ticker's entries for the photos added
    conn.request("GET", f"/api/cases?grid={view['grid']}&limit=10",
                 headers={"Authorization": f"Bearer {TOKEN}"})
    rows = json.loads(conn.getresponse().read())["items"]
    assert [x["media"] for x in rows if x["case_id"] == case_id] == [view["media"]], rows
    conn.request("GET", "/api/snapshot", headers={"Authorization": f"Bearer {TOKEN}"})
    ticker = json.loads(conn.getresponse().read())["ticker"]
    photos = [e.get("photo") for e in ticker if e["case_id"] == case_id and e["what"] == "media"]
    assert sorted(photos) == sorted(view["media"]), ticker
    conn.request("GET", f"/media/{digest}.jpg", headers={"Authorization": f"Bearer {TOKEN}"})
    r = conn.getresponse()
    assert r.status == 200 and r.getheader("Content-Type") == "image/jpeg" and r.read() == JPEG
    conn.request("GET", f"/media/{digest}.jpg")
    r = conn.getresponse()
    r.read()
    assert r.status == 401
    conn.request("GET", f"/media/{'0' * 64}.jpg", headers={"Authorization": f"Bearer {TOKEN}"})
    r = conn.getresponse()
    r.read()
    assert r.status == 404


def test_too_large_and_not_a_photo(cluster, gc_directory):
    c, port, keys = start_doors(cluster)
    h = Http(port, keys[GATEWAY])
    case_id = file_a_case(h, gc_directory)
    # 6 MB: refused from its Content-Length, before the body is read (as
    # curl sees it with Expect: 100-continue); the connection is closed
    body, headers = multipart("photo", "big.jpg", JPEG[:20] + b"\x00" * (6 * 1024 * 1024))
    sock = socket.create_connection(("127.0.0.1", port), timeout=10)
    head = (f"POST /api/v1/reports/{case_id}/media HTTP/1.1\r\nHost: x\r\n"
            f"Authorization: Bearer {keys[GATEWAY]}\r\nContent-Type: {headers['Content-Type']}"
            f"\r\nContent-Length: {len(body)}\r\nExpect: 100-continue\r\n\r\n").encode()
    sock.sendall(head)
    answer = b""
    while b"\r\n\r\n" not in answer or not answer.rstrip().endswith(b"}"):
        chunk = sock.recv(4096)
        if not chunk:
            break
        answer += chunk
    sock.close()
    status_line, _, rest = answer.partition(b"\r\n")
    assert status_line.split()[1] == b"413", answer
    assert json.loads(rest.split(b"\r\n\r\n", 1)[1])["code"] == "TOO_LARGE"
    status, e = upload(h, case_id, b"just some text, not a photo\n" * 10, "p.txt")
    assert status == 415 and e["code"] == "UNSUPPORTED_MEDIA_TYPE", e
    status, e = h.json("POST", f"/api/v1/reports/{case_id}/media", {"photo": "x"})
    assert status == 400 and e["code"] == "MISSING_FIELD", e
    assert not list((c.folder / "media").glob("*")) if (c.folder / "media").exists() else True
    s, case = h.json("GET", f"/api/v1/reports/{case_id}")
    assert case["media"] == [], case


def test_another_gateway_may_not_add_photos(cluster, gc_directory):
    c, port, keys = start_doors(cluster)
    h = Http(port, keys[GATEWAY])
    case_id = file_a_case(h, gc_directory)
    other = Http(port, api_key(c, "gateway other channels HOTLINE"))

    def tried():    # 403 (a key nobody holds) until the doors' once-a-second look at the file
        r = upload(other, case_id, JPEG)
        return r if r[0] != 403 else None
    status, e = wait_for(tried, 3, "the doors to know the new key")
    assert status == 404 and e["code"] == "UNKNOWN_CASE", e
    status, e = upload(h, "TJ-00000000-999999", JPEG)
    assert status == 404, e
