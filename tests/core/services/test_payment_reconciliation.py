"""The worker asks Stripe about orders it should have heard of by now
(ADR 17): a paid order is fulfilled, a delayed payment settles, whether or
not Stripe's webhook ever arrives; and the webhook arriving as well changes
nothing. The real Stripe SDK talks to the local stand-in (tests/stubs.py)."""

import itertools
import logging
import threading
import time
from datetime import timedelta

import pytest
from django.core.management import call_command
from django.db import connection
from django.utils import timezone

from core.exceptions import OrderBusy
from core.management.commands.run_worker import PERIODIC_SWEEPS
from core.models import Order, OutboundMessage, Payment, Ticket
from core.payments.stripe_checkout import StripeProvider
from core.services.checkout import place_order
from core.services.comps import issue_comp_tickets
from core.services.orders import sweep_expired_holds
from core.services.payments import (
    PROCESSING_RECHECK,
    RECONCILE_BACKOFF,
    handle_stripe_event,
    reconcile_unsettled_orders,
    start_payment,
)
from tests.factories import EventFactory, TicketTypeFactory, make_staff
from tests.factories import make_held_order as _hold
from tests.locks import row_locked_elsewhere

pytestmark = pytest.mark.django_db

SESSION = r"/v1/checkout/sessions/[^/]+"
INTENT = r"/v1/payment_intents/[^/]+"
_event_ids = itertools.count(1)


def _on_stripe_page(ticket_type, quantity: int = 2, **kwargs) -> Order:
    """An order holding seats, its buyer on Stripe's payment page."""
    order = _hold(ticket_type, quantity, **kwargs)
    start_payment(
        order_id=order.id, success_url="https://t/s", cancel_url="https://t/c"
    )
    order.refresh_from_db()
    return order


def _before_lapse(order: Order):
    return order.hold_expires_at - timedelta(seconds=30)


def _after_lapse(order: Order):
    return order.hold_expires_at + timedelta(seconds=1)


def _asked(stub, pattern: str = SESSION) -> int:
    return len(stub.calls("GET", pattern))


def _webhook(event_type: str, session: dict) -> str:
    """Stripe's webhook as the view hands it over once its signature checks."""
    event = {
        "id": f"evt_reconcile_{next(_event_ids)}",
        "object": "event",
        "type": event_type,
        "data": {"object": dict(session)},
    }
    return handle_stripe_event(event=event)


def _confirmations(order: Order) -> int:
    return OutboundMessage.objects.filter(
        order=order, kind="order_confirmation"
    ).count()


def test_a_paid_session_whose_webhook_never_came_is_fulfilled_before_its_hold_lapses(
    stripe_stub, ticket_type, caplog
):
    order = _on_stripe_page(ticket_type, 2)
    stripe_stub.complete(order.stripe_checkout_session_id)

    # Well before the hold would lapse nobody asks: the webhook may yet come.
    assert reconcile_unsettled_orders(now=timezone.now()) == 0
    assert _asked(stripe_stub) == 0

    lapse = order.hold_expires_at
    with caplog.at_level(logging.INFO, logger="core.services.payments"):
        assert reconcile_unsettled_orders(now=_before_lapse(order)) == 1

    order.refresh_from_db()
    assert order.status == Order.Status.PAID
    assert order.tickets.count() == 2
    payment = order.payments.get()
    assert (payment.provider, payment.provider_reference, payment.amount) == (
        "stripe",
        f"pi_test_{order.stripe_checkout_session_id.removeprefix('cs_test_')}",
        order.total,
    )
    assert _confirmations(order) == 1
    ticket_type.refresh_from_db()
    assert (ticket_type.sold_count, ticket_type.held_count) == (2, 0)
    assert "fulfilled 1" in caplog.text
    assert any(
        str(order.pk) in r.getMessage() and r.levelno == logging.WARNING
        for r in caplog.records
    )

    # Settled: never asked again, never fulfilled twice.
    later = lapse + RECONCILE_BACKOFF * 3
    assert reconcile_unsettled_orders(now=later) == 0
    assert _asked(stripe_stub) == 1
    assert order.tickets.count() == 2
    assert _confirmations(order) == 1


