"""WAV files in and out: any rate, 8/16/24/32-bit PCM, stereo downmixed to mono int16.

Stdlib ``wave`` parses the container; numpy converts the samples. IEEE-float WAVs are refused by
``wave`` itself, and the error says so.
"""

from __future__ import annotations

import wave
from pathlib import Path
from types import TracebackType
from typing import Self

import numpy as np


class WavError(ValueError):
    """A WAV file that cannot be read or written; the message names the file."""


def _pcm_to_int16(raw: bytes, sample_width: int) -> np.ndarray:
    if sample_width == 1:  # 8-bit WAV is unsigned
        return ((np.frombuffer(raw, dtype=np.uint8).astype(np.int16) - 128) << 8).astype(np.int16)
    if sample_width == 2:
        return np.frombuffer(raw, dtype="<i2").copy()
    if sample_width == 3:
        bytes3 = np.frombuffer(raw, dtype=np.uint8).reshape(-1, 3)
        # keep the two most significant bytes of each little-endian 24-bit sample
        return (bytes3[:, 1].astype(np.uint16) | (bytes3[:, 2].astype(np.uint16) << 8)).view(
            np.int16
        )
    if sample_width == 4:
        return (np.frombuffer(raw, dtype="<i4") >> 16).astype(np.int16)
    raise ValueError(f"unsupported sample width {sample_width * 8} bits")


def read_wav(path: str | Path) -> tuple[np.ndarray, int]:
    """Read a PCM WAV file as (int16 mono samples, sample rate); channels are averaged."""
    path = Path(path)
    try:
        with wave.open(str(path), "rb") as wav:
            channels = wav.getnchannels()
            sample_width = wav.getsampwidth()
            rate = wav.getframerate()
            raw = wav.readframes(wav.getnframes())
    except FileNotFoundError as err:
        raise WavError(f"{path}: no such file") from err
    except IsADirectoryError as err:
        raise WavError(f"{path}: is a directory, not a WAV file") from err
    except (wave.Error, EOFError) as err:
        raise WavError(f"{path}: not a readable PCM WAV file ({err})") from err
    try:
        samples = _pcm_to_int16(raw, sample_width)
    except ValueError as err:
        raise WavError(f"{path}: {err}") from err
    if channels > 1:
        usable = len(samples) - len(samples) % channels
        samples = (
            samples[:usable].reshape(-1, channels).astype(np.int32).mean(axis=1).astype(np.int16)
        )
    if rate <= 0:
        raise WavError(f"{path}: invalid sample rate {rate}")
    return samples, rate


def _to_int16(samples: np.ndarray) -> np.ndarray:
    if samples.dtype == np.int16:
        return samples
    if np.issubdtype(samples.dtype, np.floating):
        return np.clip(np.round(samples * 32768.0), -32768, 32767).astype(np.int16)
    return np.clip(samples, -32768, 32767).astype(np.int16)


def write_wav(path: str | Path, samples: np.ndarray, rate: int) -> None:
    """Write mono samples (int16, or float in [-1, 1]) as a 16-bit PCM WAV file."""
    with WavWriter(path, rate) as writer:
        writer.write(samples)


class WavWriter:
    """A mono 16-bit WAV file that grows as it is written.

    ``wave`` patches the header's sizes on every write, so the file is a valid WAV at any moment
    (readers such as tests can open it while the satellite is still playing).
    """

    def __init__(self, path: str | Path, rate: int) -> None:
        self.path = Path(path)
        self.rate = rate
        try:
            self._file = self.path.open("wb")
        except OSError as err:
            raise WavError(f"{self.path}: cannot write ({err.strerror})") from err
        self._wav: wave.Wave_write | None = wave.open(self._file, "wb")  # noqa: SIM115 - kept open across writes
        self._wav.setnchannels(1)
        self._wav.setsampwidth(2)
        self._wav.setframerate(rate)
        self.frames_written = 0

    def write(self, samples: np.ndarray | bytes) -> None:
        """Append int16 or float samples, or PCM16 little-endian bytes."""
        if self._wav is None:
            raise WavError(f"{self.path}: already closed")
        data = samples if isinstance(samples, bytes) else _to_int16(samples).astype("<i2").tobytes()
        self._wav.writeframes(data)
        self._file.flush()  # the header was just patched: make the file valid on disk too
        self.frames_written += len(data) // 2

    def close(self) -> None:
        if self._wav is not None:
            self._wav.close()
            self._wav = None
            self._file.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
