"""Shared machinery for the fault scenarios in tests/chaos/ (Python 3 standard library only).

A scenario starts its own redis-server, bo1-fake-llm and bo1d on free ports from a build
directory, drives sessions through the API while it injects one fault, then checks:

- every session ended `completed`, `failed` (with an error that says why) or `cancelled`;
- no event was lost from any session's log: stream ids strictly increase, the log ends
  with the terminal event, the engine's call ledger numbers 1..n without gaps and every
  call in it has its `cost.updated` event, every round in the state has its
  `round.started` event and every contribution its `contribution` event (events may be
  repeated after a crash: delivery is at-least-once, loss is what fails);
- an SSE follower per session (reconnecting with Last-Event-ID) saw the log's events up
  to the terminal one;
- `GET /health` answers within its normal latency: measured before the fault and after.

Every process is stopped by its PID when the scenario ends, also on failure or timeout.
"""

import http.client
import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time

TERMINAL = ("completed", "failed", "cancelled")


def log(msg):
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", flush=True)


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def wait_port(port, within_s, proc=None):
    deadline = time.monotonic() + within_s
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            return False
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return True
        except OSError:
            time.sleep(0.05)
    return False


class Resp:
    def __init__(self, status, headers, body, elapsed):
        self.status = status
        self.headers = headers
        self.body = body
        self.elapsed = elapsed

    def json(self):
        try:
            return json.loads(self.body)
        except ValueError:
            return None


def request(port, method, path, body=None, headers=None, timeout=10.0):
    """One request on a fresh connection. Returns Resp, or Resp(status=0) on a transport error."""
    hdrs = {"Content-Type": "application/json"} if body is not None else {}
    hdrs.update(headers or {})
    if isinstance(body, (dict, list)):
        body = json.dumps(body)
    if isinstance(body, str):
        body = body.encode()
    t0 = time.monotonic()
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        conn.request(method, path, body=body, headers=hdrs)
        r = conn.getresponse()
        data = r.read()
        return Resp(r.status, {k.lower(): v for k, v in r.getheaders()}, data,
                    time.monotonic() - t0)
    except (OSError, http.client.HTTPException) as e:
        return Resp(0, {}, str(e).encode(), time.monotonic() - t0)
    finally:
        conn.close()


class Proc:
    """A child process with its log file; stopped by PID."""

    def __init__(self, name, argv, env, port, logdir):
        self.name, self.argv, self.env, self.port = name, argv, env, port
        self.log_path = os.path.join(logdir, f"{name}.log")
        self.p = None

    def start(self, wait_s=10):
        logf = open(self.log_path, "ab")
        env = dict(os.environ)
        env.update(self.env or {})
        self.p = subprocess.Popen(self.argv, stdout=logf, stderr=subprocess.STDOUT, env=env,
                                  stdin=subprocess.DEVNULL)
        logf.close()
        if not wait_port(self.port, wait_s, self.p):
            raise RuntimeError(f"{self.name} did not start on port {self.port}; see {self.log_path}")
        return self

    @property
    def pid(self):
        return self.p.pid if self.p else None

    def alive(self):
        return self.p is not None and self.p.poll() is None

    def send(self, sig):
        if self.alive():
            os.kill(self.p.pid, sig)

    def stop(self, sig=signal.SIGTERM, wait_s=15):
        """Stop with @sig, SIGKILL after @wait_s. Returns the exit status (negative: signal)."""
        if self.p is None:
            return None
        if self.p.poll() is None:
            try:
                os.kill(self.p.pid, signal.SIGCONT)  # a stopped process cannot act on SIGTERM
                os.kill(self.p.pid, sig)
            except ProcessLookupError:
                pass
            try:
                self.p.wait(wait_s)
            except subprocess.TimeoutExpired:
                os.kill(self.p.pid, signal.SIGKILL)
                self.p.wait(5)
        return self.p.returncode


