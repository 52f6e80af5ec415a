"""test_sentinel.py — the daemons find the Redis primary through Sentinel
and follow a failover; intake's wait_replicas acknowledges a report only
once a replica has it.

The failover test runs a primary, two replicas and three Sentinels on
loopback ports, intake (wait_replicas 1), dispatch, escalate, notify and
the unit simulator with `sentinels` set, files reports at a steady rate
with retries, kills the primary with SIGKILL, and checks that reports are
registered again within the issue's 5 s of the failover (from the moment
the Sentinels name the new primary: how long they take to agree is their
own down-after-milliseconds and election, printed beside it), that no acknowledged report is
missing from the promoted replica, that no report became two cases, and
that dispatch offers the cases filed after the failover."""

import time

import gc_cluster
from cluster_helpers import (RedisNode, SentinelNode, case_states, cluster_load, free_port,
                             own_primary)
from gc_cluster import Cluster, Reporter, error_name, pb, wait_for

MASTER = "gridcall"
RATE = 60                   # reports per second
RECOVERY_LIMIT_S = 5.0      # issue 11: recovery after a Redis failover


class Topology:
    """Stands in for a Cluster's redis_server: the primary is whichever
    node the Sentinels name now, and stop() ends every node. users is the
    Cluster's RedisServer (stopped): its users and passwords are every
    node's."""

    def __init__(self, folder, users, replicas=2, sentinels=3):
        self.users = users
        self.primary = RedisNode(folder, "redis-a", users).start()
        self.nodes = [self.primary] + [RedisNode(folder, f"redis-{chr(98 + i)}", users,
                                                 self.primary) for i in range(replicas)]
        for n in self.nodes[1:]:
            n.start()
        self.sentinels = [SentinelNode(folder, i, self.primary, MASTER).start()
                          for i in range(sentinels)]

    @property
    def current(self):
        addr = self.sentinels[0].master()
        return next(n for n in self.nodes if addr == f"127.0.0.1:{n.port}")

    @property
    def socket(self):
        return self.current.socket

    @property
    def log(self):
        return self.current.log

    def ready(self):
        """Every Sentinel sees the primary, every replica and the others."""
        want_replicas = len(self.nodes) - 1
        for s in self.sentinels:
            v = s.view()
            if (int(v.get("num-slaves", 0)) != want_replicas
                    or int(v.get("num-other-sentinels", 0)) != len(self.sentinels) - 1):
                return False
        info = self.primary.info("replication")
        return int(info.get("connected_slaves", 0)) == want_replicas and all(
            "state=online" in info.get(f"slave{i}", "") for i in range(want_replicas))

    def sentinel_list(self):
        return ",".join(f"127.0.0.1:{s.port}" for s in self.sentinels)

    # the logins of gc_cluster.RedisServer, the same on every node
    def password(self, user):
        return self.users.password(user)

    def auth(self, user=gc_cluster.ADMIN):
        return self.users.auth(user)

    def options(self, user):
        return self.users.options(user)

    def stop(self):
        for s in self.sentinels:
            s.stop()
        for n in self.nodes:
            n.stop()


class SentinelCluster(Cluster):
    """A Cluster whose daemons and CLI reach Redis through Sentinel."""

    def __init__(self, **kw):
        self.topology = None
        super().__init__(**kw)
        self.redis_server.stop()            # the default Unix-socket Redis is not used
        self.topology = self.redis_server = Topology(self.folder, self.redis_server)
        wait_for(self.redis_server.ready, 20, "Sentinels to see the primary, both replicas "
                 "and each other")
        self.setup_redis()                  # through Sentinel, on the primary

    def setup_redis(self):
        # Cluster.__init__ sets up the Unix-socket Redis it started: not used here
        return super().setup_redis() if self.topology else None

    def common(self):
        return {"sentinels": self.redis_server.sentinel_list(), "sentinel_master": MASTER,
                "key_prefix": self.key_prefix, "log_level": self.log_level,
                "time_scale": self.time_scale}

    def forget_connection(self):
        if self._redis is not None:
            try:
                self._redis.close()
            except OSError:
                pass
            self._redis = None


