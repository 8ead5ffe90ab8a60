#!/usr/bin/env python3
"""Chaos: request bodies of every wrong type and size, and lying framing.

Usage: tests/chaos/bad_bodies.py <build-dir>
Every wrong body sent to POST /api/v1/sessions and to a session's /answers and
/interjections must get a 4xx application/problem+json answer (never 5xx, never a hang,
never a dropped connection unless the request itself was cut), must create nothing
(the session list is the same before and after) and must leave bo1d serving. Raw-socket
cases check lying Content-Length, bad chunking and oversized declarations.
"""
import json
import os
import socket
import sys
import time

sys.path.insert(0, os.path.dirname(__file__))
from chaoslib import Scenario, log, start_sessions  # noqa: E402

OK_STATEMENT = "Should we move our monolith to microservices this year?"


def P(**kw):  # a create body with the problem replaced / extended
    return {"problem": {"statement": OK_STATEMENT, **kw}}


def O(**kw):
    return {"problem": {"statement": OK_STATEMENT}, "options": kw}


def bodies():
    raw = [
        ("empty", b""), ("null", b"null"), ("true", b"true"), ("number", b"1"),
        ("string", b'"hello"'), ("array", b"[]"), ("empty object", b"{}"),
        ("open brace", b"{"), ("cut object", b'{"problem":'), ("two objects", b"{}{}"),
        ("trailing garbage", b'{"problem":{"statement":"' + OK_STATEMENT.encode() + b'"}} x'),
        ("single quotes", b"{'problem':1}"), ("comment", b'/* */{"problem":1}'),
        ("NaN", b'{"problem":{"statement":"' + OK_STATEMENT.encode() + b'"},"options":{"budget_usd":NaN}}'),
        ("invalid UTF-8", b'{"problem":{"statement":"' + OK_STATEMENT.encode() + b'\xff\xfe"}}'),
        ("overlong UTF-8", b'{"problem":{"statement":"' + OK_STATEMENT.encode() + b'\xc0\xaf"}}'),
        ("raw NUL", b'{"problem":{"statement":"' + OK_STATEMENT.encode() + b'\x00"}}'),
        ("escaped NUL", b'{"problem":{"statement":"' + OK_STATEMENT.encode() + b'\\u0000"}}'),
        ("lone surrogate", b'{"problem":{"statement":"' + OK_STATEMENT.encode() + b'\\ud800"}}'),
        ("deep nesting 100k", b"[" * 100000 + b"]" * 100000),
        ("deep object nesting 5k", b'{"a":' * 5000 + b"1" + b"}" * 5000),
        ("huge number", b'{"problem":{"statement":"' + OK_STATEMENT.encode() + b'"},"options":{"max_rounds":1' + b"0" * 400 + b"}}"),
        ("duplicate keys", b'{"problem":{"statement":"x"},"problem":{"statement":"' + OK_STATEMENT.encode() + b'"}}'),
        ("BOM", b"\xef\xbb\xbf" + json.dumps(P()).encode()),
    ]
    typed = []
    for name, v in [("null", None), ("number", 1), ("string", "s"), ("array", []), ("bool", True)]:
        typed.append((f"problem {name}", {"problem": v}))
        typed.append((f"options {name}", {"problem": {"statement": OK_STATEMENT}, "options": v}))
    for name, v in [("null", None), ("number", 1), ("array", []), ("object", {}), ("bool", False),
                    ("empty", ""), ("blank", "     \t\n   "), ("too long", "x " * 6000)]:
        typed.append((f"statement {name}", {"problem": {"statement": v}}))
    for name, v in [("number", 1), ("array", [1]), ("huge", "x" * 60000)]:
        typed.append((f"context {name}", P(context=v)))
    for name, v in [("string", "s"), ("object", {}), ("numbers", [1, 2]), ("eleven", ["c"] * 11),
                    ("long item", ["x" * 600])]:
        typed.append((f"constraints {name}", P(constraints=v)))
    for name, v in [("string", "3"), ("zero", 0), ("negative", -1), ("fraction", 1.5),
                    ("huge", 10 ** 12), ("eleven", 11)]:
        typed.append((f"max_rounds {name}", O(max_rounds=v)))
    for name, v in [("string", "1"), ("zero", 0), ("negative", -1), ("huge", 1e308)]:
        typed.append((f"budget_usd {name}", O(budget_usd=v)))
    for name, v in [("string", "cfo"), ("numbers", [1]), ("empty item", [""]),
                    ("unknown", ["no_such_persona"]), ("six", ["cfo"] * 6), ("object", {})]:
        typed.append((f"personas {name}", O(personas=v)))
    for name, v in [("string", "yes"), ("number", 1)]:
        typed.append((f"clarify {name}", O(clarify=v)))
        typed.append((f"start {name}", O(start=v)))
    typed += [("unknown top field", {**P(), "extra": 1}),
              ("unknown problem field", P(extra=1)),
              ("unknown option", O(turbo=True)),
              ("many keys", {**P(), **{f"k{i}": i for i in range(20000)}})]
    for name, body in typed:
        raw.append((name, json.dumps(body).encode()))
    return raw


