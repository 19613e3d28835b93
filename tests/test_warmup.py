"""A server process warms up before its first request (ticketing.warmup)."""

import importlib
import logging
import sys

import pytest
from django.core.validators import EmailValidator
from django.db import connection
from django.template import engines
from django.template.loaders.cached import Loader as CachedLoader
from django.test import override_settings
from django.urls import clear_url_caches
from django.urls.resolvers import _get_cached_resolver
from django.utils.functional import empty

from core.payments import stripe_checkout
from ticketing import warmup
from ticketing.hosts import COMBINED_URLCONF, SITE_URLCONFS


def test_every_sites_urls_are_resolved_before_the_first_request():
    clear_url_caches()

    warmup.resolve_urls()

    for urlconf in (COMBINED_URLCONF, *SITE_URLCONFS.values()):
        assert _get_cached_resolver(urlconf)._populated, urlconf


@override_settings(DEBUG=False)  # production: templates are compiled once, cached
def test_the_projects_templates_are_compiled_and_installed_packages_left_alone():
    loader = engines["django"].engine.template_loaders[0]
    assert isinstance(loader, CachedLoader)
    loader.reset()

    warmup.compile_templates()

    compiled = set(loader.get_template_cache)
    assert {
        "purchase/event.html",
        "purchase/simulated_pay.html",
        "scanner/door_sw.js",
        "emails/order_confirmation.txt",
    } <= compiled
    assert not any(name.startswith("admin/") for name in compiled)


def test_the_email_rules_are_compiled_before_the_first_checkout():
    EmailValidator.domain_regex._wrapped = empty

    warmup.compile_input_rules()

    assert EmailValidator.domain_regex._wrapped is not empty


def test_the_stripe_client_is_built_when_payments_go_through_stripe(stripe_stub):
    stripe_checkout._client_for.cache_clear()

    warmup.prepare_payment_provider()

    assert stripe_checkout._client_for.cache_info().currsize == 1


def test_no_stripe_client_is_built_for_simulated_payments(settings):
    settings.PAYMENT_PROVIDER = "simulated"
    stripe_checkout._client_for.cache_clear()

    warmup.prepare_payment_provider()

    assert stripe_checkout._client_for.cache_info().currsize == 0


def test_the_channel_layer_is_made_and_the_cache_only_read():
    from channels.layers import channel_layers
    from django.core.cache import cache

    channel_layers.backends.pop("default", None)
    cache.clear()

    warmup.connect_cache_and_live_layer()

    assert "default" in channel_layers.backends
    assert not cache.has_key("warm-up")


@pytest.mark.django_db(transaction=True)
def test_the_database_pool_opens_with_its_minimum_of_connections(monkeypatch):
    if connection.vendor != "postgresql":
        pytest.skip("the pool is Postgres's (psycopg_pool)")
    from psycopg_pool import ConnectionPool

    params = {**connection.get_connection_params(), "autocommit": True}
    pool = ConnectionPool(kwargs=params, min_size=3, max_size=5, open=False)

    class PooledWrapper:
        pass

    wrapper = PooledWrapper()
    wrapper.pool = pool
    monkeypatch.setattr(warmup, "connections", {"default": wrapper})
    try:
        warmup.open_pools()

        assert pool.get_stats()["pool_available"] == 3
    finally:
        pool.close()


def test_a_step_that_fails_is_logged_and_the_others_still_run(monkeypatch, caplog):
    ran = []

    def database_down():
        raise OSError("connection refused")

    def templates():
        ran.append("templates")

    monkeypatch.setattr(warmup, "WARM_UP_STEPS", (database_down, templates))

    with caplog.at_level(logging.INFO, logger="ticketing.warmup"):
        warmup.warm_up()

    assert ran == ["templates"]
    assert "Warm-up step database_down failed" in caplog.text
    assert "Warmed up in" in caplog.text


def test_both_servers_warm_their_processes_up(monkeypatch):
    calls = []
    monkeypatch.setattr(warmup, "warm_up", lambda: calls.append("warmed"))

    monkeypatch.delitem(sys.modules, "ticketing.wsgi", raising=False)
    importlib.import_module("ticketing.wsgi")
    assert calls == ["warmed"]
    monkeypatch.delitem(sys.modules, "ticketing.wsgi")

    from ticketing import workers

    monkeypatch.setattr(workers.UvicornWorker, "load_wsgi", lambda self: None)
    workers.LiveUvicornWorker.__new__(workers.LiveUvicornWorker).load_wsgi()
    assert calls == ["warmed", "warmed"]


def test_what_startup_built_is_left_out_of_full_garbage_collections():
    import gc

    built_at_startup = [[name] for name in ("url patterns", "templates", "pools")]
    try:
        warmup.freeze_startup_objects()

        collected = gc.get_objects()  # what a full collection walks
        assert not any(o is built_at_startup[0] for o in collected)
        assert warmup.WARM_UP_STEPS[-1] is warmup.freeze_startup_objects
    finally:
        gc.unfreeze()
    assert any(o is built_at_startup[0] for o in gc.get_objects())
