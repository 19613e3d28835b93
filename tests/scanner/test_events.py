import io
from datetime import datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import timezone
from PIL import Image

from core.models import AuditLogEntry, Event, Order, OutboundMessage, TicketType
from core.services.events import opened_version_of
from scanner.forms import opened_token
from tests.factories import EventFactory, TicketTypeFactory, make_paid_order

pytestmark = pytest.mark.django_db
NEW = "/scanner/events/new/"


@pytest.fixture
def owner_client(client, owner):
    client.force_login(owner)
    return client


def _next_friday():
    return (timezone.now() + timedelta(days=9)).date()


def _event_data(**overrides):
    data = {
        "name": "Salsa Saturday",
        "date": _next_friday().isoformat(),
        "start_time": "22:00",
        "doors_time": "21:00",
        "time_zone": "Europe/Madrid",
        "venue": "Sala Apolo",
        "venue_capacity": "200",
        "currency": "eur",
        "description": "Dance!",
        "sales_start_at": "",
        "sales_end_at": "",
        "is_active": "on",
        "types-TOTAL_FORMS": "2",
        "types-INITIAL_FORMS": "0",
        "types-MIN_NUM_FORMS": "0",
        "types-MAX_NUM_FORMS": "50",
        "types-0-name": "VIP",
        "types-0-price": "40.00",
        "types-0-capacity": "50",
        "types-0-max_per_order": "4",
        "types-0-is_active": "on",
        "types-1-name": "General",
        "types-1-price": "15",
        "types-1-capacity": "180",
        "types-1-max_per_order": "10",
        "types-1-is_active": "on",
    }
    return data | overrides


def _edit_data(event):
    """What the edit page posts back when nothing is changed."""
    zone = event.tz
    starts = timezone.localtime(event.starts_at, zone)
    data = {
        "name": event.name,
        "date": starts.date().isoformat(),
        "start_time": starts.strftime("%H:%M"),
        "doors_time": "",
        "time_zone": event.time_zone,
        "venue": event.venue,
        "venue_capacity": str(event.venue_capacity),
        "currency": event.currency,
        "description": event.description,
        "is_active": "on" if event.is_active else "",
    }
    types = list(event.ticket_types.order_by("sort_order", "pk"))
    data |= {
        # What the page was opened on: the event and its types as they are.
        "opened": opened_token(opened_version_of(event, types)),
        "types-TOTAL_FORMS": str(len(types) + 1),
        "types-INITIAL_FORMS": str(len(types)),
        "types-MIN_NUM_FORMS": "0",
        "types-MAX_NUM_FORMS": "50",
    }
    for i, t in enumerate(types):
        data |= {
            f"types-{i}-id": str(t.id),
            f"types-{i}-name": t.name,
            f"types-{i}-price": str(t.price),
            f"types-{i}-capacity": str(t.capacity),
            f"types-{i}-max_per_order": str(t.max_per_order),
            f"types-{i}-sort_order": str(t.sort_order),
            f"types-{i}-is_active": "on" if t.is_active else "",
        }
    data[f"types-{len(types)}-max_per_order"] = "10"
    data[f"types-{len(types)}-is_active"] = "on"
    return data


def test_owner_creates_an_event_with_two_types_in_its_time_zone(owner_client):
    response = owner_client.post(NEW, _event_data())
    event = Event.objects.get(name="Salsa Saturday")
    assert response.status_code == 302
    assert response["Location"] == f"/scanner/events/{event.id}/"
    madrid = ZoneInfo("Europe/Madrid")
    expected = datetime.combine(_next_friday(), datetime.min.time(), madrid).replace(
        hour=22
    )
    assert event.starts_at == expected
    assert event.doors_at == expected - timedelta(hours=1)
    assert event.slug == "salsa-saturday"
    types = list(event.ticket_types.order_by("sort_order"))
    assert [(t.name, t.price, t.capacity, t.sort_order) for t in types] == [
        ("VIP", Decimal("40.00"), 50, 0),
        ("General", Decimal("15.00"), 180, 1),
    ]
    page = owner_client.get(response["Location"]).content.decode()
    assert "Salsa Saturday" in page and "is created" in page


