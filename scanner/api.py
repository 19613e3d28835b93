"""The door's JSON API: scan, undo, offline upload, snapshot, ticket states, guests.

Every answer is `{"code", "message", ...}`. A processed scan is HTTP 200
whatever its verdict (`code` ok, already_used, wrong_event, void, invalid,
not_yet_valid, offline_conflict): the door branches on `code`, and a retry
with the same nonce gets the same body back. 4xx means the request itself
was refused (not signed in, not allowed at this event, malformed).
"""

import json
import uuid

from django.conf import settings
from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import RequestDataTooBig
from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import Http404, HttpRequest, HttpResponse
from django.utils.dateparse import parse_datetime
from django.views.decorators.csrf import csrf_exempt
from rest_framework import exceptions as drf_exceptions
from rest_framework import serializers
from rest_framework.authentication import CSRFCheck, SessionAuthentication
from rest_framework.compat import LONG_SEPARATORS, SHORT_SEPARATORS
from rest_framework.renderers import JSONRenderer
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.utils.json import strict_constant
from rest_framework.views import APIView

from core.api import JSON_TOO_DEEP, exception_handler
from core.exceptions import (
    InvalidRequest,
    NotFound,
    PermissionRefused,
    RequestTooLarge,
    TicketingError,
)
from core.models import Event
from core.queries.door import door_snapshot, search_guests, ticket_states
from core.queries.staff import event_if_scannable, role_of
from core.services.checkin import (
    OfflineAdmit,
    OfflineRefusal,
    log_offline_refusals,
    redeem_ticket,
    sync_offline_admits,
    undo_admit,
)
from scanner.device_auth import (
    DeviceTokenAuthentication,
    HasRoleOrDevice,
    request_device,
)
from scanner.permissions import ALL_STAFF

MAX_OFFLINE_BATCH = 500
# The most a door request's body may hold. Django's DATA_UPLOAD_MAX_MEMORY_SIZE
# guards only `request.body`, and DRF's parsers and the scan fast path read
# the stream. A scan or undo is a few hundred bytes (the most a QR code holds
# is about 7 KB), so 128 KB is far past any real one; an offline admit is a
# ticket's code, a nonce and a time, about 300 bytes: 2 KB each leaves room.
MAX_DOOR_BODY = 128 * 1024
MAX_OFFLINE_BODY = MAX_OFFLINE_BATCH * 2 * 1024


class DoorApiView(APIView):
    """Base for door endpoints: staff session or device token, one event each."""

    authentication_classes = [DeviceTokenAuthentication, SessionAuthentication]
    permission_classes = [HasRoleOrDevice]
    allowed_roles = ALL_STAFF
    allow_devices = True
    max_body = MAX_DOOR_BODY

    @classmethod
    def as_view(cls, **initkwargs):
        view = super().as_view(**initkwargs)
        # Read by the permission-matrix test off the URL's callback.
        view.allowed_roles = cls.allowed_roles
        return view

    def initial(self, request: Request, *args, **kwargs) -> None:
        """A body past `max_body` is refused before DRF's parser reads it
        whole: by its length before anything (a session's CSRF check has DRF
        parse the body), and after authentication by what a stream longer
        than its length holds (ASGI; under WSGI the stream ends at it).
        """
        if _declared_length(request.META) > self.max_body:
            raise _too_large(self.max_body)
        super().initial(request, *args, **kwargs)
        if _declared_length(request.META) and not request._request._read_started:
            try:
                body = request._request.body  # at most Django's own limit
            except RequestDataTooBig as exc:
                raise _too_large(self.max_body) from exc
            if len(body) > self.max_body:
                raise _too_large(self.max_body)

    def door_event(self, request: Request, event_id) -> Event:
        """The event to scan, if this staff member or device may scan it."""
        return _door_event(event_id, device=request_device(request), user=request.user)

    def actor(self, request: Request, label: str = "") -> tuple:
        """(staff user or None, device label): a device always uses its own name."""
        device = request_device(request)
        if device is not None:
            return None, device.label
        return request.user, label


