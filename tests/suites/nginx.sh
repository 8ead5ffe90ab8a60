#!/usr/bin/env bash
# A real nginx running the project's nginx/ rules in front of a real bo1d (with its own
# redis-server and bo1-fake-llm): the first SSE event arrives through nginx as fast as
# directly, flooding the create endpoint gets 429 from nginx, the request id is
# forwarded, security headers, body limit, upstream keep-alive (tests/nginx/run.sh).
# $1: the build folder. Installs nginx from apt when missing.
# Ends with "nginx: N passed, N failed".
set -uo pipefail
cd "$(dirname "$0")/../.."
. scripts/lib.sh
BUILD=${1:-build}
bo1_apt_install nginx redis-server curl python3 iproute2 >/dev/null 2>&1 ||
    bo1_apt_install nginx redis-server curl python3 iproute2 >/dev/null 2>&1
for f in "$BUILD/bo1d" "$BUILD/src/fake/bo1-fake-llm"; do
    [ -x "$f" ] || { echo "nginx: 0 passed, 1 failed (missing $f)"; exit 1; }
done
BO1_TEST_FAKE_LLM="$BUILD/src/fake/bo1-fake-llm" exec bash tests/nginx/run.sh "$BUILD/bo1d"
