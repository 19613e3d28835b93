"""Staff: invitations, joining, roles, door assignments, deactivation.

Only the owner manages staff. Every change writes an audit entry. The owner
cannot change or deactivate themself, and the last active owner can never be
removed, so the business is never locked out of its own console.
"""

from collections.abc import Iterable
from datetime import datetime, timedelta

from django.contrib.auth import get_user_model
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from core import realtime
from core.exceptions import InvalidRequest, InviteUnusable, NotFound, PermissionRefused
from core.models import Event, Role, StaffInvite, StaffProfile
from core.notify.outbox import queue_email, queue_sms
from core.phones import NotAPhoneNumber, default_phone_region, normalise_phone
from core.queries.staff import can_manage_staff, door_access
from core.services.audit import record_change
from core.sites import site_url
from core.templatetags.zones import datetime_with_zone

INVITE_VALID_DAYS = 7


def _announce_access_changed(user_id) -> None:
    """After commit: their staff feeds close (core.realtime), and every
    process forgets what it kept of door access (core.queries.staff)."""
    realtime.announce_staff_access_changed(user_id)
    transaction.on_commit(door_access.announce_change)


def _require_owner(actor) -> None:
    if actor is not None and not can_manage_staff(actor):
        raise PermissionRefused("Only the owner can manage staff.")


def _clean_role(role: str) -> str:
    if role not in Role.values:
        raise InvalidRequest(
            "Choose owner, manager or door staff.", code="invalid_role", field="role"
        )
    return role


def _clean_phone(phone: str) -> str:
    """The number in E.164 for the invitation text; one typed without its
    +code is read as one of DEFAULT_PHONE_REGION (an invite has no event)."""
    region = default_phone_region()
    try:
        return normalise_phone(phone, region=region)
    except NotAPhoneNumber as exc:
        problem = (
            "That is a landline number, which cannot get texts."
            if exc.landline
            else "That is not a valid phone number."
        )
        raise InvalidRequest(
            f"{problem} Give a mobile number with its country code, e.g. {exc.example}.",
            code="invalid_phone",
            field="phone",
        ) from exc


def display_name(user) -> str:
    return (user.get_full_name() or user.get_username()) if user else "Someone"


def _existing_events(event_ids: Iterable) -> list[Event]:
    """The events named, in id order; InvalidRequest if one is gone."""
    wanted = set(event_ids)
    events = list(Event.objects.filter(pk__in=list(wanted)).order_by("pk"))
    if len(events) != len(wanted):
        raise InvalidRequest(
            "One of the chosen events does not exist any more.",
            code="unknown_event",
            field="events",
        )
    return events


