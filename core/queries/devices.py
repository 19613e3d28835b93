"""Finding the door device a token belongs to."""

import hashlib

from core.models import ScannerDevice


def token_digest(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).hexdigest()


def active_device_for_token(token: str) -> ScannerDevice | None:
    """The active device holding `token`, or None (unknown, revoked or malformed)."""
    if not token or len(token) > 200:
        return None
    return (
        ScannerDevice.objects.select_related("event")
        .filter(token_digest=token_digest(token), is_active=True)
        .first()
    )
