#!/usr/bin/env python3
"""Chaos: bo1d is killed with SIGKILL in the middle of a round, then started again.

Usage: tests/chaos/bo1d_kill.py <build-dir> [kills=2]
Sessions deliberate with the fake at 300 ms per call; as soon as one of them has started
round 2, bo1d gets SIGKILL (no checkpoint, no hand-back) and is started again on the same
port. The new process must claim the orphaned sessions once their leases (10 s) lapse and
resume them from the last checkpoint; every session must complete with its whole event
log (events repeated after the resume are allowed, lost ones are not), and the SSE
followers reconnect with Last-Event-ID and reach the terminal event. Finally bo1d gets
SIGTERM mid-round with SSE streams open: it must exit 0 within 10 s (ending the streams
and handing the sessions back), and the restarted process finishes those sessions.
"""
import os
import signal
import sys
import time

sys.path.insert(0, os.path.dirname(__file__))
from chaoslib import Scenario, log, start_sessions  # noqa: E402

KILLS = int(sys.argv[2]) if len(sys.argv) > 2 else 2


def wait_mid_round(c, ids, within_s=30):
    deadline = time.monotonic() + within_s
    while time.monotonic() < deadline:
        for sid in ids:
            evs = c.events(sid)
            if any(e["type"] == "round.started" and e["data"].get("round") == 2 for e in evs):
                return sid
        time.sleep(0.1)
    return None


def body(c, sc):
    sessions = []
    for k in range(KILLS):
        batch = start_sessions(c, 4, tag=f"[fake:rounds=3] batch {k}")
        sessions += batch
        sid = wait_mid_round(c, [s for s, _ in batch])
        sc.check(sid is not None, "no session reached round 2")
        c.bo1d.send(signal.SIGKILL)
        c.bo1d.p.wait(5)
        log(f"bo1d killed with SIGKILL while {sid} was in round 2")
        t0 = time.monotonic()
        c.bo1d.start()
        sc.check(c.wait_ready(20), "bo1d not ready after the restart")
        log(f"bo1d started again (pid {c.bo1d.pid}) in {time.monotonic() - t0:.1f} s")
    # Then a graceful stop mid-round, with SSE streams open: bo1d must end the streams,
    # hand the sessions back and exit 0 well within its 30 s grace period.
    batch = start_sessions(c, 3, tag="[fake:rounds=3] graceful")
    sessions += batch
    sid = wait_mid_round(c, [s for s, _ in batch])
    t0 = time.monotonic()
    rc = c.bo1d.stop(signal.SIGTERM, wait_s=40)
    took = time.monotonic() - t0
    sc.note(f"SIGTERM while {sid} was in round 2 with {len(c.followers)} SSE followers: "
            f"exit {rc} after {took:.1f} s")
    sc.check(rc == 0 and took < 10, f"SIGTERM mid-round: exit {rc} after {took:.1f} s "
             "(want 0 within 10 s)")
    c.bo1d.start()
    sc.check(c.wait_ready(20), "bo1d not ready after the graceful restart")
    status = c.wait_terminal([s for s, _ in sessions], 240)
    log(f"statuses: {status}")
    for sid, st in status.items():
        sc.check(st == "completed", f"session {sid} ended {st} (a crash should not fail it)")
    with open(c.bo1d.log_path, errors="replace") as f:
        text = f.read()
    sc.note(f"resumed by the new process: {text.count('session started')} session starts logged "
            f"for {len(sessions)} sessions")
    return sessions


Scenario("bo1d_kill", timeout_s=KILLS * 60 + 300).run({"fake_args": ["--latency-ms", "300"]}, body)
