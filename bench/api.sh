#!/usr/bin/env bash
# Issue 5 figures (and the issue 4 ratio through the API): starts redis, bo1-fake-llm and
# bo1d (release build) on free ports and runs build-release/bench/api_load against them.
#
# Usage: bench/api.sh sse  [clients=1000] [api_load options, e.g. --epoll]
#        bench/api.sh many [sessions=200] [latency_ms=300] [api_load options]
# Env: BO1_BENCH_ENV="K=V ..." adds settings for bo1d (e.g. BO1_LLM_MAX_INFLIGHT=64);
#      BO1_BENCH_BO1D=path runs another bo1d build (before/after comparisons).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
. scripts/lib.sh
MODE=${1:-sse}
bo1_build "$ROOT/build-release" --buildtype=release >/dev/null

case "$MODE" in
sse)
  N=${2:-1000}
  LAT=200
  ARGS=(--clients "$N" "${@:3}")
  ;;
many)
  N=${2:-200}
  LAT=${3:-300}
  ARGS=(--sessions "$N" --latency-ms "$LAT" "${@:4}")
  ;;
*)
  echo "usage: $0 sse [clients] | many [sessions] [latency_ms]" >&2
  exit 2
  ;;
esac

# One client process holds every connection; the server must accept them all.
ulimit -n "$(ulimit -Hn)"
TMP=$(mktemp -d /tmp/bo1-bench.XXXXXX)
PIDS=()
cleanup() { for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; }
trap cleanup EXIT

RPORT=$(bo1_free_port); FPORT=$(bo1_free_port); BPORT=$(bo1_free_port)
redis-server --port "$RPORT" --save "" --appendonly no >"$TMP/redis.log" 2>&1 & PIDS+=($!)
RPID=$!
"$ROOT/build-release/src/fake/bo1-fake-llm" --port "$FPORT" --latency-ms "$LAT" \
  --log-level error >/dev/null 2>"$TMP/fake.log" & PIDS+=($!)
FPID=$!
# Limits raised for one client address opening many connections and polling many sessions;
# everything else is the default.
env BO1_ENV_FILE=/nonexistent PORT="$BPORT" REDIS_URL="redis://127.0.0.1:$RPORT/0" \
  BO1_MODEL_SIMULATED=true ANTHROPIC_BASE_URL="http://127.0.0.1:$FPORT" ANTHROPIC_API_KEY=bench \
  BO1_LOG_LEVEL=warn BO1_EXPORTS_DIR="$TMP/exports" \
  BO1_MAX_CONNECTIONS=20000 BO1_MAX_CONNECTIONS_PER_IP=20000 \
  BO1_RATE_READS_PER_MIN=1000000 BO1_RATE_CREATE_PER_MIN=100000 \
  BO1_RATE_CONTROL_PER_MIN=100000 BO1_MAX_ACTIVE_SESSIONS=100000 \
  ${BO1_BENCH_ENV:-} "${BO1_BENCH_BO1D:-$ROOT/build-release/bo1d}" >"$TMP/bo1d.log" 2>&1 & PIDS+=($!)
BPID=$!
h_ok=0
for _ in $(seq 100); do
  if curl -sf "http://127.0.0.1:$BPORT/ready" >/dev/null 2>&1; then h_ok=1; break; fi
  sleep 0.1
done
[ "$h_ok" = 1 ] || { echo "bo1d did not become ready" >&2; cat "$TMP/bo1d.log" >&2; exit 1; }
sleep 1 # the runner creates its consumer group on its first ticks

echo "date: $(date -u +%Y-%m-%dT%H:%M:%SZ); machine: $(nproc) cores, $(uname -r); load average: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "bo1d: ${BO1_BENCH_BO1D:-build-release/bo1d} (release), fake latency $LAT ms, extra env: ${BO1_BENCH_ENV:-none}"
rc=0
"$ROOT/build-release/bench/api_load" "$MODE" --url "http://127.0.0.1:$BPORT" "${ARGS[@]}" \
  --server-pid "$BPID" --fake-pid "$FPID" --redis-pid "$RPID" || rc=$?
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
if grep -q '"level":"error"' "$TMP/bo1d.log"; then
  echo "bo1d logged errors:"; grep '"level":"error"' "$TMP/bo1d.log" | head -5
fi
if [ "$rc" -ne 0 ]; then echo "bo1d log kept: $TMP/bo1d.log"; else rm -rf "$TMP"; fi
exit "$rc"
