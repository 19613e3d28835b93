"""Stripe's webhook with payloads signed by a test secret, as Stripe would sign them."""

import json
import time
from datetime import timedelta
from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from core.models import (
    Order,
    OutboundMessage,
    Payment,
    ProviderEvent,
    Refund,
    Ticket,
    WaitlistEntry,
)
from core.queries.availability import get_event_availability
from core.queries.money import money_of_orders
from core.queries.order_standing import order_standing
from core.queries.orders import refunded_outside
from core.services import orders as orders_service
from core.services.checkout import place_order
from core.services.orders import (
    STALLED_REFUND_GRACE,
    complete_stalled_refunds,
    refund_order,
    refund_tickets,
    void_tickets_refunded_outside,
)
from core.services.waitlist import join_waitlist
from tests.factories import EventFactory, TicketTypeFactory, make_paid_order
from tests.factories import make_held_order as _hold
from tests.locks import row_locked_elsewhere
from tests.purchase.conftest import session_object, signature_header, stripe_event

pytestmark = pytest.mark.django_db


def test_a_paid_session_issues_the_tickets(post_webhook, ticket_type):
    order = _hold(ticket_type, 2)
    response = post_webhook(
        stripe_event("checkout.session.completed", session_object(order))
    )
    assert response.status_code == 200
    assert response.json()["outcome"] == "fulfilled"
    order.refresh_from_db()
    assert order.status == Order.Status.PAID
    assert order.stripe_payment_intent_id == f"pi_test_{order.code}"
    assert order.tickets.count() == 2
    payment = order.payments.get()
    assert (payment.provider, payment.amount) == ("stripe", order.total)
    assert OutboundMessage.objects.filter(order=order, kind="order_confirmation")


@pytest.mark.parametrize(
    "header",
    [
        "",
        "t=123,v1=deadbeef",
        "garbage",
    ],
)
def test_unsigned_or_badly_signed_payloads_are_refused(
    post_webhook, ticket_type, header
):
    order = _hold(ticket_type)
    response = post_webhook(
        stripe_event("checkout.session.completed", session_object(order)),
        header=header,
    )
    assert response.status_code == 400
    assert response.json()["code"] == "invalid_webhook"
    assert not ProviderEvent.objects.exists()
    assert not Ticket.objects.exists()


def test_a_payload_signed_with_another_secret_is_refused(post_webhook, ticket_type):
    order = _hold(ticket_type)
    response = post_webhook(
        stripe_event("checkout.session.completed", session_object(order)),
        secret="whsec_someone_else",
    )
    assert response.status_code == 400
    assert not Ticket.objects.exists()


def test_an_altered_payload_is_refused(client, settings, ticket_type):
    settings.STRIPE_WEBHOOK_SECRET = "whsec_test_secret"
    order = _hold(ticket_type)
    payload = json.dumps(
        stripe_event("checkout.session.completed", session_object(order))
    )
    header = signature_header(payload, "whsec_test_secret")
    tampered = payload.replace('"paid"', '"paid" ')
    response = client.post(
        "/buy/webhooks/stripe/",
        data=tampered,
        content_type="application/json",
        HTTP_STRIPE_SIGNATURE=header,
    )
    assert response.status_code == 400


def test_a_replayed_old_signature_is_refused(client, settings, ticket_type):
    settings.STRIPE_WEBHOOK_SECRET = "whsec_test_secret"
    order = _hold(ticket_type)
    payload = json.dumps(
        stripe_event("checkout.session.completed", session_object(order))
    )
    header = signature_header(payload, "whsec_test_secret", int(time.time()) - 3600)
    response = client.post(
        "/buy/webhooks/stripe/",
        data=payload,
        content_type="application/json",
        HTTP_STRIPE_SIGNATURE=header,
    )
    assert response.status_code == 400


def test_duplicate_deliveries_issue_once(post_webhook, ticket_type):
    order = _hold(ticket_type, 3)
    event = stripe_event("checkout.session.completed", session_object(order))
    outcomes = [post_webhook(event).json()["outcome"] for _ in range(3)]
    assert outcomes == ["fulfilled", "duplicate", "duplicate"]
    assert order.tickets.count() == 3
    assert ProviderEvent.objects.filter(event_id=event["id"]).count() == 1
    ticket_type.refresh_from_db()
    assert ticket_type.sold_count == 3


