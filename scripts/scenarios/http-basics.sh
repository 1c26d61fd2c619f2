#!/usr/bin/env bash
# Pairing scenarios for http-basics: the Rust client and server together,
# Python's urllib and curl against the Rust server, and the Rust client
# against Python's http.server.
# shellcheck source=scripts/lib.sh
source "$(dirname "$0")/../lib.sh"
HTTP=$BIN/http-basics

heading "http-basics: the Rust server with the Rust client"
start_server SERVER "$HTTP" server --port 0 || { finish; exit 1; }
BASE=http://$SERVER_ADDR
expect "GET prints the body" $'Hello from http-basics.\nThis file is served with Content-Type: text/plain.' \
    "$HTTP" get "$BASE/hello.txt"
expect_match "two URLs on one host share one connection (--trace)" 0 \
    'reusing the kept-alive connection to .* \(request 2 on it\)' \
    "$HTTP" get --trace "$BASE/hello.txt" "$BASE/hello.txt"
expect "POST --form: the server decodes the fields" $'name: Ada Lovelace\nlang: Rust' \
    "$HTTP" post "$BASE/echo" --form "name=Ada Lovelace" --form lang=Rust
expect_match "a redirect without --follow is an error naming its Location" 1 \
    'error: HTTP 301 Moved Permanently \(Location: /about/\); --follow follows it' \
    "$HTTP" get "$BASE/about"
expect_match "--follow follows it" 0 '<h1>about</h1>' "$HTTP" get --follow "$BASE/about"
expect_match "a 404 exits 1" 1 '^error: HTTP 404 Not Found$' "$HTTP" get "$BASE/missing"
expect_match "https:// is refused, naming rustls" 2 'rustls' "$HTTP" get https://example.org/

heading "http-basics: Python's urllib against the Rust server"
expect "urllib GETs and POSTs" $'200 OK\nHello from http-basics.\nThis file is served with Content-Type: text/plain.\nname: Guido\nlang: Python' \
    "$PY" "$PYDIR/http_urllib_client.py" "$BASE"

heading "http-basics: curl against the Rust server"
if command -v curl >/dev/null; then
    expect_match "curl reuses the connection" 0 'Re-using existing connection' \
        curl --noproxy '*' --max-time 10 -sv -o /dev/null -o /dev/null "$BASE/hello.txt" "$BASE/"
    expect "curl posts JSON, echoed verbatim" '{"a": 1}' \
        curl --noproxy '*' --max-time 10 -sS --json '{"a": 1}' "$BASE/echo"
    expect "a traversal attempt is refused" "403" \
        curl --noproxy '*' --max-time 10 -sS --path-as-is -o /dev/null -w '%{http_code}' "$BASE/../../etc/passwd"
else
    fail "curl is installed (Debian: curl; .ci/run installs it)"
fi
server_log_has "the server logs each request" SERVER '"POST /echo HTTP/1.1" 200'
stop_server SERVER INT

heading "http-basics: the Rust client against Python's http.server"
mkdir -p "$WORK/www"
printf 'served by Python\n' >"$WORK/www/py.txt"
start_server PYSERVER "$PY" "$PYDIR/http_file_server.py" 127.0.0.1 0 "$WORK/www" || { finish; exit 1; }
expect "GET from http.server (HTTP/1.0, one connection per request)" $'served by Python\nserved by Python' \
    "$HTTP" get "http://$PYSERVER_ADDR/py.txt" "http://$PYSERVER_ADDR/py.txt"
stop_server PYSERVER INT
STOPPED=$PYSERVER_ADDR

heading "http-basics: nobody listening"
# shellcheck disable=SC2016 # the backquotes are literal text in the hint
expect_match "connection refused says how to start the server" 1 \
    'Start it with `cargo run -p http-basics -- server`' \
    "$HTTP" get "http://$STOPPED/"

finish
