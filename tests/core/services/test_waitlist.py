import threading
from datetime import timedelta

import pytest
from django.db import connection
from django.utils import timezone

from core.exceptions import InvalidRequest, NotFound, SoldOut
from core.models import Event, Order, OutboundMessage, TicketType, WaitlistEntry
from core.queries.availability import get_event_availability
from core.services.checkout import place_order
from core.services.fulfilment import fulfil_order
from core.services.waitlist import (
    NotSoldOut,
    expire_offers,
    join_waitlist,
    leave_waitlist,
    offer_freed_seats,
    remove_entry,
    sweep_waitlists,
)
from tests.factories import EventFactory, TicketTypeFactory, make_paid_order
from tests.plans import forget_statistics, plans_run, reads_of


def _sold_out_event(capacity=4, **event_kwargs):
    event = EventFactory(venue_capacity=capacity, **event_kwargs)
    seat = TicketTypeFactory(
        event=event, name="Seat", capacity=capacity, max_per_order=4
    )
    orders = [
        make_paid_order(seat, 2, email=f"buyer{i}@example.com")
        for i in range(capacity // 2)
    ]
    return event, seat, orders


def _free_seats(ticket_type: TicketType, count: int) -> None:
    """Raise capacity: the simplest way to free seats without the refund service."""
    TicketType.objects.filter(pk=ticket_type.pk).update(
        capacity=ticket_type.capacity + count
    )
    Event.objects.filter(pk=ticket_type.event_id).update(
        venue_capacity=ticket_type.event.venue_capacity + count
    )


def _join(event, email, quantity=1, ticket_type=None, phone=""):
    return join_waitlist(
        event_id=event.id,
        ticket_type_id=ticket_type.id if ticket_type else None,
        name=email.split("@")[0].title(),
        email=email,
        phone=phone,
        quantity=quantity,
    )


pytestmark = pytest.mark.django_db

# 257 characters, valid as an address, longer than the column's 254.
LONG_EMAIL = "a" * 64 + "@" + ".".join(["b" * 63, "c" * 63, "d" * 60]) + ".com"


def test_joining_a_sold_out_event_confirms_by_email():
    event, seat, _ = _sold_out_event()
    entry = _join(event, "wait@example.com", 2, seat)
    assert entry.status == WaitlistEntry.Status.WAITING
    message = OutboundMessage.objects.get(kind="waitlist_joined")
    assert message.to == "wait@example.com"
    assert message.context["entry_id"] == entry.pk


def test_joining_twice_changes_nothing_and_keeps_the_place_in_line():
    """Whoever joins with an address already waiting has not shown it is
    theirs: the entry keeps its name, phone and request; only its link is
    emailed again, to the address."""
    event, _seat, _ = _sold_out_event()
    first = _join(event, "a@example.com", 1, phone="+34600111222")
    _join(event, "b@example.com", 1)
    again = join_waitlist(
        event_id=event.id,
        ticket_type_id=None,
        name="Someone Else",
        email="A@Example.com",
        phone="+34612345678",
        quantity=3,
    )
    assert again.pk == first.pk
    first.refresh_from_db()
    assert (first.name, first.phone, first.quantity, first.ticket_type_id) == (
        "A",
        "+34600111222",
        1,
        None,
    )
    assert first.status == WaitlistEntry.Status.WAITING
    assert WaitlistEntry.objects.filter(event=event).count() == 2
    sent = OutboundMessage.objects.filter(kind="waitlist_joined", to="a@example.com")
    assert sent.count() == 2
    assert sent.order_by("id").last().context["again"] is True


def test_joining_again_past_the_address_limit_sends_nothing():
    event, _seat, _ = _sold_out_event()
    first = _join(event, "a@example.com", 1)
    again = join_waitlist(
        event_id=event.id,
        ticket_type_id=None,
        name="A",
        email="a@example.com",
        quantity=1,
        resend=False,
    )
    assert again.pk == first.pk
    assert OutboundMessage.objects.filter(kind="waitlist_joined").count() == 1


def test_a_new_entry_is_always_sent_its_link():
    """`resend` limits repeats only: without its link a new entry's address
    could not leave the list."""
    event, _seat, _ = _sold_out_event()
    join_waitlist(
        event_id=event.id,
        ticket_type_id=None,
        name="A",
        email="a@example.com",
        quantity=1,
        resend=False,
    )
    assert OutboundMessage.objects.filter(kind="waitlist_joined").count() == 1


def test_an_address_already_waiting_is_refused_as_a_new_one_while_on_sale():
    """Tickets on sale: refused for both, so the refusal does not say which
    addresses are waiting."""
    event, seat, _ = _sold_out_event()
    _join(event, "a@example.com", 1)
    _free_seats(seat, 3)
    for email in ("a@example.com", "new@example.com"):
        with pytest.raises(NotSoldOut):
            _join(event, email, 1)
    assert OutboundMessage.objects.filter(kind="waitlist_joined").count() == 1


def test_cannot_join_when_tickets_are_on_sale():
    event = EventFactory()
    TicketTypeFactory(event=event, capacity=10)
    with pytest.raises(NotSoldOut):
        _join(event, "x@example.com")
    assert not WaitlistEntry.objects.exists()


@pytest.mark.parametrize(
    ("kwargs", "error"),
    [
        ({"quantity": 0}, InvalidRequest),
        ({"quantity": -2}, InvalidRequest),
        ({"quantity": "lots"}, InvalidRequest),
        ({"quantity": 99}, InvalidRequest),
        ({"email": "not-an-email"}, InvalidRequest),
        ({"name": "  "}, InvalidRequest),
        ({"name": "x" * 201}, InvalidRequest),
        ({"email": LONG_EMAIL}, InvalidRequest),
        ({"name": "Ana\x00"}, InvalidRequest),
    ],
)
def test_bad_input_changes_nothing(kwargs, error):
    event, seat, _ = _sold_out_event()
    params = {
        "event_id": event.id,
        "ticket_type_id": seat.id,
        "name": "Ana",
        "email": "ana@example.com",
        "quantity": 1,
    } | kwargs
    with pytest.raises(error):
        join_waitlist(**params)
    assert not WaitlistEntry.objects.exists()
    assert not OutboundMessage.objects.filter(kind="waitlist_joined").exists()


def test_unknown_or_inactive_event_is_refused():
    event, seat, _ = _sold_out_event()
    Event.objects.filter(pk=event.pk).update(is_active=False)
    with pytest.raises(NotFound):
        _join(event, "x@example.com", 1, seat)


def test_freed_seats_are_offered_in_order_and_held_for_them():
    event, seat, _ = _sold_out_event()
    first = _join(event, "first@example.com", 2, phone="+34600111222")
    second = _join(event, "second@example.com", 1)
    _free_seats(seat, 2)
    # The public cannot take what the waitlist is waiting for.
    assert get_event_availability(event).total_available == 0
    with pytest.raises(SoldOut):
        place_order(
            event_id=event.id,
            quantities={seat.id: 1},
            customer_name="P",
            customer_email="p@example.com",
        )

    offered = offer_freed_seats(event_id=event.id)
    assert [e.pk for e in offered] == [first.pk]
    first.refresh_from_db()
    assert first.status == WaitlistEntry.Status.OFFERED
    assert first.offer_order.source == Order.Source.WAITLIST
    assert first.offer_order.hold_expires_at > timezone.now() + timedelta(hours=23)
    assert first.offer_order.lines.get().quantity == 2
    kinds = set(
        OutboundMessage.objects.filter(order=first.offer_order).values_list(
            "channel", "kind"
        )
    )
    assert kinds == {("email", "waitlist_offer"), ("sms", "waitlist_offer")}
    second.refresh_from_db()
    assert second.status == WaitlistEntry.Status.WAITING
    # Running it again offers nothing more: the seats are held by the offer.
    assert offer_freed_seats(event_id=event.id) == []


def test_a_larger_request_waits_its_turn_unless_the_owner_says_skip():
    event, seat, _ = _sold_out_event()
    big = _join(event, "big@example.com", 3)
    small = _join(event, "small@example.com", 1)
    _free_seats(seat, 1)
    assert offer_freed_seats(event_id=event.id) == []
    event.waitlist_skip_larger_requests = True
    event.save()
    assert [e.pk for e in offer_freed_seats(event_id=event.id)] == [small.pk]
    big.refresh_from_db()
    assert big.status == WaitlistEntry.Status.WAITING


def test_an_unclaimed_offer_expires_and_passes_to_the_next_person():
    event, seat, _ = _sold_out_event()
    first = _join(event, "first@example.com", 2)
    second = _join(event, "second@example.com", 2)
    _free_seats(seat, 2)
    offer_freed_seats(event_id=event.id)
    later = timezone.now() + timedelta(hours=25)
    sweep_waitlists(now=later)
    first.refresh_from_db()
    second.refresh_from_db()
    assert first.status == WaitlistEntry.Status.EXPIRED
    assert first.offer_order.status == Order.Status.EXPIRED
    assert second.status == WaitlistEntry.Status.OFFERED


def test_paying_the_offer_claims_it():
    event, seat, _ = _sold_out_event()
    entry = _join(event, "first@example.com", 2)
    _free_seats(seat, 2)
    offer_freed_seats(event_id=event.id)
    entry.refresh_from_db()
    order = entry.offer_order
    fulfil_order(
        order_id=order.id,
        provider="simulated",
        provider_reference="wl-1",
        amount=order.total,
        currency=order.currency,
    )
    entry.refresh_from_db()
    assert entry.status == WaitlistEntry.Status.CLAIMED
    assert order.tickets.count() == 2


def test_leaving_with_an_open_offer_passes_it_on():
    event, seat, _ = _sold_out_event()
    first = _join(event, "first@example.com", 1)
    second = _join(event, "second@example.com", 1)
    _free_seats(seat, 1)
    offer_freed_seats(event_id=event.id)
    first.refresh_from_db()
    leave_waitlist(token=first.token)
    first.refresh_from_db()
    assert first.status == WaitlistEntry.Status.LEFT
    assert first.offer_order.status == Order.Status.CANCELLED
    offer_freed_seats(event_id=event.id)
    second.refresh_from_db()
    assert second.status == WaitlistEntry.Status.OFFERED


def test_owner_can_remove_and_make_a_manual_offer():
    event, seat, _ = _sold_out_event()
    big = _join(event, "big@example.com", 2)
    small = _join(event, "small@example.com", 1)
    _free_seats(seat, 1)
    offered = offer_freed_seats(event_id=event.id, only_entry_id=small.pk)
    assert [e.pk for e in offered] == [small.pk]
    remove_entry(entry_id=big.pk)
    big.refresh_from_db()
    assert big.status == WaitlistEntry.Status.REMOVED


def test_expire_offers_ignores_live_offers():
    event, seat, _ = _sold_out_event()
    _join(event, "first@example.com", 1)
    _free_seats(seat, 1)
    offer_freed_seats(event_id=event.id)
    assert expire_offers() == []


@pytest.mark.django_db(transaction=True)
def test_two_releases_at_once_make_no_double_offers_and_lose_no_seat(postgres):
    event, seat, _ = _sold_out_event(capacity=10)
    for i in range(8):
        _join(event, f"w{i}@example.com", 1)
    _free_seats(seat, 6)
    barrier = threading.Barrier(4)
    errors = []

    def release():
        try:
            barrier.wait()
            offer_freed_seats(event_id=event.id)
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=release) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    offered = WaitlistEntry.objects.filter(
        event=event, status=WaitlistEntry.Status.OFFERED
    )
    assert offered.count() == 6
    assert Order.objects.filter(source=Order.Source.WAITLIST).count() == 6
    # Strictly first come, first served.
    assert sorted(offered.values_list("email", flat=True)) == [
        f"w{i}@example.com" for i in range(6)
    ]
    assert get_event_availability(event).total_available == 0


