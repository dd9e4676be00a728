"""Barge-in by voice: the user speaking over the answer, heard in the echo-cancelled signal.

``pymicro-vad`` (the voice activity detector Home Assistant's own pipeline uses) scores each 10 ms
of the cancelled microphone. A score says "speech", not whose: the residual of the satellite's
own voice is speech too. And AEC3 (measured, docs/performance.md) passes a talker only in short
leaks: once converged, its suppressor takes the cancelled signal to about -90 dBFS while the
answer plays, the user's words included, and lets through a syllable now and then. So a barge-in
is either of:

- ``speech_ms`` of speech frames in a row (a lone frame below ``threshold`` is forgiven) with,
  within them, ``kept_frames`` frames where the cancelled signal kept at least ``kept_db`` of
  the microphone's energy, at ``min_dbfs`` or louder (the canceller removed little there);
- ``loud_ms`` of frames in a row that kept at least ``loud_db`` of the microphone's energy at
  ``loud_dbfs`` or louder: a leak loud enough to be someone talking, caught before pymicro-vad
  (whose score takes 100-300 ms to rise, and some voices it barely scores) says speech.

- ``linear_frames`` frames in a row where the linear canceller's residual (:mod:`..audio.
  linear_aec`, which keeps the talker whole) is ``linear_db`` or more above the residual its
  echo estimate leaves (the estimate over the echo removal it has reached, plus a floor at
  ``linear_floor_dbfs``) and at ``linear_dbfs`` or louder: the echo cannot explain it. This
  is the fast path (docs/performance.md: the user is heard in 200-300 ms where AEC3's leaks
  take 700 ms and more); it counts once the linear canceller removes ``linear_erle_db`` of the
  echo, learned over the answer's own playback (at least 500 ms of it: at some answers' starts
  the canceller was measured out of step, removing nothing until it re-converged).

The first two count a frame only above what the room's residual echo reaches (``_above_residual``):
its level against the reference's loudest frame of the last 500 ms, ``residual_margin_db``
above the ``residual_percentile`` of that ratio over the last 30 s of playback. A reverberant
room, whose tail AEC3 removes less of, so asks for a louder voice rather than interrupting
itself; until 3 s of playback have been heard, a frame must be as loud as the reference. And
nothing counts until the reference has played for 300 ms (``FAR_SETTLE``) after 500 ms
without sound: at an answer's start the microphone still hears what played before it without
the canceller, e.g. the music, which is not cancelled, before it ducks.

The agent also waits for the canceller's convergence and steadiness (``EchoCanceller.converged``,
``EchoCanceller.steady``).

The same residual judgement serves the full-duplex stream: :attr:`VoiceBargeIn.echo_only` says,
per frame of the last call, which frames hold nothing above the room's residual echo, and the
echo gate (:mod:`.echo_gate`) attenuates those in what goes to HA while the satellite speaks.

docs/satellite.md says why this runs on the satellite, not in the Realtime API's VAD.
"""

from __future__ import annotations

import importlib.util
import math
from collections import deque
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from ..wakeword import Detection

FRAME = 160  # 10 ms at 16 kHz
FAR_WINDOW = 50  # frames: 500 ms of the reference, the echo's delay and most of a room's tail
FAR_SETTLE = 30  # frames of reference before a frame counts (its echo and the music's ducking)
FAR_MIN_ENERGY = 10 ** (-60 / 10) * 32768.0**2 * FRAME
RESIDUAL_HISTORY = 3000  # frames of playback (30 s) the residual's level is learned over
RESIDUAL_LEARNED = 300  # learned after 3 s of playback
RESIDUAL_UPDATE = 50  # frames between updates
LINEAR_LEARNED = 50  # frames of an answer's playback before the linear path counts


def available() -> bool:
    return importlib.util.find_spec("pymicro_vad") is not None


