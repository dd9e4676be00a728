"""The satellite's microphone DSP chain: high-pass, optional AGC and limiter, resampling, metering.

Every stage carries its state across chunks (the high-pass's, soxr's ``ResampleStream``, the AGC gain
and the VAD's noise floor), so feeding a signal in chunks of any length gives the same output as
feeding it at once (the AGC excepted: it updates its gain once per chunk by design).

Inside the chain, samples are float32 in int16 units (full scale 32768): int16 input needs no
scaling, float32 input is scaled by 2**15 (exact), and the resamplers' output needs only clipping
and rounding on its way to int16. Every numpy call costs about a microsecond here, a sizeable
part of a 20 ms chunk's budget, so the chain works in place on arrays it owns.
"""

from __future__ import annotations

import logging
import math
import sys
from collections import deque
from dataclasses import dataclass, field

import numpy as np
import soxr

from . import aec3, noise
from .highpass import HighPass

_LOGGER = logging.getLogger(__name__)

WAKE_RATE = 16_000
STREAM_RATE = 24_000
_FULL_SCALE = 32768.0
_SILENCE_DBFS = -120.0
_INT16 = np.dtype(np.int16)
_LITTLE_ENDIAN = sys.byteorder == "little"
_PCM16 = np.dtype("<i2")  # little-endian int16, whatever the machine
# input scale into int16 units by sample type; the lookup is also the type check
_INPUT_SCALES = {np.dtype(np.int16): 1.0, np.dtype(np.float32): _FULL_SCALE}
_SILENT_MEAN_SQUARE = 1e-12 * _FULL_SCALE * _FULL_SCALE
_DB_FULL_SCALE = 20 * math.log10(_FULL_SCALE)


@dataclass(frozen=True, slots=True)
class AgcConfig:
    """Automatic gain control toward ``target_dbfs`` (RMS), with a peak limiter at ``limit_dbfs``.

    The gain falls fast (``attack_s``) and rises slowly (``release_s``); below ``gate_dbfs`` the
    gain is held, so that silence and room noise are not pumped up to speech level.
    """

    target_dbfs: float = -20.0
    max_gain_db: float = 30.0
    min_gain_db: float = -20.0
    attack_s: float = 0.05
    release_s: float = 1.0
    gate_dbfs: float = -55.0
    limit_dbfs: float = -1.0

    def __post_init__(self) -> None:
        for name in ("target_dbfs", "gate_dbfs", "limit_dbfs"):
            value = getattr(self, name)
            if not -120.0 <= value <= 0.0:
                raise ValueError(f"agc.{name} must be between -120 and 0 dBFS, got {value!r}")
        for name in ("attack_s", "release_s"):
            value = getattr(self, name)
            if not value > 0:
                raise ValueError(f"agc.{name} must be a positive number of seconds, got {value!r}")
        if self.min_gain_db > self.max_gain_db:
            raise ValueError(
                f"agc.min_gain_db ({self.min_gain_db!r}) must not exceed agc.max_gain_db "
                f"({self.max_gain_db!r})"
            )


@dataclass(slots=True)
class DspFrame:
    """What one input chunk produced.

    ``wake_16k`` may be empty or longer than the chunk's share: the resamplers return output in
    bursts. ``level_dbfs`` is the RMS level of the chunk after the high-pass and before the AGC.
    """

    wake_16k: np.ndarray
    stream_24k: bytes
    level_dbfs: float
    speech: bool
    # while echo cancellation runs (the speaker played within its tail): the 16 kHz microphone
    # before the canceller and after it (before noise suppression), the same samples, and the
    # reference beside them; else None
    echo_mic_16k: np.ndarray | None = None
    echo_out_16k: np.ndarray | None = None
    echo_far_16k: np.ndarray | None = None  # the reference the canceller had for them
    # the linear canceller's residual of them, and its echo estimate's energy per 10 ms frame
    echo_linear_16k: np.ndarray | None = None
    echo_estimates: np.ndarray | None = None


@dataclass(slots=True)
class _Resampler:
    """Stateful resampler to a fixed rate; a pass-through when the rates are equal."""

    in_rate: int
    out_rate: int
    _stream: soxr.ResampleStream | None = field(init=False, default=None)

    def __post_init__(self) -> None:
        if self.in_rate != self.out_rate:
            self._stream = soxr.ResampleStream(
                self.in_rate, self.out_rate, 1, dtype="float32", quality="HQ"
            )

    def __call__(self, x: np.ndarray, last: bool = False) -> np.ndarray:
        """``x`` (contiguous float32) resampled: a new array, except for the pass-through,
        which returns ``x`` itself."""
        if self._stream is None:
            return x
        return self._stream.resample_chunk(x, last)