def _door_event(event_id, *, device, user) -> Event:
    """The event to scan, if this staff member or device may scan it."""
    if device is not None and device.event_id == event_id:
        return device.event  # read with the device: one query less per scan
    if device is not None:
        event = Event.objects.filter(pk=event_id).first()
        allowed = event is not None and device.event_id in (None, event.pk)
    else:
        event, allowed = event_if_scannable(user, event_id)
    if event is None:
        raise NotFound("No such event.")
    if not allowed:
        raise PermissionRefused("You are not on the door for this event.")
    return event


def _declared_length(meta) -> int:
    """The body's length as its headers say (as DRF reads it), 0 if unsaid."""
    try:
        return int(meta.get("CONTENT_LENGTH", meta.get("HTTP_CONTENT_LENGTH", 0)))
    except (ValueError, TypeError):
        return 0


def _too_large(limit: int) -> RequestTooLarge:
    return RequestTooLarge(
        f"Too much data in one request (at most {limit // 1024} KB).", limit=limit
    )


def _valid(serializer_class, data) -> dict:
    serializer = serializer_class(data=data)
    serializer.is_valid(raise_exception=True)
    return serializer.validated_data


class ScanApi(DoorApiView):
    """`POST /api/v1/scan`: redeem a scanned code at one event's door."""

    # Serves only the requests `scan` hands over (see there); its serializer
    # also judges every scan body that is not plainly well formed. (The
    # docstring above is the OPTIONS answer's description: keep it.)

    class InputSerializer(serializers.Serializer):
        event = serializers.UUIDField()
        # Any JSON value: the service judges it, so garbage is logged too.
        code = serializers.JSONField(allow_null=True)
        nonce = serializers.CharField(
            required=False, allow_blank=True, allow_null=True, max_length=64
        )
        device = serializers.CharField(required=False, allow_blank=True, max_length=200)
        method = serializers.CharField(required=False, allow_blank=True, max_length=20)

    def post(self, request: Request) -> Response:
        data = _valid(self.InputSerializer, request.data)
        event = self.door_event(request, data["event"])
        staff, label = self.actor(request, data.get("device", ""))
        result = redeem_ticket(
            event=event,
            text=data["code"],
            staff=staff,
            device_label=label,
            nonce=data.get("nonce"),
            method=data.get("method", "api"),
        )
        return Response(result.as_dict())


# --- The scan fast path ------------------------------------------------------

_AUTH_HEADER = DeviceTokenAuthentication().authenticate_header(None)
_RENDERER = JSONRenderer()
# _RENDERER's encoder and the body parser's decoder, made once: json.dumps
# and json.loads with options build a new one per call.
_ENCODER = _RENDERER.encoder_class(
    ensure_ascii=_RENDERER.ensure_ascii,
    allow_nan=not _RENDERER.strict,
    separators=SHORT_SEPARATORS if _RENDERER.compact else LONG_SEPARATORS,
)
_DECODER = json.JSONDecoder(parse_constant=strict_constant)
_SCAN_TEXT_FIELDS = (("nonce", 64), ("device", 200), ("method", 20))
_scan_api = ScanApi.as_view()
# What DRF's exception handling (core.api.exception_handler) turns into answers.
_API_ERRORS = (
    TicketingError,
    drf_exceptions.APIException,
    DjangoValidationError,
    Http404,
    DjangoPermissionDenied,
)


