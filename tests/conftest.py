import os
import shutil

import pytest
from django.conf import settings
from django.db import connection

from tests.factories import EventFactory, TicketTypeFactory, make_staff

# HTTP stand-ins for Stripe, SendGrid and Twilio: stripe_stub, sendgrid_stub,
# twilio_stub.
pytest_plugins = ["tests.stubs"]

CHROMIUM = os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]


def _must_run(what: str) -> bool:
    """In CI's Postgres/Redis pass, a test that would skip must fail instead."""
    return os.environ.get("REQUIRE_FULL_STACK") == "1" or (
        what == "browser" and os.environ.get("CI") == "true"
    )


@pytest.fixture(autouse=True)
def _isolated_settings(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    settings.PAYMENT_PROVIDER = "simulated"
    settings.STRIPE_SECRET_KEY = ""
    settings.STRIPE_WEBHOOK_SECRET = ""
    # Real hashers cost ~0.3 s per user made; tests check roles, not hashing.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    # Cached snapshots are invalidated on commit, which most tests never reach;
    # tests of the cache itself turn it on (tests/core/queries/test_snapshots.py).
    settings.LIVE_CACHE_SECONDS = 0


@pytest.fixture(scope="session")
def django_db_modify_db_settings(
    django_db_modify_db_settings_parallel_suffix, tmp_path_factory
):
    """Tests use one real connection per thread, not the server's pool, so that
    concurrency tests have as many concurrent connections as threads. On SQLite
    the test database is a file rather than memory, so that server subprocesses
    (tests/e2e `asgi_server`) can open it too."""
    database = settings.DATABASES["default"]
    database.get("OPTIONS", {}).pop("pool", None)
    if database["ENGINE"] == "django.db.backends.sqlite3":
        folder = tmp_path_factory.mktemp("sqlite")
        database.setdefault("TEST", {})["NAME"] = str(folder / "test.sqlite3")


@pytest.fixture(autouse=True)
def _no_trailing_pushes():
    """Send a test's folded pushes before the next test starts: a trailing
    push (up to LIVE_PUSH_COALESCE_SECONDS late) must not reach the next
    test's freshly joined sockets as if it were theirs."""
    yield
    from core.realtime import flush_pending_pushes
    from core.services import scan_log_writer

    scan_log_writer.flush()  # its door feed pushes come after the rows
    flush_pending_pushes()


@pytest.fixture(autouse=True)
def _close_sync_thread_connections():
    """Close the DB connection async tests and consumers opened in asgiref's thread.

    Left open, it would keep Postgres from dropping the test database.
    """
    yield
    from asgiref.sync import SyncToAsync
    from django.db import connections

    SyncToAsync.single_thread_executor.submit(connections.close_all).result()


@pytest.fixture
def postgres(db):
    """Skip unless the database is Postgres (concurrency tests need real connections)."""
    if connection.vendor != "postgresql":
        if _must_run("postgres"):
            pytest.fail("this test must run on Postgres in this pass")
        pytest.skip("needs DATABASE_URL pointing at Postgres")


@pytest.fixture
def redis_url():
    url = settings.REDIS_URL
    if not url:
        if _must_run("redis"):
            pytest.fail("this test must run on Redis in this pass")
        pytest.skip("needs REDIS_URL")
    return url


@pytest.fixture
def event(db):
    return EventFactory()


@pytest.fixture
def ticket_type(event):
    return TicketTypeFactory(event=event)


@pytest.fixture
def owner(db):
    return make_staff("owner", username="owner1")


@pytest.fixture
def manager(db):
    return make_staff("manager", username="manager1")


@pytest.fixture
def door(db):
    return make_staff("door", username="door1")


# --- Real browser ------------------------------------------------------------


@pytest.fixture(scope="session")
def browser():
    if not shutil.which(CHROMIUM) and not os.path.exists(CHROMIUM):
        if _must_run("browser"):
            pytest.fail(f"Chromium not found at {CHROMIUM}; CI must run browser tests")
        pytest.skip("Chromium is not installed (apt-get install chromium)")
    # Playwright's sync API keeps an event loop in this thread; the ORM calls
    # the tests make around it are still plain synchronous calls.
    os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS
        )
        yield launched
        launched.close()


@pytest.fixture
def page(browser):
    context = browser.new_context(
        viewport={"width": 390, "height": 844}, device_scale_factor=1
    )
    context.set_default_timeout(15_000)
    new_page = context.new_page()
    yield new_page
    context.close()


@pytest.fixture(autouse=True)
def _held_counters_match_the_orders(request):
    """After every database test: each ticket type's held_count equals the
    seats of its pending and processing orders. A path that moves an order
    in or out of those states without moving the counter fails the test
    that walked it, wherever it is."""
    if not request.node.get_closest_marker("django_db") and not any(
        name in request.fixturenames for name in ("db", "transactional_db")
    ):
        yield
        return
    # Set up first, so it is checked before the test's rollback or flush.
    transactional = "transactional_db" in request.fixturenames or (
        request.node.get_closest_marker("django_db")
        and request.node.get_closest_marker("django_db").kwargs.get("transaction")
    )
    request.getfixturevalue("transactional_db" if transactional else "db")
    yield
    from core.models import TicketType
    from tests.factories import held_recount

    off = [
        (t.pk, t.held_count, held_recount(t))
        for t in TicketType.objects.all()
        if t.held_count != held_recount(t)
    ]
    assert not off, f"held_count off (type, counter, recount): {off}"
