#!/usr/bin/env python3
"""Chaos: the provider stops answering (connections held open past bo1d's timeout).

Usage: tests/chaos/provider_hang.py <build-dir> [hang-seconds=20]
bo1d runs with BO1_LLM_TIMEOUT_MS=2000; for the hang window every model call is held for
30 s by the fake (then half of them, for as long again), after which the provider answers
normally. Each session must complete, or fail with a clear error; no call may outlive two
timeouts (its own and the breaker probe's it may wait for; checked in the ledger); sessions created once the
circuit breaker's cool-down has passed must complete.
"""
import os
import sys
import time

sys.path.insert(0, os.path.dirname(__file__))
from chaoslib import Scenario, fake_statuses, log, start_sessions  # noqa: E402

HANG_S = int(sys.argv[2]) if len(sys.argv) > 2 else 20
TIMEOUT_MS = 2000
BREAKER_COOLDOWN_S = 30


def body(c, sc):
    sessions = start_sessions(c, 3, tag="[fake:rounds=2] before")
    time.sleep(1.0)  # they are mid-flight when the provider stops answering
    r = c.fake_api("POST", "/_fake/faults", {"replace": True, "faults": [
        {"error": "hang", "hang_ms": 30000}]})
    sc.check(r.status == 200, f"setting faults: {r.status}")
    sessions += start_sessions(c, 3, tag="[fake:rounds=2] during total hang")
    time.sleep(HANG_S)
    c.fake_api("POST", "/_fake/faults", {"replace": True, "faults": [
        {"error": "hang", "hang_ms": 30000, "rate": 0.5}]})
    sessions += start_sessions(c, 3, tag="[fake:rounds=2] during half hang")
    time.sleep(HANG_S)
    c.fake_api("DELETE", "/_fake/faults")
    # The gateway's circuit breaker (5 consecutive failures, 30 s cool-down) may still be
    # open: calls fail at once until its probe succeeds. Wait for that, then the provider
    # is expected to serve new sessions normally.
    time.sleep(BREAKER_COOLDOWN_S + 2)
    sessions += start_sessions(c, 2, tag="[fake:rounds=2] after")
    status = c.wait_terminal([s for s, _ in sessions], 240)
    log(f"statuses: {status}")
    st = fake_statuses(c)
    held = 0
    with open(c.fake.log_path, errors="replace") as f:
        held = sum('"fault":"hang"' in line for line in f)
    sc.note(f"model requests that reached the provider: {sum(st.values())}, of which {held} "
            f"were held past the timeout")
    failed = [s for s in status if status[s] == "failed"]
    sc.note(f"{len(status) - len(failed)} sessions completed, {len(failed)} failed")
    worst = 0
    for sid, _ in sessions:
        doc = c.session(sid) or {}
        for e in doc.get("ledger") or []:
            worst = max(worst, e.get("latency_ms") or 0)
        if doc.get("status") == "failed":
            sc.note(f"session {sid} failed with: {doc.get('error')}")
    sc.note(f"slowest call in any ledger: {worst} ms (timeout {TIMEOUT_MS} ms)")
    # A call may wait for the breaker's half-open probe (itself bounded by the timeout)
    # before its own attempt: two timeouts at most, never the fake's 30 s hold.
    sc.check(worst < 2 * TIMEOUT_MS + 1500,
             f"a call took {worst} ms with a {TIMEOUT_MS} ms timeout")
    after = [s for s, _ in sessions[-2:]]
    sc.check(all(status.get(s) == "completed" for s in after),
             "sessions created after the provider recovered did not complete")
    return sessions


Scenario("provider_hang", timeout_s=2 * HANG_S + 400).run(
    {"fake_args": ["--latency-ms", "100"], "bo1d_env": {"BO1_LLM_TIMEOUT_MS": str(TIMEOUT_MS)}},
    body)
