#!/usr/bin/env bash
# The whole test suite: installs missing test dependencies first (Debian's zookeeper and
# redis-server, the npm packages), then runs every test. Extra arguments go to vitest.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/test-deps.sh
[ -d node_modules ] || npm ci --no-audit --no-fund
exec npx vitest run "$@"
