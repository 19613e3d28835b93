"""Held seats are counted per ticket type (TicketType.held_count).

Every way an order enters or leaves pending/processing moves the counter
in the same transaction; a lapsed hold stops counting at once all the same
(reads subtract the lapsed holds the sweep has not closed). The suite's
autouse check (tests/conftest.py) holds the counter to a recount after
every database test; these walk each transition and say what it must be.
"""

from datetime import timedelta

import pytest
from django.db import connection
from django.utils import timezone

from core.models import Order, TicketType, WaitlistEntry
from core.queries.availability import get_event_availability, held_and_waiting
from core.services.orders import (
    cancel_order,
    expire_order,
    sweep_expired_holds,
    void_order,
)
from core.services.payments import record_failed_payment, record_processing_payment
from core.services.waitlist import expire_offers, offer_freed_seats, remove_entry
from tests.factories import TicketTypeFactory
from tests.factories import make_held_order as _hold
from tests.factories import pay_simulated as _pay

pytestmark = pytest.mark.django_db


@pytest.fixture
def seats():
    return TicketTypeFactory(capacity=10, event__venue_capacity=10)


def _held(ticket_type) -> int:
    return TicketType.objects.get(pk=ticket_type.pk).held_count


def test_a_hold_counts_and_a_payment_moves_it_to_sold(seats):
    order = _hold(seats, 3)
    assert _held(seats) == 3
    _pay(order)
    seats.refresh_from_db()
    assert (seats.held_count, seats.sold_count) == (0, 3)
    _pay(order)  # a repeat moves nothing
    seats.refresh_from_db()
    assert (seats.held_count, seats.sold_count) == (0, 3)


def test_cancelling_expiring_and_sweeping_release_the_hold(seats):
    cancelled, expired, swept = _hold(seats, 1), _hold(seats, 2), _hold(seats, 3)
    assert _held(seats) == 6
    cancel_order(order_id=cancelled.id)
    cancel_order(order_id=cancelled.id)  # twice is harmless
    assert _held(seats) == 5
    later = timezone.now() + timedelta(hours=1)
    expire_order(order_id=expired.id, now=later)
    assert _held(seats) == 3
    assert sweep_expired_holds(now=later) == 1
    assert _held(seats) == 0
    assert Order.objects.get(pk=swept.pk).status == Order.Status.EXPIRED


def test_a_lapsed_hold_stops_counting_before_the_sweep(seats):
    _hold(seats, 4)
    later = timezone.now() + timedelta(hours=1)
    assert _held(seats) == 4  # still in the counter...
    held, _ = held_and_waiting(event_ids=[seats.event_id], now=later)
    assert held == {}  # ...but no longer held
    assert get_event_availability(seats.event, now=later).total_available == 10


def test_a_processing_payment_holds_until_it_fails(seats):
    order = _hold(seats, 2)
    record_processing_payment(order_id=order.id)
    later = timezone.now() + timedelta(hours=1)
    held, _ = held_and_waiting(event_ids=[seats.event_id], now=later)
    assert held == {seats.id: 2}, "a payment in progress holds past the hold's end"
    record_failed_payment(order_id=order.id)
    assert _held(seats) == 0


def test_a_late_payment_sells_a_swept_order_without_touching_held(seats):
    order = _hold(seats, 2)
    later = timezone.now() + timedelta(hours=1)
    sweep_expired_holds(now=later)
    assert _held(seats) == 0
    assert _pay(order, now=later).issued  # the seats are still free
    seats.refresh_from_db()
    assert (seats.held_count, seats.sold_count) == (0, 2)


def test_a_late_payment_for_seats_gone_releases_the_unswept_hold(seats):
    order = _hold(seats, 6)
    later = timezone.now() + timedelta(hours=1)
    _pay(_hold(seats, 8, now=later), reference="pay_other", now=later)
    assert _held(seats) == 6  # the lapsed hold, not swept yet
    result = _pay(order, now=later)
    assert result.needs_refund and not result.issued
    assert Order.objects.get(pk=order.pk).status == Order.Status.EXPIRED
    assert _held(seats) == 0


def test_refunding_an_order_still_processing_releases_its_hold(seats):
    order = _hold(seats, 2)
    record_processing_payment(order_id=order.id)
    void_order(order_id=order.id)  # Stripe's charge.refunded
    assert Order.objects.get(pk=order.pk).status == Order.Status.REFUNDED
    assert _held(seats) == 0


