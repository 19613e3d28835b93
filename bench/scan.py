"""Door scanning under load: sustained scans against a running server.

For each concurrency level it creates a fresh event with N distinct valid
tickets (through the real checkout and fulfilment services, straight into
the server's database), then fires every ticket once, plus repeats (which
must answer already_used) and forged codes (which must answer invalid),
shuffled, over keep-alive connections with a scanner device token (or, with
`--auth session`, as the door page on a phone does: door staff's session
cookie and CSRF token). Then a
burst of forged codes alone. It prints scans/s, first scans/s, p50/p99
latency per kind, forged rejects/s, and checks in the database that admits
equal the distinct valid tickets, exactly. With `--rate`, the doors offer
scans at that rate instead of as fast as the server answers, and latency
counts from when each scan fell due.

Run it with the same DATABASE_URL as the server (see bench/README.md):

    DATABASE_URL=postgres://... python bench/scan.py --url http://127.0.0.1:8200
"""

import argparse
import asyncio
import json
import os
import random
import resource
import sys
import time
import uuid
from collections import Counter, defaultdict
from datetime import timedelta
from pathlib import Path
from urllib.parse import urlsplit

from loop import run

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "ticketing.settings")


def setup_django() -> None:
    import django

    django.setup()


# --- Test data, made through the real services ---------------------------------


def create_event(tickets: int, label: str):
    """An event opening now with `tickets` issued tickets; returns (event, payloads)."""
    from decimal import Decimal

    from django.utils import timezone

    from core.models import Event, OutboundMessage, Ticket, TicketType
    from core.services.checkout import place_order
    from core.services.fulfilment import fulfil_order

    now = timezone.now()
    stamp = uuid.uuid4().hex[:8]
    event = Event.objects.create(
        name=f"Bench {label} {stamp}",
        slug=f"bench-{label}-{stamp}",
        starts_at=now + timedelta(hours=1),
        doors_at=now,
        venue_capacity=tickets,
        currency="eur",
        is_active=False,  # stays off the public pages
    )
    ticket_type = TicketType.objects.create(
        event=event,
        name="General",
        price=Decimal("10.00"),
        capacity=tickets,
        max_per_order=500,
    )
    event.is_active = True  # place_order sells only active events
    event.save(update_fields=["is_active"])
    left = tickets
    while left:
        quantity = min(500, left)
        order = place_order(
            event_id=event.pk,
            quantities={ticket_type.pk: quantity},
            customer_name=f"Bench Guest {left}",
            customer_email="bench@example.com",
        )
        fulfil_order(
            order_id=order.pk,
            provider="simulated",
            provider_reference=f"bench-{order.code}",
            amount=order.total,
            currency=order.currency,
        )
        left -= quantity
    Event.objects.filter(pk=event.pk).update(is_active=False)
    OutboundMessage.objects.filter(event=event).delete()
    payloads = list(
        Ticket.objects.filter(event=event).values_list("qr_payload", flat=True)
    )
    return event, payloads


def device_token(event) -> str:
    from core.services.scanner_devices import register_scanner_device

    return register_scanner_device(label="Bench door", event=event)[1]


def door_staff(event):
    """A new door staff member, on the door of `event` only."""
    from django.contrib.auth import get_user_model

    from core.models import Role, StaffProfile

    user = get_user_model().objects.create_user(f"bench-door-{uuid.uuid4().hex[:8]}")
    StaffProfile.objects.create(user=user, role=Role.DOOR).events.add(event)
    return user


def auth_headers(event, auth: str) -> bytes:
    """The headers each scan carries: a device token, or (`session`) what the
    door page on a phone sends: the session cookie of door staff assigned to
    the event, and a CSRF token."""
    if auth == "device":
        return b"Authorization: Device %s\r\n" % device_token(event).encode()
    from django.test import Client
    from django.utils.crypto import get_random_string

    client = Client()
    client.force_login(door_staff(event))  # a session as signing in makes one
    session = client.cookies["sessionid"].value
    csrf = get_random_string(32)
    return (
        f"Cookie: sessionid={session}; csrftoken={csrf}\r\n"
        f"X-CSRFToken: {csrf}\r\n".encode()
    )


def forge(payload: str, rng: random.Random) -> str:
    """A plausible forgery: a real-looking payload with altered signature bits."""
    head, signature = payload.rsplit(".", 1)
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"
    chars = list(signature)
    for index in rng.sample(range(len(chars) - 1), 3):
        chars[index] = rng.choice(alphabet.replace(chars[index], ""))
    return f"{head}.{''.join(chars)}"


