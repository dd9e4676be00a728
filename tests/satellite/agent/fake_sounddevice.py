"""A stand-in for the ``sounddevice`` module, for the sound cards this machine does not have.

It answers as sounddevice 0.5 does on top of PortAudio (checked against its source): the same
function names and arguments, ``query_devices()`` a list of device dicts with the same keys and
``query_devices(device, kind)`` one of them, a name matched as sounddevice matches it (parts of
"name, host API", case-insensitive; one exact name wins), and PortAudio's failures as
``PortAudioError(text, PaErrorCode)`` with PortAudio's own texts (``Pa_GetErrorText``), so that
``str(err)`` reads e.g. ``Error opening InputStream: Device unavailable [PaErrorCode -9985]``.
Installed as ``sys.modules["sounddevice"]``, so the code under test imports it as the real one.
"""

from __future__ import annotations

import types
from dataclasses import dataclass, field
from typing import Any

import numpy as np

HOST_API = "ALSA"
DEVICE_UNAVAILABLE = (-9985, "Device unavailable")
INVALID_SAMPLE_RATE = (-9997, "Invalid sample rate")


class PortAudioError(Exception):
    def __str__(self) -> str:  # sounddevice's own formatting
        text = self.args[0] if self.args else ""
        return f"{text} [PaErrorCode {self.args[1]}]" if len(self.args) > 1 else str(text)


@dataclass
class FakeDevice:
    name: str
    inputs: int = 0
    outputs: int = 0
    rate: float = 48000.0  # PortAudio's default_samplerate (a float, as sounddevice gives it)
    rates: tuple[int, ...] = (48000, 44100, 16000)  # what the device opens at
    busy: bool = False  # another process holds it: opening fails with -9985
    heard: str = "speech"  # what its microphone records: speech, silence or clipping


@dataclass
class FakePortAudio:
    devices: list[FakeDevice]
    default_input: int = -1
    default_output: int = -1
    recorded: list[dict[str, Any]] = field(default_factory=list)
    played: list[dict[str, Any]] = field(default_factory=list)

    # --- the module's functions ------------------------------------------------------------------

    def query_devices(self, device: Any = None, kind: str | None = None) -> Any:
        if kind not in ("input", "output", None):
            raise ValueError(f"Invalid kind: {kind!r}")
        if device is None and kind is None:
            return [self._info(i) for i in range(len(self.devices))]
        index = self._device_id(device, kind)
        if not 0 <= index < len(self.devices):
            raise PortAudioError(f"Error querying device {index}")
        info = self._info(index)
        if kind and info[f"max_{kind}_channels"] < 1:
            raise ValueError(f"Not an {kind} device: {info['name']!r}")
        return info

    def check_input_settings(self, **kwargs: Any) -> None:
        self._check("input", **kwargs)

    def check_output_settings(self, **kwargs: Any) -> None:
        self._check("output", **kwargs)

    def InputStream(self, **kwargs: Any) -> FakeStream:  # sounddevice's names
        return FakeStream(self, "input", **kwargs)

    def OutputStream(self, **kwargs: Any) -> FakeStream:
        return FakeStream(self, "output", **kwargs)

    def rec(
        self, frames: int, samplerate: int, channels: int, dtype: str, device: Any = None
    ) -> np.ndarray:
        stream = FakeStream(
            self, "input", device=device, samplerate=samplerate, channels=channels, dtype=dtype
        )
        self.recorded.append({"device": stream.index, "rate": samplerate, "frames": frames})
        return _heard(self.devices[stream.index].heard, frames).reshape(-1, 1)

    def play(self, data: np.ndarray, samplerate: int, device: Any = None) -> None:
        stream = FakeStream(self, "output", device=device, samplerate=samplerate, channels=1)
        self.played.append({"device": stream.index, "rate": samplerate, "data": data})

    def wait(self) -> None:
        return None

    def get_portaudio_version(self) -> tuple[int, str]:
        return 1246976, "PortAudio V19.7.0-devel, revision unknown"

    # --- PortAudio underneath ----------------------------------------------------------------------

    def _info(self, index: int) -> dict[str, Any]:
        device = self.devices[index]
        return {
            "name": device.name,
            "index": index,
            "hostapi": 0,
            "max_input_channels": device.inputs,
            "max_output_channels": device.outputs,
            "default_low_input_latency": 0.008707 if device.inputs else -1.0,
            "default_low_output_latency": 0.008707 if device.outputs else -1.0,
            "default_high_input_latency": 0.034830 if device.inputs else -1.0,
            "default_high_output_latency": 0.034830 if device.outputs else -1.0,
            "default_samplerate": device.rate,
        }

    def _device_id(self, device: Any, kind: str | None) -> int:
        if device is None:
            device = self.default_input if kind == "input" else self.default_output
        if isinstance(device, int):
            return device
        query = device.lower()
        matches, exact = [], []
        for index, info in enumerate(self.devices):
            if kind and (info.inputs if kind == "input" else info.outputs) < 1:
                continue
            full = f"{info.name}, {HOST_API}"
            position = 0
            for part in query.split():
                position = full.lower().find(part, position)
                if position < 0:
                    break
                position += len(part)
            else:
                matches.append((index, full))
                if query in (info.name.lower(), full.lower()):
                    exact.append(index)
        what = kind or "input/output"
        if not matches:
            raise ValueError(f"No {what} device matching {device!r}")
        if len(matches) > 1:
            if len(exact) == 1:
                return exact[0]
            listed = "\n".join(f"[{i}] {name}" for i, name in matches)
            raise ValueError(f"Multiple {what} devices found for {device!r}:\n{listed}")
        return matches[0][0]

    def _check(
        self, kind: str, device: Any = None, samplerate: float | None = None, **_: Any
    ) -> int:
        index = self._device_id(device, kind)
        info = self.query_devices(index, kind)
        rate = samplerate or info["default_samplerate"]
        if int(rate) not in self.devices[index].rates:
            raise PortAudioError(INVALID_SAMPLE_RATE[1], INVALID_SAMPLE_RATE[0])
        return index


