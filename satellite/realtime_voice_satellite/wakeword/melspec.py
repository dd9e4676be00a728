"""openWakeWord's mel spectrogram in numpy, in place of ``melspectrogram.tflite``.

The model (an ONNX export of torchlibrosa's ``Spectrogram`` + ``LogmelFilterBank``, converted to
TFLite) computes, for each window of audio it is given (int16 scale, as float32):

* frames of 512 samples every 160 (no centering or padding: 1760 samples give 8 frames), each
  multiplied by a periodic Hann window of 400 samples centred in the 512 (56 zeros either side);
* the power spectrum (two convolutions with DFT kernels: real² + imag²), 257 bins;
* 32 mel bands: librosa's ``filters.mel(sr=16000, n_fft=512, n_mels=32, fmin=60, fmax=3800)``
  (Slaney mel scale, Slaney area normalisation) - ``mel_filterbank`` reproduces the model's
  constant matrix bit for bit;
* ``10 * log10(max(power, 1e-10))``, then everything below the call's largest value minus 80 dB
  is raised to it (``top_db=80``: the maximum is over all the frames of the call, so the output
  depends on the window given, one 80 ms step in openWakeWord).

openWakeWord then uses ``mels / 10 + 2``; ``MelSpectrogram`` returns that directly:
``log10(max(power, 1e-10)) + 2``, floored at its maximum minus 8. The window's leading and
trailing zeros only shift the phase of each frame's spectrum, so the frames are taken as their
400 non-zero samples and the FFT pads them to 512. Computed in float64, which is closer to the
exact result than the model's float32 convolutions; the difference to the model is of the order
of its own rounding (``tests/satellite/wakeword/test_melspec.py`` bounds it).
"""

from __future__ import annotations

import numpy as np
from numpy.lib.stride_tricks import as_strided

SAMPLE_RATE = 16_000
N_FFT = 512
WIN_LENGTH = 400
HOP = 160
NUM_MELS = 32
F_MIN = 60.0
F_MAX = 3800.0
AMIN = 1e-10
TOP_DB = 80.0
_PAD = (N_FFT - WIN_LENGTH) // 2  # the window's zeros on each side inside the 512-sample frame


def _hz_to_mel(hz: np.ndarray | float) -> np.ndarray:
    """librosa's Slaney mel scale: linear below 1 kHz, logarithmic above."""
    hz = np.asarray(hz, dtype=np.float64)
    linear = hz / (200.0 / 3)
    log = 15.0 + np.log(np.maximum(hz, 1000.0) / 1000.0) / (np.log(6.4) / 27.0)
    return np.where(hz >= 1000.0, log, linear)


def _mel_to_hz(mel: np.ndarray | float) -> np.ndarray:
    mel = np.asarray(mel, dtype=np.float64)
    linear = mel * (200.0 / 3)
    log = 1000.0 * np.exp((np.log(6.4) / 27.0) * (mel - 15.0))
    return np.where(mel >= 15.0, log, linear)


def mel_filterbank() -> np.ndarray:
    """The (257, 32) float32 matrix of ``melspectrogram.tflite``: librosa's formula (float64,
    stored as float32 as librosa does), with the model's parameters."""
    freqs = np.fft.rfftfreq(N_FFT, 1.0 / SAMPLE_RATE)
    edges = _mel_to_hz(np.linspace(_hz_to_mel(F_MIN), _hz_to_mel(F_MAX), NUM_MELS + 2))
    widths = np.diff(edges)
    ramps = np.subtract.outer(edges, freqs)
    weights = np.zeros((NUM_MELS, len(freqs)), dtype=np.float32)
    for i in range(NUM_MELS):
        lower = -ramps[i] / widths[i]
        upper = ramps[i + 2] / widths[i + 1]
        weights[i] = np.maximum(0.0, np.minimum(lower, upper))
    weights *= (2.0 / (edges[2 : NUM_MELS + 2] - edges[:NUM_MELS]))[:, np.newaxis]
    return np.ascontiguousarray(weights.T)


def hann_window() -> np.ndarray:
    """The periodic Hann window of 400 samples (the non-zero part of the model's 512)."""
    return 0.5 - 0.5 * np.cos(2 * np.pi * np.arange(WIN_LENGTH) / WIN_LENGTH)


class MelSpectrogram:
    """``melspectrogram.tflite`` followed by openWakeWord's ``/ 10 + 2``, for windows of a fixed
    number of samples (1760: 8 frames, one 80 ms step)."""

    def __init__(self, window_samples: int = 1760) -> None:
        if window_samples < N_FFT:
            raise ValueError(f"a window of {window_samples} samples has no 512-sample frame")
        self.window_samples = window_samples
        self.frames = (window_samples - N_FFT) // HOP + 1
        self._window = hann_window()
        bank = mel_filterbank().astype(np.float64)
        used = np.flatnonzero(bank.any(axis=1))  # bins 2..121: the others are in no band
        self._low, self._high = int(used[0]), int(used[-1]) + 1
        # the power spectrum folded into the product: the complex spectrum seen as (re, im)
        # pairs, squared, times the filterbank with each row repeated for re and im
        self._bank2 = np.repeat(bank[self._low : self._high], 2, axis=0)
        self._audio = np.empty(window_samples, dtype=np.float64)

    def __call__(self, samples: np.ndarray) -> np.ndarray:
        """``samples``: ``window_samples`` values at int16 scale -> (frames, 32) float32."""
        audio = self._audio
        if len(samples) != len(audio):
            raise ValueError(f"{len(samples)} samples, wanted {len(audio)}")
        audio[:] = samples  # as float64
        frames = as_strided(
            audio[_PAD:],
            shape=(self.frames, WIN_LENGTH),
            strides=(HOP * audio.itemsize, audio.itemsize),
            writeable=False,
        )
        spectrum = np.fft.rfft(frames * self._window, n=N_FFT)[:, self._low : self._high]
        pairs = spectrum.view(np.float64)
        power = (pairs * pairs) @ self._bank2
        out = np.log10(np.maximum(power, AMIN, out=power), out=power)
        np.maximum(out, out.max() - TOP_DB / 10, out=out)
        out += 2.0
        return out.astype(np.float32)