@transaction.atomic
def invite_staff(
    *,
    actor,
    email: str,
    role: str,
    phone: str = "",
    event_ids: Iterable = (),
    now: datetime | None = None,
) -> StaffInvite:
    """Invite someone by email (and SMS when a phone is given) to join with a role.

    Door staff may be limited to `event_ids` from the start (none: every
    event), so a new door person never scans every event until the owner
    thinks to narrow it; other roles scan all, and their `event_ids` are
    ignored. Takes no row locks. A newer invite to the same address replaces
    older pending ones. Queues a staff_invite email (and SMS) in this
    transaction; writes an audit entry. Raises PermissionRefused,
    InvalidRequest (codes invalid_email, invalid_role, invalid_phone,
    already_staff, unknown_event).
    """
    _require_owner(actor)
    now = now or timezone.now()
    email = (email or "").strip().lower()
    try:
        validate_email(email)
    except ValidationError as exc:
        raise InvalidRequest(
            "Give a valid email address, like name@example.com.",
            code="invalid_email",
            field="email",
        ) from exc
    role = _clean_role(role)
    phone = _clean_phone(phone)
    door_events = _existing_events(event_ids) if role == Role.DOOR else []
    user_model = get_user_model()
    if user_model.objects.filter(
        email__iexact=email, is_active=True, staff_profile__isnull=False
    ).exists():
        raise InvalidRequest(
            f"{email} is already on your staff. Change their role on the staff page.",
            code="already_staff",
            field="email",
        )
    StaffInvite.objects.filter(
        email__iexact=email, accepted_at__isnull=True, expires_at__gt=now
    ).update(expires_at=now)
    invite = StaffInvite.objects.create(
        email=email,
        phone=phone,
        role=role,
        events_chosen=bool(door_events),
        invited_by=actor if actor is not None and actor.is_authenticated else None,
        expires_at=now + timedelta(days=INVITE_VALID_DAYS),
    )
    invite.events.set(door_events)
    context = {
        "invite_url": site_url(
            "scanner", "scanner:invite_accept", token=invite.token, absolute=True
        ),
        "role": role,
        "role_label": Role(role).label,
        "role_as": {Role.OWNER: "an owner", Role.MANAGER: "a manager"}.get(
            role, "door staff"
        ),
        # Full names only: a bare username ("owner invited you") reads as
        # phishing; without a name the message speaks for the organisation.
        "invited_by": actor.get_full_name() if actor is not None else "",
        "invited_by_email": actor.email if actor is not None else "",
        "expires_on": datetime_with_zone(
            timezone.localtime(invite.expires_at), "j F Y, H:i"
        ),
        "valid_days": INVITE_VALID_DAYS,
        # Door staff put on some events: which ones, in words.
        "door_events": [
            f"{event.name} ({starts:%a} {starts.day} {starts:%b})"
            for event in door_events
            for starts in [event.local_starts_at()]
        ],
    }
    queue_email(kind="staff_invite", to=email, context=context)
    if phone:
        queue_sms(kind="staff_invite", to=phone, context=context)
    record_change(
        actor=actor,
        action="staff.invite",
        obj=invite,
        object_repr=email,
        after={
            "email": email,
            "role": role,
            "phone": phone,
            # By name, as an edit of someone's events is recorded: the
            # history is read by people.
            "events": [e.name for e in door_events],
        },
    )
    return invite


def usable_invite(token: str, now: datetime | None = None) -> StaffInvite:
    """The pending invite for `token`, or InviteUnusable saying why not."""
    return _check_usable(StaffInvite.objects.filter(token=token or "").first(), now)


def _check_usable(invite: StaffInvite | None, now: datetime | None) -> StaffInvite:
    now = now or timezone.now()
    if invite is None:
        raise InviteUnusable("This invitation link is not valid. Check the link.")
    if invite.accepted_at is not None:
        raise InviteUnusable(
            "This invitation was already used. Sign in with your username and password."
        )
    if invite.expires_at <= now:
        raise InviteUnusable(
            "This invitation has expired or was replaced. Ask the owner to send a new one."
        )
    if invite.role == Role.DOOR and invite.events_chosen and not invite.events.exists():
        # Its events were deleted: joining now would scan every event.
        inviter = invite.invited_by.get_full_name() if invite.invited_by else ""
        raise InviteUnusable(
            "This invitation was for an event that no longer exists. "
            f"Ask {inviter or 'the owner'} for a new one.",
            code="invite_events_gone",
        )
    return invite


