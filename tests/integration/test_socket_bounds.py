"""test_socket_bounds.py — a peer cannot make intake or dispatch hold memory
or connections for it (docs/security.md): ZMQ_MAXMSGSIZE drops a peer at
the header of a frame larger than message_max allows, before anything is
allocated for it, and ZMQ_HANDSHAKE_IVL drops one that never finishes its
handshake.

The peers are raw sockets speaking just enough ZMTP 3.0 (RFC 23): a
greeting that asks for CURVE, then a command frame announcing 1 GiB, then
the bytes of it as fast as the daemon takes them.
"""

import socket
import struct
import threading
import time

from gc_cluster import WaitTimeout, pb, wait_for

PEERS = 20                      # per daemon
ANNOUNCED = 1 << 30             # the frame size each peer announces
SENT_MAX = 8 << 20              # bytes each peer tries to send of it
RSS_LIMIT_KB = 50 * 1024


def greeting(mechanism=b"CURVE"):
    """A ZMTP 3.0 client greeting: signature, version 3.0, mechanism, as-server 0."""
    return (b"\xff" + b"\x00" * 8 + b"\x7f" + b"\x03\x00"
            + mechanism.ljust(20, b"\x00") + b"\x00" + b"\x00" * 31)


def vm(pid, field):
    """A /proc/PID/status memory figure in kB (VmRSS, VmHWM)."""
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise AssertionError(f"no {field} for {pid}")


def ipc_path(endpoint):
    return endpoint[len("ipc://"):]


def flood(path, sent, errors):
    """One raw peer: greet, announce a 1 GiB command frame, then send until
    the daemon hangs up or SENT_MAX bytes went out. Records bytes sent."""
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(5)
    total = 0
    try:
        s.connect(path)
        s.sendall(greeting())
        s.recv(64)                          # the daemon's greeting
        s.sendall(b"\x06" + struct.pack(">Q", ANNOUNCED))
        chunk = b"\x00" * (256 << 10)
        while total < SENT_MAX:
            s.sendall(chunk)
            total += len(chunk)
    except OSError as e:                    # the daemon hung up: what we want
        errors.append(type(e).__name__)
    finally:
        sent.append(total)
        s.close()


def test_peers_announcing_huge_frames_hold_no_memory(cluster, gc_directory):
    c = cluster("intake", "dispatch")
    grid, category = gc_directory.choose("GRID")
    unit_id = gc_directory.fitting("GRID", grid, category)[0]
    targets = {"intake": c.endpoints["intake"], "dispatch": c.endpoints["units"]}
    sent, errors, threads = [], [], []
    for name, endpoint in targets.items():
        for _ in range(PEERS):
            t = threading.Thread(target=flood, args=(ipc_path(endpoint), sent, errors))
            t.start()
            threads.append(t)
    for t in threads:
        t.join(30)
    assert len(sent) == 2 * PEERS
    # each was dropped at its frame header: what it managed to push is what
    # the kernel buffers, nowhere near what it tried
    assert len(errors) == 2 * PEERS, f"only {len(errors)} of {2 * PEERS} peers were dropped"
    assert max(sent) < SENT_MAX, sent
    for name in targets:
        peak = vm(c[name].proc.pid, "VmHWM")
        assert peak < RSS_LIMIT_KB, f"{name} peaked at {peak} kB of RSS"
    # and both keep serving
    assert c.reporter().report(grid, category, "served after the flood").case_id
    c.unit(unit_id)                         # welcomed, or this fails
    assert not c.crashed()


def test_a_peer_that_never_finishes_its_handshake_is_dropped(cluster):
    c = cluster("intake", intake={"handshake_ms": 500})
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(5)
    s.connect(ipc_path(c.endpoints["intake"]))
    s.sendall(greeting())
    assert len(s.recv(64)) > 0
    t0 = time.monotonic()
    # say nothing more: the daemon hangs up after handshake_ms
    try:
        data = s.recv(1)
        while data:
            data = s.recv(1)
    except OSError:
        pass
    elapsed = time.monotonic() - t0
    s.close()
    assert 0.3 < elapsed < 3, f"dropped after {elapsed:.2f} s"
    wait_for(lambda: "handshake not completed" in c["intake"].log.read_text(errors="replace"),
             5, "intake to log the unfinished handshake")