def test_a_session_paid_in_the_hold_s_last_moments_is_fulfilled_once_the_page_closes(
    stripe_stub, ticket_type
):
    """Asked a minute early, the page was still open; the buyer paid just
    before the hold lapsed. The hold sweep releases the seats and closes the
    page, then the next ask finds it paid: the seats are checked again under
    the event's lock (free still, so the tickets are issued)."""
    order = _on_stripe_page(ticket_type, 2)
    assert reconcile_unsettled_orders(now=_before_lapse(order)) == 0
    stripe_stub.complete(order.stripe_checkout_session_id)

    # Asked again only once the hold has lapsed, not every round.
    assert reconcile_unsettled_orders(now=_before_lapse(order)) == 0
    assert _asked(stripe_stub) == 1
    after = _after_lapse(order)
    assert sweep_expired_holds(now=after) == 1
    assert reconcile_unsettled_orders(now=after) == 1

    order.refresh_from_db()
    assert order.status == Order.Status.PAID
    assert order.tickets.count() == 2
    assert _confirmations(order) == 1


def test_the_worker_asks_stripe_right_after_the_hold_sweep(stripe_stub, ticket_type):
    """The hold sweep closes lapsed holds' pages first, so the ask that
    follows in the same round reads a page no payment can still reach."""
    sweeps = [path.rsplit(".", 1)[1] for path in PERIODIC_SWEEPS]
    hold_sweep = sweeps.index("sweep_expired_holds")
    assert sweeps[hold_sweep + 1] == "reconcile_unsettled_orders"

    order = _on_stripe_page(ticket_type, 2)
    stripe_stub.complete(order.stripe_checkout_session_id)
    Order.objects.filter(pk=order.pk).update(
        stripe_check_at=timezone.now() - timedelta(seconds=1)
    )
    call_command("run_worker", "--once")
    order.refresh_from_db()
    assert order.status == Order.Status.PAID
    assert order.tickets.count() == 2


def test_a_session_found_paid_after_its_seats_were_sold_is_refunded_not_oversold(
    stripe_stub, django_capture_on_commit_callbacks
):
    event = EventFactory(venue_capacity=2)
    seat = TicketTypeFactory(event=event, capacity=2)
    late = _on_stripe_page(seat, 2)
    stripe_stub.complete(late.stripe_checkout_session_id)
    after = _after_lapse(late)
    sweep_expired_holds(now=after)
    other = place_order(
        event_id=event.id,
        quantities={seat.id: 2},
        customer_name="Ben",
        customer_email="ben@example.com",
        now=after,
    )
    handle_stripe_event(
        event={
            "id": "evt_other_paid",
            "type": "checkout.session.completed",
            "data": {
                "object": {
                    "id": "cs_other",
                    "object": "checkout.session",
                    "client_reference_id": str(other.id),
                    "metadata": {"order_id": str(other.id)},
                    "amount_total": int(other.total * 100),
                    "currency": other.currency,
                    "payment_status": "paid",
                    "status": "complete",
                    "payment_intent": "pi_other",
                }
            },
        },
        now=after,
    )

    with django_capture_on_commit_callbacks(execute=True):
        assert reconcile_unsettled_orders(now=after) == 1

    assert not Ticket.objects.filter(order=late).exists()
    late.refresh_from_db()
    assert late.status == Order.Status.REFUNDED
    (refund,) = stripe_stub.calls("POST", "/v1/refunds")
    assert refund.form["payment_intent"] == late.payments.get().provider_reference
    seat.refresh_from_db()
    assert seat.sold_count == 2


