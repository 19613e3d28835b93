"""Requests of a worker run a few at a time, in arrival order (ticketing.turns)."""

import threading
import time

import pytest
from django.db import transaction
from django.test import override_settings

from core.outside import waiting_on_provider
from ticketing.turns import TakingTurns, TurnQueue, taking_turns, turn_given_up

WAIT = 5  # seconds: only ever reached when a test is failing


def _until(condition, what: str) -> None:
    deadline = time.monotonic() + WAIT
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting until {what}")
        time.sleep(0.001)


def _start(target, *args) -> threading.Thread:
    thread = threading.Thread(target=target, args=args, daemon=True)
    thread.start()
    return thread


def test_a_freed_turn_goes_to_the_longest_waiter_in_arrival_order():
    queue = TurnQueue(1)
    queue.take()
    order = []

    def wait_then_leave(name):
        queue.take()
        order.append(name)
        queue.give_back()

    for queued, name in enumerate(("first", "second", "third"), start=1):
        _start(wait_then_leave, name)
        # each queues before the next arrives
        _until(lambda queued=queued: queue.waiting == queued, f"{name} queues")
    assert queue.waiting == 3
    queue.give_back()
    _until(lambda: len(order) == 3, "all three had their turn")
    assert order == ["first", "second", "third"]


def test_a_newcomer_does_not_take_a_turn_freed_for_a_waiter():
    """threading.Semaphore would let it: the waiter must then race for it."""
    queue = TurnQueue(1)
    queue.take()
    waiter_in = threading.Event()

    def waiter():
        queue.take()
        waiter_in.set()

    _start(waiter)
    _until(lambda: queue.waiting == 1, "the waiter queues")
    queue.give_back()
    newcomer_in = threading.Event()

    def newcomer():
        queue.take()
        newcomer_in.set()

    _start(newcomer)
    assert waiter_in.wait(WAIT)
    assert not newcomer_in.wait(0.05)  # the turn is the waiter's until given back
    queue.give_back()
    assert newcomer_in.wait(WAIT)


def test_a_queue_needs_a_turn():
    with pytest.raises(ValueError, match="at least one turn"):
        TurnQueue(0)


class _App:
    """A WSGI app whose requests stay in until told to leave."""

    def __init__(self):
        self.inside = 0
        self.most_inside = 0
        self.leave = threading.Event()
        self.lock = threading.Lock()

    def __call__(self, environ, start_response):
        with self.lock:
            self.inside += 1
            self.most_inside = max(self.most_inside, self.inside)
        try:
            if environ.get("fail"):
                raise RuntimeError("the view failed")
            if environ.get("wait_outside"):
                with turn_given_up(take_again=environ["wait_outside"] == "again"):
                    environ["outside"].wait(WAIT)
            self.leave.wait(WAIT)
            start_response("200 OK", [])
            return [b"ok"]
        finally:
            with self.lock:
                self.inside -= 1


def _request(app, environ=None) -> threading.Thread:
    return _start(app, environ or {}, lambda status, headers: None)


def test_requests_beyond_the_limit_wait_until_one_finishes():
    inner = _App()
    queue = TurnQueue(2)
    app = TakingTurns(inner, queue)
    threads = [_request(app) for _ in range(5)]
    _until(lambda: queue.waiting == 3, "three requests queue")
    assert inner.inside == 2
    inner.leave.set()
    for thread in threads:
        thread.join(WAIT)
    assert inner.most_inside == 2
    assert queue.waiting == 0


def test_a_request_that_fails_gives_its_turn_back():
    inner = _App()
    inner.leave.set()
    app = TakingTurns(inner, TurnQueue(1))
    with pytest.raises(RuntimeError):
        app({"fail": True}, lambda status, headers: None)
    assert app({}, lambda status, headers: None) == [b"ok"]  # would block


def test_a_request_waiting_outside_lets_the_next_one_run():
    inner = _App()
    queue = TurnQueue(1)
    app = TakingTurns(inner, queue)
    outside = threading.Event()
    waiting = _request(app, {"wait_outside": "again", "outside": outside})
    _until(lambda: inner.inside == 1, "the first request is in")
    second = _request(app)
    _until(lambda: inner.inside == 2, "the second runs while the first waits")
    outside.set()  # the first's answer arrives: it queues for a turn again
    _until(lambda: queue.waiting == 1, "the first queues behind the second")
    inner.leave.set()
    second.join(WAIT)
    waiting.join(WAIT)
    assert not waiting.is_alive() and not second.is_alive()
    assert queue.waiting == 0
    # Every turn came back: two requests may now run together again.
    assert inner.inside == 0


def test_a_request_that_need_not_take_its_turn_again_finishes_without_one():
    inner = _App()
    inner.leave.set()
    queue = TurnQueue(1)
    app = TakingTurns(inner, queue)
    outside = threading.Event()
    outside.set()
    app({"wait_outside": "no", "outside": outside}, lambda status, headers: None)
    queue.take()  # the one turn is free: it was not taken twice or lost
    queue.give_back()


def test_outside_a_request_giving_up_a_turn_does_nothing():
    with turn_given_up(take_again=True):
        pass


@pytest.mark.django_db(transaction=True)  # no test-wide transaction around it
def test_waiting_on_a_provider_queues_again_after_unless_in_a_transaction():
    """Queuing with a transaction's row locks held could wait on requests
    that wait on those locks."""
    queue = TurnQueue(1)
    seen = []

    def view(environ, start_response):
        with waiting_on_provider():
            seen.append(("outside a transaction", queue.waiting, _taker_gets_in(queue)))
        seen.append(("after", _taker_gets_in(queue)))
        with transaction.atomic(), waiting_on_provider():
            seen.append(("in a transaction", _taker_gets_in(queue)))
        seen.append(("after the transaction's wait", _taker_gets_in(queue)))
        return []

    TakingTurns(view, queue)({}, None)
    assert seen == [
        ("outside a transaction", 0, True),  # the turn was free for others
        ("after", False),  # taken again
        ("in a transaction", True),
        ("after the transaction's wait", True),  # finished without one
    ]


def _taker_gets_in(queue: TurnQueue) -> bool:
    """Whether another thread can take a turn now (it gives it back at once)."""
    got_in = threading.Event()

    def taker():
        queue.take()
        got_in.set()
        queue.give_back()

    thread = _start(taker)
    if got_in.wait(0.2):
        return True
    # It queued: let it through by lending it this thread's turn.
    queue.give_back()
    thread.join(WAIT)
    queue.take()
    return False


@override_settings(WEB_ACTIVE_THREADS=0)
def test_no_limit_leaves_the_application_as_it_is():
    inner = _App()
    assert taking_turns(inner) is inner


@override_settings(WEB_ACTIVE_THREADS=3)
def test_the_limit_comes_from_the_settings():
    inner = _App()
    wrapped = taking_turns(inner)
    assert isinstance(wrapped, TakingTurns)
    assert wrapped.queue._free == 3