def workload(payloads, *, repeats: float, forged: float, seed: int):
    """(kind, code) for every scan: each ticket once, plus repeats and forgeries.

    `repeats` and `forged` are shares of all scans. A repeat is placed after
    its ticket's first scan, so its answer is already_used.
    """
    rng = random.Random(seed)
    first = len(payloads)
    total = round(first / (1 - repeats - forged))
    n_repeats = round(total * repeats)
    n_forged = total - first - n_repeats
    # Each scan gets a random place in [0, 1); a repeat goes after its first.
    placed = {p: rng.random() for p in payloads}
    scans = [(at, "first", p) for p, at in placed.items()]
    for payload in rng.sample(payloads, n_repeats):
        scans.append((rng.uniform(placed[payload], 1), "repeat", payload))
    for _ in range(n_forged):
        scans.append((rng.random(), "forged", forge(rng.choice(payloads), rng)))
    scans.sort()
    return [(kind, code) for _, kind, code in scans]


# --- A small keep-alive HTTP/1.1 client (cheap on CPU, like a door phone) -----


class Connection:
    def __init__(self, host: str, port: int) -> None:
        self.host, self.port = host, port
        self.reader = self.writer = None

    async def open(self) -> None:
        self.reader, self.writer = await asyncio.open_connection(self.host, self.port)

    async def post(self, path: str, body: bytes, headers: bytes) -> tuple[int, bytes]:
        if self.writer is None:  # the server closed the last one (sync workers do)
            await self.open()
        self.writer.write(
            b"POST %s HTTP/1.1\r\nHost: %s\r\n%sContent-Type: application/json\r\n"
            b"Content-Length: %d\r\n\r\n%s"
            % (path.encode(), self.host.encode(), headers, len(body), body)
        )
        status_line = await self.reader.readline()
        if not status_line:
            raise ConnectionError("server closed the connection")
        status = int(status_line.split()[1])
        length, chunked, close = 0, False, False
        while True:
            line = await self.reader.readline()
            if line in (b"\r\n", b""):
                break
            name, _, value = line.partition(b":")
            name = name.strip().lower()
            if name == b"content-length":
                length = int(value)
            elif name == b"transfer-encoding" and b"chunked" in value.lower():
                chunked = True
            elif name == b"connection" and b"close" in value.lower():
                close = True
        if not chunked:
            body = await self.reader.readexactly(length)
        else:
            parts = []
            while True:
                size = int((await self.reader.readline()).strip(), 16)
                if size == 0:
                    await self.reader.readline()
                    break
                parts.append(await self.reader.readexactly(size))
                await self.reader.readline()
            body = b"".join(parts)
        if close:
            self.close()
        return status, body

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
            self.reader = self.writer = None


async def fire(
    url: str,
    headers: bytes,
    event_id: str,
    scans,
    concurrency: int,
    rate: float | None = None,
    seed: int = 0,
):
    """Send every scan; returns [(kind, status, code, seconds)] and wall time.

    Without `rate`, each door sends its next scan as soon as it has an
    answer (a closed loop: the server's top speed, where latency is the
    doors' number over the rate, by Little's law). With `rate` (scans per
    second offered by all doors together), scans fall due at random times
    (Poisson arrivals, as a queue at the doors is), go out on the next free
    door, and each scan's latency counts from when it fell due, so a scan
    that waited for a free door counts its wait (no coordinated omission).
    """
    parts = urlsplit(url)
    path = (parts.path.rstrip("/") or "") + "/api/v1/scan"
    bodies = [
        (
            kind,
            json.dumps(
                {
                    "event": event_id,
                    "code": code,
                    "nonce": uuid.uuid4().hex,
                    "method": "camera",
                }
            ).encode(),
        )
        for kind, code in scans
    ]
    due = [None] * len(bodies)
    if rate:
        rng, at = random.Random(seed), 0.0
        for index in range(len(bodies)):
            at += rng.expovariate(rate)
            due[index] = at
    queue = iter(zip(bodies, due, strict=True))
    results = []

    async def door() -> None:
        connection = Connection(parts.hostname, parts.port or 80)
        await connection.open()
        for (kind, body), falls_due in queue:
            if falls_due is None:
                started = time.perf_counter()
            else:
                started = origin + falls_due
                if (wait := started - time.perf_counter()) > 0:
                    await asyncio.sleep(wait)
            status, raw = await connection.post(path, body, headers)
            elapsed = time.perf_counter() - started
            try:
                code = json.loads(raw).get("code")
            except ValueError:
                code = None
            results.append((kind, status, code, elapsed))
        connection.close()

    origin = time.perf_counter()
    await asyncio.gather(*(door() for _ in range(concurrency)))
    return results, time.perf_counter() - origin


