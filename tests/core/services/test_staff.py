from datetime import timedelta

import pytest
from django.contrib.auth import authenticate, get_user_model
from django.utils import timezone

from core.exceptions import InvalidRequest, InviteUnusable, PermissionRefused
from core.models import AuditLogEntry, OutboundMessage, Role, StaffInvite
from core.notify.rendering import build_email, build_sms
from core.queries.staff import can_scan_event, role_of
from core.services.staff import (
    accept_invite,
    invite_staff,
    revoke_invite,
    set_staff_active,
    update_staff_member,
    usable_invite,
)
from tests.factories import EventFactory, make_staff

pytestmark = pytest.mark.django_db
STRONG = "lantern-Orchid-73"


def test_invite_queues_email_and_sms_with_a_working_link(owner):
    invite = invite_staff(
        actor=owner, email=" New@Example.com ", role=Role.DOOR, phone="+34 600 000 000"
    )
    assert invite.email == "new@example.com"
    email = OutboundMessage.objects.get(channel="email")
    sms = OutboundMessage.objects.get(channel="sms")
    assert (email.kind, email.to) == ("staff_invite", "new@example.com")
    assert (sms.kind, sms.to) == ("staff_invite", "+34600000000")
    assert email.context["invite_url"].endswith(f"/scanner/invite/{invite.token}/")
    assert AuditLogEntry.objects.filter(action="staff.invite").exists()


def test_invite_templates_render_with_the_queued_context(owner):
    invite_staff(
        actor=owner, email="new@example.com", role=Role.MANAGER, phone="+34600000000"
    )
    email = build_email(OutboundMessage.objects.get(channel="email"))
    sms_message = OutboundMessage.objects.get(channel="sms")
    invite_url = sms_message.context["invite_url"]
    assert "\n" not in email.subject and "as a manager" in email.subject
    for body in (email.body, email.alternatives[0][0], build_sms(sms_message)):
        assert invite_url in body


@pytest.mark.parametrize(
    ("email", "role", "phone", "code"),
    [
        ("nope", Role.DOOR, "", "invalid_email"),
        ("a@example.com", "admin", "", "invalid_role"),
        ("a@example.com", Role.DOOR, "12ab", "invalid_phone"),
    ],
)
def test_bad_invites_are_refused(owner, email, role, phone, code):
    with pytest.raises(InvalidRequest) as caught:
        invite_staff(actor=owner, email=email, role=role, phone=phone)
    assert caught.value.code == code
    assert not StaffInvite.objects.exists() and not OutboundMessage.objects.exists()


def test_existing_staff_cannot_be_invited_again(owner, door):
    with pytest.raises(InvalidRequest) as caught:
        invite_staff(actor=owner, email=door.email.upper(), role=Role.MANAGER)
    assert caught.value.code == "already_staff"


def test_only_the_owner_invites(manager):
    with pytest.raises(PermissionRefused):
        invite_staff(actor=manager, email="x@example.com", role=Role.DOOR)


def test_accepting_creates_the_login_and_role_once(owner):
    invite = invite_staff(actor=owner, email="sam@example.com", role=Role.MANAGER)
    user = accept_invite(
        token=invite.token, username="sam", password=STRONG, first_name="Sam"
    )
    assert authenticate(username="sam", password=STRONG) == user
    assert role_of(user) == Role.MANAGER and user.email == "sam@example.com"
    with pytest.raises(InviteUnusable, match="already used"):
        accept_invite(token=invite.token, username="sam2", password=STRONG)


def test_door_staff_invited_for_some_events_scan_only_those_once_joined(owner):
    mine, other = EventFactory(), EventFactory()
    invite = invite_staff(
        actor=owner, email="kim@example.com", role=Role.DOOR, event_ids=[mine.pk]
    )
    user = accept_invite(token=invite.token, username="kim", password=STRONG)

    assert can_scan_event(user, mine) and not can_scan_event(user, other)
    entry = AuditLogEntry.objects.get(action="staff.invite")
    assert entry.after["events"] == [mine.name]


