"""The echo canceller's reference, taken when each microphone block is captured.

The canceller needs what the speaker played in step with what the microphone heard. The
capture worker (:mod:`.capture`) processes a block some time after it was captured (a few ms, or
seconds behind a stall), while the output goes on playing: reading the played audio then would
take it out of step, and after a stall run past what was played (silence instead of the echo,
then a resync). So the thread that captures a block reads the reference for the block's length
at once (:meth:`capture`), the block carries it to the worker (:meth:`add`), and the canceller
reads it there (:meth:`read`, the :class:`..audio.echo.Reference` interface) in the amounts it
needs.
"""

from __future__ import annotations

import numpy as np

from ..audio import WAKE_RATE
from .played import PlayedAudio


class CapturedReference:
    def __init__(self, played: PlayedAudio, microphone_rate: int) -> None:
        self.played = played
        self._per_sample = WAKE_RATE / microphone_rate
        self._carry = 0.0  # the capturing thread's
        self._taken = np.zeros(0, dtype=np.int16)  # the worker's

    @property
    def dry_samples(self) -> int:
        return self.played.dry_samples

    def capture(self, microphone_samples: int) -> np.ndarray:
        """The reference for a block of ``microphone_samples`` just captured (16 kHz)."""
        exact = microphone_samples * self._per_sample + self._carry
        n = int(exact)
        self._carry = exact - n
        return self.played.read(n)

    def add(self, samples: np.ndarray) -> None:
        """What :meth:`capture` took for the block the worker is about to process."""
        self._taken = np.concatenate((self._taken, samples)) if len(self._taken) else samples

    def read(self, n: int) -> np.ndarray:
        # The DSP's resampler holds back a few samples, so the canceller asks for a little
        # less than was taken: nothing is lacking, bar rounding at the very start.
        out = self._taken[:n]
        self._taken = self._taken[n:]
        if len(out) < n:
            out = np.concatenate((out, np.zeros(n - len(out), dtype=np.int16)))
        return out
