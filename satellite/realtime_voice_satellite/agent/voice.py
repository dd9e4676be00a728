"""Barge-in by voice: the user speaking over the answer, heard in the echo-cancelled signal.

``pymicro-vad`` (the voice activity detector Home Assistant's own pipeline uses) scores each 10 ms
of the cancelled microphone. A score says "speech", not whose: the residual of the satellite's
own voice is speech too. Measured on the default room (docs/performance.md): after convergence
the residual scores low, but while AEC3 converges (the first second or two of the first answer),
and in the answer's pauses then, the faint residual scored high for a second at a time. So a
barge-in needs both:

- ``speech_ms`` of speech frames in a row (a lone frame below ``threshold`` is forgiven);
- within them, ``kept_frames`` frames where the cancelled signal kept at least ``kept_db`` of
  the microphone's energy, at ``min_dbfs`` or louder: the canceller removed little there, so
  something the speaker did not play was heard (AEC3 suppresses a talker during double talk,
  but not throughout a word).

The agent also waits for the canceller's convergence (``EchoCanceller.converged``).

docs/satellite.md says why this runs on the satellite, not in the Realtime API's VAD.
"""

from __future__ import annotations

import importlib.util
import math
from collections import deque

import numpy as np

FRAME = 160  # 10 ms at 16 kHz


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
        self.reset()

    def reset(self) -> None:
        """A new answer: forget the speech heard so far."""
        from pymicro_vad import MicroVad

        vad = MicroVad()
        # pymicro-vad 2.x (what pip resolves on a Pi) has process_10ms; 1.0.1 (Home Assistant's
        # pin) Process10ms, which returns -1 until it has enough audio. Chosen once.
        self._score_10ms = getattr(vad, "process_10ms", None) or vad.Process10ms  # type: ignore[attr-defined]
        self._count = 0.0
        self._kept: deque[float] = deque(maxlen=self.frames_needed + 2)
        self.score = 0.0

    def __call__(self, mic: np.ndarray, cancelled: np.ndarray) -> float | None:
        """Whole 10 ms frames of the microphone and of the cancelled signal (int16, 16 kHz);
        the speech score when they make a barge-in, else None."""
        heard = None
        for start in range(0, len(cancelled) - FRAME + 1, FRAME):
            out = cancelled[start : start + FRAME]
            near = mic[start : start + FRAME].astype(np.float32)
            out_f = out.astype(np.float32)
            mic_energy = float(near.dot(near))
            out_energy = float(out_f.dot(out_f))
            kept = _db(out_energy, mic_energy)
            # a frame too quiet to be someone talking to the satellite keeps nothing
            self._kept.append(kept if out_energy >= self.min_energy else -120.0)
            score = self._score_10ms(np.ascontiguousarray(out, dtype="<i2").tobytes())
            if score >= self.threshold:
                self.score = score if self._count < 1 else max(self.score, score)
                self._count += 1
            else:
                self._count = max(0.0, self._count - 1.5)
            if (
                heard is None
                and self._count >= self.frames_needed
                and sum(k >= self.kept_db for k in self._kept) >= self.kept_frames
            ):
                heard = self.score
                self._count = 0.0
        return heard


def _db(out_energy: float, mic_energy: float) -> float:
    """How much of the microphone's energy the cancelled signal kept, in dB."""
    if out_energy <= 0:
        return -120.0
    if mic_energy <= 0:
        return 0.0
    return max(-120.0, 10 * math.log10(out_energy / mic_energy))
