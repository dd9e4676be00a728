"""Keeps one satellite's Realtime session open and its context fresh.

The session is opened when the entry loads and kept warm (the core replaces the connection before
its 60-minute limit and reconnects after drops), so that speech after a wake word flows with no
handshake. A session that cannot be opened is retried with the project's backoff (core/backoff.py).
After each conversation the context is dropped in the background (a new connection, configured with
a freshly built description), so that the next conversation starts without the previous one.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any

from homeassistant.config_entries import ConfigEntry
from homeassistant.core import HomeAssistant

from .core.backoff import backoff_delays
from .core.realtime import (
    AuthenticationError,
    RealtimeError,
    RealtimeSession,
    SelectionMemory,
    open_session,
)
from .core.realtime import events as rt
from .description import Described
from .repairs import async_report_fallback
from .tools import Toolset
from .validation import realtime_settings

_LOGGER = logging.getLogger(__name__)

# A session that cannot be opened is retried after 2 s, then up to every 5 minutes.
SESSION_RETRY_INITIAL_S = 2.0
SESSION_RETRY_MAX_S = 300.0


@dataclass
class Figures:
    """What the sensors show."""

    model: str | None = None
    interface: str | None = None
    fallback_reason: str | None = None
    last_latency_ms: float | None = None
    total_tokens: int = 0
    total_cost_usd: float = 0.0
    conversations: int = 0
    last_error: str | None = None


class SessionKeeper:
    """The Realtime session of one satellite: open, warm, fresh."""

    def __init__(
        self,
        hass: HomeAssistant,
        entry: ConfigEntry,
        *,
        name: str,
        options: Callable[[], Mapping[str, Any]],
        describe: Callable[[str | None], Awaitable[Described]],
        on_event: Callable[[rt.RealtimeEvent], Awaitable[None]],
        on_closed: Callable[[], None],
        notify: Callable[[], None],
    ) -> None:
        self.hass = hass
        self.entry = entry
        self.name = name
        self._options = options
        self.figures = Figures()
        self.selection_memory = SelectionMemory()
        self.toolset: Toolset | None = None
        self._describe = describe
        self._on_event = on_event
        self._on_closed = on_closed
        self._notify = notify
        self._session: RealtimeSession | None = None
        self._described: Described | None = None
        self._lock = asyncio.Lock()
        self._fresh = True  # False once a conversation used the context
        self._opener: asyncio.Task[None] | None = None
        self._consumer: asyncio.Task[None] | None = None
        self._reset: asyncio.Task[None] | None = None
        self._closing = False

    @property
    def session(self) -> RealtimeSession | None:
        return self._session

    def start(self) -> None:
        self._opener = self.hass.async_create_background_task(
            self._keep_open(), f"realtime_voice session {self.name}"
        )

    async def async_stop(self) -> None:
        self._closing = True
        for task in (self._opener, self._consumer, self._reset):
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def async_session(self) -> RealtimeSession:
        """The session with a fresh context, for a conversation that starts now (raises
        RealtimeError when it cannot be opened). The caller then uses the context up."""
        if self._reset is not None:
            with contextlib.suppress(asyncio.CancelledError):
                await asyncio.shield(self._reset)
        session = await self._ensure_open()
        if not self._fresh:  # the reset after the last conversation failed: try again now
            await session.reset_conversation()
        self._fresh = False
        return session

    async def async_open(self) -> RealtimeSession:
        """The session as it is (for an announcement, which does not use the context up)."""
        return await self._ensure_open()

    async def async_refresh(self, extra_prompt: str | None = None) -> None:
        """Exposed entities, allowed services and the prompt may have changed since the session was
        described: describe it again and update it if anything changed."""
        session = self._session
        if session is None:
            return
        described = await self._describe(extra_prompt)
        if self._described is None or described.description != self._described.description:
            await session.update(described.description)
        self._described = described
        self.toolset = described.toolset

    def reset_in_background(self, done: Callable[[], None]) -> None:
        """Drop the context of the conversation that just ended, on a new connection, while nobody
        talks; ``done`` is called when that is over (also when it failed or nothing was open)."""
        session = self._session
        if session is None or self._closing:
            self._fresh = True  # the next session opened is fresh anyway
            done()
            return
        self._reset = self.hass.async_create_background_task(
            self._reset_context(session, done), f"realtime_voice reset {self.name}"
        )

    async def _reset_context(self, session: RealtimeSession, done: Callable[[], None]) -> None:
        try:
            described = await self._describe(None)
            await session.reset_conversation(described.description)
        except RealtimeError as err:
            _LOGGER.warning("Could not reset the conversation of %s: %s", self.name, err)
        else:
            self._described = described
            self.toolset = described.toolset
            self._fresh = True
        finally:
            self._reset = None
            done()

    async def _keep_open(self) -> None:
        delays = backoff_delays(SESSION_RETRY_INITIAL_S, SESSION_RETRY_MAX_S)
        while not self._closing:
            try:
                await self._ensure_open()
            except AuthenticationError:
                return  # re-authentication was started; the entry reloads with the new key
            except RealtimeError as err:
                delay = next(delays)
                _LOGGER.warning(
                    "Realtime session for %s not available (%s); retrying in %.0f s",
                    self.name,
                    err,
                    delay,
                )
                await asyncio.sleep(delay)
            else:
                return

    async def _ensure_open(self) -> RealtimeSession:
        async with self._lock:
            if self._session is not None:
                return self._session
            described = await self._describe(None)
            try:
                session = await open_session(
                    realtime_settings(self._options()),
                    described.description,
                    selection_memory=self.selection_memory,
                )
            except RealtimeError as err:
                self.figures.last_error = err.code
                self._notify()
                if isinstance(err, AuthenticationError):
                    self.entry.async_start_reauth(self.hass)
                raise
            self._session = session
            self._described = described
            self.toolset = described.toolset
            self._fresh = True
            self.figures.model = session.model
            self.figures.interface = session.interface
            self.figures.fallback_reason = session.fallback.reason if session.fallback else None
            self.figures.last_error = None
            self._consumer = self.hass.async_create_background_task(
                self._consume(session), f"realtime_voice events {self.name}"
            )
            self._notify()
            async_report_fallback(self.hass, self.entry, session.fallback)
            return session

    async def _consume(self, session: RealtimeSession) -> None:
        async for event in session.events():
            if isinstance(event, rt.Closed) and event.error is not None:
                self.figures.last_error = getattr(event.error, "code", type(event.error).__name__)
                if isinstance(event.error, AuthenticationError):
                    self.entry.async_start_reauth(self.hass)
            try:
                await self._on_event(event)
            except Exception:
                _LOGGER.exception("Error handling %s", type(event).__name__)
        # The session ended for good (closed, or gave up): open a new one.
        async with self._lock:
            if self._session is session:
                self._session = None
        if not self._closing:
            self._on_closed()
            self._opener = self.hass.async_create_background_task(
                self._keep_open(), f"realtime_voice session {self.name}"
            )
