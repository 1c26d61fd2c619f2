#!/usr/bin/env python3
"""tcp_sixteen.py's client, from the book: send one 16-byte record, read
the 16-byte reply with a recvall loop, print it.

Usage: framing_sixteen_client.py HOST PORT
"""
import socket
import sys


def recvall(sock, length):
    data = b''
    while len(data) < length:
        more = sock.recv(length - len(data))
        if not more:
            raise EOFError('was expecting %d bytes but only received %d bytes before the socket closed'
                           % (length, len(data)))
        data += more
    return data


def main():
    sock = socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=10)
    sock.sendall(b'Hi there, server')
    reply = recvall(sock, 16)
    print('reply: %s' % reply.decode())
    sock.close()


if __name__ == '__main__':
    main()