def test_raising_capacity_in_the_console_offers_to_the_waitlist(
    owner, django_capture_on_commit_callbacks
):
    from dataclasses import replace

    from core.services.events import (
        event_details_of,
        ticket_type_details_of,
        update_event,
    )

    event, seat, _ = _sold_out_event()
    entry = _join(event, "first@example.com", 2)
    event.refresh_from_db()
    seat.refresh_from_db()
    with django_capture_on_commit_callbacks(execute=True):
        update_event(
            actor=owner,
            event_id=event.id,
            details=replace(event_details_of(event), venue_capacity=6),
            ticket_types=[replace(ticket_type_details_of(seat), capacity=6)],
        )
    entry.refresh_from_db()
    assert entry.status == WaitlistEntry.Status.OFFERED


def test_waitlist_emails_leave_out_the_typed_name_and_link_to_checkout(settings):
    """The name is whatever was typed on the form, and nobody has shown they
    own the address: it must not be able to lead an email from the venue."""
    from core.notify.rendering import build_email

    settings.PUBLIC_BASE_URL = "https://tickets.example.com"
    event, seat, _ = _sold_out_event()
    entry = _join(event, "wanda@example.com", 2, phone="+34600111222")
    joined = build_email(OutboundMessage.objects.get(kind="waitlist_joined"))
    assert joined.body.startswith("Hello,\n")
    assert "Wanda" not in joined.body
    assert "Wanda" not in joined.alternatives[0][0]
    assert f"https://tickets.example.com/buy/w/{entry.token}/leave/" in joined.body
    _free_seats(seat, 2)
    offer_freed_seats(event_id=event.id)
    entry.refresh_from_db()
    email = build_email(
        OutboundMessage.objects.get(kind="waitlist_offer", channel="email")
    )
    assert "2 × Seat" in email.body
    assert (
        f"https://tickets.example.com/buy/o/{entry.offer_order.token}/pay/"
        in email.body
    )
    assert "24 hours" in email.body
    assert email.body.startswith("Hello,\n")
    assert "Wanda" not in email.body and "Wanda" not in email.alternatives[0][0]


