#!/usr/bin/env python3
"""Chaos: the provider stops answering (connections held open past bo1d's timeout).

Usage: tests/chaos/provider_hang.py <build-dir> [hang-seconds=20]
bo1d runs with BO1_LLM_TIMEOUT_MS=2000; for the hang window every model call is held for
30 s by the fake (then half of them, for as long again), after which the provider answers
normally. Every session must complete: while the circuit breaker is open the engine waits
for the provider (events provider.unavailable, then provider.recovered) instead of failing
its members; no call may outlive its attempts' timeouts (plus one for the breaker probe it
may wait for, and the backoff between attempts; checked in the ledger).
"""
import os
import sys
import time

sys.path.insert(0, os.path.dirname(__file__))
from chaoslib import Scenario, fake_statuses, log, start_sessions  # noqa: E402

HANG_S = int(sys.argv[2]) if len(sys.argv) > 2 else 20
TIMEOUT_MS = 2000
BREAKER_COOLDOWN_S = 30
BACKOFF_CAP_S = 8  # the gateway's backoff_cap_ms default


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
    worst, worst_entry, over = 0, {}, []
    for sid, _ in sessions:
        doc = c.session(sid) or {}
        for e in doc.get("ledger") or []:
            ms, attempts = e.get("latency_ms") or 0, max(1, e.get("attempts") or 0)
            if ms > worst:
                worst, worst_entry = ms, e
            # Each attempt is cut at the timeout, a call may first wait for the breaker's
            # half-open probe (itself one timeout), and the gateway backs off between its
            # attempts (at most BACKOFF_CAP_S each): never the fake's 30 s hold. (Now that
            # sessions live through the hang, calls with 2+ timed-out attempts happen.)
            if ms >= (attempts + 1) * TIMEOUT_MS + (attempts - 1) * BACKOFF_CAP_S * 1000 + 1500:
                over.append((sid, e.get("task"), ms, attempts))
        if doc.get("status") == "failed":
            sc.note(f"session {sid} failed with: {doc.get('error')}")
    sc.note(f"slowest call in any ledger: {worst} ms (timeout {TIMEOUT_MS} ms; "
            f"{worst_entry.get('task')}, {worst_entry.get('attempts')} attempts, "
            f"{worst_entry.get('status')})")
    sc.check(not over, f"calls outlived their attempts' timeouts: {over[:5]}")
    sc.check(not failed, f"{len(failed)} sessions failed; the engine must wait out the outage")
    waited = 0
    for sid, _ in sessions:
        types = [e["type"] for e in c.events(sid)]
        if "provider.unavailable" not in types:
            continue
        waited += 1
        last_down = len(types) - 1 - types[::-1].index("provider.unavailable")
        sc.check("provider.recovered" in types[last_down:],
                 f"session {sid}: provider.unavailable without a later provider.recovered")
    sc.note(f"{waited} sessions waited for the provider (provider.unavailable ... recovered)")
    sc.check(waited > 0, "no session saw the breaker open: the fault did not bite")
    return sessions


Scenario("provider_hang", timeout_s=2 * HANG_S + 400).run(
    {"fake_args": ["--latency-ms", "100"], "bo1d_env": {"BO1_LLM_TIMEOUT_MS": str(TIMEOUT_MS)}},
    body)
