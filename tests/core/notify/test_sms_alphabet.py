"""Every text in GSM-7 and within its two segments, whatever was typed: a
reason typed on a phone (curly quotes, dashes, an ellipsis), an event named with an em dash or an
accent GSM-7 lacks. One character outside GSM-7 makes the whole text UCS-2,
70 characters a segment instead of 160: two or three times the texts billed.
Rendered from the real templates, as the services queue them."""

import re
from decimal import Decimal

import pytest
from django.conf import settings as django_settings

from core.models import Event, Order, OutboundMessage, Role
from core.notify.rendering import build_sms
from core.services.event_cancellation import cancel_event
from tests.core.notify.samples import new_york_event, queue_every_kind
from tests.core.notify.test_message_content import (
    GSM_BASIC,
    GSM_EXTENDED,
    sms_segments,
)
from tests.factories import TicketTypeFactory, make_paid_order, make_staff

pytestmark = pytest.mark.django_db

PHONE_REASON = (
    "The headliner’s flight was cancelled — we’re “devastated”… "
    "Refunds are automatic\u00a0– sorry!"
)
LONG_REASON = " ".join(
    ["Storm warning: the city closed every open-air venue tonight,"]
    + ["so the show cannot go ahead as planned for anyone"] * 6
)[:300]


def _is_gsm7(text: str) -> bool:
    return all(c in GSM_BASIC or c in GSM_EXTENDED for c in text)


def _cancellation_text(owner, *, name: str, reason: str) -> tuple[str, Order]:
    event = new_york_event(name=name, currency="eur")
    order = make_paid_order(TicketTypeFactory(event=event, price=Decimal("25.00")))
    Order.objects.filter(pk=order.pk).update(customer_phone="+12125550123")
    cancel_event(actor=owner, event_id=event.id, reason=reason)
    message = OutboundMessage.objects.get(kind="event_cancelled", channel="sms")
    return build_sms(message), order


def test_a_reason_typed_on_a_phone_is_spelled_in_gsm7(owner):
    text, order = _cancellation_text(
        owner, name="Perreo Fridays — Winter Edition", reason=PHONE_REASON
    )

    assert _is_gsm7(text), text
    assert text.startswith(
        "Perreo Fridays - Winter Edition on Fri 11 Dec is cancelled: The"
        " headliner's flight"
        ' was cancelled - we\'re "devastated"... Refunds are automatic - sorry!'
        " Your €25.00 is being refunded"
    )
    assert "!." not in text
    assert text.endswith(f"/buy/o/{order.token}/")
    assert sms_segments(text) <= 2


def test_a_long_reason_is_cut_at_a_word_with_no_ellipsis_and_one_full_stop(owner):
    name = "The Midnight Ramblers – Winter Tour with Very Special Guests"
    text, order = _cancellation_text(owner, name=name, reason=LONG_REASON)

    assert _is_gsm7(text), text
    assert sms_segments(text) <= 2
    assert "…" not in text and ".." not in text
    said = re.search(r"is cancelled: (.*?) Your €25\.00 is being refunded", text)
    assert said, text
    reason = said.group(1)
    assert reason.endswith(".") and not reason.endswith(",.")
    # Cut between words of what was typed, never inside one.
    assert LONG_REASON.startswith(reason[:-1])
    assert LONG_REASON[len(reason) - 1] == " "
    assert text.endswith(f"/buy/o/{order.token}/")
    assert "(usually 5-10 days)" in text


def test_a_short_reason_ending_in_a_full_stop_keeps_just_one(owner):
    text, _ = _cancellation_text(owner, name="Short Night", reason="Artist ill.")
    assert text.startswith("Short Night on Fri 11 Dec is cancelled: Artist ill. Your")


def test_letters_gsm7_lacks_lose_their_accents_and_those_it_has_keep_them():
    from core.notify.gsm import gsm7

    assert gsm7("Rosalía, Ángel & Çoşkun at Café Müller") == (
        "Rosalia, Angel & Çoskun at Café Müller"
    )
    assert gsm7("Łódź · Ærøskøbing · Œuvre") == "Lodz - Ærøskøbing - OEuvre"
    assert gsm7("2 × VIP\u00a0→ 21:00\u202fCET 🔥") == "2 x VIP -> 21:00 CET "
    assert gsm7("‘a’ “b” „c“ «d» – — ― … ") == '\'a\' "b" "c" "d" - - - ... '
    assert gsm7("€5 {ok} [x] ~ ^ | \\") == "€5 {ok} [x] ~ ^ | \\"


def test_every_text_stays_gsm7_and_within_two_segments_with_long_typed_names(
    settings,
):
    """Names as long as their fields take, typed with curly quotes, dashes
    and accents: the typed parts are shortened, the link never."""
    settings.PUBLIC_BASE_URL = "https://tickets.example-venue-company.com"
    settings.ORGANISATION_NAME = "Jack’s “Blue Note” Bar — Rosalía’s Cabaret Club"
    messages = queue_every_kind()
    event = Event.objects.get(slug="rock-and-roll")
    Event.objects.filter(pk=event.pk).update(
        name=("Noche Latina — Rosalía y Camilo “En Vivo” " * 6)[:200],
        venue=("Sala Apolo · Nou de la Rambla 113, Barcelona – " * 6)[:200],
    )
    make_staff(Role.OWNER)  # the inviter stays as queued
    texts = [m for (channel, _), m in messages.items() if channel == "sms"]
    assert {m.kind for m in texts} >= {"waitlist_offer", "staff_invite"}
    for message in texts:
        text = build_sms(message)
        assert _is_gsm7(text), (message.kind, text)
        assert sms_segments(text) <= 2, (message.kind, len(text), text)
        link = re.search(r"https://tickets\.example-venue-company\.com/\S+", text)
        assert link and link.group(0).endswith("/"), text  # whole
        assert "…" not in text and ".." not in text.replace("...", "")


def test_the_templates_say_so():
    for path in (django_settings.BASE_DIR / "templates" / "sms").glob("*.txt"):
        assert "truncatechars" not in path.read_text(), path
