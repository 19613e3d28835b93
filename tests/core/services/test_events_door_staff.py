"""Deleting an event never leaves door staff limited to it scanning every event."""

from datetime import timedelta

import pytest
from django.utils import timezone

from core.exceptions import InvalidRequest
from core.models import AuditLogEntry, Event, Role, StaffInvite
from core.services.events import delete_event
from core.services.staff import invite_staff, set_staff_active, update_staff_member
from tests.factories import EventFactory, make_staff

pytestmark = pytest.mark.django_db


def _door_person(owner, events, **names):
    user = make_staff(Role.DOOR, **names)
    update_staff_member(
        actor=owner, user_id=user.id, role=Role.DOOR, event_ids=[e.pk for e in events]
    )
    return user


def _refusal(actor, event) -> InvalidRequest:
    with pytest.raises(InvalidRequest) as refused:
        delete_event(actor=actor, event_id=event.id)
    assert refused.value.code == "only_event_of_door_staff"
    assert Event.objects.filter(pk=event.pk).exists()
    assert not AuditLogEntry.objects.filter(action="event.delete").exists()
    return refused.value


def test_the_only_event_of_a_door_person_and_an_invite_is_not_deleted(owner):
    gig = EventFactory(is_active=True)
    sam = _door_person(owner, [gig], username="sam", first_name="Sam")
    sam.last_name = "Okafor"
    sam.save(update_fields=["last_name"])
    invite_staff(
        actor=owner, email="kim@example.com", role=Role.DOOR, event_ids=[gig.pk]
    )

    refusal = _refusal(owner, gig)

    assert refusal.message == (
        "Sam Okafor and kim@example.com (invited) may scan only this event. Change "
        "what they scan on the Staff page first, or take the event off sale instead."
    )
    assert list(sam.staff_profile.events.all()) == [gig]
    assert list(StaffInvite.objects.get().events.all()) == [gig]


def test_staff_limited_to_other_events_too_just_lose_this_one(owner, door):
    gig, other = EventFactory(), EventFactory()
    sam = _door_person(owner, [gig, other], username="sam")
    invite = invite_staff(
        actor=owner,
        email="kim@example.com",
        role=Role.DOOR,
        event_ids=[gig.pk, other.pk],
    )
    # Unlimited door staff, managers, and an invite for every event are no reason.
    invite_staff(actor=owner, email="lee@example.com", role=Role.DOOR)

    delete_event(actor=owner, event_id=gig.id)

    assert not Event.objects.filter(pk=gig.pk).exists()
    assert list(sam.staff_profile.events.all()) == [other]
    assert list(invite.events.all()) == [other]


def test_used_and_expired_invites_do_not_hold_the_event(owner):
    gig = EventFactory()
    old = invite_staff(
        actor=owner, email="kim@example.com", role=Role.DOOR, event_ids=[gig.pk]
    )
    old.expires_at = timezone.now() - timedelta(minutes=1)
    old.save(update_fields=["expires_at"])

    delete_event(actor=owner, event_id=gig.id)

    assert not Event.objects.filter(pk=gig.pk).exists()


def test_deactivated_door_staff_are_named_too(owner):
    """Reactivated later, they would otherwise scan every event."""
    gig = EventFactory(is_active=False)
    _door_person(owner, [gig], username="cy")
    _door_person(owner, [gig], username="ana")
    bo = _door_person(owner, [gig], username="bo")
    set_staff_active(actor=owner, user_id=bo.id, active=False)

    refusal = _refusal(owner, gig)

    assert refusal.message.startswith(
        "ana, bo (deactivated) and cy may scan only this event. Change what they "
        "scan on the Staff page first; the event is already off sale"
    )


def test_a_manager_is_told_to_ask_the_owner(owner, manager):
    gig = EventFactory()
    _door_person(owner, [gig], username="sam")

    refusal = _refusal(manager, gig)

    assert "sam may scan only this event. Ask the owner to change" in refusal.message


def test_a_manager_is_not_shown_invitees_addresses(owner, manager):
    """They are on the Staff page, the owner's; a manager gets a count."""
    gig = EventFactory()
    invite_staff(
        actor=owner, email="kim@example.com", role=Role.DOOR, event_ids=[gig.pk]
    )

    refusal = _refusal(manager, gig)

    assert "kim@example.com" not in refusal.message
    assert refusal.message.startswith("1 person invited may scan only this event.")
