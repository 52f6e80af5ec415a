"""test_deploy_files.py — the deployment files in deploy/ as far as this
machine can check them without systemd as init, a container engine or a
Kubernetes cluster:

- systemd units: `systemd-analyze verify` (no output at all), the
  sandboxing the issue asks for, `systemd-analyze security --offline`
  exposure, secrets only as credentials, options the daemons accept, each
  daemon its own Redis user, the admin step (gridcall-redis-setup.service,
  oneshot, ordered before the daemons) run for real against a Redis;
- the Dockerfile: Debian 12 stages, built with `make all`, a non-root user,
  runtime packages that exist in Debian;
- compose and Kubernetes: YAML that parses, every daemon present (two of
  each; the two dispatches with their own instance names, one CurveZMQ
  key, and every unit and wake-up sender listing both), images, probes, PodDisruptionBudgets, secrets as
  files never inline, each daemon its own Redis user with that user's
  password file (scripts/redis-users.sh's layout), the admin step (a
  one-shot service the daemons wait for; a Job) holding the only admin
  password, the ConfigMap equal to deploy/*.conf, and every option on a
  command line accepted by the daemon's --check-config (secret files
  written with stand-in values); `docker compose config` when a compose
  plugin is installed;
- the compose Redis, replica and Sentinel commands run here without a
  container (paths and host names mapped to a temporary folder): the
  users load, the replica and the Sentinel log in as their users, the
  admin step and the directory load go through the Sentinel, and intake
  serves with its compose options.
"""

import os
import re
import shlex
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest
import yaml

import gc_keys

from cluster_helpers import ask, free_port
from gc_cluster import BUILD, REDIS_SERVER, ROOT, tail, wait_for

DEPLOY = ROOT / "deploy"
DAEMONS = ["intake", "dispatch", "escalate", "notify", "report"]
#  dispatch: a StatefulSet (stable pod names, a Service per pod) of two
DISPATCHES = 2
SECRET_WORDS = ("password", "secret", "token")
REDIS_USERS = ROOT / "scripts" / "redis-users.sh"
ADMIN = "gc-admin"
DEMO_DIRECTORY = "/usr/local/share/gridcall/tianjiao/directory.json"


def set_options(args):
    """[(name, value)] of every `--set name=value` in an argv list."""
    out = []
    for i, a in enumerate(args[:-1]):
        if a == "--set":
            name, _, value = args[i + 1].partition("=")
            out.append((name, value))
    return out


def check_config(daemon, options):
    """Run the daemon's --check-config on deploy/gridcall-DAEMON.conf and the
    options. The *_file secrets exist only where deployed: each is given a
    file of its own holding a stand-in value, so the option must be one the
    daemon takes, and what it needs (report's screen token on a public
    bind) counts as set; the CurveZMQ files (stand_in_keys) are real keys
    made here. Returns the CompletedProcess."""
    argv = [str(BUILD / f"gridcall-{daemon}"), "-c", str(DEPLOY / f"gridcall-{daemon}.conf")]
    with tempfile.TemporaryDirectory() as folder:
        keys = stand_in_keys(folder)
        for name, value in options:
            if name in keys and value:
                value = keys[name]
            elif name.endswith("_file") and value:
                # private, as deployed: the daemons refuse a secret others can read
                value = Path(folder) / name
                value.write_text("stand-in-secret-0123456789\n")
                value.chmod(0o600)
            argv += ["--set", f"{name}={value}"]
        return subprocess.run(argv + ["--check-config"], capture_output=True, text=True,
                              timeout=10)


def stand_in_keys(folder):
    """{option: path} of stand-in CurveZMQ files in folder: a secret
    certificate (mode 0600) for curve_secret_file, dispatch's and notify's
    public certificates, a principals file binding the daemons' keys."""
    ring = gc_keys.Keyring(Path(folder) / "keys")
    for name in ("intake", "dispatch", "escalate", "notify", "report"):
        ring.make(name, f"daemon {name}")
    ring.write()
    return {"curve_secret_file": ring.certs["intake"].secret_path,
            "principals": ring.principals_path, "dispatch_key": ring.certs["dispatch"].path,
            "notify_key": ring.certs["notify"].path}


def assert_own_redis_user(daemon, options, password_source):
    """The daemon logs in as gc-DAEMON with a password file, and that file is
    gc-DAEMON's password (password_source(path) names the user whose
    password scripts/redis-users.sh put there)."""
    opts = dict(options)
    assert opts.get("redis_user") == f"gc-{daemon}", \
        f"{daemon}: redis_user {opts.get('redis_user')}"
    assert "redis_password_file" in opts, f"{daemon}: no redis_password_file"
    assert password_source(opts["redis_password_file"]) == f"gc-{daemon}", \
        f"{daemon}: {opts['redis_password_file']} is not gc-{daemon}'s password"


def user_of(path):
    """The Redis user whose password a file of scripts/redis-users.sh's
    layout (users/USER.password) holds, or None."""
    m = re.fullmatch(r"(?:\./)?(?:.*/)?users/([a-z-]+)\.password", str(path))
    return m.group(1) if m else None


