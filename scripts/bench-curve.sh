#!/bin/bash
# bench-curve.sh — what CurveZMQ costs (docs/security.md). In one run, on
# one private Redis and one cluster (intake, dispatch, escalate, notify on
# ipc:// endpoints, restarted between modes):
#  1. full lifecycles with CURVE off and on, alternating (off, on, off, on),
#     every unit and the reporters with keys of their own when on; prints
#     lifecycles/s of each and on/off (goal: at least 85 %);
#  2. with CURVE on, reports at a fixed rate with every unit connected,
#     calm and while tests/bench/handshake_flood.py makes bogus CURVE
#     handshakes (keys bound to nobody) against intake and dispatch,
#     alternating; prints report->offer p99 of each and flood/calm (goal:
#     at most 2x), and the handshakes the daemons refused.
# Env: CURVE_LIFECYCLES (5000), CURVE_WINDOW (200), CURVE_ROUNDS (2),
# FLOOD_RATE (200 handshakes/s), FIXED_RATE (500 reports/s), FIXED_S (10),
# BENCH_KEEP=1 keeps the folder. Exit 1 when a phase fails (its cases do
# not all close); the goals are printed, not enforced (this machine drifts).
set -euo pipefail
cd "$(dirname "$0")/.."

lifecycles=${CURVE_LIFECYCLES:-5000}
window=${CURVE_WINDOW:-200}
rounds=${CURVE_ROUNDS:-2}
flood_rate=${FLOOD_RATE:-200}
fixed_rate=${FIXED_RATE:-500}
fixed_s=${FIXED_S:-10}
directory=deploy/tianjiao/directory.json

for b in gridcall gridcall-intake gridcall-dispatch gridcall-escalate gridcall-notify gridcall-bench; do
    [ -x "build/$b" ] || { echo "bench-curve: build/$b is missing; run make all build/gridcall-bench" >&2; exit 1; }
done

dir=$(mktemp -d /tmp/gccurve.XXXXXX)
sock=$dir/redis/redis.sock
keys=$dir/keys
results=$dir/results
pids=()
flood=

stop_daemons() {
    for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
    for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
    pids=()
}
cleanup() {
    local status=$?
    trap - EXIT INT TERM
    [ -n "$flood" ] && kill -TERM "$flood" 2>/dev/null || true
    stop_daemons
    scripts/redis-local.sh stop "$dir/redis" >/dev/null
    if [ -n "${BENCH_KEEP:-}" ]; then echo "bench-curve: kept $dir"; else rm -rf "$dir"; fi
    exit "$status"
}
trap cleanup EXIT
trap 'echo "bench-curve: interrupted" >&2; exit 130' INT TERM

users=$dir/redis/users      # Redis users and passwords (redis-local.sh)
# rcli: redis-cli as gc-admin (the password from the environment)
rcli() { REDISCLI_AUTH=$(cat "$users/gc-admin.password") redis-cli --no-auth-warning --user gc-admin -s "$sock" "$@"; }
result() { awk -v k="$1" '$1 == k { v = $2 } END { print v + 0 }' "$results"; }
calc() { awk "BEGIN { printf \"%.6f\\n\", $* }"; }
# refusals: handshakes intake and dispatch refused so far, from their logs
# (a line each, then "N more handshakes refused ... in the last second")
refusals() {
    cat "$dir/gridcall-intake.log" "$dir/gridcall-dispatch.log" | awk '
        / handshake from .* refused: / { n++ }
        / more handshakes refused / { for (i = 1; i < NF; i++) if ($(i + 1) == "more") n += $i }
        END { print n + 0 }'
}

scripts/redis-local.sh start "$dir/redis" >/dev/null
build/gridcall -c "$users/gc-admin.conf" --set "redis_socket=$sock" redis setup >/dev/null
rcli config set auto-aof-rewrite-percentage 0 >/dev/null

