"""System checks that tell an operator, in plain words, what is misconfigured.

They replace the seed's troubleshooting list with something `manage.py check
--deploy` runs. Each has an id `ticketing.E/W###`.
"""

from email.utils import parseaddr
from urllib.parse import urlsplit

from django.conf import settings
from django.core.checks import Error, Tags, Warning, register

from core.hosts import is_local_host


def _link_hosts() -> tuple[str, list[str]]:
    """Where links in emails and texts point (for the message), and their
    hosts: the sites' own when set, else PUBLIC_BASE_URL's."""
    site_hosts = [
        h
        for h in (
            settings.MARKETING_HOST,
            settings.PURCHASE_HOST,
            settings.SCANNER_HOST,
        )
        if h
    ]
    if site_hosts:
        return ", ".join(site_hosts), [
            urlsplit(f"//{h}").hostname or "" for h in site_hosts
        ]
    return settings.PUBLIC_BASE_URL, [urlsplit(settings.PUBLIC_BASE_URL).hostname or ""]


def _link_problems() -> list:
    """Links and sender no customer could use (DEBUG off)."""
    problems = []
    where, hosts = _link_hosts()
    if any(is_local_host(h) for h in hosts):
        problems.append(
            Error(
                f"Links in emails, texts and calendar files point to {where}, "
                "which customers' phones cannot open: their tickets, payment "
                "pages and waitlist places would not open.",
                hint="Set PUBLIC_BASE_URL to the address customers open, such as "
                "https://tickets.example.com (or MARKETING_HOST, PURCHASE_HOST "
                "and SCANNER_HOST to the sites' public host names).",
                id="ticketing.E017",
            )
        )
    domain = parseaddr(settings.DEFAULT_FROM_EMAIL)[1].rpartition("@")[2]
    if is_local_host(domain) or "." not in domain.strip("[]"):
        problems.append(
            Error(
                f"Emails are sent from {settings.DEFAULT_FROM_EMAIL}, an address "
                "no one can verify: SendGrid refuses such a sender, so no email "
                "(tickets included) would go out.",
                hint="Set DEFAULT_FROM_EMAIL to a sender verified in SendGrid, such "
                'as "Blue Note Bar <tickets@bluenote.example>".',
                id="ticketing.E018",
            )
        )
    return problems


@register(Tags.security, deploy=True)
def check_production_settings(app_configs, **kwargs):
    problems = []
    if settings.DEBUG:
        problems.append(
            Warning(
                "DEBUG is on. Customers would see tracebacks with internal details.",
                hint="Set DEBUG=false in production.",
                id="ticketing.W001",
            )
        )
    if settings.EMAIL_BACKEND.endswith("console.EmailBackend") and not settings.DEBUG:
        problems.append(
            Error(
                "Email goes to the console: customers would never receive their tickets.",
                hint="Set SENDGRID_API_KEY (or EMAIL_BACKEND to a real backend).",
                id="ticketing.E002",
            )
        )
    if settings.PAYMENT_PROVIDER == "simulated" and not settings.DEBUG:
        problems.append(
            Error(
                "Payments are simulated: anyone could get tickets without paying.",
                hint="Set STRIPE_SECRET_KEY and STRIPE_WEBHOOK_SECRET.",
                id="ticketing.E003",
            )
        )
    if not settings.QR_SIGNING_SECRET and not settings.DEBUG:
        problems.append(
            Warning(
                "QR_SIGNING_SECRET is not set; ticket signatures derive from SECRET_KEY, "
                "so rotating SECRET_KEY would invalidate every ticket sold.",
                hint="Generate one with `python manage.py generate_qr_key` and set it.",
                id="ticketing.W004",
            )
        )
    if not settings.REDIS_URL and not settings.DEBUG:
        problems.append(
            Warning(
                "REDIS_URL is not set: live updates only reach pages served by the same "
                "process, and caches are per process.",
                hint="Set REDIS_URL when running more than one server process.",
                id="ticketing.W005",
            )
        )
    if not settings.DEBUG:
        problems += _link_problems()
    if not settings.SUPPORT_EMAIL and not settings.DEBUG:
        problems.append(
            Warning(
                "SUPPORT_EMAIL is not set: customers' emails give no address to ask "
                "questions at, and replies to them go nowhere.",
                hint="Set SUPPORT_EMAIL to the address that answers customers; "
                'emails then say "Questions? Reply to this email".',
                id="ticketing.W007",
            )
        )
    twilio = [
        settings.TWILIO_ACCOUNT_SID,
        settings.TWILIO_AUTH_TOKEN,
        settings.TWILIO_FROM_NUMBER,
    ]
    if not any(twilio) and not settings.DEBUG:
        problems.append(
            Warning(
                "Texts are not set up: TWILIO_* settings are missing, so every text "
                "(ticket links, staff invitations) fails and shows as failed on the "
                "staff messages page.",
                hint="Set TWILIO_ACCOUNT_SID, TWILIO_AUTH_TOKEN and TWILIO_FROM_NUMBER "
                "(a site whose buyers and staff give no phone numbers can ignore this).",
                id="ticketing.W006",
            )
        )
    return problems


