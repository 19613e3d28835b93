"""A provider that takes the connection and never answers must not hold up
the worker: each send gives up after PROVIDER_TIMEOUT_SECONDS, as a failed
try that is retried later (not a refusal)."""

import signal
import socket
import threading
import time
from contextlib import contextmanager

import pytest
from django.core.mail import EmailMessage

from core.models import OutboundMessage
from core.notify.delivery import LEASE, send_due_messages
from core.notify.errors import DeliveryError, PermanentDeliveryError
from core.notify.outbox import queue_sms
from core.notify.sendgrid_backend import SendGridEmailBackend
from core.notify.sms import send_sms
from tests.factories import make_paid_order


@pytest.fixture
def silent_server():
    """Accepts connections and reads nothing, answers nothing."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(8)
    kept = []

    def accept():
        while True:
            try:
                conn, _ = server.accept()
            except OSError:
                return
            kept.append(conn)

    threading.Thread(target=accept, daemon=True).start()
    yield f"http://127.0.0.1:{server.getsockname()[1]}"
    server.close()
    for conn in kept:
        conn.close()


@pytest.fixture
def short_timeout(settings):
    settings.PROVIDER_TIMEOUT_SECONDS = 0.5


def _within(seconds: float, call):
    """Run `call` in a thread; fail if it has not returned within `seconds`."""
    outcome = {}

    def run():
        try:
            outcome["value"] = call()
        except Exception as exc:
            outcome["error"] = exc

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    thread.join(seconds)
    assert not thread.is_alive(), f"still waiting after {seconds} s"
    return outcome


class StillWaiting(BaseException):
    """Not an Exception: the worker's own `except Exception` must not catch it."""


@contextmanager
def _alarm(seconds: int):
    """Interrupt the main thread (a send blocked on a socket) after `seconds`."""

    def ring(signum, frame):
        raise StillWaiting(f"still waiting after {seconds} s")

    previous = signal.signal(signal.SIGALRM, ring)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


def test_the_timeout_is_well_inside_the_outbox_lease(settings):
    assert 0 < settings.PROVIDER_TIMEOUT_SECONDS <= LEASE.total_seconds() / 10


def test_a_silent_sendgrid_times_out_as_a_failure_to_retry(
    settings, silent_server, short_timeout
):
    settings.SENDGRID_API_KEY = "SG.x"
    settings.SENDGRID_API_HOST = silent_server
    message = EmailMessage("s", "b", "from@example.com", ["to@example.com"])
    outcome = _within(5, lambda: SendGridEmailBackend().send_messages([message]))
    error = outcome.get("error")
    assert isinstance(error, DeliveryError)
    assert not isinstance(error, PermanentDeliveryError)


def test_a_silent_twilio_times_out_as_a_failure_to_retry(
    settings, silent_server, short_timeout
):
    settings.TWILIO_ACCOUNT_SID = "AC" + "0" * 32
    settings.TWILIO_AUTH_TOKEN = "t"
    settings.TWILIO_FROM_NUMBER = "+15005550006"
    settings.TWILIO_API_BASE = silent_server
    outcome = _within(5, lambda: send_sms(to="+34612345678", body="hi"))
    error = outcome.get("error")
    assert isinstance(error, DeliveryError)
    assert not isinstance(error, PermanentDeliveryError)


@pytest.mark.django_db
def test_the_worker_moves_on_and_retries_what_timed_out(
    settings, silent_server, short_timeout, ticket_type
):
    settings.SENDGRID_API_KEY = "SG.x"
    settings.SENDGRID_API_HOST = silent_server
    settings.EMAIL_BACKEND = "core.notify.sendgrid_backend.SendGridEmailBackend"
    settings.TWILIO_ACCOUNT_SID = "AC" + "0" * 32
    settings.TWILIO_AUTH_TOKEN = "t"
    settings.TWILIO_FROM_NUMBER = "+15005550006"
    settings.TWILIO_API_BASE = silent_server
    order = make_paid_order(ticket_type, 1)
    queue_sms(kind="order_tickets_link", to="+34612345678", order=order)
    started = time.monotonic()
    with _alarm(10):
        report = send_due_messages()
    assert time.monotonic() - started < 5
    assert report.retrying == 2 and report.sent == report.failed == 0
    for message in OutboundMessage.objects.all():
        assert message.status == OutboundMessage.Status.QUEUED
        assert "unreachable" in message.last_error, message.last_error
