#!/usr/bin/env bash
# bo1d under valgrind memcheck through one integration scenario: Redis, bo1-fake-llm and
# bo1d (valgrind --leak-check=full, definite leaks and every memory error count), then
# /health, a session that runs a full deliberation while an SSE client follows it, a second
# one that asks a clarifying question and is answered, a third cancelled mid-run, the event
# page, an SSE resume with Last-Event-ID, the report in JSON and Markdown, listing with a
# cursor, the error paths (400, 404, 405, 409, 413), a session that completes although the
# provider rate-limits, garbles and fails some calls, one that fails on a spend limit, and
# SIGTERM. Asserts a clean exit, zero definite leaks and zero invalid
# accesses. $1: the build folder (default build-test). Installs valgrind when missing.
# Ends with "valgrind: N passed, N failed".
set -uo pipefail
cd "$(dirname "$0")/../.."
ROOT=$PWD
. scripts/lib.sh
BUILD=$(cd "${1:-build-test}" && pwd)

PASS=0
FAIL=0
check() { # check NAME COMMAND...: one counted check
  local name=$1
  shift
  if "$@"; then
    PASS=$((PASS + 1))
    echo "  ok   $name"
  else
    FAIL=$((FAIL + 1))
    echo "  FAIL $name"
  fi
}
finish() {
  echo "valgrind: $PASS passed, $FAIL failed"
  [ "$FAIL" -eq 0 ]
  exit
}

if ! command -v valgrind >/dev/null; then
  bo1_apt_install valgrind || true
fi
have_valgrind() { command -v valgrind >/dev/null; }
check "valgrind is installed" have_valgrind
if ! command -v valgrind >/dev/null || [ ! -x "$BUILD/bo1d" ] || [ ! -x "$BUILD/src/fake/bo1-fake-llm" ]; then
  FAIL=$((FAIL + 1))
  echo "  FAIL $BUILD/bo1d and $BUILD/src/fake/bo1-fake-llm must be built"
  finish
fi

WORK=$(mktemp -d /tmp/bo1-valgrind.XXXXXX)
PIDS=()
cleanup() {
  for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null; done
  for pid in "${PIDS[@]}"; do wait "$pid" 2>/dev/null; done
}
trap cleanup EXIT
trap 'exit 130' INT TERM

REDIS_PORT=$(bo1_free_port)
FAKE_PORT=$(bo1_free_port)
PORT=$(bo1_free_port)
BASE=http://127.0.0.1:$PORT
redis-server --port "$REDIS_PORT" --bind 127.0.0.1 --dir "$WORK" --save "" --appendonly no \
  >"$WORK/redis.log" 2>&1 &
PIDS+=($!)
"$BUILD/src/fake/bo1-fake-llm" --port "$FAKE_PORT" --threads 2 --latency-ms 20 >"$WORK/fake.log" 2>&1 &
PIDS+=($!)

VG_EXIT=99
env -i PATH="$PATH" HOME="$WORK" PORT="$PORT" REDIS_URL="redis://127.0.0.1:$REDIS_PORT/0" \
  BO1_ENV_FILE=/nonexistent BO1_DATA_DIR="$ROOT/zzz_important" BO1_EXPORTS_DIR="$WORK/exports" \
  ANTHROPIC_BASE_URL="http://127.0.0.1:$FAKE_PORT" ANTHROPIC_API_KEY=simulated \
  BO1_MODEL_SIMULATED=true BO1_MODEL_DEEP=fake-deep BO1_MODEL_FAST=fake-fast \
  BO1_HTTP_THREADS=2 BO1_SHUTDOWN_GRACE_S=10 BO1_LLM_TIMEOUT_MS=60000 \
  valgrind --leak-check=full --errors-for-leak-kinds=definite --show-leak-kinds=definite \
  --error-exitcode=$VG_EXIT --num-callers=30 --track-fds=no --log-file="$WORK/valgrind.log" \
  "$BUILD/bo1d" >"$WORK/bo1d.log" 2>&1 &
BO1D=$!
PIDS+=($BO1D)

