"""The wake chime: a built-in two-note tone or a WAV file, as 24 kHz PCM16 for the player."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import soxr

from ..audio.wav import read_wav
from ..link.protocol import AUDIO_RATE


def builtin_chime(rate: int = AUDIO_RATE) -> np.ndarray:
    """Two short rising notes (about 0.16 s) with soft edges, at -12 dBFS."""
    notes = []
    for freq in (880.0, 1320.0):
        t = np.arange(int(rate * 0.08)) / rate
        envelope = np.sin(np.pi * t / t[-1]) ** 2  # no clicks at the edges
        notes.append(np.sin(2 * np.pi * freq * t) * envelope)
    return (np.concatenate(notes) * 0.25 * 32767).astype(np.int16)


def load_chime(path: Path | None) -> bytes:
    """PCM16 LE mono 24 kHz bytes of the chime file, or of the built-in tone."""
    if path is None:
        return builtin_chime().astype("<i2").tobytes()
    samples, rate = read_wav(path)
    if rate != AUDIO_RATE:
        samples = soxr.resample(samples, rate, AUDIO_RATE).astype(np.int16)
    return samples.astype("<i2").tobytes()
