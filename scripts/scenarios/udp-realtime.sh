#!/usr/bin/env bash
# Pairing scenarios for udp-realtime: the Rust sender and receiver, and
# Python peers written from the wire format alone (scripts/python/
# realtime_send.py and realtime_receive.py), in each combination; the
# same stream over TCP. Loopback loses nothing, so the Python sender skips
# every fifth datagram to show the copies at work. (Real loss: the lab
# scenario, scripts/scenarios/lab.sh.) The receivers end by themselves,
# 2 s after the stream; a generous --playout-ms keeps a busy machine from
# making a frame late.
# shellcheck source=scripts/lib.sh
source "$(dirname "$0")/../lib.sh"
RT=$BIN/udp-realtime

# ends_with DESCRIPTION NAME REGEX: server NAME exits 0 by itself (10 s
# at most) and a line of its stdout matches the extended REGEX.
ends_with() {
    local desc=$1 name=$2 regex=$3 pidvar i rc
    pidvar="${name}_PID"
    for ((i = 0; i < 100; i++)); do
        kill -0 "${!pidvar}" 2>/dev/null || break
        sleep 0.1 # polling a process's exit, bounded to 10 s
    done
    if kill -0 "${!pidvar}" 2>/dev/null; then
        fail "$desc" "$name still running 10 s after the stream" "$(tail -3 "$WORK/$name.err")"
        return 1
    fi
    wait "${!pidvar}"
    rc=$?
    # The drain of its stdout ends at EOF, right after the exit.
    for ((i = 0; i < 20; i++)); do
        grep -Eq -- "$regex" "$WORK/$name.out" 2>/dev/null && break
        sleep 0.1 # polling a file for a line, bounded to 2 s
    done
    if [ "$MODE" = demo ]; then
        sed 's/^/  (receiver stderr) /' "$WORK/$name.err"
        cat "$WORK/$name.out"
    fi
    if [ "$rc" -eq 0 ] && grep -Eq -- "$regex" "$WORK/$name.out"; then
        pass "$desc"
    else
        fail "$desc" "exit code $rc" "wanted a line matching: $regex" "stdout: $(cat "$WORK/$name.out")" "$(tail -3 "$WORK/$name.err")"
    fi
}

heading "udp-realtime: the Rust sender and receiver, 1 s of the melody"
start_server RX "$RT" receive --port 0 --playout-ms 200 --wav "$WORK/played.wav" || { finish; exit 1; }
expect_match "the sender sends 50 frames in real time" 0 '^sent 50 frames \(1\.00 s of audio\) in 1\.[0-9]+ s$' \
    "$RT" send --port "$RX_PORT" --seconds 1
ends_with "every frame plays from the primary" RX \
    '^frames=50 primary=50 redundant=0 concealed=0 late=0 duplicate=0 reordered=0 invalid=0$'
expect "Python's wave module reads the WAV: mono, 16-bit, 16 kHz, 1 s" "1 2 16000 16000" \
    "$PY" -c 'import sys, wave; w = wave.open(sys.argv[1]); print(w.getnchannels(), w.getsampwidth(), w.getframerate(), w.getnframes())' \
    "$WORK/played.wav"

heading "udp-realtime: the Python sender (every fifth datagram skipped) to the Rust receiver"
start_server RXPY "$RT" receive --port 0 --playout-ms 200 || { finish; exit 1; }
expect "realtime_send.py skips 10 of 50 datagrams" "sent 40 of 50 frames" \
    "$PY" "$PYDIR/realtime_send.py" 127.0.0.1 "$RXPY_PORT" --seconds 1 --redundancy 1 --drop 5
ends_with "each skipped frame plays from the next datagram's copy (Python's mu-law)" RXPY \
    '^frames=50 primary=40 redundant=10 concealed=0 late=0 duplicate=0 reordered=0 invalid=0$'

heading "udp-realtime: the Rust sender (redundancy 2) to the Python receiver"
start_server PYRX "$PY" "$PYDIR/realtime_receive.py" 127.0.0.1 0 || { finish; exit 1; }
expect_match "the Rust sender streams 1 s with two copies per datagram" 0 '^sent 50 frames \(1\.00 s of audio\) in 1\.[0-9]+ s$' \
    "$RT" send --port "$PYRX_PORT" --seconds 1 --redundancy 2
ends_with "realtime_receive.py parses every datagram, and all 97 copies match its own mu-law" PYRX \
    '^datagrams=50 frames=50 primary=50 redundant=0 missing=0 invalid=0 copies=97 mismatched=0$'

heading "udp-realtime: the same stream over TCP"
start_server RXTCP "$RT" receive --tcp --port 0 --playout-ms 200 || { finish; exit 1; }
expect_match "the sender streams over TCP, each datagram after its length" 0 '^sent 50 frames \(1\.00 s of audio\) in 1\.[0-9]+ s$' \
    "$RT" send --tcp --port "$RXTCP_PORT" --seconds 1
ends_with "on loopback TCP plays every frame too (EOF ends the stream)" RXTCP \
    '^frames=50 primary=50 redundant=0 concealed=0 late=0 duplicate=0 reordered=0 invalid=0$'

finish
