"""The incremental numpy embedding against pyopen-wakeword's embedding_model.tflite: the graph and
weights read from the file, the embeddings, the engine's scores, the quiet gate and a long stream."""

from __future__ import annotations

import logging
import struct
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from realtime_voice_dev.corpus import Clip, background, espeak_available, noise, wake_clips
from realtime_voice_satellite.wakeword import BUILTIN_MODELS, ScoreFrame, WakeWordError
from realtime_voice_satellite.wakeword import embedding as embedding_module
from realtime_voice_satellite.wakeword.embedding import (
    EmbeddingModelError,
    IncrementalEmbedding,
    compile_layers,
    read_graph,
)
from realtime_voice_satellite.wakeword.melspec import MelSpectrogram
from realtime_voice_satellite.wakeword.openwakeword import (
    EMBEDDING_WINDOW,
    MEL_FRAMES_PER_STEP,
    MEL_WINDOW_SAMPLES,
    STEP_SAMPLES,
    OpenWakeWordEngine,
    models_dir,
)
from realtime_voice_satellite.wakeword.tflite import TfLiteModel

MODEL = models_dir() / "embedding_model.tflite"
# Embeddings (features up to about 80): numpy float32 products vs the model's XNNPACK kernels.
# Measured at most 7.3e-5 on speech, noise, silence and full scale (1e-6 of the largest).
EMBEDDING_ATOL = 2e-4
# Scores, incremental vs TFLite embedding: at most 1.9e-5 measured on the clips below.
SCORE_ATOL = 1e-4

needs_espeak = pytest.mark.skipif(not espeak_available(), reason="espeak-ng not installed")


@pytest.fixture(scope="module")
def model() -> Iterator[TfLiteModel]:
    tflite = TfLiteModel(MODEL, input_shape=(1, EMBEDDING_WINDOW, 32, 1))
    yield tflite
    tflite.close()


def mels_of(audio: np.ndarray) -> np.ndarray:
    """The engine's mel frames of a stream: 8 per 80 ms step."""
    mel = MelSpectrogram(MEL_WINDOW_SAMPLES)
    audio = audio.astype(np.float32)
    steps = range(0, len(audio) - MEL_WINDOW_SAMPLES + 1, STEP_SAMPLES)
    return np.concatenate([mel(audio[s : s + MEL_WINDOW_SAMPLES]) for s in steps])


def compare(model: TfLiteModel, mels: np.ndarray) -> tuple[float, np.ndarray]:
    """Stream every window of ``mels``: the largest difference to TFLite, and per window the
    largest difference to the same window computed from scratch (must be 0)."""
    streamed = IncrementalEmbedding(MODEL)
    alone = IncrementalEmbedding(MODEL)
    worst = 0.0
    exact = []
    for start in range(0, len(mels) - EMBEDDING_WINDOW + 1, MEL_FRAMES_PER_STEP):
        window = mels[start : start + EMBEDDING_WINDOW]
        got = streamed.embed(window, start).copy()
        reference = model.run(window).reshape(-1)
        worst = max(worst, float(np.max(np.abs(got - reference))))
        alone.reset()
        exact.append(float(np.max(np.abs(alone.embed(window, start) - got))))
    return worst, np.array(exact)


def test_graph_and_weights_read_from_the_file() -> None:
    layers, (frames, bands), features = compile_layers(MODEL)
    assert (frames, bands, features) == (76, 32, 96)
    kinds = [layer.describe().split()[0] for layer in layers]
    assert (kinds.count("conv"), kinds.count("max")) == (20, 5)
    assert layers[0].describe() == "conv 3x3 1->24, pad (1, 1), LeakyReLU(0.2), max(., -0.4)"
    assert layers[-1].describe() == "conv 3x1 96->96"
    # every constant as the TFLite runtime itself loaded it (its C API, not our reader)
    runtime = TfLiteModel(MODEL, xnnpack=False)
    try:
        loaded = runtime.tensors()
    finally:
        runtime.close()
    tensors = read_graph(MODEL)[0]
    constants = [t for t in tensors if t.data is not None and t.type == 0]
    assert len(constants) == 41  # 20 filters, 20 biases and the floor
    for tensor in constants:
        values = np.frombuffer(tensor.data or b"", dtype="<f4").reshape(tensor.shape)
        np.testing.assert_array_equal(values, loaded[tensor.name], err_msg=tensor.name)


