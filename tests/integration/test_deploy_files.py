"""test_deploy_files.py — the deployment files in deploy/ as far as this
machine can check them without systemd as init, a container engine or a
Kubernetes cluster:

- systemd units: `systemd-analyze verify` (no output at all), the
  sandboxing the issue asks for, `systemd-analyze security --offline`
  exposure, secrets only as credentials, options the daemons accept;
- the Dockerfile: Debian 12 stages, built with `make all`, a non-root user,
  runtime packages that exist in Debian;
- compose and Kubernetes: YAML that parses, every daemon present (two of
  each but dispatch), images, probes, PodDisruptionBudgets, secrets as
  files never inline, the ConfigMap equal to deploy/*.conf, and every
  option on a command line accepted by the daemon's --check-config;
  `docker compose config` when a compose plugin is installed.
"""

import re
import shlex
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from gc_cluster import BUILD, ROOT

DEPLOY = ROOT / "deploy"
DAEMONS = ["intake", "dispatch", "escalate", "notify", "report"]
SINGLE = {"dispatch"}          # one instance until docs/cluster.md's design is built
SECRET_WORDS = ("password", "secret", "token")


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
    options, leaving out the *_file secrets (their files exist only where
    deployed). Returns the CompletedProcess."""
    argv = [str(BUILD / f"gridcall-{daemon}"), "-c", str(DEPLOY / f"gridcall-{daemon}.conf")]
    for name, value in options:
        if not name.endswith("_file"):
            argv += ["--set", f"{name}={value}"]
    return subprocess.run(argv + ["--check-config"], capture_output=True, text=True, timeout=10)


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


@pytest.fixture(scope="module")
def units_dir(tmp_path_factory):
    """The templates as instance @1, running the binaries of build/."""
    d = tmp_path_factory.mktemp("units")
    for daemon in DAEMONS:
        text = unit_text(daemon).replace("/usr/local/bin/", f"{BUILD}/")
        (d / f"gridcall-{daemon}@1.service").write_text(text)
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
    for daemon in DAEMONS:
        r = subprocess.run(["systemd-analyze", "security", "--offline=yes", "--threshold=20",
                            str(units_dir / f"gridcall-{daemon}@1.service")],
                           capture_output=True, text=True, timeout=60)
        level = re.search(r"Overall exposure level for \S+: ([\d.]+)", r.stdout)
        assert r.returncode == 0 and level and float(level.group(1)) <= 2.0, r.stdout[-400:]


@pytest.mark.parametrize("daemon", DAEMONS)
def test_systemd_unit_is_hardened_and_takes_secrets_as_files(daemon):
    text = unit_text(daemon)
    s = unit_settings(text)
    for key, value in [("Restart", "on-failure"), ("DynamicUser", "yes"),
                       ("ProtectSystem", "strict"), ("ProtectHome", "yes"),
                       ("NoNewPrivileges", "yes"), ("PrivateTmp", "yes"),
                       ("RestrictAddressFamilies", "AF_UNIX AF_INET AF_INET6"),
                       ("KillSignal", "SIGTERM"), ("WantedBy", "gridcall.target"),
                       ("PartOf", "gridcall.target")]:
        assert value in s.get(key, []), f"{daemon}: {key}={value} missing"
    assert "@system-service" in s["SystemCallFilter"]
    assert s.get("CapabilityBoundingSet") == [""]
    assert "ReadWritePaths" not in s, "nothing is writable but a StateDirectory"
    argv = shlex.split(s["ExecStart"][0])
    assert argv[0] == f"/usr/local/bin/gridcall-{daemon}"
    assert argv[1:3] == ["-c", f"/etc/gridcall/gridcall-{daemon}.conf"]
    options = set_options(argv)
    assert_no_inline_secret(options, daemon)
    credentials = {v.split(":")[0] for v in s.get("LoadCredential", [])}
    assert "redis_password" in credentials
    for name, value in options:
        if name.endswith("_file"):
            assert value == f"%d/{name[:-len('_file')]}" and name[:-5] in credentials, \
                f"{daemon}: {name}={value} is not a credential it loads"
    r = check_config(daemon, options)
    assert r.returncode == 0, f"{daemon}: {r.stderr}"


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
    assert re.search(r'"gridcall-(intake|dispatch|escalate|notify|report)"', cmd)


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
        want = 1 if d in SINGLE or d == "unit-sim" else 2
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


def test_k8s_configmap_is_deploy_conf():
    cm = by_kind("ConfigMap")["gridcall-conf"]
    confs = {p.name: p.read_text() for p in DEPLOY.glob("gridcall-*.conf")}
    assert cm["data"] == confs, "deploy/k8s/configmap.yaml is stale: run scripts/gen-k8s-configmap.py"


def test_k8s_kustomization_lists_every_file_and_secret():
    k = yaml.safe_load((K8S / "kustomization.yaml").read_text())
    files = {p.name for p in K8S.glob("*.yaml")} - {"kustomization.yaml"}
    assert set(k["resources"]) == files
    generated = {s["name"]: s for s in k["secretGenerator"]}
    for name, dep in by_kind("Deployment").items():
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
    dep = by_kind("Deployment")[f"gridcall-{daemon}"]
    spec, pod = dep["spec"], dep["spec"]["template"]["spec"]
    labels = dep["spec"]["template"]["metadata"]["labels"]
    assert spec["selector"]["matchLabels"].items() <= labels.items()
    if daemon in SINGLE:
        assert spec["replicas"] == 1 and spec["strategy"]["type"] == "Recreate"
    else:
        assert spec["replicas"] >= 2
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
    for opt, value in options:
        if opt.endswith("_file"):
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
    env = {e["name"]: cluster[e["valueFrom"]["configMapKeyRef"]["key"]] for e in c["env"]}
    resolved = [(n, re.sub(r"\$\((\w+)\)", lambda m: env[m.group(1)], v)) for n, v in options]
    r = check_config(daemon, resolved)
    assert r.returncode == 0, r.stderr
    # a PodDisruptionBudget over the same pods
    pdb = by_kind("PodDisruptionBudget")[f"gridcall-{daemon}"]
    assert pdb["spec"]["selector"]["matchLabels"] == spec["selector"]["matchLabels"]
    if daemon in SINGLE:
        assert pdb["spec"]["maxUnavailable"] == 1
    else:
        assert pdb["spec"]["minAvailable"] == 1


def test_k8s_services_reach_what_the_daemons_connect_to():
    services = by_kind("Service")
    ports = {name: {p["port"] for p in s["spec"]["ports"]} for name, s in services.items()}
    deployments = by_kind("Deployment")
    for name, s in services.items():
        assert any(s["spec"]["selector"].items() <= d["spec"]["template"]["metadata"]
                   ["labels"].items() for d in deployments.values()), name
    for name, dep in deployments.items():
        for opt, value in set_options(dep["spec"]["template"]["spec"]["containers"][0]["args"]):
            m = re.fullmatch(r"tcp://([a-z0-9-]+):(\d+)", value)
            if opt.endswith("_endpoint") and m:
                assert int(m.group(2)) in ports.get(m.group(1), set()), f"{name}: {opt}={value}"