def test_two_events_for_one_payment_issue_once(post_webhook, ticket_type):
    """completed(paid) and a stray async_payment_succeeded for the same intent."""
    order = _hold(ticket_type, 2)
    obj = session_object(order)
    post_webhook(stripe_event("checkout.session.completed", obj))
    response = post_webhook(
        stripe_event("checkout.session.async_payment_succeeded", obj)
    )
    assert response.json()["outcome"] == "already_fulfilled"
    assert order.tickets.count() == 2
    assert order.payments.count() == 1


def test_async_payment_holds_seats_until_it_clears(post_webhook, ticket_type):
    order = _hold(ticket_type, 2, hold_minutes=1)
    obj = session_object(order, payment_status="unpaid")
    response = post_webhook(stripe_event("checkout.session.completed", obj))
    assert response.json()["outcome"] == "processing"
    order.refresh_from_db()
    assert order.status == Order.Status.PROCESSING
    # The hold's time ran out, but a processing payment keeps the seats.
    later = timezone.now() + timedelta(minutes=30)
    assert get_event_availability(ticket_type.event, now=later).total_held == 2

    response = post_webhook(
        stripe_event("checkout.session.async_payment_succeeded", session_object(order))
    )
    assert response.json()["outcome"] == "fulfilled"
    order.refresh_from_db()
    assert order.status == Order.Status.PAID
    assert order.tickets.count() == 2


def test_async_payment_failure_releases_the_seats_and_tells_the_buyer(
    post_webhook, ticket_type
):
    order = _hold(ticket_type, 2)
    post_webhook(
        stripe_event(
            "checkout.session.completed", session_object(order, payment_status="unpaid")
        )
    )
    response = post_webhook(
        stripe_event("checkout.session.async_payment_failed", session_object(order))
    )
    assert response.json()["outcome"] == "payment_failed"
    order.refresh_from_db()
    assert order.status == Order.Status.CANCELLED
    assert get_event_availability(ticket_type.event).total_held == 0
    assert OutboundMessage.objects.filter(order=order, kind="payment_failed").exists()


def test_out_of_order_success_before_completed_issues_once(post_webhook, ticket_type):
    order = _hold(ticket_type, 2)
    post_webhook(
        stripe_event("checkout.session.async_payment_succeeded", session_object(order))
    )
    # The earlier "completed, unpaid" arrives last and must not undo anything.
    response = post_webhook(
        stripe_event(
            "checkout.session.completed", session_object(order, payment_status="unpaid")
        )
    )
    assert response.status_code == 200
    order.refresh_from_db()
    assert order.status == Order.Status.PAID
    assert order.tickets.count() == 2


def test_session_expired_releases_a_lapsed_hold(post_webhook, ticket_type):
    order = _hold(ticket_type, 2, hold_minutes=0)
    response = post_webhook(
        stripe_event(
            "checkout.session.expired",
            session_object(order, status="expired", payment_status="unpaid"),
        )
    )
    assert response.json()["outcome"] == "expired"
    order.refresh_from_db()
    assert order.status == Order.Status.EXPIRED


def test_session_expired_after_payment_changes_nothing(post_webhook, ticket_type):
    order = _hold(ticket_type, 2)
    post_webhook(stripe_event("checkout.session.completed", session_object(order)))
    post_webhook(stripe_event("checkout.session.expired", session_object(order)))
    order.refresh_from_db()
    assert order.status == Order.Status.PAID


def test_completed_after_expiry_with_seats_gone_is_refunded(
    post_webhook, stripe_stub, ticket_type, django_capture_on_commit_callbacks
):
    event = EventFactory(venue_capacity=2)
    seat = TicketTypeFactory(event=event, capacity=2)
    late = _hold(seat, 2, hold_minutes=0)
    post_webhook(stripe_event("checkout.session.expired", session_object(late)))
    make_paid_order(seat, 2)  # someone else takes the seats
    with django_capture_on_commit_callbacks(execute=True):
        response = post_webhook(
            stripe_event("checkout.session.completed", session_object(late))
        )
    assert response.json()["outcome"] == "refund_due"
    assert not Ticket.objects.filter(order=late).exists()
    (refund,) = stripe_stub.calls("POST", "/v1/refunds")
    assert refund.form["payment_intent"] == f"pi_test_{late.code}"
    late.refresh_from_db()
    assert late.status == Order.Status.REFUNDED
    assert OutboundMessage.objects.filter(order=late, kind="payment_refunded").exists()
    seat.refresh_from_db()
    assert seat.sold_count == 2