class _VoiceActivity:
    """Energy above the noise floor (the lowest chunk level of the last few seconds), with a
    hangover.

    Hand-written because no small, maintained streaming VAD covers 3.13 on x86-64 and aarch64
    without pulling in a model; this one is a measure for UI and muting, not a segmenter. The
    minimum over a window follows steady noise within ``window_s`` while the pauses between
    words keep it from rising to the level of speech.
    """

    def __init__(
        self, margin_db: float = 10.0, floor_dbfs: float = -60.0, window_s: float = 2.0
    ) -> None:
        self.margin_db = margin_db
        self.absolute_floor = floor_dbfs
        self.window_s = window_s
        self._now = 0.0  # seconds of audio seen
        # (end time, level) of the chunks that can still become the window's minimum: a
        # monotonic queue, so the minimum costs O(1) per chunk instead of a scan of the window
        self._candidates: deque[tuple[float, float]] = deque()
        self._hangover_s = 0.0

    @property
    def noise_floor(self) -> float:
        return self._candidates[0][1] if self._candidates else _SILENCE_DBFS

    def update(self, level_dbfs: float, seconds: float) -> bool:
        if seconds <= 0:
            return self._hangover_s > 0
        candidates = self._candidates
        floor = candidates[0][1] if candidates else _SILENCE_DBFS
        loud = level_dbfs > max(floor + self.margin_db, self.absolute_floor)
        now = self._now = self._now + seconds
        while candidates and candidates[-1][1] >= level_dbfs:
            candidates.pop()
        candidates.append((now, level_dbfs))
        while candidates[0][0] <= now - self.window_s:
            candidates.popleft()
        if loud:
            self._hangover_s = 0.3
        else:
            self._hangover_s = max(0.0, self._hangover_s - seconds)
        return loud or self._hangover_s > 0


class _Agc:
    """Gain and limiter on samples in int16 units; scales the chunk in place."""

    def __init__(self, config: AgcConfig) -> None:
        self.config = config
        self.gain_db = 0.0
        self._limit = 10 ** (config.limit_dbfs / 20) * _FULL_SCALE
        self._ramp_bases: dict[int, np.ndarray] = {}
        self._ends = np.zeros(2, dtype=np.float32)

    def _ramp_basis(self, length: int) -> np.ndarray:
        """``[1 - u, u]`` with ``u`` rising from 0 to 1 across ``length`` samples: a ramp from
        gain a to gain b is ``[a, b] @ basis``, one product instead of two passes."""
        basis = self._ramp_bases.get(length)
        if basis is None:
            if len(self._ramp_bases) > 8:  # chunk lengths vary little; bound the cache anyway
                self._ramp_bases.clear()
            unit = np.linspace(0.0, 1.0, length)
            basis = self._ramp_bases[length] = np.array((1.0 - unit, unit), dtype=np.float32)
        return basis

    def __call__(self, x: np.ndarray, level_dbfs: float, seconds: float) -> np.ndarray:
        cfg = self.config
        previous = 10 ** (self.gain_db / 20)
        if level_dbfs > cfg.gate_dbfs:
            wanted = min(max(cfg.target_dbfs - level_dbfs, cfg.min_gain_db), cfg.max_gain_db)
            tau = cfg.attack_s if wanted < self.gain_db else cfg.release_s
            self.gain_db += (1.0 - math.exp(-seconds / tau)) * (wanted - self.gain_db)
        gain = 10 ** (self.gain_db / 20)
        # argmax and argmin: about half the cost of max() and min() on a float32 chunk
        peak = max(float(x[np.argmax(x)]), -float(x[np.argmin(x)]))
        if peak * gain > self._limit:
            gain = self._limit / peak
            self.gain_db = 20 * math.log10(gain)
        if gain == previous and peak * gain <= self._limit:
            if gain != 1.0:
                x *= np.float32(gain)
            return x
        # ramp the gain across the chunk so that a gain change makes no step at its edge...
        ends = self._ends
        ends[0] = previous
        ends[1] = gain
        ramp = np.dot(ends, self._ramp_basis(len(x)))
        if peak * previous > self._limit:
            # ...except at a loud onset, where the chunk itself is the limiter's look-ahead:
            # a step down in gain is masked by the onset, while clipping would splatter
            np.minimum(ramp, np.float32(self._limit / peak), out=ramp)
        x *= ramp
        return x


