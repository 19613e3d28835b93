"""The public availability API, cached and invalidated by every change."""

import pytest

from core import realtime
from tests.factories import EventFactory, TicketTypeFactory, make_paid_order

pytestmark = pytest.mark.django_db


@pytest.fixture(params=[0, 300], ids=["uncached", "cached"])
def cache_seconds(request, settings):
    settings.LIVE_CACHE_SECONDS = request.param
    realtime.bump_catalogue_version()
    return request.param


def test_availability_has_the_seeds_shape_and_is_never_cached_by_browsers(
    client, cache_seconds
):
    seat = TicketTypeFactory(name="VIP", capacity=10, price="50.00")
    response = client.get(f"/api/v1/events/{seat.event.slug}/availability")
    assert response.status_code == 200
    assert response["Cache-Control"] == "no-cache"
    body = response.json()
    assert body["event"]["id"] == str(seat.event_id)
    assert (
        body["availability"][0] | {"name": "VIP", "available": 10}
        == (body["availability"][0])
    )
    assert set(body["summary"]) >= {"total_capacity", "total_sold", "is_sold_out"}


def test_unknown_and_inactive_events_are_404(client, cache_seconds):
    hidden = EventFactory(is_active=False)
    assert client.get("/api/v1/events/nope/availability").status_code == 404
    assert client.get(f"/api/v1/events/{hidden.slug}/availability").status_code == 404
    assert (
        client.get(f"/functions/v1/event-availability/{hidden.name}").status_code == 404
    )


def test_a_sale_shows_up_as_soon_as_it_is_announced(
    client, cache_seconds, django_capture_on_commit_callbacks
):
    seat = TicketTypeFactory(name="GA", capacity=3)
    by_slug = f"/api/v1/events/{seat.event.slug}/availability"
    by_name = f"/functions/v1/event-availability/{seat.event.name}"
    assert client.get(by_slug).json()["availability"][0]["available"] == 3
    assert client.get(by_name).json()["availability"][0]["available"] == 3

    with django_capture_on_commit_callbacks(execute=True):
        make_paid_order(seat, 2)

    assert client.get(by_slug).json()["availability"][0]["available"] == 1
    assert client.get(by_name).json()["availability"][0]["available"] == 1