def test_charge_refunded_voids_the_tickets(post_webhook, ticket_type):
    order = _hold(ticket_type, 2)
    post_webhook(stripe_event("checkout.session.completed", session_object(order)))
    charge = {
        "id": "ch_1",
        "object": "charge",
        "payment_intent": f"pi_test_{order.code}",
        "amount": 5000,
        "amount_refunded": 5000,
        "refunded": True,
    }
    response = post_webhook(stripe_event("charge.refunded", charge))
    assert response.json()["outcome"] == "refunded"
    order.refresh_from_db()
    assert order.status == Order.Status.REFUNDED
    assert set(order.tickets.values_list("status", flat=True)) == {"void"}
    ticket_type.refresh_from_db()
    assert ticket_type.sold_count == 0


def test_a_partial_refund_in_stripe_keeps_the_tickets_and_is_flagged(
    post_webhook, ticket_type
):
    order = _hold(ticket_type, 2)
    post_webhook(stripe_event("checkout.session.completed", session_object(order)))
    charge = {
        "id": "ch_2",
        "object": "charge",
        "payment_intent": f"pi_test_{order.code}",
        "amount": 5000,
        "amount_refunded": 1000,
        "refunded": False,
    }
    response = post_webhook(stripe_event("charge.refunded", charge))
    assert response.json()["outcome"] == "partial_refund_flagged"
    assert set(order.tickets.values_list("status", flat=True)) == {"issued"}
    order.refresh_from_db()
    assert order.status == Order.Status.PAID
    assert order.payments.get().provider_refunded == 10


def test_refund_arriving_before_completed_means_no_tickets(post_webhook, ticket_type):
    order = _hold(ticket_type, 2)
    charge = {
        "id": "ch_3",
        "object": "charge",
        "payment_intent": f"pi_test_{order.code}",
        "amount": 5000,
        "refunded": True,
        "metadata": {"order_id": str(order.id)},
    }
    post_webhook(stripe_event("charge.refunded", charge))
    response = post_webhook(
        stripe_event("checkout.session.completed", session_object(order))
    )
    assert response.status_code == 200
    assert not order.tickets.exists()
    order.refresh_from_db()
    assert order.status == Order.Status.REFUNDED


def test_events_for_unknown_orders_are_acknowledged_and_ignored(post_webhook):
    obj = {"id": "cs_elsewhere", "object": "checkout.session", "metadata": {}}
    response = post_webhook(stripe_event("checkout.session.completed", obj))
    assert response.status_code == 200
    assert response.json()["outcome"] == "ignored"
    response = post_webhook(stripe_event("customer.created", {"id": "cus_1"}))
    assert response.json()["outcome"] == "ignored"


@pytest.mark.django_db(transaction=True)
def test_a_locked_order_answers_503_so_stripe_retries(postgres, post_webhook):
    ticket_type = TicketTypeFactory()
    order = _hold(ticket_type, 1)
    event = stripe_event("checkout.session.completed", session_object(order))
    with row_locked_elsewhere(Order, order.pk):
        response = post_webhook(event)
        assert response.status_code == 503
        assert response["Retry-After"]
        # Nothing was recorded, so Stripe's retry is applied in full.
        assert not ProviderEvent.objects.filter(event_id=event["id"]).exists()
    retry = post_webhook(event)
    assert retry.status_code == 200
    assert retry.json()["outcome"] == "fulfilled"
    assert Payment.objects.filter(order=order).count() == 1
    assert order.tickets.count() == 1


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("path", ["core_fulfil_order", "event_moved"])
def test_a_paid_session_moves_the_counters_last(
    postgres, post_webhook, ticket_type, monkeypatch, path
):
    # The counters' statement takes the event's lock, which every buyer of the
    # event queues for: nothing but the commit may follow it (no savepoint
    # release, no second write of the order). They are moved last in
    # core_fulfil_order, the payment's one statement (ADR 14), and in the
    # Python path's own statement (what the function declines).
    if path == "event_moved":
        from core.services import fulfilment

        monkeypatch.setattr(
            fulfilment, "_fulfil_in_database", lambda *args, **kwargs: None
        )
    order = _hold(ticket_type, 1)
    with CaptureQueriesContext(connection) as queries:
        response = post_webhook(
            stripe_event("checkout.session.completed", session_object(order))
        )
    assert response.json()["outcome"] == "fulfilled"
    statements = [q["sql"] for q in queries.captured_queries]
    moved = [i for i, sql in enumerate(statements) if path in sql]
    assert moved, statements
    assert statements[moved[-1] + 1 :] == ["COMMIT"], statements[moved[-1] :]


