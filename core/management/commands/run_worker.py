"""The background worker: sends queued emails and SMS, and runs periodic sweeps."""

import logging
import signal
import time

from django.core.management.base import BaseCommand
from django.db import close_old_connections, connection
from django.utils import timezone
from django.utils.module_loading import import_string

from core.notify.delivery import send_due_messages

logger = logging.getLogger("core.worker")

# Each is called as f(now=...) and returns how many things it did. Other
# features add theirs here (the waitlist's offer sweep, for example).
PERIODIC_SWEEPS = (
    "core.services.orders.sweep_expired_holds",
    # Right after the hold sweep, which closes lapsed holds' Stripe pages:
    # asked then, a page's answer is final (ADR 17).
    "core.services.payments.reconcile_unsettled_orders",
    "core.services.payments.refund_due_payments",
    "core.services.orders.complete_stalled_refunds",
    "core.services.waitlist.sweep_waitlists",
    # Cancelled events' paid orders, refunded a batch a round.
    "core.services.event_cancellation.settle_cancelled_events",
)


class Command(BaseCommand):
    help = (
        "Send queued emails/SMS (with retries) and sweep expired holds, until stopped."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--once", action="store_true", help="Do one round of everything and exit."
        )
        parser.add_argument(
            "--poll", type=float, default=1.0, help="Seconds between outbox polls."
        )
        parser.add_argument(
            "--sweep-every", type=float, default=15.0, help="Seconds between sweeps."
        )
        parser.add_argument("--batch", type=int, default=20)

    def handle(self, *args, **options):
        self.stopping = False
        signal.signal(signal.SIGTERM, self._stop)
        signal.signal(signal.SIGINT, self._stop)
        self.stdout.write("Worker running: outbox and sweeps. Ctrl-C stops it.")
        self.run_rounds(**options)

    def run_rounds(
        self,
        *,
        once: bool = False,
        poll: float = 1.0,
        sweep_every: float = 15.0,
        batch: int = 20,
        **_,
    ) -> None:
        """The worker's rounds until `stopping` is set (or one, with `once`).

        Also run in a thread of `make run`'s own process (run_local), so that
        without Redis what it changes reaches the pages open on that server."""
        self.stopping = getattr(self, "stopping", False)
        sweeps = [import_string(path) for path in PERIODIC_SWEEPS]
        last_sweep = 0.0
        while not self.stopping:
            self._refresh_connections()
            busy = False
            try:
                report = send_due_messages(limit=batch)
                busy = report.attempted == batch
                if report.attempted:
                    logger.info(
                        "outbox: %s sent, %s retrying, %s failed",
                        report.sent,
                        report.retrying,
                        report.failed,
                    )
                if time.monotonic() - last_sweep >= sweep_every:
                    last_sweep = time.monotonic()
                    for sweep in sweeps:
                        done = sweep(now=timezone.now())
                        if done:
                            logger.info("%s: %s", sweep.__name__, done)
            except Exception:
                # A database hiccup must not kill the worker; it tries again.
                logger.exception("worker round failed")
            if once:
                break
            if not busy:
                self._sleep(poll)
        self._refresh_connections()

    def _refresh_connections(self) -> None:
        """Drop broken or old connections, as a request cycle would."""
        if not connection.in_atomic_block:  # e.g. called inside a test's transaction
            close_old_connections()

    def _stop(self, signum, frame) -> None:
        self.stopping = True

    def _sleep(self, seconds: float) -> None:
        deadline = time.monotonic() + seconds
        while not self.stopping and time.monotonic() < deadline:
            time.sleep(min(0.2, deadline - time.monotonic()))
