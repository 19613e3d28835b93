"""The door says plainly that an event is cancelled: on the event list, as a
banner on its page, in the snapshot the page refreshes from (and hears of
live), and in the refusal each guest's ticket gets."""

import json

import pytest
from django.test import Client

from core import realtime
from core.services.event_cancellation import cancel_event
from tests.factories import TicketTypeFactory, make_door_open_event, make_paid_order

pytestmark = pytest.mark.django_db


@pytest.fixture
def general(db):
    return TicketTypeFactory(
        event=make_door_open_event(name="Storm Night"), capacity=40
    )


@pytest.fixture
def door_phone(door) -> Client:
    client = Client()
    client.force_login(door)
    return client


def _cancel(event, owner, django_capture_on_commit_callbacks) -> None:
    with django_capture_on_commit_callbacks(execute=True):
        cancel_event(actor=owner, event_id=event.id, reason="Storm")


def test_the_door_list_says_a_cancelled_event_is_cancelled(
    general, owner, door_phone, django_capture_on_commit_callbacks
):
    _cancel(general.event, owner, django_capture_on_commit_callbacks)

    page = door_phone.get("/scanner/door/").content.decode()

    assert "Storm Night" in page
    assert "Event cancelled" in page
    assert "the door still scans" not in page


def test_the_door_page_of_a_cancelled_event_says_so_in_a_banner(
    general, owner, door_phone, django_capture_on_commit_callbacks
):
    page = door_phone.get(f"/scanner/door/{general.event_id}/").content.decode()
    assert "data-cancelled-banner hidden" in page

    _cancel(general.event, owner, django_capture_on_commit_callbacks)

    page = door_phone.get(f"/scanner/door/{general.event_id}/").content.decode()
    assert "data-cancelled-banner hidden" not in page
    assert "Event cancelled" in page


def test_the_snapshot_says_whether_the_event_is_cancelled(
    general, owner, door_phone, django_capture_on_commit_callbacks
):
    url = f"/api/v1/door/{general.event_id}/snapshot"
    assert door_phone.get(url).json()["event"]["cancelled"] is False

    _cancel(general.event, owner, django_capture_on_commit_callbacks)

    assert door_phone.get(url).json()["event"]["cancelled"] is True


def test_a_cancelled_events_ticket_is_refused_as_the_event_cancelled(
    general, owner, door_phone, django_capture_on_commit_callbacks
):
    ticket = make_paid_order(general, 1).tickets.get()
    _cancel(general.event, owner, django_capture_on_commit_callbacks)

    body = door_phone.post(
        "/api/v1/scan",
        data=json.dumps({"event": str(general.event_id), "code": ticket.qr_payload}),
        content_type="application/json",
    ).json()

    assert body["code"] == "void"  # the code clients branch on stays
    assert body["message"] == "Event cancelled — do not let in."


def test_an_event_change_reaches_its_door(
    monkeypatch, django_capture_on_commit_callbacks
):
    """The door page refetches its snapshot on it: a cancellation, a new
    name or start reach a page left open."""
    sent = []
    monkeypatch.setattr(realtime, "send_all", lambda sends: sent.extend(sends))

    with django_capture_on_commit_callbacks(execute=True):
        realtime.announce_event_changed("e1", change="cancelled")

    [door_message] = [message for group, message in sent if group == "event.e1.door"]
    assert door_message["type"] == "door.counters"
    assert door_message["change"] == "cancelled"
