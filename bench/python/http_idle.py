#!/usr/bin/env python3
"""For make bench: hold C idle keep-alive HTTP connections to a server.

    http_idle.py HOST:PORT PATH CONNECTIONS HOLD_SECS

Each connection sends one `GET PATH HTTP/1.1` and reads the whole response
(Content-Length framing), so the server has really taken it on; then all
are held, idle, while the bench reads the server's RSS. Prints
`connected=N kept=K` once every connection has had its response (K: how
many are still open, i.e. the server kept them alive), then holds them for
HOLD_SECS and exits. Every socket has a 10 s timeout.
"""
import socket
import sys
import time


def response(sock):
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        if not chunk:
            raise ConnectionError("closed before the head ended")
        data += chunk
    head, body = data.split(b"\r\n\r\n", 1)
    length = 0
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value.strip())
    while len(body) < length:
        chunk = sock.recv(65536)
        if not chunk:
            raise ConnectionError("closed in the body")
        body += chunk


def still_open(sock):
    sock.setblocking(False)
    try:
        return sock.recv(1) != b""  # data would be odd, but the socket is open
    except BlockingIOError:
        return True
    except OSError:
        return False
    finally:
        sock.setblocking(True)


def main():
    addr, path, count, hold = sys.argv[1], sys.argv[2], int(sys.argv[3]), float(sys.argv[4])
    host, port = addr.rsplit(":", 1)
    socks = []
    for _ in range(count):
        sock = socket.create_connection((host, int(port)), timeout=10)
        sock.sendall(f"GET {path} HTTP/1.1\r\nHost: {addr}\r\n\r\n".encode())
        response(sock)
        socks.append(sock)
    time.sleep(0.2)  # let a server that closes after the response do so
    kept = sum(still_open(s) for s in socks)
    print(f"connected={len(socks)} kept={kept}", flush=True)
    time.sleep(hold)


if __name__ == "__main__":
    main()
