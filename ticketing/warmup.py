"""Ready a server process before its first request, not during it.

Django builds much on first use: each site's URL resolver (importing every
view module behind it), each compiled template, the email validator's
patterns, the Stripe client, the cache's and the database pool's
connections. A fresh process made its first requests pay for all of that
at once, and on an on-sale the first requests are the first buyers: the
first rush after a restart had a checkout p99 of 666-789 ms, against
169-191 ms for the next one (bench/rush.py; 266-340 ms with this warm-up,
ADR 12). A deploy or a restart just before tickets go on sale is the
ordinary case.

The servers call `warm_up()` once per worker process, after the fork:
ticketing/wsgi.py when granian loads it, ticketing.workers for the websocket
server. Importing the ASGI app (as the tests do) does not.
"""

import gc
import logging
import sys
import time
from pathlib import Path

from django.conf import settings
from django.db import connections
from django.template import TemplateDoesNotExist, TemplateSyntaxError, engines
from django.urls import get_resolver

from ticketing.hosts import COMBINED_URLCONF, SITE_URLCONFS

logger = logging.getLogger(__name__)


def warm_up() -> None:
    """URL resolvers, templates, input rules, the payment provider's client,
    the cache, the channel layer and the database pools, ready; then what
    they built set aside from garbage collection.

    Never raises: a process that cannot warm up (the database is down at
    startup, say) still starts, and warms up request by request as before.
    """
    started = time.perf_counter()
    for step in WARM_UP_STEPS:
        try:
            step()
        except Exception:
            logger.warning("Warm-up step %s failed", step.__name__, exc_info=True)
    logger.info("Warmed up in %.0f ms", (time.perf_counter() - started) * 1000)


def resolve_urls() -> None:
    """Each site's resolver: imports its views and builds its lookup tables."""
    for urlconf in (COMBINED_URLCONF, *SITE_URLCONFS.values()):
        get_resolver(urlconf).reverse_dict  # noqa: B018 - the property does the work


def compile_templates() -> None:
    """The project's own templates, into the cached loader (DEBUG off).

    Installed packages' templates (the admin's) are for staff, not for a
    rush, and are left to first use.
    """
    for engine in engines.all():
        for directory in engine.template_dirs:
            root = Path(directory)
            if root.is_relative_to(sys.prefix):
                continue
            for path in sorted(root.rglob("*")):
                if not path.is_file():
                    continue
                try:
                    engine.get_template(path.relative_to(root).as_posix())
                except (TemplateDoesNotExist, TemplateSyntaxError):
                    # Shadowed by an earlier directory, or not a page on
                    # its own: compiled when first used, as before.
                    continue


def compile_input_rules() -> None:
    """Django compiles its email validator's patterns on first use: 27 ms,
    most of a process's first checkout. Phone numbers load their country's
    rules on first use too (about 2 ms each): the site's own country's here."""
    from core.phones import default_phone_region, example_mobile
    from core.services.checkout import clean_contact

    clean_contact("Warm Up", "warm-up@example.com", "+14155550123")
    clean_contact(
        "Warm Up", "warm-up@example.com", example_mobile(default_phone_region())
    )


def prepare_payment_provider() -> None:
    """The Stripe client, built and its Checkout modules imported."""
    if settings.PAYMENT_PROVIDER == "stripe":
        from core.payments.stripe_checkout import prepare_client

        prepare_client()


def connect_cache_and_live_layer() -> None:
    """The cache's client (Redis: 21 ms of imports and a connection on first
    use) and the channel layer that carries live pushes."""
    from channels.layers import get_channel_layer
    from django.core.cache import cache

    cache.get("warm-up")
    get_channel_layer()


def open_pools() -> None:
    """Open each Postgres pool and wait for its DB_POOL_MIN_SIZE connections."""
    for alias in connections:
        pool = getattr(connections[alias], "pool", None)
        if pool is not None:
            pool.open(wait=True, timeout=10)


def freeze_startup_objects() -> None:
    """Keep what the process built at startup out of the garbage collector's
    full collections.

    Modules, URL patterns, compiled templates and pools live as long as the
    process, yet each full collection walked them all (about 150,000
    objects) with every thread of the worker stopped: 100-190 ms at a time,
    five times in two rushes (bench/rush.py, timed with gc.callbacks), each
    landing in the p99 of the requests it stopped. Frozen, a full
    collection walks only what was made since. Last, so that what the other
    steps built is frozen too.
    """
    gc.collect()
    gc.freeze()


WARM_UP_STEPS = (
    resolve_urls,
    compile_templates,
    compile_input_rules,
    prepare_payment_provider,
    connect_cache_and_live_layer,
    open_pools,
    freeze_startup_objects,
)
