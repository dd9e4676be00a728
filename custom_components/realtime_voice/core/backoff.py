"""The project's one retry policy: exponential delays with jitter (the satellite link, the Realtime
session's reconnects, and Home Assistant's attempts to open a session all use it)."""

from __future__ import annotations

import random
from collections.abc import Iterator


def backoff_delays(
    initial: float = 1.0, maximum: float = 60.0, factor: float = 2.0, jitter: float = 0.5
) -> Iterator[float]:
    """Endless delays: exponential from ``initial`` up to ``maximum``, each between ``1 - jitter`` and
    all of its nominal value ("equal jitter": never above ``maximum``), so that many clients do not
    retry in step."""
    delay = initial
    while True:
        yield random.uniform(delay * (1.0 - jitter), delay)
        delay = min(delay * factor, maximum)
