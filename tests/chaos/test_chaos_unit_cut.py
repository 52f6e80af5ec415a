"""test_chaos_unit_cut.py — a unit's network cut, the unit on a host of its
own (a network namespace, chaos_net), reaching dispatch over TCP with
CurveZMQ across a veth pair.

The unit simulator holds some cases (accepted, resolving slowly) and
leaves other offers unanswered. The cut (iptables DROP on the unit's host:
no reset, only silence) must be detected within 4 s (heartbeat 1 s x 3
missed), its waiting offers moved on within 5 s, and when the network
comes back the unit reconnects and dispatch's welcome hands it the cases
it held."""

import re
import time

import pytest

import chaos_net
from chaos_history import say
from chaos_net import HostDaemon, log_time
from cluster_helpers import free_port
from gc_cluster import BUILD, wait_for

why = chaos_net.available()
pytestmark = pytest.mark.skipif(why is not None, reason=why or "")


def test_a_units_network_cut(cluster, gc_directory):
    with chaos_net.Host("unit") as host:
        _run(cluster, gc_directory, host)


def _run(cluster, gc_directory, host):
    c = cluster("notify")
    port = free_port()
    units_tcp = f"tcp://{host.gateway}:{port}"
    c.start("dispatch", unit_bind=units_tcp, heartbeat_ms=1000, heartbeat_liveness=3,
            offer_timeout_ms=120000)
    c.start("intake")
    pairs = gc_directory.servable()
    unit_id = gc_directory.fitting(gc_directory.start_tier(pairs[0][1]), *pairs[0])[0]
    mine = [(g, cat) for g, cat in pairs
            if unit_id in gc_directory.fitting(gc_directory.start_tier(cat), g, cat)]
    options, _, _ = c._defaults("unit-sim")
    options = {**c.common(), **c.curve_options("unit-sim"), **options,
               "dispatch_endpoint": units_tcp, "units": unit_id, "accept_rate": 1,
               "silence_rate": 0.5, "accept_delay_ms": 50, "resolve_delay_ms": 3600000,
               "progress_notes": 0, "seed": 3}
    sim = HostDaemon(host, "unit-sim", BUILD / "gridcall-unit-sim", options, c.folder)
    c.daemons["unit-sim"] = sim
    sim.start()
    wait_for(lambda: c.redis.call("HEXISTS", f"{c.key_prefix}units:connected", unit_id) == 1,
             10, f"{unit_id} to connect from its host")
    reporter = c.reporter()
    load = f"{c.key_prefix}unit:{unit_id}:load"
    HELD = 9000000000000000
    n = 0

    def loads():
        scores = c.redis.call("ZRANGE", load, 0, -1, "WITHSCORES")
        held = [scores[i] for i in range(0, len(scores), 2) if int(scores[i + 1]) >= HELD]
        waiting = [scores[i] for i in range(0, len(scores), 2) if int(scores[i + 1]) < HELD]
        return held, waiting
    # file until the unit holds two cases and two offers wait for its answer
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        held, waiting = loads()
        if len(held) >= 2 and len(waiting) >= 2:
            break
        g, cat = mine[n % len(mine)]
        reporter.report(g, cat, f"cut {n}")
        n += 1
        time.sleep(0.3)
    held, waiting = loads()
    assert len(held) >= 2 and len(waiting) >= 2, (held, waiting)
    time.sleep(0.5)                 # the last answers settle
    held, waiting = loads()

    t_cut = time.time()
    host.cut()
    pattern = re.compile(rf'^(\S+) .*unit "{unit_id}" silent for \d+ heartbeats')
    found = wait_for(lambda: next((log_time(l) for l in c["dispatch"].log.read_text(
        errors="replace").splitlines() if pattern.match(l) and log_time(l) >= t_cut - 1), None),
        10, "dispatch to notice the cut")
    detected = found - t_cut

    def moved():
        out = {}
        for case_id, case in c.cases(waiting).items():
            ev = [e for e in case["timeline"] if e["what"] == "offer_withdrawn"]
            if not ev:
                return None
            out[case_id] = ev[-1]
        return out
    withdrawn = wait_for(moved, 10, "the waiting offers to move on")
    moved_s = max(int(ev["at"]) for ev in withdrawn.values()) / 1000 - t_cut

    time.sleep(2)
    t_heal = time.time()
    host.heal()
    welcome = re.compile(rf"^(\S+) .*{unit_id} holds (\d+) cases from an earlier session")

    def back():
        for line in sim.log.read_text(errors="replace").splitlines():
            m = welcome.match(line)
            if m and log_time(line) >= t_heal - 0.5:
                return log_time(line), int(m.group(2))
        return None
    t_back, held_back = wait_for(back, 30, "the unit to reconnect and be given its held cases")
    held_after, _ = loads()
    assert held_back == len(held) and sorted(held_after) == sorted(held), (held_back, held, held_after)
    line = (f"unit network cut: detected after {detected:.2f} s, {len(waiting)} waiting offers "
            f"moved on after {moved_s:.2f} s, reconnected {t_back - t_heal:.2f} s after the "
            f"network came back holding its {held_back} cases")
    say(line)
    assert detected <= 4.0, line
    assert moved_s <= 5.0, line

