"""Per-device tokens for the scan API: `Authorization: Device <token>`.

A door device (handheld scanner, kiosk phone) holds a token instead of a
staff session. It may only use API views that opt in with `allow_devices`,
and a device bound to an event only scans that event.
"""

from django.contrib.auth.models import AnonymousUser
from rest_framework.authentication import BaseAuthentication, get_authorization_header
from rest_framework.exceptions import AuthenticationFailed

from core.models import ScannerDevice
from core.queries.devices import active_device_for_token
from scanner.permissions import HasRole

KEYWORD = b"device"


class DeviceTokenAuthentication(BaseAuthentication):
    """Authenticates `Authorization: Device <token>`; leaves other requests alone."""

    def authenticate(self, request):
        parts = get_authorization_header(request).split()
        if not parts or parts[0].lower() != KEYWORD:
            return None
        if len(parts) != 2:
            raise AuthenticationFailed("Send the header as 'Device <token>'.")
        try:
            token = parts[1].decode("ascii")
        except UnicodeDecodeError as exc:
            raise AuthenticationFailed("That device token is not valid.") from exc
        device = active_device_for_token(token)
        if device is None:
            raise AuthenticationFailed("That device token is not valid or was revoked.")
        return AnonymousUser(), device

    def authenticate_header(self, request) -> str:
        return 'Device realm="scanner"'


def request_device(request) -> ScannerDevice | None:
    auth = getattr(request, "auth", None)
    return auth if isinstance(auth, ScannerDevice) else None


class HasRoleOrDevice(HasRole):
    """Staff with one of the view's `allowed_roles`, or an active device token
    when the view sets `allow_devices = True`."""

    def has_permission(self, request, view) -> bool:
        if request_device(request) is not None:
            return getattr(view, "allow_devices", False)
        return super().has_permission(request, view)