def test_blank_second_row_is_ignored(owner_client):
    data = _event_data()
    for key in [k for k in data if k.startswith("types-1-")]:
        data[key] = ""
    data["types-1-max_per_order"] = "10"
    data["types-1-is_active"] = "on"
    assert owner_client.post(NEW, data).status_code == 302
    assert TicketType.objects.count() == 1


@pytest.mark.parametrize(
    ("overrides", "field_id", "message"),
    [
        ({"name": ""}, "id_name", "Please fill this in."),
        ({"venue_capacity": "0"}, "id_venue_capacity", "Use 1 or more."),
        ({"venue_capacity": "lots"}, "id_venue_capacity", "Type a whole number"),
        ({"time_zone": "Mars/Base"}, "id_time_zone", "Choose one of the options."),
        ({"currency": "btc"}, "id_currency", "Choose one of the options."),
        ({"date": "31/31/2025"}, "id_date", "Pick a date"),
        ({"types-0-price": "-5"}, "id_types-0-price", "Use 0 or more."),
        ({"types-0-price": "1.999"}, "id_types-0-price", "two decimals"),
        ({"types-1-capacity": ""}, "id_types-1-capacity", "Please fill this in."),
        ({"types-1-name": "vip"}, "id_types-1-name", "already has this name"),
        ({"types-0-max_per_order": "0"}, "id_types-0-max_per_order", "Use 1 or more."),
        ({"doors_time": "08:00"}, "id_doors_time", "12 hours"),
        (
            {
                "sales_start_at": "2030-01-02T10:00",
                "sales_end_at": "2030-01-01T10:00",
            },
            "id_sales_end_at",
            "close after they open",
        ),
    ],
)
def test_bad_input_is_shown_next_to_its_field_and_saves_nothing(
    owner_client, overrides, field_id, message
):
    response = owner_client.post(NEW, _event_data(**overrides))
    html = response.content.decode()
    assert response.status_code == 400
    error_id = f'id="{field_id}_error"'
    assert error_id in html, html[html.find("error-summary") :][:800]
    assert message in html[html.index(error_id) :][:300]
    assert f'href="#{field_id}"' in html  # the summary links to the field
    assert 'aria-invalid="true"' in html
    assert not Event.objects.exists()


def test_existing_event_name_is_refused_on_the_form(owner_client):
    EventFactory(name="Salsa Saturday")
    response = owner_client.post(NEW, _event_data(name="salsa saturday"))
    assert "already an event called" in response.content.decode()
    assert Event.objects.count() == 1


def test_no_ticket_type_at_all_is_refused(owner_client):
    data = _event_data()
    for i in (0, 1):
        for key in [k for k in data if k.startswith(f"types-{i}-")]:
            data[key] = ""
        data[f"types-{i}-max_per_order"] = "10"
        data[f"types-{i}-is_active"] = "on"
    response = owner_client.post(NEW, data)
    assert "Add at least one ticket type." in response.content.decode()


def _jpeg(size=(3000, 2000)):
    buffer = io.BytesIO()
    Image.new("RGB", size, (10, 200, 90)).save(buffer, format="JPEG")
    return buffer.getvalue()


def test_picture_upload_is_resized_and_a_fake_picture_refused(owner_client):
    fake = SimpleUploadedFile("x.jpg", b"not really", content_type="image/jpeg")
    response = owner_client.post(NEW, _event_data(image=fake))
    html = response.content.decode()
    assert 'id="id_image_error"' in html and "not a picture we can read" in html
    assert not Event.objects.exists()
    photo = SimpleUploadedFile("photo.jpg", _jpeg(), content_type="image/jpeg")
    assert owner_client.post(NEW, _event_data(image=photo)).status_code == 302
    with Image.open(Event.objects.get().image.path) as stored:
        assert max(stored.size) == 1600


