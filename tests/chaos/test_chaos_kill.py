"""test_chaos_kill.py — kill -9, CHAOS_KILLS times (40 by default), under
steady load: two of every daemon (dispatch as leader and standby), Redis
as a primary, two replicas and three Sentinels, intake acknowledging a
report only once a replica has it (wait_replicas 1).

Each round kills one victim, in turn every daemon instance and, every
fifth round, the Redis primary (the Sentinels promote a replica; the
killed node comes back and is made a replica), then starts the killed
daemon again. The reporters resend what was not acknowledged (same key),
the grid worker verifies what was resolved. At the end the history
checker counts lost, doubled and not closed: each must be 0. The recovery
after each Redis failover (the first report acknowledged after the
Sentinels switched) is printed, and asserted ≤ 5 s as issue 11 sets.
"""

import os
import random
import time

from chaos_history import Lifecycle, assert_clean, figures, say, write_history
from gc_cluster import BUILD, Daemon, wait_for
from lease_helpers import LEASE_MS
from cluster_helpers import SentinelNode
from gc_cluster import Cluster
from test_sentinel import MASTER, SentinelCluster, Topology

KILLS = int(os.environ.get("CHAOS_KILLS", "40"))
#  Sentinel's down-after-milliseconds. test_sentinel uses 500 ms; under
#  this suite's load (a replica's full sync after each restart, two cores
#  shared) a primary that is only slow for half a second was taken for
#  dead and replaced while it still took writes, a split brain whose writes
#  are lost (seen here: closes and unit replies gone after three failovers
#  in two seconds). 1.5 s is still well inside the 5 s recovery bound.
DOWN_AFTER_MS = 1500
RATE = 30
RECOVERY_LIMIT_S = 5.0


class KillTopology(Topology):
    def __init__(self, folder, users):
        super().__init__(folder, users, sentinels=0)
        self.sentinels = [SentinelNode(folder, i, self.primary, MASTER,
                                       down_after_ms=DOWN_AFTER_MS).start() for i in range(3)]


class KillCluster(SentinelCluster):
    """SentinelCluster with KillTopology's Sentinels."""

    def __init__(self, **kw):       # pylint: disable=super-init-not-called
        self.topology = None
        Cluster.__init__(self, **kw)
        self.redis_server.stop()
        self.topology = self.redis_server = KillTopology(self.folder, self.redis_server)
        wait_for(self.redis_server.ready, 20, "Sentinels to see the primary, both replicas "
                 "and each other")
        self.setup_redis()


def second(c, name, **overrides):
    options, binds, ready = c._defaults(name)
    options = {**c.common(), **c.credentials(name), **c.curve_options(name), **options,
               **overrides}
    binds = [options[k] for k in ("bind", "work_bind", "pub_bind", "unit_bind")
             if k in options and not (name == "dispatch" and k == "work_bind")]
    d = Daemon(f"{name}-b", BUILD / f"gridcall-{name}", options, c.folder, binds, ready)
    c.daemons[d.name] = d
    return d.start()


def replicas_online(c):
    """The primary the Sentinels name has both replicas in sync."""
    try:
        info = c.redis_server.current.info("replication")
    except StopIteration:
        return False
    return info.get("role") == "master" and int(info.get("connected_slaves", 0)) == 2 and all(
        "state=online" in info.get(f"slave{i}", "") for i in range(2))


def test_kill_9_of_every_instance_and_the_redis_primary(request, gc_directory):
    c = KillCluster(name=request.node.name)
    ok = False
    try:
        _run(c, gc_directory, request)
        ok = True
    finally:
        if not ok:
            print(f"\n{c.name}: logs kept in {c.folder}")
        c.close(keep=not ok or bool(c.crashed()))


