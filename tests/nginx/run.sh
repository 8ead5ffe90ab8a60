#!/usr/bin/env bash
# tests/nginx/run.sh - a real nginx running the project's nginx/ rules in front of a
# real bo1d (and, for the buffering checks, in front of a slow event source).
#
#   tests/nginx/run.sh [path/to/bo1d]      (default $BO1_TEST_BO1D, then build/bo1d)
#
# The nginx configuration under test is generated around the real files:
# nginx/bo1-http.conf (http context) and nginx/bo1-locations.conf (server context);
# only the listen address and the upstream address differ from nginx/nginx.conf.
# Prints one line per check and `nginx: N passed, N failed`; exits 1 on failure.
# Every process it starts is stopped by PID on exit.
set -uo pipefail

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
BO1D=${1:-${BO1_TEST_BO1D:-$ROOT/build/bo1d}}
FAKE=${BO1_TEST_FAKE_LLM:-}
NGINX=${NGINX:-$(command -v nginx || echo /usr/sbin/nginx)}
PY=${PYTHON:-python3}
PROBE=$ROOT/tests/nginx/sse_probe.py
GAP=1.5     # seconds between the two events of the slow source

W=$(mktemp -d /tmp/bo1-nginx-test.XXXXXX)
chmod 755 "$W"
PIDS=()
PASS=0
FAIL=0

ok() { PASS=$((PASS + 1)); printf 'ok   %s\n' "$*"; }
bad() { FAIL=$((FAIL + 1)); printf 'FAIL %s\n' "$*"; }
skip() { printf 'skip %s\n' "$*"; }

cleanup() {
    local p
    for p in "${PIDS[@]}"; do kill -TERM "$p" 2>/dev/null; done
    for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null; done
    if [ "$FAIL" -eq 0 ]; then rm -rf "$W"; else echo "nginx: logs kept in $W"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

free_port() {
    "$PY" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}
wait_port() { # wait_port PORT: until something accepts on 127.0.0.1:PORT (5 s)
    local i
    for ((i = 0; i < 50; i++)); do
        (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0
        sleep 0.1
    done
    return 1
}
lt() { awk -v a="$1" -v b="$2" 'BEGIN { exit !(a < b) }'; }

for need in "$NGINX" "$BO1D"; do
    if [ ! -x "$need" ]; then
        echo "nginx: missing $need"
        echo "nginx: 0 passed, 1 failed"
        exit 1
    fi
done

# start_nginx NAME UPSTREAM_PORT [extra http-context directive...] -> sets NGX_PORT
start_nginx() {
    local name=$1 up=$2 d
    shift 2
    d=$W/$name
    mkdir -p "$d/logs"
    NGX_PORT=$(free_port)
    {
        echo "worker_processes 1;"
        echo "error_log $d/logs/error.log warn;"
        echo "pid $d/nginx.pid;"
        echo "events { worker_connections 512; }"
        echo "http {"
        echo "    include $ROOT/nginx/bo1-http.conf;"
        for extra in "$@"; do echo "    $extra"; done
        echo "    upstream bo1_app { server 127.0.0.1:$up; keepalive 32; }"
        echo "    server {"
        echo "        listen 127.0.0.1:$NGX_PORT;"
        echo "        include $ROOT/nginx/bo1-locations.conf;"
        echo "    }"
        echo "}"
    } >"$d/nginx.conf"
    if ! "$NGINX" -t -q -p "$d" -c "$d/nginx.conf" >"$d/logs/t.log" 2>&1; then
        cat "$d/logs/t.log"
        return 1
    fi
    "$NGINX" -p "$d" -c "$d/nginx.conf" -g 'daemon off;' >"$d/logs/stdout.log" 2>&1 &
    PIDS+=($!)
    wait_port "$NGX_PORT"
}

# --- 1. buffering, against a slow event source --------------------------------
SRC=$(free_port)
"$PY" "$PROBE" dribble "$SRC" "$GAP" >"$W/dribble.log" 2>&1 &
PIDS+=($!)
wait_port "$SRC" || bad "slow event source did not start"

if start_nginx proxy "$SRC"; then
    ok "nginx -t accepts the configuration (bo1-http.conf + bo1-locations.conf)"
else
    bad "nginx -t accepts the configuration"
fi
NP=$NGX_PORT
# The control: the same rules with proxy buffering forced on at the http level and
# a location that does not turn it off; it must show the delay the real rules avoid.
start_nginx control "$SRC" "proxy_buffering on;" || bad "control nginx did not start"
CP=$NGX_PORT

direct=$("$PY" "$PROBE" first "$SRC" /api/v1/sessions/s1/events)
via=$("$PY" "$PROBE" first "$NP" /api/v1/sessions/s1/events)
ctrl=$("$PY" "$PROBE" first "$CP" /api/v1/other/stream)
echo "  direct: ${direct%% *} s; through nginx SSE location: ${via%% *} s; buffered control: ${ctrl%% *} s"
if [ "${via%% *}" != none ] && lt "${via%% *}" 0.5; then
    ok "SSE location: the first event arrives at once through nginx (${via%% *} s; next event ${GAP} s later)"
else
    bad "SSE location: first event through nginx took ${via%% *} s"
fi
if [ "${ctrl%% *}" = none ] || ! lt "${ctrl%% *}" 1.0; then
    ok "control: a buffering proxy location holds the first event back (${ctrl%% *} s)"
else
    bad "control: a buffering location was not slower (${ctrl%% *} s) - the SSE check proves nothing"
fi
case $via in
*[Cc]ontent-[Ee]ncoding*) bad "SSE location: response is compressed (${via#* })" ;;
*) ok "SSE location: not compressed although the client accepts gzip" ;;
esac

