#!/usr/bin/env bash
# Idle cost of following sessions: N sessions that never change (created, not started),
# one SSE client on each, and the Redis commands per second that costs (INFO commandstats
# over a window, so every connection of bo1d counts: commands, Pub/Sub, runner).
#
# Usage: bench/sse_idle.sh BO1D [sessions=100] [window_s=20]
# BO1D is the bo1d binary to measure (e.g. build/bo1d, or an older build for "before").
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib.sh
BO1D=$1
N=${2:-100}
WIN=${3:-20}

ulimit -n "$(ulimit -Hn)"
TMP=$(mktemp -d /tmp/bo1-sse-idle.XXXXXX)
PIDS=()
cleanup() { for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$TMP"; }
trap cleanup EXIT

RPORT=$(bo1_free_port); BPORT=$(bo1_free_port)
redis-server --port "$RPORT" --save "" --appendonly no >"$TMP/redis.log" 2>&1 & PIDS+=($!)
env BO1_ENV_FILE=/nonexistent PORT="$BPORT" REDIS_URL="redis://127.0.0.1:$RPORT/0" \
  BO1_MODEL_SIMULATED=true ANTHROPIC_BASE_URL=http://127.0.0.1:9 ANTHROPIC_API_KEY=bench \
  BO1_LOG_LEVEL=warn BO1_EXPORTS_DIR="$TMP/exports" BO1_DATA_DIR="$PWD/zzz_important" \
  BO1_RATE_CREATE_PER_MIN=100000 BO1_RATE_READS_PER_MIN=1000000 \
  "$BO1D" >"$TMP/bo1d.log" 2>&1 & PIDS+=($!)
for _ in $(seq 100); do
  curl -fsS "http://127.0.0.1:$BPORT/ready" >/dev/null 2>&1 && break
  sleep 0.1
done

python3 - "$BPORT" "$RPORT" "$N" "$WIN" <<'PY'
import json, socket, sys, threading, time, urllib.request

bport, rport, n, win = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
base = f"http://127.0.0.1:{bport}"

def redis(*args):
    s = socket.create_connection(("127.0.0.1", rport))
    s.sendall(("*%d\r\n" % len(args) + "".join("$%d\r\n%s\r\n" % (len(a), a) for a in args)).encode())
    data = b""
    while True:
        data += s.recv(65536)
        if data.startswith(b"$"):
            ln = int(data[1:data.index(b"\r\n")])
            if ln < 0 or len(data) >= data.index(b"\r\n") + 2 + ln + 2:
                break
        elif data.endswith(b"\r\n"):
            break
    s.close()
    return data.decode()

def calls():
    out = {}
    for line in redis("INFO", "commandstats").splitlines():
        if line.startswith("cmdstat_"):
            name, rest = line[8:].split(":", 1)
            out[name] = int(dict(kv.split("=") for kv in rest.split(","))["calls"])
    return out

def metric(name):
    body = urllib.request.urlopen(base + "/metrics").read().decode()
    for line in body.splitlines():
        if line.startswith(name + " "):
            return float(line.split()[1])
    return None

ids = []
for i in range(n):
    req = urllib.request.Request(base + "/api/v1/sessions", method="POST",
        data=json.dumps({"problem": {"statement": f"Idle session {i}: should we open a second shop?"},
                         "options": {"start": False}}).encode(),
        headers={"Content-Type": "application/json"})
    ids.append(json.load(urllib.request.urlopen(req))["id"])

socks = []
for sid in ids:
    s = socket.create_connection(("127.0.0.1", bport))
    s.sendall((f"GET /api/v1/sessions/{sid}/events HTTP/1.1\r\nHost: x\r\n"
               "Accept: text/event-stream\r\n\r\n").encode())
    socks.append(s)
def drain(s):
    try:
        while s.recv(65536):
            pass
    except OSError:
        pass
for s in socks:
    threading.Thread(target=drain, args=(s,), daemon=True).start()
time.sleep(3)
clients = metric("bo1_sse_clients")
a, ma, t0 = calls(), metric("bo1_redis_commands_total"), time.time()
time.sleep(win)
b, mb, t1 = calls(), metric("bo1_redis_commands_total"), time.time()
dt = t1 - t0
tot = sum(b.values()) - sum(a.values()) - 1  # minus the INFO of the first snapshot
print(f"sessions followed: {n}, SSE clients: {clients:.0f}, window: {dt:.1f} s")
print(f"redis commands/s (INFO commandstats, all connections): {tot / dt:.1f}")
for k in sorted(b, key=lambda k: -(b[k] - a.get(k, 0))):
    d = b[k] - a.get(k, 0) - (1 if k == "info" else 0)
    if d > 0:
        print(f"  {k:12} {d / dt:8.1f}/s")
print(f"bo1_redis_commands_total (command connection): {(mb - ma) / dt:.1f}/s")
for s in socks:
    s.close()
PY