class Cluster:
    """redis-server + bo1-fake-llm + bo1d from @build, on free ports."""

    def __init__(self, build, name, fake_args=(), bo1d_env=None, appendonly=True):
        self.build = os.path.abspath(build)
        self.root = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
        self.dir = tempfile.mkdtemp(prefix=f"bo1-chaos-{name}-")
        self.redis_port = free_port()
        self.fake_port = free_port()
        self.port = free_port()
        self.redis = Proc("redis", ["redis-server", "--port", str(self.redis_port), "--bind",
                                    "127.0.0.1", "--dir", self.dir, "--save", "",
                                    "--appendonly", "yes" if appendonly else "no",
                                    "--appendfsync", "everysec",
                                    "--maxmemory-policy", "noeviction"],
                          None, self.redis_port, self.dir)
        self.fake = Proc("fake", [os.path.join(self.build, "src/fake/bo1-fake-llm"), "--port",
                                  str(self.fake_port), *fake_args], None, self.fake_port, self.dir)
        env = {
            "BO1_ENV_FILE": "/nonexistent",
            "PORT": str(self.port),
            "REDIS_URL": f"redis://127.0.0.1:{self.redis_port}/0",
            "ANTHROPIC_BASE_URL": f"http://127.0.0.1:{self.fake_port}",
            "ANTHROPIC_API_KEY": "simulated",
            "BO1_MODEL_SIMULATED": "true",
            "BO1_MODEL_DEEP": "fake-deep",
            "BO1_MODEL_FAST": "fake-fast",
            "BO1_DATA_DIR": os.path.join(self.root, "zzz_important"),
            "BO1_EXPORTS_DIR": os.path.join(self.dir, "exports"),
            "BO1_RATE_CREATE_PER_MIN": "10000",
            "BO1_RATE_CONTROL_PER_MIN": "10000",
            "BO1_RATE_READS_PER_MIN": "1000000",
            "BO1_MAX_ACTIVE_SESSIONS": "1000",
        }
        env.update(bo1d_env or {})
        self.bo1d = Proc("bo1d", [os.path.join(self.build, "bo1d")], env, self.port, self.dir)
        self.followers = []

    def start(self):
        self.redis.start()
        self.fake.start()
        self.bo1d.start()
        if not self.wait_ready(15):
            raise RuntimeError(f"bo1d not ready; see {self.bo1d.log_path}")
        log(f"started redis :{self.redis_port} (pid {self.redis.pid}), fake :{self.fake_port} "
            f"(pid {self.fake.pid}), bo1d :{self.port} (pid {self.bo1d.pid}); logs in {self.dir}")
        return self

    def stop(self):
        for f in self.followers:
            f.stop()
        for p in (self.bo1d, self.fake, self.redis):
            try:
                p.stop()
            except Exception as e:  # keep stopping the others
                log(f"stopping {p.name}: {e}")

    def wait_ready(self, within_s):
        deadline = time.monotonic() + within_s
        while time.monotonic() < deadline:
            if request(self.port, "GET", "/ready", timeout=2).status == 200:
                return True
            time.sleep(0.1)
        return False

    # --- API ---

    def api(self, method, path, body=None, headers=None, timeout=10.0):
        return request(self.port, method, path, body, headers, timeout)

    def fake_api(self, method, path, body=None):
        return request(self.fake_port, method, path, body)

    def create(self, statement, options=None, retry_s=30):
        """Create a session; retries 503/429/transport errors for @retry_s. Returns the id."""
        body = {"problem": {"statement": statement}}
        if options:
            body["options"] = options
        deadline = time.monotonic() + retry_s
        while True:
            r = self.api("POST", "/api/v1/sessions", body)
            if r.status == 201:
                return r.json()["id"]
            if time.monotonic() > deadline or r.status not in (0, 429, 503):
                raise RuntimeError(f"create: {r.status} {r.body[:300]!r}")
            time.sleep(0.5)

    def session(self, sid):
        r = self.api("GET", f"/api/v1/sessions/{sid}")
        return r.json() if r.status == 200 else None

    def events(self, sid):
        """The whole event log as a JSON list (paged)."""
        out, after = [], "0"
        while True:
            r = self.api("GET", f"/api/v1/sessions/{sid}/events?after={after}&limit=500")
            if r.status != 200:
                raise RuntimeError(f"events {sid}: {r.status} {r.body[:200]!r}")
            page = r.json()
            out.extend(page["events"])
            if not page.get("has_more") or not page["events"]:
                return out
            after = page["events"][-1]["id"]

    def wait_terminal(self, ids, within_s):
        """Poll until every session is terminal. Returns {id: status}."""
        deadline = time.monotonic() + within_s
        status = {}
        while True:
            for sid in ids:
                if status.get(sid) in TERMINAL:
                    continue
                doc = self.session(sid)
                status[sid] = doc["status"] if doc else "unreadable"
            if all(s in TERMINAL for s in status.values()) or time.monotonic() > deadline:
                return status
            time.sleep(0.5)

    def follow(self, sid):
        f = SseFollower(self.port, sid)
        self.followers.append(f)
        f.start()
        return f


