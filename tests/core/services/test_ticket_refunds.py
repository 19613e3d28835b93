"""Refunding some tickets of an order (or the whole order through the same
machinery), completing refunds cut short, and voiding tickets refunded in
Stripe."""

import logging
from datetime import datetime, timedelta
from decimal import Decimal

import pytest
from django.core import mail
from django.core.management import call_command
from django.utils import timezone

from core.exceptions import (
    OrderNotRefundable,
    PaymentRefused,
    PaymentUnavailable,
    RefundUnconfirmed,
    TicketsNotRefundable,
)
from core.models import (
    AuditLogEntry,
    Order,
    OutboundMessage,
    Payment,
    Refund,
    Ticket,
    WaitlistEntry,
)
from core.notify.delivery import send_due_messages
from core.queries.console import describe_entry
from core.queries.door import checked_in_by_type, ticket_states
from core.queries.orders import refunded_outside
from core.services import orders as orders_service
from core.services.checkin import redeem_ticket
from core.services.checkout import place_order
from core.services.fulfilment import fulfil_order
from core.services.orders import (
    REFUND_REPLAY_WINDOW,
    STALLED_REFUND_GRACE,
    attempt_key,
    complete_stalled_refunds,
    order_refund_key,
    refund_key,
    refund_order,
    refund_tickets,
    void_tickets_refunded_outside,
)
from tests.core.services.test_orders import _assert_counters_match_recount
from tests.factories import (
    TicketTypeFactory,
    make_door_open_event,
    make_paid_order,
    make_staff,
)
from tests.stubs import StripeStub

pytestmark = pytest.mark.django_db


@pytest.fixture
def event(db):
    return make_door_open_event(venue_capacity=20)


@pytest.fixture
def vip(event):
    return TicketTypeFactory(event=event, name="VIP", price="40.00", capacity=10)


@pytest.fixture
def standing(event):
    return TicketTypeFactory(event=event, name="Standing", price="25.00", capacity=10)


@pytest.fixture
def order(vip, standing):
    """Paid: one VIP (40.00) and two Standing (25.00 each), 90.00 in all."""
    order = place_order(
        event_id=vip.event_id,
        quantities={vip.id: 1, standing.id: 2},
        customer_name="Rosa",
        customer_email="rosa@example.com",
    )
    fulfil_order(
        order_id=order.id,
        provider="simulated",
        provider_reference=f"sim-{order.code}",
        amount=order.total,
        currency=order.currency,
    )
    order.refresh_from_db()
    return order


def _admit(ticket):
    result = redeem_ticket(event=ticket.event, text=ticket.qr_payload)
    assert result.code == "ok", result.code
    ticket.refresh_from_db()
    return ticket


def _statuses(order):
    return dict(order.tickets.values_list("code", "status"))


def test_refunding_some_tickets_gives_back_their_price_and_voids_only_them(
    order, vip, standing
):
    owner = make_staff()
    used_vip = _admit(order.tickets.get(ticket_type=vip))
    one, other = order.tickets.filter(ticket_type=standing).order_by("code")
    assert checked_in_by_type(order.event_id) == {vip.pk: 1}

    refund = refund_tickets(
        order_id=order.id,
        ticket_ids=[used_vip.pk, one.pk],
        reason="two can't come",
        actor=owner,
    )

    assert refund.amount == Decimal("65.00")
    assert (refund.kind, refund.status) == (Refund.Kind.SENT, Refund.Status.SUCCEEDED)
    assert set(refund.tickets.all()) == {used_vip, one}
    assert refund.provider_reference.startswith("simulated-refund-")
    assert _statuses(order) == {
        used_vip.code: "void",
        one.code: "void",
        other.code: "issued",
    }
    order.refresh_from_db()
    assert order.status == Order.Status.PAID
    assert order.payments.get().status == Payment.Status.SUCCEEDED
    # The used VIP ticket's check-in left its tally slot.
    assert checked_in_by_type(order.event_id).get(vip.pk, 0) == 0
    _assert_counters_match_recount(order.event)
    vip.refresh_from_db()
    standing.refresh_from_db()
    assert (vip.sold_count, standing.sold_count) == (0, 1)
    email = OutboundMessage.objects.get(order=order, kind="tickets_refunded")
    assert email.context["amount"] == "65.00"
    assert email.context["tickets_left"] == 1
    assert {t["code"] for t in email.context["refunded_tickets"]} == {
        used_vip.code,
        one.code,
    }
    entry = AuditLogEntry.objects.get(action="order.refund_tickets")
    assert entry.actor == owner
    assert entry.after["amount"] == "65.00"
    assert set(entry.after["tickets_voided"]) == {used_vip.code, one.code}


def test_refunding_the_last_tickets_marks_the_order_refunded(order, standing):
    first = order.tickets.exclude(ticket_type=standing).get()
    refund_tickets(order_id=order.id, ticket_ids=[first.pk])
    order.refresh_from_db()
    assert order.status == Order.Status.PAID

    rest = list(order.tickets.filter(ticket_type=standing))
    refund = refund_tickets(order_id=order.id, ticket_ids=[t.pk for t in rest])

    assert refund.amount == Decimal("50.00")
    order.refresh_from_db()
    assert order.status == Order.Status.REFUNDED
    assert order.payments.get().status == Payment.Status.REFUNDED
    assert set(_statuses(order).values()) == {"void"}
    assert sum(order.refunds.values_list("amount", flat=True)) == order.total
    _assert_counters_match_recount(order.event)


def test_freed_seats_are_offered_to_the_waitlist(
    order, standing, django_capture_on_commit_callbacks
):
    standing.capacity = 2
    standing.save(update_fields=["capacity"])
    WaitlistEntry.objects.create(
        event=order.event,
        ticket_type=standing,
        name="Wait",
        email="w@example.com",
        quantity=1,
    )
    one = order.tickets.filter(ticket_type=standing).first()
    with django_capture_on_commit_callbacks(execute=True):
        refund_tickets(order_id=order.id, ticket_ids=[one.pk])
    entry = WaitlistEntry.objects.get()
    assert entry.status == WaitlistEntry.Status.OFFERED


def test_tickets_of_another_order_are_refused_and_nothing_changes(order, standing):
    stranger = make_paid_order(standing, 1).tickets.get()
    mine = order.tickets.filter(ticket_type=standing).first()
    with pytest.raises(TicketsNotRefundable):
        refund_tickets(order_id=order.id, ticket_ids=[mine.pk, stranger.pk])
    assert set(_statuses(order).values()) == {"issued"}
    stranger.refresh_from_db()
    assert stranger.status == Ticket.Status.ISSUED
    assert not Refund.objects.exists()
    _assert_counters_match_recount(order.event)


def test_a_void_ticket_is_refused_and_nothing_is_refunded_again(order, standing):
    one, other = order.tickets.filter(ticket_type=standing)
    refund_tickets(order_id=order.id, ticket_ids=[one.pk])
    with pytest.raises(TicketsNotRefundable, match="void already"):
        refund_tickets(order_id=order.id, ticket_ids=[one.pk, other.pk])
    assert Refund.objects.count() == 1
    other.refresh_from_db()
    assert other.status == Ticket.Status.ISSUED


@pytest.mark.parametrize("ticket_ids", [[], ["not-a-uuid"]])
def test_no_tickets_or_nonsense_is_refused(order, ticket_ids):
    with pytest.raises(TicketsNotRefundable):
        refund_tickets(order_id=order.id, ticket_ids=ticket_ids)


