"""The edit form offers to tell ticket holders of a change, and says who was told."""

from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from core.models import OutboundMessage
from core.services.orders import void_order
from tests.factories import EventFactory, TicketTypeFactory, make_paid_order
from tests.scanner.test_events import _edit_data

pytestmark = pytest.mark.django_db
CHECKBOX = 'name="tell_ticket_holders"'
LABEL = "Email (and text) everyone holding tickets about this change"


@pytest.fixture
def owner_client(client, owner):
    client.force_login(owner)
    return client


@pytest.fixture
def event():
    event = EventFactory(
        time_zone="Europe/Madrid",
        starts_at=datetime(2037, 12, 11, 21, 0, tzinfo=ZoneInfo("Europe/Madrid")),
        venue="Sala Apolo",
    )
    TicketTypeFactory(event=event)
    return event


OFFERED = "tell_ticket_holders_offered"


def _url(event) -> str:
    return f"/scanner/events/{event.id}/edit/"


def _sold(event, orders: int) -> None:
    ticket_type = event.ticket_types.get()
    for i in range(orders):
        make_paid_order(ticket_type, 1, email=f"p{i}@example.com")
    void_order(order_id=make_paid_order(ticket_type, 1).id)


def _told() -> int:
    return OutboundMessage.objects.filter(kind="event_changed").count()


def test_no_checkbox_for_an_event_without_ticket_holders(owner_client, event):
    html = owner_client.get(_url(event)).content.decode()
    assert CHECKBOX not in html and LABEL not in html


def test_the_checkbox_is_ticked_and_counts_the_orders_it_reaches(owner_client, event):
    _sold(event, 2)
    html = owner_client.get(_url(event)).content.decode()
    assert LABEL in html
    assert '<input type="checkbox" name="tell_ticket_holders"' in html
    assert f'name="{OFFERED}" value="1"' in html
    checkbox = html[html.index(CHECKBOX) :].split(">", 1)[0]
    assert "checked" in checkbox
    # The refunded order is not counted: it holds no tickets.
    assert "2 orders. Sent only if the date, start or doors time" in html


def test_a_new_time_is_sent_and_the_message_says_so(owner_client, event):
    _sold(event, 2)
    data = _edit_data(event) | {"start_time": "22:30", "tell_ticket_holders": "on"}
    response = owner_client.post(_url(event), data, follow=True)
    assert response.redirect_chain[-1][0] == f"/scanner/events/{event.id}/"
    assert (
        "Saved. 2 ticket holders are being told of the new time."
        in response.content.decode()
    )
    assert _told() == 2
    audit = owner_client.get(f"/scanner/events/{event.id}/changes/").content.decode()
    assert "Told ticket holders of the change" in audit


def test_unticked_nothing_is_sent(owner_client, event):
    _sold(event, 2)
    data = _edit_data(event) | {"start_time": "22:30", OFFERED: "1"}
    response = owner_client.post(_url(event), data, follow=True)
    assert "Your changes are saved." in response.content.decode()
    assert _told() == 0


def test_holders_who_bought_while_the_page_was_open_are_told(owner_client, event):
    """The page had no box (no one held tickets when it opened): the sale
    made meanwhile is told, as the box would have offered, ticked."""
    html = owner_client.get(_url(event)).content.decode()
    assert OFFERED not in html
    _sold(event, 1)
    data = _edit_data(event) | {"start_time": "22:30"}
    response = owner_client.post(_url(event), data, follow=True)
    assert "1 ticket holder is being told of the new time." in (
        response.content.decode()
    )
    assert _told() == 1


def test_ticked_but_nothing_they_rely_on_changed_sends_nothing(owner_client, event):
    _sold(event, 2)
    data = _edit_data(event) | {
        "description": "Now with a live band",
        "types-0-price": "30.00",
        "tell_ticket_holders": "on",
    }
    response = owner_client.post(_url(event), data, follow=True)
    assert "Your changes are saved." in response.content.decode()
    assert _told() == 0


def test_a_refused_edit_keeps_the_choice_and_sends_nothing(owner_client, event):
    _sold(event, 1)
    data = _edit_data(event) | {
        "start_time": "22:30",
        "venue_capacity": "0",
        OFFERED: "1",
    }
    response = owner_client.post(_url(event), data)
    assert response.status_code == 400
    html = response.content.decode()
    checkbox = html[html.index(CHECKBOX) :].split(">", 1)[0]
    assert "checked" not in checkbox
    assert "1 order. Sent only if" in html
    assert _told() == 0
