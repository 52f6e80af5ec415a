"""test_chaos_clock.py — the wall clock of a daemon host stepped by +1 h,
then to -1 h, while timers fall due.

How the daemons read time: every due time is set and judged by Redis's
clock (TIME inside the transitions: gc_fire takes only timers due by
Redis's now); the daemons' own waits use CLOCK_MONOTONIC (zclock_sleep,
gc_mono_ms), which a step of the wall clock does not move. The wall clock
of a daemon host shows only in its log stamps and, for dispatch, in
reading the rotas (rota_clock_offset_ms documents that). So a step on the
escalate host must change nothing: every timer fires once, in order, none
before it is due, with no burst after the step.

The step is made with libfaketime (Debian's libfaketime: LD_PRELOAD,
FAKETIME_TIMESTAMP_FILE re-read on every call, CLOCK_MONOTONIC left
alone, as a real step leaves it), on escalate only: the rest of the
machine keeps its clock. escalate's log stamps show the step took effect.
"""

import datetime
import time
from pathlib import Path

import pytest

from chaos_history import say
from gc_cluster import BUILD, Daemon
from test_timers_chaos import (SCALE, check_chains, file_cases, percentile, spread_deadlines,
                               wait_all_overdue)

FAKETIME = next((p for p in ("/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1",
                             "/usr/lib/aarch64-linux-gnu/faketime/libfaketime.so.1")
                 if Path(p).exists()), None)
pytestmark = pytest.mark.skipif(FAKETIME is None,
                                reason="libfaketime is not installed (scripts/bootstrap.sh chaos)")


class SteppedDaemon(Daemon):
    """A Daemon whose wall clock is read through libfaketime's file."""

    def __init__(self, clock_file, *args, **kw):
        super().__init__(*args, **kw)
        self.clock_file = clock_file

    def argv(self):
        return ["env", f"LD_PRELOAD={FAKETIME}", f"FAKETIME_TIMESTAMP_FILE={self.clock_file}",
                "FAKETIME_NO_CACHE=1", "FAKETIME_DONT_FAKE_MONOTONIC=1"] + super().argv()


def stamps(log):
    out = []
    for line in Path(log).read_text(errors="replace").splitlines():
        try:
            out.append(datetime.datetime.strptime(line.split(" ", 1)[0],
                                                  "%Y-%m-%dT%H:%M:%S.%fZ").timestamp())
        except ValueError:
            pass
    return out


def test_a_clock_step_on_the_escalate_host_fires_nothing_early(cluster, gc_directory):
    c = cluster("intake", time_scale=SCALE)
    ids = file_cases(c, 300, gc_directory.grids)
    spread_deadlines(c, ids, 2, 8, seed=9)
    clock = c.folder / "escalate.faketime"
    clock.write_text("+0\n")
    options, _, _ = c._defaults("escalate")
    options = {**c.common(), **c.credentials("escalate"), **c.curve_options("escalate"), **options,
               "top_repeat_minutes": 525600, "log_level": "info"}
    esc = SteppedDaemon(clock, "escalate", BUILD / "gridcall-escalate", options, c.folder)
    c.daemons["escalate"] = esc
    esc.start()
    time.sleep(2.5)
    clock.write_text("+1h\n")
    time.sleep(3)
    clock.write_text("-1h\n")
    wait_all_overdue(c, ids, 40)
    lateness = check_chains(c, ids, gc_directory)      # asserts: each once, in order, none early
    seen = stamps(esc.log)
    jumps = [b - a for a, b in zip(seen, seen[1:])]
    assert max(jumps) > 3000 and min(jumps) < -3000, \
        f"escalate's clock did not step (largest jumps {max(jumps):.0f} s, {min(jumps):.0f} s)"
    # no burst: none fired early (nothing pulled forward by +1 h) and none
    # held back (lateness stays that of an undisturbed run, so -1 h piled
    # nothing up to fire at once later)
    p50, p99 = percentile(lateness, 50), percentile(lateness, 99)
    assert p99 < 1000, f"timers held back by the step: p99 lateness {p99} ms"
    line = (f"clock step on the escalate host (+1 h at 2.5 s, -1 h at 5.5 s, libfaketime): "
            f"{len(ids)} cases, {len(lateness)} firings, none early, each once, in order; "
            f"lateness p50 {p50} ms, p99 {p99} ms, max {lateness[-1]} ms")
    say(line)
