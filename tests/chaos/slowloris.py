#!/usr/bin/env python3
"""Chaos: a client opens 500 connections and sends nothing (plus 100 that trickle one
header byte every 5 s, the classic slowloris).

Usage: tests/chaos/slowloris.py <build-dir> [silent=500] [trickle=100]
bo1d runs with its defaults (BO1_CONN_TIMEOUT_S=30, 1024 connections per IP). While the
connections are held: /health must stay fast and sessions must run to completion. The
silent connections must be closed by the server within its timeout (+10 s).
The trickling ones must be cut by the request deadline (BO1_REQUEST_TIMEOUT_S, set to 20 s
here): an idle timeout alone never cuts a client that keeps sending.
"""
import os
import socket
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(__file__))
from chaoslib import Scenario, health_latency, log, start_sessions  # noqa: E402

SILENT = int(sys.argv[2]) if len(sys.argv) > 2 else 500
TRICKLE = int(sys.argv[3]) if len(sys.argv) > 3 else 100
CONN_TIMEOUT_S = 30
REQUEST_TIMEOUT_S = 20


def closed_by_peer(s):
    s.setblocking(False)
    try:
        return s.recv(1) == b""
    except BlockingIOError:
        return False
    except OSError:
        return True


def body(c, sc):
    silent, trickle = [], []
    for _ in range(SILENT):
        silent.append(socket.create_connection(("127.0.0.1", c.port), timeout=5))
    for _ in range(TRICKLE):
        s = socket.create_connection(("127.0.0.1", c.port), timeout=5)
        s.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\nX-Slow: ")
        trickle.append(s)
    t_open = time.monotonic()
    log(f"holding {len(silent)} silent and {len(trickle)} trickling connections")
    stop = threading.Event()

    def drip():
        while not stop.wait(5):
            for s in trickle:
                try:
                    s.sendall(b"a")
                except OSError:
                    pass

    dt = threading.Thread(target=drip, daemon=True)
    dt.start()
    try:
        during = health_latency(c.port)
        sc.note(f"/health while held: median {during['median_ms']:.2f} ms, "
                f"max {during['max_ms']:.2f} ms, {during['fails']} failed")
        sc.check(during["fails"] == 0 and during["max_ms"] < 1000,
                 "/health failed or was slow while the connections were held")
        sessions = start_sessions(c, 3, tag="[fake:rounds=2]")
        status = c.wait_terminal([s for s, _ in sessions], 120)
        sc.check(all(v == "completed" for v in status.values()),
                 f"sessions did not complete while the connections were held: {status}")
        time.sleep(max(0, CONN_TIMEOUT_S + 10 - (time.monotonic() - t_open)))
        n_silent = sum(closed_by_peer(s) for s in silent)
        n_trickle = sum(closed_by_peer(s) for s in trickle)
        sc.note(f"after {time.monotonic() - t_open:.0f} s: server closed {n_silent}/{len(silent)} "
                f"silent and {n_trickle}/{len(trickle)} trickling connections")
        sc.check(n_silent == len(silent), f"{len(silent) - n_silent} silent connections still "
                 f"open after {CONN_TIMEOUT_S + 10} s")
        sc.check(n_trickle == len(trickle), f"{len(trickle) - n_trickle} trickling connections "
                 f"still open after {CONN_TIMEOUT_S + 10} s (request deadline {REQUEST_TIMEOUT_S} s)")
    finally:
        stop.set()
        for s in silent + trickle:
            s.close()
    return sessions


Scenario("slowloris", timeout_s=400).run(
    {"fake_args": ["--latency-ms", "100"],
     "bo1d_env": {"BO1_REQUEST_TIMEOUT_S": str(REQUEST_TIMEOUT_S)}}, body)
