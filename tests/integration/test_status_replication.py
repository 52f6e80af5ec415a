"""`gridcall status` shows Redis's replication: the node it reached (the
primary), its role and offset, each connected replica with its offset and
its lag in bytes of the replication stream (ROLE, which the gc-operator
user may run). A replica that stops acknowledging shows a growing lag,
and catches up when it runs again; status pointed at the replica names
its primary and the link's state."""

import json
import os
import signal

from cluster_helpers import RedisNode, own_primary
from gc_cluster import wait_for


def test_status_shows_the_primary_its_replica_and_the_lag(cluster):
    c = cluster(load_directory=False)
    nodes = []
    try:
        primary = own_primary(c, nodes)
        replica = RedisNode(c.folder, "replica", c.redis_server, primary)
        nodes.append(replica)
        replica.start()
        wait_for(lambda: "state=online" in primary.info("replication").get("slave0", ""), 10,
                 "the replica to be in sync")

        primary.ask("SET", f"{c.key_prefix}status-test:first", "x")

        def redis_doc(**over):
            r = c.cli("status", "--json", **over)
            assert r.returncode == 0, r.stderr
            return json.loads(r.stdout)["redis"]

        def synced():
            d = redis_doc()
            ok = d["replicas"] and d["offset"] > 0 and d["replicas"][0]["lag_bytes"] == 0
            return d if ok else None
        doc = wait_for(synced, 10, "status to show the replica with no lag")
        assert doc["role"] == "master" and doc["server"] == str(primary.socket), doc
        assert [r["addr"] for r in doc["replicas"]] == [f"127.0.0.1:{replica.port}"], doc
        assert doc["replicas"][0]["offset"] == doc["offset"] > 0, doc
        text = c.cli("status").stdout
        assert f"redis {primary.socket}: master" in text and "1 replica connected" in text, text
        assert f"replica 127.0.0.1:{replica.port}" in text and "lag 0 bytes" in text, text

        # a frozen replica acknowledges nothing: writes on the primary are
        # its lag, in bytes, until it runs again
        os.kill(replica.proc.pid, signal.SIGSTOP)
        try:
            for i in range(50):
                primary.ask("SET", f"{c.key_prefix}status-test:{i}", "x" * 200)
            lagging = redis_doc()
            assert lagging["replicas"][0]["lag_bytes"] >= 50 * 200, lagging
            assert lagging["offset"] > doc["offset"], lagging
        finally:
            os.kill(replica.proc.pid, signal.SIGCONT)
        caught = wait_for(synced, 10, "the replica to catch up")
        assert caught["offset"] == lagging["offset"] or caught["offset"] > lagging["offset"]
        print(f"status: replica lag {lagging['replicas'][0]['lag_bytes']} bytes while frozen, "
              f"0 after it ran again")

        # status on the replica itself names its primary and the link
        on_replica = redis_doc(redis_socket=replica.socket)
        assert on_replica["role"] == "slave", on_replica
        assert on_replica["primary"] == f"127.0.0.1:{primary.port}"
        assert on_replica["state"] == "connected" and on_replica["offset"] > 0, on_replica
        text = c.cli("status", redis_socket=replica.socket).stdout
        assert f"(replica of 127.0.0.1:{primary.port}, link connected)" in text, text
    finally:
        c.close()
        for n in nodes:
            n.stop()
