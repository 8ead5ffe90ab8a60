#!/usr/bin/env bash
# api-spec/openapi.yaml: lint it with @redocly/cli (zero errors), then run the contract
# test (tests/openapi/contract.mjs): live bo1d responses, success and error, and every SSE
# event of a full deliberation validated against the document.
# $1: the build folder (bo1d, src/fake/bo1-fake-llm). Ends with "openapi: N passed, N failed".
set -uo pipefail
cd "$(dirname "$0")/../.."
ROOT=$PWD
build=${1:?usage: tests/suites/openapi.sh <build-dir>}
case $build in /*) ;; *) build=$ROOT/$build ;; esac
spec=$ROOT/api-spec/openapi.yaml
dir=$ROOT/tests/openapi

command -v npm >/dev/null || { echo "openapi: 0 passed, 1 failed (npm missing)"; exit 1; }
for bin in "$build/bo1d" "$build/src/fake/bo1-fake-llm"; do
  [ -x "$bin" ] || { echo "openapi: $bin is not built"; echo "openapi: 0 passed, 1 failed"; exit 1; }
done

# The npm packages live in tests/openapi/node_modules (git-ignored), installed once from the
# lock file and reused.
if [ ! -x "$dir/node_modules/.bin/redocly" ] || [ ! -d "$dir/node_modules/ajv" ] ||
   [ ! -d "$dir/node_modules/yaml" ]; then
  (cd "$dir" && { npm ci --no-audit --no-fund || npm install --no-audit --no-fund; }) >&2 || {
    echo "openapi: npm install failed"; echo "openapi: 0 passed, 1 failed"; exit 1; }
fi

passed=0
failed=0

echo "== redocly lint $spec"
lint_out=$("$dir/node_modules/.bin/redocly" lint --config "$ROOT/api-spec/redocly.yaml" "$spec" 2>&1)
lint_rc=$?
echo "$lint_out" | grep -vE '^\s*(║|╔|╚)' | sed '/^\s*$/d' | tail -15
if [ $lint_rc -eq 0 ] && echo "$lint_out" | grep -q "Your API description is valid"; then
  passed=$((passed + 1))
else
  echo "FAIL redocly lint (exit $lint_rc)"
  failed=$((failed + 1))
fi

echo "== contract test against $build/bo1d"
contract_out=$(cd "$dir" && node contract.mjs "$build" "$spec" 2>&1)
echo "$contract_out"
last=$(echo "$contract_out" | tail -1)
if [[ $last =~ openapi-contract:\ ([0-9]+)\ passed,\ ([0-9]+)\ failed ]]; then
  passed=$((passed + BASH_REMATCH[1]))
  failed=$((failed + BASH_REMATCH[2]))
else
  echo "FAIL the contract test did not finish"
  failed=$((failed + 1))
fi

echo "openapi: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
