"""Who may do what: roles read from the user's StaffProfile."""

import functools
import uuid

from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.db import connection, connections
from django.db.models import Exists, OuterRef, QuerySet
from django.utils import timezone

from core.models import Event, Role, StaffInvite, StaffProfile
from core.queries.kept import KeptInProcess
from core.rows import model_columns, planned_cursor, rows_where

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


def user_with_staff_profile(user_id):
    """The user, with `staff_profile` loaded (or known to be absent); None if
    there is no such user. What `User.objects.select_related("staff_profile")
    .get(pk=user_id)` gives."""
    user_model = get_user_model()
    db = connection
    key = user_model._meta.pk.get_db_prep_value(user_id, db)
    with planned_cursor() as cursor:
        cursor.execute(_user_with_profile_query(db.alias), [key])
        row = cursor.fetchone()
    if row is None:
        return None
    user_columns = model_columns(user_model, db.alias)
    profile_columns = model_columns(StaffProfile, db.alias)
    width = len(user_columns)
    user = user_columns.instance(row[:width], db.alias)
    profile = None
    if row[width] is not None:  # the LEFT JOIN found a profile
        profile = profile_columns.instance(row[width:], db.alias)
        StaffProfile.user.field.set_cached_value(profile, user)
    StaffProfile.user.field.remote_field.set_cached_value(user, profile)
    return user


@functools.cache
def _user_with_profile_query(alias: str) -> str:
    quote = connections[alias].ops.quote_name
    user_model = get_user_model()
    user_table = quote(user_model._meta.db_table)
    profile_table = quote(StaffProfile._meta.db_table)
    profile_user = quote(StaffProfile._meta.get_field("user").column)
    user_key = f"{user_table}.{quote(user_model._meta.pk.column)}"
    return (
        f"SELECT {model_columns(user_model, alias).select},"
        f" {model_columns(StaffProfile, alias).select}"
        f" FROM {user_table} LEFT JOIN {profile_table}"
        f" ON {profile_table}.{profile_user} = {user_key}"
        f" WHERE {user_key} = %s"
    )


# Whether a staff member may scan an event, with the event, per (user, role,
# event), kept DOOR_ACCESS_SECONDS. Announced (core.queries.kept) when staff
# get another role or other events or are deactivated (core.services.staff)
# and when an event changes (core.services.events). Who is signed in, and
# their role, are read on every request: a deactivated member stops at once.
DOOR_ACCESS_SECONDS = 10.0
door_access = KeptInProcess("door-access", seconds=DOOR_ACCESS_SECONDS)


def event_if_scannable(user, event_id) -> tuple[Event | None, bool]:
    """The event (None if there is none), and whether `user` may scan it by
    can_scan_event's rule: kept from the last time (see door_access), or read
    in one statement planned once per connection.

    A door phone signed in as staff asks this on every scan; as an ORM read
    and can_scan_event's two queries it cost three statements and more CPU
    than the scan itself, and as one statement still a quarter of a session
    scan's. A test holds the statement to can_scan_event's answers.
    """
    try:
        key = (user.pk, role_of(user), uuid.UUID(str(event_id)))
    except ValueError:
        return _event_if_scannable(user, event_id)
    kept = door_access.get(key)
    if kept is not None:
        return kept
    found = _event_if_scannable(user, event_id)
    if found[0] is not None:  # unknown events are not kept: random ids cost memory
        door_access.keep(key, found)
    return found


def _event_if_scannable(user, event_id) -> tuple[Event | None, bool]:
    role = role_of(user)
    if role != Role.DOOR:
        events = rows_where(Event, id=event_id)
        event = events[0] if events else None
        return event, event is not None and role in MANAGE_ROLES
    db = connection
    profile_id = user.staff_profile.pk
    with planned_cursor() as cursor:
        cursor.execute(
            _scannable_event_query(db.alias),
            [profile_id, profile_id, Event._meta.pk.get_db_prep_value(event_id, db)],
        )
        row = cursor.fetchone()
    if row is None:
        return None, False
    columns = model_columns(Event, db.alias)
    assigned_here, assigned_any = row[len(columns) :]
    return columns.instance(row[: len(columns)], db.alias), bool(
        assigned_here or not assigned_any
    )


@functools.cache
def _scannable_event_query(alias: str) -> str:
    """The event's columns, whether the profile is on its door, and whether
    the profile is on any event's door (unassigned door staff scan all)."""
    quote = connections[alias].ops.quote_name
    events = StaffProfile.events.field
    assignments = quote(events.m2m_db_table())
    profile = quote(events.m2m_column_name())
    event = quote(events.m2m_reverse_name())
    event_table = quote(Event._meta.db_table)
    event_key = f"{event_table}.{quote(Event._meta.pk.column)}"
    return (
        f"SELECT {model_columns(Event, alias).select},"
        f" EXISTS (SELECT 1 FROM {assignments} a"
        f" WHERE a.{profile} = %s AND a.{event} = {event_key}),"
        f" EXISTS (SELECT 1 FROM {assignments} a WHERE a.{profile} = %s)"
        f" FROM {event_table} WHERE {event_key} = %s"
    )


def staff_members() -> QuerySet[StaffProfile]:
    """Everyone with a staff role, active first, with their door events."""
    return (
        StaffProfile.objects.select_related("user")
        .prefetch_related("events")
        .order_by("-user__is_active", "role", "user__username")
    )


def pending_invites(now=None) -> QuerySet[StaffInvite]:
    now = now or timezone.now()
    return (
        StaffInvite.objects.filter(accepted_at__isnull=True, expires_at__gt=now)
        .prefetch_related("events")
        .order_by("-created_at")
    )


def door_staff_only_at(event_id, *, now=None) -> tuple[list, list[StaffInvite]]:
    """Door staff (active or not) and pending door invites limited to this
    event alone: deleting it would leave them scanning every event.

    Returns the members' users, by name, and the invites, by email.
    """
    now = now or timezone.now()
    profile_events = StaffProfile.events.through.objects
    invite_events = StaffInvite.events.through.objects
    profiles = (
        StaffProfile.objects.filter(role=Role.DOOR, events=event_id)
        .exclude(
            Exists(
                profile_events.filter(staffprofile=OuterRef("pk")).exclude(
                    event=event_id
                )
            )
        )
        .select_related("user")
    )
    users = sorted(
        (profile.user for profile in profiles),
        key=lambda user: (user.get_full_name() or user.username).casefold(),
    )
    pending = (
        StaffInvite.objects.filter(
            role=Role.DOOR,
            events=event_id,
            accepted_at__isnull=True,
            expires_at__gt=now,
        )
        .exclude(
            Exists(
                invite_events.filter(staffinvite=OuterRef("pk")).exclude(event=event_id)
            )
        )
        .order_by("email")
    )
    return users, list(pending)
