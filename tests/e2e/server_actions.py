"""Changes an e2e test can ask a server process to make (see asgi_app.py)."""

from django.contrib.auth import get_user_model

from core import realtime
from core.models import TicketType
from core.services.comps import issue_comp_tickets
from core.services.event_cancellation import settle_cancelled_events
from tests.factories import make_paid_order


def sell(*, ticket_type_id: int, quantity: int = 1) -> dict:
    """Buy and pay for tickets through the real services."""
    order = make_paid_order(TicketType.objects.get(pk=ticket_type_id), quantity)
    return {"order": order.code}


def give_free_tickets(*, ticket_type_id: int, quantity: int, actor: str) -> dict:
    """Issue free tickets (comps) as the staff member named `actor`."""
    ticket_type = TicketType.objects.get(pk=ticket_type_id)
    order = issue_comp_tickets(
        actor=get_user_model().objects.get(username=actor),
        event_id=ticket_type.event_id,
        ticket_type_id=ticket_type.id,
        quantity=quantity,
        guest_name="Gil Guest",
        guest_email="gil@example.com",
    )
    return {"order": order.code}


def announce_event_changed(*, event_id: str, change: str) -> dict:
    realtime.announce_event_changed(event_id, change=change)
    return {}


def settle_cancelled_events_now() -> dict:
    """One round of the worker's sweep that refunds cancelled events' orders."""
    return {"settled": settle_cancelled_events()}


def announce_scan(*, event_id: str, scan: dict) -> dict:
    realtime.announce_scan(event_id, scan=scan)
    return {}


def announce_staff_access_changed(*, user_id: int) -> dict:
    realtime.announce_staff_access_changed(user_id)
    return {}


ACTIONS = {
    "sell": sell,
    "give_free_tickets": give_free_tickets,
    "announce_event_changed": announce_event_changed,
    "announce_scan": announce_scan,
    "settle_cancelled_events": settle_cancelled_events_now,
    "announce_staff_access_changed": announce_staff_access_changed,
}
