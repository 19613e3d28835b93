"""Many buyers at once, on Postgres with real concurrent connections."""

import random
import threading
import time
import uuid
from collections import Counter
from datetime import timedelta

import pytest
from django.db import connection
from django.db.models import Count, Q
from django.utils import timezone

from core.exceptions import OrderBusy, SoldOut
from core.models import (
    AuditLogEntry,
    Event,
    Order,
    OutboundMessage,
    Payment,
    Refund,
    ScanLog,
    Ticket,
    TicketType,
)
from core.queries.availability import held_by_type
from core.queries.door import checked_in_by_type
from core.services.checkin import redeem_ticket
from core.services.checkout import place_order
from core.services.checkout_keys import place_order_once
from core.services.orders import (
    STALLED_REFUND_GRACE,
    cancel_order,
    complete_stalled_refunds,
    refund_tickets,
    void_order,
)
from core.services.payments import confirm_payment, simulated_reference
from tests.core.services.test_ticket_refunds import _cut_short
from tests.factories import EventFactory, TicketTypeFactory, make_door_open_event
from tests.locks import row_locked_elsewhere

pytestmark = pytest.mark.django_db(transaction=True)


def _run_threads(count: int, target) -> list:
    outcomes: list = []
    lock = threading.Lock()
    start = threading.Barrier(count)

    def run(n: int) -> None:
        try:
            start.wait()
            outcome = target(n)
        except Exception as exc:  # recorded and asserted on below
            outcome = exc
        finally:
            connection.close()
        with lock:
            outcomes.append(outcome)

    threads = [threading.Thread(target=run, args=(n,)) for n in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return outcomes


def _assert_counters_equal_recount(event: Event) -> None:
    event.refresh_from_db()
    live = Ticket.objects.filter(event=event).exclude(status=Ticket.Status.VOID)
    assert event.sold_count == live.count()
    checked_in = sum(checked_in_by_type(event.pk).values())
    assert checked_in == live.filter(status=Ticket.Status.USED).count()
    for ticket_type in TicketType.objects.filter(event=event).annotate(
        live=Count("tickets", filter=~Q(tickets__status=Ticket.Status.VOID))
    ):
        assert ticket_type.sold_count == ticket_type.live


def _buy_and_pay(event_id, type_id: int, n: int, quantity: int = 1) -> Order:
    order = place_order(
        event_id=event_id,
        quantities={type_id: quantity},
        customer_name=f"Buyer {n}",
        customer_email=f"buyer{n}@example.com",
    )
    return _pay(order)


def test_fifty_five_buyers_for_ten_tickets_sell_exactly_ten(postgres):
    event = EventFactory(venue_capacity=100)
    ticket_type = TicketTypeFactory(event=event, capacity=10)

    outcomes = _run_threads(55, lambda n: _buy_and_pay(event.id, ticket_type.id, n))

    kinds = Counter(type(o).__name__ for o in outcomes)
    unexpected = {str(o) for o in outcomes if not isinstance(o, (Order, SoldOut))}
    assert kinds == {"Order": 10, "SoldOut": 45}, (kinds, unexpected)
    assert Ticket.objects.filter(ticket_type=ticket_type).count() == 10
    assert Order.objects.filter(status=Order.Status.PAID).count() == 10
    ticket_type.refresh_from_db()
    assert ticket_type.sold_count == 10
    _assert_counters_equal_recount(event)


def _submit(event_id, type_id: int, key: str, quantity: int = 1) -> Order:
    """What the buy form's view does with a submit that has no cookie."""
    return place_order_once(
        earlier_order_id=None,
        event_id=event_id,
        quantities={type_id: quantity},
        customer_name=f"Buyer {key}",
        customer_email=f"{key}@example.com",
        checkout_key=key,
    )


def _pay(order: Order) -> Order:
    confirm_payment(
        order_id=order.id,
        provider="simulated",
        provider_reference=simulated_reference(order),
        amount=order.total,
        currency=order.currency,
    )
    return order


def test_one_form_sent_twenty_times_at_once_places_one_order(postgres):
    """Then every request goes on to pay for it: its tickets are issued once."""
    event = EventFactory(venue_capacity=100)
    ticket_type = TicketTypeFactory(event=event, capacity=10, max_per_order=4)
    key = uuid.uuid4().hex

    placed = _run_threads(20, lambda n: _submit(event.id, ticket_type.id, key, 3))

    assert all(isinstance(o, Order) for o in placed), placed
    order = Order.objects.get()
    assert {o.pk for o in placed} == {order.pk}
    assert held_by_type(event_ids=[event.id]) == {ticket_type.id: 3}
    paid = _run_threads(20, lambda n: _pay(placed[n]))
    assert all(isinstance(o, Order) for o in paid), paid
    order.refresh_from_db()
    assert order.status == Order.Status.PAID
    assert Ticket.objects.filter(order=order).count() == 3
    assert held_by_type(event_ids=[event.id]) == {}
    _assert_counters_equal_recount(event)


def test_twenty_forms_each_sent_twice_for_ten_seats_hold_exactly_ten(postgres):
    event = EventFactory(venue_capacity=100)
    ticket_type = TicketTypeFactory(event=event, capacity=10)
    keys = [uuid.uuid4().hex for _ in range(20)]

    def submit(n):
        return keys[n % 20], _submit(event.id, ticket_type.id, keys[n % 20])

    outcomes = _run_threads(40, submit)

    unexpected = [o for o in outcomes if not isinstance(o, tuple | SoldOut)]
    assert not unexpected, unexpected
    orders_by_key: dict = {}
    for key, order in (o for o in outcomes if isinstance(o, tuple)):
        orders_by_key.setdefault(key, set()).add(order.pk)
    # Ten forms got seats; both sends of each got the same order.
    assert len(orders_by_key) == 10
    assert all(len(orders) == 1 for orders in orders_by_key.values())
    assert sum(isinstance(o, tuple) for o in outcomes) == 20
    assert Order.objects.count() == 10
    assert held_by_type(event_ids=[event.id]) == {ticket_type.id: 10}


def test_twenty_forms_for_ten_seats_never_oversell(postgres):
    event = EventFactory(venue_capacity=100)
    ticket_type = TicketTypeFactory(event=event, capacity=10)

    outcomes = _run_threads(
        20, lambda n: _pay(_submit(event.id, ticket_type.id, uuid.uuid4().hex))
    )

    kinds = Counter(type(o).__name__ for o in outcomes)
    assert kinds == {"Order": 10, "SoldOut": 10}, outcomes
    assert Ticket.objects.filter(ticket_type=ticket_type).count() == 10
    _assert_counters_equal_recount(event)


def test_mixed_types_never_pass_the_venue_cap(postgres):
    event = EventFactory(venue_capacity=12)
    types = [TicketTypeFactory(event=event, capacity=10) for _ in range(2)]
    rng = random.Random(7)
    plan = [(rng.choice(types).id, rng.choice([1, 2, 3])) for _ in range(50)]

    def buy(n):
        type_id, quantity = plan[n]
        return _buy_and_pay(event.id, type_id, n, quantity)

    outcomes = _run_threads(50, buy)
    unexpected = [o for o in outcomes if not isinstance(o, (Order, SoldOut))]
    assert not unexpected, unexpected
    event.refresh_from_db()
    assert event.sold_count <= 12
    for ticket_type in types:
        ticket_type.refresh_from_db()
        assert ticket_type.sold_count <= 10
    # Enough buyers want small quantities that the venue fills up.
    assert event.sold_count >= 10
    _assert_counters_equal_recount(event)


def test_one_order_confirmed_by_many_requests_at_once_issues_once(postgres):
    ticket_type = TicketTypeFactory(capacity=10)
    order = place_order(
        event_id=ticket_type.event_id,
        quantities={ticket_type.id: 3},
        customer_name="Ana",
        customer_email="ana@example.com",
    )

    def confirm(n):
        return confirm_payment(
            order_id=order.id,
            provider="stripe",
            provider_reference="pi_same",
            amount=order.total,
            currency=order.currency,
            provider_event_id=f"evt_{n}",
            nowait=n % 2 == 0,
        )

    outcomes = _run_threads(20, confirm)
    issued = [o for o in outcomes if not isinstance(o, Exception) and o.issued]
    errors = [o for o in outcomes if isinstance(o, Exception)]
    assert len(issued) == 1
    assert all(isinstance(e, OrderBusy) for e in errors), errors
    assert Ticket.objects.filter(order=order).count() == 3
    ticket_type.refresh_from_db()
    assert ticket_type.sold_count == 3


def test_buying_cancelling_and_refunding_at_once_keeps_counters_true(postgres):
    event = EventFactory(venue_capacity=30)
    ticket_type = TicketTypeFactory(event=event, capacity=30)
    paid = [_buy_and_pay(event.id, ticket_type.id, 1000 + n, 2) for n in range(5)]
    held = [
        place_order(
            event_id=event.id,
            quantities={ticket_type.id: 2},
            customer_name="H",
            customer_email=f"h{n}@example.com",
        )
        for n in range(5)
    ]

    def act(n):
        if n < 5:
            return void_order(order_id=paid[n].id, reason="test")
        if n < 10:
            return cancel_order(order_id=held[n - 5].id)
        return _buy_and_pay(event.id, ticket_type.id, n, 1)

    outcomes = _run_threads(40, act)
    unexpected = [o for o in outcomes if not isinstance(o, (Order, SoldOut))]
    assert not unexpected, unexpected
    _assert_counters_equal_recount(event)
    event.refresh_from_db()
    assert event.sold_count <= 30


def test_a_sold_out_request_is_refused_without_waiting_for_the_lock(postgres):
    """In a rush, late buyers must not queue behind the event's row lock."""
    ticket_type = TicketTypeFactory(capacity=2)
    _buy_and_pay(ticket_type.event_id, ticket_type.id, 1, 2)
    try:
        with row_locked_elsewhere(Event, ticket_type.event_id):
            with connection.cursor() as cursor:
                # Were the refusal to wait for the lock, this turns the wait
                # into an error instead of a hang.
                cursor.execute("SET lock_timeout = '2s'")
            with pytest.raises(SoldOut):
                place_order(
                    event_id=ticket_type.event_id,
                    quantities={ticket_type.id: 1},
                    customer_name="Late",
                    customer_email="late@example.com",
                )
    finally:
        with connection.cursor() as cursor:
            cursor.execute("SET lock_timeout = 0")


def test_a_partial_refund_racing_a_scan_of_its_ticket_ends_consistent(postgres):
    """Either the ticket was admitted and then refunded (its check-in taken
    out of the tally again) or it was void when scanned and refused; its
    sibling, not refunded, still admits."""
    event = make_door_open_event(venue_capacity=40)
    ticket_type = TicketTypeFactory(event=event, capacity=40)
    orders = [_buy_and_pay(event.id, ticket_type.id, n, 2) for n in range(8)]
    pairs = [tuple(order.tickets.order_by("pk")) for order in orders]

    def act(n):
        refunded, _ = pairs[n // 2]
        if n % 2:
            # Scans land before, during and after the refund's steps.
            time.sleep(random.random() * 0.04 * (n // 2 % 4))
            return redeem_ticket(event=event, text=refunded.qr_payload)
        return refund_tickets(order_id=refunded.order_id, ticket_ids=[refunded.pk])

    outcomes = _run_threads(2 * len(pairs), act)
    unexpected = [o for o in outcomes if isinstance(o, Exception)]
    assert not unexpected, unexpected
    scans = Counter(o.code for o in outcomes if not isinstance(o, Refund))
    assert set(scans) <= {"ok", "void"} and sum(scans.values()) == len(pairs)
    for refunded, sibling in pairs:
        refunded.refresh_from_db()
        assert refunded.status == Ticket.Status.VOID
        assert redeem_ticket(event=event, text=sibling.qr_payload).code == "ok"
    assert ScanLog.objects.filter(ticket__in=[p[0] for p in pairs]).count() == len(
        pairs
    )
    _assert_counters_equal_recount(event)
    assert sum(checked_in_by_type(event.pk).values()) == len(pairs)
    for order in orders:
        order.refresh_from_db()
        assert order.status == Order.Status.PAID


def test_workers_sweeping_at_once_complete_each_stalled_refund_once(
    postgres, stripe_stub, monkeypatch
):
    event = make_door_open_event(venue_capacity=20)
    ticket_type = TicketTypeFactory(event=event, capacity=20)
    orders = [_buy_and_pay(event.id, ticket_type.id, n, 2) for n in range(5)]
    for n, order in enumerate(orders):
        Payment.objects.filter(order=order).update(
            provider="stripe", provider_reference=f"pi_test_sweep{n}"
        )
        _cut_short(
            monkeypatch,
            order_id=order.id,
            ticket_ids=[order.tickets.order_by("pk").first().pk],
        )
    later = timezone.now() + STALLED_REFUND_GRACE + timedelta(seconds=5)

    outcomes = _run_threads(4, lambda n: complete_stalled_refunds(now=later))

    unexpected = [o for o in outcomes if isinstance(o, Exception)]
    assert not unexpected, unexpected
    assert sum(outcomes) == len(orders)
    assert set(Refund.objects.values_list("status", flat=True)) == {"succeeded"}
    # Each refund was asked once more, never twice, and still one at Stripe.
    assert len(stripe_stub.calls("POST", "/v1/refunds")) == 2 * len(orders)
    assert len(stripe_stub.refunds) == len(orders)
    emails = OutboundMessage.objects.filter(kind="tickets_refunded")
    assert emails.count() == len(orders)
    entries = AuditLogEntry.objects.filter(action="order.refund_completed")
    assert entries.count() == len(orders)
    assert Ticket.objects.filter(status=Ticket.Status.VOID).count() == len(orders)
    _assert_counters_equal_recount(event)


def test_the_same_form_sent_again_while_its_order_is_being_paid_never_deadlocks(
    postgres, monkeypatch
):
    """A payment locks its order, then the event; a checkout holds the event's
    lock. A resubmit of the form (other seats: a new order) must not write the
    order being paid, or the two wait on each other until Postgres kills one.
    The payment takes the Python path, whose round trips can be slowed: the
    one statement (core_fulfil_order) takes the same locks in the same order."""
    from core.services import fulfilment

    monkeypatch.setattr(fulfilment, "_fulfil_in_database", lambda *args, **kwargs: None)

    event = EventFactory(venue_capacity=100)
    ticket_type = TicketTypeFactory(event=event, capacity=10, max_per_order=4)
    key = uuid.uuid4().hex
    first = place_order(
        event_id=event.id,
        quantities={ticket_type.id: 1},
        customer_name="Ana",
        customer_email="ana@example.com",
        checkout_key=key,
    )
    paying = threading.Event()
    issue = fulfilment._issue_tickets

    def slow_issue(order):  # holds the order's lock, not yet the event's
        paying.set()
        time.sleep(0.5)
        return issue(order)

    monkeypatch.setattr(fulfilment, "_issue_tickets", slow_issue)
    outcomes = {}

    def pay():
        try:
            confirm_payment(
                order_id=first.id,
                provider="simulated",
                provider_reference=simulated_reference(first),
                amount=first.total,
                currency=first.currency,
            )
            outcomes["pay"] = "paid"
        except Exception as exc:  # a deadlock shows here or below
            outcomes["pay"] = repr(exc)
        finally:
            connection.close()

    def resubmit():
        paying.wait(5)
        try:
            place_order(
                event_id=event.id,
                quantities={ticket_type.id: 2},
                customer_name="Ana",
                customer_email="ana@example.com",
                checkout_key=key,
            )
            outcomes["buy"] = "held"
        except Exception as exc:
            outcomes["buy"] = repr(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=pay), threading.Thread(target=resubmit)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert outcomes == {"pay": "paid", "buy": "held"}


def test_free_forms_for_one_email_sent_at_once_stay_within_its_cap(postgres, settings):
    """Each counts the free tickets the others took (an advisory lock per
    email and event), so ten forms at once get no more than the cap."""
    settings.FREE_TICKETS_PER_EMAIL = 4
    event = EventFactory(venue_capacity=100)
    free = TicketTypeFactory(event=event, price=0, capacity=100, max_per_order=3)

    placed = _run_threads(
        10,
        lambda n: place_order(
            event_id=event.id,
            quantities={free.id: 2},
            customer_name=f"Bot {n}",
            customer_email="bot@example.com",
        ),
    )

    assert sum(isinstance(o, Order) for o in placed) == 2, placed
    assert held_by_type(event_ids=[event.id]) == {free.id: 4}
