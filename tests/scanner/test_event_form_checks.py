"""The event form's checks, as an owner meets them: doors after the start
said as it is, a time zone list of real places, and every capacity that is
too low reported at once."""

import re
from datetime import datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
from django.utils import timezone

from core.exceptions import CapacityBelowSold, InvalidRequest
from core.models import Event
from core.services.events import (
    EventDetails,
    TicketTypeDetails,
    create_event,
    duplicate_event,
    event_details_of,
    place_time_zones,
    update_event,
)
from tests.factories import EventFactory, TicketTypeFactory, make_paid_order
from tests.scanner.test_events import NEW, _edit_data, _event_data

pytestmark = pytest.mark.django_db


@pytest.fixture
def owner_client(client, owner):
    client.force_login(owner)
    return client


def text_of(html: str) -> str:
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html)).replace("\u00a0", " ")


def _madrid_event(**kwargs):
    starts = datetime.combine(
        timezone.now().date() + timedelta(days=20),
        datetime.min.time(),
        ZoneInfo("Europe/Madrid"),
    ).replace(hour=21, minute=30)
    return EventFactory(
        **({"time_zone": "Europe/Madrid", "starts_at": starts} | kwargs)
    )


# --- doors after the start (item: start moved before the doors time) --------


def test_a_start_moved_before_the_doors_says_the_doors_are_after_it(owner_client):
    event = _madrid_event(name="Review Night")
    TicketTypeFactory(event=event)
    data = _edit_data(event) | {"start_time": "18:00", "doors_time": "19:00"}

    response = owner_client.post(f"/scanner/events/{event.id}/edit/", data)

    assert response.status_code == 400
    text = text_of(response.content.decode())
    assert "Doors (19:00) are after the start (18:00)" in text
    assert "more than 12 hours" not in text
    event.refresh_from_db()
    assert event.local_starts_at().hour == 21


def test_doors_the_evening_before_a_start_after_midnight_are_kept(owner_client):
    data = _event_data(start_time="00:30", doors_time="23:00")

    response = owner_client.post(NEW, data)

    assert response.status_code == 302
    event = Event.objects.get(name="Salsa Saturday")
    assert event.starts_at - event.doors_at == timedelta(minutes=90)


def test_the_service_names_the_times_of_doors_after_the_start(owner):
    zone = ZoneInfo("Europe/Madrid")
    starts = datetime(2030, 5, 4, 18, 0, tzinfo=zone)
    details = EventDetails(
        name="Early Show",
        starts_at=starts,
        doors_at=starts + timedelta(hours=1),
        venue_capacity=10,
        time_zone="Europe/Madrid",
    )
    with pytest.raises(InvalidRequest) as refused:
        create_event(
            actor=owner,
            details=details,
            ticket_types=[TicketTypeDetails(name="GA", price=Decimal(5), capacity=5)],
        )
    assert refused.value.code == "doors_after_start"
    assert refused.value.message.startswith("Doors (19:00) are after the start (18:00)")


# --- time zones ---------------------------------------------------------------


def _zone_options(html: str) -> list[str]:
    select = html[html.index('name="time_zone"') :]
    select = select[: select.index("</select>")]
    return re.findall(r'<option value="([^"]*)"', select)


def test_the_time_zone_list_offers_real_places_grouped_by_region(owner_client):
    html = owner_client.get(NEW).content.decode()
    offered = _zone_options(html)

    for place in ("Europe/Madrid", "America/New_York", "Asia/Kolkata", "UTC"):
        assert place in offered, place
    for raw in ("Factory", "localtime", "Etc/GMT+5", "Asia/Calcutta", "US/Eastern"):
        assert raw not in offered, raw
    assert len(offered) == len(set(offered))
    assert '<optgroup label="Europe">' in html
    assert '<option value="America/New_York">America/New York</option>' in html


@pytest.mark.parametrize("zone", ["Factory", "Etc/GMT+5", "Asia/Calcutta"])
def test_a_zone_that_is_not_a_place_is_refused_for_a_new_event(owner_client, zone):
    response = owner_client.post(NEW, _event_data(time_zone=zone))

    assert response.status_code == 400
    assert not Event.objects.filter(name="Salsa Saturday").exists()


def test_the_service_refuses_a_zone_that_is_not_a_place(owner):
    details = EventDetails(
        name="Factory Party",
        starts_at=timezone.now() + timedelta(days=3),
        venue_capacity=10,
        time_zone="Factory",
    )
    with pytest.raises(InvalidRequest) as refused:
        create_event(
            actor=owner,
            details=details,
            ticket_types=[TicketTypeDetails(name="GA", price=Decimal(5), capacity=5)],
        )
    assert refused.value.code == "invalid_time_zone"
    assert "Factory" not in place_time_zones()


