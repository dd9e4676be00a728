"""The numpy mel front end against pyopen-wakeword's melspectrogram.tflite, alone and in the engine."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pytest

from realtime_voice_dev.corpus import Clip, background, espeak_available, noise
from realtime_voice_satellite.wakeword import WakeWordError
from realtime_voice_satellite.wakeword.melspec import MelSpectrogram, mel_filterbank
from realtime_voice_satellite.wakeword.openwakeword import (
    MEL_WINDOW_SAMPLES,
    STEP_SAMPLES,
    OpenWakeWordEngine,
    models_dir,
)
from realtime_voice_satellite.wakeword.tflite import TfLiteModel
from tests.helpers.audio import sine

# On the model's scale after openWakeWord's /10 + 2 (0.1 = 1 dB). Measured: at most 1e-4 on
# speech (quiet bands, where the model's float32 convolutions lose digits; the model's own
# XNNPACK and reference kernels differ by 2e-4 there), 2e-6 elsewhere.
MEL_ATOL = 3e-4
# Scores of the whole engine, numpy vs TFLite mels: at most 5e-5 measured on 60 s of background
# speech and 30 wake-word clips of all five models.
SCORE_ATOL = 2e-4

needs_espeak = pytest.mark.skipif(not espeak_available(), reason="espeak-ng not installed")


@pytest.fixture(scope="module")
def model() -> Iterator[TfLiteModel]:
    mel = TfLiteModel(models_dir() / "melspectrogram.tflite", input_shape=(1, MEL_WINDOW_SAMPLES))
    yield mel
    mel.close()


def windows(audio: np.ndarray) -> Iterator[np.ndarray]:
    audio = audio.astype(np.float32)
    for start in range(0, len(audio) - MEL_WINDOW_SAMPLES + 1, STEP_SAMPLES):
        yield audio[start : start + MEL_WINDOW_SAMPLES]


def largest_difference(model: TfLiteModel, audio: np.ndarray) -> float:
    ours = MelSpectrogram()
    worst = 0.0
    for window in windows(audio):
        reference = model.run(window).reshape(8, 32) / 10 + 2
        got = ours(window)
        assert got.shape == (8, 32)
        assert got.dtype == np.float32
        worst = max(worst, float(np.max(np.abs(got - reference))))
    return worst


def full_scale(seconds: float, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    hard = np.clip(rng.standard_normal(int(seconds * 16_000)) * 40_000, -32768, 32767)
    square = np.where(sine(441, seconds, 16_000, 1.0) >= 0, 32767.0, -32768.0)
    return np.concatenate((hard, square, sine(1000, seconds, 16_000, 32767)))


@pytest.mark.parametrize(
    ("name", "make"),
    [
        ("silence", lambda: np.zeros(16_000)),
        ("one LSB", lambda: np.random.default_rng(1).integers(-1, 2, 16_000)),
        ("white noise", lambda: noise(48_000, 16_000, seed=2, kind="white") * 3000),
        ("pink noise", lambda: noise(48_000, 16_000, seed=3, kind="pink") * 1000),
        ("full scale", lambda: full_scale(1.0, seed=4)),
        ("a DC step", lambda: np.r_[np.zeros(1000), np.full(3000, 20_000.0)]),
    ],
)
def test_equals_the_model_on_signals(model: TfLiteModel, name: str, make) -> None:
    assert largest_difference(model, np.asarray(make(), dtype=np.float64)) < MEL_ATOL, name


@needs_espeak
def test_equals_the_model_on_speech(model: TfLiteModel) -> None:
    speech = background(30.0, 16_000, seed=11)  # speech by every voice, clean and in noise
    assert largest_difference(model, speech) < MEL_ATOL
    babble = noise(16_000 * 5, 16_000, seed=5, kind="babble") * 3000
    assert largest_difference(model, babble) < MEL_ATOL


def test_the_top_db_floor_is_per_window(model: TfLiteModel) -> None:
    """A loud tone puts most bands at the window's maximum - 80 dB, as the model does."""
    window = sine(300, MEL_WINDOW_SAMPLES / 16_000, 16_000, 20_000, dtype=np.float32)
    got = MelSpectrogram()(window)
    np.testing.assert_allclose(got, model.run(window).reshape(8, 32) / 10 + 2, atol=MEL_ATOL)
    assert np.sum(np.isclose(got, got.max() - 8, atol=1e-5)) > 100