def test_capacity_below_sold_shows_on_that_type_row(owner_client):
    event = EventFactory(time_zone="Europe/Madrid")
    TicketTypeFactory(event=event, name="A", capacity=10)
    sold = TicketTypeFactory(event=event, name="B", capacity=10, sort_order=1)
    make_paid_order(sold, 4)
    data = _edit_data(event) | {"types-1-capacity": "3"}
    response = owner_client.post(f"/scanner/events/{event.id}/edit/", data)
    html = response.content.decode()
    assert response.status_code == 400
    assert 'id="id_types-1-capacity_error"' in html
    assert "capacity cannot be lower than 4" in html
    sold.refresh_from_db()
    assert sold.capacity == 10


def test_an_unchanged_edit_keeps_times_and_writes_nothing(owner_client):
    event = EventFactory(time_zone="America/New_York", doors_at=None)
    TicketTypeFactory(event=event)
    before = (event.starts_at.replace(second=0, microsecond=0), event.slug)
    Event.objects.filter(pk=event.pk).update(starts_at=before[0])
    event.refresh_from_db()
    response = owner_client.post(f"/scanner/events/{event.id}/edit/", _edit_data(event))
    assert response.status_code == 302
    event.refresh_from_db()
    assert (event.starts_at, event.slug) == before
    assert list(AuditLogEntry.objects.values("action", "before", "after")) == []


def test_edit_changes_price_adds_and_deletes_types(owner_client):
    event = EventFactory()
    keep = TicketTypeFactory(event=event, name="Keep", price=Decimal("10.00"))
    drop = TicketTypeFactory(event=event, name="Drop", sort_order=1)
    data = _edit_data(event) | {
        "types-0-price": "12.50",
        "types-1-delete": "on",
        "types-2-name": "New",
        "types-2-price": "5",
        "types-2-capacity": "20",
    }
    assert (
        owner_client.post(f"/scanner/events/{event.id}/edit/", data).status_code == 302
    )
    keep.refresh_from_db()
    assert keep.price == Decimal("12.50")
    assert not TicketType.objects.filter(pk=drop.pk).exists()
    assert event.ticket_types.filter(name="New").exists()
    audit = owner_client.get(f"/scanner/events/{event.id}/changes/").content.decode()
    assert "Changed a ticket type" in audit and "$10.00" in audit and "$12.50" in audit
    assert "Deleted a ticket type" in audit and "Added a ticket type" in audit


def test_deleting_a_type_with_orders_shows_why_and_keeps_it(owner_client):
    event = EventFactory()
    sold = TicketTypeFactory(event=event)
    TicketTypeFactory(event=event, sort_order=1)
    make_paid_order(sold, 1)
    data = _edit_data(event) | {"types-0-delete": "on"}
    response = owner_client.post(f"/scanner/events/{event.id}/edit/", data)
    assert "has orders, so it cannot be deleted" in response.content.decode()
    assert TicketType.objects.filter(pk=sold.pk).exists()


def test_event_with_orders_offers_deactivation_instead_of_delete(owner_client):
    sold = TicketTypeFactory()
    make_paid_order(sold, 1)
    url = f"/scanner/events/{sold.event_id}/delete/"
    page = owner_client.get(url).content.decode()
    assert "can't be deleted" in page and "Take off sale" in page
    response = owner_client.post(url)
    assert response.status_code == 409
    assert Event.objects.filter(pk=sold.event_id).exists()
    owner_client.post(f"/scanner/events/{sold.event_id}/on-sale/", {"active": "0"})
    assert not Event.objects.get(pk=sold.event_id).is_active


def test_event_without_orders_is_deleted(owner_client):
    event = TicketTypeFactory().event
    response = owner_client.post(f"/scanner/events/{event.id}/delete/")
    assert response.status_code == 302
    assert not Event.objects.filter(pk=event.pk).exists()


