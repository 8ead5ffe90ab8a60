#!/usr/bin/env python3
"""Chaos: the provider answers 50 % of model calls with 429 or 529 for a minute.

Usage: tests/chaos/provider_errors.py <build-dir> [fault-seconds=60]
Sessions run throughout; the gateway retries (honouring retry-after) and the engine
retries or sits a member out, so each session must complete, or fail with a clear error.
"""
import sys
import time

sys.path.insert(0, __import__("os").path.dirname(__file__))
from chaoslib import Scenario, fake_statuses, log, start_sessions  # noqa: E402

FAULT_S = int(sys.argv[2]) if len(sys.argv) > 2 else 60


def body(c, sc):
    r = c.fake_api("POST", "/_fake/faults", {"replace": True, "faults": [
        {"error": "429", "rate": 0.25, "retry_after": 1},
        {"error": "529", "rate": 0.3333},  # of the 75 % left: 25 % overall
    ]})
    sc.check(r.status == 200, f"setting faults: {r.status} {r.body[:200]!r}")
    t0 = time.monotonic()
    sessions = []
    i = 0
    while time.monotonic() - t0 < FAULT_S:  # a new session every few seconds under the fault
        sessions += start_sessions(c, 1, tag=f"[fake:rounds=2] wave {i}")
        i += 1
        time.sleep(max(1.0, FAULT_S / 12))
    c.fake_api("DELETE", "/_fake/faults")
    st = fake_statuses(c)
    total = sum(st.values())
    bad = st.get(429, 0) + st.get(529, 0)
    sc.note(f"fault window {FAULT_S} s: {len(sessions)} sessions, {total} model requests, "
            f"{st.get(429, 0)} answered 429 and {st.get(529, 0)} answered 529 ({bad / max(total, 1):.0%})")
    sc.check(0.35 < bad / max(total, 1) < 0.65, "the fault did not hit about half the calls")
    status = c.wait_terminal([s for s, _ in sessions], 180)
    log(f"statuses: {status}")
    return sessions


Scenario("provider_errors", timeout_s=FAULT_S + 300).run({"fake_args": ["--latency-ms", "100"]}, body)
