"""Every analytics figure against the hand-computed fixture in conftest.py."""

import datetime as dt
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest

from core.models import Order, ScanLog
from core.queries import analytics
from tests.analytics_data import NOW, buy, utc
from tests.factories import EventFactory, TicketTypeFactory

pytestmark = pytest.mark.django_db

NEW_YORK = ZoneInfo("America/New_York")
MADRID = ZoneInfo("Europe/Madrid")


def by_name(types):
    return {t.name: t for t in types}


def test_event_sales_per_ticket_type(night):
    types = by_name(analytics.event_sales(night.event, now=NOW).types)

    assert list(types) == ["Early bird", "GA", "VIP"]
    ga, vip, early = types["GA"], types["VIP"], types["Early bird"]
    # GA: A3 + B2 + D1 sold, 2 comps; E's 4 refunded tickets are void.
    assert (ga.issued, ga.sold, ga.free, ga.void) == (8, 6, 2, 4)
    assert ga.revenue == Decimal("120.00")
    assert (ga.capacity, ga.held, ga.checked_in, ga.no_shows) == (60, 2, 3, 5)
    assert ga.fill_rate == pytest.approx(8 / 60)
    # VIP: C2 with one voided + D1; X's hold has expired at NOW.
    assert (vip.issued, vip.sold, vip.free, vip.void) == (2, 2, 0, 1)
    assert vip.revenue == Decimal("100.00")
    assert (vip.held, vip.checked_in) == (0, 1)
    assert vip.check_in_rate == pytest.approx(0.5)
    # The deactivated type still shows what it sold.
    assert (early.issued, early.revenue, early.checked_in) == (2, Decimal("30.00"), 0)


def test_event_headline_figures(night):
    figures = analytics.event_sales(night.event, now=NOW).figures

    # Capacity counts active types only: min(venue 100, GA 60 + VIP 30).
    assert figures.capacity == 90
    assert (figures.issued, figures.sold, figures.free) == (12, 10, 2)
    # Money: E refunded whole (80.00, 4 tickets), one of C's VIPs (50.00).
    assert figures.taken == Decimal("380.00")
    assert figures.refunds == analytics.Refunds(amount=Decimal("130.00"), tickets=5)
    assert figures.sent_back == analytics.SentBack()
    assert figures.revenue == Decimal("250.00") == figures.ticket_value
    assert figures.remaining == 90 - 12 - 2
    assert figures.fill_rate == pytest.approx(12 / 90)
    assert figures.holds == analytics.Holds(
        orders=1, tickets=2, amount=Decimal("40.00")
    )
    assert (figures.checked_in, figures.no_shows) == (4, 8)
    assert figures.attendance_rate == pytest.approx(4 / 12)


def test_holds_stop_counting_when_they_expire(night):
    later = NOW + dt.timedelta(minutes=10)  # H's hold ran until 23:05

    figures = analytics.event_sales(night.event, now=later).figures

    assert figures.holds == analytics.Holds()
    assert by_name(analytics.event_sales(night.event, now=later).types)["GA"].held == 0


def test_waitlist_size_and_conversion(night):
    waitlist = analytics.event_sales(night.event, now=NOW).figures.waitlist

    assert (waitlist.waiting_entries, waitlist.waiting_tickets) == (2, 5)
    assert waitlist.offers_open == 1
    # Offers made: offered 1 + claimed 2 + expired 1 + removed after an offer 1.
    assert (waitlist.offers_made, waitlist.claimed, waitlist.expired) == (5, 2, 1)
    assert waitlist.conversion_rate == pytest.approx(2 / 5)


def test_sales_by_day_uses_the_event_time_zone(night):
    days = analytics.sales_by_day(night.event)

    # Feb 20 .. Mar 15 inclusive, zeros filled in.
    assert days[0].start == dt.date(2025, 2, 20)
    assert days[-1].start == dt.date(2025, 3, 15)
    assert len(days) == 24
    nonzero = {d.start: (d.tickets, d.revenue) for d in days if d.tickets}
    # A (04:30 UTC on 1 March) is 23:30 on 28 February in New York, so it
    # falls on a different day from B (05:30 UTC = 00:30 local); comps and
    # the refunded order E are not sales.
    assert nonzero == {
        dt.date(2025, 2, 20): (2, Decimal("30.00")),
        dt.date(2025, 2, 28): (3, Decimal("60.00")),
        dt.date(2025, 3, 1): (3, Decimal("90.00")),
        dt.date(2025, 3, 15): (2, Decimal("70.00")),
    }
    assert sum(d.tickets for d in days) == 10  # == sold
    assert sum(d.revenue for d in days) == Decimal("250.00")  # == revenue
    # Sales refunded since still count on their day, apart: one of C's VIP
    # tickets, and E's four.
    voided = {d.start: d.voided for d in days if d.voided}
    assert voided == {dt.date(2025, 3, 1): 1, dt.date(2025, 3, 14): 4}


