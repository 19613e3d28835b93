"""The availability API of an event no longer on sale tells a cancellation
(with the reason customers may read) from an event taken off sale."""

import pytest

from core import realtime
from core.models import Role
from core.services.event_cancellation import cancel_event
from core.services.events import set_event_active
from tests.factories import EventFactory, TicketTypeFactory, make_staff

pytestmark = pytest.mark.django_db


@pytest.fixture(params=[0, 300], ids=["uncached", "cached"])
def cache_seconds(request, settings):
    settings.LIVE_CACHE_SECONDS = request.param
    realtime.bump_catalogue_version()
    return request.param


def test_a_cancelled_event_says_so_and_why(
    client, cache_seconds, django_capture_on_commit_callbacks
):
    event = EventFactory(name="Storm Night")
    TicketTypeFactory(event=event)
    url = f"/api/v1/events/{event.slug}/availability"
    assert client.get(url).status_code == 200

    with django_capture_on_commit_callbacks(execute=True):
        cancel_event(
            actor=make_staff(Role.OWNER),
            event_id=event.id,
            reason="The storm closed the venue",
        )

    for path in (url, f"/functions/v1/event-availability/{event.name}"):
        response = client.get(path)
        assert response.status_code == 404
        assert response.json() == {
            "code": "event_cancelled",
            "message": "Storm Night is cancelled.",
            "cancel_reason": "The storm closed the venue",
        }


def test_an_event_taken_off_sale_or_never_on_sale_is_not_found(
    client, cache_seconds, django_capture_on_commit_callbacks
):
    pulled = EventFactory(name="Pulled Night")
    draft = EventFactory(name="Secret Draft", is_active=False)
    with django_capture_on_commit_callbacks(execute=True):
        set_event_active(actor=make_staff(Role.OWNER), event_id=pulled.id, active=False)

    for event in (pulled, draft):
        response = client.get(f"/api/v1/events/{event.slug}/availability")
        assert response.status_code == 404
        assert response.json()["code"] == "event_not_found"
        assert event.name not in response.content.decode()
