"""Door staff searching the guest list see enough of a guest's email to tell
two guests apart, not the address: any two letters list up to 25 guests, and
a door phone is often a volunteer's own. Searching by email still finds."""

import pytest
from django.test import Client

from tests.factories import TicketTypeFactory, make_door_open_event, make_paid_order

pytestmark = pytest.mark.django_db


@pytest.fixture
def ticket(db):
    general = TicketTypeFactory(event=make_door_open_event(name="Door Night"))
    order = make_paid_order(general, name="Ana García", email="ana.garcia@example.com")
    return order.tickets.get()


@pytest.fixture
def door_phone(door) -> Client:
    client = Client()
    client.force_login(door)
    return client


@pytest.mark.parametrize("query", ["garcia@exa", "ana", "an"])
def test_guest_search_shows_a_masked_email_and_still_matches_on_it(
    ticket, door_phone, query
):
    response = door_phone.get(f"/api/v1/door/{ticket.event_id}/guests", {"q": query})

    [guest] = response.json()["guests"]
    assert guest["code"] == ticket.code
    assert guest["guest_email"] == "an…@example.com"
    assert "ana.garcia@" not in response.content.decode()


@pytest.mark.parametrize(
    ("email", "shown"),
    [("a@example.com", "a…@example.com"), ("", ""), ("no-at-sign", "no…")],
)
def test_short_and_odd_emails_are_masked_too(ticket, door_phone, email, shown):
    ticket.guest_email = email
    ticket.save(update_fields=["guest_email"])

    response = door_phone.get(f"/api/v1/door/{ticket.event_id}/guests", {"q": "Ana"})

    [guest] = response.json()["guests"]
    assert guest["guest_email"] == shown
