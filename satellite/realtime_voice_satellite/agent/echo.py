"""The satellite's own voice: where in an answer the wake word is said, so its echo is ignored.

Without an echo canceller the microphone hears the answer. The barge-in threshold keeps most of it
out, but an answer that itself says the wake word ("Hey Jarvis is my name") would interrupt
itself. So the answer's audio, as it arrives from HA, runs through a second detector; a wake word
heard by the microphone close to a position where the answer says it is the satellite's own.
"""

from __future__ import annotations

import numpy as np
import soxr

from ..link.protocol import AUDIO_RATE
from ..wakeword import WakeWordDetector

WAKE_RATE = 16_000


class OwnVoice:
    def __init__(
        self, detector: WakeWordDetector, *, before_ms: float = 500, after_ms: float = 2000
    ) -> None:
        """``after_ms`` covers the device's buffer, the room and the microphone detector's delay."""
        self.detector = detector
        self.before_ms = before_ms
        self.after_ms = after_ms
        self.hits_ms: list[float] = []
        self._resampler = soxr.ResampleStream(AUDIO_RATE, WAKE_RATE, 1, dtype="int16")

    def start(self) -> None:
        """A new answer: positions count from its start."""
        self.detector.reset()
        self.hits_ms = []
        self._resampler = soxr.ResampleStream(AUDIO_RATE, WAKE_RATE, 1, dtype="int16")

    def feed(self, pcm: bytes) -> None:
        samples = np.frombuffer(pcm[: len(pcm) // 2 * 2], dtype="<i2").astype(np.int16)
        resampled = self._resampler.resample_chunk(samples)
        if len(resampled):
            self.hits_ms += [d.t * 1000 for d in self.detector.process(resampled)]

    def explains(self, position_ms: float) -> bool:
        """True when a detection at this playback position is the echo of the answer's wake word."""
        return any(h - self.before_ms <= position_ms <= h + self.after_ms for h in self.hits_ms)

    def close(self) -> None:
        self.detector.close()