def test_backing_out_of_payment_keeps_the_offer_held():
    from core.services.orders import cancel_order

    event, seat, _ = _sold_out_event()
    entry = _join(event, "first@example.com", 1)
    _free_seats(seat, 1)
    offer_freed_seats(event_id=event.id)
    entry.refresh_from_db()
    cancel_order(order_id=entry.offer_order_id)
    entry.offer_order.refresh_from_db()
    assert entry.offer_order.status == Order.Status.PENDING


def test_a_refund_offers_the_freed_seats_after_commit(
    django_capture_on_commit_callbacks,
):
    from core.services.orders import refund_order

    event, _seat, orders = _sold_out_event()
    entry = _join(event, "first@example.com", 2)
    with django_capture_on_commit_callbacks(execute=True):
        refund_order(order_id=orders[0].id, reason="test")
    entry.refresh_from_db()
    assert entry.status == WaitlistEntry.Status.OFFERED


def _first_lock(queries, table: str) -> int:
    return next(
        i
        for i, query in enumerate(queries)
        if f'FROM "{table}"' in query["sql"] and "FOR UPDATE" in query["sql"]
    )


@pytest.mark.parametrize("close", ["leave", "remove", "expire"])
def test_closing_an_offer_locks_its_order_before_its_entry(postgres, close):
    """Paying an offer locks its order, then its entry (mark_claimed): an
    entry closed while its offer is being paid must take them in the same
    order, or the two transactions deadlock."""
    from django.test.utils import CaptureQueriesContext

    event, seat, _ = _sold_out_event()
    entry = _join(event, "first@example.com", 1)
    _free_seats(seat, 1)
    offer_freed_seats(event_id=event.id)
    entry.refresh_from_db()
    with CaptureQueriesContext(connection) as queries:
        if close == "leave":
            leave_waitlist(token=entry.token)
        elif close == "remove":
            remove_entry(entry_id=entry.pk)
        else:
            assert expire_offers(now=timezone.now() + timedelta(days=30))
    assert _first_lock(queries, "core_order") < _first_lock(
        queries, "core_waitlistentry"
    )
    entry.refresh_from_db()
    assert entry.offer_order.status in (Order.Status.CANCELLED, Order.Status.EXPIRED)