def sid_key(i):
    a, b = i.split("-")
    return (int(a), int(b))


class SseFollower(threading.Thread):
    """Follows one session's SSE stream until the terminal event; reconnects with
    Last-Event-ID when the connection drops (e.g. bo1d restarted)."""

    def __init__(self, port, sid):
        super().__init__(daemon=True)
        self.port, self.sid = port, sid
        self.ids, self.types = [], []
        self.reconnects = 0
        self.last = None
        self.done = False
        self.errors = []
        self._halt = threading.Event()
        self._sock = None

    def stop(self):
        self._halt.set()
        s = self._sock
        if s:
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def run(self):
        while not self._halt.is_set() and not self.done:
            try:
                self._once()
            except (OSError, http.client.HTTPException, ValueError) as e:
                if not self._halt.is_set():
                    self.errors.append(str(e))
            if not self.done and not self._halt.is_set():
                self.reconnects += 1
                time.sleep(0.3)

    def _once(self):
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)
        hdrs = {"Accept": "text/event-stream"}
        if self.last:
            hdrs["Last-Event-ID"] = self.last
        conn.request("GET", f"/api/v1/sessions/{self.sid}/events", headers=hdrs)
        r = conn.getresponse()
        self._sock = conn.sock
        if r.status != 200:
            r.read()
            conn.close()
            raise ValueError(f"SSE status {r.status}")
        cur_id, cur_type, data = None, None, []
        while not self._halt.is_set():
            line = r.readline()  # de-chunked
            if not line:
                break
            line = line.decode().rstrip("\r\n")
            if line == "":
                if cur_id is not None:
                    payload = json.loads("\n".join(data)) if data else {}
                    self.ids.append(cur_id)
                    self.types.append(cur_type)
                    self.last = cur_id
                    if is_terminal_event(cur_type, payload.get("data", {})):
                        self.done = True
                        break
                cur_id, cur_type, data = None, None, []
            elif line.startswith("id:"):
                cur_id = line[3:].strip()
            elif line.startswith("event:"):
                cur_type = line[6:].strip()
            elif line.startswith("data:"):
                data.append(line[5:].strip())
        r.close()  # the response holds the socket open until closed itself
        conn.close()


def is_terminal_event(etype, data):
    # Every session's log ends with session.completed, whatever the outcome (the engine
    # publishes one right after its session.status failed; cancel appends one too); its
    # data.status says how it ended.
    return etype == "session.completed"


