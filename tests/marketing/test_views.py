from datetime import timedelta

import pytest
from django.utils import timezone

from core.templatetags.zones import zone_abbreviation
from tests.factories import EventFactory, TicketTypeFactory, make_paid_order

pytestmark = pytest.mark.django_db


def test_event_list_shows_upcoming_active_events_with_from_price(client):
    event = EventFactory(name="Perreo Fridays", venue="Sala Apolo", currency="eur")
    TicketTypeFactory(event=event, price="50.00")
    TicketTypeFactory(event=event, price="25.00")
    EventFactory(name="Hidden Show", is_active=False)
    EventFactory(name="Last Year", starts_at=timezone.now() - timedelta(days=1))

    html = client.get("/").content.decode()
    assert "Perreo Fridays" in html and "Sala Apolo" in html
    assert "from €25.00" in html
    assert "Hidden Show" not in html and "Last Year" not in html


def test_sold_out_badge_comes_from_real_counts(client):
    event = EventFactory(name="Tiny Gig", venue_capacity=2)
    seat = TicketTypeFactory(event=event, capacity=2)
    html = client.get("/").content.decode()
    assert "data-sold-out-badge hidden" in html
    make_paid_order(seat, 2)
    html = client.get("/").content.decode()
    assert "is-sold-out" in html
    assert "data-sold-out-badge>Sold out" in html


def test_event_detail_shows_prices_and_buy_link(client):
    event = EventFactory(
        name="Jazz", description="Late set", time_zone="America/New_York"
    )
    TicketTypeFactory(event=event, name="Seat", price="40.00")
    html = client.get(f"/events/{event.slug}/").content.decode()
    assert "Late set" in html and "Seat" in html and "$40.00" in html
    assert f'href="/buy/events/{event.slug}/"' in html
    # The zone as customers know it (EST, EDT), not as the tz database names it.
    assert f">{zone_abbreviation(event.starts_at, 'America/New_York')}</abbr>" in html
    assert "America/New_York" not in html


def test_event_detail_of_inactive_or_unknown_event_is_404(client):
    event = EventFactory(is_active=False)
    assert client.get(f"/events/{event.slug}/").status_code == 404
    assert client.get("/events/nope/").status_code == 404


def test_event_time_is_shown_in_the_event_time_zone(client):
    starts = timezone.now().replace(microsecond=0) + timedelta(days=3)
    event = EventFactory(time_zone="Asia/Tokyo", starts_at=starts)
    local = timezone.localtime(starts, event.tz)
    html = client.get(f"/events/{event.slug}/").content.decode()
    assert local.strftime("%H:%M") in html


@pytest.mark.parametrize("path", ["/", "/buy/", "/scanner/login/"])
def test_every_site_names_its_icon_and_the_icon_is_served(client, path):
    import re

    from django.contrib.staticfiles import finders
    from django.templatetags.static import static

    page = client.get(path).content.decode()

    icon = re.search(r'<link rel="icon" href="([^"]+)" type="image/svg\+xml">', page)
    assert icon and icon.group(1) == static("img/favicon.svg")
    assert finders.find("img/favicon.svg")


def test_event_cards_give_the_time_with_its_zone(client):
    starts = timezone.now().replace(microsecond=0) + timedelta(days=3)
    event = EventFactory(time_zone="Asia/Tokyo", starts_at=starts)
    TicketTypeFactory(event=event)
    local = timezone.localtime(starts, event.tz)

    html = client.get("/").content.decode()

    assert f"{local:%H:%M}\u00a0JST" in html
