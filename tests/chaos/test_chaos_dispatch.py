"""test_chaos_dispatch.py — SIGSTOP of the dispatch leader for CHAOS_STOP_S
(10 s) under steady load, then SIGCONT.

The standby takes the lease once it runs out, units move to it (the unit
kit holds a list of endpoints), new cases are offered again; at SIGCONT
the old leader's late writes are refused by the fence (gc_fenced) and it
stands by. The history (chaos_history) shows nothing acknowledged lost,
doubled or left open. The bound asserted is the design's: takeover within
the lease plus a standby's retry interval.
"""

import os
import signal
import time

from chaos_history import Lifecycle, assert_clean, conclude, figures, say, takeover_watch
from gc_cluster import wait_for
from lease_helpers import LEASE_MS, lease, two_dispatches

STOP_S = float(os.environ.get("CHAOS_STOP_S", "10"))
RATE = 15


def test_sigstop_of_the_leader_standby_takes_over_and_the_fence_refuses_late_writes(
        cluster, gc_directory):
    c = cluster("notify")
    e = c.endpoints
    ends = two_dispatches(c, offer_timeout_ms=4000)
    both_work = f"{e['work']},{ends['work_b']}"
    c.start("intake", dispatch_endpoint=both_work)
    c.start("unit-sim", dispatch_endpoint=f"{e['units']},{ends['units_b']}", units="all",
            accept_rate=1, silence_rate=0, accept_delay_ms=20, resolve_delay_ms=300, seed=11)
    work = gc_directory.servable()
    life = Lifecycle(c, work, RATE, prefix="stop")
    events = []
    try:
        life.run(3)
        _, epoch_a = lease(c)
        a = c["dispatch"]
        a.proc.send_signal(signal.SIGSTOP)
        t_stop = time.monotonic()
        events.append({"what": "SIGSTOP", "daemon": "dispatch", "t": round(t_stop - life.load.t0, 3)})
        took = {}
        watch = takeover_watch(life, t_stop, took)
        life.run(STOP_S, watch)
        a.proc.send_signal(signal.SIGCONT)
        events.append({"what": "SIGCONT", "daemon": "dispatch",
                       "t": round(time.monotonic() - life.load.t0, 3)})
        wait_for(lambda: (life.step(), "no longer leading" in a.log.read_text(errors="replace"))[1],
                 10, "the old leader to step down", interval=0)
        result = conclude(life, c.folder / "history-sigstop.jsonl", events)
    finally:
        if c["dispatch"].alive():
            c["dispatch"].proc.send_signal(signal.SIGCONT)
        life.close()
    log_a = c["dispatch"].log.read_text(errors="replace")
    fenced = log_a.count("refused by the fence")
    holder, epoch_b = lease(c)
    assert holder == "disp-b" and int(epoch_b) > int(epoch_a), (holder, epoch_b, epoch_a)
    assert "lease" in took, "the standby never took the lease"
    # the standby's bound: the lease's time to live plus one retry (lease/6)
    # after the last renewal, which came at most lease/3 before the stop
    assert took["lease"] <= (LEASE_MS + LEASE_MS / 6) / 1000 + 0.5, took
    assert fenced >= 1, "the old leader's late writes were not refused by the fence"
    assert c["dispatch"].alive() and c["dispatch-b"].alive()
    line = (f"dispatch SIGSTOP {STOP_S:g} s under {RATE} reports/s: standby leads after "
            f"{took['lease']:.2f} s (lease {LEASE_MS} ms), new cases offered again after "
            f"{took.get('offer', float('nan')):.2f} s; old leader fenced at SIGCONT "
            f"({fenced} refusal); " + figures(result))
    say(line)
    assert_clean(result)