def test_an_unpaid_session_is_left_to_expire(stripe_stub, ticket_type):
    order = _on_stripe_page(ticket_type, 2)

    assert reconcile_unsettled_orders(now=_before_lapse(order)) == 0
    order.refresh_from_db()
    assert order.status == Order.Status.PENDING
    assert order.holds_seats(_before_lapse(order))

    after = _after_lapse(order)
    assert sweep_expired_holds(now=after) == 1  # and closes the page
    assert reconcile_unsettled_orders(now=after) == 0
    assert _asked(stripe_stub) == 2
    order.refresh_from_db()
    assert order.status == Order.Status.EXPIRED
    assert not order.payments.exists()
    assert not order.tickets.exists()
    assert not OutboundMessage.objects.filter(order=order).exists()

    # The page is closed for good: nothing more to ask.
    assert reconcile_unsettled_orders(now=after + RECONCILE_BACKOFF * 10) == 0
    assert _asked(stripe_stub) == 2


def test_a_page_still_open_after_the_hold_is_asked_again_every_few_minutes(
    stripe_stub, ticket_type
):
    """The hold sweep could not close it (Stripe was down then): a payment
    may still come on it, so it is asked about again, but not every round."""
    order = _on_stripe_page(ticket_type, 1)
    after = _after_lapse(order)
    stripe_stub.fail_status = 503
    assert sweep_expired_holds(now=after) == 1
    stripe_stub.fail_status = None

    assert reconcile_unsettled_orders(now=after) == 0
    assert reconcile_unsettled_orders(now=after + RECONCILE_BACKOFF / 2) == 0
    assert _asked(stripe_stub) == 1
    stripe_stub.complete(order.stripe_checkout_session_id)
    assert reconcile_unsettled_orders(now=after + RECONCILE_BACKOFF) == 1
    assert _asked(stripe_stub) == 2
    order.refresh_from_db()
    assert order.status == Order.Status.PAID
    assert order.tickets.count() == 1


@pytest.mark.parametrize("succeeded", [True, False])
def test_a_delayed_payment_whose_outcome_webhook_was_lost_settles(
    stripe_stub, ticket_type, succeeded
):
    order = _on_stripe_page(ticket_type, 2)
    session = stripe_stub.complete(order.stripe_checkout_session_id, paid=False)
    assert _webhook("checkout.session.completed", session) == "processing"
    order.refresh_from_db()
    assert order.status == Order.Status.PROCESSING

    # Still clearing: asked once the hold would have lapsed, then left be.
    assert reconcile_unsettled_orders(now=_before_lapse(order)) == 0
    assert _asked(stripe_stub, INTENT) == 1
    stripe_stub.settle(order.stripe_checkout_session_id, succeeded=succeeded)
    recheck = _before_lapse(order) + PROCESSING_RECHECK
    assert reconcile_unsettled_orders(now=recheck - timedelta(seconds=1)) == 0
    assert _asked(stripe_stub, INTENT) == 1

    assert reconcile_unsettled_orders(now=recheck) == 1

    order.refresh_from_db()
    ticket_type.refresh_from_db()
    assert ticket_type.held_count == 0
    if succeeded:
        assert order.status == Order.Status.PAID
        assert order.tickets.count() == 2
        assert _confirmations(order) == 1
        assert ticket_type.sold_count == 2
    else:
        assert order.status == Order.Status.CANCELLED
        assert not order.tickets.exists()
        assert not order.payments.exists()
        assert (
            OutboundMessage.objects.filter(order=order, kind="payment_failed").count()
            == 1
        )
        assert ticket_type.sold_count == 0
    assert reconcile_unsettled_orders(now=recheck + PROCESSING_RECHECK * 4) == 0
    assert _asked(stripe_stub, INTENT) == 2


def test_a_delayed_payment_no_webhook_announced_is_held_then_fulfilled(
    stripe_stub, ticket_type
):
    order = _on_stripe_page(ticket_type, 2)
    stripe_stub.complete(order.stripe_checkout_session_id, paid=False)

    assert reconcile_unsettled_orders(now=_before_lapse(order)) == 1
    order.refresh_from_db()
    assert order.status == Order.Status.PROCESSING
    # A processing payment keeps its seats past the hold.
    assert order.holds_seats(_after_lapse(order) + timedelta(hours=1))

    stripe_stub.settle(order.stripe_checkout_session_id, succeeded=True)
    assert reconcile_unsettled_orders(now=_after_lapse(order) + timedelta(hours=1)) == 1
    order.refresh_from_db()
    assert order.status == Order.Status.PAID
    assert order.tickets.count() == 2