def run_gridcall(argv, redis, secret_user, **extra):
    """Run a deployment's gridcall command line (argv[0] "gridcall" or a path
    ending in it) against a test Redis: its -c file mapped to
    deploy/gridcall.conf, its Redis address replaced by the test's (extra
    options win), each *_file secret a file holding secret_user's password.
    Returns the CompletedProcess."""
    assert Path(argv[0]).name == "gridcall", argv
    out, words, i = [str(BUILD / "gridcall")], [], 1
    folder = Path(tempfile.mkdtemp(prefix="gc-deploy-", dir="/tmp"))
    try:
        while i < len(argv):
            if argv[i] == "-c":
                assert argv[i + 1] == "/etc/gridcall/gridcall.conf", argv[i + 1]
                out += ["-c", str(DEPLOY / "gridcall.conf")]
                i += 2
            elif argv[i] == "--set":
                name, _, value = argv[i + 1].partition("=")
                if name.endswith("_file"):
                    value = folder / name
                    fd = os.open(value, os.O_WRONLY | os.O_CREAT, 0o600)
                    with os.fdopen(fd, "w") as f:
                        f.write(redis.password(secret_user) + "\n")
                if name not in ("sentinels", "sentinel_master") and name not in extra:
                    out += ["--set", f"{name}={value}"]
                i += 2
            else:
                words.append(argv[i])
                i += 1
        out += [a for k, v in extra.items() for a in ("--set", f"{k}={v}")]
        return subprocess.run(out + words, capture_output=True, text=True, timeout=30,
                              stdin=subprocess.DEVNULL)
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def assert_setup_loads_the_library(c, argv, secret_user):
    """The admin step's command line, run against cluster c's Redis with
    its library flushed, loads the library again (and a daemon starts)."""
    c.redis.call("FUNCTION", "FLUSH")
    r = run_gridcall(argv, c.redis_server, secret_user, redis_socket=c.redis_server.socket)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "function library gridcall" in r.stdout and "loaded" in r.stdout, r.stdout
    assert c.redis.call("FUNCTION", "LIST", "LIBRARYNAME", "gridcall"), "no library loaded"
    c.start("intake")


#  CurveZMQ (docs/security.md): the daemons others reach bind with a key and
#  the principals file; escalate connects only, with a key of its own
CURVE_SERVERS = {"intake", "dispatch", "notify"}


def assert_curve(daemon, options):
    """daemon's options (over its deploy/*.conf) run CurveZMQ as deployed:
    its secret key as a file, the principals file where it binds, the
    public key of every daemon it reaches over TCP."""
    opts = dict(options)
    conf = (DEPLOY / f"gridcall-{daemon}.conf").read_text()
    assert re.search(r"^curve yes$", conf, re.M) and opts.get("curve", "yes") == "yes", daemon
    if daemon in CURVE_SERVERS | {"escalate"}:
        assert opts.get("curve_secret_file"), f"{daemon}: no curve_secret_file"
    if daemon in CURVE_SERVERS:
        assert opts.get("principals"), f"{daemon}: no principals"
    for peer in ("dispatch", "notify"):
        endpoint = opts.get(f"{peer}_endpoint") or (re.search(
            rf"^{peer}_endpoint (\S+)$", conf, re.M) or [None, ""])[1]
        if endpoint.startswith("tcp://"):
            assert opts.get(f"{peer}_key"), f"{daemon}: {peer}_endpoint {endpoint} without {peer}_key"


def assert_no_inline_secret(options, where):
    for name, value in options:
        if any(w in name for w in SECRET_WORDS):
            assert name.endswith("_file"), f"{where}: secret {name} given inline"


# ---------------------------------------------------------------------------
# systemd

SYSTEMD = DEPLOY / "systemd"


def unit_text(daemon):
    return (SYSTEMD / f"gridcall-{daemon}@.service").read_text()


def unit_settings(text):
    """{key: [values]} of a unit file."""
    out = {}
    for line in text.splitlines():
        if "=" in line and not line.lstrip().startswith(("#", "[")):
            k, _, v = line.partition("=")
            out.setdefault(k.strip(), []).append(v.strip())
    return out


SETUP_UNIT = "gridcall-redis-setup.service"


@pytest.fixture(scope="module")
def units_dir(tmp_path_factory):
    """The templates as instance @1, and the admin step, running the
    binaries of build/."""
    d = tmp_path_factory.mktemp("units")
    for daemon in DAEMONS:
        text = unit_text(daemon).replace("/usr/local/bin/", f"{BUILD}/")
        (d / f"gridcall-{daemon}@1.service").write_text(text)
    (d / SETUP_UNIT).write_text((SYSTEMD / SETUP_UNIT).read_text()
                                .replace("/usr/local/bin/", f"{BUILD}/"))
    shutil.copy(SYSTEMD / "gridcall.target", d / "gridcall.target")
    return d


@pytest.mark.skipif(not shutil.which("systemd-analyze"), reason="systemd-analyze is not installed")
def test_systemd_units_verify(units_dir):
    files = sorted(str(p) for p in units_dir.iterdir())
    r = subprocess.run(["systemd-analyze", "verify", *files], capture_output=True, text=True,
                       timeout=60)
    # verify exits 0 on many problems it only prints: any output is a problem
    assert r.returncode == 0 and not r.stdout.strip() and not r.stderr.strip(), \
        r.stdout + r.stderr
    for unit in [f"gridcall-{daemon}@1.service" for daemon in DAEMONS] + [SETUP_UNIT]:
        r = subprocess.run(["systemd-analyze", "security", "--offline=yes", "--threshold=20",
                            str(units_dir / unit)],
                           capture_output=True, text=True, timeout=60)
        level = re.search(r"Overall exposure level for \S+: ([\d.]+)", r.stdout)
        assert r.returncode == 0 and level and float(level.group(1)) <= 2.0, r.stdout[-400:]


HARDENED = [("DynamicUser", "yes"), ("ProtectSystem", "strict"), ("ProtectHome", "yes"),
            ("NoNewPrivileges", "yes"), ("PrivateTmp", "yes"),
            ("RestrictAddressFamilies", "AF_UNIX AF_INET AF_INET6"),
            ("WantedBy", "gridcall.target"), ("PartOf", "gridcall.target")]


def assert_hardened(name, s):
    for key, value in HARDENED:
        assert value in s.get(key, []), f"{name}: {key}={value} missing"
    assert "@system-service" in s["SystemCallFilter"]
    assert s.get("CapabilityBoundingSet") == [""]
    assert "ReadWritePaths" not in s, "nothing is writable but a StateDirectory"


