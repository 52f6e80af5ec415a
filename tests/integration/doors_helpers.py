"""doors_helpers.py — a cluster with intake's HTTP doors on (http_bind
127.0.0.1, a port of its own choosing read from the log), API keys made by
`gridcall keys api-key` (the principals file keeps only their hashes), and
a small HTTP client over http.client with keep-alive."""
import http.client
import json
import re
import time
import urllib.parse

from gc_keys import GATEWAY

OPEN311_GATEWAY = "gateway open311app channels OPEN311,RESIDENT_APP"


def api_key(c, principal):
    """A new API key bound to principal in the cluster's principals file;
    returns the key (the file holds only its SHA-256)."""
    out = c.folder / f"key-{abs(hash(principal)) % 10 ** 8}-{time.monotonic_ns()}.txt"
    r = c.cli("keys", "api-key", "--principals", c.keys.principals_path, principal,
              "--key-file", out)
    assert r.returncode == 0, r.stderr
    key = out.read_text().strip()
    assert key.startswith("gck_") and key not in c.keys.principals_path.read_text()
    return key


def start_doors(cluster, keys=(GATEWAY,), daemons=(), **intake):
    """A cluster with the directory loaded, API keys for the principals
    in keys (a dict principal -> key is returned), then intake with its
    HTTP doors and the daemons named. Returns (cluster, port, keys)."""
    c = cluster()
    made = {p: api_key(c, p) for p in keys}
    options = {"http_bind": "127.0.0.1", "http_port": 0, "media_dir": c.folder / "media"}
    options.update(intake)
    d = c.start("intake", **options)
    port = None
    deadline = time.monotonic() + 10
    while port is None and time.monotonic() < deadline:
        m = re.search(r"HTTP doors listening on http://127\.0\.0\.1:(\d+)",
                      d.log.read_text(errors="replace"))
        port = int(m.group(1)) if m else time.sleep(0.05)
    assert port, "intake did not log its HTTP port"
    for name in daemons:
        c.start(name)
    return c, port, made


class Http:
    """One keep-alive connection to the doors."""

    def __init__(self, port, key=None):
        self.port = port
        self.key = key
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=15)

    def close(self):
        self.conn.close()

    def request(self, method, path, body=None, headers=None, key=True):
        """Returns (status, headers dict, body bytes)."""
        h = dict(headers or {})
        if key and self.key and "Authorization" not in h:
            h["Authorization"] = f"Bearer {self.key}"
        if isinstance(body, (dict, list)):
            body = json.dumps(body, ensure_ascii=False).encode()
            h.setdefault("Content-Type", "application/json")
        self.conn.request(method, path, body=body, headers=h)
        r = self.conn.getresponse()
        data = r.read()
        if r.getheader("Connection", "").lower() == "close":
            self.conn.close()
            self.conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=15)
        return r.status, {k.lower(): v for k, v in r.getheaders()}, data

    def json(self, method, path, body=None, headers=None, key=True):
        status, h, data = self.request(method, path, body, headers, key)
        assert h["content-type"].startswith("application/json"), (status, h, data)
        return status, json.loads(data)

    def form(self, path, fields, headers=None):
        """POST x-www-form-urlencoded fields (a dict or a list of pairs)."""
        h = {"Content-Type": "application/x-www-form-urlencoded", **(headers or {})}
        return self.request("POST", path, urllib.parse.urlencode(fields).encode(), h, key=False)
