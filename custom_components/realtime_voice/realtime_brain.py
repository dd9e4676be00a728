"""The Realtime brain: OpenAI's Realtime session behind the conversation engine's brain interface
(core/conversation/brain.py).

The session keeper (session_keeper.py) holds the session open and fresh; the description
(description.py) says what the model is told. This module turns the session's events into the
engine's (speech started and stopped, answers and their audio, transcripts), runs the model's tool
calls through the toolset, holds a secure call until the user confirms it (tools/secure.py), and
speaks announcements as out-of-band responses.
"""

from __future__ import annotations

import asyncio
import json
import logging
import uuid
from collections.abc import AsyncIterator, Callable, Mapping
from typing import Any

from homeassistant.config_entries import ConfigEntry
from homeassistant.core import HomeAssistant

from .core.conversation import brain as b
from .core.conversation.brain import (
    BrainAbilities,
    BrainEventHandler,
    SpeakError,
    SpeechCutError,
    Turn,
    TurnRefused,
)
from .core.link.log_limit import RateLimitedLog
from .core.realtime import RealtimeError, RealtimeSession, unavailable_cause
from .core.realtime import events as rt
from .description import Described, async_describe_session
from .session_keeper import Figures, SessionKeeper
from .tools import Toolset
from .tools.const import ERR_NOT_NOW
from .tools.secure import PendingConfirmation

_LOGGER = logging.getLogger(__name__)

# After the model asks for a secure call's confirmation, the answer is listened for at least this
# long, whatever the follow-up window (which may be off).
CONFIRMATION_LISTEN_S = 8.0
# What the conversation_ended event shows of an answer that may carry the spoken PIN.
PIN_ANSWER_NOT_KEPT = "(the answer to a secure device's question, with the PIN: not kept)"
ANNOUNCE_INSTRUCTIONS = (
    "Read the following announcement aloud exactly as written, in your normal voice, and say nothing "
    "else:\n{message}"
)
# How long the model may take to speak an announcement.
SPOKEN_TIMEOUT_S = 60.0


