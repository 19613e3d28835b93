"""How a delivery failed decides whether the worker tries again."""


class DeliveryError(Exception):
    """The provider did not take the message; worth another try later."""


class PermanentDeliveryError(DeliveryError):
    """The provider refused the message itself (bad address, rejected content)."""


def is_permanent_status(status: int | None) -> bool:
    """4xx means the request itself is wrong, except 408 and 429 (try later)."""
    return status is not None and 400 <= status < 500 and status not in (408, 429)
