#!/usr/bin/env python3
"""Send one UDP datagram with a forged source address, to show why a UDP
server must not answer everything (udp-datagrams' README, "Loop DoS").

Usage: forge_udp.py FROM_HOST:PORT TO_HOST:PORT [MESSAGE]    (root: raw socket)

IPv4 only, and only between loopback addresses: it builds the IP and UDP
headers by hand on a raw socket (IPPROTO_RAW implies IP_HDRINCL), so the
receiver sees the datagram as sent by FROM, which never sent anything.
"""
import ipaddress
import socket
import struct
import sys


def endpoint(text):
    host, _, port = text.rpartition(':')
    address = ipaddress.IPv4Address(host)
    if not address.is_loopback:
        sys.exit('forge_udp.py: %s is not a loopback address; this tool stays on loopback' % host)
    return str(address), int(port)


def main(args):
    if len(args) not in (2, 3):
        sys.exit(__doc__.strip().splitlines()[2])
    (src, sport), (dst, dport) = endpoint(args[0]), endpoint(args[1])
    payload = (args[2] if len(args) == 3 else 'hello').encode()
    udp = struct.pack('!HHHH', sport, dport, 8 + len(payload), 0) + payload  # checksum 0: none
    # Version 4, 20-byte header, total length, DF, TTL 64, UDP; the kernel
    # fills in the IP checksum (and the id, left 0).
    ip = struct.pack('!BBHHHBBH4s4s', 0x45, 0, 20 + len(udp), 0, 0x4000, 64,
                     socket.IPPROTO_UDP, 0, socket.inet_aton(src), socket.inet_aton(dst))
    with socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_RAW) as raw:
        raw.sendto(ip + udp, (dst, 0))
    print('sent %d bytes to %s:%d as if from %s:%d' % (len(payload), dst, dport, src, sport))


if __name__ == '__main__':
    main(sys.argv[1:])
