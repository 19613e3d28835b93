"""Benchmark the analytics dashboard and CSV exports against a running server.

Seeds (once) an event with 100,000 tickets and 60,000 scans straight into the
database with bulk_create, signs in over HTTP as an owner, then times the
event dashboard, its live fragment, the overview and each CSV export
(median of --runs, after one warm-up), and measures memory while exporting:
the server's RSS sampled during the download (with --server-pid) and the
peak Python allocation of generating each export in this process
(tracemalloc). See bench/README.md for the exact commands.

The server and this script must use the same DATABASE_URL.
"""

import argparse
import contextlib
import datetime as dt
import os
import random
import statistics
import sys
import time
import tracemalloc
from decimal import Decimal
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "ticketing.settings")

import django

django.setup()

import httpx  # noqa: E402
from django.contrib.auth import get_user_model  # noqa: E402
from django.db import connection, transaction  # noqa: E402
from django.utils import timezone  # noqa: E402

from core.models import (  # noqa: E402
    Event,
    Order,
    OrderLine,
    Payment,
    Refund,
    Role,
    ScanLog,
    StaffProfile,
    Ticket,
    TicketType,
    WaitlistEntry,
)
from core.queries.exports import EXPORTS  # noqa: E402
from core.services.counters import count_check_ins  # noqa: E402
from scanner import csv_stream  # noqa: E402

SLUG = "bench-analytics-night"
OWNER = "bench-owner"
PASSWORD = "bench-owner-password-123"
BATCH = 5000
TYPES = [  # name, price, capacity, share of sales
    ("General admission", Decimal("39.00"), 60_000, 0.55),
    ("Early bird", Decimal("25.00"), 20_000, 0.17),
    ("VIP", Decimal("89.00"), 15_000, 0.13),
    ("Balcony", Decimal("49.00"), 15_000, 0.15),
]
DOORS = ["Main 1", "Main 2", "Main 3", "Side", "Balcony stairs", "VIP"]
REJECTIONS = [  # result, how many (the rest of the scans are admissions)
    ("already_used", 5_000),
    ("invalid", 1_500),
    ("void", 800),
    ("wrong_event", 700),
]


def log(message: str) -> None:
    print(message, flush=True)


# --- Seeding -----------------------------------------------------------------


