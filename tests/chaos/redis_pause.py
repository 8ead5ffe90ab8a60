#!/usr/bin/env python3
"""Chaos: Redis is frozen (SIGSTOP) for 10 s mid-deliberation, then resumed (SIGCONT).

Usage: tests/chaos/redis_pause.py <build-dir> [pause-seconds=10]
While Redis is frozen: /health must keep answering fast (it checks no dependency), /ready
must say 503, and a create must be refused promptly (503 with Retry-After), not hang.
Afterwards every session must complete with its whole event log.
"""
import os
import signal
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(__file__))
from chaoslib import Scenario, log, request, start_sessions  # noqa: E402

PAUSE_S = int(sys.argv[2]) if len(sys.argv) > 2 else 10


def body(c, sc):
    sessions = start_sessions(c, 4, tag="[fake:rounds=3]")
    time.sleep(1.5)
    health = []
    stop = threading.Event()

    def probe():
        while not stop.is_set():
            health.append(request(c.port, "GET", "/health", timeout=5))
            time.sleep(0.1)

    t = threading.Thread(target=probe, daemon=True)
    t.start()
    log(f"SIGSTOP redis (pid {c.redis.pid}) for {PAUSE_S} s")
    c.redis.send(signal.SIGSTOP)
    t0 = time.monotonic()
    try:
        time.sleep(min(3, PAUSE_S / 2))
        ready = c.api("GET", "/ready", timeout=10)
        sc.note(f"/ready while Redis is frozen: {ready.status} in {ready.elapsed * 1000:.0f} ms")
        sc.check(ready.status == 503, f"/ready said {ready.status} with Redis frozen")
        cr = c.api("POST", "/api/v1/sessions", {"problem": {"statement": "Should we hire a second support engineer this quarter?"}}, timeout=15)
        sc.note(f"create while Redis is frozen: {cr.status} in {cr.elapsed * 1000:.0f} ms, "
                f"Retry-After {cr.headers.get('retry-after')}")
        sc.check(cr.status == 503 and cr.headers.get("retry-after"),
                 f"create with Redis frozen: {cr.status} (want 503 with Retry-After)")
        sc.check(cr.elapsed < 5, f"create with Redis frozen took {cr.elapsed:.1f} s")
        rd = c.api("GET", f"/api/v1/sessions/{sessions[0][0]}", timeout=15)
        sc.note(f"read while Redis is frozen: {rd.status} in {rd.elapsed * 1000:.0f} ms")
        sc.check(rd.status == 503 and rd.elapsed < 5,
                 f"read with Redis frozen: {rd.status} in {rd.elapsed:.1f} s (want a prompt 503)")
        time.sleep(max(0, PAUSE_S - (time.monotonic() - t0)))
    finally:
        c.redis.send(signal.SIGCONT)
    log("SIGCONT redis")
    time.sleep(2)
    stop.set()
    t.join()
    bad = [h for h in health if h.status != 200]
    worst = max(h.elapsed for h in health) * 1000
    sc.note(f"/health during the freeze: {len(health)} probes, {len(bad)} failed, "
            f"slowest {worst:.1f} ms")
    sc.check(not bad and worst < 500, "/health suffered while Redis was frozen")
    sc.check(c.wait_ready(30), "/ready did not come back after Redis resumed")
    sessions += start_sessions(c, 2, tag="[fake:rounds=2] after")
    status = c.wait_terminal([s for s, _ in sessions], 180)
    log(f"statuses: {status}")
    for sid, st in status.items():
        sc.check(st == "completed", f"session {sid} ended {st} (a Redis pause should not fail it)")
    return sessions


Scenario("redis_pause", timeout_s=PAUSE_S + 300).run({"fake_args": ["--latency-ms", "200"]}, body)