def test_an_unpaid_order_is_refused(standing):
    pending = place_order(
        event_id=standing.event_id,
        quantities={standing.id: 1},
        customer_name="P",
        customer_email="p@example.com",
    )
    with pytest.raises(OrderNotRefundable):
        refund_tickets(order_id=pending.id, ticket_ids=["00000000-0000-0000-0000-0"])


def test_asking_twice_is_one_refund(order, standing):
    one = order.tickets.filter(ticket_type=standing).first()
    first = refund_tickets(order_id=order.id, ticket_ids=[one.pk])
    again = refund_tickets(order_id=order.id, ticket_ids=[str(one.pk)])
    assert again.pk == first.pk
    assert Refund.objects.count() == 1
    assert OutboundMessage.objects.filter(kind="tickets_refunded").count() == 1
    standing.refresh_from_db()
    assert standing.sold_count == 1
    _assert_counters_match_recount(order.event)


def test_a_refunded_ticket_is_refused_at_the_door_while_its_sibling_admits(
    order, standing
):
    one, other = order.tickets.filter(ticket_type=standing)
    refund_tickets(order_id=order.id, ticket_ids=[one.pk])
    refused = redeem_ticket(event=order.event, text=one.qr_payload)
    admitted = redeem_ticket(event=order.event, text=other.qr_payload)
    assert refused.code == "void" and not refused.admitted
    assert admitted.code == "ok" and admitted.admitted
    _assert_counters_match_recount(order.event)


def test_the_whole_order_refund_after_a_partial_one_refunds_the_rest(order, standing):
    one = order.tickets.filter(ticket_type=standing).first()
    refund_tickets(order_id=order.id, ticket_ids=[one.pk])
    refund_order(order_id=order.id)
    order.refresh_from_db()
    assert order.status == Order.Status.REFUNDED
    assert set(_statuses(order).values()) == {"void"}
    _assert_counters_match_recount(order.event)


def _stripe_payment(order, reference="pi_test_partial"):
    Payment.objects.filter(order=order).update(
        provider="stripe", provider_reference=reference
    )
    return order.payments.get()


def test_stripe_is_asked_for_exactly_the_tickets_price_with_a_key_per_tickets(
    stripe_stub, order, vip, standing
):
    _stripe_payment(order)
    chosen = [
        order.tickets.get(ticket_type=vip),
        order.tickets.filter(ticket_type=standing).first(),
    ]
    refund = refund_tickets(order_id=order.id, ticket_ids=[t.pk for t in chosen])

    (call,) = stripe_stub.calls("POST", "/v1/refunds")
    assert call.form["payment_intent"] == "pi_test_partial"
    assert call.form["amount"] == "6500"
    key = refund_key(order.id, [t.pk for t in chosen])
    assert call.headers["idempotency-key"] == key == refund.key
    assert key == refund_key(order.id, [t.pk for t in reversed(chosen)])
    assert refund.provider_reference.startswith("re_test_")


def _keys_sent(stripe_stub) -> list[str]:
    return [
        c.headers["idempotency-key"] for c in stripe_stub.calls("POST", "/v1/refunds")
    ]


def test_a_refund_failing_at_stripe_changes_nothing_and_a_retry_resends_its_key(
    stripe_stub, order, standing
):
    """A 5xx may come after the refund was made: only the same key is safe."""
    _stripe_payment(order)
    one = order.tickets.filter(ticket_type=standing).first()
    stripe_stub.fail_status = 500
    with pytest.raises(PaymentUnavailable) as failed:
        refund_tickets(order_id=order.id, ticket_ids=[one.pk])
    assert not isinstance(failed.value, PaymentRefused)
    one.refresh_from_db()
    assert one.status == Ticket.Status.ISSUED
    refund = Refund.objects.get()
    assert (refund.status, refund.refusal_reason) == (Refund.Status.FAILED, "")
    _assert_counters_match_recount(order.event)

    stripe_stub.fail_status = None
    refund = refund_tickets(order_id=order.id, ticket_ids=[one.pk])
    assert refund.status == Refund.Status.SUCCEEDED
    assert (refund.attempt, attempt_key(refund)) == (1, refund.key)
    assert _keys_sent(stripe_stub) == [refund.key, refund.key]
    assert len(stripe_stub.refunds) == 1
    one.refresh_from_db()
    assert one.status == Ticket.Status.VOID


def test_a_refund_whose_answer_was_lost_is_asked_again_under_its_key_and_made_once(
    stripe_stub, order, standing
):
    """Stripe refunded but its answer never came back (the SDK retried, and
    gave up): asking again must find that refund, not make a second."""
    _stripe_payment(order)
    one = order.tickets.filter(ticket_type=standing).first()
    stripe_stub.drop_answers = 3
    with pytest.raises(PaymentUnavailable) as failed:
        refund_tickets(order_id=order.id, ticket_ids=[one.pk])
    assert not isinstance(failed.value, PaymentRefused)
    (made,) = stripe_stub.refunds.values()
    refund = Refund.objects.get()
    assert (refund.status, refund.refusal_reason) == (Refund.Status.FAILED, "")
    one.refresh_from_db()
    assert one.status == Ticket.Status.ISSUED

    refund = refund_tickets(order_id=order.id, ticket_ids=[one.pk])

    assert refund.status == Refund.Status.SUCCEEDED
    assert refund.provider_reference == made["id"]
    assert set(_keys_sent(stripe_stub)) == {refund.key}
    assert len(stripe_stub.refunds) == 1
    one.refresh_from_db()
    assert one.status == Ticket.Status.VOID


def test_a_refund_stripe_refuses_fails_with_its_reason_and_goes_through_after_a_top_up(
    stripe_stub, order, standing
):
    """Stripe replays a refusal to the key it refused for 24 hours: once the
    balance is topped up, asking again must send a new key."""
    _stripe_payment(order)
    one = order.tickets.filter(ticket_type=standing).first()
    stripe_stub.refuse_refunds()
    with pytest.raises(PaymentRefused) as refused:
        refund_tickets(order_id=order.id, ticket_ids=[one.pk])
    assert refused.value.reason == StripeStub.LOW_BALANCE
    assert StripeStub.LOW_BALANCE in refused.value.message
    refund = Refund.objects.get()
    assert refund.status == Refund.Status.FAILED
    assert refund.refusal_reason == StripeStub.LOW_BALANCE
    one.refresh_from_db()
    assert one.status == Ticket.Status.ISSUED
    assert not stripe_stub.refunds
    _assert_counters_match_recount(order.event)

    # Stripe would replay its refusal to the key it was sent.
    stripe_stub.accept_refunds()
    refund = refund_tickets(order_id=order.id, ticket_ids=[one.pk])

    assert refund.status == Refund.Status.SUCCEEDED
    assert refund.refusal_reason == ""
    first, second = _keys_sent(stripe_stub)
    assert first == refund.key == refund_key(order.id, [one.pk])
    assert second == attempt_key(refund) == f"{refund.key}-2"
    (made,) = stripe_stub.refunds.values()
    assert refund.provider_reference == made["id"]
    assert made["amount"] == 2500
    one.refresh_from_db()
    assert one.status == Ticket.Status.VOID
    _assert_counters_match_recount(order.event)
    # Asking again for the refund made returns it, sending nothing.
    assert refund_tickets(order_id=order.id, ticket_ids=[one.pk]).pk == refund.pk
    assert len(_keys_sent(stripe_stub)) == 2