@register()
def check_integrations(app_configs, **kwargs):
    problems = []
    if settings.STRIPE_SECRET_KEY and not settings.STRIPE_WEBHOOK_SECRET:
        problems.append(
            Error(
                "STRIPE_SECRET_KEY is set but STRIPE_WEBHOOK_SECRET is not: paid orders "
                "would never be confirmed, because webhooks cannot be verified.",
                hint="Copy the signing secret (whsec_...) of your Stripe webhook endpoint.",
                id="ticketing.E010",
            )
        )
    if settings.PAYMENT_PROVIDER not in ("stripe", "simulated"):
        problems.append(
            Error(
                f"PAYMENT_PROVIDER is {settings.PAYMENT_PROVIDER!r}; it must be 'stripe' or 'simulated'.",
                id="ticketing.E011",
            )
        )
    if settings.PAYMENT_PROVIDER == "stripe" and not settings.STRIPE_SECRET_KEY:
        problems.append(
            Error(
                "PAYMENT_PROVIDER is 'stripe' but STRIPE_SECRET_KEY is empty.",
                hint="Set STRIPE_SECRET_KEY (sk_live_... or sk_test_...).",
                id="ticketing.E012",
            )
        )
    twilio = [
        settings.TWILIO_ACCOUNT_SID,
        settings.TWILIO_AUTH_TOKEN,
        settings.TWILIO_FROM_NUMBER,
    ]
    if any(twilio) and not all(twilio):
        problems.append(
            Error(
                "Twilio is half configured: SMS would fail.",
                hint="Set all of TWILIO_ACCOUNT_SID, TWILIO_AUTH_TOKEN and TWILIO_FROM_NUMBER, or none.",
                id="ticketing.E013",
            )
        )
    phone_region = settings.DEFAULT_PHONE_REGION.strip()
    if phone_region:
        from core.phones import is_phone_region

        if not is_phone_region(phone_region):
            problems.append(
                Error(
                    f"DEFAULT_PHONE_REGION is {phone_region!r}, which is not a country code.",
                    hint="Use a two-letter country code such as ES, GB or US, or leave it empty.",
                    id="ticketing.E016",
                )
            )
    hosts = [settings.MARKETING_HOST, settings.PURCHASE_HOST, settings.SCANNER_HOST]
    if any(hosts) and not all(hosts):
        problems.append(
            Error(
                "Only some of MARKETING_HOST, PURCHASE_HOST and SCANNER_HOST are set.",
                hint="Set all three to give each site its own host, or none to serve all under one host.",
                id="ticketing.E014",
            )
        )
    if settings.QR_SIGNING_SECRET:
        from core.tickets.signing import private_key

        try:
            private_key()
        except ValueError as exc:
            problems.append(
                Error(
                    str(exc),
                    hint="Use `python manage.py generate_qr_key`.",
                    id="ticketing.E015",
                )
            )
    return problems