# --- 2. in front of a real bo1d ------------------------------------------------
RPORT=$(free_port)
if command -v redis-server >/dev/null 2>&1; then
    redis-server --port "$RPORT" --bind 127.0.0.1 --save '' --appendonly no \
        --dir "$W" >"$W/redis.log" 2>&1 &
    PIDS+=($!)
    wait_port "$RPORT" || bad "redis-server did not start"
fi
BP=$(free_port)
FAKE_ENV=()
if [ -n "$FAKE" ] && [ -x "$FAKE" ]; then
    FP=$(free_port)
    "$FAKE" --port "$FP" >"$W/fake.log" 2>&1 &
    PIDS+=($!)
    wait_port "$FP"
    FAKE_ENV=(ANTHROPIC_API_KEY=fake ANTHROPIC_BASE_URL="http://127.0.0.1:$FP"
              VOYAGE_API_KEY=fake VOYAGE_BASE_URL="http://127.0.0.1:$FP" BO1_MODEL_SIMULATED=true)
fi
env PORT="$BP" BO1_BIND_ADDRESS=127.0.0.1 BO1_ENV=development BO1_LOG_LEVEL=info \
    REDIS_URL="redis://127.0.0.1:$RPORT/0" BO1_DATA_DIR="$ROOT/zzz_important" \
    BO1_EXPORTS_DIR="$W" BO1_ENV_FILE=/nonexistent "${FAKE_ENV[@]}" "$BO1D" >"$W/bo1d.log" 2>&1 &