def test_each_refusal_is_followed_by_a_new_key_and_a_failure_by_the_same(
    stripe_stub, order, standing
):
    _stripe_payment(order)
    one = order.tickets.filter(ticket_type=standing).first()
    stripe_stub.refuse_refunds()
    for _ in range(2):
        with pytest.raises(PaymentRefused):
            refund_tickets(order_id=order.id, ticket_ids=[one.pk])
    stripe_stub.accept_refunds()
    stripe_stub.fail_status = 503
    with pytest.raises(PaymentUnavailable):
        refund_tickets(order_id=order.id, ticket_ids=[one.pk])
    stripe_stub.fail_status = None
    refund = refund_tickets(order_id=order.id, ticket_ids=[one.pk])

    key = refund.key
    assert _keys_sent(stripe_stub) == [key, f"{key}-2", f"{key}-3", f"{key}-3"]
    assert (refund.status, refund.attempt) == (Refund.Status.SUCCEEDED, 3)
    assert len(stripe_stub.refunds) == 1


class ProcessDied(Exception):
    """Stands for a deploy, a crash or an OOM kill."""


def _cut_short(monkeypatch, **refund_kwargs) -> Refund:
    """refund_tickets as if its process died once the provider had answered:
    the money went back, but the Refund stays pending and its tickets still
    admit."""

    def die(**kwargs):
        raise ProcessDied

    with monkeypatch.context() as patched:
        patched.setattr(orders_service, "_apply_refund", die)
        with pytest.raises(ProcessDied):
            refund_tickets(**refund_kwargs)
    refund = Refund.objects.get(
        key=refund_key(refund_kwargs["order_id"], refund_kwargs["ticket_ids"])
    )
    assert refund.status == Refund.Status.PENDING
    return refund


def test_asking_again_for_a_refund_cut_short_books_it_whatever_the_reason_typed(
    stripe_stub, monkeypatch, order, standing
):
    """Stripe refuses a key reused with other parameters: asking again must
    send the first request, not the reason typed this time."""
    _stripe_payment(order)
    one = order.tickets.filter(ticket_type=standing).first()
    _cut_short(monkeypatch, order_id=order.id, ticket_ids=[one.pk], reason="ill")

    refund = refund_tickets(order_id=order.id, ticket_ids=[one.pk], reason="sick")

    assert refund.status == Refund.Status.SUCCEEDED
    first, again = stripe_stub.calls("POST", "/v1/refunds")
    assert again.form == first.form
    assert again.headers["idempotency-key"] == first.headers["idempotency-key"]
    assert len(stripe_stub.refunds) == 1
    assert refund.reason == "ill"
    one.refresh_from_db()
    assert one.status == Ticket.Status.VOID


def test_more_than_is_left_of_the_payment_is_refused(stripe_stub, order, vip):
    payment = _stripe_payment(order)
    Payment.objects.filter(pk=payment.pk).update(provider_refunded=Decimal("60.00"))
    with pytest.raises(TicketsNotRefundable, match=r"Only \$30\.00"):
        refund_tickets(
            order_id=order.id, ticket_ids=[order.tickets.get(ticket_type=vip).pk]
        )
    assert not stripe_stub.calls("POST", "/v1/refunds")


def test_tickets_refunded_in_stripe_are_voided_without_refunding_again(
    stripe_stub, order, standing
):
    owner = make_staff()
    payment = _stripe_payment(order)
    Payment.objects.filter(pk=payment.pk).update(provider_refunded=Decimal("25.00"))
    assert refunded_outside(order) == Decimal("25.00")
    one = order.tickets.filter(ticket_type=standing).first()

    refund = void_tickets_refunded_outside(
        order_id=order.id, ticket_ids=[one.pk], actor=owner
    )

    assert not stripe_stub.calls("POST", "/v1/refunds")
    assert (refund.kind, refund.amount) == (Refund.Kind.OUTSIDE, Decimal("25.00"))
    one.refresh_from_db()
    assert one.status == Ticket.Status.VOID
    assert refunded_outside(order) == 0
    order.refresh_from_db()
    assert order.status == Order.Status.PAID
    assert AuditLogEntry.objects.get(action="order.void_refunded_outside")
    _assert_counters_match_recount(order.event)
    # Nothing more is waiting to be matched: voiding more is refused.
    other = order.tickets.filter(ticket_type=standing).exclude(pk=one.pk).get()
    with pytest.raises(OrderNotRefundable):
        void_tickets_refunded_outside(order_id=order.id, ticket_ids=[other.pk])


def test_voiding_without_a_refund_made_in_stripe_is_refused(order, standing):
    one = order.tickets.filter(ticket_type=standing).first()
    with pytest.raises(OrderNotRefundable):
        void_tickets_refunded_outside(order_id=order.id, ticket_ids=[one.pk])
    one.refresh_from_db()
    assert one.status == Ticket.Status.ISSUED


def test_a_used_ticket_voided_against_a_stripe_refund_leaves_its_tally(order, vip):
    Payment.objects.filter(order=order).update(provider_refunded=Decimal("40.00"))
    used = _admit(order.tickets.get(ticket_type=vip))
    void_tickets_refunded_outside(order_id=order.id, ticket_ids=[used.pk])
    assert checked_in_by_type(order.event_id).get(vip.pk, 0) == 0
    _assert_counters_match_recount(order.event)


def test_a_used_at_time_is_kept_on_a_refunded_ticket(order, vip):
    used = _admit(order.tickets.get(ticket_type=vip))
    refund_tickets(order_id=order.id, ticket_ids=[used.pk])
    used.refresh_from_db()
    assert used.status == Ticket.Status.VOID
    assert used.scanned_at is not None and used.scanned_at <= timezone.now()


# --- refunds cut short between the provider and the books -------------------


def _stalled(refund: Refund) -> datetime:
    """A moment at which `refund` has been left alone past the grace period."""
    refund.refresh_from_db()
    return refund.updated_at + STALLED_REFUND_GRACE + timedelta(seconds=1)


def test_a_refund_cut_short_after_stripe_sent_it_is_completed_by_the_sweep(
    stripe_stub, monkeypatch, caplog, django_capture_on_commit_callbacks, order, vip
):
    _stripe_payment(order)
    used_vip = _admit(order.tickets.get(ticket_type=vip))
    refund = _cut_short(
        monkeypatch, order_id=order.id, ticket_ids=[used_vip.pk], reason="can't come"
    )
    (sent,) = stripe_stub.refunds.values()
    # The money went back, yet the ticket still counts as sold and admitted.
    used_vip.refresh_from_db()
    assert used_vip.status == Ticket.Status.USED
    assert not OutboundMessage.objects.filter(kind="tickets_refunded").exists()

    with (
        caplog.at_level(logging.INFO, logger="core.services.orders"),
        django_capture_on_commit_callbacks(execute=True),
    ):
        done = complete_stalled_refunds(now=_stalled(refund))

    assert done == 1
    refund.refresh_from_db()
    assert refund.status == Refund.Status.SUCCEEDED
    assert refund.provider_reference == sent["id"]
    # Stripe was asked again with the same key and parameters: one refund.
    first, again = stripe_stub.calls("POST", "/v1/refunds")
    assert again.headers["idempotency-key"] == first.headers["idempotency-key"]
    assert again.headers["idempotency-key"] == refund.key
    assert again.form == first.form and first.form["amount"] == "4000"
    assert len(stripe_stub.refunds) == 1
    used_vip.refresh_from_db()
    assert used_vip.status == Ticket.Status.VOID
    assert redeem_ticket(event=order.event, text=used_vip.qr_payload).code == "void"
    vip.refresh_from_db()
    assert vip.sold_count == 0
    assert checked_in_by_type(order.event_id).get(vip.pk, 0) == 0
    _assert_counters_match_recount(order.event)
    order.refresh_from_db()
    assert order.status == Order.Status.PAID  # two Standing tickets still admit
    email = OutboundMessage.objects.get(order=order, kind="tickets_refunded")
    assert email.context["reason"] == "can't come"
    assert email.context["amount"] == "40.00"
    entry = AuditLogEntry.objects.get(action="order.refund_completed")
    assert entry.actor is None
    assert entry.after["tickets_voided"] == [used_vip.code]
    (line,) = [r.getMessage() for r in caplog.records if "completed" in r.message]
    assert str(order.id) in line and str(refund.pk) in line


