#!/usr/bin/env python3
"""A foreign peer for the http-basics lesson: the article's Python, urllib.

Usage: http_urllib_client.py BASE_URL
GETs BASE_URL/hello.txt and prints the status and body, then POSTs a form
to BASE_URL/echo and prints what the server echoed. Proxies from the
environment are ignored: the requests go to the server named.
"""
import sys
import urllib.parse
import urllib.request


def main():
    base = sys.argv[1]
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    with opener.open(base + '/hello.txt', timeout=10) as response:
        print(response.status, response.reason)
        print(response.read().decode(), end='')
    form = urllib.parse.urlencode({'name': 'Guido', 'lang': 'Python'}).encode()
    with opener.open(base + '/echo', data=form, timeout=10) as response:
        print(response.read().decode(), end='')


if __name__ == '__main__':
    main()