def test_failover_loses_no_acknowledged_report(request, gc_directory):
    c = SentinelCluster(name=request.node.name)
    load = None
    try:
        c.load_directory()
        c.start("notify", sweep_ms=200, lease_ms=1000)
        c.start("dispatch", offer_timeout_ms=2000, retry_ms=200, sweep_ms=100, lease_ms=1000)
        c.start("intake", wait_replicas=1, wait_timeout_ms=500)
        c.start("escalate")
        c.start("unit-sim", units="all", accept_rate=1, silence_rate=0, accept_delay_ms=10,
                resolve_delay_ms=200, seed=11)
        old = c.redis_server.current
        assert old is c.redis_server.primary
        load = cluster_load(c, gc_directory.servable(), RATE, resend_s=1.0, prefix="sentinel")
        load.run(2.0)
        acked_before = len(load.acked)
        assert acked_before > RATE, f"only {acked_before} reports acknowledged before the kill"

        killed_at = time.monotonic()
        old.kill9()
        switched = []               # when the Sentinels first named another primary

        def recovered():
            load.step()
            if not switched and any(s.master() not in (None, f"127.0.0.1:{old.port}")
                                    for s in c.redis_server.sentinels):
                switched.append(time.monotonic() - killed_at)
            return any(t > killed_at for t in load.acked_at.values())
        wait_for(recovered, 30, "a report acknowledged after the primary was killed", interval=0)
        recovery = min(t for t in load.acked_at.values() if t > killed_at) - killed_at
        new = c.redis_server.current
        assert new is not old, "the Sentinels did not promote a replica"
        load.run(2.0)
        load.drain(30)

        # nothing acknowledged is missing from the promoted replica, and no
        # report became two cases
        assert not load.conflicts, load.conflicts[:5]
        c.forget_connection()
        states = case_states(c.redis, c.key_prefix, load.acked.values())
        missing = [k for k, i in load.acked.items() if states[i] is None]
        assert not missing, f"{len(missing)} acknowledged reports lost in the failover: {missing[:5]}"
        assert len(set(load.acked.values())) == load.sent
        stats = c.stats()
        assert int(stats["total"]["reported"]) == load.sent, stats["total"]

        # Sentinels, replicas and daemons did it all as their own users:
        # no node refused a command or a login (Redis logs each in ACL LOG)
        for node in c.redis_server.nodes:
            if node is not old:
                assert node.ask("ACL", "LOG") == [], (node.name, node.ask("ACL", "LOG"))
        other = next(n for n in c.redis_server.nodes if n is not old and n is not new)
        wait_for(lambda: other.info("replication").get("master_link_status") == "up"
                 and other.info("replication").get("master_port") == str(new.port), 10,
                 "the other replica to replicate from the new primary")

        # dispatch followed too: every case, also those filed after the
        # failover, reaches a unit and is resolved by it
        def all_resolved():
            s = case_states(c.redis, c.key_prefix, load.acked.values())
            return all(v in ("RESOLVED", "CLOSED") for v in s.values())
        wait_for(all_resolved, 30, "every case to be resolved by a simulated unit")

        for name in ("intake", "dispatch", "notify", "escalate"):
            assert c[name].alive(), f"{name} died in the failover"
            text = c[name].log.read_text(errors="replace")
            assert f'redis primary "{MASTER}" is now at 127.0.0.1:{new.port} ' \
                   f'(was 127.0.0.1:{old.port})' in text, f"{name} logged no switch"
        line = (f"sentinel failover: primary killed under {RATE} reports/s (wait_replicas 1); "
                f"Sentinel switched at {switched[0] if switched else float('nan'):.2f} s, "
                f"reports registered again after {recovery:.2f} s; {load.sent} reports, "
                f"{acked_before} acknowledged before the kill, 0 lost, 0 doubled; "
                f"refusals while it lasted: {load.refusals or 'none'}")
        print(line)
        gc_cluster.SUMMARY.append(line)
        after_failover = recovery - (switched[0] if switched else 0.0)
        assert after_failover <= RECOVERY_LIMIT_S, \
            f"reports registered again {after_failover:.2f} s after the failover: {line}"
    finally:
        if load:
            load.close()
        c.close(keep=bool(c.crashed()))


def test_wait_replicas_holds_the_answer_until_a_replica_has_it(request, gc_directory):
    """No replica: the report is registered but answered UNAVAILABLE; once a
    replica is attached, the same key is acknowledged with the same case."""
    c = Cluster(name=request.node.name)
    nodes = []
    try:
        primary = own_primary(c, nodes)
        c.load_directory()
        c.start("intake", wait_replicas=1, wait_timeout_ms=200)
        grid, category = gc_directory.servable()[0]
        reporter = c.reporter()
        report = Reporter.new_report(grid, category, "wait for a replica", key="wait-1")
        kind, msg = reporter.request("report", report)
        assert kind == "error" and error_name(msg.code) == "ERROR_UNAVAILABLE", (kind, msg)
        assert msg.ref == "wait-1" and "retry with the same idempotency key" in msg.message
        assert int(c.stats()["total"]["reported"]) == 1
        assert "reached 0 of 1 replicas" in c["intake"].log.read_text()

        replica = RedisNode(c.folder, "replica", c.redis_server, primary)
        nodes.append(replica)
        replica.start()
        wait_for(lambda: "state=online" in primary.info("replication").get("slave0", ""), 10,
                 "the replica to be in sync")
        kind, msg = reporter.request("report", report)
        assert kind == "report.ok", (kind, msg)
        assert msg.duplicate and msg.idempotency_key == "wait-1"
        assert int(c.stats()["total"]["reported"]) == 1
        # the case really is on the replica now
        state = replica.ask("HGET", f"{c.key_prefix}case:{msg.case_id}", "state")
        assert state in ("REGISTERED", "DISPATCHED"), state
    finally:
        c.close()
        for n in nodes:
            n.stop()


def test_no_sentinel_answering_is_an_outage_not_a_crash(cluster, gc_directory):
    """Sentinels that are down: intake runs, answers UNAVAILABLE, logs why."""
    c = cluster(load_directory=False)
    dead = f"127.0.0.1:{free_port()}"
    d = c.start("intake", sentinels=dead, sentinel_master=MASTER)
    grid, category = gc_directory.servable()[0]
    kind, msg = c.reporter().request("report", Reporter.new_report(grid, category, key="s-1"))
    assert kind == "error" and error_name(msg.code) == "ERROR_UNAVAILABLE", (kind, msg)
    assert f"sentinel {dead}:" in d.log.read_text()
    assert d.alive()
