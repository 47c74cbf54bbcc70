#!/usr/bin/env bash
# Set up and run the whole product: web (daphne), a Celery worker per queue and beat (see the
# Procfile). Ctrl-C stops all.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
.venv/bin/python manage.py migrate --noinput
.venv/bin/python manage.py seed_demo

port="${WEB_PORT:-8000}"
host="${WEB_HOST:-127.0.0.1}"
cleanup() {
  # The embedded Redis (only when REDIS_URL is unset) outlives the processes; stop it with them.
  if [ -z "${REDIS_URL:-}" ]; then .venv/bin/python manage.py embedded_redis stop >/dev/null || true; fi
}
trap cleanup EXIT

cat <<MSG

  BotMarket is starting at  http://${host}:${port}/
  Demo login:               demo / demo-trader-2026
  API docs:                 http://${host}:${port}/api/docs/
  Operator console:         http://${host}:${port}/admin/
  Press Ctrl-C to stop web, the workers and beat.

MSG
PATH="$PWD/.venv/bin:$PATH" WEB_HOST="$host" WEB_PORT="$port" .venv/bin/honcho start -f Procfile