# --- CPU used by the server and by Postgres (robust on a shared machine) -------


def _cpu_seconds(pid: int) -> float:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _children(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                parent = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            if parent == pid:
                found.append(int(entry.name))
    return found


def _postgres_backends() -> list[int]:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT pid FROM pg_stat_activity WHERE datname = current_database()"
            " AND pid <> pg_backend_pid()"
        )
        pids = [row[0] for row in cursor.fetchall()]
    connection.close()
    return pids


class CpuMeter:
    """CPU seconds spent by the server's processes, this database's backends
    and this client (which shares the machine's cores with them)."""

    def __init__(self, server_pid: int | None) -> None:
        self.server_pid = server_pid

    def sample(self) -> tuple[float, float, float]:
        usage = resource.getrusage(resource.RUSAGE_SELF)
        client = usage.ru_utime + usage.ru_stime
        if not self.server_pid:
            return 0.0, 0.0, client
        workers = [self.server_pid, *_children(self.server_pid)]
        backends = _postgres_backends() if Path("/proc").is_dir() else []
        return (
            sum(_cpu_seconds(pid) for pid in workers),
            sum(_cpu_seconds(pid) for pid in backends),
            client,
        )


def cpu_line(before, after, scans: int) -> str:
    server, database, client = (
        (later - earlier) / scans * 1000
        for earlier, later in zip(before, after, strict=True)
    )
    line = f"   CPU per scan: client {client:.2f} ms"
    if server or database:
        line += f", server {server:.2f} ms, postgres {database:.2f} ms"
    return line


# --- Reporting -------------------------------------------------------------------


def percentile(values, share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(share * (len(ordered) - 1)))]


def report(results, wall: float, title: str) -> dict:
    by_kind = defaultdict(list)
    codes = defaultdict(Counter)
    for kind, status, code, elapsed in results:
        by_kind[kind].append(elapsed)
        codes[kind][(status, code)] += 1
    all_times = [r[3] for r in results]
    print(f"\n== {title}: {len(results)} scans in {wall:.2f} s")
    print(
        f"   {len(results) / wall:8.0f} scans/s   p50 {percentile(all_times, 0.5) * 1000:6.1f} ms"
        f"   p99 {percentile(all_times, 0.99) * 1000:6.1f} ms"
    )
    for kind in ("first", "repeat", "forged"):
        if kind not in by_kind:
            continue
        times = by_kind[kind]
        answers = ", ".join(f"{c or s}: {n}" for (s, c), n in codes[kind].items())
        print(
            f"   {kind:7s} {len(times):6d}  ({len(times) / wall:6.0f}/s)"
            f"  p50 {percentile(times, 0.5) * 1000:6.1f} ms  p99 {percentile(times, 0.99) * 1000:6.1f} ms"
            f"  answers: {answers}"
        )
    return {"codes": codes, "times": by_kind}


def check(event, expected_admits: int, results, *, forged_burst: int = 0) -> bool:
    from core.models import Event, ScanLog, Ticket
    from core.queries.door import checked_in_by_type

    # Rows of forged codes are written in batches just after their answers
    # (SCAN_LOG_WRITE_BEHIND_SECONDS): give the last batch time to land.
    expected_rows = len(results) + forged_burst
    deadline = time.monotonic() + 5
    while (
        ScanLog.objects.filter(event=event).count() < expected_rows
        and time.monotonic() < deadline
    ):
        time.sleep(0.05)
    event = Event.objects.get(pk=event.pk)
    checked_in = sum(checked_in_by_type(event.pk).values())
    used = Ticket.objects.filter(event=event, status="used").count()
    logs = Counter(ScanLog.objects.filter(event=event).values_list("result", flat=True))
    answered_ok = sum(1 for _, _, code, _ in results if code == "ok")
    ok = (
        answered_ok == used == logs["ok"] == checked_in == expected_admits
        and sum(logs.values()) == expected_rows
    )
    print(
        f"   check: admits answered {answered_ok}, tickets used {used}, "
        f"ok log rows {logs['ok']}, checked in {checked_in}, "
        f"distinct valid tickets {expected_admits}, log rows {sum(logs.values())} "
        f"for {expected_rows} scans -> {'OK' if ok else 'MISMATCH'}"
    )
    return ok


