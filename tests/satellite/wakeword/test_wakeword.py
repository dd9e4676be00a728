"""WakeWordDetector on espeak-ng speech through the real DspChain, and its options and errors."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from realtime_voice_dev.corpus import Clip, background, espeak_available
from realtime_voice_satellite.audio import DspChain, write_wav
from realtime_voice_satellite.wakeword import (
    BUILTIN_MODELS,
    Detection,
    ScoreFrame,
    WakeWordDetector,
    WakeWordError,
)
from realtime_voice_satellite.wakeword.detector import RECOMMENDED, recommended
from realtime_voice_satellite.wakeword.openwakeword import OpenWakeWordEngine, models_dir
from tests.helpers import audio

pytestmark = pytest.mark.skipif(not espeak_available(), reason="espeak-ng not installed")

JARVIS = Clip("hey jarvis", "en-us", 175)
NABU_NOISY = Clip("okay nabu", "en-us", 175, snr_db=10.0, seed=4)


def through_chain(detector: WakeWordDetector, audio: np.ndarray, rate: int) -> list[Detection]:
    """Feed audio as a microphone would: 20 ms chunks through the DSP chain."""
    chain = DspChain(rate)
    chunk = rate // 50
    found: list[Detection] = []
    for start in range(0, len(audio), chunk):
        found += detector.process(chain.process(audio[start : start + chunk]).wake_16k)
    return found + detector.process(chain.flush().wake_16k)


@pytest.fixture(scope="module")
def jarvis_nabu() -> Iterator[WakeWordDetector]:
    detector = WakeWordDetector(["hey_jarvis", "okay_nabu"])
    yield detector
    detector.close()


@pytest.fixture
def detector(jarvis_nabu: WakeWordDetector) -> WakeWordDetector:
    jarvis_nabu.reset()
    return jarvis_nabu


def speech_span(clip: Clip, rate: int = 16_000) -> tuple[float, float]:
    audio = clip.render(rate)
    loud = np.flatnonzero(np.abs(audio) > 300)
    return loud[0] / rate, loud[-1] / rate


def test_scores_equal_pyopen_wakeword_as_shipped() -> None:
    """Our runtime setup (1 thread, XNNPACK, small buffers) gives the shipped engine's scores."""
    from pyopen_wakeword import Model, OpenWakeWord, OpenWakeWordFeatures

    audio = np.concatenate((JARVIS.render(), NABU_NOISY.render()))
    features = OpenWakeWordFeatures.from_builtin()
    shipped = OpenWakeWord.from_builtin(Model.HEY_JARVIS)
    reference: list[float] = []
    for start in range(0, len(audio), 320):
        for embedding in features.process_streaming(audio[start : start + 320].tobytes()):
            reference += shipped.process_streaming(embedding)
    shipped.close()
    features.close()
    engine = OpenWakeWordEngine(["hey_jarvis"], quiet_gate_dbfs=None)
    ours = [f.scores[0] for f in engine.process(audio)]
    engine.close()
    # one score per 80 ms step, the first when 480 samples of audio complete a mel window (the
    # shipped engine also scores its 8 s of silent prefill; ours keeps that internal)
    assert len(ours) == (len(audio) - 480) // 1280 + 1
    np.testing.assert_allclose(ours, reference[-len(ours) :], atol=1e-4)
    assert max(ours) > 0.9


@pytest.mark.parametrize("rate", [48_000, 44_100])
def test_detects_hey_jarvis_through_the_chain(detector: WakeWordDetector, rate: int) -> None:
    found = through_chain(detector, JARVIS.render(rate), rate)
    start, end = speech_span(JARVIS)
    assert [d.model for d in found] == ["hey_jarvis"]
    assert start < found[0].t < end + 0.5
    assert found[0].score > 0.5


def test_detects_okay_nabu_in_noise(detector: WakeWordDetector) -> None:
    found = through_chain(detector, NABU_NOISY.render(48_000), 48_000)
    assert [d.model for d in found] == ["okay_nabu"]


def test_several_models_in_one_stream(detector: WakeWordDetector) -> None:
    rate = 16_000
    audio = np.concatenate((JARVIS.render(rate), NABU_NOISY.render(rate), JARVIS.render(rate)))
    found = through_chain(detector, audio, rate)
    assert [d.model for d in found] == ["hey_jarvis", "okay_nabu", "hey_jarvis"]
    first = len(JARVIS.render(rate)) / rate
    second = first + len(NABU_NOISY.render(rate)) / rate
    assert found[0].t < first < found[1].t < second < found[2].t


