#!/usr/bin/env python3
"""units_load.py — the units benchmark (scripts/bench-units.sh): 200 units
plugged in at once (gridcall-unit-sim, a generated street larger than the
demo's 102 units), N cases filed through intake, every case followed to
RESOLVED. Checks that no offer is lost or duplicated (each offer has
exactly one outcome; no unit is handed the same offer twice; every case is
accepted exactly once) and samples dispatch's resident memory.

    units_load.py [--units 200] [--cases 20000] [--rate 2000]
"""

import argparse
import json
import re
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tests" / "integration"))
from gc_cluster import Cluster, Reporter, pb, wait_for  # noqa: E402

CATEGORIES = ["env.garbage", "env.noise", "infra.streetlight", "safety.public_order"]


def directory(units, grids=40):
    lim = {"GRID": 1440, "COMMUNITY": 2880, "STREET": 4320, "DISTRICT": 10080}
    return {"version": 1,
            "street": {"id": "bench", "code": "BN", "name": "bench street", "utc_offset_minutes": 480},
            "communities": [{"id": f"C{c:02d}", "name": f"c{c}"} for c in range(1, 5)],
            "grids": [{"id": f"G{g:03d}", "name": f"g{g}", "community": f"C{(g - 1) % 4 + 1:02d}",
                       "worker": "w"} for g in range(1, grids + 1)],
            "categories": [{"code": c, "name": c, "kind": "incident", "start_tier": "GRID",
                            "limits_minutes": lim} for c in CATEGORIES],
            "units": [{"id": f"U{u:04d}", "name": f"unit {u}", "kind": "bench",
                       "responsible": "r", "contact": "1", "tiers": ["GRID", "COMMUNITY"],
                       "categories": [CATEGORIES[u % 4], CATEGORIES[(u + 1) % 4]],
                       "coverage": {"communities": [f"C{u % 4 + 1:02d}", f"C{(u + 2) % 4 + 1:02d}"]},
                       "capacity": 20} for u in range(1, units + 1)]}


def rss_kb(pid):
    try:
        for line in open(f"/proc/{pid}/status"):
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except OSError:
        return 0
    return 0


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--units", type=int, default=200)
    ap.add_argument("--cases", type=int, default=20000)
    ap.add_argument("--rate", type=int, default=2000)
    args = ap.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="gc-bench-units-"))
    path = folder / "street.json"
    doc = directory(args.units)
    path.write_text(json.dumps(doc))
    c = Cluster(directory=path, log_level="info", name="bench-units")
    ok = False
    try:
        c.load_directory()
        c.start("notify")
        c.start("dispatch", offer_timeout_ms=10000, retry_ms=300, sweep_ms=200, lease_ms=3000,
                log_level="notice")
        c.start("intake", log_level="notice")
        c.start("unit-sim", units="all", accept_rate=0.9, silence_rate=0.02, accept_delay_ms=5,
                resolve_delay_ms=300, progress_notes=0, seed=11)
        pid = c["dispatch"].proc.pid
        P = c.key_prefix
        wait_for(lambda: c.redis.call("HLEN", f"{P}units:connected") >= args.units, 30,
                 f"{args.units} units connected")
        rss = [rss_kb(pid)]
        grids = [g["id"] for g in doc["grids"]]
        r = c.reporter()            # as the pytest gateway, with its key
        t0 = time.monotonic()
        sent = answered = 0
        next_sample = t0
        while answered < args.cases:
            due = min(args.cases, int((time.monotonic() - t0) * args.rate) + 1)
            while sent < due and sent - answered < 500:
                r.send("report", Reporter.new_report(grids[sent % len(grids)],
                                                     CATEGORIES[sent % 4], f"bench {sent}",
                                                     key=f"bench-{sent}"))
                sent += 1
            while r.sock.poll(1 if sent < args.cases else 50):
                kind, msg = r.poll_recv()
                if kind != "report.ok":
                    raise SystemExit(f"report refused: {msg}")
                answered += 1
            if time.monotonic() >= next_sample:
                rss.append(rss_kb(pid))
                next_sample += 1
        filed = time.monotonic() - t0

        def resolved():
            if time.monotonic() >= resolved.sample:
                rss.append(rss_kb(pid))
                resolved.sample += 1
            st = c.stats()["state"]
            n = int(st.get("RESOLVED", 0))
            return n >= args.cases and n
        resolved.sample = time.monotonic()
        wait_for(resolved, 600, "every case resolved", interval=0.5)
        took = time.monotonic() - t0
        rss.append(rss_kb(pid))
        totals = c.stats()["total"]
        offers = int(totals.get("offers", 0))
        outcomes = Counter()
        ids = [k[len(P) + 5:] for k in c.case_keys()]
        for i in range(0, len(ids), 500):
            for case in c.cases(ids[i:i + 500]).values():
                whats = Counter(e["what"] for e in case["timeline"])
                outcomes["accepted"] += whats["accepted"]
                outcomes["declined"] += whats["declined"]
                outcomes["expired"] += whats["offer_expired"]
                outcomes["withdrawn"] += whats["offer_withdrawn"]
                outcomes["offered"] += whats["offered"]
                if whats["accepted"] != 1:
                    outcomes["cases accepted != 1"] += 1
        live = sum(int(c.redis.call("ZCARD", f"{P}unit:{u['id']}:offers")) for u in doc["units"])
        log = (c.folder / "unit-sim.log").read_text(errors="replace")
        received = Counter(re.findall(r"INFO \S+ offer (\d+) case \S+ \(", log))
        dup_received = sum(1 for n in received.values() if n > 1)
        lost = outcomes["offered"] - (outcomes["accepted"] + outcomes["declined"]
                                      + outcomes["expired"] + outcomes["withdrawn"])
        print(f"units connected: {args.units}; cases: {args.cases} filed in {filed:.1f} s, "
              f"all resolved in {took:.1f} s ({args.cases / took:.0f} cases/s end to end)")
        print(f"offers: {offers} committed, {outcomes['offered']} in timelines, "
              f"{len(received)} received by units; accepted {outcomes['accepted']}, "
              f"declined {outcomes['declined']}, expired {outcomes['expired']}, "
              f"withdrawn {outcomes['withdrawn']}")
        print(f"offers lost (no outcome): {lost}; offers received twice: {dup_received}; "
              f"cases not accepted exactly once: {outcomes['cases accepted != 1']}; "
              f"offers still indexed: {live}")
        print(f"dispatch RSS: start {rss[0] / 1024:.1f} MB, peak {max(rss) / 1024:.1f} MB, "
              f"end {rss[-1] / 1024:.1f} MB ({len(rss)} samples)")
        ok = (lost == 0 and dup_received == 0 and outcomes["cases accepted != 1"] == 0
              and offers == outcomes["offered"] and live == 0)
        print("units bench:", "PASS" if ok else "FAIL")
    finally:
        c.close(keep=not ok)
        if not ok:
            print(f"logs kept in {c.folder}")
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
