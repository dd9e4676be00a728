"""Noise suppression with speex's preprocessor (``pyspeex-noise``, as Home Assistant's own assist
pipeline uses it). It works on 16 kHz int16 audio in 10 ms frames, so this wrapper buffers up to
one frame: its output lags its input by less than 10 ms and comes in multiples of 160 samples."""

from __future__ import annotations

import importlib.util
from collections.abc import Callable

import numpy as np

FRAME = 160  # 10 ms at 16 kHz
DEFAULT_SUPPRESSION_DB = -30


def available() -> bool:
    return importlib.util.find_spec("pyspeex_noise") is not None


class NoiseSuppressor:
    """Stationary noise (fans, hum, hiss) down by up to ``suppression_db``; speech kept."""

    def __init__(self, suppression_db: int = DEFAULT_SUPPRESSION_DB) -> None:
        if not available():
            raise ValueError(
                "noise_suppression needs the pyspeex-noise package, which is not installed "
                "(pip install pyspeex-noise, or turn noise suppression off)"
            )
        if not -100 <= suppression_db < 0:
            raise ValueError(
                f"noise suppression_db must be a negative number of dB, got {suppression_db!r}"
            )
        self.suppression_db = suppression_db
        self.reset()

    def reset(self) -> None:
        from pyspeex_noise import AudioProcessor

        processor = AudioProcessor(0, self.suppression_db)  # 0: speex's own AGC off
        # One 10 ms frame through speex. pyspeex-noise 2.x (what pip resolves on a Pi) renamed
        # ``Process10ms`` (which returned an object with ``.audio``) to ``process_10ms`` returning
        # bytes; Home Assistant pins 1.0.2, so both are in use. Chosen once, not per frame.
        self._process_10ms: Callable[[bytes], bytes]
        if hasattr(processor, "process_10ms"):
            self._process_10ms = processor.process_10ms
        elif hasattr(processor, "Process10ms"):
            self._process_10ms = lambda frame: processor.Process10ms(frame).audio
        else:
            raise RuntimeError(
                "this pyspeex-noise's AudioProcessor has neither process_10ms (2.x) nor "
                "Process10ms (1.x)"
            )
        self._pending: np.ndarray = np.zeros(0, dtype=np.int16)

    def held(self) -> np.ndarray:
        """The samples waiting for a whole frame (fewer than 160), unprocessed. A call that
        raises leaves them as they were."""
        return self._pending

    def __call__(self, samples_16k: np.ndarray, last: bool = False) -> np.ndarray:
        pending = (
            np.concatenate((self._pending, samples_16k)) if len(self._pending) else samples_16k
        )
        usable = len(pending) - len(pending) % FRAME
        tail = len(pending) - usable
        if last and tail:  # end of stream: pad the last frame with silence, keep its length
            pending = np.concatenate((pending, np.zeros(FRAME - tail, dtype=np.int16)))
            usable = len(pending)
        out = np.empty(usable, dtype=np.int16)
        process = self._process_10ms
        for start in range(0, usable, FRAME):
            frame = np.ascontiguousarray(pending[start : start + FRAME], dtype="<i2").tobytes()
            out[start : start + FRAME] = np.frombuffer(process(frame), dtype="<i2")
        if last:
            self._pending = np.zeros(0, dtype=np.int16)
            return out[: usable - (FRAME - tail) if tail else usable]
        self._pending = np.array(pending[usable:], dtype=np.int16)
        return out
