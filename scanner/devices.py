"""Door devices (owner only): handhelds that scan with a token, not a staff login."""

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_POST

from core.exceptions import TicketingError
from core.queries.devices import scanner_devices
from core.services.scanner_devices import (
    register_scanner_device,
    revoke_scanner_device,
)
from scanner.forms import ScannerDeviceForm, apply_service_error
from scanner.permissions import OWNER, role_required


@never_cache  # the answer to a POST carries a token, shown this once only
@role_required(*OWNER)
def device_list(request: HttpRequest) -> HttpResponse:
    """The devices, and a form to register one; a new token is shown once."""
    new_device = token = None
    if request.method == "POST":
        form = ScannerDeviceForm(request.POST)
        if form.is_valid():
            try:
                new_device, token = register_scanner_device(
                    label=form.cleaned_data["label"],
                    event=form.cleaned_data["event"],
                    created_by=request.user,
                )
            except TicketingError as exc:
                apply_service_error(exc, form)
            else:
                form = ScannerDeviceForm()
    else:
        form = ScannerDeviceForm()
    return render(
        request,
        "scanner/devices.html",
        {
            "form": form,
            "devices": scanner_devices(),
            "new_device": new_device,
            "token": token,
        },
        status=400 if request.method == "POST" and form.errors else 200,
    )


@require_POST
@role_required(*OWNER)
def device_revoke(request: HttpRequest, device_id: int) -> HttpResponse:
    try:
        device = revoke_scanner_device(device_id=device_id)
    except TicketingError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, f"{device.label} can no longer scan.")
    return redirect("scanner:devices")
