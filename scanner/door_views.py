"""The door: pick an event, then scan it (camera, typed codes, guest list, offline)."""

import hashlib

from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404, render
from django.templatetags.static import static
from django.urls import reverse

from core.models import Event
from core.queries.door import door_counters, door_list_for
from core.queries.staff import can_scan_event
from core.services.checkin import checkin_opens_at
from core.tickets.signing import event_key, public_key_b64
from scanner.permissions import ALL_STAFF, role_required


@role_required(*ALL_STAFF)
def door(request: HttpRequest) -> HttpResponse:
    """Pick the event to scan; door staff see only the events they are on."""
    events, limited = door_list_for(request.user)
    return render(
        request, "scanner/door_list.html", {"events": events, "limited": limited}
    )


@role_required(*ALL_STAFF)
def door_event(request: HttpRequest, event_id) -> HttpResponse:
    """The scanning screen: camera, verdicts, live counters, guest list, offline."""
    event = get_object_or_404(Event, pk=event_id)
    if not can_scan_event(request.user, event):
        raise PermissionDenied("You are not on the door for this event.")
    return render(
        request,
        "scanner/door_event.html",
        {
            "event": event,
            "counters": door_counters(event),
            "event_key": event_key(event.pk),
            "public_key": public_key_b64(),
            "opens_at": checkin_opens_at(event),
            "shell_urls": door_shell_urls(),
        },
    )


@role_required(*ALL_STAFF)
def door_service_worker(request: HttpRequest) -> HttpResponse:
    """The door's service worker, served under the door's path so that is its scope."""
    urls = door_shell_urls()
    version = hashlib.sha256("\n".join(urls).encode()).hexdigest()[:12]
    response = render(
        request,
        "scanner/door_sw.js",
        {"shell_urls": urls, "version": version},
        content_type="text/javascript",
    )
    response["Cache-Control"] = "no-cache"
    return response


@role_required(*ALL_STAFF)
def door_manifest(request: HttpRequest) -> HttpResponse:
    """Web app manifest: the door installs as a full-screen app."""
    manifest = {
        "name": "Nightpass Door",
        "short_name": "Door",
        "description": "Scan tickets at the door, online or offline.",
        "start_url": reverse("scanner:door"),
        "scope": reverse("scanner:door"),
        "display": "fullscreen",
        "orientation": "portrait",
        "background_color": "#0f0f17",
        "theme_color": "#0f0f17",
        "icons": [
            {
                "src": static("img/door-192.png"),
                "sizes": "192x192",
                "type": "image/png",
            },
            {
                "src": static("img/door-512.png"),
                "sizes": "512x512",
                "type": "image/png",
                "purpose": "any maskable",
            },
        ],
    }
    return JsonResponse(manifest, content_type="application/manifest+json")


def door_shell_urls() -> list[str]:
    """What the service worker keeps so the door page reopens without network."""
    return [
        static("css/app.css"),
        static("css/console.css"),  # the door list's, which the app opens on
        static("css/door.css"),
        static("js/door.js"),
        static("js/door-keep.js"),
        static("js/door-offline.js"),
        static("js/door-upload.js"),
        static("js/staff-signout.js"),  # every staff page's, the door's included
        static("vendor/qr-scanner/qr-scanner.min.js"),
        static("vendor/qr-scanner/qr-scanner-worker.min.js"),
        static("img/door-192.png"),
    ]
