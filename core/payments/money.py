"""Decimal amounts to and from the integer minor units Stripe speaks."""

from decimal import ROUND_HALF_UP, Decimal

# Stripe's zero-decimal currencies: the amount is already in whole units.
ZERO_DECIMAL = frozenset(
    [
        "bif",
        "clp",
        "djf",
        "gnf",
        "jpy",
        "kmf",
        "krw",
        "mga",
        "pyg",
        "rwf",
        "ugx",
        "vnd",
        "vuv",
        "xaf",
        "xof",
        "xpf",
    ]
)


def _exponent(currency: str) -> int:
    return 0 if currency.lower() in ZERO_DECIMAL else 2


def to_minor_units(amount: Decimal, currency: str) -> int:
    """`Decimal("25.50"), "usd"` → 2550; `Decimal("500"), "jpy"` → 500."""
    scale = Decimal(10) ** _exponent(currency)
    return int((Decimal(amount) * scale).quantize(Decimal(1), rounding=ROUND_HALF_UP))


def from_minor_units(amount: int, currency: str) -> Decimal:
    exponent = _exponent(currency)
    return (Decimal(int(amount)) / (Decimal(10) ** exponent)).quantize(
        Decimal(1).scaleb(-exponent)
    )
