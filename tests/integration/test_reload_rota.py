"""test_reload_rota.py — SIGHUP puts a new rota in use in dispatch at once.

Dispatch reads duty from the directory it holds. A directory loaded with
`gridcall directory load` is noticed at the next look (directory_poll_ms);
SIGHUP makes dispatch read it now, whatever its version says. Here the
poll is an hour: a unit on duty is taken off by a new rota, and only the
SIGHUP makes dispatch take it out of the ready sets (so a new case is not
offered to it at registration)."""

import datetime
import json
import signal
import time

from gc_cluster import wait_for


def test_sighup_puts_a_new_rota_in_use(cluster, gc_directory, tmp_path):
    c = cluster("notify", "dispatch", dispatch={"directory_poll_ms": 3600000})
    grid, category = gc_directory.servable()[0]
    unit_id = gc_directory.fitting(gc_directory.start_tier(category), grid, category)[0]
    c.unit(unit_id)
    ready = f"{c.key_prefix}ready:unit:{unit_id}"
    wait_for(lambda: c.redis.call("SCARD", ready) > 0, 5, f"{unit_id} in the ready sets")

    # the same directory, but the unit is on duty only one minute, three days on
    doc = json.loads(c.directory_path.read_text())
    weekday = (datetime.datetime.now(datetime.timezone.utc).isoweekday() + 2) % 7 + 1
    for u in doc["units"]:
        if u["id"] == unit_id:
            u["rota"] = [{"weekday": weekday, "from": "03:00", "to": "03:01"}]
    path = tmp_path / "directory.json"
    path.write_text(json.dumps(doc, ensure_ascii=False))
    c.load_directory(path)
    time.sleep(1.0)
    assert c.redis.call("SCARD", ready) > 0, "dispatch read the directory before the SIGHUP"

    c["dispatch"].proc.send_signal(signal.SIGHUP)
    t = time.monotonic()
    wait_for(lambda: c.redis.call("SCARD", ready) == 0, 5,
             f"{unit_id} out of the ready sets after the SIGHUP")
    print(f"rota reload: unit off duty {time.monotonic() - t:.2f} s after SIGHUP")
    assert "directory version 2" in c["dispatch"].log.read_text(errors="replace")


def test_a_unit_coming_on_duty_takes_the_case_that_waited(cluster, gc_directory, tmp_path):
    # registration found no unit (the only fitting one is off duty) and
    # recorded the case waiting; the rota that puts the unit on duty makes
    # dispatch publish its ready sets, which pulls the case forward at once
    # (not after retry_ms)
    c = cluster("intake", "notify", "dispatch",
                dispatch={"directory_poll_ms": 3600000, "retry_ms": 60000})
    # an incident: a service order no unit can take books a rota slot instead
    grid, category = next((g, cat) for g, cat in gc_directory.servable()
                          if gc_directory.categories[cat]["kind"] != "service")
    units = gc_directory.fitting(gc_directory.start_tier(category), grid, category)
    doc = json.loads(c.directory_path.read_text())
    weekday = (datetime.datetime.now(datetime.timezone.utc).isoweekday() + 2) % 7 + 1
    for u in doc["units"]:
        if u["id"] in units:
            u["rota"] = [{"weekday": weekday, "from": "03:00", "to": "03:01"}]
    off = tmp_path / "off.json"
    off.write_text(json.dumps(doc, ensure_ascii=False))
    c.load_directory(off)
    c["dispatch"].proc.send_signal(signal.SIGHUP)
    time.sleep(0.5)
    unit = c.unit(units[0])
    case = c.reporter().report(grid, category, "waits for a unit on duty").case_id
    got = c.wait_event(case, "waiting")
    assert got["timeline"][-1]["note"] == "no connected unit on duty fits"

    for u in doc["units"]:
        if u["id"] == units[0]:
            u.pop("rota", None)
    on = tmp_path / "on.json"
    on.write_text(json.dumps(doc, ensure_ascii=False))
    c.load_directory(on)
    c["dispatch"].proc.send_signal(signal.SIGHUP)
    t = time.monotonic()
    unit.expect_offer(case, timeout=10)
    took = time.monotonic() - t
    print(f"unit on duty: the waiting case offered {took:.2f} s after the SIGHUP")
    assert took < 5, "the waiting case waited for the retry sweep"
