#!/usr/bin/env bash
# make bench: measure the lesson servers against baselines started here, in
# the same run, and print ONE table of figures and ratios versus the C echo.
#
# Baselines (bench/, its own cargo workspace so lessons never compile tokio):
#   C      bench/c/echo.c, thread per connection, blocking (gcc -O2 -pthread)
#   tokio  bench/tokio-echo, multi-threaded runtime, one task per connection
#          (and `--workers 1`, tokio's current-thread runtime, beside event-loop)
#   Python bench/python/echo_server.py, socketserver.ThreadingTCPServer
#   C-unbuf bench/c/frames_unbuffered.c, a length-framed server that reads
#          4 bytes then the payload (2 reads per frame), for the framing rows
# Load: bench/loadgen (std threads, blocking sockets, every reply verified).
# Lessons measured when their binary builds: tcp-echo (stream, round trips),
# tcp-threaded (100/1000 connections, idle RSS), framing (frames, reads),
# event-loop (100/1000 connections with --loops 1 and 2, compared with tokio
# and with tokio on one thread; RSS with 10 000 idle connections against tokio's).
#
# Every server starts on port 0 and is killed by the EXIT trap; all traffic
# is on 127.0.0.1; every wait is bounded. Single-stream throughput is the
# best of ROUNDS+2 runs, the round-trip p50 the lowest and p99 the median of
# ROUNDS+2 runs, connection figures the median of ROUNDS runs, and the servers are interleaved within a round so a burst of
# load elsewhere on the machine hits them all alike. bench/README.md says
# how to read the table.
#
# Environment: ROUNDS (default 3), QUICK=1 (smaller loads, for trying it out),
# CAPTURE_ROUNDS (streams for the capture row, default ROUNDS).

set -u

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BENCH=$ROOT/bench
BIN=$ROOT/target/release
BBIN=$BENCH/target/release
LOADGEN=$BBIN/loadgen
ROUNDS=${ROUNDS:-3}
PY=${PYTHON:-python3}
WORK=$(mktemp -d)
PIDS=()
declare -A DRAIN # server pid -> pid of the reader draining its stdout

STREAM_BYTES=$((1024 << 20))
RTT_COUNT=20000
FRAMES=1000000
STRACE_FRAMES=20000
if [ "${QUICK:-0}" = 1 ]; then
    STREAM_BYTES=$((32 << 20))
    RTT_COUNT=2000
    FRAMES=50000
    STRACE_FRAMES=5000
    ROUNDS=1
fi
CAPTURE_ROUNDS=${CAPTURE_ROUNDS:-$ROUNDS}

# shellcheck disable=SC2317 # called by the EXIT trap
cleanup() {
    local pid
    for pid in "${PIDS[@]}"; do
        kill -KILL "$pid" 2>/dev/null
    done
    rm -rf "$WORK"
}
trap cleanup EXIT
trap 'echo "interrupted" >&2; exit 130' INT TERM

log() { echo "bench: $*" >&2; }
die() {
    echo "bench: error: $*" >&2
    exit 1
}

# ---------------------------------------------------------------- setup
# 1000 client sockets plus 1000 server sockets in one run: raise the
# descriptor limit (soft up to hard; root may raise the hard one too).
ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
[ "$(ulimit -n)" -ge 1100 ] || die "ulimit -n is $(ulimit -n); 1000 connections need 1100 descriptors"

need_pkg() { # need_pkg COMMAND PACKAGE: install PACKAGE if COMMAND is missing
    command -v "$1" >/dev/null 2>&1 && return 0
    log "installing $2 (for $1)"
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
        { apt-get install -y -q "$2" || { apt-get update -q && apt-get install -y -q "$2"; }; } \
            >"$WORK/apt.log" 2>&1
    fi
    command -v "$1" >/dev/null 2>&1
}
need_pkg gcc gcc || die "gcc is needed for the C baseline"
need_pkg taskset util-linux || die "taskset is needed to pin the round trips"
need_pkg "$PY" python3 || die "python3 is needed for the Python baseline"
HAVE_STRACE=1
need_pkg strace strace || { HAVE_STRACE=0; log "no strace: read syscalls per frame skipped"; }
HAVE_PERF=1
if ! { command -v perf >/dev/null && perf stat -e context-switches -- true >/dev/null 2>&1; }; then
    HAVE_PERF=0
    log "perf stat unavailable: context switches skipped"
fi
# Syscalls per request need a tracepoint (root, or perf_event_paranoid <= 1).
PERF_EVENTS=context-switches,task-clock
perf stat -e raw_syscalls:sys_enter -- true >/dev/null 2>&1 && PERF_EVENTS+=,raw_syscalls:sys_enter

log "building (release)"
(cd "$ROOT" && cargo build --release --workspace --bins -q) || die "cargo build of the lessons failed"
(cd "$BENCH" && cargo build --release -q) || die "cargo build in bench/ failed"
gcc -O2 -pthread -o "$WORK/c-echo" "$BENCH/c/echo.c" || die "gcc echo.c failed"
gcc -O2 -o "$WORK/c-frames" "$BENCH/c/frames_unbuffered.c" || die "gcc frames_unbuffered.c failed"

# Lessons that exist in this checkout (the script runs before and after they
# are merged): a lesson is measured when its release binary was built.
HAVE_ECHO=0 HAVE_THREADED=0 HAVE_FRAMING=0
[ -x "$BIN/tcp-echo" ] && HAVE_ECHO=1
[ -x "$BIN/tcp-threaded" ] && HAVE_THREADED=1
[ -x "$BIN/framing" ] && HAVE_FRAMING=1
HAVE_EVENTLOOP=0
[ -x "$BIN/event-loop" ] && HAVE_EVENTLOOP=1

# ---------------------------------------------------------------- servers
# server_cmd KIND: the command line of a server on port 0.
server_cmd() {
    case $1 in
        c) echo "$WORK/c-echo 0" ;;
        tokio) echo "$BBIN/tokio-echo --port 0" ;;
        # tokio's current-thread runtime: one thread, like event-loop --loops 1.
        tokio1) echo "$BBIN/tokio-echo --port 0 --workers 1" ;;
        python) echo "$PY $BENCH/python/echo_server.py 0" ;;
        tcp-echo) echo "$BIN/tcp-echo server --port 0" ;;
        threaded) echo "$BIN/tcp-threaded server --port 0" ;;
        threaded-thread) echo "$BIN/tcp-threaded server --port 0 --mode thread" ;;
        c-frames) echo "$WORK/c-frames 0" ;;
        # --batch-output: stdout written in 64 KiB batches, as C's stdio
        # does for the baseline; the lesson itself writes each line at once.
        framing) echo "$BIN/framing server --port 0 --strategy length --batch-output" ;;
        eventloop) echo "$BIN/event-loop server --port 0 --protocol echo" ;;
        eventloop2) echo "$BIN/event-loop server --port 0 --protocol echo --loops 2" ;;
        *) die "unknown server $1" ;;
    esac
}

