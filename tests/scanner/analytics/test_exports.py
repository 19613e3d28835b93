"""CSV exports: correct rows, streamed chunk by chunk under WSGI and ASGI."""

import asyncio
import csv
import datetime as dt
import io
import re
import threading
import tracemalloc
from decimal import Decimal

import pytest
from django.db import connections
from django.http import StreamingHttpResponse
from django.test import AsyncClient
from django.urls import reverse

from core.models import Order, Ticket
from core.queries import exports
from scanner import csv_stream
from tests.analytics_data import NOW, build_empty_event, build_night
from tests.factories import EventFactory, TicketTypeFactory, make_paid_order, make_staff

pytestmark = pytest.mark.django_db


def parse(body: bytes) -> list[dict]:
    assert body.startswith("\ufeff".encode())  # BOM, so Excel reads UTF-8
    return list(csv.DictReader(io.StringIO(body.decode("utf-8-sig"))))


def download(client, name: str, event) -> tuple[StreamingHttpResponse, list[dict]]:
    response = client.get(reverse(f"scanner:{name}", args=[event.id]))
    assert isinstance(response, StreamingHttpResponse)
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    return response, parse(b"".join(response.streaming_content))


ZONE = "America/New_York"


def test_every_export_has_headers_in_words_and_names_the_zone_once(night):
    """Headers an owner reads; every time column says which zone it is in."""
    headers = {name: make(night.event).header for name, make in exports.EXPORTS.items()}

    assert headers == {
        "orders": (
            "Order",
            "Status",
            "Source",
            "Customer name",
            "Customer email",
            "Customer phone",
            "Ticket types",
            "Tickets issued",
            "Tickets valid",
            "Amount paid",
            "Amount refunded",
            "Sent back automatically",
            "Voided, other seller refunds",
            "Net amount",
            "Currency",
            "Payment reference",
            f"Placed ({ZONE})",
            f"Paid at ({ZONE})",
            f"Refunded at ({ZONE})",
        ),
        "guests": (
            "Ticket",
            "Ticket type",
            "Guest name",
            "Guest email",
            "Guest phone",
            "Status",
            "Price paid",
            "Currency",
            "Order",
            "Source",
            f"Checked in ({ZONE})",
            "Checked in by",
            "Door",
        ),
        "scans": (
            f"Time ({ZONE})",
            "Result",
            "Ticket",
            "Ticket type",
            "Guest name",
            "Staff",
            "Door",
            "Offline",
            "Why undone",
        ),
    }


def test_orders_export(client, owner, night):
    client.force_login(owner)

    response, rows = download(client, "analytics_export_orders", night.event)

    assert response["Content-Disposition"] == (
        'attachment; filename="fixture-night-orders.csv"'
    )
    by_code = {row["Order"]: row for row in rows}
    o = night.orders
    # Status, source, tickets issued / still valid, paid, refunded, net, paid
    # at (local time: EST until 9 March, EDT after). C had one of its two VIP
    # tickets refunded, E all four; the holds lapsed long before this export.
    expected = {
        o.f.code: ("Paid", "Online sale", "2", "2", "30.00", "0.00", "30.00", "2025-02-20 07:00:00"),
        o.a.code: ("Paid", "Online sale", "3", "3", "60.00", "0.00", "60.00", "2025-02-28 23:30:00"),
        o.b.code: ("Paid", "Online sale", "2", "2", "40.00", "0.00", "40.00", "2025-03-01 00:30:00"),
        o.c.code: ("Partly refunded", "Online sale", "2", "1", "100.00", "50.00", "50.00", "2025-03-01 10:00:00"),
        o.comp.code: ("Free tickets", "Complimentary", "2", "2", "0.00", "0.00", "0.00", ""),
        o.e.code: ("Refunded", "Online sale", "4", "0", "80.00", "80.00", "0.00", "2025-03-14 19:59:00"),
        o.d.code: ("Paid", "Online sale", "2", "2", "70.00", "0.00", "70.00", "2025-03-15 18:10:00"),
        o.held.code: ("Expired", "Online sale", "0", "0", "0.00", "0.00", "0.00", ""),
        o.expired.code: ("Expired", "Online sale", "0", "0", "0.00", "0.00", "0.00", ""),
    }  # fmt: skip
    columns = (
        "Status",
        "Source",
        "Tickets issued",
        "Tickets valid",
        "Amount paid",
        "Amount refunded",
        "Net amount",
        f"Paid at ({ZONE})",
    )
    assert {
        code: tuple(r[c] for c in columns) for code, r in by_code.items()
    } == expected
    assert {row["Currency"] for row in rows} == {"EUR"}
    assert {row["Sent back automatically"] for row in rows} == {"0.00"}
    assert by_code[o.a.code]["Customer email"] == "a@example.com"
    # The net column adds up to the dashboard's revenue.
    assert sum(Decimal(row["Net amount"]) for row in rows) == Decimal("250.00")
    # Placed: when the order was made, in the same spreadsheet format.
    for row in rows:
        assert re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d", row[f"Placed ({ZONE})"])