# --- Offers end when sales do ---------------------------------------------------


def _offered(entry: WaitlistEntry) -> WaitlistEntry:
    entry.refresh_from_db()
    return entry


def _offer_one_freed_seat(event, seat: TicketType, email: str) -> WaitlistEntry:
    """`email` joins for one ticket, one is freed and offered: the entry."""
    entry = _join(event, email, 1)
    _free_seats(seat, 1)
    offer_freed_seats(event_id=event.id)
    return _offered(entry)


def test_an_offer_is_held_until_the_event_starts_not_past_it(settings):
    """An offer made the morning of the show was held until the next day,
    its seats kept from everyone else after the doors had closed."""
    from core.notify.rendering import build_email, build_sms

    settings.PUBLIC_BASE_URL = "https://tickets.example.com"
    starts = timezone.now().replace(microsecond=0) + timedelta(hours=2)
    event, seat, _ = _sold_out_event(starts_at=starts, time_zone="UTC")
    entry = _join(event, "wanda@example.com", 2, phone="+34600111222")
    _free_seats(seat, 2)
    offer_freed_seats(event_id=event.id)
    entry = _offered(entry)
    assert entry.status == WaitlistEntry.Status.OFFERED
    assert entry.offer_expires_at == starts
    assert entry.offer_order.hold_expires_at == starts
    deadline = starts.strftime("%a %-d %b, %H:%M")
    email = build_email(
        OutboundMessage.objects.get(kind="waitlist_offer", channel="email")
    )
    for part in (email.body, email.alternatives[0][0]):
        assert "24 hours" not in part
        assert "when sales close" in part
        assert deadline in part
    sms = build_sms(OutboundMessage.objects.get(kind="waitlist_offer", channel="sms"))
    assert f"Pay by {deadline}" in sms


def test_an_offer_ends_when_its_sales_end_before_the_start():
    now = timezone.now()
    event, seat, _ = _sold_out_event(sales_end_at=now + timedelta(hours=3))
    early = _join(event, "early@example.com", 1)
    _free_seats(seat, 1)
    offer_freed_seats(event_id=event.id, now=now)
    assert _offered(early).offer_expires_at == now + timedelta(hours=3)

    TicketType.objects.filter(pk=seat.pk).update(sales_end_at=now + timedelta(hours=1))
    late = _join(event, "late@example.com", 1)
    _free_seats(TicketType.objects.get(pk=seat.pk), 1)
    offer_freed_seats(event_id=event.id, now=now)
    assert _offered(late).offer_order.hold_expires_at == now + timedelta(hours=1)