def test_reset_starts_time_again(detector: WakeWordDetector) -> None:
    first = through_chain(detector, JARVIS.render(), 16_000)
    detector.reset()
    again = through_chain(detector, JARVIS.render(), 16_000)
    assert [(d.model, round(d.t, 2)) for d in first] == [(d.model, round(d.t, 2)) for d in again]


def test_no_false_accepts_on_other_speech_and_noise() -> None:
    detector = WakeWordDetector(list(BUILTIN_MODELS))
    try:
        audio = background(40.0, 16_000, seed=7)
        assert through_chain(detector, audio, 16_000) == []
        rng = np.random.default_rng(9)
        hiss = (rng.standard_normal(16_000 * 10) * 2000).astype(np.int16)
        assert through_chain(detector, hiss, 16_000) == []
    finally:
        detector.close()


def test_quiet_gate_skips_work_but_not_scores() -> None:
    """Through long quiet stretches the embedding model is skipped; every score that is
    produced equals the never-skipping engine's, and wake words after quiet are still heard."""
    rng = np.random.default_rng(0)
    quiet = (rng.standard_normal(16_000 * 6) * 10).astype(np.int16)  # about -70 dBFS
    audio = np.concatenate(
        (quiet, JARVIS.render(), quiet, NABU_NOISY.render(), quiet, quiet[:8000], JARVIS.render())
    )
    gated = OpenWakeWordEngine(["hey_jarvis", "okay_nabu"])  # default gate, -60 dBFS
    always = OpenWakeWordEngine(["hey_jarvis", "okay_nabu"], quiet_gate_dbfs=None)
    try:
        prefill = gated.embeddings_computed
        gated_frames: list[ScoreFrame] = []
        all_frames: list[ScoreFrame] = []
        for start in range(0, len(audio), 333):
            gated_frames += gated.process(audio[start : start + 333])
            all_frames += always.process(audio[start : start + 333])
        reference = {f.t: f.scores for f in all_frames}
        assert len(gated_frames) < 0.5 * len(all_frames)
        for frame in gated_frames:
            np.testing.assert_array_equal(frame.scores, reference[frame.t])
        skipped = [f.scores for f in all_frames if f.t not in {g.t for g in gated_frames}]
        assert np.max(skipped) < 0.1  # what was skipped scored low anyway
        assert gated.embeddings_computed - prefill < 0.6 * (always.embeddings_computed - prefill)
        best = np.max([f.scores for f in gated_frames], axis=0)
        assert best[0] > 0.9
        assert best[1] > 0.5
    finally:
        gated.close()
        always.close()
    with pytest.raises(WakeWordError, match="quiet_gate_dbfs"):
        OpenWakeWordEngine(["hey_jarvis"], quiet_gate_dbfs=5.0)


def test_threshold_above_the_best_score_means_no_detection(detector: WakeWordDetector) -> None:
    scores = [f.scores[0] for f in detector.scores(JARVIS.render())]
    strict = WakeWordDetector(["hey_jarvis"], threshold=min(0.999, max(scores) + 0.0005))
    try:
        assert through_chain(strict, JARVIS.render(), 16_000) == []
    finally:
        strict.close()


def frames(*scores: float, step: float = 0.08, start: float = 2.0) -> list[ScoreFrame]:
    """Hand-made score steps for one model (``start`` is past the warm-up)."""
    return [ScoreFrame(start + i * step, (s,)) for i, s in enumerate(scores)]


@pytest.fixture(scope="module")
def one_model() -> Iterator[WakeWordDetector]:
    detector = WakeWordDetector(["hey_jarvis"])
    yield detector
    detector.close()


def configured(base: WakeWordDetector, **options: float) -> WakeWordDetector:
    """The module's detector with other options (the engine is shared, so no model reload)."""
    for name, value in options.items():
        if name == "threshold":
            base.thresholds = (value,)
        elif name == "trigger_level":
            base.trigger_levels = (int(value),)
        else:
            setattr(base, name, value)
    base.reset()
    return base


def test_threshold_is_exclusive(one_model: WakeWordDetector) -> None:
    d = configured(one_model, threshold=0.5, trigger_level=1, refractory_s=2.0, warmup_s=1.0)
    assert d.detect(frames(0.2, 0.5, 0.3)) == []
    assert d.detect(frames(0.2, 0.51, 0.3)) == [Detection("hey_jarvis", 2.08, 0.51)]