def test_orders_export_says_a_live_hold_is_pending(night):
    """At NOW H still holds its seats (until 23:05) and X's hold has lapsed,
    though neither is marked expired yet."""
    export = exports.orders_export(night.event, now=NOW)
    status = {row[0]: row[1] for row in export.rows}

    assert status[night.orders.held.code] == "Pending payment"
    assert status[night.orders.expired.code] == "Expired"


def test_times_are_local_and_read_as_dates_by_a_spreadsheet():
    """`2025-07-04 21:05:02`, not ISO 8601 with an offset, which Excel
    keeps as text; the zone is in the header instead."""
    event = EventFactory(time_zone="Europe/Madrid")

    assert (
        exports._local(dt.datetime(2025, 7, 4, 19, 5, 2, tzinfo=dt.UTC), event.tz)
        == "2025-07-04 21:05:02"
    )
    assert exports._local(None, event.tz) == ""
    assert exports.orders_export(event).header[-2] == "Paid at (Europe/Madrid)"


def test_guest_list_export(client, manager, night):
    client.force_login(manager)

    _, rows = download(client, "analytics_export_guests", night.event)

    assert len(rows) == 17
    statuses = [row["Status"] for row in rows]
    assert (statuses.count("Valid"), statuses.count("Checked in")) == (8, 4)
    assert statuses.count("Refunded") == 5
    by_code = {row["Ticket"]: row for row in rows}
    a1 = by_code[night.orders.a.tickets.order_by("code").first().code]
    assert (a1["Ticket type"], a1["Status"], a1["Price paid"]) == (
        "GA",
        "Checked in",
        "20.00",
    )
    assert a1[f"Checked in ({ZONE})"] == "2025-03-15 19:02:00"
    # Staff by display name, as the door page names them.
    assert (a1["Checked in by"], a1["Door"]) == ("Lena Park", "Main")
    # B1's admission was undone: no check-in shown although scanned_at is kept.
    b1 = by_code[night.orders.b.tickets.order_by("code").first().code]
    assert (b1["Status"], b1[f"Checked in ({ZONE})"], b1["Checked in by"]) == (
        "Valid",
        "",
        "",
    )
    comp = by_code[night.orders.comp.tickets.order_by("code").first().code]
    assert (comp["Source"], comp["Price paid"]) == ("Complimentary", "0.00")
    assert [row["Guest name"] for row in rows] == sorted(
        row["Guest name"] for row in rows
    )


def test_scan_log_export(client, owner, night):
    client.force_login(owner)

    _, rows = download(client, "analytics_export_scans", night.event)

    assert len(rows) == 11
    assert rows[0] == {
        f"Time ({ZONE})": "2025-03-15 19:02:00",
        "Result": "Admitted",
        "Ticket": night.orders.a.tickets.order_by("code").first().code,
        "Ticket type": "GA",
        "Guest name": "Guest a@example.com",
        "Staff": "Lena Park",
        "Door": "Main",
        "Offline": "No",
        "Why undone": "",
    }
    assert [row["Result"] for row in rows][-3:] == [
        "Not a valid ticket",
        "Admitted",
        "Ticket for another event",
    ]
    assert "Already used" in {row["Result"] for row in rows}
    assert rows[-1]["Ticket"] == ""
    assert (rows[-1]["Staff"], rows[-1]["Door"]) == (
        "Door device (no sign-in)",
        "Unnamed door",
    )
    # The undo, by the floor manager, who has no full name.
    undo = next(row for row in rows if row["Result"] == "Admit undone")
    assert (undo["Staff"], undo["Door"]) == ("floormanager", "Side")
    sam = {row["Staff"] for row in rows if row["Door"] == "Side"}
    assert sam == {"Sam Okafor", "floormanager"}


