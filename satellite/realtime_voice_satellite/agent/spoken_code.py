"""The pairing code, spoken: ten short digit clips shipped with the package (``digits/0.wav`` to
``9.wav``), since the satellite has no speech synthesis of its own.

The clips were rendered once with espeak-ng and trimmed and levelled with sox (16 kHz mono PCM16,
about 14 kB each)::

    espeak-ng -v en-us -s 150 -w raw.wav "$d"
    sox raw.wav -r 16000 -b 16 -c 1 "$d.wav" silence 1 0.01 0.5% reverse silence 1 0.01 0.5% \\
        reverse norm -3
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

import numpy as np
import soxr

from ..audio.wav import read_wav
from ..link.protocol import AUDIO_RATE
from .sounds import builtin_chime

DIGITS_DIR = Path(__file__).with_name("digits")
DIGIT_GAP_S = 0.25  # between the digits
GROUP_GAP_S = 0.6  # between "123" and "456"
REPEAT_GAP_S = 1.2  # the code is said twice


@cache
def digit_clips() -> dict[str, np.ndarray]:
    """Each digit's clip as 24 kHz int16 samples (read once; a missing clip is a packaging bug
    and raises)."""
    clips = {}
    for digit in "0123456789":
        samples, rate = read_wav(DIGITS_DIR / f"{digit}.wav")
        if rate != AUDIO_RATE:
            samples = soxr.resample(samples, rate, AUDIO_RATE).astype(np.int16)
        clips[digit] = samples
    return clips


def _silence(seconds: float) -> np.ndarray:
    return np.zeros(int(AUDIO_RATE * seconds), np.int16)


def spoken_code(code: str) -> bytes:
    """PCM16 LE mono 24 kHz: the chime, then the code twice, in two groups of three digits."""
    clips = digit_clips()
    once: list[np.ndarray] = []
    for index, digit in enumerate(code):
        if index:
            once.append(_silence(GROUP_GAP_S if index == len(code) // 2 else DIGIT_GAP_S))
        once.append(clips[digit])
    parts = [builtin_chime(), _silence(0.5), *once, _silence(REPEAT_GAP_S), *once]
    return np.concatenate(parts).astype("<i2").tobytes()
