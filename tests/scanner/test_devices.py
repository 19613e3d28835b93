"""Door devices in the staff console: register (token shown once), list, revoke."""

import json

import pytest
from django.urls import reverse

from core.models import AuditLogEntry, Role, ScannerDevice
from core.queries.devices import token_digest
from tests.factories import make_door_open_event, make_staff

pytestmark = pytest.mark.django_db


@pytest.fixture
def owner_client(client):
    client.force_login(make_staff(Role.OWNER))
    return client


def _scan(client, token: str, event) -> int:
    response = client.post(
        "/api/v1/scan",
        json.dumps({"event": str(event.pk), "code": "NOT-A-TICKET"}),
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Device {token}",
    )
    return response.status_code


def _add(client, **data) -> str:
    """Add a device as the page does and return the token it shows once."""
    response = client.post(reverse("scanner:devices"), data, follow=True)
    return response.context["token"]


def test_an_owner_adds_a_device_and_sees_its_token_once(owner_client, client):
    event = make_door_open_event(name="Tonight")

    response = owner_client.post(
        reverse("scanner:devices"), {"label": "Door 2 handheld", "event": event.pk}
    )

    # Post, redirect, get: a reload of the page shows the list, adds nothing.
    assert response.status_code == 302
    assert response["Location"] == reverse("scanner:devices")
    page = owner_client.get(reverse("scanner:devices"))
    token = page.context["token"]
    device = ScannerDevice.objects.get()
    assert (device.label, device.event, device.is_active) == (
        "Door 2 handheld",
        event,
        True,
    )
    assert device.token_digest == token_digest(token)  # only the digest is kept
    html = page.content.decode()
    assert token in html
    assert "no-cache" in page["Cache-Control"]
    assert "Scans Tonight only" in html
    assert "shown this once only" in html and "data-copy-token" in html
    # Shown once: the list page never carries it again.
    assert token not in owner_client.get(reverse("scanner:devices")).content.decode()
    assert _scan(client, token, event) == 200


def test_reloading_after_adding_a_device_adds_no_second_one(owner_client):
    response = owner_client.post(
        reverse("scanner:devices"), {"label": "Bar tablet"}, follow=True
    )
    assert response.context["token"]
    # The browser ends on a page it got, not on the answer to the form: a
    # reload asks for the page again instead of sending the form again.
    assert response.redirect_chain == [(reverse("scanner:devices"), 302)]

    reload = owner_client.get(response.request["PATH_INFO"])

    assert reload.status_code == 200
    assert reload.context["token"] is None
    assert ScannerDevice.objects.filter(label="Bar tablet").count() == 1


def test_adding_and_revoking_a_device_is_recorded_with_who_did_it(client):
    owner = make_staff(Role.OWNER, first_name="Olive", last_name="Owner")
    client.force_login(owner)
    event = make_door_open_event(name="Tonight")
    _add(client, label="Bar tablet", event=event.pk)
    device = ScannerDevice.objects.get()

    client.post(reverse("scanner:device_revoke", args=[device.pk]))

    added, revoked = AuditLogEntry.objects.order_by("at", "id")
    assert (added.action, added.actor, added.object_repr) == (
        "device.add",
        owner,
        "Bar tablet",
    )
    assert added.after["scans"] == "Tonight"
    assert (revoked.action, revoked.actor, revoked.object_repr) == (
        "device.revoke",
        owner,
        "Bar tablet",
    )
    page = client.get(reverse("scanner:devices"))
    history = page.content.decode()
    history = history[history.index("data-device-changes") :]
    assert "Added a door device" in history and "Revoked a door device" in history
    assert "Olive Owner" in history and "Bar tablet" in history


def test_revoking_a_revoked_device_records_it_once(owner_client):
    _add(owner_client, label="Kiosk")
    device = ScannerDevice.objects.get()

    for _ in range(2):
        owner_client.post(reverse("scanner:device_revoke", args=[device.pk]))

    assert AuditLogEntry.objects.filter(action="device.revoke").count() == 1


def test_a_device_form_error_is_in_plain_words(owner_client):
    response = owner_client.post(reverse("scanner:devices"), {"label": ""})

    assert response.context["form"].errors["label"] == ["Please fill this in."]
    assert "This field is required." not in response.content.decode()


def test_a_revoked_device_can_no_longer_scan(owner_client, client):
    event = make_door_open_event()
    _add(owner_client, label="Kiosk")
    token = _add(owner_client, label="Kiosk 2")
    device = ScannerDevice.objects.get(label="Kiosk 2")

    response = owner_client.post(reverse("scanner:device_revoke", args=[device.pk]))

    assert response.status_code == 302
    device.refresh_from_db()
    assert not device.is_active
    assert _scan(client, token, event) == 401
    page = owner_client.get(reverse("scanner:devices")).content.decode()
    assert "Kiosk 2 can no longer scan." in page and "Revoked" in page
    assert ScannerDevice.objects.get(label="Kiosk").is_active


@pytest.mark.parametrize("label", ["", "   ", "\x00\x01"])
def test_a_device_needs_a_name(owner_client, label):
    response = owner_client.post(reverse("scanner:devices"), {"label": label})

    assert response.status_code == 400
    assert response.context["token"] is None
    assert response.context["form"].errors
    assert not ScannerDevice.objects.exists()


def test_revoking_an_unknown_device_says_so(owner_client):
    response = owner_client.post(
        reverse("scanner:device_revoke", args=[999]), follow=True
    )
    assert "No such device." in response.content.decode()


@pytest.mark.parametrize("role", [Role.MANAGER, Role.DOOR])
def test_only_the_owner_manages_devices(client, role):
    client.force_login(make_staff(role))
    assert client.get(reverse("scanner:devices")).status_code == 403
    assert client.post(reverse("scanner:devices"), {"label": "X"}).status_code == 403
    assert not ScannerDevice.objects.exists()


def test_the_page_tells_an_owner_what_a_device_is_and_to_keep_its_token_secret(
    owner_client,
):
    html = owner_client.get(reverse("scanner:devices")).content.decode()
    intro = html[html.index("data-devices-intro") :]
    intro = intro[: intro.index("</div>")]

    assert "checks tickets without anyone signing in" in intro
    assert "To set one up:" in intro
    assert "Keep the token secret." in intro and "revoke the device" in intro
    # The protocol is for the README, not for the owner.
    for jargon in ("Authorization", "POST", "/api/v1/scan"):
        assert jargon not in html, jargon
