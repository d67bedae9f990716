#!/bin/sh
# A Redis of a Sentinel set, nothing on disk: a replica of the primary the sentinels name, or the
# primary itself when that is this node (the first start of the set, or a failover's choice).
# Without REDIS_SENTINEL_HOSTS, a Redis on its own. The config file goes to the working directory
# (the image's /data), with the password if any: never on the command line.
set -eu
conf="$PWD/redis.conf"
{
  echo 'port 6379'
  echo 'save ""'
  echo 'appendonly no'
  echo "dir $PWD"
  if [ -n "${REDIS_PASSWORD:-}" ]; then
    echo "requirepass $REDIS_PASSWORD"
    echo "masterauth $REDIS_PASSWORD"
  fi
} > "$conf"
if [ -n "${REDIS_SENTINEL_HOSTS:-}" ]; then
  . "$(dirname "$0")/primary.sh"
  echo "replica-announce-ip $SELF" >> "$conf"
  if [ "$PRIMARY" != "$SELF" ]; then
    echo "replicaof $PRIMARY 6379" >> "$conf"
  fi
fi
exec redis-server "$conf"
