"""test_library_cache.py — the function library keeps the directory's hot
parts and units' standing in Redis's Lua memory. Writes that reach the keys
without passing through the library (a Redis that was a replica while the
directory was reloaded and then leads again sees them only as replicated
keys) must still win: the directory within 100 uses, a unit's standing
within a second (00_core.lua dir_of, 10_dispatch.lua unit_rec)."""

import json
import time

from test_idempotency import register


def case_field(c, case_id, field):
    return c.redis.call("HGET", f"{c.key_prefix}case:{case_id}", field)


def test_a_directory_moved_behind_the_library_is_in_force_within_100_uses(cluster, gc_directory):
    grid, category = gc_directory.choose("GRID")
    c = cluster()
    first = register(c, "pytest", "cache-0", grid, category, "路灯不亮", "h0")
    assert first["ok"], first
    was = case_field(c, first["case_id"], "community")
    assert was
    # what replication would bring: the grid in another community, a new version
    c.redis.call("HSET", f"{c.key_prefix}dir:grid:{grid}", "community", "C-MOVED")
    c.redis.call("INCR", f"{c.key_prefix}dir:version")
    seen = []
    for n in range(1, 121):
        reply = register(c, "pytest", f"cache-{n}", grid, category, "路灯不亮", f"h{n}")
        assert reply["ok"], reply
        seen.append(case_field(c, reply["case_id"], "community"))
    assert seen[-1] == "C-MOVED", seen[-5:]
    assert seen.index("C-MOVED") <= 100, seen.index("C-MOVED")
    # and it stays in force
    assert set(seen[seen.index("C-MOVED"):]) == {"C-MOVED"}


def test_a_unit_emptied_behind_the_library_gets_no_offer_after_a_second(cluster, gc_directory):
    grid, category = gc_directory.choose("GRID")
    tier = gc_directory.start_tier(category)
    c = cluster()
    units = gc_directory.fitting(tier, grid, category)
    # the units dispatch would have marked ready (connected, on duty, fitting)
    level = ["GRID", "COMMUNITY", "STREET", "DISTRICT"].index(tier) + 1
    ready = f"{c.key_prefix}ready:{level}:{grid}:{category}"
    c.redis.call("SADD", ready, *units)
    first = register(c, "pytest", "unit-0", grid, category, "路灯不亮", "u0")
    assert first["ok"] and first.get("offers"), first
    # their capacity taken away by a write the library did not make
    for u in units:
        c.redis.call("HSET", f"{c.key_prefix}unit:{u}", "capacity", "0")
    time.sleep(1.1)
    later = register(c, "pytest", "unit-1", grid, category, "路灯不亮", "u1")
    assert later["ok"], later
    assert not later.get("offers"), json.dumps(later, ensure_ascii=False)
    assert case_field(c, later["case_id"], "state") == "REGISTERED"
