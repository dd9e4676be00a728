"""Deterministic speech for the stand-in's answers: a tone (fast) or espeak-ng speech (audible)."""

from __future__ import annotations

import io
import shutil
import subprocess
import wave
from functools import lru_cache

import numpy as np

RATE = 24000


@lru_cache(maxsize=64)
def tone(text: str, ms_per_word: int = 120) -> bytes:
    """A 440 Hz tone whose length follows the number of words (at least 300 ms), PCM16 24 kHz."""
    duration_ms = max(300, ms_per_word * len(text.split()))
    t = np.arange(RATE * duration_ms // 1000) / RATE
    samples = 0.3 * np.sin(2 * np.pi * 440.0 * t)
    return (samples * 32767).astype("<i2").tobytes()


@lru_cache(maxsize=64)
def espeak(text: str) -> bytes:
    """``text`` spoken by espeak-ng, resampled to PCM16 24 kHz with soxr."""
    import soxr

    exe = shutil.which("espeak-ng") or shutil.which("espeak")
    if exe is None:
        raise RuntimeError("espeak-ng is not installed; use audio='tone'")
    wav = subprocess.run(
        [exe, "--stdout", "-v", "en-us", "-s", "165", text], check=True, capture_output=True
    ).stdout
    with wave.open(io.BytesIO(wav)) as reader:
        rate = reader.getframerate()
        frames = reader.readframes(reader.getnframes())
    samples = np.frombuffer(frames, dtype="<i2").astype(np.float32) / 32768
    resampled = soxr.resample(samples, rate, RATE, quality="HQ")
    return (np.clip(resampled, -1, 1) * 32767).astype("<i2").tobytes()


def speech(text: str, kind: str) -> bytes:
    return espeak(text) if kind == "espeak" else tone(text)
