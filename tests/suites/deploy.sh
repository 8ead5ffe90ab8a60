#!/usr/bin/env bash
# The deployment files, checked without an engine (scripts/validate-deploy): both compose
# files pass `docker-compose config -q`, the Dockerfile passes two linters, nginx/ passes
# `nginx -t`, .env.example covers the compose variables. Installs what it needs (apt:
# docker-compose, nginx; npm: the linters). $1 (the build folder) is not needed.
# Ends with "deploy: N passed, N failed".
set -uo pipefail
cd "$(dirname "$0")/../.."
out=$(mktemp /tmp/bo1-deploy.XXXXXX)
bash scripts/validate-deploy >"$out" 2>&1
rc=$?
sed '$d' "$out"
last=$(tail -n 1 "$out")
rm -f "$out"
if [[ $last =~ ^validate-deploy:\ ([0-9]+)\ passed,\ ([0-9]+)\ failed ]]; then
    echo "deploy: ${BASH_REMATCH[1]} passed, ${BASH_REMATCH[2]} failed"
else
    echo "$last"
    echo "deploy: 0 passed, 1 failed (validate-deploy did not finish)"
    exit 1
fi
exit "$rc"