def _charge(order, *, amount_refunded, refunded=False, charge_id="ch_partial"):
    return {
        "id": charge_id,
        "object": "charge",
        "payment_intent": f"pi_test_{order.code}",
        "amount": int(order.total * 100),
        "amount_refunded": amount_refunded,
        "refunded": refunded,
    }


def _paid_through_stripe(post_webhook, ticket_type, quantity=3):
    order = _hold(ticket_type, quantity)
    post_webhook(stripe_event("checkout.session.completed", session_object(order)))
    order.refresh_from_db()
    assert order.status == Order.Status.PAID
    return order


def test_our_own_partial_refund_is_recognised_when_stripe_reports_it(
    stripe_stub, post_webhook, ticket_type
):
    order = _paid_through_stripe(post_webhook, ticket_type)
    one = order.tickets.first()
    refund_tickets(order_id=order.id, ticket_ids=[one.pk])

    event = stripe_event("charge.refunded", _charge(order, amount_refunded=2500))
    response = post_webhook(event)

    assert response.json()["outcome"] == "partial_refund_recognised"
    assert post_webhook(event).json()["outcome"] == "duplicate"
    order.refresh_from_db()
    assert order.status == Order.Status.PAID
    assert refunded_outside(order) == 0
    assert order.tickets.filter(status=Ticket.Status.VOID).count() == 1
    assert order.refunds.count() == 1


def _refund_with_webhook_first(post_webhook, event, *, order, ticket, monkeypatch):
    """Refund `ticket` here, Stripe's `event` arriving after Stripe was asked
    and before the refund is booked: the webhook's outcomes."""
    real_apply = orders_service._apply_refund
    outcomes = []

    def webhook_first(**kwargs):
        outcomes.append(post_webhook(event).json()["outcome"])
        return real_apply(**kwargs)

    monkeypatch.setattr(orders_service, "_apply_refund", webhook_first)
    refund_tickets(order_id=order.id, ticket_ids=[ticket.pk])
    return outcomes


def test_stripe_reporting_our_refund_before_we_booked_it_is_not_flagged(
    stripe_stub, post_webhook, ticket_type, monkeypatch
):
    """Stripe may deliver charge.refunded before refund_tickets has voided
    the tickets: the refund was recorded before Stripe was asked."""
    order = _paid_through_stripe(post_webhook, ticket_type)
    one = order.tickets.first()
    event = stripe_event("charge.refunded", _charge(order, amount_refunded=2500))
    outcomes = _refund_with_webhook_first(
        post_webhook, event, order=order, ticket=one, monkeypatch=monkeypatch
    )

    assert outcomes == ["partial_refund_recognised"]
    one.refresh_from_db()
    assert one.status == Ticket.Status.VOID
    assert refunded_outside(order) == 0


