#!/bin/bash
# bench-timers.sh: the timer engine's figures (issue 4): firing throughput
# with an empty timer set and beside 1e6 pending timers, lateness at a
# steady rate, Redis memory per pending timer, and the same Redis's Lua
# ceiling measured in the same run. A private redis-server in a temporary
# folder; nothing else is touched. Env: BENCH_PENDING (1000000),
# BENCH_CASES (4000), BENCH_STEADY (3000).
set -euo pipefail
cd "$(dirname "$0")/.."
for b in gridcall gridcall-escalate; do
    [ -x "build/$b" ] || { echo "bench-timers: build/$b is missing; run make all" >&2; exit 1; }
done
exec /usr/bin/python3 tests/bench/timers_bench.py
