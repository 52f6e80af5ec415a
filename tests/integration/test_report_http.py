"""test_report_http.py — gridcall-report as a black box over HTTP.

Each stack is a throw-away redis-server on a Unix socket in a temporary
folder plus the real build/gridcall-report on a port it picks itself
(http_port 0; the port is read from its "listening on" log line). Cases
are put into Redis with the same FCALLs the other daemons make, then read
back through the API with urllib, as a screen would.
"""
import http.client
import json
import os
import re
import shutil
import signal
import subprocess
import tempfile
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
BINARY = ROOT / "build" / "gridcall-report"
LUA = ROOT / "build" / "gen" / "gridcall.lua"  # the lua/ files joined by make

#  A street small enough to read: two grids, one category, one unit. Units
#  carry the explicit fields gc_dir_load reads (the C normaliser's output).
DIRECTORY = {
    "street": {"id": "test-street", "code": "TS", "name": "测试街道", "utc_offset_minutes": 480},
    "grids": [
        {"id": "G01", "name": "第一网格", "community": "C01"},
        {"id": "G02", "name": "第二网格", "community": "C01"},
    ],
    "categories": [
        {"code": "env.garbage", "name": "垃圾清运", "kind": "incident", "start_tier": "GRID",
         "limits_minutes": {"GRID": 60, "COMMUNITY": 120, "STREET": 240, "DISTRICT": 480}},
    ],
    "units": [{"id": "U1", "name": "物业公司", "capacity": 5, "responsible": "王师傅"}],
}


