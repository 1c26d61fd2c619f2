#!/usr/bin/env bash
# Scenarios for resolver-dump (no server: one system call and its answer).
# Its JSON must agree with Python's socket.getaddrinfo, the book's tool.
# shellcheck source=scripts/lib.sh
source "$(dirname "$0")/../lib.sh"
RESOLVER=$BIN/resolver-dump

# same_as_python HOST SERVICE: our --json, flattened to one line, equals
# Python's answer for the same question.
same_as_python() {
    local ours theirs
    show "$RESOLVER" --json "$1" "$2"
    ours=$("$RESOLVER" --json "$1" "$2" | tr -d '\n ')
    theirs=$("$PY" "$PYDIR/resolver_getaddrinfo.py" "$1" "$2")
    say "$ours"
    if [ "$ours" = "$theirs" ]; then
        pass "getaddrinfo($1, $2) agrees with Python"
    else
        fail "getaddrinfo($1, $2) agrees with Python" "ours:   $ours" "python: $theirs"
    fi
}

heading "resolver-dump: a lookup, every field with its number and name"
expect_match "the table names AF_INET, SOCK_STREAM and IPPROTO_TCP" 0 \
    'AF_INET \(2\) +SOCK_STREAM \(1\) +IPPROTO_TCP \(6\) +127\.0\.0\.1 +25' "$RESOLVER" localhost smtp

heading "resolver-dump: a passive lookup (what a server binds to)"
expect_match "a NULL host with AI_PASSIVE gives the wildcard address" 0 \
    '0\.0\.0\.0 +25' "$RESOLVER" --passive --service smtp

heading "resolver-dump: the same answers as Python's socket.getaddrinfo"
same_as_python localhost http
same_as_python 127.0.0.1 53
same_as_python ::1 smtp

heading "resolver-dump: back from an address with getnameinfo"
expect "getnameinfo(127.0.0.1:25)" $'host:    localhost\nservice: smtp' "$RESOLVER" --reverse 127.0.0.1 25

heading "resolver-dump: a name that does not resolve"
expect_match "exit 1 with getaddrinfo's own message" 1 \
    'Name or service not known \(EAI_NONAME\)' "$RESOLVER" nosuch.invalid http

finish
