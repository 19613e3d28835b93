"""Change histories in the owner's words: the form's labels, values as the
console shows them (EUR, Yes/No, event names), nothing the owner never set."""

import re
import uuid
from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from core.models import AuditLogEntry, Role
from core.services.events import (
    EventDetails,
    TicketTypeDetails,
    create_event,
    event_details_of,
    update_event,
)
from core.services.staff import invite_staff
from tests.factories import EventFactory

pytestmark = pytest.mark.django_db


def text_of(html: str) -> str:
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html)).replace("\u00a0", " ")


def _new_event(owner):
    return create_event(
        actor=owner,
        details=EventDetails(
            name="Review Night",
            starts_at=timezone.now() + timedelta(days=14),
            venue_capacity=100,
            time_zone="Europe/Madrid",
            currency="eur",
        ),
        ticket_types=[
            TicketTypeDetails(name="General", price=Decimal("20.00"), capacity=80)
        ],
    )


def test_an_events_history_uses_the_forms_labels_and_plain_values(client, owner):
    event = _new_event(owner)
    update_event(
        actor=owner,
        event_id=event.id,
        details=EventDetails(
            **(
                event_details_of(event).__dict__
                | {"waitlist_skip_larger_requests": True}
            )
        ),
        ticket_types=[],
    )
    client.force_login(owner)

    text = text_of(client.get(f"/scanner/events/{event.id}/changes/").content.decode())

    assert "Currency EUR" in text
    assert "Time zone Europe/Madrid" in text
    assert "Waitlist: offer freed tickets to the next person who fits No → Yes" in text
    assert "Waitlist skip larger requests" not in text
    assert "Currency eur" not in text
    # A ticket type's place in the list, set for the owner, is not news.
    assert "Position" not in text and "Sort order" not in text


def test_a_position_the_owner_changes_is_in_the_history(client, owner):
    event = _new_event(owner)
    general = event.ticket_types.get()
    update_event(
        actor=owner,
        event_id=event.id,
        details=event_details_of(event),
        ticket_types=[
            TicketTypeDetails(
                id=general.id,
                name="General",
                price=general.price,
                capacity=general.capacity,
                sort_order=3,
            )
        ],
    )
    client.force_login(owner)

    text = text_of(client.get(f"/scanner/events/{event.id}/changes/").content.decode())

    assert "Position 0 → 3" in text


def test_an_invitations_events_are_recorded_and_shown_by_name(client, owner):
    event = EventFactory(name="Review Night")
    invite_staff(
        actor=owner, email="lena@example.com", role=Role.DOOR, event_ids=[event.pk]
    )
    client.force_login(owner)

    entry = AuditLogEntry.objects.get(action="staff.invite")
    text = text_of(client.get("/scanner/staff/").content.decode())

    assert entry.after["events"] == ["Review Night"]
    assert "Events Review Night" in text
    assert str(event.pk) not in text


def test_an_older_invitation_recorded_by_event_id_shows_the_events_name(client, owner):
    event = EventFactory(name="Review Night")
    gone = uuid.uuid4()  # an event deleted since: its id is all there is
    AuditLogEntry.objects.create(
        action="staff.invite",
        object_type="staffinvite",
        object_id="1",
        object_repr="lena@example.com",
        after={"email": "lena@example.com", "events": [str(event.pk), str(gone)]},
    )
    client.force_login(owner)

    text = text_of(client.get("/scanner/staff/").content.decode())

    assert f"Events Review Night, {gone}" in text
    assert str(event.pk) not in text
