# shellcheck shell=bash
# Shared by every pairing scenario (scripts/scenarios/LESSON.sh): start a
# server on port 0, learn its port from its `listening on ADDR` line, run
# clients against it, check what they print, stop the server with SIGINT and
# check it exits 0. Every wait is bounded, and a trap kills whatever we
# started, so no process survives a failure or a Ctrl-C.
#
# A scenario runs in one of two modes (its first argument):
#   test  (default) quiet checks, ending with the line `N passed, M failed`;
#   demo  the same steps, showing each command and what it printed.

set -u

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BIN=${BIN:-$ROOT/target/debug}
# PY (the Python peers' interpreter) is for the scenarios that source this.
# shellcheck disable=SC2034
PY=${PYTHON:-python3}
PYDIR=$ROOT/scripts/python
MODE=${1:-test}
PASSED=0
FAILED=0
PIDS=()
WORK=$(mktemp -d)

cleanup() {
    local pid
    for pid in "${PIDS[@]}"; do
        kill -KILL "$pid" 2>/dev/null
    done
    rm -rf "$WORK"
}
trap cleanup EXIT
trap 'echo "interrupted" >&2; exit 130' INT TERM

pass() {
    PASSED=$((PASSED + 1))
    [ "$MODE" = demo ] || echo "ok   $1"
}

