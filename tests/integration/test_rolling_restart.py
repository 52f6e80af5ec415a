"""test_rolling_restart.py — scripts/rolling-restart.sh on the demo cluster
(scripts/run-local.sh, what `make run` starts) under load.

A reporter files 50 reports a second (resending unanswered ones with the
same key, as reporters do) while every daemon is restarted one at a time.
Then: the script exited 0 and named each daemon's drain; every daemon runs
again; no acknowledged report is missing, none became two cases, and every
one reaches a unit and is resolved (the demo's simulated units); Ctrl-C's
SIGTERM to run-local.sh still stops every process, the restarted ones too."""

import os
import signal
import subprocess
import tempfile
import time
from pathlib import Path

import zmq

import gc_cluster
from cluster_helpers import ReportLoad, case_states, demo_cert, free_port
from gc_cluster import ROOT, Redis, wait_for
from resilience_helpers import processes_under

DAEMONS = ["gridcall-notify", "gridcall-dispatch", "gridcall-escalate", "gridcall-intake",
           "gridcall-report"]


def test_rolling_restart_of_the_demo_under_load(gc_directory):
    var = Path(tempfile.mkdtemp(prefix="gc-rr-", dir="/tmp"))
    out = open(var / "run-local.out", "wb")
    env = {**os.environ, "GRIDCALL_VAR": str(var), "GRIDCALL_HTTP_PORT": str(free_port()),
           "GRIDCALL_TIME_SCALE": "60", "GRIDCALL_REPORT_RATE": "1"}
    demo = subprocess.Popen([str(ROOT / "scripts" / "run-local.sh")], cwd=ROOT, env=env,
                            stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                            start_new_session=True)
    ctx = zmq.Context()
    load = None
    try:
        wait_for(lambda: demo.poll() is None and b"Ctrl-C stops everything"
                 in (var / "run-local.out").read_bytes(), 60, "the demo to start")
        pids_before = {d: (var / "run" / "pids" / f"{d}.pid").read_text().strip()
                       for d in DAEMONS}
        # as the demo's street gateway, with the keys run-local.sh made (var/keys)
        load = ReportLoad(ctx, [f"ipc://{var}/run/intake"], gc_directory.spread(), rate=50,
                          prefix="rr", cert=demo_cert(var / "keys", "street-gateway"),
                          server_key=demo_cert(var / "keys", "intake").public)
        load.run(1.0)
        script = subprocess.Popen([str(ROOT / "scripts" / "rolling-restart.sh")], cwd=ROOT,
                                  env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        t0 = time.monotonic()
        while script.poll() is None and time.monotonic() - t0 < 120:
            load.step()
        took = time.monotonic() - t0
        if script.poll() is None:               # never let it hang the run
            script.kill()
        report = script.communicate(timeout=10)[0].decode()
        assert script.returncode == 0, report
        for d in DAEMONS:
            assert f"rolling-restart: {d} drained in" in report, report
            pid = (var / "run" / "pids" / f"{d}.pid").read_text().strip()
            assert pid != pids_before[d] and Path(f"/proc/{pid}").exists(), f"{d} not running"
        load.run(1.0)
        load.drain(30)
        assert demo.poll() is None, "run-local.sh took a restart for a daemon that stopped"

        assert not load.conflicts, load.conflicts[:5]
        assert len(set(load.acked.values())) == load.sent, "a report became two cases"
        # as the administrator, with the password run-local.sh made (its layout)
        admin = (var / "redis" / "users" / "gc-admin.password").read_text().strip()
        redis = Redis(var / "redis" / "redis.sock", auth=("gc-admin", admin))
        try:
            states = case_states(redis, "gc:", load.acked.values())
            missing = [i for i, s in states.items() if s is None]
            assert not missing, f"{len(missing)} acknowledged reports lost: {missing[:5]}"

            def resolved():
                s = case_states(redis, "gc:", load.acked.values())
                return all(v in ("RESOLVED", "VERIFIED", "CLOSED") for v in s.values())
            wait_for(resolved, 60, "every case to be resolved by the simulated units",
                     interval=0.5)
        finally:
            redis.close()
        line = (f"rolling restart: 5 daemons of the demo restarted one at a time in {took:.1f} s "
                f"under 50 reports/s; {load.sent} reports, 0 lost, 0 doubled, all resolved; "
                + "; ".join(l.split(": ", 1)[1].split(" (")[0] for l in report.splitlines()
                            if l.startswith("rolling-restart:")))
        print(line)
        gc_cluster.SUMMARY.append(line)
    finally:
        if load:
            load.close()
        ctx.destroy(0)
        if demo.poll() is None:
            os.killpg(demo.pid, signal.SIGTERM)
        try:
            demo.wait(30)
        finally:
            out.close()
    assert demo.returncode == 0, (var / "run-local.out").read_text()
    wait_for(lambda: not processes_under(var), 10, "every demo process to end")
    subprocess.run(["rm", "-rf", str(var)], check=False)
