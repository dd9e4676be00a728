"""AEC3's convergence, measured (issue #27): the voice barge-in and the full-duplex echo gate wait
for it. Real speech (espeak-ng) in file mode's rooms, through the canceller as the agent runs it."""

from __future__ import annotations

import numpy as np
import pytest

from realtime_voice_dev.corpus import espeak_available
from realtime_voice_satellite.agent.room import Convolver, default_room
from realtime_voice_satellite.audio import aec3
from realtime_voice_satellite.audio.aec3 import EchoCanceller
from tests.satellite.harness import speech

pytestmark = [
    pytest.mark.skipif(not aec3.available(), reason="pywebrtc-audio is needed"),
    pytest.mark.skipif(not espeak_available(), reason="espeak-ng is needed to synthesize speech"),
]

RATE = 16_000
FRAME = 160
LONG = (
    "The forecast for tomorrow says sunny spells in the morning, with a chance of showers later "
    "in the afternoon. Temperatures will reach about eighteen degrees."
)


class _Played:
    """The reference: what the speaker played, frame by frame (silence once it is read out)."""

    def __init__(self) -> None:
        self.samples = np.zeros(0, np.int16)

    def read(self, n: int) -> np.ndarray:
        out = np.zeros(n, np.int16)
        take = self.samples[:n]
        out[: len(take)] = take
        self.samples = self.samples[n:]
        return out

    def silent(self, n: int) -> bool:
        if self.samples[:n].any():
            return False
        self.samples = self.samples[n:]
        return True


def _play(canceller: EchoCanceller, played: _Played, room: Convolver, far: np.ndarray) -> list:
    """``far`` played into the room frame by frame; per frame, whether the canceller said it had
    converged."""
    converged = []
    for start in range(0, len(far) - FRAME + 1, FRAME):
        frame = far[start : start + FRAME]
        played.samples = np.concatenate((played.samples, frame))
        mic = np.clip(np.rint(room(frame.astype(np.float64))), -32768, 32767).astype(np.int16)
        canceller(mic)
        converged.append(canceller.converged)
    return converged


def test_the_silence_after_a_short_answer_does_not_count_as_convergence() -> None:
    """A short answer ("Okay.") and the second of silence after it (the canceller's tail) taught
    AEC3 nothing of the room: the next answer's first seconds are not converged. Counting the
    canceller's running time (the tail included) said converged 1 s into it, where the residual
    still sounds like speech (the satellite's voice barge-in stopped its own first answer)."""
    played = _Played()
    canceller = EchoCanceller(played)
    room = Convolver(default_room(RATE))
    short = speech("Okay.", RATE)
    _play(canceller, played, room, np.concatenate((short, np.zeros(RATE * 3 // 2, np.int16))))
    answer = speech(LONG, RATE)
    converged = _play(canceller, played, room, answer)
    # not within the answer's first 1.5 s of sound
    assert not any(converged[:150])
    # and once it is, it stays: from about 2.5 s of sound on, for good
    first = converged.index(True)
    assert first * FRAME / RATE < 4.0, first
    assert all(converged[first:])
