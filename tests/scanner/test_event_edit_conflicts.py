"""An edit page left open: saving it after someone else's change is refused
with their name and time, keeps what was typed, and changes nothing; rows
are matched to ticket types by the id they post, not by their place."""

import re
from datetime import timedelta
from decimal import Decimal

import pytest
from django.test import Client
from django.utils import timezone

from core.models import Event, TicketType
from core.services.events import opened_version_of
from scanner.forms import _opened_from_token, opened_token
from tests.factories import EventFactory, TicketTypeFactory, make_staff
from tests.scanner.test_events import _edit_data

pytestmark = pytest.mark.django_db


def text_of(html: str) -> str:
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html)).replace("\u00a0", " ")


def _url(event) -> str:
    return f"/scanner/events/{event.id}/edit/"


@pytest.fixture
def show(db):
    # On the minute, as the page shows it: posted back unchanged, it is.
    starts = (timezone.now() + timedelta(days=7)).replace(second=0, microsecond=0)
    event = EventFactory(name="Jazz Night", description="Old words", starts_at=starts)
    TicketTypeFactory(event=event, name="General", price=Decimal(20), capacity=8)
    TicketTypeFactory(
        event=event, name="VIP", price=Decimal(50), capacity=4, sort_order=1
    )
    return event


@pytest.fixture
def owner_client(client, owner):
    client.force_login(owner)
    return client


@pytest.fixture
def sam_client(db):
    sam = make_staff("manager", username="sam", first_name="Sam")
    other = Client()
    other.force_login(sam)
    return other


def _page_opened(client, event) -> str:
    """The hidden `opened` value of the edit page as the browser gets it."""
    html = client.get(_url(event)).content.decode()
    return re.search(r'name="opened" value="([^"]*)"', html).group(1)


def _general(event) -> TicketType:
    return event.ticket_types.get(name="General")


def test_a_page_opened_before_a_price_change_cannot_undo_it(
    owner_client, sam_client, show
):
    opened = _page_opened(owner_client, show)
    typed = _edit_data(show) | {"opened": opened}

    theirs = _edit_data(show) | {"types-0-price": "25.00", "types-0-capacity": "9"}
    assert sam_client.post(_url(show), theirs).status_code == 302

    mine = typed | {"description": "New words"}
    response = owner_client.post(_url(show), mine)

    assert response.status_code == 409
    text = text_of(response.content.decode())
    assert re.search(r"Sam changed this event at \d\d:\d\d", text), text
    assert "Your changes are not saved" in text
    assert "New words" in text  # what was typed stays on the page
    assert "Reload the event as it is now" in text
    general = _general(show)
    assert (general.price, general.capacity) == (Decimal("25.00"), 9)
    show.refresh_from_db()
    assert show.description == "Old words"


def test_a_page_opened_before_taking_off_sale_does_not_put_it_back(
    owner_client, sam_client, show
):
    opened = _page_opened(owner_client, show)
    typed = _edit_data(show) | {"opened": opened}

    assert (
        sam_client.post(
            f"/scanner/events/{show.id}/on-sale/", {"active": "0"}
        ).status_code
        == 302
    )
    response = owner_client.post(_url(show), typed | {"description": "New words"})

    assert response.status_code == 409
    assert "Sam changed this event" in text_of(response.content.decode())
    show.refresh_from_db()
    assert show.is_active is False
    assert show.description == "Old words"


def test_a_page_opened_before_positions_changed_says_who_changed_them(
    owner_client, sam_client, show
):
    opened = _page_opened(owner_client, show)
    typed = _edit_data(show) | {"opened": opened}

    swapped = _edit_data(show) | {"types-0-sort_order": "5"}
    assert sam_client.post(_url(show), swapped).status_code == 302

    response = owner_client.post(_url(show), typed | {"description": "New words"})

    text = text_of(response.content.decode())
    assert response.status_code == 409
    assert "Sam changed this event" in text
    assert "same name" not in text


def test_a_page_opened_after_the_change_saves(owner_client, sam_client, show):
    theirs = _edit_data(show) | {"types-0-price": "25.00"}
    assert sam_client.post(_url(show), theirs).status_code == 302

    opened = _page_opened(owner_client, show)
    mine = _edit_data(show) | {"opened": opened, "description": "New words"}
    assert owner_client.post(_url(show), mine).status_code == 302

    show.refresh_from_db()
    assert show.description == "New words"
    assert _general(show).price == Decimal("25.00")


def test_the_same_person_on_two_pages_is_told_it_was_them(owner_client, show):
    first = _page_opened(owner_client, show)
    second = _edit_data(show) | {"description": "From the laptop"}
    assert owner_client.post(_url(show), second).status_code == 302

    response = owner_client.post(
        _url(show), _edit_data(show) | {"opened": first, "venue": "Elsewhere"}
    )

    assert response.status_code == 409
    assert "You changed this event" in text_of(response.content.decode())
    show.refresh_from_db()
    assert show.description == "From the laptop"


def test_a_save_without_what_the_page_was_opened_on_is_refused(owner_client, show):
    data = _edit_data(show) | {"description": "New words"}
    del data["opened"]

    response = owner_client.post(_url(show), data)

    assert response.status_code == 409
    assert "This page is out of date" in text_of(response.content.decode())
    show.refresh_from_db()
    assert show.description == "Old words"


def test_rows_are_matched_to_ticket_types_by_their_posted_id(owner_client, show):
    """Rows posted in another order than the types' still change their own."""
    general, vip = _general(show), show.ticket_types.get(name="VIP")
    data = _edit_data(show)
    for field in ("id", "name", "price", "capacity", "max_per_order", "sort_order"):
        data[f"types-0-{field}"], data[f"types-1-{field}"] = (
            data[f"types-1-{field}"],
            data[f"types-0-{field}"],
        )
    data["types-0-price"] = "55.00"  # VIP's row, posted first

    response = owner_client.post(_url(show), data)

    assert response.status_code == 302
    general.refresh_from_db()
    vip.refresh_from_db()
    assert (vip.name, vip.price, vip.capacity) == ("VIP", Decimal("55.00"), 4)
    assert (general.name, general.price, general.capacity) == (
        "General",
        Decimal("20.00"),
        8,
    )


def test_saving_unchanged_does_not_make_other_open_pages_out_of_date(
    owner_client, sam_client, show
):
    opened = _page_opened(owner_client, show)
    assert sam_client.post(_url(show), _edit_data(show)).status_code == 302

    mine = _edit_data(show) | {"opened": opened, "description": "New words"}
    assert owner_client.post(_url(show), mine).status_code == 302
    assert Event.objects.get(pk=show.pk).description == "New words"


def test_the_token_round_trips(show):
    types = list(show.ticket_types.order_by("pk"))
    version = opened_version_of(show, types)
    assert _opened_from_token(opened_token(version)) == version
    assert _opened_from_token("not a version") is None
