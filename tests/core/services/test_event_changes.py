"""Ticket holders are told when what they rely on changes: the time, the
doors, the venue, the zone or the name; nobody else, and nothing else."""

from dataclasses import replace
from datetime import datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
from django.utils import timezone

from core.models import AuditLogEntry, Event, Order, OutboundMessage
from core.notify import outbox
from core.notify.rendering import build_email, build_sms
from core.queries.console import describe_entry
from core.services import event_changes
from core.services import events as events_service
from core.services.checkout import place_order
from core.services.comps import issue_comp_tickets
from core.services.event_changes import (
    EventChange,
    event_change,
    holder_facts,
)
from core.services.events import (
    event_details_of,
    ticket_type_details_of,
    update_event,
)
from core.services.orders import refund_tickets, void_order
from tests.factories import EventFactory, TicketTypeFactory, make_paid_order

pytestmark = pytest.mark.django_db

MADRID = ZoneInfo("Europe/Madrid")
# A Friday in December, years ahead, so sales are open whenever this runs.
FRIDAY_9PM = datetime(2037, 12, 11, 21, 0, tzinfo=MADRID)


@pytest.fixture
def event(settings):
    settings.PUBLIC_BASE_URL = "https://tickets.example.com"
    return EventFactory(
        name="Perreo Fridays",
        venue="Sala Apolo, Barcelona",
        time_zone="Europe/Madrid",
        starts_at=FRIDAY_9PM,
        doors_at=FRIDAY_9PM - timedelta(hours=1),
        currency="eur",
    )


@pytest.fixture
def ticket_type(event):
    return TicketTypeFactory(event=event, name="General", price=Decimal("20.00"))


def _edit(event, actor, *, tell=True, **changes):
    """Save the event with some changes; a new start moves the doors with it,
    as the edit form's date does."""
    event.refresh_from_db()
    if "starts_at" in changes and "doors_at" not in changes and event.doors_at:
        changes["doors_at"] = event.doors_at + (changes["starts_at"] - event.starts_at)
    return update_event(
        actor=actor,
        event_id=event.id,
        details=replace(event_details_of(event), **changes),
        ticket_types=[ticket_type_details_of(t) for t in event.ticket_types.all()],
        tell_ticket_holders=tell,
    )


def _told(channel="email"):
    return {
        m.order_id: m
        for m in OutboundMessage.objects.filter(kind="event_changed", channel=channel)
    }


def test_each_paid_order_still_holding_tickets_is_told_once(owner, ticket_type):
    with_phone = make_paid_order(ticket_type, 2, email="ana@example.com")
    Order.objects.filter(pk=with_phone.pk).update(customer_phone="+34612345678")
    without_phone = make_paid_order(ticket_type, 1, email="bo@example.com")
    partly_refunded = make_paid_order(ticket_type, 2, email="cy@example.com")
    refund_tickets(
        order_id=partly_refunded.id, ticket_ids=[partly_refunded.tickets.first().pk]
    )
    refunded = make_paid_order(ticket_type, 1, email="di@example.com")
    void_order(order_id=refunded.id)
    pending = place_order(
        event_id=ticket_type.event_id,
        quantities={ticket_type.id: 1},
        customer_name="Eve",
        customer_email="eve@example.com",
    )
    comp = issue_comp_tickets(
        actor=owner,
        event_id=ticket_type.event_id,
        ticket_type_id=ticket_type.id,
        quantity=1,
        guest_name="Guest",
        guest_email="guest@example.com",
        guest_phone="",
    )

    update = _edit(ticket_type.event, owner, starts_at=FRIDAY_9PM + timedelta(days=1))

    emails, texts = _told("email"), _told("sms")
    assert set(emails) == {with_phone.id, without_phone.id, partly_refunded.id, comp.id}
    assert emails[with_phone.id].to == "ana@example.com"
    assert emails[comp.id].to == "guest@example.com"
    assert set(texts) == {with_phone.id}
    assert texts[with_phone.id].to == "+34612345678"
    assert refunded.id not in emails and pending.id not in emails
    assert update.notice.orders_told == 4
    assert update.notice.what == "new time"


