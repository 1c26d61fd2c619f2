#!/usr/bin/env python3
"""tcp_sixteen.py's server, from the book: read one 16-byte record, print
it, answer `Farewell, client`, close.

Usage: framing_sixteen_server.py HOST PORT   (PORT 0 picks a free port)
Prints `listening on ADDR` first; SIGINT exits 0.
"""
import signal
import socket
import sys


def recvall(sock, length):
    data = b''
    while len(data) < length:
        more = sock.recv(length - len(data))
        if not more:
            raise EOFError('socket closed after %d of %d bytes' % (len(data), length))
        data += more
    return data


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
            message = recvall(conn, 16)
            print('message: %s' % message.decode('utf-8', 'backslashreplace'), flush=True)
            conn.sendall(b'Farewell, client')
        except (OSError, EOFError) as e:
            print('%s:%d: %s' % (peer[0], peer[1], e), file=sys.stderr)
        finally:
            conn.close()


if __name__ == '__main__':
    main()
