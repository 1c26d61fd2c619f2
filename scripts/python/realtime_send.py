#!/usr/bin/env python3
"""The udp-realtime stream, sent from Python (stdlib only), written from
the wire format in DESIGN.md alone: a 20 ms frame of 16 kHz 16-bit mono
PCM every 20 ms, each datagram

    b"SLRT" | u32 sequence | u32 media timestamp (samples) | u8 K |
    K x (u8 distance, u16 length 160, 160 bytes of 8 kHz mu-law) |
    640 bytes of PCM, little-endian

(integers big-endian). The copies: each pair of samples averaged,
(a + b) >> 1, then G.711 mu-law.

    python3 realtime_send.py HOST PORT [--seconds S] [--redundancy K] [--drop N]

--drop N skips every Nth datagram (from the third), to show the copies at
work on loopback, which loses nothing.
"""
import argparse
import math
import socket
import struct
import time

RATE = 16000
FRAME = 320  # samples: 20 ms


def mulaw(sample):
    """G.711 mu-law: bias 132, clip 32635, 3-bit exponent, 4-bit mantissa, inverted."""
    sign = 0x80 if sample < 0 else 0
    magnitude = min(abs(sample), 32635) + 132
    exponent = magnitude.bit_length() - 1 - 7
    mantissa = (magnitude >> (exponent + 3)) & 0x0F
    return ~(sign | exponent << 4 | mantissa) & 0xFF


def low_quality(frame):
    """8 kHz mu-law: 160 bytes for a 20 ms frame."""
    return bytes(mulaw((frame[i] + frame[i + 1]) >> 1) for i in range(0, FRAME, 2))


def frame_of(index):
    """A scale, C D E F G, a note every half second, softly."""
    hz = [262, 294, 330, 349, 392][index // 25 % 5]
    first = index * FRAME
    return [int(7000 * math.sin(2 * math.pi * hz * (first + n) / RATE)) for n in range(FRAME)]


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("host")
    parser.add_argument("port", type=int)
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--redundancy", type=int, default=1, choices=[0, 1, 2])
    parser.add_argument("--drop", type=int, default=0)
    args = parser.parse_args()

    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.connect((args.host, args.port))
    frames = math.ceil(args.seconds * RATE / FRAME)
    history = []  # copies of the previous frames, newest first
    start = time.monotonic()
    sent = 0
    for seq in range(frames):
        frame = frame_of(seq)
        datagram = struct.pack(">4sIIB", b"SLRT", seq, seq * FRAME & 0xFFFFFFFF, len(history))
        for distance, copy in enumerate(history, start=1):
            datagram += struct.pack(">BH", distance, len(copy)) + copy
        datagram += struct.pack("<%dh" % FRAME, *frame)
        # Absolute deadlines: frame N leaves at start + N x 20 ms.
        time.sleep(max(0.0, start + seq * 0.02 - time.monotonic()))
        if not (args.drop and seq % args.drop == 2):
            sock.send(datagram)
            sent += 1
        history = ([low_quality(frame)] + history)[: args.redundancy]
    print("sent %d of %d frames" % (sent, frames), flush=True)


if __name__ == "__main__":
    main()
