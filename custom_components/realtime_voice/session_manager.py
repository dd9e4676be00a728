"""One satellite's conversations: link events and Realtime events move the conversation through its
states (conversation_state.py); a watchdog bounds each state.

The parts: the session keeper (session_keeper.py) holds the Realtime session open and fresh; the
playback tracker (playback.py) knows what the satellite plays; the announcer (announcer.py) plays
announcements; the description (description.py) says what the model is told. This module ties them
to the link: audio flows satellite -> model while listening and model -> satellite while responding;
tool calls run through the toolset; a wake word during playback cancels the answer and truncates it
at what the user heard; a stop word does the same and ends the conversation.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
import uuid
from collections.abc import Callable, Mapping
from typing import Any

from homeassistant.config_entries import ConfigEntry
from homeassistant.core import CALLBACK_TYPE, HomeAssistant, callback

from .announcer import Announcement, Announcer
from .const import (
    CONF_FOLLOW_UP_SECONDS,
    DEFAULT_FOLLOW_UP_SECONDS,
    EVENT_CONVERSATION_ENDED,
    EVENT_CONVERSATION_STARTED,
    EVENT_WAKE_WORD_DETECTED,
)
from .conversation_state import (
    Conversation,
    ConversationState,
    Trigger,
    next_state,
)
from .core.link import Audio, LinkEvent, protocol
from .core.link.log_limit import RateLimitedLog
from .core.realtime import RealtimeError, RealtimeSession
from .core.realtime import events as rt
from .description import Described, async_describe_session
from .playback import Playback, PlaybackTracker
from .satellite_link import SatelliteConnection, SatelliteOfflineError
from .session_keeper import Figures, SessionKeeper
from .tone import error_tone_pcm
from .tools.const import ERR_NOT_NOW

__all__ = ["ConversationState", "Figures", "SessionManager"]

_LOGGER = logging.getLogger(__name__)

S = ConversationState
# The watchdog: how long each state may last without progress (seconds).
NO_SPEECH_TIMEOUT_S = 8.0  # after the wake word, until the user starts speaking
MAX_UTTERANCE_S = 30.0  # the user speaking (a loud TV never stops)
ANSWER_TIMEOUT_S = 30.0  # from the end of speech (or a tool call) to the answer's audio
PLAYBACK_GRACE_S = 10.0  # after the end of the answer's audio, until the satellite reports it
NO_AUDIO_TIMEOUT_S = 3.0  # listening, but the satellite sends no audio (it streams every 20 ms)
# Audio heard while the session gets ready (after a wake word that came during a reset) is kept,
# up to this much, and sent once it is.
MAX_PENDING_AUDIO_BYTES = 10 * protocol.AUDIO_RATE * protocol.AUDIO_SAMPLE_BYTES
# After the model asks for a secure call's confirmation, the answer is listened for at least this
# long, whatever the follow-up window (which may be off).
CONFIRMATION_LISTEN_S = 8.0
# What the conversation_ended event shows of an answer that may carry the spoken PIN.
PIN_ANSWER_NOT_KEPT = "(the answer to a secure device's question, with the PIN: not kept)"


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
        # The lines the satellite's events cause (one holding the key could send them in a
        # flood): a few a minute of each kind at most.
        self._satellite_log = RateLimitedLog(_LOGGER, 60.0, burst=3)
        self.device_id = device_id
        self.state = S.IDLE
        self.conversation: Conversation | None = None
        self.playbacks = PlaybackTracker()
        self.keeper = SessionKeeper(
            hass,
            entry,
            name=link.name,
            describe=self._describe,
            on_event=self._on_realtime_event,
            on_closed=self._on_session_closed,
            notify=self._notify,
        )
        self.announcer = Announcer(self)
        self._listeners: list[Callable[[], None]] = []
        self._state_waiters: list[asyncio.Future[None]] = []
        self._watchdog: asyncio.TimerHandle | None = None
        self._audio_watchdog: asyncio.TimerHandle | None = None
        self._responses_in_flight = 0
        self._pending_audio: bytearray | None = None  # not None while the session gets ready
        self._closing = False

    # --- life cycle ----------------------------------------------------------------------------

    @property
    def session(self) -> RealtimeSession | None:
        return self.keeper.session

    @property
    def figures(self) -> Figures:
        return self.keeper.figures

    @property
    def options(self) -> Mapping[str, Any]:
        return {**self.entry.data, **self.entry.options}

    async def async_start(self) -> None:
        self.link.set_event_handler(self._on_link_event)
        self.keeper.start()

    async def async_stop(self) -> None:
        self._closing = True
        self._disarm()
        self._stop_expecting_audio()
        await self.keeper.async_stop()

    @callback
    def async_add_state_listener(self, listener: Callable[[], None]) -> CALLBACK_TYPE:
        self._listeners.append(listener)
        return lambda: self._listeners.remove(listener)

    def _notify(self) -> None:
        for listener in list(self._listeners):
            listener()

    async def _describe(self, extra_prompt: str | None) -> Described:
        conversation = self.conversation
        return await async_describe_session(
            self.hass,
            self.options,
            device_id=self.device_id,
            satellite_name=self.link.name,
            extra_prompt=extra_prompt,
            hold_responses=conversation is not None and conversation.awaits_answer,
        )

    # --- the state machine ---------------------------------------------------------------------

    def _fire(self, trigger: Trigger) -> bool:
        """Take the transition ``trigger`` leads to from the current state, if there is one."""
        state = next_state(self.state, trigger)
        if state is None:
            _LOGGER.debug("%s: %s does not apply in state %s", self.link.name, trigger, self.state)
            return False
        changed, self.state = state != self.state, state
        self._arm_for(state)
        for waiter in self._state_waiters:
            if not waiter.done():
                waiter.set_result(None)
        self._state_waiters.clear()
        if changed:
            self._notify()
        return True

    def _arm_for(self, state: ConversationState) -> None:
        if state in (S.LISTENING, S.FOLLOW_UP):
            self._expect_audio()
        else:
            self._stop_expecting_audio()
        match state:
            case S.LISTENING:
                self._arm(NO_SPEECH_TIMEOUT_S, "no_speech")
            case S.FOLLOW_UP:
                self._arm(self._follow_up_seconds(), "no_speech")
            case S.PROCESSING:
                self._arm(ANSWER_TIMEOUT_S, "no_answer")
            case S.RESPONDING:
                self._arm(self._playing_for() + PLAYBACK_GRACE_S, "playback_timeout")
            case _:
                self._disarm()

    def _arm(self, seconds: float, reason: str) -> None:
        self._disarm()
        self._watchdog = self.hass.loop.call_later(
            seconds,
            lambda: self.hass.async_create_task(self._end(reason), eager_start=True),
        )

    def _disarm(self) -> None:
        if self._watchdog is not None:
            self._watchdog.cancel()
            self._watchdog = None

    def _expect_audio(self) -> None:
        """While listening, the satellite streams its microphone: silence on the link means it
        stopped (a blip, a crash), and the conversation must not wait for speech that cannot come."""
        self._stop_expecting_audio()
        self._audio_watchdog = self.hass.loop.call_later(
            NO_AUDIO_TIMEOUT_S,
            lambda: self.hass.async_create_task(self._end("no_audio"), eager_start=True),
        )

    def _stop_expecting_audio(self) -> None:
        if self._audio_watchdog is not None:
            self._audio_watchdog.cancel()
            self._audio_watchdog = None

    def _follow_up_seconds(self) -> float:
        """How long to listen after an answer; a question of the model that HA waits for the
        answer of (a secure call's confirmation) gets at least CONFIRMATION_LISTEN_S."""
        seconds = float(self.options.get(CONF_FOLLOW_UP_SECONDS, DEFAULT_FOLLOW_UP_SECONDS))
        if self.conversation is not None and self.conversation.confirmation is not None:
            return max(seconds, CONFIRMATION_LISTEN_S)
        return seconds

    def _playing_for(self) -> float:
        """Seconds of answer audio not played yet (at most: what was sent)."""
        return max((p.audio_ms for p in self.playbacks.answers()), default=0.0) / 1000

    async def _state_changed(self) -> None:
        waiter = self.hass.loop.create_future()
        self._state_waiters.append(waiter)
        await waiter

    # --- conversations -------------------------------------------------------------------------

    async def async_start_conversation(
        self,
        reason: str,
        *,
        extra_prompt: str | None = None,
        question: asyncio.Future[str | None] | None = None,
    ) -> None:
        """A conversation without a wake word (start_conversation, ask_question): the satellite is
        asked to listen."""
        if await self._start(reason, extra_prompt=extra_prompt, question=question):
            await self._safe(self.link.listen())
        elif question is not None and not question.done():
            question.set_result(None)

    async def _start(
        self,
        reason: str,
        *,
        extra_prompt: str | None = None,
        question: asyncio.Future[str | None] | None = None,
    ) -> bool:
        if next_state(self.state, Trigger.START) is None:
            return False
        conversation = Conversation(id=uuid.uuid4().hex, reason=reason, question=question)
        self.conversation = conversation
        self._responses_in_flight = 0
        self.figures.conversations += 1
        self._pending_audio = bytearray()
        self._fire(Trigger.START)
        self._fire_event(
            EVENT_CONVERSATION_STARTED, {"conversation_id": conversation.id, "reason": reason}
        )
        # The user's audio is kept from now on and flows as soon as the session is ready; the link
        # handler does not wait for it (it must go on receiving that audio).
        self.hass.async_create_background_task(
            self._prepare(conversation, extra_prompt), f"realtime_voice start {self.link.name}"
        )
        return True

    async def _prepare(self, conversation: Conversation, extra_prompt: str | None) -> None:
        if (current := self.keeper.session) is not None and current.reconnecting:
            # The connection is down (Reconnecting came before the wake word): nothing said now
            # can reach the model. Say so at once rather than after the no-speech watchdog.
            await self._play_error_tone()
            await self._end("connection_lost", lost="speech")
            return
        try:
            session = await self.keeper.async_session()
        except RealtimeError as err:
            self._satellite_log.log(
                "start",
                "Cannot start a conversation on %s: %s",
                self.link.name,
                err,
                level=logging.ERROR,
            )
            if self.conversation is conversation:
                await self._play_error_tone()
                await self._end(f"error: {err.code}")
            return
        if self.conversation is not conversation:
            return
        pending, self._pending_audio = self._pending_audio, None
        if self.keeper.toolset is not None:
            self.keeper.toolset.start_turn()
        try:
            if conversation.awaits_answer:
                # ask_question: the model must not respond to the answer, so the session says so
                # before any of it arrives.
                await self.keeper.async_refresh(extra_prompt)
            if pending:
                await session.append_audio(bytes(pending))
            if not conversation.awaits_answer:
                # What the model may do is described again beside the user's audio, not before it.
                await self.keeper.async_refresh(extra_prompt)
        except RealtimeError as err:
            self._satellite_log.log(
                "update",
                "Could not update the session of %s: %s",
                self.link.name,
                err,
            )

    async def _play_error_tone(self) -> None:
        stream_id = f"error-{uuid.uuid4().hex[:12]}"
        await self._safe(self.link.play_start(stream_id, "chime"))
        await self._safe(self.link.play_audio(error_tone_pcm()))
        await self._safe(self.link.play_end(stream_id))

    async def _end(self, reason: str, *, lost: str | None = None) -> None:
        """End the open conversation, whatever it is doing; then drop its context. ``lost``: what
        a dropped connection took with it (in the event)."""
        conversation, state = self.conversation, self.state
        if conversation is None or not self._fire(Trigger.END):
            return
        self.conversation = None
        self._pending_audio = None
        if conversation.question is not None and not conversation.question.done():
            conversation.question.set_result(None)
        if conversation.confirmation is not None and self.keeper.toolset is not None:
            # No answer came: the held call does not run (the refusal is logged and in the events).
            await self.keeper.toolset.async_resolve(
                conversation.confirmation, None, call_id=f"confirm_{uuid.uuid4().hex[:12]}"
            )
        session = self.session
        if session is not None:
            try:
                if self._responses_in_flight:
                    await session.cancel_response()
                if state in (S.LISTENING, S.FOLLOW_UP):
                    await session.clear_audio()
            except RealtimeError as err:
                _LOGGER.debug("Ending the conversation on %s: %s", self.link.name, err)
        self._responses_in_flight = 0
        if reason not in ("disconnected", "muted"):
            if state in (S.LISTENING, S.FOLLOW_UP):
                await self._safe(self.link.stop_listening())
            for answer in self.playbacks.answers():
                if answer.started and reason not in ("done", "stop_word"):
                    await self._safe(self.link.stop_playback(answer.stream_id))
        for answer in self.playbacks.answers():
            self.playbacks.remove(answer.stream_id)
        self._fire_event(
            EVENT_CONVERSATION_ENDED,
            {
                "conversation_id": conversation.id,
                "reason": reason,
                "user": conversation.user,
                "assistant": conversation.assistant,
                "tool_calls": conversation.tool_calls,
                "duration_s": round(time.monotonic() - conversation.started, 2),
                **({"lost": lost} if lost else {}),
            },
        )
        # Drop the context now, while nobody talks, so that the next wake word finds it fresh.
        self.keeper.reset_in_background(self._reset_done)

    def _reset_done(self) -> None:
        self._fire(Trigger.RESET_DONE)

    async def async_stop_conversation(self) -> None:
        """End what is going on (used by the mute switch and on request); idle stays idle."""
        await self._end("stopped")

    async def _answered(self) -> None:
        """After the answer, listen again without the wake word for the follow-up window."""
        if self._follow_up_seconds() <= 0:
            await self._end("done")
            return
        if not self._fire(Trigger.ANSWERED):
            return
        if self.keeper.toolset is not None:
            self.keeper.toolset.start_turn()
        await self._safe(self.link.listen())

    def _on_session_closed(self) -> None:
        if self.conversation is not None:
            self.hass.async_create_task(self._end("session_closed"))

    # --- announcements -------------------------------------------------------------------------

    async def async_announce(
        self,
        message: str,
        *,
        media_id: str | None = None,
        preannounce: bool = True,
        preannounce_media_id: str | None = None,
        listen_after: bool = False,
        extra_prompt: str | None = None,
        sound: bytes | None = None,
    ) -> None:
        """Speak ``message`` in the model's voice (or play ``media_id``); returns when it has played.
        With ``listen_after`` (start_conversation) the satellite then listens without a wake word;
        ``sound`` is played first instead of the preannounce sound."""
        await self.announcer.async_announce(
            Announcement(
                message,
                media_id,
                preannounce,
                preannounce_media_id,
                listen_after,
                extra_prompt,
                sound=sound,
            )
        )

    async def async_ask_question(
        self,
        question: str,
        *,
        media_id: str | None = None,
        preannounce: bool = True,
        preannounce_media_id: str | None = None,
    ) -> str | None:
        """Ask, then listen without a wake word: the user's answer as heard (None: no answer before
        the conversation's watchdog ended it, or the user stopped the question)."""
        answer: asyncio.Future[str | None] = self.hass.loop.create_future()
        await self.announcer.async_announce(
            Announcement(
                question,
                media_id,
                preannounce,
                preannounce_media_id,
                listen_after=True,
                question=answer,
            )
        )
        return await answer

    async def async_take_turn_for_announcement(self) -> None:
        """Wait until the satellite is free for an announcement, and take it."""
        while not self._fire(Trigger.ANNOUNCE):
            if self.state == S.FOLLOW_UP:  # nobody has spoken yet: the announcement goes first
                await self._end("announcement")
            else:
                await self._state_changed()

    def announcement_finished(self) -> None:
        self._fire(Trigger.ANNOUNCED)

    # --- link events ---------------------------------------------------------------------------

    async def _on_link_event(self, event: LinkEvent) -> None:
        match event:
            case Audio(pcm=pcm):
                await self._user_audio(pcm)
            case protocol.Wake(model=model, score=score):
                self._fire_event(EVENT_WAKE_WORD_DETECTED, {"wake_word": model, "score": score})
                if self.conversation is None:
                    await self._start("wake")
            case protocol.BargeIn():
                await self._barge_in()
            case protocol.StopWord(model=model, stream_id=stream_id):
                await self._stop_word(model, stream_id)
            case protocol.PlaybackStopped(stream_id=stream_id, played_ms=played_ms, reason=why):
                await self._playback_ended(stream_id, played_ms, interrupted=True, reason=why)
            case protocol.PlaybackFinished(stream_id=stream_id, played_ms=played_ms):
                await self._playback_ended(stream_id, played_ms, interrupted=False, reason=None)
            case protocol.ListenEnd(reason=reason) if reason in ("disconnected", "muted"):
                self.playbacks.remove_all()
                await self._end(reason)
            case protocol.ListenEnd(reason="timeout") if self.state == S.LISTENING:
                await self._end("listen_timeout")  # the satellite's own limit on listening
            case protocol.Error(code=code, message=message):
                self._satellite_log.log(
                    "error",
                    "Satellite %s reports %s: %s",
                    self.link.name,
                    code,
                    message,
                )

    async def _user_audio(self, pcm: bytes) -> None:
        if self.conversation is None:
            return
        if self.state in (S.LISTENING, S.FOLLOW_UP):
            self._expect_audio()
        if self._pending_audio is not None:
            if len(self._pending_audio) + len(pcm) <= MAX_PENDING_AUDIO_BYTES:
                self._pending_audio.extend(pcm)
            return
        session = self.session
        if session is not None:
            await session.append_audio(pcm)

    async def _barge_in(self) -> None:
        """The wake word during playback: stop the model, keep what was heard, listen again."""
        session = self.session
        if session is not None:
            # Also when no response is known to be in flight: one may have been created that we
            # have not heard of yet. The endpoint answers response_cancel_not_active otherwise.
            await session.cancel_response()
        if self.conversation is None:
            await self._start("barge_in")
        else:
            self._fire(Trigger.BARGE_IN)

    async def _stop_word(self, model: str, stream_id: str | None) -> None:
        """A stop word during playback: silence, and the conversation ends without listening.

        The satellite has stopped already and reports ``playback_stopped(stop_word)`` next; the
        answer is truncated there, then the conversation ends. An announcement just stops (and a
        start_conversation does not listen after it).
        """
        self._satellite_log.log(
            "stop_word",
            "Stop word %s on %s during %s",
            model,
            self.link.name,
            stream_id,
            level=logging.INFO,
        )
        if self.announcer.stop_word(stream_id):
            return
        conversation = self.conversation
        if conversation is None:
            return
        session = self.session
        if session is not None and self._responses_in_flight:
            await session.cancel_response()
        conversation.stopping = True
        # Answers not played yet are dropped; their late audio finds no playback.
        for answer in self.playbacks.answers():
            if answer.stream_id != stream_id:
                self.playbacks.remove(answer.stream_id)
        if self.playbacks.get(stream_id) is None:
            await self._end("stop_word")  # nothing left to truncate

    async def _playback_ended(
        self, stream_id: str, played_ms: int, *, interrupted: bool, reason: str | None
    ) -> None:
        playback = self.playbacks.remove(stream_id, played_ms)
        if playback is None or playback.kind != "response":
            return
        session = self.session
        if interrupted and playback.item_id is not None and session is not None:
            # The model's memory of what it said must match what the user heard.
            await session.truncate(playback.item_id, playback.content_index, played_ms)
            if reason == "barge_in":
                return  # _barge_in already listens
        conversation = self.conversation
        if conversation is None:
            return
        if conversation.stopping or reason == "stop_word":
            await self._end("stop_word")  # after the truncation: the reset comes last
        elif not self.playbacks.answers() and not self._responses_in_flight:
            await self._answered()

    # --- Realtime events -----------------------------------------------------------------------

    async def _on_realtime_event(self, event: rt.RealtimeEvent) -> None:
        try:
            await self._dispatch_realtime(event)
        except SatelliteOfflineError as err:
            _LOGGER.debug("Dropped %s: %s", type(event).__name__, err)

    async def _dispatch_realtime(self, event: rt.RealtimeEvent) -> None:
        conversation = self.conversation
        match event:
            case rt.SpeechStarted():
                if self.state == S.LISTENING:
                    self._arm(MAX_UTTERANCE_S, "listen_timeout")
                else:
                    self._fire(Trigger.SPEECH_STARTED)
            case rt.SpeechStopped() if conversation is not None:
                if self._fire(Trigger.SPEECH_STOPPED):
                    await self._safe(self.link.stop_listening())
            case rt.InputTranscript(text=text, done=True) if conversation is not None:
                conversation.user.append(text)
                if conversation.question is not None:
                    if not conversation.question.done():
                        conversation.question.set_result(text)
                    await self._end("answered")
                elif conversation.confirmation is not None:
                    await self._confirm(conversation, text)
            case rt.ResponseStarted(out_of_band=False) if (
                conversation is not None and conversation.question is not None
            ):
                # The answer to a question goes to the automation, not to the model.
                if (session := self.session) is not None:
                    await session.cancel_response()
            case rt.ResponseStarted(response_id=response_id, out_of_band=True):
                if self.announcer.current is not None:
                    self.playbacks.bind_response(response_id, self.announcer.current.stream_id)
            case rt.ResponseStarted(response_id=response_id) if conversation is not None:
                self._responses_in_flight += 1
                self.playbacks.add(Playback(stream_id=response_id, kind="response"))
                if self.state == S.PROCESSING:
                    self._arm(ANSWER_TIMEOUT_S, "no_answer")
            case rt.AudioDelta(response_id=response_id, item_id=item_id, pcm=pcm):
                await self._play_delta(response_id, item_id, event.content_index, pcm)
            case rt.AudioDone(response_id=response_id):
                playback = self.playbacks.for_response(response_id)
                if playback is not None and playback.kind == "response" and playback.started:
                    playback.ended = True
                    await self._safe(self.link.play_end(playback.stream_id))
            case rt.OutputTranscript(text=text, done=True) if conversation is not None:
                conversation.assistant.append(text)
            case rt.FunctionCall():
                await self._run_tool(event)
            case rt.ResponseDone():
                await self._response_done(event)
            case rt.Warning(code=code, message=message):
                _LOGGER.warning("Realtime warning on %s: %s (%s)", self.link.name, message, code)
            case rt.Reconnecting() if self.state in (S.LISTENING, S.PROCESSING):
                # The connection dropped while the user spoke or waited for the answer: what they
                # said is lost with it. Say so at once (the reconnect may take long), rather than
                # listen for an end of speech that the new connection never heard the start of.
                lost = "speech" if self.state == S.LISTENING else "answer"
                await self._play_error_tone()
                await self._end("connection_lost", lost=lost)
            case rt.Reconnecting() if self.state == S.FOLLOW_UP:
                await self._end("connection_lost")
            case rt.SessionReplaced() | rt.Reconnected() | rt.Closed():
                self._notify()

    async def _play_delta(
        self, response_id: str, item_id: str, content_index: int, pcm: bytes
    ) -> None:
        playback = self.playbacks.for_response(response_id)
        if playback is None or playback.ended:
            return  # a response we no longer want (cancelled, or the conversation ended)
        if not playback.started:
            playback.started = True
            playback.item_id = item_id
            playback.content_index = content_index
            # The satellite reports by stream id: an answer's stream id is its response id.
            await self._safe(self.link.play_start(playback.stream_id, "response"))
        playback.add_audio(pcm)
        if playback.kind == "response":
            self._fire(Trigger.ANSWER_AUDIO)  # (re)arms the watchdog for the audio sent so far
        await self._safe(self.link.play_audio(pcm))

    async def _response_done(self, event: rt.ResponseDone) -> None:
        usage = event.usage
        self.figures.total_tokens += usage.input_tokens + usage.output_tokens
        self.figures.total_cost_usd += event.cost_usd
        if event.metrics.first_audio_ms is not None and not event.out_of_band:
            self.figures.last_latency_ms = event.metrics.first_audio_ms
        self._notify()
        if event.out_of_band:
            self.announcer.spoken()
            return
        if self.conversation is None:
            return
        self._responses_in_flight = max(0, self._responses_in_flight - 1)
        playback = self.playbacks.get(event.response_id)
        if playback is None:
            return
        if playback.started:
            if not playback.ended:
                # Cut off (a dropped connection): end the stream, or the satellite waits for more.
                playback.ended = True
                await self._safe(self.link.play_end(playback.stream_id))
            return
        # No audio (a tool call, or cancelled): nothing will report playback for it.
        self.playbacks.remove(event.response_id)
        if self.playbacks.answers() or self._responses_in_flight:
            return
        if event.status == "completed" and event.metrics.function_calls == 0:
            await self._answered()
        elif event.status == "failed" and event.status_reason == "connection_lost":
            return  # Reconnecting follows at once and ends the conversation, saying so
        elif event.status == "failed":
            await self._end("error: response_failed")

    async def _run_tool(self, call: rt.FunctionCall) -> None:
        session, toolset, conversation = self.session, self.keeper.toolset, self.conversation
        if session is None or toolset is None:
            return
        if conversation is not None and conversation.question is not None:
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
        if conversation is not None:
            conversation.tool_calls += 1
        if self.state == S.PROCESSING:
            self._arm(ANSWER_TIMEOUT_S, "no_answer")  # a tool is progress
        result = await toolset.async_call(call.name, call.arguments, call_id=call.call_id)
        held = toolset.take_held()
        if held is not None and conversation is not None and self.conversation is conversation:
            conversation.confirmation = held
            # The user's answer is HA's to hear: the model responds to it no more by itself.
            await self.keeper.async_refresh()
        await session.send_function_output(call.call_id, _json(result), respond=True)

    async def _confirm(self, conversation: Conversation, answer: str) -> None:
        """The user's words after a secure call's question: it runs only if they confirm; the
        model then hears what happened, as the output of that call made again by HA."""
        held, conversation.confirmation = conversation.confirmation, None
        session, toolset = self.session, self.keeper.toolset
        if held is None or session is None or toolset is None:
            return
        call_id = f"confirm_{uuid.uuid4().hex[:12]}"
        result = await toolset.async_resolve(held, answer, call_id=call_id)
        if toolset.secure_pin and conversation.user and conversation.user[-1] == answer:
            # The spoken PIN stays out of the conversation_ended event (and HA's event history).
            conversation.user[-1] = PIN_ANSWER_NOT_KEPT
        conversation.tool_calls += 1
        if self.state == S.PROCESSING:
            self._arm(ANSWER_TIMEOUT_S, "no_answer")
        await self.keeper.async_refresh()  # the model responds to the user again
        await session.add_function_call(call_id, held.name, _json(held.arguments))
        await session.send_function_output(call_id, _json(result), respond=True)

    # --- helpers -------------------------------------------------------------------------------

    def _fire_event(self, event_type: str, data: dict[str, Any]) -> None:
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


def _json(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"))
