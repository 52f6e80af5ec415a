#!/bin/bash
# bench-wait.sh: what intake's wait_replicas costs. A Redis primary and one
# replica on this machine (loopback TCP, AOF everysec), intake with
# wait_replicas 0 and then 1 (WAIT 1 after every pipelined batch), the
# same reports each time from build/gridcall-bench (intake phase). Prints
# reports/s pipelined (4 sockets x 500) and one at a time (1 / round trip). Run by `make bench`;
# BENCH_WAIT_REPORTS sets the count (default 20000).
set -euo pipefail
cd "$(dirname "$0")/.."
count=${BENCH_WAIT_REPORTS:-20000}
dir=$(mktemp -d /tmp/gc-bw-XXXXXX)
pids=()
cleanup() {
    for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
    for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
    rm -rf "$dir"
}
trap cleanup EXIT
free_port() { /usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

node() {    # node NAME PORT [REPLICAOF-PORT]
    mkdir -p "$dir/$1"
    local extra=()
    [ -n "${3:-}" ] && extra=(--replicaof 127.0.0.1 "$3")
    redis-server --port "$2" --bind 127.0.0.1 --unixsocket "$dir/$1/redis.sock" \
        --unixsocketperm 700 --dir "$dir/$1" --appendonly yes --appendfsync everysec --save "" \
        --logfile "$dir/$1/redis.log" "${extra[@]}" &
    pids+=($!)
    for _ in $(seq 100); do redis-cli -p "$2" ping >/dev/null 2>&1 && return 0; sleep 0.05; done
    echo "bench-wait: redis $1 did not start" >&2; exit 1
}
p_port=$(free_port)
r_port=$(free_port)
node primary "$p_port"
node replica "$r_port" "$p_port"
for _ in $(seq 200); do
    redis-cli -p "$p_port" info replication | grep -q "state=online" && break; sleep 0.05
done
sock=$dir/primary/redis.sock
# a bare Redis (its default user may do anything): the library first
build/gridcall --set "redis_socket=$sock" redis setup >/dev/null
build/gridcall --set "redis_socket=$sock" directory load deploy/tianjiao/directory.json >/dev/null

run() {     # run WAIT: intake with wait_replicas WAIT, the intake phase, intake stopped
    redis-cli -s "$sock" flushall >/dev/null
    build/gridcall --set "redis_socket=$sock" directory load deploy/tianjiao/directory.json >/dev/null
    build/gridcall-intake --set "redis_socket=$sock" --set "bind=ipc://$dir/intake" \
        --set "dispatch_endpoint=ipc://$dir/work" --set "notify_endpoint=ipc://$dir/notify" \
        --set "wait_replicas=$1" --set wait_timeout_ms=1000 --set log_level=warning \
        --set curve=no --set anonymous=all \
        2>>"$dir/intake.log" &
    local intake=$!
    for _ in $(seq 100); do [ -S "$dir/intake" ] && break; sleep 0.05; done
    build/gridcall-bench --set "redis_socket=$sock" --set log_level=warning \
        --set "intake_endpoint=ipc://$dir/intake" --set phase=intake --set "count=$count" \
        --set sockets=4 --set window=500 --set "label=wait$1" 2>&1 | sed "s/^/  wait_replicas $1: /"
    # one report at a time: reports/s is 1 / round trip
    build/gridcall-bench --set "redis_socket=$sock" --set log_level=warning \
        --set "intake_endpoint=ipc://$dir/intake" --set phase=intake --set "count=$((count / 10))" \
        --set sockets=1 --set window=1 --set "label=one$1" 2>&1 | sed "s/^/  wait_replicas $1, one at a time: /"
    kill "$intake"; wait "$intake" || true
}
echo "== intake with wait_replicas 0 and 1 (a replica on this machine, $count reports)"
run 0
run 1
echo "  replica offset lag at the end: $(redis-cli -p "$p_port" info replication | tr -d '\r' \
    | sed -n 's/^slave0:.*offset=\([0-9]*\).*/\1/p') of $(redis-cli -p "$p_port" info replication \
    | tr -d '\r' | sed -n 's/^master_repl_offset://p')"
