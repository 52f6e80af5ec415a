#!/bin/sh
# bench-units.sh — 200 responder units connected at once with 20,000 cases
# flowing through intake, dispatch and gridcall-unit-sim: checks that no
# offer is lost or duplicated, and watches dispatch's memory the whole run
# (tests/bench/dispatch_memory.sh --watch): RSS at the start, the middle
# and the end, and a verdict line "dispatch memory: BOUNDED|GROWS ...".
# Figures for docs/unit-protocol.md. About a minute with the defaults.
# Options in the environment: UNITS (200), CASES (20000), RATE (2000),
# GROWTH_MB (4: growth allowed over the second half of the cases),
# SAMPLES=FILE (every memory sample as TSV), MEMORY_STRICT=1 (exit 1 on
# GROWS too; by default only a lost or doubled offer fails). For a longer soak, e.g.
# CASES=80000 RATE=300 tests/bench/dispatch_memory.sh (about 5 minutes).
set -eu
cd "$(dirname "$0")/.."
[ -x build/gridcall-dispatch ] || make all
export UNITS="${UNITS:-200}" CASES="${CASES:-20000}" RATE="${RATE:-2000}"
/usr/bin/python3 tests/bench/units_load.py --units "$UNITS" --cases "$CASES" --rate "$RATE" &
load=$!
memory=0
tests/bench/dispatch_memory.sh --watch "$load" > "${TMPDIR:-/tmp}/bench-units-memory.$$" || memory=$?
rc=0
wait "$load" || rc=$?
cat "${TMPDIR:-/tmp}/bench-units-memory.$$"
rm -f "${TMPDIR:-/tmp}/bench-units-memory.$$"
[ "$rc" -eq 0 ] && { [ "$memory" -eq 0 ] || [ "${MEMORY_STRICT:-0}" = 0 ]; }