# Keys: the daemons others reach, one per unit, the reporters (an admin:
# they report and verify); the principals file binds them.
units=$(/usr/bin/python3 -c 'import json,sys; print(" ".join(u["id"] for u in json.load(open(sys.argv[1]))["units"]))' \
        "$directory")
build/gridcall keys new intake dispatch notify bench --dir "$keys" >/dev/null
# shellcheck disable=SC2086
build/gridcall keys new $units --dir "$keys/units" >/dev/null
bindings=("$keys/bench.key" "admin bench")
for u in $units; do bindings+=("$keys/units/$u.key" "unit $u"); done
build/gridcall keys bind --principals "$keys/principals.json" "${bindings[@]}" >/dev/null

start() {   # start NAME ARGS...
    local name=$1
    shift
    # its sample configuration and its own Redis user (deploy/redis-users.acl)
    ( umask 077; cat "deploy/$name.conf" "$users/gc-${name#gridcall-}.conf" > "$dir/$name.conf" )
    "build/$name" -c "$dir/$name.conf" "$@" 2>>"$dir/$name.log" &
    pids+=($!)
}
cluster() { # cluster off|on: a fresh street and the four daemons
    stop_daemons
    rcli flushall >/dev/null
    build/gridcall -c "$users/gc-admin.conf" --set "redis_socket=$sock" directory load "$directory" >/dev/null
    local common=(--set "redis_socket=$sock" --set log_level=warning --set time_scale=1)
    local ends=(--set "dispatch_endpoint=ipc://$dir/work" --set "notify_endpoint=ipc://$dir/notify")
    local -A sec
    if [ "$1" = on ]; then
        for d in intake dispatch notify; do
            sec[$d]="curve_secret_file=$keys/$d.key_secret principals=$keys/principals.json"
        done
    else
        common+=(--set curve=no)
        sec[intake]="anonymous=all"; sec[dispatch]="anonymous=all"; sec[notify]=""
    fi
    opts() { local o=(); for kv in ${sec[$1]}; do o+=(--set "$kv"); done; echo "${o[@]}"; }
    # shellcheck disable=SC2046
    start gridcall-notify "${common[@]}" $(opts notify) --set "work_bind=ipc://$dir/notify" \
        --set "pub_bind=ipc://$dir/events"
    # shellcheck disable=SC2046
    start gridcall-dispatch "${common[@]}" $(opts dispatch) --set "unit_bind=ipc://$dir/units" \
        --set "work_bind=ipc://$dir/work" --set "notify_endpoint=ipc://$dir/notify" \
        --set offer_timeout_ms=30000
    start gridcall-escalate "${common[@]}" "${ends[@]}"
    # shellcheck disable=SC2046
    start gridcall-intake "${common[@]}" $(opts intake) "${ends[@]}" --set "bind=ipc://$dir/intake"
    for _ in $(seq 100); do
        [ -S "$dir/intake" ] && [ -S "$dir/units" ] && [ -S "$dir/work" ] && [ -S "$dir/notify" ] && return 0
        sleep 0.1
    done
    echo "bench-curve: the daemons did not bind" >&2
    tail -n 5 "$dir"/*.log >&2
    return 1
}
bench() {   # bench off|on LABEL OPTIONS...: a lifecycle phase of the load generator
    local mode=$1 label=$2
    shift 2
    local keyed=()
    [ "$mode" = on ] && keyed=(--set "client_cert=$keys/bench.key_secret" --set "intake_key=$keys/intake.key"
                               --set "unit_keys=$keys/units" --set "dispatch_key=$keys/dispatch.key")
    timeout 300 build/gridcall-bench -c "$users/gc-admin.conf" --set "redis_socket=$sock" --set redis_timeout_ms=10000 \
        --set log_level=warning --set "directory=$directory" --set "results=$results" \
        --set "intake_endpoint=ipc://$dir/intake" --set "dispatch_endpoint=ipc://$dir/units" \
        --set phase=lifecycle --set "label=$label" "${keyed[@]}" "$@" >"$dir/$label.out" 2>&1 ||
        { cat "$dir/$label.out" >&2; return 1; }
}

echo "gridcall bench-curve: $lifecycles lifecycles x $rounds rounds each way, window $window; folder $dir"
status=0
# 1. Throughput, CURVE off and on, alternating so drift hits both alike.
for r in $(seq "$rounds"); do
    for mode in off on; do
        cluster "$mode"
        bench "$mode" "${mode}$r" --set "count=$lifecycles" --set "window=$window" --set sockets=4 ||
            status=1
        printf "lifecycles  curve %-3s round %d: %8.0f closed cases/s, report->offer p99 %.2f ms\n" \
            "$mode" "$r" "$(result "${mode}${r}_rate")" "$(result "${mode}${r}_p99_ms")"
    done
done
off=0 on=0
for r in $(seq "$rounds"); do
    off=$(calc "$off + $(result "off${r}_rate") / $rounds")
    on=$(calc "$on + $(result "on${r}_rate") / $rounds")
done
ratio=$(calc "100 * $on / ($off > 0 ? $off : 1)")
printf "curve on/off %.0f / %.0f lifecycles/s = %.1f %% (goal >= 85 %%)\n" "$on" "$off" "$ratio"

# 2. Latency at a fixed rate, calm and under a handshake flood, alternating.
count=$((fixed_rate * fixed_s))
cluster on
calm=0 loaded=0 refused_all=0 flood_ms=0
for r in $(seq "$rounds"); do
    bench on "calm$r" --set "count=$count" --set "rate=$fixed_rate" --set window=100000 \
        --set sockets=4 || status=1
    refused_before=$(refusals)
    /usr/bin/python3 tests/bench/handshake_flood.py --rate "$flood_rate" \
        "ipc://$dir/intake" "$keys/intake.key" "ipc://$dir/units" "$keys/dispatch.key" \
        >"$dir/handshakes$r.out" 2>&1 &
    flood=$!
    sleep 1                     # the flood at full rate before the first report
    t0=$(date +%s%3N)
    bench on "flood$r" --set "count=$count" --set "rate=$fixed_rate" --set window=100000 \
        --set sockets=4 || status=1
    t1=$(date +%s%3N)
    kill -TERM "$flood" && wait "$flood" || true
    flood=
    sleep 1.5                   # the last refusals' log lines and counts
    refused_all=$((refused_all + $(refusals) - refused_before))
    flood_ms=$((flood_ms + t1 - t0 + 1000))
    printf "fixed rate  %d reports/s for %d s, curve on, round %d: report->offer p99 %.2f ms calm," \
        "$fixed_rate" "$fixed_s" "$r" "$(result "calm${r}_p99_ms")"
    printf " %.2f ms under the flood (p50 %.2f / %.2f ms)\n" "$(result "flood${r}_p99_ms")" \
        "$(result "calm${r}_p50_ms")" "$(result "flood${r}_p50_ms")"
    calm=$(calc "$calm + $(result "calm${r}_p99_ms") / $rounds")
    loaded=$(calc "$loaded + $(result "flood${r}_p99_ms") / $rounds")
    for label in "calm$r" "flood$r"; do
        if [ "$(result "${label}_closed")" != "$count" ]; then
            echo "bench-curve: $label: $(result "${label}_closed") of $count closed" >&2
            status=1
        fi
    done
done
printf "flood       %d bogus CURVE handshakes refused by intake and dispatch (%.0f/s; %s)\n" \
    "$refused_all" "$(calc "$refused_all * 1000 / ($flood_ms > 0 ? $flood_ms : 1)")" \
    "$(tail -n 1 "$dir/handshakes1.out")"
printf "flood/calm  p99 %.2f / %.2f ms = x%.2f (goal <= 2)\n" "$loaded" "$calm" \
    "$(calc "$loaded / ($calm > 0 ? $calm : 1)")"
exit $status
