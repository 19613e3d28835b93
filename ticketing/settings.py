"""Settings for the ticketing project, every value read from the environment.

Each variable is documented in `.env.example` and the README. Defaults give a
local setup that needs nothing configured: SQLite, an in-memory channel layer,
console email and simulated payments.
"""

from email.utils import formataddr
from pathlib import Path
from urllib.parse import urlsplit

import environ
from django.core.exceptions import ImproperlyConfigured

from core.hosts import is_local_host

BASE_DIR = Path(__file__).resolve().parent.parent

env = environ.Env()
if (BASE_DIR / ".env").is_file():
    environ.Env.read_env(BASE_DIR / ".env", overwrite=False)

DEBUG = env.bool("DEBUG", default=True)

DEV_SECRET_KEY = "django-insecure-local-development-key-never-use-in-production"
SECRET_KEY = env("SECRET_KEY", default="")
if not SECRET_KEY:
    if not DEBUG:
        raise ImproperlyConfigured(
            "SECRET_KEY is not set. With DEBUG off a real secret key is required: "
            "generate one with `python -c 'import secrets; print(secrets.token_urlsafe(50))'`."
        )
    SECRET_KEY = DEV_SECRET_KEY

# --- Sites and hosts -------------------------------------------------------
# With the three hosts set, each host serves its own site. With none set, one
# host serves them all under "/", "/buy/" and "/scanner/".
MARKETING_HOST = env("MARKETING_HOST", default="")
PURCHASE_HOST = env("PURCHASE_HOST", default="")
SCANNER_HOST = env("SCANNER_HOST", default="")
SITE_SCHEME = env("SITE_SCHEME", default="http" if DEBUG else "https")
# Absolute base URL used in emails and SMS when no request is at hand; empty
# (docker compose passes it on unset) is this computer's, for `make run`.
# A public server refuses it below.
PUBLIC_BASE_URL = (
    env("PUBLIC_BASE_URL", default="") or "http://127.0.0.1:8000"
).rstrip("/")

ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=[])
ALLOWED_HOSTS += [
    h.split(":")[0] for h in (MARKETING_HOST, PURCHASE_HOST, SCANNER_HOST) if h
]
if DEBUG and not ALLOWED_HOSTS:
    ALLOWED_HOSTS = ["127.0.0.1", "localhost", "[::1]", "testserver"]


if SECRET_KEY == DEV_SECRET_KEY and (
    public := [h for h in ALLOWED_HOSTS if h != "*" and not is_local_host(h)]
):
    # DEBUG left on by mistake on a public server: the key in this repository
    # would sign its tickets (the QR key derives from it), so anyone could.
    raise ImproperlyConfigured(
        f"SECRET_KEY is not set, and this server answers for {', '.join(public)}. "
        "The development key is public: set SECRET_KEY (and DEBUG=false) to serve "
        "anything but this computer and its own network."
    )


def _public_hosts() -> list[str]:
    """The hosts this server answers for that the rest of the world can reach."""
    return [h for h in ALLOWED_HOSTS if h != "*" and not is_local_host(h)]


def _local_link_hosts() -> list[str]:
    """The hosts of the links in emails and texts (the sites' own when set,
    else PUBLIC_BASE_URL's) that only this computer or its network reach."""
    site_hosts = [h for h in (MARKETING_HOST, PURCHASE_HOST, SCANNER_HOST) if h]
    hosts = [urlsplit(f"//{h}").hostname or "" for h in site_hosts] or [
        urlsplit(PUBLIC_BASE_URL).hostname or ""
    ]
    return [h for h in hosts if is_local_host(h)]


if not DEBUG and (public := _public_hosts()) and (unreachable := _local_link_hosts()):
    # Every ticket link, pay link and calendar entry would open the
    # customer's own phone, and nothing else would say so.
    if MARKETING_HOST or PURCHASE_HOST or SCANNER_HOST:
        links, fix = (
            ", ".join(unreachable),
            "Set MARKETING_HOST, PURCHASE_HOST and SCANNER_HOST to the sites' "
            "public host names (or leave them empty and set PUBLIC_BASE_URL).",
        )
    else:
        links, fix = (
            PUBLIC_BASE_URL,
            "Set PUBLIC_BASE_URL to the address customers open "
            f"(https://{public[0].lstrip('.')}, say).",
        )
    raise ImproperlyConfigured(
        f"Links in emails and texts would point to {links}, which customers' "
        f"phones cannot open, yet this server answers for {', '.join(public)}. " + fix
    )
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])
CSRF_TRUSTED_ORIGINS += [
    f"{SITE_SCHEME}://{h}" for h in (MARKETING_HOST, PURCHASE_HOST, SCANNER_HOST) if h
]
# A refused form gets a page in its site's layout with a way back to retry.
CSRF_FAILURE_VIEW = "ticketing.errors.csrf_failure"

