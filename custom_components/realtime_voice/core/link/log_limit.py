"""Rate-limited logging: a message that may repeat fast (a flood of refused connections, audio
dropped block after block, events a peer sends again and again) is logged at most ``burst`` times
per interval and key, with the count of those left out. Every line a peer of the link can cause goes
through one (docs/security.md)."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

MAX_KEYS = 1000  # keys remembered (e.g. one per address); beyond, those of the last interval


class RateLimitedLog:
    def __init__(
        self,
        logger: logging.Logger,
        interval_s: float = 10.0,
        *,
        level: int = logging.WARNING,
        burst: int = 1,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._logger = logger
        self._interval = interval_s
        self._level = level
        self._burst = burst
        self._clock = clock
        self._last: dict[str, float] = {}  # key -> when its interval began
        self._count: dict[str, int] = {}  # key -> lines logged in it
        self._suppressed: dict[str, int] = {}

    def log(
        self,
        key: str,
        message: str,
        *args: object,
        level: int | None = None,
        exc_info: BaseException | None = None,
    ) -> bool:
        """Log ``message % args`` (at ``level``, else the instance's) unless ``key`` was logged
        ``burst`` times in its interval; True: logged. ``exc_info``: a traceback with the line."""
        now = self._clock()
        last = self._last.get(key)
        if last is not None and now - last < self._interval:
            if self._count[key] >= self._burst:
                self._suppressed[key] = self._suppressed.get(key, 0) + 1
                return False
            self._count[key] += 1
        else:
            if len(self._last) >= MAX_KEYS:  # many keys (addresses): forget the old ones
                self._forget(now)
            self._last[key] = now
            self._count[key] = 1
        suppressed = self._suppressed.pop(key, 0)
        if suppressed:
            message += " (%d more like this not logged)"
            args = (*args, suppressed)
        self._logger.log(self._level if level is None else level, message, *args, exc_info=exc_info)
        return True

    def _forget(self, now: float) -> None:
        self._last = {k: t for k, t in self._last.items() if now - t < self._interval}
        if len(self._last) >= MAX_KEYS:  # a flood of new keys within one interval
            self._last.clear()
        self._count = {k: n for k, n in self._count.items() if k in self._last}
        self._suppressed = {k: n for k, n in self._suppressed.items() if k in self._last}
