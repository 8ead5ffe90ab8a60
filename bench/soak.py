#!/usr/bin/env python3
"""Soak: mixed load of creates, reads and SSE against bo1d for N minutes (see bench/soak.sh).

Usage: bench/soak.py <build-dir> [minutes=10] [creates/s=1] [reads/s=100] [sse share=0.5]

Starts its own redis-server, bo1-fake-llm (uniform 300-1500 ms per model call, like a
real provider) and bo1d on free ports. Load:
- creates: one session every 1/rate seconds (rounds 2-3, 1-2 sub-problems);
- reads: GET session / list / events page / costs / personas / health, at a fixed rate;
- SSE: a share of the sessions is followed over SSE from creation to the terminal event.
Samples bo1d's RSS every 5 s. Reports RSS after warm-up (a fifth of the run, at most
2 minutes) versus at the end of the load (target: within 5 %), and the error rate
(any transport error, 5xx, unexpected 4xx, failed session or SSE stream that did not reach
the terminal event; target 0). Exit status 0 when both targets hold.
"""
import json
import os
import random
import sys
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "tests", "chaos"))
from chaoslib import TERMINAL, Cluster, log, request  # noqa: E402


def rss_kb(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


class Stats:
    def __init__(self):
        self.lock = threading.Lock()
        self.counts = {}
        self.errors = {}
        self.lat = {}

    def add(self, kind, ok, ms, what=""):
        with self.lock:
            self.counts[kind] = self.counts.get(kind, 0) + 1
            self.lat.setdefault(kind, []).append(ms)
            if not ok:
                key = f"{kind}: {what}"[:160]
                self.errors[key] = self.errors.get(key, 0) + 1


def main():
    if len(sys.argv) < 2:
        print(__doc__, file=sys.stderr)
        return 2
    build = sys.argv[1]
    minutes = float(sys.argv[2]) if len(sys.argv) > 2 else 10.0
    create_rate = float(sys.argv[3]) if len(sys.argv) > 3 else 1.0
    read_rate = float(sys.argv[4]) if len(sys.argv) > 4 else 100.0
    sse_share = float(sys.argv[5]) if len(sys.argv) > 5 else 0.5
    duration = minutes * 60
    warmup = min(120.0, duration / 5)

    c = Cluster(build, "soak", fake_args=["--latency-min-ms", "300", "--latency-max-ms", "1500",
                                          "--max-requests", "2000"],
                bo1d_env={"BO1_LOG_LEVEL": "warn"}, appendonly=False)
    stats = Stats()
    ids, ids_lock = [], threading.Lock()
    stop = threading.Event()
    sse_threads = []
    samples = []
    c.start()
    t0 = time.monotonic()

    def creator():
        i = 0
        nxt = time.monotonic()
        while not stop.is_set():
            nxt += 1.0 / create_rate
            i += 1
            stmt = (f"Should we open a second office in city {i % 37}? "
                    f"[fake:rounds={2 + i % 2}] [fake:subproblems={1 + (i % 5 == 0)}]")
            r = c.api("POST", "/api/v1/sessions", {"problem": {"statement": stmt}})
            stats.add("create", r.status == 201, r.elapsed * 1000, f"{r.status} {r.body[:80]!r}")
            if r.status == 201:
                sid = r.json()["id"]
                with ids_lock:
                    ids.append(sid)
                if random.random() < sse_share:
                    t = threading.Thread(target=sse, args=(sid,), daemon=True)
                    t.start()
                    sse_threads.append(t)
            time.sleep(max(0.0, nxt - time.monotonic()))

    def sse(sid):
        from chaoslib import SseFollower
        f = SseFollower(c.port, sid)
        c.followers.append(f)
        t = time.monotonic()
        f.run()  # returns at the terminal event (or when stopped)
        ok = f.done and f.reconnects == 0
        stats.add("sse", ok, (time.monotonic() - t) * 1000,
                  f"done={f.done} reconnects={f.reconnects} {f.errors[-1:]}")

    def reader(rate):
        nxt = time.monotonic()
        while not stop.is_set():
            nxt += 1.0 / rate
            with ids_lock:
                sid = random.choice(ids) if ids else None
            pick = random.random()
            if sid is None or pick < 0.1:
                path, kind = "/health", "health"
            elif pick < 0.45:
                path, kind = f"/api/v1/sessions/{sid}", "get"
            elif pick < 0.6:
                path, kind = "/api/v1/sessions?limit=20", "list"
            elif pick < 0.85:
                path, kind = f"/api/v1/sessions/{sid}/events?limit=50", "events"
            elif pick < 0.95:
                path, kind = f"/api/v1/sessions/{sid}/costs", "costs"
            else:
                path, kind = "/api/v1/personas", "personas"
            r = request(c.port, "GET", path, timeout=10)
            stats.add(kind, r.status == 200, r.elapsed * 1000, f"{r.status} {r.body[:80]!r}")
            time.sleep(max(0.0, nxt - time.monotonic()))

    def sampler():
        while not stop.is_set():
            samples.append((time.monotonic() - t0, rss_kb(c.bo1d.pid)))
            stop.wait(5)

    threads = [threading.Thread(target=creator, daemon=True),
               threading.Thread(target=sampler, daemon=True)]
    nreaders = 4
    threads += [threading.Thread(target=reader, args=(read_rate / nreaders,), daemon=True)
                for _ in range(nreaders)]
    for t in threads:
        t.start()
    warm_rss = None
    try:
        while time.monotonic() - t0 < duration:
            time.sleep(1)
            el = time.monotonic() - t0
            if warm_rss is None and el >= warmup:
                warm_rss = rss_kb(c.bo1d.pid)
                log(f"warm-up over at {el:.0f} s: RSS {warm_rss} kB")
            if int(el) % 60 == 0:
                log(f"{el:.0f} s: {len(ids)} sessions, RSS {rss_kb(c.bo1d.pid)} kB, "
                    f"errors {sum(stats.errors.values())}")
        end_rss = rss_kb(c.bo1d.pid)
        stop.set()
        for t in threads:
            t.join(15)
        # Let the sessions in flight finish, then judge every session.
        deadline = time.monotonic() + 120
        status = {}
        while time.monotonic() < deadline:
            pending = [s for s in ids if status.get(s) not in TERMINAL]
            for sid in pending:
                d = c.session(sid)
                status[sid] = d["status"] if d else "unreadable"
            if all(status.get(s) in TERMINAL for s in ids):
                break
            time.sleep(1)
        for t in sse_threads:
            t.join(max(0.1, deadline - time.monotonic()))
        for t in sse_threads:
            if t.is_alive():
                stats.add("sse", False, 0, "still open after the drain")
        for f in c.followers:
            f.stop()
        drained_rss = rss_kb(c.bo1d.pid)
        by_status = {}
        for sid in ids:
            st = status.get(sid, "?")
            by_status[st] = by_status.get(st, 0) + 1
            if st != "completed":
                stats.add("session", False, 0, f"ended {st}")
            else:
                stats.add("session", True, 0)
    finally:
        rc = c.bo1d.stop()
        c.stop()
    total = sum(v for k, v in stats.counts.items() if k != "session")
    nerr = sum(stats.errors.values())
    growth = (end_rss - warm_rss) / warm_rss * 100 if warm_rss else float("nan")
    res = {
        "minutes": minutes, "create_rate": create_rate, "read_rate": read_rate,
        "sse_share": sse_share, "sessions": len(ids), "session_status": by_status,
        "requests": total, "counts": stats.counts, "errors": stats.errors,
        "error_rate": nerr / max(total, 1), "rss_warm_kb": warm_rss, "rss_end_kb": end_rss,
        "rss_drained_kb": drained_rss, "rss_growth_pct": growth, "bo1d_exit": rc,
        "p50_ms": {k: sorted(v)[len(v) // 2] for k, v in stats.lat.items() if v and k != "session"},
        "p99_ms": {k: sorted(v)[int(len(v) * 0.99)] for k, v in stats.lat.items()
                   if v and k != "session"},
        "rss_samples": samples,
    }
    out = os.environ.get("SOAK_JSON", os.path.join(c.dir, "soak.json"))
    with open(out, "w") as f:
        json.dump(res, f, indent=1)
    print(f"soak: {minutes:g} min, {len(ids)} sessions {by_status}, {total} requests "
          f"(+{len(ids)} sessions judged), errors {nerr} (rate {res['error_rate']:.4%})")
    for k, v in sorted(stats.errors.items()):
        print(f"  error x{v}: {k}")
    print(f"soak: RSS after warm-up ({warmup:.0f} s) {warm_rss} kB, at end of load {end_rss} kB "
          f"({growth:+.2f} %), after drain {drained_rss} kB; bo1d exit {rc}")
    print("soak: p50/p99 ms: " + ", ".join(f"{k} {res['p50_ms'][k]:.1f}/{res['p99_ms'][k]:.1f}"
                                          for k in sorted(res["p50_ms"])))
    print(f"soak: details in {out}")
    ok = nerr == 0 and abs(growth) <= 5.0 and rc == 0
    print(f"soak: {'PASS' if ok else 'FAIL'} (targets: RSS within 5 %, error rate 0)")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
