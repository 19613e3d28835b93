"""Number formatting for the analytics pages: amounts, percentages, bars."""

from decimal import Decimal

from django import template

from core.templatetags.ticketing import SYMBOLS

register = template.Library()


@register.filter
def amount(value, currency: str = "usd") -> str:
    """`250|amount:"eur"` → `€250.00`; unlike `money`, zero shows as €0.00."""
    if value is None:
        value = Decimal("0")
    value = Decimal(value)
    symbol = SYMBOLS.get((currency or "").lower())
    text = f"{value:,.2f}"
    return f"{symbol}{text}" if symbol else f"{text} {(currency or '').upper()}"


@register.filter
def percent(ratio) -> str:
    """`0.4|percent` → `40%`; no ratio (nothing to divide by) → an en dash."""
    if ratio is None:
        return "–"
    return f"{ratio * 100:.0f}%"


@register.filter
def bar_width(part, whole) -> str:
    """Width of a progress bar in percent, clamped to 0-100, for a style attribute."""
    try:
        ratio = float(part) / float(whole)
    except (TypeError, ValueError, ZeroDivisionError):
        return "0"
    return f"{max(0.0, min(ratio, 1.0)) * 100:.1f}"
