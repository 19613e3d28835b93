"""Migration 0006: sessions signed in before the staff backend stay signed in."""

import importlib
from datetime import timedelta
from types import SimpleNamespace

import pytest
from django.apps import apps
from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY
from django.contrib.sessions.backends.db import SessionStore as DbSessionStore
from django.contrib.sessions.models import Session
from django.db import connection
from django.test import Client
from django.utils import timezone

from tests.factories import make_staff

pytestmark = pytest.mark.django_db
migration = importlib.import_module(
    "core.migrations.0006_sessions_name_the_staff_backend"
)


def _signed_in_session(user, backend: str) -> str:
    """A session as login() wrote it before the switch (the db engine)."""
    store = DbSessionStore()
    store[SESSION_KEY] = str(user.pk)
    store[BACKEND_SESSION_KEY] = backend
    store[HASH_SESSION_KEY] = user.get_session_auth_hash()
    store.create()
    return store.session_key


def _run(step) -> None:
    step(apps, SimpleNamespace(connection=connection))


def _user_of(session_key: str):
    client = Client()
    client.cookies["sessionid"] = session_key
    return client.get("/scanner/", follow=True).wsgi_request.user


def test_a_session_signed_in_by_model_backend_stays_signed_in():
    door = make_staff("door", username="sam")
    old = _signed_in_session(door, migration.MODEL_BACKEND)
    other = _signed_in_session(make_staff("owner"), "some.other.Backend")
    # What upgrading without it did (and the new engine now holds a copy).
    assert not _user_of(old).is_authenticated

    _run(migration.forwards)

    assert _user_of(old) == door
    decoded = DbSessionStore().decode(Session.objects.get(pk=other).session_data)
    assert decoded[BACKEND_SESSION_KEY] == "some.other.Backend"


def test_backwards_names_model_backend_again_and_unreadable_sessions_are_left():
    door = make_staff("door")
    key = _signed_in_session(door, migration.STAFF_BACKEND)
    Session.objects.create(
        session_key="x" * 32,
        session_data="not-a-session",
        expire_date=timezone.now() + timedelta(days=1),
    )

    _run(migration.backwards)

    session = Session.objects.get(pk=key)
    assert DbSessionStore().decode(session.session_data)[BACKEND_SESSION_KEY] == (
        migration.MODEL_BACKEND
    )
    assert Session.objects.get(pk="x" * 32).session_data == "not-a-session"