# Under valgrind start-up takes a few seconds.
healthy() {
  for _ in $(seq 240); do
    curl -sf -o /dev/null "$BASE/health" && return 0
    kill -0 "$BO1D" 2>/dev/null || return 1
    sleep 0.5
  done
  return 1
}
check "bo1d under valgrind answers /health" healthy

json_get() { # json_get FILE PYTHON-EXPR (on j): prints the value
  python3 -c 'import json,sys; j=json.load(open(sys.argv[1])); print(eval(sys.argv[2]))' "$1" "$2" \
    2>/dev/null
}
status_of() {
  curl -s -o "$WORK/s.json" "$BASE/api/v1/sessions/$1"
  json_get "$WORK/s.json" 'j.get("status")'
}
wait_status() { # wait_status ID STATUS SECONDS
  local s=""
  for _ in $(seq $(($3 * 2))); do
    s=$(status_of "$1")
    [ "$s" = "$2" ] && return 0
    case $s in completed | failed | cancelled) break ;; esac
    sleep 0.5
  done
  echo "    session $1 is '$s', wanted '$2'" >&2
  return 1
}

code=$(curl -s -o "$WORK/health.json" -w '%{http_code}' "$BASE/health")
check "GET /health is 200 ok" test "$code" = 200 -a "$(json_get "$WORK/health.json" 'j["status"]')" = ok

# 1. A full deliberation (decomposition, rounds, vote, synthesis) followed over SSE.
code=$(curl -s -o "$WORK/create1.json" -w '%{http_code}' -X POST -H 'Content-Type: application/json' \
  "$BASE/api/v1/sessions" \
  -d '{"problem":{"statement":"Should we open a second office in Lisbon next year? [fake:subproblems=2] [fake:rounds=2]"},"options":{"clarify":false,"max_rounds":2}}')
ID1=$(json_get "$WORK/create1.json" 'j["id"]')
check "POST /api/v1/sessions is 201 with an id" test "$code" = 201 -a -n "$ID1"
curl -sN --max-time 240 -H 'Accept: text/event-stream' "$BASE/api/v1/sessions/$ID1/events" \
  >"$WORK/sse.txt" 2>/dev/null &
SSE=$!
PIDS+=($SSE)
check "the deliberation completes" wait_status "$ID1" completed 200
sse_done() {
  for _ in $(seq 60); do
    grep -q '^event: session.completed' "$WORK/sse.txt" && return 0
    sleep 0.5
  done
  return 1
}
check "the SSE client receives session.completed" sse_done
kill "$SSE" 2>/dev/null
curl -s -o "$WORK/events.json" "$BASE/api/v1/sessions/$ID1/events?limit=1000"
n_page=$(json_get "$WORK/events.json" 'len(j["events"])')
n_sse=$(grep -c '^id: ' "$WORK/sse.txt")
check "SSE delivered every stored event ($n_sse of $n_page)" test -n "$n_page" -a "$n_sse" = "$n_page"
code=$(curl -s -o "$WORK/report.json" -w '%{http_code}' "$BASE/api/v1/sessions/$ID1/report")
check "GET report (JSON) is 200 with a recommendation" test "$code" = 200 -a \
  "$(json_get "$WORK/report.json" '"recommendation" in json.dumps(j)')" = True
code=$(curl -s -o "$WORK/report.md" -w '%{http_code}' "$BASE/api/v1/sessions/$ID1/report?format=md")
check "GET report (Markdown) is 200 with a heading" test "$code" = 200 -a "$(head -c 1 "$WORK/report.md")" = "#"

# 2. A clarifying question, answered through POST .../answers.
code=$(curl -s -o "$WORK/create2.json" -w '%{http_code}' -X POST -H 'Content-Type: application/json' \
  "$BASE/api/v1/sessions" \
  -d '{"problem":{"statement":"Hire a CTO now or promote from within? [fake:clarify=1] [fake:rounds=1]"},"options":{"clarify":true,"max_rounds":1}}')
ID2=$(json_get "$WORK/create2.json" 'j["id"]')
check "a second session is created" test "$code" = 201 -a -n "$ID2"
check "it waits for an answer" wait_status "$ID2" awaiting_input 120
code=$(curl -s -o "$WORK/answers.json" -w '%{http_code}' -X POST -H 'Content-Type: application/json' \
  "$BASE/api/v1/sessions/$ID2/answers" -d '{"answers":{"q1":"About 200k EUR this year"}}')