class FakeStream:
    def __init__(
        self, pa: FakePortAudio, kind: str, *, device: Any = None, samplerate: Any = None, **_: Any
    ) -> None:
        name = "InputStream" if kind == "input" else "OutputStream"
        self.index = pa._device_id(device, kind)
        try:
            pa._check(kind, device=self.index, samplerate=samplerate)
        except PortAudioError as err:
            raise PortAudioError(f"Error opening {name}: {err.args[0]}", err.args[1]) from None
        if pa.devices[self.index].busy:
            code, text = DEVICE_UNAVAILABLE
            raise PortAudioError(f"Error opening {name}: {text}", code)
        self.closed = False

    def close(self) -> None:
        self.closed = True


def _heard(what: str, frames: int) -> np.ndarray:
    rng = np.random.default_rng(1)
    if what == "silence":
        return np.zeros(frames, np.int16)
    if what == "clipping":
        return np.clip(rng.normal(0, 30000, frames), -32768, 32767).astype(np.int16)
    return rng.normal(0, 2000, frames).astype(np.int16)  # a voice at about -24 dBFS RMS


def module(pa: FakePortAudio) -> types.ModuleType:
    """``pa`` as the ``sounddevice`` module."""
    fake = types.ModuleType("sounddevice")
    fake.__version__ = "0.5.6"  # type: ignore[attr-defined]
    fake.PortAudioError = PortAudioError  # type: ignore[attr-defined]
    for name in (
        "query_devices",
        "check_input_settings",
        "check_output_settings",
        "InputStream",
        "OutputStream",
        "rec",
        "play",
        "wait",
        "get_portaudio_version",
    ):
        setattr(fake, name, getattr(pa, name))
    return fake


def usb_headset_and_hdmi() -> FakePortAudio:
    """A Pi's list: HDMI (output only), a USB headset (both), and ALSA's default/sysdefault."""
    return FakePortAudio(
        [
            FakeDevice("vc4-hdmi-0: MAI PCM i2s-hifi-0 (hw:0,0)", outputs=2, rates=(48000,)),
            FakeDevice("USB PnP Sound Device: Audio (hw:1,0)", inputs=1, outputs=2),
            FakeDevice("sysdefault", inputs=128, outputs=128, rate=44100.0),
            FakeDevice("default", inputs=32, outputs=32, rate=44100.0),
        ],
        default_input=3,
        default_output=3,
    )
