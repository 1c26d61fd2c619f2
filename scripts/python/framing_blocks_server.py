#!/usr/bin/env python3
"""blocks.py's server, from the book: receive length-prefixed blocks until
a zero-length block, printing each as `message: TEXT` like the Rust server.

Usage: framing_blocks_server.py HOST PORT   (PORT 0 picks a free port)
Prints `listening on ADDR` first; SIGINT exits 0.
"""
import signal
import socket
import struct
import sys

header_struct = struct.Struct('!I')


def recvall(sock, length):
    blocks = []
    while length:
        block = sock.recv(length)
        if not block:
            raise EOFError('socket closed with %d bytes left in this block' % length)
        length -= len(block)
        blocks.append(block)
    return b''.join(blocks)


def get_block(sock):
    data = recvall(sock, header_struct.size)
    (block_length,) = header_struct.unpack(data)
    if block_length > 1024 * 1024:
        raise ValueError('block length %d is over the limit' % block_length)
    return recvall(sock, block_length)


def main():
    signal.signal(signal.SIGINT, lambda *_: sys.exit(0))
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((sys.argv[1], int(sys.argv[2])))
    sock.listen(1)
    print('listening on %s:%d' % sock.getsockname(), flush=True)
    while True:
        conn, peer = sock.accept()
        conn.settimeout(30)
        try:
            while True:
                block = get_block(conn)
                if not block:
                    break
                print('message: %s' % block.decode('utf-8', 'backslashreplace'), flush=True)
            conn.shutdown(socket.SHUT_WR)
        except (OSError, EOFError, ValueError) as e:
            print('%s:%d: %s' % (peer[0], peer[1], e), file=sys.stderr)
        finally:
            conn.close()


if __name__ == '__main__':
    main()
