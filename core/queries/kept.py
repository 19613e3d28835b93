"""Reads a door makes on every scan, kept in the server process for seconds.

A door phone asks the same questions thousands of times a night (which
device holds this token, may this staff member scan this event), and each
answer was a database round trip costing more than the scan itself. Kept
answers expire after their time. A change that must stop a door quickly
(a revoked device, staff taken off an event) is forgotten at once in the
process that made it and announced through the shared cache: every other
process reads that marker at most every CHECK_SECONDS and forgets all it
kept when it has moved, so the change reaches every door within about a
second (one cache read per process per second, not one per scan). A
change made without announcing it (a plain update) still applies within
the kept time.
"""

import logging
import time
from collections.abc import Hashable

from django.core.cache import cache

logger = logging.getLogger(__name__)

CHECK_SECONDS = 1.0


class KeptInProcess:
    """Answers kept for `seconds`, forgotten everywhere when a change is announced."""

    def __init__(self, name: str, *, seconds: float) -> None:
        self.name = name
        self.seconds = seconds
        self.marker_key = f"kept:{name}:last-change"
        self._kept: dict[Hashable, tuple[float, object]] = {}
        # (when this process next reads the marker, the marker it last read)
        self._marker_seen: tuple[float, object] = (0.0, None)

    def get(self, key: Hashable):
        """The answer kept for `key`, or None."""
        now = time.monotonic()
        self._forget_all_if_changed_elsewhere(now)
        kept = self._kept.get(key)
        if kept is not None and kept[0] > now:
            return kept[1]
        return None

    def keep(self, key: Hashable, answer) -> None:
        self._kept[key] = (time.monotonic() + self.seconds, answer)

    def forget(self, key: Hashable) -> None:
        self._kept.pop(key, None)

    def forget_all(self) -> None:
        self._kept.clear()

    def announce_change(self) -> None:
        """Forget everything here and move the shared marker, so that other
        processes forget too. Call after the change's commit: a process
        reading meanwhile would keep the old answer again."""
        self.forget_all()
        try:
            cache.set(self.marker_key, time.time_ns(), timeout=None)
        except Exception:
            logger.exception("cache unreachable: announcing a change of %s", self.name)

    def _forget_all_if_changed_elsewhere(self, now: float) -> None:
        check_at, seen = self._marker_seen
        if now < check_at:
            return
        try:
            marker = cache.get(self.marker_key)
        except Exception:
            # Unreachable cache: kept answers still expire after their time.
            logger.warning("cache unreachable: reading the %s change marker", self.name)
            marker = seen
        if marker != seen:
            self._kept.clear()
        self._marker_seen = (now + CHECK_SECONDS, marker)
