"""Find my tickets: which orders the email lists, and what it says of them."""

import logging
import re
from datetime import UTC, datetime, timedelta

import pytest
from django.utils import timezone

from core.exceptions import InvalidRequest
from core.models import Event, Order, OutboundMessage, Ticket
from core.notify.rendering import build_email
from core.queries.ticket_lookup import LOOKUP_PAST_DAYS, orders_to_find
from core.services.checkout import place_order
from core.services.comps import issue_comp_tickets
from core.services.orders import refund_tickets, void_order
from core.services.ticket_lookup import send_tickets_lookup
from core.sites import site_url
from tests.factories import EventFactory, TicketTypeFactory, make_paid_order

pytestmark = pytest.mark.django_db

ANA = "ana@example.com"


def _order_url(order: Order) -> str:
    return site_url("purchase", "purchase:order", order.token, absolute=True)


def _type(**event_fields):
    return TicketTypeFactory(event=EventFactory(**event_fields), capacity=20)


def _lookup_messages():
    return list(OutboundMessage.objects.filter(kind="tickets_lookup"))


def test_lists_each_paid_order_of_the_address_and_no_one_elses(owner):
    soon = _type(name="Soon", starts_at=timezone.now() + timedelta(days=2))
    later = _type(name="Later", starts_at=timezone.now() + timedelta(days=30))
    first = make_paid_order(later, 2, email=ANA)
    second = make_paid_order(soon, 1, email=ANA)
    make_paid_order(soon, 3, email="bo@example.com")
    place_order(
        event_id=soon.event_id,
        quantities={soon.id: 1},
        customer_name="Ana",
        customer_email=ANA,
    )
    refunded = make_paid_order(soon, 1, email=ANA)
    void_order(order_id=refunded.id)

    message = send_tickets_lookup(email=ANA)

    assert _lookup_messages() == [message]
    assert message.to == ANA and message.order is None and message.event is None
    listed = message.context["orders"]
    # Soonest event first; the pending and the refunded orders left out.
    assert [item["order_code"] for item in listed] == [second.code, first.code]
    assert [item["url"] for item in listed] == [_order_url(second), _order_url(first)]
    assert [item["valid"] for item in listed] == [1, 2]


def test_the_address_matches_in_any_case(owner, ticket_type):
    bought = make_paid_order(ticket_type, 1, email=ANA)
    comp = issue_comp_tickets(
        actor=owner,
        event_id=ticket_type.event_id,
        ticket_type_id=ticket_type.id,
        quantity=1,
        guest_name="Ana",
        guest_email="Ana@Example.com",
    )
    # Kept as typed by the console; the buy form lower-cases.
    Order.objects.filter(pk=comp.pk).update(customer_email="Ana@Example.com")

    message = send_tickets_lookup(email="  ANA@EXAMPLE.COM ")

    codes = {item["order_code"] for item in message.context["orders"]}
    assert codes == {bought.code, comp.code}
    # To the address of the latest order, as its tickets were sent.
    assert message.to == "Ana@Example.com"


def test_an_address_without_such_orders_gets_nothing(ticket_type, caplog):
    make_paid_order(ticket_type, 1, email="bo@example.com")
    place_order(
        event_id=ticket_type.event_id,
        quantities={ticket_type.id: 1},
        customer_name="Ana",
        customer_email=ANA,
    )
    with caplog.at_level(logging.INFO, logger="core.services.ticket_lookup"):
        assert send_tickets_lookup(email=ANA) is None
    assert not OutboundMessage.objects.filter(kind="tickets_lookup").exists()
    assert "nothing sent" in caplog.text and ANA not in caplog.text


