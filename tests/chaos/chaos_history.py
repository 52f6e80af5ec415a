"""chaos_history.py — the history of a chaos run and its checker.

A run files reports at a steady rate through a ReportLoad (cluster_helpers),
lets simulated units accept and resolve the cases, and verifies each
resolved case as the street operator, so every case should close. The
history is what the reporters were acknowledged (key -> case id, with the
time) and, from Redis at the end, each case's timeline: its offers,
accepts and close. The checker counts

- lost: acknowledged reports whose case is not in Redis, or a report never
  acknowledged although it was resent until the end;
- doubled: a key answered with two case ids, a case registered or closed
  more than once, accepted again while a unit held it (not taken back by a
  climb, a reopening or parking), a lead offer made while another lead
  offer of the same case was still waiting for its answer, or an offer id
  offered twice;
- not closed: acknowledged cases not CLOSED when the run ends.

Each must be 0. `figures()` gives the line a test prints.
"""

import json
import time
from collections import Counter

import gc_cluster
from cluster_helpers import case_states, cluster_load
from gc_cluster import pb, wait_for

#  what takes an accepted case back from its unit
TAKEN_BACK = {"escalated", "reopened", "parked"}
#  what ends a waiting lead offer in the timeline
OFFER_ENDS = {"accepted", "declined", "offer_expired", "offer_withdrawn", "reopened",
              "escalated", "parked"}


class Lifecycle:
    """Reports at rate through endpoints (intakes), verification of every
    resolved case through verify_endpoints; step() often."""

    def __init__(self, c, work, rate, endpoints=None, prefix="chaos", verify_every_s=0.3,
                 evaluate=False):
        import zmq
        import gc_keys
        self.c = c
        self.load = cluster_load(c, work, rate, endpoints=endpoints, prefix=prefix)
        self.verifier = c.ctx.socket(zmq.DEALER)
        self.verifier.setsockopt(zmq.LINGER, 0)
        gc_keys.secure(self.verifier, c.keys.certs["pytest-operator"], c.server_key("intake"))
        for e in endpoints or [c.endpoints["intake"]]:
            self.verifier.connect(e)
        self.closed = set()
        self.verified_at = {}
        self.next_scan = 0
        self.verify_every_s = verify_every_s
        self.evaluate = evaluate        # the reporter scores each closed case
        self.evaluated = 0
        self.verify_refusals = {}       # error code name -> count, for the verifies

    def step(self, wait_ms=5):
        self.load.step(wait_ms)
        while self.verifier.poll(0):
            kind, msg = gc_cluster.parse(gc_cluster.REPORTER_REPLIES, self.verifier.recv_multipart())
            if kind == "error":
                name = gc_cluster.error_name(msg.code)
                self.verify_refusals[name] = self.verify_refusals.get(name, 0) + 1
        now = time.monotonic()
        if now < self.next_scan:
            return
        self.next_scan = now + self.verify_every_s
        open_ids = [i for i in set(self.load.acked.values()) if i not in self.closed]
        try:
            states = case_states(self.c.redis, self.c.key_prefix, open_ids)
        except (OSError, gc_cluster.RedisError):
            # Redis is the thing being broken: ask again (through Sentinel,
            # for a cluster that has them) at the next scan
            forget = getattr(self.c, "forget_connection", None)
            if forget:
                forget()
            return
        for i, s in states.items():
            if s == "CLOSED":
                self.closed.add(i)
                if self.evaluate:
                    self.load.sock.send_multipart([b"evaluate", pb.Evaluate(
                        case_id=i, score=1 + len(self.closed) % 5, comment="chaos",
                        resident="chaos").SerializeToString()])
                    self.evaluated += 1
            elif s == "RESOLVED" and now - self.verified_at.get(i, 0) > 1.0:
                self.verified_at[i] = now
                self.verifier.send_multipart([b"verify", pb.Verify(
                    case_id=i, note="ok", verifier="chaos", **{"pass": True}
                ).SerializeToString()])

    def run(self, seconds, each=None):
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            self.step()
            if each:
                each()

    def finish(self, timeout=90):
        """Stop filing; resend and verify until every report is acknowledged
        and its case closed (or timeout: the checker then counts what is
        missing)."""
        self.load.filing = False
        try:
            wait_for(lambda: (self.step(), not self.load.waiting()
                              and self.closed >= set(self.load.acked.values()))[1],
                     timeout, "every report acknowledged and its case closed", interval=0)
        except AssertionError:
            pass

    def close(self):
        self.load.close()
        self.verifier.close(0)

    def check(self):
        """{"acked", "lost", "doubled", "not_closed", "offers", "accepts",
        "closes", "problems"} from the load's record and Redis."""
        load = self.load
        ids = sorted(set(load.acked.values()))
        problems = []
        lost = len(load.waiting())
        doubled = len(load.conflicts)
        problems += [f"key {k}: cases {a} and {b}" for k, a, b in load.conflicts]
        offers = accepts = closes = not_closed = 0
        cases = {}
        for i in range(0, len(ids), 200):
            cases.update(self.c.cases(ids[i:i + 200]))
        for case_id in ids:
            case = cases.get(case_id)
            if case is None:
                lost += 1
                problems.append(f"{case_id}: acknowledged, not in Redis")
                continue
            whats = Counter(ev["what"] for ev in case["timeline"])
            offers += whats["offered"]
            accepts += whats["accepted"]
            closes += whats["closed"]
            for what in ("registered", "closed"):
                if whats[what] > 1:
                    doubled += 1
                    problems.append(f"{case_id}: {whats[what]} \"{what}\"")
            waiting, seen, held = False, set(), False
            for ev in case["timeline"]:
                # a case is accepted again only after it was taken back
                # (a climb, a reopening, parking)
                if ev["what"] == "accepted":
                    if held:
                        doubled += 1
                        problems.append(f"{case_id}: accepted while already held")
                    held = True
                elif ev["what"] in TAKEN_BACK:
                    held = False
                if ev["what"] == "offered" and ev.get("role", "lead") == "lead":
                    if waiting:
                        doubled += 1
                        problems.append(f"{case_id}: offered again while an offer waited")
                    oid = ev.get("offer")
                    if oid in seen:
                        doubled += 1
                        problems.append(f"{case_id}: offer {oid} made twice")
                    seen.add(oid)
                    waiting = True
                elif ev["what"] in OFFER_ENDS:
                    waiting = False
            if case.get("state") != "CLOSED":
                not_closed += 1
                problems.append(f"{case_id}: {case.get('state')} at the end")
        if not_closed:
            problems.insert(0, f"verifies refused: {self.verify_refusals or 'none'}; reports "
                               f"refused: {load.refusals or 'none'}")
        return {"acked": len(load.acked), "sent": load.sent, "lost": lost, "doubled": doubled,
                "not_closed": not_closed, "offers": offers, "accepts": accepts,
                "closes": closes, "problems": problems}


