FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /app

RUN apt-get update \
    && apt-get install -y --no-install-recommends nodejs npm \
    && rm -rf /var/lib/apt/lists/*

COPY pyproject.toml README.md ./
COPY ticketing ticketing
COPY core core
COPY marketing marketing
COPY purchase purchase
COPY scanner scanner
RUN pip install --no-cache-dir .

COPY package.json package-lock.json ./
RUN npm ci --omit=dev --no-audit --no-fund

COPY . .
RUN DEBUG=true python manage.py collectstatic --noinput

EXPOSE 8000 8001
# HTTP: granian on the WSGI app, WEB_CONCURRENCY worker processes (default
# cores + 1) with WEB_THREADS Python threads each (default 16, enough to keep
# checkouts going while they wait on Stripe's API: ADR 6), WEB_ACTIVE_THREADS
# of them (4) running at once (ADR 16); granian's Rust
# side parses HTTP and keeps connections alive. Behind the proxy (deploy/Caddyfile). Why this
# and not gunicorn or ASGI: docs/adr/0006-http-on-granian.md. Websockets are
# the `live` service's:
#   gunicorn ticketing.asgi:application -k ticketing.workers.LiveUvicornWorker -b 0.0.0.0:8001
CMD ["sh", "-c", "exec granian --interface wsgi ticketing.wsgi:application --host 0.0.0.0 --port 8000 --workers ${WEB_CONCURRENCY:-$(($(nproc) + 1))} --blocking-threads ${WEB_THREADS:-16} --respawn-failed-workers --access-log"]
