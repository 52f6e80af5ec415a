#!/bin/sh
# test.sh [unit|integration]: run the C unit tests (cmocka, under ASan and
# UBSan) and the integration tests (pytest against the real daemons and a
# throw-away Redis each test module starts itself). Both by default.
set -eu
cd "$(dirname "$0")/.."
what=${1:-all}
failed=0
# chromium, CJK fonts and playwright-core for the browser test of the screen
scripts/install-browser.sh
if [ "$what" = all ] || [ "$what" = unit ]; then
    echo "== sample configurations"
    for d in intake dispatch escalate notify report; do
        build/gridcall-$d -c deploy/gridcall-$d.conf --check-config || failed=1
    done
    echo "== C unit tests"
    for t in build/tests/test_*; do
        [ -x "$t" ] || continue
        if ASAN_OPTIONS=detect_leaks=1 "$t" >"$t.log" 2>&1; then
            echo "ok   $(basename "$t") ($(grep -c '\[       OK \]' "$t.log") tests)"
        else
            echo "FAIL $(basename "$t")"; cat "$t.log"; failed=1
        fi
    done
fi
if [ "$what" = all ] || [ "$what" = integration ]; then
    echo "== integration tests (pytest)"
    /usr/bin/python3 -m pytest -q -p no:cacheprovider tests/integration || failed=1
fi
exit $failed
