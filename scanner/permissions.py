"""Role checks for every scanner-site view and API.

Each view declares the roles it admits with `role_required`; the decorator
records them on the view (`allowed_roles`) so the permission-matrix test can
walk every scanner URL and refuse any that declares nothing.
"""

from collections.abc import Callable
from functools import wraps

from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse, JsonResponse
from rest_framework.permissions import BasePermission

from core.models import Role
from core.queries.staff import role_of

OWNER = (Role.OWNER,)
MANAGERS = (Role.OWNER, Role.MANAGER)
ALL_STAFF = (Role.OWNER, Role.MANAGER, Role.DOOR)


def role_required(*roles: str, api: bool = False) -> Callable:
    """Admit only staff with one of `roles`; others get a login redirect or 403.

    With `api=True` refusals are JSON `{"code", "message"}` (401/403).
    """

    def decorator(view: Callable) -> Callable:
        @wraps(view)
        def wrapped(request: HttpRequest, *args, **kwargs) -> HttpResponse:
            role = role_of(request.user)
            if role not in roles:
                if api:
                    if not request.user.is_authenticated:
                        return JsonResponse(
                            {
                                "code": "not_authenticated",
                                "message": "Sign in as staff first.",
                            },
                            status=401,
                        )
                    return JsonResponse(
                        {"code": "forbidden", "message": "Your role cannot do that."},
                        status=403,
                    )
                if not request.user.is_authenticated:
                    return redirect_to_login(request.get_full_path())
                raise PermissionDenied("Your role cannot open this page.")
            return view(request, *args, **kwargs)

        wrapped.allowed_roles = tuple(roles)
        return wrapped

    return decorator


class HasRole(BasePermission):
    """DRF permission: set `allowed_roles` on the APIView."""

    message = "Your role cannot do that."

    def has_permission(self, request, view) -> bool:
        return role_of(request.user) in getattr(view, "allowed_roles", ())
