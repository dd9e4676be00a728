"""Polling for a condition that background work makes true and that no event announces."""

from __future__ import annotations

import asyncio
from collections.abc import Callable


async def wait_until(
    predicate: Callable[[], object], within: float = 10.0, every: float = 0.05
) -> None:
    """Poll ``predicate`` until it is true; TimeoutError after ``within`` seconds."""
    async with asyncio.timeout(within):
        while not predicate():  # noqa: ASYNC110
            await asyncio.sleep(every)