def seed(*, tickets: int, scans: int, rng: random.Random) -> Event:
    """Create the bench event; every row through bulk_create in batches."""
    now = timezone.now()
    started = time.perf_counter()
    rejected = sum(n for _, n in REJECTIONS)
    admissions = scans - rejected
    if admissions <= 0 or admissions > tickets:
        raise SystemExit("--scans must exceed the rejections and not the tickets")

    with transaction.atomic():
        event = Event.objects.create(
            name="Bench analytics night",
            slug=SLUG,
            venue="Bench Arena",
            starts_at=now - dt.timedelta(hours=1),
            doors_at=now - dt.timedelta(hours=3),
            time_zone="Europe/Madrid",
            venue_capacity=sum(t[2] for t in TYPES),
            currency="eur",
        )
        types = [
            TicketType.objects.create(
                event=event, name=name, price=price, capacity=capacity, sort_order=i
            )
            for i, (name, price, capacity, _) in enumerate(TYPES)
        ]
        staff = []
        for i in range(12):
            user = get_user_model().objects.create_user(
                f"bench-door-{i}", password=None
            )
            StaffProfile.objects.create(user=user, role=Role.DOOR)
            staff.append(user)

    # Orders of 1-4 tickets of one type, paid over 60 days, busier near the
    # start; every 80th is a comp, every 50th refunded (its tickets void).
    weights = [t[3] for t in TYPES]
    plan = []  # (type index, quantity, paid_at, source, status)
    remaining = tickets
    i = 0
    while remaining:
        quantity = min(1 + i % 4, remaining)
        remaining -= quantity
        source = Order.Source.COMP if i % 80 == 79 else Order.Source.WEB
        status = Order.Status.REFUNDED if i % 50 == 49 else Order.Status.PAID
        before = dt.timedelta(days=60) * rng.random() ** 2
        paid_at = event.starts_at - dt.timedelta(minutes=5) - before
        type_index = rng.choices(range(len(TYPES)), weights)[0]
        plan.append((type_index, quantity, paid_at, source, status))
        i += 1

    # Admissions are decided before inserting, so tickets go in already
    # checked in: `admissions` random valid tickets over three hours from the
    # doors opening, busiest around the start.
    slots = [
        (ti, status == Order.Status.REFUNDED)
        for ti, quantity, _paid, _source, status in plan
        for _ in range(quantity)
    ]
    valid = [n for n, (_ti, void) in enumerate(slots) if not void]
    admitted_at = {
        n: (
            event.doors_at + dt.timedelta(seconds=10_800 * rng.betavariate(2, 3)),
            rng.randrange(len(staff)),
        )
        for n in rng.sample(valid, admissions)
    }

    admitted: list = []  # (ticket id, at, staff index)
    void_ids: list = []
    sold = [0] * len(TYPES)
    slot = 0
    for start in range(0, len(plan), BATCH):
        chunk = plan[start : start + BATCH]
        with transaction.atomic():
            orders = []
            for n, (ti, quantity, paid_at, source, status) in enumerate(chunk):
                free = source == Order.Source.COMP
                orders.append(
                    Order(
                        event=event,
                        customer_name=f"Customer {start + n}",
                        customer_email=f"customer{start + n}@example.com",
                        status=status,
                        source=source,
                        total=Decimal("0.00") if free else TYPES[ti][1] * quantity,
                        currency="eur",
                        paid_at=paid_at,
                    )
                )
            Order.objects.bulk_create(orders, batch_size=BATCH)
            OrderLine.objects.bulk_create(
                [
                    OrderLine(
                        order=order,
                        ticket_type=types[ti],
                        quantity=quantity,
                        unit_price=order.total / quantity,
                    )
                    for order, (ti, quantity, *_rest) in zip(orders, chunk, strict=True)
                ],
                batch_size=BATCH,
            )
            batch = []
            for order, (ti, quantity, paid_at, _source, status) in zip(
                orders, chunk, strict=True
            ):
                for k in range(quantity):
                    ticket = Ticket(
                        order=order,
                        event=event,
                        ticket_type=types[ti],
                        guest_name=f"{order.customer_name} #{k + 1}",
                        guest_email=order.customer_email,
                        price_paid=order.total / quantity,
                        # Issued when paid, as fulfilment does it.
                        created_at=paid_at,
                    )
                    ticket.qr_payload = f"bench-{ticket.id.hex}"
                    if status == Order.Status.REFUNDED:
                        ticket.status = Ticket.Status.VOID
                        void_ids.append(ticket.id)
                    else:
                        sold[ti] += 1
                    if slot in admitted_at:
                        at, who = admitted_at[slot]
                        ticket.status = Ticket.Status.USED
                        ticket.scanned_at = at
                        ticket.scanned_by = staff[who]
                        ticket.scanned_device = DOORS[who % len(DOORS)]
                        admitted.append((ticket.id, at, who))
                    batch.append(ticket)
                    slot += 1
            with _explicit_created_at():
                Ticket.objects.bulk_create(batch, batch_size=BATCH)
            _seed_payments(orders, batch)
        log(f"  orders {start + len(chunk):>6} / {len(plan)}")

    scan_rows = [
        ScanLog(
            ticket_id=ticket_id,
            event=event,
            result=ScanLog.Result.OK,
            staff=staff[who],
            device_label=DOORS[who % len(DOORS)],
            code_digest="0" * 64,
            at=at,
        )
        for ticket_id, at, who in admitted
    ]
    for result, count in REJECTIONS:
        for _ in range(count):
            ticket_id = None
            if result == "already_used":
                ticket_id = rng.choice(admitted)[0]
            elif result == "void":
                ticket_id = rng.choice(void_ids)
            who = rng.randrange(len(staff))
            scan_rows.append(
                ScanLog(
                    ticket_id=ticket_id,
                    event=event,
                    result=result,
                    staff=staff[who],
                    device_label=DOORS[who % len(DOORS)],
                    code_digest="1" * 64,
                    at=event.doors_at + dt.timedelta(seconds=10_800 * rng.random()),
                )
            )
    with transaction.atomic():
        ScanLog.objects.bulk_create(scan_rows, batch_size=BATCH)
        for ti, ticket_type in enumerate(types):
            TicketType.objects.filter(pk=ticket_type.pk).update(sold_count=sold[ti])
        Event.objects.filter(pk=event.pk).update(sold_count=sum(sold))
        count_check_ins(
            event_id=event.pk,
            tickets=Ticket.objects.filter(event=event, status="used").values_list(
                "ticket_type_id", "code"
            ),
            by=1,
        )
        # A few live holds and a waitlist.
        for n in range(200):
            order = Order.objects.create(
                event=event,
                customer_name=f"Holder {n}",
                customer_email=f"holder{n}@example.com",
                hold_expires_at=now + dt.timedelta(minutes=15),
                total=TYPES[0][1] * 2,
                currency="eur",
            )
            OrderLine.objects.create(
                order=order, ticket_type=types[0], quantity=2, unit_price=TYPES[0][1]
            )
        statuses = ["waiting"] * 200 + ["offered"] * 20 + ["claimed"] * 50
        statuses += ["expired"] * 30
        WaitlistEntry.objects.bulk_create(
            WaitlistEntry(
                event=event,
                name=f"Waiter {n}",
                email=f"waiter{n}@example.com",
                quantity=1 + n % 3,
                status=status,
                offered_at=None if status == "waiting" else now,
            )
            for n, status in enumerate(statuses)
        )
    if connection.vendor == "postgresql":
        # What autovacuum would do soon after a bulk load: fresh statistics
        # and a visibility map, so index-only scans need no heap visits.
        with connection.cursor() as cursor:
            cursor.execute("VACUUM ANALYZE")
    log(
        f"seeded {tickets} tickets, {len(scan_rows)} scans, {len(plan)} orders "
        f"in {time.perf_counter() - started:.0f} s"
    )
    return event


