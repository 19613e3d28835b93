"""`make run`: the web server and the background worker, with the URLs to open."""

import os
import subprocess
import sys
import threading

from django.conf import settings
from django.core.management import call_command, get_commands
from django.core.management.base import BaseCommand
from django.db import connections

from core.management.commands.seed_demo import DEMO_PASSWORD


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
            worker = (
                subprocess.Popen([sys.executable, "manage.py", "run_worker"])
                if settings.REDIS_URL
                else _WorkerThread()
            )
        try:
            call_command(
                "runserver", f"{options['addr']}:{options['port']}", use_reloader=False
            )
        finally:
            if worker is not None:
                worker.terminate()
                worker.wait(timeout=10)


class _WorkerThread:
    """The worker's rounds in a thread of this process, for a run without
    Redis: the in-memory channel layer and the local cache are this process's
    own, so a worker in another process changed what pages show (a lapsed
    hold swept, a waitlist offer, a cancellation's refunds) without their
    hearing of it, and this process's cached figures stayed stale until they
    ran out. Stopped as a subprocess would be (terminate, wait)."""

    def __init__(self):
        from core.management.commands.run_worker import Command as RunWorker

        self.command = RunWorker()
        self.command.stopping = False
        self.thread = threading.Thread(target=self._run, name="worker", daemon=True)
        self.thread.start()

    def _run(self) -> None:
        try:
            self.command.run_rounds()
        finally:
            connections.close_all()

    def terminate(self) -> None:
        self.command.stopping = True

    def wait(self, timeout=None) -> None:
        self.thread.join(timeout)