@csrf_exempt
def scan(request: HttpRequest) -> HttpResponse:
    """`POST /api/v1/scan` without DRF's request and response machinery.

    The door's hottest request: DRF's negotiation, parsers and serializer
    were a third of a forged scan's CPU. This does what ScanApi does,
    in its order and with its answers (auth, then permission, then body,
    then event), for JSON POSTs without a query string whose Accept takes
    JSON. Any other request goes to ScanApi, which answers it as ever (405,
    415, 406, form bodies, `?format=`); so does any body whose fields are
    not plainly well formed, to let the serializer word the error.
    """
    if not _plain_json_post(request):
        return _scan_api(request)
    try:
        device, user = _scan_actor(request)
        data = _scan_input(request)
        event = _door_event(data["event"], device=device, user=user)
        result = redeem_ticket(
            event=event,
            text=data["code"],
            staff=user,
            device_label=device.label if device else data.get("device", ""),
            nonce=data.get("nonce"),
            method=data.get("method", "api"),
        )
    except _API_ERRORS as exc:
        return _error_response(exc)
    return _json_response(result.as_dict())


scan.allowed_roles = ScanApi.allowed_roles  # read by the permission matrix


def _plain_json_post(request: HttpRequest) -> bool:
    accept = request.META.get("HTTP_ACCEPT")
    return (
        request.method == "POST"
        and request.content_type == "application/json"
        and not request.META.get("QUERY_STRING")
        and accept in (None, "", "*/*", "application/json")
    )


def _scan_actor(request: HttpRequest) -> tuple:
    """(device, None) or (None, staff user), as ScanApi's authentication and
    permission classes decide; raises their exceptions otherwise."""
    found = DeviceTokenAuthentication().authenticate(request)
    if found is not None:
        return found[1], None
    user = getattr(request, "user", None)
    if not user or not user.is_active:
        raise drf_exceptions.NotAuthenticated()
    # SessionAuthentication's CSRF check: a session's POST needs the token.
    check = CSRFCheck(lambda request: None)
    check.process_request(request)
    reason = check.process_view(request, None, (), {})
    if reason:
        raise drf_exceptions.PermissionDenied(f"CSRF Failed: {reason}")
    if role_of(user) not in ScanApi.allowed_roles:
        raise drf_exceptions.PermissionDenied(HasRoleOrDevice.message)
    return None, user


def _scan_input(request: HttpRequest) -> dict:
    """The body's fields, parsed as DRF's JSONParser and judged as the serializer.

    Refuses a body past MAX_DOOR_BODY by its length, and reads no more than
    that of a stream longer than its length says (ASGI hands the whole body).
    """
    length = _declared_length(request.META)
    if length > MAX_DOOR_BODY:
        raise _too_large(MAX_DOOR_BODY)
    data = {}
    try:
        if length:
            try:
                # As DRF: the stream, unless something has read the body already.
                if request._read_started:
                    raw = request.body
                else:
                    raw = request.read(MAX_DOOR_BODY + 1)
                if len(raw) > MAX_DOOR_BODY:
                    raise _too_large(MAX_DOOR_BODY)
                text = raw.decode(request.encoding or settings.DEFAULT_CHARSET)
                data = _parse_json(text)
            except ValueError as exc:
                raise drf_exceptions.ParseError(f"JSON parse error - {exc}") from exc
        fields = _plain_scan_fields(data)
        return fields if fields is not None else _valid(ScanApi.InputSerializer, data)
    except RecursionError as exc:
        # JSON nested too deep for Python: in parsing, or in the serializer's
        # JSONField check of a `code` that parsed at this shallower depth.
        raise drf_exceptions.ParseError(JSON_TOO_DEEP) from exc


def _plain_scan_fields(data) -> dict | None:
    """A well-formed body's fields as the serializer would give them, or None.

    Well formed: an object, a string UUID for `event`, a string or null
    `code` (other JSON goes through the serializer's JSONField check), and
    text fields that are printable, unpadded, within their length (or a
    null nonce). Anything else is left to the serializer.
    """
    if not isinstance(data, dict) or "code" not in data:
        return None
    code = data["code"]
    if code is not None and not isinstance(code, str):
        return None
    event = data.get("event")
    if not isinstance(event, str):
        return None
    try:
        fields = {"event": uuid.UUID(hex=event), "code": code}
    except ValueError:
        return None
    for name, limit in _SCAN_TEXT_FIELDS:
        if name not in data:
            continue
        value = data[name]
        if value is None and name == "nonce":
            fields[name] = None
        elif (
            isinstance(value, str)
            and len(value) <= limit
            and value.isprintable()
            and value == value.strip()
        ):
            fields[name] = value
        else:
            return None
    return fields


