"""Fan-out of one availability change to K websocket clients of one event.

Connects K clients (default 1,000) to /ws/events/<uuid>/availability/ on a
running server, then, for each round, places a real hold through
core.services.checkout.place_order in this process and measures, for every
client, the time from the commit to the client receiving the push. Prints
p50, p99 and max per round and overall, and how many clients missed a push
(must be 0).

This process must use the same database and Redis as the server (the same
DATABASE_URL, REDIS_URL and CHANNELS_PREFIX): the change is made here and
reaches the server through the channel layer, as a change made by any other
server process would. Commit and receipt are timed with CLOCK_MONOTONIC in
this process; the receipt time includes this process reading the frame, so
the figures are an upper bound.

    python bench/fanout.py --url http://127.0.0.1:8400 --clients 1000 --rounds 5

See bench/README.md for a full run.
"""

import argparse
import asyncio
import contextlib
import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def setup_django() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "ticketing.settings")
    import django

    django.setup()


def bench_event(slug: str):
    """The benchmark's own event, with room for every round's hold."""
    from datetime import timedelta

    from django.utils import timezone

    from core.models import Event, TicketType

    event, _ = Event.objects.update_or_create(
        slug=slug,
        defaults={
            "name": f"Fan-out benchmark ({slug})",
            "venue": "Benchmark hall",
            "starts_at": timezone.now() + timedelta(days=30),
            "venue_capacity": 1_000_000,
            "is_active": True,
        },
    )
    ticket_type, _ = TicketType.objects.get_or_create(
        event=event,
        name="Bench",
        defaults={"price": "1.00", "capacity": 1_000_000, "max_per_order": 10},
    )
    return event, ticket_type


def hold_one_seat(event, ticket_type) -> float:
    """Place a real hold; return the monotonic time of its commit."""
    from django.db import transaction

    from core.services.checkout import place_order

    committed = []
    with transaction.atomic():
        # Registered first, so it runs right at commit, before the announcement.
        transaction.on_commit(lambda: committed.append(time.monotonic()))
        place_order(
            event_id=event.id,
            quantities={ticket_type.id: 1},
            customer_name="Fan-out Bench",
            customer_email="bench@example.com",
            hold_minutes=1,
        )
    return committed[0]


class Client:
    def __init__(self, number: int) -> None:
        self.number = number
        self.received_at: float | None = None
        self.socket = None


async def connect_all(ws_url: str, origin: str, count: int, parallel: int):
    from websockets.asyncio.client import connect

    clients = [Client(n) for n in range(count)]
    gate = asyncio.Semaphore(parallel)

    async def open_one(client: Client) -> None:
        async with gate:
            for attempt in range(5):
                try:
                    client.socket = await connect(
                        ws_url,
                        origin=origin,
                        open_timeout=30,
                        ping_interval=None,
                        max_queue=None,
                    )
                    return
                except (OSError, TimeoutError) as exc:
                    if attempt == 4:
                        raise RuntimeError(f"client {client.number}: {exc}") from exc
                    await asyncio.sleep(0.2 * (attempt + 1))

    await asyncio.gather(*(open_one(client) for client in clients))
    return clients


async def listen(client: Client, event_id: str, round_state: dict) -> None:
    import json

    async for frame in client.socket:
        now = time.monotonic()
        message = json.loads(frame)
        if message.get("event_id") == event_id and client.received_at is None:
            client.received_at = now
            round_state["received"] += 1
            if round_state["received"] == round_state["expected"]:
                round_state["done"].set()


def cpu_seconds(pid: int | None) -> float:
    """User + system CPU time a process (and its reaped children) has used."""
    if not pid:
        return 0.0
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    ticks = sum(int(value) for value in fields[11:15])
    return ticks / os.sysconf("SC_CLK_TCK")


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(fraction * len(ordered)) - 1))
    return ordered[index]


def summary(latencies_ms: list[float]) -> str:
    if not latencies_ms:
        return "no receipts"
    return (
        f"p50 {statistics.median(latencies_ms):7.1f} ms  "
        f"p99 {percentile(latencies_ms, 0.99):7.1f} ms  "
        f"max {max(latencies_ms):7.1f} ms"
    )


async def run(args) -> int:
    loop = asyncio.get_running_loop()
    event, ticket_type = await loop.run_in_executor(None, bench_event, args.event)
    event_id = str(event.id)
    base = args.url.rstrip("/")
    ws_url = base.replace("http", "ws", 1) + f"/ws/events/{event_id}/availability/"
    from django.conf import settings

    print(
        f"server {base}  clients {args.clients}  rounds {args.rounds}  "
        f"layer {settings.CHANNEL_LAYERS['default']['BACKEND'].rsplit('.', 1)[-1]}"
    )

    started = time.monotonic()
    clients = await connect_all(ws_url, base, args.clients, args.parallel)
    print(f"connected {len(clients)} clients in {time.monotonic() - started:.1f} s")

    state = {"received": 0, "expected": len(clients), "done": asyncio.Event()}
    listeners = [
        asyncio.create_task(listen(client, event_id, state)) for client in clients
    ]
    await asyncio.sleep(args.settle)

    everything: list[float] = []
    missed_total = 0
    for round_number in range(1, args.rounds + 1):
        for client in clients:
            client.received_at = None
        state["received"] = 0
        state["done"] = asyncio.Event()
        server_cpu = cpu_seconds(args.server_pid)
        own_cpu = time.process_time()
        committed_at = await loop.run_in_executor(
            None, hold_one_seat, event, ticket_type
        )
        with contextlib.suppress(TimeoutError):  # the stragglers count as missed
            await asyncio.wait_for(state["done"].wait(), timeout=args.timeout)
        latencies = [
            (client.received_at - committed_at) * 1000
            for client in clients
            if client.received_at is not None
        ]
        missed = len(clients) - len(latencies)
        missed_total += missed
        everything += latencies
        cpu = ""
        if args.server_pid:
            cpu = (
                f"  server CPU {1000 * (cpu_seconds(args.server_pid) - server_cpu):.0f} ms"
                f"  bench CPU {1000 * (time.process_time() - own_cpu):.0f} ms"
            )
        print(f"round {round_number}: {summary(latencies)}  missed {missed}{cpu}")
        await asyncio.sleep(args.pause)

    print(f"all rounds: {summary(everything)}  missed {missed_total}")
    for task in listeners:
        task.cancel()
    await asyncio.gather(
        *(client.socket.close() for client in clients), return_exceptions=True
    )
    return 1 if missed_total else 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--url", default="http://127.0.0.1:8400", help="server base URL"
    )
    parser.add_argument("--clients", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument(
        "--event", default="bench-fanout", help="slug of the bench event"
    )
    parser.add_argument(
        "--parallel", type=int, default=50, help="connections opened at once"
    )
    parser.add_argument(
        "--timeout", type=float, default=10, help="seconds a round waits for receipts"
    )
    parser.add_argument(
        "--settle", type=float, default=1, help="seconds between connecting and round 1"
    )
    parser.add_argument(
        "--server-pid",
        type=int,
        help="also report the CPU time this server process spent per round",
    )
    parser.add_argument("--pause", type=float, default=1, help="seconds between rounds")
    args = parser.parse_args()
    if not os.environ.get("REDIS_URL"):
        parser.error("set REDIS_URL (and DATABASE_URL) to the server's")
    setup_django()
    return asyncio.run(run(args))


if __name__ == "__main__":
    sys.exit(main())
