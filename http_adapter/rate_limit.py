"""A per-user sliding-window limit on chat turns, kept in the process."""

from __future__ import annotations

import math
import time
from collections import deque
from collections.abc import Callable

# Users seen are forgotten once idle for a window, checked when there are this many.
_PRUNE_ABOVE = 10_000


class RateLimiter:
    def __init__(
        self, limit: int, window_s: float = 60.0, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._limit = limit
        self._window_s = window_s
        self._clock = clock
        self._hits: dict[str, deque[float]] = {}
        self._prune_above = _PRUNE_ABOVE

    def acquire(self, key: str) -> int | None:
        """Count a turn for `key`; over the limit, count nothing and return the seconds to
        wait before the next turn is allowed."""
        now = self._clock()
        if len(self._hits) > self._prune_above:
            self._prune(now)
            # With that many users really active, the next prune waits until they double.
            self._prune_above = max(_PRUNE_ABOVE, 2 * len(self._hits))
        hits = self._hits.setdefault(key, deque())
        while hits and now - hits[0] >= self._window_s:
            hits.popleft()
        if len(hits) >= self._limit:
            return max(1, math.ceil(self._window_s - (now - hits[0])))
        hits.append(now)
        return None

    def _prune(self, now: float) -> None:
        stale = [
            k for k, hits in self._hits.items() if not hits or now - hits[-1] >= self._window_s
        ]
        for key in stale:
            del self._hits[key]