class DspChain:
    """Microphone chunks in (int16 or float32 mono at ``input_rate``), DspFrames out.

    ``highpass_hz`` (0 turns it off) removes DC and rumble with a 2nd-order Butterworth filter.
    ``agc`` enables gain control and the limiter. ``noise_suppression`` runs speex's noise
    suppressor (``pyspeex-noise``; a clear error when it is not installed) on the 16 kHz signal;
    the 24 kHz stream is then made from that 16 kHz signal, so both carry the same cleaned audio
    (speech keeps its band up to 8 kHz) and arrive up to 10 ms later.

    ``echo_reference`` turns on echo cancellation (``pywebrtc-audio``'s AEC3, see
    :mod:`.aec3`) on the 16 kHz signal, before noise suppression; the stream is then made from the
    16 kHz signal, as with noise suppression.

    An optional stage that fails (the noise suppressor raising, e.g. a pyspeex-noise whose API
    changed) is turned off with one warning, and the chain goes on without it:
    ``noise_suppression`` then reads False, also after ``reset``.
    """

    def __init__(
        self,
        input_rate: int | float,
        *,
        highpass_hz: float = 80.0,
        agc: AgcConfig | None = None,
        noise_suppression: bool = False,
        echo_reference: aec3.Reference | None = None,
    ) -> None:
        if isinstance(input_rate, float) and input_rate.is_integer():
            input_rate = int(input_rate)  # sounddevice reports rates as floats (48000.0)
        if not isinstance(input_rate, int) or isinstance(input_rate, bool) or input_rate < 8000:
            raise ValueError(
                f"input_rate must be an integer of at least 8000 Hz, got {input_rate!r}"
            )
        if not 0 <= highpass_hz < input_rate / 2:
            raise ValueError(
                f"highpass_hz must be between 0 (off) and {input_rate / 2:g} Hz, got {highpass_hz!r}"
            )
        if noise_suppression and not noise.available():
            noise.NoiseSuppressor()  # raises the error that says what to install
        self.input_rate = input_rate
        self.highpass_hz = highpass_hz
        self.agc_config = agc
        self.noise_suppression = noise_suppression
        self.echo_reference = echo_reference
        if echo_reference is not None and not aec3.available():
            aec3.EchoCanceller(echo_reference)  # raises the error that says what to install
        self._highpass = HighPass(highpass_hz, input_rate) if highpass_hz > 0 else None
        self.reset()

    def reset(self) -> None:
        """Forget all state, as if the microphone had just opened."""
        if self._highpass is not None:
            self._highpass.reset()
        self._to_wake = _Resampler(self.input_rate, WAKE_RATE)
        self._denoise: noise.NoiseSuppressor | None = None
        if self.noise_suppression:
            try:
                self._denoise = noise.NoiseSuppressor()
            except Exception as err:
                self._noise_suppression_failed(err)
        self.echo: aec3.EchoCanceller | None = (
            None if self.echo_reference is None else aec3.EchoCanceller(self.echo_reference)
        )
        # The stream is made from the 16 kHz signal while noise suppression or echo cancellation
        # is on, and stays so until the next reset if the suppressor fails: no step in the stream.
        self._stream_from_wake = self._denoise is not None or self.echo is not None
        stream_source = WAKE_RATE if self._stream_from_wake else self.input_rate
        self._to_stream = _Resampler(stream_source, STREAM_RATE)
        self._agc = None if self.agc_config is None else _Agc(self.agc_config)
        self._vad = _VoiceActivity()
        self._outputs = np.empty(0, dtype=np.float32)  # scratch for _frame

    def process(self, chunk: np.ndarray) -> DspFrame:
        samples, scale = _checked(chunk)
        n = len(samples)
        # x: a new float32 array in int16 units, which the stages below may change in place
        if self._highpass is not None and n:
            x = self._highpass(samples, scale)  # converts and scales on the way
        else:
            x = samples.astype(np.float32)
            if scale != 1.0:
                x *= np.float32(scale)
        seconds = n / self.input_rate
        level = _dbfs(x)
        speech = self._vad.update(level, seconds)
        if self._agc is not None and n:
            x = self._agc(x, level, seconds)
        return self._frame(x, level, speech, False)

    def flush(self) -> DspFrame:
        """The samples still inside the resamplers, at the end of a stream (e.g. a WAV file)."""
        return self._frame(np.zeros(0, dtype=np.float32), _SILENCE_DBFS, False, True)

    def _noise_suppression_failed(self, err: Exception) -> None:
        _LOGGER.warning(
            "noise suppression failed and is turned off; the wake word and the stream go on "
            "without it (%s: %s)",
            type(err).__name__,
            err,
            exc_info=err,
        )
        self.noise_suppression = False
        self._denoise = None

    def _frame(self, x: np.ndarray, level: float, speech: bool, last: bool) -> DspFrame:
        if not self._stream_from_wake:
            return self._both(self._to_wake(x, last), self._to_stream(x, last), level, speech)
        to_wake = self._to_wake(x, last)
        if self._denoise is None and self.echo is not None and self.echo.idle(len(to_wake)):
            # The canceller is idle (nothing played): the path costs what it costs without it.
            # The stream still comes from the 16 kHz signal (one resampler, no step when the
            # canceller starts), unrounded here: less than half a step of int16 apart.
            return self._both(to_wake, self._to_stream(to_wake, last), level, speech)
        if to_wake is x:  # pass-through: _to_int16 works in place
            to_wake = x.copy()
        wake = _to_int16(to_wake)
        echo_mic = echo_out = echo_far = echo_linear = echo_estimates = None
        if self.echo is not None:
            echo_mic, wake = self.echo(wake)
            if self.echo.active:
                echo_out, echo_far = wake, self.echo.far
                echo_linear, echo_estimates = self.echo.linear, self.echo.echo_estimates
            else:
                echo_mic = None
        if self._denoise is not None:
            held = self._denoise.held()
            try:
                wake = self._denoise(wake, last=last)
            except Exception as err:  # the chain goes on without the stage
                self._noise_suppression_failed(err)
                if len(held):  # what it held comes out as it is: no sample lost
                    wake = np.concatenate((held, wake))
        to_stream = self._to_stream(wake.astype(np.float32), last)
        stream = _to_int16(to_stream, _PCM16).tobytes()
        return DspFrame(
            wake, stream, level, speech, echo_mic, echo_out, echo_far, echo_linear, echo_estimates
        )

    def _both(
        self, to_wake: np.ndarray, to_stream: np.ndarray, level: float, speech: bool
    ) -> DspFrame:
        """Both outputs side by side, so that one pass of each ufunc converts them."""
        n_wake = len(to_wake)
        n = n_wake + len(to_stream)
        if len(self._outputs) < n:
            self._outputs = np.empty(max(n, 2 * len(self._outputs)), dtype=np.float32)
        both = self._outputs[:n]
        both[:n_wake] = to_wake
        both[n_wake:] = to_stream
        ints = _to_int16(both)
        wake = ints[:n_wake]
        stream_ints = ints[n_wake:]
        if not _LITTLE_ENDIAN:
            stream_ints = stream_ints.astype(_PCM16)
        return DspFrame(wake, stream_ints.tobytes(), level, speech)


