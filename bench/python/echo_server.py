#!/usr/bin/env python3
"""Baseline for `make bench`: the book's language, the standard library's
thread-per-connection server (socketserver.ThreadingTCPServer).

    python3 echo_server.py [PORT]      # PORT 0 picks a free port
    listening on 127.0.0.1:PORT
"""
import socket
import socketserver
import sys


class EchoHandler(socketserver.BaseRequestHandler):
    def handle(self):
        sock = self.request
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        while True:
            data = sock.recv(65536)
            if not data:  # EOF: the client is done sending
                break
            sock.sendall(data)
        sock.shutdown(socket.SHUT_WR)


class Server(socketserver.ThreadingTCPServer):
    allow_reuse_address = True
    daemon_threads = True
    request_queue_size = 4096  # listen backlog: 1000 clients connect at once


def main():
    port = int(sys.argv[1]) if len(sys.argv) > 1 else 0
    with Server(("127.0.0.1", port), EchoHandler) as server:
        host, port = server.server_address
        print(f"listening on {host}:{port}", flush=True)
        try:
            server.serve_forever()
        except KeyboardInterrupt:
            pass


if __name__ == "__main__":
    main()