def test_the_email_says_old_and_new_in_the_event_zone_with_an_updated_calendar(
    owner, ticket_type
):
    order = make_paid_order(ticket_type, 2, name="Ana & Co")
    # Tickets bought a while before the change (SEQUENCE counts seconds).
    Event.objects.filter(pk=order.event_id).update(
        updated_at=timezone.now() - timedelta(hours=1)
    )
    first = build_email(
        OutboundMessage.objects.get(kind="order_confirmation", order=order)
    )
    first_ics = _ics(first)

    _edit(
        ticket_type.event,
        owner,
        starts_at=FRIDAY_9PM + timedelta(days=1),
        doors_at=FRIDAY_9PM + timedelta(days=1, hours=-1),
    )
    email = build_email(_told()[order.id])

    assert email.subject == "Perreo Fridays has a new time: now Sat 12 Dec, 21:00 CET"
    assert "Hi Ana & Co," in email.body
    assert "Starts: now Sat 12 Dec, 21:00 CET (was Fri 11 Dec, 21:00 CET)" in (
        email.body
    )
    assert "Doors open: now Sat 12 Dec, 20:00 CET (was Fri 11 Dec, 20:00 CET)" in (
        email.body
    )
    assert "When:  Saturday 12 December 2037, 21:00 CET, doors 20:00" in email.body
    assert "Where: Sala Apolo, Barcelona" in email.body
    assert "Your tickets stay valid" in email.body
    assert f"https://tickets.example.com/buy/o/{order.token}/" in email.body
    html, mimetype = email.alternatives[0]
    assert mimetype == "text/html"
    assert '<meta name="viewport"' in html and "Ana &amp; Co" in html
    assert "Now <strong>Sat 12 Dec, 21:00 CET</strong>" in html
    assert f'href="https://tickets.example.com/buy/o/{order.token}/"' in html

    content = _ics(email)
    assert f"UID:{order.code}-{order.event_id}@nightpass" in content
    assert "DTSTART:20371212T200000Z" in content
    assert _sequence(content) > _sequence(first_ics)


def _ics(email) -> str:
    (content,) = [
        content
        for _name, content, mimetype in (
            a for a in email.attachments if isinstance(a, tuple)
        )
        if mimetype == "text/calendar"
    ]
    return content


def _sequence(ics: str) -> int:
    (line,) = [line for line in ics.split("\r\n") if line.startswith("SEQUENCE:")]
    return int(line.removeprefix("SEQUENCE:"))


def test_the_text_is_short_plain_and_links_to_the_order(owner, ticket_type):
    order = make_paid_order(ticket_type, 1)
    Order.objects.filter(pk=order.pk).update(customer_phone="+34612345678")
    _edit(
        ticket_type.event,
        owner,
        starts_at=FRIDAY_9PM + timedelta(days=1),
        venue="Razzmatazz",
    )
    text = build_sms(_told("sms")[order.id])
    assert text == (
        "Perreo Fridays has a new time and venue: Sat 12 Dec, 21:00 CET, doors "
        "20:00, Razzmatazz (was Fri 11 Dec, 21:00 CET, Sala Apolo, Barcelona). "
        f"Your tickets stay valid: https://tickets.example.com/buy/o/{order.token}/"
    )
    assert text.isascii()


def test_a_new_zone_with_the_same_wall_clock_is_a_new_time(owner, ticket_type):
    order = make_paid_order(ticket_type, 1)
    london = FRIDAY_9PM.replace(tzinfo=ZoneInfo("Europe/London"))
    _edit(
        ticket_type.event,
        owner,
        time_zone="Europe/London",
        starts_at=london,
        doors_at=london - timedelta(hours=1),
    )
    body = build_email(_told()[order.id]).body
    assert "Starts: now Fri 11 Dec, 21:00 GMT (was Fri 11 Dec, 21:00 CET)" in body


def test_a_new_zone_that_reads_the_same_tells_nobody(owner, ticket_type):
    make_paid_order(ticket_type, 1)
    update = _edit(ticket_type.event, owner, time_zone="Europe/Paris")
    assert update.notice.what == ""
    assert not _told()


def test_nothing_is_sent_with_the_box_unticked(owner, ticket_type):
    make_paid_order(ticket_type, 1)
    update = _edit(
        ticket_type.event, owner, tell=False, starts_at=FRIDAY_9PM + timedelta(days=1)
    )
    assert update.notice.what == "new time" and update.notice.orders_told == 0
    assert not _told() and not _told("sms")
    assert not AuditLogEntry.objects.filter(action="event.ticket_holders_told")


def test_changes_holders_do_not_rely_on_tell_nobody(owner, ticket_type):
    make_paid_order(ticket_type, 1)
    event = ticket_type.event
    update = _edit(
        event,
        owner,
        description="Now with a live band",
        venue_capacity=150,
        sales_end_at=FRIDAY_9PM - timedelta(hours=2),
    )
    spec = replace(ticket_type_details_of(ticket_type), price=Decimal("25.00"))
    again = update_event(
        actor=owner,
        event_id=event.id,
        details=event_details_of(update.event),
        ticket_types=[spec],
        tell_ticket_holders=True,
    )
    assert update.notice.orders_told == again.notice.orders_told == 0
    assert not _told()


def test_an_event_without_ticket_holders_sends_nothing(owner, ticket_type):
    update = _edit(ticket_type.event, owner, starts_at=FRIDAY_9PM + timedelta(days=1))
    assert update.notice.orders_told == 0
    assert not OutboundMessage.objects.exists()
    assert not AuditLogEntry.objects.filter(action="event.ticket_holders_told")