def verify_session(c, sid, follower=None):
    """Returns (status, [problems])."""
    problems = []
    doc = c.session(sid)
    if doc is None:
        return "unreadable", ["GET session failed"]
    status = doc["status"]
    if status not in TERMINAL:
        problems.append(f"not terminal: {status} (state {doc.get('state')})")
    if status == "failed":
        err = doc.get("error")
        msg = err.get("detail") or err.get("message") or err.get("title") if isinstance(err, dict) else err
        if not msg:
            problems.append(f"failed without a clear error: error={err!r}")
    evs = c.events(sid)
    ids = [e["id"] for e in evs]
    for a, b in zip(ids, ids[1:]):
        if sid_key(b) <= sid_key(a):
            problems.append(f"event ids not strictly increasing: {a} then {b}")
            break
    if status in TERMINAL:
        if not evs or not is_terminal_event(evs[-1]["type"], evs[-1].get("data")):
            last = evs[-1]["type"] if evs else None
            problems.append(f"log does not end with the terminal event (last: {last})")
        elif status == "completed" and evs[-1]["type"] != "session.completed":
            problems.append("completed but the last event is not session.completed")
        elif status != "completed" and evs[-1]["data"].get("status") != status:
            problems.append(f"terminal event says {evs[-1]['data'].get('status')}, session {status}")
    # The engine's numbered call ledger: 1..n, and every call has its cost.updated event.
    ledger = doc.get("ledger") or []
    seqs = [e.get("seq") for e in ledger]
    if sorted(seqs) != list(range(1, len(seqs) + 1)):
        problems.append(f"ledger seq has gaps or repeats: {seqs}")
    cost_events = {}
    for e in evs:
        if e["type"] == "cost.updated":
            d = e["data"]
            k = (d.get("task"), d.get("sub_problem"), d.get("persona"))
            cost_events[k] = cost_events.get(k, 0) + 1
    need = {}
    for e in ledger:
        k = (e.get("task"), e.get("sub_problem"), e.get("persona"))
        need[k] = need.get(k, 0) + 1
    for k, n in need.items():
        if cost_events.get(k, 0) < n:
            problems.append(f"ledger has {n} calls {k} but the log has {cost_events.get(k, 0)} "
                            "cost.updated events")
    # Rounds and contributions recorded in the state have their events.
    started = {(e["data"].get("sub_problem"), e["data"].get("round"))
               for e in evs if e["type"] == "round.started"}
    contributed = {(e["data"].get("sub_problem"), e["data"].get("round"), e["data"].get("persona"))
                   for e in evs if e["type"] == "contribution"}
    for sp in doc.get("sub_problems") or []:
        for rnd in sp.get("rounds") or []:
            if (sp["id"], rnd["round"]) not in started:
                problems.append(f"round {sp['id']}/{rnd['round']} has no round.started event")
            for con in rnd.get("contributions") or []:
                if (sp["id"], con.get("round", rnd["round"]), con["persona"]) not in contributed:
                    problems.append(f"contribution {sp['id']}/{rnd['round']}/{con['persona']} "
                                    "has no contribution event")
    if follower is not None:
        follower.join(20)
        if not follower.done:
            problems.append(f"SSE follower did not see the terminal event "
                            f"(saw {len(follower.ids)}, reconnects {follower.reconnects}, "
                            f"errors {follower.errors[-2:]})")
        missing = set(ids) - set(follower.ids)
        # Events before the follower connected are replayed, so it must have them all.
        if follower.done and missing:
            problems.append(f"SSE stream missed {len(missing)} logged events")
        fids = follower.ids
        for a, b in zip(fids, fids[1:]):
            if sid_key(b) <= sid_key(a):
                problems.append(f"SSE ids not strictly increasing: {a} then {b}")
                break
    return status, problems


def health_latency(port, n=40):
    """Median and max of @n sequential GET /health (fresh connection each), in ms."""
    lat, fails = [], 0
    for _ in range(n):
        r = request(port, "GET", "/health", timeout=5)
        if r.status != 200:
            fails += 1
        lat.append(r.elapsed * 1000)
    return {"median_ms": statistics.median(lat), "max_ms": max(lat), "fails": fails}


