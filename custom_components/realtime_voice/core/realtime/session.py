"""``RealtimeSession``: one conversation with a Realtime model, kept alive across connections.

It owns the resilience: reconnect with exponential backoff and jitter after a drop or an expiry,
replace the connection before the 60-minute limit (carrying the conversation over by re-creating its
items from their transcripts), and skip malformed or unknown server events (logged once per type).
Consumers read ``events()`` until ``Closed``.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import secrets
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any, Literal

from websockets.exceptions import ConnectionClosed

from ..backoff import backoff_delays
from . import events as ev
from . import wire
from .connection import RealtimeSocket, error_from_server, establish
from .errors import (
    AuthenticationError,
    ConfigurationError,
    ProtocolError,
    RealtimeConnectionError,
    RealtimeError,
)
from .metrics import ResponseMetrics, SessionMetrics, Usage, cost_for_model
from .registry import Interface
from .settings import RealtimeSettings, SessionDescription

_LOGGER = logging.getLogger(__name__)
_BYTES_PER_MS = 48  # PCM16 mono 24 kHz


@dataclass(frozen=True, slots=True)
class Fallback:
    """The compatibility layer used another model than the one configured, and why."""

    from_model: str
    to_model: str
    reason: str

    def as_dict(self) -> dict[str, str]:
        return {"from": self.from_model, "to": self.to_model, "reason": self.reason}


@dataclass(slots=True)
class _Turn:
    """One conversation item as the client knows it, enough to re-create it on a new connection."""

    kind: Literal["user", "assistant", "call", "output"]
    text: str = ""
    call_id: str = ""
    name: str = ""


@dataclass(slots=True)
class _Response:
    response_id: str
    out_of_band: bool
    started: float
    reference: float | None  # end of user speech or request, for first-audio latency
    first_audio_ms: float | None = None
    audio_bytes: int = 0
    function_calls: int = 0


def _item_id() -> str:
    return "rv_" + secrets.token_hex(8)


class RealtimeSession:
    """A connected, configured session; see the package docstring for the API."""

    def __init__(
        self,
        settings: RealtimeSettings,
        description: SessionDescription,
        *,
        link: RealtimeSocket,
        requested_model: str,
        voice: str,
        connect_ms: float,
        fallback: Fallback | None = None,
    ) -> None:
        self._settings = settings
        self._description = description
        self._requested_model = requested_model
        self.model = link.model
        self.interface: Interface = link.interface
        self.voice = voice
        self.fallback = fallback
        self.metrics = SessionMetrics(connect_ms=connect_ms, fallbacks=1 if fallback else 0)
        self._queue: asyncio.Queue[ev.RealtimeEvent] = asyncio.Queue()
        self._link: RealtimeSocket | None = None
        self._link_started = 0.0
        self._connected = asyncio.Event()
        self._idle = asyncio.Event()
        self._idle.set()
        self._closing = False
        self._speech_active = False
        self._turn_end: float | None = None
        self._responses: dict[str, _Response] = {}
        self._turns: dict[str, _Turn] = {}
        self._order: list[str] = []
        self._item_audio_bytes: dict[str, int] = {}
        self._truncated_ms: dict[str, int] = {}
        self._logged_types: set[str] = set()
        self._failed_calls: set[str] = set()
        self._readers: set[asyncio.Task[None]] = set()
        self._recovery: asyncio.Task[None] | None = None
        self._replace_lock = asyncio.Lock()
        self._attach(link)
        self._age_task: asyncio.Task[None] | None = asyncio.create_task(self._age_watch())

    def __repr__(self) -> str:
        return (
            f"RealtimeSession(model={self.model!r}, interface={self.interface!r}, "
            f"voice={self.voice!r}, fallback={self.fallback!r})"
        )

    # -- public API ----------------------------------------------------------------------------

    async def events(self) -> AsyncIterator[ev.RealtimeEvent]:
        """Internal events until (and including) ``Closed``; one consumer at a time."""
        while True:
            event = await self._queue.get()
            yield event
            if isinstance(event, ev.Closed):
                return

    async def append_audio(self, pcm16_24k: bytes) -> None:
        """Stream user audio; frames that arrive while reconnecting are dropped (and counted)."""
        link = self._link
        if link is None:
            self.metrics.audio_frames_dropped += 1
            return
        try:
            await link.send(wire.append_audio(pcm16_24k))
        except ConnectionClosed:
            self.metrics.audio_frames_dropped += 1
            return
        self.metrics.audio_frames_sent += 1

    async def commit_audio(self) -> None:
        """Push-to-talk: the user finished speaking; the buffer becomes a conversation item."""
        self._turn_end = time.monotonic()
        await self._send(wire.commit_audio())

    async def clear_audio(self) -> None:
        if self.reconnecting:
            return  # the new connection starts with an empty buffer
        await self._send(wire.clear_audio())

    async def add_user_text(self, text: str) -> None:
        item_id = _item_id()
        self._turns[item_id] = _Turn("user", text)
        event = wire.user_text(text)
        event["item"]["id"] = item_id
        await self._send(event)

    async def add_function_call(self, call_id: str, name: str, arguments: str) -> None:
        """A call made for the model (one HA held for the user's yes, then ran): its output, sent
        with ``send_function_output``, follows it."""
        item_id = _item_id()
        self._turns[item_id] = _Turn("call", arguments, call_id=call_id, name=name)
        event = wire.function_call_item(call_id, name, arguments)
        event["item"]["id"] = item_id
        await self._send(event)

    async def create_response(
        self, instructions: str | None = None, *, out_of_band: bool = False
    ) -> None:
        """Ask for a response; ``out_of_band`` ones (announcements) do not enter the conversation."""
        self._turn_end = time.monotonic()
        await self._send(wire.response_create(self.interface, instructions, out_of_band))

    async def send_function_output(
        self, call_id: str, output_json: str, *, respond: bool = True, failed: bool = False
    ) -> None:
        """Answer a ``FunctionCall``; ``failed`` counts it as a failed call in the metrics."""
        try:
            json.loads(output_json)
        except ValueError as err:
            raise ConfigurationError(
                f"output_json for call {call_id!r} is not valid JSON: {err}"
            ) from None
        if failed and call_id not in self._failed_calls:
            self._failed_calls.add(call_id)
            self.metrics.function_call_failures += 1
        item_id = _item_id()
        self._turns[item_id] = _Turn("output", output_json, call_id=call_id)
        event = wire.function_output(call_id, output_json)
        event["item"]["id"] = item_id
        await self._send(event)
        if respond:
            await self.create_response()

    async def cancel_response(self) -> None:
        if self.reconnecting:
            return  # the drop ended every response (ResponseDone "failed", "connection_lost")
        await self._send(wire.response_cancel())

    async def truncate(self, item_id: str, content_index: int, audio_end_ms: int) -> None:
        """Barge-in: the user heard only ``audio_end_ms`` of that item; the rest is dropped."""
        if self.reconnecting:
            return  # item ids are per connection: that item is gone with it
        await self._send(wire.truncate(item_id, content_index, audio_end_ms))

    async def update(self, description: SessionDescription) -> None:
        """Change instructions, tools, turn detection... (kept across reconnects)."""
        self._description = description
        await self._send(wire.session_update(self.interface, description, self.voice))

    async def reset_conversation(self, description: SessionDescription | None = None) -> None:
        """A fresh conversation without the previous context, on a new connection (configured
        with ``description`` when given: no session.update is needed after it)."""
        await self._replace("reset", keep_conversation=False, description=description)

    async def close(self) -> None:
        """Close the connection and end ``events()`` with ``Closed(None)``. Idempotent."""
        await self._shutdown(None)

    @property
    def items_remembered(self) -> int:
        """How many conversation items the session keeps bookkeeping for (bounded by a reset)."""
        return len(self._turns.keys() | self._item_audio_bytes.keys() | self._truncated_ms.keys())

    @property
    def closed(self) -> bool:
        return self._closing

    @property
    def reconnecting(self) -> bool:
        """The connection dropped and a new one is being made: what only makes sense on the old
        one (cancel, clear, truncate) is done without waiting for it."""
        return self._link is None and self._recovery is not None and not self._recovery.done()

    # -- connections ---------------------------------------------------------------------------

    def _attach(self, link: RealtimeSocket) -> None:
        self._link = link
        self._link_started = time.monotonic()
        self._connected.set()
        task = asyncio.create_task(self._read(link))
        self._readers.add(task)
        task.add_done_callback(self._readers.discard)

    async def _connect(self, turns: list[_Turn]) -> RealtimeSocket:
        link, _ms = await establish(
            self._settings,
            model=self._requested_model,
            interface=self.interface,
            description=self._description,
            voice=self.voice,
        )
        self._turns = {}
        self._order = []
        # Item ids are per connection: what was kept by the old ones is of no use any more.
        self._item_audio_bytes = {}
        self._truncated_ms = {}
        self._failed_calls = {t.call_id for t in turns if t.call_id in self._failed_calls}
        try:
            for turn in turns:
                await self._recreate(link, turn)
        except ConnectionClosed:
            await link.close()
            raise RealtimeConnectionError("The new connection closed while restoring") from None
        return link

    async def _recreate(self, link: RealtimeSocket, turn: _Turn) -> None:
        match turn.kind:
            case "user":
                event = wire.user_text(turn.text)
            case "assistant":
                event = wire.assistant_text(self.interface, turn.text)
            case "call":
                event = wire.function_call_item(turn.call_id, turn.name, turn.text)
            case "output":
                event = wire.function_output(turn.call_id, turn.text)
        item_id = _item_id()
        event["item"]["id"] = item_id
        self._turns[item_id] = turn
        await link.send(event)

    def _conversation(self) -> list[_Turn]:
        return [self._turns[i] for i in self._order if i in self._turns and self._turns[i].text]

    async def _send(self, event: dict[str, Any]) -> None:
        if self._closing:
            raise RealtimeError("The session is closed", code="closed")
        if self._link is None:
            try:
                async with asyncio.timeout(self._settings.connect_timeout):
                    await self._connected.wait()
            except TimeoutError:
                raise RealtimeConnectionError("Not connected (reconnecting)") from None
        link = self._link
        if self._closing:
            raise RealtimeError("The session is closed", code="closed")
        if link is None:
            raise RealtimeConnectionError("Not connected (reconnecting)")
        try:
            await link.send(event)
        except ConnectionClosed:
            raise RealtimeConnectionError("The connection dropped; reconnecting") from None

    async def _read(self, link: RealtimeSocket) -> None:
        reason = "connection closed"
        try:
            async for frame in link.ws:
                try:
                    self._on_frame(frame, link)
                except Exception:  # a bug here must not end the session: skip the event
                    self.metrics.malformed_events += 1
                    _LOGGER.exception("Error handling a server event; skipped")
        except ConnectionClosed as err:
            reason = f"connection dropped ({err.rcvd.code if err.rcvd else 'no close frame'})"
        if link is self._link and not self._closing:
            self._begin_recovery(reason)

    def _begin_recovery(self, reason: str) -> None:
        if self._closing or (self._recovery and not self._recovery.done()):
            return
        old, self._link = self._link, None
        self._connected.clear()
        self._abandon_responses("failed", "connection_lost")
        self._recovery = asyncio.create_task(self._recover(reason, old))

    async def _recover(self, reason: str, old: RealtimeSocket | None) -> None:
        if old is not None:
            with contextlib.suppress(Exception):
                await old.close()
        turns = self._conversation()
        delays = backoff_delays(
            self._settings.reconnect_initial_delay, self._settings.reconnect_max_delay
        )
        last: RealtimeError | None = None
        for attempt, wait in enumerate(delays, start=1):
            if attempt > self._settings.reconnect_max_attempts:
                break
            self._emit(ev.Reconnecting(attempt, wait, reason))
            _LOGGER.info("Reconnecting in %.2f s (attempt %d): %s", wait, attempt, reason)
            await asyncio.sleep(wait)
            try:
                link = await self._connect(turns)
            except (RealtimeConnectionError, ProtocolError) as err:
                last = err
                continue
            except RealtimeError as err:
                await self._shutdown(err)
                return
            self._attach(link)
            self.metrics.reconnects += 1
            self._emit(ev.Reconnected(attempt, conversation_kept=True))
            return
        await self._shutdown(
            RealtimeConnectionError(
                f"Gave up after {self._settings.reconnect_max_attempts} reconnect attempts: {last}"
            )
        )

    async def _replace(
        self,
        reason: str,
        *,
        keep_conversation: bool,
        description: SessionDescription | None = None,
    ) -> None:
        async with self._replace_lock:
            if self._closing:
                raise RealtimeError("The session is closed", code="closed")
            if self._link is None:
                await self._connected.wait()  # set on reconnect, and on close (to wake us)
                if self._closing or self._link is None:
                    raise RealtimeError("The session is closed", code="closed")
            turns = self._conversation() if keep_conversation else []
            previous_description = self._description
            if description is not None:
                self._description = description
            saved = (
                self._turns,
                self._order,
                self._item_audio_bytes,
                self._truncated_ms,
                self._failed_calls,
            )
            try:
                link = await self._connect(turns)
            except RealtimeError:
                self._description = previous_description
                (
                    self._turns,
                    self._order,
                    self._item_audio_bytes,
                    self._truncated_ms,
                    self._failed_calls,
                ) = saved
                raise
            old = self._link
            self._abandon_responses("cancelled", reason)
            self._attach(link)
            self.metrics.replacements += 1
            self._emit(ev.SessionReplaced(reason, keep_conversation))
            if old is not None:
                await old.close()

    async def _age_watch(self) -> None:
        """Replace the connection before the service's limit, in a pause of the conversation."""
        settings = self._settings
        while not self._closing:
            if self._link is None:  # reconnecting: the new connection starts a new age
                await self._connected.wait()
                continue
            started = self._link_started
            await asyncio.sleep(max(0.0, started + settings.session_max_seconds - time.monotonic()))
            if self._link is None or self._link_started != started:
                continue  # reconnected or replaced meanwhile: a younger connection
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(settings.replace_idle_grace):
                    await self._idle.wait()
            if self._link is None or self._link_started != started:
                continue
            try:
                await self._replace("session_age", keep_conversation=True)
            except RealtimeError as err:
                # The expiry that follows is handled like a drop (reconnect, same conversation).
                self._emit(ev.Warning(err.code, f"Could not replace the aging session: {err}"))
                await asyncio.sleep(settings.reconnect_max_delay)

    async def _shutdown(self, error: RealtimeError | None) -> None:
        if self._closing:
            return
        self._closing = True
        self._connected.set()  # wake whoever waits for a reconnect; they see _closing
        self._abandon_responses("cancelled", "closed")
        current = asyncio.current_task()
        tasks = [t for t in (self._age_task, self._recovery) if t and t is not current]
        for task in tasks:
            task.cancel()
        link, self._link = self._link, None
        if link is not None:
            with contextlib.suppress(Exception):
                await link.close()
        for task in [*tasks, *self._readers]:
            if task is not current:
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task
        self._emit(ev.Closed(error))

    # -- server events -------------------------------------------------------------------------

    def _emit(self, event: ev.RealtimeEvent) -> None:
        self._queue.put_nowait(event)

    def _log_once(self, key: str, message: str, *args: object) -> None:
        if key in self._logged_types:
            _LOGGER.debug(message, *args)
        else:
            self._logged_types.add(key)
            _LOGGER.warning(message + " (logged once per event type)", *args)

    def _on_frame(self, frame: str | bytes, link: RealtimeSocket) -> None:
        if isinstance(frame, bytes):
            self.metrics.malformed_events += 1
            self._log_once("<binary>", "Skipping a binary frame of %d bytes", len(frame))
            return
        data: Any = None
        try:
            data = json.loads(frame)
            items = wire.parse_server_event(link.interface, data)
        except wire.UnknownEventError as err:
            self._log_once(f"unknown:{err}", "Skipping unknown server event %s", err)
            return
        except ValueError as err:
            self.metrics.malformed_events += 1
            kind = data.get("type") if isinstance(data, dict) else None
            self._log_once(f"malformed:{kind}", "Skipping a malformed server event: %s", err)
            return
        for item in items:
            self._apply(item, link)

    def _apply(self, item: ev.RealtimeEvent | wire.Fact, link: RealtimeSocket) -> None:
        now = time.monotonic()
        match item:
            case wire.ServerError():
                self._on_error(item, link)
                return
            case wire.SessionCreated() | wire.SessionUpdated():
                return
            case wire.ItemAdded(item_id=item_id):
                if item_id not in self._order:
                    self._order.append(item_id)
                return
            case wire.ItemDeleted(item_id=item_id):
                self._turns.pop(item_id, None)
                with contextlib.suppress(ValueError):
                    self._order.remove(item_id)
                return
            case wire.ItemTruncated(item_id=item_id, audio_end_ms=end_ms):
                self._truncated_ms[item_id] = end_ms
                self._apply_truncation(item_id)
                return
            case wire.ResponseCreated(response_id=rid, out_of_band=oob):
                self._responses[rid] = _Response(rid, oob, now, self._turn_end)
                self._turn_end = None
                self._idle.clear()
                self._emit(ev.ResponseStarted(rid, oob))
                return
            case wire.ResponseFinished():
                self._finish_response(item)
                return
            case ev.AudioDelta(response_id=rid, item_id=item_id, pcm=pcm):
                response = self._responses.get(rid)
                if response is not None:
                    response.audio_bytes += len(pcm)
                    if response.first_audio_ms is None and response.reference is not None:
                        response.first_audio_ms = (now - response.reference) * 1000
                self._item_audio_bytes[item_id] = self._item_audio_bytes.get(item_id, 0) + len(pcm)
            case ev.OutputTranscript() | ev.OutputText():
                response = self._responses.get(item.response_id)
                if response is None or not response.out_of_band:
                    # Deltas build the turn so that a cancelled answer is kept as far as it got.
                    turn = self._turns.setdefault(item.item_id, _Turn("assistant"))
                    turn.text = item.text if item.done else turn.text + item.text
                    if item.done:
                        self._apply_truncation(item.item_id)
            case ev.FunctionCall():
                self.metrics.function_calls += 1
                response = self._responses.get(item.response_id)
                if response is not None:
                    response.function_calls += 1
                self._turns[item.item_id] = _Turn(
                    "call", item.arguments, call_id=item.call_id, name=item.name
                )
                try:
                    json.loads(item.arguments)
                except ValueError:
                    self._failed_calls.add(item.call_id)
                    self.metrics.function_call_failures += 1
            case ev.SpeechStarted():
                self._speech_active = True
                self._idle.clear()
            case ev.SpeechStopped():
                self._speech_active = False
                self._turn_end = now
                self._update_idle()
            case ev.InputTranscript(done=True):
                self._turns[item.item_id] = _Turn("user", item.text)
        self._emit(item)

    def _on_error(self, error: wire.ServerError, link: RealtimeSocket) -> None:
        typed = error_from_server(
            error, model=self.model, voice=self.voice, interface=self.interface
        )
        if typed.code == "session_expired":
            _LOGGER.info("Session expired; reconnecting with the conversation")
            if link is self._link:
                self._begin_recovery("session_expired")
        elif typed.code == "response_cancel_not_active":
            # A barge-in cancels what the satellite is still playing; the model has usually finished
            # generating it by then, so the cancel finds nothing to stop. Expected, not a warning.
            _LOGGER.debug("Barge-in: the response had already finished generating")
        elif isinstance(typed, AuthenticationError):
            task = asyncio.create_task(self._shutdown(typed))
            self._readers.add(task)
            task.add_done_callback(self._readers.discard)
        else:
            self._emit(ev.Warning(typed.code, typed.message))

    def _apply_truncation(self, item_id: str) -> None:
        """Keep the part of an assistant transcript the user heard (proportional to audio time)."""
        turn = self._turns.get(item_id)
        end_ms = self._truncated_ms.get(item_id)
        total_ms = self._item_audio_bytes.get(item_id, 0) / _BYTES_PER_MS
        if turn is None or end_ms is None or total_ms <= 0 or turn.kind != "assistant":
            return
        keep = int(len(turn.text) * min(1.0, end_ms / total_ms))
        cut = turn.text[:keep]
        turn.text = cut.rsplit(" ", 1)[0] if keep < len(turn.text) and " " in cut else cut

    def _finish_response(self, done: wire.ResponseFinished) -> None:
        response = self._responses.pop(done.response_id, None) or _Response(
            done.response_id, False, time.monotonic(), None
        )
        usage = Usage.from_response(done.usage)
        cost = cost_for_model(usage, self.model)
        self.metrics.responses += 1
        self.metrics.usage += usage
        self.metrics.cost_usd += cost
        if response.first_audio_ms is not None:
            self.metrics.add_first_audio(response.first_audio_ms)
        self._emit(
            ev.ResponseDone(
                done.response_id,
                done.status,
                usage,
                cost,
                response.out_of_band,
                ResponseMetrics(
                    done.response_id,
                    response.first_audio_ms,
                    response.audio_bytes / _BYTES_PER_MS,
                    response.function_calls,
                    (time.monotonic() - response.started) * 1000,
                ),
                done.status_reason,
            )
        )
        self._update_idle()

    def _abandon_responses(self, status: str, reason: str) -> None:
        for rid in list(self._responses):
            self._finish_response(wire.ResponseFinished(rid, status, reason, None))
        self._speech_active = False
        self._update_idle()

    def _update_idle(self) -> None:
        if not self._responses and not self._speech_active:
            self._idle.set()