def test_a_refund_still_in_flight_is_left_alone(stripe_stub, monkeypatch, order, vip):
    _stripe_payment(order)
    ticket = order.tickets.get(ticket_type=vip)
    refund = _cut_short(monkeypatch, order_id=order.id, ticket_ids=[ticket.pk])

    assert complete_stalled_refunds() == 0
    in_grace = _stalled(refund) - timedelta(seconds=2)
    assert complete_stalled_refunds(now=in_grace) == 0

    assert len(stripe_stub.calls("POST", "/v1/refunds")) == 1
    refund.refresh_from_db()
    assert refund.status == Refund.Status.PENDING
    ticket.refresh_from_db()
    assert ticket.status == Ticket.Status.ISSUED


def test_sweeping_again_changes_nothing_more(stripe_stub, monkeypatch, order, vip):
    _stripe_payment(order)
    ticket = order.tickets.get(ticket_type=vip)
    refund = _cut_short(monkeypatch, order_id=order.id, ticket_ids=[ticket.pk])
    later = _stalled(refund)
    assert complete_stalled_refunds(now=later) == 1

    assert complete_stalled_refunds(now=later) == 0
    assert complete_stalled_refunds(now=later + timedelta(hours=1)) == 0

    assert len(stripe_stub.calls("POST", "/v1/refunds")) == 2
    assert OutboundMessage.objects.filter(kind="tickets_refunded").count() == 1
    assert AuditLogEntry.objects.filter(action="order.refund_completed").count() == 1
    vip.refresh_from_db()
    assert vip.sold_count == 0
    _assert_counters_match_recount(order.event)


def test_the_sweep_books_a_void_when_it_happens_for_the_door_phones_copy(
    stripe_stub, monkeypatch, order, vip
):
    """A sweep that started minutes ago (slow provider calls before this one)
    voids at the clock's time: door phones copy the tickets changed since
    their last copy (less a few seconds), and a void dated at the sweep's
    start would reach them only at their next full copy."""
    _stripe_payment(order)
    ticket = order.tickets.get(ticket_type=vip)
    refund = _cut_short(monkeypatch, order_id=order.id, ticket_ids=[ticket.pk])
    Refund.objects.filter(pk=refund.pk).update(
        updated_at=timezone.now() - STALLED_REFUND_GRACE - timedelta(minutes=5)
    )
    Ticket.objects.filter(order=order).update(
        updated_at=timezone.now() - timedelta(hours=1)
    )
    sweep_started = timezone.now() - timedelta(minutes=3)
    last_copy = timezone.now() - timedelta(seconds=5)

    assert complete_stalled_refunds(now=sweep_started) == 1

    ticket.refresh_from_db()
    assert ticket.status == Ticket.Status.VOID
    assert ticket.updated_at >= last_copy
    copied = ticket_states(order.event, since=last_copy)["tickets"]
    assert [(t["code"], t["status"]) for t in copied] == [(ticket.code, "void")]


def _died_before_asking(monkeypatch, **refund_kwargs) -> Refund:
    """refund_tickets as if its process died once the refund was recorded,
    before the provider was asked."""

    def die(refund):
        raise ProcessDied

    with monkeypatch.context() as patched:
        patched.setattr(orders_service, "_send_refund", die)
        with pytest.raises(ProcessDied):
            refund_tickets(**refund_kwargs)
    return Refund.objects.get(status=Refund.Status.PENDING)


def test_a_stalled_refund_stripe_refuses_is_marked_failed_and_its_tickets_kept(
    stripe_stub, monkeypatch, caplog, order, standing
):
    _stripe_payment(order)
    one = order.tickets.filter(ticket_type=standing).first()
    refund = _died_before_asking(monkeypatch, order_id=order.id, ticket_ids=[one.pk])
    stripe_stub.refuse_refunds()

    with caplog.at_level(logging.WARNING, logger="core.services.orders"):
        assert complete_stalled_refunds(now=_stalled(refund)) == 0

    refund.refresh_from_db()
    assert refund.status == Refund.Status.FAILED
    assert refund.refusal_reason == StripeStub.LOW_BALANCE
    assert not stripe_stub.refunds
    one.refresh_from_db()
    assert one.status == Ticket.Status.ISSUED
    assert not OutboundMessage.objects.filter(kind="tickets_refunded").exists()
    _assert_counters_match_recount(order.event)
    (line,) = _service_log(caplog, "refused by the provider")
    assert str(order.id) in line and str(refund.pk) in line
    # A failed refund is the owner's to retry; the sweep leaves it be.
    stripe_stub.accept_refunds()
    assert complete_stalled_refunds(now=_stalled(refund)) == 0
    assert refund_tickets(order_id=order.id, ticket_ids=[one.pk]).status == "succeeded"
    assert _keys_sent(stripe_stub) == [refund.key, f"{refund.key}-2"]
    assert len(stripe_stub.refunds) == 1


def _service_log(caplog, text: str) -> list[str]:
    return [
        r.getMessage()
        for r in caplog.records
        if r.name == "core.services.orders" and text in r.getMessage()
    ]


def test_a_stalled_refund_failing_at_stripe_is_marked_failed_and_retried_by_its_key(
    stripe_stub, monkeypatch, caplog, order, standing
):
    _stripe_payment(order)
    one = order.tickets.filter(ticket_type=standing).first()
    refund = _died_before_asking(monkeypatch, order_id=order.id, ticket_ids=[one.pk])
    stripe_stub.fail_status = 500

    with caplog.at_level(logging.WARNING, logger="core.services.orders"):
        assert complete_stalled_refunds(now=_stalled(refund)) == 0

    refund.refresh_from_db()
    assert (refund.status, refund.refusal_reason) == (Refund.Status.FAILED, "")
    (line,) = _service_log(caplog, "failed at the provider")
    assert str(order.id) in line and str(refund.pk) in line
    stripe_stub.fail_status = None
    assert refund_tickets(order_id=order.id, ticket_ids=[one.pk]).status == "succeeded"
    assert _keys_sent(stripe_stub) == [refund.key, refund.key]
    assert len(stripe_stub.refunds) == 1


def _refused_then_cut_short(stripe_stub, monkeypatch, order, ticket) -> Refund:
    """A refund Stripe refused, asked again after a top-up under a new key,
    and cut short once Stripe had made it."""
    stripe_stub.refuse_refunds()
    with pytest.raises(PaymentRefused):
        refund_tickets(order_id=order.id, ticket_ids=[ticket.pk])
    stripe_stub.accept_refunds()
    refund = _cut_short(monkeypatch, order_id=order.id, ticket_ids=[ticket.pk])
    assert len(stripe_stub.refunds) == 1
    assert _keys_sent(stripe_stub) == [refund.key, f"{refund.key}-2"]
    return refund