def test_waitlist_offers_hold_until_claimed_removed_or_lapsed(seats):
    event = seats.event
    for n in range(3):
        WaitlistEntry.objects.create(
            event=event, name="W", email=f"w{n}@example.com", quantity=1
        )
    offered = offer_freed_seats(event_id=event.id)
    assert len(offered) == 3 and _held(seats) == 3
    remove_entry(entry_id=offered[0].id)
    assert _held(seats) == 2
    _pay(offered[1].offer_order)
    assert _held(seats) == 1
    expire_offers(now=timezone.now() + timedelta(days=30))
    assert _held(seats) == 0


def _orders_read(action) -> int:
    """Rows of core_order this transaction read while `action` ran
    (Postgres's per-transaction statistics). The tables analysed and
    sequential scans off: the plans a table of real size gets, not a test's."""
    query = (
        "SELECT coalesce(seq_tup_read, 0) + coalesce(idx_tup_fetch, 0)"
        " FROM pg_stat_xact_user_tables WHERE relname = 'core_order'"
    )
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE core_order, core_orderline")
        cursor.execute("SET LOCAL enable_seqscan = off")
        cursor.execute(query)
        (before,) = cursor.fetchone()
        action()
        cursor.execute(query)
        (after,) = cursor.fetchone()
    return after - before


def test_a_checkout_and_a_read_do_not_add_up_the_live_holds(postgres, seats):
    """The point of the counter: with 40 holds live, placing one more and
    reading availability read only the lapsed holds (none) of the orders,
    where adding up the holds read every one of them."""
    TicketType.objects.filter(pk=seats.pk).update(capacity=500)
    type(seats.event).objects.filter(pk=seats.event_id).update(venue_capacity=500)
    for _ in range(40):
        _hold(seats, 1)
    assert _orders_read(lambda: _hold(seats, 1)) < 5
    assert _orders_read(lambda: held_and_waiting(event_ids=[seats.event_id])) < 5
    assert held_and_waiting(event_ids=[seats.event_id])[0] == {seats.id: 41}


def test_the_sweep_drains_lapsed_holds_in_batches(seats):
    for _ in range(5):
        _hold(seats, 1)
    later = timezone.now() + timedelta(hours=1)
    assert sweep_expired_holds(now=later, limit=2, batches=2) == 4
    assert _held(seats) == 1
    assert sweep_expired_holds(now=later, limit=2) == 1
    assert _held(seats) == 0


def test_a_counter_found_off_is_recounted_and_the_sweep_goes_on(seats, caplog):
    """One bad counter (a bug, or an old process during a deploy) must not
    stop the sweep of every event: a release that would go below zero
    recounts that event from its orders instead, and says so."""
    other = TicketTypeFactory(capacity=5)
    first, second = _hold(seats, 2), _hold(other, 1)
    TicketType.objects.filter(pk=seats.pk).update(held_count=1)  # off
    later = timezone.now() + timedelta(hours=1)
    assert sweep_expired_holds(now=later) == 2
    assert {o.status for o in Order.objects.filter(pk__in=[first.pk, second.pk])} == {
        Order.Status.EXPIRED
    }
    assert _held(seats) == _held(other) == 0
    assert "were off; recounted" in caplog.text


def test_reads_never_free_seats_from_a_counter_that_is_off(seats):
    _hold(seats, 1, now=timezone.now() - timedelta(hours=1))  # lapsed
    TicketType.objects.filter(pk=seats.pk).update(held_count=0)  # off, too low
    assert held_and_waiting(event_ids=[seats.event_id])[0] == {}  # not -1
    TicketType.objects.filter(pk=seats.pk).update(held_count=1)  # put right


def test_the_recount_command_puts_counters_right(seats):
    from io import StringIO

    from django.core.management import call_command

    _hold(seats, 3)
    TicketType.objects.filter(pk=seats.pk).update(held_count=7)
    out = StringIO()
    call_command("recount_held_seats", stdout=out)
    assert "1 ticket types' held seats corrected" in out.getvalue()
    assert _held(seats) == 3
    call_command("recount_held_seats", event=seats.event.slug, stdout=out)
    assert _held(seats) == 3


def test_the_checkout_statement_never_frees_seats_from_a_counter_that_is_off(
    postgres, seats
):
    from tests.core.services.test_place_hold import _figures_from_database

    _hold(seats, 2)
    _hold(seats, 1, now=timezone.now() - timedelta(hours=1))  # lapsed
    TicketType.objects.filter(pk=seats.pk).update(held_count=0)  # off, too low
    figures = _figures_from_database(
        seats.event, {seats.id: 99}, public=True, now=timezone.now()
    )
    assert figures["available"] == {str(seats.id): 10}  # not 11
    TicketType.objects.filter(pk=seats.pk).update(held_count=3)  # put right
