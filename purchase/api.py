"""Public read API of the purchase site (CORS-enabled for the other sites)."""

from django.shortcuts import get_object_or_404
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from core.models import Event
from core.queries.availability import get_event_availability


class EventAvailabilityApi(APIView):
    """`GET /api/v1/events/<slug>/availability`: the seed's event-availability shape."""

    authentication_classes: list = []

    def get(self, request: Request, slug: str) -> Response:
        event = get_object_or_404(Event, slug=slug, is_active=True)
        return Response(get_event_availability(event).as_api_dict())


class EventAvailabilityByNameApi(APIView):
    """The seed's path, `/functions/v1/event-availability/<eventName>`."""

    authentication_classes: list = []

    def get(self, request: Request, name: str) -> Response:
        event = get_object_or_404(Event, name=name, is_active=True)
        return Response(get_event_availability(event).as_api_dict())