@transaction.atomic
def accept_invite(
    *,
    token: str,
    username: str,
    password: str,
    first_name: str = "",
    last_name: str = "",
    now: datetime | None = None,
):
    """Create the invited person's login and staff role; the invite is used up.

    Locks the invite row, so a link clicked twice creates one account. An
    invite for door events that have all been deleted since is refused
    (InviteUnusable, code invite_events_gone) rather than letting the new
    member scan every event. Writes an audit entry. Raises InviteUnusable,
    InvalidRequest (codes invalid_username, username_taken, weak_password).
    """
    now = now or timezone.now()
    invite = _check_usable(
        StaffInvite.objects.select_for_update().filter(token=token or "").first(), now
    )
    user_model = get_user_model()
    username = (username or "").strip()
    try:
        user_model.username_validator(username)
        if not username:
            raise ValidationError("empty")
    except ValidationError as exc:
        raise InvalidRequest(
            "Choose a username of letters, digits and @ . + - _ only.",
            code="invalid_username",
            field="username",
        ) from exc
    if len(username) > 150:
        raise InvalidRequest(
            "Keep the username under 150 characters.",
            code="invalid_username",
            field="username",
        )
    if user_model.objects.filter(username__iexact=username).exists():
        raise InvalidRequest(
            f"The username “{username}” is taken. Choose another.",
            code="username_taken",
            field="username",
        )
    candidate = user_model(
        username=username,
        email=invite.email,
        first_name=(first_name or "").strip()[:150],
        last_name=(last_name or "").strip()[:150],
    )
    try:
        validate_password(password, user=candidate)
    except ValidationError as exc:
        raise InvalidRequest(
            " ".join(exc.messages), code="weak_password", field="password"
        ) from exc
    candidate.set_password(password)
    # Someone accepting another invitation may have taken the username, or
    # the same one in other letter case, since the check above: the unique
    # index is case-sensitive, so "Sam" and "sam" would both pass it. Under
    # a lock on the name in any case, check again and save.
    _lock_username(username)
    if user_model.objects.filter(username__iexact=username).exists():
        raise InvalidRequest(
            "That username was just taken; choose another.",
            code="username_taken",
            field="username",
        )
    try:
        # The unique index still says so should the name be taken outside
        # this function. The savepoint keeps the transaction usable; raising
        # undoes it all, so the invite stays open.
        with transaction.atomic():
            candidate.save()
    except IntegrityError as exc:
        raise InvalidRequest(
            "That username was just taken; choose another.",
            code="username_taken",
            field="username",
        ) from exc
    profile = StaffProfile.objects.create(
        user=candidate, role=invite.role, phone=invite.phone
    )
    if invite.role == Role.DOOR:
        profile.events.set(invite.events.all())
    invite.accepted_at = now
    invite.save(update_fields=["accepted_at"])
    record_change(
        actor=candidate,
        action="staff.join",
        obj=candidate,
        object_type="staff",
        object_repr=display_name(candidate),
        after={"username": username, "email": invite.email, "role": invite.role},
    )
    return candidate


# pg_advisory_xact_lock's first key: usernames being taken (the second is
# the name's hash).
USERNAME_LOCKS = 0x55534552  # "USER"


def _lock_username(username: str) -> None:
    """Until the transaction ends, hold a lock on this username in any letter
    case, so that of two people taking "Sam" and "sam" at once the second
    checks after the first has saved. Keyed on the name as username__iexact
    compares it (UPPER), hashed. On Postgres; SQLite has one writer at a
    time."""
    if connection.vendor != "postgresql":
        return
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT pg_advisory_xact_lock(%s, hashtext(UPPER(%s)))",
            [USERNAME_LOCKS, username],
        )


def _lock_member(user_id) -> StaffProfile:
    profile = (
        StaffProfile.objects.select_for_update()
        .select_related("user")
        .filter(user_id=user_id)
        .first()
    )
    if profile is None:
        raise NotFound("This person is not on the staff.", code="unknown_staff")
    return profile


def _lock_owners() -> list[StaffProfile]:
    """Lock every owner profile (by pk) so two demotions cannot both pass the check."""
    return list(
        StaffProfile.objects.select_for_update()
        .filter(role=Role.OWNER)
        .select_related("user")
        .order_by("pk")
    )


def _refuse_self(actor, profile: StaffProfile, what: str) -> None:
    if actor is not None and actor.pk == profile.user_id:
        raise InvalidRequest(
            f"You cannot {what} yourself. Ask another owner to do it.",
            code="self_change",
            field="role",
        )


