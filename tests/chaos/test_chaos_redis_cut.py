"""test_chaos_redis_cut.py — the dispatch leader cut from Redis for
CHAOS_CUT_S (10 s) under steady load, then the network restored.

The leader runs on a host of its own (a network namespace, chaos_net) and
reaches Redis over TCP across the veth pair; the standby, intake, notify
and the units stay in the root namespace (the units and wake-ups reach
both dispatches over ipc, which a network namespace does not separate, so
only the leader's Redis link is cut). The cut is iptables DROP on the
leader's host: no reset, Redis calls time out. The lease lapses in Redis,
the standby takes it with a new epoch, the units move to it; the cut
leader, its lease run out with no answer, steps down on its own. Every
command the cut leader sends that reaches Redis after the takeover is
watched (MONITOR, by its address on the veth): none may be a case write
outside the fence, and those inside carry the old epoch, which the library
refuses (gc_fenced). The history (chaos_history) shows nothing
acknowledged lost, doubled or left open.
"""

import os
import re
import socket
import threading
import time
from collections import Counter

import pytest

import chaos_net
from chaos_history import Lifecycle, assert_clean, conclude, figures, say, takeover_watch
from chaos_net import HostDaemon, log_time
from cluster_helpers import free_port
from gc_cluster import BUILD, wait_for
from lease_helpers import LEASE_MS, lease, start_dispatch

why = chaos_net.available()
pytestmark = pytest.mark.skipif(why is not None, reason=why or "")

CUT_S = float(os.environ.get("CHAOS_CUT_S", "10"))
RATE = 15
#  what the leader may call outside the fence: the lease, its status record,
#  and reads (the directory, a unit's cases): none writes a case
UNFENCED_OK = {"gc_lead", "gc_resign", "gc_instance_beat", "gc_version", "gc_dir_version",
               "gc_dir_get", "gc_unit_cases"}
_LINE = re.compile(r'^\+?[\d.]+ \[\d+ ([\d.]+):\d+\] (.*)$')
_ARG = re.compile(r'"((?:[^"\\]|\\.)*)"')


class Monitor:
    """MONITOR on Redis's socket as the admin, keeping (monotonic time, args)
    of every command whose client address is address."""

    def __init__(self, c, address):
        self.address = address
        self.seen = []
        self.stopped = False
        user, password = c.redis_server.auth()
        self.sock = socket.socket(socket.AF_UNIX)
        self.sock.connect(str(c.redis_server.socket))
        self.sock.settimeout(0.5)
        self.sock.sendall(self._command("AUTH", user, password) + self._command("MONITOR"))
        self.thread = threading.Thread(target=self._read, daemon=True)
        self.thread.start()

    @staticmethod
    def _command(*args):
        out = f"*{len(args)}\r\n".encode()
        for a in args:
            a = str(a).encode()
            out += b"$%d\r\n%s\r\n" % (len(a), a)
        return out

    def _read(self):
        buf = b""
        while not self.stopped:
            try:
                data = self.sock.recv(65536)
            except socket.timeout:
                continue
            except OSError:
                return
            if not data:
                return
            buf += data
            *lines, buf = buf.split(b"\r\n")
            now = time.monotonic()
            for raw in lines:
                m = _LINE.match(raw.decode(errors="replace"))
                if m and m.group(1) == self.address:
                    self.seen.append((now, _ARG.findall(m.group(2))))

    def close(self):
        self.stopped = True
        self.thread.join(5)
        self.sock.close()


def test_the_leader_cut_from_redis_steps_down_and_the_standby_takes_over(cluster, gc_directory):
    with chaos_net.Host("disp") as host:
        _run(cluster, gc_directory, host)


