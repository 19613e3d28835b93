"""A ticket rush against a running server: checkout over HTTP, simulated payment.

Each buyer posts the event page's buy form (1 ticket, with its own checkout
key as the page's script would send) and, when it gets a hold, pays on the
simulated provider's test page: the two requests a real buyer's browser makes,
with a CSRF token taken from the page once. Prints sold, oversold, errors by
kind, throughput and latency percentiles, then measures the availability
endpoint (requests/s, and whether any answer was ever behind the sales the
buyers had already seen confirmed).

  python bench/rush.py                       # 2,000 buyers, 500 tickets, 64 at a time
  python bench/rush.py --mode burst          # 500 buyers at once for 100 tickets
  python bench/rush.py --stripe http://127.0.0.1:12111   # through Stripe Checkout
  python bench/rush.py --live-holds 5000     # as many more buyers still on the payment page

The server must run with PAYMENT_PROVIDER=simulated, or, with --stripe, with
Stripe's settings pointing at bench/stripe_standin.py: each checkout then
waits on the stand-in's API as on Stripe's, and each buyer pays there and
delivers the signed webhook Stripe would send. With --setup (the
default unless --event is given) the script creates a fresh event through the
ORM, so run it with the server's DATABASE_URL; the database is then also
checked directly (tickets issued, counters against a recount). The HTTP
client is a minimal asyncio HTTP/1.1 client with keep-alive, to leave as
much of a shared machine as possible to the server.
"""

import argparse
import asyncio
import os
import re
import sys
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from urllib.parse import quote_plus, urlsplit

from loop import run

MODES = {
    "rush": {"buyers": 2000, "tickets": 500, "concurrency": 64},
    "burst": {"buyers": 500, "tickets": 100, "concurrency": 500},
}


class HttpError(Exception):
    pass


class Connection:
    """One keep-alive HTTP/1.1 connection; enough protocol for this benchmark."""

    def __init__(self, host: str, port: int, timeout: float) -> None:
        self.host, self.port, self.timeout = host, port, timeout
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def _connect(self) -> None:
        self.reader, self.writer = await asyncio.wait_for(
            asyncio.open_connection(self.host, self.port), self.timeout
        )

    async def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
            self.reader = self.writer = None

    async def request(
        self, method: str, path: str, *, headers: dict | None = None, body: bytes = b""
    ) -> tuple[int, dict, bytes]:
        if self.writer is None:
            await self._connect()
        lines = [f"{method} {path} HTTP/1.1", f"Host: {self.host}:{self.port}"]
        lines += [f"{k}: {v}" for k, v in (headers or {}).items()]
        if body or method == "POST":
            lines.append(f"Content-Length: {len(body)}")
        self.writer.write(("\r\n".join(lines) + "\r\n\r\n").encode() + body)
        try:
            # asyncio.timeout, not wait_for: no task per request (client CPU).
            async with asyncio.timeout(self.timeout):
                return await self._response()
        except (TimeoutError, asyncio.IncompleteReadError, ConnectionError):
            await self.close()
            raise

    async def _response(self) -> tuple[int, dict, bytes]:
        status_line = await self.reader.readline()
        if not status_line:
            raise ConnectionResetError("server closed the connection")
        status = int(status_line.split()[1])
        headers: dict[str, str] = {}
        while True:
            line = await self.reader.readline()
            if line in (b"\r\n", b"\n", b""):
                break
            name, _, value = line.decode("latin-1").partition(":")
            headers[name.strip().lower()] = value.strip()
        if "content-length" in headers:
            body = await self.reader.readexactly(int(headers["content-length"]))
        elif headers.get("transfer-encoding", "").lower() == "chunked":
            chunks = []
            while True:
                size = int((await self.reader.readline()).split(b";")[0], 16)
                if size == 0:
                    await self.reader.readline()
                    break
                chunks.append(await self.reader.readexactly(size))
                await self.reader.readline()
            body = b"".join(chunks)
        else:
            body = b""
        if headers.get("connection", "").lower() == "close":
            await self.close()
        return status, headers, body


@dataclass
class Results:
    outcomes: Counter = field(default_factory=Counter)
    checkout_ms: list = field(default_factory=list)
    pay_ms: list = field(default_factory=list)
    buyer_ms: list = field(default_factory=list)
    paid: int = 0
    started: float = 0.0
    # When the last payment was confirmed, and the first "sold out" answered
    # (perf_counter): the event sold out between the two.
    last_paid_at: float = 0.0
    first_sold_out_at: float = 0.0


def pct(values: list, q: float) -> float:
    if not values:
        return float("nan")
    values = sorted(values)
    return values[min(len(values) - 1, round(q / 100 * (len(values) - 1)))]


