#!/usr/bin/env bash
# Redis memory per finished session and bytes written to Redis per deliberation, with
# bo1-fake-llm (default 20 ms per call). Starts its own redis-server, fake and bo1d on
# free ports and stops them. Usage: bench/session_size.sh <build-dir> [get-requests] [fake latency ms]
# Prints, per scenario (1 sub-problem and 3 sub-problems, 3 rounds each): MEMORY USAGE of
# the session hash, events stream and report hash, the hash's doc and ckpt field lengths,
# the events' payload bytes, the bytes Redis received while the deliberation ran
# (INFO stats total_net_input_bytes delta, create to completed, includes the runner's
# polls and lease renewals) and GET /api/v1/sessions/{id} latency p50/p99 (one keep-alive
# connection, sequential requests).
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib.sh
B=${1:-build}
N=${2:-300}
LAT=${3:-20}
RP=$(bo1_free_port); FP=$(bo1_free_port); AP=$(bo1_free_port)
TMP=$(mktemp -d)
PIDS=()
cleanup() { for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$TMP"; }
trap cleanup EXIT
redis-server --port "$RP" --bind 127.0.0.1 --save '' --appendonly no --dir "$TMP" >"$TMP/redis.log" 2>&1 &
PIDS+=($!)
"$B/src/fake/bo1-fake-llm" --port "$FP" --latency-ms "$LAT" >"$TMP/fake.log" 2>&1 &
PIDS+=($!)
sleep 0.3
REDIS_URL=redis://127.0.0.1:$RP/0 PORT=$AP ANTHROPIC_BASE_URL=http://127.0.0.1:$FP \
  BO1_RATE_READS_PER_MIN=1000000 ANTHROPIC_API_KEY=simulated BO1_MODEL_SIMULATED=true BO1_MODEL_DEEP=fake-deep \
  BO1_MODEL_FAST=fake-fast "$B/bo1d" >"$TMP/bo1d.log" 2>&1 &
PIDS+=($!)
R() { redis-cli -p "$RP" "$@"; }
for _ in $(seq 100); do curl -sf "http://127.0.0.1:$AP/ready" >/dev/null && break; sleep 0.1; done
netin() { R INFO stats | tr -d '\r' | awk -F: '$1=="total_net_input_bytes"{print $2}'; }

run() {
  local label=$1 stmt=$2 id before after st
  before=$(netin)
  id=$(curl -sf -X POST "http://127.0.0.1:$AP/api/v1/sessions" -H 'content-type: application/json' \
    -d "{\"problem\":{\"statement\":\"$stmt\"}}" | python3 -c 'import json,sys; print(json.load(sys.stdin)["id"])')
  for _ in $(seq 600); do
    st=$(R HGET "bo1:{$id}:session" status)
    case $st in completed|failed|cancelled) break ;; esac
    sleep 0.1
  done
  sleep 0.5 # the runner's last writes (release, ack)
  after=$(netin)
  local hs ev rp doc ck evb
  hs=$(R MEMORY USAGE "bo1:{$id}:session" SAMPLES 0)
  ev=$(R MEMORY USAGE "bo1:{$id}:events" SAMPLES 0)
  rp=$(R MEMORY USAGE "bo1:{$id}:report" SAMPLES 0)
  doc=$(R HSTRLEN "bo1:{$id}:session" doc)
  ck=$(R HSTRLEN "bo1:{$id}:session" ckpt)
  evb=$(R --raw XRANGE "bo1:{$id}:events" - + | python3 -c '
import sys,json
n=0;b=0;c=0
for line in sys.stdin:
    line=line.rstrip("\n")
    if line.startswith("{"):
        n+=1;b+=len(line.encode())
        e=json.loads(line)
        if e["type"]=="contribution": c+=len(json.dumps(e["data"].get("contribution","")).encode())
print(n,b,c)')
  set -- $evb
  echo "$label: status=$st session_hash=$hs events_stream=$ev report=$rp total=$((hs + ev + rp)) doc_len=$doc ckpt_len=$ck events=$1 event_bytes=$2 contribution_text_in_events=$3 net_input_bytes=$((after - before))"
  # GET latency, sequential
  python3 - "$AP" "$id" "$N" "$label" <<'PY'
import sys,time,http.client
ap,sid,n,label=sys.argv[1],sys.argv[2],int(sys.argv[3]),sys.argv[4]
c=http.client.HTTPConnection("127.0.0.1",int(ap))
ts=[];size=0
for i in range(n):
    t=time.perf_counter(); c.request("GET","/api/v1/sessions/"+sid); r=c.getresponse(); body=r.read(); assert r.status==200, r.status; ts.append(time.perf_counter()-t); size=len(body)
ts.sort()
print(f"{label}: GET n={n} body={size} p50={ts[n//2]*1000:.2f}ms p99={ts[int(n*0.99)]*1000:.2f}ms")
PY
  echo "$id" >>"$TMP/ids"
}
run "1sp/3r" "Should we move the team to a four-day week? [fake:subproblems=1] [fake:rounds=3]"
run "3sp/3r" "Should we open a second office in Lisbon? [fake:subproblems=3] [fake:rounds=3]"
