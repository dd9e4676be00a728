"""What the satellite hears: the audio processing of the microphone and of the answers, without
the agent's decisions. It runs on the capture worker's thread (:mod:`.capture`), never on the
event loop.

:meth:`Hearing.hear` takes one microphone block and gives a :class:`Heard`: the audio for HA,
the wake words and stop words detected, and the voice barge-in's score. Which of them run, and at
which thresholds, depends on the agent's state, which it gets as a :class:`HearingState` with the
block: the event loop owns the state and publishes an immutable copy of it whenever it changes,
so the worker never reads an object the loop is changing (nor one half changed). The DSP chain,
the detectors, the VAD and the own-voice guards' detectors belong to this thread alone once the
worker runs; the loop only keeps what it decides with (the guards' hits, see :mod:`.own_voice`).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

import numpy as np
import soxr

from ..audio import WAKE_RATE, DspChain, DspFrame
from ..link.protocol import AUDIO_RATE
from ..wakeword import Detection
from ..wakeword.detector import FrontEnd
from .echo_gate import EchoGate
from .own_voice import OwnVoice
from .voice import VoiceBargeIn

_LOGGER = logging.getLogger(__name__)


class Detector(Protocol):
    """What hearing needs of a wake word detector (``WakeWordDetector``, or a scripted one)."""

    thresholds: tuple[float, ...]
    recommended_thresholds: tuple[float, ...]

    @property
    def names(self) -> list[str]: ...

    def process(self, samples_16k: np.ndarray) -> list[Detection]: ...


def wanted_thresholds(detector: Detector, threshold: float | None) -> tuple[float, ...]:
    """One threshold per model: ``threshold`` for all, or None: each model's recommended one."""
    if threshold is None:
        return detector.recommended_thresholds
    return (threshold,) * len(detector.names)


@dataclass(frozen=True, slots=True)
class HearingState:
    """The agent's state, as far as it decides what runs on a block."""

    muted: bool = False
    speaking: bool = False  # an answer or announcement plays (not a chime)
    echo_guard_until: float = float("-inf")  # monotonic time: the barge-in threshold until then
    thresholds: tuple[float, ...] = ()  # the wake words' thresholds outside the guard
    guarded_thresholds: tuple[float, ...] = ()  # while speaking and during the echo guard
    active: frozenset[str] = frozenset()  # the wake words HA wants
    stop_words_on: bool = False


@dataclass(frozen=True, slots=True)
class Heard:
    """One microphone block, processed with ``state``: what the agent decides with."""

    captured_at: float  # monotonic time (the event loop's clock) the block was captured
    pcm: bytes  # the processed audio for HA (24 kHz PCM16)
    state: HearingState
    wake: tuple[Detection, ...] = ()  # active wake words
    stop: tuple[Detection, ...] = ()  # stop words (looked for only while speaking)
    voice: float | None = None  # the user's voice over the answer: its speech score
    # while speaking with the canceller running: ``pcm`` through the echo gate (.echo_gate), what
    # the full-duplex stream sends unless the block stops the answer; None: ``pcm`` as it is
    gated: bytes | None = None


