"""test_redis_acl.py — Redis users (deploy/redis-users.acl): each daemon
logs in as its own user with only what its functions need, report's user
cannot write, nobody but the admin may load the library or flush Redis;
daemons check the library's version and never load it; a full Redis
(maxmemory, noeviction) makes intake answer UNAVAILABLE while reads go on."""

import json
import re
import subprocess
import urllib.request

import pytest

from gc_cluster import BUILD, ROOT, Redis, RedisError, Reporter, pb, set_args, wait_for
from resilience_helpers import restart_redis, use_aof_redis

ACL_FILE = ROOT / "deploy" / "redis-users.acl"
LIBRARY = BUILD / "gen" / "gridcall.lua"
#  the programs behind each user, whose C sources name the functions they call
SOURCES = {"gc-intake": ["intake"], "gc-dispatch": ["dispatch"], "gc-escalate": ["escalate"],
           "gc-notify": ["notify"], "gc-report": ["report"], "gc-operator": ["cli"]}
#  what a daemon runs besides its functions: ROLE behind Sentinel (the
#  store checks that the address Sentinel gave is the primary), WAIT and a
#  PUBLISH on <prefix>wait for intake's wait_replicas; the operator's ROLE
#  also gives `gridcall status` the replicas and their lag (not INFO: it
#  would show the server's configuration and clients too)
EXTRA = {"gc-intake": {"ROLE", "WAIT", "PUBLISH"}, "gc-dispatch": {"ROLE"},
         "gc-escalate": {"ROLE"}, "gc-notify": {"ROLE"}, "gc-report": {"ROLE"},
         "gc-operator": {"ROLE"}}
ADMIN_ONLY = {"gc_audit_add"}       # `gridcall redis setup` notes the load as gc-admin
#  called through the store class (store_directory_load) rather than by name
THROUGH_STORE = {"gc-operator": {"gc_dir_load"}}


# ---------------------------------------------------------------------------
# What each function can run: the library's call graph, read from its source

def library_commands():
    """{registered function: set of Redis commands it may run}, following
    calls between the library's local functions (over-approximated)."""
    #  the sources as written (the built library hoists shared locals)
    src = "\n".join(p.read_text() for p in sorted((ROOT / "services" / "common" / "lua").glob("*.lua")))
    chunks, cur, buf = {}, "", []
    for line in src.split("\n"):
        m = re.match(r"^local function (\w+)\s*\(", line)
        if m or line.startswith("redis.register_function"):
            chunks[cur] = chunks.get(cur, "") + "\n".join(buf)
            cur, buf = (m.group(1) if m else ""), []
        buf.append(line)
    chunks[cur] = chunks.get(cur, "") + "\n".join(buf)
    names = set(chunks) - {""}
    graph = {}
    for name, text in chunks.items():
        text = re.sub(r"--[^\n]*", "", text)
        cmds = {c.upper() for c in re.findall(r"redis\.p?call\('(\w+)'", text)}
        bare = re.sub(r"'[^'\n]*'|\"[^\"\n]*\"", "''", text)
        calls = {w for w in re.findall(r"(?<![.:\w])([A-Za-z_]\w*)\b(?!\s*=[^=])", bare)
                 if w in names}
        graph[name] = (cmds, calls)
    registered = dict(re.findall(r"redis\.register_function\('(\w+)',\s*(\w+)\)", src))
    registered.update(re.findall(r"function_name = '(\w+)',\s*callback = (\w+)", src))
    registered["gc_version"] = ""       # generated: answers a constant

    def reach(fn):
        seen, stack, cmds = set(), [fn], set()
        while stack:
            f = stack.pop()
            if f in seen or f not in graph or not f:
                continue
            seen.add(f)
            cmds |= graph[f][0]
            stack += list(graph[f][1])
        return cmds
    return {name: reach(fn) for name, fn in registered.items()}


def called_functions(user):
    out = {"gc_version"} | THROUGH_STORE.get(user, set())
    for folder in SOURCES[user]:
        for path in (ROOT / "services" / folder).glob("*.c"):
            out |= set(re.findall(r'"(gc_[a-z_]+)"', path.read_text()))
    return out - ADMIN_ONLY


def acl_users():
    """{user: (set of +commands, key patterns)} from the ACL file."""
    out = {}
    for line in ACL_FILE.read_text().splitlines():
        if line.startswith("user "):
            words = line.split()
            out[words[1]] = ({w[1:].upper() for w in words[2:] if w.startswith("+")},
                             [w for w in words[2:] if "~" in w])
    return out


