#!/bin/sh
# redis-local.sh start|stop DIR [PORT]: a private redis-server for gridcall,
# with deploy/redis.conf, its data and Unix socket in DIR. Prints nothing
# on success unless Redis takes a while to load its data (then progress);
# the socket is DIR/redis.sock. GRIDCALL_REDIS_ARGS adds redis-server
# arguments (e.g. "--maxmemory 4gb"). Its users are deploy/redis-users.acl
# with the passwords of DIR/users (scripts/redis-users.sh; the default
# user takes no login): DIR/users/USER.conf holds each user's redis_user and
# redis_password lines, and this script speaks to Redis as gc-admin.
#
# "start" returns only when Redis has finished loading its AOF, however
# long that takes: until then Redis answers every command with LOADING,
# which is not "up".
set -eu
cmd=$1
dir=$2
port=${3:-0}
top=$(cd "$(dirname "$0")/.." && pwd)
sock=$dir/redis.sock
progress_s=2            # say how the load goes every this many seconds

# rcli ARGS...: redis-cli as gc-admin (the password from the environment,
# never on a command line)
rcli() {
    REDISCLI_AUTH=$(cat "$dir/users/gc-admin.password") \
        redis-cli --no-auth-warning --user gc-admin -s "$sock" "$@"
}

# answers: Redis on the socket answers at all (PONG, or LOADING while it loads)
answers() {
    rcli ping 2>/dev/null | grep -q -e PONG -e LOADING
}

# field NAME: one field of INFO persistence, or nothing
field() {
    rcli info persistence 2>/dev/null | tr -d '\r' | sed -n "s/^$1://p"
}

# running: the redis-server of DIR is alive (per its pid file)
running() {
    [ -f "$dir/redis.pid" ] && kill -0 "$(cat "$dir/redis.pid")" 2>/dev/null
}

# wait_loaded: until Redis reports loading:0, with progress when slow
wait_loaded() {
    start=$(date +%s)
    said=$start
    until [ "$(field loading)" = 0 ]; do
        if ! running && ! answers; then
            echo "redis-local: redis-server stopped while loading; see $dir/redis.log" >&2
            exit 1
        fi
        now=$(date +%s)
        if [ $((now - said)) -ge $progress_s ]; then
            said=$now
            # the fields go away the moment loading ends: read each once
            perc=$(field loading_loaded_perc)
            total=$(field loading_total_bytes)
            eta=$(field loading_eta_seconds)
            echo "redis-local: Redis is loading its data: ${perc:-100}% of" \
                 "$(( ${total:-0} / 1048576 )) MB after $((now - start)) s," \
                 "about ${eta:-0} s left"
        fi
        sleep 0.1
    done
    [ "$said" = "$start" ] || echo "redis-local: Redis loaded its data in $(($(date +%s) - start)) s"
}

case $cmd in
start)
    mkdir -p "$dir"
    dir=$(cd "$dir" && pwd)
    sock=$dir/redis.sock
    "$top/scripts/redis-users.sh" "$dir"
    if [ -S "$sock" ] && answers; then
        wait_loaded
        exit 0
    fi
    # shellcheck disable=SC2086  # GRIDCALL_REDIS_ARGS is a list of arguments
    redis-server "$top/deploy/redis.conf" --port "$port" --dir "$dir" \
        --unixsocket "$sock" --unixsocketperm 700 --daemonize yes \
        --pidfile "$dir/redis.pid" --logfile "$dir/redis.log" ${GRIDCALL_REDIS_ARGS:-}
    # a loading Redis may take long to answer at all: wait while it runs
    i=0
    until answers; do
        i=$((i + 1))
        if [ $i -gt 100 ] && ! running; then
            echo "redis-local: redis-server did not start; see $dir/redis.log" >&2
            exit 1
        fi
        sleep 0.05
    done
    wait_loaded
    ;;
stop)
    [ -S "$sock" ] && [ -f "$dir/users/gc-admin.password" ] && rcli shutdown >/dev/null 2>&1 || true
    ;;
*)
    echo "usage: redis-local.sh start|stop DIR [PORT]" >&2
    exit 2
    ;;
esac