def test_trigger_level_needs_consecutive_steps(one_model: WakeWordDetector) -> None:
    d = configured(one_model, threshold=0.5, trigger_level=3, refractory_s=2.0, warmup_s=1.0)
    assert d.detect(frames(0.9, 0.9, 0.1, 0.9, 0.9, 0.2)) == []
    found = d.detect(frames(0.6, 0.9, 0.7, 0.95, start=3.0))
    assert found == [Detection("hey_jarvis", pytest.approx(3.16), 0.9)]


def test_refractory_period(one_model: WakeWordDetector) -> None:
    d = configured(one_model, threshold=0.5, trigger_level=1, refractory_s=2.0, warmup_s=1.0)
    hits = d.detect(frames(0.9, 0.1, 0.9, start=2.0, step=1.0))  # at 2.0, 3.0, 4.0 s
    assert [h.t for h in hits] == [2.0, 4.0]
    d = configured(one_model, refractory_s=0.5)
    hits = d.detect(frames(0.9, 0.1, 0.9, start=2.0, step=1.0))
    assert [h.t for h in hits] == [2.0, 4.0]
    d = configured(one_model, refractory_s=0.5)
    hits = d.detect(frames(0.9, 0.9, 0.9, start=2.0, step=0.3))  # 2.0, 2.3, 2.6
    assert [h.t for h in hits] == [2.0, 2.6]


def test_warm_up_ignores_the_first_seconds(one_model: WakeWordDetector) -> None:
    d = configured(one_model, threshold=0.5, trigger_level=1, refractory_s=0.0, warmup_s=1.0)
    hits = d.detect(frames(0.99, 0.99, 0.99, start=0.84, step=0.08))  # 0.84, 0.92, 1.00
    assert [h.t for h in hits] == [1.0]
    d = configured(one_model, warmup_s=5.0)
    assert through_chain(d, JARVIS.render(), 16_000) == []


@pytest.fixture(scope="module")
def all_builtin() -> Iterator[WakeWordDetector]:
    detector = WakeWordDetector(list(BUILTIN_MODELS))  # threshold and trigger level unset
    yield detector
    detector.close()


def test_each_builtin_model_gets_its_recommended_defaults(all_builtin: WakeWordDetector) -> None:
    d = all_builtin
    assert d.names == list(BUILTIN_MODELS)
    assert d.thresholds == tuple(RECOMMENDED[m][0] for m in BUILTIN_MODELS)
    assert d.trigger_levels == tuple(RECOMMENDED[m][1] for m in BUILTIN_MODELS)
    assert (d.recommended_thresholds, d.recommended_trigger_levels) == (
        d.thresholds,
        d.trigger_levels,
    )
    # the rule follows them, model by model: hey_jarvis fires on one step above 0.5, alexa
    # needs two, hey_rhasspy two above 0.35
    i = {m: d.names.index(m) for m in ("hey_jarvis", "alexa", "hey_rhasspy")}
    assert RECOMMENDED["hey_jarvis"] == (0.5, 1)
    assert RECOMMENDED["alexa"] == (0.5, 2)
    assert RECOMMENDED["hey_rhasspy"] == (0.35, 2)

    def steps(model: str, *scores: float) -> list[ScoreFrame]:
        row = [0.0] * len(d.names)
        out = []
        for k, score in enumerate(scores):
            row[i[model]] = score
            out.append(ScoreFrame(2.0 + 0.08 * k, tuple(row)))
        return out

    d.reset()
    assert [x.model for x in d.detect(steps("hey_jarvis", 0.1, 0.6, 0.1))] == ["hey_jarvis"]
    d.reset()
    assert d.detect(steps("alexa", 0.1, 0.9, 0.1, 0.9, 0.1)) == []
    d.reset()
    assert [x.model for x in d.detect(steps("alexa", 0.1, 0.9, 0.6))] == ["alexa"]
    d.reset()
    assert d.detect(steps("hey_rhasspy", 0.4, 0.3, 0.4, 0.34)) == []
    d.reset()
    assert [x.model for x in d.detect(steps("hey_rhasspy", 0.3, 0.4, 0.36))] == ["hey_rhasspy"]


def test_given_threshold_and_trigger_level_apply_to_every_model() -> None:
    models: list[str | Path] = ["alexa", "hey_rhasspy"]
    detector = WakeWordDetector(models, threshold=0.6, trigger_level=3)
    try:
        assert detector.thresholds == (0.6, 0.6)
        assert detector.trigger_levels == (3, 3)
        assert detector.recommended_thresholds == (0.5, 0.35)  # still known
        assert detector.recommended_trigger_levels == (2, 2)
    finally:
        detector.close()
    detector = WakeWordDetector(models, threshold=0.7)  # the trigger level stays each model's
    try:
        assert (detector.thresholds, detector.trigger_levels) == ((0.7, 0.7), (2, 2))
    finally:
        detector.close()
    detector = WakeWordDetector(models, trigger_level=1)  # the threshold stays each model's
    try:
        assert (detector.thresholds, detector.trigger_levels) == ((0.5, 0.35), (1, 1))
    finally:
        detector.close()


