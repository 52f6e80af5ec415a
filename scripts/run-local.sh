#!/bin/bash
# run-local.sh: the demo street on this machine. Starts a private Redis
# (var/redis, AOF on, a user per daemon: deploy/redis-users.acl), loads the
# function library (gridcall redis setup, as gc-admin) and
# deploy/tianjiao/directory.json, starts the five daemons (each logged in as
# its own Redis user), the simulated units and the simulated street, and
# prints where to look. Ctrl-C stops everything it started; the next run
# picks up the data. GRIDCALL_VAR moves the data, sockets and logs elsewhere
# (default var/). CurveZMQ is on, as it is by default: the keys live in
# var/keys (made on the first run, kept after), bound to their principals
# in var/keys/principals.json. intake's HTTP doors listen on loopback
# (GRIDCALL_DOORS_PORT, 8090) with a demo API key in var/keys/api-key.txt.
set -euo pipefail
cd "$(dirname "$0")/.."
top=$(pwd)
var=${GRIDCALL_VAR:-$top/var}
run=$var/run
keys=$var/keys
mkdir -p "$run/pids" "$var/log"
rm -f "$run"/pids/*
scale=${GRIDCALL_TIME_SCALE:-600}          # case seconds per wall second
rate=${GRIDCALL_REPORT_RATE:-1}            # simulated reports per second
http_port=${GRIDCALL_HTTP_PORT:-8080}
doors_port=${GRIDCALL_DOORS_PORT:-8090}    # intake's HTTP doors (JSON API, Open311)

# Keys (docs/security.md): a certificate per daemon others reach, one per
# unit, a gateway for the simulated street's reporters and residents, a
# street operator for the CLI and the simulated community; each bound to
# its principal. Certificates are kept across runs; the bindings are
# written afresh.
units=$(/usr/bin/python3 -c 'import json,sys; print(" ".join(u["id"] for u in json.load(open(sys.argv[1]))["units"]))' \
        deploy/tianjiao/directory.json)
build/gridcall keys new intake dispatch notify report street-gateway operator --dir "$keys" >/dev/null
# shellcheck disable=SC2086
build/gridcall keys new $units --dir "$keys/units" >/dev/null
bindings=("$keys/street-gateway.key" "gateway street channels GRID_WORKER,RESIDENT_APP,HOTLINE,SERVICE_CARD,OPEN311,OPERATOR"
          "$keys/operator.key" "operator demo street")
for u in $units; do bindings+=("$keys/units/$u.key" "unit $u"); done
rm -f "$keys/principals.json"
build/gridcall keys bind --principals "$keys/principals.json" "${bindings[@]}" >/dev/null
# intake's HTTP doors (JSON API, Open311) on loopback: a demo API key of the
# street gateway, written to var/keys/api-key.txt (mode 0600); the
# principals file keeps only its SHA-256. A new key every run.
build/gridcall keys api-key --principals "$keys/principals.json" \
    "gateway street-app channels OPEN311,RESIDENT_APP,HOTLINE" --key-file "$keys/api-key.txt" >/dev/null


# Each program runs in a session of its own, so Ctrl-C reaches this script
# only: it stops them in reverse order of start, and none of them seems to
# have "stopped on its own" because the terminal's SIGINT hit it first.
# run/pids/NAME.pid names each program's process; scripts/rolling-restart.sh
# replaces a daemon (and its pid file) while NAME.restarting exists.
names=()
pid_of() {  # pid_of NAME: the process of NAME now
    cat "$run/pids/$1.pid" 2>/dev/null || true
}
stop() {    # stop [STATUS]: stop what we started, keep the data, exit
    local status=${1:-0}
    trap - INT TERM EXIT
    echo
    echo "stopping..."
    for ((i = ${#names[@]} - 1; i >= 0; i--)); do
        kill -TERM "$(pid_of "${names[i]}")" 2>/dev/null || true
    done
    # the watch loop's nap, and the community seeding if it is still going
    [ -n "${nap:-}" ] && kill "$nap" 2>/dev/null || true
    # the community seeding, if it is still going (its group: sleep, python)
    [ -n "${seed:-}" ] && { kill -TERM -- "-$seed" 2>/dev/null || true; wait "$seed" 2>/dev/null || true; }
    # wait for each, also those a rolling restart started (not our children)
    for name in "${names[@]}"; do
        pid=$(pid_of "$name")
        for _ in $(seq 200); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    done
    scripts/redis-local.sh stop "$var/redis"
    echo "stopped; data kept in $var/redis (AOF)"
    exit "$status"
}
trap stop INT TERM           # Ctrl-C: a clean stop, status 0
trap 'stop $?' EXIT         # a failed start-up keeps its status

scripts/redis-local.sh start "$var/redis"
users=$var/redis/users

# One settings file the CLI and the simulator read (GRIDCALL_CONF), logged
# in as gc-operator; it holds a password, so only we may read it.
umask 077
{
    echo "# written by scripts/run-local.sh; daemon options come from deploy/*.conf"
    echo "redis_socket $var/redis/redis.sock"
    echo "time_scale $scale"
    echo "intake_endpoint ipc://$run/intake"
    echo "events_endpoint ipc://$run/events"
    echo "client_cert $keys/operator.key_secret"
    echo "gateway_cert $keys/street-gateway.key_secret"
    echo "intake_key $keys/intake.key"
    echo "events_key $keys/notify.key"
    cat "$users/gc-operator.conf"
} > "$run/demo.conf"
# Each daemon's file: its sample configuration and its own Redis user (the
# password in a file of mode 0600, never on a command line).
for d in intake dispatch escalate notify report; do
    cat "deploy/gridcall-$d.conf" "$users/gc-$d.conf" > "$run/gridcall-$d.conf"
done
umask 022

common=(--set "redis_socket=$var/redis/redis.sock" --set "time_scale=$scale")
curve() {   # curve NAME: the CurveZMQ options of a daemon others reach, in curve_opts
    curve_opts=(--set "curve_secret_file=$keys/$1.key_secret" --set "principals=$keys/principals.json")
}
ends=(--set "dispatch_endpoint=ipc://$run/work" --set "notify_endpoint=ipc://$run/notify")

# the admin step: the daemons' users may not load the library themselves
build/gridcall -c "$users/gc-admin.conf" "${common[@]}" redis setup
build/gridcall -c "$run/demo.conf" directory load deploy/tianjiao/directory.json
build/gridcall -c "$run/demo.conf" matter templates load deploy/tianjiao/matter-templates.json

start() {   # start NAME ARGS...: run build/NAME in the background, log to var/log
    local name=$1; shift
    setsid "build/$name" "$@" 2>>"$var/log/$name.log" &
    echo $! > "$run/pids/$name.pid"
    names+=("$name")
}
curve notify
start gridcall-notify -c "$run/gridcall-notify.conf" "${common[@]}" "${curve_opts[@]}" \
    --set "work_bind=ipc://$run/notify" --set "pub_bind=ipc://$run/events"
curve dispatch
start gridcall-dispatch -c "$run/gridcall-dispatch.conf" "${common[@]}" "${curve_opts[@]}" \
    --set "unit_bind=ipc://$run/units" --set "work_bind=ipc://$run/work" \
    --set "notify_endpoint=ipc://$run/notify" --set offer_timeout_ms=10000
start gridcall-escalate -c "$run/gridcall-escalate.conf" "${common[@]}" "${ends[@]}"
curve intake
start gridcall-intake -c "$run/gridcall-intake.conf" "${common[@]}" "${ends[@]}" "${curve_opts[@]}" \
    --set "bind=ipc://$run/intake" --set http_bind=127.0.0.1 --set "http_port=$doors_port" \
    --set "media_dir=$var/media" --set "media_url_base=http://127.0.0.1:$http_port/media/"
curve report
start gridcall-report -c "$run/gridcall-report.conf" "${common[@]}" "${curve_opts[@]}" \
    --set "http_port=$http_port" --set "media_dir=$var/media"
start gridcall-unit-sim "${common[@]}" --set "dispatch_endpoint=ipc://$run/units" \
    --set "dispatch_key=$keys/dispatch.key" --set "keys_dir=$keys/units" \
    --set directory=deploy/tianjiao/directory.json --set units=all \
    --set accept_rate=0.9 --set accept_delay_ms=500 --set resolve_delay_ms=4000
GRIDCALL_CONF=$run/demo.conf setsid build/gridcall simulate reports --rate "$rate" --matters \
    --directory deploy/tianjiao/directory.json >>"$var/log/simulate.log" 2>&1 &
echo $! > "$run/pids/simulate.pid"
names+=(simulate)
# the three lists as the street office starts them: needs from visits,
# projects, volunteers' claims (once per data: fixed request keys)
GRIDCALL_CONF=$run/demo.conf setsid sh -c 'sleep 1; exec scripts/demo-community.py' >>"$var/log/demo-community.log" 2>&1 &
seed=$!

cat <<INFO

gridcall is running the demo street (Tianjiao Street, 63 grids, 102 units);
time runs ${scale}x (one case hour every $((3600 / scale)) s), ${rate} report(s) a second.

  dashboard and API   http://127.0.0.1:$http_port/   (/api/stats, /api/cases/ID)
  reporters (intake)  ipc://$run/intake
  HTTP doors (intake) http://127.0.0.1:$doors_port/api/v1/ and /open311/v2/
                      API key in $keys/api-key.txt (docs/http-api.md, docs/open311.md)
  units (dispatch)    ipc://$run/units
  events (notify PUB) ipc://$run/events
  Redis               $var/redis/redis.sock
  keys (CurveZMQ)     $keys/ (principals.json binds each key to its principal)
  logs                $var/log/

watch it:
  export GRIDCALL_CONF=$run/demo.conf
  build/gridcall stats
  build/gridcall report --grid G01 --category env.garbage "楼下垃圾堆积"
  build/gridcall case <case id printed above>
  curl -H "Authorization: Bearer \$(cat $keys/api-key.txt)" -H 'Content-Type: application/json' \\
       -d '{"grid":"G01","category":"env.garbage","text":"楼下垃圾堆积"}' \\
       http://127.0.0.1:$doors_port/api/v1/reports
  tail -f $var/log/gridcall-dispatch.log

scripts/rolling-restart.sh restarts the daemons one at a time.
Ctrl-C stops everything.
INFO
# Watch the pid files (a rolling restart moves a daemon to a new process):
# a program is gone when its current process is, unless it is being
# restarted. The sleep runs in the background so Ctrl-C stops at once.
while true; do
    sleep 1 & nap=$!
    wait "$nap" || true
    for name in "${names[@]}"; do
        [ -e "$run/pids/$name.restarting" ] && continue
        if ! kill -0 "$(pid_of "$name")" 2>/dev/null; then
            [ -e "$run/pids/$name.restarting" ] && continue
            echo "$name stopped on its own; see $var/log/$name.log"
            stop 1
        fi
    done
done
