#!/usr/bin/env bash
# The side-by-side benchmarks: installs what they start when missing (Debian's zookeeper,
# redis-server and etcd-server, the npm packages), then runs bench/run.ts. Arguments go to it:
# --quick, --only config,propagation,registry,memory,store,scanner, --cpu-prof.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/test-deps.sh --bench
[ -d node_modules ] || npm ci --no-audit --no-fund
exec node --import tsx bench/run.ts "$@"
