"""test_chaos_soak.py — a soak: CHAOS_SOAK_S seconds (300 by default; 3600
for the hour issue 11 asks) at CHAOS_SOAK_RATE (50) reports a second with
the simulated units, the operator verifying and the reporter evaluating
every case. The resident memory and open file descriptors of every daemon
are sampled each 10 s; from the end of the warm-up (a quarter of the run,
at least 200 s) to the end each must stay within 10 % of its value then.
Every report is acknowledged once and every case closes.

The warm-up is long because dispatch's RSS climbs for its first minutes
and then stays: ZeroMQ's buffers for each unit's connection fill as it
carries its first few hundred messages, heartbeats included (about 81 KB
each, docs/cluster.md). Here from 14.6 to 18.97 MiB, flat from 330 s of a
420 s run at 50 reports/s; LeakSanitizer finds nothing lost at exit. A
shorter run cannot tell that plateau from a leak."""

import os
import time

from chaos_history import Lifecycle, assert_clean, figures, say

SOAK_S = float(os.environ.get("CHAOS_SOAK_S", "300"))
RATE = float(os.environ.get("CHAOS_SOAK_RATE", "50"))
DAEMONS = ("intake", "dispatch", "escalate", "notify", "report")


def sample(c):
    out = {}
    for n in DAEMONS:
        pid = c[n].proc.pid
        with open(f"/proc/{pid}/status") as f:
            rss = next(int(line.split()[1]) for line in f if line.startswith("VmRSS:"))
        out[n] = (rss, len(os.listdir(f"/proc/{pid}/fd")))
    return out


def test_soak_rss_and_fds_stay_flat(cluster, gc_directory):
    c = cluster("notify", "dispatch", "escalate", "intake", "report",
                dispatch={"offer_timeout_ms": 3000})
    c.start("unit-sim", units="all", accept_rate=0.9, silence_rate=0.02, accept_delay_ms=20,
            resolve_delay_ms=500, seed=13)
    life = Lifecycle(c, gc_directory.servable(), RATE, prefix="soak", evaluate=True)
    warm = max(200.0, SOAK_S / 4) if SOAK_S > 260 else SOAK_S / 2    # short: see above
    samples = []
    t0 = time.monotonic()

    def each():
        if not samples or time.monotonic() - t0 - samples[-1][0] >= 10:
            samples.append((time.monotonic() - t0, sample(c)))
    try:
        life.run(SOAK_S, each)
        life.finish(timeout=120)
        samples.append((time.monotonic() - t0, sample(c)))
        result = life.check()
    finally:
        life.close()
    base = next(s for t, s in samples if t >= warm)
    end = samples[-1][1]
    drift = {}
    for n in DAEMONS:
        peak_rss = max(s[n][0] for t, s in samples if t >= warm)
        peak_fds = max(s[n][1] for t, s in samples if t >= warm)
        drift[n] = (base[n][0], peak_rss, base[n][1], peak_fds)
    parts = [f"{n} RSS {b // 1024}->{p // 1024} MiB ({(p - b) * 100 / b:+.0f} %), fds {bf}->{pf}"
             for n, (b, p, bf, pf) in drift.items()]
    #  the curve of any daemon that grew, to tell a plateau from a leak
    curves = [f"{n} RSS every 10 s (MiB): " + " ".join(f"{s[n][0] / 1024:.1f}" for _, s in samples)
              for n, (b, p, _, _) in drift.items() if p > b * 1.05]
    line = (f"soak {SOAK_S:g} s at {RATE:g} reports/s (warm-up {warm:g} s, {life.evaluated} "
            f"evaluations): " + "; ".join(parts + curves) + "; " + figures(result))
    say(line)
    assert_clean(result)
    for n, (b, p, bf, pf) in drift.items():
        assert p <= b * 1.10, f"{n}: RSS grew {b} -> {p} kB after the warm-up: {line}"
        assert pf <= bf * 1.10 + 1, f"{n}: fds grew {bf} -> {pf} after the warm-up: {line}"
    assert end
