"""Real ASGI servers (HTTP and websockets) for end-to-end and browser tests.

pytest-django's `live_server` speaks WSGI only, so pages served by it never
get their websockets. These fixtures run the project under uvicorn in
subprocesses against the test database (a file on SQLite, see
tests/conftest.py; the test database on Postgres), with the same Redis and
prefixes as the tests when REDIS_URL is set.

- `asgi_server`: one server shared by the session (started on first use);
  tests using it get a transactional database, so what they create is
  committed and visible to it. Its snapshot cache is off, since the database
  is emptied between tests behind its back.
- `asgi_server_factory`: `start(**env)` starts fresh servers for one test
  (caching on unless told otherwise), e.g. two processes on Redis;
  `start(port=...)` reuses a port to simulate a restart.

Both return `AsgiServer` objects: `.url`, `.ws_url`, `.run(action, **kwargs)`
(run a tests/e2e/server_actions.py function inside that server process: with
the in-memory layer only changes made there reach its websockets) and
`.stop()`.
"""

import os
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote

import httpx
import pytest
from django.conf import settings
from django.db import connection

from core import realtime

STARTUP_SECONDS = 60


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _test_database_url() -> str:
    """DATABASE_URL of the test database the tests are using right now."""
    db = connection.settings_dict
    if db["ENGINE"] == "django.db.backends.sqlite3":
        name = str(db["NAME"])
        if name == ":memory:" or "mode=memory" in name:
            raise RuntimeError("SQLite test database must be a file for servers")
        return f"sqlite:///{Path(name).resolve()}"
    if db["ENGINE"] == "django.db.backends.postgresql":
        credentials = quote(db["USER"] or "", safe="")
        if db["PASSWORD"]:
            credentials += ":" + quote(db["PASSWORD"], safe="")
        host = db["HOST"] or "127.0.0.1"
        port = db["PORT"] or 5432
        return f"postgres://{credentials}@{host}:{port}/{db['NAME']}"
    raise RuntimeError(f"no server support for {db['ENGINE']}")


@dataclass
class AsgiServer:
    port: int
    process: subprocess.Popen
    log_path: Path
    url: str = field(init=False)
    ws_url: str = field(init=False)

    def __post_init__(self) -> None:
        self.url = f"http://127.0.0.1:{self.port}"
        self.ws_url = f"ws://127.0.0.1:{self.port}"

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")[-4000:]

    def run(self, action: str, **kwargs) -> dict:
        """Run tests/e2e/server_actions.<action>(**kwargs) inside this server."""
        response = httpx.post(f"{self.url}/__e2e__/{action}", json=kwargs, timeout=30)
        assert response.status_code == 200, (response.text, self.log())
        return response.json()

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)


def start_asgi_server(
    log_dir: Path, *, port: int | None = None, wsgi: bool = False, **env
) -> AsgiServer:
    """Start uvicorn on the project (plus the e2e hook) and wait until it serves.

    `wsgi=True` starts what production's `web` service runs instead: granian
    on the WSGI app (HTTP only, no e2e hook), with one worker.
    """
    port = port or _free_port()
    environment = {
        **os.environ,
        "DATABASE_URL": _test_database_url(),
        "DEBUG": "true",
        "ALLOWED_HOSTS": "127.0.0.1,localhost",
        "PAYMENT_PROVIDER": "simulated",
        "STRIPE_SECRET_KEY": "",
        "STRIPE_WEBHOOK_SECRET": "",
        "SENDGRID_API_KEY": "",
        "TWILIO_ACCOUNT_SID": "",
        "EMAIL_BACKEND": "django.core.mail.backends.locmem.EmailBackend",
        "PYTHONUNBUFFERED": "1",
        **{key: str(value) for key, value in env.items()},
    }
    environment.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)  # set by Playwright's fixture
    log_path = (
        log_dir / f"{'wsgi' if wsgi else 'asgi'}-{port}-{time.monotonic_ns()}.log"
    )
    if wsgi:
        command = [
            *("granian", "--interface", "wsgi", "ticketing.wsgi:application"),
            *("--workers", "1", "--blocking-threads", "1"),
        ]
    else:
        command = [
            *("uvicorn", "tests.e2e.asgi_app:application", "--lifespan", "off"),
            *("--ws-per-message-deflate", "false"),  # as the deployment's worker
        ]
    command += ["--host", "127.0.0.1", "--port", str(port), "--log-level", "warning"]
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", *command],
            cwd=settings.BASE_DIR,
            env=environment,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    server = AsgiServer(port=port, process=process, log_path=log_path)
    deadline = time.monotonic() + STARTUP_SECONDS
    while True:
        if process.poll() is not None:
            raise RuntimeError(f"ASGI server exited at startup:\n{server.log()}")
        try:
            if httpx.get(f"{server.url}/healthz", timeout=2).status_code == 200:
                return server
        except httpx.HTTPError:
            pass
        if time.monotonic() > deadline:
            server.stop()
            raise RuntimeError(f"ASGI server did not start:\n{server.log()}")
        time.sleep(0.1)


@pytest.fixture(scope="session")
def _asgi_server_process(django_db_setup, django_db_blocker, tmp_path_factory):
    # Stopped before django_db_setup tears down, so Postgres can drop the
    # test database (no server connection left on it).
    with django_db_blocker.unblock():
        server = start_asgi_server(
            tmp_path_factory.mktemp("asgi"), LIVE_CACHE_SECONDS=0
        )
    yield server
    server.stop()


@pytest.fixture
def asgi_server(transactional_db, _asgi_server_process) -> AsgiServer:
    """The session's shared ASGI server; the test's data is committed for it."""
    if _asgi_server_process.process.poll() is not None:
        pytest.fail(f"the shared ASGI server died:\n{_asgi_server_process.log()}")
    return _asgi_server_process


@pytest.fixture
def asgi_server_factory(transactional_db, tmp_path):
    """`start(port=None, wsgi=False, **env) -> AsgiServer`: fresh servers, stopped
    after the test (`wsgi=True`: production's HTTP server, see start_asgi_server)."""
    servers: list[AsgiServer] = []

    def start(*, port: int | None = None, wsgi: bool = False, **env) -> AsgiServer:
        env.setdefault("LIVE_CACHE_SECONDS", 300)
        # A shared (Redis) cache may hold snapshots of an earlier test's data
        # under the current version; the database was emptied since.
        realtime.bump_catalogue_version()
        server = start_asgi_server(tmp_path, port=port, wsgi=wsgi, **env)
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.stop()


LIVE_PAGE_WAIT_MS = 30_000


@pytest.fixture
def open_page(browser, transactional_db):
    """`open_page(url)`: a phone-sized page in its own context, live already
    (the buy page's browser tests; a test file may define its own).

    Contexts close before the test's database is emptied (set up after
    transactional_db, so torn down before it).
    """
    contexts = []

    from playwright.sync_api import expect

    def open_(url):
        context = browser.new_context(viewport={"width": 390, "height": 844})
        contexts.append(context)
        context.set_default_timeout(LIVE_PAGE_WAIT_MS)
        page = context.new_page()
        page.goto(url)
        expect(page.locator("[data-live-indicator]")).to_have_attribute(
            "data-state", "live", timeout=LIVE_PAGE_WAIT_MS
        )
        page.evaluate("window.notReloaded = true")
        return page

    yield open_
    for context in contexts:
        context.close()
