"""What each message tells its reader, as rendered from what the services
queued: the refunded tickets, a waitlist offer's price, date and deadline,
who invites a new staff member to what."""

import math
import re
from pathlib import Path

import pytest
from django.conf import settings as django_settings
from django.utils import timezone

from core.models import OutboundMessage, Role
from core.notify.rendering import build_email, build_sms
from core.services.checkout import place_order
from core.services.orders import refund_order, refund_tickets
from core.services.staff import invite_staff
from core.services.waitlist import join_waitlist, offer_freed_seats
from tests.core.notify.samples import NOW, name_guests, new_york_event
from tests.factories import (
    TicketTypeFactory,
    make_paid_order,
    make_staff,
    pay_simulated,
)

pytestmark = pytest.mark.django_db

TEMPLATES = Path(django_settings.BASE_DIR) / "templates"

# GSM 03.38: a text of these fits 160 characters a segment (153 when split);
# one other character makes the whole text UCS-2, 70 (67) a segment.
GSM_BASIC = (
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
GSM_EXTENDED = "^{}\\[~]|€"


def sms_segments(text: str) -> int:
    """How many SMS a phone network bills for `text`."""
    if all(c in GSM_BASIC or c in GSM_EXTENDED for c in text):
        septets = len(text) + sum(c in GSM_EXTENDED for c in text)
        return 1 if septets <= 160 else math.ceil(septets / 153)
    units = len(text.encode("utf-16-le")) // 2
    return 1 if units <= 70 else math.ceil(units / 67)


def _html(email) -> str:
    (html, mimetype) = email.alternatives[0]
    assert mimetype == "text/html"
    return html


def _text_of(html: str) -> str:
    """The HTML part as a reader sees it: inline tags gone, blocks apart,
    spaces folded (no-break spaces kept)."""
    inline_gone = re.sub(r"</?(?:strong|span|a)\b[^>]*>", "", html)
    text = re.sub(r"<[^>]+>", " ", inline_gone)
    return re.sub(r"[ \t\r\n]+", " ", text).replace("&#x27;", "'").replace("&amp;", "&")


# --- Refunds ---------------------------------------------------------------


@pytest.fixture
def three_guests():
    """A paid order: a VIP for Ana, Standing for Bea and Carl, 90.00 in all."""
    event = new_york_event(venue_capacity=10)
    vip = TicketTypeFactory(event=event, name="VIP", price="40.00", capacity=5)
    standing = TicketTypeFactory(
        event=event, name="Standing", price="25.00", capacity=5
    )
    order = place_order(
        event_id=event.id,
        quantities={vip.id: 1, standing.id: 2},
        customer_name="Ana O'Neil",
        customer_email="ana@example.com",
    )
    pay_simulated(order)
    order.refresh_from_db()
    return order, name_guests(order, "Ana O'Neil", "Bea Kim", "Carl Diaz")


def test_a_partial_refund_names_exactly_the_tickets_refunded(three_guests):
    """Each by type, guest and code, with the amount: not the tickets that
    still admit, and never a blank line."""
    order, tickets = three_guests
    by_guest = {t.guest_name: t for t in tickets}
    refunded = [by_guest["Ana O'Neil"], by_guest["Carl Diaz"]]
    kept = by_guest["Bea Kim"]

    refund_tickets(order_id=order.id, ticket_ids=[t.pk for t in refunded])

    email = build_email(OutboundMessage.objects.get(kind="tickets_refunded"))
    html = _text_of(_html(email))
    for ticket in refunded:
        line = (
            f"- {ticket.ticket_type.name} ({ticket.guest_name}), ticket {ticket.code}"
        )
        assert line in email.body
        assert (
            f"{ticket.ticket_type.name} ({ticket.guest_name}), ticket {ticket.code}"
            in html
        )
    assert kept.code not in email.body and kept.code not in html
    assert "- , ticket" not in email.body
    assert email.body.count("\n- ") == 2
    assert "We refunded $65.00 of your order" in email.body
    assert "$65.00" in email.subject and "$65.00" in html
    assert "Your 1 other ticket still admits as before" in email.body


def test_refunding_every_ticket_one_by_one_lists_them_all(three_guests):
    order, tickets = three_guests

    refund_tickets(order_id=order.id, ticket_ids=[t.pk for t in tickets])

    email = build_email(OutboundMessage.objects.get(kind="tickets_refunded"))
    for ticket in tickets:
        assert f"({ticket.guest_name}), ticket {ticket.code}" in email.body
        assert ticket.code in _html(email)
    assert "We refunded $90.00 of your order" in email.body
    assert "This order has no tickets left." in email.body
    assert "other ticket" not in email.body


def test_a_whole_order_refund_says_how_much_and_how_many_tickets(three_guests):
    order, _ = three_guests

    refund_order(order_id=order.id, reason="show moved")

    email = build_email(OutboundMessage.objects.get(kind="order_refunded"))
    expected = (
        f"Your order {order.code} for Rock & Roll at Jack's on Friday 11 December"
        " 2037, 20:00\xa0EST was refunded ($90.00)."
    )
    assert expected in email.body
    assert "Its 3 tickets will no longer be admitted." in email.body
    html = _text_of(_html(email))
    assert expected in html and "Reason: show moved." in html


def test_a_refund_queued_before_its_tickets_had_their_own_key_still_lists_them(
    three_guests,
):
    """A failed notice queued under the old key, resent from the console."""
    order, tickets = three_guests
    message = OutboundMessage.objects.create(
        channel=OutboundMessage.Channel.EMAIL,
        kind="tickets_refunded",
        to=order.customer_email,
        order=order,
        context={
            "amount": "25.00",
            "currency": "usd",
            "tickets": [{"code": "OLD1CODE", "type": "Standing", "guest": "Bea Kim"}],
            "tickets_left": 2,
        },
        next_attempt_at=timezone.now(),
    )
    body = build_email(message).body
    assert "- Standing (Bea Kim), ticket OLD1CODE" in body
    assert tickets[0].code not in body


# --- Waitlist offers -------------------------------------------------------


@pytest.fixture
def offer():
    """Wanda waits for 2 Seats at $25.00 of a New York show (Fri 11 Dec,
    20:00 EST, doors 19:00); two free up on Sun 6 Dec at 21:06 EST."""
    event = new_york_event(
        name="The Midnight Ramblers: Winter Tour",
        venue="Bowery Ballroom, 6 Delancey St",
        venue_capacity=2,
    )
    seat = TicketTypeFactory(event=event, name="Seat", price="25.00", capacity=2)
    first = make_paid_order(seat, 2)
    join_waitlist(
        event_id=event.id,
        ticket_type_id=seat.id,
        name="Wanda",
        email="wanda@example.com",
        phone="+12125550123",
        quantity=2,
    )
    refund_order(order_id=first.id)
    (entry,) = offer_freed_seats(event_id=event.id, now=NOW)
    return entry


def test_the_offer_email_gives_price_date_venue_and_deadline(offer):
    email = build_email(
        OutboundMessage.objects.get(kind="waitlist_offer", channel="email")
    )
    # The deadline is a time in the event's zone, not only "for 24 hours".
    deadline = "Mon 7 Dec, 21:06\xa0EST"
    assert email.subject == (
        "Tickets for The Midnight Ramblers: Winter Tour are held for you"
        " until Mon 7 Dec, 21:06 EST"
    )
    for part in (email.body, _text_of(_html(email))):
        assert "2 × Seat" in part
        assert "$25.00 each, $50.00 in all" in part
        assert "Friday 11 December 2037, 20:00\xa0EST, doors 19:00" in part
        assert "Bowery Ballroom, 6 Delancey St" in part
        assert f"for 24 hours, until {deadline}" in part
        assert f"Pay by {deadline}" in part
        assert "America/New_York" not in part
    assert email.body.count(f"/buy/o/{offer.offer_order.token}/pay/") == 1


def test_the_offer_text_fits_two_segments_and_says_what_the_email_says(offer):
    text = build_sms(OutboundMessage.objects.get(kind="waitlist_offer", channel="sms"))
    assert text == (
        "The Midnight Ramblers: Winter Tour, Fri 11 Dec, 20:00 EST,"
        " Bowery Ballroom, 6 Delancey St: 2 tickets held for you,"
        " $50.00 ($25.00 each). Pay by Mon 7 Dec, 21:06 EST:"
        f" http://127.0.0.1:8000/buy/o/{offer.offer_order.token}/pay/"
    )
    assert sms_segments(text) <= 2


def test_a_free_offer_says_it_is_free(offer):
    order = offer.offer_order
    order.lines.update(unit_price=0)
    type(order).objects.filter(pk=order.pk).update(total=0)
    email = build_email(
        OutboundMessage.objects.get(kind="waitlist_offer", channel="email")
    )
    assert "Price:   Free" in email.body
    text = build_sms(OutboundMessage.objects.get(kind="waitlist_offer", channel="sms"))
    assert "held for you. Pay by" in text and "$" not in text


# --- Staff invitations -----------------------------------------------------


@pytest.fixture
def alex():
    return make_staff(
        Role.OWNER,
        username="owner",
        email="alex@example.com",
        first_name="Alex",
        last_name="Rivera",
    )


def _invite(actor, role=Role.MANAGER, event_ids=()):
    invite_staff(
        actor=actor,
        email="new@example.com",
        role=role,
        phone="+12125550199",
        event_ids=event_ids,
        now=NOW,
    )
    email = build_email(OutboundMessage.objects.get(channel="email"))
    sms = build_sms(OutboundMessage.objects.get(channel="sms"))
    return email, sms


def test_an_invite_names_the_inviter_and_the_organisation(alex, settings):
    settings.ORGANISATION_NAME = "Blue Note Bar"
    email, sms = _invite(alex)
    assert email.subject == "Alex Rivera invited you to Blue Note Bar as a manager"
    html = _text_of(_html(email))
    for part in (email.body, html):
        assert "Alex Rivera (alex@example.com), the owner of Blue Note Bar" in part
        assert "As a manager you can create and edit events" in part
        assert "The link works once, until 14 December 2037, 02:06\xa0UTC." in part
        assert "Not expecting this? Ignore this email" in part
        assert "owner invited" not in part
    assert sms.startswith("Alex Rivera invited you to Blue Note Bar as a manager.")
    assert "by 14 December 2037, 02:06 UTC: http" in sms
    assert sms_segments(sms) <= 2


def test_an_invite_gives_the_expiry_in_the_sites_zone(alex, settings):
    settings.TIME_ZONE = "America/New_York"
    email, sms = _invite(alex)
    assert "until 13 December 2037, 21:06\xa0EST." in email.body
    assert "by 13 December 2037, 21:06 EST:" in sms


def test_an_inviter_without_a_name_is_not_shown_by_username(settings):
    """ "owner invited you" reads as phishing: the organisation speaks instead."""
    settings.ORGANISATION_NAME = "Nightpass"
    owner = make_staff(Role.OWNER, username="owner", email="boss@example.com")
    email, sms = _invite(owner, role=Role.DOOR)
    assert email.subject == "You're invited to Nightpass as door staff"
    assert "The owner of Nightpass invited you to join its staff as door staff." in (
        email.body
    )
    assert "As door staff you scan guests' tickets at the door" in email.body
    assert sms.startswith("You're invited to Nightpass as door staff.")
    assert "owner" not in email.subject + sms


def test_an_owner_invite_says_an_owner_can_do_everything(alex, settings):
    settings.ORGANISATION_NAME = "Nightpass"
    email, _ = _invite(alex, role=Role.OWNER)
    assert email.subject == "Alex Rivera invited you to Nightpass as an owner"
    assert "As an owner you can do everything in the staff console" in email.body


# --- Every HTML email ------------------------------------------------------


def _html_email_templates() -> list[Path]:
    """Every HTML email's own template (not the base or its partials)."""
    found = [
        *(TEMPLATES / "emails").glob("*.html"),
        *(TEMPLATES / "scanner" / "emails").glob("*.html"),
    ]
    return [p for p in found if p.name != "base.html" and not p.name.startswith("_")]


def test_every_html_email_extends_the_base():
    """The base carries the viewport and lang; one written without it would
    render 980px wide on a phone."""
    templates = _html_email_templates()
    assert len(templates) >= 8
    for path in templates:
        assert path.read_text().startswith('{% extends "emails/base.html" %}'), path


def test_every_html_email_fits_a_phone_and_says_its_language(client, mailoutbox):
    from tests.core.notify.samples import queue_every_kind

    rendered = {}
    for (channel, kind), message in queue_every_kind().items():
        if channel == "email":
            email = build_email(message)
            if email.alternatives:
                rendered[f"emails/{kind}.html"] = _html(email)
    make_staff(username="owner1", email="owner1@example.com")
    client.post("/scanner/password-reset/", {"email": "owner1@example.com"})
    rendered["scanner/emails/password_reset.html"] = _html(mailoutbox[0])

    templates = {str(p.relative_to(TEMPLATES)) for p in _html_email_templates()}
    # Every one of today's; one added since is held to the base by the test above.
    assert set(rendered) <= templates and len(rendered) >= 8
    for name, html in rendered.items():
        assert html.startswith('<!doctype html>\n<html lang="en">'), name
        assert (
            '<meta name="viewport" content="width=device-width, initial-scale=1">'
            in html
        ), name


def test_a_door_invite_for_chosen_events_names_them(alex):
    event = new_york_event()
    email, _sms = _invite(alex, role=Role.DOOR, event_ids=[event.pk])
    starts = event.local_starts_at()
    named = f"{event.name} ({starts:%a} {starts.day} {starts:%b})"
    for part in (email.body, _text_of(_html(email))):
        assert f"with your phone, for {named}." in part


def test_a_failed_payment_email_has_a_way_back_to_buy():
    from tests.core.notify.samples import queue_every_kind

    email = build_email(queue_every_kind()[("email", "payment_failed")])
    html = _html(email)
    event_url = re.search(r"buy tickets again at (\S+)", email.body).group(1)
    assert f'href="{event_url}"' in html and "Buy tickets again" in html
    assert "no tickets were issued" in _text_of(html)
