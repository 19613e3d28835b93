"""Who may do what: roles read from the user's StaffProfile."""

from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.db.models import QuerySet
from django.utils import timezone

from core.models import Event, Role, StaffInvite, StaffProfile

MANAGE_ROLES = (Role.OWNER, Role.MANAGER)
SCAN_ROLES = (Role.OWNER, Role.MANAGER, Role.DOOR)


def role_of(user: AbstractBaseUser | AnonymousUser | None) -> str | None:
    """The user's role, or None for anyone who is not active staff."""
    if user is None or not user.is_authenticated or not user.is_active:
        return None
    profile = getattr(user, "staff_profile", None)
    if profile is not None:
        return profile.role
    return Role.OWNER if user.is_superuser else None


def has_role(user, roles: tuple[str, ...]) -> bool:
    return role_of(user) in roles


def can_manage_events(user) -> bool:
    return has_role(user, MANAGE_ROLES)


def can_manage_staff(user) -> bool:
    return role_of(user) == Role.OWNER


def can_scan_event(user, event: Event | object) -> bool:
    """Door staff may be limited to assigned events; managers and owners scan all."""
    role = role_of(user)
    if role in MANAGE_ROLES:
        return True
    if role != Role.DOOR:
        return False
    event_id = getattr(event, "pk", event)
    assigned = user.staff_profile.events.values_list("pk", flat=True)
    return not assigned.exists() or assigned.filter(pk=event_id).exists()


def staff_members() -> QuerySet[StaffProfile]:
    """Everyone with a staff role, active first, with their door events."""
    return (
        StaffProfile.objects.select_related("user")
        .prefetch_related("events")
        .order_by("-user__is_active", "role", "user__username")
    )


def pending_invites(now=None) -> QuerySet[StaffInvite]:
    now = now or timezone.now()
    return StaffInvite.objects.filter(
        accepted_at__isnull=True, expires_at__gt=now
    ).order_by("-created_at")
