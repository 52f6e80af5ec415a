#!/bin/sh
# fuzz.sh SECONDS [TARGET...]: run each libFuzzer harness of build/fuzz
# (built by `make fuzz` / `make fuzz-smoke`) for SECONDS, one after the
# other. The seeds in tests/fuzz/corpus/<target> are read, never written;
# new inputs go to build/fuzz/work/<target>, a crashing input to
# build/fuzz/artifacts/. Any crash, leak, sanitizer report or input slower
# than 10 s fails the run. See docs/fuzzing.md.
set -eu
cd "$(dirname "$0")/.."
seconds=${1:-300}
[ $# -gt 0 ] && shift
targets=${*:-$(for f in tests/fuzz/fuzz_*.c; do basename "$f" .c | sed 's/^fuzz_//'; done)}
passed=0
failed=0
mkdir -p build/fuzz/artifacts
for t in $targets; do
    work=build/fuzz/work/$t
    log=build/fuzz/$t.log
    mkdir -p "$work"
    dict=""
    [ -f "tests/fuzz/$t.dict" ] && dict="-dict=tests/fuzz/$t.dict"
    # shellcheck disable=SC2086
    if ASAN_OPTIONS=detect_leaks=1 \
       UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
       "build/fuzz/fuzz_$t" $dict -max_total_time="$seconds" -timeout=10 \
           -print_final_stats=1 -artifact_prefix="build/fuzz/artifacts/$t-" \
           "$work" "tests/fuzz/corpus/$t" >"$log" 2>&1; then
        runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log")
        cov=$(grep -o 'cov: [0-9]*' "$log" | tail -n 1)
        echo "ok   fuzz_$t ($runs runs in ${seconds}s, $cov, $(ls "$work" | wc -l) inputs in $work)"
        passed=$((passed + 1))
    else
        echo "FAIL fuzz_$t (log: $log, input: build/fuzz/artifacts/$t-*)"
        grep -v '^#[0-9]' "$log" | tail -n 60
        failed=$((failed + 1))
    fi
done
echo "fuzz: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