PIDS+=($!)
if wait_port "$BP"; then ok "bo1d started on 127.0.0.1:$BP"; else bad "bo1d did not start"; fi
# Listening is not ready: the sessions API answers 503 until Redis is connected (and
# the checks below create sessions). With the fake as provider /ready must turn 200.
if [ ${#FAKE_ENV[@]} -gt 0 ]; then
    for ((i = 0; i < 200; i++)); do
        [ "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$BP/ready")" = 200 ] && break
        sleep 0.05
    done
    code=$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$BP/ready")
    if [ "$code" = 200 ]; then ok "bo1d is ready (Redis connected)"; else bad "bo1d /ready: $code after 10 s"; fi
fi
# bo1d sends "X-Accel-Buffering: no" on its streams, which alone turns nginx's buffering
# off; this nginx ignores that header so that only the rules in nginx/ act. (Measured
# with nginx 1.22: bo1d's chunked stream is passed on per read even when the SSE
# location buffers, so the checks against bo1d show the end-to-end delay; what proves
# that the location turns buffering off is the slow-source check above, which a
# buffering location fails.)
start_nginx app "$BP" "proxy_ignore_headers X-Accel-Buffering;" || bad "nginx in front of bo1d did not start"
AP=$NGX_PORT

hdr=$W/h.txt
code=$(curl -s -D "$hdr" -o "$W/b.txt" -w '%{http_code}' -H 'X-Request-ID: nginx-test-42' "http://127.0.0.1:$AP/health")
if [ "$code" = 200 ] && grep -q '"status":"ok"' "$W/b.txt"; then
    ok "GET /health through nginx: 200 from bo1d"
else
    bad "GET /health through nginx: $code $(head -c 200 "$W/b.txt")"
fi
n_rid=$(grep -ci '^x-request-id: nginx-test-42' "$hdr")
if [ "$n_rid" = 1 ]; then ok "X-Request-ID from the client is kept and echoed once"; else bad "X-Request-ID echoed $n_rid times"; fi
curl -s -o /dev/null -H 'X-Request-ID: nginx-test-43' "http://127.0.0.1:$AP/api/v1/nothing"
# bo1d writes the request's log line once the answer has gone out: wait for it (5 s).
for ((i = 0; i < 100; i++)); do
    grep -q '"request_id":"nginx-test-43"' "$W/bo1d.log" && break
    sleep 0.05
done
if grep -q '"request_id":"nginx-test-43"' "$W/bo1d.log"; then
    ok "bo1d receives the forwarded request id (in its log line)"
else
    bad "bo1d did not log the forwarded request id"
fi
code=$(curl -s -D "$hdr" -o /dev/null -w '%{http_code}' "http://127.0.0.1:$AP/health")
rid=$(grep -i '^x-request-id:' "$hdr" | tr -d '\r' | awk '{print $2}')
if [ ${#rid} -ge 16 ]; then ok "a request without X-Request-ID gets one ($rid)"; else bad "no generated X-Request-ID"; fi
miss=""
for h in 'X-Content-Type-Options: nosniff' 'X-Frame-Options: DENY' 'Referrer-Policy: no-referrer'; do
    [ "$(grep -ci "^$h" "$hdr")" = 1 ] || miss="$miss [$h]"
done
if [ -z "$miss" ]; then ok "security headers present exactly once"; else bad "security headers:$miss"; fi
if grep -qi '^server: nginx/' "$hdr"; then bad "nginx version is disclosed"; else ok "server_tokens off"; fi

# Upstream keep-alive: after some requests an idle connection to bo1d stays open.
for i in 1 2 3 4 5; do curl -s -o /dev/null "http://127.0.0.1:$AP/health"; done
est=$(ss -Htn state established "( dport = :$BP )" 2>/dev/null | wc -l)
if [ "$est" -ge 1 ]; then ok "upstream keep-alive: $est idle connection(s) from nginx to bo1d"; else bad "no kept-alive upstream connection"; fi

code=$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$AP/metrics")
if [ "$code" = 200 ]; then ok "/metrics reachable from loopback through nginx"; else bad "/metrics through nginx: $code"; fi

# Body limit: 64 KiB like bo1d; nginx answers 413 in the API's error shape.
head -c 70000 /dev/zero | tr '\0' 'a' >"$W/big.json"
code=$(curl -s -o "$W/b.txt" -D "$hdr" -w '%{http_code}' -X POST -H 'Content-Type: application/json' \
    --data-binary @"$W/big.json" "http://127.0.0.1:$AP/api/v1/sessions/x/interjections")
if [ "$code" = 413 ] && grep -q '"code":"TOO_LARGE"' "$W/b.txt" && grep -qi '^content-type: application/problem+json' "$hdr"; then
    ok "a 70 000-byte body gets 413 problem+json from nginx"
else
    bad "big body: $code $(head -c 200 "$W/b.txt")"
fi

# Listing sessions is not limited by the create zone: 20 quick GETs, no 429.
n429=0
for i in $(seq 1 20); do
    c=$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$AP/api/v1/sessions")
    [ "$c" = 429 ] && n429=$((n429 + 1))
done
if [ "$n429" = 0 ]; then ok "20 quick GET /api/v1/sessions: none limited (create zone counts POST only)"; else bad "GET flood: $n429 x 429"; fi

# Flooding create: burst 5 passes, the rest is 429 from nginx with Retry-After.
n429=0; nother=0; first429=""
for i in $(seq 1 30); do
    c=$(curl -s -o "$W/c.txt" -D "$W/ch.txt" -w '%{http_code}' -X POST -H 'Content-Type: application/json' \
        -d '{"problem":{"statement":"flood"},"options":{"start":false}}' "http://127.0.0.1:$AP/api/v1/sessions")
    if [ "$c" = 429 ]; then
        n429=$((n429 + 1))
        if [ -z "$first429" ]; then first429=$W/first429.txt; cp "$W/c.txt" "$first429"; cp "$W/ch.txt" "$W/first429h.txt"; fi
    else
        nother=$((nother + 1))
    fi
done
if [ "$n429" -ge 20 ] && [ "$nother" -le 7 ] && [ "$nother" -ge 1 ]; then
    ok "flooding POST /api/v1/sessions: $nother passed to bo1d, $n429 got 429"
else
    bad "flooding POST /api/v1/sessions: $nother passed, $n429 got 429"
fi
if [ -n "$first429" ] && grep -q '"code":"RATE_LIMITED"' "$first429" &&
    grep -qi '^retry-after: ' "$W/first429h.txt" && grep -qi '^content-type: application/problem+json' "$W/first429h.txt"; then
    ok "the 429 comes from nginx: problem+json, code RATE_LIMITED, Retry-After"
else
    bad "429 body/headers: $(head -c 200 "${first429:-/dev/null}")"
fi

# The first SSE event of a real session through nginx, against bo1d directly.
code=$(curl -s -o "$W/s.json" -w '%{http_code}' -X POST -H 'Content-Type: application/json' \
    -d '{"problem":{"statement":"Should we open a second shop? [fake:subproblems=1]"},"options":{"max_rounds":1}}' \
    "http://127.0.0.1:$BP/api/v1/sessions")
if [ "$code" = 201 ]; then
    id=$("$PY" -c 'import json,sys; print(json.load(open(sys.argv[1]))["id"])' "$W/s.json")
    d=$("$PY" "$PROBE" first "$BP" "/api/v1/sessions/$id/events")
    v=$("$PY" "$PROBE" first "$AP" "/api/v1/sessions/$id/events")
    echo "  bo1d SSE first event: direct ${d%% *} s, through nginx ${v%% *} s"
    if [ "${v%% *}" != none ] && [ "${d%% *}" != none ] && lt "${v%% *}" "$(awk -v d="${d%% *}" 'BEGIN{print d + 0.5}')"; then
        ok "bo1d SSE: the first event arrives through nginx as fast as directly"
    else
        bad "bo1d SSE: direct ${d%% *} s, through nginx ${v%% *} s"
    fi
    case $v in
    *[Cc]ontent-[Ee]ncoding*) bad "bo1d SSE through nginx is compressed" ;;
    *[Tt]ext/event-stream*) ok "bo1d SSE through nginx: text/event-stream, uncompressed" ;;
    *) bad "bo1d SSE through nginx: unexpected head ${v#* }" ;;
    esac
else
    skip "bo1d SSE through nginx (POST /api/v1/sessions answered $code: sessions API not there yet)"
fi

# A live event: two subscribers (direct and through nginx) wait on a session that has
# not started; starting it must reach both at the same moment (nginx holds nothing back).
code=$(curl -s -o "$W/l.json" -w '%{http_code}' -X POST -H 'Content-Type: application/json' \
    -d '{"problem":{"statement":"Should we hire a second baker? [fake:subproblems=1]"},"options":{"max_rounds":1,"start":false}}' \
    "http://127.0.0.1:$BP/api/v1/sessions")
if [ "$code" = 201 ]; then
    id=$("$PY" -c 'import json,sys; print(json.load(open(sys.argv[1]))["id"])' "$W/l.json")
    "$PY" "$PROBE" live "$BP" "/api/v1/sessions/$id/events" "$W/ready-d" >"$W/live-d.txt" 2>&1 &
    pd=$!
    "$PY" "$PROBE" live "$AP" "/api/v1/sessions/$id/events" "$W/ready-v" >"$W/live-v.txt" 2>&1 &
    pv=$!
    for ((i = 0; i < 50; i++)); do
        [ -e "$W/ready-d" ] && [ -e "$W/ready-v" ] && break
        sleep 0.1
    done
    t0=$("$PY" -c 'import time; print("%.6f" % time.time())')
    scode=$(curl -s -o /dev/null -w '%{http_code}' -X POST "http://127.0.0.1:$BP/api/v1/sessions/$id/start")
    wait "$pd"; wait "$pv"
    read -r td ed <"$W/live-d.txt"; read -r tv ev <"$W/live-v.txt"
    if [ "$td" != none ] && [ "$tv" != none ]; then
        dd=$(awk -v a="$td" -v b="$t0" 'BEGIN { printf "%.3f", a - b }')
        dv=$(awk -v a="$tv" -v b="$t0" 'BEGIN { printf "%.3f", a - b }')
        echo "  live event after start ($scode): direct $ed +$dd s, through nginx $ev +$dv s"
        if lt "$dv" "$(awk -v d="$dd" 'BEGIN { print d + 0.25 }')"; then
            ok "bo1d SSE live event: through nginx as fast as directly (+$dv s vs +$dd s)"
        else
            bad "bo1d SSE live event: through nginx +$dv s, directly +$dd s"
        fi
    else
        bad "bo1d SSE live event: direct '$(cat "$W/live-d.txt")', nginx '$(cat "$W/live-v.txt")' (start: $scode)"
    fi
else
    bad "create a session with start=false: $code"
fi

echo "nginx: $PASS passed, $FAIL failed"
[ "$FAIL" -eq 0 ]