def test_a_partial_refund_made_in_stripe_is_flagged_and_voids_nothing(
    stripe_stub, post_webhook, ticket_type
):
    order = _paid_through_stripe(post_webhook, ticket_type)
    one = order.tickets.first()
    refund_tickets(order_id=order.id, ticket_ids=[one.pk])

    # 25.00 ours, then 25.00 more refunded in Stripe's dashboard.
    response = post_webhook(
        stripe_event("charge.refunded", _charge(order, amount_refunded=5000))
    )

    assert response.json()["outcome"] == "partial_refund_flagged"
    assert order.tickets.filter(status=Ticket.Status.VOID).count() == 1
    assert refunded_outside(order) == Decimal("25.00")
    # An older report delivered late changes nothing.
    late = post_webhook(
        stripe_event("charge.refunded", _charge(order, amount_refunded=2500))
    )
    assert late.json()["outcome"] == "partial_refund_flagged"
    assert order.payments.get().provider_refunded == Decimal("50.00")
    assert refunded_outside(order) == Decimal("25.00")

    other = order.tickets.exclude(pk=one.pk).first()
    void_tickets_refunded_outside(order_id=order.id, ticket_ids=[other.pk])
    assert len(stripe_stub.calls("POST", "/v1/refunds")) == 1
    assert refunded_outside(order) == 0
    assert post_webhook(
        stripe_event("charge.refunded", _charge(order, amount_refunded=5000))
    ).json()["outcome"] == ("partial_refund_recognised")


def test_a_full_refund_after_a_partial_one_voids_the_rest(
    stripe_stub, post_webhook, ticket_type
):
    order = _paid_through_stripe(post_webhook, ticket_type)
    one = order.tickets.first()
    refund_tickets(order_id=order.id, ticket_ids=[one.pk])
    full = stripe_event(
        "charge.refunded", _charge(order, amount_refunded=7500, refunded=True)
    )
    partial = stripe_event("charge.refunded", _charge(order, amount_refunded=2500))

    assert post_webhook(full).json()["outcome"] == "refunded"
    # The earlier partial report, delivered after, and a duplicate: no change.
    assert post_webhook(partial).json()["outcome"] == "already_refunded"
    assert post_webhook(full).json()["outcome"] == "duplicate"

    order.refresh_from_db()
    assert order.status == Order.Status.REFUNDED
    assert set(order.tickets.values_list("status", flat=True)) == {"void"}
    assert order.payments.get().provider_refunded == Decimal("75.00")
    ticket_type.refresh_from_db()
    assert ticket_type.sold_count == 0
    assert refunded_outside(order) == 0


def test_refunding_every_ticket_in_parts_ends_refunded_once(
    stripe_stub, post_webhook, ticket_type
):
    order = _paid_through_stripe(post_webhook, ticket_type, quantity=2)
    first, second = order.tickets.all()
    refund_tickets(order_id=order.id, ticket_ids=[first.pk])
    refund_tickets(order_id=order.id, ticket_ids=[second.pk])
    order.refresh_from_db()
    assert order.status == Order.Status.REFUNDED
    calls = stripe_stub.calls("POST", "/v1/refunds")
    assert [c.form["amount"] for c in calls] == ["2500", "2500"]
    response = post_webhook(
        stripe_event(
            "charge.refunded", _charge(order, amount_refunded=5000, refunded=True)
        )
    )
    assert response.json()["outcome"] == "already_refunded"
    assert (
        OutboundMessage.objects.filter(order=order, kind="order_refunded").count() == 0
    )
    assert (
        OutboundMessage.objects.filter(order=order, kind="tickets_refunded").count()
        == 2
    )


def _paid_twice(post_webhook, stripe_stub, ticket_type, capture):
    """An order paid through Stripe, then paid again on a second payment
    page: the second payment is refunded automatically, and Stripe reports
    that refund."""
    order = _hold(ticket_type, 2)
    post_webhook(stripe_event("checkout.session.completed", session_object(order)))
    second = session_object(order, id="cs_test_second", payment_intent="pi_test_2nd")
    with capture(execute=True):
        response = post_webhook(stripe_event("checkout.session.completed", second))
    assert response.json()["outcome"] == "refund_due"
    (sent,) = stripe_stub.calls("POST", "/v1/refunds")
    assert sent.form["payment_intent"] == "pi_test_2nd"
    charge = {
        "id": "ch_second",
        "object": "charge",
        "payment_intent": "pi_test_2nd",
        "amount": 5000,
        "amount_refunded": 5000,
        "refunded": True,
    }
    response = post_webhook(stripe_event("charge.refunded", charge))
    assert response.json()["outcome"] == "already_refunded"
    order.refresh_from_db()
    assert order.status == Order.Status.PAID
    return order


