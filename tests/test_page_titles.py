"""Every page's title says where it is, then which site: "… · Nightpass" for
customers, "… · Nightpass Staff" for the console (WCAG 2.4.2). A form sent
back with something to fix starts its title with "Error: ", the first thing a
screen reader says on the new page (WCAG 3.3.1)."""

import re
from html import unescape

import pytest
from django.urls import reverse

from core.services.waitlist import join_waitlist
from tests.factories import EventFactory, TicketTypeFactory, make_paid_order, make_staff
from tests.scanner.test_events import _event_data

pytestmark = pytest.mark.django_db

STAFF = " · Nightpass Staff"


def title(response) -> str:
    assert response.status_code in (200, 400, 409, 410), response.status_code
    found = re.search(r"<title>(.*?)</title>", response.content.decode(), re.S)
    return unescape(found.group(1).strip())


@pytest.fixture
def show():
    event = EventFactory(name="Perreo Fridays", venue_capacity=2)
    seat = TicketTypeFactory(event=event, name="Seat", capacity=2, max_per_order=4)
    make_paid_order(seat, 2)
    join_waitlist(
        event_id=event.id,
        ticket_type_id=None,
        name="Luis Gomez",
        email="luis@example.com",
        phone="",
        quantity=1,
    )
    return event


def test_the_marketing_home_says_its_site(client, show):
    assert title(client.get("/")) == "Upcoming events · Nightpass"


def test_console_pages_end_with_the_staff_sites_name(client, show):
    owner = make_staff("owner", username="boss")
    door = make_staff("door", username="dora", first_name="Dora", last_name="Ruiz")
    client.force_login(owner)
    expected = {
        reverse("scanner:messages"): "Messages",
        reverse("scanner:staff"): "Staff",
        reverse("scanner:staff_invite"): "Invite staff",
        reverse("scanner:staff_edit", args=[door.pk]): "Change Dora Ruiz",
        reverse("scanner:devices"): "Door devices",
        reverse("scanner:event_create"): "New event",
        reverse("scanner:event_edit", args=[show.id]): "Edit Perreo Fridays",
        reverse("scanner:event_waitlist", args=[show.id]): "Waitlist · Perreo Fridays",
        reverse("scanner:event_audit", args=[show.id]): "Changes · Perreo Fridays",
        reverse("scanner:event_comps", args=[show.id]): "Free tickets · Perreo Fridays",
        reverse("scanner:event_duplicate", args=[show.id]): "Duplicate Perreo Fridays",
        reverse("scanner:event_delete", args=[show.id]): "Delete Perreo Fridays",
        reverse("scanner:event_cancel", args=[show.id]): "Cancel Perreo Fridays",
    }
    titles = {url: title(client.get(url)) for url in expected}
    assert titles == {url: words + STAFF for url, words in expected.items()}


def test_signed_out_console_pages_end_with_the_staff_sites_name(client):
    expected = {
        reverse("scanner:login"): "Sign in",
        reverse("scanner:password_reset"): "Reset your password",
        reverse("scanner:password_reset_done"): "Check your email",
        reverse("scanner:password_reset_complete"): "Password changed",
        reverse("scanner:invite_accept", args=["x" * 43]): "Invitation not usable",
    }
    titles = {url: title(client.get(url)) for url in expected}
    assert titles == {url: words + STAFF for url, words in expected.items()}


def test_a_failed_sign_in_says_error_first(client):
    make_staff("owner", username="boss")
    login = reverse("scanner:login")
    assert title(client.get(login)) == "Sign in" + STAFF
    sent = client.post(login, {"username": "boss", "password": "wrong"})
    assert title(sent) == "Error: Sign in" + STAFF


def test_a_console_form_sent_back_says_error_first(client):
    client.force_login(make_staff("owner", username="boss"))
    invite = reverse("scanner:staff_invite")
    assert title(client.post(invite, {})) == "Error: Invite staff" + STAFF
    # Only a ticket type wrong: the event's own form is fine.
    event = _event_data(**{"types-0-price": "-5"})
    sent = client.post(reverse("scanner:event_create"), event)
    assert title(sent) == "Error: New event" + STAFF


def test_a_refused_purchase_says_error_first(client, show):
    seat = show.ticket_types.get()
    page = f"/buy/events/{show.slug}/"
    sent = client.post(
        page, {"name": "Ana", "email": "ana@example", f"qty_{seat.id}": 1}
    )
    assert title(sent).startswith("Error: ")
    assert not title(client.get(page)).startswith("Error: ")
