"""Door devices that scan with their own token instead of a staff session."""

import logging
import secrets
import time

from django.core.cache import cache
from django.db import transaction

from core.exceptions import InvalidRequest, NotFound
from core.models import Event, ScannerDevice
from core.queries.devices import REVOCATION_MARKER_KEY, forget_device, token_digest
from core.services.checkin import clean_label

logger = logging.getLogger(__name__)


@transaction.atomic
def register_scanner_device(
    *, label: str, event: Event | None = None, created_by=None
) -> tuple[ScannerDevice, str]:
    """Create a device and return it with its token, shown this once only.

    Only the token's SHA-256 is stored. A device bound to an event scans only
    that event. Takes no locks. Raises InvalidRequest (invalid_label).
    """
    label = clean_label(label)
    if not label:
        raise InvalidRequest(
            "Give the device a name staff will recognise, e.g. 'Door 2'.",
            code="invalid_label",
        )
    token = secrets.token_urlsafe(32)
    device = ScannerDevice.objects.create(
        label=label,
        token_digest=token_digest(token),
        event=event,
        created_by=created_by,
    )
    return device, token


def _announce_revocation() -> None:
    """Move the shared cache's marker, so that other processes forget the
    devices they found (core.queries.devices); after the revocation's
    commit, or a process reading the device meanwhile would keep it again."""
    try:
        cache.set(REVOCATION_MARKER_KEY, time.time_ns(), timeout=None)
    except Exception:
        logger.exception("cache unreachable: announcing a device revocation")


@transaction.atomic
def revoke_scanner_device(*, device_id: int) -> ScannerDevice:
    """Stop a device's token: at once in this process, within
    REVOCATION_CHECK_SECONDS (about a second) in other server processes,
    which see the shared cache's marker move after commit. Raises NotFound."""
    updated = ScannerDevice.objects.filter(pk=device_id).update(is_active=False)
    if not updated:
        raise NotFound("No such device.")
    device = ScannerDevice.objects.get(pk=device_id)

    def after_commit() -> None:
        forget_device(device.token_digest)
        _announce_revocation()

    transaction.on_commit(after_commit)
    forget_device(device.token_digest)
    return device