def setup_event(
    tickets: int, max_per_order: int, live_holds: int = 0
) -> tuple[str, int, str]:
    """A fresh event with `tickets` seats; returns (slug, ticket type id, event id).

    With `live_holds`, that many more seats, each held by a buyer of its own
    who is still on the payment page (placed through the checkout service),
    as in a rush through Stripe Checkout, where buyers spend minutes there.
    """
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "ticketing.settings")
    import django

    django.setup()
    from datetime import timedelta
    from decimal import Decimal

    from django.utils import timezone

    from core.models import Event, TicketType

    tag = uuid.uuid4().hex[:8]
    event = Event.objects.create(
        name=f"Rush {tag}",
        slug=f"rush-{tag}",
        venue="Bench Hall",
        starts_at=timezone.now() + timedelta(days=3),
        venue_capacity=tickets + live_holds,
        currency="usd",
    )
    ticket_type = TicketType.objects.create(
        event=event,
        name="GA",
        price=Decimal("25.00"),
        capacity=tickets + live_holds,
        max_per_order=max_per_order,
    )
    if live_holds:
        from core.services.checkout import place_order

        for n in range(live_holds):
            place_order(
                event_id=event.id,
                quantities={ticket_type.id: 1},
                customer_name=f"Waiting {n}",
                customer_email=f"waiting{n}@bench.test",
            )
    return event.slug, ticket_type.id, str(event.id)


def check_database(event_id: str) -> dict:
    from django.db.models import Count, Q, Sum

    from core.models import Event, OrderLine, Ticket, TicketType

    event = Event.objects.get(pk=event_id)
    issued = Ticket.objects.filter(event=event).exclude(status="void").count()
    held = dict(
        OrderLine.objects.filter(
            order__event=event, order__status__in=["pending", "processing"]
        )
        .values_list("ticket_type")
        .annotate(seats=Sum("quantity"))
        .order_by()
    )
    types_ok = all(
        t.sold_count == t.live and t.held_count == held.get(t.id, 0)
        for t in TicketType.objects.filter(event=event).annotate(
            live=Count("tickets", filter=~Q(tickets__status="void"))
        )
    )
    return {
        "issued": issued,
        "capacity": event.venue_capacity,
        "counters_match": types_ok and event.sold_count == issued,
    }


async def fetch_form(base: Connection, slug: str) -> tuple[str, str, int]:
    status, headers, body = await base.request("GET", f"/buy/events/{slug}/")
    if status != 200:
        raise HttpError(f"event page answered {status}")
    html = body.decode()
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', html).group(1)
    cookie = re.search(r"csrftoken=([^;]+)", headers.get("set-cookie", "")).group(1)
    type_id = int(re.search(r'name="qty_(\d+)"', html).group(1))
    return token, cookie, type_id


async def buyer(
    n: int,
    conn: Connection,
    args,
    form: tuple[str, str, int],
    results: Results,
    stripe: "Connection | None" = None,
) -> None:
    token, cookie, type_id = form
    headers = {
        "Content-Type": "application/x-www-form-urlencoded",
        "Cookie": f"csrftoken={cookie}",
    }
    started = time.perf_counter()
    try:
        if args.page_load:
            status, _, _ = await conn.request("GET", f"/buy/events/{args.event}/")
            if status != 200:
                results.outcomes[f"event_page_{status}"] += 1
                return
        # Each buyer's page makes up its own checkout key, as purchase.js does.
        body = (
            f"csrfmiddlewaretoken={quote_plus(token)}&qty_{type_id}=1"
            f"&name=Buyer+{n}&email=buyer{n}%40bench.test&phone="
            f"&checkout_key={uuid.uuid4()}"
        ).encode()
        t0 = time.perf_counter()
        status, response_headers, _ = await conn.request(
            "POST", f"/buy/events/{args.event}/", headers=headers, body=body
        )
        results.checkout_ms.append((time.perf_counter() - t0) * 1000)
        if status == 409:
            results.outcomes["sold_out"] += 1
            results.first_sold_out_at = results.first_sold_out_at or time.perf_counter()
            return
        if status != 303:
            results.outcomes[f"checkout_http_{status}"] += 1
            return
        pay_path = urlsplit(response_headers["location"]).path
        t1 = time.perf_counter()
        if stripe is None:
            status, _, _ = await conn.request(
                "POST",
                pay_path,
                headers=headers,
                body=f"csrfmiddlewaretoken={quote_plus(token)}&action=pay".encode(),
            )
            paid = status == 303
        else:
            status = await pay_on_stripe(conn, stripe, pay_path, args.webhook_secret)
            paid = status == 200
        results.pay_ms.append((time.perf_counter() - t1) * 1000)
        if not paid:
            results.outcomes[f"pay_http_{status}"] += 1
            return
        results.paid += 1
        results.outcomes["paid"] += 1
        results.last_paid_at = time.perf_counter()
        results.buyer_ms.append((time.perf_counter() - started) * 1000)
    except TimeoutError:
        results.outcomes["timeout"] += 1
    except (ConnectionError, asyncio.IncompleteReadError, OSError) as exc:
        results.outcomes[f"connection_{type(exc).__name__}"] += 1


