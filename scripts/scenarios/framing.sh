#!/usr/bin/env bash
# Pairing scenarios for framing: every strategy Rust to Rust, the book's
# Python clients against the Rust server, the Rust client against the
# book's Python servers, and the TCP deadlock with and without the fix.
# shellcheck source=scripts/lib.sh
source "$(dirname "$0")/../lib.sh"
FRAMING=$BIN/framing

# server_prints DESCRIPTION NAME EXPECTED: the server's stdout (after its
# `listening on` line) is exactly EXPECTED, waiting up to 5 s for it.
server_prints() {
    local desc=$1 name=$2 expected=$3 i got
    for ((i = 0; i < 50; i++)); do
        got=$(cat "$WORK/$name.out")
        [ "$got" = "$expected" ] && break
        sleep 0.1 # polling a log file, bounded to 5 s
    done
    [ "$MODE" != demo ] || sed 's/^/  (server stdout) /' "$WORK/$name.out"
    if [ "$got" = "$expected" ]; then
        pass "$desc"
    else
        fail "$desc" "expected: $(printf '%q' "$expected")" "got:      $(printf '%q' "$got")"
    fi
}

for strategy in delimiter length netstring; do
    heading "framing: --strategy $strategy, Rust to Rust"
    start_server SERVER "$FRAMING" server --port 0 --strategy "$strategy" || { finish; exit 1; }
    expect "$strategy: the client sends three messages" "" \
        "$FRAMING" client --port "$SERVER_PORT" --strategy "$strategy" hello "two words" $'tab\there'
    server_prints "$strategy: the server prints each message, escaped" SERVER \
        $'message: hello\nmessage: two words\nmessage: tab\\there'
    stop_server SERVER INT
done

heading "framing: the book's blocks.py client against the Rust length server"
start_server SERVER "$FRAMING" server --port 0 --strategy length || { finish; exit 1; }
expect "blocks.py sends the Zen of Python" "" "$PY" "$PYDIR/framing_blocks_client.py" "$SERVER_HOST" "$SERVER_PORT"
server_prints "the Rust server decodes blocks.py's frames" SERVER \
    $'message: Beautiful is better than ugly.\nmessage: Explicit is better than implicit.\nmessage: Simple is better than complex.'
stop_server SERVER INT

heading "framing: the book's tcp_sixteen.py client against the Rust fixed server"
start_server SERVER "$FRAMING" server --port 0 --strategy fixed || { finish; exit 1; }
expect "tcp_sixteen.py gets the farewell record" "reply: Farewell, client" \
    "$PY" "$PYDIR/framing_sixteen_client.py" "$SERVER_HOST" "$SERVER_PORT"
server_prints "the Rust server prints the 16-byte record" SERVER "message: Hi there, server"
stop_server SERVER INT

heading "framing: the book's streamer.py client against the Rust eof server"
start_server SERVER "$FRAMING" server --port 0 --strategy eof || { finish; exit 1; }
expect "streamer.py sends until it closes" "" "$PY" "$PYDIR/framing_streamer_client.py" "$SERVER_HOST" "$SERVER_PORT"
server_prints "the Rust server prints the whole stream as one message" SERVER \
    'message: Beautiful is better than ugly.\nExplicit is better than implicit.\nSimple is better than complex.\n'
stop_server SERVER INT

heading "framing: the Rust client against the book's Python servers"
start_server PYSERVER "$PY" "$PYDIR/framing_blocks_server.py" 127.0.0.1 0 || { finish; exit 1; }
expect "the Rust length client talks to blocks.py's server" "" \
    "$FRAMING" client --port "$PYSERVER_PORT" --strategy length "from rust" "second"
server_prints "blocks.py's server decodes the Rust frames" PYSERVER $'message: from rust\nmessage: second'
stop_server PYSERVER INT
start_server PYSERVER "$PY" "$PYDIR/framing_sixteen_server.py" 127.0.0.1 0 || { finish; exit 1; }
expect "the Rust fixed client gets tcp_sixteen.py's farewell" "reply: Farewell, client" \
    "$FRAMING" client --port "$PYSERVER_PORT" --strategy fixed
stop_server PYSERVER INT

heading "framing: the TCP deadlock"
start_server UPPER "$FRAMING" upper-server --port 0 || { finish; exit 1; }
expect "a small send completes without reading concurrently" \
    "sent 100000 bytes, received 100000 bytes back, all upper-cased" \
    "$FRAMING" deadlock-client --port "$UPPER_PORT" --bytes 100000
expect_match "a large send deadlocks, is detected and explained (exit 1)" 1 \
    'deadlock: no progress for 2 s; sent [0-9]+ of 64000000 bytes, received 0' \
    "$FRAMING" deadlock-client --port "$UPPER_PORT" --bytes 64000000
expect "--fix reads while sending and completes" \
    "sent 64000000 bytes, received 64000000 bytes back, all upper-cased" \
    "$FRAMING" deadlock-client --port "$UPPER_PORT" --bytes 64000000 --fix
stop_server UPPER INT

finish
