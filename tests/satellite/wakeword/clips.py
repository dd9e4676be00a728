"""What the wake word tests say to the detectors: espeak-ng clips with pauses between them, through
the real DspChain in 20 ms blocks as the agent feeds it."""

from __future__ import annotations

import numpy as np

from realtime_voice_dev.corpus import Clip
from realtime_voice_satellite.audio import DspChain
from tests.helpers.audio import silence

RATE = 16_000
BLOCK = 320  # 20 ms


def clips_with_pauses(*parts: Clip | float) -> np.ndarray:
    """The clips rendered at 16 kHz, a number between them being seconds of silence."""
    return np.concatenate(
        [part.render(RATE) if isinstance(part, Clip) else silence(part, RATE) for part in parts]
    )


def dsp_blocks(audio: np.ndarray) -> list[np.ndarray]:
    """``audio`` through the DSP chain block by block: the 16 kHz blocks the detectors get."""
    chain = DspChain(RATE)
    return [chain.process(audio[i : i + BLOCK]).wake_16k for i in range(0, len(audio), BLOCK)]