def _run(c, gc_directory, request):
    e = c.endpoints
    b = {k: f"ipc://{c.folder}/{k}-b.sock" for k in ("intake", "notify", "events", "units", "work")}
    c.load_directory()
    fast = {"sweep_ms": 200, "lease_ms": 1000}
    c.start("notify", **fast)
    second(c, "notify", work_bind=b["notify"], pub_bind=b["events"], **fast)
    disp = {"offer_timeout_ms": 3000, "retry_ms": 300, "sweep_ms": 100, "lease_ms": 1000,
            "leader_lease_ms": LEASE_MS}
    c.start("dispatch", instance="disp-a", **disp)
    c["dispatch"].binds = [e["units"]]      # restarted, it stands by: work is not bound
    second(c, "dispatch", instance="disp-b", unit_bind=b["units"], work_bind=b["work"],
           notify_endpoint=b["notify"], **disp)
    works = f"{e['work']},{b['work']}"
    c.start("escalate", dispatch_endpoint=works)
    second(c, "escalate", dispatch_endpoint=works, notify_endpoint=b["notify"])
    c.start("intake", dispatch_endpoint=works, wait_replicas=1, wait_timeout_ms=500)
    second(c, "intake", bind=b["intake"], dispatch_endpoint=works, notify_endpoint=b["notify"],
           wait_replicas=1, wait_timeout_ms=500)
    c.start("unit-sim", dispatch_endpoint=f"{e['units']},{b['units']}", units="all",
            accept_rate=1, silence_rate=0, accept_delay_ms=10, resolve_delay_ms=300, seed=5)
    daemons = ["intake", "intake-b", "dispatch", "dispatch-b", "escalate", "escalate-b",
               "notify", "notify-b"]
    life = Lifecycle(c, gc_directory.servable(), RATE, endpoints=[e["intake"], b["intake"]],
                     prefix="kill")
    rng = random.Random(int(os.environ.get("CHAOS_SEED", "11")))
    events, killed, recoveries = [], {}, []
    try:
        life.run(2)
        for n in range(KILLS):
            if n % 5 == 4:
                victim = "redis"
                wait_for(lambda: (life.step(), replicas_online(c))[1], 30,
                         "the primary to have both replicas online again", interval=0)
                old = c.redis_server.current
                t = time.monotonic()
                old.kill9()
                switched = []

                def recovered():
                    life.step()
                    if not switched and any(s.master() not in (None, f"127.0.0.1:{old.port}")
                                            for s in c.redis_server.sentinels):
                        switched.append(time.monotonic())
                    return switched and any(a > switched[0] for a in life.load.acked_at.values())
                wait_for(recovered, 30, "a report acknowledged after the failover", interval=0)
                first = min(a for a in life.load.acked_at.values() if a > switched[0])
                recoveries.append((switched[0] - t, first - switched[0]))
                old.start()             # back as a replica (the Sentinels reconfigure it)
                c.forget_connection()
            else:
                victim = rng.choice(daemons)
                c[victim].kill9()
                life.run(0.5)
                c[victim].restart()
            killed[victim] = killed.get(victim, 0) + 1
            events.append({"what": "kill -9", "victim": victim,
                           "t": round(time.monotonic() - life.load.t0, 3)})
            life.run(1.0)
        life.finish(timeout=120)
        c.forget_connection()
        result = life.check()
        write_history(c.folder / "history-kill.jsonl", life, result, events)
    finally:
        life.close()
    worst = max((r for _, r in recoveries), default=0.0)
    line = (f"kill -9 x{KILLS} under {RATE} reports/s ({', '.join(f'{k} {v}' for k, v in sorted(killed.items()))}); "
            f"Redis failovers: Sentinel switched after "
            f"{', '.join(f'{s:.1f}' for s, _ in recoveries) or '-'} s, reports acknowledged again "
            f"{', '.join(f'{r:.2f}' for _, r in recoveries) or '-'} s after the switch; "
            + figures(result))
    say(line)
    assert_clean(result)
    assert worst <= RECOVERY_LIMIT_S, line
    for name in daemons:
        assert c[name].alive(), f"{name} is not running at the end"