async def pay_on_stripe(
    conn: Connection, stripe: Connection, session_path: str, secret: str
) -> int:
    """Pay as a buyer on Stripe's page, then deliver the signed webhook Stripe
    sends (checkout.session.completed) to the server; its HTTP status."""
    import hashlib
    import hmac
    import json

    session_id = session_path.rstrip("/").rsplit("/", 1)[-1]
    status, _, body = await stripe.request("POST", f"/bench/complete/{session_id}")
    if status != 200:
        return status
    payload = json.dumps(
        {
            "id": f"evt_bench_{uuid.uuid4().hex}",
            "object": "event",
            "type": "checkout.session.completed",
            "data": {"object": json.loads(body)},
        }
    )
    stamp = int(time.time())
    signature = hmac.new(
        secret.encode(), f"{stamp}.{payload}".encode(), hashlib.sha256
    ).hexdigest()
    status, _, _ = await conn.request(
        "POST",
        "/buy/webhooks/stripe/",
        headers={
            "Content-Type": "application/json",
            "Stripe-Signature": f"t={stamp},v1={signature}",
        },
        body=payload.encode(),
    )
    return status


async def availability_sampler(
    conn: Connection, path: str, results: Results, stop: asyncio.Event, log: list
) -> None:
    """Fetch availability during the rush; stale if behind confirmed payments."""
    import json

    while not stop.is_set():
        confirmed_before = results.paid
        try:
            status, _, body = await conn.request("GET", path)
        except (TimeoutError, ConnectionError, OSError):
            continue
        if status == 200:
            sold = json.loads(body)["summary"]["total_sold"]
            log.append(sold < confirmed_before)
        await asyncio.sleep(0.005)


async def run_rush(args, host: str, port: int) -> tuple[Results, float, int]:
    setup = Connection(host, port, args.timeout)
    form = await fetch_form(setup, args.event)
    await setup.close()
    results = Results()
    queue: asyncio.Queue = asyncio.Queue()
    for n in range(args.buyers):
        queue.put_nowait(n)
    stale_log: list = []
    stop = asyncio.Event()
    sampler_conn = Connection(host, port, args.timeout)
    sampler = asyncio.create_task(
        availability_sampler(
            sampler_conn,
            f"/api/v1/events/{args.event}/availability",
            results,
            stop,
            stale_log,
        )
    )
    gate = asyncio.Event()

    async def worker() -> None:
        conn = Connection(host, port, args.timeout)
        stripe = None
        if args.stripe:
            stripe_url = urlsplit(args.stripe)
            stripe = Connection(stripe_url.hostname, stripe_url.port, args.timeout)
        await gate.wait()
        while True:
            try:
                n = queue.get_nowait()
            except asyncio.QueueEmpty:
                break
            await buyer(n, conn, args, form, results, stripe)
        await conn.close()
        if stripe is not None:
            await stripe.close()

    workers = [asyncio.create_task(worker()) for _ in range(args.concurrency)]
    await asyncio.sleep(0)
    started = results.started = time.perf_counter()
    gate.set()
    await asyncio.gather(*workers)
    elapsed = time.perf_counter() - started
    stop.set()
    await sampler
    await sampler_conn.close()
    return results, elapsed, sum(stale_log), len(stale_log)


async def run_availability(args, host: str, port: int) -> dict:
    path = f"/api/v1/events/{args.event}/availability"
    latencies: list = []
    errors = Counter()
    deadline = time.perf_counter() + args.availability_seconds

    async def worker() -> None:
        conn = Connection(host, port, args.timeout)
        while time.perf_counter() < deadline:
            t0 = time.perf_counter()
            try:
                status, _, _ = await conn.request("GET", path)
            except (TimeoutError, ConnectionError, OSError) as exc:
                errors[type(exc).__name__] += 1
                continue
            if status == 200:
                latencies.append((time.perf_counter() - t0) * 1000)
            else:
                errors[f"http_{status}"] += 1
        await conn.close()

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(args.availability_concurrency)))
    elapsed = time.perf_counter() - started
    return {
        "requests": len(latencies),
        "rps": len(latencies) / elapsed,
        "p50": pct(latencies, 50),
        "p99": pct(latencies, 99),
        "errors": dict(errors),
    }


