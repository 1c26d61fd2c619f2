#!/usr/bin/env bash
# `make realtime-table`: the udp-realtime lesson's table, from real runs in
# the lab (scripts/lab.sh; needs root). For each loss rate it builds a lab,
# streams SECONDS of the melody four ways at once (redundancy 0, 1 and 2
# over UDP, and over TCP), keeps every receiver's WAV in DEST, and prints
# one Markdown table row per run, with the theory for UDP: a frame is lost
# when its datagram and the K after it are all lost, p^(K+1).
#
#   scripts/realtime-table.sh [SECONDS] [DEST]     (default 10, /tmp/udp-realtime-wavs)
#
# Every lab is removed at the end, even on failure or Ctrl-C. Senders and
# receivers run with real-time scheduling (chrt --fifo 20), as audio servers such
# as PipeWire do: on a busy machine a sender or receiver that waits for
# the CPU is late just as surely as one behind a slow link, and this table
# is about the link.
set -u
cd "$(dirname "$0")/.." || exit 1
SECONDS_OF_AUDIO=${1:-10}
DEST=${2:-/tmp/udp-realtime-wavs}
RT=$PWD/target/debug/udp-realtime
LAB=scripts/lab.sh
NAME=rtab$$
NAME=${NAME:0:6}
WORK=$(mktemp -d)
PIDS=()

cleanup() {
    local pid
    for pid in "${PIDS[@]}"; do
        kill -KILL "$pid" 2>/dev/null
    done
    "$LAB" down --name "$NAME" >/dev/null 2>&1
    rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

[ "${EUID:-$(id -u)}" -eq 0 ] || { echo "realtime-table: the lab needs root; try: sudo make realtime-table" >&2; exit 1; }
[ -x "$RT" ] || { echo "realtime-table: build first: cargo build -p udp-realtime" >&2; exit 1; }
mkdir -p "$DEST"

# start RUN FLAGS...: a receiver on the server host; sets PORT.
start() {
    local run=$1 line fd
    shift
    mkfifo "$WORK/$run.fifo"
    "$LAB" run server --name "$NAME" chrt --fifo 20 "$RT" receive --host server.lab --port 0 \
        --wav "$DEST/$run.wav" "$@" >"$WORK/$run.fifo" 2>"$WORK/$run.err" &
    PIDS+=("$!")
    echo "$!" >"$WORK/$run.pid"
    exec {fd}<"$WORK/$run.fifo"
    IFS= read -r -t 10 -u "$fd" line || { echo "receiver $run did not start: $(cat "$WORK/$run.err")" >&2; exit 1; }
    cat <&"$fd" >"$WORK/$run.out" &
    exec {fd}<&-
    PORT=${line##*:}
}

echo "| loss | stream | frames | primary | redundant | concealed | late | longest gap | theory p^(K+1) |"
echo "|---:|---|---:|---:|---:|---:|---:|---:|---:|"
for loss in 0 5 20; do
    "$LAB" up --name "$NAME" --loss "$loss" >/dev/null || exit 1
    senders=()
    for k in 0 1 2 tcp; do
        run=loss$loss-$( [ "$k" = tcp ] && echo tcp || echo "k$k")
        if [ "$k" = tcp ]; then
            start "$run" --tcp
            flags=(--tcp --redundancy 0)
        else
            start "$run"
            flags=(--redundancy "$k")
        fi
        timeout $((SECONDS_OF_AUDIO + 30)) "$LAB" run client --name "$NAME" chrt --fifo 20 "$RT" send --host server.lab \
            --port "$PORT" --seconds "$SECONDS_OF_AUDIO" "${flags[@]}" >/dev/null 2>"$WORK/$run.send" &
        PIDS+=("$!")
        senders+=("$!")
    done
    for pid in "${senders[@]}"; do
        wait "$pid" || echo "a sender failed (loss $loss%)" >&2
    done
    for k in 0 1 2 tcp; do
        run=loss$loss-$( [ "$k" = tcp ] && echo tcp || echo "k$k")
        pid=$(cat "$WORK/$run.pid")
        # The receiver ends by itself: 2 s after the stream, or at EOF.
        timeout 60 tail --pid="$pid" -f /dev/null
        wait "$pid" 2>/dev/null
        line=$(grep -m1 '^frames=' "$WORK/$run.out")
        get() { grep -oE "(^| )$1=[0-9]+" <<<"$line" | cut -d= -f2; }
        gap=$(sed -nE 's/^longest gap: [0-9]+ frames \(([0-9]+) ms\).*/\1/p' "$WORK/$run.err")
        if [ "$k" = tcp ]; then
            stream="TCP" theory="0 lost, late instead"
        else
            stream="UDP, redundancy $k"
            theory=$(awk -v p="$loss" -v k="$k" 'BEGIN { printf "%.3g%%", 100 * (p / 100) ^ (k + 1) }')
        fi
        echo "| $loss% | $stream | $(get frames) | $(get primary) | $(get redundant) | $(get concealed) | $(get late) | ${gap:-?} ms | $theory |"
    done
    "$LAB" down --name "$NAME" >/dev/null
done
echo
echo "WAV files: $DEST/loss*-{k0,k1,k2,tcp}.wav (play with: aplay FILE, or ffplay -nodisp -autoexit FILE)"