def test_a_custom_model_file_gets_the_plain_defaults(tmp_path: Path) -> None:
    """A file named like a built-in is not the built-in: 0.5 / 1, not hey_rhasspy's 0.35 / 2."""
    custom = tmp_path / "hey_rhasspy.tflite"
    shutil.copy(models_dir() / "hey_jarvis.tflite", custom)
    detector = WakeWordDetector([custom])
    try:
        assert detector.names == ["hey_rhasspy"]
        assert (detector.thresholds, detector.trigger_levels) == ((0.5,), (1,))
        assert recommended("openwakeword", custom) == (0.5, 1)
        assert recommended("openwakeword", "hey_rhasspy") == (0.35, 2)
        assert recommended("microwakeword", "alexa") == (None, 1)
    finally:
        detector.close()


def test_docs_table_lists_every_recommended_default() -> None:
    """docs/wake-word.md's table of per-model defaults says what RECOMMENDED holds."""
    docs = (Path(__file__).resolve().parents[3] / "docs" / "wake-word.md").read_text()
    rows = re.findall(r"^\| `(\w+)` \| ([0-9.]+) \| (\d+) \|", docs, flags=re.MULTILINE)
    table = {name: (float(threshold), int(level)) for name, threshold, level in rows}
    assert table == RECOMMENDED
    assert set(table) == set(BUILTIN_MODELS)


def test_bench_judges_both_sides_at_each_models_defaults(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The bench on a tiny corpus: every built-in model, named with its defaults, the bare
    engine's scores through the same rule (one clean clip each, 7 s of other speech)."""
    from realtime_voice_dev import corpus
    from realtime_voice_dev.bench import wakeword as bench

    class Tiny:
        @staticmethod
        def wake_clips(model: str, snrs: tuple[float | None, ...]) -> list[Clip]:
            return [Clip(corpus.WAKE_PHRASES[model], "en-us", 175, snrs[0])]

        background = staticmethod(corpus.background)

    monkeypatch.setenv("REALTIME_VOICE_BENCH_FA_HOURS", "0.002")
    # keyed by the name's first two parts, e.g. "detected alexa, clean"
    figures = {
        ", ".join(f.name.split(", ")[:2]): f
        for f in bench._detection_figures(Tiny)  # type: ignore[arg-type]
    }
    assert len(figures) == 3 * len(BUILTIN_MODELS) + len(BUILTIN_MODELS)
    for model in BUILTIN_MODELS:
        threshold, level = RECOMMENDED[model]
        named = [f.name for f in figures.values() if f" {model}," in f.name]
        assert len(named) == 4
        assert all(f"{model}'s defaults {threshold:g}/{level} " in name for name in named)
    clean = figures["detected hey_jarvis, clean"]
    assert (clean.value, clean.baseline) == (100.0, 100.0)
    assert figures["false accepts/h, hey_jarvis"].value == 0.0


def test_custom_tflite_path(tmp_path: Path) -> None:
    custom = tmp_path / "my_word.tflite"
    shutil.copy(models_dir() / "hey_jarvis.tflite", custom)
    detector = WakeWordDetector([custom])
    try:
        assert detector.names == ["my_word"]
        assert [d.model for d in through_chain(detector, JARVIS.render(), 16_000)] == ["my_word"]
    finally:
        detector.close()


def test_unknown_model_name_lists_the_known_ones() -> None:
    with pytest.raises(WakeWordError, match=r"'hey_bob'.*okay_nabu, hey_jarvis, alexa"):
        WakeWordDetector(["hey_bob"])


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda p: p / "missing.tflite", r"missing\.tflite: no such model file"),
        (lambda p: p / "x.wav", r"x\.wav: an openWakeWord model must be a \.tflite or \.onnx"),
        (lambda p: _write(p / "junk.tflite", b"not a model"), r"junk\.tflite: not a TFLite model"),
        (
            lambda p: shutil.copy(models_dir() / "melspectrogram.tflite", p / "mel.tflite"),
            r"mel\.tflite: not an openWakeWord classifier",
        ),
    ],
)
def test_bad_model_files_are_named(tmp_path: Path, make, message: str) -> None:
    with pytest.raises(WakeWordError, match=message):
        WakeWordDetector([make(tmp_path)])


