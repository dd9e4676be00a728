"""The Assist pipeline brain: Home Assistant's own Assist pipeline (speech-to-text, the conversation
agent, text-to-speech) behind the conversation engine's brain interface (core/conversation/brain.py).

A turn runs the pipeline chosen on the satellite's device (its ``AssistPipelineSelect``, select.py)
from STT to TTS through the satellite's assist_satellite entity, as ESPHome and Wyoming satellites
do (``async_accept_pipeline_from_satellite``): HA gives the run the device, its area and the
conversation id, and shows it in the Assist debug view. The entity passes the run's events back here
(``on_pipeline_event``) and they become the engine's:

    STT_VAD_START -> SpeechStarted      STT_VAD_END -> SpeechStopped     STT_END -> UserSaid
    INTENT_END    -> AssistantSaid (``continue_conversation``: the follow-up window is kept open)
    TTS_END (or INTENT_PROGRESS with ``tts_start_streaming``) -> the TTS answer streamed as
                     AnswerStarted, AnswerAudio..., AnswerAudioDone, AnswerDone
    ERROR         -> a log line, then AnswerDone("failed") (the engine plays the error tone)

A run that ends without an answer (nothing to say) ends the turn as answered; a run that breaks
ends it as failed: the conversation never waits for events that cannot come. A pipeline that cannot
take a turn (no speech-to-text, no text-to-speech) is refused before the user's audio is taken, with
a repair saying why. A run cannot be cancelled part way nor truncated: the abilities say so.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import AsyncIterable, AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from homeassistant.components import tts
from homeassistant.components.assist_pipeline import (
    Pipeline,
    PipelineEvent,
    PipelineEventType,
    PipelineNotFound,
    async_get_pipeline,
)
from homeassistant.components.assist_pipeline.select import get_chosen_pipeline
from homeassistant.config_entries import ConfigEntry
from homeassistant.core import HomeAssistant
from homeassistant.exceptions import HomeAssistantError
from homeassistant.helpers import issue_registry as ir

from .const import DOMAIN
from .core.conversation import brain as b
from .core.conversation.brain import (
    BrainAbilities,
    BrainEventHandler,
    SpeakError,
    Turn,
    TurnRefused,
)
from .core.link.log_limit import RateLimitedLog
from .pipeline_audio import TTS_OPTIONS, SpeechResampler, TtsAudioError, async_tts_pcm
from .session_keeper import Figures

_LOGGER = logging.getLogger(__name__)

# When the agent asks for more (``continue_conversation``), the user's answer is listened for at
# least this long, whatever the follow-up window (which may be off).
CONTINUE_LISTEN_S = 8.0


class PipelineSatellite(Protocol):
    """The satellite's assist_satellite entity as the pipeline brain sees it."""

    async def async_run_pipeline(self, audio: AsyncIterable[bytes], *, question: bool) -> None:
        """Run the entity's pipeline from STT (to STT only for a question, else to TTS) on
        ``audio`` (16 kHz PCM16 mono); returns when the run ended."""


def unique_id_prefix(entry: ConfigEntry) -> str:
    """What the satellite's entities' unique ids start with (the pipeline selects' too)."""
    return entry.unique_id or entry.entry_id


def chosen_pipeline(hass: HomeAssistant, entry: ConfigEntry) -> Pipeline:
    """The pipeline chosen on the satellite's device (the preferred one unless another is chosen;
    HA's select falls back to the preferred one when the chosen one is deleted). Raises
    PipelineNotFound."""
    return async_get_pipeline(hass, get_chosen_pipeline(hass, DOMAIN, unique_id_prefix(entry)))


def pipeline_issue_id(entry: ConfigEntry) -> str:
    return f"pipeline_unusable_{entry.entry_id}"


