"""A row locked by another connection, as a webhook or a checkout holds it."""

import threading
from contextlib import contextmanager

from django.db import connection, transaction


@contextmanager
def row_locked_elsewhere(model, pk):
    """`model`'s row `pk` held FOR UPDATE by another thread's connection for
    the block, released after it (Postgres: transactional tests only)."""
    locked, release = threading.Event(), threading.Event()

    def hold_the_lock():
        try:
            with transaction.atomic():
                model.objects.select_for_update().get(pk=pk)
                locked.set()
                release.wait(10)
        finally:
            connection.close()

    holder = threading.Thread(target=hold_the_lock)
    holder.start()
    try:
        assert locked.wait(10), "the other connection never took the lock"
        yield
    finally:
        release.set()
        holder.join()