def settle(connection) -> None:
    """Vacuum and analyse what the setup just wrote, as autovacuum would have.

    Real tickets are sold days before the door opens; freshly bulk-written
    ones would make the first scans pay for hint bits and a mid-run
    autovacuum, which no night at the door sees.
    """
    if connection.vendor != "postgresql":
        return
    from core.models import ScanLog, Ticket

    with connection.cursor() as cursor:
        for model in (Ticket, ScanLog):
            cursor.execute(f"VACUUM (ANALYZE) {model._meta.db_table}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--url", default="http://127.0.0.1:8200")
    parser.add_argument("--tickets", type=int, default=20_000)
    parser.add_argument("--concurrency", type=int, nargs="+", default=[16, 64])
    parser.add_argument("--repeats", type=float, default=0.10)
    parser.add_argument("--forged", type=float, default=0.05)
    parser.add_argument(
        "--forged-burst", type=int, default=10_000, help="forged-only scans after"
    )
    parser.add_argument("--seed", type=int, default=5)
    parser.add_argument(
        "--rate",
        type=float,
        help="first scans per second the doors offer together (repeats and forged"
        " codes come on top in their shares), instead of each door scanning again"
        " as soon as it has an answer; latency then counts from when a scan fell due",
    )
    parser.add_argument(
        "--auth",
        choices=["device", "session"],
        default="device",
        help="scan with a device token, or as door staff signed in on a phone",
    )
    parser.add_argument(
        "--server-pid",
        type=int,
        help="server's main pid: also print server and Postgres CPU per scan",
    )
    args = parser.parse_args()
    setup_django()
    from django.db import connection

    print(
        f"server {args.url}, database {connection.vendor} "
        f"{connection.settings_dict.get('NAME')}, {args.tickets} tickets, "
        f"{args.repeats:.0%} repeats, {args.forged:.0%} forged, "
        f"concurrency {args.concurrency}, {args.auth} auth, {os.cpu_count()} CPUs"
    )
    all_ok = True
    for concurrency in args.concurrency:
        print(
            f"\n-- setting up {args.tickets} tickets for concurrency {concurrency}..."
        )
        event, payloads = create_event(args.tickets, f"c{concurrency}")
        headers = auth_headers(event, args.auth)
        scans = workload(
            payloads, repeats=args.repeats, forged=args.forged, seed=args.seed
        )
        settle(connection)
        connection.close()
        meter = CpuMeter(args.server_pid)
        before = meter.sample()
        offered = None
        if args.rate:
            offered = args.rate * len(scans) / len(payloads)
        results, wall = run(
            fire(
                args.url,
                headers,
                str(event.pk),
                scans,
                concurrency,
                rate=offered,
                seed=args.seed,
            )
        )
        after = meter.sample()
        title = f"mixed scans, concurrency {concurrency}"
        if offered:
            title += f", offered {args.rate:.0f} first scans/s ({offered:.0f} in all)"
        report(results, wall, title)
        print(cpu_line(before, after, len(results)))
        burst_results = []
        if args.forged_burst:
            rng = random.Random(args.seed + concurrency)
            forged = [
                ("forged", forge(rng.choice(payloads), rng))
                for _ in range(args.forged_burst)
            ]
            before = meter.sample()
            burst_results, burst_wall = run(
                fire(args.url, headers, str(event.pk), forged, concurrency)
            )
            after = meter.sample()
            report(burst_results, burst_wall, f"forged only, concurrency {concurrency}")
            print(cpu_line(before, after, len(burst_results)))
            rejected = sum(1 for r in burst_results if r[2] == "invalid")
            print(f"   forged rejected: {rejected / burst_wall:.0f}/s")
            all_ok &= rejected == len(burst_results)
        all_ok &= check(event, len(payloads), results, forged_burst=len(burst_results))
    print("\nALL CHECKS PASSED" if all_ok else "\nCHECKS FAILED")
    return 0 if all_ok else 1


if __name__ == "__main__":
    sys.exit(main())
