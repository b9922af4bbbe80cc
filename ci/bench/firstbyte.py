#!/usr/bin/env python3
"""Time from connect() to a complete response, for one request on a new connection.

    firstbyte.py HOST PORT TOKEN   prints the milliseconds (3 decimals) and checks the reply
"""
import socket
import sys
import time


def main():
    host, port, token = sys.argv[1], int(sys.argv[2]), sys.argv[3]
    req = (
        "GET /v1/agent/host/info HTTP/1.1\r\nHost: bench\r\naccess_token: %s\r\n"
        "Connection: close\r\n\r\n" % token
    ).encode()
    t0 = time.perf_counter()
    s = socket.create_connection((host, port), timeout=30)
    s.sendall(req)
    data = b""
    while True:
        chunk = s.recv(65536)
        if not chunk:
            break
        data += chunk
    t1 = time.perf_counter()
    s.close()
    if not data.startswith(b"HTTP/1.1 200") or b'"code":200' not in data.replace(b" ", b""):
        sys.exit("unexpected reply: %r" % data[:200])
    print("%.3f" % ((t1 - t0) * 1000))


main()
