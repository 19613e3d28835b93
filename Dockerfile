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

EXPOSE 8000
# Uvicorn workers under gunicorn: HTTP and websockets on one port.
CMD ["gunicorn", "ticketing.asgi:application", "-k", "ticketing.workers.LiveUvicornWorker", \
     "--bind", "0.0.0.0:8000", "--workers", "3", "--access-logfile", "-"]
