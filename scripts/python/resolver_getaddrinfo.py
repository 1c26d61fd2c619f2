#!/usr/bin/env python3
"""Python's socket.getaddrinfo, printed in resolver-dump's --json format,
so the scenario can diff the two.

Usage: resolver_getaddrinfo.py HOST SERVICE
"""
import json
import socket
import sys


def main():
    host, service = sys.argv[1], sys.argv[2]
    results = socket.getaddrinfo(host, service)
    print(json.dumps([
        {'family': family.name, 'socktype': socktype.name, 'protocol': protocol,
         'canonname': canonname or None, 'address': address[0], 'port': address[1]}
        for family, socktype, protocol, canonname, address in results
    ], separators=(',', ':')))


if __name__ == '__main__':
    main()
