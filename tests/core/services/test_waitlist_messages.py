"""What people on a waitlist are told: when their hold runs out (nothing
was said: the tickets just went), what they wait for (the one type of a
one-type event by name, not "any ticket type") and when the show is, and
that the event is cancelled, in an email like every other."""

import re
from datetime import timedelta

import pytest
from django.utils import timezone

from core.models import Event, OutboundMessage, WaitlistEntry
from core.notify.rendering import build_email
from core.services.event_cancellation import cancel_event
from core.services.payments import record_failed_payment
from core.services.waitlist import expire_offers, join_waitlist, offer_freed_seats
from core.sites import site_url
from tests.core.notify.samples import STARTS_AT, new_york_event
from tests.factories import TicketTypeFactory, make_paid_order, make_staff

pytestmark = pytest.mark.django_db

WHEN = "Friday 11 December 2037, 20:00 EST"  # a no-break space read as one


def _text_of(email) -> str:
    html = re.sub(r"</?(?:strong|span|a)\b[^>]*>", "", email.alternatives[0][0])
    text = re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html))
    return text.replace("&#x27;", "'").replace("&amp;", "&")


def _parts(email) -> tuple[str, str]:
    """The text part and the HTML part's text, no-break spaces as spaces."""
    return email.body.replace("\xa0", " "), _text_of(email).replace("\xa0", " ")


@pytest.fixture
def sold_out(settings):
    """A one-type New York show, sold out."""
    settings.PUBLIC_BASE_URL = "https://tickets.example.com"
    event = new_york_event(name="Perreo Fridays", venue_capacity=2)
    general = TicketTypeFactory(
        event=event, name="General Admission", capacity=2, max_per_order=4
    )
    make_paid_order(general, 2)
    return event, general


def _join(event, email="wanda@example.com", ticket_type=None, quantity=2):
    return join_waitlist(
        event_id=event.id,
        ticket_type_id=ticket_type.id if ticket_type else None,
        name="Wanda",
        email=email,
        quantity=quantity,
    )


def _offered(event, general, email="wanda@example.com"):
    entry = _join(event, email, quantity=1)
    general.capacity += 1
    general.save(update_fields=["capacity"])
    Event.objects.filter(pk=event.pk).update(venue_capacity=3)
    offer_freed_seats(event_id=event.id)
    entry.refresh_from_db()
    assert entry.status == WaitlistEntry.Status.OFFERED
    return entry


def test_a_lapsed_hold_tells_the_person_they_are_off_the_list(sold_out):
    event, general = sold_out
    entry = _offered(event, general)

    expire_offers(now=entry.offer_expires_at + timedelta(seconds=1))

    message = OutboundMessage.objects.get(kind="waitlist_lapsed")
    assert message.to == "wanda@example.com"
    email = build_email(message)
    assert email.subject == "Your hold on tickets for Perreo Fridays ran out"
    for part in _parts(email):
        assert "1 × General Admission" in part
        assert WHEN in part
        assert "went to the next person in line" in part
        assert "you're off the waitlist" in part
        assert "join it again" in part
    event_url = site_url("purchase", "purchase:event", event.slug, absolute=True)
    assert event_url.startswith("https://tickets.example.com/")
    assert event_url in email.body


def test_a_hold_ended_by_sales_closing_says_the_waitlist_closed_too(sold_out):
    event, general = sold_out
    entry = _offered(event, general)
    closes = timezone.now() + timedelta(minutes=1)
    Event.objects.filter(pk=event.pk).update(sales_end_at=closes)

    expire_offers(now=closes + timedelta(seconds=1))

    body = build_email(OutboundMessage.objects.get(kind="waitlist_lapsed")).body
    assert "Ticket sales for Perreo Fridays have closed" in body
    assert "join it again" not in body
    entry.refresh_from_db()
    assert entry.status == WaitlistEntry.Status.EXPIRED


def test_a_failed_payment_is_told_once(sold_out):
    """The payment_failed email says so; no second one about the hold."""
    event, general = sold_out
    entry = _offered(event, general)
    record_failed_payment(order_id=entry.offer_order_id)

    expire_offers()

    assert not OutboundMessage.objects.filter(kind="waitlist_lapsed").exists()


def test_joining_a_one_type_event_names_the_type_and_the_date(sold_out):
    event, _general = sold_out
    _join(event)

    email = build_email(OutboundMessage.objects.get(kind="waitlist_joined"))
    for part in _parts(email):
        assert "2 × General Admission" in part
        assert "any ticket type" not in part
        assert WHEN in part


def test_joining_for_any_of_several_types_says_so_in_words(sold_out):
    event, _general = sold_out
    TicketTypeFactory(event=event, name="VIP", capacity=0)
    _join(event)

    email = build_email(OutboundMessage.objects.get(kind="waitlist_joined"))
    assert "2 tickets of any type" in email.body
    assert "× any ticket type" not in email.body


def test_the_waitlist_is_told_of_a_cancellation_in_a_full_email(sold_out):
    event, _general = sold_out
    _join(event)
    owner = make_staff(username="boss")

    cancel_event(actor=owner, event_id=event.id, reason="The artist is ill")

    email = build_email(OutboundMessage.objects.get(kind="event_cancelled_waitlist"))
    assert email.alternatives, "an HTML part, as every other email"
    html = email.alternatives[0][0]
    assert html.startswith('<!doctype html>\n<html lang="en">')
    for part in _parts(email):
        assert "The artist is ill" in part
        assert WHEN in part
        assert "You were not charged anything." in part
    assert STARTS_AT.year == 2037
