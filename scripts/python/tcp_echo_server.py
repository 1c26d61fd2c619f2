#!/usr/bin/env python3
"""A foreign peer for the tcp-echo lesson: the book's one-client-at-a-time
server, echoing every byte until the client half-closes.

Usage: tcp_echo_server.py HOST PORT   (PORT 0 picks a free port)
Prints `listening on ADDR` first, like the Rust servers; SIGINT exits 0.
"""
import signal
import socket
import sys


def main():
    signal.signal(signal.SIGINT, lambda *_: sys.exit(0))
    host, port = sys.argv[1], int(sys.argv[2])
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.listen(128)
    print('listening on %s:%d' % sock.getsockname(), flush=True)
    while True:
        conn, peer = sock.accept()
        conn.settimeout(30)
        try:
            while True:
                data = conn.recv(65536)
                if not data:
                    break
                conn.sendall(data)
            conn.shutdown(socket.SHUT_WR)
        except OSError as e:
            print('%s:%d: %s' % (peer[0], peer[1], e), file=sys.stderr)
        finally:
            conn.close()


if __name__ == '__main__':
    main()