@dataclass
class _Run:
    """One pipeline run: the user's audio to it, and what it has said so far."""

    question: bool
    audio: asyncio.Queue[bytes | None] = field(default_factory=asyncio.Queue)
    resampler: SpeechResampler = field(default_factory=SpeechResampler)
    task: asyncio.Task[None] | None = None
    tts_task: asyncio.Task[None] | None = None
    tts_token: str | None = None
    answering: bool = False  # its answer is being (or was) streamed
    error: str | None = None  # the code of its ERROR event
    speech_stopped: float | None = None  # monotonic, for the latency figure
    heard_end: bool = False  # SpeechStopped was sent
    closed: bool = False

    def feed(self, pcm: bytes) -> None:
        if not self.closed:
            self.audio.put_nowait(self.resampler.convert(pcm))

    def close_audio(self) -> None:
        if not self.closed:
            self.closed = True
            self.audio.put_nowait(None)

    async def stream(self) -> AsyncIterator[bytes]:
        while (chunk := await self.audio.get()) is not None:
            if chunk:
                yield chunk


class PipelineBrain:
    """One satellite's conversations through Home Assistant's Assist pipeline."""

    # A pipeline run cannot be stopped part way, nor told what the user did not hear.
    abilities = BrainAbilities(cancel=False, truncate=False)

    def __init__(
        self,
        hass: HomeAssistant,
        entry: ConfigEntry,
        *,
        name: str,
        device_id: str | None,
        satellite: Callable[[], PipelineSatellite | None],
    ) -> None:
        self._hass = hass
        self._entry = entry
        self._name = name
        self._device_id = device_id
        self._satellite = satellite
        self._handler: BrainEventHandler | None = None
        self._log = RateLimitedLog(_LOGGER, 60.0, burst=3)
        self.figures = Figures()
        self._turn: Turn | None = None
        self._run: _Run | None = None
        self._continue = False  # the agent asked for more in its last answer
        # The run's events, handled in order (the entity hands them over synchronously); None
        # after a run: it is over.
        self._events: asyncio.Queue[tuple[_Run, PipelineEvent | None]] = asyncio.Queue()
        self._consumer: asyncio.Task[None] | None = None

    def attach(self, handler: BrainEventHandler) -> None:
        self._handler = handler

    async def _emit(self, event: b.BrainEvent) -> None:
        if self._handler is not None:
            await self._handler(event)

    async def start(self) -> None:
        """Nothing to open (a pipeline runs per turn); the run's events are handled from now on."""
        self._consumer = self._entry.async_create_background_task(
            self._hass, self._consume(), f"realtime_voice pipeline events {self._name}"
        )

    async def stop(self) -> None:
        self._end_run()
        if self._consumer is not None:
            self._consumer.cancel()
            self._consumer = None

    # --- turns ---------------------------------------------------------------------------------

    async def start_turn(self, turn: Turn, take_audio: Callable[[], bytes]) -> None:
        satellite = self._satellite()
        if satellite is None:  # the entity is not added (yet, or disabled)
            self._log.log(
                "start",
                "Cannot start a conversation on %s: its assist_satellite entity is not there",
                self._name,
                level=logging.ERROR,
            )
            raise TurnRefused("error: pipeline_satellite_missing")
        self._check_pipeline(question=turn.question)
        self._turn = turn
        self._continue = False
        run = self._start_run(satellite, question=turn.question)
        run.feed(take_audio())

    def _check_pipeline(self, *, question: bool) -> None:
        """Refuse (with a repair saying why) a pipeline that cannot take the turn."""
        problem: str | None = None
        pipeline_name = "-"
        try:
            pipeline = chosen_pipeline(self._hass, self._entry)
        except PipelineNotFound:
            problem = "pipeline_not_found"
        else:
            pipeline_name = pipeline.name
            if pipeline.stt_engine is None:
                problem = "pipeline_no_stt"
            elif pipeline.tts_engine is None and not question:
                problem = "pipeline_no_tts"
        issue_id = pipeline_issue_id(self._entry)
        if problem is None:
            ir.async_delete_issue(self._hass, DOMAIN, issue_id)
            return
        self._log.log(
            "start",
            "Cannot start a conversation on %s: the Assist pipeline %s cannot take it (%s)",
            self._name,
            pipeline_name,
            problem,
            level=logging.ERROR,
        )
        ir.async_create_issue(
            self._hass,
            DOMAIN,
            issue_id,
            is_fixable=False,
            severity=ir.IssueSeverity.ERROR,
            translation_key=problem,
            translation_placeholders={"name": self._name, "pipeline": pipeline_name},
        )
        raise TurnRefused(f"error: {problem}")

    def _start_run(self, satellite: PipelineSatellite, *, question: bool) -> _Run:
        self._end_run()
        run = _Run(question=question)
        self._run = run
        run.task = self._entry.async_create_background_task(
            self._hass,
            self._run_pipeline(run, satellite),
            f"realtime_voice pipeline {self._name}",
        )
        return run

    async def _run_pipeline(self, run: _Run, satellite: PipelineSatellite) -> None:
        try:
            await satellite.async_run_pipeline(run.stream(), question=run.question)
        except asyncio.CancelledError:
            task = asyncio.current_task()
            if task is not None and task.cancelling():
                raise  # the turn ended: nobody waits for this run
            # HA cancelled it (an announcement or a conversation started through HA's entity)
            run.error = run.error or "pipeline_cancelled"
        except (HomeAssistantError, RuntimeError, ValueError) as err:
            # raised before the run started (a pipeline entity gone, a bad option)
            _LOGGER.error("The Assist pipeline of %s could not run: %s", self._name, err)
            run.error = run.error or "pipeline_failed"
        self._events.put_nowait((run, None))

    async def send_audio(self, pcm: bytes) -> None:
        if self._run is not None:
            self._run.feed(pcm)

    async def next_turn(self) -> None:
        """The follow-up: a new run of the same conversation (HA keeps its id on the entity)."""
        self._continue = False
        satellite = self._satellite()
        if satellite is not None and self._turn is not None:
            self._start_run(satellite, question=False)

    async def cancel(self) -> None:
        """Never called: ``abilities.cancel`` is False."""

    async def truncate(self, answer_id: str, played_ms: int) -> None:
        """Never called: ``abilities.truncate`` is False."""

    async def end_turn(self, *, answering: bool, listening: bool) -> None:
        self._turn = None
        self._end_run()

    def _end_run(self) -> None:
        run, self._run = self._run, None
        if run is None:
            return
        run.close_audio()
        for task in (run.task, run.tts_task):
            if task is not None and not task.done():
                task.cancel()

    def drop_context(self, done: Callable[[], None]) -> None:
        """HA keeps the conversation (its chat session expires by itself, as for every
        satellite): nothing to drop."""
        done()

    def listen_at_least_s(self) -> float:
        return CONTINUE_LISTEN_S if self._continue else 0.0

    # --- the run's events ----------------------------------------------------------------------

    def on_pipeline_event(self, event: PipelineEvent) -> None:
        """An event of the running pipeline (from the entity, in the event loop)."""
        if self._run is not None:
            self._events.put_nowait((self._run, event))

    async def _consume(self) -> None:
        while True:
            run, event = await self._events.get()
            if run is not self._run:
                continue  # a run of a turn that ended
            try:
                if event is None:
                    await self._run_over(run)
                else:
                    await self._on_event(run, event)
            except Exception:
                _LOGGER.exception("Handling an Assist pipeline event of %s", self._name)

    async def _on_event(self, run: _Run, event: PipelineEvent) -> None:
        data: dict[str, Any] = event.data or {}
        match event.type:
            case PipelineEventType.RUN_START:
                if tts_output := data.get("tts_output"):
                    run.tts_token = tts_output.get("token")
            case PipelineEventType.STT_VAD_START:
                await self._emit(b.SpeechStarted())
            case PipelineEventType.STT_VAD_END:
                await self._speech_ended(run)
            case PipelineEventType.STT_END:
                await self._speech_ended(run)  # also when the STT said so without the VAD
                text = str((data.get("stt_output") or {}).get("text") or "")
                await self._emit(b.UserSaid(text))
            case PipelineEventType.INTENT_PROGRESS if data.get("tts_start_streaming"):
                self._speak_answer(run)  # the agent streams: so does its speech
            case PipelineEventType.INTENT_END:
                output = data.get("intent_output") or {}
                self._continue = bool(output.get("continue_conversation"))
                speech = (
                    (output.get("response") or {}).get("speech", {}).get("plain", {}).get("speech")
                )
                if speech:
                    await self._emit(b.AssistantSaid(str(speech)))
            case PipelineEventType.TTS_END:
                if tts_output := data.get("tts_output"):
                    run.tts_token = tts_output.get("token") or run.tts_token
                self._speak_answer(run)
            case PipelineEventType.ERROR:
                run.error = str(data.get("code") or "pipeline_error")
                self.figures.last_error = f"{run.error}: {data.get('message')}"
                self._log.log(
                    "error",
                    "Assist pipeline error on %s: %s (%s)",
                    self._name,
                    data.get("message"),
                    run.error,
                    level=logging.WARNING,
                )

    async def _speech_ended(self, run: _Run) -> None:
        run.close_audio()  # the pipeline reads no more of it
        if not run.heard_end:
            run.heard_end = True
            run.speech_stopped = time.monotonic()
            await self._emit(b.SpeechStopped())

    def _speak_answer(self, run: _Run) -> None:
        if run.answering or run.tts_token is None:
            return
        stream = tts.async_get_stream(self._hass, run.tts_token)
        if stream is None:
            return
        run.answering = True
        run.tts_task = self._entry.async_create_background_task(
            self._hass, self._stream_answer(run, stream), f"realtime_voice answer {self._name}"
        )

    async def _stream_answer(self, run: _Run, stream: tts.ResultStream) -> None:
        answer_id = uuid.uuid4().hex
        await self._emit(b.AnswerStarted(answer_id))
        outcome: b.AnswerOutcome = "done"
        error: str | None = None
        try:
            async for pcm in async_tts_pcm(stream):
                if run.speech_stopped is not None:
                    self.figures.last_latency_ms = (time.monotonic() - run.speech_stopped) * 1000
                    run.speech_stopped = None
                    await self._emit(b.Changed())
                await self._emit(b.AnswerAudio(answer_id, pcm))
        except asyncio.CancelledError:
            raise  # the turn ended: the engine wants no more of it
        except (TtsAudioError, HomeAssistantError, OSError) as err:
            _LOGGER.warning(
                "The Assist pipeline's answer on %s cannot be played: %s", self._name, err
            )
            outcome, error = "failed", "tts-stream-failed"
        await self._emit(b.AnswerAudioDone(answer_id))
        await self._emit(b.AnswerDone(answer_id, outcome, error=error))

    async def _run_over(self, run: _Run) -> None:
        """The run ended: an answer being streamed finishes the turn; otherwise it ends here."""
        if run.answering:
            return
        if run.question and run.error is None:
            return  # UserSaid answered the question (the engine ended the conversation)
        if run.error is None:
            await self._speech_ended(run)  # (the engine answers only once the user has spoken)
        answer_id = uuid.uuid4().hex
        await self._emit(b.AnswerStarted(answer_id))
        if run.error is not None:
            await self._emit(b.AnswerDone(answer_id, "failed", error=run.error))
        else:  # nothing to say: answered
            await self._emit(b.AnswerDone(answer_id, "done"))

    # --- announcements -------------------------------------------------------------------------

    async def speak(self, text: str) -> AsyncIterator[bytes]:
        """``text`` spoken by the chosen pipeline's text-to-speech (its engine, language, voice)."""
        try:
            pipeline = chosen_pipeline(self._hass, self._entry)
        except PipelineNotFound as err:
            raise SpeakError(str(err)) from err
        engine = tts.async_resolve_engine(self._hass, pipeline.tts_engine)
        if engine is None:
            raise SpeakError(f"the Assist pipeline {pipeline.name} has no text-to-speech")
        options: dict[str, Any] = dict(TTS_OPTIONS)
        if pipeline.tts_voice is not None:
            options[tts.ATTR_VOICE] = pipeline.tts_voice
        try:
            stream = tts.async_create_stream(
                self._hass, engine=engine, language=pipeline.tts_language, options=options
            )
            stream.async_set_message(text)
            async for pcm in async_tts_pcm(stream):
                yield pcm
        except (TtsAudioError, HomeAssistantError) as err:
            raise SpeakError(str(err)) from err
