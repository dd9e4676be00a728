"""Decoding announcement media to the link's format (PCM16 mono 24 kHz).

WAV is decoded with the standard library; other formats need ffmpeg on the Home Assistant host.
"""

from __future__ import annotations

import io
import shutil
import subprocess
import wave

import numpy as np
from homeassistant.exceptions import HomeAssistantError

RATE = 24_000


def decode_to_pcm24k(data: bytes, name: str) -> bytes:
    if data[:4] == b"RIFF" and data[8:12] == b"WAVE":
        return _decode_wav(data)
    ffmpeg = shutil.which("ffmpeg")
    if ffmpeg is None:
        raise HomeAssistantError(
            f"Cannot play {name}: only WAV media can be decoded without ffmpeg on the Home Assistant host"
        )
    result = subprocess.run(
        [
            ffmpeg,
            "-v",
            "error",
            "-i",
            "pipe:0",
            "-f",
            "s16le",
            "-ac",
            "1",
            "-ar",
            str(RATE),
            "pipe:1",
        ],
        input=data,
        capture_output=True,
        check=False,
        timeout=60,
    )
    if result.returncode != 0:
        raise HomeAssistantError(
            f"Cannot decode {name}: {result.stderr.decode(errors='replace')[:200]}"
        )
    return result.stdout


def _decode_wav(data: bytes) -> bytes:
    with wave.open(io.BytesIO(data)) as wav:
        channels, width, rate = wav.getnchannels(), wav.getsampwidth(), wav.getframerate()
        frames = wav.readframes(wav.getnframes())
    if width != 2:
        raise HomeAssistantError(f"Unsupported WAV sample width {width * 8} bit (use 16 bit)")
    samples = np.frombuffer(frames, dtype="<i2").reshape(-1, channels).mean(axis=1)
    if rate != RATE and len(samples):
        # Linear interpolation is enough for announcements; HA has no streaming resampler to reuse.
        positions = np.arange(0, len(samples) - 1, rate / RATE)
        samples = np.interp(positions, np.arange(len(samples)), samples)
    return np.clip(samples, -32768, 32767).astype("<i2").tobytes()
