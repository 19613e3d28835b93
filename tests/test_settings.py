"""Settings come from the environment; each case runs in a fresh interpreter."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PRODUCTION_ENV = {
    "DEBUG": "false",
    "SECRET_KEY": "k3J9-production-like-secret-key-9fQ2xWm4Zr7Tn1Bv8Lp5Hs6Dc0Ya",
    "ALLOWED_HOSTS": "tickets.example.com",
    "DATABASE_URL": "postgres://u:p@db:5432/tickets",
    "REDIS_URL": "redis://redis:6379/0",
    "SENDGRID_API_KEY": "SG.test",
    "STRIPE_SECRET_KEY": "sk_test_123",
    "STRIPE_WEBHOOK_SECRET": "whsec_test",
    "QR_SIGNING_SECRET": "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=",
    "TWILIO_ACCOUNT_SID": "AC" + "0" * 32,
    "TWILIO_AUTH_TOKEN": "test-token",
    "TWILIO_FROM_NUMBER": "+15005550006",
    "PUBLIC_BASE_URL": "https://tickets.example.com",
    "DEFAULT_FROM_EMAIL": "Blue Note Bar <tickets@bluenote.example>",
    "SUPPORT_EMAIL": "help@bluenote.example",
}


def _clean_env(**overrides) -> dict:
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in PRODUCTION_ENV and not k.endswith("_HOST")
    }
    env.pop("DJANGO_SETTINGS_MODULE", None)
    env.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)  # set by the browser fixture
    return {**env, "DJANGO_SETTINGS_MODULE": "ticketing.settings", **overrides}


def _settings(names: list[str], **env) -> dict:
    code = (
        "import json, django; from django.conf import settings; django.setup();"
        f"print(json.dumps({{n: getattr(settings, n) for n in {names!r}}}, default=str))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        env=_clean_env(**env),
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_defaults_need_nothing_configured():
    values = _settings(
        ["DATABASES", "CHANNEL_LAYERS", "EMAIL_BACKEND", "PAYMENT_PROVIDER"]
    )
    assert values["DATABASES"]["default"]["ENGINE"] == "django.db.backends.sqlite3"
    assert values["DATABASES"]["default"]["OPTIONS"]["transaction_mode"] == "IMMEDIATE"
    assert (
        values["CHANNEL_LAYERS"]["default"]["BACKEND"]
        == "channels.layers.InMemoryChannelLayer"
    )
    assert values["EMAIL_BACKEND"].endswith("console.EmailBackend")
    assert values["PAYMENT_PROVIDER"] == "simulated"


def test_urls_select_postgres_redis_sendgrid_and_stripe():
    values = _settings(
        ["DATABASES", "CHANNEL_LAYERS", "CACHES", "EMAIL_BACKEND", "PAYMENT_PROVIDER"],
        DATABASE_URL="postgres://u:p@db:5432/tickets",
        REDIS_URL="redis://redis:6379/0",
        SENDGRID_API_KEY="SG.x",
        STRIPE_SECRET_KEY="sk_test_1",
        STRIPE_WEBHOOK_SECRET="whsec_1",
    )
    db = values["DATABASES"]["default"]
    assert (db["ENGINE"], db["NAME"], db["HOST"]) == (
        "django.db.backends.postgresql",
        "tickets",
        "db",
    )
    assert (
        values["CHANNEL_LAYERS"]["default"]["BACKEND"]
        == "channels_redis.pubsub.RedisPubSubChannelLayer"
    )
    assert values["CACHES"]["default"]["BACKEND"].endswith("RedisCache")
    assert (
        values["EMAIL_BACKEND"] == "core.notify.sendgrid_backend.SendGridEmailBackend"
    )
    assert values["PAYMENT_PROVIDER"] == "stripe"


def test_sessions_are_cached_only_in_a_cache_every_process_shares():
    shared = _settings(["SESSION_ENGINE"], REDIS_URL="redis://redis:6379/0")
    alone = _settings(["SESSION_ENGINE"])

    assert shared["SESSION_ENGINE"] == "django.contrib.sessions.backends.cached_db"
    # The memory cache is per process: a sign-out would not reach the others.
    assert alone["SESSION_ENGINE"] == "django.contrib.sessions.backends.db"


def test_missing_secret_key_is_refused_with_debug_off():
    result = subprocess.run(
        [sys.executable, "-c", "import django; django.setup()"],
        cwd=ROOT,
        env=_clean_env(DEBUG="false"),
        capture_output=True,
        text=True,
    )
    assert result.returncode != 0
    assert "SECRET_KEY is not set" in result.stderr


_LOG_A_REQUEST = """
import logging, django
django.setup()
from daphne.management.commands.runserver import Command
Command().log_action("http", "complete", {"method": "GET", "path": "/probe/",
    "status": 200, "time_taken": 0.01, "client": "127.0.0.1:5000"})