def check_problem(sc, what, r, allowed=(400, 413, 415, 422)):
    ct = r.headers.get("content-type", "")
    ok = r.status in allowed and ct.startswith("application/problem+json")
    if ok:
        doc = r.json() or {}
        ok = all(k in doc for k in ("type", "title", "status", "detail", "code")) and \
            doc.get("status") == r.status
    return sc.check(ok, f"{what}: got {r.status} {ct} {r.body[:160]!r} (want a problem in {allowed})")


def raw_exchange(port, data, read_s=8, close_write=False):
    """Send @data on a fresh socket; return (status line or '', seconds)."""
    t0 = time.monotonic()
    s = socket.create_connection(("127.0.0.1", port), timeout=read_s)
    try:
        s.sendall(data)
        if close_write:
            s.shutdown(socket.SHUT_WR)
        buf = b""
        while b"\r\n" not in buf:
            chunk = s.recv(4096)
            if not chunk:
                break
            buf += chunk
        return buf.split(b"\r\n", 1)[0].decode(errors="replace"), time.monotonic() - t0
    except socket.timeout:
        return "timeout", time.monotonic() - t0
    except (ConnectionResetError, BrokenPipeError):
        return "reset", time.monotonic() - t0
    except OSError as e:
        if e.errno == 107:  # ENOTCONN: the server closed while we were still sending
            return "reset", time.monotonic() - t0
        return f"error {e}", time.monotonic() - t0
    finally:
        s.close()


