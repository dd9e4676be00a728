"""The sound devices as ``--setup`` and ``--doctor`` see them, through ``sounddevice``: what is
listed, whether a rate opens, how loud the microphone is, a test tone. Failures come back as text
with the fix (``portaudio.explain``).

Nothing here runs in the agent's audio path (that is ``audio_io``); ``sounddevice`` is imported
lazily, so a machine without PortAudio can still say what is missing.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..agent import audio_io
from ..agent.audio_io import AudioDeviceError
from ..agent.portaudio import explain

SILENCE_DBFS = -60.0  # a peak below this in ~2 s of a room: the microphone hears nothing
CLIPPING_DBFS = -0.1  # a peak above this: the input is too loud (or a fault)
TONE_DBFS = -12.0


def import_sounddevice() -> Any:
    """sounddevice, or AudioDeviceError naming a missing PortAudio and the fix (as the agent)."""
    return audio_io._sounddevice()


@dataclass(frozen=True)
class Device:
    index: int
    name: str
    channels: int  # of the kind asked for (input or output)
    rate: int  # PortAudio's default sample rate for it
    default: bool

    def line(self) -> str:
        mark = "*" if self.default else " "
        return f"{mark} {self.index:3d}  {self.name} ({self.channels} ch, {self.rate} Hz)"


def list_devices(sd: Any, kind: str) -> list[Device]:
    """The devices that can ``kind`` ("input" or "output"), the default one marked."""
    try:
        default = sd.query_devices(kind=kind)["index"]
    except (ValueError, sd.PortAudioError):
        default = None
    return [
        Device(
            int(info["index"]),
            str(info["name"]),
            int(info[f"max_{kind}_channels"]),
            int(info["default_samplerate"]),
            info["index"] == default,
        )
        for info in sd.query_devices()
        if info[f"max_{kind}_channels"] > 0
    ]


def find_device(sd: Any, device: str | int | None, kind: str) -> Device:
    """The device the configuration names (as the agent opens it); AudioDeviceError if none."""
    try:
        info = sd.query_devices(device, kind)
    except (ValueError, sd.PortAudioError) as err:
        which = f"default {kind} device" if device is None else f"{kind} device {device!r}"
        raise AudioDeviceError(f"no {which} ({err})") from err
    return Device(
        int(info["index"]),
        str(info["name"]),
        int(info[f"max_{kind}_channels"]),
        int(info["default_samplerate"]),
        False,
    )


def check_rate(sd: Any, device: int, kind: str, rate: int) -> str | None:
    """None when the device opens at ``rate`` (one channel, int16, as the agent opens it), else
    why not."""
    check = sd.check_input_settings if kind == "input" else sd.check_output_settings
    try:
        check(device=device, samplerate=rate, channels=1, dtype="int16")
    except (ValueError, sd.PortAudioError) as err:
        return explain(err, kind)
    return None


def try_open(sd: Any, device: int, kind: str, rate: int) -> str | None:
    """Opens (and closes) a stream as the agent does; None when that works, else why not (a busy
    device fails here, not in check_rate)."""
    stream_class = sd.InputStream if kind == "input" else sd.OutputStream
    try:
        stream = stream_class(device=device, samplerate=rate, channels=1, dtype="int16")
    except (ValueError, sd.PortAudioError) as err:
        return explain(err, kind)
    stream.close()
    return None


@dataclass(frozen=True)
class Level:
    peak_dbfs: float
    rms_dbfs: float

    @property
    def silent(self) -> bool:
        return self.peak_dbfs < SILENCE_DBFS

    @property
    def clipping(self) -> bool:
        return self.peak_dbfs > CLIPPING_DBFS


def _dbfs(value: float) -> float:
    return 20 * math.log10(value) if value > 0 else -math.inf


def level(samples: np.ndarray) -> Level:
    """Peak and RMS of int16 audio in dB relative to full scale."""
    scaled = samples.astype(np.float64).ravel() / 32768.0
    return Level(
        _dbfs(float(np.max(np.abs(scaled)))), _dbfs(float(np.sqrt(np.mean(scaled * scaled))))
    )


def record(sd: Any, device: int, rate: int, seconds: float) -> np.ndarray:
    """``seconds`` of the microphone, int16 mono."""
    audio = sd.rec(int(rate * seconds), samplerate=rate, channels=1, dtype="int16", device=device)
    sd.wait()
    return np.asarray(audio)[:, 0]


def tone(rate: int, seconds: float = 1.0, hz: float = 440.0) -> np.ndarray:
    """A sine at TONE_DBFS with 20 ms fades (no clicks), int16."""
    t = np.arange(int(rate * seconds)) / rate
    wave = math.pow(10, TONE_DBFS / 20) * np.sin(2 * math.pi * hz * t)
    fade = min(len(wave) // 2, rate // 50)
    if fade:
        ramp = np.linspace(0.0, 1.0, fade)
        wave[:fade] *= ramp
        wave[-fade:] *= ramp[::-1]
    return (wave * 32767).astype(np.int16)


def play_tone(sd: Any, device: int, rate: int, seconds: float = 1.0) -> None:
    sd.play(tone(rate, seconds), samplerate=rate, device=device)
    sd.wait()