def test_sales_by_hour_near_the_event(night):
    hours = analytics.sales_by_hour(night.event)

    # From 48 h before the start (Mar 13 20:00 EDT) to 6 h after (Mar 16 02:00).
    assert len(hours) == 54
    assert hours[0].start == dt.datetime(2025, 3, 13, 20, 0, tzinfo=NEW_YORK)
    assert hours[-1].start == dt.datetime(2025, 3, 16, 1, 0, tzinfo=NEW_YORK)
    nonzero = {h.start: (h.tickets, h.revenue) for h in hours if h.tickets}
    # D at 18:10 local; E (19:59 on the 14th) was refunded.
    assert nonzero == {
        dt.datetime(2025, 3, 15, 18, 0, tzinfo=NEW_YORK): (2, Decimal("70.00"))
    }


def test_sales_by_hour_across_a_dst_change():
    # Madrid skips 02:00-03:00 on 30 March 2025.
    event = EventFactory(
        time_zone="Europe/Madrid", starts_at=utc(2025, 3, 30, 20, 0), currency="eur"
    )
    ga = TicketTypeFactory(event=event, price=Decimal("10.00"))
    buy({ga: 1}, utc(2025, 3, 30, 0, 30))  # 01:30 CET
    buy({ga: 2}, utc(2025, 3, 30, 1, 30))  # 03:30 CEST

    hours = analytics.sales_by_hour(event)

    labels = [h.start for h in hours]
    assert len(labels) == len(set(labels)) == 54
    assert dt.datetime(2025, 3, 30, 2, 0, tzinfo=MADRID) not in labels
    counts = {h.start: h.tickets for h in hours if h.tickets}
    assert counts == {
        dt.datetime(2025, 3, 30, 1, 0, tzinfo=MADRID): 1,
        dt.datetime(2025, 3, 30, 3, 0, tzinfo=MADRID): 2,
    }


def test_arrivals_per_five_minutes_in_local_time(night):
    buckets = analytics.arrivals(night.event)

    # 19:02, 19:04 | 19:07 | ... | 19:31; B1's undone admission is not counted.
    assert [(b.start.strftime("%H:%M"), b.tickets) for b in buckets] == [
        ("19:00", 2),
        ("19:05", 1),
        ("19:10", 0),
        ("19:15", 0),
        ("19:20", 0),
        ("19:25", 0),
        ("19:30", 1),
    ]
    assert buckets[0].start == dt.datetime(2025, 3, 15, 19, 0, tzinfo=NEW_YORK)


def test_last_scans_newest_first(night):
    rows = analytics.last_scans(night.event, limit=3)

    assert [row.result for row in rows] == ["wrong_event", "ok", "invalid"]
    latest_ok = rows[1]
    assert latest_ok.ticket_type == "VIP"
    # Staff by display name (full name, else username), as the door page.
    assert latest_ok.staff == "Sam Okafor"
    assert latest_ok.device == "Side"
    assert latest_ok.admitted
    assert latest_ok.at == utc(2025, 3, 15, 23, 31)
    assert rows[0].staff == "" and rows[0].ticket_code == ""
    assert rows[0].device == "Unnamed door"
    assert rows[0].result_label == "Ticket for another event"


def test_rejected_scans_by_reason(night):
    rejected = analytics.rejected_by_reason(night.event)

    # `ok` admits and `undone` corrections are not refusals.
    assert [(r.key, r.count) for r in rejected] == [
        ("already_used", 2),
        ("invalid", 1),
        ("void", 1),
        ("wrong_event", 1),
    ]
    assert rejected[0].label == "Already used"


def test_scans_per_door_and_staff(night):
    doors = analytics.scans_by_door(night.event)
    staff = analytics.scans_by_staff(night.event)

    def rows(tallies):
        return [(t.label, t.total, t.admitted, t.rejected, t.undone) for t in tallies]

    # B1's admit at Side by Sam was undone (by the floor manager): a scan
    # at Side by Sam, not an admit that stands. The undo is no scan.
    assert rows(doors) == [
        ("Main", 5, 2, 3, 0),
        ("Side", 4, 2, 1, 1),
        ("Unnamed door", 1, 0, 1, 0),
    ]
    assert rows(staff) == [
        ("Lena Park", 5, 2, 3, 0),
        ("Sam Okafor", 4, 2, 1, 1),
        ("Door device (no sign-in)", 1, 0, 1, 0),
    ]
    door = analytics.door_figures(night.event)
    assert (door.scans_total, door.rejected_total) == (10, 5)
    checked_in = analytics.event_sales(night.event, now=NOW).figures.checked_in
    assert door.admitted_total == sum(s.admitted for s in staff) == checked_in == 4


