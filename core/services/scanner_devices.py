"""Door devices that scan with their own token instead of a staff session."""

import secrets

from django.db import transaction

from core.exceptions import InvalidRequest, NotFound
from core.models import Event, ScannerDevice
from core.queries.devices import found_devices, token_digest
from core.services.checkin import clean_label


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


@transaction.atomic
def revoke_scanner_device(*, device_id: int) -> ScannerDevice:
    """Stop a device's token: at once in this process, within about a second
    in other server processes, which see the revocation announced after
    commit (core.queries.kept). Raises NotFound."""
    updated = ScannerDevice.objects.filter(pk=device_id).update(is_active=False)
    if not updated:
        raise NotFound("No such device.")
    device = ScannerDevice.objects.get(pk=device_id)

    transaction.on_commit(found_devices.announce_change)
    found_devices.forget(device.token_digest)
    return device
