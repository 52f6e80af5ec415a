#!/bin/sh
# bench-units.sh — 200 responder units connected at once with 20,000 cases
# flowing through intake, dispatch and gridcall-unit-sim: checks that no
# offer is lost or duplicated and prints dispatch's memory (figures for
# docs/unit-protocol.md). Options: UNITS, CASES, RATE in the environment.
set -eu
cd "$(dirname "$0")/.."
[ -x build/gridcall-dispatch ] || make all
exec /usr/bin/python3 tests/bench/units_load.py --units "${UNITS:-200}" \
    --cases "${CASES:-20000}" --rate "${RATE:-2000}"
