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
    # run_local may shorten it; through the fixture, so it is put back.
    settings.LIVE_CACHE_SECONDS = django_settings.LIVE_CACHE_SECONDS
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


def test_without_redis_cached_figures_live_briefly(served, settings):
    """The worker's changes cannot reach this process's own cache."""
    settings.REDIS_URL = ""
    settings.LIVE_CACHE_SECONDS = 300
    call_command("run_local", "--port", "8712")
    assert settings.LIVE_CACHE_SECONDS == run_local.LOCAL_CACHE_SECONDS


def test_with_redis_the_cache_is_shared_and_kept(served, settings):
    settings.REDIS_URL = "redis://127.0.0.1:6379/0"
    settings.LIVE_CACHE_SECONDS = 300
    call_command("run_local", "--port", "8713")
    assert settings.LIVE_CACHE_SECONDS == 300