# --- Applications ----------------------------------------------------------
INSTALLED_APPS = [
    "daphne",
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "corsheaders",
    "rest_framework",
    "channels",
    "core",
    "marketing",
    "purchase",
    "scanner",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "ticketing.hosts.SiteRoutingMiddleware",
    "corsheaders.middleware.CorsMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "ticketing.middleware.LazyMessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "ticketing.urls"
ASGI_APPLICATION = "ticketing.asgi.application"
WSGI_APPLICATION = "ticketing.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "core.context_processors.site_links",
            ],
        },
    },
]

# --- Database --------------------------------------------------------------
DATABASES = {
    "default": env.db("DATABASE_URL", default=f"sqlite:///{BASE_DIR / 'db.sqlite3'}")
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # Writers queue for the lock instead of failing with "database is locked".
    DATABASES["default"].setdefault("OPTIONS", {}).update(
        {
            "transaction_mode": "IMMEDIATE",
            "timeout": 30,
            "init_command": "PRAGMA journal_mode=WAL;",
        }
    )
    # The covering indexes' INCLUDE columns serve Postgres's index-only
    # reads; SQLite builds the same indexes without them, which is all the
    # warning says. Silenced so `make run` opens on the demo, not on it.
    SILENCED_SYSTEM_CHECKS = ["models.W040"]
else:
    # The hot paths' fixed statements (core.rows.planned_cursor) are
    # prepared once per connection after 5 runs; the ORM's queries are
    # never prepared (client-side binding). Off for PgBouncer in transaction
    # mode without max_prepared_statements.
    if env.bool("DB_PREPARED_STATEMENTS", default=True):
        DATABASES["default"].setdefault("OPTIONS", {})["prepare_threshold"] = 5
    # Under an ASGI server every request runs in a short-lived thread of its
    # own, so per-thread persistent connections (CONN_MAX_AGE) pile up until
    # Postgres refuses clients. A pool per process lends each request a
    # connection and takes it back. DB_POOL_MAX_SIZE=0 turns it off.
    DB_POOL_MAX_SIZE = env.int("DB_POOL_MAX_SIZE", default=10)
    if DB_POOL_MAX_SIZE > 0:
        DATABASES["default"].setdefault("OPTIONS", {})["pool"] = {
            # Opened at startup (ticketing.warmup) and kept open however
            # long the server sat idle before an on-sale.
            "min_size": min(env.int("DB_POOL_MIN_SIZE", default=4), DB_POOL_MAX_SIZE),
            "max_size": DB_POOL_MAX_SIZE,
            "timeout": 10,
        }
    else:
        DATABASES["default"]["CONN_MAX_AGE"] = env.int("CONN_MAX_AGE", default=60)
        DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# How many of a WSGI worker's WEB_THREADS run requests at once; the others
# wait their turn in arrival order, and a request waiting on Stripe gives
# its turn up (ticketing.turns, ADR 16). 0: no limit.
WEB_ACTIVE_THREADS = env.int("WEB_ACTIVE_THREADS", default=4)

# --- Real time and cache ---------------------------------------------------
REDIS_URL = env("REDIS_URL", default="")
# "pubsub": one PUBLISH per group message, fanned out inside each process;
# "core": a Redis list per socket (per-channel capacity and expiry), one push
# per socket. bench/fanout.py to 1,000 sockets: pubsub spent ~100 ms of server
# CPU per push against ~120 ms, and Redis does 1 command instead of 1,000.
# Both drop pushes sent while a process is cut off from Redis; pages resync
# whenever their own socket reconnects.
REDIS_CHANNEL_LAYER = env("REDIS_CHANNEL_LAYER", default="pubsub")
if REDIS_CHANNEL_LAYER not in ("pubsub", "core"):
    raise ImproperlyConfigured(
        f"REDIS_CHANNEL_LAYER must be 'pubsub' or 'core', not {REDIS_CHANNEL_LAYER!r}."
    )
# Redis pub/sub channels belong to the server, not to one of its databases:
# two deployments (or test runs) on databases 0 and 3 of one Redis would hear
# each other's pushes. So by default a database other than 0 gets its own.
_REDIS_DB = urlsplit(REDIS_URL).path.strip("/")
CHANNELS_PREFIX = env("CHANNELS_PREFIX", default="") or (
    f"ticketing-db{_REDIS_DB}"
    if _REDIS_DB.isdigit() and int(_REDIS_DB)
    else "ticketing"
)
if REDIS_URL and REDIS_CHANNEL_LAYER == "pubsub":
    CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "channels_redis.pubsub.RedisPubSubChannelLayer",
            "CONFIG": {
                "hosts": [REDIS_URL],
                "prefix": CHANNELS_PREFIX,
            },
        }
    }