class Scenario:
    """Runs @body(cluster, scenario) and the final checks; exits 0 on success, 1 on failure."""

    def __init__(self, name, timeout_s=300):
        self.name = name
        self.timeout_s = timeout_s
        self.failures = []
        self.notes = []

    def check(self, cond, what):
        if not cond:
            self.failures.append(what)
            log(f"FAIL: {what}")
        return cond

    def note(self, what):
        self.notes.append(what)
        log(what)

    def run(self, cluster_kwargs, body):
        if len(sys.argv) < 2:
            print(f"usage: {sys.argv[0]} <build-dir>", file=sys.stderr)
            sys.exit(2)

        def on_alarm(signum, frame):
            raise TimeoutError(f"scenario exceeded {self.timeout_s} s")

        signal.signal(signal.SIGALRM, on_alarm)
        signal.signal(signal.SIGTERM, lambda s, f: sys.exit(1))
        signal.alarm(self.timeout_s)
        c = Cluster(sys.argv[1], self.name, **cluster_kwargs)
        t0 = time.monotonic()
        try:
            c.start()
            before = health_latency(c.port)
            self.note(f"/health before: median {before['median_ms']:.2f} ms, "
                      f"max {before['max_ms']:.2f} ms")
            sessions = body(c, self) or []
            for sid, follower in sessions:
                status, problems = verify_session(c, sid, follower)
                self.check(not problems, f"session {sid} ({status}): {'; '.join(problems)}")
                self.note(f"session {sid}: {status}"
                          + (f" ({len(follower.ids)} SSE events, {follower.reconnects} reconnects)"
                             if follower else ""))
            after = health_latency(c.port)
            self.note(f"/health after: median {after['median_ms']:.2f} ms, "
                      f"max {after['max_ms']:.2f} ms")
            self.check(after["fails"] == 0, f"/health failed {after['fails']} times after the fault")
            limit = max(3 * before["median_ms"], before["median_ms"] + 20)
            self.check(after["median_ms"] <= limit,
                       f"/health median {after['median_ms']:.2f} ms after vs "
                       f"{before['median_ms']:.2f} ms before (limit {limit:.2f})")
            self.check(c.bo1d.alive(), "bo1d is not running at the end")
        except Exception as e:  # a crash of the scenario itself is a failure too
            self.failures.append(f"{type(e).__name__}: {e}")
            log(f"FAIL: {type(e).__name__}: {e}")
        finally:
            signal.alarm(0)
            rc = c.bo1d.stop()
            self.check(rc in (0, None), f"bo1d exit status on SIGTERM: {rc}")
            c.stop()
            self.sanitizer_check(c)
        took = time.monotonic() - t0
        if self.failures:
            print(f"chaos {self.name}: FAIL ({len(self.failures)} problems, {took:.0f} s); "
                  f"logs in {c.dir}")
            for f in self.failures:
                print(f"  - {f}")
            sys.exit(1)
        print(f"chaos {self.name}: PASS ({took:.0f} s)")
        sys.exit(0)

    def sanitizer_check(self, c):
        try:
            with open(c.bo1d.log_path, errors="replace") as f:
                text = f.read()
        except OSError:
            return
        for marker in ("ERROR: AddressSanitizer", "runtime error:", "ERROR: LeakSanitizer"):
            if marker in text:
                self.failures.append(f"sanitizer report in {c.bo1d.log_path}: {marker}")


def start_sessions(c, n, statement="Should we move our monolith to microservices this year?",
                   tag="", options=None):
    """Create @n sessions, each followed over SSE. Returns [(id, follower)]."""
    out = []
    for i in range(n):
        sid = c.create(f"{statement} (#{i}) {tag}".strip(), options)
        out.append((sid, c.follow(sid)))
    return out


def fake_statuses(c):
    """{status: count} of the model requests the fake answered so far (from its log)."""
    out = {}
    with open(c.fake.log_path, errors="replace") as f:
        for line in f:
            try:
                e = json.loads(line)
            except ValueError:
                continue
            if e.get("msg") == "request" and str(e.get("path", "")).startswith("/v1/"):
                k = e.get("status")
                out[k] = out.get(k, 0) + 1
    return out
