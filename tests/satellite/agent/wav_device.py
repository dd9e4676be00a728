"""A stand-in for ``sounddevice`` whose microphone plays a WAV, block by block, from its own thread.

``DeviceSource`` runs unchanged on it: the input stream calls the source's callback on a thread of
its own at the device's pace (``speed`` times real time), as PortAudio's does, so that what the
agent hears goes through the same delivery as a real microphone's; after the WAV it plays silence.
``status`` can mark a block as following an input overflow (PortAudio's flag).
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from typing import Any

import numpy as np


@dataclass
class Status:
    input_overflow: bool = False

    def __bool__(self) -> bool:
        return self.input_overflow


class WavInputStream:
    def __init__(
        self,
        sound: WavSoundDevice,
        *,
        samplerate: int,
        blocksize: int,
        callback: Any,
        finished_callback: Any,
        **_: Any,
    ) -> None:
        self.device = sound
        self.block = blocksize
        self.period = blocksize / samplerate / sound.speed
        self.callback = callback
        self.active = False
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="wav-device", daemon=True)
        sound.streams.append(self)

    def start(self) -> None:
        self.active = True
        self._thread.start()

    def _run(self) -> None:
        due = time.monotonic()
        while not self._stop.is_set():
            due += self.period
            time.sleep(max(0.0, due - time.monotonic()))
            block = self.device.next_block(self.block)
            status = Status(input_overflow=self.device.overflow_next)
            self.device.overflow_next = False
            self.callback(block.reshape(-1, 1), self.block, None, status)
            self.device.blocks_delivered += 1

    def close(self) -> None:
        self._stop.set()
        if self._thread.is_alive() and self._thread is not threading.current_thread():
            self._thread.join()
        self.active = False


class WavSoundDevice:
    """The ``sounddevice`` module's part that ``audio_io`` uses, with one input device."""

    class PortAudioError(Exception):
        pass

    def __init__(self, samples: np.ndarray, rate: int, *, speed: float = 1.0) -> None:
        self.samples = samples
        self.rate = rate
        self.speed = speed
        self.position = 0
        self.blocks_delivered = 0
        self.overflow_next = False
        self.streams: list[WavInputStream] = []

    @property
    def seconds_played(self) -> float:
        return self.position / self.rate

    def next_block(self, n: int) -> np.ndarray:
        block = self.samples[self.position : self.position + n]
        self.position += n
        if len(block) < n:
            block = np.concatenate([block, np.zeros(n - len(block), np.int16)])
        return block

    def query_devices(self, device: Any, kind: str) -> dict[str, Any]:
        return {"name": "WAV microphone", "default_samplerate": float(self.rate), "index": 0}

    def InputStream(self, **kwargs: Any) -> WavInputStream:
        return WavInputStream(self, **kwargs)
