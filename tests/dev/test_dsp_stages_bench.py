"""``realtime-voice bench --area dsp_stages`` (#28 item 3): today's DSP stages beside pywebrtc-audio's,
each pair differing in its one stage, every figure beside its baseline from the same run; on short
inputs here (the bench's corpus takes minutes)."""

from __future__ import annotations

import math
from types import SimpleNamespace

import numpy as np
import pytest

from realtime_voice_dev import corpus
from realtime_voice_dev.bench import dsp_stages
from tests.helpers.audio import sine


def _wake_output(make: object, audio: np.ndarray) -> np.ndarray:
    chain = make()  # type: ignore[operator]
    out = [
        chain.process(audio[start : start + dsp_stages.CHUNK]).wake_16k
        for start in range(0, len(audio), dsp_stages.CHUNK)
    ]
    out.append(chain.flush().wake_16k)
    return np.concatenate(out)


@pytest.mark.parametrize("pair", dsp_stages.PAIRS, ids=lambda p: p.stage.split(":")[0])
def test_each_pair_differs_in_its_stage_and_keeps_every_sample(pair: dsp_stages.Pair) -> None:
    rng = np.random.default_rng(3)
    # a quiet voice-like tone with rumble under steady noise: every stage changes it
    x = sine(440, 2.0, dsp_stages.RATE, 1500) + sine(30, 2.0, dsp_stages.RATE, 3000)
    audio = np.clip(np.rint(x + 400 * rng.standard_normal(len(x))), -32768, 32767)
    audio = audio.astype(np.int16)
    today = _wake_output(pair.today, audio)
    candidate = _wake_output(pair.candidate, audio)
    assert len(today) == len(candidate) == len(audio) // 3
    assert not np.array_equal(today, candidate)


def test_webrtc_noise_suppressor_in_ragged_chunks_equals_one_call() -> None:
    """The wrapper holds a partial 10 ms frame, which the library alone would pad with zeros."""
    rng = np.random.default_rng(5)
    x = (rng.standard_normal(16_000) * 2000).astype(np.int16)
    one = dsp_stages.WebRtcNoiseSuppressor(1)(x, last=True)
    suppressor = dsp_stages.WebRtcNoiseSuppressor(1)
    pieces, start = [], 0
    for size in [1, 159, 0, 333, 17, 3000] * 10:
        pieces.append(suppressor(x[start : start + size]))
        start += size
    pieces.append(suppressor(x[start:], last=True))
    ragged = np.concatenate(pieces)
    assert len(ragged) == len(one) == len(x)
    np.testing.assert_array_equal(ragged, one)
    # and it suppresses: steady noise comes out lower once it has adapted
    assert np.std(one[8000:].astype(float)) < 0.5 * np.std(x[8000:].astype(float))


@pytest.mark.skipif(not corpus.espeak_available(), reason="espeak-ng not installed")
def test_figures_beside_their_baselines(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(dsp_stages, "ROUNDS", 2)
    monkeypatch.setenv("REALTIME_VOICE_BENCH_FA_HOURS", "0.002")  # 7.2 s
    small = SimpleNamespace(
        wake_clips=lambda model, snrs: corpus.wake_clips(model, snrs=snrs)[:1],
        background=corpus.background,
    )
    pair = dsp_stages.PAIRS[1]
    cost_audio = corpus.background(2.0, dsp_stages.RATE, seed=11)
    figures = dsp_stages._cost_figures(pair, cost_audio) + dsp_stages._detection_figures(
        pair, small
    )  # type: ignore[arg-type]
    assert len(figures) == 4 * 2 + 3 + 1
    for figure in figures:
        assert figure.name.startswith(f"dsp stages, {pair.stage}: "), figure
        assert figure.baseline is not None, figure
        assert math.isfinite(figure.value), figure
        assert math.isfinite(figure.baseline), figure
        assert figure.value >= 0, figure
        assert figure.baseline >= 0, figure
    medians = [f for f in figures if "median of 2 rounds" in f.name]
    assert len(medians) == 4
    assert all(f.value > 0 and f.baseline > 0 for f in medians)  # both sides really ran
    detected = [f for f in figures if ": detected, " in f.name]
    assert [f.name.split(": detected, ")[1].split(",")[0] for f in detected] == [
        "clean",
        "10 dB SNR",
        "0 dB SNR",
    ]
    assert all("5 espeak clips of 5 models" in f.name for f in detected)
    assert all(f.unit == "%" and 0 <= f.value <= 100 for f in detected)