@pytest.mark.parametrize("daemon", DAEMONS)
def test_systemd_unit_is_hardened_and_takes_secrets_as_files(daemon):
    text = unit_text(daemon)
    s = unit_settings(text)
    assert_hardened(daemon, s)
    for key, value in [("Restart", "on-failure"), ("KillSignal", "SIGTERM")]:
        assert value in s.get(key, []), f"{daemon}: {key}={value} missing"
    # the admin step runs first (the daemon refuses a Redis without the library)
    for key in ("Wants", "After"):
        assert SETUP_UNIT in " ".join(s.get(key, [])).split(), f"{daemon}: {key} lacks {SETUP_UNIT}"
    argv = shlex.split(s["ExecStart"][0])
    assert argv[0] == f"/usr/local/bin/gridcall-{daemon}"
    assert argv[1:3] == ["-c", f"/etc/gridcall/gridcall-{daemon}.conf"]
    options = set_options(argv)
    assert_no_inline_secret(options, daemon)
    credentials = {v.split(":")[0]: v.split(":", 1)[1] for v in s.get("LoadCredential", [])}
    assert "redis_password" in credentials
    for name, value in options:
        if name.endswith("_file"):
            assert value == f"%d/{name[:-len('_file')]}" and name[:-5] in credentials, \
                f"{daemon}: {name}={value} is not a credential it loads"
    # its own Redis user, its password in the daemon's own credentials folder
    assert dict(options).get("redis_user") == f"gc-{daemon}", options
    assert credentials["redis_password"] == "/etc/gridcall/credentials/%p/redis_password"
    assert_curve(daemon, options)
    r = check_config(daemon, options)
    assert r.returncode == 0, f"{daemon}: {r.stderr}"


def test_systemd_redis_setup_is_a_oneshot_admin_step(cluster):
    s = unit_settings((SYSTEMD / SETUP_UNIT).read_text())
    assert_hardened(SETUP_UNIT, s)
    assert s["Type"] == ["oneshot"] and s.get("RemainAfterExit") == ["yes"]
    argv = shlex.split(s["ExecStart"][0])
    assert argv[:3] == ["/usr/local/bin/gridcall", "-c", "/etc/gridcall/gridcall.conf"]
    assert argv[-2:] == ["redis", "setup"]
    options = dict(set_options(argv))
    assert options["redis_user"] == ADMIN
    assert options["redis_password_file"] == "%d/redis_password"
    assert s["LoadCredential"] == ["redis_password:/etc/gridcall/credentials/%N/redis_password"]
    assert_no_inline_secret(set_options(argv), SETUP_UNIT)
    # the command line does what it says, with the admin's password
    assert_setup_loads_the_library(cluster(), argv, ADMIN)


def test_systemd_target_exists():
    s = unit_settings((SYSTEMD / "gridcall.target").read_text())
    assert "multi-user.target" in s["WantedBy"]


# ---------------------------------------------------------------------------
# the container image

def dockerfile_stages():
    """[(FROM line, [instructions])] with continuation lines joined."""
    text = (DEPLOY / "container" / "Dockerfile").read_text()
    text = re.sub(r"\\\n\s*", " ", re.sub(r"^\s*#.*\n", "", text, flags=re.M))
    stages = []
    for line in text.splitlines():
        line = line.strip()
        if line.startswith("FROM "):
            stages.append((line, []))
        elif line and stages:
            stages[-1][1].append(line)
    return stages


def apt_packages(instructions):
    out = []
    for i in instructions:
        m = re.search(r"apt-get install (.*?)(&&|$)", i)
        if m:
            out += [w for w in m.group(1).split() if not w.startswith("-")]
    return out


def test_dockerfile_builds_on_debian_12_and_runs_unprivileged():
    stages = dockerfile_stages()
    assert len(stages) >= 2, "a build stage and a run stage"
    for line, _ in stages:
        assert re.match(r"FROM debian:12(-slim)?\b", line), line
    build, run = stages[0][1], stages[-1][1]
    assert any("make all" in i for i in build)
    # every build package scripts/bootstrap.sh installs (but the test tools)
    boot = (ROOT / "scripts" / "bootstrap.sh").read_text()
    wanted = set(re.search(r'PACKAGES="([^"]*)"', boot).group(1).split()) - {
        "libcmocka-dev", "redis-server", "redis-tools", "python3-zmq", "python3-protobuf",
        "python3-pytest", "python3-yaml"}
    missing = wanted - set(apt_packages(build))
    assert not missing, f"the image build lacks {missing}"
    user = [i.split()[1] for i in run if i.startswith("USER ")]
    assert user and user[-1].split(":")[0] not in ("root", "0"), "the image runs as root"
    assert any(i.startswith("COPY --from=") for i in run)
    assert not any(i.startswith("ENV ") and any(w in i.lower() for w in SECRET_WORDS)
                   for i in build + run), "a secret in the image's environment"
    cmd = [i for i in run if i.startswith("CMD ")][-1]
    m = re.search(r'"gridcall-(intake|dispatch|escalate|notify|report)"', cmd)
    assert m
    # the default command is one the daemon accepts, its secrets as files
    argv = yaml.safe_load(cmd[len("CMD "):])
    assert_no_inline_secret(set_options(argv), "CMD")
    r = check_config(m.group(1), set_options(argv))
    assert r.returncode == 0, f"CMD: {r.stderr}"


@pytest.mark.skipif(not shutil.which("apt-cache"), reason="no apt-cache")
def test_dockerfile_runtime_packages_exist_in_debian():
    packages = apt_packages(dockerfile_stages()[-1][1])
    r = subprocess.run(["dpkg-query", "-W", "-f", "${Package}\n", *packages],
                       capture_output=True, text=True, timeout=30)
    for p in set(packages) - set(r.stdout.split()):     # not installed here: ask apt
        r = subprocess.run(["apt-cache", "show", "--no-all-versions", p], capture_output=True,
                           text=True, timeout=30)
        assert r.returncode == 0 and r.stdout.strip(), f"{p} is not a Debian package"


# ---------------------------------------------------------------------------
# compose

COMPOSE = DEPLOY / "compose" / "compose.yaml"


def compose():
    return yaml.safe_load(COMPOSE.read_text())


