"""Middleware of our own that stands in for Django's where a request pays for
what it never uses."""

from django.conf import settings
from django.contrib.messages.middleware import MessageMiddleware
from django.contrib.messages.storage import default_storage
from django.utils.functional import SimpleLazyObject, empty


class LazyMessageMiddleware(MessageMiddleware):
    """Django's MessageMiddleware, with the storage made on first use.

    Building the storage (a cookie and a session reader) cost every request
    the same, though only console pages and forms use messages: at the door,
    about 5 % of a refused scan's server time. An untouched storage saves
    nothing at the end either, so skipping it changes no response.
    """

    def process_request(self, request):
        request._messages = SimpleLazyObject(lambda: default_storage(request))

    def process_response(self, request, response):
        storage = getattr(request, "_messages", None)
        if isinstance(storage, SimpleLazyObject) and storage._wrapped is empty:
            return response
        if storage is not None:
            unstored = storage.update(response)
            if unstored and settings.DEBUG:
                raise ValueError("Not all temporary messages could be stored.")
        return response
