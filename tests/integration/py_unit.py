#!/usr/bin/env python3
"""py_unit.py — a responder unit written from docs/unit-protocol.md and
proto/gridcall.proto alone (pyzmq + protobuf), run as its own process so
tests can SIGKILL or SIGSTOP it. It follows the unit-side state table:
DISCONNECTED -> HELLO -> READY, heartbeats, liveness 3, back-off 250 ms
doubling to 8 s with jitter, an outbox resent after every welcome.

    py_unit.py ENDPOINT UNIT_ID MODE [--capacity N] [--category C ...]
               [--grid G ...] [--cert SECRET_FILE --server-key Z85]

With --cert (the unit's zcert secret file) and --server-key (dispatch's
public key) it connects as a CurveZMQ client, as docs/unit-protocol.md
("Keys") tells a unit to.

MODE: "silent" never answers offers; "accept" accepts every offer;
"resolve" accepts and resolves at once. Every event is printed as one JSON
line on stdout (flushed): {"event": "welcome", "held": [...]},
{"event": "offer", "case_id": ..., "offer_id": ..., "role": ...}, ...
"""

import argparse
import json
import random
import sys
import time
from pathlib import Path

import zmq

sys.path.insert(0, str(Path(__file__).resolve().parent / "gen"))
import gridcall_pb2 as pb  # noqa: E402

BACKOFF_MIN, BACKOFF_MAX, LIVENESS = 0.25, 8.0, 3


def say(**event):
    event["t"] = time.time()
    print(json.dumps(event), flush=True)


def zcert_keys(path):
    """(public, secret) Z85 keys of a zcert secret file (ZPL text)."""
    keys = {}
    for line in open(path, encoding="utf-8"):
        name, _, value = line.strip().partition("=")
        if name.strip() in ("public-key", "secret-key"):
            keys[name.strip()] = value.strip().strip('"').encode()
    return keys["public-key"], keys["secret-key"]


class Unit:
    def __init__(self, endpoint, unit_id, mode, hello, cert=None, server_key=None):
        self.cert, self.server_key = cert, server_key
        self.ctx = zmq.Context()
        self.endpoint, self.unit_id, self.mode, self.hello = endpoint, unit_id, mode, hello
        self.sock = None
        self.state = "DISCONNECTED"
        self.interval = 1.0
        self.backoff = BACKOFF_MIN
        self.reconnect_at = 0.0
        self.last_in = self.last_out = time.monotonic()
        self.outbox = []                # [kind, body bytes, offer_id, sent]

    def send(self, kind, body=b""):
        self.sock.send_multipart([kind.encode(), body], flags=zmq.NOBLOCK)
        self.last_out = time.monotonic()

    def close(self, why):
        if self.sock is not None:
            self.sock.close(0)
            self.sock = None
        say(event="lost", why=why)
        self.state = "DISCONNECTED"
        self.reconnect_at = time.monotonic() + self.backoff * (1 + random.random() / 4)
        self.backoff = min(self.backoff * 2, BACKOFF_MAX)

    def connect(self):
        self.sock = self.ctx.socket(zmq.DEALER)
        self.sock.setsockopt(zmq.LINGER, 0)
        if self.cert:
            self.sock.curve_publickey, self.sock.curve_secretkey = zcert_keys(self.cert)
            self.sock.curve_serverkey = self.server_key.encode()
        self.sock.connect(self.endpoint)
        say(event="connecting")
        self.send("hello", self.hello.SerializeToString())
        self.last_in = time.monotonic()
        self.state = "HELLO"

    def reply(self, kind, msg):
        self.outbox.append([kind, msg.SerializeToString(), msg.offer_id, False])
        self.flush()

    def flush(self):
        if self.state != "READY":
            return
        busy = set()
        for item in self.outbox:
            if not item[3] and item[2] not in busy:
                self.send(item[0], item[1])
                item[3] = True
            busy.add(item[2])

    def answered(self, offer_id, retry):
        for i, item in enumerate(self.outbox):
            if item[3] and (offer_id == "" or item[2] == offer_id):
                if retry:
                    item[3] = False
                else:
                    del self.outbox[i]
                return

    def on_message(self, kind, body):
        self.last_in = time.monotonic()
        if self.state == "HELLO":
            if kind == "welcome":
                w = pb.Welcome.FromString(body)
                self.interval = (w.heartbeat_ms or 1000) / 1000
                self.backoff = BACKOFF_MIN
                self.state = "READY"
                for item in self.outbox:
                    item[3] = False
                say(event="welcome", held=list(w.held_cases))
                self.flush()
            elif kind == "error":
                e = pb.Error.FromString(body)
                say(event="refused", code=pb.ErrorCode.Name(e.code), message=e.message)
                self.close("refused")
            return
        if kind == "offer":
            o = pb.Offer.FromString(body)
            say(event="offer", case_id=o.case_id, offer_id=o.offer_id, role=o.role,
                answer_by=o.answer_by_ms)
            if self.mode in ("accept", "resolve"):
                self.reply("accept", pb.Accept(offer_id=o.offer_id, case_id=o.case_id))
            if self.mode == "resolve":
                self.reply("resolve", pb.Resolve(offer_id=o.offer_id, case_id=o.case_id,
                                                 summary="done by py_unit"))
        elif kind == "ok":
            a = pb.UnitAck.FromString(body)
            say(event="ok", case_id=a.case_id, offer_id=a.offer_id,
                state=pb.CaseState.Name(a.state), duplicate=a.duplicate)
            self.answered(a.offer_id, False)
        elif kind == "error":
            e = pb.Error.FromString(body)
            code = pb.ErrorCode.Name(e.code)
            say(event="error", code=code, ref=e.ref, message=e.message)
            if e.ref == "" and code in ("ERROR_PROTOCOL", "ERROR_UNKNOWN_UNIT"):
                self.close("dispatch forgot us")
            else:
                self.answered(e.ref, code == "ERROR_UNAVAILABLE")
        self.flush()

    def run(self):
        while True:
            now = time.monotonic()
            if self.state == "DISCONNECTED":
                if now >= self.reconnect_at:
                    self.connect()
                else:
                    time.sleep(min(0.05, self.reconnect_at - now))
                continue
            if self.sock.poll(50):
                frames = self.sock.recv_multipart()
                kind = frames[0].decode("utf-8", "replace")
                self.on_message(kind, frames[1] if len(frames) > 1 else b"")
            now = time.monotonic()
            if self.state != "DISCONNECTED" and now - self.last_in > LIVENESS * self.interval:
                self.close("dispatch silent")
            elif self.state == "READY" and now - self.last_out >= self.interval:
                self.send("heartbeat")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("endpoint")
    ap.add_argument("unit_id")
    ap.add_argument("mode", choices=["silent", "accept", "resolve"])
    ap.add_argument("--capacity", type=int, default=0)
    ap.add_argument("--category", action="append", default=[])
    ap.add_argument("--grid", action="append", default=[])
    ap.add_argument("--cert", help="the unit's secret certificate (zcert)")
    ap.add_argument("--server-key", help="dispatch's public key (Z85)")
    args = ap.parse_args()
    hello = pb.Hello(unit_id=args.unit_id, protocol=1, capacity=args.capacity,
                     categories=args.category, grids=args.grid)
    try:
        Unit(args.endpoint, args.unit_id, args.mode, hello, args.cert, args.server_key).run()
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