def _run(cluster, gc_directory, host):
    c = cluster("notify")
    e = c.endpoints
    # Redis also listens on the veth's root side, for the leader's host
    port = free_port()
    c.redis.call("CONFIG", "SET", "bind", f"127.0.0.1 {host.gateway}")
    c.redis.call("CONFIG", "SET", "port", str(port))
    options, _, _ = c._defaults("dispatch")
    options = {**c.common(), **c.credentials("dispatch"), **c.curve_options("dispatch"),
               **options, "instance": "disp-a", "leader_lease_ms": LEASE_MS,
               "offer_timeout_ms": 4000, "redis_socket": "", "redis_host": host.gateway,
               "redis_port": port}
    a = HostDaemon(host, "dispatch", BUILD / "gridcall-dispatch", options, c.folder,
                   [e["units"]])
    c.daemons["dispatch"] = a
    a.start()
    wait_for(lambda: lease(c)[0] == "disp-a", 10, "dispatch A (on its host) to lead")
    units_b, work_b = f"ipc://{c.folder}/units-b.sock", f"ipc://{c.folder}/work-b.sock"
    start_dispatch(c, "dispatch-b", "disp-b", units_b, work_b, offer_timeout_ms=4000)
    c.start("intake", dispatch_endpoint=f"{e['work']},{work_b}")
    c.start("unit-sim", dispatch_endpoint=f"{e['units']},{units_b}", units="all",
            accept_rate=1, silence_rate=0, accept_delay_ms=20, resolve_delay_ms=300, seed=13)
    life = Lifecycle(c, gc_directory.servable(), RATE, prefix="rcut")
    monitor = Monitor(c, host.address)
    events = []
    try:
        life.run(3)
        _, epoch_a = lease(c)
        before = sum(1 for _, args in monitor.seen if args[:2] == ["FCALL", "gc_fenced"])
        t_cut, t_cut_wall = time.monotonic(), time.time()
        host.cut()
        events.append({"what": "cut", "daemon": "dispatch", "t": round(t_cut - life.load.t0, 3)})
        took = {}
        watch = takeover_watch(life, t_cut, took)
        life.run(CUT_S, watch)
        down = [l for l in a.log.read_text(errors="replace").splitlines()
                if "no longer leading" in l and log_time(l) >= t_cut_wall - 0.5]
        t_heal = time.monotonic()
        host.heal()
        events.append({"what": "heal", "daemon": "dispatch", "t": round(t_heal - life.load.t0, 3)})
        # the healed host reconnects and stands by behind B
        wait_for(lambda: (life.step(), any(args[:2] == ["FCALL", "gc_lead"]
                                           for t, args in monitor.seen if t > t_heal))[1],
                 15, "dispatch A to reach Redis again", interval=0)
        result = conclude(life, c.folder / "history-redis-cut.jsonl", events)
    finally:
        monitor.close()
        life.close()
    holder, epoch_b = lease(c)
    assert holder == "disp-b" and int(epoch_b) > int(epoch_a), (holder, epoch_b, epoch_a)
    assert "lease" in took, "the standby never took the lease"
    assert before > 0, "the monitor saw none of the leader's writes before the cut"
    # the standby's bound: the lease's time to live plus one retry (lease/6)
    # after the last renewal, which came at most lease/3 before the cut
    assert took["lease"] <= (LEASE_MS + LEASE_MS / 6) / 1000 + 0.5, took
    # A stepped down on its own, while still cut off
    assert down, "the cut leader did not step down before the network came back"
    stepped = log_time(down[0]) - t_cut_wall
    reason = down[0].split("): ", 1)[-1].replace("; standing by", "")
    # what A sent that reached Redis after B led: no case write outside the
    # fence, and every fenced one carries A's old epoch (refused)
    late = [args for t, args in monitor.seen if t >= took["at"] and args[:1] == ["FCALL"]]
    fenced = [args for args in late if args[1] == "gc_fenced"]
    unfenced = [args for args in late if args[1] != "gc_fenced" and args[1] not in UNFENCED_OK]
    assert not unfenced, f"the cut leader wrote outside the fence: {unfenced[:5]}"
    assert all(args[4] == epoch_a for args in fenced), fenced[:5]
    assert a.alive() and c["dispatch-b"].alive()
    calls = ", ".join(f"{fn} {n}" for fn, n in sorted(Counter(args[1] for args in late).items()))
    line = (f"dispatch leader cut from Redis {CUT_S:g} s under {RATE} reports/s: standby leads "
            f"after {took['lease']:.2f} s (lease {LEASE_MS} ms), new cases offered again after "
            f"{took.get('offer', float('nan')):.2f} s; the cut leader stepped down after "
            f"{stepped:.2f} s ({reason}); {len(late)} of its calls reached Redis after the "
            f"takeover ({calls}), {len(fenced)} fenced with the old epoch (refused), 0 case writes unfenced; "
            + figures(result))
    say(line)
    assert_clean(result)
