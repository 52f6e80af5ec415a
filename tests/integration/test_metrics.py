"""test_metrics.py — every daemon serves GET /metrics in Prometheus text
format when metrics_port is set, and the figures move with the work."""

import re
import socket
import urllib.request

from gc_cluster import pb, wait_for


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


INSTANCE = re.compile(r'instance="([^"]*)",?')


def scrape(port, instance=None):
    """The text and {series: value}, the series without the instance label
    every one carries (that label, when given, must be instance)."""
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as r:
        assert r.status == 200
        assert r.headers["Content-Type"].startswith("text/plain")
        text = r.read().decode()
    values = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            name, value = line.rsplit(" ", 1)
            m = INSTANCE.search(name)
            assert m, f"no instance label: {line}"
            assert instance is None or m.group(1) == instance, line
            name = INSTANCE.sub("", name).replace("{}", "")
            values[name] = float(value)
    return text, values


def test_every_daemon_serves_metrics(cluster, gc_directory):
    ports = {name: free_port() for name in ("notify", "escalate", "dispatch", "intake")}
    c = cluster("notify", "escalate", "dispatch", "intake",
                **{name: {"metrics_port": str(port), "instance": f"{name}-1"}
                   for name, port in ports.items()})
    grid, category = gc_directory.choose("GRID")
    unit_id = gc_directory.fitting("GRID", grid, category)[0]
    unit = c.unit(unit_id)
    reporter = c.reporter()
    reply = reporter.report(grid, category, "metrics")
    offer = unit.expect_offer(reply.case_id)
    assert unit.accept(offer)[0] == "ok"
    bad = reporter.request("report", reporter.new_report("NO-SUCH-GRID", category, "x"))
    assert bad[0] == "error"

    text, intake = scrape(ports["intake"], "intake-1")
    assert "# TYPE gridcall_intake_requests_total counter" in text
    assert intake["gridcall_intake_requests_total"] >= 1
    assert intake["gridcall_intake_refused_total"] >= 1
    assert intake["gridcall_intake_redis_failures_total"] == 0

    def dispatch_counts():
        _, d = scrape(ports["dispatch"], "dispatch-1")
        return d if d["gridcall_dispatch_unit_replies_total"] >= 1 else None
    dispatch = wait_for(dispatch_counts, 5, "dispatch metrics to show the accept")
    assert dispatch["gridcall_dispatch_units_connected"] == 1
    assert dispatch["gridcall_dispatch_offers_sent_total"] >= 1
    assert dispatch["gridcall_dispatch_leader"] == 1

    kind, ack = unit.resolve(offer, "done")
    assert kind == "ok", ack
    kind, ack = reporter.verify(reply.case_id, True, "checked")
    assert kind == "ack" and ack.state == pb.STATE_CLOSED, (kind, ack)

    def notified():
        _, n = scrape(ports["notify"])
        return n if n["gridcall_notify_published_total"] >= 4 else None
    notify = wait_for(notified, 5, "notify metrics to count the registered, accepted, resolved "
                                   "and closed notices")
    assert notify['gridcall_notify_webhook_posts_total{result="failed"}'] == 0
    # intake and dispatch woke notify with each job as committed: notify
    # delivered all four without reading one from Redis
    assert notify["gridcall_notify_wakes_read_total"] == 0, notify

    _, escalate = scrape(ports["escalate"])
    assert "gridcall_escalate_timers_fired_total" in escalate
    unit.close()


def test_http_library_loaded_only_for_metrics(cluster):
    """libmicrohttpd and the TLS stack it brings (2.4 MB of RSS) are in a
    daemon that serves /metrics, not in one without metrics_port."""
    port = free_port()
    c = cluster("dispatch", "escalate", escalate={"metrics_port": str(port)})

    def served():
        try:
            return scrape(port)
        except OSError:
            return None
    wait_for(served, 5, "escalate to serve /metrics")

    def mapped(name):
        with open(f"/proc/{c[name].proc.pid}/maps") as f:
            return f.read()
    serving = mapped("escalate")
    assert "libmicrohttpd" in serving and "libgnutls" in serving
    quiet = mapped("dispatch")      # bound its endpoints: past its metrics start
    assert "libmicrohttpd" not in quiet and "libgnutls" not in quiet