def test_no_offer_is_made_with_too_little_time_left_to_pay(settings):
    settings.HOLD_MINUTES = 15
    starts = timezone.now() + timedelta(hours=2)
    event, seat, _ = _sold_out_event(starts_at=starts)
    entry = _join(event, "wanda@example.com", 1)
    _free_seats(seat, 1)
    assert (
        offer_freed_seats(event_id=event.id, now=starts - timedelta(minutes=14)) == []
    )
    assert sweep_waitlists(now=starts - timedelta(minutes=14)) == 0
    assert _offered(entry).status == WaitlistEntry.Status.WAITING
    # No order keeps the seat from anyone.
    assert not Order.objects.filter(source=Order.Source.WAITLIST).exists()
    # With time enough, the same sweep offers it.
    assert sweep_waitlists(now=starts - timedelta(minutes=16)) == 1


def test_the_sweep_offers_nothing_once_the_event_has_started():
    starts = timezone.now() + timedelta(hours=2)
    event, seat, _ = _sold_out_event(starts_at=starts)
    entry = _join(event, "wanda@example.com", 1)
    _free_seats(seat, 1)
    assert sweep_waitlists(now=starts + timedelta(minutes=5)) == 0
    assert offer_freed_seats(event_id=event.id, now=starts) == []
    assert _offered(entry).status == WaitlistEntry.Status.WAITING


def test_an_offer_held_past_the_start_ends_at_the_start():
    """An offer made before holds stopped at sales close (or the event moved
    earlier since) is closed by the sweep when the event starts, its seats
    released."""
    starts = timezone.now() + timedelta(hours=2)
    event, seat, _ = _sold_out_event(starts_at=starts)
    entry = _offer_one_freed_seat(event, seat, "wanda@example.com")
    later = starts + timedelta(hours=20)
    WaitlistEntry.objects.filter(pk=entry.pk).update(offer_expires_at=later)
    Order.objects.filter(pk=entry.offer_order_id).update(hold_expires_at=later)
    assert expire_offers(now=starts - timedelta(minutes=1)) == []
    sweep_waitlists(now=starts)
    entry = _offered(entry)
    assert entry.status == WaitlistEntry.Status.EXPIRED
    assert entry.offer_order.status == Order.Status.EXPIRED
    assert TicketType.objects.get(pk=seat.pk).held_count == 0


def test_an_entry_for_a_type_no_longer_on_sale_does_not_hold_up_the_line():
    now = timezone.now()
    event, seat, _ = _sold_out_event(capacity=4)
    Event.objects.filter(pk=event.pk).update(venue_capacity=5)
    box = TicketTypeFactory(event=event, name="Box", capacity=1, max_per_order=1)
    make_paid_order(box, 1)
    for_box = _join(event, "box@example.com", 1, box)
    anyone = _join(event, "any@example.com", 1)
    TicketType.objects.filter(pk=box.pk).update(sales_end_at=now)
    _free_seats(TicketType.objects.get(pk=box.pk), 1)
    _free_seats(TicketType.objects.get(pk=seat.pk), 1)
    offered = offer_freed_seats(event_id=event.id, now=now + timedelta(seconds=1))
    assert [e.pk for e in offered] == [anyone.pk]
    assert _offered(anyone).offer_order.lines.get().ticket_type_id == seat.id
    assert _offered(for_box).status == WaitlistEntry.Status.WAITING


@pytest.mark.parametrize("starts_in", [timedelta(minutes=10), -timedelta(hours=1)])
def test_joining_is_refused_once_no_offer_can_be_made(settings, starts_in):
    from core.exceptions import SalesClosed

    settings.HOLD_MINUTES = 15
    event, seat, _ = _sold_out_event()
    Event.objects.filter(pk=event.pk).update(starts_at=timezone.now() + starts_in)
    with pytest.raises(SalesClosed, match="The waitlist has closed"):
        _join(event, "late@example.com", 1, seat)
    assert not WaitlistEntry.objects.exists()
    assert not OutboundMessage.objects.filter(kind="waitlist_joined").exists()


# --- Leaving once the tickets are bought --------------------------------------------


def _claimed_entry():
    event, seat, _ = _sold_out_event()
    entry = _join(event, "wanda@example.com", 2)
    _free_seats(seat, 2)
    offer_freed_seats(event_id=event.id)
    entry = _offered(entry)
    order = entry.offer_order
    fulfil_order(
        order_id=order.id,
        provider="simulated",
        provider_reference="wl-claimed",
        amount=order.total,
        currency=order.currency,
    )
    return _offered(entry)


def test_leaving_after_paying_changes_nothing():
    from core.services.waitlist import AlreadyClaimed

    entry = _claimed_entry()
    assert entry.status == WaitlistEntry.Status.CLAIMED
    with pytest.raises(AlreadyClaimed):
        leave_waitlist(token=entry.token)
    entry = _offered(entry)
    assert entry.status == WaitlistEntry.Status.CLAIMED
    assert entry.offer_order.status == Order.Status.PAID


