#!/usr/bin/python3
"""gen-redis-acl.py — rewrite the daemon users' command lists in
deploy/redis-users.acl from the function library's call graph (the same
computation tests/integration/test_redis_acl.py checks against). Run it
after a change to services/common/lua/*.lua or to which functions a
daemon calls; then rerun scripts/gen-k8s-configmap.py."""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests" / "integration"))
import test_redis_acl as t  # noqa: E402

commands = t.library_commands()
out = []
for line in Path(t.ACL_FILE).read_text().split("\n"):
    if line.startswith("user "):
        words = line.split()
        user = words[1]
        if user in t.SOURCES:
            need = set().union(*(commands[f] for f in t.called_functions(user)))
            need |= {"FCALL_RO"} | ({"FCALL"} if user != "gc-report" else set())
            need |= set(getattr(t, "EXTRA", {}).get(user, ()))
            keep = [w for w in words[2:] if not w.startswith("+")]
            line = " ".join(["user", user] + keep + ["+" + c.lower() for c in
                                                      sorted(need, key=str.lower)])
    out.append(line)
Path(t.ACL_FILE).write_text("\n".join(out))
