"""Finding the door device a token belongs to.

Every scan from a device starts here, so found devices (with their event)
are kept in this process for DEVICE_CACHE_SECONDS: revoking a device stops
it at once in the revoking process and within that time everywhere else.
"""

import hashlib
import time

from core.models import ScannerDevice

DEVICE_CACHE_SECONDS = 10.0
_found: dict[str, tuple[float, ScannerDevice]] = {}


def token_digest(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).hexdigest()


def active_device_for_token(token: str) -> ScannerDevice | None:
    """The active device holding `token`, or None (unknown, revoked or malformed)."""
    if not token or len(token) > 200:
        return None
    digest = token_digest(token)
    now = time.monotonic()
    cached = _found.get(digest)
    if cached is not None and cached[0] > now:
        return cached[1]
    device = (
        ScannerDevice.objects.select_related("event")
        .filter(token_digest=digest, is_active=True)
        .first()
    )
    if device is None:
        _found.pop(digest, None)  # misses are not kept: random tokens cost memory
    else:
        _found[digest] = (now + DEVICE_CACHE_SECONDS, device)
    return device


def forget_device(token_digest_value: str) -> None:
    """Drop a device from this process's cache (after revoking it)."""
    _found.pop(token_digest_value, None)


def scanner_devices() -> list[ScannerDevice]:
    """Every door device for the staff page: active ones first, newest first."""
    return list(
        ScannerDevice.objects.select_related("event", "created_by").order_by(
            "-is_active", "-created_at"
        )
    )
