"""lease_helpers.py — two dispatches on one cluster: A leads, B stands by
(docs/cluster.md, "Several dispatches"), and the lease as Redis holds it."""

from gc_cluster import BUILD, Daemon, wait_for

LEASE_MS = 3000


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
