"""The door answers by the event as it is now: a door phone (signed-in staff
or a device token) keeps the event it scans for a few seconds between
scans, so a cancellation or an edit must make every process forget it."""

import json
from dataclasses import replace
from datetime import timedelta

import pytest
from django.test import Client

from core.services.event_cancellation import cancel_event
from core.services.events import (
    event_details_of,
    opened_version_of,
    ticket_type_details_of,
    update_event,
)
from core.services.scanner_devices import register_scanner_device
from tests.factories import TicketTypeFactory, make_door_open_event, make_paid_order

pytestmark = pytest.mark.django_db
SCAN = "/api/v1/scan"


@pytest.fixture
def general(db):
    return TicketTypeFactory(event=make_door_open_event(name="Door Night"), capacity=40)


def _scan(client, ticket, **headers) -> dict:
    body = {"event": str(ticket.event_id), "code": ticket.qr_payload}
    response = client.post(
        SCAN, data=json.dumps(body), content_type="application/json", **headers
    )
    assert response.status_code == 200, response.content
    return response.json()


def _door_staff_phone(door, event) -> Client:
    door.staff_profile.events.add(event)
    client = Client()
    client.force_login(door)
    return client


@pytest.fixture(params=["staff", "device"])
def door_phone(request, general, door):
    """(client, headers) of a door phone on `general`'s event."""
    if request.param == "staff":
        return _door_staff_phone(door, general.event), {}
    _, token = register_scanner_device(label="Gate tablet", event=general.event)
    return Client(), {"HTTP_AUTHORIZATION": f"Device {token}"}


def test_a_cancelled_events_tickets_are_void_at_the_next_scan(
    general, owner, door_phone, django_capture_on_commit_callbacks
):
    client, headers = door_phone
    first, second = make_paid_order(general, 2).tickets.all()
    assert _scan(client, first, **headers)["code"] == "ok"

    with django_capture_on_commit_callbacks(execute=True):
        cancel_event(actor=owner, event_id=general.event_id, reason="Storm")

    assert _scan(client, second, **headers)["code"] == "void"


def test_a_show_moved_to_next_week_is_not_yet_open_at_the_next_scan(
    general, owner, door_phone, django_capture_on_commit_callbacks
):
    client, headers = door_phone
    first, second = make_paid_order(general, 2).tickets.all()
    assert _scan(client, first, **headers)["code"] == "ok"
    event = general.event
    types = list(event.ticket_types.all())

    with django_capture_on_commit_callbacks(execute=True):
        update_event(
            actor=owner,
            event_id=event.id,
            details=replace(
                event_details_of(event),
                starts_at=event.starts_at + timedelta(days=7),
                doors_at=event.doors_at + timedelta(days=7),
            ),
            ticket_types=[ticket_type_details_of(t) for t in types],
            opened=opened_version_of(event, types),
            tell_ticket_holders=False,
        )

    assert _scan(client, second, **headers)["code"] == "not_yet_valid"
