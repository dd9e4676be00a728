"""One Live session over a WebSocket: open (``session.start``, wait for ``session.started``), send
the user's audio and the client's context, receive the model's audio, transcripts, delegations and
usage, close (``session.close``, the service finishes and sends ``session.closed``).

A Live session is billed while it is open: it is opened per conversation and closed after it, never
kept warm (unlike the Realtime session). It has no reconnect either: a dropped session is over.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import ssl
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidStatus

from ..link.log_limit import RateLimitedLog
from ..realtime.connection import WEBSOCKET_LOGGER, redact
from . import events as ev
from . import wire
from .errors import (
    LiveAccessError,
    LiveAuthenticationError,
    LiveConfigurationError,
    LiveConnectionError,
    LiveError,
    LiveProtocolError,
)
from .registry import DEFAULT_MODEL, DEFAULT_VOICE

_LOGGER = logging.getLogger(__name__)

DEFAULT_URL = "wss://api.openai.com/v1/live/sessions"
_MAX_FRAME = 16 * 1024 * 1024
# How long ``close`` waits for the service to finish the session and send ``session.closed``.
CLOSE_TIMEOUT_S = 5.0


@dataclass(frozen=True, slots=True)
class LiveSettings:
    api_key: str = field(repr=False)
    url: str = DEFAULT_URL
    model: str = DEFAULT_MODEL
    voice: str = DEFAULT_VOICE
    instructions: str = ""
    connect_timeout: float = 10.0
    ssl_context: ssl.SSLContext | None = field(default=None, repr=False, compare=False)

    def __post_init__(self) -> None:
        if not self.api_key:
            raise LiveConfigurationError("api_key: empty")
        scheme = urlsplit(self.url).scheme
        if scheme not in ("wss", "ws", "https", "http"):
            raise LiveConfigurationError(
                f"url: expected a ws(s):// or http(s):// URL, got {scheme!r}"
            )
        if not self.model:
            raise LiveConfigurationError("model: empty")
        if not self.voice:
            raise LiveConfigurationError("voice: empty")
        if not 0 < self.connect_timeout <= 120:
            raise LiveConfigurationError(
                f"connect_timeout: expected 0-120 s, got {self.connect_timeout!r}"
            )


def websocket_url(url: str) -> str:
    """The URL as given (a proxy, the stand-in); http(s) becomes ws(s). The model goes in
    ``session.start``, never in the query."""
    parts = urlsplit(url)
    return urlunsplit(
        parts._replace(scheme={"https": "wss", "http": "ws"}.get(parts.scheme, parts.scheme))
    )


def error_from_server(error: ev.ServiceError, *, model: str) -> LiveError:
    """Map an ``error`` event to the typed error the brain acts on."""
    text = f"{error.message} ({error.code})"
    if error.code in ("invalid_api_key", "authentication_error"):
        return LiveAuthenticationError(f"The service refused the API key: {text}")
    if error.code in ("model_not_found", "invalid_model", "permission_denied"):
        return LiveAccessError(f"This key has no access to Live model {model!r}: {text}")
    return LiveProtocolError(f"The Live service reported an error: {text}", code=error.code)


def error_from_status(status: int, url: str, model: str) -> LiveError:
    if status == 401:
        return LiveAuthenticationError(f"The service refused the API key (HTTP {status})")
    if status in (403, 404):
        # 403: the key works but not for Live; 404: the endpoint offers no Live sessions
        return LiveAccessError(
            f"No access to Live model {model!r} at {redact(url)} (HTTP {status})"
        )
    return LiveConnectionError(f"{redact(url)} answered HTTP {status} at the handshake")


class LiveSession:
    """An open Live session. Its events come from ``events()``, which ends with ``Closed``."""

    def __init__(self, ws: ClientConnection, model: str, session_id: str) -> None:
        self.ws = ws
        self.model = model
        self.session_id = session_id
        self.usage_seconds = 0.0
        self.closed: ev.Closed | None = None
        self._events: asyncio.Queue[ev.LiveEvent] = asyncio.Queue()
        self._log = RateLimitedLog(_LOGGER, 60.0, burst=3)
        self._reader = asyncio.get_running_loop().create_task(
            self._read(), name=f"live session {session_id}"
        )

    async def events(self) -> AsyncIterator[ev.LiveEvent]:
        while True:
            event = await self._events.get()
            yield event
            if isinstance(event, ev.Closed):
                return

    # --- sending ---------------------------------------------------------------------------

    async def _send(self, event: dict[str, Any]) -> bool:
        """False when the session is over (the reader reports why)."""
        if self.closed is not None:
            return False
        try:
            await self.ws.send(json.dumps(event))
        except ConnectionClosed:
            return False
        return True

    async def append_audio(self, pcm: bytes) -> bool:
        return await self._send(wire.input_audio_append(pcm))

    async def commentary(self, content: str, delegation_id: str | None = None) -> bool:
        return await self._send(wire.commentary_append(content, delegation_id))

    async def thinking(self, content: str, delegation_id: str | None = None) -> bool:
        return await self._send(wire.thinking_append(content, delegation_id))

    async def close(self, timeout_s: float = CLOSE_TIMEOUT_S) -> ev.Closed:
        """Ask the service to close; it finishes and sends ``session.closed`` (its final usage).
        Waits for that at most ``timeout_s``, then drops the connection."""
        await self._send(wire.session_close())
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(timeout_s):
                await asyncio.shield(self._reader)
        if not self._reader.done():
            self._reader.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._reader
            self._finish(ev.Closed("close_requested", self.usage_seconds))
        await self.ws.close()
        assert self.closed is not None
        return self.closed

    # --- receiving -------------------------------------------------------------------------

    def _finish(self, closed: ev.Closed) -> None:
        if self.closed is None:
            self.closed = closed
            self._events.put_nowait(closed)

    async def _read(self) -> None:
        try:
            async for frame in self.ws:
                event = self._parse(frame)
                if event is None:
                    continue
                if isinstance(event, ev.UsageUpdated):
                    self.usage_seconds = max(self.usage_seconds, event.seconds)
                if isinstance(event, ev.Closed):
                    if event.usage_seconds is not None:
                        self.usage_seconds = max(self.usage_seconds, event.usage_seconds)
                    self._finish(event)
                    return
                self._events.put_nowait(event)
        except ConnectionClosed:
            pass
        self._finish(
            ev.Closed(
                "dropped",
                self.usage_seconds,
                LiveConnectionError("The Live connection closed without session.closed"),
            )
        )

    def _parse(self, frame: str | bytes) -> ev.LiveEvent | None:
        try:
            if isinstance(frame, bytes):
                raise wire.MalformedEventError("a binary frame")
            return wire.parse_server_event(json.loads(frame))
        except wire.UnknownEventError as err:
            self._log.log(
                "unknown", "Live session %s: skipped %s", self.session_id, err, level=logging.DEBUG
            )
        except (ValueError, wire.MalformedEventError) as err:
            self._log.log(
                "malformed", "Live session %s: skipped a malformed event: %s", self.session_id, err
            )
        return None


async def open_live_session(settings: LiveSettings) -> LiveSession:
    """Connect, send ``session.start``, wait for ``session.started``; raises the typed errors of
    errors.py."""
    url = websocket_url(settings.url)
    try:
        ws = await connect(
            url,
            ssl=settings.ssl_context if url.startswith("wss://") else None,
            additional_headers={"Authorization": f"Bearer {settings.api_key}"},
            open_timeout=settings.connect_timeout,
            max_size=_MAX_FRAME,
            compression=None,
            ping_interval=20,
            ping_timeout=20,
            logger=WEBSOCKET_LOGGER,
        )
    except InvalidStatus as err:
        raise error_from_status(err.response.status_code, url, settings.model) from None
    except (OSError, TimeoutError, InvalidHandshake) as err:
        raise LiveConnectionError(
            f"Cannot connect to {redact(url)}: {type(err).__name__}: {err}"
        ) from None
    try:
        async with asyncio.timeout(settings.connect_timeout):
            await ws.send(
                json.dumps(
                    wire.session_start(
                        model=settings.model,
                        instructions=settings.instructions,
                        voice=settings.voice,
                    )
                )
            )
            session_id = await _until_started(ws, settings.model)
    except TimeoutError:
        await ws.close()
        raise LiveConnectionError(
            f"{redact(url)} did not start a session within {settings.connect_timeout:g} s"
        ) from None
    except BaseException:
        await ws.close()
        raise
    return LiveSession(ws, settings.model, session_id)


async def _until_started(ws: ClientConnection, model: str) -> str:
    """Read until ``session.started`` (its session id); an error event or a close raises."""
    while True:
        try:
            frame = await ws.recv()
        except ConnectionClosed as err:
            code = err.rcvd.code if err.rcvd else None
            reason = err.rcvd.reason if err.rcvd else ""
            raise LiveConnectionError(
                f"The Live connection closed before the session started ({code} {reason})"
            ) from None
        try:
            data = json.loads(frame)
            kind = data.get("type") if isinstance(data, dict) else None
            if kind == "error":
                raise error_from_server(wire.parse_error(data), model=model)
            if kind == "session.closed":
                raise LiveProtocolError(
                    f"The Live service closed the session at its start ({data.get('reason')})",
                    code="closed",
                )
            if kind == "session.started":
                session = data.get("session")
                if isinstance(session, dict) and isinstance(session.get("id"), str):
                    return str(session["id"])
                raise wire.MalformedEventError("session.started.session.id: missing")
        except (ValueError, wire.MalformedEventError) as err:
            _LOGGER.debug("Skipping an unexpected event while the Live session starts: %s", err)
