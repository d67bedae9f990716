#!/usr/bin/env bash
# Installs what the test suite starts for real: ZooKeeper 3.8 (with a JRE), redis-server,
# Apache Curator 5.4's service discovery with a JDK (the Curator probe is compiled on first
# use), the Prometheus Python client's text parser and Chromium (the console's browser tests), from
# Debian's packages, when missing. Run by `npm test` before the tests;
# with --bench also etcd (etcd-server), which only the benchmarks start.
set -euo pipefail

missing=()
{ command -v java >/dev/null && [ -f /usr/share/java/zookeeper.jar ]; } || missing+=(zookeeper)
command -v redis-server >/dev/null || missing+=(redis-server)
[ -f /usr/share/java/curator-x-discovery.jar ] || missing+=(libcurator-discovery-java)
# zookeeper brings only a JRE; test/support/curator.ts compiles its probe with javac.
command -v javac >/dev/null || missing+=(default-jdk-headless)
# The official Prometheus client's parser checks /metrics independently of prom-client. Debian's
# interpreter, not whatever python3 comes first on PATH: that is where the package installs.
/usr/bin/python3 -c 'import prometheus_client.parser' 2>/dev/null || missing+=(python3-prometheus-client)
# The web console's end-to-end tests drive Debian's Chromium with playwright-core (no download).
[ -x /usr/bin/chromium ] || missing+=(chromium)
if [ "${1:-}" = --bench ]; then
  command -v etcd >/dev/null || missing+=(etcd-server)
fi
[ ${#missing[@]} -eq 0 ] && exit 0

echo "test setup: installing ${missing[*]} (Debian packages the tests start on loopback)" >&2
if [ "$(id -u)" -eq 0 ]; then
  sudo=()
elif command -v sudo >/dev/null; then
  sudo=(sudo)
else
  echo "test setup: need root to run: apt-get install -y ${missing[*]}" >&2
  exit 1
fi
export DEBIAN_FRONTEND=noninteractive
install() { "${sudo[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null; }
# Refresh the package lists only when apt does not know the packages or its lists are stale.
if ! apt-cache show "${missing[@]}" >/dev/null 2>&1 || ! install; then
  "${sudo[@]}" apt-get update -qq
  install
fi