def test_filterbank_shape() -> None:
    bank = mel_filterbank()
    assert bank.shape == (257, 32)
    assert bank.dtype == np.float32
    assert np.all(bank[:2] == 0)  # below 60 Hz
    assert np.all(bank[122:] == 0)  # above 3800 Hz
    peaks = np.argmax(bank, axis=0)
    assert np.all(np.diff(peaks) > 0)


def test_wrong_window_length_is_refused() -> None:
    with pytest.raises(ValueError, match="1280 samples, wanted 1760"):
        MelSpectrogram()(np.zeros(1280, np.float32))
    with pytest.raises(ValueError, match="no 512-sample frame"):
        MelSpectrogram(400)


def test_unknown_mel_front_end() -> None:
    with pytest.raises(WakeWordError, match="unknown mel front end 'torch'"):
        OpenWakeWordEngine(["okay_nabu"], mel="torch")  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def engines() -> Iterator[tuple[OpenWakeWordEngine, OpenWakeWordEngine]]:
    models = ["hey_jarvis", "okay_nabu", "alexa"]
    ours = OpenWakeWordEngine(models, quiet_gate_dbfs=None)
    tflite = OpenWakeWordEngine(models, quiet_gate_dbfs=None, mel="tflite")
    assert (ours.mel, tflite.mel) == ("numpy", "tflite")
    yield ours, tflite
    ours.close()
    tflite.close()


def scores(engine: OpenWakeWordEngine, audio: np.ndarray, chunk: int) -> np.ndarray:
    engine.reset()
    frames = []
    for start in range(0, len(audio), chunk):
        frames += engine.process(audio[start : start + chunk])
    return np.array([f.scores for f in frames])


@needs_espeak
@pytest.mark.parametrize(
    ("clip", "heard"),
    [
        (Clip("hey jarvis", "en-us", 175), True),
        (Clip("okay nabu", "en-us", 175, snr_db=10.0, seed=4), True),
        (Clip("alexa", "en-gb", 140), True),
        (Clip("hey jarvis", "en-gb", 140, level_dbfs=-3.0), True),  # loud
        (Clip("alexa", "en-us+f3", 140, snr_db=0.0, seed=2), False),  # scores about 0.45
    ],
)
def test_engine_scores_equal_those_with_the_tflite_mels(
    engines: tuple[OpenWakeWordEngine, OpenWakeWordEngine], clip: Clip, heard: bool
) -> None:
    ours, tflite = engines
    audio = clip.render()
    got, reference = scores(ours, audio, 320), scores(tflite, audio, 320)
    assert got.shape == reference.shape == ((len(audio) - 480) // STEP_SAMPLES + 1, 3)
    np.testing.assert_allclose(got, reference, atol=SCORE_ATOL)
    assert (got.max() > 0.5) == heard  # scores across the range that matters are compared


@needs_espeak
def test_engine_scores_on_long_background(
    engines: tuple[OpenWakeWordEngine, OpenWakeWordEngine],
) -> None:
    """20 s (the mel buffer wraps every 2.56 s), fed in odd-sized chunks and in one go."""
    ours, tflite = engines
    audio = background(20.0, 16_000, seed=3)
    got = scores(ours, audio, 333)
    np.testing.assert_allclose(got, scores(tflite, audio, 320), atol=SCORE_ATOL)
    np.testing.assert_array_equal(got, scores(ours, audio, len(audio)))
    np.testing.assert_array_equal(got, scores(ours, audio, 1280))
