"""test_secrets.py — secrets (passwords, tokens, keys) only from files or
the environment: every program refuses one on its command line (ps shows
it) and says how to give it; one given as NAME_file or GRIDCALL_NAME
reaches its use (a Redis with requirepass answers); and it is in no ps
line, no log line, and no --help, --check-config or --sample-config
output."""

import os
import re
import signal
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from gc_cluster import BUILD, REDIS_SERVER, Redis, wait_for

PASSWORD = "redis-pw-9f8e7d6c5b4a3210"
DAEMONS = ["intake", "dispatch", "escalate", "notify", "report"]
#  secrets each program declares, beside the Redis password every one has
OWN_SECRETS = {"notify": ["webhook_secret"],
               "report": ["screen_token", "export_token", "metrics_token"]}


def run(argv, env=None, timeout=20):
    return subprocess.run([str(a) for a in argv], capture_output=True, text=True,
                          timeout=timeout, env={**os.environ, **(env or {})},
                          stdin=subprocess.DEVNULL)


@pytest.mark.parametrize("program", DAEMONS + ["cli"])
def test_a_secret_on_the_command_line_is_refused(program):
    binary = BUILD / ("gridcall" if program == "cli" else f"gridcall-{program}")
    args = ["stats"] if program == "cli" else ["--check-config"]
    for name in ["redis_password"] + OWN_SECRETS.get(program, []):
        value = f"{name}-value-0123456789abcdef"
        done = run([binary, "--set", f"{name}={value}", *args])
        assert done.returncode != 0, (program, name)
        out = done.stdout + done.stderr
        assert value not in out, (program, name, out)
        assert f"{name}_file" in out and f"GRIDCALL_{name.upper()}" in out, out


@pytest.fixture
def locked_redis(tmp_path):
    """A redis-server on a Unix socket that wants PASSWORD."""
    sock = tmp_path / "redis.sock"
    proc = subprocess.Popen([REDIS_SERVER, "--port", "0", "--unixsocket", str(sock),
                             "--save", "", "--appendonly", "no", "--dir", str(tmp_path),
                             "--requirepass", PASSWORD],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    def up():
        try:
            r = Redis(sock, timeout=1)
        except OSError:
            return False
        try:
            return r.call("AUTH", PASSWORD) == "OK"
        finally:
            r.close()
    wait_for(up, 10, "redis-server with requirepass")
    # the admin step loads the function library (daemons only check it)
    setup = run([BUILD / "gridcall", "--set", f"redis_socket={sock}", "redis", "setup"],
                env={"GRIDCALL_REDIS_PASSWORD": PASSWORD})
    assert setup.returncode == 0, setup.stdout + setup.stderr
    yield sock
    proc.kill()
    proc.wait(10)


class Report:
    """build/gridcall-report against the locked Redis; stderr to a file."""

    def __init__(self, tmp_path, sock, name, args=(), env=None):
        self.log = tmp_path / f"{name}.log"
        argv = [BUILD / "gridcall-report", "--set", f"redis_socket={sock}",
                "--set", "http_port=0", "--set", "redis_timeout_ms=500", *args]
        with open(self.log, "wb") as log:
            self.proc = subprocess.Popen([str(a) for a in argv], stdout=log, stderr=log,
                                         env={**os.environ, **(env or {})},
                                         stdin=subprocess.DEVNULL)

        def listening():
            assert self.proc.poll() is None, self.log.read_text()
            m = re.search(r"listening on (http://\S+)", self.log.read_text(errors="replace"))
            return m and m.group(1)
        self.base = wait_for(listening, 10, f"{name} to listen")

    def health(self):
        try:
            with urllib.request.urlopen(self.base + "/healthz", timeout=5) as r:
                return r.status
        except urllib.error.HTTPError as e:
            return e.code

    def cmdline(self):
        return Path(f"/proc/{self.proc.pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()

    def stop(self):
        self.proc.send_signal(signal.SIGTERM)
        self.proc.wait(10)
        return self.log.read_text(errors="replace")


def test_a_secret_from_a_file_or_the_environment_reaches_redis_unseen(tmp_path, locked_redis):
    secret = tmp_path / "redis.password"
    secret.write_text(PASSWORD + "\n")
    secret.chmod(0o600)
    # without the password the report refuses to start, and says why
    without = run([BUILD / "gridcall-report", "--set", f"redis_socket={locked_redis}",
                   "--set", "http_port=0", "--set", "redis_timeout_ms=500"])
    assert without.returncode != 0 and "NOAUTH" in without.stderr, without.stderr
    from_file = Report(tmp_path, locked_redis, "file",
                       ["--set", f"redis_password_file={secret}", "--set", "log_level=debug"])
    from_env = Report(tmp_path, locked_redis, "env", env={"GRIDCALL_REDIS_PASSWORD": PASSWORD})
    try:
        # the password arrives both ways
        wait_for(lambda: from_file.health() == 200, 10, "the report with a password file")
        wait_for(lambda: from_env.health() == 200, 10, "the report with the password in env")
        for report in (from_file, from_env):
            assert PASSWORD not in report.cmdline()
        # a changed file is re-read on SIGHUP and named, never shown
        secret.write_text("another-password-value\n")
        from_file.proc.send_signal(signal.SIGHUP)
        wait_for(lambda: "applied only after a restart: redis_password"
                 in from_file.log.read_text(errors="replace"), 10, "the reload line")
    finally:
        logs = [r.stop() for r in (from_file, from_env)]
    for log in logs:
        assert PASSWORD not in log and "another-password-value" not in log
    # the tools that print the configuration print "(set)"
    env = {"GRIDCALL_REDIS_PASSWORD": PASSWORD}
    for program in DAEMONS:
        binary = BUILD / f"gridcall-{program}"
        shown = run([binary, "--help"], env=env)
        assert shown.returncode == 0 and PASSWORD not in shown.stdout
        assert re.search(r"redis_password\s+\(set\)", shown.stdout), shown.stdout
        # (no keys here: CurveZMQ off, which loopback binds allow)
        for args in (["--set", "curve=no", "--check-config"], ["--sample-config"],
                     ["--set", "curve=no", "--set", f"redis_password_file={secret}",
                      "--check-config"]):
            done = run([binary, *args], env=env)
            assert done.returncode == 0, done.stderr
            assert PASSWORD not in done.stdout + done.stderr
    # a secret file that cannot be used is named, its content never shown
    bad = tmp_path / "two-lines"
    bad.write_text(PASSWORD + "\nsecond line\n")
    done = run([BUILD / "gridcall-report", "--set", "curve=no", "--set", f"redis_password_file={bad}",
                "--check-config"])
    assert done.returncode == 1 and str(bad) in done.stderr and PASSWORD not in done.stderr


def test_the_cli_takes_its_password_from_the_environment(tmp_path, locked_redis):
    done = run([BUILD / "gridcall", "--set", f"redis_socket={locked_redis}", "stats"],
               env={"GRIDCALL_REDIS_PASSWORD": PASSWORD})
    assert done.returncode == 0, done.stdout + done.stderr
    assert PASSWORD not in done.stdout + done.stderr
    refused = run([BUILD / "gridcall", "--set", f"redis_socket={locked_redis}", "stats"])
    assert refused.returncode == 1 and "NOAUTH" in refused.stderr, refused.stderr
