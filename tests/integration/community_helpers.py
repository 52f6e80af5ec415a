"""community_helpers.py — talking to intake about the community's lists
(community.proto) as the principals who may, and reading them back through
gc_community_read and the report's /api/community routes."""
import json
import urllib.error
import urllib.parse
import urllib.request
import uuid

from gc_cluster import pb, REPORTER_REPLIES, parse

import community_pb2 as cpb  # noqa: E402  (gen/ is on sys.path once gc_cluster is imported)

REPLIES = {**REPORTER_REPLIES, "community.ok": cpb.CommunityAck}


def key():
    return f"pytest-{uuid.uuid4()}"


class Speaker:
    """A DEALER on intake with one principal's key."""

    def __init__(self, c, name, principal=None):
        if principal is None:
            cert = c.keys.certs[name]
        else:
            cert = c.principal_cert(name, principal)
        self.peer = c.peer("intake", cert, "intake")

    def ask(self, kind, msg, timeout=5.0):
        self.peer.send(kind, msg)
        sock = self.peer._ready(int(timeout * 1000))
        assert sock is not None, f"no answer to {kind}"
        return parse(REPLIES, sock.recv_multipart())

    def ok(self, kind, msg):
        got, reply = self.ask(kind, msg)
        assert got == "community.ok", f"{kind} refused: {got} {reply}"
        return reply

    def refused(self, kind, msg, code):
        got, reply = self.ask(kind, msg)
        assert got == "error", f"{kind} was accepted: {reply}"
        assert pb.ErrorCode.Name(reply.code) == code, (pb.ErrorCode.Name(reply.code), reply.message)
        return reply.message


def read(c, view, *args):
    doc = json.loads(c.redis.call("FCALL", "gc_community_read", 0, c.key_prefix, view, *args))
    assert doc.get("ok"), doc
    return doc


def http(c, path, **query):
    host, port = c["report"].ready_match.groups()
    url = f"http://{host}:{port}{path}" + ("?" + urllib.parse.urlencode(query) if query else "")
    try:
        with urllib.request.urlopen(url, timeout=10) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()


def person_by(doc, **match):
    """The first person of the directory whose fields hold match (roles: a
    role they hold)."""
    for p in doc["people"]:
        if all((v in p.get(k, [])) if k == "roles" else p.get(k) == v for k, v in match.items()):
            return p
    raise AssertionError(f"no person with {match}")