def test_events_chosen_for_an_invite_to_another_role_are_ignored(owner):
    mine, other = EventFactory(), EventFactory()
    invite = invite_staff(
        actor=owner, email="lee@example.com", role=Role.MANAGER, event_ids=[mine.pk]
    )
    user = accept_invite(token=invite.token, username="lee", password=STRONG)

    assert not invite.events.exists()
    assert can_scan_event(user, mine) and can_scan_event(user, other)


def test_an_invite_for_an_event_that_is_gone_is_refused(owner):
    gone = EventFactory()
    gone_id = gone.pk
    gone.delete()

    with pytest.raises(InvalidRequest) as refused:
        invite_staff(
            actor=owner, email="kim@example.com", role=Role.DOOR, event_ids=[gone_id]
        )

    assert refused.value.code == "unknown_event"
    assert not StaffInvite.objects.exists()


def test_expired_replaced_and_unknown_invites_are_unusable(owner):
    old = invite_staff(actor=owner, email="sam@example.com", role=Role.DOOR)
    new = invite_staff(actor=owner, email="sam@example.com", role=Role.MANAGER)
    with pytest.raises(InviteUnusable, match="expired or was replaced"):
        accept_invite(token=old.token, username="sam", password=STRONG)
    with pytest.raises(InviteUnusable, match="not valid"):
        accept_invite(token="bogus", username="sam", password=STRONG)
    later = timezone.now() + timedelta(days=8)
    with pytest.raises(InviteUnusable):
        accept_invite(token=new.token, username="sam", password=STRONG, now=later)
    assert not get_user_model().objects.filter(username="sam").exists()


@pytest.mark.parametrize(
    ("username", "password", "code"),
    [
        ("sam", "123", "weak_password"),
        ("sam", "password", "weak_password"),
        ("bad name!", STRONG, "invalid_username"),
        ("OWNER1", STRONG, "username_taken"),
    ],
)
def test_bad_account_details_are_refused_and_the_invite_stays_usable(
    owner, username, password, code
):
    invite = invite_staff(actor=owner, email="sam@example.com", role=Role.DOOR)
    with pytest.raises(InvalidRequest) as caught:
        accept_invite(token=invite.token, username=username, password=password)
    assert caught.value.code == code
    invite.refresh_from_db()
    assert invite.accepted_at is None


def test_a_username_taken_while_accepting_is_refused_and_the_invite_stays_usable(
    owner, monkeypatch
):
    """Two people accepting invitations at once with one username: the one
    who saves second finds it taken when checking again before saving."""
    from core.services import staff as staff_service

    invite = invite_staff(actor=owner, email="sam@example.com", role=Role.DOOR)
    checked = staff_service.validate_password

    def meanwhile_someone_else_joins(password, user=None):
        checked(password, user=user)
        get_user_model().objects.create_user(username="sam", password=STRONG)

    monkeypatch.setattr(
        staff_service, "validate_password", meanwhile_someone_else_joins
    )
    with pytest.raises(InvalidRequest) as caught:
        accept_invite(token=invite.token, username="sam", password=STRONG)
    assert caught.value.code == "username_taken"
    assert caught.value.message == "That username was just taken; choose another."
    assert caught.value.detail["field"] == "username"
    invite.refresh_from_db()
    assert invite.accepted_at is None
    assert not get_user_model().objects.filter(email="sam@example.com").exists()
    assert not AuditLogEntry.objects.filter(action="staff.join").exists()

    monkeypatch.setattr(staff_service, "validate_password", checked)
    user = accept_invite(token=invite.token, username="sam2", password=STRONG)
    assert role_of(user) == Role.DOOR