def test_the_sweep_completes_a_retried_refund_under_the_last_key_sent(
    stripe_stub, monkeypatch, order, standing
):
    """Resending the first key would get the refusal again; a newer key, a
    second refund."""
    _stripe_payment(order)
    one = order.tickets.filter(ticket_type=standing).first()
    refund = _refused_then_cut_short(stripe_stub, monkeypatch, order, one)
    (made,) = stripe_stub.refunds.values()

    assert complete_stalled_refunds(now=_stalled(refund)) == 1

    refund.refresh_from_db()
    assert refund.status == Refund.Status.SUCCEEDED
    assert refund.provider_reference == made["id"]
    assert _keys_sent(stripe_stub)[-1] == f"{refund.key}-2"
    assert len(stripe_stub.refunds) == 1
    one.refresh_from_db()
    assert one.status == Ticket.Status.VOID


def test_asking_again_for_a_retried_refund_cut_short_resends_the_last_key(
    stripe_stub, monkeypatch, order, standing
):
    _stripe_payment(order)
    one = order.tickets.filter(ticket_type=standing).first()
    refund = _refused_then_cut_short(stripe_stub, monkeypatch, order, one)

    again = refund_tickets(order_id=order.id, ticket_ids=[one.pk])

    assert again.pk == refund.pk and again.status == Refund.Status.SUCCEEDED
    assert _keys_sent(stripe_stub)[-1] == f"{refund.key}-2"
    assert len(stripe_stub.refunds) == 1


def test_a_late_answer_to_an_earlier_try_leaves_the_current_one_be(
    stripe_stub, monkeypatch, order, standing
):
    """A process still waiting on the refused first try (a hung connection)
    must not mark failed the second, which Stripe has made."""
    _stripe_payment(order)
    one = order.tickets.filter(ticket_type=standing).first()
    refund = _refused_then_cut_short(stripe_stub, monkeypatch, order, one)
    earlier_try = Refund.objects.get(pk=refund.pk)
    earlier_try.attempt = 1

    with pytest.raises(PaymentRefused):
        orders_service._send_refund(earlier_try)

    refund.refresh_from_db()
    assert (refund.status, refund.attempt) == (Refund.Status.PENDING, 2)
    assert complete_stalled_refunds(now=_stalled(refund)) == 1


def test_the_replay_window_counts_from_the_try_whose_key_is_resent(
    stripe_stub, monkeypatch, order, standing
):
    """A refund first refused days ago, retried today and cut short, is
    completed: Stripe has known its new key for minutes, not days."""
    _stripe_payment(order)
    one = order.tickets.filter(ticket_type=standing).first()
    refund = _refused_then_cut_short(stripe_stub, monkeypatch, order, one)
    Refund.objects.filter(pk=refund.pk).update(
        created_at=refund.created_at - timedelta(days=3)
    )
    refund.refresh_from_db()
    assert refund.created_at < _stalled(refund) - REFUND_REPLAY_WINDOW

    assert complete_stalled_refunds(now=_stalled(refund)) == 1

    refund.refresh_from_db()
    assert refund.status == Refund.Status.SUCCEEDED
    assert len(stripe_stub.refunds) == 1


def test_a_refund_never_sent_is_sent_once_by_the_sweep(
    stripe_stub, monkeypatch, order, standing
):
    _stripe_payment(order)
    one = order.tickets.filter(ticket_type=standing).first()
    refund = _died_before_asking(monkeypatch, order_id=order.id, ticket_ids=[one.pk])
    assert not stripe_stub.refunds

    assert complete_stalled_refunds(now=_stalled(refund)) == 1

    (call,) = stripe_stub.calls("POST", "/v1/refunds")
    assert call.headers["idempotency-key"] == refund.key
    assert call.form["amount"] == "2500"
    one.refresh_from_db()
    assert one.status == Ticket.Status.VOID


def test_a_refund_cut_short_with_the_simulated_provider_is_completed(
    monkeypatch, order, standing
):
    tickets = list(order.tickets.filter(ticket_type=standing))
    refund = _cut_short(
        monkeypatch, order_id=order.id, ticket_ids=[t.pk for t in tickets]
    )

    assert complete_stalled_refunds(now=_stalled(refund)) == 1

    refund.refresh_from_db()
    assert refund.status == Refund.Status.SUCCEEDED
    assert refund.provider_reference == f"simulated-refund-{refund.key}"
    assert set(_statuses(order).values()) == {"issued", "void"}
    standing.refresh_from_db()
    assert standing.sold_count == 0
    _assert_counters_match_recount(order.event)


def test_the_last_tickets_completed_by_the_sweep_mark_the_order_refunded(
    monkeypatch, order
):
    refund = _cut_short(
        monkeypatch,
        order_id=order.id,
        ticket_ids=list(order.tickets.values_list("pk", flat=True)),
    )
    assert complete_stalled_refunds(now=_stalled(refund)) == 1
    order.refresh_from_db()
    assert order.status == Order.Status.REFUNDED
    assert order.payments.get().status == Payment.Status.REFUNDED


def test_a_refund_stalled_past_the_replay_window_is_not_sent_again(
    stripe_stub, monkeypatch, order, vip
):
    """Stripe forgets a key after 24 hours: sent again then, it could be a
    second refund, so the owner is left to check and decide."""
    _stripe_payment(order)
    ticket = order.tickets.get(ticket_type=vip)
    refund = _cut_short(monkeypatch, order_id=order.id, ticket_ids=[ticket.pk])

    too_late = refund.created_at + REFUND_REPLAY_WINDOW + timedelta(minutes=1)
    assert complete_stalled_refunds(now=too_late) == 0

    assert len(stripe_stub.calls("POST", "/v1/refunds")) == 1
    refund.refresh_from_db()
    assert refund.status == Refund.Status.FAILED
    ticket.refresh_from_db()
    assert ticket.status == Ticket.Status.ISSUED


def test_one_stalled_refund_that_breaks_does_not_hold_up_the_others(
    monkeypatch, caplog, order, vip, standing
):
    other_order = make_paid_order(standing, 1)
    broken = _cut_short(
        monkeypatch,
        order_id=order.id,
        ticket_ids=[order.tickets.get(ticket_type=vip).pk],
    )
    fine = _cut_short(
        monkeypatch,
        order_id=other_order.id,
        ticket_ids=[other_order.tickets.get().pk],
    )
    real_apply = orders_service._apply_refund

    def apply_unless_broken(**kwargs):
        if kwargs["refund_id"] == broken.pk:
            raise RuntimeError("database hiccup")
        return real_apply(**kwargs)

    monkeypatch.setattr(orders_service, "_apply_refund", apply_unless_broken)
    later = max(_stalled(broken), _stalled(fine))
    with caplog.at_level(logging.ERROR, logger="core.services.orders"):
        assert complete_stalled_refunds(now=later) == 1

    fine.refresh_from_db()
    broken.refresh_from_db()
    assert (fine.status, broken.status) == ("succeeded", "pending")
    (line,) = [r.getMessage() for r in caplog.records if r.levelno == logging.ERROR]
    assert str(order.id) in line and str(broken.pk) in line
    # Put right, the next sweep after the grace period completes it.
    monkeypatch.setattr(orders_service, "_apply_refund", real_apply)
    assert complete_stalled_refunds(now=later) == 0
    assert complete_stalled_refunds(now=_stalled(broken)) == 1


def test_the_worker_completes_stalled_refunds(monkeypatch, order, vip):
    ticket = order.tickets.get(ticket_type=vip)
    refund = _cut_short(monkeypatch, order_id=order.id, ticket_ids=[ticket.pk])
    Refund.objects.filter(pk=refund.pk).update(
        updated_at=timezone.now() - STALLED_REFUND_GRACE - timedelta(minutes=1)
    )

    call_command("run_worker", "--once")

    refund.refresh_from_db()
    assert refund.status == Refund.Status.SUCCEEDED
    ticket.refresh_from_db()
    assert ticket.status == Ticket.Status.VOID


