"""Door devices (owner only): handhelds that scan with a token, not a staff login."""

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_POST

from core.exceptions import TicketingError
from core.queries.console import device_audit_log
from core.queries.devices import scanner_devices
from core.services.scanner_devices import (
    register_scanner_device,
    revoke_scanner_device,
)
from scanner.forms import ScannerDeviceForm, apply_service_error
from scanner.permissions import OWNER, role_required

# The session key holding a new device's token until the page after the
# redirect shows it (once: reading it takes it out).
NEW_DEVICE_KEY = "new_scanner_device"


@never_cache  # the page after adding a device carries its token, shown once only
@role_required(*OWNER)
def device_list(request: HttpRequest) -> HttpResponse:
    """The devices, and a form to register one; a new token is shown once.

    Adding redirects back here (post, redirect, get), so reloading the page
    does not send the form again and make a second device."""
    if request.method == "POST":
        form = ScannerDeviceForm(request.POST)
        if form.is_valid():
            try:
                device, token = register_scanner_device(
                    label=form.cleaned_data["label"],
                    event=form.cleaned_data["event"],
                    created_by=request.user,
                )
            except TicketingError as exc:
                apply_service_error(exc, form)
            else:
                request.session[NEW_DEVICE_KEY] = {"id": device.pk, "token": token}
                return redirect("scanner:devices")
    else:
        form = ScannerDeviceForm()
    devices = scanner_devices()
    new_device, token = (
        _new_device_shown_once(request, devices)
        if request.method == "GET"
        else (None, None)
    )
    return render(
        request,
        "scanner/devices.html",
        {
            "form": form,
            "devices": devices,
            "new_device": new_device,
            "token": token,
            "recent_changes": device_audit_log(),
        },
        status=400 if form.errors else 200,
    )


def _new_device_shown_once(request: HttpRequest, devices: list):
    """The device just added and its token, taken out of the session: a
    reload, or the Back button, finds it gone."""
    added = request.session.pop(NEW_DEVICE_KEY, None)
    if not isinstance(added, dict):
        return None, None
    for device in devices:
        if device.pk == added.get("id") and device.is_active:
            return device, added.get("token")
    return None, None


@require_POST
@role_required(*OWNER)
def device_revoke(request: HttpRequest, device_id: int) -> HttpResponse:
    try:
        device = revoke_scanner_device(device_id=device_id, revoked_by=request.user)
    except TicketingError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, f"{device.label} can no longer scan.")
    return redirect("scanner:devices")