def wait_for(condition, what, timeout=10.0):
    """Poll condition until it returns something true; fail after timeout."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(0.05)


class Redis:
    """A private redis-server listening only on a Unix socket in folder."""

    def __init__(self, folder):
        self.folder = folder
        self.socket = os.path.join(folder, "redis.sock")
        self.proc = None

    def start(self):
        self.proc = subprocess.Popen(
            ["redis-server", "--port", "0", "--unixsocket", self.socket, "--save", "",
             "--appendonly", "no", "--dir", self.folder],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_for(lambda: self.ping(), "redis-server to answer PING")

    def ping(self):
        try:
            return self.cli("PING") == "PONG"
        except subprocess.CalledProcessError:
            return False

    def cli(self, *args, stdin=None):
        done = subprocess.run(["redis-cli", "-s", self.socket, *args], input=stdin,
                              capture_output=True, check=True, timeout=10)
        return done.stdout.decode().strip()

    def fcall(self, fn, *args):
        return json.loads(self.cli("FCALL", fn, "0", "gc:", *[str(a) for a in args]))

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(timeout=10)
        self.proc = None


class Report:
    """build/gridcall-report with a config file written for the test."""

    def __init__(self, folder, redis_socket, **options):
        self.conf = os.path.join(folder, "report.conf")
        settings = {"redis_socket": redis_socket, "http_port": 0, "log_level": "debug",
                    "redis_timeout_ms": 1000}
        settings.update(options)
        with open(self.conf, "w") as f:
            for name, value in settings.items():
                f.write(f"{name} {value}\n")
        self.proc = None
        self.lines = []
        self.base = None

    def start(self):
        assert BINARY.exists(), f"{BINARY} is missing: run make first"
        self.proc = subprocess.Popen([str(BINARY), "-c", self.conf], stderr=subprocess.PIPE,
                                     stdout=subprocess.DEVNULL)
        threading.Thread(target=self._read, daemon=True).start()
        wait_for(lambda: self._listening() or self.proc.poll() is not None,
                 "the listening line")
        self.base = self._listening()
        assert self.base, f"gridcall-report exited: {self.log()}"

    def _read(self):
        for line in self.proc.stderr:
            self.lines.append(line.decode(errors="replace").rstrip("\n"))

    def _listening(self):
        for line in list(self.lines):
            m = re.search(r"listening on (http://\S+)", line)
            if m:
                return m.group(1)
        return None

    def log(self):
        return "\n".join(self.lines)

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def request(base, path, method="GET", data=None, headers=None):
    """One HTTP request; returns (status, headers, body bytes)."""
    req = urllib.request.Request(base + path, method=method, data=data, headers=headers or {})
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            return resp.status, resp.headers, resp.read()
    except urllib.error.HTTPError as e:
        return e.code, e.headers, e.read()


def get_json(base, path, **kw):
    status, headers, body = request(base, path, **kw)
    assert headers["Content-Type"] == "application/json; charset=utf-8", headers
    return status, json.loads(body)


def register(redis, idem, grid, text, reporter="alice"):
    reply = redis.fcall("gc_register", idem, grid, "env.garbage", text, "GRID_WORKER",
                        reporter, "", "", 1, 86400)
    assert reply["ok"], reply
    return reply["case_id"]


def make_stack(folder, load=True):
    """Redis with the function library (the admin step: report never loads
    it) and, with load, the directory; then report."""
    redis = Redis(folder)
    redis.start()
    redis.cli("-x", "FUNCTION", "LOAD", "REPLACE", stdin=LUA.read_bytes())
    if load:
        assert redis.fcall("gc_dir_load", json.dumps(DIRECTORY, ensure_ascii=False))["ok"]
    report = Report(folder, redis.socket)
    report.start()
    return redis, report


@pytest.fixture
def folder():
    path = tempfile.mkdtemp(prefix="gc-report-")
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture(scope="module")
def street():
    """One stack for the read-only tests: case A registered in G01, case B
    in G02 offered to U1, accepted and given a progress note."""
    path = tempfile.mkdtemp(prefix="gc-report-")
    redis, report = make_stack(path)
    try:
        a = register(redis, "idem-a", "G01", "垃圾桶满了")
        b = register(redis, "idem-b", "G02", '楼道堆物 "3号楼"', reporter="bob")
        offer = redis.fcall("gc_offer", b, 60000, 5000, 1, 0, "", "U1")
        assert offer["ok"], offer
        offer = offer["offers"][0]
        assert redis.fcall("gc_unit_reply", "accept", "U1", offer["offer_id"], b, "", "")["ok"]
        assert redis.fcall("gc_unit_reply", "progress", "U1", offer["offer_id"], b,
                           "已到现场 on site", "")["ok"]
        yield {"redis": redis, "report": report, "base": report.base, "a": a, "b": b}
    finally:
        report.stop()
        redis.stop()
        shutil.rmtree(path, ignore_errors=True)


def is_int(value):
    return isinstance(value, int) and not isinstance(value, bool)


def test_stats_counts_the_street(street):
    status, s = get_json(street["base"], "/api/stats")
    assert status == 200
    assert is_int(s["at_ms"]) and abs(s["at_ms"] - time.time() * 1000) < 60000
    assert s["by_state"]["REGISTERED"] == 1
    assert s["by_state"]["ACCEPTED"] == 1
    assert s["by_state"]["DISPATCHED"] == 0
    assert s["open"] == 2
    assert s["open_by_tier"] == {"GRID": 2, "COMMUNITY": 0, "STREET": 0, "DISTRICT": 0}
    assert s["open_by_grid"] == {"G01": 1, "G02": 1}
    assert s["open_by_category"] == {"env.garbage": 2}
    assert s["reported_by_category"] == {"env.garbage": 2}
    assert s["totals"]["reported"] == 2
    assert s["totals"]["offers"] == 1
    assert s["totals"]["escalations"] == 0
    # case A waits for dispatch; B left the set when U1 accepted it
    assert s["pending"] == {"dispatch": 1, "notify": 3}
    assert s["timers"] == 2
    assert s["dead"] == {"notify": 0}
    for group in ("by_state", "open_by_tier", "open_by_grid", "totals", "pending", "dead"):
        assert all(is_int(v) for v in s[group].values()), group


def test_case_with_its_timeline(street):
    status, c = get_json(street["base"], "/api/cases/" + street["b"])
    assert status == 200
    assert c["case_id"] == street["b"]
    assert c["ledger_no"] == street["b"]
    assert c["grid"] == "G02"
    assert c["community"] == "C01"
    assert c["category"] == "env.garbage"
    assert c["text"] == '楼道堆物 "3号楼"'
    assert c["channel"] == "GRID_WORKER"
    assert c["reporter"] == "bob"
    assert c["state"] == "ACCEPTED"
    assert c["tier"] == "GRID"
    assert c["unit"] == "U1"
    assert c["responsible"] == "王师傅"
    assert c["version"] == 3
    assert c["satisfaction"] is None
    assert is_int(c["created_ms"]) and c["resolve_by_ms"] - c["created_ms"] == 60 * 60000
    whats = [e["what"] for e in c["timeline"]]
    # registered with no unit ready (no dispatch here): waiting, then offered
    assert whats == ["registered", "waiting", "offered", "accepted", "progress"]
    registered, waiting, offered, accepted, progress = c["timeline"]
    assert waiting["note"] == "no connected unit on duty fits" and waiting["version"] == 1
    assert registered["who"] == "bob" and registered["state"] == "REGISTERED"
    assert registered["tier"] == "GRID" and registered["version"] == 1
    assert registered["deadline_ms"] == c["resolve_by_ms"]
    assert offered["offer_unit"] == "U1" and is_int(offered["answer_by_ms"])
    assert accepted["unit"] == "U1" and accepted["note"] == "responsible: 王师傅"
    assert progress["note"] == "已到现场 on site"
    assert all(is_int(e["at_ms"]) for e in c["timeline"])


def test_unknown_case_is_404(street):
    status, body = get_json(street["base"], "/api/cases/TS-20000101-999999")
    assert status == 404
    assert body == {"ok": False, "code": "UNKNOWN_CASE", "message": "no such case"}


@pytest.mark.parametrize("case_id", ["a;b", "x" * 65, "a%20b", "a%00b", "a/b", "..%2F.."])
def test_bad_case_id_is_400(street, case_id):
    status, body = get_json(street["base"], "/api/cases/" + case_id)
    assert status == 400
    assert body["ok"] is False and body["code"] == "BAD_VALUE"


@pytest.mark.parametrize("path", ["/nothing", "/api", "/api/stats/", "/api/cases/", "/metrics/",
                                  "/static/", "/static/.x", "/static/a/b.js"])
def test_unknown_path_is_404(street, path):
    status, body = get_json(street["base"], path)
    assert status == 404
    assert body["code"] == "NOT_FOUND"


@pytest.mark.parametrize("method", ["POST", "PUT", "DELETE"])
def test_writes_are_405(street, method):
    status, headers, body = request(street["base"], "/api/stats", method=method, data=b"{}")
    assert status == 405
    assert headers["Allow"] == "GET, HEAD"
    assert json.loads(body)["code"] == "METHOD_NOT_ALLOWED"


def test_get_with_a_body_is_413(street):
    status, body = get_json(street["base"], "/api/stats", data=b"x" * 100, method="GET")
    assert status == 413
    assert body["code"] == "TOO_LARGE"


def test_long_url_is_414(street):
    status, _, _ = request(street["base"], "/" + "a" * 600)
    assert status == 414


def test_head_has_no_body(street):
    status, headers, body = request(street["base"], "/api/stats", method="HEAD")
    assert status == 200
    assert body == b""
    assert int(headers["Content-Length"]) > 0


def test_healthz_up(street):
    status, body = get_json(street["base"], "/healthz")
    assert status == 200
    assert body == {"ok": True, "redis": "up"}


def test_dashboard_page(street):
    status, headers, body = request(street["base"], "/")
    assert status == 200
    assert headers["Content-Type"] == "text/html; charset=utf-8"
    assert "default-src 'none'" in headers["Content-Security-Policy"]
    page = body.decode()
    assert "指挥中心" in page and "/static/echarts.min.js" in page
    # nothing loaded from elsewhere, and the files it loads are served
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//""", page)
    for name in re.findall(r'(?:src|href)="/static/([^"]+)"', page):
        assert request(street["base"], "/static/" + name)[0] == 200, name