class RealtimeBrain:
    """One satellite's Realtime session as the conversation engine's brain."""

    abilities = BrainAbilities(cancel=True, truncate=True)

    def __init__(
        self,
        hass: HomeAssistant,
        entry: ConfigEntry,
        *,
        name: str,
        device_id: str | None,
        options: Callable[[], Mapping[str, Any]],
        refusal_level: int = logging.ERROR,
    ) -> None:
        self._hass = hass
        # A refused conversation is an error, unless another brain takes it (the fallback mode).
        self._refusal_level = refusal_level
        self._name = name
        self._device_id = device_id
        self._options = options
        self._log = RateLimitedLog(_LOGGER, 60.0, burst=3)
        self.keeper = SessionKeeper(
            hass,
            entry,
            name=name,
            describe=self._describe,
            on_event=self._on_realtime_event,
            on_closed=self._on_session_closed,
            notify=self._changed,
        )
        self._handler: BrainEventHandler | None = None
        self._turn: Turn | None = None
        self._confirmation: PendingConfirmation | None = None
        # answer id -> (item id, content index) of its audio, for truncation
        self._items: dict[str, tuple[str, int]] = {}
        self._speech: asyncio.Queue[bytes | None] | None = None  # an announcement being spoken
        self._speech_response: str | None = None

    @property
    def session(self) -> RealtimeSession | None:
        return self.keeper.session

    @property
    def figures(self) -> Figures:
        return self.keeper.figures

    @property
    def toolset(self) -> Toolset | None:
        return self.keeper.toolset

    def attach(self, handler: BrainEventHandler) -> None:
        self._handler = handler

    async def _emit(self, event: b.BrainEvent) -> None:
        if self._handler is not None:
            await self._handler(event)

    def _changed(self) -> None:
        self._hass.async_create_task(self._emit(b.Changed()), eager_start=True)

    def _on_session_closed(self) -> None:
        self._hass.async_create_task(self._emit(b.BrainClosed()))

    async def start(self) -> None:
        self.keeper.start()

    async def stop(self) -> None:
        await self.keeper.async_stop()

    async def _describe(self, extra_prompt: str | None) -> Described:
        turn = self._turn
        return await async_describe_session(
            self._hass,
            self._options(),
            device_id=self._device_id,
            satellite_name=self._name,
            extra_prompt=extra_prompt,
            # HA, not the model, handles the user's next words: the model responds to none of them
            hold_responses=turn is not None and (turn.question or self._confirmation is not None),
        )

    # --- turns ---------------------------------------------------------------------------------

    async def start_turn(self, turn: Turn, take_audio: Callable[[], bytes]) -> None:
        self._turn = turn
        self._items.clear()
        if (current := self.keeper.session) is not None and current.reconnecting:
            # The connection is down (Reconnecting came before the wake word): nothing said now
            # can reach the model. Say so at once rather than after the no-speech watchdog.
            raise TurnRefused("connection_lost", lost="speech", cause="network")
        try:
            session = await self.keeper.async_session()
        except RealtimeError as err:
            self._log.log(
                "start",
                "Cannot start a conversation on %s: %s",
                self._name,
                err,
                level=self._refusal_level,
            )
            raise TurnRefused(f"error: {err.code}", cause=unavailable_cause(err)) from err
        if self._turn is not turn:
            return
        pending = take_audio()
        if self.keeper.toolset is not None:
            self.keeper.toolset.start_turn()
        try:
            if turn.question:
                # ask_question: the model must not respond to the answer, so the session says so
                # before any of it arrives.
                await self.keeper.async_refresh(turn.extra_prompt)
            if pending:
                await session.append_audio(pending)
            if not turn.question:
                # What the model may do is described again beside the user's audio, not before it.
                await self.keeper.async_refresh(turn.extra_prompt)
        except RealtimeError as err:
            self._log.log("update", "Could not update the session of %s: %s", self._name, err)

    async def probe(self) -> None:
        """Whether the endpoint serves a conversation again (the fallback brain asks, in the
        background): returns when a session is open, raises TurnRefused (with its cause) when not.
        The context is not used up: the next conversation still starts fresh."""
        if (current := self.keeper.session) is not None and current.reconnecting:
            raise TurnRefused("connection_lost", cause="network")
        try:
            await self.keeper.async_open()
        except RealtimeError as err:
            raise TurnRefused(f"error: {err.code}", cause=unavailable_cause(err)) from err

    async def send_audio(self, pcm: bytes) -> None:
        if (session := self.keeper.session) is not None:
            await session.append_audio(pcm)

    async def next_turn(self) -> None:
        if self.keeper.toolset is not None:
            self.keeper.toolset.start_turn()

    async def cancel(self) -> None:
        # Also when no response is known to be in flight: the endpoint answers
        # response_cancel_not_active then.
        if (session := self.keeper.session) is not None:
            await session.cancel_response()

    async def truncate(self, answer_id: str, played_ms: int) -> None:
        item = self._items.get(answer_id)
        if item is not None and (session := self.keeper.session) is not None:
            await session.truncate(item[0], item[1], played_ms)

    async def end_turn(self, *, answering: bool, listening: bool) -> None:
        self._turn = None
        self._items.clear()
        held, self._confirmation = self._confirmation, None
        if held is not None and self.keeper.toolset is not None:
            # No answer came: the held call does not run (the refusal is logged and in the events).
            await self.keeper.toolset.async_resolve(
                held, None, call_id=f"confirm_{uuid.uuid4().hex[:12]}"
            )
        session = self.keeper.session
        if session is not None:
            try:
                if answering:
                    await session.cancel_response()
                if listening:
                    await session.clear_audio()
            except RealtimeError as err:
                _LOGGER.debug("Ending the conversation on %s: %s", self._name, err)

    def drop_context(self, done: Callable[[], None]) -> None:
        self.keeper.reset_in_background(done)

    def listen_at_least_s(self) -> float:
        return CONFIRMATION_LISTEN_S if self._confirmation is not None else 0.0

    # --- announcements -------------------------------------------------------------------------

    async def speak(self, text: str) -> AsyncIterator[bytes]:
        """An out-of-band response (``conversation: "none"``): it does not enter the conversation."""
        try:
            session = await self.keeper.async_open()
        except RealtimeError as err:
            raise SpeakError(str(err)) from err
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue[bytes | None] = asyncio.Queue()
        self._speech, self._speech_response = queue, None
        try:
            try:
                await session.create_response(
                    instructions=ANNOUNCE_INSTRUCTIONS.format(message=text), out_of_band=True
                )
            except RealtimeError as err:
                raise SpeakError(str(err)) from err
            reconnects = session.metrics.reconnects  # sent: on the connection that counts
            deadline = loop.time() + SPOKEN_TIMEOUT_S
            while True:
                # The deadline bounds the waits for the model only (not what the caller does with
                # the audio between them).
                async with asyncio.timeout_at(deadline):
                    pcm = await queue.get()
                if pcm is None:
                    break
                yield pcm
            if session.reconnecting or session.metrics.reconnects != reconnects:
                raise SpeechCutError  # the connection dropped while the model spoke it
        finally:
            if self._speech is queue:
                self._speech = self._speech_response = None

    # --- Realtime events -----------------------------------------------------------------------

    async def _on_realtime_event(self, event: rt.RealtimeEvent) -> None:
        turn = self._turn
        match event:
            case rt.SpeechStarted():
                await self._emit(b.SpeechStarted())
            case rt.SpeechStopped():
                await self._emit(b.SpeechStopped())
            case rt.InputTranscript(text=text, done=True):
                if self._confirmation is not None and turn is not None:
                    await self._confirm(text)
                else:
                    await self._emit(b.UserSaid(text))
            case rt.ResponseStarted(out_of_band=False) if turn is not None and turn.question:
                # The answer to a question goes to the automation, not to the model.
                await self.cancel()
            case rt.ResponseStarted(response_id=response_id, out_of_band=True):
                if self._speech is not None:
                    self._speech_response = response_id
            case rt.ResponseStarted(response_id=response_id):
                await self._emit(b.AnswerStarted(response_id))
            case rt.AudioDelta(response_id=response_id, pcm=pcm) if (
                response_id == self._speech_response
            ):
                if self._speech is not None:
                    self._speech.put_nowait(pcm)
            case rt.AudioDelta(response_id=response_id, item_id=item_id, pcm=pcm):
                self._items.setdefault(response_id, (item_id, event.content_index))
                await self._emit(b.AnswerAudio(response_id, pcm))
            case rt.AudioDone(response_id=response_id) if response_id != self._speech_response:
                await self._emit(b.AnswerAudioDone(response_id))
            case rt.OutputTranscript(text=text, done=True):
                await self._emit(b.AssistantSaid(text))
            case rt.FunctionCall():
                await self._run_tool(event)
            case rt.ResponseDone():
                await self._response_done(event)
            case rt.Warning(code=code, message=message):
                _LOGGER.warning("Realtime warning on %s: %s (%s)", self._name, message, code)
            case rt.Reconnecting():
                await self._emit(b.ConnectionLost())
            case rt.SessionReplaced() | rt.Reconnected() | rt.Closed():
                await self._emit(b.Changed())

    async def _response_done(self, event: rt.ResponseDone) -> None:
        figures = self.keeper.figures
        usage = event.usage
        figures.total_tokens += usage.input_tokens + usage.output_tokens
        figures.total_cost_usd += event.cost_usd
        if event.metrics.first_audio_ms is not None and not event.out_of_band:
            figures.last_latency_ms = event.metrics.first_audio_ms
        await self._emit(b.Changed())
        if event.out_of_band:
            # (an out-of-band response is done only after it started: the session reports no other)
            if self._speech is not None and self._speech_response == event.response_id:
                self._speech.put_nowait(None)  # the model finished speaking the announcement
            return
        outcome: b.AnswerOutcome
        if event.status == "completed":
            outcome = "done" if event.metrics.function_calls == 0 else "continues"
        elif event.status == "failed":
            outcome = "cut" if event.status_reason == "connection_lost" else "failed"
        else:
            outcome = "stopped"
        await self._emit(b.AnswerDone(event.response_id, outcome))

    async def _run_tool(self, call: rt.FunctionCall) -> None:
        session, toolset, turn = self.keeper.session, self.keeper.toolset, self._turn
        if session is None or toolset is None:
            return
        if turn is not None and turn.question:
            # The answer to an automation's question is the automation's: nothing acts on it.
            # (No response is asked for while the answer is awaited; this holds if one comes.)
            refusal = toolset.refuse(
                call.name,
                call.arguments,
                call_id=call.call_id,
                code=ERR_NOT_NOW,
                message="The user is answering a question of an automation; nothing was done.",
            )
            await session.send_function_output(call.call_id, _json(refusal), respond=False)
            return
        await self._emit(b.Progress())  # a tool is progress
        result = await toolset.async_call(call.name, call.arguments, call_id=call.call_id)
        held = toolset.take_held()
        if held is not None and turn is not None and self._turn is turn:
            self._confirmation = held
            # The user's answer is HA's to hear: the model responds to it no more by itself.
            await self.keeper.async_refresh()
        await session.send_function_output(call.call_id, _json(result), respond=True)

    async def _confirm(self, answer: str) -> None:
        """The user's words after a secure call's question: it runs only if they confirm; the
        model then hears what happened, as the output of that call made again by HA."""
        held, self._confirmation = self._confirmation, None
        session, toolset = self.keeper.session, self.keeper.toolset
        if held is None or session is None or toolset is None:
            await self._emit(b.UserSaid(answer))
            return
        # The spoken PIN stays out of the conversation_ended event (and HA's event history).
        await self._emit(b.UserSaid(PIN_ANSWER_NOT_KEPT if toolset.secure_pin else answer))
        call_id = f"confirm_{uuid.uuid4().hex[:12]}"
        result = await toolset.async_resolve(held, answer, call_id=call_id)
        await self._emit(b.Progress())
        await self.keeper.async_refresh()  # the model responds to the user again
        await session.add_function_call(call_id, held.name, _json(held.arguments))
        await session.send_function_output(call_id, _json(result), respond=True)


def _json(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"))
