#!/usr/bin/env bash
# packet-watch: the packets of a tcp-echo exchange, captured on lo with the
# port filter, checked for the handshake, the data and the two FINs; then
# the pcap file it wrote, read back by tcpdump. Capturing needs root, as CI
# has (without it, the check says so and fails). The lab scenario
# (scenarios/lab.sh) has packet-watch's check across a lossy link.
# shellcheck source=scripts/lib.sh
source "$(dirname "$0")/../lib.sh"
WATCH=$BIN/packet-watch
ECHO=$BIN/tcp-echo

if [ "${EUID:-$(id -u)}" -ne 0 ]; then
    fail "packet-watch needs root (CAP_NET_RAW) to capture" "running as uid $(id -u); try: sudo make test"
    finish
    exit 1
fi

heading "packet-watch: tcp-echo's 'hello world' on the wire"
start_server SERVER "$ECHO" server --port 0 || { finish; exit 1; }
start_capture WATCH "$WATCH" --port "$SERVER_PORT" --pcap "$WORK/echo.pcap" || { finish; exit 1; }
expect "the client's echoes" $'hello\nworld' "$ECHO" client --port "$SERVER_PORT" hello world
stop_server WATCH INT
wait "$CAPTURE_READER" 2>/dev/null
lines=$WORK/WATCH.out
[ "$MODE" != demo ] || cat "$lines"
first=$(head -n 1 "$lines")
if [[ $first =~ ^127\.0\.0\.1:[0-9]+\ \>\ 127\.0\.0\.1:$SERVER_PORT\ TCP\ \[S\]\ seq\ 0\ win\ [0-9]+\ len\ 0$ ]] &&
    [ "$(grep -c ' TCP \[S\.\] seq 0 ack 1 ' "$lines")" = 1 ] &&
    [ "$(grep -c ' TCP \[F\.\] ' "$lines")" = 2 ] &&
    [ "$(grep -Ec ' TCP \[P?\.\] .* len (5|10)$' "$lines")" -ge 3 ] &&
    tail -n 1 "$lines" | grep -q ' TCP \[\.\] seq 12 ack 12 '; then
    pass "the handshake, the data both ways, two FINs and the last ACK ($(wc -l <"$lines") packets)"
else
    fail "the handshake, the data both ways, two FINs and the last ACK" "$(cat "$lines")"
fi
if grep -Eq '^captured [0-9]+ packets; kernel: [0-9]+ passed the filter, 0 dropped$' "$WORK/WATCH.err"; then
    pass "the summary counts the packets and no drops"
else
    fail "the summary counts the packets and no drops" "$(cat "$WORK/WATCH.err")"
fi
show tcpdump -nr echo.pcap
if out=$(tcpdump -nr "$WORK/echo.pcap" 2>/dev/null) && [ "$(wc -l <<<"$out")" = "$(wc -l <"$lines")" ]; then
    [ "$MODE" != demo ] || printf '%s\n' "$out"
    pass "tcpdump reads the pcap file: the same $(wc -l <<<"$out") packets"
else
    fail "tcpdump reads the pcap file, the same packets" "$out"
fi
stop_server SERVER INT

heading "packet-watch: the kernel filter for --port 7000, as tcpdump -d prints one"
expect_match "the BPF program ends in ret #262144 / ret #0" 0 '\(033\) ret      #0' \
    "$WATCH" --port 7000 --dump-filter

finish
