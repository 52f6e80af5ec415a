#!/bin/bash
# bench.sh: `make bench`. Starts a private Redis (deploy/redis.conf, AOF
# everysec) and intake, dispatch, escalate and notify on ipc:// endpoints in
# a temporary folder, measures Redis's own ceiling beside our figures (this
# machine drifts run to run; DESIGN.md §9), prints a summary, stops it all.
# Each phase starts from an empty street: FLUSHALL and the directory reloaded.
# Env: BENCH_CALLS (gc_register calls, 20000), BENCH_UNBATCHED (3000),
# BENCH_REPORTS (intake phase, 20000), BENCH_HTTP_REPORTS (the same
# through intake's HTTP door, 10000) and BENCH_HTTP_CLIENTS (its keep-alive
# clients, 16), BENCH_LIFECYCLES (5000),
# BENCH_ALWAYS (intake phase under appendfsync always, 5000),
# BENCH_WINDOW (open lifecycles, 200), BENCH_SINGLES (lifecycles one at a
# time, 300), BENCH_RATE and BENCH_RATE_S (the fixed-rate phase: 1000
# reports/s for 20 s), BENCH_KEEP=1 keeps the folder.
set -euo pipefail
cd "$(dirname "$0")/.."

calls=${BENCH_CALLS:-20000}
unbatched=${BENCH_UNBATCHED:-3000}
reports=${BENCH_REPORTS:-20000}
http_reports=${BENCH_HTTP_REPORTS:-10000}
http_clients=${BENCH_HTTP_CLIENTS:-16}
lifecycles=${BENCH_LIFECYCLES:-5000}
always=${BENCH_ALWAYS:-5000}
window=${BENCH_WINDOW:-200}
singles=${BENCH_SINGLES:-300}
fixed_rate=${BENCH_RATE:-1000}
fixed_s=${BENCH_RATE_S:-20}
directory=deploy/tianjiao/directory.json

for b in gridcall gridcall-intake gridcall-dispatch gridcall-escalate gridcall-notify gridcall-bench; do
    [ -x "build/$b" ] || { echo "bench: build/$b is missing; run make all build/gridcall-bench" >&2; exit 1; }
done
for b in redis-server redis-cli redis-benchmark; do
    command -v "$b" >/dev/null || { echo "bench: $b not found (Debian: redis-server, redis-tools)" >&2; exit 1; }
done

# ipc paths must fit sockaddr_un (107 bytes): keep the folder short
dir=$(mktemp -d /tmp/gcbench.XXXXXX)
sock=$dir/redis/redis.sock
users=$dir/redis/users      # Redis users and passwords (redis-local.sh)
results=$dir/results
pids=()
names=()
started=$(date +%s)

