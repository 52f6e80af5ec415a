#!/usr/bin/python3
"""gen-k8s-configmap.py: write deploy/k8s/configmap.yaml, the ConfigMap
gridcall-conf holding every deploy/gridcall-*.conf as a file (mounted at
/etc/gridcall). Run after changing a sample configuration; make test checks
that the two agree (tests/integration/test_deploy_files.py)."""

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "deploy" / "k8s" / "configmap.yaml"


def render():
    out = ["# deploy/k8s/configmap.yaml — written by scripts/gen-k8s-configmap.py from",
           "# deploy/gridcall-*.conf; do not edit here. Mounted at /etc/gridcall.",
           "apiVersion: v1", "kind: ConfigMap", "metadata:", "  name: gridcall-conf",
           "  labels:", "    app.kubernetes.io/name: gridcall", "data:"]
    for conf in sorted((ROOT / "deploy").glob("gridcall-*.conf")):
        text = conf.read_text(encoding="utf-8")
        if not text.endswith("\n") or text.endswith("\n\n") or any(
                line != line.rstrip() for line in text.splitlines()):
            sys.exit(f"{conf}: trailing blanks or blank lines at the end do not survive YAML")
        out.append(f"  {conf.name}: |")
        out += [f"    {line}" if line else "" for line in text.splitlines()]
    return "\n".join(out) + "\n"


if __name__ == "__main__":
    OUT.write_text(render(), encoding="utf-8")
