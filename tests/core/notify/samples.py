"""One message of every kind, queued by the services that send them, about an
evening in New York: what a customer or a new staff member would receive."""

from datetime import UTC, datetime

from core.models import Order, OutboundMessage, Payment, Role, Ticket
from core.services.fulfilment import fulfil_order
from core.services.orders import refund_order, refund_tickets
from core.services.payments import record_failed_payment, refund_due_payments
from core.services.staff import invite_staff
from core.services.waitlist import join_waitlist, offer_freed_seats
from tests.factories import (
    EventFactory,
    TicketTypeFactory,
    make_held_order,
    make_paid_order,
    make_staff,
)

# Fixed dates, so what the messages say can be read in the tests.
STARTS_AT = datetime(2037, 12, 12, 1, 0, tzinfo=UTC)  # Fri 11 Dec, 20:00 EST
DOORS_AT = datetime(2037, 12, 12, 0, 0, tzinfo=UTC)  # 19:00 EST
NOW = datetime(2037, 12, 7, 2, 6, tzinfo=UTC)  # Sun 6 Dec, 21:06 EST


def new_york_event(**kwargs):
    values = {
        "name": "Rock & Roll at Jack's",
        "slug": "rock-and-roll",
        "venue": "Jack's Hall, 12 Main St",
        "time_zone": "America/New_York",
        "starts_at": STARTS_AT,
        "doors_at": DOORS_AT,
        "venue_capacity": 4,
    }
    return EventFactory(**(values | kwargs))


def name_guests(order: Order, *names: str) -> list[Ticket]:
    """The order's tickets, in the order emails list them, named as given."""
    tickets = list(order.tickets.order_by("created_at", "code"))
    for ticket, name in zip(tickets, names, strict=False):
        ticket.guest_name = name
        ticket.save(update_fields=["guest_name"])
    return tickets


def queue_every_kind() -> dict[tuple[str, str], OutboundMessage]:
    """(channel, kind) → the message the services queued for it."""
    event = new_york_event(venue_capacity=6)
    vip = TicketTypeFactory(event=event, name="VIP", price="40.00", capacity=2)
    seat = TicketTypeFactory(event=event, name="Seat", price="25.00", capacity=4)

    refunded_some = make_paid_order(vip, 2, name="Ana O'Neil")
    _, second = name_guests(refunded_some, "Ana O'Neil", "Bea Kim")
    refund_tickets(order_id=refunded_some.id, ticket_ids=[second.pk], reason="")

    paid_twice = make_paid_order(seat, 1, name="Dee Ray")
    fulfil_order(
        order_id=paid_twice.id,
        provider="simulated",
        provider_reference="second-payment",
        amount=paid_twice.total,
        currency=paid_twice.currency,
    )
    refund_due_payments()
    assert Payment.objects.filter(status=Payment.Status.REFUNDED).exists()

    failed = make_held_order(seat, 1)
    record_failed_payment(order_id=failed.id)

    refunded_all = make_paid_order(seat, 3, name="Carl Diaz")  # Seats sold out
    waiting = join_waitlist(
        event_id=event.id,
        ticket_type_id=seat.id,
        name="Wanda",
        email="wanda@example.com",
        phone="+12125550123",
        quantity=2,
    )
    refund_order(order_id=refunded_all.id, reason="show moved")
    offer_freed_seats(event_id=event.id, now=NOW)
    waiting.refresh_from_db()
    assert waiting.offer_order_id, "the freed seats were offered"

    owner = make_staff(Role.OWNER, first_name="Alex", last_name="Rivera")
    invite_staff(
        actor=owner,
        email="new@example.com",
        role=Role.MANAGER,
        phone="+12125550199",
        now=NOW,
    )
    messages = {}
    for message in OutboundMessage.objects.order_by("pk"):
        messages.setdefault((message.channel, message.kind), message)
    return messages