# --- whole-order refunds: refused, unanswered, cut short ----------------------


def _whole_order_keys(payment) -> tuple[str, str]:
    """The key of refunding the rest of `payment`, and of the try after a
    refusal."""
    return f"refund-{payment.pk}", f"refund-{payment.pk}-2"


def test_a_whole_order_refund_stripe_refuses_is_failed_with_its_reason(
    stripe_stub, order
):
    payment = _stripe_payment(order)
    stripe_stub.refuse_refunds()

    with pytest.raises(PaymentRefused) as refused:
        refund_order(order_id=order.id, reason="show moved")

    assert refused.value.reason == StripeStub.LOW_BALANCE
    refund = Refund.objects.get()
    assert refund.whole_order
    assert (refund.status, refund.refusal_reason) == (
        Refund.Status.FAILED,
        StripeStub.LOW_BALANCE,
    )
    assert refund.amount == Decimal("90.00")
    assert set(refund.tickets.all()) == set(order.tickets.all())
    assert _keys_sent(stripe_stub) == [order_refund_key(payment)]
    assert order_refund_key(payment) == _whole_order_keys(payment)[0]
    assert not stripe_stub.refunds
    order.refresh_from_db()
    payment.refresh_from_db()
    assert (order.status, payment.status) == (
        Order.Status.PAID,
        Payment.Status.SUCCEEDED,
    )
    assert set(_statuses(order).values()) == {"issued"}
    assert not OutboundMessage.objects.filter(kind="order_refunded").exists()
    _assert_counters_match_recount(order.event)


def test_a_refused_whole_order_refund_goes_through_after_a_top_up_under_a_new_key(
    stripe_stub, order
):
    """Stripe replays a refusal to its key for 24 hours: once the balance is
    topped up, asking again must send a new key, and refund once."""
    owner = make_staff()
    payment = _stripe_payment(order)
    stripe_stub.refuse_refunds()
    with pytest.raises(PaymentRefused):
        refund_order(order_id=order.id, reason="show moved")
    stripe_stub.accept_refunds()

    refunded = refund_order(order_id=order.id, reason="typed again", actor=owner)

    assert refunded.status == Order.Status.REFUNDED
    assert tuple(_keys_sent(stripe_stub)) == _whole_order_keys(payment)
    (made,) = stripe_stub.refunds.values()
    assert made["amount"] == 9000
    refund = Refund.objects.get()
    assert (refund.status, refund.attempt, refund.refusal_reason) == (
        Refund.Status.SUCCEEDED,
        2,
        "",
    )
    assert refund.provider_reference == made["id"]
    assert set(_statuses(order).values()) == {"void"}
    payment.refresh_from_db()
    assert payment.status == Payment.Status.REFUNDED
    # The reason first recorded is the one sent, and the one the customer reads.
    assert made["metadata"]["reason"] == "show moved"
    email = OutboundMessage.objects.get(order=order, kind="order_refunded")
    assert email.context["reason"] == "show moved"
    assert AuditLogEntry.objects.get(action="order.refund").actor == owner
    _assert_counters_match_recount(order.event)
    # Asking again for a refund made sends nothing.
    assert refund_order(order_id=order.id).status == Order.Status.REFUNDED
    assert len(_keys_sent(stripe_stub)) == 2


def test_a_whole_order_refund_whose_answer_was_lost_is_asked_again_under_its_key(
    stripe_stub, order
):
    """Stripe refunded but its answer never came back: asking again must
    find that refund, not make a second."""
    payment = _stripe_payment(order)
    stripe_stub.drop_answers = 3
    with pytest.raises(PaymentUnavailable) as failed:
        refund_order(order_id=order.id)
    assert not isinstance(failed.value, PaymentRefused)
    (made,) = stripe_stub.refunds.values()
    refund = Refund.objects.get()
    assert (refund.status, refund.refusal_reason) == (Refund.Status.FAILED, "")
    order.refresh_from_db()
    assert order.status == Order.Status.PAID

    assert refund_order(order_id=order.id).status == Order.Status.REFUNDED

    assert set(_keys_sent(stripe_stub)) == {order_refund_key(payment)}
    assert len(stripe_stub.refunds) == 1
    refund.refresh_from_db()
    assert (refund.status, refund.attempt) == (Refund.Status.SUCCEEDED, 1)
    assert refund.provider_reference == made["id"]
    assert set(_statuses(order).values()) == {"void"}
    _assert_counters_match_recount(order.event)


def test_a_whole_order_refund_failing_at_stripe_is_retried_under_its_key(
    stripe_stub, order
):
    payment = _stripe_payment(order)
    stripe_stub.fail_status = 500
    with pytest.raises(PaymentUnavailable):
        refund_order(order_id=order.id)
    stripe_stub.fail_status = None

    refund_order(order_id=order.id)

    key = order_refund_key(payment)
    assert _keys_sent(stripe_stub) == [key, key]
    assert len(stripe_stub.refunds) == 1


def test_a_refused_whole_order_refund_asked_again_sends_what_is_left_by_then(
    stripe_stub, order, standing
):
    payment = _stripe_payment(order)
    stripe_stub.refuse_refunds()
    with pytest.raises(PaymentRefused):
        refund_order(order_id=order.id)
    stripe_stub.accept_refunds()
    one = order.tickets.filter(ticket_type=standing).first()
    refund_tickets(order_id=order.id, ticket_ids=[one.pk])

    refund_order(order_id=order.id)

    assert sorted(r["amount"] for r in stripe_stub.refunds.values()) == [2500, 6500]
    assert _keys_sent(stripe_stub)[-1] == _whole_order_keys(payment)[1]
    whole = Refund.objects.get(whole_order=True)
    assert (whole.status, whole.amount) == (Refund.Status.SUCCEEDED, Decimal("65.00"))
    assert one not in whole.tickets.all()
    order.refresh_from_db()
    assert order.status == Order.Status.REFUNDED
    _assert_counters_match_recount(order.event)


def test_the_whole_order_waits_for_a_refund_of_some_tickets_under_way(
    stripe_stub, monkeypatch, order, standing
):
    """Refunding the rest meanwhile could send the same money twice, or
    too little."""
    _stripe_payment(order)
    one = order.tickets.filter(ticket_type=standing).first()
    pending = _died_before_asking(monkeypatch, order_id=order.id, ticket_ids=[one.pk])

    with pytest.raises(OrderNotRefundable, match="under way"):
        refund_order(order_id=order.id)

    assert not stripe_stub.calls("POST", "/v1/refunds")
    assert not Refund.objects.filter(whole_order=True).exists()
    assert complete_stalled_refunds(now=_stalled(pending)) == 1
    refund_order(order_id=order.id)
    assert sorted(r["amount"] for r in stripe_stub.refunds.values()) == [2500, 6500]


