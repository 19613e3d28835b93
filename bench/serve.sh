#!/usr/bin/env bash
# Serve the project for the benchmarks as production does: granian on the
# WSGI app for HTTP on PORT, and gunicorn + uvicorn on the ASGI app for
# websockets on PORT+1 (in production Caddy routes /ws/ there);
# Postgres, Redis, DEBUG off, simulated payments (or PAYMENT_PROVIDER=stripe
# with STRIPE_API_BASE on bench/stripe_standin.py).
# Usage: bench/serve.sh [port] [http workers] [websocket workers] [threads per http worker]
# (threads: default 16, as the Docker image, of which WEB_ACTIVE_THREADS,
# default 4, run at once: ADR 16)
set -euo pipefail
cd "$(dirname "$0")/.."
PORT="${1:-8100}"
WORKERS="${2:-$(($(nproc) + 1))}"
LIVE_WORKERS="${3:-2}"
THREADS="${4:-16}"
export DEBUG=false
export SECRET_KEY="${SECRET_KEY:-bench-only-secret-key-not-for-production}"
export ALLOWED_HOSTS="127.0.0.1,localhost"
export SECURE_SSL_REDIRECT=false
export PAYMENT_PROVIDER="${PAYMENT_PROVIDER:-simulated}"
export DATABASE_URL="${DATABASE_URL:-postgres://postgres@127.0.0.1:5432/tk_buying_bench}"
export REDIS_URL="${REDIS_URL:-redis://127.0.0.1:6379/1}"
export CHANNELS_PREFIX="${CHANNELS_PREFIX:-tk_buying_bench}"
export CACHE_PREFIX="${CACHE_PREFIX:-tk_buying_bench}"
export LOG_LEVEL=WARNING
export HELD_SEATS_PER_NETWORK=0 ORDERS_PER_NETWORK_PER_HOUR=0 FREE_TICKETS_PER_EMAIL=0  # every buyer is 127.0.0.1
psql "${DATABASE_URL%/*}/postgres" -qtc \
  "SELECT 1 FROM pg_database WHERE datname = '${DATABASE_URL##*/}'" | grep -q 1 \
  || createdb -h 127.0.0.1 -U postgres "${DATABASE_URL##*/}"
.venv/bin/python manage.py migrate --noinput -v 0
.venv/bin/python manage.py collectstatic --noinput -v 0
.venv/bin/gunicorn ticketing.asgi:application \
  -k ticketing.workers.LiveUvicornWorker --workers "$LIVE_WORKERS" \
  --bind "127.0.0.1:$((PORT + 1))" --backlog 2048 --log-level warning &
LIVE_PID=$!
trap 'kill $LIVE_PID 2>/dev/null' EXIT
echo "HTTP on :$PORT ($WORKERS workers x $THREADS threads), websockets on :$((PORT + 1))"
.venv/bin/granian --interface wsgi ticketing.wsgi:application \
  --workers "$WORKERS" --blocking-threads "$THREADS" --host 127.0.0.1 --port "$PORT" \
  --backlog 2048 --log-level warning