def test_leaving_while_the_payment_clears_changes_nothing():
    from core.services.payments import record_processing_payment
    from core.services.waitlist import AlreadyClaimed

    event, seat, _ = _sold_out_event()
    entry = _offer_one_freed_seat(event, seat, "wanda@example.com")
    record_processing_payment(order_id=entry.offer_order_id)
    with pytest.raises(AlreadyClaimed):
        leave_waitlist(token=entry.token)
    entry = _offered(entry)
    assert entry.status == WaitlistEntry.Status.OFFERED
    assert entry.offer_order.status == Order.Status.PROCESSING


# --- No work per waiting entry under the event's lock ---------------------------


def _long_list(waiting: int, quantity: int = 1, **event_kwargs):
    """A sold-out event with `waiting` entries, each asking for `quantity`."""
    event, seat, _ = _sold_out_event(**event_kwargs)
    WaitlistEntry.objects.bulk_create(
        WaitlistEntry(
            event=event,
            ticket_type=seat,
            name=f"W{i}",
            email=f"w{i}@example.com",
            quantity=quantity,
        )
        for i in range(waiting)
    )
    return event, seat


def _queries_of_a_pass(event, **kwargs) -> tuple[list, int]:
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as queries:
        offered = offer_freed_seats(event_id=event.id, **kwargs)
    return offered, sum("SAVEPOINT" not in q["sql"] for q in queries)


@pytest.mark.parametrize("manual", [False, True])
def test_a_sold_out_pass_reads_the_same_however_long_the_list(manual):
    """With nothing free, a pass that may pass over entries (the owner's
    skip setting, or a manual offer) read the held seats once per waiting
    entry, under the event's lock that every checkout waits for: 400
    waiting, 406 queries, every 15 s and after every release."""
    counts = []
    for waiting in (10, 400):
        event, _ = _long_list(waiting, waitlist_skip_larger_requests=True)
        last = WaitlistEntry.objects.filter(event=event).order_by("-id").first()
        offered, count = _queries_of_a_pass(
            event, only_entry_id=last.pk if manual else None
        )
        assert offered == []
        counts.append(count)
    assert counts[0] == counts[1]
    assert counts[1] == 3  # lock the event, lock its types, read what is held


def test_seats_too_few_for_anyone_are_looked_at_without_a_query_per_entry():
    """One seat free and everyone waiting for two: the pass looks down the
    whole list (skip setting on), with one read of it, not a read each."""
    counts = []
    for waiting in (10, 400):
        event, seat = _long_list(waiting, 2, waitlist_skip_larger_requests=True)
        _free_seats(seat, 1)
        offered, count = _queries_of_a_pass(event)
        assert offered == []
        counts.append(count)
    assert counts[0] == counts[1]


def test_one_pass_offers_what_is_free_counting_its_own_offers():
    """Held seats are read once: the offers the pass makes are taken off
    what is free as it goes, by type and from the venue's total."""
    event = EventFactory(venue_capacity=4, waitlist_skip_larger_requests=True)
    front = TicketTypeFactory(
        event=event, name="Front", capacity=2, max_per_order=4, sort_order=0
    )
    back = TicketTypeFactory(
        event=event, name="Back", capacity=4, max_per_order=4, sort_order=1
    )
    make_paid_order(front, 2)
    make_paid_order(back, 2)
    anyone = _join(event, "any@example.com", 1)
    front_two = _join(event, "front@example.com", 2, front)
    back_one = _join(event, "back@example.com", 1, back)
    late = _join(event, "late@example.com", 1)
    # The venue grows by two: Back has two free, Front none.
    Event.objects.filter(pk=event.pk).update(venue_capacity=6)
    offered = offer_freed_seats(event_id=event.id)
    assert [e.pk for e in offered] == [anyone.pk, back_one.pk]
    assert _offered(anyone).offer_order.lines.get().ticket_type_id == back.pk
    assert _offered(front_two).status == WaitlistEntry.Status.WAITING
    assert _offered(late).status == WaitlistEntry.Status.WAITING
    assert get_event_availability(event).total_available == 0
    assert offer_freed_seats(event_id=event.id) == []


# --- Leaving closes the offer's payment page ------------------------------------


@pytest.mark.parametrize("close", ["leave", "remove"])
def test_closing_an_offer_closes_its_stripe_page(
    close, stripe_stub, django_capture_on_commit_callbacks
):
    """The offer's order was cancelled but its Stripe page stayed payable
    (for up to a day): a payment there landed on a cancelled order."""
    from core.services.payments import start_payment

    event, seat, _ = _sold_out_event()
    entry = _offer_one_freed_seat(event, seat, "first@example.com")
    start_payment(
        order_id=entry.offer_order_id,
        success_url="https://t/s",
        cancel_url="https://t/c",
    )
    session_id = Order.objects.get(pk=entry.offer_order_id).stripe_checkout_session_id
    assert stripe_stub.sessions[session_id]["status"] == "open"
    with django_capture_on_commit_callbacks(execute=True):
        if close == "leave":
            leave_waitlist(token=entry.token)
        else:
            remove_entry(entry_id=entry.pk)
    assert stripe_stub.sessions[session_id]["status"] == "expired"
    assert _offered(entry).offer_order.status == Order.Status.CANCELLED