logging.getLogger("django.request").error("probe failed")
"""


@pytest.mark.parametrize("env", [{"DEBUG": "true"}, PRODUCTION_ENV])
def test_each_request_and_server_error_is_logged_once(env):
    """The dev server's request line and Django's errors reach the console once."""
    result = subprocess.run(
        [sys.executable, "-c", _LOG_A_REQUEST],
        cwd=ROOT,
        env=_clean_env(**env),
        capture_output=True,
        text=True,
        check=True,
    )
    assert result.stderr.count("HTTP GET /probe/ 200") == 1, result.stderr
    assert result.stderr.count("ERROR django.request probe failed") == 1, result.stderr


def _check(*args, **env) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "manage.py", "check", *args],
        cwd=ROOT,
        env=_clean_env(**env),
        capture_output=True,
        text=True,
    )


def test_check_deploy_is_clean_with_production_settings():
    result = _check("--deploy", "--fail-level", "WARNING", **PRODUCTION_ENV)
    assert result.returncode == 0, result.stderr + result.stdout


def test_the_local_defaults_start_without_warnings():
    """`make run` opens on its demo logins, not on a page of system-check
    warnings a newcomer cannot act on (the database checks, as migrate and
    the server run them)."""
    result = _check("--database", "default", "--fail-level", "WARNING")
    assert result.returncode == 0, result.stderr + result.stdout
    assert "WARNINGS" not in result.stderr + result.stdout


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"STRIPE_WEBHOOK_SECRET": ""}, "STRIPE_WEBHOOK_SECRET is not"),
        ({"SENDGRID_API_KEY": ""}, "Email goes to the console"),
        (
            # Asked for (a demo, a benchmark): started, and warned about at deploy.
            {
                "STRIPE_SECRET_KEY": "",
                "STRIPE_WEBHOOK_SECRET": "",
                "PAYMENT_PROVIDER": "simulated",
            },
            "Payments are simulated",
        ),
        (
            {"TWILIO_AUTH_TOKEN": "", "TWILIO_FROM_NUMBER": ""},
            "Twilio is half configured",
        ),
        ({"MARKETING_HOST": "example.com"}, "Only some of MARKETING_HOST"),
        ({"QR_SIGNING_SECRET": "not base64!"}, "QR_SIGNING_SECRET must be base64"),
    ],
)
def test_misconfiguration_is_explained_in_plain_words(overrides, message):
    result = _check("--deploy", **(PRODUCTION_ENV | overrides))
    assert result.returncode != 0
    assert message in result.stderr + result.stdout


def test_a_site_without_twilio_is_warned_that_texts_will_fail():
    """Twilio is optional; without it texts fail (they are no longer only
    logged, with their links, when DEBUG is off), so say so at deploy."""
    no_twilio = {
        "TWILIO_ACCOUNT_SID": "",
        "TWILIO_AUTH_TOKEN": "",
        "TWILIO_FROM_NUMBER": "",
    }
    result = _check("--deploy", **(PRODUCTION_ENV | no_twilio))
    assert result.returncode == 0, result.stderr + result.stdout  # a warning only
    assert "ticketing.W006" in result.stderr + result.stdout
    assert "Texts are not set up" in result.stderr + result.stdout
    strict = _check(
        "--deploy", "--fail-level", "WARNING", **(PRODUCTION_ENV | no_twilio)
    )
    assert strict.returncode != 0


def test_the_redis_channel_layer_can_be_the_list_based_one():
    values = _settings(
        ["CHANNEL_LAYERS"], REDIS_URL="redis://redis:6379/0", REDIS_CHANNEL_LAYER="core"
    )
    layer = values["CHANNEL_LAYERS"]["default"]
    assert layer["BACKEND"] == "channels_redis.core.RedisChannelLayer"
    assert layer["CONFIG"]["hosts"] == ["redis://redis:6379/0"]


@pytest.mark.parametrize(
    ("redis_url", "prefix"),
    [
        ("redis://redis:6379/0", "ticketing"),
        ("redis://redis:6379", "ticketing"),
        ("redis://redis:6379/3", "ticketing-db3"),
    ],
)
def test_pushes_on_another_redis_database_are_kept_apart(redis_url, prefix):
    """Pub/sub is server-wide: two sites on databases 0 and 3 of one Redis
    would hear each other's pushes under one prefix."""
    values = _settings(["CHANNEL_LAYERS"], REDIS_URL=redis_url)
    assert values["CHANNEL_LAYERS"]["default"]["CONFIG"]["prefix"] == prefix
    values = _settings(["CHANNEL_LAYERS"], REDIS_URL=redis_url, CHANNELS_PREFIX="")
    assert values["CHANNEL_LAYERS"]["default"]["CONFIG"]["prefix"] == prefix
    values = _settings(["CHANNEL_LAYERS"], REDIS_URL=redis_url, CHANNELS_PREFIX="mine")
    assert values["CHANNEL_LAYERS"]["default"]["CONFIG"]["prefix"] == "mine"


