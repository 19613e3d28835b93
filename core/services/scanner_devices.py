"""Door devices that scan with their own token instead of a staff session."""

import secrets

from django.db import transaction

from core.exceptions import InvalidRequest, NotFound
from core.models import Event, ScannerDevice
from core.queries.devices import found_devices, token_digest
from core.services.audit import record_change
from core.services.checkin import clean_label


def _recorded(device: ScannerDevice) -> dict[str, str]:
    """What the history says of a device besides its name: what it scans."""
    return {"scans": device.event.name if device.event else "Every event"}


@transaction.atomic
def register_scanner_device(
    *, label: str, event: Event | None = None, created_by=None
) -> tuple[ScannerDevice, str]:
    """Create a device and return it with its token, shown this once only.

    Only the token's SHA-256 is stored. A device bound to an event scans only
    that event. Recorded in the audit log as `device.add` by `created_by`: a
    token lets people in. Takes no locks. Raises InvalidRequest
    (invalid_label).
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
    record_change(
        actor=created_by,
        action="device.add",
        obj=device,
        object_type="scanner_device",
        event=event,
        after=_recorded(device),
    )
    return device, token


@transaction.atomic
def revoke_scanner_device(*, device_id: int, revoked_by=None) -> ScannerDevice:
    """Stop a device's token: at once in this process, within about a second
    in other server processes, which see the revocation announced after
    commit (core.queries.kept). Recorded as `device.revoke` by `revoked_by`;
    revoking a revoked device changes and records nothing. Raises NotFound."""
    updated = ScannerDevice.objects.filter(pk=device_id, is_active=True).update(
        is_active=False
    )
    device = ScannerDevice.objects.select_related("event").filter(pk=device_id).first()
    if device is None:
        raise NotFound("No such device.")
    if updated:
        record_change(
            actor=revoked_by,
            action="device.revoke",
            obj=device,
            object_type="scanner_device",
            event=device.event,
            before=_recorded(device),
        )

    transaction.on_commit(found_devices.announce_change)
    found_devices.forget(device.token_digest)
    return device
