"""A door phone's offline copy of a cancelled event: every ticket void, at
once, before the worker's refunds void them order by order (a phone offline
at the door would otherwise admit a cancelled show's tickets)."""

from datetime import timedelta

import pytest
from django.utils import timezone

from core.queries.door import ticket_states
from core.services.event_cancellation import cancel_event
from tests.factories import make_paid_order, make_staff

pytestmark = pytest.mark.django_db


def test_a_cancelled_events_tickets_are_void_in_the_phones_copy(ticket_type):
    make_paid_order(ticket_type, 2)
    owner = make_staff("owner", username="boss")
    copied_before = timezone.now() - timedelta(minutes=1)

    cancel_event(actor=owner, event_id=ticket_type.event_id, reason="The artist is ill")
    event = type(ticket_type.event).objects.get(pk=ticket_type.event_id)
    full = ticket_states(event)["tickets"]
    since_last_copy = ticket_states(event, since=copied_before)["tickets"]

    assert [t["status"] for t in full] == ["void", "void"]
    # The phone's next refresh brings them all, though no ticket row changed.
    assert [t["status"] for t in since_last_copy] == ["void", "void"]


def test_an_event_on_sale_keeps_its_tickets_states(ticket_type):
    make_paid_order(ticket_type, 2)

    states = ticket_states(ticket_type.event)["tickets"]

    assert [t["status"] for t in states] == ["issued", "issued"]
