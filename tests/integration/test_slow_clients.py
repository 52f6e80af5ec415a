"""test_slow_clients.py — slow clients and loose files, as an attacker on
the same network or machine would try them: a request body sent a byte a
second is cut after http_body_timeout_s on intake's HTTP doors (with or
without a key) while others are served; a daemon's /metrics (the liveness
probe) keeps answering while one address floods it with slow headers (at
most 8 connections from one address, each cut 10 s after it opened); and
secret files, a configuration file holding a secret and a principals file
that other users could read or write are refused, naming what to fix."""

import http.client
import os
import socket
import subprocess
import time

import pytest

import gc_keys
from doors_helpers import Http, start_doors
from gc_cluster import BUILD, wait_for
from gc_keys import GATEWAY


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Slow:
    """Connections that send their first bytes at once and then one more
    piece every `every` seconds; poll() notices the ones the server closed
    (closed_after: seconds from opening)."""

    def __init__(self, port, first, piece, every, source="127.0.0.1"):
        self.piece = piece
        self.every = every
        self.conns = []
        self.port = port
        self.source = source
        self.first = first

    def open(self, first=None):
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.bind((self.source, 0))
        s.connect(("127.0.0.1", self.port))
        conn = {"sock": s, "opened": time.monotonic(), "closed_after": None, "got": b""}
        self.conns.append(conn)
        self._send(conn, first or self.first)
        s.setblocking(False)
        conn["next"] = time.monotonic() + self.every
        return conn

    def _closed(self, conn):
        conn["closed_after"] = time.monotonic() - conn["opened"]
        conn["sock"].close()

    def _send(self, conn, data):
        try:
            conn["sock"].sendall(data)
        except OSError:
            self._closed(conn)

    def poll(self):
        """Read what came, send the next piece where due; returns the
        connections still open."""
        now = time.monotonic()
        for conn in self.open_conns():
            try:
                data = conn["sock"].recv(4096)
            except BlockingIOError:
                data = None
            except OSError:
                data = b""
            if data == b"":
                self._closed(conn)
                continue
            if data:
                conn["got"] += data
            if now >= conn["next"]:
                self._send(conn, self.piece)
                conn["next"] = now + self.every
        return self.open_conns()

    def open_conns(self):
        return [c for c in self.conns if c["closed_after"] is None]

    def close(self):
        for c in self.open_conns():
            c["sock"].close()


# ---------------------------------------------------------------------------
# intake's doors: a body a byte a second


def test_a_body_sent_a_byte_a_second_is_cut_after_the_body_timeout(cluster, gc_directory):
    """Headers announce 16384 bytes, then a byte a second: each such
    connection (with a key, without one, and Open311's door whose key is in
    the body) is cut about http_body_timeout_s (2 s), plus a second for the
    16 KiB announced, after its headers, far
    before the header timeout (10 s) or the idle timeout (30 s) the byte a
    second keeps resetting; a normal report is served meanwhile."""
    grid, category = gc_directory.choose("GRID")
    c, port, keys = start_doors(cluster, http_body_timeout_s=2)
    key = keys[GATEWAY]
    slow = Slow(port, b"", b" ", every=1.0)
    heads = {
        "with a key": f"POST /api/v1/reports HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                      f"Authorization: Bearer {key}\r\nContent-Type: application/json\r\n",
        "without a key": "POST /api/v1/reports HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                         "Content-Type: application/json\r\n",
        "Open311": "POST /open311/v2/requests.json HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                   "Content-Type: application/x-www-form-urlencoded\r\n",
    }
    conns = {name: slow.open((head + "Content-Length: 16384\r\n\r\n{").encode())
             for name, head in heads.items()}
    try:
        # another connection is served while they drip
        status, body = Http(port, key).json("POST", "/api/v1/reports",
                                            {"grid": grid, "category": category,
                                             "text": "慢连接之外"})
        assert status == 201 and body["ok"], body
        assert len(slow.poll()) == 3, "a slow body was cut at once"
        wait_for(lambda: not slow.poll(), 8, "the slow bodies to be cut",
                 interval=0.02)
        for name, conn in conns.items():
            assert 1.5 <= conn["closed_after"] <= 6.0, (name, conn["closed_after"], conn["got"])
        # the doors still serve
        status, _ = Http(port, key).json("POST", "/api/v1/reports",
                                         {"grid": grid, "category": category, "text": "之后"})
        assert status == 201
    finally:
        slow.close()


# ---------------------------------------------------------------------------
# /metrics: slow headers from one address


def scrape(port):
    """GET /metrics from 127.0.0.1 on a fresh connection: (status, seconds)."""
    start = time.monotonic()
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5,
                                      source_address=("127.0.0.1", 0))
    try:
        conn.request("GET", "/metrics")
        r = conn.getresponse()
        r.read()
        return r.status, time.monotonic() - start
    except OSError as e:
        return repr(e), time.monotonic() - start
    finally:
        conn.close()