elif REDIS_URL:
    CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "channels_redis.core.RedisChannelLayer",
            "CONFIG": {
                "hosts": [REDIS_URL],
                "prefix": CHANNELS_PREFIX,
                "capacity": 1000,
            },
        }
    }
if REDIS_URL:
    CACHES = {
        "default": {
            "BACKEND": "ticketing.cache.RedisCache",
            "LOCATION": REDIS_URL,
            "KEY_PREFIX": env("CACHE_PREFIX", default="ticketing"),
        }
    }
else:
    CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
# Longest life of a cached public snapshot (event list, availability). Every
# change invalidates them at once; 0 turns the cache off.
LIVE_CACHE_SECONDS = env.int("LIVE_CACHE_SECONDS", default=300)
# Within this many seconds of a "refetch" push (availability, event list,
# door counters), further ones are folded into one trailing push per process
# (Redis layer only); 0 sends every one.
LIVE_PUSH_COALESCE_SECONDS = env.float("LIVE_PUSH_COALESCE_SECONDS", default=0.25)

# Log rows of scans refused on the signature alone (forged or garbage codes)
# are written in one batch per process at most this many seconds after the
# answer (core/services/scan_log_writer.py, ADR 8); 0 writes each before its
# answer. Postgres only.
SCAN_LOG_WRITE_BEHIND_SECONDS = env.float("SCAN_LOG_WRITE_BEHIND_SECONDS", default=0.1)

# --- Auth and sessions -----------------------------------------------------
AUTH_PASSWORD_VALIDATORS = [
    {
        "NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"
    },
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
# The user comes with its staff role in one query (a door phone signs every
# scan with its session). With Redis, sessions are read from the cache and
# written through to the database, so a cache flush signs no one out. Not
# with the per-process memory cache: a sign-out in one process would not
# reach another's copy.
AUTHENTICATION_BACKENDS = ["core.auth.StaffModelBackend"]
SESSION_ENGINE = (
    "django.contrib.sessions.backends.cached_db"
    if REDIS_URL
    else "django.contrib.sessions.backends.db"
)
LOGIN_URL = "scanner:login"
LOGIN_REDIRECT_URL = "scanner:home"
LOGOUT_REDIRECT_URL = "scanner:login"
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
SESSION_COOKIE_SECURE = not DEBUG
CSRF_COOKIE_SECURE = not DEBUG
# Proxies in front of the app that append the client's address to
# X-Forwarded-For (Caddy in docker compose: 1). Limits per network (sign-in,
# password reset, finding tickets) read the address the outermost saw; 0
# reads REMOTE_ADDR (no proxy, or one that does not set the header).
TRUSTED_PROXY_HOPS = env.int("TRUSTED_PROXY_HOPS", default=0)
# Whether the visitor came over HTTPS, as the proxy in front says; with none,
# the header would be the visitor's own to forge (skipping the HTTPS redirect).
SECURE_PROXY_SSL_HEADER = (
    ("HTTP_X_FORWARDED_PROTO", "https") if TRUSTED_PROXY_HOPS > 0 else None
)
SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=not DEBUG)
SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=0 if DEBUG else 31536000)
# Django's deploy checks ask for both; a site on an apex domain whose other
# subdomains are not all HTTPS yet turns them off (HSTS is remembered a year).
SECURE_HSTS_INCLUDE_SUBDOMAINS = env.bool(
    "SECURE_HSTS_INCLUDE_SUBDOMAINS", default=not DEBUG
)
SECURE_HSTS_PRELOAD = env.bool("SECURE_HSTS_PRELOAD", default=not DEBUG)
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"

# --- CORS (public read API only) -------------------------------------------
CORS_ALLOWED_ORIGINS = env.list("CORS_ALLOWED_ORIGINS", default=[])
# The marketing site's live pages read availability from the purchase host.
CORS_ALLOWED_ORIGINS += [f"{SITE_SCHEME}://{h}" for h in (MARKETING_HOST,) if h]
CORS_URLS_REGEX = r"^/(api/v1/events|functions/v1/event-availability)/.*$"
CORS_ALLOW_METHODS = ["GET", "OPTIONS"]