def test_duplicate_form_creates_an_off_sale_copy_on_a_new_date(owner_client):
    event = EventFactory(name="Jazz", time_zone="Europe/London")
    TicketTypeFactory(event=event, name="Seat")
    new_date = (timezone.now() + timedelta(days=30)).date()
    response = owner_client.post(
        f"/scanner/events/{event.id}/duplicate/",
        {"name": "Jazz II", "date": new_date.isoformat(), "start_time": "20:30"},
    )
    copy = Event.objects.get(name="Jazz II")
    assert response["Location"] == f"/scanner/events/{copy.id}/"
    assert not copy.is_active
    assert (
        timezone.localtime(copy.starts_at, ZoneInfo("Europe/London")).strftime(
            "%Y-%m-%d %H:%M"
        )
        == f"{new_date.isoformat()} 20:30"
    )
    taken = owner_client.post(
        f"/scanner/events/{event.id}/duplicate/",
        {"name": "jazz ii", "date": new_date.isoformat(), "start_time": "20:30"},
    )
    assert (
        taken.status_code == 400 and "already an event called" in taken.content.decode()
    )


def test_event_list_has_upcoming_inactive_and_past(owner_client):
    EventFactory(name="Soon")
    EventFactory(name="Hidden", is_active=False)
    EventFactory(name="Gone", starts_at=timezone.now() - timedelta(days=2))

    def names(show):
        return owner_client.get(f"/scanner/?show={show}").content.decode()

    assert "Soon" in names("upcoming") and "Hidden" not in names("upcoming")
    assert "Hidden" in names("inactive") and "Soon" not in names("inactive")
    assert "Gone" in names("past") and "Soon" not in names("past")


def test_door_staff_home_is_their_scanning_list(client, door):
    event = EventFactory(name="Door Night")
    client.force_login(door)
    response = client.get("/scanner/")
    if response.status_code == 302:  # the door page exists: door staff go there
        assert response["Location"].startswith("/scanner/door")
    else:
        assert "Door Night" in response.content.decode()
    assert client.get(f"/scanner/events/{event.id}/").status_code == 403


def test_owner_issues_comps_that_are_emailed(owner_client):
    ticket_type = TicketTypeFactory(capacity=3)
    url = f"/scanner/events/{ticket_type.event_id}/comps/"
    response = owner_client.post(
        url,
        {
            "ticket_type": ticket_type.id,
            "quantity": 2,
            "guest_name": "Ana Guest",
            "guest_email": "ana@example.com",
            "guest_phone": "",
        },
    )
    assert response.status_code == 302
    order = Order.objects.get(source=Order.Source.COMP)
    assert order.tickets.count() == 2
    assert OutboundMessage.objects.filter(
        order=order, kind="order_confirmation"
    ).exists()
    page = owner_client.get(url).content.decode()
    assert "Ana Guest" in page and order.code in page
    too_many = owner_client.post(
        url,
        {
            "ticket_type": ticket_type.id,
            "quantity": 2,
            "guest_name": "Ben",
            "guest_email": "ben@example.com",
        },
    )
    html = too_many.content.decode()
    assert too_many.status_code == 400 and 'id="id_quantity_error"' in html
    assert "Only 1" in html


def test_manager_cannot_issue_comps_but_can_edit(client, manager):
    ticket_type = TicketTypeFactory()
    client.force_login(manager)
    assert (
        client.get(f"/scanner/events/{ticket_type.event_id}/comps/").status_code == 403
    )
    assert (
        client.get(f"/scanner/events/{ticket_type.event_id}/edit/").status_code == 200
    )


def test_new_event_form_suggests_the_last_event_zone_and_currency(owner_client):
    EventFactory(time_zone="Europe/Madrid", currency="eur")
    html = owner_client.get(NEW).content.decode()
    assert html.count('<option value="Europe/Madrid" selected>') == 1
    assert '<option value="eur" selected>' in html