def test_connection_kept_alive_between_polls(street):
    host, port = street["base"][len("http://"):].rsplit(":", 1)
    conn = http.client.HTTPConnection(host, int(port), timeout=10)
    try:
        for _ in range(3):
            conn.request("GET", "/api/stats")
            resp = conn.getresponse()
            assert resp.status == 200
            json.loads(resp.read())
            assert not resp.will_close
    finally:
        conn.close()


def test_redis_outage_gives_503_then_recovers(folder):
    redis, report = make_stack(folder)
    try:
        assert get_json(report.base, "/healthz") == (200, {"ok": True, "redis": "up"})
        redis.stop()
        status, body = get_json(report.base, "/healthz")
        assert status == 503 and body == {"ok": False, "redis": "down"}
        status, body = get_json(report.base, "/api/stats")
        assert status == 503 and body["code"] == "UNAVAILABLE"
        status, body = get_json(report.base, "/api/cases/TS-20000101-000001")
        assert status == 503 and body["code"] == "UNAVAILABLE"
        assert report.proc.poll() is None, report.log()
        # a fresh Redis without the library: report waits, saying why, until
        # the admin step loads it (report's own user may not)
        redis.start()
        wait_for(lambda: any("no gridcall function library" in line for line in report.lines),
                 "report to say the library is missing", 20)
        assert request(report.base, "/healthz")[0] == 503
        redis.cli("-x", "FUNCTION", "LOAD", "REPLACE", stdin=LUA.read_bytes())
        wait_for(lambda: request(report.base, "/healthz")[0] == 200, "healthz to recover", 20)
        status, body = get_json(report.base, "/api/stats")
        assert status == 200 and body["open"] == 0
    finally:
        report.stop()
        redis.stop()


