"""One Realtime session per satellite: the conversation between the satellite's link and the model.

The session is opened when the entry loads and kept warm (the core replaces it before its 60-minute
limit and reconnects after drops), so speech after the wake word flows with no handshake delay. Each
conversation starts without the previous one's context. Audio flows satellite -> model while listening
and model -> satellite while responding; tool calls run through the toolset; a wake word during playback
cancels the response and truncates it at the position the user actually heard; a stop word does the
same and ends the conversation (no follow-up listening).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field
from enum import StrEnum
from typing import Any

from homeassistant.components.assist_satellite import SatelliteBusyError
from homeassistant.config_entries import ConfigEntry
from homeassistant.core import CALLBACK_TYPE, Context, HomeAssistant, callback
from homeassistant.exceptions import HomeAssistantError
from homeassistant.helpers import template

from .const import (
    CONF_FOLLOW_UP_SECONDS,
    CONF_INSTRUCTIONS,
    DEFAULT_FOLLOW_UP_SECONDS,
    DEFAULT_INSTRUCTIONS,
    DOMAIN,
    EVENT_CONVERSATION_ENDED,
    EVENT_CONVERSATION_STARTED,
    EVENT_WAKE_WORD_DETECTED,
)
from .core.link import Audio, LinkEvent, protocol
from .core.realtime import (
    AuthenticationError,
    RealtimeError,
    RealtimeSession,
    SelectionMemory,
    SessionDescription,
    ToolDefinition,
    open_session,
)
from .core.realtime import events as rt
from .repairs import async_report_fallback
from .satellite_link import SatelliteConnection, SatelliteOfflineError
from .tone import chime_pcm
from .tools import Toolset, async_build_toolset, tool_settings
from .validation import realtime_settings

_LOGGER = logging.getLogger(__name__)

ANNOUNCE_INSTRUCTIONS = (
    "Read the following announcement aloud exactly as written, in your normal voice, and say nothing "
    "else:\n{message}"
)
# How long after the end of an announcement's audio we wait for the satellite to report it played.
PLAYBACK_GRACE_S = 10.0
# After the wake word, the conversation ends if no speech starts within this many seconds.
NO_SPEECH_TIMEOUT_S = 8.0
# A session that cannot be opened is retried after these delays (seconds), the last one repeating.
SESSION_RETRY_DELAYS = (2.0, 5.0, 15.0, 60.0, 300.0)


class ConversationState(StrEnum):
    IDLE = "idle"
    LISTENING = "listening"
    PROCESSING = "processing"
    RESPONDING = "responding"


@dataclass
class Conversation:
    id: str
    reason: str  # wake | start_conversation | barge_in
    started: float = field(default_factory=time.monotonic)
    user: list[str] = field(default_factory=list)
    assistant: list[str] = field(default_factory=list)
    tool_calls: int = 0
    stopping: bool = False  # a stop word: ends once the stopped answer is truncated


@dataclass
class Playback:
    """A stream the satellite plays: a model response or an announcement."""

    stream_id: str
    kind: protocol.PlayKind
    item_id: str | None = None
    content_index: int = 0
    started: bool = False
    audio_ms: float = 0.0
    finished: asyncio.Future[int] | None = None
    stop_word: bool = False  # the user said the stop word during it


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


class SessionManager:
    """Runs conversations and announcements for one satellite."""

    def __init__(
        self,
        hass: HomeAssistant,
        entry: ConfigEntry,
        link: SatelliteConnection,
        *,
        device_id: str | None = None,
    ) -> None:
        self.hass = hass
        self.entry = entry
        self.link = link
        self.device_id = device_id
        self.state = ConversationState.IDLE
        self.conversation: Conversation | None = None
        self.figures = Figures()
        self.selection_memory = SelectionMemory()
        self._session: RealtimeSession | None = None
        self._session_lock = asyncio.Lock()
        self._session_task: asyncio.Task[None] | None = None
        self._consumer: asyncio.Task[None] | None = None
        self._description: SessionDescription | None = None
        self._toolset: Toolset | None = None
        self._extra_prompt: str | None = None
        self._playbacks: dict[str, Playback] = {}  # by response id (or announcement stream id)
        self._announcement: Playback | None = None
        self._announcement_done: asyncio.Future[None] | None = None
        self._no_speech_timer: asyncio.TimerHandle | None = None
        self._responses_in_flight = 0
        # False once a conversation used the session: the next one needs a fresh context first.
        self._fresh = True
        self._reset_task: asyncio.Task[None] | None = None
        self._state_listeners: list[Callable[[], None]] = []
        self._closing = False

    # --- life cycle ----------------------------------------------------------------------------

    @property
    def session(self) -> RealtimeSession | None:
        return self._session

    @property
    def options(self) -> Mapping[str, Any]:
        return {**self.entry.data, **self.entry.options}

    async def async_start(self) -> None:
        self.link.set_event_handler(self._on_link_event)
        self._session_task = self.hass.async_create_background_task(
            self._keep_session_open(), f"realtime_voice session {self.link.name}"
        )

    async def async_stop(self) -> None:
        self._closing = True
        self._cancel_no_speech_timer()
        for task in (self._session_task, self._consumer, self._reset_task):
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        if self._session is not None:
            await self._session.close()
            self._session = None

    @callback
    def async_add_state_listener(self, listener: Callable[[], None]) -> CALLBACK_TYPE:
        self._state_listeners.append(listener)
        return lambda: self._state_listeners.remove(listener)

    def _set_state(self, state: ConversationState) -> None:
        if state != self.state:
            self.state = state
            self._notify()

    def _notify(self) -> None:
        for listener in list(self._state_listeners):
            listener()

    # --- the Realtime session ------------------------------------------------------------------

    async def _keep_session_open(self) -> None:
        """Open the session in the background at start; retry transient failures with backoff."""
        attempt = 0
        while not self._closing:
            try:
                await self._ensure_session()
            except AuthenticationError:
                return  # re-auth was started; the entry reloads with the new key
            except RealtimeError as err:
                delay = SESSION_RETRY_DELAYS[min(attempt, len(SESSION_RETRY_DELAYS) - 1)]
                attempt += 1
                _LOGGER.warning(
                    "Realtime session for %s not available (%s); retrying in %.0f s",
                    self.link.name,
                    err,
                    delay,
                )
                await asyncio.sleep(delay)
            else:
                return

    async def _ensure_session(self) -> RealtimeSession:
        async with self._session_lock:
            if self._session is not None:
                return self._session
            description = await self._build_description()
            try:
                session = await open_session(
                    realtime_settings(self.options),
                    description,
                    selection_memory=self.selection_memory,
                )
            except AuthenticationError as err:
                self.figures.last_error = err.code
                self._notify()
                self.entry.async_start_reauth(self.hass)
                raise
            except RealtimeError as err:
                self.figures.last_error = err.code
                self._notify()
                raise
            self._session = session
            self._fresh = True
            self._description = description
            self.figures.model = session.model
            self.figures.interface = session.interface
            self.figures.fallback_reason = session.fallback.reason if session.fallback else None
            self.figures.last_error = None
            self._consumer = self.hass.async_create_background_task(
                self._consume(session), f"realtime_voice events {self.link.name}"
            )
            self._notify()
            async_report_fallback(self.hass, self.entry, session.fallback)
            return session

    async def _build_description(self) -> SessionDescription:
        options = self.options
        instructions = template.Template(
            options.get(CONF_INSTRUCTIONS, DEFAULT_INSTRUCTIONS), self.hass
        ).async_render(parse_result=False)
        toolset = await self._build_toolset()
        self._toolset = toolset
        parts = [instructions]
        if toolset.prompt:
            parts.append(toolset.prompt)
        if self._extra_prompt:
            parts.append(self._extra_prompt)
        tools = tuple(
            ToolDefinition(spec.name, spec.description, spec.parameters)
            for spec in toolset.definitions
        )
        return SessionDescription(instructions="\n\n".join(parts), tools=tools)

    async def _build_toolset(self) -> Toolset:
        toolset = await async_build_toolset(
            self.hass,
            **asdict(tool_settings(self.options)),
            device_id=self.device_id,
            satellite_name=self.link.name,
            language=self.hass.config.language,
            context=Context(),
        )
        for warning in toolset.warnings:
            _LOGGER.warning("Tools for %s: %s", self.link.name, warning)
        return toolset

    async def _refresh_description(self, session: RealtimeSession) -> None:
        """Exposed entities, allowed services and the prompt may have changed since last time."""
        description = await self._build_description()
        if description != self._description:
            await session.update(description)
            self._description = description

    async def _consume(self, session: RealtimeSession) -> None:
        async for event in session.events():
            try:
                await self._on_realtime_event(event)
            except SatelliteOfflineError as err:
                _LOGGER.debug("Dropped %s: %s", type(event).__name__, err)
            except Exception:
                _LOGGER.exception("Error handling %s", type(event).__name__)
        # The session ended for good (closed, or gave up): open a new one next time.
        async with self._session_lock:
            if self._session is session:
                self._session = None
        if not self._closing:
            self._end_conversation("session_closed")
            self._session_task = self.hass.async_create_background_task(
                self._keep_session_open(), f"realtime_voice session {self.link.name}"
            )

    # --- conversations -------------------------------------------------------------------------

    async def _begin_conversation(self, reason: str) -> None:
        self._cancel_no_speech_timer()
        self.conversation = Conversation(id=uuid.uuid4().hex, reason=reason)
        self.figures.conversations += 1
        self._set_state(ConversationState.LISTENING)
        self._fire(
            EVENT_CONVERSATION_STARTED, {"conversation_id": self.conversation.id, "reason": reason}
        )
        self._start_no_speech_timer(NO_SPEECH_TIMEOUT_S)
        try:
            session = await self._ensure_session()
            if self._reset_task is not None:
                await self._reset_task  # the previous conversation's context is being dropped
            if not self._fresh:
                await session.reset_conversation()
            self._fresh = False
            await self._refresh_description(session)
            if self._toolset is not None:
                self._toolset.start_turn()
        except RealtimeError as err:
            _LOGGER.error("Cannot start a conversation on %s: %s", self.link.name, err)
            await self._safe(self.link.stop_listening())
            self._end_conversation(f"error: {err.code}")

    def _start_no_speech_timer(self, seconds: float) -> None:
        self._cancel_no_speech_timer()
        self._no_speech_timer = self.hass.loop.call_later(
            seconds, lambda: self.hass.async_create_task(self._no_speech_timeout())
        )

    def _cancel_no_speech_timer(self) -> None:
        if self._no_speech_timer is not None:
            self._no_speech_timer.cancel()
            self._no_speech_timer = None

    async def _no_speech_timeout(self) -> None:
        self._no_speech_timer = None
        if self.state == ConversationState.LISTENING:
            await self._safe(self.link.stop_listening())
            if self._session is not None:
                await self._session.clear_audio()
            self._end_conversation("no_speech")

    def _end_conversation(self, reason: str) -> None:
        self._cancel_no_speech_timer()
        conversation, self.conversation = self.conversation, None
        self._extra_prompt = None
        self._responses_in_flight = 0
        if conversation is not None and self._session is not None and not self._closing:
            # Drop the context now, while nobody talks, so that the next wake word finds a fresh
            # session already connected.
            self._reset_task = self.hass.async_create_background_task(
                self._reset_context(self._session), f"realtime_voice reset {self.link.name}"
            )
        if conversation is not None:
            self._fire(
                EVENT_CONVERSATION_ENDED,
                {
                    "conversation_id": conversation.id,
                    "reason": reason,
                    "user": conversation.user,
                    "assistant": conversation.assistant,
                    "tool_calls": conversation.tool_calls,
                    "duration_s": round(time.monotonic() - conversation.started, 2),
                },
            )
        if self._announcement is None:
            self._set_state(ConversationState.IDLE)

    async def _reset_context(self, session: RealtimeSession) -> None:
        try:
            await session.reset_conversation()
        except RealtimeError as err:
            _LOGGER.warning("Could not reset the conversation of %s: %s", self.link.name, err)
        else:
            self._fresh = True
        finally:
            self._reset_task = None

    async def async_stop_conversation(self) -> None:
        """End what is going on (used by the mute switch and on request); idle stays idle."""
        if self.conversation is None:
            return
        if self._session is not None:
            if self._responses_in_flight:
                await self._session.cancel_response()
            await self._session.clear_audio()
        await self._safe(self.link.stop_listening())
        if self._playbacks:
            await self._safe(self.link.stop_playback())
        self._end_conversation("stopped")

    # --- link events ---------------------------------------------------------------------------

    async def _on_link_event(self, event: LinkEvent) -> None:
        match event:
            case Audio(pcm=pcm):
                # Nothing arrives before _begin_conversation has the session: this handler runs
                # one link event at a time, and the wake word's handling opens it first.
                if self.conversation is not None and self._session is not None:
                    await self._session.append_audio(pcm)
            case protocol.Wake(model=model, score=score):
                self._fire(EVENT_WAKE_WORD_DETECTED, {"wake_word": model, "score": score})
                if self.conversation is None:
                    await self._begin_conversation("wake")
            case protocol.BargeIn():
                await self._barge_in()
            case protocol.StopWord(model=model, stream_id=stream_id):
                await self._stop_word(model, stream_id)
            case protocol.PlaybackStopped(stream_id=stream_id, played_ms=played_ms, reason=why):
                await self._playback_ended(stream_id, played_ms, interrupted=True, reason=why)
            case protocol.PlaybackFinished(stream_id=stream_id, played_ms=played_ms):
                await self._playback_ended(stream_id, played_ms, interrupted=False, reason=None)
            case protocol.ListenEnd(reason=reason) if reason in ("disconnected", "muted"):
                if self._session is not None and self.conversation is not None:
                    await self._session.cancel_response()
                    await self._session.clear_audio()
                for playback in self._playbacks.values():
                    if playback.finished is not None and not playback.finished.done():
                        playback.finished.set_result(0)
                self._playbacks.clear()
                self._end_conversation(reason)
            case protocol.Error(code=code, message=message):
                _LOGGER.warning("Satellite %s reports %s: %s", self.link.name, code, message)

    async def _barge_in(self) -> None:
        """The wake word during playback: stop the model, keep what was heard, listen again."""
        session = self._session
        if session is not None:
            await session.cancel_response()
        if self.conversation is None:
            await self._begin_conversation("barge_in")
        else:
            self._set_state(ConversationState.LISTENING)
            self._start_no_speech_timer(NO_SPEECH_TIMEOUT_S)

    async def _stop_word(self, model: str, stream_id: str | None) -> None:
        """A stop word during playback: silence, and the conversation ends without listening.

        The satellite has stopped already and reports ``playback_stopped(stop_word)`` next; the
        answer is truncated there, then the conversation ends. An announcement just stops (and a
        start_conversation does not listen after it).
        """
        _LOGGER.info("Stop word %s on %s during %s", model, self.link.name, stream_id)
        announcement = self._announcement
        if announcement is not None and stream_id in (None, announcement.stream_id):
            announcement.stop_word = True
            if self._announcement_done is not None and not self._announcement_done.done():
                self._announcement_done.set_result(None)  # its remaining audio is not wanted
            return
        conversation = self.conversation
        if conversation is None:
            return
        if self._session is not None and self._responses_in_flight:
            await self._session.cancel_response()
        conversation.stopping = True
        # Responses not played yet are dropped; their late audio finds no playback.
        for key, playback in list(self._playbacks.items()):
            if playback.kind == "response" and key != stream_id:
                self._playbacks.pop(key)
        if stream_id is None or stream_id not in self._playbacks:
            self._end_conversation("stop_word")  # nothing left to truncate

    async def _playback_ended(
        self, stream_id: str, played_ms: int, *, interrupted: bool, reason: str | None
    ) -> None:
        playback = self._playbacks.pop(stream_id, None)
        if playback is None:
            return
        if playback.finished is not None and not playback.finished.done():
            playback.finished.set_result(played_ms)
        if playback.kind != "response":
            return
        if interrupted and playback.item_id is not None and self._session is not None:
            # The model's memory of what it said must match what the user heard.
            await self._session.truncate(playback.item_id, playback.content_index, played_ms)
            if reason == "barge_in":
                return  # _barge_in already listens
        if self.conversation is not None and (self.conversation.stopping or reason == "stop_word"):
            self._end_conversation("stop_word")  # after the truncation: the reset comes last
            return
        if self.conversation is not None and not self._playbacks and not self._responses_in_flight:
            await self._follow_up()

    async def _follow_up(self) -> None:
        """After the answer, listen again without the wake word for the follow-up window."""
        seconds = float(self.options.get(CONF_FOLLOW_UP_SECONDS, DEFAULT_FOLLOW_UP_SECONDS))
        if seconds <= 0:
            self._end_conversation("done")
            return
        self._set_state(ConversationState.LISTENING)
        if self._toolset is not None:
            self._toolset.start_turn()
        await self._safe(self.link.listen())
        self._start_no_speech_timer(seconds)

    # --- Realtime events -----------------------------------------------------------------------

    async def _on_realtime_event(self, event: rt.RealtimeEvent) -> None:
        match event:
            case rt.SpeechStarted():
                self._cancel_no_speech_timer()
            case rt.SpeechStopped():
                if self.conversation is not None:
                    self._set_state(ConversationState.PROCESSING)
                    await self._safe(self.link.stop_listening())
            case rt.InputTranscript(text=text, done=True) if self.conversation is not None:
                self.conversation.user.append(text)
            case rt.ResponseStarted(response_id=response_id, out_of_band=out_of_band):
                if out_of_band and self._announcement is not None:
                    self._playbacks[response_id] = self._announcement
                elif not out_of_band and self.conversation is not None:
                    self._responses_in_flight += 1
                    self._playbacks[response_id] = Playback(stream_id=response_id, kind="response")
            case rt.AudioDelta(response_id=response_id, item_id=item_id, pcm=pcm):
                await self._play_delta(response_id, item_id, event.content_index, pcm)
            case rt.AudioDone(response_id=response_id):
                playback = self._playbacks.get(response_id)
                if playback is not None and playback.kind == "response" and playback.started:
                    await self._safe(self.link.play_end(playback.stream_id))
            case rt.OutputTranscript(text=text, done=True) if self.conversation is not None:
                self.conversation.assistant.append(text)
            case rt.FunctionCall():
                await self._run_tool(event)
            case rt.ResponseDone():
                self._response_done(event)
            case rt.Warning(code=code, message=message):
                _LOGGER.warning("Realtime warning on %s: %s (%s)", self.link.name, message, code)
            case rt.SessionReplaced() | rt.Reconnected():
                self._notify()
            case rt.Closed(error=error) if error is not None:
                self.figures.last_error = getattr(error, "code", type(error).__name__)
                if isinstance(error, AuthenticationError):
                    self.entry.async_start_reauth(self.hass)

    async def _play_delta(
        self, response_id: str, item_id: str, content_index: int, pcm: bytes
    ) -> None:
        playback = self._playbacks.get(response_id)
        if playback is None:
            return  # a response we no longer want (cancelled, or conversation ended)
        if not playback.started:
            playback.started = True
            playback.item_id = item_id
            playback.content_index = content_index
            if playback.kind == "response":
                self._cancel_no_speech_timer()
                self._set_state(ConversationState.RESPONDING)
                await self._safe(self.link.play_start(playback.stream_id, "response"))
                # The satellite reports by stream id; keep the response id as that id.
        playback.audio_ms += len(pcm) / 48.0  # 24 kHz * 2 bytes = 48 bytes per ms
        await self._safe(self.link.play_audio(pcm))

    def _response_done(self, event: rt.ResponseDone) -> None:
        usage = event.usage
        self.figures.total_tokens += usage.input_tokens + usage.output_tokens
        self.figures.total_cost_usd += event.cost_usd
        if event.metrics.first_audio_ms is not None and not event.out_of_band:
            self.figures.last_latency_ms = event.metrics.first_audio_ms
        self._notify()
        if event.out_of_band:
            if self._announcement_done is not None and not self._announcement_done.done():
                self._announcement_done.set_result(None)
            return
        if self.conversation is None:
            return
        self._responses_in_flight = max(0, self._responses_in_flight - 1)
        playback = self._playbacks.get(event.response_id)
        if playback is not None and not playback.started:
            # No audio (a tool call, or cancelled): nothing will report playback for it.
            self._playbacks.pop(event.response_id, None)
            if (
                event.status == "completed"
                and event.metrics.function_calls == 0
                and not self._playbacks
                and not self._responses_in_flight
            ):
                self.hass.async_create_task(self._follow_up())

    async def _run_tool(self, call: rt.FunctionCall) -> None:
        session = self._session
        if session is None or self._toolset is None:
            return
        if self.conversation is not None:
            self.conversation.tool_calls += 1
        result = await self._toolset.async_call(call.name, call.arguments, call_id=call.call_id)
        await session.send_function_output(
            call.call_id, json.dumps(result, separators=(",", ":")), respond=True
        )

    # --- announcements -------------------------------------------------------------------------

    async def async_announce(
        self,
        message: str,
        *,
        pcm: bytes | None = None,
        preannounce: bool = True,
        preannounce_pcm: bytes | None = None,
        listen_after: bool = False,
        extra_prompt: str | None = None,
    ) -> None:
        """Speak ``message`` in the model's voice (or play ``pcm``); returns when it has played.

        ``preannounce`` plays ``preannounce_pcm`` first, or the built-in chime.

        The announcement does not enter the conversation (an out-of-band response). With
        ``listen_after`` (start_conversation) the satellite then listens without a wake word.
        """
        if not self.link.available:
            raise HomeAssistantError(
                translation_domain=DOMAIN,
                translation_key="satellite_offline",
                translation_placeholders={"name": self.link.name},
            )
        if self.conversation is not None or self._announcement is not None:
            raise SatelliteBusyError(
                translation_domain=DOMAIN,
                translation_key="satellite_busy",
                translation_placeholders={"name": self.link.name},
            )
        stream_id = f"announce-{uuid.uuid4().hex[:12]}"
        playback = Playback(
            stream_id=stream_id,
            kind="announcement",
            started=True,
            finished=self.hass.loop.create_future(),
        )
        self._announcement = playback
        self._set_state(ConversationState.RESPONDING)
        try:
            await self.link.play_start(stream_id, "announcement")
            self._playbacks[stream_id] = playback
            if preannounce:
                chime = preannounce_pcm or chime_pcm()
                playback.audio_ms += len(chime) / 48.0
                await self.link.play_audio(chime)
            if pcm is not None:
                playback.audio_ms += len(pcm) / 48.0
                await self.link.play_audio(pcm)
            elif message:
                await self._speak_out_of_band(message)
            await self.link.play_end(stream_id)
            timeout = playback.audio_ms / 1000.0 + PLAYBACK_GRACE_S
            assert playback.finished is not None
            async with asyncio.timeout(timeout):
                await playback.finished
        except SatelliteOfflineError as err:
            raise HomeAssistantError(
                translation_domain=DOMAIN,
                translation_key="satellite_offline",
                translation_placeholders={"name": self.link.name},
            ) from err
        except TimeoutError as err:
            raise HomeAssistantError(
                f"Satellite {self.link.name} did not finish playing the announcement"
            ) from err
        finally:
            # by its stream id, and by the response id of a spoken one
            for key in [k for k, v in self._playbacks.items() if v is playback]:
                del self._playbacks[key]
            self._announcement = None
            if self.conversation is None:
                self._set_state(ConversationState.IDLE)
        if playback.stop_word:
            return  # stopped by the user: no conversation after it
        if listen_after:
            self._extra_prompt = extra_prompt or (f"You just said: {message}" if message else None)
            await self._begin_conversation("start_conversation")
            await self._safe(self.link.listen())

    async def _speak_out_of_band(self, message: str) -> None:
        try:
            session = await self._ensure_session()
        except RealtimeError as err:
            raise HomeAssistantError(
                f"Cannot speak the announcement: the Realtime session is unavailable ({err})"
            ) from err
        self._announcement_done = self.hass.loop.create_future()
        await session.create_response(
            instructions=ANNOUNCE_INSTRUCTIONS.format(message=message), out_of_band=True
        )
        async with asyncio.timeout(60):
            await self._announcement_done

    # --- helpers -------------------------------------------------------------------------------

    def _fire(self, event_type: str, data: dict[str, Any]) -> None:
        self.hass.bus.async_fire(
            event_type,
            {"device_id": self.device_id, "satellite": self.link.name, **data},
        )

    @staticmethod
    async def _safe(command: Any) -> None:
        """Send a link command; a satellite that went offline meanwhile is not an error here."""
        try:
            await command
        except SatelliteOfflineError as err:
            _LOGGER.debug("Link command skipped: %s", err)