def test_guest_list_and_scan_log_name_unnamed_doors_and_door_devices(client, owner, db):
    from core.services.checkin import redeem_ticket
    from tests.factories import make_door_open_event, make_paid_order

    event = make_door_open_event()
    ga = TicketTypeFactory(event=event)
    first, second = make_paid_order(ga, 2).tickets.order_by("code")
    door = make_staff("door", username="door")
    redeem_ticket(event=event, text=first.qr_payload, staff=door, device_label="Door")
    redeem_ticket(event=event, text=second.qr_payload, device_label="")
    client.force_login(owner)

    _, guests = download(client, "analytics_export_guests", event)
    _, scans = download(client, "analytics_export_scans", event)

    assert sorted((row["Checked in by"], row["Door"]) for row in guests) == [
        ("Door device (no sign-in)", "Unnamed door"),
        ("door", "Unnamed door"),
    ]
    assert [(row["Staff"], row["Door"]) for row in scans] == [
        ("door", "Unnamed door"),
        ("Door device (no sign-in)", "Unnamed door"),
    ]


def test_export_of_an_event_with_nothing_is_just_the_header(client, owner, db):
    event = build_empty_event()
    client.force_login(owner)

    for name in (
        "analytics_export_orders",
        "analytics_export_guests",
        "analytics_export_scans",
    ):
        response = client.get(reverse(f"scanner:{name}", args=[event.id]))
        body = b"".join(response.streaming_content).decode("utf-8-sig")
        assert body.count("\r\n") == 1, name


def test_cells_a_spreadsheet_would_run_are_defused(client, owner):
    event = EventFactory()
    ga = TicketTypeFactory(event=event)
    Ticket.objects.create(
        event=event,
        ticket_type=ga,
        guest_name='=HYPERLINK("http://evil.example","x")',
        guest_phone="+14155550123",
        price_paid=Decimal("25.00"),
        qr_payload="payload-1",
    )
    client.force_login(owner)

    _, rows = download(client, "analytics_export_guests", event)

    assert rows[0]["Guest name"] == '\'=HYPERLINK("http://evil.example","x")'
    assert rows[0]["Guest phone"] == "+14155550123"
    assert exports.safe_cell("@SUM(A1)") == "'@SUM(A1)"
    assert exports.safe_cell("-12.50") == "-12.50"


def bulk_tickets(event, ticket_type, count: int) -> None:
    Ticket.objects.bulk_create(
        Ticket(
            event=event,
            ticket_type=ticket_type,
            guest_name=f"Guest {i:05d}",
            guest_email=f"guest{i}@example.com",
            price_paid=Decimal("25.00"),
            qr_payload=f"bulk-{event.id}-{i}",
        )
        for i in range(count)
    )


def test_export_is_sent_in_chunks_not_built_whole(client, owner, monkeypatch):
    event = EventFactory()
    bulk_tickets(event, TicketTypeFactory(event=event), 25)
    monkeypatch.setattr(csv_stream, "ROWS_PER_CHUNK", 10)
    client.force_login(owner)

    response = client.get(reverse("scanner:analytics_export_guests", args=[event.id]))
    chunks = list(response.streaming_content)

    # Header + 10 rows, 10 rows, 5 rows.
    assert len(chunks) == 3
    assert len(parse(b"".join(chunks))) == 25


def peak_memory_of_export(client, rows: int) -> tuple[int, int]:
    """(bytes sent, peak bytes allocated) while streaming a guest list of `rows`."""
    event = EventFactory(venue_capacity=rows)
    bulk_tickets(event, TicketTypeFactory(event=event, capacity=rows), rows)
    response = client.get(reverse("scanner:analytics_export_guests", args=[event.id]))
    total = 0
    tracemalloc.start()
    try:
        for chunk in response.streaming_content:
            total += len(chunk)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return total, peak


def test_export_memory_does_not_grow_with_the_rows(client, owner, monkeypatch):
    """Four times the rows, about the same peak: only a chunk is held at a time."""
    monkeypatch.setattr(exports, "CHUNK_SIZE", 200)
    monkeypatch.setattr(csv_stream, "ROWS_PER_CHUNK", 200)
    client.force_login(owner)

    small_total, small_peak = peak_memory_of_export(client, 2_000)
    big_total, big_peak = peak_memory_of_export(client, 8_000)

    assert big_total > 3.5 * small_total
    # Reading every row (or the whole body) first would scale the peak with
    # the rows; streaming keeps it to about a chunk whatever the size.
    assert big_peak < 1.5 * small_peak
    assert big_peak < big_total


