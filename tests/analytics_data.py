"""Analytics test data: an event whose every figure is computed by hand.

Used by the query, page and browser tests (fixtures in their conftests).

"Fixture Night" is in New York (EDT, UTC-4 on the night, EST before 9 March),
starts 2025-03-15 20:00 local = 2025-03-16 00:00 UTC, sells in euros.

Ticket types: Early bird 15.00 (cap 10, deactivated after selling 2),
GA 20.00 (cap 60), VIP 50.00 (cap 30); venue 100 -> capacity min(100, 90) = 90.

Orders (paid at, UTC -> local):
  F  Early bird x2  2025-02-20 12:00 -> Feb 20 07:00
  A  GA x3          2025-03-01 04:30 -> Feb 28 23:30  (UTC: 1 March)
  B  GA x2          2025-03-01 05:30 -> Mar  1 00:30
  C  VIP x2         2025-03-01 15:00 -> Mar  1 10:00  (one ticket refunded, 50.00)
  CO comp GA x2     2025-03-10 16:00 (source comp, free)
  E  GA x4          2025-03-14 23:59 -> Mar 14 19:59  refunded whole: 4 tickets, 80.00
  D  GA x1, VIP x1  2025-03-15 22:10 -> Mar 15 18:10
  H  pending GA x2 placed 2025-03-15 22:50 (hold until 23:05)   live at NOW
  X  pending VIP x1 placed 2025-03-15 20:00 (hold until 20:15)  expired at NOW
NOW = 2025-03-15 23:00 UTC.

Money (simulated payments, refunds through the console's services):
taken 380.00 (F 30 + A 60 + B 40 + C 100 + E 80 + D 70; the comp is free),
refunded 130.00 (E's 80 + one of C's VIP tickets, 50) over 5 tickets,
revenue 250.00, which is also what the tickets still valid are worth.
"""

import datetime as dt
from decimal import Decimal
from types import SimpleNamespace

from core.models import Order, ScanLog, Ticket, TicketType, WaitlistEntry
from core.services.checkout import place_order
from core.services.fulfilment import fulfil_order
from core.services.orders import refund_order, refund_tickets
from tests.factories import EventFactory, TicketTypeFactory, make_staff

UTC = dt.UTC
NOW = dt.datetime(2025, 3, 15, 23, 0, tzinfo=UTC)


def utc(*args) -> dt.datetime:
    return dt.datetime(*args, tzinfo=UTC)


def buy(quantities: dict, paid_at: dt.datetime, *, comp: bool = False, email=None):
    """An order placed a minute before `paid_at` and paid at `paid_at`.

    Its tickets are dated `paid_at` too: in production fulfilment creates
    them in the same transaction that marks the order paid.
    """
    first_type = next(iter(quantities))
    order = place_order(
        event_id=first_type.event_id,
        quantities={t.id: n for t, n in quantities.items()},
        customer_name="Guest " + (email or "x"),
        customer_email=email or "guest@example.com",
        source=Order.Source.COMP if comp else Order.Source.WEB,
        free=comp,
        now=paid_at - dt.timedelta(minutes=1),
    )
    fulfil_order(
        order_id=order.id,
        provider="comp" if comp else "simulated",
        provider_reference=f"ref-{order.code}",
        amount=order.total,
        currency=order.currency,
        now=paid_at,
    )
    order.refresh_from_db()
    order.tickets.update(created_at=paid_at)
    return order


def hold(quantities: dict, placed_at: dt.datetime):
    first_type = next(iter(quantities))
    return place_order(
        event_id=first_type.event_id,
        quantities={t.id: n for t, n in quantities.items()},
        customer_name="Holder",
        customer_email="holder@example.com",
        now=placed_at,
    )


def check_in(ticket: Ticket, at: dt.datetime, staff, device: str) -> None:
    Ticket.objects.filter(pk=ticket.pk).update(
        status=Ticket.Status.USED,
        scanned_at=at,
        scanned_by=staff,
        scanned_device=device,
    )


def scan(event, result, at, *, ticket=None, staff=None, device=""):
    return ScanLog.objects.create(
        event=event,
        ticket=ticket,
        result=result,
        staff=staff,
        device_label=device,
        code_digest="0" * 64,
        at=at,
    )