# --- Internationalisation --------------------------------------------------
LANGUAGE_CODE = "en-us"
TIME_ZONE = env("TIME_ZONE", default="UTC")
USE_I18N = True
USE_TZ = True

# --- Static and media ------------------------------------------------------
STATIC_URL = "/static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
STATICFILES_DIRS = [BASE_DIR / "static"]
# Browser libraries come from the npm registry at install time (`npm ci`),
# served straight out of node_modules: nothing vendored by hand.
NPM_STATIC_PACKAGES = ["qr-scanner"]
STATICFILES_DIRS += [
    (f"vendor/{name}", BASE_DIR / "node_modules" / name)
    for name in NPM_STATIC_PACKAGES
    if (BASE_DIR / "node_modules" / name).is_dir()
]
MEDIA_URL = "/media/"
MEDIA_ROOT = Path(env("MEDIA_ROOT", default=str(BASE_DIR / "media")))
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": "ticketing.static_storage.StaticStorage"
        if not DEBUG
        else "django.contrib.staticfiles.storage.StaticFilesStorage"
    },
}

# --- Email -----------------------------------------------------------------
SENDGRID_API_KEY = env("SENDGRID_API_KEY", default="")
SENDGRID_API_HOST = env(
    "SENDGRID_API_HOST", default=""
)  # tests point it at a local stand-in
EMAIL_BACKEND = env(
    "EMAIL_BACKEND",
    default="core.notify.sendgrid_backend.SendGridEmailBackend"
    if SENDGRID_API_KEY
    else "django.core.mail.backends.console.EmailBackend",
)
# The business's name as emails and texts give it to customers and staff
# ("Alex Rivera invited you to Nightpass as a manager").
ORGANISATION_NAME = env("ORGANISATION_NAME", default="Nightpass")
# Empty is the local default, as PUBLIC_BASE_URL's; a public server refuses
# it. An address without a name is sent under ORGANISATION_NAME's.
DEFAULT_FROM_EMAIL = env("DEFAULT_FROM_EMAIL", default="") or formataddr(
    (ORGANISATION_NAME, "tickets@localhost")
)


def _sender_domain() -> str:
    """The domain of DEFAULT_FROM_EMAIL's address ("" for none)."""
    from email.utils import parseaddr

    return parseaddr(DEFAULT_FROM_EMAIL)[1].rpartition("@")[2]


def _local_sender() -> bool:
    """Whether DEFAULT_FROM_EMAIL is no domain's anyone could verify."""
    domain = _sender_domain()
    return is_local_host(domain) or "." not in domain.strip("[]")


if not DEBUG and (public := _public_hosts()) and _local_sender():
    # SendGrid refuses a sender it has not verified: every email would fail.
    raise ImproperlyConfigured(
        f"DEFAULT_FROM_EMAIL is {DEFAULT_FROM_EMAIL!r}, an address at this "
        f"computer, yet this server answers for {', '.join(public)}. SendGrid "
        "sends only from a verified sender: set DEFAULT_FROM_EMAIL to one, "
        f'such as "Your venue <tickets@{public[0].lstrip(".")}>".'
    )
# The organiser's address for customers' questions: the Reply-To of every
# email to a customer, and offered in the customer sites' footer. Empty:
# no Reply-To, and the footer promises no replies.
SUPPORT_EMAIL = env("SUPPORT_EMAIL", default="")

# --- SMS -------------------------------------------------------------------
TWILIO_ACCOUNT_SID = env("TWILIO_ACCOUNT_SID", default="")
TWILIO_AUTH_TOKEN = env("TWILIO_AUTH_TOKEN", default="")
TWILIO_FROM_NUMBER = env("TWILIO_FROM_NUMBER", default="")
TWILIO_API_BASE = env(
    "TWILIO_API_BASE", default=""
)  # tests point it at a local stand-in
# The country of phone numbers typed without their +code where no event's
# zone names one (staff invites); empty: TIME_ZONE's country, else US.
DEFAULT_PHONE_REGION = env("DEFAULT_PHONE_REGION", default="")
# How long one email or text waits on SendGrid or Twilio before the try counts
# as failed and is retried later; well inside the outbox's five-minute lease
# (core.notify.delivery.LEASE). Without it a connection that never answers
# held up the one worker for ever: no emails, refunds or sweeps.
PROVIDER_TIMEOUT_SECONDS = env.float("PROVIDER_TIMEOUT_SECONDS", default=20.0)

