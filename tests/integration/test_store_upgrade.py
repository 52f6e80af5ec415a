"""test_store_upgrade.py — a store written by an earlier gridcall keeps
working: open cases indexed by state (idx:state:<open state>), open
counters (stats:open_*) and a unit's held cases and waiting offers in
unit:<u>:cases / unit:<u>:offers move to idx:open and unit:<u>:load when
dispatch starts, open cases without idx:near entries get them, the closed
cases' index (idx:state:CLOSED, now counted from idx:created) goes, and
the held case is still the unit's to resolve."""

from gc_cluster import state_name, wait_for
from units_fixture import street  # noqa: F401  (fixture)

HELD = "9000000000000000"


def test_dispatch_start_moves_an_old_store_to_the_new_indexes(street):
    c = street("intake", "dispatch", "notify")
    P = c.key_prefix
    u = c.unit("CLEAN1")
    r = c.reporter()
    held = r.report("G01", "env.garbage", "bins overflowing").case_id
    offer = u.expect_offer(held)
    assert u.accept(offer)[0] == "ok"
    assert c.state(held) == "ACCEPTED"
    # write the case back in the old layout, as an earlier version kept it
    created = c.redis.call("HGET", f"{P}case:{held}", "created")
    c.redis.call("ZREM", f"{P}idx:open", held)
    c.redis.call("ZADD", f"{P}idx:state:ACCEPTED", created, held)
    c.redis.call("ZREM", f"{P}unit:CLEAN1:load", held)
    c.redis.call("SADD", f"{P}unit:CLEAN1:cases", held)
    c.redis.call("HSET", f"{P}stats:open_tier", "GRID", "7")
    # ... from before idx:near (a new report's possible duplicates)
    c.redis.call("DEL", f"{P}idx:near:G01:env.garbage", f"{P}cfg:idx_near")
    # ... and with an index of closed cases, here naming the open one
    c.redis.call("ZADD", f"{P}idx:state:CLOSED", created, held)
    u.close()

    c["dispatch"].restart()
    wait_for(lambda: c.redis.call("EXISTS", f"{P}idx:state:ACCEPTED") == 0, 5,
             "dispatch to move the old state index")
    assert c.redis.call("ZSCORE", f"{P}idx:open", held) == created
    assert c.redis.call("EXISTS", f"{P}unit:CLEAN1:cases") == 0
    assert c.redis.call("ZSCORE", f"{P}unit:CLEAN1:load", held) == HELD
    assert c.redis.call("EXISTS", f"{P}stats:open_tier") == 0
    assert c.redis.call("ZSCORE", f"{P}idx:near:G01:env.garbage", held) == created
    stats = c.stats()
    assert stats["state"].get("ACCEPTED") == 1 and int(stats["open_tier"]["GRID"]) == 1
    assert c.redis.call("EXISTS", f"{P}idx:state:CLOSED") == 0
    assert "CLOSED" not in stats["state"] and int(stats["total"]["closed"]) == 0, stats

    # the unit comes back, is told it holds the case, and resolves it
    u = c.unit("CLEAN1", hello=False)
    kind, _ = u.hello()
    assert kind == "welcome"
    back = u.expect_offer(held)
    kind, ack = u.resolve(back, "emptied")
    assert kind == "ok" and state_name(ack.state) == "STATE_RESOLVED", (kind, ack)
    assert c.redis.call("ZCARD", f"{P}unit:CLEAN1:load") == 0
