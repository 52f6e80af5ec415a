#!/bin/bash
# bench-near.sh: what a report's place and its possible duplicates cost
# (issue 10): Redis's time per gc_register with the duplicate window off,
# on with reports spread over the street, on with ten suggestions a
# report, and with a map point to resolve. A private redis-server in a
# temporary folder; nothing else is touched. Env: BENCH_NEAR_CALLS (10000),
# BENCH_NEAR_ROUNDS (3).
set -euo pipefail
cd "$(dirname "$0")/.."
[ -x build/gridcall ] || { echo "bench-near: build/gridcall is missing; run make all" >&2; exit 1; }
exec /usr/bin/python3 tests/bench/near_bench.py
