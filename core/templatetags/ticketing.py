import zoneinfo
from datetime import datetime
from decimal import Decimal

from django import template
from django.utils import timezone

from core.queries.cancellation import cancellation_state_of_order
from core.templatetags.zones import datetime_with_zone

register = template.Library()

SYMBOLS = {"usd": "$", "eur": "€", "gbp": "£", "cad": "CA$", "aud": "A$", "mxn": "MX$"}


@register.filter
def money(amount, currency: str = "usd") -> str:
    """`25.00|money:"eur"` → `€25.00`; free shows as "Free"."""
    if amount is None:
        return ""
    if Decimal(amount) == 0:
        return "Free"
    return money_amount(amount, currency)


@register.filter
def money_amount(amount, currency: str = "usd") -> str:
    """`0|money_amount:"eur"` → `€0.00`: an amount of money moved (paid,
    refunded, paid in the end), where zero is no price, so not "Free"."""
    if amount is None:
        return ""
    amount = Decimal(amount)
    symbol = SYMBOLS.get((currency or "").lower())
    text = f"{amount:,.2f}"
    return f"{symbol}{text}" if symbol else f"{text} {currency.upper()}"


@register.filter
def hours(value) -> str:
    """`24|hours` → "24 hours", `1|hours` → "1 hour"; empty for no value."""
    if value in (None, ""):
        return ""
    try:
        count = int(value)
    except (TypeError, ValueError):
        return ""
    return f"{count} hour" if count == 1 else f"{count} hours"


@register.filter
def cancellation_state(order) -> str:
    """`order|cancellation_state`: core.queries.cancellation's word for
    where a cancelled event's order stands with its money."""
    return cancellation_state_of_order(order)


@register.filter
def on_sale_from(moment, zone: str) -> str:
    """`opens_at|on_sale_from:event.time_zone` → "On sale from Fri 5 Jun,
    10:00 BST", in the event's zone; empty for no moment."""
    if not isinstance(moment, datetime):
        return ""
    local = timezone.localtime(moment, zoneinfo.ZoneInfo(zone))
    return f"On sale from {datetime_with_zone(local, 'D j M, H:i')}"