def test_a_whole_order_refund_cut_short_is_completed_by_the_sweep(
    stripe_stub, monkeypatch, order
):
    payment = _stripe_payment(order)

    def die(**kwargs):
        raise ProcessDied

    with monkeypatch.context() as patched:
        patched.setattr(orders_service, "_apply_order_refund", die)
        with pytest.raises(ProcessDied):
            refund_order(order_id=order.id)
    refund = Refund.objects.get(whole_order=True)
    assert refund.status == Refund.Status.PENDING
    (made,) = stripe_stub.refunds.values()

    assert complete_stalled_refunds(now=_stalled(refund)) == 1

    refund.refresh_from_db()
    assert (refund.status, refund.provider_reference) == (
        Refund.Status.SUCCEEDED,
        made["id"],
    )
    assert set(_keys_sent(stripe_stub)) == {order_refund_key(payment)}
    assert len(stripe_stub.refunds) == 1
    order.refresh_from_db()
    assert order.status == Order.Status.REFUNDED
    assert set(_statuses(order).values()) == {"void"}
    _assert_counters_match_recount(order.event)
    entry = AuditLogEntry.objects.get(action="order.refund_order_completed")
    assert describe_entry(entry).action == (
        "Completed an order refund that was cut short"
    )
    assert entry.actor is None
    assert not AuditLogEntry.objects.filter(action="order.refund_completed").exists()
    # The customer is told as refund_order tells them: the order refunded.
    (email,) = OutboundMessage.objects.filter(
        order=order, kind__in=["order_refunded", "tickets_refunded"]
    )
    assert email.kind == "order_refunded"
    assert (email.context["amount"], email.context["tickets_voided"]) == ("90.00", 3)


# --- the owner asking again once Stripe may have forgotten the key -----------


def _past_the_window(refund: Refund) -> datetime:
    """A moment at which Stripe may have forgotten the key of `refund`'s try."""
    refund.refresh_from_db()
    return refund.attempt_started_at + REFUND_REPLAY_WINDOW + timedelta(minutes=1)


def _lost_answer(stripe_stub, refund_call, **kwargs) -> Refund:
    """Ask for a refund that Stripe makes but whose answer never comes back."""
    stripe_stub.drop_answers = 3
    with pytest.raises(PaymentUnavailable) as failed:
        refund_call(**kwargs)
    assert not isinstance(failed.value, PaymentRefused)
    refund = Refund.objects.get(status=Refund.Status.FAILED)
    assert refund.refusal_reason == ""
    assert len(stripe_stub.refunds) == 1
    return refund


def test_an_unconfirmed_refund_is_not_resent_once_stripe_may_have_forgotten_its_key(
    stripe_stub, order, standing
):
    """Resent then, it would be a second refund: the owner is told to check
    Stripe first, and nothing is sent."""
    _stripe_payment(order)
    one = order.tickets.filter(ticket_type=standing).first()
    refund = _lost_answer(
        stripe_stub, refund_tickets, order_id=order.id, ticket_ids=[one.pk]
    )
    later = _past_the_window(refund)
    stripe_stub.idempotent.clear()  # a day on, Stripe has forgotten the key
    sent = len(_keys_sent(stripe_stub))

    with pytest.raises(RefundUnconfirmed) as refused:
        refund_tickets(order_id=order.id, ticket_ids=[one.pk], now=later)

    message = refused.value.message
    assert "more than 23 hours ago and never confirmed" in message
    assert "could refund the customer twice; nothing was sent" in message
    assert "Stripe's dashboard" in message
    assert "“Void without refunding”" in message
    assert "“Send as a new refund”" in message
    assert refused.value.code == "refund_unconfirmed"
    assert len(_keys_sent(stripe_stub)) == sent
    assert len(stripe_stub.refunds) == 1
    refund.refresh_from_db()
    assert (refund.status, refund.attempt) == (Refund.Status.FAILED, 1)
    one.refresh_from_db()
    assert one.status == Ticket.Status.ISSUED


def test_an_unconfirmed_refund_is_resent_under_its_key_while_stripe_remembers_it(
    stripe_stub, order, standing
):
    _stripe_payment(order)
    one = order.tickets.filter(ticket_type=standing).first()
    refund = _lost_answer(
        stripe_stub, refund_tickets, order_id=order.id, ticket_ids=[one.pk]
    )
    in_time = _past_the_window(refund) - timedelta(minutes=2)

    again = refund_tickets(order_id=order.id, ticket_ids=[one.pk], now=in_time)

    assert again.status == Refund.Status.SUCCEEDED
    assert set(_keys_sent(stripe_stub)) == {refund.key}
    assert len(stripe_stub.refunds) == 1


def test_a_refund_left_pending_past_the_window_is_not_resent_by_the_owner(
    stripe_stub, monkeypatch, order, vip
):
    _stripe_payment(order)
    ticket = order.tickets.get(ticket_type=vip)
    refund = _cut_short(monkeypatch, order_id=order.id, ticket_ids=[ticket.pk])
    stripe_stub.idempotent.clear()

    with pytest.raises(RefundUnconfirmed, match="never confirmed"):
        refund_tickets(
            order_id=order.id, ticket_ids=[ticket.pk], now=_past_the_window(refund)
        )

    assert len(_keys_sent(stripe_stub)) == 1
    assert len(stripe_stub.refunds) == 1
    refund.refresh_from_db()
    assert (refund.status, refund.attempt) == (Refund.Status.PENDING, 1)


def test_a_refund_the_owner_found_was_never_made_is_sent_as_a_new_refund(
    stripe_stub, order, standing
):
    """Stripe was down (nothing made): after checking its dashboard, the
    owner sends it afresh, under a new key, and it is made once."""
    _stripe_payment(order)
    one = order.tickets.filter(ticket_type=standing).first()
    stripe_stub.fail_status = 500
    with pytest.raises(PaymentUnavailable):
        refund_tickets(order_id=order.id, ticket_ids=[one.pk])
    stripe_stub.fail_status = None
    refund = Refund.objects.get()
    later = _past_the_window(refund)
    with pytest.raises(RefundUnconfirmed):
        refund_tickets(order_id=order.id, ticket_ids=[one.pk], now=later)

    again = refund_tickets(
        order_id=order.id, ticket_ids=[one.pk], as_new=True, now=later
    )

    assert (again.status, again.attempt) == (Refund.Status.SUCCEEDED, 2)
    assert again.attempt_started_at == later
    assert _keys_sent(stripe_stub) == [refund.key, f"{refund.key}-2"]
    (made,) = stripe_stub.refunds.values()
    assert made["amount"] == 2500
    one.refresh_from_db()
    assert one.status == Ticket.Status.VOID


def test_sending_as_new_changes_nothing_while_stripe_remembers_the_key(
    stripe_stub, order, standing
):
    _stripe_payment(order)
    one = order.tickets.filter(ticket_type=standing).first()
    refund = _lost_answer(
        stripe_stub, refund_tickets, order_id=order.id, ticket_ids=[one.pk]
    )

    again = refund_tickets(order_id=order.id, ticket_ids=[one.pk], as_new=True)

    assert (again.status, again.attempt) == (Refund.Status.SUCCEEDED, 1)
    assert set(_keys_sent(stripe_stub)) == {refund.key}
    assert len(stripe_stub.refunds) == 1


def test_sending_as_new_is_refused_while_stripe_reports_money_back_unaccounted(
    stripe_stub, order, standing
):
    """Stripe told this site of a refund no Refund here accounts for: it may
    be this one, so it is voided, not sent again."""
    payment = _stripe_payment(order)
    one = order.tickets.filter(ticket_type=standing).first()
    refund = _lost_answer(
        stripe_stub, refund_tickets, order_id=order.id, ticket_ids=[one.pk]
    )
    Payment.objects.filter(pk=payment.pk).update(provider_refunded=Decimal("25.00"))
    stripe_stub.idempotent.clear()
    sent = len(_keys_sent(stripe_stub))

    with pytest.raises(RefundUnconfirmed, match=r"Stripe reports \$25\.00"):
        refund_tickets(
            order_id=order.id,
            ticket_ids=[one.pk],
            as_new=True,
            now=_past_the_window(refund),
        )

    assert len(_keys_sent(stripe_stub)) == sent
    void_tickets_refunded_outside(order_id=order.id, ticket_ids=[one.pk])
    one.refresh_from_db()
    assert one.status == Ticket.Status.VOID
    assert len(stripe_stub.refunds) == 1


