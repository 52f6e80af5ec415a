"""test_webhook_sign.py — gridcall-notify's webhooks from the receiver's
side: a real cluster's POSTs verify with the snippet docs/notify.md gives
receivers (taken from the page itself, so the page stays true); a changed
body, time or key, and a replay after the 300 s tolerance, do not; delivery
ids are random and the job id is stable; unsigned targets off this machine
are refused; and the PUB's reporter audience names the case, never the
reporter's phone number."""

import hashlib
import hmac
import http.server
import json
import re
import subprocess
import threading
import time

import zmq

from gc_cluster import BUILD, ROOT, pb, timeline_entries, wait_for

SECRET = "whsec-1f2e3d4c5b6a79880f1e2d3c"
PHONE = "13800000000"


def documented_verifier():
    """The ```python block of docs/notify.md that defines verify_gridcall."""
    text = (ROOT / "docs" / "notify.md").read_text(encoding="utf-8")
    blocks = re.findall(r"```python\n(.*?)```", text, re.S)
    code = [b for b in blocks if "def verify_gridcall" in b]
    assert len(code) == 1, "docs/notify.md must hold one verify_gridcall snippet"
    scope = {}
    exec(code[0], scope)                    # the receiver's code, as documented
    return scope["verify_gridcall"], scope["TOLERANCE_S"]


class Receiver:
    """An HTTP receiver that records every POST (headers and raw body)."""

    def __init__(self):
        self.posts = []
        self.lock = threading.Lock()
        receiver = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                with receiver.lock:
                    receiver.posts.append((dict(self.headers), body))
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"

    def of_case(self, case_id):
        with self.lock:
            return [(h, b) for h, b in self.posts if json.loads(b)["case_id"] == case_id]

    def close(self):
        self.server.shutdown()
        self.server.server_close()


def test_receiver_verifies_real_webhooks_and_refuses_tampering(cluster, gc_directory):
    verify, tolerance = documented_verifier()
    assert tolerance == 300
    receiver = Receiver()
    try:
        c = cluster("intake", "notify", notify={"webhooks": receiver.url,
                                                "webhook_secret": SECRET})
        grid, category = gc_directory.choose("GRID")
        reporter = c.reporter()
        cases = [reporter.report(grid, category, f"签名测试 {i}").case_id for i in range(3)]
        posts = wait_for(lambda: all(receiver.of_case(x) for x in cases) and
                         [p for x in cases for p in receiver.of_case(x)], 10,
                         "the case.registered webhooks")
        key = SECRET.encode()
        for headers, body in posts:
            assert verify(key, headers, body), headers
            assert headers["X-Gridcall-Job"] == json.loads(body)["job_id"]
            assert re.fullmatch(r"[0-9a-f]{32}", headers["X-Gridcall-Delivery"])
            at = int(re.match(r"t=(\d+),", headers["X-Gridcall-Signature"]).group(1))
            assert abs(at - time.time()) < 60
        # every POST its own random delivery id
        assert len({h["X-Gridcall-Delivery"] for h, _ in posts}) == len(posts)

        headers, body = posts[0]
        at = int(re.match(r"t=(\d+),", headers["X-Gridcall-Signature"]).group(1))
        # a changed body, another key, a moved timestamp: refused
        assert not verify(key, headers, body.replace(b'"grid"', b'"grid" '))
        assert not verify(b"another-secret", headers, body)
        moved = dict(headers)
        moved["X-Gridcall-Signature"] = re.sub(r"t=\d+", f"t={at + 200}",
                                               headers["X-Gridcall-Signature"])
        assert not verify(key, moved, body)
        # the same request replayed: within the tolerance it verifies (the
        # receiver dedupes on the job id), after it it is refused
        assert verify(key, headers, body, now=at + tolerance)
        assert not verify(key, headers, body, now=at + tolerance + 1)
        assert not verify(key, headers, body, now=at - tolerance - 1)
        assert not verify(key, {}, body)
        assert not verify(key, {"X-Gridcall-Signature": "sha256=" + "0" * 64}, body)
        # the secret reached notify through a file: not in ps, not in its log
        assert SECRET not in " ".join(c["notify"].argv())
        assert SECRET not in c["notify"].log.read_text(errors="replace")
    finally:
        receiver.close()


