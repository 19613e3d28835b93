"""Before its sales open, the listing and the event page say when they open."""

from datetime import timedelta

import pytest
from django.utils import timezone

from tests.factories import EventFactory, TicketTypeFactory
from tests.purchase.test_sales_not_open import on_sale_from

pytestmark = pytest.mark.django_db


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


def test_the_card_says_when_sales_open_instead_of_a_price(client, upcoming):
    html = client.get("/").content.decode()
    assert on_sale_from(upcoming.sales_start_at, "Europe/London") in html
    assert "from £12.00" not in html


def test_the_event_page_says_when_sales_open_instead_of_buy_tickets(client, upcoming):
    html = client.get(f"/events/{upcoming.slug}/").content.decode()
    assert on_sale_from(upcoming.sales_start_at, "Europe/London") in html
    assert ">Buy tickets<" not in html.split("</nav>", 1)[1]
    # The tickets and their prices can still be looked at.
    assert f'href="/buy/events/{upcoming.slug}/"' in html


def test_once_sales_open_the_pages_sell_again(client, upcoming):
    upcoming.sales_start_at = timezone.now() - timedelta(minutes=1)
    upcoming.save(update_fields=["sales_start_at"])
    assert "from £12.00" in client.get("/").content.decode()
    html = client.get(f"/events/{upcoming.slug}/").content.decode()
    assert ">Buy tickets<" in html.split("</nav>", 1)[1]
    assert "On sale from" not in html