def test_each_user_may_run_exactly_what_its_functions_need():
    commands = library_commands()
    users = acl_users()
    assert set(SOURCES) <= set(users), set(SOURCES) - set(users)
    for user in SOURCES:
        allowed, keys = users[user]
        fns = called_functions(user)
        assert fns <= set(commands), fns - set(commands)
        need = set().union(*(commands[f] for f in fns))
        need |= {"FCALL_RO"} | ({"FCALL"} if user != "gc-report" else set()) | EXTRA[user]
        assert allowed == need, f"{user}: missing {sorted(need - allowed)}, " \
                                f"more than needed {sorted(allowed - need)}"
        assert keys == (["%R~gc:*"] if user == "gc-report" else ["~gc:*"]), (user, keys)


def test_reports_functions_are_all_read_only(cluster):
    """Everything report calls is flagged no-writes (FCALL_RO), and every
    command its user may run is a read (Redis's own @read category, TIME and ROLE)."""
    c = cluster(load_directory=False)
    read = {name.upper() for name in c.redis.call("ACL", "CAT", "read")} | {"TIME", "ROLE"}
    allowed, _ = acl_users()["gc-report"]
    #  TIME and ROLE (behind Sentinel) are in no data category: no @write either
    write = {name.upper() for name in c.redis.call("ACL", "CAT", "write")}
    assert allowed - {"FCALL_RO"} <= read, (allowed - {"FCALL_RO"}) - read
    assert not allowed & write, allowed & write
    listed = c.redis.call("FUNCTION", "LIST", "LIBRARYNAME", "gridcall")[0]
    flags = {f[f.index("name") + 1]: f[f.index("flags") + 1]
             for f in listed[listed.index("functions") + 1]}
    for fn in called_functions("gc-report"):
        assert "no-writes" in flags[fn], f"report calls {fn}, which may write"


# ---------------------------------------------------------------------------
# What each user may not do, tried for real

def login(c, user):
    return Redis(c.redis_server.socket, auth=c.redis_server.auth(user))


def refused(r, *command):
    reply = r.pipeline([command])[0]
    assert isinstance(reply, RedisError), f"{command[0]} was allowed: {reply!r}"
    return str(reply)


def test_intakes_user_cannot_load_flush_or_leave_the_prefix(cluster):
    c = cluster()
    r = login(c, "gc-intake")
    try:
        assert "NOPERM" in refused(r, "FUNCTION", "LOAD", "REPLACE", LIBRARY.read_text())
        assert "NOPERM" in refused(r, "FUNCTION", "FLUSH")
        assert "NOPERM" in refused(r, "FLUSHALL")
        assert "NOPERM" in refused(r, "FLUSHDB")
        assert "NOPERM" in refused(r, "CONFIG", "SET", "maxmemory", "0")
        assert "NOPERM" in refused(r, "ACL", "SETUSER", "gc-intake", "+@all")
        assert "NOPERM" in refused(r, "KEYS", "*")
        assert "NOPERM" in refused(r, "EVAL", "return 1", 0)
        assert "NOPERM" in refused(r, "SET", "other:key", "1")
        assert "NOPERM" in refused(r, "GET", "other:key")
        # through a function: Redis checks each command inside against the user
        err = refused(r, "FCALL", "gc_register", 0, "other:", "k", "G01", "env.garbage", "t",
                      "GRID_WORKER", "x", "", "", 1, 86400, "p", "h")
        assert "can't access" in err or "NOPERM" in err, err
        assert c.redis.call("SCAN", 0, "MATCH", "other:*")[1] == []
        # what it is for still works
        assert json.loads(r.call("FCALL_RO", "gc_version", 0, "gc:"))["ok"]
    finally:
        r.close()
    assert c.redis.call("DBSIZE") > 0, "the directory is still there"


def test_reports_user_cannot_write(cluster, gc_directory):
    grid, category = gc_directory.choose("GRID")
    c = cluster("intake")
    case = c.reporter().report(grid, category, "a case report reads").case_id
    r = login(c, "gc-report")
    try:
        assert "NOPERM" in refused(r, "HSET", f"gc:case:{case}", "state", "CLOSED")
        assert "NOPERM" in refused(r, "DEL", f"gc:case:{case}")
        assert "NOPERM" in refused(r, "FCALL", "gc_verify", 0, "gc:", case, 1, "", "x", 1, "x")
        assert "write flag" in refused(r, "FCALL_RO", "gc_verify", 0, "gc:", case, 1, "", "x",
                                       1, "x")
        assert "NOPERM" in refused(r, "FUNCTION", "LOAD", "REPLACE", LIBRARY.read_text())
        assert "NOPERM" in refused(r, "FLUSHALL")
        # reads work
        got = json.loads(r.call("FCALL_RO", "gc_case_get", 0, "gc:", case))
        assert got["ok"] and got["case"]["state"] == "REGISTERED"
    finally:
        r.close()
    assert c.state(case) == "REGISTERED"


