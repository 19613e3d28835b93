"""A cancelled event or a refunded order leaves the customer's calendar:
the confirmation added an entry (UID <order>-<event>@nightpass), so the
messages that end it carry a file cancelling that entry (METHOD:CANCEL,
STATUS:CANCELLED, the same UID, a higher SEQUENCE), and say which date
they are about ("Perreo Fridays is cancelled": which Friday?)."""

import re
from datetime import datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
from django.utils import timezone

from core.models import Event, OutboundMessage
from core.notify.rendering import build_email
from core.services.comps import cancel_comp_tickets, issue_comp_tickets
from core.services.event_cancellation import cancel_event
from core.services.orders import refund_order, refund_tickets
from tests.core.services.test_event_changes import _edit
from tests.factories import EventFactory, TicketTypeFactory, make_paid_order

pytestmark = pytest.mark.django_db

MADRID = ZoneInfo("Europe/Madrid")
FRIDAY_9PM = datetime(2037, 12, 11, 21, 0, tzinfo=MADRID)
DATE = "Friday 11 December 2037"


@pytest.fixture
def general(settings):
    settings.PUBLIC_BASE_URL = "https://tickets.example.com"
    event = EventFactory(
        name="Perreo Fridays",
        venue="Sala Apolo, Barcelona",
        time_zone="Europe/Madrid",
        starts_at=FRIDAY_9PM,
        currency="eur",
        venue_capacity=20,
    )
    # Tickets bought a while before anything else (SEQUENCE counts seconds).
    Event.objects.filter(pk=event.pk).update(
        updated_at=timezone.now() - timedelta(hours=2)
    )
    return TicketTypeFactory(event=event, name="General", price=Decimal("25.00"))


def _calendar(email) -> str | None:
    files = [
        content
        for _name, content, mimetype in (
            a for a in email.attachments if isinstance(a, tuple)
        )
        if mimetype == "text/calendar"
    ]
    assert len(files) <= 1
    return files[0] if files else None


def _field(ics: str, name: str) -> str:
    (line,) = [line for line in ics.split("\r\n") if line.startswith(f"{name}:")]
    return line.removeprefix(f"{name}:")


def _email(order, kind):
    return build_email(OutboundMessage.objects.get(order=order, kind=kind))


def _assert_cancels_in(email, added: str) -> None:
    _assert_cancels(_calendar(email), added)
    assert "takes the event out of your calendar" in email.body


def _assert_cancels(ics: str, added: str) -> None:
    assert _field(ics, "METHOD") == "CANCEL"
    assert _field(ics, "STATUS") == "CANCELLED"
    assert _field(ics, "UID") == _field(added, "UID")
    assert int(_field(ics, "SEQUENCE")) > int(_field(added, "SEQUENCE"))
    assert _field(added, "METHOD") == "PUBLISH"
    assert "STATUS:CANCELLED" not in added


def _says_the_date(email) -> None:
    html = re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", email.alternatives[0][0]))
    assert DATE in email.body, email.body
    assert DATE in html.replace("\xa0", " ")


def test_a_cancelled_event_leaves_the_calendar_and_says_which_date(owner, general):
    order = make_paid_order(general, 2)
    added = _calendar(_email(order, "order_confirmation"))
    # Moved once: the entry's SEQUENCE went up then.
    _edit(general.event, owner, starts_at=FRIDAY_9PM + timedelta(hours=1))
    moved = _calendar(_email(order, "event_changed"))
    assert int(_field(moved, "SEQUENCE")) > int(_field(added, "SEQUENCE"))

    cancel_event(actor=owner, event_id=general.event_id, reason="The artist is ill")

    email = _email(order, "event_cancelled")
    _assert_cancels_in(email, moved)
    assert "Friday 11 December 2037, 22:00" in email.body
    assert "Fri 11 Dec" in email.subject
    _says_the_date(email)


def test_a_whole_refund_leaves_the_calendar_and_says_which_date(general):
    order = make_paid_order(general, 2)
    added = _calendar(_email(order, "order_confirmation"))

    refund_order(order_id=order.id, reason="")

    email = _email(order, "order_refunded")
    _assert_cancels_in(email, added)
    _says_the_date(email)


def test_refunding_the_last_tickets_leaves_the_calendar_and_a_part_does_not(general):
    order = make_paid_order(general, 2)
    added = _calendar(_email(order, "order_confirmation"))
    first, second = order.tickets.order_by("pk")

    refund_tickets(order_id=order.id, ticket_ids=[first.pk])
    partly = build_email(OutboundMessage.objects.get(kind="tickets_refunded"))
    assert _calendar(partly) is None  # the other ticket still admits
    assert "calendar" not in partly.body
    _says_the_date(partly)

    refund_tickets(order_id=order.id, ticket_ids=[second.pk])
    (last,) = OutboundMessage.objects.filter(kind="tickets_refunded").order_by("-pk")[
        :1
    ]
    email = build_email(last)
    _assert_cancels_in(email, added)
    _says_the_date(email)


def test_free_tickets_all_cancelled_leave_the_calendar(owner, general):
    order = issue_comp_tickets(
        actor=owner,
        event_id=general.event_id,
        ticket_type_id=general.id,
        quantity=1,
        guest_name="Guest",
        guest_email="guest@example.com",
    )
    added = _calendar(_email(order, "order_confirmation"))

    cancel_comp_tickets(order_id=order.id, reason="", actor=owner)

    _assert_cancels_in(_email(order, "comp_cancelled"), added)


def test_the_order_page_calendar_file_of_a_cancelled_event_cancels_it(
    client, owner, general
):
    """Its refund still to come (the worker's), the order is paid yet: the
    file the order page offers takes the entry away too."""
    order = make_paid_order(general, 1)
    added = _calendar(_email(order, "order_confirmation"))
    cancel_event(actor=owner, event_id=general.event_id, reason="The artist is ill")

    answer = client.get(f"/buy/o/{order.token}/calendar.ics")

    assert answer.status_code == 200
    _assert_cancels(answer.content.decode(), added)
