"""test_drain.py — SIGTERM under load drains a daemon: it stops taking new
work, finishes the loop turn in hand (commits and answers), and exits 0.

What a user checks: every report intake committed was answered before it
exited, and every report answered is in Redis; every accept dispatch
committed was answered "ok", and every "ok" is committed. Requests that
were still queued in the socket are answered by the next instance when
the client resends them (same idempotency key, same offer id)."""

import queue
import time

import gc_cluster
from cluster_helpers import case_states, cluster_load
from gc_cluster import pb, wait_for

EXIT_WITHIN_S = 5


def scan(redis, pattern):
    keys, cursor = [], "0"
    while True:
        cursor, batch = redis.call("SCAN", cursor, "MATCH", pattern, "COUNT", 1000)
        keys += batch
        if cursor == "0":
            return keys


def terminate(daemon):
    """SIGTERM; returns (exit status, seconds to exit)."""
    t = time.monotonic()
    daemon.terminate()
    daemon.proc.wait(EXIT_WITHIN_S)
    return daemon.proc.returncode, time.monotonic() - t


def test_intake_drains_on_sigterm(cluster, gc_directory):
    c = cluster("dispatch", "intake")
    load = cluster_load(c, gc_directory.servable(), rate=400, resend_s=1.0, prefix="drain")
    try:
        load.run(1.5)
        status, took = terminate(c["intake"])
        assert status == 0, f"intake exited with {status} on SIGTERM"
        load.filing = False
        load.run(0.5)               # replies intake sent before it exited
        # gc:idem:<principal>:<key>: the reporter's keys, whoever it is
        registered = {k.rsplit(":", 1)[1] for k in scan(c.redis, "gc:idem:*:drain-*")}
        answered = set(load.acked)
        assert registered, "no report reached Redis before the SIGTERM"
        # the turn in hand was finished: nothing committed went unanswered
        assert registered == answered, (
            f"{len(registered - answered)} reports committed but never answered "
            f"(e.g. {sorted(registered - answered)[:3]}), "
            f"{len(answered - registered)} answered but not in Redis")
        unanswered = len(load.waiting())
        log = c["intake"].log.read_text()
        assert "intake: stopping;" in log

        c["intake"].restart()
        load.drain(20)
        assert not load.conflicts, load.conflicts[:5]
        states = case_states(c.redis, "gc:", load.acked.values())
        assert all(states.values()), "an acknowledged report is missing from Redis"
        assert len(set(load.acked.values())) == load.sent
        assert int(c.stats()["total"]["reported"]) == load.sent
        line = (f"drain: intake SIGTERM under 400 reports/s exited 0 in {took:.2f} s; "
                f"{len(answered)} answered before, {unanswered} left to the next instance; "
                f"{load.sent} reports, 0 lost, 0 doubled")
        print(line)
        gc_cluster.SUMMARY.append(line)
    finally:
        load.close()


class AcceptingUnits:
    """pyzmq units that accept every offer and resolve every case they
    accepted, recording which accepts dispatch answered "ok"."""

    def __init__(self, c, unit_ids):
        self.c = c
        self.units = {uid: c.unit(uid) for uid in unit_ids}
        self.accepted_ok = {}       # offer id -> case id, answered "ok" (not a repeat)
        self.resolved_ok = set()    # case ids
        self.offers = {}            # offer id -> (unit, offer)

    def step(self):
        for uid, u in self.units.items():
            while True:
                try:
                    u.backlog.append(u.inbox.get_nowait())
                except queue.Empty:
                    pass
                if not u.backlog:
                    break
                kind, msg = u.backlog.pop(0)
                if kind == "offer":
                    self.offers[msg.offer_id] = (u, msg)
                    u.send("accept", pb.Accept(offer_id=msg.offer_id, case_id=msg.case_id))
                elif kind == "ok" and msg.state == pb.STATE_ACCEPTED:
                    if not msg.duplicate:
                        self.accepted_ok[msg.offer_id] = msg.case_id
                    u.send("resolve", pb.Resolve(offer_id=msg.offer_id, case_id=msg.case_id,
                                                 summary="done"))
                elif kind == "ok" and msg.state == pb.STATE_RESOLVED:
                    self.resolved_ok.add(msg.case_id)
                elif kind == "error" and "say hello" in msg.message:
                    u.send("hello", pb.Hello(unit_id=uid, protocol=1))     # a new dispatch

    def close(self):
        for u in self.units.values():
            u.close(bye=False)


def test_dispatch_drains_on_sigterm(cluster, gc_directory):
    grid, category = gc_directory.choose("GRID", min_units=3)
    unit_ids = gc_directory.fitting("GRID", grid, category)
    c = cluster("dispatch", "intake", dispatch={"offer_timeout_ms": 3000})
    units = AcceptingUnits(c, unit_ids)
    load = cluster_load(c, [(grid, category)], rate=150, prefix="ddrain")
    try:
        end = time.monotonic() + 2.0
        while time.monotonic() < end:
            load.step(5)
            units.step()
        status, took = terminate(c["dispatch"])
        assert status == 0, f"dispatch exited with {status} on SIGTERM"
        end = time.monotonic() + 0.5           # answers sent before it exited
        while time.monotonic() < end:
            load.step(5)
            units.step()
        # every accept committed was answered, every "ok" is committed
        committed = {}
        for case_id, case in c.cases(list(load.acked.values())).items():
            for e in case["timeline"]:
                if e["what"] == "accepted":
                    committed[e.get("offer")] = case_id
        assert committed, "no accept was committed before the SIGTERM"
        assert committed == units.accepted_ok, (
            f"committed but unanswered: {sorted(set(committed) - set(units.accepted_ok))[:3]}; "
            f"answered but not committed: {sorted(set(units.accepted_ok) - set(committed))[:3]}")
        before = len(committed)
        assert "dispatch: stopping;" in c["dispatch"].log.read_text()

        c["dispatch"].restart()
        load.filing = False

        def settled():
            load.step(5)
            units.step()
            if load.waiting():
                return False
            states = case_states(c.redis, "gc:", load.acked.values())
            return all(s == "RESOLVED" for s in states.values())
        wait_for(settled, 30, "every case accepted and resolved after the restart", interval=0)
        for case_id, case in c.cases(list(load.acked.values())).items():
            whats = [e["what"] for e in case["timeline"]]
            assert whats.count("accepted") == 1 and whats.count("resolved") == 1, (case_id, whats)
        line = (f"drain: dispatch SIGTERM under 150 reports/s exited 0 in {took:.2f} s; "
                f"{before} accepts committed and answered before it, {load.sent} cases all "
                f"accepted and resolved once after the restart")
        print(line)
        gc_cluster.SUMMARY.append(line)
    finally:
        load.close()
        units.close()


