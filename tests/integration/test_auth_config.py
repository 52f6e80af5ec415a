"""test_auth_config.py — secure by default, in the configuration: what a
daemon and `--check-config` refuse (a bind beyond loopback without CURVE,
CURVE without its keys, a secret key others may read, a bad principals
file), what a peer without a key may do when CURVE is off (anonymous), and
daemon-to-daemon work over TCP with CURVE (docs/security.md)."""

import os
import socket
import subprocess

import pytest
import zmq

import gc_keys
from gc_cluster import BUILD, Reporter, pb, take_offer, wait_for


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def check(daemon, *sets, run=False):
    """gridcall-DAEMON --check-config (or a real start) with --set name=value
    pairs; returns (exit status, stderr)."""
    argv = [str(BUILD / f"gridcall-{daemon}")]
    for s in sets:
        argv += ["--set", s]
    if not run:
        argv.append("--check-config")
    r = subprocess.run(argv, capture_output=True, text=True, timeout=20)
    return r.returncode, r.stderr


@pytest.fixture
def keys(tmp_path):
    k = gc_keys.Keyring(tmp_path / "keys")
    k.make("intake")
    k.write()
    return k


def test_a_bind_beyond_loopback_needs_curve(keys):
    for run in (False, True):           # --check-config, and a real start
        rc, err = check("intake", "curve=no", f"bind=tcp://0.0.0.0:{free_port()}", run=run)
        assert rc == 1, err
        assert "is not loopback or ipc" in err and "set curve yes" in err, err
    for endpoint in (f"tcp://127.0.0.1:{free_port()}", "ipc:///tmp/gc-x.sock"):
        rc, err = check("intake", "curve=no", f"bind={endpoint}",
                        "dispatch_endpoint=ipc:///tmp/gc-w", "notify_endpoint=ipc:///tmp/gc-n")
        assert rc == 0, err
    rc, err = check("dispatch", "curve=no", f"unit_bind=tcp://10.0.0.1:{free_port()}")
    assert rc == 1 and "unit_bind" in err, err


def test_curve_needs_a_private_secret_key_and_principals(keys, tmp_path):
    ipc = ["bind=ipc:///tmp/gc-x.sock", "dispatch_endpoint=ipc:///tmp/gc-w",
           "notify_endpoint=ipc:///tmp/gc-n"]
    cert = keys.certs["intake"]
    rc, err = check("intake", *ipc)
    assert rc == 1 and "set curve_secret_file" in err, err
    rc, err = check("intake", *ipc, f"curve_secret_file={cert.secret_path}")
    assert rc == 1 and "set principals" in err, err
    public = tmp_path / "public-only.key"   # the public certificate given by mistake
    public.write_text(cert.path.read_text())
    public.chmod(0o600)
    rc, err = check("intake", *ipc, f"curve_secret_file={public}",
                    f"principals={keys.principals_path}")
    assert rc == 1 and "no secret key" in err, err
    os.chmod(cert.secret_path, 0o644)
    rc, err = check("intake", *ipc, f"curve_secret_file={cert.secret_path}",
                    f"principals={keys.principals_path}")
    assert rc == 1 and "must not be readable by others" in err and "chmod 600" in err, err
    os.chmod(cert.secret_path, 0o600)
    bad = tmp_path / "bad.json"
    bad.write_text('{"principals": {"%s": "operator nobody"}}' % cert.z85)
    rc, err = check("intake", *ipc, f"curve_secret_file={cert.secret_path}", f"principals={bad}")
    assert rc == 1 and cert.z85 in err and "operator NAME community C01" in err, err
    rc, err = check("intake", *ipc, f"curve_secret_file={cert.secret_path}",
                    f"principals={keys.principals_path}")
    assert rc == 0, err
    # a TCP connect to another daemon wants that daemon's key
    rc, err = check("intake", *ipc[:1], f"dispatch_endpoint=tcp://127.0.0.1:{free_port()}",
                    "notify_endpoint=ipc:///tmp/gc-n", f"curve_secret_file={cert.secret_path}",
                    f"principals={keys.principals_path}")
    assert rc == 1 and "set dispatch_key" in err, err


def test_without_curve_an_anonymous_peer_may_do_what_anonymous_says(cluster, gc_directory):
    grid, category = gc_directory.choose("GRID")
    c = cluster("intake", intake={"curve": "no", "anonymous": "none"})
    plain = Reporter(c.ctx, c.endpoints["intake"])
    c.clients.append(plain)
    kind, err = plain.request("report", Reporter.new_report(grid, category))
    assert kind == "error" and err.code == pb.ERROR_NOT_PERMITTED, (kind, err)
    assert "no principal" in err.message
    wait_for(lambda: "from a peer without a principal refused" in c["intake"].log.read_text(),
             5, "the refusal in intake's log")
    c["intake"].stop()
    c.start("intake", curve="no", anonymous="grid-worker 本地 grids " + grid)
    kind, ok = plain.request("report", Reporter.new_report(grid, category), timeout=10)
    assert kind == "report.ok", (kind, ok)
    case = c.case(ok.case_id)
    assert case["timeline"][0]["who"] == "grid-worker:本地" and case["via"] == "grid-worker:本地"
    kind, err = plain.request("report", Reporter.new_report(grid, category,
                                                             channel=pb.CHANNEL_HOTLINE))
    assert kind == "error" and err.code == pb.ERROR_NOT_PERMITTED, (kind, err)


def test_work_between_daemons_over_tcp_is_curve(cluster, gc_directory):
    """intake wakes dispatch over TCP as a CURVE client with its daemon key;
    a key that is not a daemon's cannot inject wake-ups."""
    grid, category = gc_directory.choose("GRID")
    unit_id = gc_directory.fitting("GRID", grid, category)[0]
    c = cluster(load_directory=True)
    intake_key = c.keys.certs["intake"]
    c.keys.bind(intake_key, "daemon intake")
    c.keys.write()
    work = f"tcp://127.0.0.1:{free_port()}"
    c.start("dispatch", work_bind=work)
    c.start("intake", dispatch_endpoint=work, dispatch_key=c.keys.certs["dispatch"].path)
    wait_for(lambda: "bound " + work + " (CurveZMQ, ZAP)" in c["dispatch"].log.read_text(),
             5, "dispatch's work PULL to be CURVE")
    # no unit is ready yet: the case reaches dispatch only by the wake-up
    reply = c.reporter().report(grid, category, "woken over TCP")
    assert reply.state == pb.STATE_REGISTERED
    unit = c.unit(unit_id)
    take_offer([unit], reply.case_id)
    # a gateway's key is refused on the work PULL: its wake-up is dropped
    push = c.ctx.socket(zmq.PUSH)
    push.setsockopt(zmq.LINGER, 0)
    gc_keys.secure(push, c.keys.certs["pytest-gateway"], c.server_key("dispatch"))
    push.connect(work)
    push.send_multipart([b"case.dispatch", pb.CaseRef(case_id=reply.case_id).SerializeToString()])
    wait_for(lambda: "is not a daemon's key" in c["dispatch"].log.read_text(), 5,
             "dispatch to drop the wake-up from a gateway's key")
    push.close(0)
