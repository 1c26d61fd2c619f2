#!/usr/bin/env python3
"""blocks.py's client, from the book: each message as a block with a
4-byte big-endian length prefix (struct '!I'), then a zero-length block.

Usage: framing_blocks_client.py HOST PORT [MESSAGE...]
With no messages it sends the book's three lines of the Zen of Python.
"""
import socket
import struct
import sys

header_struct = struct.Struct('!I')  # messages up to 2**32 - 1 in length


def put_block(sock, message):
    block_length = len(message)
    sock.send(header_struct.pack(block_length))
    sock.send(message)


def main():
    host, port = sys.argv[1], int(sys.argv[2])
    messages = [m.encode() for m in sys.argv[3:]] or [
        b'Beautiful is better than ugly.',
        b'Explicit is better than implicit.',
        b'Simple is better than complex.',
    ]
    sock = socket.create_connection((host, port), timeout=10)
    sock.shutdown(socket.SHUT_RD)  # as in the book: this client never reads
    for message in messages:
        put_block(sock, message)
    put_block(sock, b'')
    sock.close()


if __name__ == '__main__':
    main()