def test_an_event_on_an_old_alias_still_shows_saves_and_copies(owner_client, owner):
    event = EventFactory(name="Mumbai Night", time_zone="Asia/Calcutta")
    TicketTypeFactory(event=event)

    page = owner_client.get(f"/scanner/events/{event.id}/edit/").content.decode()
    assert '<option value="Asia/Calcutta" selected>' in page

    data = _edit_data(event) | {"venue": "New Hall"}
    response = owner_client.post(f"/scanner/events/{event.id}/edit/", data)
    assert response.status_code == 302
    event.refresh_from_db()
    assert (event.venue, event.time_zone) == ("New Hall", "Asia/Calcutta")

    copy = duplicate_event(actor=owner, event_id=event.id)
    assert copy.time_zone == "Asia/Calcutta"
    # Another event cannot be moved onto it.
    other = EventFactory(time_zone="Europe/Madrid")
    with pytest.raises(InvalidRequest):
        update_event(
            actor=owner,
            event_id=other.id,
            details=EventDetails(
                **(event_details_of(other).__dict__ | {"time_zone": "Asia/Calcutta"})
            ),
            ticket_types=[],
        )


# --- every capacity too low, at once --------------------------------------------


@pytest.fixture
def five_sold(db):
    event = _madrid_event(name="Review Night", venue_capacity=100)
    general = TicketTypeFactory(event=event, name="General", capacity=80)
    make_paid_order(general, 5)
    return event


def test_every_capacity_below_what_is_sold_is_reported_at_once(owner_client, five_sold):
    data = _edit_data(five_sold) | {"venue_capacity": "3", "types-0-capacity": "2"}

    response = owner_client.post(f"/scanner/events/{five_sold.id}/edit/", data)

    assert response.status_code == 400
    text = text_of(response.content.decode())
    assert "Please fix these 2 things" in text
    assert "Venue capacity cannot be lower than 5" in text
    assert "General: capacity cannot be lower than 5" in text
    five_sold.refresh_from_db()
    assert five_sold.venue_capacity == 100


def test_the_service_lists_every_capacity_too_low(owner, five_sold):
    general = five_sold.ticket_types.get()
    details = EventDetails(
        **(event_details_of(five_sold).__dict__ | {"venue_capacity": 3})
    )

    with pytest.raises(CapacityBelowSold) as refused:
        update_event(
            actor=owner,
            event_id=five_sold.id,
            details=details,
            ticket_types=[
                TicketTypeDetails(
                    id=general.id, name="General", price=general.price, capacity=2
                )
            ],
        )

    errors = refused.value.detail["errors"]
    assert [(e["field"], e.get("type_index"), e["minimum"]) for e in errors] == [
        ("venue_capacity", None, 5),
        ("capacity", 0, 5),
    ]
    # As a single error has them: the first's field, message and minimum.
    assert refused.value.detail["field"] == "venue_capacity"
    assert refused.value.message == errors[0]["message"]


# --- impossible dates -------------------------------------------------------------


def test_a_new_event_dated_in_the_past_is_refused_by_its_date(owner_client):
    yesterday = (timezone.now() - timedelta(days=1)).date().isoformat()

    response = owner_client.post(NEW, _event_data(date=yesterday))

    assert response.status_code == 400
    html = response.content.decode()
    assert 'id="id_start_time_error"' in html
    assert "is in the past: check the date and time." in text_of(html)
    assert not Event.objects.exists()


def test_sales_opening_after_the_start_are_refused(owner_client):
    data = _event_data()
    opens = f"{data['date']}T23:00"  # the show starts at 22:00

    response = owner_client.post(NEW, data | {"sales_start_at": opens})

    assert response.status_code == 400
    html = response.content.decode()
    assert 'id="id_sales_start_at_error"' in html
    assert "after the event starts" in text_of(html)
    assert not Event.objects.exists()


def test_a_types_sales_opening_after_the_start_are_refused_on_its_row(owner_client):
    data = _event_data()
    opens = f"{data['date']}T23:00"

    response = owner_client.post(NEW, data | {"types-1-sales_start_at": opens})

    assert response.status_code == 400
    assert 'id="id_types-1-sales_start_at_error"' in response.content.decode()


def test_postponing_says_sales_close_moved_with_the_start(owner_client):
    event = _madrid_event(name="Moved Night")
    event.sales_end_at = event.starts_at - timedelta(hours=3)
    event.save()
    TicketTypeFactory(event=event)
    later = (event.local_starts_at() + timedelta(days=7)).date().isoformat()
    data = _edit_data(event) | {
        "date": later,
        "sales_end_at": _wall(event.sales_end_at, event),
    }

    response = owner_client.post(f"/scanner/events/{event.id}/edit/", data, follow=True)

    event.refresh_from_db()
    assert event.sales_end_at == event.starts_at - timedelta(hours=3)
    text = text_of(response.content.decode())
    assert "“Sales close” moved later with the start, so sales go on" in text


def _wall(moment, event) -> str:
    return timezone.localtime(moment, event.tz).strftime("%Y-%m-%dT%H:%M")


def test_bringing_forward_says_sales_close_moved_earlier(owner_client):
    event = _madrid_event(name="Earlier Night")
    event.sales_end_at = event.starts_at - timedelta(hours=3)
    event.save()
    TicketTypeFactory(event=event)
    earlier = (event.local_starts_at() - timedelta(days=1)).date().isoformat()
    data = _edit_data(event) | {
        "date": earlier,
        "sales_end_at": _wall(event.sales_end_at, event),
    }

    response = owner_client.post(f"/scanner/events/{event.id}/edit/", data, follow=True)

    event.refresh_from_db()
    assert event.sales_end_at == event.starts_at - timedelta(hours=3)
    text = text_of(response.content.decode())
    assert (
        "“Sales close” moved earlier with the start, as far from it as before" in text
    )