class HttpFilers:
    """Threads filing reports at intake's JSON API over keep-alive, each
    with an Idempotency-Key of its own, until told to stop: which keys were
    acknowledged (201), which were answered 503 (and how), which met a
    closed or refused connection."""

    def __init__(self, port, key, grid, category, threads=4):
        import threading
        self.port, self.key, self.grid, self.category = port, key, grid, category
        self.lock = threading.Lock()
        self.filing = threading.Event()
        self.filing.set()
        self.acked = {}             # idempotency key -> case id
        self.unavailable = []       # (key, Retry-After, body) of 503 answers
        self.cut = set()            # keys whose connection closed or was refused
        self.sent = set()
        self.threads = [threading.Thread(target=self.run, args=(t,), daemon=True)
                        for t in range(threads)]
        for t in self.threads:
            t.start()

    def run(self, t):
        import json
        from doors_helpers import Http
        h, n = Http(self.port, self.key), 0
        while self.filing.is_set():
            idem = f"hdrain-{t}-{n}"
            n += 1
            with self.lock:
                self.sent.add(idem)
            try:
                s, headers, body = h.request("POST", "/api/v1/reports",
                                             {"grid": self.grid, "category": self.category,
                                              "text": "路灯不亮"}, {"Idempotency-Key": idem})
            except OSError:
                with self.lock:
                    self.cut.add(idem)
                h.close()
                h = Http(self.port, self.key)
                time.sleep(0.05)
                continue
            with self.lock:
                if s == 201:
                    self.acked[idem] = json.loads(body)["case_id"]
                elif s == 503:
                    self.unavailable.append((idem, headers.get("retry-after"), json.loads(body)))
                else:
                    raise AssertionError(f"{idem}: {s} {body[:200]!r}")
        h.close()

    def stop(self):
        self.filing.clear()
        for t in self.threads:
            t.join(20)


def test_intake_http_drains_on_sigterm(cluster, gc_directory):
    """SIGTERM under HTTP load: the calls in hand are answered promptly
    (201 when the loop took them, else 503 with Retry-After and a JSON
    body), intake exits well within its 10 s call wait, nothing
    acknowledged is lost, and the retries file each report once."""
    from doors_helpers import Http, start_doors
    from gc_keys import GATEWAY
    c, port, keys = start_doors(cluster, daemons=("dispatch", "notify"), http_rate_limit=1000000)
    grid, category = gc_directory.servable()[0]
    filers = HttpFilers(port, keys[GATEWAY], grid, category)
    try:
        time.sleep(1.5)
        status, took = terminate(c["intake"])
        assert status == 0, f"intake exited with {status} on SIGTERM"
        # (terminate waits EXIT_WITHIN_S: a call left waiting for the
        # stopped loop would hold intake for its 10 s call wait)
        time.sleep(0.3)
    finally:
        filers.stop()
    for idem, retry, body in filers.unavailable:
        assert retry == "1" and body["ok"] is False and body["code"] == "UNAVAILABLE", body
    registered = {k.rsplit(":", 1)[1] for k in scan(c.redis, "gc:idem:*:hdrain-*")}
    assert filers.acked, "no report was acknowledged before the SIGTERM"
    # everything acknowledged is in Redis, and everything committed was acknowledged
    assert set(filers.acked) <= registered, sorted(set(filers.acked) - registered)[:3]
    assert registered == set(filers.acked), (
        f"{len(registered - set(filers.acked))} reports committed but never answered")
    # the next instance files the rest once each, the acknowledged ones not again
    # the new instance's port, from its own start's log (not the old one's)
    c["intake"].ready_pattern = r"HTTP doors listening on http://127\.0\.0\.1:(\d+)"
    c["intake"].restart()
    port2 = int(c["intake"].ready_match.group(1))
    h = Http(port2, keys[GATEWAY])
    for idem in sorted(filers.sent):
        s, body = h.json("POST", "/api/v1/reports", {"grid": grid, "category": category,
                                                     "text": "路灯不亮"},
                         {"Idempotency-Key": idem})
        assert s in (200, 201), body
        if idem in filers.acked:
            assert body["case_id"] == filers.acked[idem] and body["duplicate"], body
    h.close()
    assert int(c.stats()["total"]["reported"]) == len(filers.sent)
    line = (f"drain: intake SIGTERM under HTTP load (4 keep-alive clients) exited 0 in "
            f"{took:.2f} s; {len(filers.acked)} acknowledged before, {len(filers.unavailable)} "
            f"answered 503, {len(filers.cut)} cut; {len(filers.sent)} reports, 0 lost, 0 doubled")
    print(line)
    gc_cluster.SUMMARY.append(line)
