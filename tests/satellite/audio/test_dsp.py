"""DspChain: state across chunks, resampling, levels, high-pass, AGC, voice activity, errors."""

from __future__ import annotations

import functools
import importlib
import logging

import numpy as np
import pytest

from realtime_voice_dev.corpus import Clip, espeak_available, load, synthesize
from realtime_voice_satellite.audio import STREAM_RATE, WAKE_RATE, AgcConfig, DspChain, DspFrame
from tests.helpers import audio

RATES = (16_000, 24_000, 44_100, 48_000)


# the float32 blocks a float driver hands over
sine = functools.partial(audio.sine, dtype=np.float32)


def run_chunks(chain: DspChain, x: np.ndarray, sizes: list[int]) -> tuple[np.ndarray, np.ndarray]:
    wake: list[np.ndarray] = []
    stream: list[bytes] = []
    start = 0
    i = 0
    while start < len(x):
        size = sizes[i % len(sizes)]
        frame = chain.process(x[start : start + size])
        wake.append(frame.wake_16k)
        stream.append(frame.stream_24k)
        start += size
        i += 1
    last = chain.flush()
    wake.append(last.wake_16k)
    stream.append(last.stream_24k)
    return np.concatenate(wake), np.frombuffer(b"".join(stream), dtype="<i2")


@pytest.mark.parametrize("rate", RATES)
def test_chunked_output_equals_one_shot_output(rate: int) -> None:
    rng = np.random.default_rng(rate)
    x = (rng.standard_normal(rate) * 3000).astype(np.int16)
    one_wake, one_stream = run_chunks(DspChain(rate), x, [len(x)])
    # ragged chunks, including single samples and empty chunks
    sizes = [1, 0, 7, 960, 441, 13, 2048, 0, 320]
    chunk_wake, chunk_stream = run_chunks(DspChain(rate), x, sizes)
    assert len(chunk_wake) == len(one_wake)
    assert len(chunk_stream) == len(one_stream)
    # equal within one LSB (float rounding inside the resampler's blocks)
    assert np.max(np.abs(chunk_wake.astype(int) - one_wake)) <= 1
    assert np.max(np.abs(chunk_stream.astype(int) - one_stream)) <= 1


@pytest.mark.parametrize("rate", RATES)
def test_resampled_lengths_and_frequency(rate: int) -> None:
    seconds = 1.0
    x = sine(1000.0, seconds, rate)
    wake, stream = run_chunks(DspChain(rate), x, [round(rate * 0.02)])
    # after flush, every input sample has its output: lengths match the rate ratio
    assert abs(len(wake) - seconds * WAKE_RATE) <= 2
    assert abs(len(stream) - seconds * STREAM_RATE) <= 2
    for out, out_rate in ((wake, WAKE_RATE), (stream, STREAM_RATE)):
        spectrum = np.abs(np.fft.rfft(out.astype(np.float64) * np.hanning(len(out))))
        peak_hz = np.argmax(spectrum) * out_rate / len(out)
        assert abs(peak_hz - 1000.0) < 2.0