def test_a_second_payment_refunded_automatically_is_not_refunded_outside(
    client,
    owner,
    post_webhook,
    stripe_stub,
    ticket_type,
    django_capture_on_commit_callbacks,
):
    order = _paid_twice(
        post_webhook, stripe_stub, ticket_type, django_capture_on_commit_callbacks
    )

    assert refunded_outside(order) == 0
    second = order.payments.get(provider_reference="pi_test_2nd")
    assert (second.status, second.provider_refunded) == ("refunded", Decimal("50"))
    assert second.refunded_at is not None
    client.force_login(owner)
    page = client.get(reverse("scanner:order_detail", args=[order.id])).content.decode()
    assert "data-refunded-outside" not in page
    assert "data-void-tickets" not in page
    assert "refunded in Stripe" not in page
    assert "data-refunded-as-due" in page
    assert "An extra payment of $50.00 was refunded automatically" in page
    listing = client.get(reverse("scanner:orders")).content.decode()
    assert order.code in listing
    assert "data-refunded-outside" not in listing
    assert set(order.tickets.values_list("status", flat=True)) == {"issued"}


def test_a_stripe_refund_of_the_kept_payment_is_still_flagged_beside_one(
    client,
    owner,
    post_webhook,
    stripe_stub,
    ticket_type,
    django_capture_on_commit_callbacks,
):
    """Only the payment the tickets stand on counts: a dashboard refund of
    part of it is flagged, the duplicate refunded automatically is not."""
    order = _paid_twice(
        post_webhook, stripe_stub, ticket_type, django_capture_on_commit_callbacks
    )

    response = post_webhook(
        stripe_event("charge.refunded", _charge(order, amount_refunded=2500))
    )

    assert response.json()["outcome"] == "partial_refund_flagged"
    assert refunded_outside(order) == Decimal("25.00")
    client.force_login(owner)
    page = client.get(reverse("scanner:order_detail", args=[order.id])).content.decode()
    assert "Partly refunded in Stripe: $25.00 of $50.00" in page
    assert "data-void-tickets" in page and "data-refunded-as-due" in page
    listing = client.get(reverse("scanner:orders")).content.decode()
    assert "Partly refunded in Stripe: $25.00 of $50.00" in listing

    one = order.tickets.first()
    void_tickets_refunded_outside(order_id=order.id, ticket_ids=[one.pk])
    voided = order.refunds.get()
    assert voided.payment.provider_reference == f"pi_test_{order.code}"
    assert refunded_outside(order) == 0


def test_a_full_refund_in_stripe_after_one_of_ours_quotes_what_it_gave_back(
    stripe_stub, post_webhook, ticket_type
):
    order = _paid_through_stripe(post_webhook, ticket_type)
    refund_tickets(order_id=order.id, ticket_ids=[order.tickets.first().pk])

    post_webhook(
        stripe_event(
            "charge.refunded", _charge(order, amount_refunded=7500, refunded=True)
        )
    )

    order.refresh_from_db()
    assert order.status == Order.Status.REFUNDED
    email = OutboundMessage.objects.get(order=order, kind="order_refunded")
    assert email.context["amount"] == "50.00"


REFUND_EMAILS = ("order_refunded", "tickets_refunded", "payment_refunded")


class ProcessDied(Exception):
    """Stands for a deploy, a crash or an OOM kill."""


def _whole_order_refund_cut_short(monkeypatch, order) -> Refund:
    """refund_order as if its process died once Stripe had refunded: the
    Refund stays pending, the tickets still admit."""

    def die(**kwargs):
        raise ProcessDied

    with monkeypatch.context() as patched:
        patched.setattr(orders_service, "_apply_order_refund", die)
        with pytest.raises(ProcessDied):
            refund_order(order_id=order.id, reason="show moved")
    refund = Refund.objects.get(order=order, whole_order=True)
    assert refund.status == Refund.Status.PENDING
    return refund


def _sweep(refund: Refund) -> int:
    refund.refresh_from_db()
    return complete_stalled_refunds(
        now=refund.updated_at + STALLED_REFUND_GRACE + timedelta(seconds=1)
    )


def _refund_email(order) -> OutboundMessage:
    (email,) = OutboundMessage.objects.filter(order=order, kind__in=REFUND_EMAILS)
    return email