def test_an_unknown_channel_layer_kind_is_refused():
    with pytest.raises(subprocess.CalledProcessError) as failed:
        _settings(["CHANNEL_LAYERS"], REDIS_CHANNEL_LAYER="kafka")
    assert "REDIS_CHANNEL_LAYER must be" in failed.value.stderr


def test_the_marketing_host_may_read_the_availability_api():
    values = _settings(
        ["CORS_ALLOWED_ORIGINS"],
        MARKETING_HOST="www.example.com",
        PURCHASE_HOST="tickets.example.com",
        SCANNER_HOST="door.example.com",
        SITE_SCHEME="https",
        CORS_ALLOWED_ORIGINS="https://partner.example.org",
        SECRET_KEY=PRODUCTION_ENV["SECRET_KEY"],
    )
    assert values["CORS_ALLOWED_ORIGINS"] == [
        "https://partner.example.org",
        "https://www.example.com",
    ]


def test_the_deployment_serves_websockets_without_per_message_deflate():
    from ticketing.workers import LiveUvicornWorker

    assert LiveUvicornWorker.CONFIG_KWARGS["ws_per_message_deflate"] is False
    assert "ticketing.workers.LiveUvicornWorker" in (ROOT / "Dockerfile").read_text()


def test_the_pool_keeps_a_few_connections_open_and_never_more_than_its_maximum():
    postgres = {"DATABASE_URL": "postgres://u:p@db:5432/tickets"}

    def pool(**env) -> dict:
        values = _settings(["DATABASES"], **postgres, **env)
        return values["DATABASES"]["default"]["OPTIONS"]["pool"]

    assert (pool()["min_size"], pool()["max_size"]) == (4, 10)
    assert pool(DB_POOL_MIN_SIZE="8")["min_size"] == 8
    assert pool(DB_POOL_MIN_SIZE="8", DB_POOL_MAX_SIZE="6")["min_size"] == 6


