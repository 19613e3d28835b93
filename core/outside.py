"""Waiting on an outside API (Stripe) without holding a database connection
or a turn to run."""

from collections.abc import Iterator
from contextlib import contextmanager

from django.db import DEFAULT_DB_ALIAS, connections

from ticketing.turns import turn_given_up


@contextmanager
def waiting_on_provider() -> Iterator[None]:
    """Around a call to an outside API: the thread's database connection goes
    back to the pool and its turn to the next request (ticketing.turns) for
    the wait. The turn is taken again afterwards, unless the thread is in a
    transaction, where it may hold row locks the requests in their turns
    wait on; it finishes without one then.
    """
    in_transaction = connections[DEFAULT_DB_ALIAS].in_atomic_block
    with turn_given_up(take_again=not in_transaction), database_connection_returned():
        yield


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
