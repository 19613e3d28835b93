"""The event page's "Sales" line says what is true now: an event off sale is
not selling, whatever its sales window says."""

import re
from datetime import UTC, datetime, timedelta

import pytest
from django.utils import timezone

from tests.factories import EventFactory

pytestmark = pytest.mark.django_db


def sales_line(client, event) -> str:
    html = client.get(f"/scanner/events/{event.id}/").content.decode()
    found = re.search(r"<dt>Sales</dt><dd[^>]*>(.*?)</dd>", html, re.S)
    assert found, "no Sales line"
    return re.sub(r"\s+", " ", found.group(1))


def test_an_event_off_sale_is_not_said_to_be_selling(client, owner):
    client.force_login(owner)
    event = EventFactory(is_active=False)

    line = sales_line(client, event)

    assert line.startswith("Not selling: the event is off sale")
    assert "open" not in line.lower()


def test_an_event_off_sale_with_a_window_says_when_it_would_sell(client, owner):
    client.force_login(owner)
    starts = timezone.now() + timedelta(days=30)
    event = EventFactory(
        is_active=False,
        time_zone="UTC",
        starts_at=starts,
        sales_end_at=datetime(2099, 1, 2, 18, 0, tzinfo=UTC),
    )

    line = sales_line(client, event)

    assert line.startswith("Not selling")
    assert "Once on sale: until Fri 2 Jan · 18:00" in line


def test_an_event_on_sale_says_open_now_or_when_it_opens(client, owner):
    client.force_login(owner)
    now = timezone.now()
    selling = EventFactory(starts_at=now + timedelta(days=9))
    later = EventFactory(
        starts_at=now + timedelta(days=9), sales_start_at=now + timedelta(days=2)
    )
    over = EventFactory(starts_at=now - timedelta(days=1))

    assert sales_line(client, selling) == "Open now, until the event starts"
    assert sales_line(client, later).startswith("Not open yet: from ")
    assert sales_line(client, over) == "Closed: the event has started"