check "POST answers is accepted ($code)" test "$code" = 202 -o "$code" = 200
check "the answered session completes" wait_status "$ID2" completed 200

# 3. Cancelled mid-run, resumed SSE, listing, and the error paths (where leaks hide).
#    Its model calls are slowed (300 ms each) so the cancel lands mid-run however fast the
#    engine is; a fixed sleep before the cancel once let the session complete first.
curl -s -o /dev/null -X POST "http://127.0.0.1:$FAKE_PORT/_fake/faults" \
  -d '{"contains":"billing stack","latency_ms":300}'
code=$(curl -s -o "$WORK/create3.json" -w '%{http_code}' -X POST -H 'Content-Type: application/json' \
  "$BASE/api/v1/sessions" \
  -d '{"problem":{"statement":"Move the billing stack to a new provider? [fake:subproblems=3] [fake:rounds=3]"},"options":{"clarify":false}}')
ID3=$(json_get "$WORK/create3.json" 'j["id"]')
check "a third session is created" test "$code" = 201 -a -n "$ID3"
check "it runs" wait_status "$ID3" running 60
code=$(curl -s -o /dev/null -w '%{http_code}' -X POST "$BASE/api/v1/sessions/$ID3/cancel")
check "POST cancel is accepted ($code)" test "$code" = 202 -o "$code" = 200
check "the cancelled session ends cancelled" wait_status "$ID3" cancelled 120
mid=$(grep '^id: ' "$WORK/sse.txt" | sed -n '10s/^id: //p')
curl -sN --max-time 10 -H 'Accept: text/event-stream' -H "Last-Event-ID: $mid" \
  "$BASE/api/v1/sessions/$ID1/events" >"$WORK/sse2.txt" 2>/dev/null
n_resume=$(grep -c '^id: ' "$WORK/sse2.txt")
check "SSE resumed after Last-Event-ID replays the rest ($n_resume of $((n_page - 10)))" \
  test "$n_resume" = "$((n_page - 10))"
code=$(curl -s -o "$WORK/list.json" -w '%{http_code}' "$BASE/api/v1/sessions?limit=2")
cursor=$(json_get "$WORK/list.json" 'j["next_cursor"]')
code2=$(curl -s -o "$WORK/list2.json" -w '%{http_code}' "$BASE/api/v1/sessions?limit=2&cursor=$cursor")
check "sessions list pages with a cursor ($code $code2)" test "$code" = 200 -a "$code2" = 200 \
  -a "$(json_get "$WORK/list2.json" 'len(j["items"])')" = 1
errors_ok=1
expect() { # expect STATUS METHOD PATH [BODY]
  local want=$1 method=$2 path=$3 got
  if [ $# -ge 4 ]; then
    got=$(curl -s -o /dev/null -w '%{http_code}' -X "$method" -H 'Content-Type: application/json' \
      --data-binary "$4" "$BASE$path")
  else
    got=$(curl -s -o /dev/null -w '%{http_code}' -X "$method" "$BASE$path")
  fi
  [ "$got" = "$want" ] || { echo "    $method $path: $got, wanted $want" >&2; errors_ok=0; }
}
S=/api/v1/sessions
expect 400 POST $S '{"problem":'
expect 400 POST $S '{"problem":{"statement":5},"options":{"personas":"x","max_rounds":0},"x":1}'
expect 400 POST $S '{"problem":{"statement":"Long enough statement here","constraints":[1,{"type":""}]}}'
expect 413 POST $S "{\"problem\":{\"statement\":\"$(head -c 70000 /dev/zero | tr '\0' a)\"}}"
expect 404 GET $S/AAAAAAAAAAAAAAAAAAAAAA
expect 404 GET /nope
expect 405 PUT $S
expect 400 GET "$S/$ID1/events?after=99999999999999999999-0"
expect 400 GET "$S?limit=0"
expect 400 GET "$S?cursor=1.x"
expect 400 POST "$S/$ID2/answers" '{"answers":{"q1":5}}'
expect 400 POST "$S/$ID2/interjections" '{"text":"   "}'
expect 409 POST "$S/$ID1/pause"
check "error paths answer as API.md says" test "$errors_ok" = 1

# 4. The provider misbehaves: rate limits with retry-after, malformed and truncated
#    answers, 500s; then a spend limit that fails the session. Failure paths leak most.
FAKE=http://127.0.0.1:$FAKE_PORT
curl -s -o /dev/null -X POST "$FAKE/_fake/faults" -d '{"faults":[
  {"task":"contribute","error":"429","count":3,"retry_after_ms":50},
  {"task":"summarize","error":"malformed","count":2},
  {"task":"vote","error":"truncated","count":1},
  {"task":"facilitate","error":"500","count":2}],"replace":true}'