def test_other_models_are_refused_with_the_reason(tmp_path: Path) -> None:
    bad = tmp_path / "x.tflite"
    bad.write_bytes(b"\0" * 64)
    with pytest.raises(EmbeddingModelError, match="not a TFLite model"):
        compile_layers(bad)
    # a wake word classifier, the mel model: other operators or another input
    with pytest.raises(EmbeddingModelError, match="not the structure of openWakeWord's embedding"):
        compile_layers(models_dir() / "okay_nabu.tflite")
    with pytest.raises(EmbeddingModelError, match="not the structure"):
        compile_layers(models_dir() / "melspectrogram.tflite")
    # the right model with one setting changed: a stride of 2 in the first convolution
    data = bytearray(MODEL.read_bytes())
    operators = read_graph(MODEL)[1]
    conv = operators[1].options
    assert conv is not None
    at = conv._field(embedding_module._CONV_STRIDE_H)
    assert at is not None
    struct.pack_into("<i", data, at, 2)
    changed = tmp_path / "strided.tflite"
    changed.write_bytes(bytes(data))
    with pytest.raises(EmbeddingModelError, match=r"operator 1 \(CONV_2D\).*strides"):
        compile_layers(changed)


def test_a_step_that_splits_a_pool_is_refused() -> None:
    with pytest.raises(EmbeddingModelError, match="does not divide the 3 rows of a 3-frame step"):
        IncrementalEmbedding(MODEL, step=3)