def test_unsigned_webhooks_leave_this_machine_never(tmp_path):
    notify = str(BUILD / "gridcall-notify")
    done = subprocess.run([notify, "--set", "curve=no", "--set", "webhooks=https://hooks.example.org/gridcall",
                           "--check-config"], capture_output=True, text=True, timeout=10)
    assert done.returncode == 1
    assert "webhook_secret is not set" in done.stderr and "webhook_secret_file" in done.stderr
    # the daemon refuses it too, before it binds anything
    done = subprocess.run([notify, "--set", "curve=no", "--set", "webhooks=https://hooks.example.org/gridcall",
                           "--set", f"work_bind=ipc://{tmp_path}/w", "--set",
                           f"pub_bind=ipc://{tmp_path}/p"],
                          capture_output=True, text=True, timeout=10)
    assert done.returncode == 1 and "webhook_secret_file" in done.stderr
    # signed, it may go anywhere; unsigned, to this machine only
    secret = tmp_path / "webhook.secret"
    secret.write_text(SECRET + "\n")
    secret.chmod(0o600)
    for extra in (["--set", f"webhook_secret_file={secret}"], []):
        url = "https://hooks.example.org/gridcall" if extra else "http://127.0.0.1:9/hook"
        done = subprocess.run([notify, "--set", "curve=no", "--set", f"webhooks={url}", *extra,
                               "--check-config"],
                              capture_output=True, text=True, timeout=10)
        assert done.returncode == 0, done.stderr
    # and the secret never on a command line
    done = subprocess.run([notify, "--set", "curve=no", "--set", f"webhook_secret={SECRET}",
                           "--check-config"],
                          capture_output=True, text=True, timeout=10)
    assert done.returncode == 1 and SECRET not in done.stderr
    assert "webhook_secret_file" in done.stderr


def test_pub_names_the_reporter_by_case_never_by_phone(cluster, gc_directory):
    grid, category = gc_directory.choose("GRID")
    unit_id = gc_directory.fitting("GRID", grid, category)[0]
    c = cluster("intake", "dispatch", "notify")
    sub = c.subscriber("events", "notify")
    sub.setsockopt(zmq.SUBSCRIBE, b"case.")
    unit = c.unit(unit_id)
    reporter = c.reporter()
    time.sleep(0.3)                     # the subscription reaches the PUB first
    reply = reporter.report(grid, category, "楼道灯坏了", reporter=PHONE)
    offer = unit.expect_offer(reply.case_id)
    assert unit.accept(offer)[0] == "ok"
    assert unit.resolve(offer, "已更换灯泡")[0] == "ok"
    kind, ack = reporter.verify(reply.case_id, True)
    assert kind == "ack" and ack.state == pb.STATE_CLOSED, ack
    seen = []

    def closed():
        while sub.poll(100):
            topic, body = sub.recv_multipart()
            seen.append(body)
            msg = pb.Notification.FromString(body)
            if topic == b"case.closed" and msg.case_id == reply.case_id:
                return msg
        return None
    msg = wait_for(closed, 10, "the case.closed notification")
    assert msg.audience == f"reporter:{reply.case_id}"
    # no message on the PUB carries the phone number, in any field
    assert not [b for b in seen if PHONE.encode() in b]
    # and the job the function library queued names the case already
    entries = timeline_entries(c, reply.case_id)
    n = next(i for i, e in enumerate(entries, 1) if e[1] == "closed")
    job = json.loads(c.redis.call("FCALL", "gc_job_get", "0", c.key_prefix, f"{reply.case_id}:{n}"))
    assert job["event"] == "case.closed" and job["audience"] == f"reporter:{reply.case_id}", job
    assert PHONE not in json.dumps(entries[n - 1], ensure_ascii=False)
    sub.close(0)
