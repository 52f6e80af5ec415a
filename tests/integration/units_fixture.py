"""units_fixture.py — a small street for the unit, order and joint tests
(test_units*.py, test_orders*.py, test_joint*.py), the `street` fixture
that runs a Cluster on it, and helpers to run py_unit.py as a process.

The street: community C01 with grids G01, G02. Cleaning crews CLEAN1
(capacity 5) and CLEAN2 (capacity 2) on env.garbage; lawyers LAW on a
Wednesday-afternoon rota and a notary NOTARY always on duty for
svc.notary; four family-affairs units FAM1..FAM4 for dispute.family,
which needs three units (a lead and two assisting)."""

import datetime
import json
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from gc_cluster import Cluster, wait_for

HERE = Path(__file__).resolve().parent
UTC_OFFSET_MIN = 480


def _unit(uid, categories, tiers, capacity, rota=None):
    u = {"id": uid, "name": uid, "kind": "test", "responsible": "r-" + uid, "contact": "1",
         "tiers": tiers, "categories": categories, "coverage": "street", "capacity": capacity}
    if rota:
        u["rota"] = rota
    return u


def street_doc():
    lim = {"GRID": 600, "COMMUNITY": 1200, "STREET": 2400, "DISTRICT": 4800}
    return {
        "version": 1,
        "street": {"id": "t", "code": "TS", "name": "test street",
                   "utc_offset_minutes": UTC_OFFSET_MIN},
        "communities": [{"id": "C01", "name": "one"}],
        "grids": [{"id": "G01", "name": "g1", "community": "C01", "worker": "w"},
                  {"id": "G02", "name": "g2", "community": "C01", "worker": "w"}],
        "categories": [
            {"code": "env.garbage", "name": "garbage", "kind": "incident", "start_tier": "GRID",
             "limits_minutes": lim},
            {"code": "svc.legal", "name": "legal", "kind": "service", "start_tier": "COMMUNITY",
             "limits_minutes": {k: v * 20 for k, v in lim.items() if k != "GRID"}},
            {"code": "svc.notary", "name": "notary", "kind": "service", "start_tier": "COMMUNITY",
             "limits_minutes": {k: v for k, v in lim.items() if k != "GRID"}},
            {"code": "dispute.family", "name": "family", "kind": "incident",
             "start_tier": "COMMUNITY", "joint_units": 3,
             "limits_minutes": {k: v for k, v in lim.items() if k != "GRID"}}],
        "units": [
            _unit("CLEAN1", ["env.garbage"], ["GRID"], 5),
            _unit("CLEAN2", ["env.garbage"], ["GRID"], 2),
            _unit("LAW", ["svc.legal"], ["COMMUNITY"], 3,
                  [{"weekday": 3, "from": "14:00", "to": "18:00"}]),
            _unit("NOTARY", ["svc.notary"], ["COMMUNITY"], 3),
            _unit("FAM1", ["dispute.family"], ["COMMUNITY"], 5),
            _unit("FAM2", ["dispute.family"], ["COMMUNITY"], 4),
            _unit("FAM3", ["dispute.family"], ["COMMUNITY"], 3),
            _unit("FAM4", ["dispute.family"], ["COMMUNITY"], 2)]}


def rota_offset_ms(weekday, hh, mm, ss=0):
    """dispatch's rota_clock_offset_ms that makes its rota clock read the
    next (weekday, hh:mm:ss) in the street's local time now."""
    tz = datetime.timezone(datetime.timedelta(minutes=UTC_OFFSET_MIN))
    now = datetime.datetime.now(tz)
    day = now.date() + datetime.timedelta(days=(weekday - now.isoweekday()) % 7)
    target = datetime.datetime(day.year, day.month, day.day, hh, mm, ss, tzinfo=tz)
    return int((target - now).total_seconds() * 1000)


@pytest.fixture
def street(request, tmp_path):
    """Factory: street(*daemons, **overrides) -> Cluster on the test street."""
    made = []
    path = tmp_path / "street.json"
    path.write_text(json.dumps(street_doc()), encoding="utf-8")

    def make(*daemons, time_scale=1, **overrides):
        c = Cluster(time_scale=time_scale, directory=path, name=f"{request.node.name}#{len(made)+1}")
        made.append(c)
        c.load_directory()
        for name in daemons:
            c.start(name, **overrides.get(name.replace("-", "_"), {}))
        return c

    yield make
    failed = any(getattr(request.node, "rep_" + w, None) and getattr(request.node, "rep_" + w).failed
                 for w in ("setup", "call"))
    for c in made:
        c.close(keep=failed)


class PyUnit:
    """py_unit.py as a process; events() are its JSON lines so far."""

    def __init__(self, cluster, unit_id, mode, *extra):
        self.unit_id = unit_id
        n = sum(isinstance(c, PyUnit) for c in cluster.clients) + 1
        self.err = Path(cluster.folder) / f"py_unit-{unit_id}-{n}.err"
        self.proc = subprocess.Popen(
            [sys.executable, str(HERE / "py_unit.py"), cluster.endpoints["units"], unit_id, mode,
             "--cert", str(cluster.unit_cert(unit_id).secret_path),
             # one word: a Z85 key may begin with "-", which argparse
             # would take for an option
             "--server-key=" + cluster.server_key("dispatch").decode(), *extra], stdout=subprocess.PIPE, stderr=self.err.open("w"), text=True,
            start_new_session=True)
        self.lines = []
        self.thread = threading.Thread(target=self._read, daemon=True)
        self.thread.start()
        cluster.clients.append(self)

    def _read(self):
        for line in self.proc.stdout:
            self.lines.append(json.loads(line))

    def events(self, kind):
        return [e for e in list(self.lines) if e["event"] == kind]

    def wait(self, kind, timeout=10, where=lambda e: True, count=1):
        return wait_for(lambda: [e for e in self.events(kind) if where(e)][count - 1:] or None,
                        timeout, f"{self.unit_id}: {kind} event")[0]

    def signal(self, sig):
        self.proc.send_signal(sig)

    def diagnostics(self):
        """What a failed test shows of this unit: its exit, events, stderr."""
        status = "running" if self.proc.poll() is None else f"exited {self.proc.returncode}"
        events = "\n".join(json.dumps(e) for e in list(self.lines)[-20:])
        err = self.err.read_text(errors="replace")[-2000:] if self.err.exists() else ""
        return (f"----- py_unit {self.unit_id} ({status}), last events\n{events}\n"
                f"----- its stderr ({self.err})\n{err}")

    def close(self):
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait(5)