def _refuse_last_owner(owners: list[StaffProfile], profile: StaffProfile) -> None:
    others = [o for o in owners if o.pk != profile.pk and o.user.is_active]
    if profile.role == Role.OWNER and not others:
        raise InvalidRequest(
            "This is the only owner. Make someone else owner first.",
            code="last_owner",
            field="role",
        )


@transaction.atomic
def update_staff_member(
    *, actor, user_id, role: str, event_ids: Iterable | None = None
) -> StaffProfile:
    """Change someone's role and, for door staff, the events they may scan.

    Locks the owners' profiles, then the member's. An empty `event_ids` means
    all events. Writes an audit entry per change. Raises PermissionRefused,
    NotFound, InvalidRequest (invalid_role, self_change, last_owner,
    unknown_event).
    """
    _require_owner(actor)
    role = _clean_role(role)
    owners = _lock_owners()
    profile = _lock_member(user_id)
    wanted_events = _existing_events(event_ids or [])
    if role != profile.role:
        _refuse_self(actor, profile, "change the role of")
        if role != Role.OWNER:
            _refuse_last_owner(owners, profile)
        before = profile.role
        profile.role = role
        profile.save(update_fields=["role"])
        _announce_access_changed(profile.user_id)
        record_change(
            actor=actor,
            action="staff.role",
            obj=profile.user,
            object_type="staff",
            object_repr=display_name(profile.user),
            before={"role": before},
            after={"role": role},
        )
    if event_ids is not None:
        current = sorted(str(pk) for pk in profile.events.values_list("pk", flat=True))
        wanted = sorted(str(e.pk) for e in wanted_events)
        if current != wanted:
            profile.events.set(wanted_events)
            _announce_access_changed(profile.user_id)
            names = {str(e.pk): e.name for e in Event.objects.filter(pk__in=current)}
            record_change(
                actor=actor,
                action="staff.events",
                obj=profile.user,
                object_type="staff",
                object_repr=display_name(profile.user),
                before={"events": [names.get(pk, pk) for pk in current]},
                after={"events": [e.name for e in wanted_events]},
            )
    return profile


@transaction.atomic
def set_staff_active(*, actor, user_id, active: bool) -> StaffProfile:
    """Deactivate someone (their sessions stop working at once) or bring them back.

    Locks the owners' profiles, then the member's. Writes an audit entry.
    Raises PermissionRefused, NotFound, InvalidRequest (self_change, last_owner).
    """
    _require_owner(actor)
    owners = _lock_owners()
    profile = _lock_member(user_id)
    user = profile.user
    if user.is_active == active:
        return profile
    if not active:
        _refuse_self(actor, profile, "deactivate")
        _refuse_last_owner(owners, profile)
    user.is_active = active
    user.save(update_fields=["is_active"])
    record_change(
        actor=actor,
        action="staff.reactivate" if active else "staff.deactivate",
        obj=user,
        object_type="staff",
        object_repr=display_name(user),
        before={"is_active": not active},
        after={"is_active": active},
    )
    if not active:
        _announce_access_changed(user.pk)
    return profile


@transaction.atomic
def revoke_invite(*, actor, invite_id, now: datetime | None = None) -> StaffInvite:
    """Make a pending invite unusable. Locks the invite row; writes an audit entry."""
    _require_owner(actor)
    now = now or timezone.now()
    invite = StaffInvite.objects.select_for_update().filter(pk=invite_id).first()
    if invite is None:
        raise NotFound("This invitation does not exist.", code="unknown_invite")
    if invite.accepted_at is None and invite.expires_at > now:
        invite.expires_at = now
        invite.save(update_fields=["expires_at"])
        record_change(
            actor=actor,
            action="staff.invite_revoke",
            obj=invite,
            object_repr=invite.email,
            before={"email": invite.email, "role": invite.role},
        )
    return invite
