#!/usr/bin/env python3
"""Chaos: Redis is restarted three times (SIGTERM, down for 3 s, started again on the same port and
data directory with its AOF) while sessions deliberate.

Usage: tests/chaos/redis_restart.py <build-dir> [down-seconds=3]
bo1d must reconnect by itself, keep /health fast while Redis is down, refuse API calls
with 503 meanwhile, and every session must complete with its whole event log.
"""
import os
import sys
import time

sys.path.insert(0, os.path.dirname(__file__))
from chaoslib import Scenario, log, start_sessions  # noqa: E402

DOWN_S = float(sys.argv[2]) if len(sys.argv) > 2 else 3
RESTARTS = 3


def body(c, sc):
    sessions = []
    for i in range(RESTARTS):
        sessions += restart_once(c, sc, i)
    sessions += start_sessions(c, 2, tag="[fake:rounds=2] after")
    status = c.wait_terminal([s for s, _ in sessions], 180)
    log(f"statuses: {status}")
    for sid, st in status.items():
        sc.check(st == "completed", f"session {sid} ended {st} (a Redis restart should not fail it)")
    return sessions


def restart_once(c, sc, i):
    sessions = start_sessions(c, 6, tag=f"[fake:rounds=3] [fake:subproblems=2] batch {i}")
    time.sleep(1.0 + i * 0.37)
    rc = c.redis.stop()
    log(f"redis stopped (exit {rc}); down for {DOWN_S} s")
    t0 = time.monotonic()
    rd = c.api("GET", f"/api/v1/sessions/{sessions[0][0]}", timeout=15)
    sc.note(f"read while Redis is down: {rd.status} in {rd.elapsed * 1000:.0f} ms, "
            f"Retry-After {rd.headers.get('retry-after')}")
    sc.check(rd.status == 503 and rd.headers.get("retry-after"),
             f"read with Redis down: {rd.status} (want 503 with Retry-After)")
    h = c.api("GET", "/health")
    sc.check(h.status == 200 and h.elapsed < 0.5, f"/health with Redis down: {h.status}")
    time.sleep(max(0, DOWN_S - (time.monotonic() - t0)))
    c.redis.start()
    log(f"redis started again (pid {c.redis.pid})")
    t1 = time.monotonic()
    sc.check(c.wait_ready(30), "/ready did not come back after the Redis restart")
    sc.note(f"/ready again {time.monotonic() - t1:.1f} s after Redis restarted")
    return sessions


Scenario("redis_restart", timeout_s=int(DOWN_S) + 300).run({"fake_args": ["--latency-ms", "60"]},
                                                           body)
