#!/usr/bin/env python3
"""Where bo1d's own 414/431 (problem+json) end and libmicrohttpd's HTML answers begin, and
what a connection costs in memory.

Usage: bench/http_edges.py <port> <bo1d-pid> [connections=1000]
against a running bo1d (any configuration; the numbers follow BO1_MAX_URI_BYTES and
BO1_MAX_HEADER_BYTES, which size MHD's per-connection memory pool). Prints, by binary
search, the largest request target, single header and number of small header lines that
still get an answer from bo1d rather than MHD's HTML, then the resident memory per
connection for N idle connections and for N kept-alive connections after one request.
The per-IP limit (BO1_MAX_CONNECTIONS_PER_IP, 1024 by default) must allow N.
"""
import socket
import sys
import time

PORT, PID = int(sys.argv[1]), int(sys.argv[2])
N = int(sys.argv[3]) if len(sys.argv) > 3 else 1000


def answer(data):
    """'ours' (a Content-Type was sent: bo1d answered), 'mhd' (no Content-Type: MHD's HTML)."""
    s = socket.create_connection(("127.0.0.1", PORT), timeout=5)
    try:
        s.sendall(data)
        buf = b""
        while b"\r\n\r\n" not in buf:
            c = s.recv(65536)
            if not c:
                break
            buf += c
        return "ours" if b"content-type:" in buf.split(b"\r\n\r\n")[0].lower() else "mhd"
    except OSError:
        return "mhd"
    finally:
        s.close()


def largest_ours(make, lo, hi):
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if answer(make(mid)) == "ours":
            lo = mid
        else:
            hi = mid - 1
    return lo


def get(path, extra=b""):
    return b"GET " + path + b" HTTP/1.1\r\nHost: x\r\n" + extra + b"\r\n"


def rss_kb():
    with open(f"/proc/{PID}/status") as f:
        for line in f:
            if line.startswith("VmRSS"):
                return int(line.split()[1])
    return 0


print("largest request target answered by bo1d:",
      largest_ours(lambda n: get(b"/health?" + b"a" * n), 1, 1 << 20) + 8, "bytes")
print("largest single header answered by bo1d:",
      largest_ours(lambda n: get(b"/health", b"X-A: " + b"a" * n + b"\r\n"), 1, 1 << 20), "bytes")
print("most small header lines answered by bo1d:",
      largest_ours(lambda k: get(b"/health", b"".join(b"X-%d: v\r\n" % i for i in range(k))),
                   1, 20000))
for mode in ("idle", "after one request"):
    base = rss_kb()
    socks = []
    for _ in range(N):
        s = socket.create_connection(("127.0.0.1", PORT))
        socks.append(s)
        if mode != "idle":
            s.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
    if mode != "idle":
        for s in socks:
            buf = b""
            while b"}" not in buf:
                buf += s.recv(65536)
    time.sleep(1.0)
    after = rss_kb()
    print(f"{N} connections {mode}: RSS {base} kB -> {after} kB, "
          f"{(after - base) / N:.1f} kB per connection")
    for s in socks:
        s.close()
    time.sleep(1.0)
