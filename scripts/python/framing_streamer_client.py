#!/usr/bin/env python3
"""streamer.py's client, from the book: the whole stream is one message.
It shuts down reading, sends, and closes; the close marks the end.

Usage: framing_streamer_client.py HOST PORT
"""
import socket
import sys


def main():
    sock = socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=10)
    sock.shutdown(socket.SHUT_RD)
    sock.sendall(b'Beautiful is better than ugly.\n')
    sock.sendall(b'Explicit is better than implicit.\n')
    sock.sendall(b'Simple is better than complex.\n')
    sock.close()


if __name__ == '__main__':
    main()
