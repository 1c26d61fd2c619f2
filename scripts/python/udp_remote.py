#!/usr/bin/env python3
"""The book's udp_remote.py, adapted to take HOST PORT and to exit 0 on
SIGINT: a UDP server that answers every datagram with its length, and a
client with a connected socket and exponential backoff.

Usage: udp_remote.py server HOST PORT    (PORT 0 picks a free port)
       udp_remote.py client HOST PORT [MESSAGE]
"""
import signal
import socket
import sys

MAX_BYTES = 65535


def server(interface, port):
    signal.signal(signal.SIGINT, lambda *_: sys.exit(0))
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind((interface, port))
    print('listening on %s:%d' % sock.getsockname(), flush=True)
    while True:
        data, address = sock.recvfrom(MAX_BYTES)
        # (The book drops half the requests at random here; the Rust
        # server has --drop-rate for that, so this one answers them all.)
        text = 'Your data was {} bytes long'.format(len(data))
        sock.sendto(text.encode('ascii'), address)


def client(hostname, port, message):
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.connect((hostname, port))
    delay = 0.1  # seconds
    data = message.encode('ascii')
    while True:
        sock.send(data)
        sock.settimeout(delay)
        try:
            data = sock.recv(MAX_BYTES)
        except socket.timeout:
            delay *= 2  # wait even longer for the next request
            if delay > 2.0:
                raise RuntimeError('I think the server is down')
        else:
            break  # we are done, and can stop looping
    print(data.decode('ascii'))


if __name__ == '__main__':
    role, host, port = sys.argv[1], sys.argv[2], int(sys.argv[3])
    if role == 'server':
        server(host, port)
    else:
        client(host, port, sys.argv[4] if len(sys.argv) > 4 else 'This is another message')