def test_a_whole_order_refund_the_sweep_completes_before_stripe_reports_it_emails_once(
    stripe_stub, post_webhook, monkeypatch, ticket_type
):
    order = _paid_through_stripe(post_webhook, ticket_type)
    refund = _whole_order_refund_cut_short(monkeypatch, order)

    assert _sweep(refund) == 1
    response = post_webhook(
        stripe_event(
            "charge.refunded",
            _charge(order, amount_refunded=int(order.total * 100), refunded=True),
        )
    )

    assert response.json()["outcome"] == "already_refunded"
    order.refresh_from_db()
    assert order.status == Order.Status.REFUNDED
    email = _refund_email(order)
    assert email.kind == "order_refunded"
    assert email.context["amount"] == str(order.total)
    assert email.context["tickets_voided"] == 3
    assert email.context["reason"] == "show moved"


def test_a_whole_order_refund_stripe_reports_before_the_sweep_completes_it_emails_once(
    stripe_stub, post_webhook, monkeypatch, ticket_type
):
    order = _paid_through_stripe(post_webhook, ticket_type)
    refund = _whole_order_refund_cut_short(monkeypatch, order)

    response = post_webhook(
        stripe_event(
            "charge.refunded",
            _charge(order, amount_refunded=int(order.total * 100), refunded=True),
        )
    )
    assert response.json()["outcome"] == "refunded"
    assert _sweep(refund) == 1

    refund.refresh_from_db()
    assert refund.status == Refund.Status.SUCCEEDED
    assert len(stripe_stub.refunds) == 1
    order.refresh_from_db()
    assert order.status == Order.Status.REFUNDED
    email = _refund_email(order)
    assert email.kind == "order_refunded"
    assert email.context["amount"] == str(order.total)


def _with_a_free_ticket(post_webhook, event):
    """An order of a paid ticket (25.00) and a free one (a child's), paid
    through Stripe; returns it, the paid ticket and the free one."""
    adult = TicketTypeFactory(event=event, name="Adult", price=Decimal("25.00"))
    kid = TicketTypeFactory(event=event, name="Kid", price=Decimal("0.00"))
    order = place_order(
        event_id=event.id,
        quantities={adult.id: 1, kid.id: 1},
        customer_name="Rosa",
        customer_email="rosa@example.com",
    )
    post_webhook(stripe_event("checkout.session.completed", session_object(order)))
    order.refresh_from_db()
    assert (order.status, order.total) == (Order.Status.PAID, Decimal("25.00"))
    paid = order.tickets.get(ticket_type=adult)
    free = order.tickets.get(ticket_type=kid)
    return order, paid, free


def _fully_refunded(order):
    return stripe_event(
        "charge.refunded", _charge(order, amount_refunded=2500, refunded=True)
    )


def test_stripe_fully_refunding_our_refund_of_the_paid_ticket_keeps_the_free_one(
    stripe_stub, post_webhook, event
):
    """The owner refunded the one paid ticket: the whole charge went back,
    every cent of it by our own refund. The child's free ticket still
    admits; the order stays paid and no 'order refunded' email goes out."""
    order, paid, free = _with_a_free_ticket(post_webhook, event)
    refund_tickets(order_id=order.id, ticket_ids=[paid.pk])

    response = post_webhook(_fully_refunded(order))

    assert response.json()["outcome"] == "refund_recognised"
    free.refresh_from_db()
    assert free.status == Ticket.Status.ISSUED
    order.refresh_from_db()
    assert order.status == Order.Status.PAID
    assert refunded_outside(order) == 0
    assert order.payments.get().provider_refunded == Decimal("25.00")
    kinds = set(
        OutboundMessage.objects.filter(order=order).values_list("kind", flat=True)
    )
    assert "order_refunded" not in kinds and "tickets_refunded" in kinds


def test_stripe_fully_refunding_before_we_booked_our_refund_keeps_the_free_one(
    stripe_stub, post_webhook, event, monkeypatch
):
    """Stripe may report the charge refunded before refund_tickets has
    voided the paid ticket: its Refund, recorded before Stripe was asked,
    accounts for it."""
    order, paid, free = _with_a_free_ticket(post_webhook, event)
    outcomes = _refund_with_webhook_first(
        post_webhook,
        _fully_refunded(order),
        order=order,
        ticket=paid,
        monkeypatch=monkeypatch,
    )

    assert outcomes == ["refund_recognised"]
    paid.refresh_from_db()
    free.refresh_from_db()
    assert (paid.status, free.status) == (Ticket.Status.VOID, Ticket.Status.ISSUED)
    order.refresh_from_db()
    assert order.status == Order.Status.PAID


