#!/usr/bin/env python3
"""Helpers for tests/nginx/run.sh (standard library only).

  sse_probe.py dribble PORT GAP_S
      A tiny event-stream upstream on 127.0.0.1:PORT: every request gets the headers
      and one event at once, a second event GAP_S seconds later, then the connection
      closes. It stands in for a slow event source so that buffering shows up.

  sse_probe.py first PORT PATH [HEADER: VALUE]...
      Connects to 127.0.0.1:PORT, asks for PATH with Accept: text/event-stream and
      prints "<seconds to the first complete event> <response head>" (head flattened
      to one line); exits 1 when no event arrives within 10 s.

  sse_probe.py live PORT PATH READY_FILE
      Connects like "first", reads whatever arrives in the first 0.5 s (the replay of
      events already logged), then creates READY_FILE and waits for the next complete
      event: prints "<wall-clock time of its arrival> <event type>"; exits 1 when none
      arrives within 15 s.
"""
import socket
import sys
import threading
import time


def dribble(port, gap):
    srv = socket.socket()
    srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    srv.bind(("127.0.0.1", port))
    srv.listen(64)

    def serve(conn):
        try:
            conn.settimeout(10)
            data = b""
            while b"\r\n\r\n" not in data:
                chunk = conn.recv(4096)
                if not chunk:
                    return
                data += chunk
            conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n"
                         b"Cache-Control: no-cache\r\nConnection: close\r\n\r\n"
                         b"id: 1\nevent: first\ndata: {\"n\":1}\n\n")
            time.sleep(gap)
            conn.sendall(b"id: 2\nevent: second\ndata: {\"n\":2}\n\n")
        except OSError:
            pass
        finally:
            conn.close()

    while True:
        conn, _ = srv.accept()
        threading.Thread(target=serve, args=(conn,), daemon=True).start()


def first(port, path, headers):
    t0 = time.monotonic()
    s = socket.create_connection(("127.0.0.1", port), timeout=10)
    req = "GET %s HTTP/1.1\r\nHost: localhost\r\nAccept: text/event-stream\r\n" % path
    req += "Accept-Encoding: gzip\r\n"
    for h in headers:
        req += h + "\r\n"
    req += "Connection: close\r\n\r\n"
    s.sendall(req.encode())
    buf = b""
    deadline = t0 + 10
    while time.monotonic() < deadline:
        try:
            chunk = s.recv(4096)
        except socket.timeout:
            break
        if not chunk:
            break
        buf += chunk
        head, sep, body = buf.partition(b"\r\n\r\n")
        if sep and b"data:" in body:
            # A chunked body still shows the event text between chunk sizes.
            lines = [ln for ln in body.split(b"\n") if ln.startswith(b"data:")]
            if lines and b"\n\n" in body.replace(b"\r\n", b"\n"):
                dt = time.monotonic() - t0
                print("%.3f %s" % (dt, head.decode("latin-1").replace("\r\n", " | ")))
                return 0
    print("none %s" % buf[:300].decode("latin-1").replace("\r\n", " | "))
    return 1


def live(port, path, ready):
    s = socket.create_connection(("127.0.0.1", port), timeout=15)
    s.sendall(("GET %s HTTP/1.1\r\nHost: localhost\r\nAccept: text/event-stream\r\n"
               "Connection: close\r\n\r\n" % path).encode())
    s.settimeout(0.1)
    settle = time.monotonic() + 0.5
    buf = b""
    while time.monotonic() < settle:
        try:
            chunk = s.recv(65536)
        except socket.timeout:
            continue
        if not chunk:
            print("none closed during replay")
            return 1
        buf += chunk
    if b"\r\n\r\n" not in buf:
        print("none no response head")
        return 1
    open(ready, "w").close()
    s.settimeout(15)
    pending = b""
    while True:
        try:
            chunk = s.recv(65536)
        except socket.timeout:
            break
        if not chunk:
            break
        t = time.time()
        pending += chunk.replace(b"\r\n", b"\n")
        for block in pending.split(b"\n\n")[:-1]:
            lines = block.split(b"\n")
            if any(ln.startswith(b"data:") for ln in lines):
                ev = [ln[6:].strip() for ln in lines if ln.startswith(b"event:")]
                print("%.6f %s" % (t, (ev[0] if ev else b"message").decode("latin-1")))
                return 0
    print("none no live event")
    return 1


if __name__ == "__main__":
    if sys.argv[1] == "dribble":
        dribble(int(sys.argv[2]), float(sys.argv[3]))
    elif sys.argv[1] == "first":
        sys.exit(first(int(sys.argv[2]), sys.argv[3], sys.argv[4:]))
    elif sys.argv[1] == "live":
        sys.exit(live(int(sys.argv[2]), sys.argv[3], sys.argv[4]))
    else:
        sys.exit(2)
