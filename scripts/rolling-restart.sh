#!/bin/bash
# rolling-restart.sh [NAME...]: restart the daemons of a running local
# cluster (scripts/run-local.sh, `make run`) one at a time, under whatever
# load it has: SIGTERM (the daemon stops taking work, finishes its loop
# turn and exits), start it again with the same command line, wait until it
# serves again, then the next. NAMEs are run/pids/NAME.pid files (default:
# every gridcall-* daemon; the simulators are clients, left alone).
# GRIDCALL_VAR as for run-local.sh. Exits 1, naming it, when a daemon does
# not drain within 20 s (it is then killed) or does not come back.
# On hosts with systemd the same is, per instance:
#   systemctl restart gridcall-intake@1 && systemctl is-active gridcall-intake@1
set -euo pipefail
cd "$(dirname "$0")/.."
var=${GRIDCALL_VAR:-$(pwd)/var}
pids=$var/run/pids
drain_s=20
start_s=20

[ -d "$pids" ] || { echo "rolling-restart: no local cluster in $var (run make run)" >&2; exit 1; }
if [ $# -eq 0 ]; then
    # restart order: consumers before producers, as run-local starts them
    set --
    for n in gridcall-notify gridcall-dispatch gridcall-escalate gridcall-intake gridcall-report; do
        for f in "$pids/$n".pid "$pids/$n"-*.pid; do
            [ -e "$f" ] && set -- "$@" "$(basename "$f" .pid)"
        done
    done
fi

# ready NAME: the log line a daemon writes once it serves
ready_line() {
    case $1 in
        gridcall-intake*)   echo "intake: serving reporters" ;;
        gridcall-dispatch*) echo "dispatch: units connect to" ;;
        gridcall-escalate*) echo "escalate: firing timers" ;;
        gridcall-notify*)   echo "notify: started" ;;
        gridcall-report*)   echo "report: listening on" ;;
        *)                  echo "" ;;
    esac
}

now_ms() { date +%s%3N; }

for name in "$@"; do
    pidfile=$pids/$name.pid
    log=$var/log/$name.log
    pid=$(cat "$pidfile" 2>/dev/null || true)
    if [ -z "$pid" ] || ! kill -0 "$pid" 2>/dev/null; then
        echo "rolling-restart: $name is not running" >&2; exit 1
    fi
    mapfile -d '' argv < "/proc/$pid/cmdline"
    cwd=$(readlink "/proc/$pid/cwd")
    offset=$(stat -c %s "$log" 2>/dev/null || echo 0)
    touch "$pids/$name.restarting"
    t0=$(now_ms)
    kill -TERM "$pid"
    for _ in $(seq $((drain_s * 20))); do kill -0 "$pid" 2>/dev/null || break; sleep 0.05; done
    if kill -0 "$pid" 2>/dev/null; then
        kill -KILL "$pid" 2>/dev/null || true
        echo "rolling-restart: $name did not stop within $drain_s s of SIGTERM; killed" >&2
        rm -f "$pids/$name.restarting"; exit 1
    fi
    drained=$(tail -c +$((offset + 1)) "$log" | grep -E ": stopp(ing|ed)" | tail -1 \
              | sed 's/^.* NOTICE //' || true)
    t1=$(now_ms)
    (cd "$cwd" && exec setsid "${argv[@]}" </dev/null >>"$log" 2>&1) &
    newpid=$!
    echo "$newpid" > "$pidfile"
    offset=$(stat -c %s "$log")
    pattern=$(ready_line "$name")
    up=""
    for _ in $(seq $((start_s * 20))); do
        kill -0 "$newpid" 2>/dev/null || break
        if [ -z "$pattern" ] || tail -c +$((offset + 1)) "$log" | grep -q "$pattern"; then
            up=yes; break
        fi
        sleep 0.05
    done
    rm -f "$pids/$name.restarting"
    if [ -z "$up" ]; then
        echo "rolling-restart: $name did not come back; see $log" >&2; exit 1
    fi
    echo "rolling-restart: $name drained in $((t1 - t0)) ms, serving again after $(($(now_ms) - t1)) ms${drained:+ ($drained)}"
done
