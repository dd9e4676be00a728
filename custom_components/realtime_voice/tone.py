"""The satellite's own sounds, synthesized at the link's format (PCM16 mono 24 kHz): the preannounce
chime (HA's own preannounce sound is an MP3 that would need decoding on every announcement) and the
error tone heard when a conversation cannot start."""

from __future__ import annotations

from functools import cache

import numpy as np

from .core.link import protocol

RATE = protocol.AUDIO_RATE


def _tones(*notes: tuple[float, float]) -> bytes:
    """Soft sine tones (frequency Hz, seconds) one after another, with fades so they do not click."""
    parts = []
    for frequency, seconds in notes:
        t = np.arange(int(RATE * seconds)) / RATE
        tone = np.sin(2 * np.pi * frequency * t)
        fade = np.minimum(1.0, np.minimum(t, seconds - t) / 0.02)
        parts.append(0.3 * tone * fade)
    pcm: bytes = (np.concatenate(parts) * 32767).astype("<i2").tobytes()
    return pcm


@cache
def chime_pcm() -> bytes:
    """Two rising tones, 0.35 s."""
    return _tones((659.25, 0.15), (987.77, 0.2))


@cache
def error_tone_pcm() -> bytes:
    """Two falling tones, 0.5 s: something went wrong."""
    return _tones((493.88, 0.2), (329.63, 0.3))


@cache
def ring_pcm(seconds: float) -> bytes:
    """A timer's ring: two high beeps every second, for ``seconds``."""
    ring = _tones((1318.5, 0.12), (1.0, 0.06), (1318.5, 0.12), (1.0, 0.7))
    repeats = max(1, round(seconds))
    return ring * repeats
