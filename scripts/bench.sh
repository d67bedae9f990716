#!/usr/bin/env bash
# The side-by-side benchmarks: installs what they start when missing (Debian's zookeeper,
# redis-server and etcd-server, the npm packages), then runs bench/run.ts. Arguments go to it:
# --quick, --only config,propagation,registry,memory,store,scanner, --cpu-prof.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/test-deps.sh --bench
[ -d node_modules ] || npm ci --no-audit --no-fund
# A server holds one descriptor per connection: the scale scenarios (20,000 idle streams in one
# process) need the soft open-file limit raised to the hard one, for the gateways and the clients.
ulimit -n "$(ulimit -Hn)"
exec node --import tsx bench/run.ts "$@"
