#!/bin/sh
# test.sh [unit|integration|configs]: run the C unit tests (cmocka, under
# ASan and UBSan) and the integration tests (pytest against the real daemons
# and a throw-away Redis each test module starts itself). Both by default;
# configs checks the sample configurations only.
set -eu
cd "$(dirname "$0")/.."
what=${1:-all}
failed=0
# The samples have CURVE on (the default): they are checked with a
# throw-away certificate and principals file standing in for the real ones.
check_samples() {
    echo "== sample configurations"
    local keys
    keys=$(mktemp -d)
    build/gridcall keys new sample --dir "$keys" >/dev/null
    build/gridcall keys bind --principals "$keys/principals.json" "$keys/sample.key" "admin sample" >/dev/null
    for d in intake dispatch escalate notify report; do
        set -- --set "curve_secret_file=$keys/sample.key_secret"
        grep -q '^principals ' "deploy/gridcall-$d.conf" && set -- "$@" --set "principals=$keys/principals.json"
        for key in dispatch_key notify_key; do
            grep -q "^$key " "deploy/gridcall-$d.conf" && set -- "$@" --set "$key=$keys/sample.key"
        done
        build/gridcall-$d -c deploy/gridcall-$d.conf --check-config "$@" || failed=1
    done
    rm -rf "$keys"
}
if [ "$what" = configs ]; then
    check_samples
    exit $failed
fi
# chromium, CJK fonts and playwright-core for the browser test of the screen
scripts/install-browser.sh
if [ "$what" = all ] || [ "$what" = unit ]; then
    check_samples
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
