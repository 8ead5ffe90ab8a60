#!/usr/bin/env bash
# The official Anthropic and OpenAI SDKs against bo1-fake-llm: proves the fake speaks the
# real wire formats. $1: the build folder. Ends with "sdk: N passed, N failed".
set -uo pipefail
cd "$(dirname "$0")/../.."
command -v npm >/dev/null || { echo "sdk: 0 passed, 1 failed (npm missing)"; exit 1; }
bash tests/sdk/run.sh "$1/src/fake/bo1-fake-llm"
