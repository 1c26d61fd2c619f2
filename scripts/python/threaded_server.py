#!/usr/bin/env python3
"""A foreign peer for the tcp-threaded lesson: the standard library's
ThreadingTCPServer answering each line with the same line, a thread per
client, as the book's server chapter does.

Usage: threaded_server.py HOST PORT   (PORT 0 picks a free port)
Prints `listening on ADDR` first; SIGINT exits 0.
"""
import signal
import socketserver
import sys


class LineEcho(socketserver.StreamRequestHandler):
    timeout = 30  # an idle client cannot hold its thread forever

    def handle(self):
        for line in self.rfile:
            if not line.endswith(b'\n'):
                break  # EOF in the middle of a line: not a request
            self.wfile.write(line)


class Server(socketserver.ThreadingTCPServer):
    allow_reuse_address = True
    daemon_threads = True


def main():
    signal.signal(signal.SIGINT, lambda *_: sys.exit(0))
    with Server((sys.argv[1], int(sys.argv[2])), LineEcho) as server:
        print('listening on %s:%d' % server.server_address, flush=True)
        server.serve_forever()


if __name__ == '__main__':
    main()
