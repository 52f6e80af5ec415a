"""test_dispatch_lease.py — several dispatches: one leads under a lease in
Redis, the others stand by; every write of the leader carries the lease's
epoch and the library refuses an older one (gc_fenced, 90_cluster.lua).

A standby answers hello UNAVAILABLE naming the leader; a call with an old
epoch is refused and writes nothing; `gridcall status` shows both with
their roles; SIGTERM of the leader gives the lease back at once, and the
standby leads within its retry interval. The SIGSTOP of a leader under
load is tests/chaos/test_chaos_dispatch.py (make chaos)."""

import json
import time

import gc_cluster
from gc_cluster import pb, wait_for
from lease_helpers import lease, two_dispatches


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
    # gridcall status: both dispatches with their roles, notify, the lease
    def status():
        r = c.cli("status", "--json")
        assert r.returncode == 0, r.stderr
        doc = json.loads(r.stdout)
        return {i["name"]: i["record"] for i in doc["instances"] if i["record"]}, doc
    def roles():
        s = status()
        r = {n: rec.get("role") for n, rec in s[0].items()}
        notify = any(n.startswith("notify/") for n in s[0])
        return s if (r.get("dispatch/disp-a"), r.get("dispatch/disp-b")) == ("leader", "standby") \
            and notify else None
    # records are written each second: the first may predate the lease, and
    # notify's first may not be written yet
    records, doc = wait_for(roles, 5, "gridcall status to show A leading, B standing by and notify")
    assert records["dispatch/disp-b"]["leader"] == "disp-a"
    assert records["dispatch/disp-a"]["last_sweep_ms"] > 0
    assert any(n.startswith("notify/") for n in records), records
    assert doc["lease"] == f"disp-a {epoch}" and set(doc["lag"]) == {"dispatch", "notify", "escalate"}
    text = c.cli("status").stdout
    assert "disp-a" in text and "leader" in text and "standby" in text, text
    print(text)
    # SIGTERM: the lease is given back, the standby leads within its retry
    t0 = time.monotonic()
    assert c["dispatch"].stop() == 0
    wait_for(lambda: lease(c)[0] == "disp-b", 5, "dispatch B to lead after A's SIGTERM")
    took = time.monotonic() - t0
    assert int(lease(c)[1]) > int(epoch)
    line = f"dispatch lease: SIGTERM of the leader, standby leads after {took:.2f} s"
    print(line)
    gc_cluster.SUMMARY.append(line)