def run_in_fresh_loop(coroutine_function):
    """Run an async test body in its own thread and event loop.

    The Playwright session fixture keeps a loop running in the main thread,
    so neither pytest-asyncio nor async_to_sync can start one there.
    """
    outcome = {}

    def target():
        try:
            outcome["value"] = asyncio.run(coroutine_function())
        except BaseException as exc:  # re-raised in the test's thread
            outcome["error"] = exc
        finally:
            connections.close_all()

    thread = threading.Thread(target=target)
    thread.start()
    thread.join()
    if "error" in outcome:
        raise outcome["error"]
    return outcome.get("value")


@pytest.mark.django_db(transaction=True)
def test_exports_stream_asynchronously_under_asgi():
    """Under ASGI a sync iterator would be read into a list; ours is async."""
    night = build_night()
    owner = make_staff("owner", username="asgi-owner")
    expected_orders = Order.objects.filter(event=night.event).count()

    async def download_both():
        client = AsyncClient()
        await client.aforce_login(owner)
        results = []
        for name in ("analytics_export_scans", "analytics_export_orders"):
            response = await client.get(
                reverse(f"scanner:{name}", args=[night.event.id])
            )
            chunks = [chunk async for chunk in response.streaming_content]
            results.append((response, parse(b"".join(chunks))))
        return results

    (scans, scan_rows), (orders, order_rows) = run_in_fresh_loop(download_both)

    for response in (scans, orders):
        assert isinstance(response, StreamingHttpResponse)
        assert response.is_async
    assert len(scan_rows) == 11 and scan_rows[0]["Result"] == "Admitted"
    assert len(order_rows) == expected_orders


def test_scan_log_export_says_why_an_admit_was_undone(client, owner):
    from core.services.checkin import redeem_ticket, undo_admit
    from tests.factories import make_door_open_event, make_paid_order

    event = make_door_open_event()
    ticket = make_paid_order(TicketTypeFactory(event=event), 1).tickets.get()
    redeem_ticket(event=event, text=ticket.qr_payload, device_label="Front")
    undo_admit(
        event=event,
        ticket_code=ticket.code,
        reason="Scanned the friend's ticket",
        staff=owner,
        device_label="Front",
    )
    client.force_login(owner)

    _, rows = download(client, "analytics_export_scans", event)

    assert [(row["Result"], row["Why undone"]) for row in rows] == [
        ("Admitted", ""),
        ("Admit undone", "Scanned the friend's ticket"),
    ]


def test_orders_export_gives_accounts_the_types_payment_and_refund_time(
    client, owner, night
):
    """For the books: each order's ticket types, the payment's reference
    (Stripe's payment id, another seller's reference) and when money last
    went back."""
    client.force_login(owner)

    _, rows = download(client, "analytics_export_orders", night.event)

    by_code = {row["Order"]: row for row in rows}
    o = night.orders
    refunded_at = f"Refunded at ({ZONE})"
    assert by_code[o.d.code]["Ticket types"] == "1 × GA, 1 × VIP"
    assert by_code[o.c.code]["Ticket types"] == "2 × VIP"
    assert by_code[o.c.code]["Payment reference"] == f"ref-{o.c.code}"
    assert by_code[o.comp.code]["Payment reference"] == ""  # nothing paid
    assert by_code[o.held.code]["Payment reference"] == ""
    for refunded in (o.c, o.e):
        assert re.fullmatch(
            r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d", by_code[refunded.code][refunded_at]
        )
    assert by_code[o.a.code][refunded_at] == ""


def test_guest_list_sorts_names_whatever_their_case_and_accents(client, owner):
    ga = TicketTypeFactory(capacity=20)
    for name in ("Zoë", "émile", "Anna", "Émile", "bea"):
        ticket = make_paid_order(ga, 1, email="g@example.com").tickets.get()
        ticket.guest_name = name
        ticket.save(update_fields=["guest_name"])
    client.force_login(owner)

    _, rows = download(client, "analytics_export_guests", ga.event)

    names = [row["Guest name"] for row in rows]
    assert names[:2] == ["Anna", "bea"] and names[-1] == "Zoë"
    assert sorted(names[2:4]) == ["Émile", "émile"]
