"""Keep staff signed in across the switch to core.auth.StaffModelBackend.

A session stores the dotted path of the backend that signed it in, and
Django signs out any session whose backend is no longer listed in
AUTHENTICATION_BACKENDS. Without this, every staff member (door phones
included) would have to sign in again after upgrading (ADR 10).
"""

from django.conf import settings
from django.contrib.auth import BACKEND_SESSION_KEY
from django.core.cache import caches
from django.db import migrations
from django.utils import timezone

MODEL_BACKEND = "django.contrib.auth.backends.ModelBackend"
STAFF_BACKEND = "core.auth.StaffModelBackend"


def rename_backend(apps, schema_editor, old: str, new: str) -> None:
    # The session engine's own codec: the same signing salt for the db and
    # cached_db engines. A session it cannot read is left alone.
    from django.contrib.sessions.backends.cached_db import KEY_PREFIX
    from django.contrib.sessions.backends.db import SessionStore

    session_model = apps.get_model("sessions", "Session")
    codec = SessionStore()
    # A copy the cached_db engine may already hold would still name the old
    # backend: it is dropped, and read again from the row.
    cache = caches[settings.SESSION_CACHE_ALIAS]
    live = session_model.objects.using(schema_editor.connection.alias).filter(
        expire_date__gt=timezone.now()
    )
    for session in live.iterator(chunk_size=2000):
        data = codec.decode(session.session_data)
        if data.get(BACKEND_SESSION_KEY) != old:
            continue
        data[BACKEND_SESSION_KEY] = new
        session.session_data = codec.encode(data)
        session.save(update_fields=["session_data"])
        cache.delete(KEY_PREFIX + session.session_key)


def forwards(apps, schema_editor) -> None:
    rename_backend(apps, schema_editor, MODEL_BACKEND, STAFF_BACKEND)


def backwards(apps, schema_editor) -> None:
    rename_backend(apps, schema_editor, STAFF_BACKEND, MODEL_BACKEND)


class Migration(migrations.Migration):
    dependencies = [
        ("core", "0005_fewer_ticket_and_scan_indexes"),
        ("sessions", "0001_initial"),
    ]

    operations = [migrations.RunPython(forwards, backwards, elidable=True)]
