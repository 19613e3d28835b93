"""Times shown with their zone's short name (core/templatetags/zones.py)."""

from datetime import UTC, datetime
from types import SimpleNamespace

import pytest
from django.template import Context, Template

from core.templatetags.zones import zone_abbr, zone_abbreviation

WINTER = datetime(2025, 12, 7, 1, 49, tzinfo=UTC)
SUMMER = datetime(2025, 7, 7, 1, 49, tzinfo=UTC)


def render(source: str, **context) -> str:
    return Template("{% load tz zones %}" + source).render(Context(context))


@pytest.mark.parametrize(
    ("zone", "moment", "expected"),
    [
        ("Europe/Madrid", WINTER, "CET"),
        ("Europe/Madrid", SUMMER, "CEST"),
        ("America/New_York", WINTER, "EST"),
        ("UTC", WINTER, "UTC"),
        ("Europe/Istanbul", WINTER, "GMT+3"),
        ("America/Sao_Paulo", WINTER, "GMT-3"),
        ("Asia/Kathmandu", WINTER, "GMT+5:45"),
    ],
)
def test_zone_abbreviation_names_the_zone_at_that_moment(zone, moment, expected):
    assert zone_abbreviation(moment, zone) == expected


def test_zone_abbreviation_is_empty_for_an_unknown_zone_or_a_naive_time():
    assert zone_abbreviation(WINTER, "Mars/Olympus_Mons") == ""
    assert zone_abbreviation(datetime(2025, 12, 7, 1, 49)) == ""  # noqa: DTZ001


def test_zone_abbr_of_an_event_is_its_zone_at_its_start():
    event = SimpleNamespace(starts_at=SUMMER, time_zone="Europe/Madrid")
    assert zone_abbr(event) == "CEST"
    assert render("{{ event|zone_abbr }}", event=event) == "CEST"


def test_datetime_with_zone_renders_in_the_active_zone_with_its_short_name(settings):
    settings.TIME_ZONE = "Europe/Madrid"  # the site's zone, outside {% timezone %}
    source = (
        '{{ at|datetime_with_zone:"j M · H:i" }}|'
        "{% timezone zone %}"
        '{{ at|datetime_with_zone:"j M · H:i" }}|{{ at|zone_abbr }}'
        "{% endtimezone %}"
    )
    text = render(source, at=WINTER, zone="America/New_York")
    assert text == "7 Dec · 02:49\u00a0CET|6 Dec · 20:49\u00a0EST|EST"


def test_datetime_with_zone_leaves_no_value_empty():
    assert render('{{ at|datetime_with_zone:"H:i" }}', at=None) == ""