def _accept_two_at_once(monkeypatch, usernames: list[str]) -> tuple:
    """Two invitees accept at once under `usernames`, both past the password
    (and username) check before either saves: (the one refused, the one who
    joined)."""
    import threading

    from django.db import connection

    from core.services import staff as staff_service

    owner = make_staff("owner", username="owner1")
    invites = [
        invite_staff(actor=owner, email=f"p{n}@example.com", role=Role.DOOR)
        for n in range(2)
    ]
    checked = staff_service.validate_password
    both_checked = threading.Barrier(2, timeout=10)

    def check_then_wait(password, user=None):
        checked(password, user=user)
        both_checked.wait()

    monkeypatch.setattr(staff_service, "validate_password", check_then_wait)
    outcomes = []

    def accept(invite, username):
        try:
            outcomes.append(
                accept_invite(token=invite.token, username=username, password=STRONG)
            )
        except Exception as exc:  # asserted on by the callers
            outcomes.append(exc)
        finally:
            connection.close()

    threads = [
        threading.Thread(target=accept, args=(invite, username))
        for invite, username in zip(invites, usernames, strict=True)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    (refused,) = [o for o in outcomes if isinstance(o, Exception)]
    (joined,) = [o for o in outcomes if not isinstance(o, Exception)]
    return refused, joined


@pytest.mark.django_db(transaction=True)
def test_two_people_accepting_at_once_with_one_username_get_one_account(
    postgres, monkeypatch
):
    """Both pass the username check before either saves; the second to save
    waits on the unique index, then is told to choose another."""
    refused, joined = _accept_two_at_once(monkeypatch, ["sam", "sam"])

    assert isinstance(refused, InvalidRequest) and refused.code == "username_taken"
    assert get_user_model().objects.filter(username="sam").count() == 1
    accepted = StaffInvite.objects.filter(accepted_at__isnull=False)
    assert [i.email for i in accepted] == [joined.email]


@pytest.mark.django_db(transaction=True)
def test_two_people_accepting_at_once_with_names_differing_in_case_get_one_account(
    postgres, monkeypatch
):
    """ "Sam" and "sam" both pass the check before either saves, and the
    unique index is case-sensitive: the lock on the name in any case makes
    the second check again once the first has saved, and be refused."""
    refused, joined = _accept_two_at_once(monkeypatch, ["Sam", "sam"])

    assert isinstance(refused, InvalidRequest) and refused.code == "username_taken"
    assert get_user_model().objects.filter(username__iexact="sam").count() == 1
    accepted = StaffInvite.objects.filter(accepted_at__isnull=False)
    assert [i.email for i in accepted] == [joined.email]


def test_revoked_invite_is_unusable(owner):
    invite = invite_staff(actor=owner, email="sam@example.com", role=Role.DOOR)
    revoke_invite(actor=owner, invite_id=invite.id)
    with pytest.raises(InviteUnusable):
        accept_invite(token=invite.token, username="sam", password=STRONG)


def test_owner_changes_roles_and_assigns_door_events(owner, door):
    mine, other = EventFactory(), EventFactory()
    update_staff_member(
        actor=owner, user_id=door.id, role=Role.DOOR, event_ids=[mine.id]
    )
    door.refresh_from_db()
    assert can_scan_event(door, mine) and not can_scan_event(door, other)
    update_staff_member(actor=owner, user_id=door.id, role=Role.MANAGER, event_ids=[])
    door.refresh_from_db()
    assert role_of(door) == Role.MANAGER
    actions = list(
        AuditLogEntry.objects.order_by("id").values_list("action", flat=True)
    )
    assert actions == ["staff.events", "staff.role", "staff.events"]


def test_the_last_owner_cannot_be_demoted_or_deactivated(owner):
    other_owner = make_staff(Role.OWNER, username="owner2")
    # Nobody changes themself.
    with pytest.raises(InvalidRequest) as caught:
        update_staff_member(actor=owner, user_id=owner.id, role=Role.DOOR)
    assert caught.value.code == "self_change"
    # With two owners, one may demote the other; then the last one is protected.
    update_staff_member(actor=owner, user_id=other_owner.id, role=Role.MANAGER)
    set_staff_active(actor=owner, user_id=other_owner.id, active=False)
    with pytest.raises(InvalidRequest) as caught:
        set_staff_active(actor=owner, user_id=owner.id, active=False)
    assert caught.value.code == "self_change"


def test_last_owner_rule_counts_only_active_owners(owner):
    dormant = make_staff(Role.OWNER, username="owner2")
    set_staff_active(actor=owner, user_id=dormant.id, active=False)
    # A deactivated owner does not count: demoting the only active one fails,
    # whoever asks (here the system, as a management command would).
    for change in (
        lambda: update_staff_member(actor=None, user_id=owner.id, role=Role.DOOR),
        lambda: set_staff_active(actor=None, user_id=owner.id, active=False),
    ):
        with pytest.raises(InvalidRequest) as caught:
            change()
        assert caught.value.code == "last_owner"
    set_staff_active(actor=owner, user_id=dormant.id, active=True)
    update_staff_member(actor=None, user_id=owner.id, role=Role.DOOR)
    assert role_of(dormant) == Role.OWNER


def test_deactivated_staff_lose_access_at_once(owner, door, client):
    client.force_login(door)
    set_staff_active(actor=owner, user_id=door.id, active=False)
    door.refresh_from_db()
    assert role_of(door) is None
    assert (
        authenticate(username=door.username, password="correct-horse-battery") is None
    )


def test_an_invite_whose_door_events_were_all_deleted_is_refused(owner):
    """Joining with the events gone would mean scanning every event."""
    owner.first_name, owner.last_name = "Alex", "Rivera"
    owner.save(update_fields=["first_name", "last_name"])
    gig = EventFactory()
    invite = invite_staff(
        actor=owner, email="kim@example.com", role=Role.DOOR, event_ids=[gig.pk]
    )
    gig.delete()  # as a race with deleting the event, or an older invite, leaves it

    for attempt in (
        lambda: usable_invite(invite.token),
        lambda: accept_invite(token=invite.token, username="kim", password=STRONG),
    ):
        with pytest.raises(InviteUnusable) as refused:
            attempt()
        assert refused.value.code == "invite_events_gone"
        assert refused.value.message == (
            "This invitation was for an event that no longer exists. "
            "Ask Alex Rivera for a new one."
        )
    invite.refresh_from_db()
    assert invite.accepted_at is None
    assert not get_user_model().objects.filter(username="kim").exists()


def test_an_invite_from_someone_without_a_name_says_ask_the_owner(owner):
    gig = EventFactory()
    invite = invite_staff(
        actor=owner, email="kim@example.com", role=Role.DOOR, event_ids=[gig.pk]
    )
    gig.delete()

    with pytest.raises(InviteUnusable, match="Ask the owner for a new one"):
        accept_invite(token=invite.token, username="kim", password=STRONG)


def test_an_invite_keeps_the_door_events_that_are_left(owner):
    kept, gone, other = EventFactory(), EventFactory(), EventFactory()
    invite = invite_staff(
        actor=owner,
        email="kim@example.com",
        role=Role.DOOR,
        event_ids=[kept.pk, gone.pk],
    )
    gone.delete()

    user = accept_invite(token=invite.token, username="kim", password=STRONG)

    assert can_scan_event(user, kept) and not can_scan_event(user, other)


def test_only_door_invites_for_chosen_events_are_marked_so(owner):
    gig = EventFactory()
    chosen = invite_staff(
        actor=owner, email="a@example.com", role=Role.DOOR, event_ids=[gig.pk]
    )
    every = invite_staff(actor=owner, email="b@example.com", role=Role.DOOR)
    manager = invite_staff(
        actor=owner, email="c@example.com", role=Role.MANAGER, event_ids=[gig.pk]
    )

    assert (chosen.events_chosen, every.events_chosen, manager.events_chosen) == (
        True,
        False,
        False,
    )
    # A door invite for every event still joins with every event.
    user = accept_invite(token=every.token, username="bea", password=STRONG)
    assert can_scan_event(user, gig)
