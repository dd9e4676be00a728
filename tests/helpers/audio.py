"""Test audio: sine tones, silence, PCM16 and WAV, at any rate.

Samples are floats in [-1, 1] until they become PCM16 (little-endian int16, full scale 32767);
``tone16`` and ``silence`` give int16 samples directly, as devices and WAV files have them.
"""

from __future__ import annotations

import io
import wave
from pathlib import Path

import numpy as np


def sine(
    frequency: float,
    seconds: float,
    rate: int,
    amplitude: float = 0.25,
    *,
    start: int = 0,
    dtype: type[np.floating] = np.float64,
) -> np.ndarray:
    """``seconds`` of a sine at ``frequency`` Hz, peak ``amplitude``, from its sample ``start`` on
    (the next block of a stream cut in blocks)."""
    t = (start + np.arange(round(seconds * rate))) / rate
    return (amplitude * np.sin(2 * np.pi * frequency * t)).astype(dtype)


def tone16(
    frequency: float, seconds: float, rate: int, peak: float = 8000, *, start: int = 0
) -> np.ndarray:
    """A sine as int16 samples, peak ``peak`` (of 32767), as a microphone or a WAV file has them."""
    return sine(frequency, seconds, rate, peak, start=start).astype(np.int16)


def silence(seconds: float, rate: int) -> np.ndarray:
    """Digital silence as int16 samples."""
    return np.zeros(round(seconds * rate), np.int16)


def pcm16(samples: np.ndarray) -> bytes:
    """Float samples in [-1, 1] as PCM16 bytes (clipped)."""
    return (np.clip(samples, -1.0, 1.0) * 32767).astype("<i2").tobytes()


def tone_pcm(seconds: float, rate: int, frequency: float = 440.0, amplitude: float = 0.25) -> bytes:
    """A sine as PCM16 bytes."""
    return pcm16(sine(frequency, seconds, rate, amplitude))


def silence_pcm(seconds: float, rate: int) -> bytes:
    """Digital silence as PCM16 bytes."""
    return bytes(round(seconds * rate) * 2)


def wav_bytes(pcm: bytes, rate: int, channels: int = 1, width: int = 2) -> bytes:
    """PCM frames (interleaved when ``channels`` > 1) of ``width`` bytes a sample (PCM16 unless
    told) as a WAV file's bytes."""
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as wav:
        wav.setnchannels(channels)
        wav.setsampwidth(width)
        wav.setframerate(rate)
        wav.writeframes(pcm)
    return buffer.getvalue()


def write_wav(path: Path, pcm: bytes, rate: int, channels: int = 1, width: int = 2) -> Path:
    """PCM frames written to ``path`` as a WAV file (see ``wav_bytes``); returns ``path``."""
    path.write_bytes(wav_bytes(pcm, rate, channels, width))
    return path
