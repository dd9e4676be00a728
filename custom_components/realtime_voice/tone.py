"""The preannounce chime, synthesized: HA's own preannounce sound is an MP3, and decoding it would need
ffmpeg on the HA host; two soft sine tones at the link's format need nothing."""

from __future__ import annotations

from functools import cache

import numpy as np

RATE = 24_000


@cache
def chime_pcm() -> bytes:
    """Two rising tones, 0.35 s, PCM16 mono 24 kHz, with fades so that it does not click."""
    parts = []
    for frequency, seconds in ((659.25, 0.15), (987.77, 0.2)):
        t = np.arange(int(RATE * seconds)) / RATE
        tone = np.sin(2 * np.pi * frequency * t)
        fade = np.minimum(1.0, np.minimum(t, seconds - t) / 0.02)
        parts.append(0.3 * tone * fade)
    return (np.concatenate(parts) * 32767).astype("<i2").tobytes()