def test_a_full_refund_in_stripe_nobody_here_made_still_voids_the_free_ticket(
    stripe_stub, post_webhook, event
):
    """Money went back that no refund here accounts for (Stripe's
    dashboard): the order is voided, free ticket and all, as before."""
    order, _paid, free = _with_a_free_ticket(post_webhook, event)

    response = post_webhook(_fully_refunded(order))

    assert response.json()["outcome"] == "refunded"
    free.refresh_from_db()
    assert free.status == Ticket.Status.VOID
    order.refresh_from_db()
    assert order.status == Order.Status.REFUNDED
    assert OutboundMessage.objects.filter(order=order, kind="order_refunded").exists()


def test_a_refunded_payment_we_never_recorded_leaves_an_order_paid_by_another(
    stripe_stub, post_webhook, ticket_type
):
    """Paid twice on two payment pages, the second refunded (in Stripe)
    before its own webhook came: the tickets stand on the first payment.
    The second is recorded as refunded, and its late 'completed' issues
    nothing and sends nothing back."""
    order = _paid_through_stripe(post_webhook, ticket_type, quantity=2)
    charge = {
        "id": "ch_second",
        "object": "charge",
        "payment_intent": "pi_test_2nd",
        "amount": 5000,
        "amount_refunded": 5000,
        "refunded": True,
        "metadata": {"order_id": str(order.id)},
    }

    response = post_webhook(stripe_event("charge.refunded", charge))

    assert response.json()["outcome"] == "unrecorded_payment_refunded"
    order.refresh_from_db()
    assert order.status == Order.Status.PAID
    assert set(order.tickets.values_list("status", flat=True)) == {"issued"}
    second = order.payments.get(provider_reference="pi_test_2nd")
    assert (second.status, second.provider_refunded) == ("refunded", Decimal("50"))
    assert order.payments.get(provider_reference=f"pi_test_{order.code}").status == (
        Payment.Status.SUCCEEDED
    )
    assert refunded_outside(order) == 0
    assert not OutboundMessage.objects.filter(
        order=order, kind__in=REFUND_EMAILS
    ).exists()
    # A payment not kept, sent back, as a second payment turned away here
    # is: the order, all its tickets standing, is not partly refunded.
    assert second.refunded_at is not None
    money = money_of_orders([order.pk])[order.pk]
    assert (money.taken, money.refunded, money.sent_back, money.net) == (
        Decimal("100.00"),
        Decimal("0.00"),
        Decimal("50.00"),
        Decimal("50.00"),
    )
    assert order_standing(order).label == "Paid"

    late = session_object(order, id="cs_test_second", payment_intent="pi_test_2nd")
    response = post_webhook(stripe_event("checkout.session.completed", late))
    assert response.json()["outcome"] == "already_fulfilled"
    assert stripe_stub.calls("POST", "/v1/refunds") == []
    assert order.tickets.count() == 2


def test_a_failed_payment_offers_its_seats_to_the_waitlist_at_once(
    post_webhook, django_capture_on_commit_callbacks
):
    """The seats a failed bank debit held go to the first in line after
    commit, as a cancelled or expired hold's do, not at the worker's next
    sweep."""
    event = EventFactory(venue_capacity=2)
    seat = TicketTypeFactory(event=event, name="Seat", capacity=2, max_per_order=2)
    order = _hold(seat, 2)
    post_webhook(
        stripe_event(
            "checkout.session.completed", session_object(order, payment_status="unpaid")
        )
    )
    entry = join_waitlist(
        event_id=event.id,
        ticket_type_id=seat.id,
        name="Wait",
        email="wait@example.com",
        phone="",
        quantity=2,
    )

    with django_capture_on_commit_callbacks(execute=True):
        response = post_webhook(
            stripe_event("checkout.session.async_payment_failed", session_object(order))
        )

    assert response.json()["outcome"] == "payment_failed"
    entry.refresh_from_db()
    assert entry.status == WaitlistEntry.Status.OFFERED
    assert entry.offer_order.status == Order.Status.PENDING