async def final_availability(host: str, port: int, slug: str) -> dict:
    import json

    conn = Connection(host, port, 30)
    status, _, body = await conn.request("GET", f"/api/v1/events/{slug}/availability")
    await conn.close()
    return json.loads(body)["summary"] if status == 200 else {}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--base-url", default="http://127.0.0.1:8100")
    parser.add_argument("--mode", choices=MODES, default="rush")
    parser.add_argument("--buyers", type=int)
    parser.add_argument("--tickets", type=int)
    parser.add_argument("--concurrency", type=int)
    parser.add_argument("--event", help="slug of an existing event (skips --setup)")
    parser.add_argument(
        "--page-load", action="store_true", help="each buyer also GETs the event page"
    )
    parser.add_argument(
        "--stripe",
        metavar="URL",
        help="pay through Stripe Checkout: the server's STRIPE_API_BASE, served by"
        " bench/stripe_standin.py; payments arrive as signed webhooks",
    )
    parser.add_argument(
        "--webhook-secret",
        default=os.environ.get("STRIPE_WEBHOOK_SECRET", "whsec_bench"),
        help="the server's STRIPE_WEBHOOK_SECRET (for --stripe)",
    )
    parser.add_argument(
        "--live-holds",
        type=int,
        default=0,
        metavar="N",
        help="N more seats, held by buyers still on the payment page (default 0)",
    )
    parser.add_argument("--timeout", type=float, default=60.0)
    parser.add_argument("--availability-seconds", type=float, default=10.0)
    parser.add_argument("--availability-concurrency", type=int, default=32)
    args = parser.parse_args()
    for key, value in MODES[args.mode].items():
        if getattr(args, key) is None:
            setattr(args, key, value)
    url = urlsplit(args.base_url)
    host, port = url.hostname, url.port or 80
    event_id = None
    if not args.event:
        args.event, _, event_id = setup_event(
            args.tickets, max_per_order=10, live_holds=args.live_holds
        )
    print(
        f"{args.mode}: {args.buyers} buyers, {args.tickets} tickets, "
        f"{args.concurrency} at a time, event {args.event} at {args.base_url}"
        + (f", {args.live_holds} holds live" if args.live_holds else "")
    )
    cpu_before = time.process_time()
    results, elapsed, stale, samples = run(run_rush(args, host, port))
    client_cpu = time.process_time() - cpu_before
    summary = run(final_availability(host, port, args.event))
    sold = summary.get("total_sold")
    print(f"sold          {sold} (paid orders seen by buyers: {results.paid})")
    oversold = max(0, (sold or 0) - args.tickets)
    if event_id:
        db = check_database(event_id)
        oversold = max(oversold, db["issued"] - db["capacity"])
        print(
            f"database      {db['issued']} tickets issued, "
            f"counters match recount: {db['counters_match']}"
        )
    print(f"oversold      {oversold}")
    errors = {k: v for k, v in results.outcomes.items() if k not in ("paid",)}
    print(
        f"outcomes      paid={results.paid} "
        + " ".join(f"{k}={v}" for k, v in sorted(errors.items()))
    )
    print(f"wall time     {elapsed:.2f} s for {args.buyers} buyers")
    print(
        f"throughput    {results.paid / elapsed:.1f} paid orders/s over the whole run"
    )
    if results.paid:
        selling = results.last_paid_at - results.started
        print(
            f"selling       {results.paid / selling:.1f} paid orders/s until the last"
            f" sale ({results.paid} in {selling:.2f} s); then"
            f" {elapsed - selling:.2f} s of sold-out answers"
            + (
                f" (the first at {results.first_sold_out_at - results.started:.2f} s)"
                if results.first_sold_out_at
                else ""
            )
        )
    print(f"client CPU    {client_cpu:.2f} s (this script, beside the server)")
    for name, values in (
        ("checkout", results.checkout_ms),
        ("payment", results.pay_ms),
        ("buyer total", results.buyer_ms),
    ):
        print(
            f"{name:13} p50 {pct(values, 50):7.1f} ms   p99 {pct(values, 99):7.1f} ms"
            f"   (n={len(values)})"
        )
    print(
        f"availability  {samples} samples during the rush, {stale} behind confirmed sales"
    )
    if args.availability_seconds > 0:
        avail = run(run_availability(args, host, port))
        print(
            f"availability  {avail['rps']:.0f} requests/s over {args.availability_seconds:.0f} s "
            f"with {args.availability_concurrency} connections; "
            f"p50 {avail['p50']:.1f} ms p99 {avail['p99']:.1f} ms; errors {avail['errors'] or 0}"
        )


if __name__ == "__main__":
    main()
