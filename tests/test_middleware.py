from django.contrib import messages
from django.http import HttpResponse
from django.test import RequestFactory

from ticketing import middleware
from ticketing.middleware import LazyMessageMiddleware


def _through(view, request):
    return LazyMessageMiddleware(view)(request)


def test_a_request_that_never_uses_messages_builds_no_storage(monkeypatch):
    built = []
    real = middleware.default_storage
    monkeypatch.setattr(
        middleware, "default_storage", lambda request: built.append(1) or real(request)
    )

    response = _through(lambda request: HttpResponse("ok"), RequestFactory().get("/"))

    assert built == []
    assert "messages" not in response.cookies


def test_a_message_added_is_stored_for_the_next_page():
    def view(request):
        messages.success(request, "Saved.")
        return HttpResponse("ok")

    request = RequestFactory().post("/")
    request.session = {}
    response = _through(view, request)

    assert "messages" in response.cookies
    follow = RequestFactory().get("/", HTTP_COOKIE=response.cookies.output(header=""))
    follow.session = {}
    seen = []

    def reader(request):
        seen.extend(str(message) for message in messages.get_messages(request))
        return HttpResponse("ok")

    _through(reader, follow)
    assert seen == ["Saved."]