def _checked(chunk: np.ndarray) -> tuple[np.ndarray, float]:
    """The chunk as 1-D samples, and the scale that takes them to int16 units."""
    if type(chunk) is not np.ndarray:
        chunk = np.asarray(chunk)
    if chunk.ndim != 1:
        if chunk.ndim == 2 and chunk.shape[1] == 1:
            chunk = chunk[:, 0]
        else:
            raise ValueError(f"expected a mono chunk (1-D), got an array of shape {chunk.shape}")
    scale = _INPUT_SCALES.get(chunk.dtype)
    if scale is None:
        raise ValueError(f"expected int16 or float32 samples, got {chunk.dtype}")
    if scale != 1.0 and len(chunk) and not (chunk.min() >= -1.0 and chunk.max() <= 1.0):
        chunk = _sane(chunk)
    return chunk, scale


def _sane(chunk: np.ndarray) -> np.ndarray:
    """A float chunk with NaN or infinity (a broken driver) or beyond full scale, as an int16
    device would have given it: NaN as silence, the rest clipped to full scale. One NaN let
    through would stay in the high-pass's and the resamplers' state and silence the microphone
    for good."""
    return np.clip(np.nan_to_num(chunk, nan=0.0, posinf=1.0, neginf=-1.0), -1.0, 1.0)


# element-wise ufuncs rather than np.clip, whose Python-level wrapper costs more than the work
# on a chunk; a bound as an array, not a scalar, keeps np.minimum and np.maximum on their
# fastest (contiguous, vectorized) loop
_BOUNDS = 8192  # longer than a resampler's output for any usual chunk; scalars beyond
_UPPER = np.full(_BOUNDS, 32767, dtype=np.float32)
_LOWER = np.full(_BOUNDS, -32768, dtype=np.float32)
_UPPER.flags.writeable = _LOWER.flags.writeable = False


def _to_int16(x: np.ndarray, dtype: np.dtype = _INT16) -> np.ndarray:
    """Clip and round ``x`` (float32 in int16 units, changed in place) to int16."""
    n = len(x)
    if n <= _BOUNDS:
        np.minimum(x, _UPPER[:n], out=x)
        np.maximum(x, _LOWER[:n], out=x)
    else:
        np.minimum(x, np.float32(32767), out=x)
        np.maximum(x, np.float32(-32768), out=x)
    np.rint(x, out=x)
    return x.astype(dtype)


def _dbfs(x: np.ndarray) -> float:
    """RMS level of ``x`` (int16 units) in dB relative to full scale."""
    if not len(x):
        return _SILENCE_DBFS
    mean_square = float(x.dot(x)) / len(x)
    if mean_square <= _SILENT_MEAN_SQUARE:
        return _SILENCE_DBFS
    return max(_SILENCE_DBFS, 10 * math.log10(mean_square) - _DB_FULL_SCALE)
