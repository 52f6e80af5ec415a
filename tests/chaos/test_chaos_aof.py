"""test_chaos_aof.py — a torn AOF tail. Redis runs with appendfsync always
(every report intake acknowledged is on disk before the answer) and is
killed -9 under load; its AOF then gets the first half of a command, as a
crash in the middle of a write leaves it. With aof-load-truncated Redis
starts anyway (dropping the torn command, which nobody was answered for),
the daemons reconnect, and the history checker finds nothing acknowledged
missing, nothing doubled, every case closed."""

import time
from pathlib import Path

from chaos_history import Lifecycle, assert_clean, figures, say, write_history
from gc_cluster import wait_for
from resilience_helpers import AofRedisServer, restart_redis

RATE = 40


class TornAofRedis(AofRedisServer):
    def argv(self):
        return super().argv() + ["--aof-load-truncated", "yes"]


def tear(folder):
    """Append the first half of the AOF's last transaction (a function's
    effects, MULTI ... EXEC, as Redis writes them) to its newest
    incremental file, as a write cut short leaves it; returns (file, bytes
    appended)."""
    incr = sorted(Path(folder, "appendonlydir").glob("*.incr.aof"), key=lambda p: p.stat().st_mtime)
    assert incr, f"no incremental AOF in {folder}/appendonlydir"
    path = incr[-1]
    data = path.read_bytes()
    last = data.rfind(b"*1\r\n$5\r\nMULTI\r\n")
    assert last >= 0, "no transaction in the AOF"
    block = data[last:]
    torn = block[:len(block) // 2]
    with open(path, "ab") as f:
        f.write(torn)
    return path, len(torn)


def test_a_torn_aof_tail_loses_nothing_acknowledged(cluster, gc_directory):
    c = cluster(load_directory=False)
    c.redis_server.stop()
    c.redis_server = TornAofRedis(c.folder)
    c.redis_server.start()
    c.setup_redis()
    c.load_directory()
    c.start("notify")
    c.start("dispatch", offer_timeout_ms=3000)
    c.start("intake")
    c.start("unit-sim", units="all", accept_rate=1, silence_rate=0, accept_delay_ms=10,
            resolve_delay_ms=300, seed=7)
    life = Lifecycle(c, gc_directory.servable(), RATE, prefix="aof")
    try:
        life.run(3)
        acked_before = dict(life.load.acked)
        c.redis_server.kill9()
        t_kill = time.monotonic()
        acked_at_kill = dict(life.load.acked)
        path, torn = tear(c.folder)
        life.run(0.5)
        restart_redis(c)
        def met():
            life.step()
            log = c.redis_server.log.read_text(errors="replace").lower()
            return any(w in log for w in ("aof-load-truncated", "short read",
                                          "revert incomplete multi/exec"))
        wait_for(met, 20, "Redis to load the AOF past its torn tail", interval=0)
        back = wait_for(lambda: (life.step(), next((a for a in life.load.acked_at.values()
                                                    if a > t_kill + 0.5), None))[1],
                        30, "a report acknowledged after the restart", interval=0)
        life.run(2)
        life.finish()
        result = life.check()
        write_history(c.folder / "history-aof.jsonl", life, result,
                      [{"what": "kill -9", "victim": "redis"},
                       {"what": "torn tail", "file": path.name, "bytes": torn}])
    finally:
        life.close()
    missing = [k for k in acked_at_kill if k not in life.load.acked]
    assert not missing
    line = (f"torn AOF tail (half a transaction, {torn} bytes, appended to {path.name}; appendfsync "
            f"always): Redis loaded it with aof-load-truncated, {len(acked_at_kill)} reports "
            f"acknowledged before the kill all present, reports acknowledged again "
            f"{back - t_kill:.2f} s after the kill; " + figures(result))
    say(line)
    assert len(acked_before) > RATE
    assert_clean(result)
