"""The owner's waitlist page: removing someone is confirmed and, as "Offer
now", recorded with who did it; the page leads back to its event."""

import pytest
from django.urls import reverse

from core.models import AuditLogEntry, Event, Order, TicketType, WaitlistEntry
from core.services.waitlist import join_waitlist, offer_freed_seats
from tests.factories import EventFactory, TicketTypeFactory, make_paid_order, make_staff

pytestmark = pytest.mark.django_db


@pytest.fixture
def manager_client(client):
    client.force_login(
        make_staff("manager", username="mia", first_name="Mia", last_name="Lopez")
    )
    return client


@pytest.fixture
def sold_out():
    event = EventFactory(name="Full House", venue_capacity=2)
    seat = TicketTypeFactory(event=event, name="Seat", capacity=2, max_per_order=4)
    make_paid_order(seat, 2)
    return event, seat


def _join(event, name: str, quantity: int = 1) -> WaitlistEntry:
    return join_waitlist(
        event_id=event.id,
        ticket_type_id=None,
        name=name,
        email=f"{name.split()[0].lower()}@example.com",
        phone="",
        quantity=quantity,
    )


def _free_a_seat(event, seat) -> None:
    TicketType.objects.filter(pk=seat.pk).update(capacity=seat.capacity + 1)
    Event.objects.filter(pk=event.pk).update(venue_capacity=event.venue_capacity + 1)


def _page(client, event) -> str:
    return client.get(
        reverse("scanner:event_waitlist", args=[event.id])
    ).content.decode()


def _row(html: str, entry: WaitlistEntry) -> str:
    start = html.index(f'data-entry="{entry.pk}"')
    return html[start : html.index("</tr>", start)]


def test_remove_asks_first_naming_the_person(manager_client, sold_out):
    event, _ = sold_out
    entry = _join(event, "Ana Ruiz")

    row = _row(_page(manager_client, event), entry)

    # A tap opens the question; only its "Yes" sends the form.
    assert '<details class="confirm-inline"' in row
    assert "Remove Ana Ruiz from the waitlist?" in row
    assert "Yes, remove" in row
    assert "will lose the tickets offered" not in row


def test_remove_says_an_open_offer_will_be_withdrawn(manager_client, sold_out):
    event, seat = sold_out
    entry = _join(event, "Ana Ruiz")
    _free_a_seat(event, seat)
    offer_freed_seats(event_id=event.id)

    row = _row(_page(manager_client, event), entry)

    assert "Ana Ruiz will lose the tickets offered to them" in row


def test_removing_someone_is_recorded_with_who_did_it(manager_client, sold_out):
    event, seat = sold_out
    entry = _join(event, "Ana Ruiz")
    _free_a_seat(event, seat)
    offer_freed_seats(event_id=event.id)
    entry.refresh_from_db()

    response = manager_client.post(
        reverse("scanner:waitlist_remove", args=[event.id, entry.pk]),
        {"offer": "yes"},
        follow=True,
    )

    assert "Ana Ruiz is off the waitlist" in response.content.decode()
    entry.refresh_from_db()
    assert entry.status == WaitlistEntry.Status.REMOVED
    assert entry.offer_order.status == Order.Status.CANCELLED
    record = AuditLogEntry.objects.get(action="waitlist.remove")
    assert (record.actor.username, record.event, record.object_repr) == (
        "mia",
        event,
        "Ana Ruiz",
    )
    assert record.after["offer_withdrawn"] is True
    changes = manager_client.get(
        reverse("scanner:event_audit", args=[event.id])
    ).content.decode()
    assert "Removed someone from the waitlist" in changes
    assert "Mia Lopez" in changes and "Ana Ruiz" in changes


def test_offer_now_is_recorded_with_who_did_it(manager_client, sold_out):
    event, seat = sold_out
    _join(event, "First Person")
    entry = _join(event, "Ana Ruiz")
    _free_a_seat(event, seat)  # for the first in line; the owner picks Ana

    manager_client.post(reverse("scanner:waitlist_offer", args=[event.id, entry.pk]))

    entry.refresh_from_db()
    assert entry.status == WaitlistEntry.Status.OFFERED
    record = AuditLogEntry.objects.get(action="waitlist.offer")
    assert (record.actor.username, record.event, record.object_repr) == (
        "mia",
        event,
        "Ana Ruiz",
    )
    changes = manager_client.get(
        reverse("scanner:event_audit", args=[event.id])
    ).content.decode()
    assert "Offered tickets from the waitlist" in changes
    assert "No changes recorded yet" not in changes


def test_a_refused_offer_records_nothing(manager_client, sold_out):
    event, _ = sold_out
    entry = _join(event, "Ana Ruiz")

    manager_client.post(reverse("scanner:waitlist_offer", args=[event.id, entry.pk]))

    assert not AuditLogEntry.objects.filter(action="waitlist.offer").exists()


def test_removing_someone_offered_tickets_since_the_page_was_read_asks_again(
    manager_client, sold_out
):
    """The question said nothing of an offer (there was none): an offer made
    since is not withdrawn unasked."""
    event, seat = sold_out
    entry = _join(event, "Ana Ruiz")
    _free_a_seat(event, seat)
    offer_freed_seats(event_id=event.id)

    response = manager_client.post(
        reverse("scanner:waitlist_remove", args=[event.id, entry.pk]),
        {"offer": "no"},
        follow=True,
    )

    entry.refresh_from_db()
    assert entry.status == WaitlistEntry.Status.OFFERED
    assert "Ana Ruiz has just been offered tickets" in response.content.decode()
    assert not AuditLogEntry.objects.filter(action="waitlist.remove").exists()


def test_removing_someone_already_off_the_list_records_nothing(
    manager_client, sold_out
):
    event, _ = sold_out
    entry = _join(event, "Ana Ruiz")
    url = reverse("scanner:waitlist_remove", args=[event.id, entry.pk])

    manager_client.post(url, {"offer": "no"})
    manager_client.post(url, {"offer": "no"})

    assert AuditLogEntry.objects.filter(action="waitlist.remove").count() == 1


def test_the_waitlist_page_leads_back_to_its_event(manager_client, sold_out):
    event, _ = sold_out

    html = _page(manager_client, event)

    back = reverse("scanner:event_detail", args=[event.id])
    assert f'<p class="breadcrumb"><a href="{back}">← Full House</a></p>' in html
