"""test_chaos_dispatch.py — several dispatches: one leads under a lease in
Redis, the others stand by; every write of the leader carries the lease's
epoch and the library refuses an older one (gc_fenced, 90_cluster.lua).

- a standby answers hello UNAVAILABLE, naming the leader; a call with an
  old epoch is refused and writes nothing;
- SIGSTOP of the leader for CHAOS_STOP_S (10 s) under steady load: the
  standby takes the lease once it runs out, units move to it (the unit kit
  holds a list of endpoints), new cases are offered again; at SIGCONT the
  old leader's late writes are refused by the fence and it stands by;
  nothing acknowledged is lost, doubled or left open (chaos_history);
- SIGTERM of the leader gives the lease back at once.

Figures are printed (and kept for the run's summary); the bound asserted is
the design's: takeover within the lease plus a standby's retry interval,
measured from when the lease ran out as Redis saw it.
"""

import os
import signal
import time

import pytest

import gc_cluster
from chaos_history import Lifecycle, assert_clean, figures, write_history
from gc_cluster import BUILD, Daemon, pb, wait_for

LEASE_MS = 3000
STOP_S = float(os.environ.get("CHAOS_STOP_S", "10"))
RATE = 15


def start_dispatch(c, name, instance, units, work, **overrides):
    options, _, _ = c._defaults("dispatch")
    options = {**c.common(), **c.credentials("dispatch"), **c.curve_options("dispatch"),
               **options, "unit_bind": units, "work_bind": work, "instance": instance,
               "leader_lease_ms": LEASE_MS, **overrides}
    d = Daemon(name, BUILD / "gridcall-dispatch", options, c.folder, [units])
    c.daemons[name] = d
    return d.start()


def lease(c):
    """(holder, epoch) of the dispatch lease, or (None, None)."""
    v = c.redis.call("GET", f"{c.key_prefix}dispatch:lease")
    if not v:
        return None, None
    who, epoch = v.rsplit(" ", 1)
    return who, epoch


def two_dispatches(c, **overrides):
    e = c.endpoints
    ends = {"units_b": f"ipc://{c.folder}/units-b.sock", "work_b": f"ipc://{c.folder}/work-b.sock"}
    start_dispatch(c, "dispatch", "disp-a", e["units"], e["work"], **overrides)
    wait_for(lambda: lease(c)[0] == "disp-a", 10, "dispatch A to lead")
    start_dispatch(c, "dispatch-b", "disp-b", ends["units_b"], ends["work_b"], **overrides)
    return ends


def test_a_standby_refuses_hello_and_the_fence_refuses_an_old_epoch(cluster, gc_directory):
    c = cluster("notify")
    ends = two_dispatches(c)
    who, epoch = lease(c)
    assert who == "disp-a"
    grid, category = gc_directory.servable()[0]
    unit_id = gc_directory.fitting(gc_directory.start_tier(category), grid, category)[0]
    u = gc_cluster.TestUnit(c.ctx, ends["units_b"], unit_id, cert=c.unit_cert(unit_id),
                            server_key=c.server_key("dispatch"))
    c.clients.append(u)
    kind, msg = u.hello()
    assert kind == "error" and msg.code == pb.ERROR_UNAVAILABLE, (kind, msg)
    assert "stands by" in msg.message and "disp-a" in msg.message, msg.message
    # the leader serves it
    u2 = c.unit(unit_id)
    assert u2 is not None
    # a write with an old epoch is refused and changes nothing
    seen_before = c.redis.call("HGET", f"{c.key_prefix}units:connected", "U-NOBODY")
    stale = str(int(epoch) - 1)
    reply = c.redis.call("FCALL", "gc_fenced", 0, c.key_prefix, stale, "gc_units_seen", "U-NOBODY")
    assert '"FENCED"' in reply, reply
    assert c.redis.call("HGET", f"{c.key_prefix}units:connected", "U-NOBODY") == seen_before
    reply = c.redis.call("FCALL", "gc_fenced", 0, c.key_prefix, epoch, "gc_units_seen", "U-NOBODY")
    assert '"ok":true' in reply, reply
    # a function outside the fenced set is refused whatever the epoch
    reply = c.redis.call("FCALL", "gc_fenced", 0, c.key_prefix, epoch, "gc_dir_load", "{}")
    assert '"BAD_VALUE"' in reply, reply
    # SIGTERM: the lease is given back, the standby leads within its retry
    t0 = time.monotonic()
    assert c["dispatch"].stop() == 0
    wait_for(lambda: lease(c)[0] == "disp-b", 5, "dispatch B to lead after A's SIGTERM")
    took = time.monotonic() - t0
    assert int(lease(c)[1]) == int(epoch) + 1
    line = f"dispatch lease: SIGTERM of the leader, standby leads after {took:.2f} s"
    print(line)
    gc_cluster.SUMMARY.append(line)


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

        def watch():
            if "lease" not in took and lease(c)[0] == "disp-b":
                took["lease"] = time.monotonic() - t_stop
            if "lease" in took and "offer" not in took:
                # a case filed after the takeover is offered (DISPATCHED or later)
                recent = [k for k in list(life.load.acked)[-5:]
                          if life.load.acked_at[k] - t_stop > took["lease"]]
                states = [c.state(life.load.acked[k]) for k in recent]
                if any(s and s != "REGISTERED" for s in states):
                    took["offer"] = time.monotonic() - t_stop
        life.run(STOP_S, watch)
        a.proc.send_signal(signal.SIGCONT)
        events.append({"what": "SIGCONT", "daemon": "dispatch",
                       "t": round(time.monotonic() - life.load.t0, 3)})
        wait_for(lambda: (life.step(), "no longer leading" in a.log.read_text(errors="replace"))[1],
                 10, "the old leader to step down", interval=0)
        life.run(4)
        life.finish()
        result = life.check()
        write_history(c.folder / "history-sigstop.jsonl", life, result, events)
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
    print(line)
    gc_cluster.SUMMARY.append(line)
    assert_clean(result)