def test_event_with_no_sales(empty_event):
    sales = analytics.event_sales(empty_event, now=NOW)
    figures = sales.figures

    assert figures.capacity == 150
    assert (figures.issued, figures.sold, figures.free, figures.checked_in) == (
        0,
        0,
        0,
        0,
    )
    assert figures.revenue == Decimal("0.00")
    assert figures.refunds == analytics.Refunds()
    assert figures.sent_back == analytics.SentBack()
    assert figures.holds == analytics.Holds()
    assert figures.waitlist == analytics.Waitlist()
    assert figures.attendance_rate is None
    assert figures.waitlist.conversion_rate is None
    assert [(t.name, t.issued, t.revenue) for t in sales.types] == [
        ("GA", 0, Decimal("0.00"))
    ]
    assert analytics.sales_by_day(empty_event) == []
    hours = analytics.sales_by_hour(empty_event)
    assert len(hours) == 54 and not any(h.tickets for h in hours)
    door = analytics.door_figures(empty_event)
    assert door.arrivals == door.last_scans == door.rejected == door.by_door == []


def test_overview_matches_the_per_event_figures(night, empty_event):
    past = EventFactory(name="Old Night", starts_at=utc(2025, 3, 15, 10, 59))
    old_ga = TicketTypeFactory(event=past, price=Decimal("5.00"), capacity=10)
    order = buy({old_ga: 1}, utc(2025, 3, 1, 12, 0))
    order.tickets.update(status="used", scanned_at=utc(2025, 3, 15, 11, 0))
    tonight = EventFactory(name="Earlier Tonight", starts_at=utc(2025, 3, 15, 11, 1))

    overview = analytics.events_overview(now=NOW)

    # Upcoming until 12 hours after the start; past ones latest first.
    assert [f.event.name for f in overview.upcoming] == [
        "Earlier Tonight",
        "Fixture Night",
        "Empty Night",
    ]
    assert [f.event.name for f in overview.past] == ["Old Night"]
    fixture = overview.upcoming[1]
    assert fixture == analytics.event_sales(night.event, now=NOW).figures
    assert not fixture.is_past(NOW) and not fixture.has_started(NOW)
    old = overview.past[0]
    assert old.is_past(NOW)
    assert (old.issued, old.checked_in, old.revenue) == (1, 1, Decimal("5.00"))
    assert old.attendance_rate == 1.0
    assert overview.upcoming[0].capacity == 0  # no ticket types yet
    assert tonight.id == overview.upcoming[0].event.id


def test_overview_runs_a_fixed_number_of_queries(
    night, empty_event, django_assert_num_queries
):
    for i in range(3):
        EventFactory(name=f"Extra {i}")
    with django_assert_num_queries(8):
        analytics.events_overview(now=NOW)


def test_comp_tickets_count_as_issued_not_sold(night):
    comp_order = night.orders.comp
    assert comp_order.source == Order.Source.COMP
    assert comp_order.total == Decimal("0.00")

    ga = by_name(analytics.event_sales(night.event, now=NOW).types)["GA"]

    assert ga.free == 2
    assert ga.issued - ga.sold == 2


def test_offline_conflict_is_let_in_twice_not_refused(night):
    ScanLog.objects.create(
        event=night.event,
        result=ScanLog.Result.OFFLINE_CONFLICT,
        device_label="Main",
        staff=night.staff.door1,
        code_digest="1" * 64,
        at=utc(2025, 3, 15, 23, 45),
        offline=True,
    )

    rejected = {r.key: r.count for r in analytics.rejected_by_reason(night.event)}
    door = analytics.door_figures(night.event)

    assert "offline_conflict" not in rejected
    assert door.rejected_total == 5
    assert door.let_in_twice_total == 1
    main = door.by_door[0]
    assert (main.label, main.total, main.admitted, main.rejected) == ("Main", 6, 2, 3)
    assert main.let_in_twice == 1
    assert door.by_staff[0].let_in_twice == 1
    latest = analytics.last_scans(night.event, limit=1)[0]
    assert latest.offline and latest.let_in_twice and not latest.admitted


def test_cancelled_comps_are_counted_apart_from_refunds(night):
    from core.services.comps import cancel_comp_tickets

    cancel_comp_tickets(order_id=night.orders.comp.id, now=NOW)

    sales = analytics.event_sales(night.event, now=NOW)
    ga = by_name(sales.types)["GA"]
    assert (ga.free, ga.free_cancelled, ga.issued, ga.sold) == (0, 2, 6, 6)
    figures = sales.figures
    assert (figures.free, figures.free_cancelled) == (0, 2)
    # The refunds are still E's 4 tickets and one of C's: free tickets
    # taken off the guest list were never refunds.
    assert figures.refunds == analytics.Refunds(amount=Decimal("130.00"), tickets=5)
    overview = analytics.event_figures_for([night.event], now=NOW)[night.event.id]
    assert overview == figures