# start KIND [PIN]: start a server (pinned to CPU 0 when PIN=pin), wait up to
# 10 s for its `listening on ADDR` line; sets SRV_PID and SRV_ADDR. Its
# stdout goes on to $WORK/KIND.out (the framing rows count the messages there).
start() {
    local kind=$1 pin=${2:-} line fd
    local -a cmd
    read -r -a cmd <<<"$(server_cmd "$kind")"
    [ "$pin" = pin ] && cmd=(taskset -c 0 "${cmd[@]}")
    rm -f "$WORK/$kind.fifo"
    mkfifo "$WORK/$kind.fifo"
    "${cmd[@]}" >"$WORK/$kind.fifo" 2>"$WORK/$kind.err" &
    SRV_PID=$!
    PIDS+=("$SRV_PID")
    SRV_ADDR=
    exec {fd}<"$WORK/$kind.fifo"
    if IFS= read -r -t 10 -u "$fd" line && [[ $line == "listening on "* ]]; then
        SRV_ADDR=${line#listening on }
        # Drain the rest, so a chatty server never blocks on a full pipe;
        # stop() waits for this reader, so KIND.out is complete after it.
        cat <&"$fd" >"$WORK/$kind.out" &
        DRAIN[$SRV_PID]=$!
        PIDS+=("$!")
    fi
    exec {fd}<&-
    [ -n "$SRV_ADDR" ] && return 0
    log "$kind did not start: $(tail -n 3 "$WORK/$kind.err")"
    return 1
}

# stop PID: SIGTERM, up to 3 s to exit (then SIGKILL); then wait for the
# reader of its stdout. No polling: `wait` returns when it exits, and a
# watchdog bounds the wait.
stop() {
    local pid=$1 watchdog
    kill -TERM "$pid" 2>/dev/null
    # A time limit, not a synchronisation.
    (sleep 3 && kill -KILL "$pid" 2>/dev/null) &
    watchdog=$!
    wait "$pid" 2>/dev/null
    # SIGKILL: the subshell carries our TERM trap, which would run cleanup.
    kill -KILL "$watchdog" 2>/dev/null
    wait "$watchdog" 2>/dev/null
    [ -n "${DRAIN[$pid]:-}" ] && wait "${DRAIN[$pid]}" 2>/dev/null
}

# perf_attach OUT EVENTS PID: start `perf stat` on PID with its counters off,
# switch them on through its control fifo and return once perf acknowledges
# (so the load that follows is counted from its first request); sets PERF_PID.
perf_attach() {
    local out=$1 events=$2 pid=$3 ctl ack
    rm -f "$WORK/perf.ctl" "$WORK/perf.ack"
    mkfifo "$WORK/perf.ctl" "$WORK/perf.ack"
    exec {ctl}<>"$WORK/perf.ctl" {ack}<>"$WORK/perf.ack"
    perf stat -D -1 --control "fd:$ctl,$ack" -p "$pid" -e "$events" -x, -o "$out" 2>/dev/null &
    PERF_PID=$!
    echo enable >&"$ctl"
    IFS= read -r -t 10 -u "$ack" _ || log "perf did not acknowledge 'enable'"
    exec {ctl}>&- {ack}>&-
}

# field LINE KEY: the value of KEY=value in a loadgen line.
field() { sed -n "s/.*\\b$2=\\([^ ]*\\).*/\\1/p" <<<"$1"; }

# load NAME ARGS...: run the load generator (bounded: 120 s), log failures.
load() {
    local name=$1 out
    shift
    if out=$(timeout 120 "$@" 2>"$WORK/load.err"); then
        echo "$out"
    else
        log "$name: load failed: $out $(tail -n 2 "$WORK/load.err")"
        echo "$out"
    fi
}

declare -A SPID SADDR # running servers by kind: pid, address

# stop_kind KIND: stop the running server of that kind, if any.
stop_kind() {
    [ -n "${SPID[$1]:-}" ] && stop "${SPID[$1]}"
    unset "SPID[$1]" "SADDR[$1]"
}

declare -A R      # R[row,server] = figure
declare -A SAMPLES # collected figures per round, space separated

add_sample() { SAMPLES[$1,$2]="${SAMPLES[$1,$2]:-} $3"; }
best() { tr ' ' '\n' <<<"$1" | sed '/^$/d' | sort -g | tail -n 1; }
lowest() { tr ' ' '\n' <<<"$1" | sed '/^$/d' | sort -g | head -n 1; }
median() {
    local -a v
    mapfile -t v < <(tr ' ' '\n' <<<"$1" | sed '/^$/d' | sort -g)
    [ ${#v[@]} -gt 0 ] && echo "${v[$(((${#v[@]} - 1) / 2))]}"
}

ECHO_SERVERS=(c tokio python)
[ $HAVE_ECHO = 1 ] && ECHO_SERVERS+=(tcp-echo)

# ---------------------------------------------------------------- round trips
# Pinned: server and load on CPU 0. Unpinned, a 64-byte round trip on 2
# cores lands in one of two modes depending on whether the scheduler puts
# server and client on the same core (a wake-up on the same core is cheap,
# a cross-core wake-up costs an IPI and a cold cache), so the figure jumps.
RTT_ROUNDS=$((ROUNDS + 2)) # cheap (0.3 s each), and CPU 0 is shared
log "round trips (pinned to CPU 0), $RTT_ROUNDS rounds"
for kind in "${ECHO_SERVERS[@]}"; do
    start "$kind" pin || continue
    SPID[$kind]=$SRV_PID SADDR[$kind]=$SRV_ADDR
done
for ((round = 1; round <= RTT_ROUNDS; round++)); do
    for kind in "${ECHO_SERVERS[@]}"; do
        [ -n "${SADDR[$kind]:-}" ] || continue
        line=$(load "rtt $kind" taskset -c 0 "$LOADGEN" rtt --addr "${SADDR[$kind]}" --count "$RTT_COUNT")
        [ "$(field "$line" errors)" = 0 ] || { R[rtt_err,$kind]=1; continue; }
        add_sample rtt50 "$kind" "$(field "$line" p50_us)"
        add_sample rtt99 "$kind" "$(field "$line" p99_us)"
    done
done
for kind in "${ECHO_SERVERS[@]}"; do
    stop_kind "$kind"
    [ -n "${R[rtt_err,$kind]:-}" ] && continue
    # p50: the lowest of the rounds (other work on CPU 0 only ever adds to
    # it); p99, a tail by nature: the median of the rounds.
    R[rtt50,$kind]=$(lowest "${SAMPLES[rtt50,$kind]:-}")
    R[rtt99,$kind]=$(median "${SAMPLES[rtt99,$kind]:-}")
done

# ---------------------------------------------------------------- stream
STREAM_ROUNDS=$((ROUNDS + 2)) # the noisiest figure: two more tries
log "single-connection stream, $((STREAM_BYTES >> 20)) MiB, $STREAM_ROUNDS rounds"
for kind in "${ECHO_SERVERS[@]}"; do
    start "$kind" || continue
    SPID[$kind]=$SRV_PID SADDR[$kind]=$SRV_ADDR
done
for ((round = 1; round <= STREAM_ROUNDS; round++)); do
    for kind in "${ECHO_SERVERS[@]}"; do
        [ -n "${SADDR[$kind]:-}" ] || continue
        # The last round also counts the server's CPU time per GiB: a
        # steadier figure than MB/s when other work shares the machine.
        perf_pid=
        if [ $HAVE_PERF = 1 ] && [ "$round" = "$STREAM_ROUNDS" ]; then
            perf_attach "$WORK/perfs-$kind" task-clock "${SPID[$kind]}"
            perf_pid=$PERF_PID
        fi
        line=$(load "stream $kind" "$LOADGEN" stream --addr "${SADDR[$kind]}" --bytes "$STREAM_BYTES")
        [ "$(field "$line" errors)" = 0 ] && add_sample stream "$kind" "$(field "$line" mb_s)"
        if [ -n "$perf_pid" ]; then
            kill -INT "$perf_pid" 2>/dev/null
            wait "$perf_pid" 2>/dev/null
            cpu_ms=$(awk -F, '$3 == "task-clock" {print $1}' "$WORK/perfs-$kind")
            [ -n "$cpu_ms" ] && R[streamcpu,$kind]=$(awk -v ms="$cpu_ms" -v b="$STREAM_BYTES" \
                'BEGIN {printf "%.0f", ms / (b / 1073741824)}')
        fi
    done
done
for kind in "${ECHO_SERVERS[@]}"; do
    R[stream,$kind]=$(best "${SAMPLES[stream,$kind]:-}")
done

# ---------------------------------------------------------------- connections
# The tcp-echo server serves one client at a time: it has no rows here.
CONN_SERVERS=(c tokio python)
[ $HAVE_THREADED = 1 ] && CONN_SERVERS+=(threaded threaded-thread)
# event-loop: one loop and two (SO_REUSEPORT), in the same rounds as tokio
# and as tokio on one thread (the like-for-like baseline for one loop).
[ $HAVE_EVENTLOOP = 1 ] && CONN_SERVERS+=(eventloop eventloop2 tokio1)
stop_kind tcp-echo
for kind in threaded threaded-thread eventloop eventloop2 tokio1; do
    case $kind in
        threaded*) [ $HAVE_THREADED = 1 ] || continue ;;
        eventloop* | tokio1) [ $HAVE_EVENTLOOP = 1 ] || continue ;;
    esac
    start "$kind" || continue
    SPID[$kind]=$SRV_PID SADDR[$kind]=$SRV_ADDR
done

# conns_run ROW C R MODE [ARGS...]: C connections x R requests of 64 bytes
# on every connection server, from `loadgen MODE ARGS`, ROUNDS rounds.
conns_run() {
    local row=$1 c=$2 r=$3 mode=$4 round kind line skip=
    shift 4
    # The polled rows leave Python out: its row would only add minutes.
    [ "$mode" = econns ] && skip=python
    log "$c connections x $r requests of 64 bytes (loadgen $mode${*:+ $*}), $ROUNDS rounds"
    for ((round = 1; round <= ROUNDS; round++)); do
        for kind in "${CONN_SERVERS[@]}"; do
            [ "$kind" = "$skip" ] && continue
            [ -n "${SADDR[$kind]:-}" ] || continue
            line=$(load "$row $kind" "$LOADGEN" "$mode" "$@" --addr "${SADDR[$kind]}" \
                --connections "$c" --requests "$r" --size 64)
            if [ "$(field "$line" errors)" = 0 ] && [ "$(field "$line" served)" = "$c" ]; then
                add_sample "$row" "$kind" "$(field "$line" rps)"
            else
                # A run that lost a connection counts against the server.
                R[${row}_fail,$kind]="$(field "$line" served)/$c served"
            fi
        done
    done
    for kind in "${CONN_SERVERS[@]}"; do
        [ "$kind" = "$skip" ] && continue
        # Median, not best: the timed part includes the server accepting
        # and spawning for late connections, which swings both ways.
        R[$row,$kind]=$(median "${SAMPLES[$row,$kind]:-}")
        [ -n "${R[${row}_fail,$kind]:-}" ] && R[$row,$kind]="FAIL(${R[${row}_fail,$kind]})"
    done
}
conns_run c100 100 500 conns
conns_run c1000 1000 100 conns
# The same 1000 connections from `loadgen econns`: two threads polling
# (as wrk does) instead of a thread per connection. With 1000 client
# threads on these 2 cores, a one-thread server gets one scheduler share
# among them (event-loop's README measures it); a polling load leaves the
# server the CPU the load does not use, whatever its thread count.
conns_run e1000 1000 300 econns --threads 2

# Context switches per request at 100 connections, counted by perf over all
# the server's threads (perf stat -p follows threads created while it runs).
if [ $HAVE_PERF = 1 ]; then
    log "context switches per request at 100 connections (perf stat)"
    for kind in "${CONN_SERVERS[@]}"; do
        [ -n "${SADDR[$kind]:-}" ] || continue
        perf_attach "$WORK/perf-$kind" "$PERF_EVENTS" "${SPID[$kind]}"
        perf_pid=$PERF_PID
        # The load generator shares the 2 CPUs: count its CPU too.
        line=$(load "ctxsw $kind" perf stat -x, -e task-clock -o "$WORK/perfc-$kind" -- \
            "$LOADGEN" conns --addr "${SADDR[$kind]}" --connections 100 --requests 500 --size 64)
        kill -INT "$perf_pid" 2>/dev/null
        wait "$perf_pid" 2>/dev/null
        requests=$(field "$line" requests)
        switches=$(awk -F, '$3 == "context-switches" {print $1}' "$WORK/perf-$kind")
        cpu_ms=$(awk -F, '$3 == "task-clock" {print $1}' "$WORK/perf-$kind")
        if [ -n "$requests" ] && [ "$requests" -gt 0 ] && [ -n "$switches" ]; then
            R[ctxsw,$kind]=$(awk -v s="$switches" -v r="$requests" 'BEGIN {printf "%.2f", s / r}')
            R[cpuus,$kind]=$(awk -v ms="$cpu_ms" -v r="$requests" 'BEGIN {printf "%.1f", ms * 1000 / r}')
            syscalls=$(awk -F, '$3 == "raw_syscalls:sys_enter" {print $1}' "$WORK/perf-$kind")
            [ -n "$syscalls" ] && R[syscalls,$kind]=$(awk -v s="$syscalls" -v r="$requests" 'BEGIN {printf "%.2f", s / r}')
            client_ms=$(awk -F, '$3 == "task-clock" {print $1}' "$WORK/perfc-$kind")
            R[clientus,$kind]=$(awk -v ms="$client_ms" -v r="$requests" 'BEGIN {printf "%.1f", ms * 1000 / r}')
        fi
    done
fi
for kind in "${CONN_SERVERS[@]}"; do
    stop_kind "$kind"
done

# ---------------------------------------------------------------- memory
# RSS with 1000 idle connections, each having made one round trip (so the
# server really took it on: thread, stack and buffer). Fresh servers.
rss_kb() { awk '/^VmRSS:/ {print $2}' "/proc/$1/status" 2>/dev/null; }
RSS_SERVERS=(c tokio python)
[ $HAVE_THREADED = 1 ] && RSS_SERVERS+=(threaded-thread)
# idle_rss KIND N SUFFIX: a fresh KIND server holding N idle connections
# from loadgen; its RSS (MB) in R[rssSUFFIX,KIND], its threads in
# R[threadsSUFFIX,KIND]. loadgen prints `connected=N` once every connection
# is open, then holds them: read that line (bounded: connecting N threads
# takes a while) and measure while they are held.
idle_rss() {
    local kind=$1 n=$2 suffix=$3 wait_secs=$((30 + $2 * 6 / 1000)) connected kb threads idle_pid idle_fd idle_line
    start "$kind" || return
    rm -f "$WORK/idle.fifo"
    mkfifo "$WORK/idle.fifo"
    timeout $((wait_secs + 60)) "$LOADGEN" idle --addr "$SRV_ADDR" --connections "$n" --hold-secs 1.5 \
        >"$WORK/idle.fifo" 2>"$WORK/idle$suffix-$kind.err" &
    idle_pid=$!
    exec {idle_fd}<"$WORK/idle.fifo"
    idle_line=
    IFS= read -r -t "$wait_secs" -u "$idle_fd" idle_line
    connected=$(field "$idle_line" connected)
    kb=$(rss_kb "$SRV_PID")
    threads=$(awk '/^Threads:/ {print $2}' "/proc/$SRV_PID/status" 2>/dev/null)
    cat <&"$idle_fd" >/dev/null # the rest, until loadgen exits
    exec {idle_fd}<&-
    wait "$idle_pid"
    if [ "$connected" = "$n" ] && [ -n "$kb" ]; then
        R[rss$suffix,$kind]=$(awk -v kb="$kb" 'BEGIN {printf "%.1f", kb / 1024}')
        R[threads$suffix,$kind]=$threads
    else
        R[rss$suffix,$kind]="FAIL(${connected:-0}/$n)"
        log "idle$suffix $kind: $(tail -n 2 "$WORK/idle$suffix-$kind.err")"
    fi
    stop "$SRV_PID"
}
log "RSS with 1000 idle connections"
for kind in "${RSS_SERVERS[@]}"; do
    idle_rss "$kind" 1000 ""
done

# ---------------------------------------------------------------- event-loop: 10 000 idle
# RSS with 10 000 idle connections (one round trip each), tokio against the
# event loop: what a connection costs when it is not a thread. Fresh servers.
IDLE_MANY=10000
eventloop_idle_rss() {
    local kind
    if [ "$(ulimit -n)" -lt $((IDLE_MANY + 100)) ]; then
        log "ulimit -n is $(ulimit -n): $IDLE_MANY idle connections skipped"
        return
    fi
    log "RSS with $IDLE_MANY idle connections (tokio, event-loop)"
    for kind in tokio eventloop; do
        idle_rss "$kind" $IDLE_MANY 10k
    done
}
[ $HAVE_EVENTLOOP = 1 ] && eventloop_idle_rss

# ---------------------------------------------------------------- framing
FRAME_SERVERS=(c-frames)
[ $HAVE_FRAMING = 1 ] && FRAME_SERVERS+=(framing)
# frames_count KIND: messages the server printed for the last client.
frames_count() { grep -c '^message: frame-' "$WORK/$1.out"; }
log "pipelined 16-byte length frames, $FRAMES per run, $ROUNDS rounds"
for kind in "${FRAME_SERVERS[@]}"; do
    for ((round = 1; round <= ROUNDS; round++)); do
        start "$kind" || break
        line=$(load "frames $kind" "$LOADGEN" frames --addr "$SRV_ADDR" --frames "$FRAMES" --size 16)
        # The server prints each message; stopping it flushes its stdout.
        stop "$SRV_PID"
        got=$(frames_count "$kind")
        if [ "$(field "$line" errors)" = 0 ] && [ "$got" = "$FRAMES" ]; then
            add_sample frames "$kind" "$(field "$line" frames_s)"
        else
            R[frames_fail,$kind]="$got/$FRAMES printed"
        fi
    done
    R[frames,$kind]=$(best "${SAMPLES[frames,$kind]:-}")
    [ -n "${R[frames_fail,$kind]:-}" ] && R[frames,$kind]="FAIL(${R[frames_fail,$kind]})"
done
if [ $HAVE_STRACE = 1 ]; then
    log "read syscalls per frame (strace -f -c), $STRACE_FRAMES frames"
    for kind in "${FRAME_SERVERS[@]}"; do
        start "$kind" || continue
        # strace says "Process N attached" on stderr once it traces: read
        # that line (10 s at most) before the load starts.
        rm -f "$WORK/strace.fifo"
        mkfifo "$WORK/strace.fifo"
        strace -f -c -e trace=read,recvfrom -o "$WORK/strace-$kind" -p "$SRV_PID" 2>"$WORK/strace.fifo" &
        strace_pid=$!
        exec {strace_fd}<"$WORK/strace.fifo"
        IFS= read -r -t 10 -u "$strace_fd" attached || log "strace did not attach: ${attached:-}"
        cat <&"$strace_fd" >"$WORK/strace-$kind.err" &
        exec {strace_fd}<&-
        line=$(load "strace $kind" "$LOADGEN" frames --addr "$SRV_ADDR" --frames "$STRACE_FRAMES" --size 16)
        kill -INT "$strace_pid" 2>/dev/null
        wait "$strace_pid" 2>/dev/null
        reads=$(awk '$NF == "read" || $NF == "recvfrom" {n += $4} END {print n + 0}' "$WORK/strace-$kind")
        if [ "$(field "$line" errors)" = 0 ] && [ "$reads" -gt 0 ]; then
            R[reads,$kind]=$(awk -v r="$reads" -v f="$STRACE_FRAMES" 'BEGIN {printf "%.4f", r / f}')
            R[readsn,$kind]=$reads
        fi
        stop "$SRV_PID"
    done
fi

# ---------------------------------------------------------------- capture
# bench_packet_watch: packet-watch against tcpdump, both capturing the same
# tcp-echo stream with the same port filter and both writing a pcap, at the
# same time, on the server's end of a lab link (MTU 1500, offloads off, so
# every segment is one packet; on loopback when the lab cannot be built,
# where GSO makes 64 KiB packets and far fewer of them). CAPTURE_ROUNDS
# streams (default ROUNDS), each with a fresh packet-watch and tcpdump; sets
# R[cap*] to the medians: the packets each captured and the drops the kernel
# counted for each (every round is logged, with the load average).
# shellcheck disable=SC2034 # `on` and `client` are read through capture_round's namerefs
bench_packet_watch() {
    local lab=pwb where server_pid fd line port iface host round
    local -a on=() client=()
    R[capwhere,x]="-"
    if [ ! -x "$BIN/packet-watch" ] || [ ! -x "$BIN/tcp-echo" ]; then
        log "capture: packet-watch or tcp-echo not built"
        return
    fi
    need_pkg tcpdump tcpdump || { log "capture: no tcpdump, row skipped"; return; }
    if [ "$(id -u)" != 0 ]; then
        log "capture: packet-watch and tcpdump need root, row skipped"
        return
    fi
    if "$ROOT/scripts/lab.sh" up --name "$lab" >"$WORK/lab.log" 2>&1; then
        where="lab link"
        on=("$ROOT/scripts/lab.sh" run server --name "$lab")
        client=("$ROOT/scripts/lab.sh" run client --name "$lab")
        iface=$lab-s host=server.lab
    else
        log "capture: no lab ($(tail -n 1 "$WORK/lab.log")); on loopback"
        where="loopback"
        client=()
        iface=lo host=127.0.0.1
    fi
    log "capture: packet-watch and tcpdump on $CAPTURE_ROUNDS $((STREAM_BYTES >> 20)) MiB tcp-echo streams ($where)"
    # One fifo per process: a reader sees EOF when its own writer exits.
    rm -f "$WORK"/cap-*.fifo
    mkfifo "$WORK/cap-server.fifo"
    "${on[@]}" "$BIN/tcp-echo" server --host "$host" --port 0 >"$WORK/cap-server.fifo" 2>/dev/null &
    server_pid=$!
    PIDS+=("$server_pid")
    exec {fd}<"$WORK/cap-server.fifo"
    IFS= read -r -t 10 -u "$fd" line
    cat <&"$fd" >/dev/null &
    PIDS+=("$!")
    exec {fd}<&-
    port=${line##*:}
    if [[ $line != "listening on "* ]]; then
        log "capture: tcp-echo did not start"
        "$ROOT/scripts/lab.sh" down --name "$lab" >/dev/null 2>&1
        return
    fi
    for round in $(seq "$CAPTURE_ROUNDS"); do
        capture_round "$round" "$iface" "$host" "$port" on client
    done
    stop "$server_pid"
    [ "$where" = "lab link" ] && "$ROOT/scripts/lab.sh" down --name "$lab" >/dev/null 2>&1
    local k
    for k in cappw cappwdrop captd captddrop; do
        R[$k,x]=$(median "${SAMPLES[$k,x]:-}")
    done
    R[capwhere,x]=$where
    log "capture: medians of $CAPTURE_ROUNDS: packet-watch ${R[cappw,x]:-?} captured, ${R[cappwdrop,x]:-?} dropped;" \
        "tcpdump ${R[captd,x]:-?} captured, ${R[captddrop,x]:-?} dropped"
}

# capture_round N IFACE HOST PORT ON CLIENT: one stream with both captures on
# it (ON and CLIENT name the arrays of the lab's run commands); adds each
# figure to SAMPLES[cap*,x].
capture_round() {
    local round=$1 iface=$2 host=$3 port=$4 watch_pid dump_pid reader fd line load stream pw pwd td tdd
    local -n run_on=$5 run_client=$6
    rm -f "$WORK/cap-pw.fifo" "$WORK/cap-td.fifo" "$WORK/pw.pcap" "$WORK/td.pcap"
    mkfifo "$WORK/cap-pw.fifo" "$WORK/cap-td.fifo"
    "${run_on[@]}" "$BIN/packet-watch" --interface "$iface" --port "$port" --pcap "$WORK/pw.pcap" \
        >"$WORK/cap-pw.fifo" 2>"$WORK/pw.err" &
    watch_pid=$!
    PIDS+=("$watch_pid")
    exec {fd}<"$WORK/cap-pw.fifo"
    IFS= read -r -t 10 -u "$fd" line # `capturing on IFACE`: filter attached
    cat <&"$fd" >/dev/null &
    PIDS+=("$!")
    exec {fd}<&-
    # tcpdump says `listening on IFACE` on stderr once its filter is set.
    # -B 32768: 32 MiB, what packet-watch holds in all (a 30 MiB ring and
    # 2 MiB of pcap data in flight to its writer thread; tcpdump: 2 MiB).
    "${run_on[@]}" tcpdump -i "$iface" -n -B 32768 -w "$WORK/td.pcap" "port $port" 2>"$WORK/cap-td.fifo" &
    dump_pid=$!
    PIDS+=("$dump_pid")
    exec {fd}<"$WORK/cap-td.fifo"
    IFS= read -r -t 10 -u "$fd" line
    cat <&"$fd" >"$WORK/td.err" &
    reader=$!
    PIDS+=("$reader")
    exec {fd}<&-
    load=$(cut -d' ' -f1 /proc/loadavg)
    stream=$(load "capture stream" "${run_client[@]}" "$BIN/tcp-echo" client --host "$host" --port "$port" --bytes "$STREAM_BYTES")
    kill -INT "$watch_pid" "$dump_pid" 2>/dev/null
    wait "$watch_pid" "$dump_pid" 2>/dev/null
    wait "$reader" 2>/dev/null # tcpdump's statistics, complete at its exit
    # packet-watch: `captured N packets; kernel: P passed the filter, D dropped`
    line=$(grep '^captured ' "$WORK/pw.err")
    pw=$(sed -nE 's/^captured ([0-9]+) packets.*/\1/p' <<<"$line")
    pwd=$(sed -nE 's/.*, ([0-9]+) dropped$/\1/p' <<<"$line")
    # tcpdump: `N packets captured` ... `D packets dropped by kernel`
    td=$(sed -nE 's/^([0-9]+) packets captured$/\1/p' "$WORK/td.err")
    tdd=$(sed -nE 's/^([0-9]+) packets dropped by kernel$/\1/p' "$WORK/td.err")
    add_sample cappw x "$pw"
    add_sample cappwdrop x "$pwd"
    add_sample captd x "$td"
    add_sample captddrop x "$tdd"
    log "capture round $round (load average $load): packet-watch ${pw:-?} captured, ${pwd:-?} dropped;" \
        "tcpdump ${td:-?} captured, ${tdd:-?} dropped; stream: $stream"
}
bench_packet_watch
# ---------------------------------------------------------------- http-basics
# HTTP: wrk, 100 keep-alive connections fetching a 1 KiB file for
# HTTP_SECS, against the lesson's server, python3 -m http.server, nginx
# (1 worker, and one per CPU) and a hyper 1.x server (bench/hyper-http:
# reading the file per request as the lesson does, and from memory),
# interleaved within each round, median of ROUNDS; then the RSS of each
# holding 1000 idle keep-alive connections. Its own start/stop helpers
# (the baselines do not print `listening on`), its own table (http_table).
HTTP_SECS=10
[ "${QUICK:-0}" = 1 ] && HTTP_SECS=3
HAVE_HTTP=0
[ -x "$BIN/http-basics" ] && HAVE_HTTP=1
declare -A HTTP_PID HTTP_ADDR

# http_free_port: a port that was free a moment ago (nginx cannot bind
# port 0 and tell us; a start that finds it taken is retried).
http_free_port() {
    "$PY" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# http_wait_port ADDR PID: wait (10 s at most) until ADDR accepts, or PID exits.
http_wait_port() {
    local i
    for ((i = 0; i < 100; i++)); do
        kill -0 "$2" 2>/dev/null || return 1
        (exec 3<>"/dev/tcp/${1%:*}/${1##*:}") 2>/dev/null && return 0
        sleep 0.1 # polling readiness, bounded to 10 s
    done
    return 1
}

# http_start KIND: start one HTTP server on a free port; sets HTTP_PID[KIND]
# and HTTP_ADDR[KIND].
http_start() {
    local kind=$1 line fd port conf workers
    case $kind in
        lesson | lesson-1000 | hyper | hyper-mem)
            local -a cmd=("$BIN/http-basics" server --port 0 --root "$WORK/www" --quiet)
            [ "$kind" = lesson-1000 ] && cmd+=(--workers 1024)
            [ "$kind" = hyper ] && cmd=("$BBIN/hyper-http" --root "$WORK/www" --port 0)
            [ "$kind" = hyper-mem ] && cmd=("$BBIN/hyper-http" --root "$WORK/www" --port 0 --memory)
            rm -f "$WORK/http.fifo"
            mkfifo "$WORK/http.fifo"
            "${cmd[@]}" >"$WORK/http.fifo" 2>"$WORK/http-$kind.err" &
            HTTP_PID[$kind]=$!
            PIDS+=("$!")
            exec {fd}<"$WORK/http.fifo"
            IFS= read -r -t 10 -u "$fd" line
            cat <&"$fd" >/dev/null &
            exec {fd}<&-
            [[ $line == "listening on "* ]] || { log "$kind did not start: $(tail -n 2 "$WORK/http-$kind.err")"; return 1; }
            HTTP_ADDR[$kind]=${line#listening on }
            ;;
        python)
            port=$(http_free_port)
            "$PY" -m http.server "$port" --bind 127.0.0.1 --directory "$WORK/www" >/dev/null 2>&1 &
            HTTP_PID[$kind]=$!
            PIDS+=("$!")
            HTTP_ADDR[$kind]=127.0.0.1:$port
            http_wait_port "${HTTP_ADDR[$kind]}" "${HTTP_PID[$kind]}" || { log "python http.server did not start"; return 1; }
            ;;
        nginx-1 | nginx-auto)
            command -v nginx >/dev/null || return 1
            workers=${kind#nginx-}
            for _ in 1 2 3 4 5; do
                port=$(http_free_port)
                conf=$WORK/nginx-$kind
                mkdir -p "$conf"
                # Debian's defaults for a static site (sendfile, tcp_nopush),
                # no access log (the lesson's --quiet), and keep-alive as long
                # as wrk wants (nginx closes after 1000 requests by default).
                cat >"$conf/nginx.conf" <<CONF
daemon off;
worker_processes $workers;
user root;
pid $conf/nginx.pid;
error_log $conf/error.log;
events { worker_connections 4096; }
http {
    access_log off;
    sendfile on;
    tcp_nopush on;
    keepalive_requests 1000000;
    client_body_temp_path $conf/body;
    proxy_temp_path $conf/proxy;
    fastcgi_temp_path $conf/fastcgi;
    uwsgi_temp_path $conf/uwsgi;
    scgi_temp_path $conf/scgi;
    server { listen 127.0.0.1:$port; root $WORK/www; }
}
CONF
                nginx -e "$conf/error.log" -c "$conf/nginx.conf" >/dev/null 2>&1 &
                HTTP_PID[$kind]=$!
                PIDS+=("$!")
                HTTP_ADDR[$kind]=127.0.0.1:$port
                http_wait_port "${HTTP_ADDR[$kind]}" "${HTTP_PID[$kind]}" && return 0
                grep -q "Address already in use" "$conf/error.log" || break
            done
            log "nginx ($kind) did not start: $(tail -n 2 "$WORK/nginx-$kind/error.log")"
            return 1
            ;;
    esac
}

# http_stop KIND: TERM (nginx's master then stops its workers), KILL after 3 s.
http_stop() {
    [ -n "${HTTP_PID[$1]:-}" ] && stop "${HTTP_PID[$1]}"
    unset "HTTP_PID[$1]" "HTTP_ADDR[$1]"
}

# http_rss_kb PID: the RSS of PID and its children (nginx's workers).
http_rss_kb() {
    local total=0 pid kb
    for pid in "$1" $(pgrep -P "$1"); do
        kb=$(rss_kb "$pid")
        total=$((total + ${kb:-0}))
    done
    echo "$total"
}

http_measure() {
    local kind round line rps errors idle_fd idle_line idle_pid kb
    need_pkg wrk wrk || { log "no wrk: HTTP rows skipped"; return; }
    need_pkg nginx nginx-light || log "no nginx: its HTTP columns skipped"
    mkdir -p "$WORK/www"
    # 1 KiB of text (16 lines of 64 bytes).
    for ((i = 0; i < 16; i++)); do printf '%063d\n' "$i"; done >"$WORK/www/1k.txt"
    HTTP_SERVERS=(python nginx-1 nginx-auto hyper hyper-mem)
    [ $HAVE_HTTP = 1 ] && HTTP_SERVERS+=(lesson)
    log "HTTP: wrk, 100 keep-alive connections, 1 KiB file, ${HTTP_SECS} s, $ROUNDS rounds"
    for kind in "${HTTP_SERVERS[@]}"; do
        http_start "$kind" || continue
    done
    for ((round = 1; round <= ROUNDS; round++)); do
        for kind in "${HTTP_SERVERS[@]}"; do
            [ -n "${HTTP_ADDR[$kind]:-}" ] || continue
            line=$(timeout $((HTTP_SECS + 30)) wrk -t2 -c100 -d"${HTTP_SECS}s" --timeout 5s \
                "http://${HTTP_ADDR[$kind]}/1k.txt" 2>&1)
            rps=$(sed -n 's/^Requests\/sec: *\([0-9.]*\).*/\1/p' <<<"$line")
            errors=$(sed -n 's/.*Non-2xx or 3xx responses: *\([0-9]*\).*/\1/p' <<<"$line")
            [ -n "$errors" ] && R[httperr,$kind]=$errors
            [ -n "$rps" ] && add_sample http "$kind" "$rps"
            # "Socket errors: connect 0, read 0, write 0, timeout 2": the sum.
            grep -q "Socket errors" <<<"$line" && R[httpsock,$kind]=$(sed -n 's/.*Socket errors: *//p' <<<"$line" |
                grep -o '[0-9]*' | awk '{n += $1} END {print n + 0}')
        done
    done
    for kind in "${HTTP_SERVERS[@]}"; do
        http_stop "$kind"
        R[http,$kind]=$(median "${SAMPLES[http,$kind]:-}")
    done

    log "HTTP: RSS with 1000 idle keep-alive connections"
    local -a rss_servers=(python nginx-auto hyper)
    [ $HAVE_HTTP = 1 ] && rss_servers+=(lesson-1000)
    for kind in "${rss_servers[@]}"; do
        http_start "$kind" || continue
        rm -f "$WORK/hidle.fifo"
        mkfifo "$WORK/hidle.fifo"
        timeout 60 "$PY" "$BENCH/python/http_idle.py" "${HTTP_ADDR[$kind]}" /1k.txt 1000 1.5 \
            >"$WORK/hidle.fifo" 2>"$WORK/hidle-$kind.err" &
        idle_pid=$!
        exec {idle_fd}<"$WORK/hidle.fifo"
        idle_line=
        IFS= read -r -t 40 -u "$idle_fd" idle_line
        kb=$(http_rss_kb "${HTTP_PID[$kind]}")
        cat <&"$idle_fd" >/dev/null
        exec {idle_fd}<&-
        wait "$idle_pid"
        if [ "$(field "$idle_line" connected)" = 1000 ] && [ -n "$kb" ]; then
            R[httprss,$kind]=$(awk -v kb="$kb" 'BEGIN {printf "%.1f", kb / 1024}')
            R[httpkept,$kind]=$(field "$idle_line" kept)
        else
            R[httprss,$kind]="FAIL"
            log "HTTP idle $kind: ${idle_line:-no line} $(tail -n 2 "$WORK/hidle-$kind.err")"
        fi
        http_stop "$kind"
    done
}

# http_table: the HTTP rows, ratios to the lesson's server.
http_table() {
    [ -n "${HTTP_SERVERS+x}" ] || return 0
    local kind
    echo
    echo "HTTP (wrk -t2 -c100, keep-alive, GET of a 1 KiB file, ${HTTP_SECS} s; median of $ROUNDS; (x) = the lesson's server / that server)"
    hrow() { printf '%-30s %-20s %-20s %-20s %-20s %-20s %-14s %s\n' "$@"; }
    hcell() {
        local hv=${R[$1,$2]:-} hl=${R[$1,${3:-lesson}]:-}
        if [ -z "$hv" ]; then echo "-"
        elif [[ $hv =~ ^[0-9.]+$ ]] && [[ $hl =~ ^[0-9.]+$ ]] && [ "$2" != "${3:-lesson}" ]; then
            awk -v v="$hv" -v l="$hl" 'BEGIN {printf "%s (%.2fx)", v, (v > 0 ? l / v : 0)}'
        else echo "$hv"; fi
    }
    hrow "measurement" "python http.server" "nginx 1 worker" "nginx auto" "hyper" "hyper (memory)" "lesson" "target"
    local verdicts="" ok
    for pair in "python 20" "hyper 0.7"; do
        read -r kind ok <<<"$pair"
        if [[ ${R[http,$kind]:-} =~ ^[0-9.]+$ ]] && [[ ${R[http,lesson]:-} =~ ^[0-9.]+$ ]]; then
            if awk -v l="${R[http,lesson]}" -v v="${R[http,$kind]}" -v t="$ok" 'BEGIN {exit !(l / v >= t)}'; then
                verdicts+="ok >=${ok}x $kind; "
            else
                verdicts+="MISS >=${ok}x $kind; "
                echo "http [$kind]" >>"$WORK/misses"
            fi
        fi
    done
    verdicts=${verdicts%; }
    hrow "requests/s" "$(hcell http python)" "$(hcell http nginx-1)" "$(hcell http nginx-auto)" \
        "$(hcell http hyper)" "$(hcell http hyper-mem)" "${R[http,lesson]:--}" "${verdicts:--}"
    hrow "non-2xx / socket errors" "${R[httperr,python]:-0} / ${R[httpsock,python]:-0}" \
        "${R[httperr,nginx-1]:-0} / ${R[httpsock,nginx-1]:-0}" "${R[httperr,nginx-auto]:-0} / ${R[httpsock,nginx-auto]:-0}" \
        "${R[httperr,hyper]:-0} / ${R[httpsock,hyper]:-0}" "${R[httperr,hyper-mem]:-0} / ${R[httpsock,hyper-mem]:-0}" \
        "${R[httperr,lesson]:-0} / ${R[httpsock,lesson]:-0}" "(last round)"
    hrow "RSS MB, 1000 idle keep-alive" "${R[httprss,python]:--} (kept ${R[httpkept,python]:-?})" "-" \
        "${R[httprss,nginx-auto]:--} (kept ${R[httpkept,nginx-auto]:-?})" "${R[httprss,hyper]:--} (kept ${R[httpkept,hyper]:-?})" "-" \
        "${R[httprss,lesson-1000]:--} (kept ${R[httpkept,lesson-1000]:-?})" "(--workers 1024)"
}

http_measure

# ---------------------------------------------------------------- table
cpu_model=$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n 1)
echo
echo "machine: $(nproc) CPUs ($cpu_model), Linux $(uname -r), $(rustc --version | cut -d' ' -f1-2), $(date -u '+%Y-%m-%d %H:%M UTC')"
echo "figures: stream best of $STREAM_ROUNDS; RTT p50 lowest, p99 median of $RTT_ROUNDS; connections median of $ROUNDS; (x) = ratio to C; shared machine: expect noise"

# cell ROW KIND: "figure (ratio)" versus the row's baseline column.
cell() {
    local row=$1 kind=$2 base=${3:-c} v b
    v=${R[$row,$kind]:-}
    b=${R[$row,$base]:-}
    if [ -z "$v" ]; then
        echo "-"
    elif [[ $v =~ ^[0-9.]+$ ]] && [[ $b =~ ^[0-9.]+$ ]] && [ "$kind" != "$base" ]; then
        awk -v v="$v" -v b="$b" 'BEGIN {printf "%s (%.2fx)", v, (b > 0 ? v / b : 0)}'
    else
        echo "$v"
    fi
}
# served ROW KIND: "ok all served" when the row has a figure (a run that
# lost a connection leaves FAIL(...) instead), else "-" or "MISS".
served() {
    local v=${R[$1,$2]:-}
    if [ -z "$v" ]; then echo "-"; elif [[ $v =~ ^[0-9.]+$ ]]; then echo "ok all served"; else
        echo "MISS all served"
        echo "$1 [$2]" >>"$WORK/misses"
    fi
}
# verdict ROW KIND OP LIMIT [abs]: "ok"/"MISS" for a ratio (or absolute) target.
verdict() {
    local row=$1 kind=$2 op=$3 limit=$4 abs=${5:-} v b
    v=${R[$row,$kind]:-}
    b=${R[$row,c]:-1}
    [[ $v =~ ^[0-9.]+$ ]] || { echo "-"; return; }
    [ -n "$abs" ] && b=1
    awk -v v="$v" -v b="$b" -v op="$op" -v l="$limit" 'BEGIN {
        r = v / b; ok = (op == ">=") ? (r >= l) : (op == "<=") ? (r <= l) : (r < l)
        printf "%s %s%s", ok ? "ok" : "MISS", op, l
        exit !ok }' || echo "$row [$kind]" >>"$WORK/misses"
}
row() { printf '%-36s %-16s %-18s %-18s %-20s %s\n' "$@"; }
row "measurement" "C" "tokio" "Python" "lesson" "target"
row "stream MB/s [tcp-echo]" "$(cell stream c)" "$(cell stream tokio)" "$(cell stream python)" \
    "$(cell stream tcp-echo)" "$(verdict stream tcp-echo '>=' 0.95)"
