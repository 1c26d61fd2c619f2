#!/usr/bin/env bash
# Pairing scenarios for udp-datagrams: the Rust and the book's Python
# server and client in each combination, loss with retries, the size
# limit, and broadcast on loopback.
# shellcheck source=scripts/lib.sh
source "$(dirname "$0")/../lib.sh"
UDP=$BIN/udp-datagrams

heading "udp-datagrams: the Rust server with the Rust and Python clients"
start_server SERVER "$UDP" server --port 0 || { finish; exit 1; }
expect "the Rust client gets the book's reply" "Your data was 23 bytes long" \
    "$UDP" client --port "$SERVER_PORT"
expect "the book's Python client gets the same reply" "Your data was 11 bytes long" \
    "$PY" "$PYDIR/udp_remote.py" client "$SERVER_HOST" "$SERVER_PORT" "from python"
expect_match "a 60000-byte datagram with don't-fragment fits loopback's MTU" 0 \
    'sent a 60000-byte datagram in one piece' "$UDP" big --port "$SERVER_PORT" --size 60000
expect_match "past 65507 bytes the kernel says EMSGSIZE (exit 1)" 1 \
    '65508 bytes is too big.*EMSGSIZE' "$UDP" big --port "$SERVER_PORT" --size 65508
stop_server SERVER INT

heading "udp-datagrams: a server that drops half the requests"
start_server LOSSY "$UDP" server --port 0 --drop-rate 0.5 --seed 1 || { finish; exit 1; }
for try in 1 2 3; do
    expect "request $try gets through by retrying" "Your data was 23 bytes long" \
        "$UDP" client --port "$LOSSY_PORT" --max-timeout 8
done
server_log_has "the server logged what it dropped" LOSSY 'dropping datagram from 127\.0\.0\.1:'
stop_server LOSSY TERM

heading "udp-datagrams: the Rust client with the book's Python server"
start_server PYSERVER "$PY" "$PYDIR/udp_remote.py" server 127.0.0.1 0 || { finish; exit 1; }
expect "the Rust client talks to udp_remote.py" "Your data was 11 bytes long" \
    "$UDP" client --port "$PYSERVER_PORT" "hello there"
stop_server PYSERVER INT

heading "udp-datagrams: nobody there"
expect_match "ICMP port unreachable comes back as connection refused (exit 1)" 1 \
    'connection refused' "$UDP" client --port "$PYSERVER_PORT"

heading "udp-datagrams: broadcast on loopback"
start_server LISTENER "$UDP" broadcast-listen --port 0 --count 1 || { finish; exit 1; }
expect "broadcast-send with SO_BROADCAST to 127.255.255.255" \
    "sent \"Broadcast datagram!\" to 127.255.255.255:$LISTENER_PORT" \
    "$UDP" broadcast-send --port "$LISTENER_PORT"
server_log_has "the listener on 0.0.0.0 got it and exits after --count 1" LISTENER 'stopped: received 1 datagrams'

finish
