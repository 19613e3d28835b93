"""Analytics pages: who may open them and what they show."""

import datetime as dt
import re
from decimal import Decimal

import pytest
from django.urls import reverse
from django.utils import timezone

from core.models import ScanLog
from scanner import analytics_views
from tests.analytics_data import buy
from tests.factories import EventFactory, TicketTypeFactory

pytestmark = pytest.mark.django_db

EVENT_URL_NAMES = [
    "scanner:analytics_event",
    "scanner:analytics_event_live",
    "scanner:analytics_export_orders",
    "scanner:analytics_export_guests",
    "scanner:analytics_export_scans",
]


def analytics_urls(event):
    return [reverse("scanner:analytics")] + [
        reverse(name, args=[event.id]) for name in EVENT_URL_NAMES
    ]


def test_every_analytics_view_declares_owner_and_manager_only():
    views = [
        analytics_views.overview,
        analytics_views.event_dashboard,
        analytics_views.event_live,
        analytics_views.export_orders,
        analytics_views.export_guests,
        analytics_views.export_scans,
    ]
    for view in views:
        assert set(view.allowed_roles) == {"owner", "manager"}, view.__name__


def test_door_staff_are_refused(client, door, empty_event):
    client.force_login(door)
    for url in analytics_urls(empty_event):
        assert client.get(url).status_code == 403, url


def test_anonymous_visitors_are_sent_to_sign_in(client, empty_event):
    for url in analytics_urls(empty_event):
        response = client.get(url)
        assert response.status_code == 302, url
        assert response["Location"].startswith(reverse("scanner:login")), url


@pytest.mark.parametrize("role", ["owner", "manager"])
def test_owner_and_manager_may_open_everything(client, request, role, empty_event):
    client.force_login(request.getfixturevalue(role))
    for url in analytics_urls(empty_event):
        assert client.get(url).status_code == 200, url


def test_unknown_event_is_404(client, owner):
    client.force_login(owner)
    missing = "00000000-0000-0000-0000-000000000000"
    for name in EVENT_URL_NAMES:
        assert client.get(reverse(name, args=[missing])).status_code == 404, name


def test_nav_links_analytics_for_managers_only(client, owner, door):
    client.force_login(owner)
    assert reverse("scanner:analytics") in client.get(reverse("scanner:home")).text
    client.force_login(door)
    assert reverse("scanner:analytics") not in client.get(reverse("scanner:home")).text


def text_of(html: str) -> str:
    """Page text with tags dropped and whitespace collapsed, for phrase checks."""
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html))


def test_overview_lists_upcoming_and_past_with_headline_figures(
    client, owner, night, empty_event
):
    soon = EventFactory(
        name="Next Week",
        currency="gbp",
        starts_at=timezone.now() + dt.timedelta(days=7),
    )
    TicketTypeFactory(event=soon, price=Decimal("12.50"), capacity=40)
    client.force_login(owner)

    html = client.get(reverse("scanner:analytics")).text

    upcoming, past = html.split('id="past-heading"')
    assert "Next Week" in upcoming and "Fixture Night" not in upcoming
    assert "Fixture Night" in past and "Empty Night" in past
    assert reverse("scanner:analytics_event", args=[night.event.id]) in past
    fixture_row = text_of(past.split("Fixture Night")[1].split("</tr>")[0])
    # Sold (paid for) with the free tickets beside it, places taken (both)
    # of capacity, revenue (and the money it is), held (hold lapsed long
    # ago), refunds, waiting tickets, attendance and no-shows.
    assert "10 + 2 free 12 / 90" in fixture_row
    assert "€250.00 €380.00 paid − €130.00 refunded" in fixture_row
    assert "€130.00 · 5 tickets" in fixture_row
    assert "33% · 8 no-shows" in fixture_row
    assert "0 / 40" in text_of(upcoming)


