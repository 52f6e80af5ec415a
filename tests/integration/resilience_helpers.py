"""resilience_helpers.py — what test_resilience.py needs beyond gc_cluster:
a redis-server with its AOF on that can be SIGKILLed and restarted on the
same socket and data (optionally loading slowly, so the daemons meet its
LOADING answer), daemons started with a -c FILE they can re-read on
SIGHUP, and a look at the processes still holding a folder."""

import os
import subprocess
from pathlib import Path

from gc_cluster import BUILD, Daemon, Redis, RedisError, RedisServer, wait_for


class AofRedisServer(RedisServer):
    """RedisServer with AOF on and fsync at every write, so every report
    intake acknowledged survives a SIGKILL. slow_load_us makes a restart
    read each key of the AOF's RDB base that much slower."""

    def __init__(self, folder, slow_load_us=0):
        super().__init__(folder)
        self.slow_load_us = slow_load_us

    def start(self):
        argv = self.argv() + ["--appendonly", "yes", "--appendfsync", "always"]
        if self.slow_load_us:
            #  answer LOADING often while loading, as a large AOF would
            argv += ["--key-load-delay", str(self.slow_load_us),
                     "--loading-process-events-interval-bytes", "1024"]
        self.proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                     stderr=subprocess.STDOUT, start_new_session=True)
        wait_for(self._answers, 10, "redis-server to answer (PONG or LOADING)")

    def _answers(self):
        if self.proc.poll() is not None:
            raise AssertionError(f"redis-server exited with {self.proc.returncode}")
        try:
            r = Redis(self.socket, timeout=1, auth=self.auth())
        except OSError:
            return False
        except RedisError as e:         # AUTH while loading answers LOADING too
            return "LOADING" in str(e)
        try:
            reply = r.pipeline([("PING",)])[0]
            return reply == "PONG" or (isinstance(reply, RedisError) and "LOADING" in str(reply))
        finally:
            r.close()

    def loading(self):
        r = Redis(self.socket, timeout=5, auth=self.auth())
        try:
            info = r.call("INFO", "persistence")
        finally:
            r.close()
        return "\nloading:1" in "\n" + info.replace("\r", "")

    def rewrite_aof(self):
        """Fold the AOF into an RDB base (what a slow load delays)."""
        r = Redis(self.socket, auth=self.auth())
        try:
            r.call("BGREWRITEAOF")
            wait_for(lambda: "aof_rewrite_in_progress:0" in r.call("INFO", "persistence")
                     and "aof_rewrite_scheduled:0" in r.call("INFO", "persistence"),
                     30, "the AOF rewrite to finish")
        finally:
            r.close()

    def kill9(self):
        self.proc.kill()
        self.proc.wait(10)


def use_aof_redis(cluster, slow_load_us=0):
    """Replace the cluster's throw-away Redis (AOF off) by an AofRedisServer
    on the same socket, before anything was loaded into it."""
    cluster.redis_server.stop()
    cluster.redis_server = AofRedisServer(cluster.folder, slow_load_us)
    cluster.redis_server.start()
    cluster.setup_redis()           # the library goes with the old Redis
    return cluster.redis_server


def restart_redis(cluster):
    """Start the cluster's Redis again on its socket and AOF; drop the
    test's own connection, which died with the old process."""
    if cluster._redis is not None:
        try:
            cluster._redis.close()
        except OSError:
            pass
        cluster._redis = None
    cluster.redis_server.start()


class ConfDaemon(Daemon):
    """A daemon started with -c FILE before its --set options, so that a
    SIGHUP has a file to re-read."""

    def __init__(self, conf, *args, **kw):
        super().__init__(*args, **kw)
        self.conf = Path(conf)

    def argv(self):
        out = super().argv()
        return out[:1] + ["-c", str(self.conf)] + out[1:]


def start_with_conf(cluster, name, conf, **overrides):
    """Like Cluster.start, but the daemon reads conf (-c) and log_level is
    left to that file (a --set would override every reload)."""
    options, binds, ready = cluster._defaults(name)
    options = {**cluster.common(), **cluster.credentials(name), **cluster.curve_options(name),
               **options, **overrides}
    options.pop("log_level", None)
    d = ConfDaemon(conf, name, BUILD / f"gridcall-{name}", options, cluster.folder, binds, ready)
    cluster.daemons[name] = d
    return d.start()


def log_text(daemon, since=0):
    """The daemon's log from byte offset since, as text."""
    with open(daemon.log, "rb") as f:
        f.seek(since)
        return f.read().decode("utf-8", "replace")


def log_size(daemon):
    return daemon.log.stat().st_size if daemon.log.exists() else 0


def processes_under(folder):
    """(pid, command line) of every process whose command line or
    environment names folder (the demo's simulator finds it by
    GRIDCALL_CONF), this one aside."""
    out = []
    needle = str(folder).encode()
    for entry in os.listdir("/proc"):
        if not entry.isdigit() or int(entry) == os.getpid():
            continue
        try:
            with open(f"/proc/{entry}/cmdline", "rb") as f:
                cmd = f.read()
            with open(f"/proc/{entry}/environ", "rb") as f:
                env = f.read()
        except OSError:
            continue
        if cmd and (needle in cmd or needle in env):
            out.append((int(entry), cmd.replace(b"\0", b" ").decode("utf-8", "replace")))
    return out


def blocks_sighup(daemon):
    """True once the daemon's main thread has SIGHUP blocked (gc_daemon_init
    ran): from then on a SIGHUP is a reload, before it the default kills."""
    try:
        with open(f"/proc/{daemon.proc.pid}/status") as f:
            for line in f:
                if line.startswith("SigBlk:"):
                    return bool(int(line.split()[1], 16) & (1 << (1 - 1)))
    except OSError:
        return False
    return False