def build_night() -> SimpleNamespace:
    event = EventFactory(
        name="Fixture Night",
        time_zone="America/New_York",
        currency="eur",
        venue_capacity=100,
        starts_at=utc(2025, 3, 16, 0, 0),
    )
    early = TicketTypeFactory(
        event=event, name="Early bird", price=Decimal("15.00"), capacity=10
    )
    ga = TicketTypeFactory(event=event, name="GA", price=Decimal("20.00"), capacity=60)
    vip = TicketTypeFactory(
        event=event, name="VIP", price=Decimal("50.00"), capacity=30
    )

    f = buy({early: 2}, utc(2025, 2, 20, 12, 0), email="f@example.com")
    TicketType.objects.filter(pk=early.pk).update(is_active=False)
    a = buy({ga: 3}, utc(2025, 3, 1, 4, 30), email="a@example.com")
    b = buy({ga: 2}, utc(2025, 3, 1, 5, 30), email="b@example.com")
    c = buy({vip: 2}, utc(2025, 3, 1, 15, 0), email="c@example.com")
    refund_tickets(order_id=c.id, ticket_ids=[c.tickets.order_by("code").first().pk])
    comp = buy({ga: 2}, utc(2025, 3, 10, 16, 0), comp=True, email="comp@example.com")
    e = buy({ga: 4}, utc(2025, 3, 14, 23, 59), email="e@example.com")
    refund_order(order_id=e.id)
    e.refresh_from_db()
    d = buy({ga: 1, vip: 1}, utc(2025, 3, 15, 22, 10), email="d@example.com")
    held = hold({ga: 2}, utc(2025, 3, 15, 22, 50))
    expired = hold({vip: 1}, utc(2025, 3, 15, 20, 0))

    door1 = make_staff("door", username="door1", first_name="Lena", last_name="Park")
    door2 = make_staff("door", username="door2", first_name="Sam", last_name="Okafor")
    manager = make_staff("manager", username="floormanager")
    a1, a2, _ = a.tickets.order_by("code")
    comp1 = comp.tickets.order_by("code").first()
    b1 = b.tickets.order_by("code").first()
    d_vip = d.tickets.get(ticket_type=vip)
    e1 = e.tickets.first()

    # Check-ins (local 19:02, 19:04, 19:07, 19:31). B1 was admitted at 19:15
    # and the admission undone: it is back to issued with scanned_at kept.
    check_in(a1, utc(2025, 3, 15, 23, 2), door1, "Main")
    check_in(a2, utc(2025, 3, 15, 23, 4), door1, "Main")
    check_in(comp1, utc(2025, 3, 15, 23, 7), door2, "Side")
    check_in(d_vip, utc(2025, 3, 15, 23, 31), door2, "Side")
    Ticket.objects.filter(pk=b1.pk).update(scanned_at=utc(2025, 3, 15, 23, 15))

    r = ScanLog.Result
    scans = [
        scan(event, r.OK, utc(2025, 3, 15, 23, 2), ticket=a1, staff=door1, device="Main"),
        scan(event, r.OK, utc(2025, 3, 15, 23, 4), ticket=a2, staff=door1, device="Main"),
        scan(event, r.OK, utc(2025, 3, 15, 23, 7), ticket=comp1, staff=door2, device="Side"),
        scan(event, r.OK, utc(2025, 3, 15, 23, 15), ticket=b1, staff=door2, device="Side"),
        scan(event, r.UNDONE, utc(2025, 3, 15, 23, 16), ticket=b1, staff=manager, device="Side"),
        scan(event, r.ALREADY_USED, utc(2025, 3, 15, 23, 20), ticket=a1, staff=door1, device="Main"),
        scan(event, r.ALREADY_USED, utc(2025, 3, 15, 23, 21), ticket=a2, staff=door2, device="Side"),
        scan(event, r.VOID, utc(2025, 3, 15, 23, 25), ticket=e1, staff=door1, device="Main"),
        scan(event, r.INVALID, utc(2025, 3, 15, 23, 26), staff=door1, device="Main"),
        scan(event, r.OK, utc(2025, 3, 15, 23, 31), ticket=d_vip, staff=door2, device="Side"),
        scan(event, r.WRONG_EVENT, utc(2025, 3, 15, 23, 40)),
    ]  # fmt: skip

    w = WaitlistEntry.Status
    offered = utc(2025, 3, 12, 12, 0)
    for i, (status, quantity, was_offered) in enumerate(
        [
            (w.WAITING, 2, False),
            (w.WAITING, 3, False),
            (w.OFFERED, 1, True),
            (w.CLAIMED, 2, True),
            (w.CLAIMED, 1, True),
            (w.EXPIRED, 2, True),
            (w.LEFT, 1, False),
            (w.REMOVED, 1, True),
        ]
    ):
        WaitlistEntry.objects.create(
            event=event,
            name=f"W{i}",
            email=f"w{i}@example.com",
            quantity=quantity,
            status=status,
            offered_at=offered if was_offered else None,
        )

    return SimpleNamespace(
        event=event,
        early=early,
        ga=ga,
        vip=vip,
        orders=SimpleNamespace(
            a=a, b=b, c=c, d=d, e=e, f=f, comp=comp, held=held, expired=expired
        ),
        staff=SimpleNamespace(door1=door1, door2=door2, manager=manager),
        scans=scans,
    )


def build_empty_event():
    """An event with a ticket type and nothing sold, scanned or waited for."""
    event = EventFactory(
        name="Empty Night",
        time_zone="Europe/Madrid",
        venue_capacity=200,
        starts_at=utc(2025, 4, 1, 19, 0),
    )
    TicketTypeFactory(event=event, name="GA", price=Decimal("10.00"), capacity=150)
    return event
