"""A linear echo canceller (no residual suppression) for the voice barge-in to listen to (#16).

AEC3's suppressor takes the user's speech to about -90 dBFS in double talk once converged
(docs/performance.md), which makes voice barge-in slow. A linear canceller only subtracts its
estimate of the echo: the talker stays whole, at the price of a louder residual.

Hand-written (numpy) because no maintained wheel exposes a linear-only canceller for Python
3.11-3.14 on x86-64 and aarch64: ``speexdsp`` bindings are sdists needing libspeexdsp (and
speex's MDF is not reachable without its preprocessor), ``adaptfilt`` is time-domain and
unmaintained, ``pywebrtc-audio`` has AEC3 only, its suppressor included.

Partitioned-block frequency-domain NLMS (PBFDAF, overlap-save, gradient constrained): 10 ms
blocks at 16 kHz, ``tail_s`` of echo path in 10 ms partitions. Double-talk guard: once the
filter has adapted, a block whose error is much louder than the predicted echo adapts
``DOUBLE_TALK_SLOW`` times slower (the error is then mostly the talker, who would pull the
filter away from the echo path).
"""

from __future__ import annotations

import numpy as np

FRAME = 160  # 10 ms at 16 kHz
BINS = FRAME + 1  # rfft of 2 * FRAME
DOUBLE_TALK_RATIO = 4.0  # error energy over predicted echo energy (+6 dB) that means double talk
DOUBLE_TALK_SLOW = 0.02
ADAPTED_FRAMES = 150  # frames with reference before the guard is trusted (1.5 s)


class LinearEchoCanceller:
    """``__call__(mic, far)``: int16 16 kHz, the same samples; the mic minus the echo estimate."""

    def __init__(self, *, tail_s: float = 0.4, step: float = 1.0) -> None:
        self.partitions = max(1, round(tail_s * 100))
        self.step = step
        self.reset()

    def reset(self) -> None:
        self._w = np.zeros((self.partitions, BINS), dtype=np.complex128)
        self._x = np.zeros((self.partitions, BINS), dtype=np.complex128)  # newest first
        self._far_prev = np.zeros(FRAME)
        self._power = np.full(BINS, 1.0)
        self._far_frames = 0

    def _frame(self, mic: np.ndarray, far: np.ndarray) -> np.ndarray:
        x = np.fft.rfft(np.concatenate((self._far_prev, far)))
        self._far_prev = far
        self._x = np.roll(self._x, 1, axis=0)
        self._x[0] = x
        echo = np.fft.irfft((self._w * self._x).sum(axis=0))[FRAME:]
        error = mic - echo
        far_energy = float(far.dot(far))
        if far_energy < 1e3 * FRAME:  # below about -60 dBFS: nothing to adapt to
            return error
        self._far_frames += 1
        # NLMS: normalised by the reference's power over the whole tail, bin by bin (by the newest
        # partition's alone it diverges at a word's onset, the tail still holding the last word)
        self._power = 0.5 * self._power + 0.5 * (np.abs(self._x) ** 2).sum(axis=0)
        step = self.step
        if self._far_frames > ADAPTED_FRAMES:
            echo_energy = float(echo.dot(echo))
            error_energy = float(error.dot(error))
            if error_energy > DOUBLE_TALK_RATIO * echo_energy + 1e2 * FRAME:
                step *= DOUBLE_TALK_SLOW
        e = np.fft.rfft(np.concatenate((np.zeros(FRAME), error)))
        gradient = np.conj(self._x) * (e / (self._power + 1e-2 * self._power.mean() + 1e4))
        # the constraint: only the first half of each partition's impulse response is kept
        g = np.fft.irfft(gradient, axis=1)
        g[:, FRAME:] = 0.0
        self._w += step * np.fft.rfft(g, axis=1)
        return error

    def __call__(self, mic: np.ndarray, far: np.ndarray) -> np.ndarray:
        """Whole 10 ms frames are cancelled; a remainder (the canceller stopping) passes."""
        out = mic.copy()
        for start in range(0, len(mic) - FRAME + 1, FRAME):
            frame = self._frame(
                mic[start : start + FRAME].astype(np.float64),
                far[start : start + FRAME].astype(np.float64),
            )
            out[start : start + FRAME] = np.clip(np.rint(frame), -32768, 32767)
        return out