def test_compose_cluster_topology():
    doc = compose()
    services = doc["services"]
    primary, replica = services["redis-primary"], services["redis-replica"]
    assert "--replicaof redis-primary 6379" in " ".join(replica["command"])
    sentinels = [n for n, s in services.items()
                 if "--sentinel" in " ".join(map(str, s.get("command", [])))]
    assert len(sentinels) == 3, sentinels
    sentinel_conf = (DEPLOY / "compose" / "sentinel.conf").read_text()
    assert re.search(r"^sentinel monitor gridcall redis-primary 6379 2$", sentinel_conf, re.M)
    assert primary["image"] == replica["image"]
    by_daemon = {d: [] for d in DAEMONS + ["unit-sim"]}
    for name, s in services.items():
        cmd = s.get("command", [])
        m = re.fullmatch(r"gridcall-([a-z-]+)", str(cmd[0])) if cmd else None
        if m and m.group(1) in by_daemon:
            by_daemon[m.group(1)].append(name)
            assert s["image"] == "gridcall:latest", name
            assert s.get("restart") == "on-failure" and s.get("read_only") is True, name
            assert s.get("cap_drop") == ["ALL"], name
            options = dict(set_options(cmd))
            assert options["sentinels"] == ",".join(f"{n}:26379" for n in sentinels), name
            assert options["sentinel_master"] == "gridcall"
    for d, names in by_daemon.items():
        want = 1 if d == "unit-sim" else 2
        assert len(names) == want, f"{d}: {names}"


def test_compose_secrets_are_files():
    doc = compose()
    for name, s in doc["secrets"].items():
        assert set(s) == {"file"} and s["file"].startswith("./secrets/"), name
    for name, s in doc["services"].items():
        env = s.get("environment") or {}
        items = env.items() if isinstance(env, dict) else (e.partition("=")[::2] for e in env)
        for k, _ in items:
            assert not any(w in k.lower() for w in SECRET_WORDS), f"{name}: {k} in environment"
        cmd = [str(c) for c in s.get("command", [])]
        options = set_options(cmd)
        assert_no_inline_secret(options, name)
        for opt, value in options:
            if opt.endswith("_file"):
                secret = value.rsplit("/", 1)[-1]
                assert value == f"/run/secrets/{secret}" and secret in s.get("secrets", []), \
                    f"{name}: {opt}={value} is not one of its secrets"


def compose_secret_user(doc):
    """path -> the Redis user whose password the compose secret at path
    (/run/secrets/NAME) holds, by the secret's file."""
    return lambda path: user_of(doc["secrets"][str(path).rsplit("/", 1)[-1]]["file"])


def compose_gridcall(doc, *words):
    """{service: command} of the one-shot gridcall services running words."""
    return {n: [str(c) for c in s["command"]] for n, s in doc["services"].items()
            if s.get("command") and s["command"][0] == "gridcall"
            and [str(c) for c in s["command"][-len(words):]] == list(words)}


def test_compose_each_daemon_logs_in_as_its_own_user_after_the_admin_step():
    doc = compose()
    who = compose_secret_user(doc)
    seen = set()
    for name, s in doc["services"].items():
        cmd = [str(c) for c in s.get("command", [])]
        m = re.fullmatch(r"gridcall-(intake|dispatch|escalate|notify|report)", cmd[0]) \
            if cmd else None
        if not m:
            continue
        seen.add(m.group(1))
        assert_own_redis_user(m.group(1), set_options(cmd), who)
        assert_curve(m.group(1), set_options(cmd))
        assert s["depends_on"].get("redis-setup") == \
            {"condition": "service_completed_successfully"}, name
    assert seen == set(DAEMONS)


def test_compose_admin_step_alone_holds_the_admin_password(cluster):
    doc = compose()
    ((name, cmd),) = compose_gridcall(doc, "redis", "setup").items()
    setup = doc["services"][name]
    options = dict(set_options(cmd))
    assert options["redis_user"] == ADMIN and compose_secret_user(doc)(
        options["redis_password_file"]) == ADMIN, options
    assert setup.get("restart") == "on-failure"
    holders = [n for n, s in doc["services"].items()
               if any(user_of(doc["secrets"][x]["file"]) == ADMIN for x in s.get("secrets", []))]
    assert holders == [name], f"gc-admin's password given to {holders}"
    # the directory is loaded after it, as the operator
    ((load_name, load),) = compose_gridcall(doc, "directory", "load", DEMO_DIRECTORY).items()
    assert doc["services"][load_name]["depends_on"]["redis-setup"] == \
        {"condition": "service_completed_successfully"}
    assert dict(set_options(load))["redis_user"] == "gc-operator"
    assert_setup_loads_the_library(cluster(load_directory=False), cmd, ADMIN)


def test_compose_redis_users_replication_and_sentinel_logins():
    doc = compose()
    conf = (DEPLOY / "compose" / "redis.conf").read_text()
    acl = re.search(r"^aclfile /run/secrets/(\S+)$", conf, re.M)
    assert acl and doc["secrets"][acl.group(1)]["file"] == "./secrets/users.acl", conf
    sentinel_conf = (DEPLOY / "compose" / "sentinel.conf").read_text()
    assert re.search(r"^sentinel auth-user gridcall gc-sentinel$", sentinel_conf, re.M)
    for name, s in doc["services"].items():
        cmd = " ".join(map(str, s.get("command", [])))
        if "--sentinel" in cmd:
            assert "auth-pass gridcall" in cmd and "/run/secrets/gc-sentinel" in cmd, name
            assert "gc-sentinel" in s["secrets"], name
        elif "redis-server" in cmd:
            assert acl.group(1) in s["secrets"] and "gc-replica" in s["secrets"], name
            assert "masteruser gc-replica" in cmd and "/run/secrets/gc-replica" in cmd, name
            assert "requirepass" not in cmd, f"{name}: a password for the default user"


