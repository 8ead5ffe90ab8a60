#!/usr/bin/env bash
# bo1d versus a FastAPI + uvicorn server doing the same work (bench/fastapi/app.py), in
# one run on the same machine and the same Redis: GET /health and POST /api/v1/sessions
# (bearer key, validated body, one Lua script writing the session to Redis; bo1d with
# options.start=false so no deliberation runs). Load from wrk, keep-alive.
# Usage: bench/compare.sh [seconds=10] [connections=64] [wrk threads=2] [uvicorn workers=2]
# Env: BO1_BENCH_BO1D_BEFORE=<bo1d> also runs another bo1d build (e.g. an older commit's
#      release build) in the same run, on its own Redis database, for before/after figures.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
. scripts/lib.sh
DUR=${1:-10}
CONNS=${2:-64}
THREADS=${3:-2}
WORKERS=${4:-2}
PY=/usr/bin/python3 # Debian's python3, where apt puts fastapi (not a pyenv shim)
bo1_apt_install "${BO1_APT_PACKAGES[@]}" wrk python3-fastapi python3-uvicorn python3-redis \
  python3-uvloop python3-httptools python3-hiredis
bo1_build "$ROOT/build-release" --buildtype=release >/dev/null

TMP=$(mktemp -d /tmp/bo1-compare.XXXXXX)
PIDS=()
cleanup() { for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; }
trap cleanup EXIT

KEYS=k-bench-1,k-bench-2,k-bench-3,k-bench-4,k-bench-5,k-bench-6,k-bench-7,k-bench-8
RPORT=$(bo1_free_port); BPORT=$(bo1_free_port); FPORT=$(bo1_free_port)
redis-server --port "$RPORT" --bind 127.0.0.1 --save "" --appendonly no >"$TMP/redis.log" 2>&1 & PIDS+=($!)
sleep 0.3
BO1_ENV_FILE=/nonexistent PORT=$BPORT REDIS_URL=redis://127.0.0.1:$RPORT/0 BO1_MODEL_SIMULATED=true \
  BO1_API_KEYS=$KEYS BO1_RATE_CREATE_PER_MIN=100000 BO1_LOG_LEVEL=warn \
  BO1_DATA_DIR="$ROOT/zzz_important" "$ROOT/build-release/bo1d" >"$TMP/bo1d.log" 2>&1 & PIDS+=($!)
BO1D_PID=$!
BEFORE=${BO1_BENCH_BO1D_BEFORE:-}
if [ -n "$BEFORE" ]; then
  OPORT=$(bo1_free_port)
  BO1_ENV_FILE=/nonexistent PORT=$OPORT REDIS_URL=redis://127.0.0.1:$RPORT/2 BO1_MODEL_SIMULATED=true \
    BO1_API_KEYS=$KEYS BO1_RATE_CREATE_PER_MIN=100000 BO1_LOG_LEVEL=warn \
    BO1_DATA_DIR="${BO1_BENCH_BEFORE_DATA:-$ROOT/zzz_important}" "$BEFORE" >"$TMP/bo1d-before.log" 2>&1 & PIDS+=($!)
fi
(cd bench/fastapi && REDIS_URL=redis://127.0.0.1:$RPORT/1 BO1_API_KEYS=$KEYS RATE_PER_MIN=100000 \
  exec $PY -m uvicorn app:app --host 127.0.0.1 --port "$FPORT" --workers "$WORKERS" \
  --loop uvloop --http httptools --log-level warning --no-access-log) >"$TMP/fastapi.log" 2>&1 & PIDS+=($!)
FAPI_PID=$!
for port in $BPORT $FPORT ${OPORT:-}; do
  for _ in $(seq 100); do curl -sf "http://127.0.0.1:$port/health" >/dev/null && break; sleep 0.1; done
done

BODY='{"problem":{"statement":"Should we move our monolith to microservices this year?"},"options":{"start":false}}'
for port in $BPORT $FPORT ${OPORT:-}; do # all must really create
  code=$(curl -s -o "$TMP/one.json" -w '%{http_code}' -H 'Authorization: Bearer k-bench-1' \
    -H 'Content-Type: application/json' -d "$BODY" "http://127.0.0.1:$port/api/v1/sessions")
  [ "$code" = 201 ] || { echo "create on :$port answered $code: $(cat "$TMP/one.json")" >&2; exit 1; }
