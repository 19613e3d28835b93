#!/usr/bin/env bash
# Serve the project for bench/rush.py: gunicorn + uvicorn workers on Postgres,
# production settings, simulated payments. Usage: bench/serve.sh [port] [workers]
set -euo pipefail
cd "$(dirname "$0")/.."
PORT="${1:-8100}"
WORKERS="${2:-2}"
export DEBUG=false
export SECRET_KEY="${SECRET_KEY:-bench-only-secret-key-not-for-production}"
export ALLOWED_HOSTS="127.0.0.1,localhost"
export SECURE_SSL_REDIRECT=false
export PAYMENT_PROVIDER=simulated
export DATABASE_URL="${DATABASE_URL:-postgres://postgres@127.0.0.1:5432/tk_buying_bench}"
export REDIS_URL="${REDIS_URL:-redis://127.0.0.1:6379/1}"
export CHANNELS_PREFIX="${CHANNELS_PREFIX:-tk_buying_bench}"
export CACHE_PREFIX="${CACHE_PREFIX:-tk_buying_bench}"
export LOG_LEVEL=WARNING
psql "${DATABASE_URL%/*}/postgres" -qtc \
  "SELECT 1 FROM pg_database WHERE datname = '${DATABASE_URL##*/}'" | grep -q 1 \
  || createdb -h 127.0.0.1 -U postgres "${DATABASE_URL##*/}"
.venv/bin/python manage.py migrate --noinput -v 0
.venv/bin/python manage.py collectstatic --noinput -v 0
exec .venv/bin/gunicorn ticketing.asgi:application \
  -k uvicorn.workers.UvicornWorker --workers "$WORKERS" \
  --bind "127.0.0.1:$PORT" --backlog 2048 --log-level warning
