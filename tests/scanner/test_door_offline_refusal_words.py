"""Refusals a door phone made offline, as every door's Last scans and the scan
log show them once uploaded: a real ticket typed by its code is linked to
it (named, and where it was let in), and what the phone saw is said in
plain words, never as its raw code ("(unknown)")."""

import json
from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone

from core.models import ScanLog
from core.services.checkin import redeem_ticket
from tests.factories import (
    EventFactory,
    TicketTypeFactory,
    make_door_open_event,
    make_paid_order,
    make_staff,
)

pytestmark = pytest.mark.django_db


@pytest.fixture
def ticket(db):
    general = TicketTypeFactory(event=make_door_open_event(name="Door Night"))
    return make_paid_order(general, name="Ana García").tickets.get()


@pytest.fixture
def door_client(door) -> Client:
    client = Client()
    client.force_login(door)
    return client


def upload_refusal(client, ticket, code: str, result: str) -> dict:
    """One refusal as door.js uploads it (the text a typed code was sent as)."""
    at = (timezone.now() - timedelta(minutes=2)).isoformat()
    body = {
        "event": str(ticket.event_id),
        "device": "Side door",
        "admits": [],
        "refusals": [{"code": code, "nonce": "r-1", "at": at, "result": result}],
    }
    response = client.post(
        "/api/v1/scan/offline", data=json.dumps(body), content_type="application/json"
    )
    assert response.status_code == 200, response.content
    [answer] = response.json()["refusals"]
    assert answer["recorded"]
    return answer


def test_a_ticket_typed_by_its_code_and_refused_offline_names_its_guest(
    ticket, door_client
):
    sam = make_staff("door", username="sam", first_name="Sam", last_name="Okafor")
    redeem_ticket(event=ticket.event, text=ticket.code, staff=sam, device_label="Main")

    answer = upload_refusal(door_client, ticket, ticket.code, "already_used")

    log = ScanLog.objects.get(nonce="r-1")
    assert log.ticket == ticket
    assert answer["ticket"]["guest_name"] == "Ana García"
    assert answer["message"].startswith("Already used at ")
    assert answer["message"].endswith(" at Main by Sam Okafor.")


def test_another_events_code_typed_offline_links_no_ticket(ticket, door_client):
    elsewhere = TicketTypeFactory(event=EventFactory(name="Other Night"))
    other = make_paid_order(elsewhere).tickets.get()

    upload_refusal(door_client, ticket, other.code, "unknown")

    assert ScanLog.objects.get(nonce="r-1").ticket is None


def test_a_genuine_ticket_not_on_the_phones_list_is_said_in_plain_words(
    ticket, door_client
):
    answer = upload_refusal(door_client, ticket, ticket.qr_payload, "unknown")

    assert answer["ticket"]["guest_name"] == "Ana García"
    assert "(unknown)" not in answer["message"]
    assert answer["message"] == (
        "Not let in: not on the door phone's ticket list when it checked offline."
    )


def test_a_typed_code_matching_no_ticket_is_said_as_online(ticket, door_client):
    answer = upload_refusal(door_client, ticket, "NOSUCH2345", "unknown")

    assert answer["message"] == "No ticket with code NOSUCH2345."
    assert answer["verdict"] == "attention"
    assert "(unknown)" not in answer["message"]
