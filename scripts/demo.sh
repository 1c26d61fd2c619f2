#!/usr/bin/env bash
# `make demo`: the course in one run. Every lesson's server/client pairs, in
# the teaching order, each command shown as you would type it with all it
# printed, then one total line.
set -u
cd "$(dirname "$0")/.." || exit 1

# The teaching order, with the idea each lesson adds.
lessons=(
    "tcp-echo|a blocking TCP server and client: bytes, half-close, timeouts"
    "tcp-threaded|one client at a time, a thread each, a pool; limits and shutdown"
    "event-loop|one thread, nonblocking sockets, readiness"
    "udp-datagrams|datagrams: loss, retries with backoff, MTU, broadcast"
    "udp-realtime|live audio over UDP: sequence numbers, a jitter buffer, redundancy"
    "resolver-dump|names: what getaddrinfo really returns"
    "framing|where a message ends, and the TCP deadlock"
    "http-basics|HTTP/1.1 by hand: a protocol's syntax, semantics and timing"
    "packet-watch|the layers, and TCP's reliability on the wire"
)

number=0 passed=0 failed=0
log=$(mktemp)
trap 'rm -f "$log"' EXIT
# Ctrl-C reaches the lesson running now, which stops its servers and exits
# 130; without this trap the loop would go on to the next lesson.
trap 'echo "demo interrupted" >&2; exit 130' INT TERM
for entry in "${lessons[@]}"; do
    lesson=${entry%%|*}
    scenario=scripts/scenarios/$lesson.sh
    [ -f "$scenario" ] || continue
    number=$((number + 1))
    printf '\n######## %d. %s: %s\n' "$number" "$lesson" "${entry#*|}"
    bash "$scenario" demo 2>&1 | tee "$log"
    read -r p f < <(sed -nE 's/^([0-9]+) passed, ([0-9]+) failed$/\1 \2/p' "$log" | tail -1)
    passed=$((passed + ${p:-0}))
    failed=$((failed + ${f:-1}))
done
printf '\ndemo: %d lessons, %d steps passed, %d failed\n' "$number" "$passed" "$failed"
[ "$failed" -eq 0 ]
