"""test_chaos_subscribers.py — slow and stuck subscribers: SUBs on
notify's PUB that never read, and screens on report's /api/stream (SSE)
that read nothing (a tiny receive buffer, never drained), held open while
the lifecycle load runs.

No daemon blocks: every report is acknowledged and every case closes, and
report answers /healthz within a second all along; RSS stays bounded
(notify's PUB drops at the high-water mark, report's hub drops a stream
that falls behind its buffer)."""

import socket
import time
import urllib.request

import zmq

import gc_keys
from chaos_history import Lifecycle, assert_clean, figures, say

RATE = 40
SECONDS = 20
SUBS = 20
SCREENS = 10


def rss_kb(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def test_stuck_pub_and_sse_subscribers_block_nothing(cluster, gc_directory):
    c = cluster("notify", "dispatch", "intake", "report")
    c.start("unit-sim", units="all", accept_rate=1, silence_rate=0, accept_delay_ms=10,
            resolve_delay_ms=200, seed=3)
    host, port = c["report"].ready_match.group(1), int(c["report"].ready_match.group(2))
    subs = []
    for _ in range(SUBS):
        s = c.ctx.socket(zmq.SUB)
        s.setsockopt(zmq.LINGER, 0)
        s.setsockopt(zmq.RCVHWM, 10)
        s.setsockopt(zmq.RCVBUF, 4096)
        s.setsockopt(zmq.SUBSCRIBE, b"")
        gc_keys.secure(s, c.keys.certs["pytest-gateway"], c.server_key("notify"))
        s.connect(c.endpoints["events"])
        subs.append(s)
    screens = []
    for _ in range(SCREENS):
        k = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        k.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        k.connect((host, port))
        k.sendall(f"GET /api/stream HTTP/1.1\r\nHost: {host}\r\nAccept: text/event-stream\r\n\r\n"
                  .encode())
        screens.append(k)
    time.sleep(1)
    start = {n: rss_kb(c[n].proc.pid) for n in ("notify", "report")}
    life = Lifecycle(c, gc_directory.servable(), RATE, prefix="stuck")
    health = []

    def probe():
        if not health or time.monotonic() - health[-1][0] > 1:
            t = time.monotonic()
            with urllib.request.urlopen(f"http://{host}:{port}/healthz", timeout=5) as r:
                r.read()
            health.append((t, time.monotonic() - t))
    try:
        life.run(SECONDS, probe)
        life.finish()
        result = life.check()
        peak = {n: rss_kb(c[n].proc.pid) for n in ("notify", "report")}
    finally:
        life.close()
        for s in subs:
            s.close(0)
        for k in screens:
            k.close()
    worst = max(d for _, d in health)
    line = (f"stuck subscribers ({SUBS} SUBs on notify's PUB, {SCREENS} SSE screens on report, "
            f"none reading) under {RATE} reports/s for {SECONDS} s: /healthz worst "
            f"{worst * 1000:.0f} ms; RSS notify {start['notify'] // 1024} -> "
            f"{peak['notify'] // 1024} MiB, report {start['report'] // 1024} -> "
            f"{peak['report'] // 1024} MiB; " + figures(result))
    say(line)
    assert_clean(result)
    assert worst < 1.0, line
    for n in ("notify", "report"):
        assert peak[n] - start[n] < 64 * 1024, f"{n} grew by {(peak[n] - start[n]) // 1024} MiB"
