#!/bin/sh
# redis-local.sh start|stop DIR [PORT]: a private redis-server for gridcall,
# with deploy/redis.conf, its data and Unix socket in DIR. Prints nothing
# on success; the socket is DIR/redis.sock.
set -eu
cmd=$1
dir=$2
port=${3:-0}
top=$(cd "$(dirname "$0")/.." && pwd)
case $cmd in
start)
    mkdir -p "$dir"
    dir=$(cd "$dir" && pwd)
    if [ -S "$dir/redis.sock" ] && redis-cli -s "$dir/redis.sock" ping >/dev/null 2>&1; then
        exit 0
    fi
    redis-server "$top/deploy/redis.conf" --port "$port" --dir "$dir" \
        --unixsocket "$dir/redis.sock" --unixsocketperm 700 --daemonize yes \
        --pidfile "$dir/redis.pid" --logfile "$dir/redis.log"
    i=0
    until redis-cli -s "$dir/redis.sock" ping >/dev/null 2>&1; do
        i=$((i + 1))
        [ $i -gt 100 ] && { echo "redis-local: redis-server did not start; see $dir/redis.log" >&2; exit 1; }
        sleep 0.05
    done
    ;;
stop)
    [ -S "$dir/redis.sock" ] && redis-cli -s "$dir/redis.sock" shutdown >/dev/null 2>&1 || true
    ;;
*)
    echo "usage: redis-local.sh start|stop DIR [PORT]" >&2
    exit 2
    ;;
esac