row "stream server CPU ms/GiB [tcp-echo]" "$(cell streamcpu c)" "$(cell streamcpu tokio)" "$(cell streamcpu python)" \
    "$(cell streamcpu tcp-echo)" "(lower is better)"
row "64B RTT p50 us, pinned [tcp-echo]" "$(cell rtt50 c)" "$(cell rtt50 tokio)" "$(cell rtt50 python)" \
    "$(cell rtt50 tcp-echo)" "$(verdict rtt50 tcp-echo '<=' 1.05)"
row "64B RTT p99 us, pinned [tcp-echo]" "$(cell rtt99 c)" "$(cell rtt99 tokio)" "$(cell rtt99 python)" \
    "$(cell rtt99 tcp-echo)" "-"
row "100 conns rps [threaded default]" "$(cell c100 c)" "$(cell c100 tokio)" "$(cell c100 python)" \
    "$(cell c100 threaded)" "$(verdict c100 threaded '>=' 0.95)"
row "100 conns rps [threaded thread]" "$(cell c100 c)" "$(cell c100 tokio)" "$(cell c100 python)" \
    "$(cell c100 threaded-thread)" "-"
row "1000 conns rps [threaded default]" "$(cell c1000 c)" "$(cell c1000 tokio)" "$(cell c1000 python)" \
    "$(cell c1000 threaded)" "$(served c1000 threaded)"
