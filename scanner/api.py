"""The door's JSON API: scan, undo, offline upload, snapshot, ticket states, guests.

Every answer is `{"code", "message", ...}`. A processed scan is HTTP 200
whatever its verdict (`code` ok, already_used, wrong_event, void, invalid,
not_yet_valid, offline_conflict): the door branches on `code`, and a retry
with the same nonce gets the same body back. 4xx means the request itself
was refused (not signed in, not allowed at this event, malformed).
"""

from django.utils.dateparse import parse_datetime
from rest_framework import serializers
from rest_framework.authentication import SessionAuthentication
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from core.exceptions import InvalidRequest, NotFound, PermissionRefused
from core.models import Event
from core.queries.door import door_snapshot, search_guests, ticket_states
from core.queries.staff import can_scan_event
from core.services.checkin import (
    OfflineAdmit,
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


class DoorApiView(APIView):
    """Base for door endpoints: staff session or device token, one event each."""

    authentication_classes = [DeviceTokenAuthentication, SessionAuthentication]
    permission_classes = [HasRoleOrDevice]
    allowed_roles = ALL_STAFF
    allow_devices = True

    @classmethod
    def as_view(cls, **initkwargs):
        view = super().as_view(**initkwargs)
        # Read by the permission-matrix test off the URL's callback.
        view.allowed_roles = cls.allowed_roles
        return view

    def door_event(self, request: Request, event_id) -> Event:
        """The event to scan, if this staff member or device may scan it."""
        device = request_device(request)
        if device is not None and device.event_id == event_id:
            return device.event  # read with the device: one query less per scan
        event = Event.objects.filter(pk=event_id).first()
        if event is None:
            raise NotFound("No such event.")
        if device is not None:
            allowed = device.event_id in (None, event.pk)
        else:
            allowed = can_scan_event(request.user, event)
        if not allowed:
            raise PermissionRefused("You are not on the door for this event.")
        return event

    def actor(self, request: Request, label: str = "") -> tuple:
        """(staff user or None, device label): a device always uses its own name."""
        device = request_device(request)
        if device is not None:
            return None, device.label
        return request.user, label


def _valid(serializer_class, data) -> dict:
    serializer = serializer_class(data=data)
    serializer.is_valid(raise_exception=True)
    return serializer.validated_data


class ScanApi(DoorApiView):
    """`POST /api/v1/scan`: redeem a scanned code at one event's door."""

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
    """`POST /api/v1/scan/offline`: upload admits a phone made without network."""

    class AdmitSerializer(serializers.Serializer):
        code = serializers.JSONField(allow_null=True)
        nonce = serializers.CharField(max_length=64)
        at = serializers.DateTimeField()

    class InputSerializer(serializers.Serializer):
        event = serializers.UUIDField()
        device = serializers.CharField(required=False, allow_blank=True, max_length=200)
        admits = serializers.ListField(
            child=serializers.DictField(), max_length=MAX_OFFLINE_BATCH
        )

    def post(self, request: Request) -> Response:
        data = _valid(self.InputSerializer, request.data)
        admits = [_valid(self.AdmitSerializer, item) for item in data["admits"]]
        event = self.door_event(request, data["event"])
        staff, label = self.actor(request, data.get("device", ""))
        results = sync_offline_admits(
            event=event,
            admits=[
                OfflineAdmit(
                    text=item["code"],
                    nonce=item["nonce"],
                    at=item["at"],
                    device_label=label,
                )
                for item in admits
            ],
            staff=staff,
        )
        conflicts = sum(1 for r in results if r.verdict != "admit")
        return Response(
            {
                "code": "ok" if not conflicts else "conflicts",
                "message": f"{len(results)} offline scans uploaded"
                + (f", {conflicts} need attention." if conflicts else "."),
                "results": [r.as_dict() for r in results],
            }
        )


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
            since = parse_datetime(request.query_params["since"])
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
