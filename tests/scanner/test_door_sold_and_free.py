"""The door's figures use the console's words: "Sold" is tickets paid for, free
tickets beside it ("2 sold + 1 free"), on the event list, the door page and
its snapshot; the header's total counts every ticket that admits."""

import re

import pytest
from django.test import Client

from core.services.comps import issue_comp_tickets
from tests.factories import TicketTypeFactory, make_door_open_event, make_paid_order

pytestmark = pytest.mark.django_db


@pytest.fixture
def general(owner):
    general = TicketTypeFactory(
        event=make_door_open_event(name="Mixed Night"), name="General", capacity=40
    )
    make_paid_order(general, 2)
    issue_comp_tickets(
        actor=owner,
        event_id=general.event_id,
        ticket_type_id=general.id,
        quantity=1,
        guest_name="Gil Guest",
        guest_email="gil@example.com",
    )
    return general


@pytest.fixture
def door_phone(door) -> Client:
    client = Client()
    client.force_login(door)
    return client


def words(html: str) -> str:
    """The page's text, tags out and spaces folded, as it reads."""
    return " ".join(re.sub(r"<[^>]+>", " ", html).split())


def test_the_snapshot_counts_paid_and_free_apart(general, door_phone):
    body = door_phone.get(f"/api/v1/door/{general.event_id}/snapshot").json()

    assert body["totals"] == {
        "checked_in": 0,
        "sold": 2,
        "free": 1,
        "tickets": 3,
        "capacity": general.event.venue_capacity,
    }
    [row] = body["types"]
    assert (row["sold"], row["free"]) == (2, 1)


def test_the_door_list_says_sold_and_free_as_the_console_does(general, door_phone):
    page = words(door_phone.get("/scanner/door/").content.decode())

    assert "0 checked in / 2 sold + 1 free" in page


def test_the_door_page_says_sold_and_free_as_the_console_does(general, door_phone):
    page = words(door_phone.get(f"/scanner/door/{general.event_id}/").content.decode())

    assert "General 0 2 + 1 free 40" in page
    assert "0 / 3 in" in page
