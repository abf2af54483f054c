#!/usr/bin/env bash
# Make sure PostgreSQL and Redis answer on this machine, starting them if they are
# installed but stopped. Exits non-zero, loudly, when PostgreSQL cannot be had.
set -uo pipefail

pg_up() { pg_isready -q -h 127.0.0.1 -p 5432 2>/dev/null || (exec 3<>/dev/tcp/127.0.0.1/5432) 2>/dev/null; }
redis_up() { redis-cli -h 127.0.0.1 -p 6379 ping 2>/dev/null | grep -q PONG || (exec 3<>/dev/tcp/127.0.0.1/6379) 2>/dev/null; }

wait_for() { # name check-function seconds
  for _ in $(seq 1 "$3"); do "$2" && return 0; sleep 1; done
  return 1
}

if ! pg_up; then
  echo "PostgreSQL is not answering; trying to start it" >&2
  if command -v pg_ctlcluster >/dev/null 2>&1 && [ -d /etc/postgresql ]; then
    pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | head -1)" main start || true
  fi
  wait_for PostgreSQL pg_up 30 || { echo "FATAL: PostgreSQL is not available at 127.0.0.1:5432" >&2; exit 1; }
fi
echo "PostgreSQL: ok"

if ! redis_up; then
  echo "Redis is not answering; trying to start it" >&2
  if command -v redis-server >/dev/null 2>&1; then
    mkdir -p /var/lib/redis /var/log/redis 2>/dev/null || true
    redis-server --daemonize yes --bind 127.0.0.1 -::1 --port 6379 --save "" --appendonly no \
      --dir /var/lib/redis --logfile /var/log/redis/ci.log || true
  fi
  wait_for Redis redis_up 15 || { echo "FATAL: Redis is not available at 127.0.0.1:6379" >&2; exit 1; }
fi
echo "Redis: ok"