def test_closing_an_offer_without_a_payment_page_calls_no_one(
    stripe_stub, django_capture_on_commit_callbacks
):
    event, seat, _ = _sold_out_event()
    entry = _offer_one_freed_seat(event, seat, "first@example.com")
    with django_capture_on_commit_callbacks(execute=True):
        leave_waitlist(token=entry.token)
    assert stripe_stub.calls("POST", r"/v1/checkout/sessions/.*/expire") == []


# --- Sales close, before they open, "any type" -------------------------------


def test_an_offer_cut_short_at_sales_close_has_its_stripe_page_closed(stripe_stub):
    """expire_offers ended an offer at its event's sales close but left its
    hold hours ahead and its Stripe page unmarked: the hold sweep never
    closed the page, which still took a payment after the offer ran out."""
    from core.services.orders import sweep_expired_holds
    from core.services.payments import start_payment

    event, seat, _ = _sold_out_event(starts_at=timezone.now() + timedelta(days=3))
    entry = _offer_one_freed_seat(event, seat, "wanda@example.com")
    start_payment(
        order_id=entry.offer_order_id,
        success_url="https://t/s",
        cancel_url="https://t/c",
    )
    order = Order.objects.get(pk=entry.offer_order_id)
    session_id = order.stripe_checkout_session_id
    assert order.hold_expires_at > timezone.now() + timedelta(hours=1)
    # The owner closes online sales now.
    now = timezone.now()
    Event.objects.filter(pk=event.pk).update(sales_end_at=now - timedelta(minutes=1))
    assert expire_offers(now=now) == [event.id]
    order.refresh_from_db()
    assert order.status == Order.Status.EXPIRED
    assert order.hold_expires_at == now
    assert order.checkout_to_close
    assert _offered(entry).status == WaitlistEntry.Status.EXPIRED
    sweep_expired_holds(now=now)
    assert stripe_stub.sessions[session_id]["status"] == "expired"
    order.refresh_from_db()
    assert not order.checkout_to_close


def test_an_offer_that_lapsed_keeps_its_hold_end_when_it_expires():
    event, seat, _ = _sold_out_event()
    entry = _join(event, "wanda@example.com", 1)
    _free_seats(seat, 1)
    offer_freed_seats(event_id=event.id)
    ends = _offered(entry).offer_expires_at
    expire_offers(now=ends + timedelta(minutes=5))
    order = _offered(entry).offer_order
    assert order.status == Order.Status.EXPIRED
    assert order.hold_expires_at == ends
    assert not order.checkout_to_close  # no payment page to close


def test_an_offer_whose_bank_debit_failed_is_closed_by_the_sweep():
    """record_failed_payment cancels the offer's order; its entry stayed
    "offered" (its page saying the tickets were held) until the offer's
    time ran out."""
    from core.services.payments import record_failed_payment

    event, seat, _ = _sold_out_event()
    entry = _offer_one_freed_seat(event, seat, "wanda@example.com")
    record_failed_payment(order_id=entry.offer_order_id)
    assert _offered(entry).status == WaitlistEntry.Status.OFFERED
    assert expire_offers() == [event.id]
    entry = _offered(entry)
    assert entry.status == WaitlistEntry.Status.EXPIRED
    assert entry.offer_order.status == Order.Status.CANCELLED


def test_a_type_with_a_seat_left_can_be_waited_for_once_the_event_is_sold_out():
    """Someone waiting for two of "any type" keeps the event's two free
    seats, one of each type, from the public: each type shows a seat, but
    neither can be bought, so waiting for one is not refused as on sale."""
    event = EventFactory(venue_capacity=100)
    stalls = TicketTypeFactory(event=event, name="Stalls", capacity=2, max_per_order=4)
    circle = TicketTypeFactory(event=event, name="Circle", capacity=2, max_per_order=4)
    make_paid_order(stalls, 2)
    make_paid_order(circle, 2, email="c@example.com")
    _join(event, "ana@example.com", 2)
    TicketType.objects.filter(pk__in=[stalls.pk, circle.pk]).update(capacity=3)
    assert offer_freed_seats(event_id=event.id) == []
    availability = get_event_availability(Event.objects.get(pk=event.pk))
    assert availability.is_sold_out
    assert [t.available for t in availability.types] == [1, 1]
    entry = _join(event, "cy@example.com", 1, stalls)
    assert entry.ticket_type_id == stalls.id