row "1000 conns rps [threaded thread]" "$(cell c1000 c)" "$(cell c1000 tokio)" "$(cell c1000 python)" \
    "$(cell c1000 threaded-thread)" "$(served c1000 threaded-thread)"
row "ctx switches/request, 100 conns" "$(cell ctxsw c)" "$(cell ctxsw tokio)" "$(cell ctxsw python)" \
    "${R[ctxsw,threaded]:--} / ${R[ctxsw,threaded-thread]:--}" "(default / thread)"
row "server syscalls/request, 100 conns" "$(cell syscalls c)" "$(cell syscalls tokio)" "$(cell syscalls python)" \
    "${R[syscalls,threaded]:--} / ${R[syscalls,threaded-thread]:--}" "(default / thread)"
row "server CPU us/request, 100 conns" "$(cell cpuus c)" "$(cell cpuus tokio)" "$(cell cpuus python)" \
    "${R[cpuus,threaded]:--} / ${R[cpuus,threaded-thread]:--}" "(default / thread)"
row "loadgen CPU us/request, 100 conns" "${R[clientus,c]:--}" "${R[clientus,tokio]:--}" "${R[clientus,python]:--}" \
    "${R[clientus,threaded]:--} / ${R[clientus,threaded-thread]:--}" "(same 2 CPUs)"
