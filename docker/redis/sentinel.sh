#!/bin/sh
# A sentinel watching the primary the other sentinels name (the first node on the set's first
# start). Sentinel rewrites its config file, so it is written afresh, to the working directory.
# Environment: as primary.sh, and REDIS_QUORUM, REDIS_DOWN_AFTER_MS, REDIS_FAILOVER_TIMEOUT_MS.
set -eu
. "$(dirname "$0")/primary.sh"
conf="$PWD/sentinel.conf"
{
  echo 'port 26379'
  echo 'sentinel resolve-hostnames yes'
  echo 'sentinel announce-hostnames yes'
  echo "sentinel announce-ip $SELF"
  echo "sentinel monitor $REDIS_MASTER_NAME $PRIMARY 6379 $REDIS_QUORUM"
  echo "sentinel down-after-milliseconds $REDIS_MASTER_NAME $REDIS_DOWN_AFTER_MS"
  echo "sentinel failover-timeout $REDIS_MASTER_NAME $REDIS_FAILOVER_TIMEOUT_MS"
  if [ -n "${REDIS_PASSWORD:-}" ]; then
    echo "sentinel auth-pass $REDIS_MASTER_NAME $REDIS_PASSWORD"
    echo "requirepass $REDIS_PASSWORD"
    echo "sentinel sentinel-pass $REDIS_PASSWORD"
  fi
} > "$conf"
exec redis-server "$conf" --sentinel
