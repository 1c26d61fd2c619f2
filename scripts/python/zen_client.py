#!/usr/bin/env python3
"""The book's chapter 7 client.py (Foundations of Python Network
Programming, 3rd ed.), with the zen_utils pieces it uses inlined: ask the
three aphorisms in a random order, print each with its answer, close.
A foreign peer for the event-loop lesson; the only change from the book
is a socket timeout, so a test can never hang on it.

Usage: zen_client.py HOST [-p PORT] [-e]
"""
import argparse
import random
import socket

aphorisms = {b'Beautiful is better than?': b'Ugly.',
             b'Explicit is better than?': b'Implicit.',
             b'Simple is better than?': b'Complex.'}


def recv_until(sock, suffix):
    """Receive bytes over socket `sock` until we receive the `suffix`."""
    message = sock.recv(4096)
    if not message:
        raise EOFError('socket closed')
    while not message.endswith(suffix):
        data = sock.recv(4096)
        if not data:
            raise IOError('received {!r} then socket closed'.format(message))
        message += data
    return message


def client(address, cause_error=False):
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.settimeout(10)
    sock.connect(address)
    questions = list(aphorisms)
    if cause_error:
        sock.sendall(questions[0][:-1])
        return
    for aphorism in random.sample(questions, 3):
        sock.sendall(aphorism)
        print(aphorism, recv_until(sock, b'.'))
    sock.close()


if __name__ == '__main__':
    parser = argparse.ArgumentParser(description='Example client')
    parser.add_argument('host', help='IP or hostname')
    parser.add_argument('-e', action='store_true', help='cause an error')
    parser.add_argument('-p', metavar='port', type=int, default=1060,
                        help='TCP port (default 1060)')
    args = parser.parse_args()
    client((args.host, args.p), args.e)
