import os

import pytest
from django.conf import settings as django_settings
from django.core.management import call_command

from core.management.commands import run_local


class FakeWorker:
    started: list[dict] = []

    def __init__(self, args, **kwargs):
        # What the worker process would see of the environment.
        FakeWorker.started.append(dict(kwargs.get("env") or os.environ))

    def terminate(self):
        pass

    def wait(self, timeout=None):
        return 0


@pytest.fixture
def served(monkeypatch, settings):
    """Run run_local without starting anything; returns what runserver got."""
    settings.PUBLIC_BASE_URL = "http://127.0.0.1:8000"
    # With Redis the worker is a process (faked here); without, a thread.
    settings.REDIS_URL = "redis://127.0.0.1:6379/0"
    FakeWorker.started = []
    calls = []
    monkeypatch.setattr(run_local.subprocess, "Popen", FakeWorker)
    monkeypatch.setattr(
        run_local, "get_commands", lambda: {"run_worker": "core", "runserver": "x"}
    )
    monkeypatch.setattr(
        run_local,
        "call_command",
        lambda name, addr, **kw: calls.append((addr, django_settings.PUBLIC_BASE_URL)),
    )
    return calls


def test_links_point_at_the_port_served(monkeypatch, served):
    monkeypatch.delenv("PUBLIC_BASE_URL", raising=False)
    call_command("run_local", "--port", "8710")
    assert served == [("127.0.0.1:8710", "http://127.0.0.1:8710")]
    (worker_env,) = FakeWorker.started
    assert worker_env["PUBLIC_BASE_URL"] == "http://127.0.0.1:8710"


def test_all_interfaces_give_a_local_address(monkeypatch, served):
    monkeypatch.delenv("PUBLIC_BASE_URL", raising=False)
    call_command("run_local", "--addr", "0.0.0.0", "--port", "8711")
    assert served == [("0.0.0.0:8711", "http://127.0.0.1:8711")]


def test_a_base_url_set_on_purpose_is_kept(monkeypatch, served, settings):
    monkeypatch.setenv("PUBLIC_BASE_URL", "https://tickets.example.test")
    settings.PUBLIC_BASE_URL = "https://tickets.example.test"
    call_command("run_local", "--port", "8710")
    assert served == [("127.0.0.1:8710", "https://tickets.example.test")]
    (worker_env,) = FakeWorker.started
    assert worker_env["PUBLIC_BASE_URL"] == "https://tickets.example.test"


def test_with_redis_the_worker_is_a_process_of_its_own(served, settings):
    settings.REDIS_URL = "redis://127.0.0.1:6379/0"
    call_command("run_local", "--port", "8713")
    assert len(FakeWorker.started) == 1


@pytest.mark.django_db(transaction=True)
def test_without_redis_the_workers_changes_reach_the_pages_open_here(
    monkeypatch, settings
):
    """Without Redis the channel layer is this process's own: a worker in
    another process swept a lapsed hold and no open page heard of it."""
    import asyncio
    import threading
    from datetime import timedelta

    from channels.layers import get_channel_layer
    from django.utils import timezone

    from core import realtime
    from core.models import Order
    from core.services.checkout import place_order
    from tests.factories import TicketTypeFactory

    settings.REDIS_URL = ""
    seat = TicketTypeFactory(capacity=10)
    held = place_order(
        event_id=seat.event_id,
        quantities={seat.id: 2},
        customer_name="Hal Holder",
        customer_email="hal@example.com",
        now=timezone.now() - timedelta(hours=1),
    )
    layer = get_channel_layer()
    heard = []
    listening = threading.Event()

    async def listen():
        """A page open on the server: subscribed, then waiting for a push.
        A server's loop wakes often (other sockets, timers); the in-memory
        layer's sends from another thread rely on that."""
        page = await layer.new_channel()
        await layer.group_add(realtime.availability_group(seat.event_id), page)
        listening.set()
        received = asyncio.ensure_future(layer.receive(page))
        for _ in range(300):
            if received.done():
                break
            await asyncio.sleep(0.05)
        heard.append(received.result())

    # On a loop of its own: a browser test earlier in the run (Playwright's
    # sync API) leaves a loop running in this thread.
    page = threading.Thread(target=lambda: asyncio.run(listen()))
    page.start()
    assert listening.wait(10)

    def serve(name, addr, **kwargs):
        """Stands in for runserver: the page listens while the server runs."""
        page.join(20)

    monkeypatch.setattr(run_local, "call_command", serve)
    monkeypatch.setattr(run_local.subprocess, "Popen", FakeWorker)
    FakeWorker.started = []
    call_command("run_local", "--port", "8714")

    assert FakeWorker.started == []
    assert heard[0]["type"] == "availability.changed"
    assert heard[0]["reason"] == "expired"
    assert Order.objects.get(pk=held.pk).status == Order.Status.EXPIRED
