"""Changes an e2e test can ask a server process to make (see asgi_app.py)."""

from django.contrib.auth import get_user_model

from core import realtime
from core.models import Role, TicketType
from core.services.comps import issue_comp_tickets
from core.services.event_cancellation import settle_cancelled_events
from core.services.staff import update_staff_member
from tests.factories import make_paid_order, make_staff


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


def move_door_staff(*, username: str, event_id: str) -> dict:
    """The owner puts a door person on another event only, as the Staff page
    does (which tells this process's feeds and kept door access)."""
    update_staff_member(
        actor=make_staff(Role.OWNER, username="e2e-owner"),
        user_id=get_user_model().objects.get(username=username).pk,
        role=Role.DOOR,
        event_ids=[event_id],
    )
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
    "move_door_staff": move_door_staff,
}


def edit_event(
    *,
    event_id: str,
    actor: str,
    name: str | None = None,
    starts_at: str | None = None,
    types: list[dict] | None = None,
) -> dict:
    """Edit an event as the staff member `actor` would in the console
    (core.services.events.update_event, with its announcements). `types`:
    changes by ticket type (`id` with the fields to change, `delete`), or a
    new type (no `id`)."""
    from dataclasses import replace
    from datetime import datetime
    from decimal import Decimal

    from core.models import Event
    from core.services.events import (
        TicketTypeDetails,
        event_details_of,
        ticket_type_details_of,
        update_event,
    )

    event = Event.objects.get(pk=event_id)
    details = event_details_of(event)
    if name is not None:
        details = replace(details, name=name)
    if starts_at is not None:
        details = replace(details, starts_at=datetime.fromisoformat(starts_at))
    specs = []
    for change in types or []:
        change = dict(change)
        if "price" in change:
            change["price"] = Decimal(str(change["price"]))
        if change.get("id") is None:
            specs.append(TicketTypeDetails(**change))
            continue
        current = ticket_type_details_of(TicketType.objects.get(pk=change["id"]))
        specs.append(replace(current, **change))
    update_event(
        actor=get_user_model().objects.get(username=actor),
        event_id=event.id,
        details=details,
        ticket_types=specs,
    )
    return {}


def announce_availability_changed(*, event_id: str, reason: str) -> dict:
    realtime.announce_availability_changed(event_id, reason=reason)
    return {}


ACTIONS.update(
    edit_event=edit_event,
    announce_availability_changed=announce_availability_changed,
)


def cancel_event(*, event_id: str, actor: str, reason: str) -> dict:
    """Cancel an event as the owner `actor` does in the console."""
    from core.services.event_cancellation import cancel_event as cancel

    cancel(
        actor=get_user_model().objects.get(username=actor),
        event_id=event_id,
        reason=reason,
    )
    return {}


ACTIONS.update(cancel_event=cancel_event)
