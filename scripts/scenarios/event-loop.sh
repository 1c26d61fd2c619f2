#!/usr/bin/env bash
# Pairing scenarios for event-loop: the zen protocol Rust to Rust, the
# book's client.py against the Rust server, the Rust client against the
# book's srv_async.py, the bare loop with both; then the echo protocol
# under the load client on one loop and on two.
# shellcheck source=scripts/lib.sh
source "$(dirname "$0")/../lib.sh"
EL=$BIN/event-loop
BARE=$BIN/examples/event-loop-bare
ZEN_LINES=$'Beautiful is better than? Ugly.\nExplicit is better than? Implicit.\nSimple is better than? Complex.'
BOOK_LINES=$'b\'Beautiful is better than?\' b\'Ugly.\'\nb\'Explicit is better than?\' b\'Implicit.\'\nb\'Simple is better than?\' b\'Complex.\''

# The bare example: built here (a no-op when it is fresh), never stale.
release=()
[[ $BIN == */release ]] && release=(--release)
(cd "$ROOT" && cargo build -q "${release[@]}" -p event-loop --example event-loop-bare) || {
    fail "building examples/event-loop-bare.rs"
    finish
    exit 1
}

# expect_sorted DESCRIPTION EXPECTED CMD...: like `expect`, for a client that
# asks in a random order: its lines, sorted, must be EXPECTED (sorted).
expect_sorted() {
    local desc=$1 expected=$2 out rc
    shift 2
    show "$@"
    out=$(timeout 20 "$@" </dev/null 2>"$WORK/last.err")
    rc=$?
    [ "$MODE" != demo ] || printf '%s\n' "$out"
    if [ "$rc" -eq 0 ] && [ "$(sort <<<"$out")" = "$(sort <<<"$expected")" ]; then
        pass "$desc"
    else
        fail "$desc" "exit code $rc" "expected (any order): $(printf '%q' "$expected")" \
            "got: $(printf '%q' "$out")" "$(tail -3 "$WORK/last.err")"
    fi
}

heading "event-loop: the zen server, with the Rust, the book's and the bare clients"
start_server SERVER "$EL" server --port 0 || { finish; exit 1; }
expect "the Rust client prints each question with its answer" \
    $'Beautiful is better than? Ugly.\nWhy? Error: unknown aphorism.' \
    "$EL" client --port "$SERVER_PORT" "Beautiful is better than?" "Why?"
expect_sorted "the Rust client asks all three, in a random order" "$ZEN_LINES" \
    "$EL" client --port "$SERVER_PORT"
expect_sorted "the book's client.py gets the book's answers" "$BOOK_LINES" \
    "$PY" "$PYDIR/zen_client.py" "$SERVER_HOST" -p "$SERVER_PORT"
expect "the bare client asks the three in order" "$ZEN_LINES" "$BARE" client --port "$SERVER_PORT"
stop_server SERVER INT

heading "event-loop: the Rust client against the book's srv_async.py"
start_server PYSERVER "$PY" "$PYDIR/zen_srv_async.py" 127.0.0.1 -p 0 || { finish; exit 1; }
expect "srv_async.py answers the Rust client's questions" \
    $'Simple is better than? Complex.\nExplicit is better than? Implicit.' \
    "$EL" client --port "$PYSERVER_PORT" "Simple is better than?" "Explicit is better than?"
expect_sorted "srv_async.py answers all three in the client's random order" "$ZEN_LINES" \
    "$EL" client --port "$PYSERVER_PORT"
stop_server PYSERVER INT

heading "event-loop: the bare loop with the book's client.py"
start_server BARESERVER "$BARE" server --port 0 || { finish; exit 1; }
expect_sorted "the bare server answers client.py" "$BOOK_LINES" \
    "$PY" "$PYDIR/zen_client.py" "$BARESERVER_HOST" -p "$BARESERVER_PORT"
# The bare server has no stop handling: it just dies on the signal.
say "\$ kill <bare server pid>"
kill "$BARESERVER_PID" 2>/dev/null
wait "$BARESERVER_PID" 2>/dev/null

for loops in 1 2; do
    heading "event-loop: echo protocol, --loops $loops, 100 clients x 100 requests"
    start_server ECHO "$EL" server --port 0 --protocol echo --loops "$loops" || { finish; exit 1; }
    expect_match "the load client verifies every echo ($loops loop(s))" 0 \
        'connections=100 requests=10000 errors=0 seconds=[0-9.]+ rps=[0-9]+ p50_us=[0-9]+ p99_us=[0-9]+' \
        "$EL" client --port "$ECHO_PORT" --connections 100 --requests 100
    stop_server ECHO TERM
done

finish
