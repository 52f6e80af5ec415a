"""http_flood.py — hostile HTTP clients for test_http_security.py, run as a
process of its own so their work does not slow the test's own probes (one
Python process shares one interpreter lock).

    python3 http_flood.py '{"port": 8080, "slow": [...], "streams": [...],
                            "idle": [...], "seconds": 9}'

slow: source addresses, one connection each, that send a request one
header byte at a time, 10 s apart (slowloris); streams: source addresses,
one GET /api/stream each; idle: source addresses, one connection each
that sends nothing. Prints "ready" once every connection is open, then
after `seconds` one JSON line: per connection what the server did and when
(seconds since that connection opened).
"""

import json
import selectors
import socket
import sys
import time

SLOW_REQUEST = b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: " + b"a" * 64 + b"\r\n\r\n"
SLOW_INTERVAL_S = 10.0


class Conn:
    def __init__(self, kind, source, port):
        self.kind = kind
        self.source = source
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.bind((source, 0))
        self.opened = time.monotonic()
        self.sock.connect(("127.0.0.1", port))
        self.sock.setblocking(False)
        self.data = b""
        self.closed_after = None        # seconds from open to the server's close
        self.status = None              # HTTP status of a stream's answer
        self.status_after = None
        self.retry_after = None
        self.snapshot_after = None      # a stream's first snapshot event
        self.sent = 0
        self.next_byte = self.opened

    def result(self):
        return {"kind": self.kind, "source": self.source, "closed_after": self.closed_after,
                "status": self.status, "status_after": self.status_after,
                "retry_after": self.retry_after, "snapshot_after": self.snapshot_after,
                "sent": self.sent}

    def on_read(self, now):
        try:
            chunk = self.sock.recv(65536)
        except (ConnectionResetError, BrokenPipeError):
            chunk = b""
        except BlockingIOError:
            return True
        if not chunk:
            self.closed_after = now - self.opened
            return False
        if self.kind == "stream":
            self.data += chunk
            if self.status is None and b"\r\n" in self.data:
                self.status = int(self.data.split(b" ", 2)[1])
                self.status_after = now - self.opened
            if self.retry_after is None and b"\r\n\r\n" in self.data:
                head = self.data.split(b"\r\n\r\n", 1)[0].decode("latin-1").lower()
                for line in head.split("\r\n"):
                    if line.startswith("retry-after:"):
                        self.retry_after = line.split(":", 1)[1].strip()
            if self.snapshot_after is None and b"event: snapshot" in self.data:
                self.snapshot_after = now - self.opened
            if self.snapshot_after is not None:
                self.data = b""         # keep reading, keep nothing
        return True


def main():
    spec = json.loads(sys.argv[1])
    port = spec["port"]
    conns = []
    for source in spec.get("slow", []):
        conns.append(Conn("slow", source, port))
    for source in spec.get("idle", []):
        conns.append(Conn("idle", source, port))
    for source in spec.get("streams", []):
        c = Conn("stream", source, port)
        c.sock.sendall(f"GET /api/stream HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n\r\n".encode())
        conns.append(c)
    sel = selectors.DefaultSelector()
    for c in conns:
        sel.register(c.sock, selectors.EVENT_READ, c)
    print("ready", flush=True)
    end = time.monotonic() + spec["seconds"]
    while True:
        now = time.monotonic()
        if now >= end:
            break
        for c in conns:
            if c.kind == "slow" and c.closed_after is None and now >= c.next_byte \
               and c.sent < len(SLOW_REQUEST):
                try:
                    c.sock.send(SLOW_REQUEST[c.sent:c.sent + 1])
                    c.sent += 1
                except OSError:
                    pass
                c.next_byte = now + SLOW_INTERVAL_S
        for key, _ in sel.select(timeout=0.05):
            c = key.data
            if not c.on_read(time.monotonic()):
                sel.unregister(c.sock)
    print(json.dumps([c.result() for c in conns]), flush=True)
    for c in conns:
        c.sock.close()


if __name__ == "__main__":
    main()