def test_metrics_answers_while_one_address_holds_slow_headers(cluster):
    """70 connections from 127.0.0.2 each send a request line and a header
    line every 2 s, never the blank line: 8 are kept (the per-address cap)
    and the rest closed at once; the 8 are cut 10 s after they opened; a
    scrape from 127.0.0.1 gets 200 within seconds throughout."""
    port = free_port()
    c = cluster()
    c.start("dispatch", metrics_port=port)
    wait_for(lambda: scrape(port)[0] == 200, 10, "dispatch to serve /metrics")

    slow = Slow(port, b"GET /metrics HTTP/1.1\r\nHost: 127.0.0.1\r\n", b"X-Slow: a\r\n",
                every=2.0, source="127.0.0.2")
    try:
        for _ in range(70):
            slow.open()
        wait_for(lambda: len(slow.poll()) <= 8, 5, "connections beyond 8 to be refused",
                 interval=0.02)
        refused = [x for x in slow.conns if x["closed_after"] is not None]
        assert len(refused) == 62, f"{len(refused)} of 70 refused"
        assert all(x["closed_after"] < 5 and x["got"] == b"" for x in refused)

        scrapes = [scrape(port)]
        last = time.monotonic()

        def all_cut():
            nonlocal last
            if time.monotonic() - last >= 2:
                scrapes.append(scrape(port))
                last = time.monotonic()
            return not slow.poll()
        wait_for(all_cut, 20, "the slow-header connections to be cut", interval=0.02)
        kept = [x for x in slow.conns if x not in refused]
        assert len(kept) == 8
        cut = sorted(round(x["closed_after"], 1) for x in kept)
        assert 8.0 <= cut[0] and cut[-1] <= 15.0, f"kept connections cut after {cut} s"
        bad = [s for s in scrapes if s[0] != 200 or s[1] >= 5]
        assert len(scrapes) >= 3 and not bad, scrapes
    finally:
        slow.close()
    assert scrape(port)[0] == 200


# ---------------------------------------------------------------------------
# files others may read or write


def run(daemon, *sets, check=True, config=None):
    argv = [str(BUILD / f"gridcall-{daemon}")]
    if config:
        argv += ["-c", str(config)]
    for s in sets:
        argv += ["--set", s]
    if check:
        argv.append("--check-config")
    return subprocess.run(argv, capture_output=True, text=True, timeout=20,
                          stdin=subprocess.DEVNULL)


def secret_file(path, text, mode):
    path.write_text(text + "\n")
    os.chmod(path, mode)
    return path


@pytest.mark.parametrize("option", ["redis_password", "screen_token"])
def test_a_secret_file_others_may_read_is_refused(tmp_path, option):
    """A secret file of mode 0644 is refused, naming the option and the
    fix; 0640 (a group may read it, as a Kubernetes secret mounted 0440)
    and 0600 are accepted."""
    value = f"{option}-value-5e4d3c2b1a"
    path = secret_file(tmp_path / f"{option}.secret", value, 0o644)
    for check in (True, False):             # --check-config, and a real start
        done = run("report", "curve=no", "http_port=0", f"{option}_file={path}", check=check)
        out = done.stdout + done.stderr
        assert done.returncode != 0, out
        assert f"{option}_file" in out and "chmod 600" in out and str(path) in out, out
        assert value not in out
    for mode in (0o640, 0o600, 0o440):
        os.chmod(path, mode)
        done = run("report", "curve=no", f"{option}_file={path}")
        assert done.returncode == 0, (oct(mode), done.stderr)


def test_a_config_file_holding_a_secret_must_be_private(tmp_path):
    """redis_password written in a -c file makes that file a secret: at
    0644 it is refused naming the line, at 0600 accepted. A file without a
    secret may be 0644."""
    conf = tmp_path / "report.conf"
    conf.write_text("curve no\nredis_password SEKRET-1234567\n")
    os.chmod(conf, 0o644)
    done = run("report", config=conf)
    assert done.returncode != 0, done.stderr
    assert f"{conf}:2: redis_password is a secret" in done.stderr, done.stderr
    assert "chmod 600" in done.stderr and "SEKRET-1234567" not in done.stderr
    os.chmod(conf, 0o600)
    done = run("report", config=conf)
    assert done.returncode == 0, done.stderr
    plain = tmp_path / "plain.conf"
    plain.write_text("curve no\nhttp_port 0\n")
    os.chmod(plain, 0o644)
    assert run("report", config=plain).returncode == 0


def test_a_principals_file_others_may_write_is_refused(tmp_path):
    """Who holds which role: a principals file anyone may write would let
    anyone bind a key of theirs as admin. 0666 is refused; 0644 accepted."""
    keys = gc_keys.Keyring(tmp_path / "keys")
    cert = keys.make("intake")
    keys.write()
    sets = ["bind=ipc:///tmp/gc-x.sock", "dispatch_endpoint=ipc:///tmp/gc-w",
            "notify_endpoint=ipc:///tmp/gc-n", f"curve_secret_file={cert.secret_path}",
            f"principals={keys.principals_path}"]
    os.chmod(keys.principals_path, 0o666)
    done = run("intake", *sets)
    assert done.returncode != 0, done.stderr
    assert str(keys.principals_path) in done.stderr, done.stderr
    assert "other users can write it" in done.stderr, done.stderr
    os.chmod(keys.principals_path, 0o644)
    done = run("intake", *sets)
    assert done.returncode == 0, done.stderr