@pytest.mark.parametrize("rate", [44_100, 48_000])
def test_no_edges_at_chunk_boundaries(rate: int) -> None:
    """A sine fed in 20 ms chunks comes out as a clean sine: no clicks where chunks meet."""
    x = sine(440.0, 1.0, rate)
    wake, stream = run_chunks(DspChain(rate), x, [round(rate * 0.02)])
    for out, out_rate in ((wake, WAKE_RATE), (stream, STREAM_RATE)):
        y = out[out_rate // 10 : -out_rate // 10].astype(np.float64) / 32768  # skip the edges
        t = np.arange(len(y)) / out_rate
        basis = np.column_stack((np.sin(2 * np.pi * 440 * t), np.cos(2 * np.pi * 440 * t)))
        fit, *_ = np.linalg.lstsq(basis, y, rcond=None)
        residual = y - basis @ fit
        assert np.hypot(*fit) == pytest.approx(0.25, rel=0.01)
        # worst sample within -70 dB of the signal: a boundary click would stand out far above
        assert np.max(np.abs(residual)) < 0.25 * 10 ** (-70 / 20) + 2 / 32768
        # and the sample-to-sample step never exceeds the sine's own largest step
        assert np.max(np.abs(np.diff(y))) <= 0.25 * 2 * np.pi * 440 / out_rate * 1.01 + 2 / 32768


def test_passthrough_rate_keeps_samples() -> None:
    x = (sine(300.0, 0.5, WAKE_RATE) * 32767).astype(np.int16)
    wake, _ = run_chunks(DspChain(WAKE_RATE, highpass_hz=0), x, [320])
    np.testing.assert_array_equal(wake, x)


def test_int16_and_float32_input_agree() -> None:
    x = sine(500.0, 0.2, 48_000)
    as_int = np.rint(x * 32768).astype(np.int16)
    a = DspChain(48_000).process(as_int)
    b = DspChain(48_000).process(as_int.astype(np.float32) / 32768)
    np.testing.assert_array_equal(a.wake_16k, b.wake_16k)
    assert a.stream_24k == b.stream_24k


def test_levels() -> None:
    chain = DspChain(48_000)
    for amplitude in (0.5, 0.05, 0.005):
        frames = [chain.process(c) for c in np.split(sine(1000.0, 0.5, 48_000, amplitude), 25)]
        expected = 20 * np.log10(amplitude / np.sqrt(2))
        assert frames[-1].level_dbfs == pytest.approx(expected, abs=0.1)
    # after the high-pass's short ring-out, silence measures as silence
    silent = [chain.process(np.zeros(960, dtype=np.int16)) for _ in range(10)]
    assert silent[-1].level_dbfs <= -100


def test_highpass_removes_dc_and_rumble() -> None:
    rate = 48_000
    x = sine(1000.0, 1.0, rate, 0.2) + 0.3 + sine(20.0, 1.0, rate, 0.2)
    wake, _ = run_chunks(DspChain(rate, highpass_hz=80.0), x, [960])
    tail = wake[WAKE_RATE // 2 :].astype(np.float64) / 32768
    assert abs(np.mean(tail)) < 0.002
    spectrum = np.abs(np.fft.rfft(tail * np.hanning(len(tail))))
    hz = np.fft.rfftfreq(len(tail), 1 / WAKE_RATE)
    at = lambda f: spectrum[np.argmin(np.abs(hz - f))]  # noqa: E731
    assert at(20.0) < at(1000.0) * 10 ** (-20 / 20)  # 20 Hz rumble down by > 20 dB
    # without the high-pass the DC stays
    wake_raw, _ = run_chunks(DspChain(rate, highpass_hz=0), x, [960])
    assert np.mean(wake_raw[WAKE_RATE // 2 :]) / 32768 == pytest.approx(0.3, abs=0.01)


def test_agc_brings_quiet_speech_to_target_and_limits_peaks() -> None:
    rate = 48_000
    agc = AgcConfig(target_dbfs=-20.0)
    quiet = sine(300.0, 4.0, rate, 10 ** (-40 / 20) * np.sqrt(2))  # -40 dBFS RMS
    chain = DspChain(rate, agc=agc)
    frames = [chain.process(c) for c in np.split(quiet, 200)]
    out = np.frombuffer(b"".join(f.stream_24k for f in frames[-25:]), "<i2") / 32768
    assert 20 * np.log10(np.sqrt(np.mean(out**2))) == pytest.approx(-20.0, abs=1.5)
    # a sudden loud burst: the gain drops, and no sample passes the limiter
    loud = sine(300.0, 1.0, rate, 0.9)
    burst = [chain.process(c) for c in np.split(loud, 50)]
    out = np.frombuffer(b"".join(f.stream_24k for f in burst), "<i2") / 32768
    assert np.max(np.abs(out)) <= 10 ** (agc.limit_dbfs / 20) + 1e-3
    tail = np.frombuffer(b"".join(f.stream_24k for f in burst[-10:]), "<i2") / 32768
    assert 20 * np.log10(np.sqrt(np.mean(tail**2))) == pytest.approx(-20.0, abs=3.0)


def test_agc_does_not_pump_up_silence() -> None:
    rng = np.random.default_rng(3)
    hiss = (rng.standard_normal(48_000 * 2) * 10 ** (-70 / 20)).astype(np.float32)
    chain = DspChain(48_000, agc=AgcConfig())
    frames = [chain.process(c) for c in np.split(hiss, 100)]
    out = np.frombuffer(b"".join(f.stream_24k for f in frames), "<i2") / 32768
    assert 20 * np.log10(np.sqrt(np.mean(out**2)) + 1e-12) < -60


@pytest.mark.skipif(not espeak_available(), reason="espeak-ng not installed")
def test_voice_activity_on_speech_silence_and_steady_noise() -> None:
    rate = 48_000
    chunk = 960
    speech = load(synthesize("please turn off the lights in the kitchen"), rate)
    rng = np.random.default_rng(5)
    noise = (rng.standard_normal(rate * 4) * 300).astype(np.int16)  # steady fan-like noise
    silence = np.zeros(rate, dtype=np.int16)

    def flags(chain: DspChain, x: np.ndarray) -> list[bool]:
        return [chain.process(x[i : i + chunk]).speech for i in range(0, len(x), chunk)]

    chain = DspChain(rate)
    assert not any(flags(chain, silence))
    on_speech = flags(chain, speech)
    assert np.mean(on_speech) > 0.6
    noise_flags = flags(chain, noise)
    assert not any(noise_flags[-50:])  # the floor has adapted (window 2 s + hangover)
    loud_speech = flags(
        chain, np.clip(speech.astype(int) + noise[: len(speech)], -32768, 32767).astype(np.int16)
    )
    assert np.mean(loud_speech) > 0.4  # speech over the noise is still speech


def test_speech_clip_renders_at_its_level() -> None:
    clip = Clip("hey jarvis", level_dbfs=-26.0).render(16_000)
    voiced = clip[np.abs(clip) > 100].astype(float) / 32768
    assert 20 * np.log10(np.sqrt(np.mean(voiced**2))) == pytest.approx(-26.0, abs=1.0)


def test_integral_float_rate_is_accepted() -> None:
    chain = DspChain(48_000.0)  # type: ignore[arg-type]  # as sounddevice reports it
    assert chain.input_rate == 48_000
    assert isinstance(chain.input_rate, int)


def test_frame_types() -> None:
    frame = DspChain(44_100).process(np.zeros(4410, dtype=np.int16))
    assert isinstance(frame, DspFrame)
    assert frame.wake_16k.dtype == np.int16
    assert isinstance(frame.stream_24k, bytes)
    assert len(frame.stream_24k) % 2 == 0
    assert frame.speech is False


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"input_rate": 0}, "input_rate"),
        ({"input_rate": 44_100.5}, "input_rate"),
        ({"input_rate": 48_000, "highpass_hz": 30_000}, "highpass_hz"),
        ({"input_rate": 48_000, "highpass_hz": -1}, "highpass_hz"),
    ],
)
def test_bad_options_name_the_option(kwargs: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        DspChain(**kwargs)


@pytest.mark.parametrize(
    ("field", "value"),
    [("target_dbfs", 3.0), ("attack_s", 0.0), ("release_s", -1.0), ("limit_dbfs", 1.0)],
)
def test_bad_agc_config_names_the_field(field: str, value: float) -> None:
    with pytest.raises(ValueError, match=f"agc.{field}"):
        AgcConfig(**{field: value})


def test_bad_chunks() -> None:
    chain = DspChain(48_000)
    with pytest.raises(ValueError, match="mono"):
        chain.process(np.zeros((960, 2), dtype=np.int16))
    with pytest.raises(ValueError, match="int16 or float32"):
        chain.process(np.zeros(960, dtype=np.int32))


@pytest.mark.parametrize(
    ("cutoff", "rate"),
    [(80.0, 48_000), (80.0, 16_000), (200.0, 44_100), (20.0, 96_000), (3_900.0, 8_000)],
)
def test_highpass_equals_scipy_lfilter_in_any_chunking(cutoff: float, rate: int) -> None:
    from scipy import signal

    from realtime_voice_satellite.audio.highpass import HighPass, butterworth_highpass

    b, a = signal.butter(2, cutoff, btype="highpass", fs=rate)
    ours_b, ours_a = butterworth_highpass(cutoff, rate)
    np.testing.assert_allclose(ours_b, b, rtol=1e-12)
    np.testing.assert_allclose(ours_a, a, rtol=1e-12)
    x = np.random.default_rng(1).standard_normal(rate * 2).astype(np.float32)
    expected = signal.lfilter(b, a, x)
    highpass = HighPass(cutoff, rate)
    pieces, start = [], 0
    # around the internal 32-sample blocks and 1024-sample products, and far beyond them
    for size in [1, 0, 960, 5000, 7, 2048, 31, 32, 33, 1025] * 20:
        pieces.append(highpass(x[start : start + size]))
        start += size
    pieces.append(highpass(x[start:]))
    np.testing.assert_allclose(np.concatenate(pieces), expected, atol=1e-6)


@pytest.mark.skipif(not espeak_available(), reason="espeak-ng not installed")
def test_noise_suppression_lowers_steady_noise_and_keeps_speech() -> None:
    rate = 48_000
    noisy = Clip(
        "please turn off the lights", snr_db=10.0, noise_kind="white", lead_s=3.0, tail_s=0.5
    ).render(rate)
    outputs = {}
    for suppress in (False, True):
        wake, stream = run_chunks(DspChain(rate, noise_suppression=suppress), noisy, [960])
        outputs[suppress] = (wake, stream)
        assert abs(len(wake) - len(noisy) / 3) <= 2
        assert abs(len(stream) - len(noisy) / 2) <= 3

    def db(x: np.ndarray) -> float:
        return float(10 * np.log10(np.mean((x.astype(np.float64) / 32768) ** 2) + 1e-12))

    for out, out_rate in ((outputs[True][0], WAKE_RATE), (outputs[True][1], STREAM_RATE)):
        plain = outputs[False][0] if out_rate == WAKE_RATE else outputs[False][1]
        noise_only = slice(out_rate, int(2.8 * out_rate))  # after 1 s of adaptation
        speech = slice(int(3.1 * out_rate), int(4.0 * out_rate))
        assert db(out[noise_only]) < db(plain[noise_only]) - 12
        assert db(out[speech]) == pytest.approx(db(plain[speech]), abs=3.0)


def test_noise_suppression_is_chunking_independent() -> None:
    rng = np.random.default_rng(8)
    x = (rng.standard_normal(44_100) * 2000).astype(np.int16)
    one = run_chunks(DspChain(44_100, noise_suppression=True), x, [len(x)])
    ragged = run_chunks(DspChain(44_100, noise_suppression=True), x, [1, 441, 0, 3000, 17])
    for a, b in zip(one, ragged, strict=True):
        assert len(a) == len(b)
        assert np.max(np.abs(a.astype(int) - b)) <= 1


def test_noise_suppression_without_the_library_says_what_to_install(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from realtime_voice_satellite.audio import noise

    monkeypatch.setattr(noise, "available", lambda: False)
    with pytest.raises(ValueError, match="pip install pyspeex-noise"):
        DspChain(48_000, noise_suppression=True)


def test_highpass_int16_input_with_scale_mixes_with_float_input() -> None:
    from scipy import signal

    from realtime_voice_satellite.audio.highpass import HighPass, butterworth_highpass

    x = (np.random.default_rng(2).standard_normal(48_000) * 5000).astype(np.int16)
    expected = signal.lfilter(*butterworth_highpass(80.0, 48_000), x / 32768)
    highpass = HighPass(80.0, 48_000)
    pieces = []
    for i, start in enumerate(range(0, len(x), 960)):
        chunk = x[start : start + 960]
        if i % 2:  # alternate int16 with scale and float32 input, as a microphone might not
            pieces.append(highpass(chunk, 1 / 32768))
        else:
            pieces.append(highpass(chunk.astype(np.float32) / 32768))
    np.testing.assert_allclose(np.concatenate(pieces), expected, atol=1e-6)


@pytest.mark.parametrize("rate", [16_000, 24_000, 48_000])
@pytest.mark.parametrize("dtype", [np.int16, np.float32])
@pytest.mark.parametrize("highpass_hz", [0.0, 80.0])
@pytest.mark.parametrize("agc", [None, AgcConfig()])
def test_input_chunk_is_never_changed(
    rate: int, dtype: type, highpass_hz: float, agc: AgcConfig | None
) -> None:
    """The chain works in place on its own arrays, never on the caller's (at 16 and 24 kHz one
    resampler is a pass-through)."""
    x = (sine(440.0, 0.1, rate, 0.5) * (32767 if dtype is np.int16 else 1)).astype(dtype)
    chain = DspChain(rate, highpass_hz=highpass_hz, agc=agc)
    for chunk in np.split(x, 5):
        kept = chunk.copy()
        chain.process(chunk)
        np.testing.assert_array_equal(chunk, kept)


def test_frames_keep_their_samples() -> None:
    """Scratch buffers are reused from chunk to chunk; a frame's samples are its own."""
    rng = np.random.default_rng(4)
    x = (rng.standard_normal(48_000) * 3000).astype(np.int16)
    chain = DspChain(48_000, agc=AgcConfig())
    frames = [chain.process(c) for c in np.split(x, 50)]
    kept = [f.wake_16k.copy() for f in frames]
    for c in np.split(x[::-1].copy(), 50):
        chain.process(c)
    for frame, wake in zip(frames, kept, strict=True):
        np.testing.assert_array_equal(frame.wake_16k, wake)


@pytest.mark.parametrize("highpass_hz", [0.0, 80.0])
def test_full_scale_input_clips_and_never_wraps(highpass_hz: float) -> None:
    """Past full scale (the high-pass overshoots a square wave's edges, the resamplers ring) the
    output clips to the int16 range: it equals the same chain on a quarter of the signal, times
    four, clipped."""
    rate = 48_000
    t = np.arange(rate // 2)
    square = np.where((t // 240) % 2, 32_000, -32_000).astype(np.int16)  # 100 Hz
    full = run_chunks(DspChain(rate, highpass_hz=highpass_hz), square, [960])
    quarter = run_chunks(DspChain(rate, highpass_hz=highpass_hz), square // 4, [960])
    for out, small in zip(full, quarter, strict=True):
        assert out.min() == -32768  # it did clip
        assert out.max() == 32767
        expected = np.clip(small.astype(int) * 4, -32768, 32767)
        assert np.max(np.abs(out.astype(int) - expected)) <= 3


def test_reset_forgets_all_state() -> None:
    """After reset() the chain behaves as a new one (the high-pass state, the resamplers, the AGC
    gain and the VAD's floor all start over), whatever chunk lengths came before."""
    rng = np.random.default_rng(9)
    x = (rng.standard_normal(48_000) * 3000).astype(np.int16)
    chain = DspChain(48_000, agc=AgcConfig())
    run_chunks(chain, x[::-1].copy(), [960, 882, 31])
    chain.reset()
    again = run_chunks(chain, x, [960])
    fresh = run_chunks(DspChain(48_000, agc=AgcConfig()), x, [960])
    for a, b in zip(again, fresh, strict=True):
        np.testing.assert_array_equal(a, b)


_REAL_PROCESSOR = importlib.import_module("pyspeex_noise").AudioProcessor


class _FailsAfter:
    """pyspeex-noise's AudioProcessor whose frame function raises after ``frames`` frames (a
    library that breaks mid-stream); ``frames=0``: it has no frame function at all, as 2.x looked
    to code written for 1.x (``Process10ms`` renamed)."""

    frames = 0

    def __init__(self, *args: object) -> None:
        self._real = _REAL_PROCESSOR(*args)
        self._calls = 0
        if self.frames:
            self.process_10ms = self._process

    def _process(self, frame: bytes) -> bytes:
        self._calls += 1
        if self._calls > self.frames:
            raise RuntimeError("speex fell over")
        return self._real.process_10ms(frame)


@pytest.mark.skipif(not espeak_available(), reason="espeak-ng not installed")
@pytest.mark.parametrize("frames", [0, 150])
def test_a_failing_noise_suppressor_is_turned_off_with_one_warning_and_the_chain_goes_on(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture, frames: int
) -> None:
    import pyspeex_noise

    monkeypatch.setattr(_FailsAfter, "frames", frames)
    monkeypatch.setattr(pyspeex_noise, "AudioProcessor", _FailsAfter)
    rate = 48_000
    x = Clip("please turn off the lights", lead_s=2.0, tail_s=0.5).render(rate)
    chain = DspChain(rate, noise_suppression=True)
    with caplog.at_level("DEBUG"):
        wake, stream = run_chunks(chain, x, [960])
    records = [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert len(records) == 1, [r.getMessage() for r in records]
    assert records[0].levelname == "WARNING"
    assert "noise suppression" in records[0].getMessage()
    assert "turned off" in records[0].getMessage()
    assert chain.noise_suppression is False
    # Every input sample still has its output, and from the failure on the wake word hears what
    # the chain without the stage gives: the speech, not silence.
    plain_wake, plain_stream = run_chunks(DspChain(rate), x, [960])
    assert len(wake) == len(plain_wake)
    assert abs(len(stream) - len(plain_stream)) <= 3
    after = frames * 160 + 160
    np.testing.assert_array_equal(wake[after:], plain_wake[after:])
    # a reset keeps the stage off: it would fail again
    chain.reset()
    assert chain.noise_suppression is False
    wake, stream = run_chunks(chain, x, [960])
    np.testing.assert_array_equal(wake, plain_wake)
    np.testing.assert_array_equal(stream, plain_stream)
    assert [r for r in caplog.records if r.levelno >= logging.WARNING] == records
