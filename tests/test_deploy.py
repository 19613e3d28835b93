"""The docker compose deployment serves what the app itself serves only with
DEBUG on: the event pictures the console uploads (MEDIA_URL)."""

import re
from pathlib import Path

import yaml
from django.conf import settings

ROOT = Path(__file__).resolve().parent.parent


def compose() -> dict:
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())


def test_the_proxy_serves_the_media_volume_the_web_service_writes():
    services = compose()["services"]
    web_media = next(
        v.split(":")[0] for v in services["web"]["volumes"] if v.endswith(":/app/media")
    )
    proxy_mounts = {
        v.split(":")[1]: v.split(":")[0] for v in services["proxy"]["volumes"]
    }
    caddyfile = (ROOT / "deploy" / "Caddyfile").read_text()
    served = re.search(
        r"handle\s+" + re.escape(settings.MEDIA_URL) + r"\*\s*\{(.*?)\}",
        caddyfile,
        re.S,
    )

    assert served, f"the Caddyfile serves {settings.MEDIA_URL}"
    root = re.search(r"root\s+\*\s+(\S+)", served.group(1)).group(1)
    assert "file_server" in served.group(1)
    assert f"strip_prefix {settings.MEDIA_URL.rstrip('/')}" in served.group(1)
    assert proxy_mounts.get(root) == web_media, "the proxy mounts the web's media"


def test_the_web_service_keeps_media_where_the_image_puts_media_root():
    dockerfile = (ROOT / "Dockerfile").read_text()
    workdir = re.search(r"^WORKDIR\s+(\S+)", dockerfile, re.M).group(1)
    web_volumes = compose()["services"]["web"]["volumes"]

    # MEDIA_ROOT defaults to <project>/media, the image's WORKDIR/media.
    assert f"media:{workdir}/media" in web_volumes


def test_the_image_leaves_out_local_secrets_and_builds():
    """`COPY . .` copied a local .env (secrets) into the image, and the host's
    .venv and node_modules over the ones the image installed."""
    ignored = {
        line.strip()
        for line in (ROOT / ".dockerignore").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    }
    assert {".env", ".venv", "node_modules", "db.sqlite3*"} <= ignored
