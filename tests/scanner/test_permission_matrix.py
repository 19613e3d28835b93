"""Every scanner URL, for anonymous, door, manager and owner: allowed or refused.

The URLs come from walking scanner.urls and scanner.api_urls (not a hand
list), so a page added by anyone is covered. Each view must declare
`allowed_roles` (role_required, or HasRole on an APIView); only the public
sign-in pages are exempt. To cover a new URL parameter, add a sample value in
tests/scanner/url_samples.py.
"""

import types

import pytest
from django.http import HttpResponse
from django.urls import path, reverse

from core.models import Role
from scanner.permissions import ALL_STAFF, MANAGERS, OWNER, role_required
from tests.scanner.url_samples import (
    PUBLIC_URL_NAMES,
    _walk,
    allowed_roles_of,
    sample_kwargs,
    scanner_routes,
)

pytestmark = pytest.mark.django_db

ROLES = ("anonymous", Role.DOOR, Role.MANAGER, Role.OWNER)
ROUTES = scanner_routes()
PROTECTED = [r for r in ROUTES if r.name not in PUBLIC_URL_NAMES]

# The console's own pages, pinned so that loosening one is a visible change.
EXPECTED_ROLES = {
    "scanner:home": ALL_STAFF,
    "scanner:event_create": MANAGERS,
    "scanner:event_detail": MANAGERS,
    "scanner:event_edit": MANAGERS,
    "scanner:event_duplicate": MANAGERS,
    "scanner:event_set_active": MANAGERS,
    "scanner:event_delete": MANAGERS,
    "scanner:event_audit": MANAGERS,
    "scanner:event_comps": OWNER,
    "scanner:staff": OWNER,
    "scanner:staff_invite": OWNER,
    "scanner:staff_edit": OWNER,
    "scanner:staff_set_active": OWNER,
    "scanner:staff_invite_revoke": OWNER,
    "scanner:orders": MANAGERS,
    "scanner:order_detail": MANAGERS,
    "scanner:order_refund": MANAGERS,
    "scanner:order_refund_tickets": MANAGERS,
    "scanner:order_void_tickets": MANAGERS,
    "scanner:order_resend": MANAGERS,
}


def _client_for(role, client, owner, manager, door):
    users = {Role.OWNER: owner, Role.MANAGER: manager, Role.DOOR: door}
    if role != "anonymous":
        client.force_login(users[role])
    return client


def _request(client, url):
    """GET, or an empty POST for views that only accept POST."""
    response = client.get(url)
    if response.status_code == 405:
        response = client.post(url, {})
    return response


def _refused(response, login_url: str) -> bool:
    if response.status_code in (401, 403):
        return True
    return response.status_code == 302 and response["Location"].startswith(login_url)


def test_walk_finds_the_console_pages():
    names = {route.name for route in ROUTES}
    assert set(EXPECTED_ROLES) <= names
    assert names >= PUBLIC_URL_NAMES


@pytest.mark.parametrize("route", ROUTES, ids=str)
def test_every_scanner_url_declares_its_roles(route):
    if route.name in PUBLIC_URL_NAMES:
        assert allowed_roles_of(route.callback) is None or route.name.endswith("logout")
        return
    roles = allowed_roles_of(route.callback)
    assert roles is not None, (
        f"{route.name} ({route.route}) declares no allowed_roles: decorate it with "
        "scanner.permissions.role_required, or give its APIView allowed_roles and "
        "HasRole (or add it to PUBLIC_URL_NAMES if it is truly public)."
    )
    assert roles and set(roles) <= set(Role.values), roles


@pytest.mark.parametrize("route", PROTECTED, ids=str)
@pytest.mark.parametrize("role", ROLES)
def test_permission_matrix(route, role, client, owner, manager, door, url_samples):
    roles = allowed_roles_of(route.callback)
    if roles is None:
        pytest.fail(f"{route.name} declares no allowed_roles")
    url = reverse(route.name, kwargs=sample_kwargs(route, url_samples))
    response = _request(_client_for(role, client, owner, manager, door), url)
    refused = _refused(response, reverse("scanner:login"))
    if role in roles:
        assert not refused, f"{role} was refused {route.name}: {response.status_code}"
        assert response.status_code < 500
    else:
        assert refused, (
            f"{role} got {response.status_code} from {route.name}, which allows only "
            f"{roles}"
        )
        if role == "anonymous":
            assert response.status_code in (302, 401, 403)
        else:
            assert response.status_code in (401, 403)


@pytest.mark.parametrize(
    "name", sorted(n for n in EXPECTED_ROLES if n in {r.name for r in ROUTES})
)
def test_console_pages_admit_the_roles_the_issue_gives_them(name):
    route = next(r for r in ROUTES if r.name == name)
    assert set(allowed_roles_of(route.callback)) == set(EXPECTED_ROLES[name])


@pytest.mark.parametrize("name", sorted(PUBLIC_URL_NAMES))
def test_public_pages_open_without_signing_in(name, client, url_samples):
    route = next(r for r in ROUTES if r.name == name)
    url = reverse(route.name, kwargs=sample_kwargs(route, url_samples))
    response = _request(client, url)
    assert response.status_code < 500
    if name != "scanner:logout":
        assert not _refused(response, reverse("scanner:login"))


def test_the_walk_flags_a_view_without_roles_and_reads_class_roles():
    """The checks above would catch an undeclared view (a guard against a vacuous walk)."""

    def naked(request):
        return HttpResponse("open")

    @role_required(*OWNER)
    def guarded(request):
        return HttpResponse("owner")

    class Api:
        allowed_roles = MANAGERS

    def api_view(request):
        return HttpResponse("api")

    api_view.view_class = Api
    module = types.SimpleNamespace(
        urlpatterns=[
            path("naked/", naked, name="naked"),
            path("guarded/<uuid:event_id>/", guarded, name="guarded"),
            path("api/", api_view, name="api"),
        ]
    )
    routes = {r.name: r for r in _walk(module.urlpatterns, "x", "", {})}
    assert allowed_roles_of(routes["x:naked"].callback) is None
    assert allowed_roles_of(routes["x:guarded"].callback) == OWNER
    assert allowed_roles_of(routes["x:api"].callback) == MANAGERS
    assert list(routes["x:guarded"].params) == ["event_id"]


def test_an_unknown_parameter_name_asks_for_a_sample(url_samples):
    from tests.scanner.url_samples import Route

    route = Route(
        name="x:y", route="y/<int:mystery>/", callback=None, params={"mystery": None}
    )
    with pytest.raises(LookupError, match="mystery"):
        sample_kwargs(route, url_samples)