def test_an_unconfirmed_whole_order_refund_is_not_resent_past_the_window(
    stripe_stub, order
):
    _stripe_payment(order)
    refund = _lost_answer(stripe_stub, refund_order, order_id=order.id)
    stripe_stub.idempotent.clear()
    sent = len(_keys_sent(stripe_stub))

    with pytest.raises(RefundUnconfirmed) as refused:
        refund_order(order_id=order.id, now=_past_the_window(refund))

    assert "could refund the customer twice; nothing was sent" in refused.value.message
    assert "send nothing more" in refused.value.message
    assert len(_keys_sent(stripe_stub)) == sent
    assert len(stripe_stub.refunds) == 1
    order.refresh_from_db()
    assert order.status == Order.Status.PAID
    assert set(_statuses(order).values()) == {"issued"}


def test_a_whole_order_refund_never_made_is_sent_as_a_new_refund_past_the_window(
    stripe_stub, order
):
    payment = _stripe_payment(order)
    stripe_stub.fail_status = 500
    with pytest.raises(PaymentUnavailable):
        refund_order(order_id=order.id)
    stripe_stub.fail_status = None
    later = _past_the_window(Refund.objects.get())
    with pytest.raises(RefundUnconfirmed):
        refund_order(order_id=order.id, now=later)

    refunded = refund_order(order_id=order.id, as_new=True, now=later)

    assert refunded.status == Order.Status.REFUNDED
    assert tuple(_keys_sent(stripe_stub)) == _whole_order_keys(payment)
    (made,) = stripe_stub.refunds.values()
    assert made["amount"] == 9000
    refund = Refund.objects.get()
    assert (refund.status, refund.attempt) == (Refund.Status.SUCCEEDED, 2)
    _assert_counters_match_recount(order.event)


def test_the_refund_notice_quotes_what_the_refund_gave_back_not_the_total(
    stripe_stub, order, standing
):
    """After a ticket was refunded, refunding the rest gives back 65.00 of
    the 90.00 paid: the notice says 65.00."""
    _stripe_payment(order)
    refund_tickets(
        order_id=order.id,
        ticket_ids=[order.tickets.filter(ticket_type=standing).first().pk],
    )
    OutboundMessage.objects.filter(order=order).delete()

    refund_order(order_id=order.id, reason="show moved")

    email = OutboundMessage.objects.get(order=order, kind="order_refunded")
    assert (email.context["amount"], email.context["currency"]) == ("65.00", "usd")
    send_due_messages()
    (sent,) = mail.outbox
    assert "was refunded ($65.00)" in sent.body
    assert "$90.00" not in sent.body


# --- found in review: overlaps, stale sweeps, the webhook first ---------------


def test_tickets_of_an_unconfirmed_refund_are_refused_in_a_refund_of_other_tickets(
    stripe_stub, order, standing
):
    """Its outcome unknown, the first refund may have paid ticket `one` back:
    a refund of `one` and `other` goes under another key, and would pay `one`
    twice. The owner asks for exactly the first refund again instead."""
    _stripe_payment(order)
    one, other = order.tickets.filter(ticket_type=standing).order_by("code")
    _lost_answer(stripe_stub, refund_tickets, order_id=order.id, ticket_ids=[one.pk])
    asked = len(stripe_stub.calls("POST", "/v1/refunds"))

    with pytest.raises(TicketsNotRefundable) as refused:
        refund_tickets(order_id=order.id, ticket_ids=[one.pk, other.pk])

    assert one.code in refused.value.message
    assert "never confirmed" in refused.value.message
    assert len(stripe_stub.refunds) == 1
    assert len(stripe_stub.calls("POST", "/v1/refunds")) == asked  # nothing sent
    # As told: that refund again (found, not made twice), then the other one.
    refund_tickets(order_id=order.id, ticket_ids=[one.pk])
    refund_tickets(order_id=order.id, ticket_ids=[other.pk])
    amounts = sorted(int(r["amount"]) for r in stripe_stub.refunds.values())
    assert amounts == [int(one.price_paid * 100), int(other.price_paid * 100)]
    assert set(_statuses(order).values()) >= {"void"}


def test_a_refused_refunds_tickets_may_go_into_another_refund(
    stripe_stub, order, standing
):
    """A refusal made no refund: its tickets are free to be refunded otherwise."""
    _stripe_payment(order)
    one, other = order.tickets.filter(ticket_type=standing).order_by("code")
    stripe_stub.refuse_refunds()
    with pytest.raises(PaymentRefused):
        refund_tickets(order_id=order.id, ticket_ids=[one.pk])
    stripe_stub.accept_refunds()

    refund = refund_tickets(order_id=order.id, ticket_ids=[one.pk, other.pk])

    assert refund.status == Refund.Status.SUCCEEDED
    assert len(stripe_stub.refunds) == 1


def test_a_long_sweep_judges_the_replay_window_on_the_clock_not_its_start(
    stripe_stub, monkeypatch, order, vip
):
    """A sweep's provider calls can take minutes each: by the time it reaches
    a refund, the time it started at may say the key is still remembered
    when by the clock Stripe has forgotten it."""
    _stripe_payment(order)
    ticket = order.tickets.get(ticket_type=vip)
    refund = _cut_short(monkeypatch, order_id=order.id, ticket_ids=[ticket.pk])
    now = timezone.now()
    Refund.objects.filter(pk=refund.pk).update(
        attempt_started_at=now - REFUND_REPLAY_WINDOW - timedelta(minutes=30),
        updated_at=now - timedelta(hours=2),
    )
    swept_from = now - timedelta(hours=1)  # within the window, by that time

    assert complete_stalled_refunds(now=swept_from) == 0

    assert len(stripe_stub.calls("POST", "/v1/refunds")) == 1
    refund.refresh_from_db()
    assert refund.status == Refund.Status.FAILED
    ticket.refresh_from_db()
    assert ticket.status == Ticket.Status.ISSUED


def test_an_owners_order_refund_is_audited_when_stripes_webhook_voided_it_first(
    stripe_stub, monkeypatch, order
):
    _stripe_payment(order)
    owner = make_staff()
    send = orders_service._send_refund

    def answered_after_the_webhook(refund):
        reference = send(refund)
        # Stripe's charge.refunded for the whole charge, handled first.
        orders_service.void_order(order_id=refund.order_id)
        return reference

    monkeypatch.setattr(orders_service, "_send_refund", answered_after_the_webhook)
    refund_order(order_id=order.id, reason="show cancelled", actor=owner)

    (entry,) = AuditLogEntry.objects.filter(action="order.refund")
    assert entry.actor == owner
    assert entry.after["reason"] == "show cancelled"
    assert Refund.objects.get(whole_order=True).status == Refund.Status.SUCCEEDED


def test_the_console_quotes_what_a_cut_short_order_refund_will_send_again(
    stripe_stub, monkeypatch, order
):
    """Its Refund is pending, not booked: the card and the success message
    must quote what asking again sends, not that amount taken off itself."""
    from core.queries.orders import console_order

    _stripe_payment(order)

    def die(refund):
        raise ProcessDied

    with monkeypatch.context() as patched:
        patched.setattr(orders_service, "_send_refund", die)
        with pytest.raises(ProcessDied):
            refund_order(order_id=order.id)

    assert console_order(order.id).left_to_refund == order.total
    refund_order(order_id=order.id)
    assert [int(r["amount"]) for r in stripe_stub.refunds.values()] == [
        int(order.total * 100)
    ]
