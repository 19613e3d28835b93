"""Waiting on an outside API (Stripe) without holding a database connection."""

from collections.abc import Iterator
from contextlib import contextmanager

from django.db import DEFAULT_DB_ALIAS, connections


@contextmanager
def database_connection_returned() -> Iterator[None]:
    """Give this thread's pooled database connection back to the pool while
    the block waits on an outside API; the next query takes one again.

    A checkout waits a few hundred milliseconds for Stripe to create its
    Checkout Session. Holding its connection meanwhile, 16 threads per
    process shared 10 pooled connections, and the webhooks that fulfil paid
    orders queued for one behind checkouts doing nothing with theirs.
    Inside a transaction the connection stays (it carries the transaction),
    and so it does without a pool (closing would mean reconnecting).
    """
    db = connections[DEFAULT_DB_ALIAS]
    if (
        db.connection is not None
        and not db.in_atomic_block
        and getattr(db, "pool", None) is not None
    ):
        db.close()
    yield
