import uuid

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from core.auth import StaffModelBackend
from core.models import Role
from core.queries.staff import (
    can_scan_event,
    event_if_scannable,
    role_of,
    user_with_staff_profile,
)
from tests.factories import EventFactory, UserFactory, make_staff

pytestmark = pytest.mark.django_db


def _door(*assigned):
    user = make_staff(Role.DOOR)
    user.staff_profile.events.add(*assigned)
    return user


@pytest.mark.parametrize(
    "who",
    [
        "owner",
        "manager",
        "door_unassigned",
        "door_here",
        "door_here_and_elsewhere",
        "door_elsewhere",
        "not_staff",
        "superuser_without_profile",
    ],
)
def test_event_if_scannable_answers_as_can_scan_event_in_one_statement(who):
    event, elsewhere = EventFactory(), EventFactory()
    user = {
        "owner": lambda: make_staff(Role.OWNER),
        "manager": lambda: make_staff(Role.MANAGER),
        "door_unassigned": lambda: _door(),
        "door_here": lambda: _door(event),
        "door_here_and_elsewhere": lambda: _door(event, elsewhere),
        "door_elsewhere": lambda: _door(elsewhere),
        "not_staff": lambda: UserFactory(),
        "superuser_without_profile": lambda: UserFactory(is_superuser=True),
    }[who]()
    # As a request's user is: read with its profile.
    user = user_with_staff_profile(user.pk)

    with CaptureQueriesContext(connection) as queries:
        found, allowed = event_if_scannable(user, event.pk)

    assert found == event
    assert found.name == event.name
    assert allowed == can_scan_event(user, event)
    assert len(queries) == 1


def test_event_if_scannable_finds_no_event_for_an_unknown_id():
    for user in (make_staff(Role.OWNER), _door(EventFactory()), _door()):
        assert event_if_scannable(user, uuid.uuid4()) == (None, False)


def test_the_signed_in_user_comes_with_its_role_in_one_statement():
    door = make_staff(Role.DOOR, first_name="Sam")

    with CaptureQueriesContext(connection) as queries:
        user = StaffModelBackend().get_user(door.pk)
        role = role_of(user)

    assert len(queries) == 1
    assert role == Role.DOOR
    assert user == door and user.first_name == "Sam"
    assert user.staff_profile.user is user
    assert user.get_session_auth_hash() == door.get_session_auth_hash()


def test_a_user_without_a_profile_has_no_role_and_costs_no_second_query():
    plain = UserFactory()

    with CaptureQueriesContext(connection) as queries:
        user = StaffModelBackend().get_user(plain.pk)
        role = role_of(user)

    assert len(queries) == 1
    assert user == plain and role is None


def test_unknown_and_deactivated_users_are_not_signed_in():
    gone = make_staff(Role.OWNER, is_active=False)
    backend = StaffModelBackend()
    assert backend.get_user(gone.pk) is None
    assert backend.get_user(gone.pk + 1000) is None


def test_door_access_is_kept_until_the_event_or_the_staff_member_changes(
    django_capture_on_commit_callbacks,
):
    from core.services.events import set_event_active
    from core.services.staff import update_staff_member

    owner = make_staff(Role.OWNER)
    event, elsewhere = EventFactory(), EventFactory()
    door = user_with_staff_profile(_door(event).pk)
    assert event_if_scannable(door, event.pk)[1] is True

    with CaptureQueriesContext(connection) as kept:
        assert event_if_scannable(door, str(event.pk)) == (event, True)
    with django_capture_on_commit_callbacks(execute=True):
        set_event_active(actor=owner, event_id=event.pk, active=False)
    with CaptureQueriesContext(connection) as after_event_change:
        found, allowed = event_if_scannable(door, event.pk)
    with django_capture_on_commit_callbacks(execute=True):
        update_staff_member(
            actor=owner, user_id=door.pk, role=Role.DOOR, event_ids=[elsewhere.pk]
        )

    assert len(kept) == 0
    assert len(after_event_change) == 1 and found.is_active is False and allowed
    assert event_if_scannable(door, event.pk) == (event, False)
