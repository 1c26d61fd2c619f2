#!/usr/bin/env python3
"""A foreign peer for the tcp-threaded lesson: sends each argument as a
line, reads back one line per request with a buffered file object (the
book's makefile() idiom), and prints the replies.

Usage: threaded_client.py HOST PORT LINE...
"""
import socket
import sys


def main():
    host, port, lines = sys.argv[1], int(sys.argv[2]), sys.argv[3:]
    sock = socket.create_connection((host, port), timeout=10)
    replies = sock.makefile('rb')
    for line in lines:
        request = line.encode() + b'\n'
        sock.sendall(request)
        reply = replies.readline()
        if reply != request:
            sys.exit('expected %r, got %r' % (request, reply))
        print(reply.decode().rstrip('\n'))
    sock.close()


if __name__ == '__main__':
    main()