def compose_shell(service, doc, secrets, folder, ports):
    """A compose Redis or Sentinel service's sh -c script, run here: the
    container's paths mapped into folder, host names and ports to loopback,
    docker-entrypoint.sh (which drops to the redis user) left out."""
    cmd = [str(c) for c in doc["services"][service]["command"]]
    assert cmd[:2] == ["sh", "-c"], cmd
    script = cmd[2].replace("$$", "$")
    script = script.replace("/usr/local/etc/redis/", f"{folder}/etc/")
    script = script.replace("/run/secrets/", f"{secrets}/")
    script = script.replace("/data/", f"{folder}/{service}/")
    script = re.sub(r"chown \S+ \S+", "true", script)
    script = script.replace("redis-primary 6379", f"127.0.0.1 {ports['redis-primary']}")
    script = re.sub(r"--replica-announce-ip \S+", "--replica-announce-ip 127.0.0.1", script)
    assert "exec docker-entrypoint.sh redis-server" in script, script
    script = script.replace("exec docker-entrypoint.sh redis-server", f"exec {REDIS_SERVER}")
    (folder / service).mkdir()
    script += (f" --port {ports[service]} --bind 127.0.0.1 --dir {folder}/{service}"
               f" --logfile {folder}/{service}.log")
    if "--sentinel" not in script:
        script += " --repl-diskless-sync-delay 0"       # no 5 s wait for more replicas
    return subprocess.Popen(["sh", "-c", script], stdin=subprocess.DEVNULL,
                            stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)


class MadeUsers:
    """The passwords scripts/redis-users.sh wrote into folder/users."""

    def __init__(self, folder):
        self.folder = Path(folder)

    def password(self, user):
        return (self.folder / "users" / f"{user}.password").read_text().strip()


def test_compose_redis_sentinel_and_admin_step_run(tmp_path):
    """The compose cluster's Redis side, without a container: the secrets as
    the comment in compose.yaml makes them (scripts/redis-users.sh), the
    primary, the replica and one Sentinel started with their compose
    commands; then the admin step and the directory load through the
    Sentinel, and intake with its compose options (wait_replicas 1 needs
    the replica)."""
    doc = compose()
    made = tmp_path / "made"                    # deploy/compose of the comment
    subprocess.run([str(REDIS_USERS), str(made / "secrets")], check=True)
    users = MadeUsers(made / "secrets")
    # the CurveZMQ keys as the comment makes them: public ones and the
    # principals file in keys/, the daemons' secret keys in secrets/keys/
    gc, keys = str(BUILD / "gridcall"), made / "keys"
    subprocess.run([gc, "keys", "new", *DAEMONS[:4], "--dir", str(keys)], check=True,
                   capture_output=True)
    (made / "secrets" / "keys").mkdir()
    for f in keys.glob("*.key_secret"):
        f.rename(made / "secrets" / "keys" / f.name)
    subprocess.run([gc, "keys", "bind", "--principals", str(keys / "principals.json"),
                    *[a for d in ("intake", "dispatch", "escalate")
                      for a in (str(keys / f"{d}.key"), f"daemon {d}")]],
                   check=True, capture_output=True)
    secrets = tmp_path / "run-secrets"          # /run/secrets of the containers
    secrets.mkdir()
    for name, s in doc["secrets"].items():
        src = made / s["file"]
        if not src.exists():                    # webhook_secret, screen_token
            src.write_text("stand-in\n")
        shutil.copy(src, secrets / name)
        (secrets / name).chmod(0o600)
    ports = {n: free_port() for n in ("redis-primary", "redis-replica", "sentinel-1")}
    (tmp_path / "etc").mkdir()
    for f in ("redis.conf", "sentinel.conf"):       # the aclfile is a secret's path
        (tmp_path / "etc" / f).write_text((DEPLOY / "compose" / f).read_text()
                                          .replace("/run/secrets/", f"{secrets}/")
                                          .replace("redis-primary 6379",
                                                   f"127.0.0.1 {ports['redis-primary']}"))
    admin = (ADMIN, users.password(ADMIN))
    procs = []
    try:
        for service in ("redis-primary", "redis-replica"):
            procs.append(compose_shell(service, doc, secrets, tmp_path, ports))
            wait_for(lambda: ask(ports[service], "PING", auth=admin) == "PONG", 10,
                     f"{service} to answer")
        # nobody logs in as the default user
        assert "NOAUTH" in str(ask(ports["redis-primary"], "GET", "gc:x"))
        wait_for(lambda: "master_link_status:up" in str(ask(ports["redis-replica"], "INFO",
                                                            "replication", auth=admin)),
                 10, "the replica to sync, logged in as gc-replica")
        procs.append(compose_shell("sentinel-1", doc, secrets, tmp_path, ports))

        def sees_replica():
            reply = ask(ports["sentinel-1"], "SENTINEL", "master", "gridcall")
            view = dict(zip(reply[0::2], reply[1::2])) if isinstance(reply, list) else {}
            return view.get("flags") == "master" and view.get("num-slaves") == "1"
        # the Sentinel learns of the replica only from the primary's INFO
        wait_for(sees_replica, 15, "the Sentinel, as gc-sentinel, to see the replica")
        for port in (ports["redis-primary"], ports["redis-replica"]):
            assert ask(port, "ACL", "LOG", auth=admin) == [], "a login or command refused"

        through = {"sentinels": f"127.0.0.1:{ports['sentinel-1']}"}
        ((_, setup),) = compose_gridcall(doc, "redis", "setup").items()
        r = run_gridcall(setup, users, ADMIN, **through)
        assert r.returncode == 0, r.stdout + r.stderr
        ((_, load),) = compose_gridcall(doc, "directory", "load", DEMO_DIRECTORY).items()
        r = run_gridcall(load[:-1] + [str(DEPLOY / "tianjiao" / "directory.json")], users,
                         "gc-operator", **through)
        assert r.returncode == 0, r.stdout + r.stderr

        # intake-1 with its compose options (its password from its secret), on loopback
        opts = dict(set_options([str(c) for c in doc["services"]["intake-1"]["command"]]))
        for name in ("redis_password_file", "curve_secret_file"):
            opts[name] = secrets / opts[name].rsplit("/", 1)[1]
        for name in ("principals", "dispatch_key", "notify_key"):
            opts[name] = opts[name].replace("/etc/gridcall/keys/", f"{keys}/")
        opts.update(through, bind=f"tcp://127.0.0.1:{free_port()}",
                    dispatch_endpoint=f"ipc://{tmp_path}/work",
                    notify_endpoint=f"ipc://{tmp_path}/notify")
        argv = [str(BUILD / "gridcall-intake"), "-c", str(DEPLOY / "gridcall-intake.conf")]
        argv += [a for k, v in opts.items() for a in ("--set", f"{k}={v}")]
        log = tmp_path / "intake.log"
        with open(log, "wb") as out:
            procs.append(subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=out,
                                          stderr=out))
        wait_for(lambda: procs[-1].poll() is None and b"serving reporters" in log.read_bytes(),
                 10, "intake to serve with its compose options")
    except BaseException:
        for f in sorted(tmp_path.glob("*.log")):
            print(f"----- {f.name}\n{tail(f)}")
        raise
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
            p.wait(10)


