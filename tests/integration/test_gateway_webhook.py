"""test_gateway_webhook.py — a gateway follows its reporters' cases by a
webhook of its own (notify's gateway_webhooks): every event of the cases it
reported (registered, accepted, resolved, and the closure that asks its
resident to evaluate), signed as every webhook is, and nothing of another
gateway's cases; a case merged into another hears the kept case's closure.
Misconfigured targets are refused at start."""

import json
import subprocess

import pytest

from gc_cluster import BUILD, pb, wait_for
from test_webhook_sign import SECRET, Receiver, documented_verifier


@pytest.fixture
def receivers():
    made = [Receiver(), Receiver()]
    yield made
    for r in made:
        r.close()


def bodies_of(receiver, case_id):
    """The case's POSTs in timeline order (they are sent at once, so they
    may arrive in any order): by the job id's entry number."""
    bodies = [json.loads(b) for _, b in receiver.of_case(case_id)]
    return sorted(bodies, key=lambda x: int(x["job_id"].rsplit(":", 1)[1]))


def events_of(receiver, case_id):
    return [x["event"] for x in bodies_of(receiver, case_id)]


def two_gateways(cluster, gc_directory, receivers, **notify):
    """A street whose notify sends the pytest gateway's cases to the first
    receiver and the hotline gateway's to the second: the cluster, grid,
    category, a unit, and the app's and the hotline's reporters."""
    mine, theirs = receivers
    grid, category = gc_directory.choose("GRID")
    unit_id = gc_directory.fitting("GRID", grid, category)[0]
    c = cluster()
    other = c.keys.make("gw-hotline", "gateway hotline channels HOTLINE")
    c.keys.write()
    c.start("intake")
    c.start("dispatch")
    c.start("notify", gateway_webhooks=f"gateway:pytest={mine.url}, gateway:hotline={theirs.url}",
            **notify)
    return c, grid, category, c.unit(unit_id), c.reporter(), c.reporter(cert=other)


def test_each_gateway_hears_its_own_cases(cluster, gc_directory, receivers):
    verify, _ = documented_verifier()
    mine, theirs = receivers
    c, grid, category, unit, app, hotline = two_gateways(cluster, gc_directory, receivers,
                                                         webhook_secret=SECRET)

    a = app.report(grid, category, "网关甲的居民", channel=pb.CHANNEL_RESIDENT_APP).case_id
    b = hotline.report(grid, category, "12345热线转来", channel=pb.CHANNEL_HOTLINE).case_id
    offer = unit.expect_offer(a)
    assert unit.accept(offer)[0] == "ok"
    assert unit.resolve(offer, "已处理")[0] == "ok"
    kind, ack = app.verify(a, True, note="核实")
    assert kind == "ack" and ack.state == pb.STATE_CLOSED, ack

    life = ["case.registered", "case.accepted", "case.resolved", "case.closed"]
    wait_for(lambda: len(events_of(mine, a)) >= 4, 10, "the case's four events at the gateway's hook")
    assert events_of(mine, a) == life
    closed = bodies_of(mine, a)[-1]
    assert closed["audience"] == f"reporter:{a}" and closed["state"] == "CLOSED"
    wait_for(lambda: events_of(theirs, b), 10, "the hotline's registration")
    assert events_of(theirs, b) == ["case.registered"]
    # nothing of one gateway's cases at the other's hook
    assert mine.of_case(b) == [] and theirs.of_case(a) == []
    for headers, body in mine.posts + theirs.posts:
        assert verify(SECRET.encode(), headers, body), headers


def test_a_merged_case_follows_the_kept_case(cluster, gc_directory, receivers):
    """The app's resident reported a duplicate of a hotline case: after the
    merge the app's hook hears the kept case's events (status changes) and
    the closure of its own case; the hotline's hook hears nothing of the
    app's case."""
    mine, theirs = receivers
    # unsigned: targets on this machine may be
    c, grid, category, unit, app, hotline = two_gateways(cluster, gc_directory, receivers)
    keep = hotline.report(grid, category, "热线：路灯不亮", channel=pb.CHANNEL_HOTLINE).case_id
    dup = app.report(grid, category, "居民：路灯不亮", channel=pb.CHANNEL_RESIDENT_APP).case_id
    kind, ack = app.request("merge", pb.Merge(keep_case_id=keep, duplicate_case_id=dup,
                                              operator="pytest"))
    assert kind == "ack" and ack.state == pb.STATE_MERGED, ack
    offer = unit.expect_offer(keep)
    assert unit.accept(offer)[0] == "ok" and unit.resolve(offer, "好了")[0] == "ok"
    assert app.verify(keep, True)[0] == "ack"
    wait_for(lambda: len(events_of(mine, dup)) >= 3 and len(events_of(mine, keep)) >= 3, 10,
             "the merged case's notices and the kept case's events at the app's hook")
    assert events_of(mine, dup) == ["case.registered", "case.merged", "case.closed"]
    last = bodies_of(mine, dup)[-1]
    assert last["audience"] == f"reporter:{dup}" and keep in last["note"]
    # the kept case's events after the merge (its registration came before)
    assert events_of(mine, keep) == ["case.accepted", "case.resolved", "case.closed"]
    wait_for(lambda: len(events_of(theirs, keep)) >= 4, 10, "the hotline's own case")
    assert events_of(theirs, keep) == ["case.registered", "case.accepted", "case.resolved",
                                       "case.closed"]
    assert theirs.of_case(dup) == []


@pytest.mark.parametrize("hooks, says", [
    ("pytest=http://127.0.0.1:9/h", "is not gateway:NAME=URL"),
    ("gateway:=http://127.0.0.1:9/h", "is not gateway:NAME=URL"),
    ("gateway:pytest=ftp://127.0.0.1/h", "gateway_webhooks: gateway:pytest:"),
    ("gateway:pytest=https://hooks.example.org/g", "webhook_secret is not set"),
])
def test_bad_gateway_webhooks_are_refused(hooks, says):
    done = subprocess.run([str(BUILD / "gridcall-notify"), "--set", "curve=no", "--set",
                           f"gateway_webhooks={hooks}", "--check-config"],
                          capture_output=True, text=True, timeout=10)
    assert done.returncode == 1 and says in done.stderr, done.stderr
    done = subprocess.run([str(BUILD / "gridcall-notify"), "--set", "curve=no", "--set",
                           "gateway_webhooks=gateway:pytest=http://127.0.0.1:9/h", "--check-config"],
                          capture_output=True, text=True, timeout=10)
    assert done.returncode == 0, done.stderr