def test_engine_falls_back_to_tflite_with_a_log_line(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    def refuse(path: Path, step: int = 8) -> IncrementalEmbedding:
        raise EmbeddingModelError(f"{path}: operator 3 (SQUEEZE) is not implemented")

    monkeypatch.setattr(
        "realtime_voice_satellite.wakeword.openwakeword.IncrementalEmbedding", refuse
    )
    with caplog.at_level(logging.WARNING):
        engine = OpenWakeWordEngine(["okay_nabu"], quiet_gate_dbfs=None)
    try:
        assert engine.embedding == "tflite"
        assert "embedding computed by TFLite instead" in caplog.text
        assert "SQUEEZE" in caplog.text
        assert engine.process(np.zeros(16_000, np.int16))
    finally:
        engine.close()
    with pytest.raises(WakeWordError, match="unknown embedding back end 'onnx'"):
        OpenWakeWordEngine(["okay_nabu"], embedding="onnx")  # type: ignore[arg-type]


def full_scale(seconds: float, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return np.clip(rng.standard_normal(int(seconds * 16_000)) * 40_000, -32768, 32767)


@pytest.mark.parametrize(
    ("name", "make"),
    [
        ("silence", lambda: np.zeros(3 * 16_000)),
        ("pink noise", lambda: noise(4 * 16_000, 16_000, seed=1) * 3000),
        ("white noise, quiet", lambda: noise(4 * 16_000, 16_000, seed=2, kind="white") * 30),
        ("full scale", lambda: full_scale(4.0, seed=3)),
    ],
)
def test_embeddings_equal_the_model_on_signals(model: TfLiteModel, name: str, make) -> None:
    worst, exact = compare(model, mels_of(make()))
    assert worst < EMBEDDING_ATOL, name
    assert not exact.any(), name  # streamed == from scratch, bit for bit


@needs_espeak
def test_embeddings_equal_the_model_on_speech(model: TfLiteModel) -> None:
    audio = np.concatenate(
        (background(20.0, 16_000, seed=3), Clip("hey jarvis", "en-gb", 140, level_dbfs=-1).render())
    )
    worst, exact = compare(model, mels_of(audio))
    assert worst < EMBEDDING_ATOL
    assert not exact.any()


def scores(engine: OpenWakeWordEngine, audio: np.ndarray, chunk: int = 320) -> np.ndarray:
    engine.reset()
    frames: list[ScoreFrame] = []
    for start in range(0, len(audio), chunk):
        frames += engine.process(audio[start : start + chunk])
    return np.array([f.scores for f in frames])


@pytest.fixture(scope="module")
def engines() -> Iterator[tuple[OpenWakeWordEngine, OpenWakeWordEngine]]:
    ours = OpenWakeWordEngine(list(BUILTIN_MODELS), quiet_gate_dbfs=None)
    tflite = OpenWakeWordEngine(list(BUILTIN_MODELS), quiet_gate_dbfs=None, embedding="tflite")
    assert (ours.embedding, tflite.embedding) == ("incremental", "tflite")
    yield ours, tflite
    ours.close()
    tflite.close()


@needs_espeak
@pytest.mark.parametrize("model", BUILTIN_MODELS)
def test_engine_scores_equal_those_with_the_tflite_embedding(
    engines: tuple[OpenWakeWordEngine, OpenWakeWordEngine], model: str
) -> None:
    ours, tflite = engines
    clips = wake_clips(model)[::7]  # voices, speeds, clean and noisy
    audio = np.concatenate([clip.render() for clip in clips])
    got, reference = scores(ours, audio), scores(tflite, audio)
    assert got.shape == reference.shape == ((len(audio) - 480) // STEP_SAMPLES + 1, 5)
    np.testing.assert_allclose(got, reference, atol=SCORE_ATOL, rtol=0)
    assert got[:, BUILTIN_MODELS.index(model)].max() > 0.5  # the range that matters is compared


@needs_espeak
def test_quiet_gate_catch_up_is_exact() -> None:
    """Quiet stretches longer than the gate catches up: the first embedding after one is
    computed from its window alone, and every score equals the never-skipping engine's."""
    rng = np.random.default_rng(5)
    quiet = (rng.standard_normal(16_000 * 7) * 10).astype(np.int16)  # about -70 dBFS
    jarvis = Clip("hey jarvis", "en-us", 175).render()
    nabu = Clip("okay nabu", "en-us", 175, snr_db=10.0, seed=4).render()
    # a short pause too, too short for the gate
    audio = np.concatenate((quiet, jarvis, quiet, nabu, quiet[:24_000], jarvis, quiet, nabu))
    models = ["hey_jarvis", "okay_nabu", "alexa"]
    gated = OpenWakeWordEngine(models)
    always = OpenWakeWordEngine(models, quiet_gate_dbfs=None)
    tflite = OpenWakeWordEngine(models, quiet_gate_dbfs=None, embedding="tflite")
    try:
        assert gated._incremental is not None
        restarts = gated._incremental.from_window
        frames = {e: list[ScoreFrame]() for e in ("gated", "always", "tflite")}
        for start in range(0, len(audio), 333):
            chunk = audio[start : start + 333]
            frames["gated"] += gated.process(chunk)
            frames["always"] += always.process(chunk)
            frames["tflite"] += tflite.process(chunk)
        assert gated._incremental.from_window - restarts == 3  # after each long quiet stretch
        reference = {f.t: f.scores for f in frames["always"]}
        assert len(frames["gated"]) < 0.6 * len(frames["always"])
        for frame in frames["gated"]:
            assert frame.scores == reference[frame.t]
        np.testing.assert_allclose(
            [f.scores for f in frames["always"]],
            [f.scores for f in frames["tflite"]],
            atol=SCORE_ATOL,
            rtol=0,
        )
        best = np.max([f.scores for f in frames["gated"]], axis=0)
        assert best[0] > 0.9
        assert best[1] > 0.5
    finally:
        gated.close()
        always.close()
        tflite.close()


@needs_espeak
def test_reset_restores_the_incremental_state() -> None:
    engine = OpenWakeWordEngine(["hey_jarvis"], quiet_gate_dbfs=None)
    fresh = OpenWakeWordEngine(["hey_jarvis"], quiet_gate_dbfs=None)
    try:
        audio = Clip("hey jarvis", "en-us", 175).render()
        first = scores(engine, background(20.0, 16_000, seed=3)[:50_000])
        assert first.size
        np.testing.assert_array_equal(scores(engine, audio), scores(fresh, audio))
    finally:
        engine.close()
        fresh.close()


@needs_espeak
def test_a_long_stream_does_not_drift(model: TfLiteModel) -> None:
    """Five minutes streamed step by step (3750 embeddings): the last minute is as close to
    TFLite as the first, and equal bit for bit to its windows computed from scratch."""
    audio = np.concatenate([background(60.0, 16_000, seed=s) for s in (3, 4, 5, 6, 7)])
    mels = mels_of(audio)
    streamed = IncrementalEmbedding(MODEL)
    alone = IncrementalEmbedding(MODEL)
    errors = []
    starts = range(0, len(mels) - EMBEDDING_WINDOW + 1, MEL_FRAMES_PER_STEP)
    for start in starts:
        window = mels[start : start + EMBEDDING_WINDOW]
        got = streamed.embed(window, start)
        errors.append(float(np.max(np.abs(got - model.run(window).reshape(-1)))))
    assert streamed.from_window == 1
    assert len(errors) > 3700
    minute = len(errors) // 5
    assert max(errors[-minute:]) < EMBEDDING_ATOL
    assert max(errors[-minute:]) < 3 * max(errors[:minute])
    last = mels[starts[-1] : starts[-1] + EMBEDDING_WINDOW]
    np.testing.assert_array_equal(alone.embed(last, 0), got)