def _seed_payments(orders: list, tickets: list) -> None:
    """Each paid order's payment, and a whole-order refund for each refunded
    one, as fulfilment and refund_order leave them: the analytics money
    figures and the orders export read these, not the orders' totals."""
    paid = [order for order in orders if order.source == Order.Source.WEB]
    payments = Payment.objects.bulk_create(
        [
            Payment(
                order=order,
                provider=Payment.Provider.SIMULATED,
                provider_reference=f"bench-{order.id.hex}",
                amount=order.total,
                currency=order.currency,
                status=Payment.Status.REFUNDED
                if order.status == Order.Status.REFUNDED
                else Payment.Status.SUCCEEDED,
                provider_refunded=order.total
                if order.status == Order.Status.REFUNDED
                else Decimal("0.00"),
            )
            for order in paid
        ],
        batch_size=BATCH,
    )
    refunded = [p for p in payments if p.status == Payment.Status.REFUNDED]
    refunds = Refund.objects.bulk_create(
        [
            Refund(
                order_id=payment.order_id,
                payment=payment,
                kind=Refund.Kind.SENT,
                status=Refund.Status.SUCCEEDED,
                whole_order=True,
                amount=payment.amount,
                currency=payment.currency,
                key=f"bench-refund-{payment.order_id.hex}",
            )
            for payment in refunded
        ],
        batch_size=BATCH,
    )
    refund_of = {refund.order_id: refund for refund in refunds}
    Refund.tickets.through.objects.bulk_create(
        [
            Refund.tickets.through(refund=refund_of[t.order_id], ticket=t)
            for t in tickets
            if t.order_id in refund_of
        ],
        batch_size=BATCH,
    )


@contextlib.contextmanager
def _explicit_created_at():
    """Let bulk_create keep the given `created_at` (history being seeded)
    instead of stamping every ticket with the time of the insert."""
    field = Ticket._meta.get_field("created_at")
    field.auto_now_add = False
    try:
        yield
    finally:
        field.auto_now_add = True


def ensure_owner() -> None:
    user, created = get_user_model().objects.get_or_create(username=OWNER)
    if created or not user.check_password(PASSWORD):
        user.set_password(PASSWORD)
        user.save()
    StaffProfile.objects.update_or_create(user=user, defaults={"role": Role.OWNER})


# --- HTTP --------------------------------------------------------------------


class Session:
    """httpx with cookies sent by hand: the server may mark them Secure
    (DEBUG off) while the benchmark talks plain HTTP to 127.0.0.1."""

    def __init__(self, base_url: str) -> None:
        self.http = httpx.Client(base_url=base_url, timeout=120)
        self.cookies: dict[str, str] = {}

    def _headers(self) -> dict:
        return {"Cookie": "; ".join(f"{k}={v}" for k, v in self.cookies.items())}

    def _keep(self, response: httpx.Response) -> None:
        for name, value in response.cookies.items():
            self.cookies[name] = value

    def get(self, path: str) -> httpx.Response:
        response = self.http.get(path, headers=self._headers())
        self._keep(response)
        return response

    def sign_in(self) -> None:
        self.get("/scanner/login/")
        response = self.http.post(
            "/scanner/login/",
            data={
                "username": OWNER,
                "password": PASSWORD,
                "csrfmiddlewaretoken": self.cookies["csrftoken"],
            },
            headers={**self._headers(), "Referer": str(self.http.base_url)},
        )
        self._keep(response)
        if response.status_code != 302 or "sessionid" not in self.cookies:
            raise SystemExit(f"sign-in failed: HTTP {response.status_code}")