code=$(curl -s -o "$WORK/create4.json" -w '%{http_code}' -X POST -H 'Content-Type: application/json' \
  "$BASE/api/v1/sessions" \
  -d '{"problem":{"statement":"Raise prices by ten percent this quarter? [fake:rounds=2]"},"options":{"clarify":false,"max_rounds":2}}')
ID4=$(json_get "$WORK/create4.json" 'j["id"]')
check "a session is created while the provider misbehaves" test "$code" = 201 -a -n "$ID4"
check "it still completes (retries, repairs, fallbacks)" wait_status "$ID4" completed 200
retried=$(json_get "$WORK/s.json" 'max(e.get("attempts", 1) for e in j["ledger"])')
check "the faults were hit: a call took $retried attempts" test "${retried:-1}" -ge 2
curl -s -o /dev/null -X POST "$FAKE/_fake/faults" \
  -d '{"faults":[{"error":"spend_limit"}],"replace":true}'
code=$(curl -s -o "$WORK/create5.json" -w '%{http_code}' -X POST -H 'Content-Type: application/json' \
  "$BASE/api/v1/sessions" \
  -d '{"problem":{"statement":"Close the Berlin office by the end of the year?"},"options":{"clarify":false}}')
ID5=$(json_get "$WORK/create5.json" 'j["id"]')
check "a session is created with the provider out of credit" test "$code" = 201 -a -n "$ID5"
check "it fails cleanly" wait_status "$ID5" failed 120
check "its failure names the spend limit" grep -qi "spend" "$WORK/s.json"
curl -s -o /dev/null -X DELETE "$FAKE/_fake/faults"

# 5. SIGTERM: an orderly stop, then valgrind's verdict.
kill -TERM "$BO1D"
stopped() {
  for _ in $(seq 120); do
    kill -0 "$BO1D" 2>/dev/null || return 0
    sleep 0.5
  done
  return 1
}
check "bo1d stops on SIGTERM" stopped
wait "$BO1D"
rc=$?
check "bo1d exits 0 under valgrind (rc $rc; $VG_EXIT = memcheck errors)" test "$rc" = 0
VG=$WORK/valgrind.log
check "valgrind log is complete" grep -q "ERROR SUMMARY" "$VG"
n_err=$(sed -n 's/.*ERROR SUMMARY: \([0-9]*\) errors.*/\1/p' "$VG" | tail -1)
check "memcheck: 0 errors (${n_err:-?})" test "${n_err:-1}" = 0
n_bad=$(grep -cE "Invalid (read|write|free)|uninitialised|Mismatched free|overlap" "$VG")
check "memcheck: 0 invalid accesses ($n_bad)" test "$n_bad" = 0
definite=$(sed -n 's/.*definitely lost: \([0-9,]*\) bytes.*/\1/p' "$VG" | tail -1 | tr -d ,)
check "memcheck: 0 bytes definitely lost (${definite:-0})" test "${definite:-0}" = 0
if [ "$FAIL" -ne 0 ]; then
  echo "  logs kept in $WORK; valgrind says:"
  grep -E "==[0-9]+== (Invalid|Conditional|.*definitely lost|   (at|by) 0x)" "$VG" | head -40
  tail -20 "$WORK/bo1d.log"
else
  rm -rf "$WORK"
fi
finish