@pytest.mark.skipif(
    __import__("importlib").util.find_spec("onnxruntime") is not None,
    reason="onnxruntime is installed",
)
def test_onnx_without_onnxruntime_says_what_to_install(tmp_path: Path) -> None:
    model = _write(tmp_path / "custom.onnx", b"\x08\x07")
    with pytest.raises(WakeWordError, match=r"custom\.onnx: .*pip install onnxruntime"):
        WakeWordDetector([model])


def _write(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"threshold": 1.5}, "threshold"),
        ({"trigger_level": 0}, "trigger_level"),
        ({"refractory_s": -1}, "refractory_s"),
        ({"warmup_s": -0.5}, "warmup_s"),
        ({"engine": "snowboy"}, "unknown wake word engine 'snowboy'"),
    ],
)
def test_bad_options_are_named(options: dict, message: str) -> None:
    with pytest.raises(WakeWordError, match=message):
        WakeWordDetector(["hey_jarvis"], **options)


def test_microwakeword_engine() -> None:
    detector = WakeWordDetector(["okay_nabu"], threshold=None, engine="microwakeword")
    try:
        assert detector.thresholds == (0.85,)  # the model's own cutoff
        assert detector.trigger_levels == (1,)  # RECOMMENDED is openWakeWord's
        found = through_chain(detector, Clip("okay nabu", "en-gb", 140).render(48_000), 48_000)
        assert [d.model for d in found] == ["okay_nabu"]
        detector.reset()
        assert through_chain(detector, background(10.0, seed=3), 16_000) == []
    finally:
        detector.close()
    detector = WakeWordDetector(["okay_nabu", "alexa"], threshold=None, engine="microwakeword")
    try:
        nabu = Clip("okay nabu", "en-us", 140).render(16_000)
        alexa = Clip("alexa", "en-gb", 140).render(16_000)
        found = through_chain(detector, np.concatenate((nabu, alexa)), 16_000)
        assert [d.model for d in found] == ["okay_nabu", "alexa"]
        start, end = speech_span(Clip("okay nabu", "en-us", 140))
        assert start < found[0].t < end + 0.5
        assert len(nabu) / 16_000 < found[1].t < (len(nabu) + len(alexa)) / 16_000
    finally:
        detector.close()
    with pytest.raises(WakeWordError, match="unknown microWakeWord model 'hey_rhasspy'"):
        WakeWordDetector(["hey_rhasspy"], engine="microwakeword")


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "realtime_voice_satellite.cli", "wakeword", *args],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_cli_json_on_a_stereo_44k_wav(tmp_path: Path) -> None:
    mono = np.concatenate((JARVIS.render(44_100), NABU_NOISY.render(44_100)))
    stereo = np.repeat(mono, 2).astype("<i2").tobytes()
    path = audio.write_wav(tmp_path / "two.wav", stereo, 44_100, channels=2)
    result = cli("--input", str(path), "--model", "hey_jarvis", "--model", "okay_nabu", "--json")
    assert result.returncode == 0, result.stderr
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    assert [line["model"] for line in lines] == ["hey_jarvis", "okay_nabu"]
    assert all(set(line) == {"model", "t", "score"} and line["score"] > 0.5 for line in lines)
    assert lines[0]["t"] < len(JARVIS.render(44_100)) / 44_100 < lines[1]["t"]


def test_cli_errors_exit_2(tmp_path: Path) -> None:
    result = cli("--input", str(tmp_path / "nope.wav"))
    assert result.returncode == 2
    assert "nope.wav: no such file" in result.stderr
    write_wav(tmp_path / "ok.wav", np.zeros(1600, np.int16), 16_000)
    result = cli("--input", str(tmp_path / "ok.wav"), "--model", "hey_rhasspy", "alexa")
    assert result.returncode == 0, result.stderr
    assert "threshold 0.35, 0.5, trigger level 2, 2)" in result.stderr  # their defaults
    result = cli("--input", str(tmp_path / "ok.wav"), "--model", "alexa", "--trigger-level", "1")
    assert "(alexa, threshold 0.5, trigger level 1)" in result.stderr
    result = cli("--input", str(tmp_path / "ok.wav"), "--model", "hey_bob")
    assert result.returncode == 2
    assert "unknown wake word model 'hey_bob'" in result.stderr
    result = cli(
        "--input",
        str(tmp_path / "ok.wav"),
        "--engine",
        "microwakeword",
        "--model",
        "okay_nabu",
        "alexa",
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout == ""
    assert "0 detection(s)" in result.stderr
    assert "(okay_nabu, alexa, threshold 0.85, 0.9, trigger level 1, 1)" in result.stderr