def test_sigterm_stops_cleanly(folder):
    redis, report = make_stack(folder, load=False)
    try:
        assert request(report.base, "/healthz")[0] == 200
        report.proc.send_signal(signal.SIGTERM)
        assert report.proc.wait(timeout=10) == 0, report.log()
        wait_for(lambda: any("report: stopping after" in line for line in report.lines),
                 "the stopping line", 5)
    finally:
        report.stop()
        redis.stop()


def test_port_in_use_fails_to_start(street, folder):
    port = street["base"].rsplit(":", 1)[1]
    other = Report(folder, street["redis"].socket, http_port=port)
    other.proc = subprocess.Popen([str(BINARY), "-c", other.conf], stderr=subprocess.PIPE)
    _, err = other.proc.communicate(timeout=10)
    assert other.proc.returncode == 1
    assert b"failed" in err


def check_config(folder, text):
    path = os.path.join(folder, "check.conf")
    with open(path, "w") as f:
        f.write(text)
    return subprocess.run([str(BINARY), "-c", path, "--check-config"], capture_output=True,
                          timeout=10)


def test_check_config_accepts_the_sample(folder):
    done = subprocess.run([str(BINARY), "-c", str(ROOT / "deploy" / "gridcall-report.conf"),
                           "--check-config"], capture_output=True, timeout=10)
    assert done.returncode == 0, done.stderr


@pytest.mark.parametrize("text,complaint", [
    ("http_port 65536\n", b"http_port"),
    ("connection_limit 0\n", b"connection_limit"),
    ("http_prot 8080\n", b"http_prot"),
])
def test_check_config_refuses_bad_values(folder, text, complaint):
    done = check_config(folder, text)
    assert done.returncode == 1
    assert complaint in done.stderr


def test_bad_bind_address_fails_to_start(folder):
    report = Report(folder, os.path.join(folder, "no-redis.sock"), http_bind="localhost")
    report.proc = subprocess.Popen([str(BINARY), "-c", report.conf], stderr=subprocess.PIPE)
    _, err = report.proc.communicate(timeout=10)
    assert report.proc.returncode == 1
    assert b'http_bind "localhost"' in err