def test_an_address_with_orders_costs_what_one_without_does(ticket_type):
    """Both write the outbox row and commit; the one without takes it back.
    Only one with orders writing would make its page measurably slower, and
    tell whoever asked what the same answer hides."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    make_paid_order(ticket_type, 1, email=ANA)

    def writes(email):
        with CaptureQueriesContext(connection) as queries:
            send_tickets_lookup(email=email)
        return [
            q["sql"].split()[0].upper()
            for q in queries.captured_queries
            if "outboundmessage" in q["sql"].lower()
        ]

    assert writes(ANA) == ["INSERT"]
    assert writes("nobody@example.com") == ["INSERT", "DELETE"]
    assert [m.to for m in _lookup_messages()] == [ANA]


def test_events_past_more_than_a_few_days_are_left_out():
    now = timezone.now()
    recent, old = _type(), _type()
    kept = make_paid_order(recent, 1, email=ANA)
    make_paid_order(old, 1, email=ANA)
    # Bought before they began.
    Event.objects.filter(pk=recent.event_id).update(
        starts_at=now - timedelta(days=LOOKUP_PAST_DAYS, minutes=-1)
    )
    Event.objects.filter(pk=old.event_id).update(
        starts_at=now - timedelta(days=LOOKUP_PAST_DAYS, minutes=1)
    )
    assert [found.order for found in orders_to_find(ANA, now=now)] == [kept]


def test_refunded_tickets_are_not_counted_and_used_ones_are_said(ticket_type):
    partly = make_paid_order(ticket_type, 3, email=ANA)
    tickets = list(partly.tickets.order_by("code"))
    refund_tickets(order_id=partly.id, ticket_ids=[tickets[0].pk])
    Ticket.objects.filter(pk=tickets[1].pk).update(
        status=Ticket.Status.USED, scanned_at=timezone.now()
    )
    all_refunded = make_paid_order(ticket_type, 1, email=ANA)
    refund_tickets(order_id=all_refunded.id, ticket_ids=[all_refunded.tickets.get().pk])

    found = orders_to_find(ANA, now=timezone.now())

    assert [(f.order, f.valid, f.used) for f in found] == [(partly, 1, 1)]


def test_a_malformed_address_is_refused():
    with pytest.raises(InvalidRequest) as refused:
        send_tickets_lookup(email="ana@")
    assert refused.value.code == "invalid_email"
    assert not OutboundMessage.objects.exists()


def test_the_email_lists_each_order_with_its_time_in_the_event_zone(settings):
    settings.ORGANISATION_NAME = "Nightpass"
    madrid = _type(
        name="Rock & Roll at Jack's",
        venue="Sala Apolo",
        time_zone="Europe/Madrid",
        starts_at=datetime(2037, 12, 12, 20, 0, tzinfo=UTC),  # 21:00 CET
    )
    new_york = _type(
        name="Late Show",
        venue="",
        time_zone="America/New_York",
        starts_at=datetime(2037, 12, 20, 1, 30, tzinfo=UTC),  # 20:30 EST, the 19th
    )
    two = make_paid_order(madrid, 2, email=ANA)
    Ticket.objects.filter(pk=two.tickets.first().pk).update(
        status=Ticket.Status.USED, scanned_at=timezone.now()
    )
    one = make_paid_order(new_york, 1, email=ANA)

    email = build_email(send_tickets_lookup(email=ANA))

    assert email.to == [ANA]
    assert email.subject == "Links to your Nightpass tickets"
    body = email.body
    assert "Rock & Roll at Jack's\nSat 12 Dec 2037, 21:00 CET · Sala Apolo\n" in body
    assert f"Order {two.code} · 1 valid ticket, 1 used\n{_order_url(two)}\n" in body
    assert "Late Show\nSat 19 Dec 2037, 20:30 EST\n" in body
    assert f"Order {one.code} · 1 ticket\n{_order_url(one)}\n" in body
    assert body.index("Rock & Roll") < body.index("Late Show")
    assert "Didn't ask for this?" in body
    html, mimetype = email.alternatives[0]
    assert mimetype == "text/html"
    assert html.startswith('<!doctype html>\n<html lang="en">')
    assert "Rock &amp; Roll at Jack&#x27;s" in html
    assert "Sat 12 Dec 2037, 21:00 CET" in html
    links = re.findall(r'href="([^"]+)"', html)
    # The orders' links, then the footer's (core.notify.rendering.build_email).
    assert links[:2] == [_order_url(two), _order_url(one)]
    assert "/buy/o/" not in " ".join(links[2:])
    assert "1 valid ticket, 1 used" in html and "1 ticket" in html
    # No QR codes or calendar attached: the order pages have them.
    assert email.attachments == []