def test_every_setting_read_from_the_environment_is_in_the_example_file():
    """.env.example is where an operator learns what can be set."""
    import re

    read = set(
        re.findall(
            r'env(?:\.\w+)?\(\s*"([A-Z_][A-Z0-9_]*)"',
            (ROOT / "ticketing" / "settings.py").read_text(),
        )
    )
    example = set(
        re.findall(r"^([A-Z_][A-Z0-9_]*)=", (ROOT / ".env.example").read_text(), re.M)
    )

    assert len(read) > 40
    assert read <= example, sorted(read - example)


def _refusal(**env) -> str:
    """What starting Django with `env` says on stderr; "" if it starts."""
    result = subprocess.run(
        [sys.executable, "-c", "import django; django.setup()"],
        cwd=ROOT,
        env=_clean_env(**env),
        capture_output=True,
        text=True,
    )
    return "" if result.returncode == 0 else result.stderr


def test_with_debug_off_and_no_stripe_key_nothing_is_given_away():
    """Simulated payments hand out real tickets for a button press: with DEBUG
    off they are never what a missing Stripe key falls back to."""
    production = {
        **PRODUCTION_ENV,
        "STRIPE_SECRET_KEY": "",
        "STRIPE_WEBHOOK_SECRET": "",
    }

    refused = _refusal(**production)
    asked_for = _settings(
        ["PAYMENT_PROVIDER"], **production, PAYMENT_PROVIDER="simulated"
    )

    assert "STRIPE_SECRET_KEY is not set" in refused
    assert "PAYMENT_PROVIDER=simulated" in refused
    assert asked_for["PAYMENT_PROVIDER"] == "simulated"


def test_the_development_key_is_refused_for_a_public_host():
    """DEBUG on by mistake on a public server would sign tickets with the key in
    this repository (the QR key derives from SECRET_KEY): anyone could make one."""
    refused = _refusal(DEBUG="true", ALLOWED_HOSTS="tickets.example.com")
    refused_site = _refusal(DEBUG="true", PURCHASE_HOST="buy.example.com")
    local = _refusal(
        DEBUG="true", ALLOWED_HOSTS="localhost,127.0.0.1,192.168.1.20,[::1]"
    )

    assert "SECRET_KEY is not set" in refused and "tickets.example.com" in refused
    assert "buy.example.com" in refused_site
    assert local == ""


def test_forwarded_proto_is_believed_only_from_a_proxy():
    """With no proxy in front, X-Forwarded-Proto is the visitor's to forge: it
    would skip the redirect to HTTPS."""
    alone = _settings(["SECURE_PROXY_SSL_HEADER"], **PRODUCTION_ENV)
    behind_caddy = _settings(
        ["SECURE_PROXY_SSL_HEADER"], **PRODUCTION_ENV, TRUSTED_PROXY_HOPS="1"
    )

    assert alone["SECURE_PROXY_SSL_HEADER"] is None
    assert behind_caddy["SECURE_PROXY_SSL_HEADER"] == [
        "HTTP_X_FORWARDED_PROTO",
        "https",
    ]


def test_hsts_for_subdomains_and_preloading_can_be_turned_off():
    """On an apex domain, includeSubDomains forces HTTPS on every subdomain."""
    names = ["SECURE_HSTS_INCLUDE_SUBDOMAINS", "SECURE_HSTS_PRELOAD"]
    default = _settings(names, **PRODUCTION_ENV)
    apex = _settings(
        names,
        **PRODUCTION_ENV,
        SECURE_HSTS_INCLUDE_SUBDOMAINS="false",
        SECURE_HSTS_PRELOAD="false",
    )

    assert default == dict.fromkeys(names, True)
    assert apex == dict.fromkeys(names, False)


def test_the_example_file_copied_to_dot_env_reads_as_its_values(monkeypatch):
    """`cp .env.example .env` must give each setting its value: django-environ
    keeps a comment after a value as part of it ('true    # set false …')."""
    import environ

    read = {}  # where read_env writes, instead of this process's environment
    monkeypatch.setattr(environ.Env, "ENVIRON", read)
    environ.Env.read_env(ROOT / ".env.example", overwrite=True)

    assert read["DEBUG"] == "true"
    assert len(read) > 40
    assert not [(name, value) for name, value in read.items() if "#" in value]
