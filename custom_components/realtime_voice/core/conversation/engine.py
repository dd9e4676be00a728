"""The conversation engine: the satellite's side of one satellite's conversations, HA-free.

Link events (wake word, the user's audio, barge-in, stop word, the satellite's playback reports) and
the brain's events (brain.py) move the conversation through its states (states.py); a watchdog
bounds each state. Audio flows satellite -> brain while listening and brain -> satellite (through
the stream sender, streams.py) while responding; a wake word during playback cancels the answer and
truncates it at what the user heard; a stop word does the same and ends the conversation.
Announcements take their turn here (the announcer asks for it through ``AnnouncementTurns``).
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import Callable, Coroutine
from typing import Any

from ..link import Audio, LinkEvent, protocol
from ..link.log_limit import RateLimitedLog
from . import brain as b
from .brain import Brain, Turn, TurnRefused
from .ports import SatelliteLink, SatelliteOfflineError
from .states import Conversation, ConversationState, Trigger, next_state
from .streams import StreamSender

_LOGGER = logging.getLogger(__name__)

S = ConversationState
# The watchdog: how long each state may last without progress (seconds).
NO_SPEECH_TIMEOUT_S = 8.0  # after the wake word, until the user starts speaking
MAX_UTTERANCE_S = 30.0  # the user speaking (a loud TV never stops)
ANSWER_TIMEOUT_S = 30.0  # from the end of speech (or a tool call) to the answer's audio
PLAYBACK_GRACE_S = 10.0  # after the end of the answer's audio, until the satellite reports it
NO_AUDIO_TIMEOUT_S = 3.0  # listening, but the satellite sends no audio (it streams every 20 ms)
# Audio heard while the brain gets ready (after a wake word that came during a reset) is kept, up
# to this much, and sent once it is.
MAX_PENDING_AUDIO_BYTES = 10 * protocol.AUDIO_RATE * protocol.AUDIO_SAMPLE_BYTES
# Full duplex: when the satellite's audio stalls this long (a network blip, the microphone closed
# while an answer plays), silence goes to the brain in its place, since a full-duplex brain's clock
# moves only with its input.
STALL_S = 0.1
SILENCE_FRAME_S = 0.02
SILENCE_FRAME = bytes(protocol.AUDIO_FRAME_BYTES)

# What the engine reports (the integration fires them on HA's bus).
WAKE_WORD_DETECTED = "wake_word_detected"
CONVERSATION_STARTED = "conversation_started"
CONVERSATION_ENDED = "conversation_ended"

Spawn = Callable[[Coroutine[Any, Any, None], str], object]


def _spawn(coro: Coroutine[Any, Any, None], name: str) -> object:
    return asyncio.get_running_loop().create_task(coro, name=name)


class ConversationEngine:
    """Runs one satellite's conversations with one brain, and gives announcements their turn."""

    def __init__(
        self,
        link: SatelliteLink,
        brain: Brain,
        streams: StreamSender,
        *,
        follow_up_s: Callable[[], float],
        error_tone: Callable[[], bytes],
        report: Callable[[str, dict[str, Any]], None] = lambda kind, data: None,
        spawn: Spawn = _spawn,
        spawn_background: Spawn = _spawn,
        log: logging.Logger = _LOGGER,
    ) -> None:
        self.link = link
        self.brain = brain
        self.streams = streams
        self._follow_up_option = follow_up_s
        self._error_tone = error_tone
        self._report = report
        self._spawn = spawn
        self._spawn_background = spawn_background
        # The lines the satellite's events cause (one holding the key could send them in a
        # flood): a few a minute of each kind at most.
        self._satellite_log = RateLimitedLog(log, 60.0, burst=3)
        self.state = S.IDLE
        self.conversation: Conversation | None = None
        self._listeners: list[Callable[[], None]] = []
        self._state_waiters: list[asyncio.Future[None]] = []
        self._watchdog: asyncio.TimerHandle | None = None
        self._audio_watchdog: asyncio.TimerHandle | None = None
        self._answers_in_flight = 0
        self._pending_audio: bytearray | None = None  # not None while the brain gets ready
        self._silence: asyncio.TimerHandle | None = None  # full duplex: fills stalls
        self._last_input = 0.0  # when audio last went to the brain (loop time; full duplex)
        self._duplex_for: str | None = None  # the conversation the satellite streams in full duplex
        self.conversations = 0  # started since the engine was made
        brain.attach(self._on_brain_event)

    # --- life cycle ----------------------------------------------------------------------------

    def stop(self) -> None:
        self._disarm()
        self._stop_expecting_audio()
        self._stop_silence()

    @property
    def _full_duplex(self) -> bool:
        return self.brain.abilities.full_duplex

    def add_state_listener(self, listener: Callable[[], None]) -> Callable[[], None]:
        self._listeners.append(listener)
        return lambda: self._listeners.remove(listener)

    def _notify(self) -> None:
        for listener in list(self._listeners):
            listener()

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
        self._watchdog = asyncio.get_running_loop().call_later(
            seconds, lambda: self._spawn(self._end(reason), f"realtime_voice {reason}")
        )

    def _disarm(self) -> None:
        if self._watchdog is not None:
            self._watchdog.cancel()
            self._watchdog = None

    def _expect_audio(self) -> None:
        """While listening, the satellite streams its microphone: silence on the link means it
        stopped (a blip, a crash), and the conversation must not wait for speech that cannot come."""
        self._stop_expecting_audio()
        self._audio_watchdog = asyncio.get_running_loop().call_later(
            NO_AUDIO_TIMEOUT_S,
            lambda: self._spawn(self._end("no_audio"), "realtime_voice no_audio"),
        )

    def _stop_expecting_audio(self) -> None:
        if self._audio_watchdog is not None:
            self._audio_watchdog.cancel()
            self._audio_watchdog = None

    def _keep_input_flowing(self) -> None:
        """Full duplex: every STALL_S, silence for the time no audio went to the brain (the
        satellite's resumes as it comes: the brain hears a pause, never a gap)."""
        self._stop_silence()
        loop = asyncio.get_running_loop()
        self._last_input = loop.time()

        def tick() -> None:
            self._silence = loop.call_later(STALL_S, tick)
            if self._pending_audio is not None or not self._full_duplex:
                return  # the brain is not ready (its audio is kept), or it does not need it
            frames = int((loop.time() - self._last_input) / SILENCE_FRAME_S)
            if frames * SILENCE_FRAME_S >= STALL_S:
                self._last_input += frames * SILENCE_FRAME_S
                self._spawn(self.brain.send_audio(SILENCE_FRAME * frames), "realtime_voice silence")

        self._silence = loop.call_later(STALL_S, tick)

    def _stop_silence(self) -> None:
        if self._silence is not None:
            self._silence.cancel()
            self._silence = None

    def _follow_up_seconds(self) -> float:
        """How long to listen after an answer; a question of the brain that HA waits for the
        answer of (a secure call's confirmation) may ask for longer."""
        return max(self._follow_up_option(), self.brain.listen_at_least_s())

    def _playing_for(self) -> float:
        """Seconds of answer audio not played yet (at most: what was sent)."""
        return max((p.audio_ms for p in self.streams.playbacks.answers()), default=0.0) / 1000

    async def _state_changed(self) -> None:
        waiter = asyncio.get_running_loop().create_future()
        self._state_waiters.append(waiter)
        await waiter

    # --- conversations -------------------------------------------------------------------------

    async def start_conversation(
        self,
        reason: str,
        *,
        extra_prompt: str | None = None,
        question: asyncio.Future[str | None] | None = None,
    ) -> None:
        """A conversation without a wake word (start_conversation, ask_question): the satellite is
        asked to listen."""
        if await self._start(reason, extra_prompt=extra_prompt, question=question):
            await self._listen()
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
        self._answers_in_flight = 0
        self.conversations += 1
        self._pending_audio = bytearray()
        self._fire(Trigger.START)
        self._keep_input_flowing()
        self._report(CONVERSATION_STARTED, {"conversation_id": conversation.id, "reason": reason})
        # The user's audio is kept from now on and flows as soon as the brain is ready; the link
        # handler does not wait for it (it must go on receiving that audio).
        self._spawn_background(
            self._prepare(conversation, extra_prompt), f"realtime_voice start {self.link.name}"
        )
        return True

    async def _prepare(self, conversation: Conversation, extra_prompt: str | None) -> None:
        turn = Turn(conversation.id, extra_prompt, question=conversation.question is not None)

        def take_audio() -> bytes:
            pending, self._pending_audio = self._pending_audio, None
            return bytes(pending or b"") if self.conversation is conversation else b""

        try:
            await self.brain.start_turn(turn, take_audio)
        except TurnRefused as err:
            if self.conversation is conversation:
                await self._play_error_tone()
                await self._end(err.reason, lost=err.lost)

    async def _play_error_tone(self) -> None:
        await self._safe(self.streams.play_once("chime", self._error_tone()))

    async def _end(self, reason: str, *, lost: str | None = None) -> None:
        """End the open conversation, whatever it is doing; then drop its context. ``lost``: what
        a dropped connection took with it (in the event)."""
        conversation, state = self.conversation, self.state
        if conversation is None or not self._fire(Trigger.END):
            return
        self.conversation = None
        self._pending_audio = None
        self._stop_silence()
        if conversation.question is not None and not conversation.question.done():
            conversation.question.set_result(None)
        # Read before end_turn: the Live brain's session closes there, and with it full duplex.
        streaming = state in (S.LISTENING, S.FOLLOW_UP) or self._full_duplex
        await self.brain.end_turn(
            answering=self._answers_in_flight > 0, listening=state in (S.LISTENING, S.FOLLOW_UP)
        )
        self._answers_in_flight = 0
        playbacks = self.streams.playbacks
        if reason not in ("disconnected", "muted"):
            if streaming:
                await self._safe(self.link.stop_listening())
            for answer in playbacks.answers():
                if answer.started and reason not in ("done", "stop_word"):
                    await self._safe(self.streams.stop(answer.stream_id))
        for answer in playbacks.answers():
            playbacks.remove(answer.stream_id)
        self._report(
            CONVERSATION_ENDED,
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
        self.brain.drop_context(self._reset_done)

    def _reset_done(self) -> None:
        self._fire(Trigger.RESET_DONE)

    async def stop_conversation(self) -> None:
        """End what is going on (used by the mute switch and on request); idle stays idle."""
        await self._end("stopped")

    async def _answered(self) -> None:
        """After the answer, listen again without the wake word for the follow-up window."""
        if self._follow_up_seconds() <= 0:
            await self._end("done")
            return
        if not self._fire(Trigger.ANSWERED):
            return
        await self.brain.next_turn()
        await self._listen()

    async def _listen(self) -> None:
        """Ask the satellite to listen; for a full-duplex brain also while it speaks."""
        if self._full_duplex and self.conversation is not None:
            self._duplex_for = self.conversation.id
        await self._safe(self.link.listen(full_duplex=self._full_duplex))

    async def _ask_full_duplex(self) -> None:
        """Once per conversation, as soon as its brain is full duplex (a Live session opens after
        the wake word): the satellite, listening since the wake word, goes on while it speaks."""
        conversation = self.conversation
        if conversation is not None and self._full_duplex and self._duplex_for != conversation.id:
            await self._listen()

    # --- announcements' turn (AnnouncementTurns) -----------------------------------------------

    @property
    def in_conversation(self) -> bool:
        return self.conversation is not None

    @property
    def announcing(self) -> bool:
        return self.state == S.ANNOUNCING

    async def take_turn_for_announcement(self) -> None:
        """Wait until the satellite is free for an announcement, and take it."""
        while not self._fire(Trigger.ANNOUNCE):
            if self.state == S.FOLLOW_UP:  # nobody has spoken yet: the announcement goes first
                await self._end("announcement")
            else:
                await self._state_changed()

    def announcement_finished(self) -> None:
        self._fire(Trigger.ANNOUNCED)

    # --- link events ---------------------------------------------------------------------------

    async def on_link_event(self, event: LinkEvent) -> None:
        match event:
            case Audio(pcm=pcm):
                await self._user_audio(pcm)
            case protocol.Wake(model=model, score=score):
                self._report(WAKE_WORD_DETECTED, {"wake_word": model, "score": score})
                if self.conversation is None and await self._start("wake"):
                    await self._ask_full_duplex()
            case protocol.BargeIn():
                await self._barge_in()
            case protocol.StopWord(model=model, stream_id=stream_id):
                await self._stop_word(model, stream_id)
            case protocol.PlaybackStopped(stream_id=stream_id, played_ms=played_ms, reason=why):
                await self._playback_ended(stream_id, played_ms, interrupted=True, reason=why)
            case protocol.PlaybackFinished(stream_id=stream_id, played_ms=played_ms):
                await self._playback_ended(stream_id, played_ms, interrupted=False, reason=None)
            case protocol.ListenEnd(reason=reason) if reason in ("disconnected", "muted"):
                self.streams.playbacks.remove_all()
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
        self._last_input = asyncio.get_running_loop().time()
        await self.brain.send_audio(pcm)

    async def _barge_in(self) -> None:
        """The wake word during playback: stop the brain, keep what was heard, listen again.

        A full-duplex brain is not cancelled: barge-in is its own (it hears the user over its
        voice and stops); the satellite stopped playing already, and the rest of that answer finds
        no stream."""
        if self.brain.abilities.cancel and not self._full_duplex:
            # Also when no answer is known to be in flight: one may have been started that we
            # have not heard of yet.
            await self.brain.cancel()
        if self.conversation is None:
            if await self._start("barge_in"):
                await self._ask_full_duplex()
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
        playbacks = self.streams.playbacks
        announcement = playbacks.announcement()
        if announcement is not None and stream_id in (None, announcement.stream_id):
            announcement.stop_word = True  # the announcer sends no more of it
            return
        conversation = self.conversation
        if conversation is None:
            return
        if self._answers_in_flight and self.brain.abilities.cancel:
            await self.brain.cancel()
        conversation.stopping = True
        # Answers not played yet are dropped; their late audio finds no stream.
        for answer in playbacks.answers():
            if answer.stream_id != stream_id:
                playbacks.remove(answer.stream_id)
        if playbacks.get(stream_id) is None:
            await self._end("stop_word")  # nothing left to truncate

    async def _playback_ended(
        self, stream_id: str, played_ms: int, *, interrupted: bool, reason: str | None
    ) -> None:
        playback = self.streams.playbacks.remove(stream_id, played_ms)
        if playback is None or playback.kind != "response":
            return
        if interrupted and self.brain.abilities.truncate:
            # The brain's memory of what it said must match what the user heard.
            await self.brain.truncate(stream_id, played_ms)
        if interrupted and reason == "barge_in":
            if self.conversation is not None and self.state == S.LISTENING:
                # _barge_in listens already; the user speaks again: a new turn (the pipeline brain
                # starts a new run for it; the Realtime session hears it as it is)
                await self.brain.next_turn()
            return
        conversation = self.conversation
        if conversation is None:
            return
        if conversation.stopping or reason == "stop_word":
            await self._end("stop_word")  # after the truncation: the reset comes last
        elif not self.streams.playbacks.answers() and not self._answers_in_flight:
            await self._answered()

    # --- the brain's events --------------------------------------------------------------------

    async def _on_brain_event(self, event: b.BrainEvent) -> None:
        try:
            await self._dispatch_brain(event)
        except SatelliteOfflineError as err:
            _LOGGER.debug("Dropped %s: %s", type(event).__name__, err)

    async def _dispatch_brain(self, event: b.BrainEvent) -> None:
        conversation = self.conversation
        match event:
            case b.SpeechStarted():
                if self.state == S.LISTENING:
                    self._arm(MAX_UTTERANCE_S, "listen_timeout")
                elif self.state == S.PROCESSING and self._full_duplex:
                    self._fire(Trigger.USER_SPEAKS)
                else:
                    self._fire(Trigger.SPEECH_STARTED)
            case b.SpeechStopped() if conversation is not None:
                # full duplex: the microphone stays open while the brain answers
                if self._fire(Trigger.SPEECH_STOPPED) and not self._full_duplex:
                    await self._safe(self.link.stop_listening())
            case b.UserSaid(text=text) if conversation is not None:
                conversation.user.append(text)
                if conversation.question is not None:
                    if not conversation.question.done():
                        conversation.question.set_result(text)
                    await self._end("answered")
            case b.AnswerStarted(answer_id=answer_id) if conversation is not None:
                self._answers_in_flight += 1
                self.streams.open("response", stream_id=answer_id)
                if self.state == S.PROCESSING:
                    self._arm(ANSWER_TIMEOUT_S, "no_answer")
            case b.AnswerAudio(answer_id=answer_id, pcm=pcm):
                await self._play_answer(answer_id, pcm)
            case b.AnswerAudioDone(answer_id=answer_id):
                stream = self.streams.get(answer_id)
                if stream is not None and stream.playback.started:
                    await self._safe(stream.end())
            case b.AssistantSaid(text=text) if conversation is not None:
                conversation.assistant.append(text)
            case b.AnswerDone():
                await self._answer_done(event)
            case b.Progress() if conversation is not None:
                conversation.tool_calls += 1
                if self.state == S.PROCESSING:
                    self._arm(ANSWER_TIMEOUT_S, "no_answer")  # a tool is progress
            case b.ConnectionLost() if self.state in (S.LISTENING, S.PROCESSING):
                # The connection dropped while the user spoke or waited for the answer: what they
                # said is lost with it. Say so at once (the reconnect may take long), rather than
                # listen for an end of speech that the new connection never heard the start of.
                lost = "speech" if self.state == S.LISTENING else "answer"
                await self._play_error_tone()
                await self._end("connection_lost", lost=lost)
            case b.ConnectionLost() if self.state == S.FOLLOW_UP:
                await self._end("connection_lost")
            case b.BrainClosed() if conversation is not None:
                await self._end("session_closed")
            case b.Changed():
                await self._ask_full_duplex()
                self._notify()

    async def _play_answer(self, answer_id: str, pcm: bytes) -> None:
        stream = self.streams.get(answer_id)
        if stream is None or stream.playback.ended:
            return  # an answer we no longer want (cancelled, or the conversation ended)
        if not stream.playback.started:
            # The satellite reports by stream id: an answer's stream id is its answer id.
            await self._safe(stream.start())
        await self._safe(stream.send(pcm))
        self._fire(Trigger.ANSWER_AUDIO)  # (re)arms the watchdog for the audio sent so far

    async def _answer_done(self, event: b.AnswerDone) -> None:
        if self.conversation is None:
            return
        self._answers_in_flight = max(0, self._answers_in_flight - 1)
        stream = self.streams.get(event.answer_id)
        if stream is None:
            return
        if stream.playback.started:
            if event.outcome == "stopped" and self._full_duplex:
                # A full-duplex brain stopped for the user (barge-in is its own): what the
                # satellite still holds of the answer was never meant to be heard.
                await self._safe(stream.stop())
                return
            # Cut off (a dropped connection): end the stream, or the satellite waits for more.
            await self._safe(stream.end())
            return
        # No audio (a tool call, or cancelled): nothing will report playback for it.
        stream.close()
        if self.streams.playbacks.answers() or self._answers_in_flight:
            return
        if event.outcome == "done":
            await self._answered()
        elif event.outcome == "failed":
            # The user hears that it failed (not silence until they give up waiting).
            await self._play_error_tone()
            await self._end(f"error: {event.error or 'response_failed'}")
        # cut: ConnectionLost follows at once and ends the conversation, saying so

    # --- helpers -------------------------------------------------------------------------------

    @staticmethod
    async def _safe(command: Any) -> None:
        """Send a link command; a satellite that went offline meanwhile is not an error here."""
        try:
            await command
        except SatelliteOfflineError as err:
            _LOGGER.debug("Link command skipped: %s", err)
