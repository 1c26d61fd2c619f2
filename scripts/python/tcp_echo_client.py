#!/usr/bin/env python3
"""A foreign peer for the tcp-echo lesson, written the book's way.

Usage: tcp_echo_client.py HOST PORT MESSAGE...
Sends each message with sendall(), reads back exactly that many bytes with a
recvall() loop, prints each echo on its own line, then half-closes and waits
for the server's EOF.
"""
import socket
import sys


def recvall(sock, length):
    data = b''
    while len(data) < length:
        more = sock.recv(length - len(data))
        if not more:
            raise EOFError('server closed after %d of %d bytes' % (len(data), length))
        data += more
    return data


def main():
    host, port, messages = sys.argv[1], int(sys.argv[2]), sys.argv[3:]
    sock = socket.create_connection((host, port), timeout=10)
    for message in messages:
        data = message.encode()
        sock.sendall(data)
        print(recvall(sock, len(data)).decode())
    sock.shutdown(socket.SHUT_WR)
    if sock.recv(1) != b'':
        sys.exit('server sent more than it was sent')
    sock.close()


if __name__ == '__main__':
    main()