row "RSS MB, 1000 idle conns [thread]" "$(cell rss c)" "$(cell rss tokio)" "$(cell rss python)" \
    "$(cell rss threaded-thread)" "$(verdict rss threaded-thread '<' 64 abs)"
row "server threads, 1000 idle conns" "${R[threads,c]:--}" "${R[threads,tokio]:--}" "${R[threads,python]:--}" \
    "${R[threads,threaded-thread]:--}" "-"
row "16B frames/s [framing length]" "$(cell frames c-frames c-frames)" "-" "-" \
    "$(cell frames framing c-frames)" "(C = unbuffered)"
row "reads/frame [framing length]" "${R[reads,c-frames]:--}" "-" "-" \
    "$([ -n "${R[reads,framing]:-}" ] && echo "${R[reads,framing]} (${R[readsn,framing]} reads)" || echo -)" "$(verdict reads framing '<=' 0.05 abs)"
# capture_row: packet-watch's packets and drops, tcpdump's beside them;
# the target: no more kernel drops than tcpdump on the same stream.
capture_row() {
    local pw=${R[cappw,x]:-} pwd=${R[cappwdrop,x]:-} td=${R[captd,x]:-} tdd=${R[captddrop,x]:-} verdict="-"
    if [[ $pwd =~ ^[0-9]+$ ]] && [[ $tdd =~ ^[0-9]+$ ]]; then
        if [ "$pwd" -le "$tdd" ]; then verdict="ok drops <= tcpdump's"; else
            verdict="MISS drops <= tcpdump's"
            echo "capture drops [packet-watch]" >>"$WORK/misses"
        fi
    fi
    row "capture pkts/drops [${R[capwhere,x]}]" "-" "-" "tcpdump ${td:--}/${tdd:--}" \
        "${pw:--}/${pwd:--}" "$verdict"
}
capture_row
http_table
# event-loop rows: the lesson column's ratio is to tokio, not C.
# verdict_tokio ROW KIND OP LIMIT: "ok"/"MISS" for a ratio to tokio.
verdict_tokio() {
    local v=${R[$1,$2]:-} b=${R[$1,tokio]:-}
    if ! [[ $v =~ ^[0-9.]+$ && $b =~ ^[0-9.]+$ ]]; then
        echo "-"
        return
    fi
    awk -v v="$v" -v b="$b" -v op="$3" -v l="$4" 'BEGIN {
        r = v / b; ok = (op == ">=") ? (r >= l) : (r <= l)
        printf "%s %s%sx tokio", ok ? "ok" : "MISS", op, l
        exit !ok }' || echo "$1 [$2]" >>"$WORK/misses"
}
if [ $HAVE_EVENTLOOP = 1 ]; then
    echo "event-loop rows: (x) in the lesson column is the ratio to tokio"
    row "100 conns rps [event-loop 1 loop]" "$(cell c100 c)" "$(cell c100 tokio)" "$(cell c100 python)" \
        "$(cell c100 eventloop tokio)" "$(verdict_tokio c100 eventloop '>=' 1.0)"
    row "100 conns rps [event-loop 2 loops]" "$(cell c100 c)" "$(cell c100 tokio)" "$(cell c100 python)" \
        "$(cell c100 eventloop2 tokio)" "-"
    row "1000 conns rps [event-loop 1 loop]" "$(cell c1000 c)" "$(cell c1000 tokio)" "$(cell c1000 python)" \
        "$(cell c1000 eventloop tokio)" "$(verdict_tokio c1000 eventloop '>=' 1.1)"
    row "1000 conns rps [event-loop 2 loops]" "$(cell c1000 c)" "$(cell c1000 tokio)" "$(cell c1000 python)" \
        "$(cell c1000 eventloop2 tokio)" "-"
    row "1000 polled rps [event-loop 1 loop]" "$(cell e1000 c)" "$(cell e1000 tokio)" "-" \
        "$(cell e1000 eventloop tokio)" "$(verdict_tokio e1000 eventloop '>=' 1.1)"
    row "1000 polled rps [event-loop 2 loops]" "$(cell e1000 c)" "$(cell e1000 tokio)" "-" \
        "$(cell e1000 eventloop2 tokio)" "-"
    # Like for like: one loop against tokio confined to one thread. The
    # tokio column is tokio 1 thread (x: to tokio's default runtime); the
    # lesson column's x is to tokio 1 thread.
    row "100 conns rps [1 loop/tokio 1thr]" "-" "$(cell c100 tokio1 tokio)" "-" \
        "$(cell c100 eventloop tokio1)" "(like for like)"
    row "1000 conns rps [1 loop/tokio 1thr]" "-" "$(cell c1000 tokio1 tokio)" "-" \
        "$(cell c1000 eventloop tokio1)" "(like for like)"
    row "1000 polled [1 loop/tokio 1thr]" "-" "$(cell e1000 tokio1 tokio)" "-" \
        "$(cell e1000 eventloop tokio1)" "(like for like)"
    row "1000 polled rps [threaded pool]" "$(cell e1000 c)" "$(cell e1000 tokio)" "-" \
        "$(cell e1000 threaded)" "-"
    row "ctx switches/request [event-loop]" "$(cell ctxsw c)" "$(cell ctxsw tokio)" "$(cell ctxsw python)" \
        "${R[ctxsw,eventloop]:--} / ${R[ctxsw,eventloop2]:--}" "(1 loop / 2 loops; tokio 1thr ${R[ctxsw,tokio1]:--})"
    row "server syscalls/request [event-loop]" "$(cell syscalls c)" "$(cell syscalls tokio)" "$(cell syscalls python)" \
        "${R[syscalls,eventloop]:--} / ${R[syscalls,eventloop2]:--}" "(1 loop / 2 loops; tokio 1thr ${R[syscalls,tokio1]:--})"
    row "server CPU us/request [event-loop]" "$(cell cpuus c)" "$(cell cpuus tokio)" "$(cell cpuus python)" \
        "${R[cpuus,eventloop]:--} / ${R[cpuus,eventloop2]:--}" "(1 loop / 2 loops; tokio 1thr ${R[cpuus,tokio1]:--})"
    row "RSS MB, $IDLE_MANY idle [event-loop]" "-" "${R[rss10k,tokio]:--}" "-" \
        "$(cell rss10k eventloop tokio)" "$(verdict_tokio rss10k eventloop '<=' 1.0)"
    row "server threads, $IDLE_MANY idle" "-" "${R[threads10k,tokio]:--}" "-" "${R[threads10k,eventloop]:--}" "-"
fi
missing=()
[ $HAVE_ECHO = 1 ] || missing+=(tcp-echo)
[ $HAVE_THREADED = 1 ] || missing+=(tcp-threaded)
[ $HAVE_FRAMING = 1 ] || missing+=(framing)
[ $HAVE_HTTP = 1 ] || missing+=(http-basics)
[ $HAVE_EVENTLOOP = 1 ] || missing+=(event-loop)
[ ${#missing[@]} -eq 0 ] || echo "not built in this checkout (rows show -): ${missing[*]}"
# A row that missed its target fails the run: `make bench` exits non-zero.
if [ -s "$WORK/misses" ]; then
    echo "targets missed: $(sort -u "$WORK/misses" | tr '\n' ' ')"
    exit 1
fi
echo "every target met"
exit 0
