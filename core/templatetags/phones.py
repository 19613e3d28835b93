"""Phone numbers on pages: as people read them, and an example to type.

{% load phones %}
{{ order.customer_phone|phone }}   → +34 612 34 56 78 (stored +34612345678)
{{ event|phone_example }}          → +34 612 34 56 78 (a mobile number of
                                      the event's country, Europe/Madrid: ES)
"""

from django import template

from core.phones import display_phone, example_mobile, phone_region

register = template.Library()


@register.filter
def phone(stored: str) -> str:
    """A stored number written the international way; as stored when it
    does not read as one (numbers kept from before E.164)."""
    return display_phone(stored or "")


@register.filter
def phone_example(event_or_zone) -> str:
    """A mobile number of the country of an event (anything with a
    `time_zone`) or of a zone name, else of DEFAULT_PHONE_REGION."""
    zone = getattr(event_or_zone, "time_zone", event_or_zone)
    return example_mobile(phone_region(zone if isinstance(zone, str) else None))
