"""The satellite's own voice: where in an answer the wake word is said, so its echo is ignored.

Without an echo canceller the microphone hears the answer. The barge-in threshold keeps most of it
out, but an answer that itself says the wake word ("Hey Jarvis is my name") would interrupt
itself. So the answer's audio, as it arrives from HA, runs through a second detector; a wake word
heard by the microphone close to a position where the answer says it is the satellite's own.

The work is split between two threads. The capture worker (:mod:`.capture`, :mod:`.hearing`, which
resamples the answer to 16 kHz once for all guards) runs the detector: :meth:`OwnVoice.restart`
when an answer starts, :meth:`OwnVoice.hear` on its audio; it alone touches the detector. The event loop decides: :meth:`OwnVoice.begin` when an
answer starts, :meth:`OwnVoice.add` with what the worker heard, :meth:`OwnVoice.explains`; it
alone touches ``hits_ms``. The answer number keeps hits of an earlier answer, still on their way
from the worker, out of the new one's.
"""

from __future__ import annotations

import numpy as np

from ..wakeword import WakeWordDetector


class OwnVoice:
    def __init__(
        self, detector: WakeWordDetector, *, before_ms: float = 500, after_ms: float = 2000
    ) -> None:
        """``after_ms`` covers the device's buffer, the room and the microphone detector's delay."""
        self.detector = detector
        self.before_ms = before_ms
        self.after_ms = after_ms
        self.hits_ms: list[float] = []
        self.answer = 0

    # --- the event loop ----------------------------------------------------------------------

    def begin(self) -> int:
        """A new answer: positions count from its start. Returns its number."""
        self.answer += 1
        self.hits_ms = []
        return self.answer

    def add(self, answer: int, hits_ms: list[float]) -> None:
        """What :meth:`hear` found in audio of answer number ``answer``."""
        if answer == self.answer:
            self.hits_ms += hits_ms

    def explains(self, position_ms: float) -> bool:
        """True when a detection at this playback position is the echo of the answer's wake word."""
        return any(h - self.before_ms <= position_ms <= h + self.after_ms for h in self.hits_ms)

    # --- the capture worker ------------------------------------------------------------------

    def restart(self) -> None:
        self.detector.reset()

    def hear(self, samples_16k: np.ndarray) -> list[float]:
        """Positions (ms from the answer's start) where the answer says one of the models."""
        if not len(samples_16k):
            return []
        return [d.t * 1000 for d in self.detector.process(samples_16k)]

    def close(self) -> None:
        self.detector.close()
