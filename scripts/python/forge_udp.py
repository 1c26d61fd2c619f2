#!/usr/bin/env python3
"""Send UDP datagrams with a forged source address, to show why a UDP
server must not answer everything (udp-datagrams' README, "Loop DoS").

Usage: forge_udp.py FROM_HOST:PORT TO_HOST:PORT [MESSAGE] [--count N]
       (root: a raw socket; IPv4; TO must be a loopback address)

It builds the IP and UDP headers by hand on a raw socket (IPPROTO_RAW
implies IP_HDRINCL), so the receiver sees each datagram as sent by FROM,
which never sent anything. With --count N it sends N datagrams, from
FROM's port, the next port, and so on (a flood of forged senders).
"""
import ipaddress
import socket
import struct
import sys


def endpoint(text, loopback):
    host, _, port = text.rpartition(':')
    address = ipaddress.IPv4Address(host)
    if loopback and not address.is_loopback:
        sys.exit('forge_udp.py: %s is not a loopback address; this tool only sends to loopback'
                 % host)
    return str(address), int(port)


def datagram(src, sport, dst, dport, payload):
    udp = struct.pack('!HHHH', sport, dport, 8 + len(payload), 0) + payload  # checksum 0: none
    # Version 4, 20-byte header, total length, DF, TTL 64, UDP; the kernel
    # fills in the IP checksum (and the id, left 0).
    ip = struct.pack('!BBHHHBBH4s4s', 0x45, 0, 20 + len(udp), 0, 0x4000, 64,
                     socket.IPPROTO_UDP, 0, socket.inet_aton(src), socket.inet_aton(dst))
    return ip + udp


def main(args):
    count = 1
    if '--count' in args:
        at = args.index('--count')
        count = int(args[at + 1])
        del args[at:at + 2]
    if len(args) not in (2, 3) or not 1 <= count <= 65536:
        sys.exit(__doc__.strip().splitlines()[2])
    (src, sport), (dst, dport) = endpoint(args[0], False), endpoint(args[1], True)
    payload = (args[2] if len(args) == 3 else 'hello').encode()
    with socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_RAW) as raw:
        for n in range(count):
            raw.sendto(datagram(src, (sport + n) % 65536, dst, dport, payload), (dst, 0))
    if count == 1:
        print('sent %d bytes to %s:%d as if from %s:%d' % (len(payload), dst, dport, src, sport))
    else:
        print('sent %d datagrams of %d bytes to %s:%d as if from %s, ports %d to %d'
              % (count, len(payload), dst, dport, src, sport, (sport + count - 1) % 65536))


if __name__ == '__main__':
    main(sys.argv[1:])