def test_the_audit_log_says_how_many_were_told(owner, ticket_type):
    make_paid_order(ticket_type, 1)
    phoned = make_paid_order(ticket_type, 1)
    Order.objects.filter(pk=phoned.pk).update(customer_phone="+34612345678")
    _edit(ticket_type.event, owner, venue="Razzmatazz")
    entry = AuditLogEntry.objects.get(action="event.ticket_holders_told")
    assert entry.actor == owner and entry.event_id == ticket_type.event_id
    assert entry.after == {
        "told_of": "new venue",
        "orders": 2,
        "emails": 2,
        "texts": 1,
    }
    row = describe_entry(entry)
    assert row.action == "Told ticket holders of the change"


def test_a_renamed_event_is_told_by_its_old_name(owner, ticket_type):
    order = make_paid_order(ticket_type, 1)
    Order.objects.filter(pk=order.pk).update(customer_phone="+34612345678")
    _edit(ticket_type.event, owner, name="Perreo Saturdays")
    email = build_email(_told()[order.id])
    assert email.subject == "Perreo Fridays has a new name"
    assert "Event name: now Perreo Saturdays (was Perreo Fridays)" in email.body
    assert build_sms(_told("sms")[order.id]).startswith(
        "Perreo Fridays has a new name: now Perreo Saturdays, Fri 11 Dec, 21:00 CET"
    )


def test_many_orders_are_written_in_batches(owner, ticket_type, monkeypatch):
    monkeypatch.setattr(outbox, "BATCH", 2)
    orders = [
        make_paid_order(ticket_type, 1, email=f"p{i}@example.com") for i in range(5)
    ]
    Order.objects.filter(pk__in=[o.pk for o in orders[:2]]).update(
        customer_phone="+34612345678"
    )
    update = _edit(ticket_type.event, owner, starts_at=FRIDAY_9PM + timedelta(hours=1))
    assert update.notice.orders_told == 5
    assert len(_told()) == 5 and len(_told("sms")) == 2


def _facts(**changes):
    base = holder_facts(
        EventFactory.build(
            name="Gala",
            venue="Hall",
            time_zone="Europe/Madrid",
            starts_at=FRIDAY_9PM,
            doors_at=None,
        )
    )
    return base, replace(base, **changes)


@pytest.mark.parametrize(
    ("changes", "what"),
    [
        ({"starts_at": FRIDAY_9PM + timedelta(minutes=30)}, "new time"),
        ({"doors_at": FRIDAY_9PM - timedelta(hours=1)}, "new doors time"),
        ({"venue": "Arena", "name": "Gala II"}, "new venue and name"),
        (
            {"starts_at": FRIDAY_9PM + timedelta(days=1), "venue": "", "name": "G"},
            "new time, venue and name",
        ),
        ({"starts_at": FRIDAY_9PM + timedelta(seconds=20)}, ""),
    ],
)
def test_what_changed_in_words(changes, what):
    change: EventChange = event_change(*_facts(**changes))
    assert change.what == what
    assert bool(change) is bool(what)


def test_doors_and_venue_not_given_read_to_be_announced():
    change = event_change(*_facts(doors_at=FRIDAY_9PM - timedelta(hours=1), venue=""))
    rows = {d.label: (d.now, d.was) for d in change.details}
    assert rows == {
        "Doors open": ("Fri 11 Dec, 20:00 CET", "to be announced"),
        "Venue": ("to be announced", "Hall"),
    }


def test_a_move_to_another_year_gives_the_years():
    change = event_change(*_facts(starts_at=FRIDAY_9PM + timedelta(days=28)))
    (row,) = change.details
    assert (row.now, row.was) == (
        "Fri 8 Jan 2038, 21:00 CET",
        "Fri 11 Dec 2037, 21:00 CET",
    )


@pytest.mark.django_db(transaction=True)
def test_holders_are_told_after_the_change_is_saved_not_under_its_lock(
    postgres, owner, monkeypatch
):
    """A message per order written under the event's lock would hold up
    every checkout and payment of the event meanwhile."""
    import psycopg
    from django.db import connection

    ticket_type = TicketTypeFactory(event=EventFactory(starts_at=FRIDAY_9PM))
    make_paid_order(ticket_type, 1)
    params = connection.get_connection_params()
    params.pop("cursor_factory", None)
    other = psycopg.connect(**params, autocommit=True)
    locked_while_telling = []
    tell = event_changes.tell_ticket_holders_of_change

    def telling(**kwargs):
        try:
            other.execute(
                "SELECT 1 FROM core_event WHERE id = %s FOR UPDATE NOWAIT",
                [ticket_type.event_id],
            )
            locked_while_telling.append(False)
        except psycopg.errors.LockNotAvailable:
            locked_while_telling.append(True)
        return tell(**kwargs)

    monkeypatch.setattr(events_service, "tell_ticket_holders_of_change", telling)
    try:
        update = _edit(
            ticket_type.event, owner, starts_at=FRIDAY_9PM + timedelta(hours=1)
        )
    finally:
        other.close()

    assert locked_while_telling == [False]
    assert update.notice.orders_told == 1
