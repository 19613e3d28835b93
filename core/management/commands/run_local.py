"""`make run`: the web server and the background worker, with the URLs to open."""

import os
import subprocess
import sys

from django.conf import settings
from django.core.management import call_command, get_commands
from django.core.management.base import BaseCommand

from core.management.commands.seed_demo import DEMO_PASSWORD

# Longest life of a cached page or figure under `make run` without Redis.
LOCAL_CACHE_SECONDS = 2


def browsable_host(addr: str) -> str:
    """The host a browser on this machine uses to reach a server bound to addr."""
    if addr in ("", "0.0.0.0"):
        return "127.0.0.1"
    if addr in ("::", "[::]"):
        return "[::1]"
    if ":" in addr and not addr.startswith("["):
        return f"[{addr}]"
    return addr


class Command(BaseCommand):
    help = "Run the ASGI dev server and the background worker together."

    def add_arguments(self, parser):
        parser.add_argument("--addr", default="127.0.0.1")
        parser.add_argument("--port", default="8000")

    def handle(self, *args, **options):
        base = f"http://{browsable_host(options['addr'])}:{options['port']}"
        # Links in emails, SMS and .ics files point at this server, not at
        # the default port, unless a base URL was set on purpose. The worker
        # (which sends them) inherits the environment.
        if not os.environ.get("PUBLIC_BASE_URL"):
            os.environ["PUBLIC_BASE_URL"] = base
            settings.PUBLIC_BASE_URL = base
        self.stdout.write(
            self.style.SUCCESS("\nTicketing is starting. Open:\n")
            + f"  Marketing  {base}/\n"
            + f"  Purchase   {base}/buy/\n"
            + f"  Scanner    {base}/scanner/   (owner / {DEMO_PASSWORD}, door / {DEMO_PASSWORD})\n"
            + f"  Payments: {settings.PAYMENT_PROVIDER}; email: {settings.EMAIL_BACKEND.rsplit('.', 1)[-1]}\n"
            + f"  Links in emails and SMS: {settings.PUBLIC_BASE_URL}\n"
        )
        worker = None
        if "run_worker" in get_commands():
            worker = subprocess.Popen([sys.executable, "manage.py", "run_worker"])
            if not settings.REDIS_URL:
                # The worker is another process, and without Redis this one's
                # cache is its own: what the worker changes (a hold that a
                # waitlist offer makes, a lapsed hold it sweeps) would show
                # only once a cached page or figure ran out. Not for long.
                settings.LIVE_CACHE_SECONDS = min(
                    settings.LIVE_CACHE_SECONDS, LOCAL_CACHE_SECONDS
                )
        try:
            call_command(
                "runserver", f"{options['addr']}:{options['port']}", use_reloader=False
            )
        finally:
            if worker is not None:
                worker.terminate()
                worker.wait(timeout=10)
