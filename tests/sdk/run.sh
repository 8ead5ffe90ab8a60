#!/bin/sh
# Run the official Anthropic and OpenAI SDKs against bo1-fake-llm.
# Usage: tests/sdk/run.sh <path-to-bo1-fake-llm>
set -eu
bin=${1:?usage: tests/sdk/run.sh <path-to-bo1-fake-llm>}
case $bin in /*) ;; *) bin=$(pwd)/$bin ;; esac
[ -x "$bin" ] || { echo "sdk: $bin is not executable" >&2; exit 2; }
here=$(cd "$(dirname "$0")" && pwd)
cd "$here"

if [ ! -d node_modules/@anthropic-ai/sdk ] || [ ! -d node_modules/openai ]; then
    npm ci --no-audit --no-fund >&2 || npm install --no-audit --no-fund >&2
fi

port=$(node -e 'const s=require("net").createServer();s.listen(0,"127.0.0.1",()=>{console.log(s.address().port);s.close()})')
key=sdk-test-key
log=$(mktemp /tmp/bo1-fake-sdk.XXXXXX)
"$bin" --port "$port" --seed 5 --api-key "$key" >"$log" 2>&1 &
pid=$!
cleanup() {
    kill "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
    rm -f "$log"
}
trap cleanup EXIT INT TERM

status=0
node check.mjs "$port" "$key" || status=$?
if [ "$status" -ne 0 ]; then
    echo "sdk: bo1-fake-llm log (last lines):" >&2
    tail -n 20 "$log" >&2
fi
exit "$status"
