"""Helpers for tests that drive the realtime core against the stand-in."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from typing import Any

from realtime_voice_core.realtime import RealtimeSession, RealtimeSettings
from realtime_voice_core.realtime.events import RealtimeEvent

TEST_KEY = "sk-test-0123456789abcdef"
# Fast resilience timings so that reconnect tests take milliseconds, not seconds.
FAST: dict[str, Any] = {
    "reconnect_initial_delay": 0.02,
    "reconnect_max_delay": 0.1,
    "connect_timeout": 5.0,
}


def settings_for(url: str, **overrides: Any) -> RealtimeSettings:
    return RealtimeSettings(**({"api_key": TEST_KEY, "url": url} | FAST | overrides))


async def events_until(
    session: RealtimeSession,
    stop: Callable[[RealtimeEvent], bool],
    *,
    within: float = 10.0,
) -> list[RealtimeEvent]:
    """Collect events up to and including the first one for which ``stop`` is true."""
    seen: list[RealtimeEvent] = []

    async def read() -> None:
        async with contextlib.aclosing(session.events()) as stream:
            async for event in stream:
                seen.append(event)
                if stop(event):
                    return
        raise AssertionError(f"events ended before the expected one: {seen[-5:]}")

    await asyncio.wait_for(read(), within)
    return seen