def test_nobody_logs_in_as_the_default_user(cluster):
    c = cluster(load_directory=False)
    r = Redis(c.redis_server.socket)
    try:
        assert "NOAUTH" in refused(r, "PING")
        assert "NOAUTH" in refused(r, "FLUSHALL")
        for auth in (("default", ""), ("default", "default"), ("",), ("redis",)):
            assert "WRONGPASS" in refused(r, "AUTH", *auth)
        assert "NOAUTH" in refused(r, "GET", "gc:dir:json")
    finally:
        r.close()


def _restart_keeps_a_case(c, grid, category):
    """Register a case (a function's effects: MULTI/EXEC in the AOF), kill
    Redis and start it on its AOF; returns whether the case came back."""
    reporter = c.reporter()
    report = Reporter.new_report(grid, category, "before the restart")

    def filed():        # intake may still be reconnecting after a restart
        kind, msg = reporter.request("report", report)
        return msg.case_id if kind == "report.ok" else None
    case = wait_for(filed, 10, "intake to register a report")
    c.redis_server.kill9()
    restart_redis(c)
    wait_for(lambda: not c.redis_server.loading(), 30, "Redis to load its AOF")
    return c.state(case) == "REGISTERED"


def test_a_restart_replays_every_transaction_of_the_aof(cluster, gc_directory):
    """Redis 7.0 replays its AOF's transactions as the default user: ours
    keeps every command (and no password), so a restart loses nothing; an
    "off" default user, as one might write, would drop them all."""
    grid, category = gc_directory.choose("GRID")
    c = cluster(load_directory=False)
    use_aof_redis(c)
    c.load_directory()
    c.start("intake")
    assert _restart_keeps_a_case(c, grid, category)
    assert "CRITICAL" not in c.redis_server.log.read_text()
    # the same with the default user off: the case is gone after the restart
    acl = c.redis_server.folder / "users.acl"
    acl.write_text(re.sub(r"^user default .*$", "user default off resetpass nocommands",
                          acl.read_text(), flags=re.M))
    assert not _restart_keeps_a_case(c, grid, category)
    assert "ACLs rules changed" in c.redis_server.log.read_text()
    r = c.cli("redis", "setup", user="gc-admin")
    assert "warning: the default user is off or limited" in r.stdout, r.stdout + r.stderr


def test_a_refused_store_call_fails_the_cli(cluster):
    """`gridcall stats` as a user whose functions' commands Redis refuses:
    an error and a non-zero exit, not "none"."""
    c = cluster()
    r = c.cli("stats", user="gc-notify")
    assert r.returncode == 1, r.stdout + r.stderr
    assert "stats: INTERNAL" in r.stderr and "none" not in r.stdout, r.stdout + r.stderr


# ---------------------------------------------------------------------------
# The library: loaded by the admin step only, its version checked at start

def start_briefly(c, name, **overrides):
    """Run daemon name as Cluster.start would, expecting it to exit."""
    options, _, _ = c._defaults(name)
    options = {**c.common(), **c.credentials(name), **c.curve_options(name), **options, **overrides}
    argv = [str(BUILD / f"gridcall-{name}")] + set_args(options, c.folder)
    return subprocess.run(argv, capture_output=True, text=True, timeout=30,
                          stdin=subprocess.DEVNULL)


def test_daemons_refuse_another_builds_library(cluster):
    c = cluster()
    other = re.sub(r"local LIBRARY_VERSION = '[0-9a-f]+'",
                   "local LIBRARY_VERSION = '" + "0123456789" * 4 + "'", LIBRARY.read_text())
    c.redis.call("FUNCTION", "LOAD", "REPLACE", other)
    for name in ("intake", "dispatch", "escalate", "notify", "report"):
        done = start_briefly(c, name)
        assert done.returncode != 0, f"{name} started against another build's library"
        assert "function library 0123456789" in done.stderr \
            and "run gridcall redis setup" in done.stderr, done.stderr
    # the CLI says the same, and the admin step puts it right
    r = c.cli("stats")
    assert r.returncode == 1 and "run gridcall redis setup" in r.stderr, r.stderr
    c.setup_redis()
    c.start("intake")
    assert c.reporter().report(*c.directory.choose("GRID")).case_id


