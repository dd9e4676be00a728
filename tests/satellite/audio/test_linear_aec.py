"""The satellite's linear echo canceller (audio/linear_aec.py) and the voice barge-in's path on
it (agent/voice.py, #16): the echo removed, the talker kept whole, the estimate kept through
double talk, and a talker heard only above what the estimate leaves."""

from __future__ import annotations

import numpy as np
import pytest

from realtime_voice_satellite.agent.voice import VoiceBargeIn
from realtime_voice_satellite.audio.linear_aec import FRAME, LinearEchoCanceller

RATE = 16_000


def _db(a: np.ndarray, b: np.ndarray) -> float:
    return float(10 * np.log10(a.dot(a) / max(b.dot(b), 1.0)))


def _speechlike(n: int, rng: np.random.Generator, level: float = 3000.0) -> np.ndarray:
    """Coloured noise in syllables (bursts of 150-300 ms with pauses): like speech to an
    adaptive filter, which white noise is not (it converges on white noise much faster)."""
    x = np.convolve(rng.standard_normal(n), [1.0, 0.9, 0.5, 0.2], mode="same")
    envelope = np.zeros(n)
    at = 0
    while at < n:
        length = int(rng.uniform(0.15, 0.3) * RATE)
        envelope[at : at + length] = np.hanning(length)[: n - at]
        at += length + int(rng.uniform(0.03, 0.15) * RATE)
    return x * envelope * level


def _room(n_taps: int, rng: np.random.Generator) -> np.ndarray:
    path = np.zeros(n_taps)
    path[1600] = 0.5  # 100 ms late
    tail = np.arange(n_taps - 1601)
    path[1601:] = rng.standard_normal(len(tail)) * 0.05 * np.exp(-tail * 6.9 / (0.2 * RATE))
    return path


def test_cancels_the_echo_keeps_the_talker_and_the_estimate_through_double_talk() -> None:
    rng = np.random.default_rng(1)
    n = 14 * RATE
    far = _speechlike(n, rng)
    echo = np.convolve(far, _room(round(0.35 * RATE), rng))[:n]
    talker = np.zeros(n)
    talk = slice(10 * RATE, 11 * RATE)
    talker[talk] = _speechlike(RATE, rng, 1500.0)
    canceller = LinearEchoCanceller()
    mic = np.clip(echo + talker, -32768, 32767).astype(np.int16)
    out, estimates = canceller(mic, far.astype(np.int16))
    out = out.astype(np.float64)
    assert len(estimates) == n // FRAME
    late = slice(8 * RATE, 10 * RATE)
    assert _db(echo[late], out[late]) > 20  # ERLE after 8 s of speech
    # the estimate's energy is the echo's, frame by frame, where there is echo
    frames = np.arange(8 * RATE // FRAME, 10 * RATE // FRAME)
    echo_energy = np.array(
        [echo[k * FRAME : (k + 1) * FRAME] @ echo[k * FRAME : (k + 1) * FRAME] for k in frames]
    )
    loud = echo_energy > np.median(echo_energy)
    assert np.median(10 * np.log10(estimates[frames][loud] / echo_energy[loud])) == pytest.approx(
        0, abs=1
    )
    # the talker comes through whole (the residual echo is 20 dB under it)
    assert _db(out[talk], talker[talk]) == pytest.approx(0, abs=1.5)
    after = slice(11 * RATE, 14 * RATE)
    assert _db(echo[after], out[after]) > 18  # double talk did not pull the filter away


def test_whole_frames_only() -> None:
    canceller = LinearEchoCanceller()
    with pytest.raises(ValueError, match="whole 160-sample frames"):
        canceller(np.zeros(FRAME + 7, np.int16), np.zeros(FRAME + 7, np.int16))


def _frames(level_dbfs: float, n: int, rng: np.random.Generator) -> np.ndarray:
    return (rng.standard_normal(n * FRAME) * 32768 * 10 ** (level_dbfs / 20)).astype(np.int16)


def _energy(x: np.ndarray) -> float:
    y = x.astype(np.float64)
    return float(y @ y)


def test_the_voice_path_hears_what_the_echo_estimate_cannot_explain() -> None:
    """The echo at -20 dBFS, the canceller leaves -50: after 500 ms of the answer, a talker at
    -30 dBFS (10 dB under the echo) is heard in eight frames; before, or with a canceller that
    removes nothing (out of step after the reference moved), nothing is."""
    rng = np.random.default_rng(5)
    detector = VoiceBargeIn()

    def feed(mic: np.ndarray, linear: np.ndarray, estimates: np.ndarray) -> list[int]:
        far = _frames(-15, len(mic) // FRAME, rng)
        quiet = np.zeros(len(mic), np.int16)  # AEC3's output: its suppressor took everything
        return [
            k
            for k in range(len(mic) // FRAME)
            if detector(
                mic[k * FRAME : (k + 1) * FRAME],
                quiet[k * FRAME : (k + 1) * FRAME],
                far[k * FRAME : (k + 1) * FRAME],
                linear[k * FRAME : (k + 1) * FRAME],
                estimates[k : k + 1],
            )
            is not None
        ]

    def answer(frames: int, talker_dbfs: float | None, removed_db: float = 30.0) -> list[int]:
        echo = _frames(-20, frames, rng)
        residual = (echo * 10 ** (-removed_db / 20)).astype(np.int16)
        estimates = np.array([_energy(echo[k * FRAME : (k + 1) * FRAME]) for k in range(frames)])
        mic, linear = echo, residual
        if talker_dbfs is not None:
            talker = _frames(talker_dbfs, frames, rng)
            talker[: -20 * FRAME] = 0  # the last 200 ms
            mic = np.clip(echo.astype(int) + talker, -32768, 32767).astype(np.int16)
            linear = np.clip(residual.astype(int) + talker, -32768, 32767).astype(np.int16)
        return feed(mic, linear, estimates)

    detector.reset()
    assert answer(60, -30) == []  # the talker within the answer's first 600 ms: not yet
    detector.reset()
    assert answer(200, None) == []  # two seconds of the answer alone
    detector.reset()
    heard = answer(200, -30)
    assert heard[:1] == [200 - 20 + 7]  # the eighth frame of the talker
    detector.reset()
    assert answer(200, -30, removed_db=0.0) == []  # a canceller out of step never counts