def conclude(life, path, events, settle_s=4):
    """After the chaos: settle_s more of load, then finish, check, and
    write the history to path; the check's result."""
    life.run(settle_s)
    life.finish()
    result = life.check()
    write_history(path, life, result, events)
    return result


def takeover_watch(life, t0, took, holder="disp-b"):
    """A function for Lifecycle.run: fills took with "lease" (seconds from
    t0, monotonic, until holder leads; "at" the moment) and "offer" (until
    a case filed after the takeover is offered: DISPATCHED or later)."""
    from lease_helpers import lease
    c = life.c

    def watch():
        if "lease" not in took and lease(c)[0] == holder:
            took["at"] = time.monotonic()
            took["lease"] = took["at"] - t0
        if "lease" in took and "offer" not in took:
            recent = [k for k in list(life.load.acked)[-5:]
                      if life.load.acked_at[k] - t0 > took["lease"]]
            states = [c.state(life.load.acked[k]) for k in recent]
            if any(s and s != "REGISTERED" for s in states):
                took["offer"] = time.monotonic() - t0
    return watch


def say(line):
    """Print a scenario's figures and keep them for the run's summary
    (build/chaos/report.txt)."""
    print(line)
    gc_cluster.SUMMARY.append(line)


def figures(result):
    return (f"{result['sent']} reports, {result['acked']} acknowledged; {result['offers']} offers, "
            f"{result['accepts']} accepts, {result['closes']} closes; lost {result['lost']}, "
            f"doubled {result['doubled']}, not closed {result['not_closed']}")


def assert_clean(result):
    assert (result["lost"], result["doubled"], result["not_closed"]) == (0, 0, 0), \
        figures(result) + "\n" + "\n".join(result["problems"][:20])


def write_history(path, lifecycle, result, events=()):
    """The run's history as JSON lines: acknowledgements, then each case's
    offers, accepts and close, then the chaos events, then the counts."""
    with open(path, "w") as f:
        for key, case_id in sorted(lifecycle.load.acked.items()):
            f.write(json.dumps({"what": "ack", "key": key, "case": case_id,
                                "t": round(lifecycle.load.acked_at[key] - lifecycle.load.t0, 3)})
                    + "\n")
        ids = sorted(set(lifecycle.load.acked.values()))
        for i in range(0, len(ids), 200):
            for case_id, case in lifecycle.c.cases(ids[i:i + 200]).items():
                for ev in (case or {}).get("timeline", []):
                    if ev["what"] in ("offered", "accepted", "closed"):
                        f.write(json.dumps({"what": ev["what"], "case": case_id,
                                            "unit": ev.get("offer_unit") or ev.get("who"),
                                            "offer": ev.get("offer")}) + "\n")
        for ev in events:
            f.write(json.dumps(ev) + "\n")
        f.write(json.dumps({"what": "counts", **{k: v for k, v in result.items()
                                                 if k != "problems"}}) + "\n")