def test_daemons_refuse_a_redis_without_the_library_or_with_a_wrong_password(cluster):
    c = cluster()
    done = start_briefly(c, "intake", redis_password="not-the-password")
    assert done.returncode != 0 and "WRONGPASS" in done.stderr, done.stderr
    c.redis.call("FUNCTION", "FLUSH")
    done = start_briefly(c, "dispatch")
    assert done.returncode != 0, done.stderr
    assert "no gridcall function library; run gridcall redis setup" in done.stderr, done.stderr
    # a daemon's user may not load it itself; gridcall redis setup as another
    # user than gc-admin is refused too
    r = c.cli("redis", "setup")
    assert r.returncode == 1 and "NOPERM" in r.stderr, r.stderr
    assert c.redis.call("FUNCTION", "LIST") == []


def test_daemons_wait_for_a_redis_that_is_not_up_yet(cluster):
    """Not reachable at start is not a refusal: the daemon starts and
    serves once Redis is there."""
    c = cluster()
    c.redis_server.stop()
    d = c.start("intake")
    reporter = c.reporter()
    kind, err = reporter.request("report", Reporter.new_report(*c.directory.choose("GRID"),
                                                               key="before-redis"))
    assert kind == "error" and err.code == pb.ERROR_UNAVAILABLE, err
    assert d.alive()


# ---------------------------------------------------------------------------
# A full Redis

def test_a_full_redis_makes_intake_answer_unavailable_and_reads_go_on(cluster, gc_directory):
    grid, category = gc_directory.choose("GRID")
    c = cluster("intake", "report")
    reporter = c.reporter()
    first = reporter.report(grid, category, "before Redis filled up").case_id
    port = c["report"].ready_match.group(2)
    c.redis.call("CONFIG", "SET", "maxmemory", 1)
    try:
        for _ in range(3):
            kind, err = reporter.request("report", Reporter.new_report(grid, category, "while full",
                                                                       key="full-1"))
            assert kind == "error" and err.code == pb.ERROR_UNAVAILABLE, (kind, err)
            assert err.message == "the case store cannot take this now; retry later", err
        kind, err = reporter.verify(first, True)
        assert kind == "error" and err.code == pb.ERROR_UNAVAILABLE, (kind, err)
        assert c["intake"].alive()
        # reads go on: the screen's figures, a case, the operator's stats
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/stats", timeout=10) as resp:
            assert resp.status == 200 and json.loads(resp.read())["open"] == 1
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/cases/{first}",
                                    timeout=10) as resp:
            assert resp.status == 200
        r = c.cli("stats", "--json")
        assert r.returncode == 0 and json.loads(r.stdout)["total"]["reported"] in (1, "1")
    finally:
        c.redis.call("CONFIG", "SET", "maxmemory", c.redis_server.MAXMEMORY)
    # room again: the same key registers (it was never burnt)
    kind, ok = reporter.request("report", Reporter.new_report(grid, category, "while full",
                                                              key="full-1"))
    assert kind == "report.ok" and not ok.duplicate, (kind, ok)
    assert "OOM" in c["intake"].log.read_text(), "the detail belongs in intake's log"


@pytest.mark.parametrize("user", ["gc-intake", "gc-dispatch", "gc-escalate", "gc-notify",
                                  "gc-report", "gc-operator"])
def test_every_users_password_is_needed(cluster, user):
    c = cluster(load_directory=False)
    r = Redis(c.redis_server.socket)
    try:
        assert "WRONGPASS" in refused(r, "AUTH", user, "guess")
        assert r.call("AUTH", user, c.redis_server.password(user)) == "OK"
    finally:
        r.close()


@pytest.mark.parametrize("user", ["gc-replica", "gc-sentinel"])
def test_replication_and_sentinel_users_reach_no_data(cluster, user):
    """The users a replica and Sentinel log in with (test_sentinel.py shows
    they are enough to replicate and fail over) cannot read or write a key,
    call a function or change Redis beyond what replication needs."""
    c = cluster()
    r = login(c, user)
    try:
        for command in (("GET", "gc:dir:version"), ("SET", "gc:x", "1"), ("KEYS", "*"),
                        ("SCAN", 0), ("FCALL_RO", "gc_version", 0, "gc:"),
                        ("FUNCTION", "LOAD", "REPLACE", LIBRARY.read_text()), ("FLUSHALL",),
                        ("CONFIG", "SET", "maxmemory", "0"), ("CONFIG", "GET", "*"),
                        ("ACL", "LIST"), ("EVAL", "return 1", 0), ("MONITOR",),
                        ("SUBSCRIBE", "gc:wait")):
            assert "NOPERM" in refused(r, *command), command
        assert r.call("PING") == "PONG"
    finally:
        r.close()
    assert c.redis.call("EXISTS", "gc:x") == 0
