"""Before its sales open an event's pages say when they open, and the buy
page asks for nothing it cannot use yet."""

import re
import zoneinfo
from datetime import timedelta

import pytest
from django.utils import dateformat, timezone

from core.queries.availability import get_event_availability
from core.templatetags.zones import zone_abbreviation
from tests.factories import EventFactory, TicketTypeFactory

pytestmark = pytest.mark.django_db


def on_sale_from(moment, zone: str) -> str:
    """ "On sale from Fri 5 Jun, 10:00 BST", as the pages say it."""
    local = timezone.localtime(moment, zoneinfo.ZoneInfo(zone))
    when = dateformat.format(local, "D j M, H:i")
    return f"On sale from {when}\u00a0{zone_abbreviation(local)}"


@pytest.fixture
def upcoming():
    opens = timezone.now().replace(second=0, microsecond=0) + timedelta(days=2)
    event = EventFactory(
        name="Early Bird",
        currency="gbp",
        time_zone="Europe/London",
        sales_start_at=opens,
    )
    TicketTypeFactory(event=event, name="GA", price="12.00")
    return event


def buy_details(html: str) -> str:
    """The buy form's part after the tickets: total, contact fields, button."""
    start = html.index("data-buy-details")
    return html[html.rindex("<", 0, start) : html.index("</form>")]


def test_the_buy_page_says_when_sales_open_and_asks_for_no_details(client, upcoming):
    html = client.get(f"/buy/events/{upcoming.slug}/").content.decode()
    assert on_sale_from(upcoming.sales_start_at, "Europe/London") in html
    details = buy_details(html)
    # Contact fields, the hold note and the button wait for sales to open.
    assert re.match(r"<div[^>]*data-buy-details[^>]*\bhidden\b", details)
    assert 'name="email"' in details and "held for" in details
    assert "Not on sale yet" in html


def test_the_buy_page_opens_when_sales_do(client, upcoming):
    upcoming.sales_start_at = timezone.now() - timedelta(minutes=1)
    upcoming.save(update_fields=["sales_start_at"])
    html = client.get(f"/buy/events/{upcoming.slug}/").content.decode()
    assert "On sale from" not in html
    assert not re.match(r"<div[^>]*data-buy-details[^>]*\bhidden\b", buy_details(html))


def test_a_type_whose_own_sales_open_later_says_when(client):
    event = EventFactory(time_zone="America/New_York")
    TicketTypeFactory(event=event, name="GA")
    opens = timezone.now().replace(second=0, microsecond=0) + timedelta(days=1)
    late = TicketTypeFactory(event=event, name="Late Release", sales_start_at=opens)
    html = client.get(f"/buy/events/{event.slug}/").content.decode()
    row = html[html.index(f'data-ticket-type="{late.id}"') :]
    row = row[: row.index("</select>")]
    assert on_sale_from(opens, "America/New_York") in row
    # And live updates keep saying it (live.js reads data-not-on-sale-text).
    assert f'data-not-on-sale-text="{on_sale_from(opens, "America/New_York")}"' in row
    # The event itself is on sale: no event-wide notice, details shown.
    assert not re.match(r"<div[^>]*data-buy-details[^>]*\bhidden\b", buy_details(html))


def test_availability_knows_when_sales_open(upcoming):
    before = get_event_availability(upcoming)
    assert before.opens_at == upcoming.sales_start_at
    assert before.types[0].opens_at == upcoming.sales_start_at
    after = get_event_availability(
        upcoming, now=upcoming.sales_start_at + timedelta(seconds=1)
    )
    assert after.opens_at is None and after.types[0].opens_at is None
    # The buy page's shell is keyed on it.
    assert after.shown_fingerprint != before.shown_fingerprint
