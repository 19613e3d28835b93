"""Requests sent at one instant, as the throttle's counts see them."""

from scanner import throttle


class SentTogether:
    """The shared cache as requests sent at one instant see it: every read
    of a count gives what it was before any of them added to it, while
    their increments add up (throttle.take answers from its increment, so
    it is the one way to tell them apart)."""

    def __init__(self, real):
        self._real = real
        self._at_start = {}

    def get(self, key, default=None):
        if key not in self._at_start:
            self._at_start[key] = self._real.get(key, default)
        return self._at_start[key]

    def __getattr__(self, name):
        return getattr(self._real, name)


def send_together(monkeypatch) -> None:
    """From now on in the test, requests are as if all sent at once."""
    monkeypatch.setattr(throttle, "cache", SentTogether(throttle.cache))