fail() {
    FAILED=$((FAILED + 1))
    echo "FAIL $1" >&2
    shift
    [ $# -eq 0 ] || printf '     %s\n' "$@" >&2
}

# show CMD...: in demo mode, print the command as a learner would type it
# (quoted where needed, without the build directory).
show() {
    [ "$MODE" = demo ] || return 0
    local words
    words=$(printf ' %q' "$@")
    say "\$$words"
}

# say TEXT: in demo mode, print TEXT with our temporary paths shortened.
say() {
    [ "$MODE" = demo ] || return 0
    printf '%s\n' "$*" | sed "s|$BIN/||g; s|$PYDIR/||g"
}

# start_server NAME CMD...: run a server, wait (10 s at most) for its first
# stdout line, and set NAME_ADDR, NAME_HOST, NAME_PORT and NAME_PID.
start_server() {
    local name=$1 line addr pid fd
    shift
    show "$@"
    say "  (started in the background)"
    rm -f "$WORK/$name.fifo"
    mkfifo "$WORK/$name.fifo"
    "$@" >"$WORK/$name.fifo" 2>"$WORK/$name.err" &
    pid=$!
    PIDS+=("$pid")
    exec {fd}<"$WORK/$name.fifo"
    if ! IFS= read -r -t 10 -u "$fd" line || [[ $line != "listening on "* ]]; then
        fail "$name starts and prints 'listening on ADDR'" "first line: ${line:-<none>}" "$(cat "$WORK/$name.err")"
        exec {fd}<&-
        return 1
    fi
    # Keep draining stdout so a chatty server never blocks on a full pipe.
    cat <&"$fd" >"$WORK/$name.out" &
    PIDS+=("$!")
    exec {fd}<&-
    addr=${line#listening on }
    printf -v "${name}_ADDR" '%s' "$addr"
    printf -v "${name}_PORT" '%s' "${addr##*:}"
    addr=${addr%:*}
    addr=${addr#[}
    printf -v "${name}_HOST" '%s' "${addr%]}"
    printf -v "${name}_PID" '%s' "$pid"
    [ "$MODE" != demo ] || echo "listening on ${line#listening on }"
}

# start_capture NAME CMD...: run packet-watch (CMD), wait (10 s at most)
# for its first line, `capturing on IFACE`: only then is its filter attached
# and its socket bound. Its stdout (one line per packet) goes on into
# $WORK/NAME.out; sets NAME_PID. Stop it with stop_server NAME.
start_capture() {
    local name=$1 line fd
    shift
    show "$@"
    say "  (started in the background)"
    rm -f "$WORK/$name.fifo"
    mkfifo "$WORK/$name.fifo"
    "$@" >"$WORK/$name.fifo" 2>"$WORK/$name.err" &
    printf -v "${name}_PID" '%s' "$!"
    PIDS+=("$!")
    exec {fd}<"$WORK/$name.fifo"
    if ! IFS= read -r -t 10 -u "$fd" line || [[ $line != "capturing on "* ]]; then
        fail "$name starts and prints 'capturing on IFACE'" "first line: ${line:-<none>}" "$(cat "$WORK/$name.err")"
        exec {fd}<&-
        return 1
    fi
    cat <&"$fd" >"$WORK/$name.out" &
    # The scenario waits for this reader before it reads NAME.out.
    # shellcheck disable=SC2034
    CAPTURE_READER=$!
    PIDS+=("$!")
    exec {fd}<&-
    [ "$MODE" != demo ] || echo "$line"
}

# stop_server NAME [SIGNAL]: signal the server (INT by default), wait up to
# 5 s, and check it exited 0.
stop_server() {
    local name=$1 signal=${2:-INT} pidvar rc i
    pidvar="${name}_PID"
    say "\$ kill -$signal <server pid>"
    kill "-$signal" "${!pidvar}" 2>/dev/null
    for ((i = 0; i < 50; i++)); do
        kill -0 "${!pidvar}" 2>/dev/null || break
        sleep 0.1 # polling a process's exit, bounded to 5 s
    done
    if kill -0 "${!pidvar}" 2>/dev/null; then
        fail "$name stops within 5 s of SIG$signal"
        return 1
    fi
    wait "${!pidvar}"
    rc=$?
    if [ "$rc" -eq 0 ]; then
        pass "$name exits 0 on SIG$signal"
    else
        fail "$name exits 0 on SIG$signal" "exit code $rc" "$(tail -5 "$WORK/$name.err")"
    fi
    # The whole log, not an excerpt: what the server said is part of the lesson.
    [ "$MODE" != demo ] || sed 's/^/  (server stderr) /' "$WORK/$name.err"
}

# expect DESCRIPTION EXPECTED_STDOUT CMD...: run CMD (20 s at most, stdin
# from $STDIN if set), check it exits 0 and prints exactly EXPECTED_STDOUT.
expect() {
    local desc=$1 expected=$2 out rc
    shift 2
    show "$@"
    out=$(timeout 20 "$@" <"${STDIN:-/dev/null}" 2>"$WORK/last.err")
    rc=$?
    if [ "$MODE" = demo ]; then
        printf '%s\n' "$out"
        sed 's/^/  (stderr) /' "$WORK/last.err"
    fi
    if [ "$rc" -eq 0 ] && [ "$out" = "$expected" ]; then
        pass "$desc"
    else
        fail "$desc" "exit code $rc" "expected: $(printf '%q' "$expected")" "got:      $(printf '%q' "$out")" "$(tail -3 "$WORK/last.err")"
    fi
}

# expect_match DESCRIPTION EXIT_CODE REGEX CMD...: run CMD (20 s at most),
# check its exit code and that stdout+stderr match the extended REGEX.
expect_match() {
    local desc=$1 want=$2 regex=$3 out rc
    shift 3
    show "$@"
    out=$(timeout 20 "$@" <"${STDIN:-/dev/null}" 2>&1)
    rc=$?
    [ "$MODE" != demo ] || printf '%s\n' "$out"
    if [ "$rc" -eq "$want" ] && grep -Eq -- "$regex" <<<"$out"; then
        pass "$desc"
    else
        fail "$desc" "exit code $rc (wanted $want)" "wanted a match for: $regex" "got: $(head -c 600 <<<"$out")"
    fi
}

# server_log_has DESCRIPTION NAME REGEX: the server's stderr matches REGEX
# (waits up to 5 s for the line to appear).
server_log_has() {
    local desc=$1 name=$2 regex=$3 i
    for ((i = 0; i < 50; i++)); do
        if grep -Eq -- "$regex" "$WORK/$name.err"; then
            pass "$desc"
            return 0
        fi
        sleep 0.1 # polling a log file for a line, bounded to 5 s
    done
    fail "$desc" "no stderr line matches: $regex" "$(tail -5 "$WORK/$name.err")"
}

# heading TEXT: a section title in demo mode.
heading() {
    [ "$MODE" != demo ] || printf '\n== %s ==\n' "$*"
}

# finish: the closing line, and a non-zero exit if anything failed.
finish() {
    echo "$PASSED passed, $FAILED failed"
    [ "$FAILED" -eq 0 ]
}
