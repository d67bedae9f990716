# Sourced by redis.sh and sentinel.sh. Sets SELF, the name this node announces, and PRIMARY, the
# primary's: the one the first sentinel to answer names, else (the set's first start, no sentinel
# up yet) REDIS_FIRST, the node that starts as the primary.
# Environment: REDIS_DOMAIN (appended to the host name, empty in compose), REDIS_SENTINEL_HOSTS
# (space-separated), REDIS_MASTER_NAME, REDIS_FIRST, REDIS_PASSWORD (optional).
# shellcheck disable=SC2034 # read by the scripts that source this one
SELF="$(hostname)${REDIS_DOMAIN:+.$REDIS_DOMAIN}"
if [ -n "${REDIS_PASSWORD:-}" ]; then
  export REDISCLI_AUTH="$REDIS_PASSWORD"
fi
PRIMARY=""
for sentinel in $REDIS_SENTINEL_HOSTS; do
  answer="$(timeout 3 redis-cli -h "$sentinel" -p 26379 --raw \
    sentinel get-master-addr-by-name "$REDIS_MASTER_NAME" 2>/dev/null || true)"
  # Two lines, host and port; anything else (an error, nothing) is no answer.
  port="$(printf '%s\n' "$answer" | sed -n 2p)"
  case "$port" in
    '' | *[!0-9]*) ;;
    *)
      PRIMARY="$(printf '%s\n' "$answer" | sed -n 1p)"
      break
      ;;
  esac
done
PRIMARY="${PRIMARY:-$REDIS_FIRST}"
