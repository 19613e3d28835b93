"""DRF glue: every domain error becomes `{"code", "message"}` with its status."""

from django.core.exceptions import ValidationError as DjangoValidationError
from rest_framework import exceptions as drf_exceptions
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from core.exceptions import TicketingError


def exception_handler(exc, context):
    if isinstance(exc, TicketingError):
        return Response(exc.as_dict(), status=exc.http_status)
    if isinstance(exc, DjangoValidationError):
        exc = drf_exceptions.ValidationError(
            detail=exc.message_dict if hasattr(exc, "error_dict") else exc.messages
        )
    response = drf_exception_handler(exc, context)
    if response is None:
        return None
    if isinstance(exc, drf_exceptions.ValidationError):
        response.data = {
            "code": "invalid",
            "message": "Some fields are not valid.",
            "errors": response.data,
        }
    elif isinstance(exc, drf_exceptions.APIException):
        detail = (
            response.data.get("detail", str(exc))
            if isinstance(response.data, dict)
            else str(exc)
        )
        response.data = {"code": exc.default_code, "message": str(detail)}
    return response
