"""Phone numbers read as typed, kept in E.164 (core/phones.py)."""

import importlib.util

import pytest

from core.checks import check_integrations
from core.phones import (
    NotAPhoneNumber,
    country_of_time_zone,
    default_phone_region,
    display_phone,
    example_mobile,
    is_phone_region,
    normalise_phone,
    phone_region,
    sms_number,
)


@pytest.mark.parametrize(
    ("typed", "region", "e164"),
    [
        ("612 345 678", "ES", "+34612345678"),
        ("0034 612 345 678", "ES", "+34612345678"),
        ("07400 123456", "GB", "+447400123456"),
        ("(201) 555-0123", "US", "+12015550123"),
        ("06 12 34 56 78", "FR", "+33612345678"),
        ("0412 345 678", "AU", "+61412345678"),
        # With its +code, a number is read as that country's, wherever.
        ("+34 612-34-56-78", "US", "+34612345678"),
        ("  +44 7400 123456 ", "ES", "+447400123456"),
        ("", "ES", ""),
    ],
)
def test_a_number_is_kept_in_e164(typed, region, e164):
    assert normalise_phone(typed, region=region) == e164


@pytest.mark.parametrize(
    ("typed", "region", "example"),
    [
        ("call me", "ES", "+34 612 34 56 78"),
        ("612", "ES", "+34 612 34 56 78"),
        # Too short for Spain: the example is Spanish, as the +34 says.
        ("+34 600 000 00", "US", "+34 612 34 56 78"),
        ("555 0199", "US", "+1 201-555-0123"),
    ],
)
def test_a_bad_number_is_refused_with_an_example_of_its_country(typed, region, example):
    with pytest.raises(NotAPhoneNumber) as caught:
        normalise_phone(typed, region=region)
    assert caught.value.example == example.replace(" ", "\xa0")
    assert not caught.value.landline


def test_a_landline_is_refused_since_texts_cannot_reach_it():
    with pytest.raises(NotAPhoneNumber) as caught:
        normalise_phone("912 345 678", region="ES")  # a Madrid landline
    assert caught.value.landline
    assert caught.value.example == "+34\xa0612\xa034\xa056\xa078"


@pytest.mark.parametrize(
    ("zone", "country"),
    [
        ("Europe/Madrid", "ES"),
        ("Atlantic/Canary", "ES"),
        ("America/New_York", "US"),
        ("Europe/London", "GB"),
        ("Australia/Sydney", "AU"),
        ("Europe/Zurich", "CH"),
        ("UTC", None),
        ("Etc/GMT+3", None),
        ("Mars/Olympus_Mons", None),
    ],
)
def test_the_country_of_a_time_zone_comes_from_the_tz_database(zone, country):
    assert country_of_time_zone(zone) == country


def test_the_zone_table_comes_from_the_tzdata_package():
    """A dependency, so the slim Docker image has it without system tzdata."""
    assert importlib.util.find_spec("tzdata") is not None
    from core.phones import _zone_table

    assert "\tEurope/Madrid" in _zone_table("zone.tab")


def test_the_default_region_is_the_setting_else_the_site_zone_else_us(settings):
    settings.DEFAULT_PHONE_REGION = "es"
    assert default_phone_region() == "ES"
    settings.DEFAULT_PHONE_REGION = ""
    settings.TIME_ZONE = "Europe/Paris"
    assert default_phone_region() == "FR"
    settings.TIME_ZONE = "UTC"
    assert default_phone_region() == "US"


def test_an_event_zone_wins_over_the_default(settings):
    settings.DEFAULT_PHONE_REGION = "GB"
    assert phone_region("Europe/Madrid") == "ES"
    assert phone_region("UTC") == "GB"
    assert phone_region(None) == "GB"


def test_examples_are_mobile_numbers_written_the_international_way():
    """On one line: their spaces do not break."""
    assert example_mobile("ES") == "+34\xa0612\xa034\xa056\xa078"
    assert example_mobile("GB") == "+44\xa07400\xa0123456"
    assert example_mobile("US") == "+1\xa0201-555-0123"


def test_stored_numbers_are_shown_the_international_way_or_as_they_are():
    assert display_phone("+34612345678") == "+34 612 34 56 78"
    # Kept from before numbers were stored in E.164: shown as typed.
    assert display_phone("612 345 678") == "612 345 678"
    assert display_phone("+34 600 000 00") == "+34 600 000 00"
    assert display_phone("") == ""


def test_numbers_stored_before_e164_are_texted_in_e164_when_they_read():
    assert sms_number("612 345 678", region="ES") == "+34612345678"
    assert sms_number("+34 600 000 001") == "+34600000001"
    # What does not read goes as it is: Twilio's refusal then says why.
    assert sms_number("+34 600 000 00") == "+34 600 000 00"
    assert sms_number("call me", region="ES") == "call me"


def test_only_country_codes_are_phone_regions():
    assert is_phone_region("es") and is_phone_region("US")
    assert not is_phone_region("XX") and not is_phone_region("Spain")


def test_a_default_region_that_is_no_country_is_a_configuration_error(settings):
    settings.DEFAULT_PHONE_REGION = "Spain"
    errors = [p for p in check_integrations(None) if p.id == "ticketing.E016"]
    assert errors and "'Spain'" in errors[0].msg
    settings.DEFAULT_PHONE_REGION = "es"
    assert not [p for p in check_integrations(None) if p.id == "ticketing.E016"]
