"""Polling for a condition that background work makes true and that no event announces, and for a
server that is still starting."""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Awaitable, Callable

import pytest


async def wait_until(
    predicate: Callable[[], object], within: float = 10.0, every: float = 0.05
) -> None:
    """Poll ``predicate`` until it is true; TimeoutError after ``within`` seconds."""
    async with asyncio.timeout(within):
        while not predicate():  # noqa: ASYNC110
            await asyncio.sleep(every)


async def first_success[T](
    attempt: Callable[[], Awaitable[T]],
    not_yet: type[BaseException] | tuple[type[BaseException], ...],
    *,
    within: float,
    every: float = 0.2,
    alive: Callable[[], object] | None = None,
) -> T:
    """What ``attempt()`` gives once it stops raising ``not_yet`` (a server still loading, a port
    not yet listening); TimeoutError after ``within`` seconds. ``alive`` runs (and is awaited,
    if it gives an awaitable) after each failed attempt: it fails the test when what was being
    waited for has died, rather than waiting out ``within``."""
    async with asyncio.timeout(within):
        while True:
            try:
                return await attempt()
            except not_yet:
                if alive is not None and inspect.isawaitable(checked := alive()):
                    await checked
                await asyncio.sleep(every)


async def process_alive(process: asyncio.subprocess.Process) -> None:
    """Fails the test with the process's stderr (piped) if it has exited."""
    if process.returncode is not None:
        assert process.stderr is not None
        pytest.fail((await process.stderr.read()).decode())