def test_event_page_shows_the_fixture_figures(client, manager, night):
    client.force_login(manager)

    response = client.get(reverse("scanner:analytics_event", args=[night.event.id]))

    html = response.text
    text = text_of(html)
    assert f'data-live-door="{night.event.id}"' in html
    assert (
        f'data-live-url="{reverse("scanner:analytics_event_live", args=[night.event.id])}"'
        in html
    )
    # Event times in the event's zone, with its short name (the zone as set
    # on the event in the tooltip).
    assert "Saturday 15 March 2025, 20:00 EDT" in text
    assert 'title="Time zone: America/New_York"' in html
    assert "amounts in EUR" in text
    # Sold is what was paid for, the free tickets beside it; capacity use
    # counts both, as the overview's row does.
    assert "Sold 10 + 2 free" in text
    assert "VIP €50.00 2 0 2 / 30" in text
    assert "Revenue €250.00 €380.00 paid − €130.00 refunded" in text
    assert "Capacity 12 / 90 sold and free · 13% full" in text
    assert "Refunded €130.00 5 tickets refunded" in text
    assert "Sent back automatically" not in text  # no extra payments
    assert "data-money-gap" not in html  # valid tickets are worth the revenue
    assert "Checked in 4 of 12 · 33%" in text
    # The event is long past: attendance and no-shows per type.
    assert "After the event" in text
    assert "No-shows 8 Early bird 2 · GA 5 · VIP 1" in text
    # Charts are inline SVG, with the daily numbers in the event's zone.
    assert 'id="chart-sales-day"' in html and 'id="chart-arrivals"' in html
    assert 'id="chart-sales-hour"' in html
    # Day, sold, since refunded or voided (C's VIP on 1 March), revenue.
    assert "Fri 28 Feb 2025 3 0 €60.00" in text
    assert "Sat 1 Mar 2025 3 1 €90.00" in text
    assert "Fri 14 Mar 2025 0 4 €0.00" in text
    assert "Sat 15 Mar, 18:00 EDT 2 0 €70.00" in text
    # Door: refusals, doors, staff, latest scan first in local time. B1's
    # admit at Side by Sam was undone: a scan, not "in" (scans, in, refused,
    # undone), so the doors' and the staff's "in" add up to the 4 checked in.
    assert "Already used 2" in text and "Total refused 5" in text
    assert "Main 5 2 3 0" in text and "Side 4 2 1 1" in text
    assert "Unnamed door 1 0 1 0" in text and "All doors 10 4 5 1" in text
    assert "Lena Park 5 2 3 0" in text and "Sam Okafor 4 2 1 1" in text
    assert "Door device (no sign-in) 1 0 1 0" in text
    assert "All staff 10 4 5 1" in text
    # The floor manager undid an admit and scanned nothing: in the last
    # scans, in no table.
    assert "Side · by floormanager" in text
    assert "floormanager" not in text.split("Refused, by reason")[1]
    assert "Side · by Sam Okafor" in text
    assert "no device label" not in text and "door2" not in text
    assert "Let in twice" not in text
    assert text.index("19:40:00 EDT") < text.index("19:31:00 EDT")
    # Waitlist.
    assert "Waiting 5 tickets, 2 people" in text
    assert "Conversion 40% of offers claimed" in text
    for name in (
        "analytics_export_orders",
        "analytics_export_guests",
        "analytics_export_scans",
    ):
        assert reverse(f"scanner:{name}", args=[night.event.id]) in html
    assert "js/analytics.js" in html


def test_event_page_with_no_sales(client, owner, empty_event):
    client.force_login(owner)

    text = text_of(
        client.get(reverse("scanner:analytics_event", args=[empty_event.id])).text
    )

    assert "No tickets sold yet." in text
    assert "No scans yet." in text
    assert "Revenue $0.00" in text
    assert "Checked in 0 of 0 · –" in text


def test_live_fragment_is_a_fragment_that_follows_new_scans(client, owner, night):
    client.force_login(owner)
    url = reverse("scanner:analytics_event_live", args=[night.event.id])

    first = client.get(url)
    assert first["Cache-Control"] == "no-store"
    assert "<html" not in first.text and "Last scans" in first.text
    assert "Balcony" not in first.text

    ScanLog.objects.create(
        event=night.event,
        result=ScanLog.Result.ALREADY_USED,
        device_label="Balcony",
        code_digest="2" * 64,
        at=timezone.now(),
    )
    second = text_of(client.get(url).text)

    assert "Balcony 1 0 1" in second
    assert "Total refused 6" in second


