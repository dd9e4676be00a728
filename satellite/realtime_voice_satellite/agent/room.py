"""A room without hardware (file mode's ``--echo``): the microphone WAV plus what the satellite
plays, delayed and reverberated by an impulse response.

The played audio comes from the same tap as the echo canceller's reference (what the output took,
when it took it); the room hears it ``latency_s`` later (a device's output buffer), convolves it
with the impulse response (which holds the room's own delay) and adds it to the input WAV's
block. The agent gets these blocks from ``read`` exactly as it gets a microphone's.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import soxr

from ..audio.wav import WavError, read_wav
from .audio_io import WavFileSource
from .played import PlaybackTap, PlayedAudio

MAX_IR_S = 2.0
DEFAULT = "default"


def default_room(rate: int) -> np.ndarray:
    """A small room: the direct sound at half level after 60 ms (speaker to microphone, plus a
    device's buffers), then a reverberant tail (RT60 0.3 s) about 5 dB below it."""
    rng = np.random.default_rng(16)
    delay = round(0.06 * rate)
    n = round(0.5 * rate)
    tail = rng.standard_normal(n) * np.exp(-np.arange(n) * 6.9 / (0.3 * rate)) * 0.05
    tail *= np.sqrt(16_000 / rate)  # the same tail energy at any rate
    ir = np.zeros(delay + 1 + n)
    ir[delay] = 0.5
    ir[delay + 1 :] = tail
    return ir.astype(np.float32)


def load_impulse_response(spec: str | Path, rate: int) -> np.ndarray:
    """``default`` or a WAV file (mono or channels averaged, any rate, at most 2 s, not silent)
    as float gains at ``rate``; :class:`WavError` naming the file otherwise."""
    if str(spec) == DEFAULT:
        return default_room(rate)
    path = Path(spec)
    try:
        samples, source_rate = read_wav(path)
    except WavError as err:
        raise WavError(f"--echo: {err} (an impulse response must be a PCM WAV file)") from err
    if not len(samples) or not samples.any():
        raise WavError(f"--echo: {path}: the impulse response is empty or silent")
    if len(samples) > MAX_IR_S * source_rate:
        raise WavError(
            f"--echo: {path}: the impulse response is {len(samples) / source_rate:.1f} s long; "
            f"at most {MAX_IR_S:g} s (is it a recording rather than an impulse response?)"
        )
    ir = samples.astype(np.float32) / 32768.0
    if source_rate != rate:
        ir = soxr.resample(ir, source_rate, rate).astype(np.float32)
    return ir


class Convolver:
    """Block-by-block convolution with the tail carried over (overlap-add through the FFT)."""

    def __init__(self, ir: np.ndarray) -> None:
        self.ir = ir.astype(np.float64)
        self._tail = np.zeros(len(ir) - 1)
        self._spectra: dict[int, np.ndarray] = {}

    def __call__(self, x: np.ndarray) -> np.ndarray:
        n = len(x)
        size = 1 << (n + len(self.ir) - 1).bit_length()
        spectrum = self._spectra.get(size)
        if spectrum is None:
            spectrum = self._spectra[size] = np.fft.rfft(self.ir, size)
        y = np.fft.irfft(np.fft.rfft(x.astype(np.float64), size) * spectrum, size)
        y = y[: n + len(self.ir) - 1]
        y[: len(self._tail)] += self._tail
        self._tail = y[n:].copy()
        return y[:n]


class EchoRoomSource:
    """A :class:`WavFileSource` that also hears the satellite's speaker through ``ir``."""

    def __init__(self, inner: WavFileSource, ir: np.ndarray, *, latency_s: float = 0.1) -> None:
        self.inner = inner
        self.rate = inner.rate
        self.latency_s = latency_s
        self._room = Convolver(ir)
        self._played: PlayedAudio | None = None

    def hear(self, tap: PlaybackTap) -> None:
        """Play what goes through ``tap`` (the agent's ``playback_tap``) into the room."""
        self._played = tap.reader(self.rate, margin_s=self.latency_s)

    @property
    def finished(self) -> bool:
        return self.inner.finished

    async def start(self) -> None:
        await self.inner.start()

    async def read(self) -> np.ndarray:
        block = await self.inner.read()
        if self._played is None:
            return block
        echo = self._room(self._played.read(len(block)))
        mixed = echo + block
        return np.clip(np.rint(mixed), -32768, 32767).astype(np.int16)

    async def stop(self) -> None:
        await self.inner.stop()