class Hearing:
    """The microphone's DSP, wake words, stop words and voice barge-in, and the own-voice guards
    on the answers' audio. Used from one thread."""

    def __init__(
        self,
        dsp: DspChain,
        detector: Detector,
        *,
        stop_detector: Detector | None = None,
        voice_barge_in: VoiceBargeIn | None = None,
        guards: Sequence[OwnVoice] = (),
        guards_front_end: FrontEnd | None = None,
    ) -> None:
        """``guards_front_end``: the one the guards' detectors share, if they do."""
        self.dsp = dsp
        self.detector = detector
        self.stop_detector = stop_detector
        self.voice_barge_in = voice_barge_in
        self.guards = list(guards)
        self.guards_front_end = guards_front_end
        self.echo_gate = EchoGate()
        self._answer_to_16k = soxr.ResampleStream(AUDIO_RATE, WAKE_RATE, 1, dtype="int16")

    def hear(self, block: np.ndarray, captured_at: float, state: HearingState) -> Heard:
        frame = self.dsp.process(block)  # also while muted: the chain's state stays continuous
        pcm = frame.stream_24k
        if state.muted:
            return Heard(captured_at, pcm, state)
        guarded = state.speaking or captured_at < state.echo_guard_until
        wanted = state.guarded_thresholds if guarded else state.thresholds
        if self.detector.thresholds != wanted:
            self.detector.thresholds = wanted
        samples = self._words_hear(frame)
        wake: tuple[Detection, ...] = ()
        stop: tuple[Detection, ...] = ()
        if len(samples):
            wake = tuple(d for d in self.detector.process(samples) if d.model in state.active)
            if state.speaking and state.stop_words_on and self.stop_detector is not None:
                stop = tuple(self.stop_detector.process(samples))
        # The VAD runs on every block of an answer without a wake word, also one with a stop
        # word: the agent acts on the stop word first, and the VAD starts afresh with the next
        # answer anyway.
        voice = self._voice(frame) if state.speaking and not wake else None
        gated = self._gated(frame, judged=not wake) if state.speaking else None
        return Heard(captured_at, pcm, state, wake, stop, voice, gated)

    def _words_hear(self, frame: DspFrame) -> np.ndarray:
        """What the wake and stop words hear. While the canceller runs and its linear stage has
        converged: the linear residual, which keeps the talker whole, not AEC3's output, whose
        suppressor takes the user's words away with the echo (docs/performance.md). The same
        samples as ``wake_16k`` (with noise suppression on, up to 10 ms apart at a switch)."""
        echo = self.dsp.echo
        if frame.echo_linear_16k is not None and echo is not None and echo.linear_converged:
            return frame.echo_linear_16k
        return frame.wake_16k

    def _voice(self, frame: DspFrame) -> float | None:
        """The user's voice over the answer, in the echo-cancelled signal (:mod:`.voice`)."""
        echo = self.dsp.echo
        if (
            self.voice_barge_in is None
            or echo is None
            or frame.echo_mic_16k is None
            or frame.echo_out_16k is None
        ):
            return None
        score = self.voice_barge_in(
            frame.echo_mic_16k,
            frame.echo_out_16k,
            frame.echo_far_16k,
            frame.echo_linear_16k,
            frame.echo_estimates,
        )
        # Before the canceller has converged (the first answer's first seconds after start) its
        # residual sounds like speech (docs/performance.md), and so does the echo after a stall
        # of the reference: only the wake word interrupts then.
        if score is None or not echo.converged or not echo.steady:
            return None
        reference = echo.reference
        played = getattr(reference, "played", reference)
        _LOGGER.info(
            "the voice over the answer (%s; the room's residual at %.1f dB of the reference; "
            "the reference ran dry for %d samples and was re-anchored %d times since start)",
            self.voice_barge_in.why,
            self.voice_barge_in.residual_db,
            getattr(reference, "dry_samples", 0),
            getattr(played, "resyncs", 0),
        )
        return score

    def _gated(self, frame: DspFrame, *, judged: bool) -> bytes | None:
        """The block through the echo gate, while the canceller runs; ``judged``: the voice
        barge-in judged this block's frames (not with a wake word: the gate stays as it was)."""
        echo = self.dsp.echo
        if self.voice_barge_in is None or echo is None or frame.echo_out_16k is None:
            return None
        echo_only = self.voice_barge_in.echo_only if judged else []
        return self.echo_gate(frame.stream_24k, echo_only, ready=echo.converged and echo.steady)

    def answer_started(self) -> None:
        """A new answer plays: the VAD, the echo gate and the guards start afresh."""
        if self.voice_barge_in is not None:
            self.voice_barge_in.reset()
        self.echo_gate.reset()
        self._answer_to_16k = soxr.ResampleStream(AUDIO_RATE, WAKE_RATE, 1, dtype="int16")
        if self.guards_front_end is not None:
            self.guards_front_end.reset()  # positions count from the answer's start
        for guard in self.guards:
            guard.restart()

    def hear_answer(self, pcm: bytes) -> list[list[float]]:
        """The answer's audio as HA sent it: per guard, where in it the guard's models are said.
        Resampled once; the guards get the same block (on a shared front end, computed once)."""
        samples = np.frombuffer(pcm[: len(pcm) // 2 * 2], dtype="<i2").astype(np.int16)
        samples_16k = self._answer_to_16k.resample_chunk(samples)
        return [guard.hear(samples_16k) for guard in self.guards]