def _parse_json(text: str):
    """json.loads(text, parse_constant=strict_constant), as DRF's JSONParser."""
    if text.startswith("\ufeff"):  # json.loads words this error itself
        return json.loads(text, parse_constant=strict_constant)
    return _DECODER.decode(text)


def _render_json(data: dict) -> bytes:
    """The bytes `_RENDERER.render(data)` gives, without its per-call setup."""
    text = _ENCODER.encode(data)
    return text.replace("\u2028", "\\u2028").replace("\u2029", "\\u2029").encode()


def _json_response(data: dict, *, status: int = 200) -> HttpResponse:
    """The bytes and headers ScanApi's Response would have had."""
    response = HttpResponse(
        _render_json(data), status=status, content_type="application/json"
    )
    response["Allow"] = "POST, OPTIONS"
    return response


def _error_response(exc: Exception) -> HttpResponse:
    """The project's API error body and status, as ScanApi would answer."""
    if isinstance(
        exc, drf_exceptions.NotAuthenticated | drf_exceptions.AuthenticationFailed
    ):
        exc.auth_header = _AUTH_HEADER
    answer = exception_handler(exc, {})
    response = _json_response(answer.data, status=answer.status_code)
    if "WWW-Authenticate" in answer:
        response["WWW-Authenticate"] = answer["WWW-Authenticate"]
    return response


class UndoScanApi(DoorApiView):
    """`POST /api/v1/scan/undo`: put back an admit made by mistake, with a reason."""

    class InputSerializer(serializers.Serializer):
        event = serializers.UUIDField()
        ticket = serializers.CharField(max_length=200)
        reason = serializers.CharField(max_length=300)
        device = serializers.CharField(required=False, allow_blank=True, max_length=200)

    def post(self, request: Request) -> Response:
        data = _valid(self.InputSerializer, request.data)
        event = self.door_event(request, data["event"])
        staff, label = self.actor(request, data.get("device", ""))
        result = undo_admit(
            event=event,
            ticket_code=data["ticket"],
            reason=data["reason"],
            staff=staff,
            device_label=label,
        )
        return Response(result.as_dict())