@pytest.mark.parametrize("first", ["webhook", "sweep"])
def test_the_webhook_and_the_sweep_on_one_order_fulfil_it_once(
    stripe_stub, ticket_type, first, monkeypatch
):
    """Either way round, and with the webhook arriving while the sweep waits
    on Stripe's answer (`webhook` first): one payment, one set of tickets,
    one confirmation."""
    order = _on_stripe_page(ticket_type, 2)
    session = stripe_stub.complete(order.stripe_checkout_session_id)
    before, after = _before_lapse(order), _after_lapse(order)
    outcomes = []
    if first == "webhook":
        asked = StripeProvider.get_checkout

        def webhook_arrives_meanwhile(provider, session_id, **kwargs):
            answer = asked(provider, session_id, **kwargs)
            outcomes.append(_webhook("checkout.session.completed", session))
            return answer

        monkeypatch.setattr(StripeProvider, "get_checkout", webhook_arrives_meanwhile)
        assert reconcile_unsettled_orders(now=before) == 0
    else:
        assert reconcile_unsettled_orders(now=before) == 1
        outcomes.append(_webhook("checkout.session.completed", session))

    assert outcomes == ["fulfilled" if first == "webhook" else "already_fulfilled"]
    assert _asked(stripe_stub) == 1
    order.refresh_from_db()
    assert order.status == Order.Status.PAID
    assert order.tickets.count() == 2
    assert order.payments.count() == 1
    assert _confirmations(order) == 1
    ticket_type.refresh_from_db()
    assert ticket_type.sold_count == 2
    # Paid: nothing more to ask.
    assert reconcile_unsettled_orders(now=after) == 0
    assert _asked(stripe_stub) == 1


@pytest.mark.django_db(transaction=True)
def test_an_order_the_webhook_holds_is_left_to_the_next_round(postgres, stripe_stub):
    ticket_type = TicketTypeFactory()
    order = _on_stripe_page(ticket_type, 1)
    session = stripe_stub.complete(order.stripe_checkout_session_id)
    with row_locked_elsewhere(Order, order.pk):  # a webhook in progress
        assert reconcile_unsettled_orders(now=_before_lapse(order)) == 0
        assert not Payment.objects.filter(order=order).exists()
    # Still due: the next round asks again and fulfils it.
    assert reconcile_unsettled_orders(now=_before_lapse(order)) == 1
    assert _webhook("checkout.session.completed", session) == "already_fulfilled"
    assert order.tickets.count() == 1
    assert Payment.objects.filter(order=order).count() == 1


def _race(order: Order, session: dict) -> list[Exception]:
    """Stripe's webhook (sent again while it answers 503) and a sweep round
    on one order at the same instant, each on its own connection."""
    start = threading.Barrier(2)
    errors: list[Exception] = []

    def webhook():
        start.wait(10)
        for _ in range(100):
            try:
                _webhook("checkout.session.completed", session)
                return
            except OrderBusy:
                time.sleep(0.02)

    def sweep():
        start.wait(10)
        reconcile_unsettled_orders(now=_before_lapse(order))

    def run(work):
        try:
            work()
        except Exception as exc:  # reported by the test
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(w,)) for w in (webhook, sweep)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return errors


@pytest.mark.django_db(transaction=True)
def test_the_webhook_and_the_sweep_racing_issue_once(postgres, stripe_stub):
    ticket_type = TicketTypeFactory(capacity=50, event__venue_capacity=50)
    for _ in range(4):
        order = _on_stripe_page(ticket_type, 1)
        session = stripe_stub.complete(order.stripe_checkout_session_id)
        assert _race(order, session) == []
        reconcile_unsettled_orders(now=_before_lapse(order))  # the next round
        order.refresh_from_db()
        assert order.status == Order.Status.PAID
        assert order.tickets.count() == 1
        assert order.payments.count() == 1
        assert _confirmations(order) == 1
    ticket_type.refresh_from_db()
    assert ticket_type.sold_count == 4


