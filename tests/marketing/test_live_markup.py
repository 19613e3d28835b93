"""Pages opt in to live updates with the data attributes live.js reads."""

import pytest
from django.contrib.staticfiles import finders
from django.test import override_settings

from tests.factories import EventFactory, TicketTypeFactory

pytestmark = pytest.mark.django_db

HOSTS = {
    "MARKETING_HOST": "www.example.com",
    "PURCHASE_HOST": "tickets.example.com",
    "SCANNER_HOST": "door.example.com",
    "ALLOWED_HOSTS": ["www.example.com", "tickets.example.com", "door.example.com"],
    "SITE_SCHEME": "https",
    "CORS_ALLOWED_ORIGINS": ["https://www.example.com"],
}


def test_every_page_loads_live_js(client):
    html = client.get("/").content.decode()
    assert '<script src="/static/js/live.js" defer></script>' in html
    assert "data-live-indicator" in html
    assert finders.find("js/live.js")


@pytest.mark.parametrize("path", ["/", "/buy/"])
def test_event_lists_follow_the_public_feed(client, path):
    EventFactory()
    assert "data-event-list data-live-list" in client.get(path).content.decode()


def test_event_pages_follow_their_availability(client):
    seat = TicketTypeFactory()
    event = seat.event
    expected = (
        f'data-live-event="{event.id}" '
        f'data-availability-url="/api/v1/events/{event.slug}/availability"'
    )
    for path in (f"/events/{event.slug}/", f"/buy/events/{event.slug}/"):
        html = client.get(path).content.decode()
        assert expected in html, path
        assert f'data-ticket-type="{seat.id}"' in html


def test_the_detail_page_renders_both_states_for_live_switching(client):
    seat = TicketTypeFactory()
    html = client.get(f"/events/{seat.event.slug}/").content.decode()
    assert 'data-buy-link data-when-available href="/buy/events/' in html
    assert "data-when-sold-out" in html and "Join the waitlist" in html
    assert "data-when-unavailable hidden" in html


@override_settings(**HOSTS)
def test_the_marketing_host_reads_availability_from_the_purchase_host(client):
    event = TicketTypeFactory().event
    html = client.get(
        f"/events/{event.slug}/", HTTP_HOST="www.example.com"
    ).content.decode()
    url = f"https://tickets.example.com/api/v1/events/{event.slug}/availability"
    assert f'data-availability-url="{url}"' in html

    response = client.get(
        f"/api/v1/events/{event.slug}/availability",
        HTTP_HOST="tickets.example.com",
        HTTP_ORIGIN="https://www.example.com",
    )
    assert response["Access-Control-Allow-Origin"] == "https://www.example.com"
