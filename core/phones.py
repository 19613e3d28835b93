"""Phone numbers: read as people type them, kept and texted in E.164.

Twilio only takes numbers in E.164 ("+34612345678"), so a number is turned
into that form once, when it is typed, with the `phonenumbers` library. One
typed without its country code ("612 345 678") is read as a number of the
event's country, which comes from the event's time zone through the tz
database's zone.tab (Europe/Madrid is in ES); where there is no event, or
its zone names no country (UTC), of DEFAULT_PHONE_REGION.
"""

import functools
import importlib.resources
import zoneinfo
from pathlib import Path

import phonenumbers
from django.conf import settings
from phonenumbers import NumberParseException, PhoneNumberFormat, PhoneNumberType

FALLBACK_REGION = "US"
NO_BREAK_SPACE = "\u00a0"


class NotAPhoneNumber(ValueError):
    """What was typed is no number a text can go to; `example` is a mobile
    number of the country it was read in, written as people should type it."""

    def __init__(self, example: str, *, landline: bool = False) -> None:
        self.example = example
        self.landline = landline
        super().__init__(example)


def normalise_phone(typed: str, *, region: str) -> str:
    """The E.164 form of a number typed with its +country code, or without
    it as a number of `region`; "" for nothing typed.

    Raises NotAPhoneNumber for text that is no number, a number no such
    country has, or a landline (texts cannot reach one).
    """
    typed = (typed or "").strip()
    if not typed:
        return ""
    try:
        number = phonenumbers.parse(typed, region)
    except NumberParseException as exc:
        raise NotAPhoneNumber(example_mobile(_country_named(typed) or region)) from exc
    if not phonenumbers.is_valid_number(number):
        raise NotAPhoneNumber(example_mobile(_country_read_in(number, region)))
    if phonenumbers.number_type(number) == PhoneNumberType.FIXED_LINE:
        raise NotAPhoneNumber(
            example_mobile(_country_read_in(number, region)), landline=True
        )
    return phonenumbers.format_number(number, PhoneNumberFormat.E164)


def _country_read_in(number, region: str) -> str:
    """The country a refused number was read in, for its example: the one
    its +code names, when it names one. Only on refusal: a checkout's
    number costs no more than it must (ADR 7)."""
    country = phonenumbers.region_code_for_number(number)
    if not country:  # an invalid number: its code's main country
        named = phonenumbers.region_code_for_country_code(number.country_code)
        country = region if named == phonenumbers.UNKNOWN_REGION else named
    return country


def _country_named(typed: str) -> str | None:
    """The country whose +code starts a number too short to read ("+44 12")."""
    if not typed.startswith("+"):
        return None
    digits = "".join(c for c in typed if c.isdigit())
    for length in (1, 2, 3):
        if len(digits) >= length:
            country = phonenumbers.region_code_for_country_code(int(digits[:length]))
            if country != phonenumbers.UNKNOWN_REGION:
                return country
    return None


def lacks_country_code(typed: str) -> bool:
    """Whether a number was typed without its +country code, so is read as
    one of a country that must be looked up (the event's)."""
    typed = (typed or "").strip()
    return bool(typed) and not typed.startswith("+")


def sms_number(stored: str, *, region: str | None = None) -> str:
    """The number to text for one stored before numbers were kept in E.164:
    its E.164 form when it reads as a valid number, as stored otherwise (the
    provider's refusal then says why)."""
    try:
        number = phonenumbers.parse(stored, region or default_phone_region())
    except NumberParseException:
        return stored
    if not phonenumbers.is_valid_number(number):
        return stored
    return phonenumbers.format_number(number, PhoneNumberFormat.E164)


def message_time_zone(message) -> str | None:
    """The time zone of the event an outbox message is about (its own, or
    its order's): where its number, if typed without a +code, is from."""
    if message.event_id:
        return message.event.time_zone
    if message.order_id:
        return message.order.event.time_zone
    return None


def display_phone(stored: str) -> str:
    """A stored number as people read it, "+34 612 34 56 78"; one that does
    not read as a valid number (kept from before E.164) as it is."""
    if not stored:
        return ""
    try:
        number = phonenumbers.parse(stored, None)
    except NumberParseException:
        return stored
    if not phonenumbers.is_valid_number(number):
        return stored
    return phonenumbers.format_number(number, PhoneNumberFormat.INTERNATIONAL)


@functools.cache
def example_mobile(region: str) -> str:
    """A mobile number of `region` as it should be typed: "+34 612 34 56 78",
    its spaces non-breaking, so that a phone's narrow column never splits
    the example in two."""
    number = phonenumbers.example_number_for_type(region, PhoneNumberType.MOBILE)
    if number is None:
        number = phonenumbers.example_number_for_type(
            FALLBACK_REGION, PhoneNumberType.MOBILE
        )
    text = phonenumbers.format_number(number, PhoneNumberFormat.INTERNATIONAL)
    return text.replace(" ", NO_BREAK_SPACE)


def phone_region(time_zone: str | None = None) -> str:
    """The country a number typed without its code is read in: that of the
    event's `time_zone` when it names one, else DEFAULT_PHONE_REGION."""
    return (time_zone and country_of_time_zone(time_zone)) or default_phone_region()


def default_phone_region() -> str:
    """DEFAULT_PHONE_REGION, else the country of the site's TIME_ZONE, else US."""
    configured = (settings.DEFAULT_PHONE_REGION or "").strip().upper()
    if configured:
        return configured
    return country_of_time_zone(settings.TIME_ZONE) or FALLBACK_REGION


def is_phone_region(region: str) -> bool:
    """Whether `region` is a country code phone numbers can be read in."""
    return region.upper() in phonenumbers.SUPPORTED_REGIONS


def country_of_time_zone(time_zone: str) -> str | None:
    """The two-letter country of a tz database zone ("Europe/Madrid" → "ES"),
    None for a zone of no one country (UTC, Etc/GMT+3) or an old alias."""
    return _zone_countries().get(time_zone)


@functools.cache
def _zone_countries() -> dict[str, str]:
    """zone.tab read once: each zone and the country it is the time of.

    zone.tab names one country per zone; zone1970.tab, read for what
    zone.tab lacks, can name several (Europe/Zurich: CH, DE, LI), of which
    the first is the zone's own.
    """
    countries: dict[str, str] = {}
    for name in ("zone.tab", "zone1970.tab"):
        for line in _zone_table(name).splitlines():
            if not line or line.startswith("#"):
                continue
            fields = line.split("\t")
            if len(fields) >= 3:
                countries.setdefault(fields[2], fields[0].split(",")[0])
    return countries


def _zone_table(name: str) -> str:
    """A table of the tz database: the `tzdata` package's (a dependency, so
    the same on every machine and in the slim Docker image), else the
    system's; "" when neither has it."""
    try:
        return (
            importlib.resources.files("tzdata.zoneinfo")
            .joinpath(name)
            .read_text(encoding="utf-8")
        )
    except (ModuleNotFoundError, FileNotFoundError):
        pass
    for directory in zoneinfo.TZPATH:
        path = Path(directory) / name
        if path.is_file():
            return path.read_text(encoding="utf-8")
    return ""
