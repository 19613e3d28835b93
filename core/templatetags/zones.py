"""Times shown with the short name of their time zone: "7 Dec · 20:49 EST".

Events happen in different zones and the site has its own (`TIME_ZONE`), so a
bare "20:49" beside another zone's "02:52" reads as a mistake. These put the
zone's short name after the time: the tz database's abbreviation ("CET",
"EST"), or "GMT+3" where the database only has a number ("+03"), which few
people recognise as a zone.

    {% load zones %}
    {% timezone event.time_zone %}{{ order.created_at|datetime_with_zone:"j M · H:i" }}{% endtimezone %}
    → 7 Dec · 20:49 EST   (in the zone that is active: the event's here,
                           the site's TIME_ZONE outside any {% timezone %})
    {{ event|zone_abbr }}                     → CET (the event's zone at its start)
    {{ moment|zone_abbr:"America/New_York" }} → EST
"""

import re
from datetime import datetime, tzinfo
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from django import template
from django.template.defaultfilters import date as format_date

register = template.Library()

_NUMERIC_ABBREVIATION = re.compile(r"([+-])(\d{2})(\d{2})?")
# Between the time and its zone: a phone's narrow column must not put the
# zone alone on the next line.
_NO_BREAK_SPACE = "\u00a0"


def _zone(zone: str | tzinfo) -> tzinfo | None:
    if isinstance(zone, tzinfo):
        return zone
    try:
        return ZoneInfo(zone)
    except (ZoneInfoNotFoundError, ValueError):
        return None


def _readable(abbreviation: str) -> str:
    """ "+03" → "GMT+3", "+0545" → "GMT+5:45", "-03" → "GMT-3"; names as they are."""
    numeric = _NUMERIC_ABBREVIATION.fullmatch(abbreviation)
    if numeric is None:
        return abbreviation
    sign, hours, minutes = numeric.groups()
    if int(hours) == 0 and int(minutes or 0) == 0:
        return "GMT"
    text = f"GMT{sign}{int(hours)}"
    return f"{text}:{minutes}" if minutes and minutes != "00" else text


def zone_abbreviation(moment: datetime, zone: str | tzinfo | None = None) -> str:
    """The short name of `zone` (default: `moment`'s own zone) at `moment`.

    At the moment, since a zone's name changes with summer time (CET/CEST).
    Empty for a naive datetime or an unknown zone name.
    """
    if moment.tzinfo is None:
        return ""
    if zone:
        resolved = _zone(zone)
        if resolved is None:
            return ""
        moment = moment.astimezone(resolved)
    return _readable(moment.tzname() or "")


@register.filter(expects_localtime=True)
def zone_abbr(value, zone: str = "") -> str:
    """A datetime's zone abbreviation (in `zone`, else the active zone), or an
    event's (anything with `starts_at` and `time_zone`) at its start."""
    if value in (None, ""):
        return ""
    if isinstance(value, datetime):
        return zone_abbreviation(value, zone or None)
    starts_at = getattr(value, "starts_at", None)
    event_zone = getattr(value, "time_zone", None)
    if isinstance(starts_at, datetime) and event_zone:
        return zone_abbreviation(starts_at, zone or event_zone)
    return ""


@register.filter(expects_localtime=True)
def datetime_with_zone(value, format_string: str = "") -> str:
    """`value|date:format_string` in the active zone, then that zone's short
    name: "7 Dec · 20:49 EST". Empty for no value."""
    if not isinstance(value, datetime):
        return ""
    text = format_date(value, format_string)
    abbreviation = zone_abbreviation(value)
    return f"{text}{_NO_BREAK_SPACE}{abbreviation}" if abbreviation else text