class VoiceBargeIn:
    def __init__(
        self,
        *,
        threshold: float = 0.5,
        speech_ms: int = 120,
        kept_db: float = -20.0,
        kept_frames: int = 3,
        min_dbfs: float = -40.0,
        loud_db: float | None = -12.0,
        loud_dbfs: float = -38.0,
        loud_ms: int = 50,
        residual_margin_db: float | None = 6.0,
        residual_percentile: float = 99.9,
        linear_db: float = 12.0,
        linear_dbfs: float = -40.0,
        linear_floor_dbfs: float = -50.0,
        linear_frames: int = 8,
        linear_erle_db: float = 12.0,
    ) -> None:
        if not available():
            raise ValueError(
                "barge-in by voice needs the pymicro-vad package, which is not installed "
                "(pip install pymicro-vad, or set audio.echo_cancellation: off)"
            )
        self.threshold = threshold
        self.frames_needed = max(1, speech_ms // 10)
        self.kept_db = kept_db
        self.kept_frames = kept_frames
        self.min_energy = 10 ** (min_dbfs / 10) * 32768.0**2 * FRAME
        self.loud_db = loud_db
        self.loud_energy = 10 ** (loud_dbfs / 10) * 32768.0**2 * FRAME
        self.loud_frames = max(1, loud_ms // 10)
        self.residual_margin_db = residual_margin_db
        self.residual_percentile = residual_percentile
        self.linear_ratio = 10 ** (linear_db / 10)
        self.linear_energy = 10 ** (linear_dbfs / 10) * 32768.0**2 * FRAME
        self.linear_floor = 10 ** (linear_floor_dbfs / 10) * 32768.0**2 * FRAME
        self.linear_frames = linear_frames
        self.linear_erle = 10 ** (linear_erle_db / 10)
        # the room's residual, learned over the answers (not reset between them)
        self._far_energies: deque[float] = deque(maxlen=FAR_WINDOW)
        self._ratios = np.zeros(RESIDUAL_HISTORY, dtype=np.float32)
        self._n_ratios = 0
        self._far_frames = 0  # frames since the reference last went quiet for FAR_WINDOW
        self.residual_db = 0.0  # until learned: only what is as loud as the reference counts
        # per 10 ms frame of the last call: True where it holds nothing above what the room's
        # residual echo reaches (or the reference has only just started), while the reference
        # plays; what the echo gate (.echo_gate) attenuates in full duplex
        self.echo_only: list[bool] = []
        self.why = ""  # which of the three paths made the last barge-in (for the log)
        self._far_quiet = True
        self.reset()

    def reset(self) -> None:
        """A new answer: forget the speech heard so far."""
        from pymicro_vad import MicroVad

        vad = MicroVad()
        # pymicro-vad 2.x (what pip resolves on a Pi) has process_10ms; 1.0.1 (Home Assistant's
        # pin) Process10ms, which returns -1 until it has enough audio. Chosen once.
        self._score_10ms = getattr(vad, "process_10ms", None) or vad.Process10ms  # type: ignore[attr-defined]
        self._count = 0.0
        self._loud = 0
        self._linear_run = 0
        # the linear canceller's echo removal, learned afresh for each answer: at some answers'
        # starts it was measured out of step (docs/performance.md)
        self._linear_mic = 0.0
        self._linear_out = 0.0
        self._linear_learned = 0
        self._far_energies.clear()  # the last answer's reference is not this one's
        self._far_frames = 0
        self._kept: deque[float] = deque(maxlen=self.frames_needed + 2)
        self.score = 0.0

    def _above_residual(self, out_energy: float, far: np.ndarray) -> bool:
        """Whether the cancelled frame is louder than the room's residual echo could be: its
        ratio to the reference's loudest frame of the last ``FAR_WINDOW`` (the echo's delay and
        tail), against the ``residual_percentile`` of that ratio over the last
        ``RESIDUAL_HISTORY`` frames of playback, plus ``residual_margin_db``."""
        far_f = far.astype(np.float32)
        self._far_energies.append(float(far_f.dot(far_f)))
        far_envelope = max(self._far_energies)
        self._far_quiet = far_envelope < FAR_MIN_ENERGY
        if self._far_quiet:
            # Nothing in the reference lately: the answer has not reached the speaker yet, or
            # pauses. What is heard then is not cancelled (e.g. music, which is not cancelled,
            # or the room's echo of it): it counts once the reference has played a while.
            self._far_frames = 0
            return False
        self._far_frames += 1
        if self._far_frames < FAR_SETTLE:
            return False  # neither counted nor learned from
        if self.residual_margin_db is None:
            return True
        ratio = _db(out_energy, far_envelope)
        self._ratios[self._n_ratios % RESIDUAL_HISTORY] = ratio
        self._n_ratios += 1
        if self._n_ratios >= RESIDUAL_LEARNED and self._n_ratios % RESIDUAL_UPDATE == 0:
            learned = self._ratios[: min(self._n_ratios, RESIDUAL_HISTORY)]
            self.residual_db = float(np.percentile(learned, self.residual_percentile))
        return ratio >= self.residual_db + self.residual_margin_db

    def _linear_says_talk(self, mic_energy: float, residual: np.ndarray, estimate: float) -> bool:
        """Whether this frame of the linear canceller's residual is ``linear_db`` above what its
        echo estimate leaves (the estimate over the echo removal learned so far), once the
        canceller removes ``linear_erle_db`` of the echo. The removal is learned from the frames
        that do not count as talk, over about two seconds."""
        r = residual.astype(np.float32)
        energy = float(r.dot(r))
        erle = self._linear_mic / self._linear_out if self._linear_out > 0 else 1.0
        if self._linear_learned < LINEAR_LEARNED:
            erle = 1.0
        # erle is 0 where the microphone gave digital silence (a muted or gated microphone) while
        # the canceller's estimate did not: nothing removed, nothing heard (and no division)
        talk = (
            erle >= self.linear_erle
            and energy >= self.linear_energy
            and energy >= self.linear_ratio * (estimate / erle + self.linear_floor)
        )
        if estimate > 0 and not talk:
            self._linear_mic = 0.995 * self._linear_mic + 0.005 * mic_energy
            self._linear_out = 0.995 * self._linear_out + 0.005 * energy
            self._linear_learned += 1
        return talk

    def __call__(
        self,
        mic: np.ndarray,
        cancelled: np.ndarray,
        far: np.ndarray | None = None,
        linear: np.ndarray | None = None,
        estimates: np.ndarray | None = None,
    ) -> float | None:
        """Whole 10 ms frames of the microphone, of the cancelled signal and of the reference
        beside them (int16, 16 kHz), and optionally the linear canceller's residual and echo
        estimates (:class:`~..audio.aec3.EchoCanceller`); the speech score when they make a
        barge-in, else None."""
        heard = None
        self.echo_only = []
        for start in range(0, len(cancelled) - FRAME + 1, FRAME):
            out = cancelled[start : start + FRAME]
            near = mic[start : start + FRAME].astype(np.float32)
            out_f = out.astype(np.float32)
            mic_energy = float(near.dot(near))
            out_energy = float(out_f.dot(out_f))
            kept = _db(out_energy, mic_energy)
            settled = far is None or self._above_residual(out_energy, far[start : start + FRAME])
            if far is not None and self.residual_margin_db is not None and not settled:
                kept = -120.0  # within what the room's residual echo reaches
            self.echo_only.append(far is not None and not settled and not self._far_quiet)
            # a frame too quiet to be someone talking to the satellite keeps nothing
            self._kept.append(kept if out_energy >= self.min_energy else -120.0)
            if self.loud_db is not None and kept >= self.loud_db and out_energy >= self.loud_energy:
                self._loud += 1
            else:
                self._loud = 0
            score = self._score_10ms(np.ascontiguousarray(out, dtype="<i2").tobytes())
            if score >= self.threshold:
                self.score = score if self._count < 1 else max(self.score, score)
                self._count += 1
            else:
                self._count = max(0.0, self._count - 1.5)
            if linear is not None and estimates is not None:
                talk = self._linear_says_talk(
                    mic_energy, linear[start : start + FRAME], float(estimates[start // FRAME])
                )
                playing = far is not None and self._far_frames >= FAR_SETTLE
                self._linear_run = self._linear_run + 1 if talk and playing else 0
            speech = (
                self._count >= self.frames_needed
                and sum(k >= self.kept_db for k in self._kept) >= self.kept_frames
            )
            if heard is None and (
                speech or self._loud >= self.loud_frames or self._linear_run >= self.linear_frames
            ):
                heard = max(self.score, score)
                self.why = (
                    "speech"
                    if speech
                    else ("loud leak" if self._loud >= self.loud_frames else "linear residual")
                )
                self._count = 0.0
                self._loud = 0
                self._linear_run = 0
        return heard


def _db(out_energy: float, mic_energy: float) -> float:
    """How much of the microphone's energy the cancelled signal kept, in dB."""
    if out_energy <= 0:
        return -120.0
    if mic_energy <= 0:
        return 0.0
    return max(-120.0, 10 * math.log10(out_energy / mic_energy))


@dataclass(slots=True)
class HeldBargeIn:
    """A barge-in by voice held back while a stop word may still be coming: the user's "stop"
    is speech too, and the voice detector hears it before the stop-word model has heard the
    whole word. ``pcm`` is the stream's audio since the detection, for HA if it is released."""

    detection: Detection
    until: float  # loop time at which it is released as a barge-in
    pcm: list[bytes] = field(default_factory=list)
