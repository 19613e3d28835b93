from django.urls import path

from scanner import api

urlpatterns = [
    path("api/v1/scan", api.scan, name="api_scan"),
    path("api/v1/scan/undo", api.UndoScanApi.as_view(), name="api_scan_undo"),
    path("api/v1/scan/offline", api.OfflineSyncApi.as_view(), name="api_scan_offline"),
    path(
        "api/v1/door/<uuid:event_id>/snapshot",
        api.DoorSnapshotApi.as_view(),
        name="api_door_snapshot",
    ),
    path(
        "api/v1/door/<uuid:event_id>/tickets",
        api.DoorTicketStatesApi.as_view(),
        name="api_door_tickets",
    ),
    path(
        "api/v1/door/<uuid:event_id>/guests",
        api.GuestSearchApi.as_view(),
        name="api_door_guests",
    ),
]
