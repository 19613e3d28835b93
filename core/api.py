"""DRF glue: every domain error becomes `{"code", "message"}` with its status."""

from django.core.exceptions import ValidationError as DjangoValidationError
from rest_framework import exceptions as drf_exceptions
from rest_framework import parsers
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from core.exceptions import TicketingError

# A body nested deeper than Python's recursion limit: json raises
# RecursionError, not the ValueError of any other malformed body.
JSON_TOO_DEEP = "JSON parse error - nested too deeply."


class JSONParser(parsers.JSONParser):
    """DRF's JSONParser, but JSON nested too deep is a 400 parse_error like
    any other malformed body, not a RecursionError and a 500.

    For every API view: REST_FRAMEWORK["DEFAULT_PARSER_CLASSES"] names it
    in place of rest_framework.parsers.JSONParser.
    """

    def parse(self, stream, media_type=None, parser_context=None):
        try:
            return super().parse(stream, media_type, parser_context)
        except RecursionError as exc:
            raise drf_exceptions.ParseError(JSON_TOO_DEEP) from exc


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
