#!/usr/bin/env bash
# GET /health throughput and latency: bo1d versus nginx answering `return 200` with the
# same body, in one run on the same machine, wrk with keep-alive and 64 connections.
# Usage: bench/health.sh [seconds=10] [connections=64] [wrk threads=2] [rounds=1]
# With rounds > 1 the two servers are measured alternately that many times and the median
# of the per-round ratios is printed (steadier on a machine with other load).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
. scripts/lib.sh
DUR=${1:-10}
CONNS=${2:-64}
THREADS=${3:-2}
ROUNDS=${4:-1}
bo1_apt_install "${BO1_APT_PACKAGES[@]}" wrk nginx-light
bo1_build "$ROOT/build-release" --buildtype=release >/dev/null

TMP=$(mktemp -d /tmp/bo1-bench.XXXXXX)
PIDS=()
cleanup() { for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; }
trap cleanup EXIT

RPORT=$(bo1_free_port); BPORT=$(bo1_free_port); NPORT=$(bo1_free_port)
redis-server --port "$RPORT" --save "" --appendonly no >/dev/null 2>&1 & PIDS+=($!)
BO1_ENV_FILE=/nonexistent PORT=$BPORT REDIS_URL=redis://127.0.0.1:$RPORT/0 BO1_MODEL_SIMULATED=true \
  BO1_LOG_LEVEL=warn "$ROOT/build-release/bo1d" >"$TMP/bo1d.log" 2>&1 & PIDS+=($!)
BODY='{"status":"ok","version":"0.1.0","uptime_s":1}'
cat >"$TMP/nginx.conf" <<NGX
worker_processes 2;
error_log $TMP/nginx-error.log;
pid $TMP/nginx.pid;
events { worker_connections 1024; }
http {
  access_log off;
  server {
    listen 127.0.0.1:$NPORT;
    location = /health { default_type application/json; return 200 '$BODY'; }
  }
}
NGX
nginx -c "$TMP/nginx.conf" -g 'daemon off;' & PIDS+=($!)
sleep 1

run() {
  local name=$1 port=$2
  wrk -t"$THREADS" -c"$CONNS" -d"${DUR}s" --latency "http://127.0.0.1:$port/health" >"$TMP/$name.txt"
  local rps p99
  rps=$(awk '/Requests\/sec/ {print $2}' "$TMP/$name.txt")
  p99=$(awk '$1=="99%" {print $2}' "$TMP/$name.txt")
  echo "$name $rps $p99"
}
echo "machine: $(nproc) cores, $(uname -r); wrk -t$THREADS -c$CONNS -d${DUR}s (keep-alive)"
printf '%-6s %12s %10s\n' server req/s p99
RATIOS=()
for _ in $(seq "$ROUNDS"); do
  B=$(run bo1d "$BPORT"); N=$(run nginx "$NPORT")
  printf '%-6s %12s %10s\n' $B
  printf '%-6s %12s %10s\n' $N
  RATIOS+=("$(python3 -c 'import sys; print(float(sys.argv[1]) / float(sys.argv[2]))' \
    "$(echo "$B" | cut -d' ' -f2)" "$(echo "$N" | cut -d' ' -f2)")")
done
python3 - "${RATIOS[@]}" <<'PY'
import statistics, sys
r = [float(x) for x in sys.argv[1:]]
if len(r) == 1:
    print(f"ratio bo1d/nginx: {r[0]:.2f}x")
else:
    print("ratios bo1d/nginx: " + " ".join(f"{x:.2f}" for x in r)
          + f"; median {statistics.median(r):.2f}x")
PY
echo "load average: $(cut -d' ' -f1-3 /proc/loadavg)"
