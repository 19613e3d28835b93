"""Console times: one rule, each time with its zone's short name.

What belongs to an event (its start, doors and sales, its orders, payments,
scans, waitlist and change log) is shown in the event's time zone; what does
not (staff changes, messages with no event), and a list across events (the
orders of every event, newest first, which must read in order), in the
site's TIME_ZONE. Either way the zone's short name follows ("20:49 EST").
"""

import re
from datetime import UTC, datetime, timedelta

import pytest

from core.models import AuditLogEntry, Event, Order, OutboundMessage
from tests.factories import EventFactory, TicketTypeFactory, make_paid_order

pytestmark = pytest.mark.django_db

NBSP = "\u00a0"
# 01:52 UTC on 7 December: 02:52 in Madrid, 20:52 the day before in New York.
MOMENT = datetime(2025, 12, 7, 1, 52, tzinfo=UTC)


def text_of(html: str) -> str:
    """Page text with tags dropped and whitespace collapsed (no-break spaces too)."""
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html))


@pytest.fixture
def owner_client(client, owner):
    client.force_login(owner)
    return client


def _log(action: str, *, event: Event | None = None, at=MOMENT) -> AuditLogEntry:
    entry = AuditLogEntry.objects.create(
        event=event,
        action=action,
        object_type="event" if event else "staff",
        object_id=str(event.pk) if event else "1",
        object_repr=event.name if event else "Sam Door",
    )
    AuditLogEntry.objects.filter(pk=entry.pk).update(at=at)
    return entry


@pytest.mark.parametrize(
    ("site_zone", "shown"),
    [
        ("UTC", "Sun 7 Dec 2025, 01:52 UTC"),
        ("Europe/Madrid", "Sun 7 Dec 2025, 02:52 CET"),
    ],
)
def test_staff_changes_are_in_the_sites_time_zone_with_its_name(
    owner_client, settings, site_zone, shown
):
    settings.TIME_ZONE = site_zone
    _log("staff.invited")

    html = owner_client.get("/scanner/staff/").content.decode()

    assert shown in text_of(html)
    # Never the zone alone on the next line of a narrow phone.
    assert f"{shown[-9:-4]}{NBSP}{shown[-3:]}" in html


def test_an_events_change_log_is_in_its_time_zone_with_its_name(owner_client, settings):
    settings.TIME_ZONE = "UTC"
    event = EventFactory(time_zone="Europe/Madrid")
    _log("event.updated", event=event)

    for url in (f"/scanner/events/{event.id}/changes/", f"/scanner/events/{event.id}/"):
        text = text_of(owner_client.get(url).content.decode())
        assert "Sun 7 Dec 2025, 02:52 CET" in text, url
        assert "01:52" not in text, url


def test_a_changed_start_is_described_with_the_zones_name(owner_client):
    event = EventFactory(
        time_zone="America/New_York",
        starts_at=datetime(2026, 1, 10, 3, 0, tzinfo=UTC),  # 22:00 EST on the 9th
    )
    AuditLogEntry.objects.create(
        event=event,
        action="event.updated",
        object_type="event",
        object_id=str(event.pk),
        object_repr=event.name,
        before={"starts_at": "2026-01-10T03:00:00+00:00"},
        after={"starts_at": "2026-07-10T02:00:00+00:00"},
    )

    text = text_of(
        owner_client.get(f"/scanner/events/{event.id}/changes/").content.decode()
    )

    assert "Fri 09 Jan 2026, 22:00 EST → Thu 09 Jul 2026, 22:00 EDT" in text


def test_orders_of_every_event_are_in_the_sites_zone_so_they_read_in_order(
    owner_client, settings
):
    settings.TIME_ZONE = "Europe/Madrid"
    new_york = TicketTypeFactory(event=EventFactory(time_zone="America/New_York"))
    lisbon = TicketTypeFactory(event=EventFactory(time_zone="Europe/Lisbon"))
    earlier = make_paid_order(new_york)
    later = make_paid_order(lisbon)
    Order.objects.filter(pk=earlier.pk).update(created_at=MOMENT)
    Order.objects.filter(pk=later.pk).update(created_at=MOMENT + timedelta(hours=1))

    text = text_of(owner_client.get("/scanner/orders/").content.decode())

    # Newest first, one zone: 03:52 then 02:52, not "02:52 WET" above "20:52 EST".
    assert text.index("7 Dec · 03:52 CET") < text.index("7 Dec · 02:52 CET")
    assert "EST" not in text and "WET" not in text


def test_orders_of_one_event_are_in_its_time_zone_with_its_name(owner_client, settings):
    settings.TIME_ZONE = "UTC"
    new_york = TicketTypeFactory(event=EventFactory(time_zone="America/New_York"))
    placed_in_new_york = make_paid_order(new_york)
    Order.objects.filter(pk=placed_in_new_york.pk).update(created_at=MOMENT)

    text = text_of(
        owner_client.get(
            "/scanner/orders/", {"event": str(new_york.event_id)}
        ).content.decode()
    )

    assert "6 Dec · 20:52 EST" in text
    detail = text_of(
        owner_client.get(f"/scanner/orders/{placed_in_new_york.id}/").content.decode()
    )
    assert "Placed Sat 6 Dec · 20:52 EST" in detail


def test_the_event_page_names_the_zone_of_its_start_doors_and_sales(owner_client):
    event = EventFactory(
        time_zone="Europe/Madrid",
        starts_at=datetime(2026, 7, 11, 20, 0, tzinfo=UTC),
        doors_at=datetime(2026, 7, 11, 19, 0, tzinfo=UTC),
        sales_start_at=datetime(2026, 1, 15, 9, 0, tzinfo=UTC),
    )

    html = owner_client.get(f"/scanner/events/{event.id}/").content.decode()
    text = text_of(html)

    assert "Saturday 11 July 2026 · 22:00 CEST" in text
    assert "Doors open Sat 11 Jul · 21:00 CEST" in text
    assert "from Thu 15 Jan · 10:00 CET" in text
    # The zone's full name stays at hand, in the date's tooltip.
    assert 'title="Time zone: Europe/Madrid"' in html


def test_a_retry_of_a_message_with_no_event_is_in_the_sites_zone(
    owner_client, settings
):
    settings.TIME_ZONE = "America/New_York"
    OutboundMessage.objects.create(
        channel="email",
        kind="test",
        to="someone@example.com",
        status=OutboundMessage.Status.QUEUED,
        attempts=1,
        next_attempt_at=MOMENT + timedelta(days=365),
    )

    text = text_of(owner_client.get("/scanner/messages/").content.decode())

    assert "Retrying 20:52 EST" in text