done
cat >"$TMP/create.lua" <<LUA
local keys = {}
for k in string.gmatch("$KEYS", "[^,]+") do keys[#keys + 1] = k end
local i = 0
local body = '$BODY'
request = function()
  i = i + 1
  return wrk.format("POST", "/api/v1/sessions", {["Content-Type"] = "application/json",
    ["Authorization"] = "Bearer " .. keys[(i % #keys) + 1]}, body)
end
LUA

rss_kb() { # RSS of a process and its children (uvicorn workers), kB
  local total=0
  for p in $1 $(pgrep -P "$1" || true); do
    total=$((total + $(awk '/VmRSS/ {print $2}' "/proc/$p/status" 2>/dev/null || echo 0)))
  done
  echo $total
}
run() { # name port path [script]
  local name=$1 port=$2 path=$3 script=${4:-}
  wrk -t"$THREADS" -c"$CONNS" -d"${DUR}s" --latency ${script:+-s "$script"} \
    "http://127.0.0.1:$port$path" >"$TMP/$name.txt"
  local rps p50 p99 non2xx
  rps=$(awk '/Requests\/sec/ {print $2}' "$TMP/$name.txt")
  p50=$(awk '$1=="50%" {print $2}' "$TMP/$name.txt")
  p99=$(awk '$1=="99%" {print $2}' "$TMP/$name.txt")
  non2xx=$(awk '/Non-2xx/ {print $NF}' "$TMP/$name.txt")
  echo "$name $rps $p50 $p99 ${non2xx:-0}"
}
echo "compare: $(date -u +%FT%TZ), $(nproc) cores, $(uname -r), load $(cut -d' ' -f1-3 /proc/loadavg)"
echo "wrk -t$THREADS -c$CONNS -d${DUR}s keep-alive; bo1d release (threads = cores); uvicorn $WORKERS workers, uvloop + httptools; FastAPI $($PY -c 'import fastapi; print(fastapi.__version__)')"
R=()
R+=("$(run bo1d-health "$BPORT" /health)")
[ -z "$BEFORE" ] || R+=("$(run before-health "$OPORT" /health)")
R+=("$(run fastapi-health "$FPORT" /health)")
R+=("$(run bo1d-create "$BPORT" /api/v1/sessions "$TMP/create.lua")")
[ -z "$BEFORE" ] || R+=("$(run before-create "$OPORT" /api/v1/sessions "$TMP/create.lua")")
R+=("$(run fastapi-create "$FPORT" /api/v1/sessions "$TMP/create.lua")")
printf '%-16s %12s %10s %10s %8s\n' test req/s p50 p99 non-2xx
for r in "${R[@]}"; do printf '%-16s %12s %10s %10s %8s\n' $r; done
echo "RSS after the runs: bo1d $(rss_kb $BO1D_PID) kB, uvicorn (master + $WORKERS workers) $(rss_kb $FAPI_PID) kB"
echo "sessions in Redis: bo1d $(redis-cli -p "$RPORT" -n 0 --scan --pattern 'bo1:{*}:session' | wc -l), fastapi $(redis-cli -p "$RPORT" -n 1 --scan --pattern 'bo1:{*}:session' | wc -l)${BEFORE:+, before $(redis-cli -p "$RPORT" -n 2 --scan --pattern 'bo1:*session*' | wc -l)}"
$PY - "${R[@]}" <<'PY'
import sys
r = {x.split()[0]: float(x.split()[1]) for x in sys.argv[1:]}
bad = {x.split()[0]: int(x.split()[4]) for x in sys.argv[1:]}
for t in ("health", "create"):
    print(f"ratio bo1d/fastapi {t}: {r['bo1d-' + t] / r['fastapi-' + t]:.2f}x")
    if 'before-' + t in r:
        print(f"ratio bo1d/before {t}: {r['bo1d-' + t] / r['before-' + t]:.2f}x")
if any(bad.values()):
    print(f"WARNING: non-2xx answers {bad}")
PY
echo "compare: load after $(cut -d' ' -f1-3 /proc/loadavg)"
