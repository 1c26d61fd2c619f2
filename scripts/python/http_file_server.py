#!/usr/bin/env python3
"""A foreign server for the http-basics lesson: Python's own http.server.

Usage: http_file_server.py HOST PORT DIRECTORY
Serves DIRECTORY with http.server's SimpleHTTPRequestHandler (HTTP/1.0, a
thread per connection, as `python3 -m http.server` does), after printing
`listening on ADDR` like the lesson servers, so the pairing scripts can
start it the same way.
"""
import functools
import http.server
import signal
import sys


def main():
    host, port, directory = sys.argv[1], int(sys.argv[2]), sys.argv[3]
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=directory)
    server = http.server.ThreadingHTTPServer((host, port), handler)
    # A background job of a script starts with SIGINT ignored: install a
    # handler, or the pairing script's `kill -INT` would do nothing.
    signal.signal(signal.SIGINT, lambda *_: sys.exit(0))
    print('listening on %s:%d' % server.server_address[:2], flush=True)
    server.serve_forever()


if __name__ == '__main__':
    main()
