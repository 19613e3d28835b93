from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone

from core.models import Event, OutboundMessage, Role, StaffInvite
from core.queries.staff import role_of
from tests.factories import EventFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def owner_client(client, owner):
    client.force_login(owner)
    return client


def test_owner_invites_by_email_and_sms(owner_client):
    response = owner_client.post(
        "/scanner/staff/invite/",
        {"email": "new@example.com", "phone": "+14155550123", "role": Role.DOOR},
    )
    assert response["Location"] == "/scanner/staff/"
    invite = StaffInvite.objects.get()
    assert {m.channel for m in OutboundMessage.objects.filter(kind="staff_invite")} == {
        "email",
        "sms",
    }
    page = owner_client.get("/scanner/staff/").content.decode()
    assert "new@example.com" in page and "Invitation sent" in page
    owner_client.post(f"/scanner/staff/invites/{invite.id}/cancel/")
    page = owner_client.get("/scanner/staff/").content.decode()
    assert "invitation to new@example.com is cancelled" in page
    assert "<strong>new@example.com</strong>" not in page


def test_owner_invites_door_staff_for_chosen_events(owner_client):
    gig, other = EventFactory(name="Gig"), EventFactory(name="Other")
    form = owner_client.get("/scanner/staff/invite/").content.decode()
    assert f'value="{gig.id}"' in form and f'value="{other.id}"' in form
    assert "Door staff may scan" in form

    owner_client.post(
        "/scanner/staff/invite/",
        {"email": "new@example.com", "role": Role.DOOR, "events": [str(gig.id)]},
    )

    invite = StaffInvite.objects.get()
    assert list(invite.events.all()) == [gig]
    page = owner_client.get("/scanner/staff/").content.decode()
    pending = page[page.index("Pending invitations") :]
    assert "Scans: Gig" in pending and "Other" not in pending


def test_deactivating_asks_first_and_says_what_it_does(owner_client, door):
    page = owner_client.get("/scanner/staff/").content.decode()
    row = page[page.index(f"/scanner/staff/{door.id}/active/") - 400 :]
    row = row[: row.index("</details>")]
    assert "<summary" in row and "Yes, deactivate" in row
    assert "cannot sign in or scan until you reactivate them" in row


@pytest.mark.parametrize(
    ("data", "field_id", "message"),
    [
        ({"email": "nope", "role": "door"}, "id_email", "Type an email address"),
        ({"email": "a@example.com", "role": "king"}, "id_role", "Choose one"),
        (
            {"email": "a@example.com", "role": "door", "phone": "abc"},
            "id_phone",
            "country code",
        ),
        (
            {"email": "door1@example.com", "role": "door"},
            "id_email",
            "already on your staff",
        ),
    ],
)
def test_bad_invites_show_errors_next_to_fields(
    owner_client, door, data, field_id, message
):
    response = owner_client.post("/scanner/staff/invite/", data)
    html = response.content.decode()
    assert response.status_code == 400
    assert f'id="{field_id}_error"' in html and message in html
    assert not StaffInvite.objects.exists()


def test_owner_changes_role_and_door_events(owner_client, door):
    event = EventFactory(name="Gig")
    response = owner_client.post(
        f"/scanner/staff/{door.id}/", {"role": "door", "events": [str(event.id)]}
    )
    assert response.status_code == 302
    assert list(door.staff_profile.events.all()) == [event]
    page = owner_client.get("/scanner/staff/").content.decode()
    assert "Scans: Gig" in page
    owner_client.post(f"/scanner/staff/{door.id}/", {"role": "manager"})
    door.refresh_from_db()
    assert role_of(door) == Role.MANAGER
    assert not door.staff_profile.events.exists()


def test_owner_cannot_change_own_role(owner_client, owner):
    response = owner_client.post(f"/scanner/staff/{owner.id}/", {"role": "door"})
    assert response.status_code == 400
    assert "cannot change the role of yourself" in response.content.decode()


def test_deactivated_staff_are_signed_out(owner_client, door):
    door_client = Client()
    door_client.force_login(door)
    assert door_client.get("/scanner/").status_code in (200, 302)
    owner_client.post(f"/scanner/staff/{door.id}/active/", {"active": "0"})
    response = door_client.get("/scanner/")
    assert response.status_code == 302 and "/scanner/login/" in response["Location"]
    owner_client.post(f"/scanner/staff/{door.id}/active/", {"active": "1"})
    door.refresh_from_db()
    assert door.is_active


def test_an_event_under_way_can_be_chosen_for_door_staff(owner_client, door):
    """Someone joining the door at 21:30 can be put on the show that began at 21:00."""
    now = timezone.now()
    tonight = EventFactory(name="Tonight", starts_at=now - timedelta(minutes=30))
    last_week = EventFactory(name="Last week", starts_at=now - timedelta(days=7))

    for page in (
        owner_client.get("/scanner/staff/invite/"),
        owner_client.get(f"/scanner/staff/{door.id}/"),
    ):
        html = page.content.decode()
        assert f'value="{tonight.id}"' in html
        assert f'value="{last_week.id}"' not in html

    owner_client.post(
        "/scanner/staff/invite/",
        {"email": "new@example.com", "role": Role.DOOR, "events": [str(tonight.id)]},
    )
    assert list(StaffInvite.objects.get().events.all()) == [tonight]


def test_deleting_the_only_event_of_door_staff_says_who_and_what_to_do(
    owner_client, door
):
    gig = EventFactory(name="Gig")
    owner_client.post(
        f"/scanner/staff/{door.id}/", {"role": "door", "events": [str(gig.id)]}
    )

    response = owner_client.post(f"/scanner/events/{gig.id}/delete/")

    html = response.content.decode()
    assert response.status_code == 409
    assert 'role="alert"' in html
    assert "door1 may scan only this event" in html
    assert "Change what they scan on the Staff page first" in html
    assert Event.objects.filter(pk=gig.pk).exists()


def test_an_invite_link_for_a_deleted_event_says_to_ask_for_a_new_one(owner_client):
    gig = EventFactory(name="Gig")
    owner_client.post(
        "/scanner/staff/invite/",
        {"email": "new@example.com", "role": Role.DOOR, "events": [str(gig.id)]},
    )
    invite = StaffInvite.objects.get()
    gig.delete()

    response = Client().get(f"/scanner/invite/{invite.token}/")

    assert response.status_code == 410
    assert "for an event that no longer exists" in response.content.decode()
