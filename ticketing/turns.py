"""A few requests of a worker process run at once; the rest wait their turn,
first come, first served.

A worker runs WEB_THREADS threads (16 in the image) so that checkouts
waiting on Stripe's API do not hold up everyone else. When nobody waits on
an outside API (a door scanning, a rush on the simulated provider) every
request is CPU and Postgres, and 16 threads of one process contend for the
GIL in no order: a scan that needs 1 ms of CPU waits behind a dozen others
taking turns with it. On two cores, 3 workers x 16 threads answered doors
offering 800 scans/s with a p99 of 172 ms; with WEB_ACTIVE_THREADS = 4 of
them running at once and the rest queued in arrival order, 21-24 ms, as
with 4 threads; and a rush through Stripe sold 94-100 orders/s against
84-87 (ADR 16, bench/README.md).

A request that waits on an outside API gives its turn to the next one for
the wait (core.outside.waiting_on_provider).
"""

import threading
from collections import deque
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from django.conf import settings


class TurnQueue:
    """Up to `size` holders at once; a freed turn goes to the longest waiter.

    Unlike threading.Semaphore, which wakes a waiter that must then race
    newcomers for the freed turn: under load some requests lost that race
    again and again (p99 216 ms in a closed loop, against 80 ms here).
    """

    def __init__(self, size: int):
        if size < 1:
            raise ValueError("A turn queue needs at least one turn.")
        self._free = size
        self._lock = threading.Lock()
        self._waiters: deque[threading.Lock] = deque()

    @property
    def waiting(self) -> int:
        return len(self._waiters)

    def take(self) -> None:
        """Block until it is this thread's turn."""
        with self._lock:
            if self._free and not self._waiters:
                self._free -= 1
                return
            baton = threading.Lock()
            baton.acquire()
            self._waiters.append(baton)
        baton.acquire()  # released by give_back, which hands over its turn

    def give_back(self) -> None:
        with self._lock:
            if self._waiters:
                self._waiters.popleft().release()
            else:
                self._free += 1


_held = threading.local()  # .queue: the TurnQueue whose turn this thread holds


class TakingTurns:
    """WSGI middleware: each request runs in its turn of `queue`.

    A thread holds nothing while it waits (no database connection, no lock),
    so waiting cannot deadlock. A streaming response's body is produced after
    the turn, as the server sends it.
    """

    def __init__(self, application: Callable, queue: TurnQueue):
        self.application = application
        self.queue = queue

    def __call__(self, environ, start_response):
        self.queue.take()
        _held.queue = self.queue
        try:
            return self.application(environ, start_response)
        finally:
            queue, _held.queue = getattr(_held, "queue", None), None
            if queue is not None:
                queue.give_back()


def taking_turns(application: Callable) -> Callable:
    """The WSGI application, limited to WEB_ACTIVE_THREADS at once (0: no limit)."""
    size = settings.WEB_ACTIVE_THREADS
    return TakingTurns(application, TurnQueue(size)) if size > 0 else application


@contextmanager
def turn_given_up(*, take_again: bool) -> Iterator[None]:
    """Let the next request run while this thread waits (on an outside API).

    `take_again`: queue for a turn again after the wait. Only where the
    thread holds no database lock: one that queued while holding a row lock
    could wait on requests that wait on that lock.
    """
    queue = getattr(_held, "queue", None)
    if queue is None:  # not a request's thread, or its turn already given up
        yield
        return
    _held.queue = None
    queue.give_back()
    try:
        yield
    finally:
        if take_again:
            queue.take()
            _held.queue = queue
