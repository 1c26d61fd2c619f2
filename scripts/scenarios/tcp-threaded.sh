#!/usr/bin/env bash
# Pairing scenarios for tcp-threaded: each mode under the Rust load client,
# a client past --max-connections and a stop with a client still there, the
# Rust server with a Python client, the Rust client with Python's
# ThreadingTCPServer.
# shellcheck source=scripts/lib.sh
source "$(dirname "$0")/../lib.sh"
THREADED=$BIN/tcp-threaded
LOAD_OK='connections=8 requests=160 errors=0 seconds=[0-9.]+ rps=[0-9]+ p50_us=[0-9]+ p99_us=[0-9]+'

for mode in single thread pool; do
    heading "tcp-threaded: --mode $mode, 8 clients, 20 ms of work per request"
    start_server SERVER "$THREADED" server --port 0 --mode "$mode" --delay-ms 20 || { finish; exit 1; }
    expect_match "$mode mode serves 8 clients x 20 requests, all verified" 0 "$LOAD_OK" \
        "$THREADED" client --port "$SERVER_PORT" --connections 8 --requests 20
    stop_server SERVER INT
done

heading "tcp-threaded: --max-connections 1, and a stop with a client still connected"
start_server SERVER "$THREADED" server --port 0 --max-connections 1 || { finish; exit 1; }
# This shell is the client that stays: bash's /dev/tcp opens a connection
# on a descriptor, which takes the one place until we close it.
say "\$ exec {held}<>/dev/tcp/$SERVER_HOST/$SERVER_PORT; echo mine >&\$held; read -r reply <&\$held"
if exec {held}<>"/dev/tcp/$SERVER_HOST/$SERVER_PORT" && echo mine >&"$held" &&
    IFS= read -r -t 5 reply <&"$held" && [ "$reply" = mine ]; then
    say "(a client that stays connected, answered: $reply)"
    pass "a client that stays takes the one place"
else
    fail "a client that stays takes the one place" "reply: ${reply:-<none>}"
fi
expect_match "past --max-connections the load client is reset, says so and exits 1" 1 \
    'requests=0 errors=1 ' "$THREADED" client --port "$SERVER_PORT" --connections 1 --requests 1
server_log_has "the server logs the refusal" SERVER 'refused: 1 connection open \(--max-connections\)'
# Stopped with that client still connected: the stop's cutoff ends it.
stop_server SERVER INT
[ -z "${held:-}" ] || exec {held}<&-
server_log_has "the stop cuts off the client that stayed" SERVER 'cutting off 1 connection still open'

heading "tcp-threaded: the Rust server with a Python client"
start_server SERVER "$THREADED" server --port 0 || { finish; exit 1; }
expect "a Python client gets each line back" $'first line\nsecond line' \
    "$PY" "$PYDIR/threaded_client.py" "$SERVER_HOST" "$SERVER_PORT" "first line" "second line"
stop_server SERVER TERM

heading "tcp-threaded: the Rust load client with Python's ThreadingTCPServer"
start_server PYSERVER "$PY" "$PYDIR/threaded_server.py" 127.0.0.1 0 || { finish; exit 1; }
expect_match "the load client verifies every reply from a Python server" 0 \
    'connections=8 requests=800 errors=0 ' \
    "$THREADED" client --port "$PYSERVER_PORT" --connections 8 --requests 100
stop_server PYSERVER INT

finish