def body(c, sc):
    sessions = start_sessions(c, 2, tag="[fake:rounds=2]")
    target = sessions[0][0]
    before = c.api("GET", "/api/v1/sessions?limit=100").json()
    n = 0
    for name, data in bodies():
        r = c.api("POST", "/api/v1/sessions", data, timeout=15)
        check_problem(sc, f"create, {name}", r)
        n += 1
    for path in ("answers", "interjections"):
        for name, data in [("empty", b""), ("null", b"null"), ("array", b"[]"), ("string", b'"x"'),
                           ("wrong type", b'{"answers":"x"}'), ("text number", b'{"text":1}'),
                           ("unknown", b'{"zzz":1}'), ("invalid UTF-8", b'{"text":"\xff"}'),
                           ("deep", b"[" * 50000), ("big", b'{"text":"' + b"x" * 70000 + b'"}')]:
            r = c.api("POST", f"/api/v1/sessions/{target}/{path}", data, timeout=15)
            # 409 is a fair answer too: the session may not be awaiting input.
            check_problem(sc, f"{path}, {name}", r, allowed=(400, 409, 413, 415, 422))
            n += 1
    # Sizes: just over the limit, 1 MiB, 20 MiB (the server may stop reading: a cut
    # connection after a 413 is fine, a 5xx or a hang is not).
    for size in (64 * 1024 + 1, 1 << 20, 20 << 20):
        data = json.dumps(P(context="x" * size)).encode()
        r = c.api("POST", "/api/v1/sessions", data, timeout=30)
        if size <= 1 << 20:
            # Up to BO1_MAX_DISCARD_BYTES (8 MiB) the body is read and dropped: always 413.
            check_problem(sc, f"{size}-byte body", r, allowed=(413,))
        elif r.status == 0:
            sc.check("reset" in r.body.decode(errors="replace").lower() or
                     "broken pipe" in r.body.decode(errors="replace").lower(),
                     f"{size}-byte body: transport error {r.body[:120]!r}")
        else:
            check_problem(sc, f"{size}-byte body", r, allowed=(413,))
        n += 1
    # Content types.
    for ct in ("text/plain", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x",
               "application/xml", ""):
        r = c.api("POST", "/api/v1/sessions", json.dumps(P()), headers={"Content-Type": ct})
        check_problem(sc, f"content type {ct!r}", r, allowed=(415, 400))
        n += 1
    # Framing lies, over raw sockets.
    body_ok = json.dumps(P()).encode()
    head = (b"POST /api/v1/sessions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n")
    cases = [
        ("Content-Length larger than the body, then silence",
         head + b"Content-Length: 500\r\n\r\n" + body_ok[:50], False, ("408", "timeout", "")),
        ("Content-Length larger than the body, then EOF",
         head + b"Content-Length: 500\r\n\r\n" + body_ok[:50], True, ("400", "")),
        ("Content-Length 10 GB", head + b"Content-Length: 10000000000\r\n\r\n{", False, ("413",)),
        ("Content-Length 10 GB with Expect: 100-continue",
         head + b"Expect: 100-continue\r\nContent-Length: 10000000000\r\n\r\n", False, ("413",)),
        ("negative Content-Length", head + b"Content-Length: -1\r\n\r\n{}", True, ("400",)),
        ("two Content-Lengths", head + b"Content-Length: 2\r\nContent-Length: 3\r\n\r\n{}", True,
         ("400",)),
        ("bad chunk size", head + b"Transfer-Encoding: chunked\r\n\r\nzz\r\n{}\r\n0\r\n\r\n", True,
         ("400",)),
        # Read to its end and dropped (under BO1_MAX_DISCARD_BYTES, 8 MiB), then 413: the
        # answer is never lost to a reset while the client still sends.
        ("chunked 1 MiB", head + b"Transfer-Encoding: chunked\r\n\r\n" +
         b"".join(b"4000\r\n" + b"x" * 0x4000 + b"\r\n" for _ in range(64)) + b"0\r\n\r\n", True,
         ("413",)),
        ("Transfer-Encoding gzip", head + b"Transfer-Encoding: gzip\r\n\r\n{}", False, ("501",)),
    ]
    for name, data, close, want in cases:
        line, took = raw_exchange(c.port, data, read_s=45, close_write=close)
        code = line.split(" ")[1] if line.startswith("HTTP/") else line
        sc.note(f"raw: {name}: {line or 'closed without an answer'} ({took:.1f} s)")
        sc.check(code in want or (code == "" and "" in want),
                 f"raw: {name}: got {line!r}, want one of {want}")
        # 501 is the one 5xx a request can earn: RFC 9112 6.1 answers a transfer coding the
        # server does not implement with it (as nginx does); any other 5xx is a server error.
        sc.check(not code.startswith("5") or want == ("501",), f"raw: {name}: server error {line}")
        n += 1
    after = c.api("GET", "/api/v1/sessions?limit=100").json()
    ids_before = {s["id"] for s in before.get("sessions", before.get("items", []))}
    ids_after = {s["id"] for s in after.get("sessions", after.get("items", []))}
    sc.check(ids_before == ids_after and len(ids_after) == 2,
             f"the wrong bodies changed the session list: {len(ids_before)} -> {len(ids_after)}")
    sc.note(f"{n} wrong requests sent; session list unchanged ({len(ids_after)} sessions)")
    c.wait_terminal([s for s, _ in sessions], 120)
    return sessions


Scenario("bad_bodies", timeout_s=400).run({"fake_args": ["--latency-ms", "100"]}, body)