@pytest.mark.parametrize("outage", ["error", "no answer"])
def test_with_stripe_down_nothing_changes_and_the_round_stops(
    stripe_stub, ticket_type, caplog, outage
):
    first = _on_stripe_page(ticket_type, 1)
    second = _on_stripe_page(ticket_type, 1)
    for order in (first, second):
        stripe_stub.complete(order.stripe_checkout_session_id)
    if outage == "error":
        stripe_stub.fail_status = 503
    else:
        stripe_stub.drop_answers = 10  # the SDK's own retries would try again
    now = _before_lapse(second)

    with caplog.at_level(logging.INFO):
        assert reconcile_unsettled_orders(now=now) == 0

    assert _asked(stripe_stub) == 1  # one try, then the round stops
    for order in (first, second):
        order.refresh_from_db()
        assert order.status == Order.Status.PENDING
    assert not Payment.objects.exists()
    assert ("HTTP 503" if outage == "error" else "HTTP none") in caplog.text
    assert str(first.pk) in caplog.text
    assert "sk_test_stub" not in caplog.text
    assert "ana@example.com" not in caplog.text

    stripe_stub.fail_status, stripe_stub.drop_answers = None, 0
    assert reconcile_unsettled_orders(now=now) == 1  # the one not tried
    assert reconcile_unsettled_orders(now=now + RECONCILE_BACKOFF) == 1
    assert Order.objects.filter(status=Order.Status.PAID).count() == 2


def test_without_a_stripe_key_nothing_is_asked(stripe_stub, ticket_type, settings):
    order = _on_stripe_page(ticket_type, 1)
    stripe_stub.complete(order.stripe_checkout_session_id)
    settings.STRIPE_SECRET_KEY = ""
    assert reconcile_unsettled_orders(now=_before_lapse(order)) == 0
    assert _asked(stripe_stub) == 0
    settings.STRIPE_SECRET_KEY = "sk_test_stub"
    assert reconcile_unsettled_orders(now=_before_lapse(order)) == 1


def test_orders_stripe_never_saw_are_never_asked_about(stripe_stub, settings):
    ticket_type = TicketTypeFactory(capacity=10)
    on_stripe = _on_stripe_page(ticket_type, 1)
    settings.PAYMENT_PROVIDER = "simulated"
    simulated = _hold(ticket_type, 1)
    start_payment(order_id=simulated.id, success_url="/s", cancel_url="/c")
    issue_comp_tickets(
        actor=make_staff("owner", username="boss"),
        event_id=ticket_type.event_id,
        ticket_type_id=ticket_type.id,
        quantity=1,
        guest_name="Guest",
        guest_email="guest@example.com",
    )
    far = timezone.now() + timedelta(days=1)
    for now in (far, far + RECONCILE_BACKOFF, far + RECONCILE_BACKOFF * 2):
        reconcile_unsettled_orders(now=now)
    # Only the order on a Stripe page, each time its page was still open.
    assert {r.path for r in stripe_stub.calls("GET", ".*")} == {
        f"/v1/checkout/sessions/{on_stripe.stripe_checkout_session_id}"
    }
    assert _asked(stripe_stub) == 3


def test_a_round_asks_about_a_bounded_number_the_most_overdue_first(
    stripe_stub, ticket_type
):
    orders = [_on_stripe_page(ticket_type, 1) for _ in range(3)]
    for i, order in enumerate(orders):
        # The last placed lapses first.
        Order.objects.filter(pk=order.pk).update(
            hold_expires_at=order.hold_expires_at - timedelta(seconds=10 * i),
            stripe_check_at=order.hold_expires_at - timedelta(seconds=10 * i + 60),
        )
        stripe_stub.complete(order.stripe_checkout_session_id)
    now = _before_lapse(orders[0])

    assert reconcile_unsettled_orders(now=now, limit=2) == 2

    paid = set(
        Order.objects.filter(status=Order.Status.PAID).values_list("pk", flat=True)
    )
    assert paid == {orders[1].pk, orders[2].pk}
    assert reconcile_unsettled_orders(now=now, limit=2) == 1