cleanup() {
    local status=$?
    trap - EXIT INT TERM
    for ((i = ${#pids[@]} - 1; i >= 0; i--)); do kill -TERM "${pids[i]}" 2>/dev/null || true; done
    if [ ${#pids[@]} -gt 0 ]; then
        # a daemon that does not stop within 5 s is killed
        ( trap 'kill "$nap" 2>/dev/null; exit 0' TERM
          sleep 5 & nap=$!; wait "$nap"; kill -KILL "${pids[@]}" 2>/dev/null ) &
        local watchdog=$!
        for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
        kill "$watchdog" 2>/dev/null || true
        wait "$watchdog" 2>/dev/null || true
    fi
    scripts/redis-local.sh stop "$dir/redis"
    if [ -n "${BENCH_KEEP:-}" ]; then echo "bench: kept $dir"; else rm -rf "$dir"; fi
    exit "$status"
}
trap cleanup EXIT
trap 'echo "bench: interrupted" >&2; exit 130' INT TERM

rcli() { REDISCLI_AUTH=$(cat "$users/gc-admin.password") redis-cli --no-auth-warning --user gc-admin -s "$sock" "$@"; }
# info SECTION FIELD: one INFO field, e.g. info memory used_memory
info() { rcli info "$1" | tr -d '\r' | awk -F: -v k="$2" '$1 == k { print $2 }'; }
# FCALL calls and usec so far, from INFO commandstats ("calls=N,usec=M,...")
fcall_stats() {
    rcli info commandstats | tr -d '\r' |
        awk -F'[:=,]' '$1 == "cmdstat_fcall" { c = $3; u = $5 } END { print c + 0, u + 0 }'
}
# calc EXPR: floating point arithmetic (awk; bc is not always installed)
calc() { awk "BEGIN { printf \"%.6f\\n\", $* }"; }
result() { awk -v k="$1" '$1 == k { v = $2 } END { print v }' "$results"; }
r0() { printf %.0f "$(result "$1")"; }
r2() { printf %.2f "$(result "$1")"; }
now_ms() { date +%s%3N; }
# wait_until SECONDS WHAT COMMAND...: poll COMMAND until it succeeds; 1 on timeout
wait_until() {
    local limit=$1 what=$2 deadline
    shift 2
    deadline=$(( $(now_ms) + limit * 1000 ))
    until "$@"; do
        if [ "$(now_ms)" -gt "$deadline" ]; then
            echo "bench: gave up after ${limit} s waiting for $what" >&2
            return 1
        fi
        sleep 0.05
    done
}
load_directory() {   # load_directory PREFIX (as gc-admin: the bench: prefix is no user's)
    build/gridcall -c "$users/gc-admin.conf" --set "redis_socket=$sock" --set "key_prefix=$1" \
        --set redis_timeout_ms=10000 \
        directory load "$directory" >"$dir/load.log" 2>&1 ||
        { cat "$dir/load.log" >&2; tail -n 5 "$dir/redis/redis.log" >&2; exit 1; }
}
# lifecycle_marked OPTIONS...: a lifecycle run whose Redis figures start
# once every unit is welcomed: the units' hellos and ready sets are a
# connection's cost, not a case's. The generator makes $dir/units-ready
# then and files no report until it is gone; the marks are taken
# meanwhile (the commands' counts start again: INFO commandstats reset).
# Without the mark (the generator stopped first) they are those of the
# start, hellos included.
lifecycle_marked() {
    local mark=$dir/units-ready pid
    aof_units=$(info persistence aof_current_size)
    mem_units=$(info memory used_memory)
    rm -f "$mark"
    bench lifecycle --set "ready_file=$mark" "$@" &
    pid=$!
    if wait_until 60 "every unit's welcome" eval "test -e '$mark' || ! kill -0 $pid 2>/dev/null" &&
       [ -e "$mark" ]; then
        aof_units=$(info persistence aof_current_size)
        mem_units=$(info memory used_memory)
        rcli config resetstat >/dev/null
        rm -f "$mark"
    fi
    wait "$pid"
}
reset_street() {     # every phase starts from an empty street
    rcli flushall >/dev/null
    load_directory gc:
}
bench() {            # bench PHASE OPTIONS...: one phase of the load generator
    local phase=$1
    shift
    # a phase's limit: 150 s, and the fixed-rate phase's own length beyond it
    timeout $((150 + fixed_s)) build/gridcall-bench -c "$users/gc-admin.conf" --set "redis_socket=$sock" \
        --set redis_timeout_ms=10000 \
        --set log_level=warning \
        --set "directory=$directory" --set "results=$results" \
        --set "intake_endpoint=ipc://$dir/intake" --set "dispatch_endpoint=ipc://$dir/units" \
        --set "phase=$phase" "$@"
}
start() {            # start NAME ARGS...: a daemon in the background, log in the folder
    local name=$1
    shift
    # its sample configuration and its own Redis user (deploy/redis-users.acl)
    ( umask 077; cat "deploy/$name.conf" "$users/gc-${name#gridcall-}.conf" > "$dir/$name.conf" )
    "build/$name" -c "$dir/$name.conf" "$@" 2>>"$dir/$name.log" &
    pids+=($!)
    names+=("$name")
}
pid_of() {
    for i in "${!names[@]}"; do [ "${names[i]}" = "$1" ] && echo "${pids[i]}"; done
}
# status_kb NAME FIELD: a /proc status figure of a daemon in kB (VmRSS, VmHWM)
status_kb() { awk -v f="$2:" '$1 == f { print $2 }' "/proc/$(pid_of "$1")/status"; }
mib() { awk -v kb="$1" 'BEGIN { printf "%.1f", kb / 1024 }'; }
notify_done() { [ "$(rcli zcard gc:pending:notify)" = 0 ]; }
# aof_mark, then aof_per N [FROM]: AOF bytes written per case since the
# mark, or since size FROM taken after it ("?" when a rewrite came between)
aof_mark() {
    aof_at=$(info persistence aof_current_size)
    aof_rw=$(info persistence aof_rewrites)
}
aof_per() {
    if [ "$(info persistence aof_rewrites)" = "$aof_rw" ] && [ "${1:-0}" -gt 0 ]; then
        echo $(( ($(info persistence aof_current_size) - ${2:-$aof_at}) / $1 ))
    else
        echo "?"
    fi
}

scripts/redis-local.sh start "$dir/redis"
build/gridcall -c "$users/gc-admin.conf" --set "redis_socket=$sock" redis setup >/dev/null
# no automatic AOF rewrite during the run: it would make AOF bytes per case
# unmeasurable (and a fork costs the run); production keeps its setting
rcli config set auto-aof-rewrite-percentage 0 >/dev/null
echo "gridcall bench: redis $(info server redis_version), AOF $(rcli config get appendfsync | tail -1);" \
     "folder $dir"

# 1. The machine's ceiling for the primitive commands a transition is made of
#    (redis-benchmark takes no password from the environment: a throw-away one)
rbench() { redis-benchmark --user gc-admin -a "$(cat "$users/gc-admin.password")" "$@" 2>/dev/null; }
rb=$(rbench -s "$sock" -t set,lpush,zadd -P 16 -n 200000 --csv | tr -d '"')
rb1=$(rbench -s "$sock" -t set -c 1 -n 20000 --csv | tr -d '"')
rb_rate() { echo "$1" | awk -F, -v t="$2" '$1 == t { printf "%.0f", $2 }'; }
set_p=$(rb_rate "$rb" SET); lpush_p=$(rb_rate "$rb" LPUSH); zadd_p=$(rb_rate "$rb" ZADD)
set_1=$(rb_rate "$rb1" SET)
echo "redis ceiling  SET $set_p/s LPUSH $lpush_p/s ZADD $zadd_p/s (50 clients, pipeline 16);" \
     "SET $set_1/s (1 client, one round trip each)"
# R, the reference transition every figure is set against: one script
# that writes a 4-field hash, appends to a capped stream and adds to a
# sorted set, as EVALSHA from 50 clients, pipeline 16.
ref_sha=$(rcli script load "redis.call('HSET', KEYS[1], 'a', ARGV[1], 'b', ARGV[1], 'c', ARGV[1], 'd', ARGV[1])
redis.call('XADD', KEYS[2], 'MAXLEN', '~', 10000, '*', 'f', ARGV[1])
redis.call('ZADD', KEYS[3], ARGV[1], KEYS[1]) return 1")
# This machine's speed drifts by tens of percent within a minute, so R is
# measured again just before the intake and lifecycle phases, and each
# phase's ratio is to the R measured beside it.
ref_rate() {
    rbench -s "$sock" -c 50 -P 16 -n 200000 -r 1000000 --csv \
        evalsha "$ref_sha" 3 ref:h:__rand_int__ ref:s ref:z 12345 | tr -d '"' | tail -1 |
        awk -F, '{ printf "%.0f", $2 }'
    rcli flushall >/dev/null
}
R=$(ref_rate)
echo "reference      R = $R transitions/s (EVALSHA: HSET 4 fields + XADD + ZADD; 50 clients, pipeline 16)"
# ratio X [R]: X as R/x, against the R given (the first one by default)
ratio() { awk -v x="$1" -v r="${2:-$R}" 'BEGIN { if (x > 0) printf "R/%.1f", r / x; else print "-" }'; }

# Our own transition straight against Redis, under its own key prefix.
load_directory bench:
mem0=$(info memory used_memory)
bench register --set key_prefix=bench: --set "count=$calls" --set "unbatched_count=$unbatched" \
    || status_register=$?
mem1=$(info memory used_memory)
for depth in 64 250; do
    aof_mark
    bench register --set "label=depth$depth" --set key_prefix=bench: --set count=5000 \
        --set unbatched_count=0 --set "depth=$depth" >/dev/null || status_register=$?
    reg_aof=$(aof_per 5000)
done
echo "               per registered case (no daemon involved): redis memory" \
     "$(( (mem1 - mem0) / (calls + unbatched) )) bytes, AOF $reg_aof bytes"
echo "               pipelined at depth 64: $(r0 depth64_pipelined)/s, at depth 250:" \
     "$(r0 depth250_pipelined)/s (5000 calls each)"

# The cluster.
reset_street
# the baseline without CURVE (ipc only; anonymous peers of intake and
# dispatch are "local"); scripts/bench-curve.sh measures CURVE beside it
common=(--set "redis_socket=$sock" --set log_level=warning --set time_scale=1 --set curve=no)
anon=(--set anonymous=all)
ends=(--set "dispatch_endpoint=ipc://$dir/work" --set "notify_endpoint=ipc://$dir/notify")
start gridcall-notify "${common[@]}" --set "work_bind=ipc://$dir/notify" \
    --set "pub_bind=ipc://$dir/events"
start gridcall-dispatch "${common[@]}" "${anon[@]}" --set "unit_bind=ipc://$dir/units" \
    --set "work_bind=ipc://$dir/work" --set "notify_endpoint=ipc://$dir/notify" \
    --set offer_timeout_ms=30000
start gridcall-escalate "${common[@]}" "${ends[@]}"
# intake's HTTP door beside its ROUTER: an API key of a gateway (the
# principals file keeps its hash), a port of its own, no rate limit to speak of
build/gridcall keys api-key --principals "$dir/principals.json" \
    "gateway bench channels GRID_WORKER,RESIDENT_APP,HOTLINE" --key-file "$dir/api.key" >/dev/null
http_port=$(/usr/bin/python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
start gridcall-intake "${common[@]}" "${anon[@]}" "${ends[@]}" --set "bind=ipc://$dir/intake" \
    --set "principals=$dir/principals.json" --set http_bind=127.0.0.1 --set "http_port=$http_port" \
    --set http_rate_limit=1000000 --set "media_dir=$dir/media"
up() {
    for pid in "${pids[@]}"; do kill -0 "$pid" 2>/dev/null || return 1; done
    for s in intake units work notify; do [ -S "$dir/$s" ] || return 1; done
}
wait_until 10 "the daemons to bind" up || { tail -n 20 "$dir"/*.log >&2; exit 1; }

# CPU of each process over a phase, as % of one core (the machine has $(nproc)).
cpu_pids() {
    echo "$(cat "$dir/redis/redis.pid") $(pid_of gridcall-intake) $(pid_of gridcall-dispatch)" \
         "$(pid_of gridcall-notify) $(pid_of gridcall-escalate)"
}
cpu_ticks() { for p in $(cpu_pids); do awk '{ print $14 + $15 }' "/proc/$p/stat"; done | paste -sd' '; }
cpu_line() {    # cpu_line TICKS_BEFORE TICKS_AFTER WALL_MS BENCH_CPU_S
    awk -v a="$1" -v b="$2" -v ms="$3" -v own="${4:-0}" -v hz="$(getconf CLK_TCK)" 'BEGIN {
        n = split(a, x, " "); split(b, y, " ")
        split("redis intake dispatch notify escalate", name, " ")
        printf "               CPU (%% of one core):"
        for (i = 1; i <= n; i++) printf " %s %.0f%%", name[i], 100 * (y[i] - x[i]) / hz / (ms / 1000)
        printf " bench %.0f%%\n", 100 * own / (ms / 1000) }'
}
# not_seen: cases of pending:dispatch that dispatch has not looked at yet
not_seen() {
    rcli eval "local n = 0
        for _, id in ipairs(redis.call('ZRANGE', KEYS[1], 0, -1)) do
            if not redis.call('HGET', ARGV[1] .. id, 'waiting') then n = n + 1 end
        end
        return n" 1 gc:pending:dispatch gc:case:
}
dispatch_done() { [ "$(not_seen)" = 0 ]; }

# 2. Reports through intake. No unit is connected: gc_register records each
#    case "waiting", as on a night when every unit is away.
R_intake=$(ref_rate)
echo "reference      R = $R_intake transitions/s, measured again before the intake phases"
reset_street
mem0=$(info memory used_memory)
read -r calls0 usec0 < <(fcall_stats)
ticks0=$(cpu_ticks)
t0=$(now_ms)
bench intake --set "count=$reports" --set sockets=4 --set window=500 || status_intake=$?
t1=$(now_ms)
ticks1=$(cpu_ticks)
unseen=$(not_seen)
wait_until 90 "dispatch to look at every case" dispatch_done || true
wait_until 30 "notify to deliver every job" notify_done || true
settle=$(calc "($(now_ms) - $t1) / 1000")
read -r calls1 usec1 < <(fcall_stats)
mem1=$(info memory used_memory)
in_n=$(result intake_reports)
in_n=${in_n:-0}
cpu_line "$ticks0" "$ticks1" $((t1 - t0)) "$(result intake_cpu_s)"
if [ "$in_n" -gt 0 ]; then
    in_bytes=$(( (mem1 - mem0) / in_n ))
    printf "               dispatch had not looked at %d cases when the last reply came;" "$unseen"
    printf " it had %.1f s later (%s)\n" "$settle" "$(dispatch_done && echo done || echo NOT done)"
    printf "               per report: %.1f FCALLs, %.0f us of Redis, %d bytes of Redis memory\n" \
        "$(calc "($calls1 - $calls0) / $in_n")" "$(calc "($usec1 - $usec0) / $in_n")" "$in_bytes"
fi

# 2b. The same reports through intake's HTTP door (POST /api/v1/reports, an
#     API key, keep-alive clients with one request in flight each): the
#     same loop, checks and transition behind it; the goal is at least half
#     of the ZeroMQ door's rate above.
reset_street
ticks0=$(cpu_ticks)
t0=$(now_ms)
bench http --set "count=$http_reports" --set "http_port=$http_port" \
    --set "http_key_file=$dir/api.key" --set "http_clients=$http_clients" || status_intake=$?
t1=$(now_ms)
ticks1=$(cpu_ticks)
cpu_line "$ticks0" "$ticks1" $((t1 - t0)) "$(result http_cpu_s)"
printf "               HTTP door: %s reports/s = %s %% of the ZeroMQ door's %s reports/s" \
    "$(r0 http_rate)" "$(calc "100 * $(result http_rate) / $(result intake_rate)" |
    xargs printf %.0f)" "$(r0 intake_rate)"
printf " (goal >= 50 %%)\n"
wait_until 90 "dispatch to look at every case" dispatch_done || true

# 3. Full lifecycles: the bench plays all units and the grid workers.
#    Each daemon's peak RSS (VmHWM) so far is kept, then its peak is reset
#    (clear_refs 5, Linux >= 4.0), so the peak read after the fixed-rate
#    phase is that of the lifecycle phases alone: every unit connected and busy.
rss_daemons=(gridcall-intake gridcall-dispatch gridcall-notify gridcall-escalate)
declare -A hwm_early hwm_life hwm_late
peak_scope="the lifecycle phases"
for name in "${rss_daemons[@]}"; do
    hwm_early[$name]=$(status_kb "$name" VmHWM)
    echo 5 2>/dev/null >"/proc/$(pid_of "$name")/clear_refs" || peak_scope="the run so far (this kernel cannot reset VmHWM)"
done
R_life=$(ref_rate)
echo "reference      R = $R_life transitions/s, measured again before the lifecycle phases"
reset_street
rcli config resetstat >/dev/null
aof_mark
ticks0=$(cpu_ticks)
t0=$(now_ms)
lifecycle_marked --set "count=$lifecycles" --set "window=$window" --set sockets=4 || status_life=$?
t1=$(now_ms)
ticks1=$(cpu_ticks)
wait_until 30 "notify to deliver every job" notify_done || true
# the commands' counts since the units' welcome (lifecycle_marked reset them)
read -r lc_fcalls lc_fusec < <(fcall_stats)
mem1=$(info memory used_memory)
lc_n=$(result lifecycle_closed)
lc_n=${lc_n:-0}
cpu_line "$ticks0" "$ticks1" $((t1 - t0)) "$(result lifecycle_cpu_s)"
if [ "$lc_n" -gt 0 ]; then
    # a case's own figures: from the units' welcome on (lifecycle_marked)
    lc_bytes=$(( (mem1 - mem_units) / lc_n ))
    lc_aof_all=$(aof_per "$lc_n")
    lc_aof=$(aof_per "$lc_n" "$aof_units")
    lc_usec=$(calc "$lc_fusec / $lc_n")
    lc_usec_r=$(printf %.0f "$lc_usec")
    lc_calls=$(calc "$lc_fcalls / $lc_n")
    printf "               per closed case: %.1f FCALLs, %.0f us of Redis (alone it would allow" \
        "$lc_calls" "$lc_usec"
    printf " %.0f cases/s), %d bytes of Redis memory\n" "$(calc "1000000 / $lc_usec")" "$lc_bytes"
    # of it, what does not stay with a case: its idempotency key (expires
    # after idem_ttl, a day by default) and its share of the event stream
    # (capped at 10,000 entries)
    read -r idem_n idem_b < <(rcli eval "local c, t, n = '0', 0, 0
        repeat
            local r = redis.call('SCAN', c, 'MATCH', ARGV[1], 'COUNT', 1000)
            c = r[1]
            for _, k in ipairs(r[2]) do
                t = t + (redis.call('MEMORY', 'USAGE', k, 'SAMPLES', '0') or 0); n = n + 1
            end
        until c == '0'
        return n .. ' ' .. t" 0 'gc:idem:*')
    stream_b=$(rcli memory usage gc:events samples 0)
    lc_kept=$(( lc_bytes - (${idem_b:-0} + ${stream_b:-0}) / lc_n ))
    echo "               of it, $(( ${idem_b:-0} / lc_n )) bytes of idempotency keys (they expire" \
         "after a day) and $(( ${stream_b:-0} / lc_n )) of the event stream (capped): a case kept" \
         "for months costs $lc_kept bytes"
fi

# Where Redis's time went per closed case: the functions' own commands
# (counted inside FCALL too) and the rest, which is Lua itself.
if [ "$lc_n" -gt 0 ]; then
    rcli info commandstats | tr -d '\r' | awk -F'[:=,]' -v n="$lc_n" '
        /^cmdstat_/ { sub("cmdstat_", "", $1); calls[$1] = $3; usec[$1] = $5 }
        END {
            line = "               redis time per closed case:"
            for (c in usec) if (c != "fcall" && usec[c] / n >= 1) inner += usec[c]
            printf "%s FCALL %.0f us, of it commands", line, usec["fcall"] / n
            for (c in usec) if (c != "fcall" && usec[c] / n >= 2)
                printf " %s %.0f us (%.1f)", c, usec[c] / n, calls[c] / n
            printf "\n"
        }'
fi

# The same lifecycle one case at a time: the latency of the chain unloaded,
# and the AOF it writes (Redis 7 logs a function's effects, not the FCALL).
aof_mark
lifecycle_marked --set label=single --set "count=$singles" --set window=1 --set sockets=1 \
    || status_life=$?
wait_until 30 "notify to deliver every job" notify_done || true
single_aof_all=$(aof_per "$(result single_closed)")
single_aof=$(aof_per "$(result single_closed)" "$aof_units")
echo "               AOF written per closed case: $single_aof bytes one at a time," \
     "${lc_aof:-?} bytes in the phase above (with the 102 units' hellos and ready sets:" \
     "${single_aof_all:-?} and ${lc_aof_all:-?})"

# Fixed rate: reports at BENCH_RATE/s for BENCH_RATE_S s with every unit
# connected, as a busy city would send them; the latency a unit sees.
bench lifecycle --set label=fixed --set "count=$((fixed_rate * fixed_s))" --set "rate=$fixed_rate" \
    --set window=100000 --set sockets=4 || status_life=$?
wait_until 30 "notify to deliver every job" notify_done || true

# Peak RSS through the lifecycle phases, against the goal of 20 MB
# (20,000,000 bytes) each
rss_goal_kb=19531
peak_rss=""
rss_over=""
for name in "${rss_daemons[@]}"; do
    hwm_life[$name]=$(status_kb "$name" VmHWM)
    peak_rss="$peak_rss ${name#gridcall-} $(mib "${hwm_life[$name]}")"
    [ "${hwm_life[$name]}" -le $rss_goal_kb ] || rss_over="$rss_over ${name#gridcall-}"
done
rss_verdict=$([ -z "$rss_over" ] && echo "all within" || echo "OVER:$rss_over")
echo "peak RSS       through $peak_scope (VmHWM, MiB):$peak_rss;" \
     "goal <= 20 MB (19.1 MiB) each: $rss_verdict"

# 5. Durability: the intake phase again with appendfsync always, where every
#    acknowledged report is on disk before its answer (one fsync covers each
#    pipelined batch intake sends).
reset_street
rcli config set appendfsync always >/dev/null
bench intake --set label=always --set "count=$always" --set sockets=4 --set window=500 \
    || status_intake=$?
rcli config set appendfsync everysec >/dev/null
wait_until 90 "dispatch to look at every case" dispatch_done || true
echo "durability     appendfsync always: $(r0 always_rate) reports/s;" \
     "everysec (above): $(r0 intake_rate) reports/s"

# 4. Memory: each daemon's RSS now, and its peak over the whole run (the
#    largest of its peaks before, through and after the lifecycle phases)
rss_now=""
peak_run=""
for name in "${rss_daemons[@]}"; do
    hwm_late[$name]=$(status_kb "$name" VmHWM)
    for kb in "${hwm_early[$name]}" "${hwm_life[$name]}"; do
        [ "$kb" -le "${hwm_late[$name]}" ] || hwm_late[$name]=$kb
    done
    rss_now="$rss_now ${name#gridcall-} $(mib "$(status_kb "$name" VmRSS)")"
    peak_run="$peak_run ${name#gridcall-} $(mib "${hwm_late[$name]}")"
done
echo "memory         redis ${lc_bytes:-?} bytes per closed case, ${in_bytes:-?} per registered" \
     "waiting case; RSS (MiB) at the end:$rss_now; peak over the run:$peak_run"

# Anything the daemons complained about (they log warnings and errors only).
odd=0
for name in "${names[@]}"; do
    n=$(wc -l <"$dir/$name.log")
    if [ "$n" -gt 0 ]; then
        odd=1
        echo "$name logged $n line(s); the first distinct ones:"
        cut -d' ' -f3- "$dir/$name.log" | sort | uniq -c | sort -rn | head -n 5 | sed 's/^/    /'
    fi
done
# Redis logs warnings with "#" (slow fsyncs, memory, the machine), past its
# start-up banner
redis_warnings() {
    grep ' # ' "$dir/redis/redis.log" | grep -v -e 'Redis is starting' -e 'Redis version=' \
        -e 'Configuration loaded' -e 'Server initialized' || true
}
n=$(redis_warnings | wc -l)
if [ "$n" -gt 0 ]; then
    odd=1
    echo "redis logged $n warning(s):"
    redis_warnings | cut -d' ' -f6- | cut -c1-160 | sort | uniq -c | sort -rn | head -n 5 | sed 's/^/    /'
fi
rewrites=$(grep -c 'Background append only file rewriting started' "$dir/redis/redis.log" || true)
[ "$rewrites" -gt 0 ] && echo "redis rewrote its AOF $rewrites time(s) during the run (a fork each)"
echo "AOF at the end of the run: $(( $(info persistence aof_current_size) / 1048576 )) MiB (automatic rewrites off)"
[ $odd = 0 ] && echo "logs: no warnings or errors from the daemons or Redis"

cat <<SUMMARY

gridcall bench ($(nproc) cores, $(date '+%Y-%m-%d %H:%M'), $(( $(date +%s) - started )) s)
redis ceiling   SET pipelined $set_p /s   ZADD $zadd_p /s   LPUSH $lpush_p /s   SET 1 client $set_1 /s
gc_register     pipelined $(r0 register_pipelined) /s   unbatched $(r0 register_unbatched) /s   (depth $(result register_depth))
reference       R $R /s at the start, $R_intake /s before the intake phases, $R_life /s before the lifecycle phases (the EVALSHA transition above); each figure below is R/x to the R beside it
intake          $(r0 intake_rate) reports/s = $(ratio "$(result intake_rate)" "$R_intake")  ($(r0 intake_reports) of $reports, errors $(r0 intake_errors))
http intake     $(r0 http_rate) reports/s through the HTTP door = $(calc "100 * $(result http_rate) / $(result intake_rate)" | xargs printf %.0f) % of intake's ($(r0 http_reports) of $http_reports, $http_clients keep-alive clients, errors $(r0 http_errors); goal >= 50 %)
lifecycle       $(r0 lifecycle_rate) closed cases/s = $(ratio "$(result lifecycle_rate)" "$R_life") ($(r0 lifecycle_closed) of $lifecycles, window $window), report->offer p50 $(r2 lifecycle_p50_ms) ms p99 $(r2 lifecycle_p99_ms) ms max $(r2 lifecycle_max_ms) ms
                per closed case: $(calc "${lc_calls:-0}" | awk '{ printf "%.1f", $1 }') FCALLs, ${lc_usec_r:-?} us of Redis, ${lc_aof:-?} bytes of AOF (${single_aof:-?} one at a time), ${lc_bytes:-?} bytes of Redis memory
                one at a time: report->offer p50 $(r2 single_p50_ms) ms p99 $(r2 single_p99_ms) ms ($singles cases, $(r0 single_rate) closed/s)
fixed rate      $fixed_rate reports/s for $fixed_s s: report->offer p50 $(r2 fixed_p50_ms) ms p99 $(r2 fixed_p99_ms) ms max $(r2 fixed_max_ms) ms ($(r0 fixed_closed) closed, errors $(r0 fixed_errors))
peak RSS (MiB) $peak_rss through $peak_scope (goal <= 20 MB = 19.1 MiB each: $rss_verdict)
                over the whole run:$peak_run; at the end:$rss_now
                duplicate offers $(r0 lifecycle_duplicate_offers), not closed $(r0 lifecycle_not_closed), errors $(r0 lifecycle_errors)
durability      appendfsync always $(r0 always_rate) reports/s (everysec $(r0 intake_rate) reports/s)
memory          redis ${lc_bytes:-?} bytes/case (${lc_kept:-?} once its idempotency key expired and the capped event stream turned over)
                AOF ${lc_aof:-?} bytes written per closed case under load, ${single_aof:-?} one at a time (${lc_aof_all:-?} and ${single_aof_all:-?} with the 102 units' hellos and ready sets)
                (a case's figures count from the units' welcome: their hellos are a connection's cost)
SUMMARY
if [ -n "${status_register:-}${status_intake:-}${status_life:-}" ]; then
    echo "bench: FAILED (see the lines above)" >&2
    exit 1
fi
