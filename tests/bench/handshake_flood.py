#!/usr/bin/env python3
"""handshake_flood.py — bogus CurveZMQ handshakes at a steady rate, for
scripts/bench-curve.sh: each a fresh DEALER with a key of its own that no
principals file binds, so the daemon pays the whole handshake (CURVE's
crypto, a ZAP request) and refuses it.

    handshake_flood.py --rate 200 ENDPOINT SERVER_KEY [ENDPOINT SERVER_KEY ...]

SERVER_KEY is the daemon's public key, as Z85 text or a zcert file. Runs
until SIGTERM or SIGINT; prints how many handshakes it started.
"""

import argparse
import signal
import time

import zmq


def public_key(text_or_path):
    if len(text_or_path) == 40:
        return text_or_path.encode()
    for line in open(text_or_path, encoding="utf-8"):
        name, _, value = line.strip().partition("=")
        if name.strip() == "public-key":
            return value.strip().strip('"').encode()
    raise SystemExit(f"{text_or_path}: no public-key")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--rate", type=float, default=200)
    ap.add_argument("targets", nargs="+")
    args = ap.parse_args()
    if len(args.targets) % 2:
        raise SystemExit("give ENDPOINT SERVER_KEY pairs")
    targets = [(args.targets[i], public_key(args.targets[i + 1]))
               for i in range(0, len(args.targets), 2)]
    stop = []
    signal.signal(signal.SIGTERM, lambda *_: stop.append(1))
    signal.signal(signal.SIGINT, lambda *_: stop.append(1))
    ctx = zmq.Context()
    live = []                   # (close at, socket)
    started = 0
    t0 = time.monotonic()
    while not stop:
        now = time.monotonic()
        while started < int((now - t0) * args.rate):
            endpoint, key = targets[started % len(targets)]
            s = ctx.socket(zmq.DEALER)
            s.setsockopt(zmq.LINGER, 0)
            s.curve_publickey, s.curve_secretkey = zmq.curve_keypair()
            s.curve_serverkey = key
            s.connect(endpoint)
            live.append((now + 1.0, s))
            started += 1
        while live and live[0][0] <= now:
            live.pop(0)[1].close(0)
        time.sleep(0.002)
    for _, s in live:
        s.close(0)
    ctx.term()
    print(f"handshake_flood: {started} handshakes in {time.monotonic() - t0:.1f} s", flush=True)


if __name__ == "__main__":
    main()
