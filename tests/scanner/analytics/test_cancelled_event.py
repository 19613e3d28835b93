"""Analytics of a cancelled event says it is cancelled, and the sales
history counts every sale: those refunded since (a cancelled event's), and
those older than the days the chart draws."""

import datetime as dt
import re
from decimal import Decimal

import pytest
from django.urls import reverse
from django.utils import timezone

from core.queries import analytics
from core.services.event_cancellation import cancel_event, settle_cancelled_events
from tests.analytics_data import buy
from tests.factories import EventFactory, TicketTypeFactory

pytestmark = pytest.mark.django_db


def text_of(html: str) -> str:
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html)).replace("\xa0", " ")


@pytest.fixture
def cancelled(owner):
    event = EventFactory(
        name="Called Off",
        currency="eur",
        venue_capacity=250,
        starts_at=timezone.now() + dt.timedelta(days=20),
    )
    ga = TicketTypeFactory(event=event, price=Decimal("10.00"), capacity=250)
    bought = timezone.now() - dt.timedelta(days=2)
    buy({ga: 4}, bought, email="a@example.com")
    buy({ga: 3}, bought + dt.timedelta(hours=1), email="b@example.com")
    cancel_event(actor=owner, event_id=event.id, reason="The band split up")
    settle_cancelled_events()
    event.refresh_from_db()
    return event


def test_sales_over_time_keep_what_was_sold_before_the_refunds(cancelled):
    days = analytics.sales_over_time(cancelled).days

    assert sum(day.tickets for day in days) == 0  # none still valid
    assert sum(day.voided for day in days) == 7
    figures = analytics.event_sales(cancelled).figures
    assert figures.cancelled and figures.remaining == 0


def test_the_event_page_says_cancelled_and_shows_the_sales(client, owner, cancelled):
    client.force_login(owner)

    page = text_of(
        client.get(reverse("scanner:analytics_event", args=[cancelled.id])).text
    )

    assert "inactive" not in page
    assert "Cancelled" in page and "The band split up" in page
    assert "No tickets sold yet" not in page
    assert "250 left" not in page
    assert "7 refunded or voided since" in page
    overview = text_of(client.get(reverse("scanner:analytics")).text)
    assert "Called Off (cancelled)" in overview and "(inactive)" not in overview


def test_sales_older_than_the_days_shown_are_said_not_hidden(client, owner):
    """The per-day chart shows the last MAX_DAYS days of sales; what sold
    before is counted, and said, not dropped in silence."""
    event = EventFactory(
        currency="eur", starts_at=timezone.now() + dt.timedelta(days=5)
    )
    ga = TicketTypeFactory(
        event=event, price=Decimal("10.00"), capacity=100, max_per_order=20
    )
    now = timezone.now()
    buy({ga: 2}, now - dt.timedelta(days=analytics.MAX_DAYS + 30), email="o@x.com")
    buy({ga: 17}, now - dt.timedelta(days=1), email="n@x.com")

    over_time = analytics.sales_over_time(event)

    assert len(over_time.days) == analytics.MAX_DAYS
    assert sum(day.tickets for day in over_time.days) == 17
    assert over_time.earlier.tickets == 2
    assert over_time.earlier.revenue == Decimal("20.00")
    first = over_time.days[0].start
    client.force_login(owner)
    page = text_of(client.get(reverse("scanner:analytics_event", args=[event.id])).text)
    before = f"before {first.day} {first:%b}"
    assert "Sold 19" in page
    assert f"2 tickets sold {before} are not shown in the chart" in page
    assert f"17 in total; 2 more sold {before}, not shown" in page
