"""An error that repeats on every audio block is logged once, then counted: a broken stage must not
write a traceback every 20 ms, nor go unnoticed."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable


class RepeatedErrors:
    """``report(err)`` for each failure, ``ok()`` for each success.

    The first error is logged with its traceback; the ones after it are counted and logged (the
    count and the last one, no traceback) at most once every ``interval_s``. Once ``interval_s``
    has passed without an error, ``ok()`` logs that ``what`` works again (with the errors not
    logged yet), and the next error counts as a first one again. (A stage that fails on some
    blocks only, e.g. those where a resampler returns output, stays one failure.)
    """

    def __init__(
        self,
        logger: logging.Logger,
        what: str,
        *,
        interval_s: float = 60.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._logger = logger
        self.what = what
        self.interval_s = interval_s
        self._clock = clock
        self._failing = False
        self._logged_at = 0.0
        self._failed_at = 0.0
        self._unlogged = 0

    def report(self, err: BaseException) -> None:
        now = self._failed_at = self._clock()
        if not self._failing:
            self._failing = True
            self._logged_at = now
            self._unlogged = 0
            self._logger.error(
                "error while %s: %s: %s (repeats are counted and logged at most once every %g s)",
                self.what,
                type(err).__name__,
                err,
                self.interval_s,
                exc_info=err,
            )
            return
        self._unlogged += 1
        if now - self._logged_at >= self.interval_s:
            self._logger.error(
                "error while %s: %d more in %.0f s, the last: %s: %s",
                self.what,
                self._unlogged,
                now - self._logged_at,
                type(err).__name__,
                err,
            )
            self._logged_at = now
            self._unlogged = 0

    def ok(self) -> None:
        if not self._failing or self._clock() - self._failed_at < self.interval_s:
            return
        self._failing = False
        self._logger.info("%s works again after %d more errors", self.what, self._unlogged)