# --- Payments --------------------------------------------------------------
STRIPE_SECRET_KEY = env("STRIPE_SECRET_KEY", default="")
STRIPE_PUBLISHABLE_KEY = env("STRIPE_PUBLISHABLE_KEY", default="")
STRIPE_WEBHOOK_SECRET = env("STRIPE_WEBHOOK_SECRET", default="")
STRIPE_API_BASE = env(
    "STRIPE_API_BASE", default=""
)  # tests point it at a local stand-in
PAYMENT_PROVIDER = env("PAYMENT_PROVIDER", default="")
if not PAYMENT_PROVIDER:
    if STRIPE_SECRET_KEY:
        PAYMENT_PROVIDER = "stripe"
    elif DEBUG:
        PAYMENT_PROVIDER = "simulated"
    else:
        # Simulated payments issue real tickets for a button press: never
        # what a production server falls back to because a key is missing.
        raise ImproperlyConfigured(
            "STRIPE_SECRET_KEY is not set. With DEBUG off, payments go through "
            "Stripe: set STRIPE_SECRET_KEY and STRIPE_WEBHOOK_SECRET, or, for a "
            "demo or a benchmark that takes no money, PAYMENT_PROVIDER=simulated."
        )
HOLD_MINUTES = env.int("HOLD_MINUTES", default=15)
# Limits on the buy form (scanner.throttle.BuyAllowance); 0 turns one off.
# Generous: a venue's Wi-Fi or a mobile carrier puts many buyers behind one
# address. Seats one network (an IPv4 address, an IPv6 /64) may take of an
# event within a hold window, free tickets included; orders it may place for
# an event in an hour; free tickets one email address may get per event.
HELD_SEATS_PER_NETWORK = env.int("HELD_SEATS_PER_NETWORK", default=40)
ORDERS_PER_NETWORK_PER_HOUR = env.int("ORDERS_PER_NETWORK_PER_HOUR", default=40)
FREE_TICKETS_PER_EMAIL = env.int("FREE_TICKETS_PER_EMAIL", default=10)
# Shared key for the external sales channel's ticket webhook (seed's ticket-webhook).
TICKET_WEBHOOK_API_KEY = env("TICKET_WEBHOOK_API_KEY", default="")

# --- Tickets ---------------------------------------------------------------
# Ed25519 private key (32-byte seed, base64). Empty: derived from SECRET_KEY,
# which is fine locally but means rotating SECRET_KEY voids every ticket.
QR_SIGNING_SECRET = env("QR_SIGNING_SECRET", default="")
# The door starts admitting this many hours before doors open (or the start
# when no doors time is set); earlier scans answer "not valid yet".
CHECKIN_OPENS_HOURS = env.int("CHECKIN_OPENS_HOURS", default=12)

# --- Waitlist --------------------------------------------------------------
WAITLIST_OFFER_HOURS = env.int("WAITLIST_OFFER_HOURS", default=24)

# --- REST framework --------------------------------------------------------
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "rest_framework.authentication.SessionAuthentication"
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.AllowAny"],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    # DRF's three, with a JSON parser that answers a too-deeply nested body
    # with a 400 instead of a RecursionError and a 500.
    "DEFAULT_PARSER_CLASSES": [
        "core.api.JSONParser",
        "rest_framework.parsers.FormParser",
        "rest_framework.parsers.MultiPartParser",
    ],
    "EXCEPTION_HANDLER": "core.api.exception_handler",
    "UNAUTHENTICATED_USER": "django.contrib.auth.models.AnonymousUser",
}

# --- Logging ---------------------------------------------------------------
LOG_LEVEL = env("LOG_LEVEL", default="INFO")
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {
        "plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}
    },
    "filters": {"require_debug_false": {"()": "django.utils.log.RequireDebugFalse"}},
    "handlers": {
        "console": {"class": "logging.StreamHandler", "formatter": "plain"},
        "mail_admins": {
            "class": "django.utils.log.AdminEmailHandler",
            "level": "ERROR",
            "filters": ["require_debug_false"],
        },
    },
    "root": {"handlers": ["console"], "level": "WARNING"},
    "loggers": {
        # Django's default gives this logger its own console handler with
        # DEBUG on, so every line it passes up to the root's handler (the
        # dev server's request lines among them) printed twice. Here it
        # only propagates; mail to ADMINS on errors is kept as it was.
        "django": {"handlers": ["mail_admins"], "level": "INFO"},
        "core": {"level": LOG_LEVEL},
        "purchase": {"level": LOG_LEVEL},
        "scanner": {"level": LOG_LEVEL},
        "marketing": {"level": LOG_LEVEL},
        "ticketing": {"level": LOG_LEVEL},
        # Django logs every 4xx answer as a warning: in a rush that is one
        # line per buyer told "sold out". Server errors still log.
        "django.request": {"level": "ERROR"},
    },
}
