"""What buyers are shown about their phone number and their seats' hold."""

import re
from datetime import timedelta

import pytest
from django.utils import timezone

from core.models import Order
from core.services.checkout import place_order
from tests.factories import EventFactory, TicketTypeFactory

pytestmark = pytest.mark.django_db


def _event(zone: str, **fields):
    event = EventFactory(time_zone=zone, **fields)
    ticket_type = TicketTypeFactory(event=event, name="GA")
    return event, ticket_type


def _pending_order(ticket_type, **fields) -> Order:
    return place_order(
        event_id=ticket_type.event_id,
        quantities={ticket_type.id: 1},
        customer_name="Ana",
        customer_email="ana@example.com",
        **fields,
    )


@pytest.mark.parametrize(
    ("zone", "example"),
    [
        ("Europe/Madrid", "+34 612 34 56 78"),
        ("America/New_York", "+1 201-555-0123"),
        ("Europe/London", "+44 7400 123456"),
    ],
)
def test_the_phone_hint_shows_a_number_of_the_event_country(
    client, settings, zone, example
):
    settings.TWILIO_ACCOUNT_SID = "AC00000000000000000000000000000000"
    settings.TWILIO_AUTH_TOKEN = "token"
    settings.TWILIO_FROM_NUMBER = "+15005550006"
    example = example.replace(" ", "\xa0")  # kept on one line
    event, _ = _event(zone)
    html = client.get(f"/buy/events/{event.slug}/").content.decode()
    help_text = re.search(r'<p class="help" id="phone-help"[^>]*>(.*?)</p>', html)
    assert help_text and example in help_text.group(1)
    assert f'placeholder="{example}"' in html
    # The waitlist form's phone too.
    assert f"For a text message too. For example {example}." in html


def test_a_bad_phone_is_refused_next_to_the_field_with_the_example(client):
    event, ga = _event("Europe/Madrid")
    response = client.post(
        f"/buy/events/{event.slug}/",
        {"name": "Ana", "email": "ana@example.com", "phone": "612", f"qty_{ga.id}": 1},
    )
    html = response.content.decode()
    assert response.status_code == 400
    assert 'id="phone-error"' in html and 'aria-invalid="true"' in html
    assert (
        "That is not a valid phone number. "
        "Enter a mobile number, e.g. +34\xa0612\xa034\xa056\xa078." in html
    )
    assert not Order.objects.exists()


def test_a_national_number_is_kept_for_the_event_country(client):
    event, ga = _event("Europe/Madrid")
    client.post(
        f"/buy/events/{event.slug}/",
        {
            "name": "Ana",
            "email": "ana@example.com",
            "phone": "612 345 678",
            f"qty_{ga.id}": 1,
        },
    )
    assert Order.objects.get().customer_phone == "+34612345678"


def test_the_event_pages_name_the_zone_as_customers_know_it(client):
    event, _ = _event(
        "America/New_York",
        venue="Blue Note",
        starts_at=timezone.now().replace(month=1, day=15) + timedelta(days=365),
        doors_at=timezone.now().replace(month=1, day=15)
        + timedelta(days=365, hours=-1),
    )
    for url in (f"/buy/events/{event.slug}/", f"/events/{event.slug}/"):
        html = client.get(url).content.decode()
        assert "America/New_York" not in html and "AMERICA" not in html
        assert '<abbr class="zone" title="Local time at Blue Note">EST</abbr>' in html


def test_a_zone_with_only_a_numeric_abbreviation_shows_as_gmt_offset(client):
    event, _ = _event("Europe/Istanbul")
    html = client.get(f"/buy/events/{event.slug}/").content.decode()
    assert ">GMT+3</abbr>" in html and "Europe/Istanbul" not in html


def test_the_payment_page_counts_down_the_hold_from_its_end_time(client):
    event, ga = _event("Europe/Madrid", venue="Sala Apolo")
    order = _pending_order(ga)
    html = client.get(f"/buy/o/{order.token}/test-payment/").content.decode()
    expires = order.hold_expires_at
    assert f'data-expires-at="{int(expires.timestamp())}"' in html
    assert re.search(r'data-server-now="\d{10}"', html)
    local = timezone.localtime(expires, event.tz)
    abbreviation = local.tzname()  # CET or CEST
    # Without script, the end time reads on its own.
    assert (
        f'<time datetime="{expires.isoformat()}">{local:%H:%M}&nbsp;'
        f'<abbr class="zone" title="Local time at Sala Apolo">{abbreviation}</abbr></time>'
    ) in html
    assert "Your tickets are held" in html
    assert re.search(r"<p data-hold-lapsed hidden>", html)
    assert "js/hold-countdown.js" in html


def test_a_lapsed_hold_says_so_and_what_to_do(client):
    event, ga = _event("Europe/Madrid")
    order = _pending_order(ga, now=timezone.now() - timedelta(hours=1))
    assert order.status == Order.Status.PENDING  # the worker has not swept it
    html = client.get(f"/buy/o/{order.token}/test-payment/").content.decode()
    assert "<p data-hold-left hidden>" in html
    lapsed = re.search(r"<p data-hold-lapsed>(.*?)</p>", html).group(1)
    assert "Your hold has ended" in lapsed
    assert f'href="/buy/events/{event.slug}/">Choose your tickets again' in lapsed


@pytest.mark.parametrize("page", ["o/{token}/", "o/{token}/pay/"])
def test_every_page_shown_while_seats_are_held_counts_down(client, page):
    _, ga = _event("Europe/Madrid")
    order = _pending_order(ga)
    html = client.get("/buy/" + page.format(token=order.token)).content.decode()
    assert "data-hold-countdown" in html and "js/hold-countdown.js" in html
    assert "Europe/Madrid" not in html
