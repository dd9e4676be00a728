"""Test audio: sine tones, silence, PCM16 and WAV, at any rate.

Samples are floats in [-1, 1] until they become PCM16 (little-endian int16, full scale 32767).
"""

from __future__ import annotations

import io
import wave
from pathlib import Path

import numpy as np


def sine(frequency: float, seconds: float, rate: int, amplitude: float = 0.25) -> np.ndarray:
    """``seconds`` of a sine at ``frequency`` Hz, peak ``amplitude`` (float64)."""
    t = np.arange(int(seconds * rate)) / rate
    return amplitude * np.sin(2 * np.pi * frequency * t)


def pcm16(samples: np.ndarray) -> bytes:
    """Float samples in [-1, 1] as PCM16 bytes (clipped)."""
    return (np.clip(samples, -1.0, 1.0) * 32767).astype("<i2").tobytes()


def tone_pcm(seconds: float, rate: int, frequency: float = 440.0, amplitude: float = 0.25) -> bytes:
    """A sine as PCM16 bytes."""
    return pcm16(sine(frequency, seconds, rate, amplitude))


def silence_pcm(seconds: float, rate: int) -> bytes:
    """Digital silence as PCM16 bytes."""
    return bytes(int(seconds * rate) * 2)


def wav_bytes(pcm: bytes, rate: int, channels: int = 1) -> bytes:
    """PCM16 frames (interleaved when ``channels`` > 1) as a WAV file's bytes."""
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as wav:
        wav.setnchannels(channels)
        wav.setsampwidth(2)
        wav.setframerate(rate)
        wav.writeframes(pcm)
    return buffer.getvalue()


def write_wav(path: Path, pcm: bytes, rate: int, channels: int = 1) -> Path:
    """PCM16 frames written to ``path`` as a WAV file; returns ``path``."""
    path.write_bytes(wav_bytes(pcm, rate, channels))
    return path