def test_compose_daemon_options_are_valid():
    for name, s in compose()["services"].items():
        cmd = [str(c) for c in s.get("command", [])]
        m = re.fullmatch(r"gridcall-(intake|dispatch|escalate|notify|report)", cmd[0]) \
            if cmd else None
        if m:
            r = check_config(m.group(1), set_options(cmd))
            assert r.returncode == 0, f"{name}: {r.stderr}"


def _compose_plugin():
    if not shutil.which("docker"):
        return False
    r = subprocess.run(["docker", "compose", "version"], capture_output=True, timeout=30)
    return r.returncode == 0


@pytest.mark.skipif(not _compose_plugin(), reason="no docker compose on this machine")
def test_compose_config(tmp_path):
    folder = tmp_path / "compose"
    shutil.copytree(COMPOSE.parent, folder)
    (folder / "secrets").mkdir(exist_ok=True)
    for s in compose()["secrets"]:
        (folder / "secrets" / s).write_text("test-secret\n")
    r = subprocess.run(["docker", "compose", "-f", str(folder / "compose.yaml"), "config", "-q"],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr


# ---------------------------------------------------------------------------
# Kubernetes

K8S = DEPLOY / "k8s"


def k8s_docs():
    out = []
    for f in sorted(K8S.glob("*.yaml")):
        for d in yaml.safe_load_all(f.read_text()):
            if d:
                out.append((f.name, d))
    return out


def by_kind(kind):
    return {d["metadata"]["name"]: d for _, d in k8s_docs() if d.get("kind") == kind}


def workloads():
    """The daemons' pods: Deployments, and dispatch's StatefulSet."""
    return {**by_kind("Deployment"), **by_kind("StatefulSet")}


def pod_labels(workload, ordinal):
    """The labels of a workload's pod: a StatefulSet's carry its name."""
    labels = dict(workload["spec"]["template"]["metadata"]["labels"])
    if workload["kind"] == "StatefulSet":
        labels["statefulset.kubernetes.io/pod-name"] = f"{workload['metadata']['name']}-{ordinal}"
    return labels


def pod_env(e, workload, cluster, ordinal=0):
    """An environment variable's value in pod ordinal: the cluster
    ConfigMap's, or the pod's name."""
    ref = e["valueFrom"]
    if "fieldRef" in ref:
        assert ref["fieldRef"]["fieldPath"] == "metadata.name", e
        return pod_labels(workload, ordinal)["statefulset.kubernetes.io/pod-name"]
    return cluster[ref["configMapKeyRef"]["key"]]


def test_k8s_configmap_is_deploy_conf():
    cm = by_kind("ConfigMap")["gridcall-conf"]
    confs = {p.name: p.read_text() for p in DEPLOY.glob("gridcall-*.conf")}
    assert cm["data"] == confs, "deploy/k8s/configmap.yaml is stale: run scripts/gen-k8s-configmap.py"


def k8s_secret_source(pod):
    """path -> the file of the kustomization's secretGenerator behind a
    secret file a pod's container reads (mounted from a generated Secret)."""
    k = yaml.safe_load((K8S / "kustomization.yaml").read_text())
    generated = {s["name"]: dict(f.split("=", 1) for f in s["files"])
                 for s in k["secretGenerator"]}
    container = pod["containers"][0]
    mounts = {m["mountPath"]: m["name"] for m in container["volumeMounts"]}
    volumes = {v["name"]: v for v in pod["volumes"]}

    def source(path):
        folder, _, key = str(path).rpartition("/")
        return generated[volumes[mounts[folder]]["secret"]["secretName"]][key]
    return source


def test_k8s_kustomization_lists_every_file_and_secret():
    k = yaml.safe_load((K8S / "kustomization.yaml").read_text())
    files = {p.name for p in K8S.glob("*.yaml")} - {"kustomization.yaml"}
    assert set(k["resources"]) == files
    generated = {s["name"]: s for s in k["secretGenerator"]}
    for name, dep in {**workloads(), **by_kind("Job")}.items():
        for v in dep["spec"]["template"]["spec"]["volumes"]:
            if "secret" in v:
                secret = v["secret"]["secretName"]
                assert secret in generated, f"{name}: Secret {secret} is not generated"
                keys = {f.split("=")[0] for f in generated[secret]["files"]}
                container = dep["spec"]["template"]["spec"]["containers"][0]
                for opt, value in set_options(container["args"]):
                    if opt.endswith("_file"):
                        assert value.rsplit("/", 1)[-1] in keys, f"{name}: {opt}"
    assert not by_kind("Secret"), "a Secret with its values in the manifests"


@pytest.mark.parametrize("daemon", DAEMONS)
def test_k8s_deployment(daemon):
    dep = workloads()[f"gridcall-{daemon}"]
    spec, pod = dep["spec"], dep["spec"]["template"]["spec"]
    labels = dep["spec"]["template"]["metadata"]["labels"]
    assert spec["selector"]["matchLabels"].items() <= labels.items()
    if daemon == "dispatch":
        assert dep["kind"] == "StatefulSet" and spec["replicas"] == DISPATCHES
        assert spec["podManagementPolicy"] == "Parallel"
        headless = by_kind("Service")[spec["serviceName"]]["spec"]
        assert headless["clusterIP"] == "None"
    else:
        assert dep["kind"] == "Deployment" and spec["replicas"] >= 2
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["automountServiceAccountToken"] is False
    (c,) = pod["containers"]
    assert c["image"].split(":")[0] == "gridcall" and c["command"] == [f"gridcall-{daemon}"]
    sc = c["securityContext"]
    assert sc["readOnlyRootFilesystem"] and not sc["allowPrivilegeEscalation"]
    assert sc["capabilities"]["drop"] == ["ALL"]
    assert not any("value" in e and any(w in e["name"].lower() for w in SECRET_WORDS)
                   for e in c.get("env", [])), "a secret in the environment"
    options = set_options(c["args"])
    assert_no_inline_secret(options, daemon)
    # the config file is the ConfigMap's, mounted where -c looks
    assert c["args"][:2] == ["-c", f"/etc/gridcall/gridcall-{daemon}.conf"]
    mounts = {m["name"]: m["mountPath"] for m in c["volumeMounts"]}
    volumes = {v["name"]: v for v in pod["volumes"]}
    assert mounts["conf"] == "/etc/gridcall"
    assert volumes["conf"]["configMap"]["name"] == "gridcall-conf"
    # the CurveZMQ key: the init container copies it from the Secret into a
    # memory emptyDir, 0600 (a Secret volume with fsGroup is group-readable)
    copied = {}
    for init in pod.get("initContainers", []):
        im = {m["name"]: m["mountPath"] for m in init["volumeMounts"]}
        cmd = init["command"]
        assert cmd[:3] == ["install", "-m", "600"], cmd
        assert cmd[3].startswith(im["secrets"] + "/") and cmd[4].startswith(im["key"] + "/")
        assert "emptyDir" in volumes["key"] and mounts["key"] == im["key"]
        copied[cmd[4]] = cmd[3]
    for opt, value in options:
        if opt.endswith("_file"):
            value = copied.get(value, value)
            assert value.startswith(mounts["secrets"] + "/"), opt
    # probes: the report's /healthz, else the metrics endpoint it serves
    opts = dict(options)
    for probe in ("readinessProbe", "livenessProbe"):
        get = c[probe]["httpGet"]
        if daemon == "report":
            assert get == {"path": "/healthz", "port": int(opts["http_port"])}
        else:
            assert get == {"path": "/metrics", "port": int(opts["metrics_port"])}
            assert opts["metrics_bind"] == "0.0.0.0"
        assert get["port"] in [p["containerPort"] for p in c["ports"]]
    # the options are valid, with the cluster ConfigMap's values in place
    cluster = by_kind("ConfigMap")["gridcall-cluster"]["data"]
    env = {e["name"]: pod_env(e, dep, cluster) for e in c["env"]}
    resolved = [(n, re.sub(r"\$\((\w+)\)", lambda m: env[m.group(1)], v)) for n, v in options]
    r = check_config(daemon, resolved)
    assert r.returncode == 0, r.stderr
    # its own Redis user, with that user's password (scripts/redis-users.sh's file)
    assert_own_redis_user(daemon, options, lambda p: user_of(k8s_secret_source(pod)(p)))
    assert_curve(daemon, options)
    # a PodDisruptionBudget over the same pods
    pdb = by_kind("PodDisruptionBudget")[f"gridcall-{daemon}"]
    assert pdb["spec"]["selector"]["matchLabels"] == spec["selector"]["matchLabels"]
    assert pdb["spec"]["minAvailable"] == 1


def test_k8s_redis_setup_job_is_the_admin_step(cluster):
    job = by_kind("Job")["gridcall-redis-setup"]
    pod = job["spec"]["template"]["spec"]
    assert pod["restartPolicy"] == "OnFailure" and job["spec"]["backoffLimit"] >= 1
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["automountServiceAccountToken"] is False
    (c,) = pod["containers"]
    sc = c["securityContext"]
    assert sc["readOnlyRootFilesystem"] and not sc["allowPrivilegeEscalation"]
    assert sc["capabilities"]["drop"] == ["ALL"]
    assert c["command"] == ["gridcall"] and c["args"][-2:] == ["redis", "setup"]
    options = set_options(c["args"])
    assert_no_inline_secret(options, "redis-setup")
    opts = dict(options)
    assert opts["redis_user"] == ADMIN
    assert user_of(k8s_secret_source(pod)(opts["redis_password_file"])) == ADMIN
    # Redis through the cluster's Sentinels, as the daemons
    assert opts["sentinels"] == "$(GRIDCALL_SENTINELS)"
    # nothing else mounts the admin's password
    admin_secret = {v["secret"]["secretName"] for v in pod["volumes"] if "secret" in v}
    for name, dep in workloads().items():
        mounted = {v["secret"]["secretName"] for v in dep["spec"]["template"]["spec"]["volumes"]
                   if "secret" in v}
        assert not mounted & admin_secret, f"{name} mounts {mounted & admin_secret}"
    assert_setup_loads_the_library(cluster(load_directory=False), ["gridcall"] + c["args"],
                                   ADMIN)


def test_k8s_redis_users_secret_for_the_redis_beside():
    """The Redis nodes and Sentinels beside gridcall get the users file and
    the replication and Sentinel passwords, nothing more."""
    k = yaml.safe_load((K8S / "kustomization.yaml").read_text())
    (users,) = [s for s in k["secretGenerator"] if s["name"] == "gridcall-redis-users"]
    files = dict(f.split("=", 1) for f in users["files"])
    assert files == {"users.acl": "secrets/users.acl",
                     "gc-replica": "secrets/users/gc-replica.password",
                     "gc-sentinel": "secrets/users/gc-sentinel.password"}


def test_k8s_services_reach_what_the_daemons_connect_to():
    services = by_kind("Service")
    ports = {name: {p["port"] for p in s["spec"]["ports"]} for name, s in services.items()}
    deployments = workloads()
    for name, s in services.items():
        assert any(s["spec"]["selector"].items() <= pod_labels(d, i).items()
                   for d in deployments.values()
                   for i in range(d["spec"]["replicas"])), name
    for name, dep in deployments.items():
        for opt, value in set_options(dep["spec"]["template"]["spec"]["containers"][0]["args"]):
            for endpoint in value.split(",") if opt.endswith("_endpoint") else []:
                m = re.fullmatch(r"tcp://([a-z0-9-]+):(\d+)", endpoint)
                if m:
                    assert int(m.group(2)) in ports.get(m.group(1), set()), \
                        f"{name}: {opt}={value}"


# ---------------------------------------------------------------------------
# Two dispatches (docs/cluster.md, "Several dispatches"): the lease picks
# the leader, so each needs a name of its own (the lease's holder), both
# serve with the one dispatch key (a unit or wake-up sender trusts whichever
# leads), and every unit and wake-up sender lists both.

def endpoint_port(endpoint):
    return int(endpoint.rsplit(":", 1)[1])


def test_systemd_dispatch_instances_are_named_apart():
    opts = dict(set_options(shlex.split(unit_settings(unit_text("dispatch"))["ExecStart"][0])))
    # host and instance number: unique across hosts and on one host
    assert "%H" in opts["instance"] and "%i" in opts["instance"], opts["instance"]


def test_compose_two_dispatches_one_key_listed_by_every_sender():
    doc = compose()
    services = doc["services"]
    dispatches = {n: dict(set_options([str(c) for c in s["command"]]))
                  for n, s in services.items()
                  if s.get("command") and s["command"][0] == "gridcall-dispatch"}
    assert len(dispatches) == DISPATCHES, dispatches
    names = [o.get("instance", "") for o in dispatches.values()]
    assert all(names) and len(set(names)) == DISPATCHES, names
    # the one CurveZMQ server key: both read the same secret file
    keys = {doc["secrets"][o["curve_secret_file"].rsplit("/", 1)[1]]["file"]
            for o in dispatches.values()}
    assert keys == {"./secrets/keys/dispatch.key_secret"}, keys
    units = {f"tcp://{n}:{endpoint_port(o['unit_bind'])}" for n, o in dispatches.items()}
    work = {f"tcp://{n}:{endpoint_port(o['work_bind'])}" for n, o in dispatches.items()}
    senders = 0
    for name, s in services.items():
        cmd = [str(c) for c in s.get("command", [])]
        if not cmd or cmd[0] not in ("gridcall-intake", "gridcall-escalate", "gridcall-unit-sim"):
            continue
        opts = dict(set_options(cmd))
        listed = set(opts["dispatch_endpoint"].split(","))
        assert listed == (units if cmd[0] == "gridcall-unit-sim" else work), \
            f"{name}: dispatch_endpoint {opts['dispatch_endpoint']}"
        assert opts["dispatch_key"] == "/etc/gridcall/keys/dispatch.key", name
        senders += 1
    assert senders == 5, senders      # two intakes, two escalates, the unit simulator


def test_k8s_two_dispatches_one_key_listed_by_every_sender():
    sts = by_kind("StatefulSet")["gridcall-dispatch"]
    pod = sts["spec"]["template"]["spec"]
    (c,) = pod["containers"]
    cluster = by_kind("ConfigMap")["gridcall-cluster"]["data"]
    opts = dict(set_options(c["args"]))
    names = []
    for ordinal in range(sts["spec"]["replicas"]):
        env = {e["name"]: pod_env(e, sts, cluster, ordinal) for e in c["env"]}
        names.append(re.sub(r"\$\((\w+)\)", lambda m: env[m.group(1)], opts["instance"]))
    assert len(set(names)) == DISPATCHES == len(names), names
    # the one key: every pod copies its curve secret from the one Secret,
    # whose file is dispatch's secret key
    (init,) = pod["initContainers"]
    assert init["command"][4] == opts["curve_secret_file"]
    assert k8s_secret_source(pod)(init["command"][3]) == "secrets/keys/dispatch.key_secret"
    # a Service per pod, selecting that pod alone
    alone = {}
    for name, s in by_kind("Service").items():
        picks = [i for i in range(DISPATCHES)
                 if s["spec"]["selector"].items() <= pod_labels(sts, i).items()]
        if len(picks) == 1:
            alone[name] = ({p["port"] for p in s["spec"]["ports"]}, picks[0])
    assert sorted(i for _, i in alone.values()) == list(range(DISPATCHES)), alone
    work_port = endpoint_port(opts["work_bind"])
    senders = 0
    for name, dep in by_kind("Deployment").items():
        sender = dict(set_options(dep["spec"]["template"]["spec"]["containers"][0]["args"]))
        if "dispatch_endpoint" not in sender:
            continue
        reached = set()
        for endpoint in sender["dispatch_endpoint"].split(","):
            m = re.fullmatch(r"tcp://([a-z0-9-]+):(\d+)", endpoint)
            assert m and m.group(1) in alone, f"{name}: {endpoint} is not one dispatch pod's"
            ports, ordinal = alone[m.group(1)]
            assert int(m.group(2)) == work_port and work_port in ports, f"{name}: {endpoint}"
            reached.add(ordinal)
        assert reached == set(range(DISPATCHES)), f"{name}: {sender['dispatch_endpoint']}"
        assert sender["dispatch_key"] == "/etc/gridcall-keys/dispatch.key", name
        senders += 1
    assert senders == 2, senders      # intake and escalate
    k = yaml.safe_load((K8S / "kustomization.yaml").read_text())
    (keys,) = [g for g in k["configMapGenerator"] if g["name"] == "gridcall-keys"]
    assert "dispatch.key=keys/dispatch.key" in keys["files"]
