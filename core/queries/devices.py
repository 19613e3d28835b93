"""Finding the door device a token belongs to.

Every scan from a device starts here, so found devices (with their event)
are kept in this process for DEVICE_CACHE_SECONDS (core.queries.kept).
Revoking a device stops it at once in the revoking process and within
about a second in every other (the revocation is announced); a device
deactivated without the service (a plain update) still stops within
DEVICE_CACHE_SECONDS.
"""

import hashlib

from core.models import ScannerDevice
from core.queries.kept import KeptInProcess

DEVICE_CACHE_SECONDS = 10.0

found_devices = KeptInProcess("scanner-devices", seconds=DEVICE_CACHE_SECONDS)


def token_digest(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).hexdigest()


def active_device_for_token(token: str) -> ScannerDevice | None:
    """The active device holding `token`, or None (unknown, revoked or malformed)."""
    if not token or len(token) > 200:
        return None
    digest = token_digest(token)
    device = found_devices.get(digest)
    if device is not None:
        return device
    device = (
        ScannerDevice.objects.select_related("event")
        .filter(token_digest=digest, is_active=True)
        .first()
    )
    if device is not None:  # misses are not kept: random tokens cost memory
        found_devices.keep(digest, device)
    return device


def scanner_devices() -> list[ScannerDevice]:
    """Every door device for the staff page: active ones first, newest first."""
    return list(
        ScannerDevice.objects.select_related("event", "created_by").order_by(
            "-is_active", "-created_at"
        )
    )
