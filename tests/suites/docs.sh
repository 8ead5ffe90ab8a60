#!/usr/bin/env bash
# Generated documentation stays true: README's configuration table and .env.example are
# exactly what the knob table in bo1d produces. Usage: tests/suites/docs.sh <build-dir>
set -uo pipefail
cd "$(dirname "$0")/../.."
BUILD=${1:-build-test}
PASS=0
FAIL=0
check() {
  local what=$1
  shift
  if "$@"; then PASS=$((PASS + 1)); else FAIL=$((FAIL + 1)); echo "FAIL: $what"; fi
}
table=$("$BUILD/bo1d" --config-table)
readme_table=$(sed -n '/^| `PORT`/,/^$/p' README.md | grep '^| `')
check "README configuration table equals bo1d --config-table" [ "$table" == "$readme_table" ]
example=$("$BUILD/bo1d" --env-example)
check ".env.example equals bo1d --env-example after its header" \
  [ "$example" == "$(tail -n +4 .env.example | sed '/^# ----/,$d' | sed -e :a -e '/^\n*$/{$d;N;ba' -e '}')" ]
for var in $(grep -oE '^#? ?[A-Z][A-Z0-9_]+=' .env.example | tr -d '#= '); do
  check "$var documented in README" grep -q "\`$var\`" README.md
done
echo "docs: $PASS passed, $FAIL failed"
