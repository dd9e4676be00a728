"""The echo canceller's reference as it was when each microphone block was captured.

The canceller needs what the speaker played in step with what the microphone heard. The
capture worker (:mod:`.capture`) processes a block some time after it was captured (a few ms, or
seconds behind a stall) while the output goes on playing: read then, the played audio would be
out of step with the block. So the thread that captures a block notes how much had been played
(:meth:`capture`), the block carries it to the worker (:meth:`add`), and the canceller reads the
played audio as it was then (:meth:`read`, the :class:`..audio.aec3.Reference` interface), in the
amounts it needs: the same samples as a canceller that ran at the moment of capture.
"""

from __future__ import annotations

import numpy as np

from .played import PlayedAudio


class CapturedReference:
    def __init__(self, played: PlayedAudio) -> None:
        self.played = played
        self._as_of: int | None = None  # the worker's

    @property
    def dry_samples(self) -> int:
        return self.played.dry_samples

    def capture(self) -> int:
        """For a block just captured: how much had been played."""
        return self.played.written

    def add(self, written: int) -> None:
        """What :meth:`capture` noted for the block the worker is about to process."""
        self._as_of = written

    def read(self, n: int) -> np.ndarray:
        return self.played.read(n, as_of=self._as_of)

    def silent(self, n: int) -> bool:
        return self.played.silent(n, as_of=self._as_of)
