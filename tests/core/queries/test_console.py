"""The console's event list tabs: tonight's show stays on sale while it is on."""

from datetime import timedelta

import pytest
from django.utils import timezone

from core.queries.analytics import NIGHT_LENGTH, events_overview
from core.queries.console import console_event_counts, console_events
from tests.factories import EventFactory

pytestmark = pytest.mark.django_db


def _tabs(now) -> dict[str, list[str]]:
    return {
        show: [e.name for e in console_events(show=show, now=now)]
        for show in ("upcoming", "inactive", "past")
    }


def test_tonights_show_stays_on_sale_after_it_starts_as_in_analytics():
    now = timezone.now()
    EventFactory(name="Tonight", starts_at=now - timedelta(hours=2))
    EventFactory(
        name="Off tonight", starts_at=now - timedelta(hours=2), is_active=False
    )
    EventFactory(name="Last week", starts_at=now - timedelta(days=7))

    assert _tabs(now) == {
        "upcoming": ["Tonight"],
        "inactive": ["Off tonight"],
        "past": ["Last week"],
    }
    assert console_event_counts(now) == {"upcoming": 1, "inactive": 1, "past": 1}
    overview = events_overview(now=now)
    assert {f.event.name for f in overview.upcoming} == {"Tonight", "Off tonight"}


def test_a_show_is_past_once_its_night_is_over_as_in_analytics():
    now = timezone.now()
    EventFactory(name="Over", starts_at=now - NIGHT_LENGTH)
    EventFactory(name="Still on", starts_at=now - NIGHT_LENGTH + timedelta(minutes=1))

    assert _tabs(now) == {"upcoming": ["Still on"], "inactive": [], "past": ["Over"]}
    overview = events_overview(now=now)
    assert [f.event.name for f in overview.past] == ["Over"]