class OfflineSyncApi(DoorApiView):
    """`POST /api/v1/scan/offline`: upload admits a phone made without network,
    and the refusals it made on its own, to be logged."""

    max_body = MAX_OFFLINE_BODY

    class AdmitSerializer(serializers.Serializer):
        code = serializers.JSONField(allow_null=True)
        # Taken as sent, whatever it is: sync_offline_admits answers an admit
        # whose scan id it cannot use (none, blank, too long, not text) as
        # "attention, not recorded" with the rest, where a 400 here would
        # refuse the whole upload, for good on the phone.
        nonce = serializers.JSONField(allow_null=True, default=None)
        # Likewise: a time that cannot be read is taken as the upload's
        # (sync_offline_admits clamps every time to now anyway).
        at = serializers.JSONField(allow_null=True, default=None)

    class RefusalSerializer(serializers.Serializer):
        # All taken as sent, as an admit's nonce and time: log_offline_refusals
        # judges each, and answers one it cannot log with the rest.
        code = serializers.JSONField(allow_null=True, default=None)
        nonce = serializers.JSONField(allow_null=True, default=None)
        at = serializers.JSONField(allow_null=True, default=None)
        # The code the phone's verdict showed (already_used, void, ...).
        result = serializers.JSONField(allow_null=True, default=None)

    class InputSerializer(serializers.Serializer):
        event = serializers.UUIDField()
        device = serializers.CharField(required=False, allow_blank=True, max_length=200)
        admits = serializers.ListField(
            child=serializers.DictField(), max_length=MAX_OFFLINE_BATCH
        )
        # Optional, so an older page's upload reads as ever. Any items: one
        # that is not even an object is answered "not recorded", not a 400
        # that would keep the whole upload on the phone.
        refusals = serializers.ListField(
            child=serializers.JSONField(), max_length=MAX_OFFLINE_BATCH, required=False
        )

    def post(self, request: Request) -> Response:
        data = _valid(self.InputSerializer, request.data)
        admits = [_valid(self.AdmitSerializer, item) for item in data["admits"]]
        refusals = [
            _valid(self.RefusalSerializer, item if isinstance(item, dict) else {})
            for item in data.get("refusals", ())
        ]
        event = self.door_event(request, data["event"])
        staff, label = self.actor(request, data.get("device", ""))
        results = sync_offline_admits(
            event=event,
            admits=[
                OfflineAdmit(
                    text=item["code"],
                    nonce=item["nonce"],
                    at=_offline_time(item["at"]),
                    device_label=label,
                )
                for item in admits
            ],
            staff=staff,
        )
        conflicts = sum(1 for r in results if r.verdict != "admit")
        answer = {
            "code": "ok" if not conflicts else "conflicts",
            "message": f"{len(results)} offline scans uploaded"
            + (f", {conflicts} need attention." if conflicts else "."),
            # Each with its admit's nonce: the phone forgets what was answered.
            "results": [
                {**result.as_dict(), "nonce": item["nonce"]}
                for result, item in zip(results, admits, strict=True)
            ],
        }
        if "refusals" in data:
            # Logged after the admits: a refusal of a ticket this phone let in
            # comes after that admit in the log, as it did at the door.
            logged = log_offline_refusals(
                event=event,
                refusals=[
                    OfflineRefusal(
                        text=item["code"],
                        nonce=item["nonce"],
                        at=_offline_time(item["at"]),
                        result=item["result"],
                        device_label=label,
                    )
                    for item in refusals
                ],
                staff=staff,
            )
            # Apart from the admits' answers, each with its nonce: the phone
            # forgets every refusal answered, logged (`recorded`) or not.
            answer["refusals"] = [
                {
                    **result.as_dict(),
                    "nonce": item["nonce"],
                    "recorded": result.scan_id is not None,
                }
                for result, item in zip(logged, refusals, strict=True)
            ]
            recorded = sum(1 for r in logged if r.scan_id is not None)
            answer["message"] += f" {recorded} refused scans logged."
        return Response(answer)


def _offline_time(value):
    """When an offline admit says it was made, or None when it says nothing
    readable (the service then takes the upload's time)."""
    if not isinstance(value, str):
        return None
    try:
        return parse_datetime(value.strip())
    except ValueError:
        return None


class DoorSnapshotApi(DoorApiView):
    """`GET /api/v1/door/<event>/snapshot`: counters per type and the last scans."""

    def get(self, request: Request, event_id) -> Response:
        event = self.door_event(request, event_id)
        return Response({"code": "ok", "message": "", **door_snapshot(event)})


class DoorTicketStatesApi(DoorApiView):
    """`GET /api/v1/door/<event>/tickets[?since=ISO]`: the offline copy."""

    def get(self, request: Request, event_id) -> Response:
        event = self.door_event(request, event_id)
        since = None
        if request.query_params.get("since"):
            try:
                since = parse_datetime(request.query_params["since"])
            except ValueError:  # shaped like a time but none: 30 February
                since = None
            if since is None or since.tzinfo is None:
                raise InvalidRequest(
                    "`since` must be an ISO time with its zone.", code="invalid_since"
                )
        return Response(
            {"code": "ok", "message": "", **ticket_states(event, since=since)}
        )


class GuestSearchApi(DoorApiView):
    """`GET /api/v1/door/<event>/guests?q=`: find a guest by name, email or code."""

    def get(self, request: Request, event_id) -> Response:
        event = self.door_event(request, event_id)
        query = request.query_params.get("q", "")
        return Response(
            {"code": "ok", "message": "", "guests": search_guests(event, query)}
        )
