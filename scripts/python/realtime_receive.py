#!/usr/bin/env python3
"""The udp-realtime stream, received in Python (stdlib only), written from
the wire format in DESIGN.md alone (see realtime_send.py). No playout
clock: it takes every datagram until 2 s pass without one, then says, for
every sequence number from the first to the newest, whether its frame
came, only a copy of it came, or nothing; and it checks every copy
against its own 8 kHz mu-law encoding of the frame, when that came too.

    python3 realtime_receive.py HOST PORT     (PORT 0: any free port)

The first line is `listening on HOST:PORT`; the last one
`datagrams=N frames=N primary=N redundant=N missing=N invalid=N copies=N mismatched=N`.
"""
import socket
import struct
import sys

from realtime_send import low_quality

FRAME = 320
HEADER = 13


def parse(data):
    """(sequence, [(distance, copy)], frame samples), or None if not ours."""
    if len(data) < HEADER + 2 * FRAME or data[:4] != b"SLRT":
        return None
    seq, _timestamp, k = struct.unpack(">IIB", data[4:HEADER])
    if k > 2:
        return None
    at, copies = HEADER, []
    for _ in range(k):
        if at + 3 > len(data):
            return None
        distance, length = struct.unpack(">BH", data[at:at + 3])
        if distance == 0 or length != 160:
            return None
        copies.append((distance, data[at + 3:at + 3 + length]))
        at += 3 + length
    if len(data) - at != 2 * FRAME:
        return None
    return seq, copies, list(struct.unpack("<%dh" % FRAME, data[at:]))


def main():
    host, port = sys.argv[1], int(sys.argv[2])
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind((host, port))
    print("listening on %s:%d" % sock.getsockname(), flush=True)
    frames, copies = {}, {}
    datagrams = invalid = 0
    sock.settimeout(None)  # wait for the stream as long as it takes
    while True:
        try:
            data = sock.recv(4096)
        except socket.timeout:
            break  # 2 s without a datagram: the stream is over
        sock.settimeout(2.0)
        datagrams += 1
        parsed = parse(data)
        if parsed is None:
            invalid += 1
            continue
        seq, carried, frame = parsed
        frames[seq] = frame
        for distance, copy in carried:
            copies.setdefault((seq - distance) & 0xFFFFFFFF, []).append(copy)
    first, newest = (min(frames), max(frames)) if frames else (0, -1)
    slots = range(first, newest + 1)
    primary = sum(1 for s in slots if s in frames)
    redundant = sum(1 for s in slots if s not in frames and s in copies)
    checked = mismatched = 0
    for seq, carried in copies.items():
        if seq in frames:
            for copy in carried:
                checked += 1
                mismatched += copy != low_quality(frames[seq])
    print("datagrams=%d frames=%d primary=%d redundant=%d missing=%d invalid=%d copies=%d mismatched=%d"
          % (datagrams, len(slots), primary, redundant, len(slots) - primary - redundant,
             invalid, checked, mismatched), flush=True)


if __name__ == "__main__":
    main()