def rss_kib(pid: int | None) -> int | None:
    if pid is None:
        return None
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return None


def time_page(session: Session, path: str, runs: int) -> list[float]:
    session.get(path).raise_for_status()  # warm-up
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        response = session.get(path)
        response.raise_for_status()
        times.append((time.perf_counter() - started) * 1000)
    return times


def time_export(session: Session, path: str, runs: int, pid: int | None) -> dict:
    times, growth = [], []
    size = rows = 0
    for run in range(runs + 1):
        before = rss_kib(pid)
        peak = before
        started = time.perf_counter()
        size = 0
        newlines = 0
        with session.http.stream("GET", path, headers=session._headers()) as response:
            response.raise_for_status()
            for chunk in response.iter_bytes():
                size += len(chunk)
                newlines += chunk.count(b"\n")
                if pid is not None:
                    peak = max(peak, rss_kib(pid))
        elapsed = (time.perf_counter() - started) * 1000
        rows = newlines - 1
        if run:  # the first run warms up
            times.append(elapsed)
            if pid is not None:
                growth.append(peak - before)
    return {"times": times, "bytes": size, "rows": rows, "rss_growth_kib": growth}


def tracemalloc_peak(event: Event, kind: str) -> tuple[int, int]:
    """(bytes generated, peak Python bytes allocated) for one export in-process."""
    export = EXPORTS[kind](event)
    total = 0
    tracemalloc.start()
    try:
        for chunk in csv_stream.csv_chunks(
            export, rows_per_chunk=csv_stream.ROWS_PER_CHUNK
        ):
            total += len(chunk.encode())
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return total, peak


def summary(times: list[float]) -> str:
    return (
        f"median {statistics.median(times):7.1f} ms  "
        f"(min {min(times):.1f}, max {max(times):.1f}, n={len(times)})"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--base-url", default="http://127.0.0.1:8510")
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--export-runs", type=int, default=3)
    parser.add_argument(
        "--server-pid", type=int, help="sample this process's RSS during exports"
    )
    parser.add_argument("--tickets", type=int, default=100_000)
    parser.add_argument("--scans", type=int, default=60_000)
    parser.add_argument("--seed-only", action="store_true")
    parser.add_argument(
        "--no-tracemalloc", action="store_true", help="skip the in-process peaks"
    )
    args = parser.parse_args()

    event = Event.objects.filter(slug=SLUG).first()
    if event is None:
        log(f"seeding {args.tickets} tickets and {args.scans} scans...")
        event = seed(tickets=args.tickets, scans=args.scans, rng=random.Random(8))
    else:
        log(f"using the seeded event {event.id} (drop the database to reseed)")
    ensure_owner()
    counts = (
        Ticket.objects.filter(event=event).count(),
        ScanLog.objects.filter(event=event).count(),
    )
    log(f"event {event.id}: {counts[0]} tickets, {counts[1]} scans")
    if args.seed_only:
        return

    session = Session(args.base_url)
    session.sign_in()
    base = f"/scanner/analytics/events/{event.id}/"
    log(f"\nserver {args.base_url}, database {connection.vendor}, runs {args.runs}")
    for label, path in [
        ("dashboard", base),
        ("live fragment", base + "live/"),
        ("overview", "/scanner/analytics/"),
    ]:
        log(f"{label:<16} {summary(time_page(session, path, args.runs))}")
    for kind, file in [
        ("orders", "orders.csv"),
        ("guests", "guests.csv"),
        ("scans", "scans.csv"),
    ]:
        result = time_export(session, base + file, args.export_runs, args.server_pid)
        line = (
            f"export {kind:<9} {summary(result['times'])}  "
            f"{result['rows']} rows, {result['bytes'] / 1e6:.1f} MB"
        )
        if result["rss_growth_kib"]:
            line += (
                f", server RSS growth max "
                f"{max(result['rss_growth_kib']) / 1024:.1f} MiB"
            )
        log(line)
    if args.server_pid:
        log(f"server RSS after all runs: {rss_kib(args.server_pid) / 1024:.0f} MiB")
    if not args.no_tracemalloc:
        log("\nin-process generation (tracemalloc peak of Python allocations):")
        for kind in EXPORTS:
            total, peak = tracemalloc_peak(event, kind)
            log(
                f"  {kind:<7} {total / 1e6:6.1f} MB generated, "
                f"peak {peak / 1e6:.2f} MB allocated"
            )


if __name__ == "__main__":
    main()
