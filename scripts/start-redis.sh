#!/usr/bin/env bash
# Start Debian's redis-server on loopback for development and CI (without systemd), daemonized,
# and print the URL the tests take as VPSORG_TEST_REDIS_URL (and the API as
# VPSORG_RATE_LIMIT_STORAGE). Port: $REDIS_PORT, default 6390 (not 6379, so that a Redis the
# machine already runs is left alone). Nothing is saved to disk: rate-limit counters only.
# Running it again while that Redis answers just prints the URL.
set -euo pipefail

port=${REDIS_PORT:-6390}
dir=${REDIS_DIR:-/tmp/vpsorg-redis-$port}
url="redis://127.0.0.1:$port/0"
if redis-cli -h 127.0.0.1 -p "$port" ping 2>/dev/null | grep -q PONG; then
    echo "$url"
    exit 0
fi
mkdir -p "$dir"
redis-server --bind 127.0.0.1 --port "$port" --protected-mode yes \
    --daemonize yes --pidfile "$dir/redis.pid" --logfile "$dir/redis.log" --dir "$dir" \
    --save '' --appendonly no >/dev/null
for _ in $(seq 1 60); do
    if redis-cli -h 127.0.0.1 -p "$port" ping 2>/dev/null | grep -q PONG; then
        echo "$url"
        exit 0
    fi
    sleep 0.25
done
echo "redis-server did not answer on 127.0.0.1:$port within 15 s (see $dir/redis.log)" >&2
exit 1
