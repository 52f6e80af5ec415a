"""test_idempotency.py — an idempotency key is its sender's own and
remembers what it was used for: the same report again is the same case
(duplicate), other content under the same key is CONFLICT, and another
principal's same key is a case of its own (docs/security.md)."""

import json

from gc_cluster import Reporter, pb


def register(c, principal, key, grid, category, text, content_hash):
    """gc_register as intake calls it (12 arguments after the prefix)."""
    return json.loads(c.redis.call("FCALL", "gc_register", 0, c.key_prefix, key, grid, category,
                                   text, "GRID_WORKER", "pytest", "", "", 1, 86400, principal,
                                   content_hash))


def test_same_key_same_report_is_the_same_case(cluster, gc_directory):
    grid, category = gc_directory.choose("GRID")
    c = cluster("intake")
    reporter = c.reporter()
    report = Reporter.new_report(grid, category, "路灯不亮", key="app-7-001", building="")
    kind, first = reporter.request("report", report)
    assert kind == "report.ok" and not first.duplicate, first
    kind, again = reporter.request("report", report)
    assert kind == "report.ok" and again.duplicate and again.case_id == first.case_id, again
    # a second connection of the same sender (the pytest gateway's key) is the same sender
    other_socket = c.reporter()
    kind, third = other_socket.request("report", report)
    assert kind == "report.ok" and third.duplicate and third.case_id == first.case_id, third
    assert int(c.stats()["total"]["reported"]) == 1


def test_same_key_other_content_is_a_conflict(cluster, gc_directory):
    grid, category = gc_directory.choose("GRID")
    c = cluster("intake")
    reporter = c.reporter()
    first = reporter.report(grid, category, "路灯不亮", key="app-7-002")
    changes = [dict(text="路灯不亮了三天"), dict(reporter="someone else"),
               dict(channel=pb.CHANNEL_HOTLINE), dict(location="东门")]
    for change in changes:
        fields = dict(text="路灯不亮", key="app-7-002")
        fields.update(change)
        kind, err = reporter.request("report", Reporter.new_report(grid, category, **fields))
        assert kind == "error" and err.code == pb.ERROR_CONFLICT, (change, kind, err)
        assert err.ref == "app-7-002" and "app-7-002" in err.message, err
        assert first.case_id in err.message, "the sender is told which case the key holds"
    case = c.case(first.case_id)
    assert case["text"] == "路灯不亮" and case["reporter"] == "pytest"
    assert int(c.stats()["total"]["reported"]) == 1
    # and the original report under its key is still answered as before
    kind, again = reporter.request("report", Reporter.new_report(grid, category, "路灯不亮",
                                                                 key="app-7-002"))
    assert kind == "report.ok" and again.duplicate and again.case_id == first.case_id


def test_another_principals_key_is_its_own_case(cluster, gc_directory):
    """Keys are scoped by the principal intake passes (the peer's ZAP
    User-Id's principal; "anonymous" only on a loopback socket without CURVE):
    client B reusing client A's key gets a case of its own, never A's."""
    grid, category = gc_directory.choose("GRID")
    c = cluster("intake")
    a = register(c, "gateway-A", "k-1", grid, category, "A's report", "a" * 40)
    assert a["ok"] and not a["duplicate"], a
    b = register(c, "gateway-B", "k-1", grid, category, "B's other report", "b" * 40)
    assert b["ok"] and not b["duplicate"] and b["case_id"] != a["case_id"], b
    # each one's retry finds its own case; each one's other content conflicts
    assert register(c, "gateway-A", "k-1", grid, category, "A's report", "a" * 40)["case_id"] \
        == a["case_id"]
    assert register(c, "gateway-B", "k-1", grid, category, "B's other report", "b" * 40)["case_id"] \
        == b["case_id"]
    conflict = register(c, "gateway-B", "k-1", grid, category, "A's report", "a" * 40)
    assert not conflict["ok"] and conflict["code"] == "CONFLICT", conflict
    # and intake's own senders, the pytest gateway here, are a third scope
    kind, anon = c.reporter().request("report", Reporter.new_report(grid, category, "A's report",
                                                                    key="k-1"))
    assert kind == "report.ok" and not anon.duplicate, anon
    assert anon.case_id not in (a["case_id"], b["case_id"])
    assert c.redis.call("EXISTS", "gc:idem:gateway:pytest:k-1") == 1
