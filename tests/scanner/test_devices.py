"""Door devices in the staff console: register (token shown once), list, revoke."""

import json

import pytest
from django.urls import reverse

from core.models import Role, ScannerDevice
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


def test_an_owner_adds_a_device_and_sees_its_token_once(owner_client, client):
    event = make_door_open_event(name="Tonight")

    response = owner_client.post(
        reverse("scanner:devices"), {"label": "Door 2 handheld", "event": event.pk}
    )

    assert response.status_code == 200
    token = response.context["token"]
    device = ScannerDevice.objects.get()
    assert (device.label, device.event, device.is_active) == (
        "Door 2 handheld",
        event,
        True,
    )
    assert device.token_digest == token_digest(token)  # only the digest is kept
    assert token in response.content.decode()
    assert "no-cache" in response["Cache-Control"]
    assert "Scans Tonight only" in response.content.decode()
    # Shown once: the list page never carries it again.
    assert token not in owner_client.get(reverse("scanner:devices")).content.decode()
    assert _scan(client, token, event) == 200


def test_a_revoked_device_can_no_longer_scan(owner_client, client):
    event = make_door_open_event()
    owner_client.post(reverse("scanner:devices"), {"label": "Kiosk"})
    token = owner_client.post(reverse("scanner:devices"), {"label": "Kiosk 2"}).context[
        "token"
    ]
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
