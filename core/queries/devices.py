"""Finding the door device a token belongs to.

Every scan from a device starts here, so found devices (with their event)
are kept in this process for DEVICE_CACHE_SECONDS. Revoking a device stops
it at once in the revoking process; every other process looks at the
shared cache's revocation marker at most every REVOCATION_CHECK_SECONDS and
forgets its devices when the marker has moved, so a lost phone stops within
about a second everywhere (one cache read per process per second, not one
per scan). A device deactivated without the service (a plain update) still
stops within DEVICE_CACHE_SECONDS.
"""

import hashlib
import logging
import time

from django.core.cache import cache

from core.models import ScannerDevice

logger = logging.getLogger(__name__)

DEVICE_CACHE_SECONDS = 10.0
REVOCATION_CHECK_SECONDS = 1.0
REVOCATION_MARKER_KEY = "scanner-devices:last-revocation"

_found: dict[str, tuple[float, ScannerDevice]] = {}
# (when this process next reads the marker, the marker it last read)
_marker_seen: tuple[float, object] = (0.0, None)


def token_digest(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).hexdigest()


def active_device_for_token(token: str) -> ScannerDevice | None:
    """The active device holding `token`, or None (unknown, revoked or malformed)."""
    if not token or len(token) > 200:
        return None
    digest = token_digest(token)
    now = time.monotonic()
    _forget_all_if_revoked_elsewhere(now)
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


def _forget_all_if_revoked_elsewhere(now: float) -> None:
    global _marker_seen
    check_at, seen = _marker_seen
    if now < check_at:
        return
    try:
        marker = cache.get(REVOCATION_MARKER_KEY)
    except Exception:
        # Unreachable cache: found devices still expire after their time.
        logger.warning("cache unreachable: reading the device revocation marker")
        marker = seen
    if marker != seen:
        _found.clear()
    _marker_seen = (now + REVOCATION_CHECK_SECONDS, marker)


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