def test_a_guest_let_in_twice_offline_is_its_own_line_not_refused(client, owner, night):
    ScanLog.objects.create(
        event=night.event,
        ticket=night.orders.a.tickets.order_by("code").first(),
        result=ScanLog.Result.OFFLINE_CONFLICT,
        staff=night.staff.door2,
        device_label="Side",
        code_digest="5" * 64,
        offline=True,
        at=night.event.starts_at,
    )
    client.force_login(owner)

    html = client.get(
        reverse("scanner:analytics_event_live", args=[night.event.id])
    ).text
    text = text_of(html)

    assert "Total refused 5" in text
    assert "Let in twice (offline) 1" in text and "data-let-in-twice" in html
    # Last scans names it in the same words as the tally (and the scan log CSV).
    assert "Admitted offline at two doors" not in text
    assert text.count("Let in twice (offline)") == 2
    # Scans, in, refused, undone, let in twice.
    assert "Side 5 2 1 1 1" in text and "Sam Okafor 5 2 1 1 1" in text
    assert "All doors 11 4 5 1 1" in text


def test_upcoming_event_shows_no_attendance_section_yet(client, owner):
    event = EventFactory(starts_at=timezone.now() + dt.timedelta(days=3))
    ga = TicketTypeFactory(event=event, price=Decimal("10.00"))
    buy({ga: 2}, timezone.now())
    client.force_login(owner)

    text = text_of(client.get(reverse("scanner:analytics_event", args=[event.id])).text)

    assert "Sold 2" in text
    assert "After the event" not in text and "Attendance so far" not in text


def test_dashboard_queries_do_not_grow_with_the_event(client, owner, night):
    """More tickets, types, doors and staff: the same number of queries."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from tests.factories import make_staff

    client.force_login(owner)
    url = reverse("scanner:analytics_event", args=[night.event.id])

    def count_queries() -> int:
        with CaptureQueriesContext(connection) as queries:
            assert client.get(url).status_code == 200
        return len(queries)

    before = count_queries()
    extra = TicketTypeFactory(event=night.event, name="Late", capacity=20)
    order = buy({extra: 5}, night.event.starts_at - dt.timedelta(hours=2))
    for i, ticket in enumerate(order.tickets.all()):
        ScanLog.objects.create(
            event=night.event,
            ticket=ticket,
            result=ScanLog.Result.ALREADY_USED,
            staff=make_staff("door", username=f"extra-door-{i}"),
            device_label=f"Gate {i}",
            code_digest="4" * 64,
            at=night.event.starts_at,
        )

    assert count_queries() == before
    assert before <= 25


def test_live_fragment_carries_sales_over_time_so_the_chart_follows_sold(client, owner):
    event = EventFactory(starts_at=timezone.now() + dt.timedelta(days=3))
    ga = TicketTypeFactory(event=event, price=Decimal("10.00"), capacity=50)
    buy({ga: 4}, timezone.now())
    client.force_login(owner)
    url = reverse("scanner:analytics_event_live", args=[event.id])

    first = client.get(url).text
    assert 'id="chart-sales-day"' in first and "data-sales-over-time" in first
    buy({ga: 2}, timezone.now())
    second = text_of(client.get(url).text)

    assert "Sold 6" in second
    assert "Numbers per day" in second and " 6 $60.00" in second
    page = client.get(reverse("scanner:analytics_event", args=[event.id])).text
    assert page.count('id="chart-sales-day"') == 1  # once, inside the live part


def test_waitlist_card_says_one_ticket_one_person(client, owner):
    from core.models import WaitlistEntry

    event = EventFactory(starts_at=timezone.now() + dt.timedelta(days=3))
    TicketTypeFactory(event=event)
    WaitlistEntry.objects.create(
        event=event, name="Ann", email="ann@example.com", quantity=1
    )
    client.force_login(owner)

    text = text_of(client.get(reverse("scanner:analytics_event", args=[event.id])).text)

    assert "Waiting 1 ticket, 1 person" in text