def test_joining_before_sales_open_says_they_have_not_opened():
    from core.exceptions import SalesClosed

    event, _, _ = _sold_out_event(starts_at=timezone.now() + timedelta(days=30))
    # Sales moved to open later (the tickets sold are comps, say).
    Event.objects.filter(pk=event.pk).update(
        sales_start_at=timezone.now() + timedelta(days=2)
    )
    with pytest.raises(SalesClosed, match="not on sale yet") as refused:
        _join(event, "early@example.com", 1)
    assert refused.value.code == "not_on_sale_yet"
    assert "over" not in refused.value.message
    assert not WaitlistEntry.objects.exists()


def _manual_offer_refusal(entry) -> str:
    from core.services.waitlist import OfferRefused, offer_to_entry

    with pytest.raises(OfferRefused) as refused:
        offer_to_entry(event_id=entry.event_id, entry_id=entry.pk)
    return refused.value.message


def test_a_manual_offer_says_why_none_was_made(settings):
    """offer_freed_seats makes none once offers are closed; the owner was told
    to raise the capacity, which changes nothing."""
    settings.HOLD_MINUTES = 15
    event, seat, _ = _sold_out_event(capacity=2)
    entry = _join(event, "ana@example.com", 1)
    assert _manual_offer_refusal(entry) == (
        "Not enough free tickets to offer 1 to Ana. Raise the capacity first,"
        " or wait for a refund."
    )
    _free_seats(seat, 5)
    now = timezone.now()
    # Sales close in ten minutes: under HOLD_MINUTES to pay.
    Event.objects.filter(pk=event.pk).update(
        time_zone="Europe/Paris", starts_at=now + timedelta(minutes=10)
    )
    message = _manual_offer_refusal(entry)
    assert message.startswith("Ticket sales close too soon to offer: they close ")
    assert "under 15 minutes from now" in message
    assert "CET" in message or "CEST" in message
    assert "capacity" not in message
    # Sales over (the event starts tomorrow; online sales ended).
    Event.objects.filter(pk=event.pk).update(
        starts_at=now + timedelta(days=1), sales_end_at=now - timedelta(hours=1)
    )
    assert _manual_offer_refusal(entry).startswith(
        "Ticket sales for this event are over, so no more offers can be made"
    )
    # Not open yet (moved later after people joined).
    Event.objects.filter(pk=event.pk).update(
        sales_end_at=None,
        sales_start_at=now + timedelta(days=2),
        starts_at=now + timedelta(days=9),
    )
    assert _manual_offer_refusal(entry).startswith(
        "Ticket sales have not opened yet, so no offer can be made: they open "
    )
    # The type waited for is off sale.
    Event.objects.filter(pk=event.pk).update(sales_start_at=None)
    entry.ticket_type = seat
    entry.save()
    TicketType.objects.filter(pk=seat.pk).update(sales_end_at=now)
    assert _manual_offer_refusal(entry) == (
        "Seat tickets are not on sale, so none can be offered."
    )
    TicketType.objects.filter(pk=seat.pk).update(sales_end_at=None)
    from core.services.waitlist import offer_to_entry

    assert offer_to_entry(event_id=event.id, entry_id=entry.pk).pk == entry.pk
    assert _manual_offer_refusal(entry) == "Ana has an offer already."
    assert _offered(entry).status == WaitlistEntry.Status.OFFERED


@pytest.mark.parametrize("seats_freed", [1, 0], ids=["offered", "refused"])
def test_an_offer_to_one_entry_reads_it_by_key_whatever_the_statistics(
    postgres, seats_freed
):
    """The owner's "Offer now" names one entry. Looked up with its event
    (and status) too, before the table's first ANALYZE Postgres could read
    it through the index on the event: every entry the night ever had, to
    find one."""
    from core.services.waitlist import OfferRefused, offer_to_entry

    event, seat, _ = _sold_out_event(capacity=2)
    WaitlistEntry.objects.bulk_create(
        WaitlistEntry(
            event=event,
            name=f"Earlier {n}",
            email=f"earlier{n}@example.com",
            quantity=1,
            status=("left", "expired", "claimed", "removed")[n % 4],
        )
        for n in range(400)
    )
    entry = _join(event, "ana@example.com", 1)
    _free_seats(seat, seats_freed)
    forget_statistics(WaitlistEntry)

    with plans_run() as plans:
        if seats_freed:
            assert offer_to_entry(event_id=event.id, entry_id=entry.pk) == entry
        else:
            with pytest.raises(OfferRefused, match="Not enough free tickets"):
                offer_to_entry(event_id=event.id, entry_id=entry.pk)

    reads = [read for plan in plans for read in reads_of(plan["Plan"], WaitlistEntry)]
    assert reads and set(reads) == {"core_waitlistentry_pkey"}, reads
    assert _offered(entry).status == ("offered" if seats_freed else "waiting")
