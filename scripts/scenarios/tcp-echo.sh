#!/usr/bin/env bash
# Pairing scenarios for tcp-echo: Rust and Python peers in every combination.
# shellcheck source=scripts/lib.sh
source "$(dirname "$0")/../lib.sh"
ECHO=$BIN/tcp-echo

heading "tcp-echo: the Rust server with the Rust client"
start_server SERVER "$ECHO" server --port 0 || { finish; exit 1; }
expect "messages are echoed one per line" $'hello\ntwo words' \
    "$ECHO" client --port "$SERVER_PORT" hello "two words"
printf 'first line\nsecond line\n' >"$WORK/lines.txt"
STDIN=$WORK/lines.txt expect "stdin is echoed line by line" $'first line\nsecond line' \
    "$ECHO" client --port "$SERVER_PORT"
expect_match "2 MB stream, written and read concurrently, verified" 0 \
    'echoed 2000000 bytes in .* every byte verified' \
    "$ECHO" client --port "$SERVER_PORT" --bytes 2000000

heading "tcp-echo: the Rust server with a Python client"
expect "a Python client gets its echoes" $'from python\nsecond' \
    "$PY" "$PYDIR/tcp_echo_client.py" "$SERVER_HOST" "$SERVER_PORT" "from python" second
server_log_has "the server logs each closed connection" SERVER 'echoed 17 bytes, closed'
stop_server SERVER INT

heading "tcp-echo: a Python server with the Rust client"
start_server PYSERVER "$PY" "$PYDIR/tcp_echo_server.py" 127.0.0.1 0 || { finish; exit 1; }
expect "the Rust client works with a Python server" $'hello python' \
    "$ECHO" client --port "$PYSERVER_PORT" "hello python"
expect_match "the Rust client's 2 MB stream through a Python server" 0 \
    'echoed 2000000 bytes' "$ECHO" client --port "$PYSERVER_PORT" --bytes 2000000
stop_server PYSERVER INT

heading "tcp-echo: nobody listening"
# shellcheck disable=SC2016 # the backquotes are literal text in the hint
expect_match "connection refused says how to start the server" 1 \
    'Is the server running\? Start it with `cargo run -p tcp-echo -- server`' \
    "$ECHO" client --port "$PYSERVER_PORT" hello

finish
