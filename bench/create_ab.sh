#!/usr/bin/env bash
# POST /api/v1/sessions (options.start=false) and GET /health on two bo1d builds side by
# side (one redis-server, a database each), wrk runs alternating A, B, A, B, ... so that
# the machine's other load falls on both alike. For before/after figures of a change.
# Usage: bench/create_ab.sh BO1D_A BO1D_B [rounds=3] [seconds=5] [connections=64,1]
# (connections: a comma list; 1 connection shows the latency of one create alone).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
. scripts/lib.sh
A=$1
B=$2
ROUNDS=${3:-3}
DUR=${4:-5}
CONNS=${5:-64,1}
bo1_apt_install wrk
TMP=$(mktemp -d /tmp/bo1-create-ab.XXXXXX)
PIDS=()
cleanup() { for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$TMP"; }
trap cleanup EXIT
KEYS=k-bench-1,k-bench-2,k-bench-3,k-bench-4,k-bench-5,k-bench-6,k-bench-7,k-bench-8
RPORT=$(bo1_free_port); PA=$(bo1_free_port); PB=$(bo1_free_port)
redis-server --port "$RPORT" --bind 127.0.0.1 --save "" --appendonly no >/dev/null 2>&1 & PIDS+=($!)
sleep 0.3
start() { # binary port db
  BO1_ENV_FILE=/nonexistent PORT=$2 REDIS_URL=redis://127.0.0.1:$RPORT/$3 BO1_MODEL_SIMULATED=true \
    BO1_API_KEYS=$KEYS BO1_RATE_CREATE_PER_MIN=100000 BO1_LOG_LEVEL=warn \
    BO1_DATA_DIR="$ROOT/zzz_important" "$1" >"$TMP/bo1d-$2.log" 2>&1 & PIDS+=($!)
}
start "$A" "$PA" 0
start "$B" "$PB" 1
for port in $PA $PB; do # a bo1d that exits (bad setting) shows in its log
  for _ in $(seq 100); do curl -sf "http://127.0.0.1:$port/ready" >/dev/null && break; sleep 0.1; done
done
BODY='{"problem":{"statement":"Should we move our monolith to microservices this year?"},"options":{"start":false}}'
cat >"$TMP/create.lua" <<LUA
local keys = {}
for k in string.gmatch("$KEYS", "[^,]+") do keys[#keys + 1] = k end
local i = 0
request = function()
  i = i + 1
  return wrk.format("POST", "/api/v1/sessions", {["Content-Type"] = "application/json",
    ["Authorization"] = "Bearer " .. keys[(i % #keys) + 1]}, '$BODY')
end
LUA
echo "create_ab: $(date -u +%FT%TZ), $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg)"
echo "A = $A"
echo "B = $B"
printf '%-8s %-4s %-5s %12s %10s %10s %8s\n' test conn build req/s p50 p99 non-2xx
for c in ${CONNS//,/ }; do
  t=$((c < 2 ? 1 : 2))
  for _ in $(seq "$ROUNDS"); do
    for build in A B; do
      port=$PA; [ $build = B ] && port=$PB
      for what in create health; do
        if [ $what = create ]; then
          wrk -t$t -c"$c" -d"${DUR}s" --latency -s "$TMP/create.lua" \
            "http://127.0.0.1:$port/api/v1/sessions" >"$TMP/out.txt"
        else
          wrk -t$t -c"$c" -d"${DUR}s" --latency "http://127.0.0.1:$port/health" >"$TMP/out.txt"
        fi
        printf '%-8s %-4s %-5s %12s %10s %10s %8s\n' $what "$c" $build \
          "$(awk '/Requests\/sec/ {print $2}' "$TMP/out.txt")" \
          "$(awk '$1=="50%" {print $2}' "$TMP/out.txt")" "$(awk '$1=="99%" {print $2}' "$TMP/out.txt")" \
          "$(awk '/Non-2xx/ {print $NF}' "$TMP/out.txt" | grep . || echo 0)"
      done
    done
  done
done
echo "create_ab: load after $(cut -d' ' -f1-3 /proc/loadavg)"
